"""cebench compare: the run selection, the noise model, the two rules, verdicts, exit codes
and reports.

Real data: ``tests/data/asv-results`` (one run of torch 2.13.0 and one of 2.14.1, see
tests/test_results.py) and the replicate runs committed under ``results/cpu-amd-epyc-2c``
(an A/A series of 12 runs of torch 2.13.0 at one commit on the shared 2-core CPU machine).
Synthetic frames (seeded) check the rule's arithmetic where the truth must be known.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from cebench.cli import main
from cebench.errors import InputError
from cebench.results import compare
from cebench.results import load as results
from cebench.results.compare import noise, stats, verdict

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "asv-results"
REPO_RESULTS = Path(__file__).resolve().parents[1] / "results"
MACHINE = "cpu-amd-epyc-2c"
LOG5 = math.log1p(0.05)


def cli(*args) -> int:
    return main(["compare", *map(str, args)])


def synthetic(side: str, k: int, seed: int, n: int = 48, tau: float = 0.08,
              sigma: float = 0.05, factor: float = 1.0, slowed=(), unit="seconds",
              kind="time", sigmas=None, machine="m") -> pd.DataFrame:
    """k runs of n benchmarks: a run shift ~ N(0, tau) shared by the run, per-benchmark
    noise ~ N(0, sigma) (log; ``sigmas[b]`` per benchmark if given); ``slowed``
    benchmarks x factor."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(k):
        shift = rng.normal(0, tau)
        for b in range(n):
            sd = sigma if sigmas is None else sigmas[b]
            value = math.exp(-7 + 0.05 * b + shift + rng.normal(0, sd))
            value *= factor if b in slowed else 1.0
            rows.append(dict(machine=machine, env_name=side, torch_version=side, commit="c",
                             date=pd.Timestamp("2026-01-01"), benchmark=f"mod.C.{kind}_{b}",
                             short_name=f"C.{kind}_{b}", kind=kind, unit=unit, params="",
                             status="ok", value=value, file=f"{side}-{r}.json"))
    return pd.DataFrame(rows)


def track_rows(side, name, unit, values, machine="m", status="ok"):
    return pd.DataFrame([dict(machine=machine, env_name=side, torch_version=side, commit="c",
                              date=pd.Timestamp("2026-01-01"), benchmark=f"mod.C.{name}",
                              short_name=f"C.{name}", kind="track", unit=unit, params="",
                              status=status, value=v, file=f"{side}-{i}.json")
                         for i, v in enumerate(values)])


def verdict_of(table, short_name) -> str:
    return table.loc[table["short_name_base"] == short_name, "verdict"].item()


# --- the pieces: statistics -----------------------------------------------------------------


def test_worse_direction_by_unit():
    assert [compare.worse_when(u) for u in ("seconds", "bytes", "relative error", "ratio",
                                            "instructions", "bytes/s", "fraction")] == \
        [1, 1, 1, 1, 1, -1, -1]
    assert compare.worse_when("devices") == compare.worse_when(None) == 0


def test_satterthwaite_and_t_helpers():
    assert stats.satterthwaite([(1.0, 4.0), (1.0, 4.0)]) == pytest.approx(8.0)
    assert stats.satterthwaite([(1.0, 4.0), (0.0, 1.0)]) == pytest.approx(4.0)
    assert stats.satterthwaite([(1.0, math.inf)]) == math.inf
    assert stats.t_sf(2.0, 7) == pytest.approx(sps.t.sf(2.0, 7))
    assert stats.t_sf(2.0, math.inf) == pytest.approx(sps.norm.sf(2.0))
    assert (stats.t_sf(math.inf, 3), stats.t_sf(-math.inf, 3)) == (0.0, 1.0)
    assert math.isnan(stats.t_sf(1.0, 0)) and math.isnan(stats.t_quantile(0.9, math.nan))
    assert stats.t_quantile(0.99, 5) == pytest.approx(sps.t.ppf(0.99, 5))


def test_threshold_test_against_its_formulas():
    """t against log(1 + threshold), one-sided, critical t[1 - level, df], the bounds and
    the minimum detectable change at POWER."""
    d = 0.5
    test = stats.threshold_test(d, 0.1, 12.0, LOG5, 0.001)
    q = sps.t.ppf(0.999, 12)
    assert test.t_worse == pytest.approx((d - LOG5) / 0.1)
    assert test.t_better == pytest.approx((-d - LOG5) / 0.1)
    assert test.critical == pytest.approx(q) and test.worse and not test.better
    assert (test.low, test.high) == pytest.approx((d - q * 0.1, d + q * 0.1))
    assert test.p_worse == pytest.approx(sps.t.sf((d - LOG5) / 0.1, 12))
    assert not stats.threshold_test(0.4, 0.1, 12.0, LOG5, 0.001).worse  # 3.5 < 3.93
    assert test.min_detectable == pytest.approx(LOG5 + (q + sps.t.ppf(0.9, 12)) * 0.1)
    # a change of exactly the minimum detectable one is caught POWER of the time
    rng = np.random.default_rng(0)
    draws = test.min_detectable + 0.1 * rng.standard_t(12, 40_000)
    assert np.mean((draws - LOG5) / 0.1 > q) == pytest.approx(compare.POWER, abs=0.01)
    assert stats.threshold_test(-d, 0.1, 12.0, LOG5, 0.001).better
    # noiseless: decided by the value
    assert stats.threshold_test(0.06, 0.0, math.inf, LOG5, 0.001).worse
    assert not stats.threshold_test(0.04, 0.0, math.inf, LOG5, 0.001).worse


def test_threshold_test_keeps_its_inputs_and_decides_noiseless_runs_by_value():
    """Every field, for noisy and noiseless (se = 0) changes, worse, better and between."""
    test = stats.threshold_test(0.5, 0.1, 12.0, LOG5, 0.001)
    assert (test.delta, test.se, test.df) == (0.5, 0.1, 12.0)
    for delta, worse, better in ((0.06, True, False), (-0.06, False, True),
                                 (0.01, False, False), (LOG5, False, False),
                                 (-LOG5, False, False)):
        t = stats.threshold_test(delta, 0.0, math.inf, LOG5, 0.001)
        assert (t.delta, t.se, t.df) == (delta, 0.0, math.inf)
        assert (t.worse, t.better) == (worse, better), delta
        assert (t.p_worse, t.p_better) == (0.0 if worse else 1.0, 0.0 if better else 1.0)
        assert t.t_worse == (math.inf if delta - LOG5 > 0 else -math.inf)
        assert t.t_better == (math.inf if -delta - LOG5 > 0 else -math.inf)
        assert (t.low, t.high, t.min_detectable) == (delta, delta, LOG5)
        assert t.critical == pytest.approx(sps.norm.ppf(0.999))


