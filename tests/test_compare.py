"""cebench compare: replicate runs, the noise they measure, verdicts, exit codes, reports.

Real data: ``tests/data/asv-results`` (one run of torch 2.13.0 and one of 2.14.1, see
tests/test_results.py) and the A/A series committed under ``results/cpu-amd-epyc-2c``:
repeated asv runs of one torch version at one commit on the shared 2-core CPU machine
(``analysis/aa_series.py``; the machine's load average is in docs/measurement.md).
Synthetic frames (seeded) check the rule's arithmetic where the truth must be known.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cebench.cli import main
from cebench.errors import InputError
from cebench.results import compare
from cebench.results import load as results

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "asv-results"
REPO_RESULTS = Path(__file__).resolve().parents[1] / "results"
MACHINE = "cpu-amd-epyc-2c"


def cli(*args) -> int:
    return main(["compare", *map(str, args)])


# --- pure pieces ------------------------------------------------------------------------


def test_spec_parsing():
    spec = compare.Spec.parse("torch=2.13.0, commit=abc123")
    assert (spec.torch, spec.commit, spec.env) == ("2.13.0", "abc123", None)
    for bad in ("2.13.0", "torch=", "python=3.11", ""):
        with pytest.raises(InputError):
            compare.Spec.parse(bad)


def test_worse_direction_by_unit():
    assert compare.worse_when("seconds") == 1
    assert compare.worse_when("bytes") == 1
    assert compare.worse_when("relative error") == 1
    assert compare.worse_when("ratio") == 1
    assert compare.worse_when("instructions") == 1
    assert compare.worse_when("bytes/s") == -1
    assert compare.worse_when("fraction") == -1
    assert compare.worse_when("devices") == 0
    assert compare.worse_when("version (major + minor/100 + patch/10000)") == 0
    assert compare.worse_when(None) == 0


def test_variances_shrink_towards_their_group():
    rng = np.random.default_rng(3)
    # 200 benchmarks with one true variance, each estimated from 2 df: pure sampling
    # scatter, so every estimate takes the common prior
    same = 0.01 * rng.chisquare(2, 200) / 2
    post, dfs, s0, d0 = compare.shrink_variances(same, np.full(200, 2.0))
    assert math.isinf(d0) and np.allclose(post, s0) and 0.006 < s0 < 0.014
    # true variances spread over two decades: shrunk part of the way, order kept
    true = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 200))
    est = true * rng.chisquare(4, 200) / 4
    post, dfs, s0, d0 = compare.shrink_variances(est, np.full(200, 4.0))
    assert 0 < d0 < 50 and (dfs > 4).all()
    assert np.all((post - s0) * (est - s0) >= 0)  # each moves towards the prior ...
    assert np.all(np.abs(post - s0) <= np.abs(est - s0))  # ... and not past it
    # too few to fit: unchanged
    assert compare.shrink_variances([1.0, 2.0], [2, 2])[0].tolist() == [1.0, 2.0]


def test_satterthwaite():
    assert compare.satterthwaite([(1.0, 4.0), (1.0, 4.0)]) == pytest.approx(8.0)
    assert compare.satterthwaite([(1.0, 4.0), (0.0, 1.0)]) == pytest.approx(4.0)
    assert compare.satterthwaite([(1.0, math.inf)]) == math.inf


def synthetic(side: str, k: int, seed: int, n: int = 48, tau: float = 0.08,
              sigma: float = 0.05, factor: float = 1.0, slowed=(), unit="seconds",
              kind="time", extra=()) -> pd.DataFrame:
    """k runs of n benchmarks: a run shift ~ N(0, tau) shared by the run, per-benchmark
    noise ~ N(0, sigma) (log); ``slowed`` benchmarks x factor. ``extra``: (name, unit,
    value) rows without noise, one per run."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(k):
        shift = rng.normal(0, tau)
        for b in range(n):
            value = math.exp(-7 + 0.05 * b + shift + rng.normal(0, sigma))
            value *= factor if b in slowed else 1.0
            rows.append(dict(machine="m", env_name=side, torch_version=side, commit="c",
                             date=pd.Timestamp("2026-01-01"), benchmark=f"mod.C.time_{b}",
                             short_name=f"C.time_{b}", kind=kind, unit=unit, params="",
                             status="ok", value=value, file=f"{side}-{r}.json"))
        for name, xunit, value in extra:
            rows.append(dict(rows[-1], benchmark=f"mod.C.{name}", short_name=f"C.{name}",
                             kind="track", unit=xunit, value=value))
    return pd.DataFrame(rows)


def verdict_of(table, short_name) -> str:
    return table.loc[table["short_name_base"] == short_name, "verdict"].item()


@pytest.mark.parametrize("seed", range(5))
def test_aa_replicates_raise_no_alarm(seed):
    table = compare.compare_frames(synthetic("a", 3, seed), synthetic("b", 3, 100 + seed))
    assert compare.outcome(table) == "ok"
    assert compare.counts(table)["regression"] == 0


def test_three_times_slower_everywhere_is_a_shared_regression():
    table = compare.compare_frames(synthetic("a", 3, 1),
                                   synthetic("b", 3, 2, factor=3.0, slowed=range(48)))
    (suite,) = compare.suites(table)
    assert compare.outcome(table) == "regression"
    assert suite.shared_verdict == "regression" and suite.shared_p < 0.01
    assert suite.shared_change == pytest.approx(2.0, rel=0.15)  # x3
    assert suite.shared_low < 2.0 < suite.shared_high
    assert set(table["verdict"]) <= {"regression", "shared"}
    assert len(table) == 48
    assert set(table["tau_runs"]) == {6} and set(table["tau_source"]) == {"these runs"}


def test_one_slowed_benchmark_is_the_regression():
    table = compare.compare_frames(synthetic("a", 3, 4),
                                   synthetic("b", 3, 5, factor=2.0, slowed=[7]))
    assert verdict_of(table, "C.time_7") == "regression"
    assert compare.counts(table)["regression"] == 1
    assert compare.suites(table)[0].shared_verdict == "unchanged"


def test_half_slowed_flags_the_slowed_half_only():
    """Per-benchmark noise small against the run shifts (sd 5 % vs 8 %), half the
    benchmarks x2: the median moves by an unclear amount and tau hides each one, but
    their change beyond the suite's stands out against their own noise."""
    slowed = set(range(0, 48, 2))
    a, b = synthetic("a", 3, 6), synthetic("b", 3, 7, factor=2.0, slowed=slowed)

    def flagged(table):
        return {int(n.rsplit("_", 1)[1]) for n in table.loc[
            table["verdict"].isin(["regression", "shared"]), "short_name_base"]}

    table = compare.compare_frames(a, b)
    assert flagged(table) == slowed and compare.counts(table)["improvement"] == 0
    assert flagged(compare.compare_frames(a, b, relative=False)) == set()  # tau hides them


def test_one_run_per_side_is_inconclusive_with_the_minimum_detectable_shift():
    table = compare.compare_frames(synthetic("a", 1, 8), synthetic("b", 1, 9, factor=3.0,
                                                                   slowed=range(48)))
    (suite,) = compare.suites(table)
    assert compare.outcome(table) == "inconclusive"
    assert suite.shared_verdict == "inconclusive" and math.isnan(suite.min_detectable)
    assert suite.shared_change == pytest.approx(2.0, rel=0.3)  # reported, not judged
    assert set(table["verdict"]) == {"inconclusive"}
    noise = compare.Noise(tau=0.08, df=10, runs=12, source="12 runs")
    table = compare.compare_frames(synthetic("a", 1, 8), synthetic("b", 1, 9),
                                   reference={"m": noise})
    (suite,) = compare.suites(table)
    expected = math.expm1(compare.t_quantile(0.995, 10) * math.sqrt(2 * 0.08 ** 2))
    assert suite.min_detectable == pytest.approx(expected, rel=0.05)
    assert "cannot be told from the machine's own drift" in compare.suite_sentence(suite, 0.05)


def test_direction_decides_regression_or_improvement():
    def run(side, k, seed, bandwidth):
        return synthetic(side, k, seed, extra=[("track_bw", "bytes/s", bandwidth)])

    def noisy(df, seed):  # a little run-to-run noise on the track_ row
        rng = np.random.default_rng(seed)
        hit = df["unit"] == "bytes/s"
        return df.assign(value=np.where(hit, df["value"] * np.exp(rng.normal(0, 0.02, len(df))),
                                        df["value"]))

    down = compare.compare_frames(noisy(run("a", 3, 1, 100.0), 1), noisy(run("b", 3, 2, 50.0), 2))
    assert verdict_of(down, "C.track_bw") == "regression"  # bandwidth halved: worse
    up = compare.compare_frames(noisy(run("a", 3, 1, 100.0), 1), noisy(run("b", 3, 2, 200.0), 2))
    assert verdict_of(up, "C.track_bw") == "improvement"


def test_deterministic_units_are_judged_by_threshold_alone():
    def run(side, instructions):
        return synthetic(side, 1, 0, n=4, extra=[("track_instr", "instructions", instructions)])

    table = compare.compare_frames(run("a", 1_000_000), run("b", 1_020_000))
    row = table[table["short_name_base"] == "C.track_instr"].iloc[0]
    assert row["verdict"] == "regression" and row["test"] == "threshold"
    assert compare.outcome(table) == "regression"  # one run each, yet a finding
    small = compare.compare_frames(run("a", 1_000_000), run("b", 1_005_000))
    assert verdict_of(small, "C.track_instr") == "unchanged"
    assert compare.outcome(small) == "inconclusive"  # the timings still are


