"""The settings of the rules behind every verdict, and the rules in words (no pandas, so
that argument parsers and pages can quote them cheaply).

Two rules decide: the **time rule** for noisy units (wall time, ratios, bandwidth, memory
read by NVML), judged against the run-to-run noise of replicate runs
(:mod:`cebench.results.compare`), and the **count rule** for values that repeat bit for
bit with the same code and inputs (instruction counts; accuracy against the float64
reference), judged by their size alone.
"""

from __future__ import annotations

from cebench.errors import InputError
from cebench.results.deterministic import DEFAULT_THRESHOLD as COUNT_THRESHOLD

#: The time rule's defaults: the smallest relative change that counts, and the family-wise
#: error rate of one comparison (every test together).
DEFAULT_THRESHOLD = 0.05
DEFAULT_ALPHA = 0.01
#: The detection probability that a printed minimum detectable change promises.
POWER = 0.90
#: The fewest runs per side the time rule tests. With two, one outlying run moves a side's
#: mean by half its size, and an A/A comparison of two runs against two raised false
#: alarms above the family-wise error rate on the shared 2-core machine
#: (docs/verdicts.md); with three or more it stays under it.
MIN_RUNS = 3


def check_settings(threshold: float, alpha: float,
                   count_threshold: float = COUNT_THRESHOLD) -> None:
    """InputError unless threshold and count_threshold are in [0, 10) and alpha in (0, 1)."""
    if not 0 <= threshold < 10 or not 0 < alpha < 1 or not 0 <= count_threshold < 10:
        raise InputError("--threshold and --count-threshold must be in [0, 10) and --alpha "
                         "in (0, 1)")


def rule_lines(threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA,
               count_threshold: float = COUNT_THRESHOLD) -> dict[str, str]:
    """The rules in words with their settings: 'time' and 'count'. Pages and reports quote
    these beside a verdict."""
    return {
        "time": (f"time rule: a change counts when it is beyond {threshold:.0%} with "
                 f"confidence, against the run-to-run noise of replicate runs on the same "
                 f"machine (family-wise error {alpha:g} per comparison; the smallest change "
                 f"it catches {POWER:.0%} of the time is printed with it); a side with "
                 f"fewer than {MIN_RUNS} runs is inconclusive"),
        "count": (f"count rule: an instruction count or accuracy figure changes when it "
                  f"moves by {count_threshold:.0%} or more (these repeat exactly with the "
                  "same code and inputs: one run per side decides)"),
    }