def test_noisy_verdict_words_and_the_exact_change_from_zero():
    worse = stats.threshold_test(0.5, 0.01, 12.0, LOG5, 0.001)
    better = stats.threshold_test(-0.5, 0.01, 12.0, LOG5, 0.001)
    within = stats.threshold_test(0.2, 1.0, 12.0, LOG5, 0.001)
    assert verdict.noisy_verdict(worse, 0.5, LOG5, False, True) == "regression"
    assert verdict.noisy_verdict(better, -0.5, LOG5, True, True) == "improvement"
    assert verdict.noisy_verdict(within, 0.2, LOG5, True, True) == "shared"
    assert verdict.noisy_verdict(within, 0.2, LOG5, True, False) == "unchanged"  # a ratio
    assert verdict.noisy_verdict(within, 0.2, LOG5, False, True) == "unchanged"
    assert verdict.noisy_verdict(within, LOG5, LOG5, True, True) == "unchanged"  # at it
    assert verdict.noisy_verdict(within, 0.01, LOG5, True, True) == "unchanged"
    assert verdict.count_verdict(0.0, -1e-3, 0.01) == "improvement"  # from exact 0, down
    assert verdict.count_verdict(0.0, -1e-3, 0.01, direction=-1) == "regression"


def test_the_small_formulas_at_their_edges():
    from scipy.special import polygamma

    # Welch-Satterthwaite: a part without df adds to the variance, not to the denominator
    assert stats.satterthwaite([(1.0, 0.0), (1.0, 5.0)]) == pytest.approx(4 / (1 / 5))
    assert stats.satterthwaite([(0.0, 0.0), (1.0, 5.0)]) == pytest.approx(5.0)
    assert stats.satterthwaite([(1.0, 0.5), (1.0, 5.0)]) == pytest.approx(4 / (2 + 1 / 5))
    assert stats.satterthwaite([(1.0, math.inf)]) == math.inf
    # fewer than one degree of freedom is still a t distribution
    assert stats.t_quantile(0.9, 0.5) == pytest.approx(sps.t.ppf(0.9, 0.5))
    assert stats.t_sf(1.0, 0.5) == pytest.approx(sps.t.sf(1.0, 0.5))
    assert math.isnan(stats.t_quantile(0.9, 0.0)) and math.isnan(stats.t_sf(1.0, 0.0))
    # trigamma's inverse: inf at and beyond the largest x it solves for
    assert stats.trigamma_inverse(float(polygamma(1, 1e8))) == math.inf
    assert stats.trigamma_inverse(float(polygamma(1, 2e8))) == math.inf
    assert stats.trigamma_inverse(float(polygamma(1, 3.0))) == pytest.approx(3.0)
    # the median's spread: nothing to spread without changes or runs
    assert stats.median_spread([], 3) == 0.0 and stats.median_spread([1.0], 0) == 0.0
    assert stats.median_spread([math.nan], 2) == 0.0
    assert stats.median_spread([1.0, 3.0], 2) == pytest.approx(math.pi / 2 * 2 / 2)


def test_the_printed_minimum_for_k_runs_a_side_is_the_shared_tests():
    """Noise.min_detectable (the notebooks' table of runs a side) is the minimum that
    shared_shift prints for the same tau, runs and error, at no spread."""
    machine = noise.Noise(tau=0.15, df=20.0, runs=24, source="test")
    for k in (3, 6):
        shared = stats.shared_shift([0.0] * 9, [0.0] * 9, tau=0.15, tau_df=20.0,
                                    runs_base=k, runs_cand=k, log_threshold=LOG5,
                                    level=0.01 / 2)
        assert machine.min_detectable(k, k, 0.01, 0.05) == pytest.approx(
            math.expm1(shared.test.min_detectable))
    se = 0.15 * math.sqrt(2 / 3)
    assert stats.min_detectable(LOG5, se, 20.0, 0.005) == pytest.approx(
        LOG5 + (sps.t.ppf(0.995, 20) + sps.t.ppf(compare.POWER, 20)) * se)
    assert machine.min_detectable(3, 3, 0.01, 0.05, spread=0.01) > machine.min_detectable(
        3, 3, 0.01, 0.05)


def test_shared_shift_takes_the_median_of_an_odd_count_and_says_improvement():
    shared = stats.shared_shift([0.1, 0.5, 0.2, 0.4, 0.3], [0.0] * 5, tau=0.01, tau_df=30,
                                runs_base=6, runs_cand=6, log_threshold=LOG5, level=0.005)
    assert shared.change == pytest.approx(0.3) and shared.verdict == "regression"
    faster = stats.shared_shift([-0.1, -0.5, -0.2, -0.4, -0.3], [0.0] * 5, tau=0.01,
                                tau_df=30, runs_base=6, runs_cand=6, log_threshold=LOG5,
                                level=0.005)
    assert faster.change == pytest.approx(-0.3) and faster.verdict == "improvement"


def test_shared_shift_formula_and_when_it_cannot_be_tested():
    deltas = [0.1, 0.3, 0.2, 0.25]
    shared = stats.shared_shift(deltas, [0.01] * 4, tau=0.1, tau_df=8, runs_base=3,
                                runs_cand=4, log_threshold=LOG5, level=0.005)
    se = math.sqrt(0.01 * (1 / 3 + 1 / 4) + math.pi / 2 * 0.01 / 4)
    assert shared.change == pytest.approx(0.225) and shared.test.se == pytest.approx(se)
    assert shared.test.critical == pytest.approx(sps.t.ppf(0.995, 8))
    assert shared.verdict == ("regression" if (0.225 - LOG5) / se > sps.t.ppf(0.995, 8)
                              else "unchanged")
    few = stats.shared_shift(deltas, [0.01] * 4, 0.1, 8, compare.MIN_RUNS - 1, 4, LOG5, 0.005)
    assert few.verdict == "inconclusive" and few.test is None and few.change == 0.225
    assert stats.shared_shift([], [], 0.1, 8, 3, 3, LOG5, 0.005).verdict == "none"
    assert stats.shared_shift(deltas, [], math.nan, 0, 3, 3, LOG5, 0.005).verdict == \
        "inconclusive"