def test_unversioned_units_are_not_compared():
    table = compare.compare_frames(synthetic("a", 2, 0, n=3, extra=[("track_n", "devices", 0)]),
                                   synthetic("b", 2, 1, n=3, extra=[("track_n", "devices", 1)]))
    assert "C.track_n" not in set(table["short_name_base"])


def test_one_side_only_is_missing():
    a = synthetic("a", 2, 0, n=4)
    b = synthetic("b", 2, 1, n=4)
    b = b[b["short_name"] != "C.time_3"]
    assert verdict_of(compare.compare_frames(a, b), "C.time_3") == "missing"


def test_commits_are_chosen_where_both_sides_have_runs():
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    # both versions at commit X, then only 'a' again at a newer commit Y: take X
    base = pd.concat([_runs("a", "X", 1), _runs("a", "Y", 2)])
    cand = _runs("b", "X", 1)
    base_x, cand_x, notes = compare.choose_commits(base, cand, a, b)
    assert set(base_x["commit"]) == {"X"} and "newest commit both sides have" in notes[0]
    # both at Y too (the README's quick start after a second commit): take Y
    cand = pd.concat([cand, _runs("b", "Y", 2)])
    base_y, cand_y, _ = compare.choose_commits(base, cand, a, b)
    assert set(base_y["commit"]) == set(cand_y["commit"]) == {"Y"}
    # a named commit is taken, and the other side follows it
    named = compare.Spec.parse("torch=a,commit=X")
    base_n, cand_n, _ = compare.choose_commits(named.select(base, "baseline"), cand, named, b)
    assert set(base_n["commit"]) == set(cand_n["commit"]) == {"X"}
    # a newer run of a subset (one benchmark) at Z, on both sides: that benchmark is taken
    # at Z, every other benchmark stays at Y
    subset = lambda df: df[df["short_name"] == "C.time_0"].assign(
        commit="Z", date=pd.Timestamp("2026-01-05"))
    base_z, cand_z = pd.concat([base, subset(base)]), pd.concat([cand, subset(cand)])
    base_s, cand_s, notes = compare.choose_commits(base_z, cand_z, a, b)
    for side in (base_s, cand_s):
        by_bench = side.groupby("short_name")["commit"].agg(set)
        assert by_bench["C.time_0"] == {"Z"}
        assert all(c == {"Y"} for name, c in by_bench.items() if name != "C.time_0")
    assert "Y, Z" in notes[0]


# --- on the real A/A series ---------------------------------------------------------------


def aa_series():
    """The committed A/A series: the largest group of runs of one torch version at one
    commit on MACHINE."""
    df = results.load(REPO_RESULTS, machine=MACHINE)
    sizes = df.groupby(["torch_version", "commit"])["file"].nunique()
    version, commit = sizes.idxmax()
    if sizes.max() < 6:
        pytest.skip("results/ holds no A/A series (>= 6 runs of one version)")
    rows = df[(df["torch_version"] == version) & (df["commit"] == commit)]
    return rows, sorted(rows["file"].unique())


@pytest.fixture(scope="module")
def series():
    return aa_series()


def _slow(rows: pd.DataFrame, factor: float) -> pd.DataFrame:
    hit = rows["kind"] == "time"
    return rows.assign(value=np.where(hit, rows["value"] * factor, rows["value"]))


def test_real_aa_replicates_raise_no_alarm(series):
    rows, files = series
    for split in (files[0:6:2] + files[1:6:2], files[:6]):
        a, b = rows[rows["file"].isin(split[:3])], rows[rows["file"].isin(split[3:6])]
        table = compare.compare_frames(a, b)
        assert compare.outcome(table) == "ok", compare.display_rows(table)[:3]


def test_real_runs_three_times_slower_are_a_shared_regression(series):
    rows, files = series
    a, b = rows[rows["file"].isin(files[:3])], rows[rows["file"].isin(files[3:6])]
    table = compare.compare_frames(a, _slow(b, 3.0))
    (suite,) = compare.suites(table)
    assert suite.shared_verdict == "regression"
    assert 1.5 < suite.shared_change < 2.6
    assert compare.outcome(table) == "regression"


def _relabelled(series, tmp_path, sides: dict[str, tuple[list[str], float]]) -> Path:
    """A results folder with the series' runs as named environments (env name and file
    name changed; the measurements untouched except ``time_`` values, their statistics
    and samples x factor)."""
    rows, files = series
    dest = tmp_path / "results"
    (dest / MACHINE).mkdir(parents=True)
    shutil.copy(REPO_RESULTS / "benchmarks.json", dest / "benchmarks.json")
    shutil.copy(REPO_RESULTS / MACHINE / "machine.json", dest / MACHINE / "machine.json")
    for env, (names, factor) in sides.items():
        for i, name in enumerate(names):
            data = json.loads(Path(name).read_text())
            data["env_name"] = env
            if factor != 1.0:
                cols = data["result_columns"]
                for bench, row in data["results"].items():
                    if bench.rsplit(".", 1)[-1].startswith("time_"):
                        for key in ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25",
                                    "stats_q_75", "samples"):
                            j = cols.index(key)
                            if j < len(row) and row[j] is not None:
                                row[j] = [None if v is None else [x * factor for x in v]
                                          if isinstance(v, list) else v * factor
                                          for v in row[j]]
            suffix = "" if i == 0 else f"-r{i + 1}"
            (dest / MACHINE / f"{data['commit_hash'][:8]}-{env}{suffix}.json").write_text(
                json.dumps(data))
    return dest


def test_cli_exit_codes_on_real_runs(series, tmp_path, capsys):
    _, files = series
    dest = _relabelled(series, tmp_path, {"a": (files[:3], 1.0), "b": (files[3:6], 1.0),
                                          "slow": (files[6:9], 3.0), })
    assert cli(dest, "--baseline", "env=a", "--candidate", "env=b") == 0
    out = capsys.readouterr().out
    assert out.startswith("No regression") and "3 baseline run(s), 3 candidate run(s)" in out
    out_json = tmp_path / "slow.json"
    assert cli(dest, "--baseline", "env=a", "--candidate", "env=slow", "--json", out_json) == 1
    out = capsys.readouterr().out
    assert "SHARED REGRESSION x" in out
    report = json.loads(out_json.read_text())
    assert report["outcome"] == "regression"
    assert report["machines"][0]["shared_verdict"] == "regression"
    # one run per side: inconclusive, with the noise the other replicates measured
    single = _relabelled(series, tmp_path / "single", {"x": (files[:1], 1.0),
                                                        "y": (files[1:2], 3.0),
                                                        "z": (files[2:5], 1.0)})
    assert cli(single, "--baseline", "env=x", "--candidate", "env=y") == 3
    out = capsys.readouterr().out
    assert out.startswith("INCONCLUSIVE") and "measured from 3 runs" in out
    assert re.search(r"a shared change under (\d+ %|x\d+) cannot be told", out)


