"""Every verdict of the site: one computation per pair of runs, each rule's verdict with the
rule and the noise it was judged against."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas", reason="the analysis extra")

from cebench.publish import verdicts  # noqa: E402
from cebench.results import load, rules  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _table(rows):
    base = dict(machine="m", params="family=small", k_base=1, k_cand=1, ratio=1.0,
                worse_by=0.0, shared_verdict="none", k_runs_base=1, k_runs_cand=1,
                shared_change=math.nan, shared_low=math.nan, shared_high=math.nan,
                shared_p=math.nan, min_detectable=math.nan, tau=0.12, tau_df=5.0,
                tau_source="6 runs of torch 2.13.0 at abc", benchmark="b")
    return pd.DataFrame([dict(base, **r) for r in rows])


def test_each_rule_judges_its_own_rows_and_says_so():
    table = _table([
        dict(unit_base="instructions", short_name_base="Instructions.f", verdict="regression",
             ratio=1.013, worse_by=0.013),
        dict(unit_base="instructions", short_name_base="Instructions.g", verdict="unchanged"),
        dict(unit_base="seconds", short_name_base="Core.f", verdict="inconclusive", ratio=1.2,
             worse_by=0.2),
        dict(unit_base="seconds", short_name_base="Core.g", verdict="missing")])
    v = verdicts.judge(table, "m", "torch 2.14.1", "torch 2.15.0", "previous release",
                       repeat=(0.0004, 168))
    assert (v.count.compared, v.count.worse, v.count.outcome) == (2, 1, "regression")
    assert v.count.words == rules.rule_lines()["count"]
    assert v.count.largest == "+1.3 % Instructions.f (small)"
    assert "at most 0.040% (168 counts counted twice)" in v.count.noise
    assert (v.time.compared, v.time.worse, v.time.untested) == (1, 0, 1)
    assert v.time.outcome == "inconclusive" and v.time.words == rules.rule_lines()["time"]
    assert v.time.noise.startswith("run-to-run noise 12.0 % (sd of whole runs, from 6 runs")
    assert [r.rule for r in v.rules] == ["count", "time"]
    assert "1 worse, 0 better of 2 compared" in v.count.sentence


def test_a_rule_with_nothing_to_judge_says_nothing():
    table = _table([dict(unit_base="seconds", short_name_base="Core.f", verdict="unchanged")])
    v = verdicts.judge(table, "m", "a", "b", "previous release")
    assert v.count.outcome == "none" and [r.rule for r in v.rules] == ["time"]
    assert "no replicate" not in v.count.noise


@pytest.fixture(scope="module")
def committed():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load.load(REPO / "results")


def test_each_committed_newest_pair_splits_its_rows_between_the_two_rules(committed):
    """Every row of the newest runs' comparisons is judged by exactly one rule: values that
    repeat exactly (instruction counts, accuracy) by the count rule, the rest by the time
    rule; each rule's counts add up to compare's own."""
    from cebench.results import compare

    newest = verdicts.newest_run_pairs(committed)
    assert newest, "no newest-run pair in the committed results"
    for v in newest:
        rows = v.table[v.table["verdict"] != "missing"]
        exact = rows["unit_base"].isin(compare.EXACT_UNITS)
        assert (v.count.compared, v.time.compared) == (int(exact.sum()), int((~exact).sum()))
        n = compare.counts(rows)
        assert v.count.worse + v.time.worse == n["regression"] + n["shared"]
        assert v.count.better + v.time.better == n["improvement"]
        assert v.outcome == compare.outcome(v.table)


def test_release_steps_are_one_per_consecutive_pair_in_release_order(committed):
    steps = verdicts.release_steps(committed)
    pairs = [(v.baseline.split()[-1], v.candidate.split()[-1]) for v in steps]
    versions = [p[0] for p in pairs] + [pairs[-1][1]]
    assert versions == sorted(versions, key=load.version_key)
    assert all(v.time.words == rules.rule_lines()["time"] for v in steps)