def test_variances_shrink_with_the_prior_weight_capped():
    rng = np.random.default_rng(3)
    same = 0.01 * rng.chisquare(2, 200) / 2
    post, dfs, s0, d0 = noise.shrink_variances(same, np.full(200, 2.0))
    assert math.isinf(d0) and np.allclose(post, s0)          # uncapped: all take the prior
    post, dfs, s0, d0 = noise.shrink_variances(same, np.full(200, 2.0), cap=2.0)
    assert d0 == 2.0 and np.allclose(dfs, 4.0)               # capped: half own, half prior
    assert np.allclose(post, (2.0 * s0 + 2.0 * same) / 4.0)
    true = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 200))
    est = true * rng.chisquare(4, 200) / 4
    post, dfs, s0, d0 = noise.shrink_variances(est, np.full(200, 4.0))
    assert 0 < d0 < 50 and np.all(np.abs(post - s0) <= np.abs(est - s0))
    assert noise.shrink_variances([1.0, 2.0], [2, 2])[0].tolist() == [1.0, 2.0]


def test_levels_and_variances_fit_a_rank_one_model():
    """ss[g, b] = dof[g, b] level[g] v[b] exactly: the fit recovers both (levels to a
    geometric mean of 1), and a group without residuals keeps level 1."""
    v = np.array([0.01, 0.04, 0.25, 1.0])
    level = np.array([0.5, 2.0, 1.0])
    dof = np.array([[2, 2, 2, 2], [5, 0, 5, 5], [1, 1, 1, 1]], dtype=float)
    ss = dof * level[:, None] * v[None, :]
    fit_v, fit_level = noise.fit_levels(pd.DataFrame(ss), pd.DataFrame(dof))
    assert np.allclose(fit_v, v) and np.allclose(fit_level, level)
    fit_v, fit_level = noise.fit_levels(pd.DataFrame(np.vstack([ss, np.zeros(4)])),
                                        pd.DataFrame(np.vstack([dof, np.zeros(4)])))
    assert np.allclose(fit_level, [0.5, 2.0, 1.0, 1.0])


def test_run_shifts_tau_and_residuals():
    five = {k: [v, v + 0.2, v + 0.4] for k, v in zip("abdef", (0.0, 1.0, 2.0, 3.0, 4.0))}
    m = pd.DataFrame({**five, "c": [5.0, np.nan, np.nan]}, index=["r1", "r2", "r3"])
    keys = set(m.columns)
    shifts = noise.run_shifts(m, keys)   # c has one run: no say in the shift
    assert np.allclose(shifts, [-0.2, 0.0, 0.2])
    ss, dof = noise.group_residuals(m, shifts, [True] * 5 + [False])
    assert np.allclose(ss[list("abdef")], 0.0) and list(dof) == [2.0] * 5 + [0.0]
    # a run's shift is what its benchmarks share: fewer than five say nothing of it
    assert noise.MIN_SHIFT_BENCHMARKS == 5
    four = m.drop(columns=["f"])
    assert noise.run_shifts(four, keys).isna().all()
    partly = m.copy()
    partly.loc["r3", ["a", "b"]] = np.nan  # r3: three benchmarks left
    assert noise.run_shifts(partly, keys).isna().tolist() == [False, False, True]
    tau, df = noise.pooled_tau([shifts, pd.Series([0.1, np.nan, -0.1])])
    assert df == 3.0 and tau == pytest.approx(math.sqrt((0.08 + 0.02) / 3))
    assert noise.pooled_tau([pd.Series([0.3])]) == (pytest.approx(math.nan, nan_ok=True), 0.0)


def test_exact_count_rule_at_the_threshold():
    """Defect: an exact +-1 % change was decided by floating-point rounding of
    expm1(log a - log b). Now by the two values exactly."""
    for base in (3_806_123.0, 100.0, 7.0, 1e12 + 3):
        cand = float(Fraction(base) * Fraction(101, 100))
        if Fraction(cand) / Fraction(base) - 1 == Fraction(1, 100):
            assert verdict.count_verdict(base, cand, 0.01) == "regression"
    assert verdict.count_verdict(100.0, 101.0, 0.01) == "regression"
    assert verdict.count_verdict(100.0, 99.0, 0.01) == "improvement"
    assert verdict.count_verdict(100.0, 100.99, 0.01) == "unchanged"
    assert verdict.count_verdict(0.0, 1e-3, 0.01) == "regression"   # from exact to not
    assert verdict.count_verdict(0.0, 0.0, 0.01) == "unchanged"
    assert verdict.count_verdict(100.0, 98.0, 0.01, direction=-1) == "regression"


def test_outcome_of_verdicts():
    assert verdict.outcome_of(["unchanged", "inconclusive", "regression"], []) == "regression"
    assert verdict.outcome_of(["unchanged"], ["regression"]) == "regression"
    assert verdict.outcome_of(["unchanged", "failed"], ["unchanged"]) == "inconclusive"
    assert verdict.outcome_of(["unchanged"], ["inconclusive"]) == "inconclusive"
    assert verdict.outcome_of(["unchanged", "improvement", "missing"], ["none"]) == "ok"


# --- the time rule on synthetic runs ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_aa_replicates_raise_no_alarm(seed):
    table = compare.compare_frames(synthetic("a", 3, seed), synthetic("b", 3, 100 + seed))
    assert compare.outcome(table) == "ok" and compare.counts(table)["regression"] == 0


def test_three_times_slower_everywhere_is_a_shared_regression():
    table = compare.compare_frames(synthetic("a", 3, 1),
                                   synthetic("b", 3, 2, factor=3.0, slowed=range(48)))
    (suite,) = compare.suites(table)
    assert suite.shared_verdict == "regression" and compare.outcome(table) == "regression"
    assert suite.shared_change == pytest.approx(2.0, rel=0.2)


def test_one_slowed_benchmark_is_the_regression():
    table = compare.compare_frames(synthetic("a", 4, 1), synthetic("b", 4, 2, factor=3.0,
                                                                   slowed=[7]))
    assert verdict_of(table, "C.time_7") == "regression"
    assert compare.counts(table)["regression"] == 1


def test_half_faster_does_not_flag_the_unchanged_half():
    """Defect: the test of each change beyond the suite's median flagged unchanged
    benchmarks when half the others got faster (exit 1 in 71 % at 6 v 6)."""
    for seed in range(3):
        table = compare.compare_frames(
            synthetic("a", 6, seed), synthetic("b", 6, 50 + seed, factor=1 / 3,
                                               slowed=range(0, 48, 2)))
        slower = table[table["verdict"].isin(["regression", "shared"])]
        assert slower.empty and compare.outcome(table) == "ok"
        assert compare.counts(table)["improvement"] == 24


