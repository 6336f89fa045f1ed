"""cebench compare: ratios, significance, verdicts, exit codes, Markdown and JSON.

Real data: ``tests/data/asv-results`` (see tests/test_results.py) and
``tests/data/detection``: real asv runs of ``Core.time_*('small', 'float32', ...)``
made by ``analysis/detection_rate.py`` on the shared 2-core CPU machine (load average
about 6) -- a baseline and an A/A run of the same code (relabelled environments
'baseline' and 'inject-0.0'; measurements untouched).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cebench.results import compare
from cebench.results import load as results
from cebench.cli import main
from cebench.errors import InputError

DATA = Path(__file__).parent / "data"
RESULTS = DATA / "asv-results"
DETECTION = DATA / "detection"
MACHINE = "cpu-amd-epyc-2c"
SCALED_BENCHMARK = "bench_loss.Core.time_forward"


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
    assert compare.worse_when("bytes/s") == -1
    assert compare.worse_when("fraction") == -1
    assert compare.worse_when("devices") == 0
    assert compare.worse_when("version (major + minor/100 + patch/10000)") == 0
    assert compare.worse_when(None) == 0


def test_min_mannwhitney_p():
    assert compare.min_mannwhitney_p(3, 3) == pytest.approx(2 / 20)
    assert compare.min_mannwhitney_p(10, 10) == pytest.approx(2 / math.comb(20, 10))
    assert compare.min_mannwhitney_p(0, 5) == 1.0


def test_bh_adjustment_keeps_nan():
    adjusted = compare.adjust_bh([0.01, np.nan, 0.04, 0.03])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2, 3]] == pytest.approx([0.03, 0.04, 0.04])


def test_noise_floor_ignores_a_shared_shift_but_not_scatter():
    rng = np.random.default_rng(1)
    clean = 0.01 * rng.standard_normal(40)
    floor, centre = compare.noise_floor(clean, 3)
    assert floor == pytest.approx(3 * 1.4826 * np.median(np.abs(clean - np.sort(clean)[19])))
    assert centre == 0.0
    # every benchmark 25 % slower, clean data: same floor, and the shift is trusted
    assert compare.noise_floor(clean + np.log(1.25), 3) == pytest.approx((floor, 0.0))
    # scattered data: a big floor, and a shared x3 shift is measured from, not from 1
    scattered = rng.uniform(np.log(0.5), np.log(2), 40) + np.log(3)
    floor, centre = compare.noise_floor(scattered)
    assert floor > np.log(1.5) and centre == pytest.approx(np.log(3), abs=0.3)
    assert compare.noise_floor(clean[:5]) == (0.0, 0.0)  # too few to estimate
    assert compare.auto_sigmas(12) == 3.0 and 3.4 < compare.auto_sigmas(100) < 3.6


def test_change_within_run_to_run_noise_is_noisy_not_a_regression():
    # 12 benchmarks, each significant within its run; 11 scatter by x0.5-x2, one is x1.6
    rng = np.random.default_rng(2)
    ratios = list(np.exp(rng.uniform(np.log(0.5), np.log(2), 11))) + [1.6]
    rows = []
    for i, ratio in enumerate(ratios):
        for env, value in (("a", 1.0), ("b", ratio)):
            rows.append({"machine": "m", "env_name": env, "torch_version": env, "commit": "c",
                         "benchmark": f"m.C.time_{i}", "short_name": f"C.time_{i}",
                         "pass": None, "unit": "seconds", "params": "", "status": "ok",
                         "value": value, "ci_99_low": value * 0.99,
                         "ci_99_high": value * 1.01, "samples": None, "n_samples": 0})
    df = pd.DataFrame(rows)
    table = compare.compare_frames(df[df["env_name"] == "a"], df[df["env_name"] == "b"])
    assert table["noise_floor"].iloc[0] > np.log(1.6)
    assert "regression" not in set(table["verdict"])
    assert table.loc[table["short_name_base"] == "C.time_11", "verdict"].item() == "noisy"
    quiet = compare.compare_frames(df[df["env_name"] == "a"], df[df["env_name"] == "b"],
                                   noise_sigmas=0)
    assert quiet.loc[quiet["short_name_base"] == "C.time_11", "verdict"].item() == "regression"


def test_injected_slowdown_hook(monkeypatch):
    """CEBENCH_INJECT_SLOWDOWN wraps the loss call; results are unchanged; calibrated once."""
    import torch

    from cebench.grid import cases
    from cebench.grid import inputs
    from cebench.measure import inject

    case = cases.Case("small", reduction="mean", weighting="random")
    prepared = inputs.prepare(case, "cpu")
    plain = inject.benchmark_call(prepared, "forward")
    monkeypatch.setenv("CEBENCH_INJECT_SLOWDOWN", "0.5")
    slowed = inject.benchmark_call(prepared, "forward")
    assert slowed is not plain and slowed.__name__ == "slowed"
    assert torch.equal(slowed(), plain())
    key = (case.name, "cpu", "forward", True)
    assert inject._CALL_SECONDS[key] > 0
    assert inputs.loss_call(prepared, "forward").__name__ == "forward"  # only benchmarks slow down
    monkeypatch.setenv("CEBENCH_INJECT_MATCH", "w-none")  # another path: not slowed
    assert inject.benchmark_call(prepared, "forward").__name__ == "forward"
    monkeypatch.setenv("CEBENCH_INJECT_MATCH", "w-random")
    assert inject.benchmark_call(prepared, "forward").__name__ == "slowed"
    monkeypatch.setenv("CEBENCH_INJECT_SLOWDOWN", "-1")
    with pytest.raises(ValueError):
        inject.benchmark_call(prepared, "forward")


def frame(unit, base_value, cand_value, base_ci, cand_ci, samples=(None, None)):
    """A two-run frame of one benchmark, shaped like results.load's."""
    rows = []
    for env, value, ci, sample in (("a", base_value, base_ci, samples[0]),
                                   ("b", cand_value, cand_ci, samples[1])):
        rows.append({"machine": "m", "env_name": env, "torch_version": env, "commit": "c",
                     "benchmark": "mod.Cls.track_x", "short_name": "Cls.track_x",
                     "pass": None, "unit": unit, "params": "", "status": "ok", "value": value,
                     "ci_99_low": ci[0], "ci_99_high": ci[1], "samples": sample,
                     "n_samples": len(sample) if sample else 0})
    df = pd.DataFrame(rows)
    return df[df["env_name"] == "a"], df[df["env_name"] == "b"]