def test_committed_replicates_of_two_torch_versions_show_no_regression(capsys):
    """torch 2.14.1 against 2.15.0, three committed runs each at one commit: exit 0, and
    the counts, the suite-wide shift and the noise these runs measure."""
    specs = ("torch=2.14.1,commit=5de27586", "torch=2.15.0,commit=5de27586")
    code = cli(REPO_RESULTS, "--baseline", specs[0], "--candidate", specs[1], "--machine",
               MACHINE)
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out[:3]
    assert out[0] == (f"No regression -- candidate {specs[1]} vs baseline {specs[0]} on "
                      f"{MACHINE}.")
    assert out[1].startswith(f"{MACHINE}: no shared change beyond 5%; 3 baseline run(s), 3 "
                             "candidate run(s); overall the candidate is 16.7 % slower")
    assert out[2].startswith("216 compared: 0 worse, 0 part of a shared slowdown, 0 better, "
                             "203 unchanged (within 5% or within noise), 13 changed by more "
                             "than 5% but untestable, 0 measured on one side only")
    df = results.load(REPO_RESULTS, machine=MACHINE)
    table, notes = compare.compare_specs(df, *map(compare.Spec.parse, specs), threshold=0.05,
                                         alpha=0.01)
    assert notes == [] and compare.outcome(table) == "ok"
    (suite,) = compare.suites(table)
    assert (suite.k_base, suite.k_cand, suite.tau_df, suite.tau_source) == (3, 3, 4.0,
                                                                            "these runs")
    assert suite.shared_verdict == "unchanged" and suite.shared_p == pytest.approx(0.161, abs=1e-3)
    assert suite.shared_change == pytest.approx(0.1674, abs=1e-4)
    assert suite.tau == pytest.approx(0.0925, abs=1e-4)
    assert suite.min_detectable == pytest.approx(0.5146, abs=1e-4)
    by_unit = table.groupby(["unit_base", "verdict"]).size().to_dict()
    assert by_unit == {("ratio", "inconclusive"): 13, ("ratio", "unchanged"): 35,
                       ("relative error", "unchanged"): 48, ("seconds", "unchanged"): 120}
    # every run of the two versions: most benchmarks were last run once per side, at
    # newer commits, so the comparison cannot test them: inconclusive, exit 3
    assert cli(REPO_RESULTS, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
               "--machine", MACHINE) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("INCONCLUSIVE: one run per side")
    assert out[2].startswith("393 compared: 0 worse, 0 part of a shared slowdown, 4 better, "
                             "208 unchanged")
    top = table.iloc[0]  # the largest untestable change: one run of a ratio per side
    assert (top["pass"], top["family"]) == ("forward_backward", "small")  # columns kept
    assert (top["verdict"], top["test"], top["k_base"], top["k_cand"]) == (
        "inconclusive", "none", 1, 1)
    assert (top["value_base"], top["value_cand"], top["ratio"]) == pytest.approx(
        (0.84332, 1.09645, 1.30016), abs=1e-5)


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
])
def test_bad_input_exits_2(args, message, capsys):
    assert cli(RESULTS, *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_missing_results_dir_exits_2(tmp_path, capsys):
    assert cli(tmp_path / "none", "--baseline", "torch=1", "--candidate", "torch=2") == 2
    assert "no results directory" in capsys.readouterr().err


def test_unreadable_results_exit_2(tmp_path, capsys):
    shutil.copytree(RESULTS, tmp_path / "r")
    for path in (tmp_path / "r" / MACHINE).glob("*-*.json"):
        path.write_text("{\"truncated")
    assert cli(tmp_path / "r", "--baseline", "torch=1", "--candidate", "torch=2") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "damaged results, nothing judged: " in err[0]
    assert ".json: skipped (not valid JSON" in err[0] and err[0].endswith("(and 1 more)")


def test_no_overlap_exits_2(tmp_path, capsys):
    dest = tmp_path / "r"
    shutil.copytree(RESULTS, dest)
    for path, keep in zip(sorted((dest / MACHINE).glob("*-*.json")), ("Core.", "Accuracy.")):
        data = json.loads(path.read_text())
        data["results"] = {k: v for k, v in data["results"].items()
                           if keep in k or "Environment" in k}
        path.write_text(json.dumps(data))
    assert cli(dest, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1") == 2
    assert "no benchmark has results on both sides" in capsys.readouterr().err


def test_one_run_each_on_the_small_real_data_is_inconclusive(tmp_path, capsys):
    out_md = tmp_path / "cmp.md"
    assert cli(RESULTS, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
               "--markdown", out_md) == 3
    out = capsys.readouterr().out
    assert out.startswith("INCONCLUSIVE") and "run-to-run noise is unknown" in out
    md = out_md.read_text()
    assert md.startswith("### :warning: cebench compare") and "<details>" in md


def test_compare_versions_for_notebooks():
    df = results.load(RESULTS)
    table = compare.compare_versions(df)
    assert set(table["baseline_version"]) == {"2.13.0"}
    assert set(table["candidate_version"]) == {"2.14.1"}
    assert set(table["verdict"]) <= set(compare.VERDICTS)
    one_version = compare.compare_versions(df[df["torch_version"] == "2.13.0"])
    assert one_version.empty


def test_compare_versions_compares_every_newer_version_with_the_oldest():
    """Per machine: each newer version against the oldest, at the threshold and alpha
    given; a pair of single runs takes its noise from the machine's replicate runs."""
    df = pd.concat([synthetic("2.9.0", 1, 1, n=8), synthetic("2.10.0", 1, 2, n=8),
                    synthetic("2.11.0", 3, 3, n=8, factor=2.0, slowed=[5]),
                    synthetic("2.12.0", 3, 4, n=8).assign(machine="other")])
    table = compare.compare_versions(df)
    pairs = table.groupby(["machine", "baseline_version", "candidate_version"]).size()
    assert pairs.to_dict() == {("m", "2.9.0", "2.10.0"): 8, ("m", "2.9.0", "2.11.0"): 8}
    single = table[table["candidate_version"] == "2.10.0"]
    assert set(single["tau_source"]) == {"3 runs of torch 2.11.0 at c"}
    assert set(single["k_runs_base"]) == set(single["k_runs_cand"]) == {1}
    newer = table[table["candidate_version"] == "2.11.0"]
    assert set(newer["tau_source"]) == {"these runs"}
    assert verdict_of(newer, "C.time_5") == "regression"
    assert newer["ratio"][newer["short_name_base"] == "C.time_5"].item() == pytest.approx(
        2.0, rel=0.2)
    # a threshold above the x2: no regression; a larger alpha: a smaller detectable shift
    assert "regression" not in set(compare.compare_versions(df, threshold=1.5)["verdict"])
    loose = compare.compare_versions(df, alpha=0.2)
    mds = lambda t: t.loc[t["candidate_version"] == "2.10.0", "min_detectable"].iloc[0]  # noqa: E731
    assert 0.05 < mds(loose) < mds(table)
    nothing = compare.compare_versions(df[df["torch_version"] == "2.9.0"])
    assert nothing.empty and list(nothing.columns) == [
        "machine", "benchmark", "params", "ratio", "verdict", "baseline_version",
        "candidate_version"]


def test_runs_that_share_no_benchmark_measure_no_noise():
    """Each run of a side holds other benchmarks (runs of subsets at several commits, one
    taken per benchmark): no benchmark is measured twice, so no run shift and no tau can
    be measured, and a x2 of one run per side is untestable, not a regression at p = 0."""
    def side(name, seed, factor=1.0):
        df = synthetic(name, 3, seed, n=12, factor=factor, slowed=[0])
        run = df["file"].str.rsplit("-", n=1).str[1].str[0].astype(int)
        return df[df["short_name"].str.rsplit("_", n=1).str[1].astype(int) % 3 == run]

    a, b = side("a", 1), side("b", 2, factor=2.0)
    assert (a.groupby("short_name")["file"].nunique() == 1).all()
    matrix = compare._matrix(compare._prepare(a))
    assert compare.run_shifts(matrix, set(matrix.columns)).isna().all()
    table = compare.compare_frames(a, b)
    assert verdict_of(table, "C.time_0") == "inconclusive"
    assert set(table["test"]) == {"none"} and math.isnan(table["tau"].iloc[0])
    assert compare.outcome(table) == "inconclusive"
    # with one side's runs replicated, that side's shifts give tau: a test, not p = 0
    table = compare.compare_frames(synthetic("a", 3, 1, n=12), b)
    assert table["tau_df"].iloc[0] == 2.0 and table["tau"].iloc[0] > 0
    assert (table["p_value"] > 0).all()


def _suite_table(k_base, k_cand, shared_verdict, verdicts, machine="m"):
    """A comparison table as compare_frames makes it, reduced to what outcome reads."""
    return pd.DataFrame({
        "machine": machine, "verdict": verdicts, "k_runs_base": k_base, "k_runs_cand": k_cand,
        "shared_change": 0.0, "shared_low": math.nan, "shared_high": math.nan,
        "shared_p": math.nan, "shared_verdict": shared_verdict, "min_detectable": math.nan,
        "tau": math.nan, "tau_df": 0.0, "tau_source": ""})


@pytest.mark.parametrize("k_base, k_cand, shared, verdicts, expected", [
    (3, 3, "regression", ["shared", "unchanged"], "regression"),  # the suite alone
    (3, 3, "unchanged", ["regression", "improvement"], "regression"),
    (3, 3, "inconclusive", ["unchanged"], "inconclusive"),
    (1, 1, "none", ["inconclusive", "unchanged"], "inconclusive"),  # one run per side
    (1, 2, "none", ["inconclusive", "unchanged"], "ok"),  # replicates on one side
    (3, 3, "improvement", ["improvement", "missing"], "ok"),
])
def test_outcome_of_a_table(k_base, k_cand, shared, verdicts, expected):
    table = _suite_table(k_base, k_cand, shared, verdicts)
    assert compare.outcome(table) == expected
    (suite,) = compare.suites(table)
    assert (suite.k_base, suite.k_cand, suite.shared_verdict) == (k_base, k_cand, shared)
    assert suite.regressions == verdicts.count("regression")
    assert suite.carriers == verdicts.count("shared")


def test_suites_one_per_machine_in_order_and_none_without_a_suite_column():
    table = pd.concat([_suite_table(2, 2, "unchanged", ["unchanged"], machine="z"),
                       _suite_table(3, 1, "regression", ["shared", "shared"], machine="a")])
    assert [(s.machine, s.k_base, s.carriers) for s in compare.suites(table)] == [
        ("a", 3, 2), ("z", 2, 0)]
    assert compare.suites(pd.DataFrame({"machine": ["m"], "verdict": ["missing"]})) == []
    assert compare.suites(table.iloc[:0]) == []
    assert compare.counts(table) == {"regression": 0, "shared": 2, "inconclusive": 0,
                                     "improvement": 0, "unchanged": 1, "missing": 0}


def test_satterthwaite_edges():
    # a part with df in (0, 1] counts; a part with 0 df is left out of the denominator
    assert compare.satterthwaite([(1.0, 0.5)]) == pytest.approx(0.5)
    assert compare.satterthwaite([(1.0, 4.0), (1.0, 0.0)]) == pytest.approx(16.0)
    assert compare.satterthwaite([(0.0, 4.0), (0.0, 2.0)]) == math.inf


def test_p_values_and_quantiles_of_t_and_of_the_normal():
    from scipy import stats

    assert compare.t_sf2(math.inf, 4) == 0.0 and compare.t_sf2(-math.inf, 4) == 0.0
    assert compare.t_sf2(2.0, 1.0) == pytest.approx(2 * stats.t.sf(2.0, 1.0))  # 0.295
    assert compare.t_sf2(-2.0, 0.5) == pytest.approx(2 * stats.t.sf(2.0, 0.5))
    assert compare.t_sf2(2.5, math.inf) == 2 * stats.norm.sf(2.5)  # the normal, exactly
    for df in (0, -1, math.nan):
        assert math.isnan(compare.t_sf2(1.0, df)) and math.isnan(compare.t_quantile(0.9, df))
    assert compare.t_quantile(0.975, 1.0) == pytest.approx(12.7062, abs=1e-4)
    assert compare.t_quantile(0.995, math.inf) == stats.norm.ppf(0.995)


def test_minimum_detectable_shift_without_and_with_the_benchmarks_spread():
    noise = compare.Noise(tau=0.1, df=4, runs=6, source="s")
    q = compare.t_quantile(1 - 0.01 / 2, 4)
    assert noise.min_detectable(3, 2, 0.01) == pytest.approx(q * 0.1 * math.sqrt(1 / 3 + 1 / 2))
    assert noise.min_detectable(3, 2, 0.01, spread=0.02) == pytest.approx(
        q * math.sqrt(0.01 * (1 / 3 + 1 / 2) + 0.02))


def test_the_log_matrix_takes_positive_values_signed_worse_is_larger():
    rows = pd.DataFrame({"file": ["r1", "r1", "r2", "r2"], "key": ["t", "bw", "t", "bw"],
                         "value": [2.0, 0.0, 4.0, 8.0], "direction": [1, -1, 1, -1]})
    matrix = compare._matrix(rows)
    assert matrix.loc["r1", "t"] == pytest.approx(math.log(2))
    assert math.isnan(matrix.loc["r1", "bw"])  # 0 has no log: no value, not -inf
    assert matrix.loc["r2", "bw"] == pytest.approx(-math.log(8))
    assert compare.counts(pd.DataFrame()) == dict.fromkeys(compare.VERDICTS, 0)


def test_runs_without_timings_have_no_shift_and_measure_no_tau():
    """Only a run's timings move with the machine: runs of other units alone give no run
    shift, so tau stays unknown (not 0) and the noise comes from elsewhere."""
    def ratios(side, seed):
        return synthetic(side, 3, seed, n=6, unit="ratio", kind="track")

    matrix = compare._matrix(compare._prepare(ratios("a", 1)))
    assert compare.run_shifts(matrix, set()).isna().all()
    table = compare.compare_frames(ratios("a", 1), ratios("b", 2))
    assert table["tau_df"].iloc[0] == 0.0 and math.isnan(table["tau"].iloc[0])
    assert set(table["test"]) == {"welch-t"} and compare.outcome(table) == "ok"
    assert compare.run_shifts(matrix.iloc[:0], set(matrix.columns)).empty


def test_a_scatter_barely_above_sampling_takes_the_prior():
    """trigamma(x) ~ 1/x: a scatter of log variances just above what sampling explains
    (y under trigamma(1e8)) gives a prior df beyond 1e8, taken as infinite (all take the
    prior) rather than failing to find the root."""
    from scipy.special import polygamma

    assert compare._trigamma_inverse(float(polygamma(1, 3.0))) == pytest.approx(3.0)
    assert compare._trigamma_inverse(2e-8) == pytest.approx(5e7, rel=1e-6)
    for y in (float(polygamma(1, 1e8)), 1.0000000001e-8, 5e-9, 0.0, -1.0):
        assert compare._trigamma_inverse(y) == math.inf


def test_shrinkage_fits_positive_variances_with_positive_df_only():
    from scipy.special import digamma

    rng = np.random.default_rng(5)
    est = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 40)) * rng.chisquare(4, 40) / 4
    _, _, s0, d0 = compare.shrink_variances(est, np.full(40, 4.0))
    # a zero variance, a variance with 0 df, a NaN: left out of the fit, and each keeps
    # what it had when it has no df (a zero with df takes its share of the prior)
    v = np.concatenate([est, [0.0, 0.5, np.nan]])
    post, dfs, s0_more, d0_more = compare.shrink_variances(v, np.r_[np.full(40, 4.0), 4, 0, 4])
    assert (s0_more, d0_more) == pytest.approx((s0, d0))
    assert post[41] == pytest.approx(s0) and dfs[41] == pytest.approx(d0)
    assert post[40] == pytest.approx(d0 * s0 / (d0 + 4))
    # integer input: the same floats (no truncation to integers)
    post, dfs, s0, d0 = compare.shrink_variances([4, 4, 4, 4], [2, 2, 2, 2])
    assert math.isinf(d0) and dfs.tolist() == [math.inf] * 4
    assert post.tolist() == pytest.approx([4 * math.exp(-digamma(1.0))] * 4)