def test_each_benchmark_keeps_its_own_noise():
    """Defect: with few runs the shrinkage took the pooled variance for every benchmark
    (prior df infinite) and flagged the noisy ones. A benchmark ten times noisier than the
    rest keeps its own variance, from every replicate group of the machine."""
    sigmas = [0.02] * 47 + [0.5]
    history = synthetic("h", 8, 9, sigmas=sigmas)
    for seed in range(3):
        base = synthetic("a", 3, seed, sigmas=sigmas)
        cand = synthetic("b", 3, 40 + seed, sigmas=sigmas)
        table = compare.compare_frames(base, cand, reference=pd.concat([base, cand, history]))
        row = table[table["short_name_base"] == "C.time_47"].iloc[0]
        assert row["noise_sd"] > 0.25 and row["df"] < math.inf
        assert compare.outcome(table) == "ok"


def test_the_family_wise_error_is_spent_once():
    """Half of alpha for the suite's shift, half shared by the benchmarks (Bonferroni):
    each critical value is t[1 - alpha / 2 / m, df], the suite's t[1 - alpha / 2, tau df]."""
    table = compare.compare_frames(synthetic("a", 3, 1, n=20), synthetic("b", 3, 2, n=20),
                                   alpha=0.02)
    tested = table[table["test"] == "threshold-t"]
    assert len(tested) == 20
    for r in tested.itertuples():
        assert r.critical == pytest.approx(sps.t.ppf(1 - 0.02 / 2 / 20, r.df))
    assert table["shared_critical"].iloc[0] == pytest.approx(
        sps.t.ppf(1 - 0.01, table["tau_df"].iloc[0]))


@pytest.mark.parametrize("k_base, k_cand", [(1, 1), (1, 3), (3, 1), (2, 2), (2, 6)])
def test_fewer_than_min_runs_on_a_side_is_inconclusive(k_base, k_cand):
    """Defect: one run on one side answered 'no regression' (exit 0) even for x3
    slowdowns, with replicate noise in the same folder. A side with fewer than MIN_RUNS
    runs cannot be tested: exit 3, whatever the history holds."""
    history = synthetic("h", 12, 7)
    base = synthetic("a", k_base, 1)
    cand = synthetic("b", k_cand, 2, factor=3.0, slowed=range(48))
    table = compare.compare_frames(base, cand, reference=pd.concat([base, cand, history]))
    assert compare.outcome(table) == "inconclusive"
    assert set(table["verdict"]) == {"inconclusive"}
    (suite,) = compare.suites(table)
    assert suite.shared_verdict == "inconclusive" and suite.shared_change > 1.5


def test_untestable_ratios_beyond_the_threshold_are_inconclusive():
    """Defect: a ratio x3 measured once per side gave 'inconclusive' rows and exit 0."""
    base = pd.concat([synthetic("a", 3, 1), track_rows("a", "track_ratio", "ratio", [1.0])])
    cand = pd.concat([synthetic("b", 3, 2), track_rows("b", "track_ratio", "ratio", [3.0])])
    table = compare.compare_frames(base, cand)
    assert verdict_of(table, "C.track_ratio") == "inconclusive"
    assert compare.outcome(table) == "inconclusive"


def test_failures_in_the_candidate_are_named_and_inconclusive():
    """Defect: every forward+backward timing failing in every candidate run gave 'missing'
    rows and exit 0."""
    base = synthetic("a", 3, 1, n=8)
    cand = synthetic("b", 3, 2, n=8)
    failing = cand["short_name"].isin(["C.time_2", "C.time_5"])
    cand.loc[failing, ["status", "value"]] = ["failed", np.nan]
    table = compare.compare_frames(base, cand)
    assert verdict_of(table, "C.time_2") == verdict_of(table, "C.time_5") == "failed"
    assert compare.outcome(table) == "inconclusive"
    title = compare.headline(table, compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b"),
                             ["m"], 0.05, 0.01)
    assert title.startswith("INCONCLUSIVE: 2 benchmark(s) failed in the candidate")
    assert "failed in the candidate" in compare.display_rows(table)[0]["test"]


def test_a_zero_accuracy_figure_is_compared_by_the_count_rule():
    """Defect: a value of 0 was dropped (log 0): a relative error going from 0 to 1e-3
    was 'measured on one side only'. Accuracy repeats exactly: the count rule decides."""
    base = pd.concat([synthetic("a", 3, 1, n=4),
                      track_rows("a", "track_err", "relative error", [0.0])])
    cand = pd.concat([synthetic("b", 3, 2, n=4),
                      track_rows("b", "track_err", "relative error", [1e-3])])
    table = compare.compare_frames(base, cand)
    row = table[table["short_name_base"] == "C.track_err"].iloc[0]
    assert (row["verdict"], row["test"], row["worse_by"]) == ("regression", "count", math.inf)
    assert compare.display_rows(table)[0]["change"] == "from 0"


def test_instruction_counts_one_run_a_side_decide_by_the_count_rule():
    """Counts repeat exactly: one run a side decides (exit 1), the headline names the count
    rule, and --count-threshold reaches it (it did not: only --threshold existed)."""
    base = track_rows("a", "track_instructions", "instructions", [1_000_000.0])
    cand = track_rows("b", "track_instructions", "instructions", [1_013_000.0])
    specs = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    table = compare.compare_frames(base, cand)
    assert compare.outcome(table) == "regression"
    title = compare.headline(table, *specs, ["m"], 0.05, 0.01)
    assert title.startswith("REGRESSION: 1 instruction count(s) or accuracy figure(s) up by "
                            "1% or more (count rule)")
    assert "count rule: 1%" in title and "worse by more than 5%" not in title
    loose = compare.compare_frames(base, cand, count_threshold=0.02)
    assert compare.outcome(loose) == "ok"


def test_the_suite_counts_runs_with_timings_not_files():
    """Defect: the suite-wide test counted results files, so instruction-only runs raised
    its power (and changed it with --bench)."""
    base, cand = synthetic("a", 3, 1), synthetic("b", 3, 2)
    counts_only = track_rows("a", "track_instructions", "instructions", [1e6, 1e6]).assign(
        file=["a-x.json", "a-y.json"])
    plain = compare.compare_frames(base, cand)
    padded = compare.compare_frames(pd.concat([base, counts_only]), cand)
    assert compare.suites(padded)[0].k_base == compare.suites(plain)[0].k_base == 3
    assert compare.suites(padded)[0].min_detectable == pytest.approx(
        compare.suites(plain)[0].min_detectable)