@pytest.mark.parametrize("unit, base, cand, verdict", [
    ("bytes/s", 100.0, 80.0, "regression"),      # bandwidth down: worse
    ("bytes/s", 100.0, 120.0, "improvement"),
    ("fraction", 0.5, 0.4, "regression"),
    ("seconds", 1.0, 1.2, "regression"),          # time up: worse
    ("seconds", 1.0, 0.8, "improvement"),
    ("relative error", 1e-3, 2e-3, "regression"),
])
def test_direction_decides_regression_or_improvement(unit, base, cand, verdict):
    a, b = frame(unit, base, cand, (base * 0.99, base * 1.01), (cand * 0.99, cand * 1.01))
    table = compare.compare_frames(a, b)
    assert table["verdict"].tolist() == [verdict]
    assert table["test"].tolist() == ["ci99-overlap"]


def test_overlapping_intervals_are_not_significant():
    a, b = frame("seconds", 1.0, 1.2, (0.5, 1.5), (0.6, 1.8))
    assert compare.compare_frames(a, b)["verdict"].tolist() == ["unchanged"]


def test_change_under_threshold_is_unchanged_even_if_significant():
    a, b = frame("seconds", 1.0, 1.03, (0.999, 1.001), (1.029, 1.031))
    assert compare.compare_frames(a, b, threshold=0.05)["verdict"].tolist() == ["unchanged"]
    assert compare.compare_frames(a, b, threshold=0.02)["verdict"].tolist() == ["regression"]


def test_no_statistics_means_untested_not_regression():
    a, b = frame("ratio", 1.0, 2.0, (np.nan, np.nan), (np.nan, np.nan))
    table = compare.compare_frames(a, b)
    assert table["verdict"].tolist() == ["untested"]


def test_samples_use_mannwhitney():
    rng = np.random.default_rng(0)
    base = list(1.0 + 0.01 * rng.standard_normal(20))
    cand = list(1.2 + 0.01 * rng.standard_normal(20))
    a, b = frame("seconds", 1.0, 1.2, (0.9, 1.1), (1.1, 1.3), samples=(base, cand))
    table = compare.compare_frames(a, b)
    assert table["test"].tolist() == ["mannwhitneyu"]
    assert table["p_adjusted"].iloc[0] < 1e-6
    assert table["verdict"].tolist() == ["regression"]


def test_unversioned_units_are_not_compared():
    a, b = frame("devices", 0, 1, (0, 0), (1, 1))
    assert compare.compare_frames(a, b).empty


# --- on real results ---------------------------------------------------------------------


@pytest.fixture
def scaled_results(tmp_path) -> Path:
    """The real torch 2.13.0 run plus a copy, env 'scaled', with one benchmark 1.5x slower.

    Every recorded quantity of ``SCALED_BENCHMARK`` (median, samples, interval,
    quartiles) is multiplied by 1.5; all else is the identical real measurement.
    """
    dest = tmp_path / "results"
    shutil.copytree(RESULTS, dest)
    original = next((dest / MACHINE).glob("2b2f6672-*.json"))
    data = json.loads(original.read_text())
    columns = data["result_columns"]
    row = data["results"][SCALED_BENCHMARK]
    for key in ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75"):
        i = columns.index(key)
        row[i] = [None if v is None else v * 1.5 for v in row[i]]
    i = columns.index("samples")
    row[i] = [None if s is None else [x * 1.5 for x in s] for s in row[i]]
    data["env_name"] = "scaled"
    (dest / MACHINE / f"{data['commit_hash'][:8]}-scaled.json").write_text(json.dumps(data))
    return dest


