"""Verdicts: one per compared row, one per comparison (the exit status).

Row verdicts, worst first (:data:`VERDICTS`):

* ``regression`` -- a noisy row whose change is beyond the threshold with confidence
  (:func:`cebench.results.compare.stats.threshold_test`), or a deterministic row (the
  count rule: instruction counts, accuracy figures) up by the count threshold or more;
* ``shared`` -- part of a shared regression: the suite is slower and this row is beyond
  the threshold, though not on its own significant;
* ``failed`` -- measured in the baseline, failed in the candidate;
* ``inconclusive`` -- a noisy row measured once on a side: no noise to test it against;
* ``improvement``, ``unchanged`` -- as regression, the other way, or neither;
* ``missing`` -- measured on one side only.

The comparison's outcome: ``regression`` (exit 1) when a row or the shared shift
regressed; else ``inconclusive`` (exit 3) when a row is inconclusive or failed, or the
shared shift could not be tested; else ``ok`` (exit 0).
"""

from __future__ import annotations

import math
from fractions import Fraction

VERDICTS = ("regression", "shared", "failed", "inconclusive", "improvement", "unchanged",
            "missing")

#: Verdicts that leave a comparison undecided (exit 3 unless something regressed).
UNDECIDED = ("failed", "inconclusive")


def exact_change(base: float, cand: float) -> Fraction | float:
    """cand / base - 1, exactly (as a fraction of the two floats): a change of exactly the
    threshold is decided by the values, not by rounding. inf (or 0) from a zero base."""
    if base == 0:
        return math.inf if cand > 0 else (-math.inf if cand < 0 else Fraction(0))
    return Fraction(cand) / Fraction(base) - 1


def count_verdict(base: float, cand: float, threshold: float, direction: int = 1) -> str:
    """The count rule: a change of ``threshold`` or more (exactly, see
    :func:`exact_change`) in the worse direction is a regression, in the other an
    improvement."""
    change = exact_change(base, cand) * direction
    limit = Fraction(repr(float(threshold)))
    if change >= limit:
        return "regression"
    if change <= -limit:
        return "improvement"
    return "unchanged"


def noisy_verdict(test, delta: float, log_threshold: float, shared_regression: bool,
                  is_time: bool) -> str:
    """A tested noisy row (``test``: its :class:`stats.ThresholdTest`): regression or
    improvement beyond its critical value; else 'shared' when the suite regressed and this
    timing is beyond the threshold; else unchanged."""
    if test.worse:
        return "regression"
    if test.better:
        return "improvement"
    if shared_regression and is_time and delta > log_threshold:
        return "shared"
    return "unchanged"


def outcome_of(verdicts, shared_verdicts) -> str:
    """'regression', 'inconclusive' or 'ok' from the row verdicts and each machine's
    shared-shift verdict."""
    verdicts, shared_verdicts = list(verdicts), list(shared_verdicts)
    if "regression" in verdicts or "regression" in shared_verdicts:
        return "regression"
    if any(v in UNDECIDED for v in verdicts) or "inconclusive" in shared_verdicts:
        return "inconclusive"
    return "ok"