def test_copies_of_a_run_count_once():
    """Defect: duplicated replicate files counted as more runs, and the printed minimum
    detectable change fell (88.7 % -> 74.4 %) as copies were added."""
    df = pd.concat([synthetic("a", 3, 1), synthetic("b", 3, 2), synthetic("h", 4, 3)])
    copies = pd.concat([df[df["file"].str.startswith(p)].assign(
        file=lambda d, p=p: d["file"].str.replace(".json", "-copy.json"))
        for p in ("h-", "a-0")])
    specs = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    plain, _ = compare.compare_specs(df, *specs)
    doubled, notes = compare.compare_specs(pd.concat([df, copies]), *specs)
    assert compare.suites(doubled)[0] == compare.suites(plain)[0]
    assert any("5 results file(s) are copies of another run and count once" in n for n in notes)
    kept, dropped = compare.drop_duplicate_runs(pd.concat([df, copies]))
    assert len(dropped) == 5 and all(f.endswith("-copy.json") for f in dropped)


def test_a_skipped_value_at_a_newer_commit_never_masks_a_measured_one():
    """A local run that skips instruction counts at a newer commit: the counts measured
    at the older commit are still the ones compared."""
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    old = {"commit": "old", "date": pd.Timestamp("2026-01-01")}
    new = {"commit": "new", "date": pd.Timestamp("2026-02-01")}
    base = pd.concat([track_rows("a", "track_instructions", "instructions", [100.0]).assign(**old),
                      track_rows("a", "track_instructions", "instructions", [np.nan],
                                 status="skipped").assign(file="a-new.json", **new)])
    cand = pd.concat([track_rows("b", "track_instructions", "instructions", [90.0]).assign(**old),
                      track_rows("b", "track_instructions", "instructions", [np.nan],
                                 status="skipped").assign(file="b-new.json", **new)])
    kept_a, kept_b, notes = compare.choose_commits(base, cand, a, b)
    assert set(kept_a["commit"]) == set(kept_b["commit"]) == {"old"}
    assert "the newest commit both sides measured" in notes[0]
    table = compare.compare_frames(kept_a, kept_b)
    assert verdict_of(table, "C.track_instructions") == "improvement"


def test_choose_commits_by_date_not_by_name():
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    old, new = "1111111111old", "0000000000new"   # 'new' is newer but sorts first

    def runs(side, commit, day):
        return synthetic(side, 1, day, n=2).assign(
            commit=commit, date=pd.Timestamp("2026-01-01") + pd.Timedelta(days=day),
            file=f"{commit}-{side}.json")

    base = pd.concat([runs("a", old, 1), runs("a", new, 2)])
    cand = pd.concat([runs("b", old, 1), runs("b", new, 2)])
    base_c, cand_c, notes = compare.choose_commits(base, cand, a, b)
    assert set(base_c["commit"]) == set(cand_c["commit"]) == {new}
    assert notes[0] == ("baseline torch=a: runs at 2 commits; taking per benchmark the newest "
                        "commit both sides measured (00000000; name another with commit=)")
    named = compare.Spec.parse("torch=a,commit=1111")
    kept, _, notes = compare.choose_commits(base, cand, named, b)
    assert len(kept) == 4 and notes[0].startswith("candidate")


def test_spec_parsing_and_messages():
    spec = compare.Spec.parse("torch=2.13.0, commit=abc123")
    assert (spec.torch, spec.commit, spec.env) == ("2.13.0", "abc123", None)
    assert compare.Spec.parse("env=a=b").env == "a=b"
    for bad in ("2.13.0", "torch=", "python=3.11", "", " , "):
        with pytest.raises(InputError):
            compare.Spec.parse(bad)
    df = synthetic("2.13.0", 1, 0, n=2)
    with pytest.raises(InputError, match=re.escape("baseline 'torch=9.9': no results for "
                                                   "torch 9.9; available: 2.13.0")):
        compare.Spec.parse("torch=9.9").select(df, "baseline")


def test_check_settings_bounds():
    compare.check_settings(0, 0.5)
    compare.check_settings(9.999, 1e-9, 0.0)
    for threshold, alpha, count in ((-0.01, 0.5, 0.01), (10, 0.5, 0.01), (0.05, 0, 0.01),
                                    (0.05, 1, 0.01), (0.05, 0.5, -1), (0.05, 0.5, 10)):
        with pytest.raises(InputError, match="--count-threshold"):
            compare.check_settings(threshold, alpha, count)


def test_compare_frames_of_nothing_has_the_documented_columns():
    empty = synthetic("a", 1, 0, n=1).iloc[:0]
    assert list(compare.compare_frames(empty, empty).columns) == [
        "machine", "benchmark", "params", "ratio", "worse_by", "verdict"]


def test_the_table_is_worst_first():
    table = compare.compare_frames(synthetic("a", 4, 1, n=12),
                                   synthetic("b", 4, 2, n=12, factor=3.0, slowed=[1]))
    order = {v: i for i, v in enumerate(compare.VERDICTS)}
    ranks = table["verdict"].map(order).tolist()
    assert ranks == sorted(ranks) and list(table.index) == list(range(len(table)))
    assert table["verdict"].iloc[0] == "regression"


# --- on the committed replicate runs ---------------------------------------------------------


@pytest.fixture(scope="module")
def committed(committed_results):
    return results.load(committed_results, machine=MACHINE, samples=False)


@pytest.fixture(scope="module")
def series(committed):
    """The committed A/A series: 12 runs of torch 2.13.0 at one commit."""
    rows = committed[committed["commit"].str.startswith("91656913")]
    files = sorted(rows["file"].unique())
    assert len(files) == 12
    return rows, files


def _slow(rows: pd.DataFrame, factor: float) -> pd.DataFrame:
    hit = rows["kind"] == "time"
    return rows.assign(value=np.where(hit, rows["value"] * factor, rows["value"]))