def test_identical_data_reports_nothing(scaled_results, capsys):
    # the torch 2.13.0 run against itself under another name: every ratio is 1
    copy = scaled_results / MACHINE / "2b2f6672-scaled.json"
    original = next(p for p in (scaled_results / MACHINE).glob("2b2f6672-*.json")
                    if p != copy)
    copy.write_text(json.dumps(dict(json.loads(original.read_text()), env_name="scaled")))
    code = cli(scaled_results, "--baseline", "env=python3", "--candidate", "env=scaled")
    assert code == 0
    assert capsys.readouterr().out.startswith("0 regression(s), 0 improvement(s)")


def test_scaled_benchmark_is_the_regression(scaled_results, tmp_path, capsys):
    out_json, out_md = tmp_path / "cmp.json", tmp_path / "cmp.md"
    code = cli(scaled_results, "--baseline", "env=python3", "--candidate", "env=scaled",
               "--json", out_json, "--markdown", out_md)
    assert code == 1
    report = json.loads(out_json.read_text())
    flagged = {c["benchmark"] for c in report["comparisons"] if c["verdict"] == "regression"}
    assert flagged == {SCALED_BENCHMARK}
    assert report["counts"]["regression"] >= 1
    unscaled = [c for c in report["comparisons"] if c["benchmark"] != SCALED_BENCHMARK]
    assert all(c["ratio"] == pytest.approx(1.0) for c in unscaled if c["ratio"] is not None)
    printed = capsys.readouterr().out
    assert "Core.time_forward " in printed and "regression" in printed
    md = out_md.read_text()
    assert md.startswith("### :red_circle: cebench compare")
    assert "| regression | Core.time_forward |" in md and "<details>" in md


def test_torch_versions_compare_on_real_results(capsys):
    code = cli(RESULTS, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
               "--machine", MACHINE)
    assert code in (0, 1)  # a real comparison: whatever it finds, it is not bad input
    out = capsys.readouterr().out
    assert "candidate torch=2.14.1 vs baseline torch=2.13.0 on cpu-amd-epyc-2c" in out


def test_real_aa_run_reports_no_regression(tmp_path):
    out_json = tmp_path / "cmp.json"
    code = cli(DETECTION, "--baseline", "env=baseline", "--candidate", "env=inject-0.0",
               "--json", out_json)
    assert code == 0
    report = json.loads(out_json.read_text())
    assert report["counts"]["regression"] == 0 and report["counts"]["improvement"] == 0
    # the same two runs without the noise floor: the within-run tests alone cry wolf
    assert cli(DETECTION, "--baseline", "env=baseline", "--candidate", "env=inject-0.0",
               "--noise-sigmas", "0") == 1


def test_committed_results_aa():
    """Two runs of one torch version on one machine in results/: no regression."""
    root = Path(__file__).resolve().parents[1] / "results"
    if not any(root.glob("*/*-*.json")):
        pytest.skip("no committed results under results/ yet")
    df = results.load(root)
    runs = results.runs(df)
    repeated = runs.groupby(["machine", "torch_version"]).filter(lambda g: len(g) >= 2)
    if repeated.empty:
        pytest.skip("results/ holds no two runs of one torch version on one machine")
    first, second = repeated.iloc[0], repeated.iloc[1]
    table = compare.compare_frames(
        df[(df["env_name"] == first["env_name"]) & (df["commit"] == first["commit"])],
        df[(df["env_name"] == second["env_name"]) & (df["commit"] == second["commit"])])
    assert compare.counts(table)["regression"] == 0


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
    assert "none readable" in err[-1]
    warned = [line for line in err if "warning" in line]
    assert len(warned) == 2 and all(".json: skipped" in line for line in warned)


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


def test_ambiguous_spec_exits_2(scaled_results, capsys):
    # two runs of torch 2.13.0 ('existing-...' and 'scaled'): the spec must say which
    assert cli(scaled_results, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1") == 2
    assert "matches 2 runs" in capsys.readouterr().err


def test_compare_versions_for_notebooks():
    df = results.load(RESULTS)
    table = compare.compare_versions(df)
    assert set(table["baseline_version"]) == {"2.13.0"}
    assert set(table["candidate_version"]) == {"2.14.1"}
    assert set(table["verdict"]) <= set(compare.VERDICTS)
    one_version = compare.compare_versions(df[df["torch_version"] == "2.13.0"])
    assert one_version.empty


def test_min_mannwhitney_p_handles_thousands_of_samples():
    """track_ timings carry up to ~1000 samples: the exact binomial overflows a float."""
    assert 0.0 <= compare.min_mannwhitney_p(1000, 1000) < 1e-300
    assert compare.min_mannwhitney_p(1, 1000) == pytest.approx(2 / 1001)