def test_two_runs_are_enough_for_a_side_to_measure_tau():
    tau, df = compare.pooled_tau([pd.Series([0.1, -0.1]), pd.Series([0.3])])
    assert (tau, df) == (pytest.approx(math.sqrt(0.02)), 1.0)
    assert compare.pooled_tau([pd.Series([0.3]), pd.Series([np.nan, 0.2])])[1] == 0.0


def test_a_machine_or_a_benchmark_with_no_usable_runs_on_one_side_is_missing():
    a, b = synthetic("a", 2, 0, n=4), synthetic("b", 2, 1, n=4)
    b = pd.concat([b.assign(status=np.where(b["short_name"] == "C.time_3", "failed", "ok")),
                   b.assign(machine="n")])
    table = compare.compare_frames(a, b)
    verdicts = table.groupby("machine")["verdict"].agg(set).to_dict()
    assert verdicts == {"m": {"missing", "unchanged"}, "n": {"missing"}}
    assert verdict_of(table[table["machine"] == "m"], "C.time_3") == "missing"
    assert table.loc[table["machine"] == "n", "k_base"].eq(0).all()


def test_shrinkage_follows_limmas_moments_from_three_variances_and_one_df():
    """Smyth's (2004) moment fit: e = log v - digamma(d/2) + log(d/2); the prior df d0
    solves trigamma(d0/2) = var(e) (ddof 1) - mean trigamma(d/2). It needs three
    variances; one df each is enough."""
    from scipy.special import digamma, polygamma

    # a wide scatter (prior df under 3) and a moderate one (prior df about 4.4)
    for v, d in ((np.array([0.01, 0.2, 3.0]), np.array([1.0, 1.0, 2.0])),
                 (np.array([0.5, 1.0, 2.0, 4.0]), np.full(4, 10.0))):
        e = np.log(v) - digamma(d / 2) + np.log(d / 2)
        evar = e.var(ddof=1) - polygamma(1, d / 2).mean()
        d0 = 2 * compare._trigamma_inverse(evar)
        s0 = math.exp(e.mean() + digamma(d0 / 2) - math.log(d0 / 2))
        post, dfs, s0_fit, d0_fit = compare.shrink_variances(v, d)
        assert math.isfinite(d0) and (s0_fit, d0_fit) == pytest.approx((s0, d0))
        assert post == pytest.approx((d0 * s0 + d * v) / (d0 + d))
        assert dfs == pytest.approx(d0 + d)
    assert 3 < d0 < 6 and 0 < evar < 1  # about 4.4
    post, dfs, s0, d0 = compare.shrink_variances(v[:2], d[:2])  # two: too few to fit
    assert post.tolist() == v[:2].tolist() and math.isnan(s0) and d0 == 0.0


def test_run_shifts_from_benchmarks_two_runs_share():
    """Three runs; 'x' and 'y' measured by runs 1 and 2 only, 'z' by run 3 only: runs 1
    and 2 are shifted by their residuals, run 3 has none."""
    matrix = pd.DataFrame({"x": [1.0, 1.2, np.nan], "y": [2.0, 2.2, np.nan],
                           "z": [np.nan, np.nan, 5.0]}, index=["r1", "r2", "r3"])
    shifts = compare.run_shifts(matrix, {"x", "y", "z"})
    assert shifts[["r1", "r2"]].tolist() == pytest.approx([-0.1, 0.1])
    assert math.isnan(shifts["r3"])
    matrix.loc["r3", "x"] = 1.4  # now x is measured three times: r3 has a shift
    assert compare.run_shifts(matrix, {"x", "y", "z"}).tolist() == pytest.approx(
        [-0.15, 0.05, 0.2])


def test_exponent_of_a_log_change_beyond_the_float_range_is_inf():
    assert compare._expm1(0.1) == math.expm1(0.1) and compare._expm1(-800) == -1.0
    assert compare._expm1(709.7) == math.expm1(709.7) and compare._expm1(709.8) == math.inf
    noise = compare.Noise(tau=0.5, df=1, runs=2, source="2 runs of torch a at c")
    table = compare.compare_frames(synthetic("a", 1, 1, n=4), synthetic("b", 1, 2, n=4),
                                   alpha=1e-6, reference={"m": noise})
    assert compare.suites(table)[0].min_detectable == math.inf