@pytest.mark.committed
def test_real_aa_halves_raise_no_alarm_and_a_real_x3_is_caught(series, committed):
    rows, files = series
    rest = committed[~committed["file"].isin(files)]
    for a_files, b_files in ((files[:6], files[6:]), (files[0::2], files[1::2])):
        a, b = rows[rows["file"].isin(a_files)], rows[rows["file"].isin(b_files)]
        table = compare.compare_frames(a, b, reference=rest)
        assert compare.outcome(table) == "ok", compare.display_rows(table)[:3]
        slow = compare.compare_frames(a, _slow(b, 3.0), reference=rest)
        (suite,) = compare.suites(slow)
        assert suite.shared_verdict == "regression" and compare.outcome(slow) == "regression"
        assert suite.min_detectable < 2.0


def _relabelled(rows, files, tmp_path, sides: dict[str, tuple[list[str], float]],
                source: Path = REPO_RESULTS) -> Path:
    """A results folder with the series' runs as named environments (env name and file
    name changed; ``time_`` values, their statistics and samples x factor)."""
    dest = tmp_path / "results"
    (dest / MACHINE).mkdir(parents=True)
    shutil.copy(source / "benchmarks.json", dest / "benchmarks.json")
    shutil.copy(source / MACHINE / "machine.json", dest / MACHINE / "machine.json")
    for env, (names, factor) in sides.items():
        for i, name in enumerate(names):
            data = json.loads(Path(name).read_text())
            data["env_name"] = env
            cols = data["result_columns"]
            for bench, row in data["results"].items():
                if factor != 1.0 and bench.rsplit(".", 1)[-1].startswith("time_"):
                    for key in ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25",
                                "stats_q_75", "samples"):
                        j = cols.index(key)
                        if j < len(row) and row[j] is not None:
                            row[j] = [None if v is None else [x * factor for x in v]
                                      if isinstance(v, list) else v * factor for v in row[j]]
            suffix = "" if i == 0 else f"-r{i + 1}"
            (dest / MACHINE / f"{data['commit_hash'][:8]}-{env}{suffix}.json").write_text(
                json.dumps(data))
    return dest


@pytest.mark.committed
def test_runs_of_a_benchmark_one_side_lacks_are_not_replicates_of_the_comparison(series,
                                                                                committed):
    """Defect: the candidate's side took, for a benchmark only it measured, every run of
    a series that measured it (in the committed results, bench_control at 97a68a28); the
    run shifts of those runs, one benchmark each, were that benchmark's noise (tau 52 %
    instead of 17 %), and the series left the reference. Here: six A/A runs a side, the
    candidate with six more runs that measured one benchmark the baseline never did."""
    rows, files = series
    rest = committed[~committed["file"].isin(files)]
    a, b = rows[rows["file"].isin(files[:6])], rows[rows["file"].isin(files[6:])]
    table = compare.compare_frames(a, b, reference=rest)
    extra = rest[rest["benchmark"] == rest["benchmark"].iloc[0]].copy()
    extra = extra[extra["file"].isin(sorted(extra["file"].unique())[:6])]
    extra = extra.assign(benchmark="bench_only.Candidate.time_alone",
                         key="bench_only.Candidate.time_alone()", kind="time",
                         value=extra["value"] * np.exp(np.linspace(-1, 1, len(extra))))
    assert len(extra) >= 6
    with_extra = compare.compare_frames(a, pd.concat([b, extra]), reference=rest)
    (before,), (after,) = compare.suites(table), compare.suites(with_extra)
    assert after.tau == pytest.approx(before.tau) and after.min_detectable == pytest.approx(
        before.min_detectable)
    assert compare.outcome(with_extra) == compare.outcome(table) == "ok"


@pytest.mark.committed
def test_cli_exit_codes_on_real_runs(series, tmp_path, capsys):
    rows, files = series
    dest = _relabelled(rows, files, tmp_path, {"a": (files[0::3], 1.0), "b": (files[1::3], 1.0),
                                               "slow": (files[2::3], 3.0)})
    assert cli(dest, "--baseline", "env=a", "--candidate", "env=b") == 0
    out = capsys.readouterr().out
    assert out.startswith("No regression") and "4 baseline run(s), 4 candidate run(s)" in out
    assert re.search(r"these runs catch a shared change of \d+ % 90% of the time", out)
    out_json, out_md = tmp_path / "slow.json", tmp_path / "slow.md"
    assert cli(dest, "--baseline", "env=a", "--candidate", "env=slow", "--json", out_json,
               "--markdown", out_md) == 1
    out = capsys.readouterr().out
    assert out.startswith("REGRESSION") and "SHARED REGRESSION" in out
    report = json.loads(out_json.read_text())
    assert report["outcome"] == "regression" and report["settings"]["count_threshold"] == 0.01
    assert report["machines"][0]["shared_verdict"] == "regression"
    assert {"critical", "min_detectable"} <= set(report["comparisons"][0])
    assert out_md.read_text().startswith("### :red_circle: cebench compare")
    # two runs a side: inconclusive, however large the change
    two = _relabelled(rows, files, tmp_path / "two", {"x": (files[:2], 1.0),
                                                       "y": (files[2:4], 3.0)})
    assert cli(two, "--baseline", "env=x", "--candidate", "env=y") == 3
    assert capsys.readouterr().out.startswith("INCONCLUSIVE")


@pytest.mark.committed
def test_committed_torch_versions_regress_by_the_count_rule(capsys, committed_results):
    """torch 2.14.1 against 2.15.0 as committed: four instruction counts +1.3 % (count
    rule, exit 1); the paired ratios, twelve interleaved runs a side, tested by the time
    rule: no regression among them."""
    assert cli(committed_results, "--baseline", "torch=2.14.1", "--candidate", "torch=2.15.0",
               "--bench", "Instructions|WeightOverhead") == 1
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert head.startswith("REGRESSION: 4 instruction count(s) or accuracy figure(s) up by 1% "
                           "or more (count rule)")
    assert "worse by more than 5%" not in head
    assert re.search(r"4 worse, 0 part of a shared slowdown, 0 failed, 0 untestable", out)
    assert "12 baseline run(s), 12 candidate run(s)" not in out  # no timings: no suite test


