"""Comparing deterministic metrics (instruction counts): relative change against a threshold.

An instruction count does not vary with machine load: the same call in two processes
differs by about 0.002 %, repeated runs by about 0.01 %, and, with each case counted in a
process of its own, a case counted alone, in the whole grid or in another order by at
most 0.042 % (docs/measurement.md, "Counts free of the other cases"). So a
change is judged by its size alone, not by a rank test on a handful of samples: at or
above ``threshold`` (1 % by default) it is a regression (more instructions) or an
improvement (fewer). The count noise, the relative spread of repeated runs of one
environment when there are several, is reported beside it so a reader can see that the
threshold is far above it.

    changes = compare_counts({"a": 100.0}, {"a": [102.0, 102.01]})
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Mapping, Sequence, Union

#: The units compared this way (asv's ``unit`` of the benchmark).
DETERMINISTIC_UNITS = frozenset({"instructions"})
#: Default relative change that counts as a regression or an improvement.
DEFAULT_THRESHOLD = 0.01

VERDICTS = ("regression", "improvement", "unchanged", "missing")

Values = Union[float, Sequence[float], None]


@dataclasses.dataclass(frozen=True)
class CountChange:
    """One benchmark's deterministic comparison (values are medians of repeated runs)."""

    benchmark: str
    baseline: float
    candidate: float
    relative_change: float  # candidate / baseline - 1; NaN when a side is missing
    verdict: str            # one of VERDICTS
    noise: float            # largest relative spread (max - min) / median of one side's
                            # repeated runs; NaN when neither side has two runs


def is_deterministic(unit) -> bool:
    return unit in DETERMINISTIC_UNITS


def _finite(values: Values) -> list[float]:
    if values is None:
        return []
    if isinstance(values, (int, float)):
        values = [values]
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def relative_spread(values: Values) -> float:
    """(max - min) / median of repeated runs; NaN with fewer than two."""
    runs = _finite(values)
    if len(runs) < 2:
        return math.nan
    return (max(runs) - min(runs)) / statistics.median(runs)


def verdict(relative_change: float, threshold: float = DEFAULT_THRESHOLD) -> str:
    """'regression' / 'improvement' at or beyond ``threshold``, else 'unchanged'."""
    if not math.isfinite(relative_change):
        return "missing"
    if relative_change >= threshold:
        return "regression"
    if relative_change <= -threshold:
        return "improvement"
    return "unchanged"


def compare_counts(baseline: Mapping[str, Values], candidate: Mapping[str, Values],
                   threshold: float = DEFAULT_THRESHOLD) -> list[CountChange]:
    """Per benchmark (every key of either side): relative change, verdict and count noise.

    Each value is one count or the counts of repeated runs of one environment (their
    median is compared). Lower is better. A benchmark absent or without a finite positive
    value on one side gets the verdict 'missing'.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, not {threshold}")
    changes = []
    for name in sorted(set(baseline) | set(candidate)):
        base_runs, cand_runs = _finite(baseline.get(name)), _finite(candidate.get(name))
        base = statistics.median(base_runs) if base_runs else math.nan
        cand = statistics.median(cand_runs) if cand_runs else math.nan
        change = cand / base - 1 if base > 0 and math.isfinite(cand) else math.nan
        spreads = [s for s in (relative_spread(base_runs), relative_spread(cand_runs))
                   if math.isfinite(s)]
        changes.append(CountChange(name, base, cand, change, verdict(change, threshold),
                                   max(spreads) if spreads else math.nan))
    return changes


def counts_by_benchmark(frame) -> dict[str, list[float]]:
    """``{"Class.method(params)": [value per run]}`` from rows of
    :func:`cebench.results.load.load` (one side of a comparison: several runs of one
    environment become repeated values)."""
    counts: dict[str, list[float]] = {}
    rows = frame[(frame["status"] == "ok") & frame["unit"].map(is_deterministic)]
    for short_name, params, value in zip(rows["short_name"], rows["params"], rows["value"]):
        counts.setdefault(f"{short_name}({params})", []).append(float(value))
    return counts