def test_replicate_noise_counts_only_runs_with_a_measured_shift():
    """A run without a time benchmark measured twice (here: only a track row) has no
    shift; it adds to neither tau's runs nor the label, and a group left with one
    measured run is dropped."""
    three = synthetic("2.11.0", 3, 3, n=8)
    track = dict(three.iloc[0], benchmark="mod.C.track_x", short_name="C.track_x",
                 kind="track", unit="bytes", value=1.0)
    df = pd.concat([three,
                    pd.DataFrame([dict(track, file="2.11.0-9.json")]),
                    synthetic("2.12.0", 1, 4, n=8),
                    pd.DataFrame([dict(track, torch_version="2.12.0", env_name="2.12.0",
                                       file="2.12.0-9.json")])], ignore_index=True)
    shifts = compare.replicate_shifts(df, "m")
    assert shifts["shift"].isna().sum() == 3 and len(shifts) == 6
    noise = compare.replicate_noise(df, "m")
    assert (noise.runs, noise.df, noise.source) == (3, 2.0, "3 runs of torch 2.11.0 at c")
    measured = shifts.loc[shifts["torch_version"] == "2.11.0", "shift"].dropna()
    assert noise.tau == pytest.approx(float(measured.std(ddof=1)))
    # no group with two measured runs: no noise
    assert compare.replicate_noise(df[df["torch_version"] == "2.12.0"], "m") is None
    assert compare.replicate_noise(df, "other") is None


# --- run selection: specs, commits, versions, settings -------------------------------------


def test_spec_messages_and_values():
    assert compare.Spec.parse("env=a=b").env == "a=b"  # the value is all after the first '='
    with pytest.raises(InputError, match=r"^bad run spec 'python=3\.11': expected "
                       r"KEY=VALUE\[,KEY=VALUE\] with KEY one of torch, commit, env "
                       r"\(e\.g\. torch=2\.13\.0\)$"):
        compare.Spec.parse("python=3.11")
    with pytest.raises(InputError, match=r"^empty run spec ' , ': e\.g\. torch=2\.13\.0 or "
                                         r"commit=abc123$"):
        compare.Spec.parse(" , ")


def _runs(version, commit, day, n=2, seed=None):
    df = synthetic(version, 1, day if seed is None else seed, n=n)
    return df.assign(commit=commit, date=pd.Timestamp("2026-01-01") + pd.Timedelta(days=day),
                     file=f"{commit}-{version}.json")


def test_choose_commits_notes_in_full():
    a, b = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    old, new = "1111111111old", "0000000000new"   # 'new' is newer but sorts first
    base = pd.concat([_runs("a", old, 1), _runs("a", new, 2)])
    cand = pd.concat([_runs("b", old, 1), _runs("b", new, 2)])
    base_c, cand_c, notes = compare.choose_commits(base, cand, a, b)
    assert set(base_c["commit"]) == set(cand_c["commit"]) == {new}  # by date, not by name
    assert notes == ["baseline torch=a: runs at 2 commits; taking per benchmark the newest "
                     "commit both sides have (00000000; name another with commit=)",
                     "candidate torch=b: runs at 2 commits; taking per benchmark the newest "
                     "commit both sides have (00000000; name another with commit=)"]
    # a benchmark the other side never ran: this side's newest run of it, and the note
    # says so (the others still at the newest shared commit)
    extra = _runs("a", old, 1, n=3)   # renamed to sort first: the note is not the last one's
    extra = extra[extra["short_name"] == "C.time_2"].assign(benchmark="mod.A.time_2")
    base_e, _, notes = compare.choose_commits(pd.concat([base, extra]), cand, a, b)
    assert set(base_e["commit"]) == {new, old}
    assert notes[0] == ("baseline torch=a: runs at 2 commits; taking per benchmark the newest "
                        "commit both sides have, else its newest (00000000, 11111111; name "
                        "another with commit=)")
    # one commit a side, or a commit named (here a prefix of two): nothing narrowed
    one_base, one_cand, notes = compare.choose_commits(_runs("a", old, 1), cand, a, b)
    assert len(one_base) == 2 and len(notes) == 1 and notes[0].startswith("candidate")
    two = pd.concat([_runs("a", "abc1", 1), _runs("a", "abc2", 2)])
    named = compare.Spec.parse("torch=a,commit=abc")
    kept, _, notes = compare.choose_commits(two, _runs("b", "abc1", 1), named, b)
    assert len(kept) == 4 and notes == []


def test_select_messages_name_the_side():
    df = synthetic("2.13.0", 1, 0, n=2)
    for role, spec, message in (
            ("baseline", "torch=9.9", "no results for torch 9.9; available: 2.13.0"),
            ("candidate", "commit=zz", "no results for commit zz; available: c"),
            ("baseline", "env=nope", "no environment matches 'nope'; available: 2.13.0")):
        with pytest.raises(InputError, match=re.escape(f"{role} '{spec}': {message}")):
            compare.compare_specs(df, *((compare.Spec.parse(spec), compare.Spec.parse(
                "torch=2.13.0")) if role == "baseline" else (compare.Spec.parse(
                    "torch=2.13.0"), compare.Spec.parse(spec))), threshold=0.05, alpha=0.01)


def test_compare_specs_passes_threshold_alpha_and_the_noise_pool():
    """``threshold`` and ``alpha`` reach the comparison; the replicate runs that measure
    the noise are looked for in ``everything`` (all of the machine's results), not only in
    the selected rows."""
    base, cand = _runs("a", "c1", 1, n=8), _runs("b", "c1", 2, n=8)
    cand.loc[cand["short_name"] == "C.time_3", "value"] *= 1.3
    df = pd.concat([base, cand])
    specs = compare.Spec.parse("torch=a"), compare.Spec.parse("torch=b")
    pool = pd.concat([df, synthetic("z", 3, 9, n=8)])
    table, _ = compare.compare_specs(df, *specs, threshold=0.05, alpha=0.01, everything=pool)
    assert set(table["tau_source"]) == {"3 runs of torch z at c"}
    strict = table["min_detectable"].iloc[0]
    loose, _ = compare.compare_specs(df, *specs, threshold=0.05, alpha=0.2, everything=pool)
    assert loose["min_detectable"].iloc[0] < strict
    assert verdict_of(table, "C.time_3") != "unchanged"   # 30 % over a 5 % threshold
    high, _ = compare.compare_specs(df, *specs, threshold=0.5, alpha=0.01, everything=pool)
    assert verdict_of(high, "C.time_3") == "unchanged"    # within 50 %
    # without everything: the selected rows hold no replicate runs, so no noise is known
    alone, _ = compare.compare_specs(df, *specs, threshold=0.05, alpha=0.01)
    assert set(alone["tau_source"]) != {"3 runs of torch z at c"}


def test_compare_versions_takes_each_versions_own_runs():
    df = pd.concat([synthetic("2.9.0", 1, 1, n=4), synthetic("2.10.0", 1, 2, n=4, factor=2.0,
                                                              slowed=range(4)),
                    synthetic("2.11.0", 1, 3, n=4)])
    table = compare.compare_versions(df)
    assert list(table.index) == list(range(8))
    for version in ("2.10.0", "2.11.0"):
        part = table[table["candidate_version"] == version]
        for _, row in part.iterrows():
            b = df[(df["torch_version"] == "2.9.0") & (df["short_name"] == row["short_name_base"])]
            c = df[(df["torch_version"] == version) & (df["short_name"] == row["short_name_base"])]
            assert row["value_base"] == pytest.approx(b["value"].item())
            assert row["value_cand"] == pytest.approx(c["value"].item())


def test_check_settings_bounds():
    for threshold, alpha in ((0, 0.5), (9.999, 1e-9), (0.05, 0.999)):
        compare.check_settings(threshold, alpha)
    for threshold, alpha in ((-0.01, 0.5), (10, 0.5), (10.5, 0.5), (0.05, 0), (0.05, 1),
                             (0.05, 1.5)):
        with pytest.raises(InputError, match=r"^--threshold must be in \[0, 10\) and --alpha "
                                             r"in \(0, 1\)$"):
            compare.check_settings(threshold, alpha)


def test_select_results_matches_name_and_params():
    df = synthetic("a", 1, 0, n=3).assign(params="'x'")
    assert list(compare.select_results(df, bench=r"time_1\('x'\)$")["short_name"]) == \
        ["C.time_1"]
    assert len(compare.select_results(df, machine="m")) == 3
    with pytest.raises(InputError, match=r"^--bench 'nothing' matches no benchmark$"):
        compare.select_results(df, bench="nothing")
    with pytest.raises(InputError, match=r"^unknown machine 'x'; available: m$"):
        compare.select_results(df, machine="x")


def test_replicate_number():
    assert compare.replicate_number("results/m/abc-env-r12.json") == 12
    assert compare.replicate_number(Path("abc-env-r2.json")) == 2
    assert compare.replicate_number("abc-env.json") == 1
    assert compare.replicate_number("abc-env-r2.json.bak") == 1


def test_replicate_shifts_order_index_and_missing_keys():
    """Runs of one date in replicate order (r2 before r10, asv's own file first), a fresh
    index, groups whose commit or environment is unknown (NaN) kept."""
    files = ["x.json", "x-r10.json", "x-r2.json"]
    df = pd.concat([synthetic("v", 3, 5, n=6).assign(file=lambda d, f=files: d["file"].map(
        dict(zip(sorted(d["file"].unique()), f)))),
        synthetic("w", 2, 6, n=6).assign(env_name=None, date=pd.Timestamp("2026-01-02"))],
        ignore_index=True)
    df = df.set_index(pd.Index(range(100, 100 + len(df))))
    shifts = compare.replicate_shifts(df, "m")
    assert list(shifts["file"]) == ["x.json", "x-r2.json", "x-r10.json", "w-0.json", "w-1.json"]
    assert list(shifts.index) == list(range(len(shifts))) and len(shifts) == 5
    assert list(shifts.columns) == ["torch_version", "commit", "env_name", "file", "date", "shift"]
    assert list(compare.replicate_shifts(df, "other").columns) == list(shifts.columns)
    assert list(compare.replicate_shifts(df.iloc[:3], "m").columns) == list(shifts.columns)
    noise = compare.replicate_noise(df, "m")
    assert noise.runs == 5 and noise.df == 3.0


