"""The settings of the rules behind every verdict, and the rules in words (no pandas, so
that argument parsers and pages can quote them cheaply).

Two rules decide: the **time rule** for noisy units (wall time, ratios, bytes, accuracy),
judged against the run-to-run noise of replicate runs (:mod:`cebench.results.compare`),
and the **count rule** for deterministic instruction counts
(:mod:`cebench.results.deterministic`).
"""

from __future__ import annotations

from cebench.results.deterministic import DEFAULT_THRESHOLD as COUNT_THRESHOLD

#: The time rule's defaults: the smallest relative change that counts, and the family-wise
#: error rate of one comparison (every test together).
DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01


def rule_lines(threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA
               ) -> dict[str, str]:
    """The rules in words with their settings: 'time' and 'count'. Pages and reports quote
    these beside a verdict."""
    return {
        "time": (f"time rule: a change counts when it is beyond {threshold:.0%} and "
                 f"significant against the run-to-run noise of replicate runs "
                 f"(family-wise error {alpha:g} per comparison); one run on a side is "
                 "inconclusive"),
        "count": (f"count rule: an instruction count changes when it moves by "
                  f"{COUNT_THRESHOLD:.0%} or more (counts are deterministic: one run per "
                  "side decides)"),
    }
