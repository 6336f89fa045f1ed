"""Comparing instruction counts (cebench.results.deterministic): a relative change
against a threshold, the count noise, the rows of a results frame that count.

``tests/data/instructions`` holds two full CPU-grid runs of one environment (two valgrind
processes), the A/A pair these tests start from.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from cebench.results import deterministic

DATA = Path(__file__).parent / "data" / "instructions"


def _counts(path: Path) -> dict[str, float]:
    return {f"{r['case']}.{r['pass']}": r["instructions_per_call"]
            for r in json.loads(path.read_text())}


def test_two_percent_more_instructions_on_a_few_cases_is_flagged_and_nothing_else():
    """A synthetic +2 % on three cases of a real run, +0.02 % on every other case."""
    baseline = _counts(DATA / "run1.json")
    bumped = sorted(baseline)[:: len(baseline) // 3][:3]
    candidate = {k: v * (1.02 if k in bumped else 1.0002) for k, v in baseline.items()}
    changes = deterministic.compare_counts(baseline, candidate)
    flagged = {c.benchmark for c in changes if c.verdict != "unchanged"}
    assert flagged == set(bumped)
    assert all(c.verdict == "regression" and c.relative_change == pytest.approx(0.02)
               for c in changes if c.benchmark in bumped)


def test_two_full_runs_of_one_environment_agree():
    """A/A: the committed pair of full CPU-grid runs (two valgrind processes) flags nothing,
    and their spread is reported as the count noise."""
    first, second = _counts(DATA / "run1.json"), _counts(DATA / "run2.json")
    assert set(first) == set(second) and len(first) >= 40
    changes = deterministic.compare_counts(first, second)
    assert [c.benchmark for c in changes if c.verdict != "unchanged"] == []
    assert max(abs(c.relative_change) for c in changes) < 0.001
    repeated = deterministic.compare_counts(
        {k: [first[k], second[k]] for k in first}, {k: second[k] * 0.98 for k in first})
    assert all(c.verdict == "improvement" for c in repeated)
    assert all(0 <= c.noise < 0.001 for c in repeated)


def test_verdicts_threshold_noise_and_missing():
    changes = {c.benchmark: c for c in deterministic.compare_counts(
        {"up": 100.0, "down": 100.0, "flat": [100.0, 100.5], "gone": 100.0, "zero": 0.0},
        {"up": 101.0, "down": 98.0, "flat": 100.2, "new": 5.0, "zero": 1.0})}
    assert changes["up"].verdict == "regression"  # exactly at the threshold
    assert changes["down"].verdict == "improvement"
    assert changes["flat"].verdict == "unchanged"
    assert changes["flat"].noise == pytest.approx(0.5 / 100.25)
    assert math.isnan(changes["up"].noise)
    assert {changes[k].verdict for k in ("gone", "new", "zero")} == {"missing"}
    loose = deterministic.compare_counts({"up": 100.0}, {"up": 101.0}, threshold=0.05)
    assert loose[0].verdict == "unchanged"
    with pytest.raises(ValueError):
        deterministic.compare_counts({}, {}, threshold=0)
    assert deterministic.is_deterministic("instructions")
    assert not deterministic.is_deterministic("seconds")


def test_counts_by_benchmark_keeps_only_deterministic_rows():
    frame = pd.DataFrame({
        "short_name": ["Instructions.track_instructions_forward"] * 3 + ["Core.time_forward"],
        "params": ["small, contiguous, mean, none"] * 2 + ["small, noncontig, mean, none", "x"],
        "unit": ["instructions"] * 3 + ["seconds"],
        "status": ["ok", "ok", "skipped", "ok"],
        "value": [100.0, 100.01, float("nan"), 1e-3],
    })
    assert deterministic.counts_by_benchmark(frame) == {
        "Instructions.track_instructions_forward(small, contiguous, mean, none)": [100.0, 100.01]}


def test_the_threshold_itself_is_a_change_and_just_below_it_is_not():
    assert deterministic.verdict(0.01) == "regression"
    assert deterministic.verdict(-0.01) == "improvement"
    assert deterministic.verdict(0.0099) == deterministic.verdict(-0.0099) == "unchanged"
    assert deterministic.verdict(0.0) == "unchanged"
    assert deterministic.verdict(0.05, threshold=0.05) == "regression"
    assert deterministic.verdict(-0.049, threshold=0.05) == "unchanged"
    for not_finite in (math.nan, math.inf, -math.inf):
        assert deterministic.verdict(not_finite) == "missing"


def test_medians_changes_and_noise_are_the_values_of_each_side():
    (change,) = deterministic.compare_counts({"a": [100, 104, 101]}, {"a": [110.0, 90.0, 99.0]})
    assert (change.benchmark, change.baseline, change.candidate) == ("a", 101.0, 99.0)
    assert change.relative_change == pytest.approx(99 / 101 - 1)
    assert change.verdict == "improvement"
    # the larger of the two sides' spreads: (110 - 90) / 99
    assert change.noise == pytest.approx(20 / 99)
    (change,) = deterministic.compare_counts({"a": [100.0, 130.0, 101.0]}, {"a": [100.0, 101.0]})
    assert change.noise == pytest.approx(30 / 101)


def test_runs_without_a_finite_value_are_left_out():
    (change,) = deterministic.compare_counts(
        {"a": [100.0, None, math.nan, math.inf]}, {"a": [None, 102.0, -math.inf]})
    assert (change.baseline, change.candidate, change.verdict) == (100.0, 102.0, "regression")
    assert math.isnan(change.noise)  # one finite run per side
    assert deterministic.relative_spread([100.0, None, 102.0]) == pytest.approx(2 / 101)
    assert math.isnan(deterministic.relative_spread(100))  # one run: no spread
    assert math.isnan(deterministic.relative_spread(None))
    assert deterministic.relative_spread([1, 3]) == pytest.approx(1.0)  # ints count too
    (change,) = deterministic.compare_counts({"a": None}, {"a": 7})
    assert math.isnan(change.baseline) and change.candidate == 7.0
    assert change.verdict == "missing" and math.isnan(change.relative_change)


def test_a_missing_or_empty_side_is_missing_not_a_change():
    changes = {c.benchmark: c for c in deterministic.compare_counts(
        {"gone": 100.0, "empty": [], "negative": -5.0}, {"new": 5.0, "empty": [3.0],
                                                         "negative": 5.0, "gone": []})}
    assert sorted(changes) == ["empty", "gone", "negative", "new"]
    for name, c in changes.items():
        assert c.verdict == "missing" and math.isnan(c.relative_change), name
    assert changes["gone"].baseline == 100.0 and math.isnan(changes["gone"].candidate)


@pytest.mark.parametrize("threshold", [0, -0.01, math.nan])
def test_a_threshold_that_is_not_positive_is_refused(threshold):
    with pytest.raises(ValueError, match=f"threshold must be > 0, not {threshold}"):
        deterministic.compare_counts({"a": 1.0}, {"a": 1.0}, threshold=threshold)


def test_counts_below_one_are_compared_too():
    """Only a count that is not positive is missing: a mean of 0.5 instructions (a
    per-element rate, say) is compared like any other."""
    changes = deterministic.compare_counts({"half": 0.5, "one": 1.0}, {"half": 0.6, "one": 0.9})
    assert [(c.benchmark, c.verdict) for c in changes] == [("half", "regression"),
                                                           ("one", "improvement")]
    assert changes[0].relative_change == pytest.approx(0.2)