def test_replicate_noise_groups_in_date_order_with_two_runs_enough():
    early = synthetic("2.9.0", 2, 1, n=6).assign(commit="0123456789ab",
                                                 date=pd.Timestamp("2026-01-01"))
    late = synthetic("2.10.0", 3, 2, n=6).assign(commit="ba9876543210",
                                                 date=pd.Timestamp("2026-02-01"))
    noise = compare.replicate_noise(pd.concat([late, early]), "m")
    assert noise.source == "2 runs of torch 2.9.0 at 01234567; 3 runs of torch 2.10.0 at ba987654"
    assert (noise.runs, noise.df) == (5, 3.0)


# --- compare_frames: the table's shape, order and one-sided machines -------------------------


def test_compare_frames_of_nothing_has_the_documented_columns():
    empty = synthetic("a", 1, 0, n=1).iloc[:0]
    table = compare.compare_frames(empty, empty)
    assert table.empty and list(table.columns) == ["machine", "benchmark", "params", "ratio",
                                                   "worse_by", "verdict"]


def test_the_table_is_worst_first_with_a_fresh_index():
    """Verdicts in VERDICTS order, then the largest worse_by first, unknown (NaN) last;
    one row per benchmark and machine, index 0..n-1 and no old index column."""
    a = pd.concat([synthetic("a", 3, 1, n=6), synthetic("a", 3, 2, n=6).assign(machine="n")])
    b = pd.concat([synthetic("b", 3, 3, n=6, factor=3.0, slowed=[1]),
                   synthetic("b", 3, 4, n=6, factor=2.0, slowed=[2]).assign(machine="n")])
    b = b[~((b["machine"] == "n") & (b["short_name"] == "C.time_5"))]  # missing on one side
    table = compare.compare_frames(a, b)
    assert list(table.index) == list(range(12)) and "index" not in table.columns
    order = [compare.VERDICTS.index(v) for v in table["verdict"]]
    assert order == sorted(order)
    assert list(table["verdict"][:2]) == ["regression", "regression"]
    assert list(table["machine"][:2]) == ["m", "n"]  # x3 before x2
    assert table["verdict"].iloc[-1] == "missing" and math.isnan(table["worse_by"].iloc[-1])
    for _, part in table.groupby("verdict"):
        worse = part["worse_by"].dropna().to_list()
        assert worse == sorted(worse, reverse=True)


def test_a_machine_on_one_side_only_counts_that_sides_runs():
    """The candidate side alone has machine 'n': its rows are 'missing', with the
    candidate's run counts and geometric means, none for the baseline."""
    a = synthetic("a", 2, 1, n=3)
    b = pd.concat([synthetic("b", 2, 2, n=3), synthetic("b", 2, 3, n=3).assign(machine="n")])
    for base, cand, side in ((a, b, "cand"), (b.assign(env_name="a"), a, "base")):
        table = compare.compare_frames(base, cand)
        only = table[table["machine"] == "n"]
        assert len(only) == 3 and set(only["verdict"]) == {"missing"}
        other = "base" if side == "cand" else "cand"
        assert set(only[f"k_{side}"]) == {2} and set(only[f"k_{other}"]) == {0}
        assert only[f"value_{other}"].isna().all()
        runs = b[b["machine"] == "n"]
        for _, row in only.iterrows():
            values = runs.loc[runs["short_name"] == row["short_name_base"], "value"]
            assert row[f"value_{side}"] == pytest.approx(math.exp(np.log(values).mean()))


def test_runs_without_a_time_benchmark_still_measure_the_other_units_noise():
    """Only 'bytes' values (not moved by the run shift): no run has a shift, and each
    benchmark's noise is the pooled sd of its log values over both sides."""
    table = compare.compare_frames(_track_rows("a", "track_b", "bytes", [100.0, 110.0]),
                                   _track_rows("b", "track_b", "bytes", [120.0, 130.0]))
    da, db = math.log(110 / 100), math.log(130 / 120)
    assert table["noise_sd"].item() == pytest.approx(math.sqrt((da ** 2 / 2 + db ** 2 / 2) / 2))
    assert table["test"].item() == "welch-t" and math.isnan(table["tau"].item())


def _row_identities(table, alpha):
    """Check every row of a compare_frames table against the rule's formulas (the
    compare_frames docstring), computed here with scipy."""
    from scipy import stats

    tested = table["test"] == "welch-t"
    m = max(int(tested.sum()), 1)
    for col in ("t", "df", "p_value", "se", "p_adjusted"):
        assert table[col].dtype == np.float64, col
    for _, r in table.iterrows():
        sign = compare.worse_when(r["unit_base"])
        assert r["worse_by"] == pytest.approx(math.expm1(r["delta"]), nan_ok=True)
        assert r["ratio"] == pytest.approx(math.exp(r["delta"] * sign), nan_ok=True)
        if r["test"] != "welch-t":
            assert all(math.isnan(r[c]) for c in ("t", "df", "p_value", "se", "p_adjusted"))
            assert not r["significant"]
            continue
        inv = 1 / r["k_base"] + 1 / r["k_cand"]
        var = (r["noise_sd"] ** 2 * inv if np.isfinite(r["noise_sd"]) else 0.0)
        if r["unit_base"] in compare.SHIFTED_UNITS and r["tau_df"] and r["tau_source"] == \
                "these runs":
            var += r["tau"] ** 2 * inv
        assert r["se"] == pytest.approx(math.sqrt(var), rel=1e-9, abs=1e-15)
        if var == 0:
            assert r["t"] == (math.inf if r["delta"] else 0.0)
        else:
            assert r["t"] == pytest.approx(r["delta"] / r["se"], rel=1e-9)
        p = 2 * stats.t.sf(abs(r["t"]), r["df"]) if np.isfinite(r["t"]) else 0.0
        assert r["p_value"] == pytest.approx(p, rel=1e-9, abs=1e-300)
        assert r["p_adjusted"] == pytest.approx(min(1.0, r["p_value"] * m), rel=1e-9)
        assert r["significant"] == (r["p_adjusted"] < alpha)
        q = stats.t.ppf(1 - alpha / 2, r["df"])
        ends = sorted(math.exp((r["delta"] + e * q * r["se"]) * sign) for e in (-1, 1))
        assert (r["ratio_low"], r["ratio_high"]) == pytest.approx(tuple(ends), rel=1e-9)
    # each time benchmark's change beyond the suite's (delta - D) against its own noise
    # alone, with its own df (recovered from the Welch-Satterthwaite df of the row)
    time = (table["kind"] == "time") & np.isfinite(table["delta"])
    D = float(table.loc[time, "delta"].median()) if time.any() else math.nan
    for _, r in table.iterrows():
        if not (r["test"] == "welch-t" and r["kind"] == "time" and np.isfinite(D)
                and np.isfinite(r["noise_sd"])):
            assert math.isnan(r["p_relative"]) and not r["significant_relative"]
            continue
        inv = 1 / r["k_base"] + 1 / r["k_cand"]
        a = r["noise_sd"] ** 2 * inv
        b = r["tau"] ** 2 * inv if r["tau_source"] == "these runs" and r["tau_df"] else 0.0
        rest = (a + b) ** 2 / r["df"] - (b * b / r["tau_df"] if b else 0.0)
        d1 = a * a / rest if rest > 1e-12 * (a + b) ** 2 else math.inf
        diff = r["delta"] - D
        z = (math.inf if diff else 0.0) if a == 0 else diff / math.sqrt(a)
        p = 0.0 if math.isinf(z) else 2 * (stats.norm.sf(abs(z)) if math.isinf(d1)
                                          else stats.t.sf(abs(z), d1))
        assert r["p_relative"] == pytest.approx(min(1.0, p * m), rel=1e-6, abs=1e-12)
        assert r["significant_relative"] == (r["p_relative"] < alpha)


def _suite_identities(table, alpha, threshold=0.05):
    """The suite-wide shift of one machine's table against its formulas: D the median log
    change of the time benchmarks, tested against tau with the benchmarks' own noise as
    a spread term."""
    from scipy import stats

    r = table.iloc[0]
    time = table[(table["kind"] == "time") & np.isfinite(table["delta"])]
    D = float(time["delta"].median())
    assert r["shared_change"] == pytest.approx(math.expm1(D))
    inv = 1 / time["k_base"].clip(lower=1) + 1 / time["k_cand"].clip(lower=1)
    v = time["noise_sd"] ** 2
    spread = math.pi / 2 * np.nanmean(v * inv) / len(time) if v.notna().any() else 0.0
    ka, kb, tau = r["k_runs_base"], r["k_runs_cand"], r["tau"]
    assert r["tau_source"] == "these runs"
    se_d = math.sqrt(tau * tau * (1 / ka + 1 / kb) + spread)
    assert r["shared_p"] == pytest.approx(2 * stats.t.sf(abs(D / se_d), r["tau_df"]), rel=1e-9)
    mds = stats.t.ppf(1 - alpha / 2, r["tau_df"]) * se_d
    assert (r["shared_low"], r["shared_high"]) == pytest.approx(
        (math.expm1(D - mds), math.expm1(D + mds)), rel=1e-9)
    assert r["min_detectable"] == pytest.approx(math.expm1(max(mds, math.log1p(threshold))))
    log_thr = math.log1p(threshold)
    expected = ("regression" if r["shared_p"] < alpha and D > log_thr else
                "improvement" if r["shared_p"] < alpha and D < -log_thr else "unchanged")
    assert r["shared_verdict"] == expected


