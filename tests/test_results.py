"""cebench.results.load: asv results as a tidy frame; broken files warn and the rest loads.

``tests/data/asv-results`` is real asv output (asv 0.6.6, this repository's benchmarks,
``--bench "'small'|Environment|Accuracy" -E existing:...`` with ``--record-samples``,
on the 2-core CPU machine): one run with torch 2.13.0, one with torch 2.14.1.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import pytest

from cebench.results import load as results

DATA = Path(__file__).parent / "data" / "asv-results"
MACHINE = "cpu-amd-epyc-2c"
REPO = Path(__file__).resolve().parents[1]


def result_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / MACHINE).glob("*.json") if p.name != "machine.json")


@pytest.fixture
def data_copy(tmp_path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(DATA, dest)
    return dest


@pytest.fixture(scope="module")
def df():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the real files load without a warning
        return results.load(DATA)


def test_real_results_are_tidy(df):
    assert set(df["machine"]) == {MACHINE}
    # existing:... environments have no torch in their name: taken from track_torch_version
    assert set(df["torch_version"]) == {"2.13.0", "2.14.1"}
    assert set(df["status"]) <= {"ok", "skipped", "failed"}
    for column in ("family", "dtype", "reduction", "weighting", "layout", "value", "unit",
                   "ci_99_low", "ci_99_high", "q25", "q75", "n_samples", "samples", "pass"):
        assert column in df.columns
    # parameter values are unquoted ('small', not "'small'") and typed (0.1 is a float)
    assert "small" in set(df["family"].dropna())
    assert not any(str(v).startswith("'") for v in df["family"].dropna())
    assert 0.1 in set(df["ignore_fraction"].dropna())
    assert df.groupby(["env_name", "benchmark", "params"]).size().max() == 1


def test_time_rows_carry_samples_and_intervals(df):
    timed = df[(df["kind"] == "time") & (df["status"] == "ok")]
    assert len(timed) > 0
    assert (timed["unit"] == "seconds").all()
    assert (timed["n_samples"] == timed["samples"].map(len)).all()
    assert (timed["ci_99_low"] <= timed["value"]).all()
    assert (timed["value"] <= timed["ci_99_high"]).all()
    row = timed.iloc[0]
    assert row["value"] == pytest.approx(sorted(row["samples"])[len(row["samples"]) // 2],
                                         rel=0.5)  # asv's value is the samples' median


def test_skipped_combinations_are_kept_as_nan(df):
    skipped = df[df["status"] == "skipped"]
    assert len(skipped) > 0 and skipped["value"].isna().all()
    ok = df[df["status"] == "ok"]
    assert ok["value"].notna().all()


def test_short_name_and_pass(df):
    row = df[df["benchmark"] == "bench_loss.Core.time_forward_backward"].iloc[0]
    assert row["short_name"] == "Core.time_forward_backward"
    assert row["pass"] == "forward_backward"
    env = df[df["benchmark"] == results.TORCH_VERSION_BENCHMARK]
    assert env["pass"].isna().all() and (env["kind"] == "track").all()


def test_machine_without_gpu_has_no_gpu_name(df):
    assert df["gpu"].isna().all()
    assert results.gpu_name("nvidia-h200-x1", {}) == "nvidia-h200-x1"
    assert results.gpu_name("cpu-amd-epyc-2c", {"gpu": "NVIDIA A100"}) == "NVIDIA A100"


def test_torch_version_from_env_name():
    name = "virtualenv-py3.11-torch2.13.0-numpy-pip+asv_runner0.3.2"
    assert results.torch_version_of_env({}, name) == "2.13.0"
    assert results.torch_version_of_env({"torch": "2.14.1"}, "x") == "2.14.1"
    assert results.torch_version_of_env({}, "existing-py_usr_bin_python") is None


def test_unquote():
    assert results.unquote("'float32'") == "float32"
    assert results.unquote("0.1") == 0.1
    assert results.unquote("not a literal") == "not a literal"


def test_version_sorting(df):
    assert sorted(["2.13.0", "2.9.1", "2.14.1"], key=results.version_key) == [
        "2.9.1", "2.13.0", "2.14.1"]
    assert results.torch_versions(df) == ["2.13.0", "2.14.1"]


def test_runs_and_latest(df):
    table = results.runs(df)
    assert len(table) == 2
    assert table["ok"].sum() == (df["status"] == "ok").sum()
    assert len(results.latest_runs(df)) == len(df)  # one run per version: all kept


def test_weight_overhead_pairs(df):
    pairs = results.weight_overhead_pairs(df)
    assert len(pairs) > 0 and (pairs["weighting"] != "none").all()
    row = pairs.iloc[0]
    rows = df[(df["env_name"] == row["env_name"]) & (df["benchmark"] == row["benchmark"])
              & (df["family"] == row["family"]) & (df["dtype"] == row["dtype"])
              & (df["reduction"] == row["reduction"]) & (df["status"] == "ok")]
    weighted = rows[rows["weighting"] == row["weighting"]]["value"].item()
    unweighted = rows[rows["weighting"] == "none"]["value"].item()
    assert row["ratio"] == pytest.approx(weighted / unweighted)


def test_geometric_mean():
    assert results.geometric_mean([1.0, 4.0]) == pytest.approx(2.0)
    assert math.isnan(results.geometric_mean([]))


# --- broken input ------------------------------------------------------------------------


def load_with_warnings(root: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = results.load(root)
    return frame, [str(w.message) for w in caught]


def test_truncated_file_warns_naming_it_and_the_rest_loads(data_copy):
    broken, good = result_files(data_copy)
    broken.write_text(broken.read_text()[:5000])
    frame, messages = load_with_warnings(data_copy)
    assert len(messages) == 1 and broken.name in messages[0]
    assert set(frame["file"]) == {str(good)}


def test_newer_format_version_warns(data_copy):
    broken, good = result_files(data_copy)
    data = json.loads(broken.read_text())
    data["version"] = 99
    broken.write_text(json.dumps(data))
    frame, messages = load_with_warnings(data_copy)
    assert len(messages) == 1 and broken.name in messages[0] and "newer" in messages[0]
    assert set(frame["file"]) == {str(good)}


@pytest.mark.parametrize("key", ["results", "commit_hash", "result_columns"])
def test_missing_key_warns(data_copy, key):
    broken, good = result_files(data_copy)
    data = json.loads(broken.read_text())
    del data[key]
    broken.write_text(json.dumps(data))
    frame, messages = load_with_warnings(data_copy)
    assert len(messages) == 1 and broken.name in messages[0]
    assert set(frame["file"]) == {str(good)}


def test_inconsistent_benchmark_entry_skips_only_that_benchmark(data_copy):
    broken, _ = result_files(data_copy)
    data = json.loads(broken.read_text())
    name = "bench_loss.Core.time_forward"
    data["results"][name][0] = data["results"][name][0][:3]  # 3 values, 150 combinations
    broken.write_text(json.dumps(data))
    frame, messages = load_with_warnings(data_copy)
    assert len(messages) == 1 and broken.name in messages[0] and name in messages[0]
    from_broken = frame[frame["file"] == str(broken)]
    assert name not in set(from_broken["benchmark"])
    assert "bench_loss.Core.time_forward_backward" in set(from_broken["benchmark"])


def test_missing_benchmarks_json_warns_and_names_parameters_generically(data_copy):
    (data_copy / "benchmarks.json").unlink()
    frame, messages = load_with_warnings(data_copy)
    assert any("benchmarks.json" in m for m in messages)
    assert "param1" in frame.columns and "small" in set(frame["param1"].dropna())


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(results.ResultsError, match="no results directory"):
        results.load(tmp_path / "nowhere")


def test_empty_directory_is_a_clear_error(tmp_path):
    with pytest.raises(results.ResultsError, match="no result files"):
        results.load(tmp_path)


def test_only_broken_files_is_a_clear_error(data_copy):
    for path in result_files(data_copy):
        path.write_text("{")
    with pytest.warns(UserWarning), pytest.raises(results.ResultsError, match="none readable"):
        results.load(data_copy)


def test_machine_filter(df):
    assert len(results.load(DATA, machine=MACHINE)) == len(df)
    with pytest.raises(results.ResultsError):
        results.load(DATA, machine="nvidia-h200-x1")


# --- committed and freshly made real results -------------------------------------------


def test_committed_results_load():
    root = REPO / "results"
    if not any(root.glob("*/*-*.json")):
        pytest.skip("no committed results under results/ yet")
    frame = results.load(root)
    assert frame["torch_version"].notna().all()
    assert (frame["status"] == "ok").any()


@pytest.mark.slow
def test_tiny_real_asv_run(run_asv):
    """asv run of two benchmarks into a scratch folder, then load it (about 20-40 s)."""
    import torch

    results_dir, commit, proc = run_asv([r"track_torch_version|Core.time_forward\('small', "
                                         r"'float32', 'mean', 'random'"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    frame = results.load(results_dir)
    assert set(frame["torch_version"]) == {torch.__version__.split("+")[0]}
    timed = frame[(frame["short_name"] == "Core.time_forward") & (frame["status"] == "ok")]
    assert len(timed) == 1
    row = timed.iloc[0]
    assert (row["family"], row["dtype"], row["reduction"], row["weighting"]) == (
        "small", "float32", "mean", "random")
    assert row["n_samples"] >= 2 and row["value"] > 0
    assert frame["commit"].eq(commit).all()


def test_parameters_are_named_in_labels(df):
    """Reports (compare, plots) label a result with its parameters in words."""
    options = df[(df["short_name"] == "Options.time_forward") & (df["family"] == "small")
                 & (df["weighting"] == "random")
                 & (df["ignore_fraction"] == 0.1) & (df["label_smoothing"] == 0.0)]
    assert set(options["params"]) == {"family=small, weighting=random, ignore=0.1, smoothing=0.0"}
    core = df[df["short_name"] == "Core.time_forward"]["params"]
    assert core.str.match(r"^family=\S+, dtype=\S+, reduction=\S+, weighting=\S+$").all()
    assert set(df[df["short_name"] == "Environment.track_torch_version"]["params"]) == {""}
    assert results.param_label({"family": "small", "label_smoothing": 0.1}) == \
        "family=small, smoothing=0.1"


def _started_later(data: dict) -> dict:
    """The same measurements, as if a second run had made them an hour later (a copy of a
    run's file is not another run: see the next test)."""
    column = data["result_columns"].index("started_at")
    for row in data["results"].values():
        row[column] += 3_600_000
    return data


def test_a_copy_of_a_run_is_skipped_naming_both_files(data_copy):
    first = next((data_copy / MACHINE).glob("2b2f6672-*.json"))
    copy = results.replicate_name(data_copy / MACHINE, first.name)
    shutil.copy(first, copy)
    frame, messages = load_with_warnings(data_copy)
    assert len(messages) == 1 and copy.name in messages[0] and first.name in messages[0]
    assert "a copy of" in messages[0] and str(copy) not in set(frame["file"])
    with pytest.warns(UserWarning, match="a copy of"):  # counted once, strict or not
        strict = results.load(data_copy, strict=True)
    assert set(strict["file"]) == set(frame["file"])


def test_replicate_runs_load_as_separate_runs_in_cebench_and_asv(data_copy):
    """A second run of one environment and commit, kept as '<asv name>-r2.json': cebench
    sees two runs (the ``file`` column), and asv's own loader reads both files."""
    from asv.results import iter_results_for_machine

    first = next((data_copy / MACHINE).glob("2b2f6672-*.json"))
    target = results.replicate_name(data_copy / MACHINE, first.name)
    assert target.name == f"{first.stem}-r2.json"
    target.write_text(json.dumps(_started_later(json.loads(first.read_text()))))
    assert results.replicate_name(data_copy / MACHINE, first.name).name == f"{first.stem}-r3.json"
    df = results.load(data_copy)
    table = results.runs(df)
    assert len(table) == 3 and target.name in set(table["file"])  # file names only
    assert not any("/" in f for f in table["file"])
    loaded = list(iter_results_for_machine(str(data_copy), MACHINE))
    assert len(loaded) == 3
    # the notebooks' view: the newest commit both versions share (here each version's own)
    assert set(results.latest_runs(df)["file"]) == set(df["file"])