# --- bad input: exit 2 with a one-line message ---------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--baseline", "torch=9.9.9", "--candidate", "torch=2.14.1"],
     "no results for torch 9.9.9; available: 2.13.0, 2.14.1"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1", "--machine", "nope"],
     "unknown machine 'nope'; available: cpu-amd-epyc-2c"),
    (["--baseline", "commit=ffffff", "--candidate", "torch=2.14.1"],
     "no results for commit ffffff; available: 2b2f6672, 3c1d300c"),
    (["--baseline", "torch2.13.0", "--candidate", "torch=2.14.1"], "bad run spec"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1", "--bench", "("],
     "bad regular expression"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1", "--bench", "NoSuch"],
     "matches no benchmark"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.13.0"], "both take 1 run(s)"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1", "--alpha", "2"],
     "--alpha in (0, 1)"),
    (["--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1", "--count-threshold", "-1"],
     "--count-threshold must be in [0, 10)"),
])
def test_bad_input_exits_2(args, message, capsys):
    assert cli(RESULTS, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_results_dir_exits_2(tmp_path, capsys):
    assert cli(tmp_path / "none", "--baseline", "torch=1", "--candidate", "torch=2") == 2
    assert "no results directory" in capsys.readouterr().err


def test_one_run_each_on_the_small_real_data_is_inconclusive(tmp_path, capsys):
    out_md = tmp_path / "cmp.md"
    assert cli(RESULTS, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
               "--markdown", out_md) == 3
    out = capsys.readouterr().out
    assert out.startswith("INCONCLUSIVE") and "measured fewer than 3 times on a side" in out
    md = out_md.read_text()
    assert md.startswith("### :warning: cebench compare") and "<details>" in md
    assert "#### Untestable: fewer than 3 runs on a side" in md


def test_compare_versions_takes_each_versions_own_runs():
    df = pd.concat([synthetic("2.9.0", 1, 1, n=4),
                    synthetic("2.10.0", 1, 2, n=4, factor=2.0, slowed=range(4)),
                    synthetic("2.11.0", 1, 3, n=4)])
    table = compare.compare_versions(df)
    assert list(table.index) == list(range(8))
    assert set(table["baseline_version"]) == {"2.9.0"}
    for r in table.itertuples():
        b = df[(df["torch_version"] == "2.9.0") & (df["short_name"] == r.short_name_base)]
        c = df[(df["torch_version"] == r.candidate_version)
               & (df["short_name"] == r.short_name_base)]
        assert r.value_base == pytest.approx(b["value"].item())
        assert r.value_cand == pytest.approx(c["value"].item())


def test_replicate_shifts_and_noise():
    files = ["x.json", "x-r10.json", "x-r2.json"]
    df = pd.concat([synthetic("v", 3, 5, n=6).assign(file=lambda d: d["file"].map(
        dict(zip(sorted(d["file"].unique()), files)))),
        synthetic("w", 2, 6, n=6).assign(date=pd.Timestamp("2026-01-02"))], ignore_index=True)
    shifts = compare.replicate_shifts(df, "m")
    assert list(shifts["file"]) == ["x.json", "x-r2.json", "x-r10.json", "w-0.json", "w-1.json"]
    assert list(shifts.columns) == ["torch_version", "commit", "env_name", "file", "date",
                                    "shift"]
    found = compare.replicate_noise(df, "m")
    assert (found.runs, found.df) == (5, 3.0)
    assert found.source == "3 runs of torch v at c; 2 runs of torch w at c"
    assert compare.replicate_noise(df, "other") is None
    assert compare.replicate_number("abc-env-r12.json") == 12
    assert compare.replicate_number("abc-env.json") == 1


# --- run selection in full ------------------------------------------------------------------


def _three_envs():
    rows = []
    for env, version, commit in (("virtualenv-torch2.13.0", "2.13.0", "aaaa1111"),
                                 ("virtualenv-torch2.14.1", "2.14.1", "aaaa1111"),
                                 ("virtualenv-torch2.14.1-b", "2.14.1", "bbbb2222")):
        rows.append(synthetic(env, 1, 0, n=2).assign(torch_version=version, commit=commit))
    return pd.concat(rows, ignore_index=True)


def test_spec_keys_combine_and_env_names_match_exactly_first():
    df = _three_envs()
    pick = lambda text: set(compare.Spec.parse(text).select(df, "baseline")["env_name"])  # noqa: E731
    assert pick("torch=2.14.1") == {"virtualenv-torch2.14.1", "virtualenv-torch2.14.1-b"}
    assert pick("torch=2.14.1,commit=bbbb") == {"virtualenv-torch2.14.1-b"}
    assert pick("commit=aaaa,torch=2.14.1") == {"virtualenv-torch2.14.1"}
    assert pick("env=virtualenv-torch2.14.1") == {"virtualenv-torch2.14.1"}  # exact wins
    assert pick("env=torch2.14") == {"virtualenv-torch2.14.1", "virtualenv-torch2.14.1-b"}
    assert pick("env=2.13,commit=aaaa") == {"virtualenv-torch2.13.0"}
    for text, message in (
            ("commit=ffff", "baseline 'commit=ffff': no results for commit ffff; available: "
                            "aaaa1111, bbbb2222"),
            ("torch=2.13.0,commit=bbbb", "baseline 'torch=2.13.0,commit=bbbb': no results for "
                                         "commit bbbb; available: aaaa1111, bbbb2222"),
            ("env=nope", "baseline 'env=nope': no environment matches 'nope'; available: "
                         "virtualenv-torch2.13.0, virtualenv-torch2.14.1, "
                         "virtualenv-torch2.14.1-b"),
            ("torch=2.13.0,env=-b", "baseline 'torch=2.13.0,env=-b': no environment matches "
                                    "'-b'; available: virtualenv-torch2.13.0, "
                                    "virtualenv-torch2.14.1, virtualenv-torch2.14.1-b")):
        with pytest.raises(InputError) as err:
            compare.Spec.parse(text).select(df, "baseline")
        assert str(err.value) == message
    with pytest.raises(InputError) as err:
        compare.Spec.parse("torch=1").select(df.assign(torch_version=None), "candidate")
    assert str(err.value) == "candidate 'torch=1': no results for torch 1; available: " \
                             "(none recorded)"


def test_spec_messages_in_full():
    with pytest.raises(InputError) as err:
        compare.Spec.parse("python=3.11")
    assert str(err.value) == ("bad run spec 'python=3.11': expected KEY=VALUE[,KEY=VALUE] "
                              "with KEY one of torch, commit, env (e.g. torch=2.13.0)")
    with pytest.raises(InputError) as err:
        compare.Spec.parse(" , ")
    assert str(err.value) == "empty run spec ' , ': e.g. torch=2.13.0 or commit=abc123"


def test_choose_commits_per_benchmark_with_notes_in_full():
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")

    def runs(side, commit, day, names=("x", "y")):
        return pd.concat([track_rows(side, name, "seconds", [1.0 + day]) for name in names]
                         ).assign(commit=commit, date=pd.Timestamp("2026-01-01")
                                  + pd.Timedelta(days=day), file=f"{commit}-{side}.json")

    base = pd.concat([runs("a", "c1", 1), runs("a", "c2", 2, names=("x",)),
                      runs("a", "c3", 3, names=("z",))])
    cand = pd.concat([runs("b", "c1", 1), runs("b", "c2", 2)])
    kept_a, kept_b, notes = compare.choose_commits(base, cand, a, b)
    chosen = kept_a.groupby("short_name")["commit"].agg(set).to_dict()
    # x: newest both measured (c2); y: only at c1 on this side; z: never on the other side,
    # so this side's newest measurement of it
    assert chosen == {"C.x": {"c2"}, "C.y": {"c1"}, "C.z": {"c3"}}
    assert notes[0] == ("baseline torch=a: runs at 3 commits; taking per benchmark the newest "
                        "commit both sides measured, else its newest (c1, c2, c3; name "
                        "another with commit=)")
    # y: the newest commit both sides measured is c1, though the candidate has a newer one
    assert kept_b.groupby("short_name")["commit"].agg(set).to_dict() == {
        "C.x": {"c2"}, "C.y": {"c1"}}
    assert notes[1] == ("candidate torch=b: runs at 2 commits; taking per benchmark the newest "
                        "commit both sides measured (c1, c2; name another with commit=)")
    # a benchmark this side only ever skipped: its newest row stands
    skipped = runs("a", "c4", 4, names=("w",)).assign(status="skipped")
    kept, _, _ = compare.choose_commits(pd.concat([base, skipped]), cand, a, b)
    assert set(kept.loc[kept["short_name"] == "C.w", "commit"]) == {"c4"}
    # one commit on a side: nothing narrowed there
    _, same, notes = compare.choose_commits(base, runs("b", "c1", 1), a, b)
    assert len(same) == 2 and len(notes) == 1


def test_a_skip_at_a_commit_both_sides_ran_never_masks_a_measurement():
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")

    def runs(side, commit, day, names=("x", "y"), status="ok"):
        return pd.concat([track_rows(side, name, "seconds", [1.0 + day]) for name in names]
                         ).assign(commit=commit, status=status, date=pd.Timestamp("2026-01-01")
                                  + pd.Timedelta(days=day), file=f"{commit}-{side}.json")

    # x: measured at c1, skipped at the newer c2 on the baseline; measured at both on the
    # candidate: the baseline keeps c1's measurement
    base = pd.concat([runs("a", "c1", 1), runs("a", "c2", 2, names=("x",), status="skipped")])
    cand = pd.concat([runs("b", "c1", 1), runs("b", "c2", 2)])
    kept, _, notes = compare.choose_commits(base, cand, a, b)
    assert set(kept.loc[kept["short_name"] == "C.x", "commit"]) == {"c1"}
    # w (first by name) only this side measured; y both: the note says 'else its newest'
    base = pd.concat([runs("a", "c1", 1, names=("w", "y")), runs("a", "c2", 2, names=("y",))])
    cand = runs("b", "c1", 1, names=("y",))
    _, _, notes = compare.choose_commits(base, cand, a, b)
    assert "the newest commit both sides measured, else its newest" in notes[0]


def test_copies_keep_the_lowest_replicate_and_drop_nothing_else():
    df = synthetic("a", 2, 1, n=3).assign(file=lambda d: d["file"].map(
        {"a-0.json": "x.json", "a-1.json": "x-r2.json"}))
    copy = df[df["file"] == "x-r2.json"].assign(file="x-r3.json")
    kept, dropped = compare.drop_duplicate_runs(pd.concat([copy, df]))
    assert dropped == ["x-r3.json"] and sorted(kept["file"].unique()) == ["x-r2.json", "x.json"]
    other = df[df["file"] == "x.json"].assign(value=lambda d: d["value"] * 1.001,
                                              file="x-r4.json")
    assert compare.drop_duplicate_runs(pd.concat([df, other]))[1] == []
    assert compare.drop_duplicate_runs(df)[0] is df
    empty = df.iloc[:0]
    assert compare.drop_duplicate_runs(empty) == (empty, [])


def test_a_copy_is_found_whatever_its_rows_order_and_index_and_the_lowest_replicate_stays():
    df = synthetic("a", 2, 1, n=3).assign(file=lambda d: d["file"].map(
        {"a-0.json": "x.json", "a-1.json": "x-r2.json"})).reset_index(drop=True)
    # the copy's rows in another order, at other index values (as another file loads)
    copy = df[df["file"] == "x-r2.json"].iloc[::-1].assign(file="y-r9.json")
    copy.index = copy.index + 1000
    kept, dropped = compare.drop_duplicate_runs(pd.concat([df, copy]))
    assert dropped == ["y-r9.json"]
    # the lower replicate number stays, though its name is the longer one
    longer = df[df["file"] == "x-r2.json"].assign(file="a-much-longer-name-r2.json")
    shorter = df[df["file"] == "x-r2.json"].assign(file="b-r7.json")
    _, dropped = compare.drop_duplicate_runs(pd.concat([longer, shorter]))
    assert dropped == ["b-r7.json"]


def test_an_environment_is_named_literally_not_as_a_pattern():
    df = synthetic("a", 1, 0, n=3)
    df = pd.concat([df.assign(env_name="py3.11(x)"), df.assign(env_name="py3x11", file="o.json")])
    assert set(compare.Spec.parse("env=3.11(").select(df, "baseline")["env_name"]) == {
        "py3.11(x)"}
    with pytest.raises(InputError, match="no environment matches '3.11'"):
        compare.Spec.parse("env=3.11").select(df.assign(env_name="py3x11"), "baseline")


def test_select_results_by_machine_and_name_with_params():
    df = pd.concat([synthetic("a", 1, 0, n=3).assign(params="'x'"),
                    synthetic("a", 1, 0, n=3, machine="other")])
    assert list(compare.select_results(df, bench=r"time_1\('x'\)$")["short_name"]) == \
        ["C.time_1"]
    assert set(compare.select_results(df, machine="other")["machine"]) == {"other"}
    assert len(compare.select_results(df, machine="m")) == 3
    with pytest.raises(InputError, match=r"^--bench 'nothing' matches no benchmark$"):
        compare.select_results(df, bench="nothing")
    with pytest.raises(InputError, match=r"^unknown machine 'x'; available: m, other$"):
        compare.select_results(df, machine="x")