def _track_rows(side, name, unit, values, machine="m"):
    return pd.DataFrame([dict(machine=machine, env_name=side, torch_version=side, commit="c",
                              date=pd.Timestamp("2026-01-01"), benchmark=f"mod.C.{name}",
                              short_name=f"C.{name}", kind="track", unit=unit, params="",
                              status="ok", value=v, file=f"{side}-{i}.json")
                         for i, v in enumerate(values)])


@pytest.mark.parametrize("alpha", [0.01, 0.2])
def test_every_row_follows_the_rules_formulas(alpha):
    """Time benchmarks with a run shift (tau), a noisy 'bytes' one (no tau term), a
    noiseless one (variance 0), one measured by a single run a side (no variance of its
    own: tau alone), and one on the baseline only."""
    base = pd.concat([synthetic("a", 3, 1, n=12, extra=[("track_zero", "bytes", 64.0)]),
                      _track_rows("a", "track_b", "bytes", [100.0, 104.0, 97.0])])
    cand = pd.concat([synthetic("b", 3, 2, n=12, factor=1.5, slowed=[3],
                                extra=[("track_zero", "bytes", 64.0)]),
                      _track_rows("b", "track_b", "bytes", [120.0, 111.0, 125.0])])
    once = synthetic("a", 1, 5, n=1).assign(benchmark="mod.C.time_once",
                                            short_name="C.time_once")
    base = pd.concat([base, once, _track_rows("a", "track_base_only", "bytes", [5.0, 6.0])])
    cand = pd.concat([cand, once.assign(env_name="b", torch_version="b", file="b-0.json",
                                        value=once["value"] * 1.2)])
    table = compare.compare_frames(base, cand, alpha=alpha)
    _row_identities(table, alpha)
    _suite_identities(table, alpha)
    # the whole suite x1.3: a shared regression, the same formulas
    slow = compare.compare_frames(base, cand.assign(value=cand["value"].where(
        cand["kind"] != "time", cand["value"] * 1.3)), alpha=alpha)
    _row_identities(slow, alpha)
    _suite_identities(slow, alpha)
    assert slow["shared_verdict"].iloc[0] == "regression"
    # a p-value equal to alpha is not significant (its own and beyond the suite's)
    p = float(table.loc[table["test"] == "welch-t", "p_adjusted"].min())
    at = compare.compare_frames(base, cand, alpha=p)
    assert at["significant"].sum() == 0 and (at["p_adjusted"] == p).any()
    rel = float(table["p_relative"].dropna().min())
    at = compare.compare_frames(base, cand, alpha=rel)
    assert at["significant_relative"].sum() == 0 and (at["p_relative"] == rel).any()
    by = table.set_index("short_name_base")
    assert by.at["C.track_zero", "se"] == 0 and by.at["C.track_zero", "t"] == 0.0
    assert by.at["C.track_zero", "p_value"] == 1.0
    assert by.at["C.track_b", "test"] == "welch-t"
    assert by.at["C.time_once", "test"] == "welch-t" and by.at["C.time_once", "k_base"] == 1
    only = by.loc["C.track_base_only"]
    assert only["verdict"] == "missing" and only["noise_sd"] == pytest.approx(
        abs(math.log(6 / 5)) / math.sqrt(2))
    assert set(table.columns) >= {"machine", "key", "k_base", "k_cand", "delta", "noise_sd",
                                  "t", "df", "p_value", "se", "test", "p_adjusted",
                                  "significant", "worse_by", "p_relative",
                                  "significant_relative", "verdict"}
    assert not any(c.endswith("XX") or c.startswith("XX") for c in table.columns)


def test_a_side_of_two_runs_without_a_run_shift_is_tested():
    """No time benchmark, so no tau; two runs on either side make the comparison
    conclusive (one run a side does not): hand-computed t, df and p."""
    from scipy import stats

    for base_values, cand_values in (([100.0, 121.0], [150.0]), ([150.0], [100.0, 121.0])):
        table = compare.compare_frames(_track_rows("a", "track_b", "bytes", base_values),
                                       _track_rows("b", "track_b", "bytes", cand_values))
        r = table.iloc[0]
        v = (math.log(121 / 100)) ** 2 / 2        # one df, from the side with two runs
        delta = math.log(cand_values[0] / 110) if len(cand_values) == 1 else \
            math.log(110 / base_values[0])
        assert r["test"] == "welch-t" and r["df"] == 1.0
        assert r["se"] == pytest.approx(math.sqrt(v * 1.5))
        assert r["t"] == pytest.approx(delta / math.sqrt(v * 1.5))
        assert r["p_value"] == pytest.approx(2 * stats.t.sf(abs(r["t"]), 1))
        assert r["noise_sd"] == pytest.approx(math.sqrt(v))
    single = compare.compare_frames(_track_rows("a", "track_b", "bytes", [100.0]),
                                    _track_rows("b", "track_b", "bytes", [300.0]))
    assert single["test"].item() == "none" and single["verdict"].item() == "inconclusive"
    assert math.isnan(single["noise_sd"].item()) and single["t"].dtype == np.float64


def test_noiseless_runs_test_by_infinite_t():
    """Identical runs on each side: tau and every variance are 0, so a changed benchmark
    has t = inf (p = 0) and an unchanged one t = 0 (p = 1), for its own test, its change
    beyond the suite's and the suite-wide shift (0 here: the median of three)."""
    def side(name, values):
        return pd.DataFrame([dict(machine="m", env_name=name, torch_version=name, commit="c",
                                  date=pd.Timestamp("2026-01-01"), benchmark=f"mod.C.time_{b}",
                                  short_name=f"C.time_{b}", kind="time", unit="seconds",
                                  params="", status="ok", value=v, file=f"{name}-{i}.json")
                             for i in range(2) for b, v in zip("ABC", values)])

    table = compare.compare_frames(side("a", [1.0, 1.0, 1.0]), side("b", [2.0, 1.0, 1.0]))
    by = table.set_index("short_name_base")
    assert (by["tau"] == 0).all() and (by["tau_df"] == 2).all()
    assert by.at["C.time_A", "t"] == math.inf and by.at["C.time_A", "p_value"] == 0.0
    assert by.at["C.time_A", "p_relative"] == 0.0 and by.at["C.time_A", "verdict"] == "regression"
    for name in ("C.time_B", "C.time_C"):
        assert by.at[name, "t"] == 0.0 and by.at[name, "p_value"] == 1.0
        assert by.at[name, "p_relative"] == 1.0 and by.at[name, "verdict"] == "unchanged"
    (suite,) = compare.suites(table)
    assert suite.shared_change == 0.0 and suite.shared_p == 0.0
    assert suite.shared_verdict == "unchanged" and suite.min_detectable == pytest.approx(0.05)
    # every benchmark x1.5 (or /1.5) at a threshold of exactly 50 %: significant (p = 0),
    # but not beyond the threshold (log(1.5) == log1p(0.5) in floating point)
    for a, b in ((1.0, 1.5), (1.5, 1.0)):
        (suite,) = compare.suites(compare.compare_frames(side("a", [a] * 3), side("b", [b] * 3),
                                                         threshold=0.5))
        assert suite.shared_p == 0.0 and suite.shared_verdict == "unchanged"
        (suite,) = compare.suites(compare.compare_frames(side("a", [a] * 3), side("b", [b] * 3),
                                                         threshold=0.49))
        assert suite.shared_verdict == ("regression" if b > a else "improvement")
    # A x1.5 while B and C get faster (/1.5): A's change is exactly the 50 % threshold
    # (not beyond it) though far beyond the suite's: unchanged
    table = compare.compare_frames(side("a", [1.0, 1.5, 1.5]), side("b", [1.5, 1.0, 1.0]),
                                   threshold=0.5)
    a = table.set_index("short_name_base").loc["C.time_A"]
    assert a["significant_relative"] and a["verdict"] == "unchanged"


def test_shared_verdicts_by_sign_size_and_significance():
    base = synthetic("a", 3, 1, n=24, tau=0.005, sigma=0.005)
    every = range(24)
    cases = [(0.5, "improvement"), (1.03, "unchanged"), (2.0, "regression")]
    for factor, expected in cases:
        cand = synthetic("b", 3, 2, n=24, tau=0.005, sigma=0.005, factor=factor, slowed=every)
        (suite,) = compare.suites(compare.compare_frames(base, cand))
        assert suite.shared_p < 0.01 and suite.shared_verdict == expected, factor
    # 10 % faster with a large run-to-run noise: not significant, so unchanged
    noisy = synthetic("b", 3, 3, n=24, tau=0.3, factor=0.9, slowed=every)
    (suite,) = compare.suites(compare.compare_frames(synthetic("a", 3, 4, n=24, tau=0.3), noisy))
    assert suite.shared_p > 0.01 and suite.shared_verdict == "unchanged"
    # no time benchmark: no suite-wide shift at all
    none = compare.compare_frames(_track_rows("a", "track_b", "bytes", [1.0, 2.0]),
                                  _track_rows("b", "track_b", "bytes", [1.0, 2.0]))
    assert set(none["shared_verdict"]) == {"none"}
    # a shared p equal to alpha is not significant
    for factor in (2.0, 0.5):
        cand = synthetic("b", 3, 2, n=24, tau=0.005, sigma=0.005, factor=factor, slowed=every)
        p = compare.suites(compare.compare_frames(base, cand))[0].shared_p
        assert compare.suites(compare.compare_frames(base, cand, alpha=p))[0].shared_verdict \
            == "unchanged"


def test_a_change_of_exactly_the_threshold_is_not_beyond_it():
    """log(1.5) == log1p(0.5) in floating point, so the delta is exactly the threshold."""
    assert math.log(1.5) == math.log1p(0.5)
    table = compare.compare_frames(_track_rows("a", "track_b", "bytes", [1.0]),
                                   _track_rows("b", "track_b", "bytes", [1.5]), threshold=0.5)
    assert table["test"].item() == "none" and table["verdict"].item() == "unchanged"
    over = compare.compare_frames(_track_rows("a", "track_b", "bytes", [1.0]),
                                  _track_rows("b", "track_b", "bytes", [1.5]), threshold=0.49)
    assert over["verdict"].item() == "inconclusive"


def test_spec_select_combines_its_keys():
    envs = ["py3.11-torch2.13.0+cpu", "py3.11-torch2.14.1+cpu", "a", "ab"]
    df = pd.concat([synthetic(v, 1, i, n=1).assign(env_name=e, commit=f"c{i}")
                    for i, (v, e) in enumerate(zip(["2.13.0", "2.14.1", "x", "x"], envs))],
                   ignore_index=True)
    pick = lambda text: list(compare.Spec.parse(text).select(df, "baseline")["env_name"])
    assert pick("env=torch2.13.0+cpu") == [envs[0]]          # literal, not a regex
    assert pick("torch=2.13.0,env=py3.11") == [envs[0]]      # both keys apply
    assert pick("env=py3.11") == envs[:2]                    # a substring when no exact name
    assert pick("env=a") == ["a"]                            # an exact name wins
    # each key narrows what the keys before it kept
    with pytest.raises(InputError, match=r"^candidate 'torch=2.13.0,commit=c1': no results "
                                         r"for commit c1; available: c0, c1, c2, c3$"):
        compare.Spec.parse("torch=2.13.0,commit=c1").select(df, "candidate")


def test_compare_specs_finds_noise_for_a_machine_on_one_side():
    """A machine only the candidate ran, once: its rows carry the noise its replicate runs
    (elsewhere in the results) measure."""
    base = _runs("a", "c1", 1, n=4)
    cand = pd.concat([_runs("b", "c1", 2, n=4),
                      _runs("b", "c1", 3, n=4).assign(machine="n", file="n-b.json")])
    df = pd.concat([base, cand])
    pool = pd.concat([df, synthetic("z", 3, 9, n=4).assign(machine="n")])
    table, _ = compare.compare_specs(df, compare.Spec.parse("torch=a"),
                                     compare.Spec.parse("torch=b"), threshold=0.05,
                                     alpha=0.01, everything=pool)
    assert set(table.loc[table["machine"] == "n", "tau_source"]) == {"3 runs of torch z at c"}


def test_shared_regression_marks_the_benchmarks_that_carry_it():
    """Every benchmark x3 with a large per-benchmark noise: no benchmark alone is
    significant, the suite-wide shift is. A time benchmark is 'shared' when its change is
    beyond the threshold and half the suite's; the suite counts them."""
    base = synthetic("a", 3, 11, n=48, tau=0.01, sigma=1.0)
    cand = synthetic("b", 3, 12, n=48, tau=0.01, sigma=1.0, factor=3.0, slowed=range(48))
    table = compare.compare_frames(base, cand)
    (suite,) = compare.suites(table)
    assert suite.shared_verdict == "regression" and not table["significant"].any()
    D = math.log1p(suite.shared_change)
    half, log_thr = max(math.log1p(0.05), D / 2), math.log1p(0.05)
    assert ((table["delta"] > D / 3) & (table["delta"] <= D / 2)).any()   # the rule's edges
    assert ((table["delta"] > D / 2) & (table["delta"] <= 2 * D)).any()
    for _, r in table.iterrows():
        if r["verdict"] in ("shared", "unchanged"):
            assert (r["verdict"] == "shared") == (r["delta"] > max(log_thr, half)), r["delta"]
    carriers = int((table["verdict"] == "shared").sum())
    assert carriers > 0 and suite.carriers == carriers
    assert set(table["shared_carriers"]) == {carriers}
    # a threshold of exactly a carrier's change (between D/2 and D): it no longer carries it
    r = table[(table["delta"] > D / 2) & (table["delta"] < D)
              & (table["verdict"] == "shared")].iloc[0]
    threshold = math.expm1(r["delta"])
    assert math.log1p(threshold) == r["delta"]   # the tie is exact in floating point
    again = compare.compare_frames(base, cand, threshold=threshold)
    assert compare.suites(again)[0].shared_verdict == "regression"
    assert again.set_index("key").at[r["key"], "verdict"] == "unchanged"


def test_a_run_without_a_shift_is_not_moved():
    """Runs 0 and 1 measure the time benchmarks (their shift is measured); run 2 measures
    only a bytes/s value, which moves with the run shift: its run, shift unknown, is taken
    as unshifted, so the nearly constant value keeps a small noise."""
    base = synthetic("a", 2, 21, n=6)
    extra = lambda side, i, v: _track_rows(side, "track_bw", "bytes/s", [v]).assign(
        file=f"{side}-{i}.json")
    base = pd.concat([base] + [extra("a", i, v) for i, v in enumerate([1e9, 1.01e9, 0.99e9])])
    cand = synthetic("b", 2, 22, n=6)
    cand = pd.concat([cand] + [extra("b", i, v) for i, v in enumerate([1e9, 1.01e9])])
    table = compare.compare_frames(base, cand)
    row = table.set_index("short_name_base").loc["C.track_bw"]
    assert row["k_base"] == 3 and row["noise_sd"] < 0.2


def test_one_tested_benchmark_and_no_noise():
    """A single tested row: p values are not multiplied (m = 1); no noise known: empty
    source, no runs; a time benchmark measured once a side (no variance) is tested by tau
    alone when too few benchmarks fit a prior."""
    one = compare.compare_frames(_track_rows("a", "track_b", "bytes", [100.0, 121.0]),
                                 _track_rows("b", "track_b", "bytes", [150.0]))
    assert one["p_adjusted"].item() == one["p_value"].item() < 1
    single = compare.compare_frames(_track_rows("a", "track_b", "bytes", [100.0]),
                                    _track_rows("b", "track_b", "bytes", [300.0]))
    for col in ("t", "df", "p_value", "se"):
        assert single[col].dtype == np.float64 and single[col].isna().all()
    assert (single["tau_source"].item(), single["tau_runs"].item()) == ("", 0)
    base = synthetic("a", 3, 31, n=2)
    cand = synthetic("b", 3, 32, n=2)
    once = synthetic("a", 1, 33, n=1).assign(benchmark="mod.C.time_once",
                                             short_name="C.time_once")
    table = compare.compare_frames(pd.concat([base, once]), pd.concat(
        [cand, once.assign(env_name="b", torch_version="b", file="b-0.json")]))
    row = table.set_index("short_name_base").loc["C.time_once"]
    assert row["test"] == "welch-t" and math.isnan(row["noise_sd"])
    assert row["se"] == pytest.approx(row["tau"] * math.sqrt(2))
    # identical runs of one benchmark: no change beyond the suite's (p_relative 1)
    def side(name):
        return _track_rows(name, "time_x", "seconds", [1.0, 1.0]).assign(kind="time")
    flat = compare.compare_frames(side("a"), side("b"))
    assert flat["p_relative"].item() == 1.0 and flat["p_value"].item() == 1.0


def test_a_change_beyond_the_suites_by_exactly_the_threshold_is_not_a_regression():
    """Large run shifts hide one benchmark x2 from its own test; the test of its change
    beyond the suite's (without tau) finds it. At a threshold of exactly that change
    beyond the suite's it is no regression; just under it, it is."""
    base = synthetic("a", 3, 1, n=24, tau=0.3, sigma=0.02)
    cand = synthetic("b", 3, 101, n=24, tau=0.3, sigma=0.02, factor=2.0, slowed=[5])
    table = compare.compare_frames(base, cand)
    D = math.log1p(compare.suites(table)[0].shared_change)
    r = table.set_index("short_name_base").loc["C.time_5"]
    assert not r["significant"] and r["significant_relative"] and r["verdict"] == "regression"
    own = r["delta"] - D
    assert D > 0 and math.log1p(math.expm1(own)) == own   # an exact tie
    at = compare.compare_frames(base, cand, threshold=math.expm1(own))
    assert at.set_index("short_name_base").at["C.time_5", "verdict"] == "unchanged"
    under = compare.compare_frames(base, cand, threshold=math.expm1(own) * 0.99)
    assert under.set_index("short_name_base").at["C.time_5", "verdict"] == "regression"
