"""cebench merge-results: per-job results trees of a GPU fleet into one results/."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from cebench.publish import dashboard, runs as publish_runs
from cebench.results import merge
from cebench.cli import main
from cebench.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def results_source() -> Path:
    return Path(os.environ.get("CEBENCH_DASHBOARD_RESULTS", REPO / "results"))


@pytest.fixture
def two_job_trees(tmp_path):
    """Two artifact-like trees: the real results of one machine, and the same results
    as if from another machine (machine.json's name edited), as two fleet jobs upload."""
    source = results_source()
    machines = [p for p in sorted(source.glob("*/machine.json"))
                if any(f.name != "machine.json" for f in p.parent.glob("*.json"))] if source.is_dir() else []
    if not (source / "benchmarks.json").exists() or not machines:
        pytest.skip(f"no committed asv results in {source} (set CEBENCH_DASHBOARD_RESULTS)")
    machine = machines[0].parent.name
    job_a, job_b = tmp_path / "fleet" / "a", tmp_path / "fleet" / "b"
    for job in (job_a, job_b):
        job.mkdir(parents=True)
        shutil.copy2(source / "benchmarks.json", job / "benchmarks.json")
    shutil.copytree(source / machine, job_a / machine)
    other = "nvidia-test-gpu-x1"
    shutil.copytree(source / machine, job_b / other)
    info = json.loads((job_b / other / "machine.json").read_text())
    info["machine"] = other
    (job_b / other / "machine.json").write_text(json.dumps(info))
    for path in (job_b / other).glob("*.json"):
        if path.name != "machine.json":
            data = json.loads(path.read_text())
            data["params"]["machine"] = other
            path.write_text(json.dumps(data))
    return job_a, job_b, machine, other


@pytest.mark.slow  # runs `cebench compare` twice
def test_two_machines_merge_load_compare_and_render_together(two_job_trees, tmp_path):
    job_a, job_b, machine, other = two_job_trees
    into = tmp_path / "results"
    summary = merge.merge_results([job_a, job_b], into)
    assert summary.machines == sorted([machine, other])
    assert json.loads((into / "benchmarks.json").read_text()) == json.loads((job_a / "benchmarks.json").read_text())
    runs = publish_runs.runs_by_machine(into)
    assert set(runs) == {machine, other}
    assert [r.torch for r in runs[machine]] == [r.torch for r in runs[other]]
    # merging again (a re-run of the final job) copies nothing and changes nothing
    again = merge.merge_results([job_a, job_b], into)
    assert again.files_copied == 0 and again.files_identical == summary.files_copied
    if len(publish_runs.latest_per_torch(runs[machine])) < 2:
        pytest.skip("one torch version only: nothing to compare")
    out = tmp_path / "html" / "cebench"
    out.mkdir(parents=True)
    outcome = dashboard.build_verdicts(into, out, set(), REPO, [])
    assert outcome.ok, outcome.message
    pages = sorted(p.name for p in out.glob("pair-*.html"))
    assert any(p.startswith(f"pair-{machine}-") for p in pages), pages
    assert any(p.startswith(f"pair-{other}-") for p in pages), pages
    assert "<table>" in next(out.glob(f"pair-{other}-*.html")).read_text()


def test_differing_benchmarks_are_named_and_nothing_is_copied(two_job_trees, tmp_path, capsys):
    job_a, job_b, _, _ = two_job_trees
    benchmarks = json.loads((job_b / "benchmarks.json").read_text())
    name = min(k for k in benchmarks if k != "version")
    benchmarks[name]["version"] = "0" * 64
    (job_b / "benchmarks.json").write_text(json.dumps(benchmarks))
    into = tmp_path / "results"
    assert main(["merge-results", str(job_a), str(job_b), "--into", str(into)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and name in err and "differ in 1 benchmark" in err
    assert not into.exists()


def test_same_named_results_with_other_contents_conflict(two_job_trees, tmp_path):
    job_a, _, machine, _ = two_job_trees
    clash = tmp_path / "clash"
    shutil.copytree(job_a, clash)
    result = next(p for p in (clash / machine).glob("*.json") if p.name != "machine.json")
    data = json.loads(result.read_text())
    data["date"] += 1
    result.write_text(json.dumps(data))
    with pytest.raises(InputError, match="different results with the same name"):
        merge.merge_results([job_a, clash], tmp_path / "results")


def test_a_folder_without_benchmarks_json_is_bad_input(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not an asv results directory"):
        merge.merge_results([tmp_path / "empty"], tmp_path / "results")


def _tree(root: Path, definitions: dict, results: dict) -> Path:
    """A results tree: benchmarks.json, and one machine's results file recording
    ``{benchmark: version}`` (each field asv writes, so that it is a file compare reads)."""
    (root / "m").mkdir(parents=True)
    full = {name: {"name": name, "type": "track", "unit": "unit", "param_names": [],
                   "params": [], **d} for name, d in definitions.items()}
    (root / "benchmarks.json").write_text(json.dumps({**full, "version": 2}))
    (root / "m" / "machine.json").write_text(json.dumps({"machine": "m", "version": 1}))
    if results:
        started = 1_795_000_000_000 + len(str(root))  # another tree, another run
        (root / "m" / f"{len(results)}-env.json").write_text(json.dumps({
            "commit_hash": "0123456789abcdef0123456789abcdef01234567", "env_name": "env",
            "date": 1_795_000_000_000, "params": {"machine": "m"}, "python": "3.11",
            "requirements": {}, "env_vars": {}, "version": 2,
            "result_columns": ["result", "params", "version", "started_at"],
            "results": {name: [[1.0], [], version, started]
                        for name, version in results.items()}}))
    return root


def test_publishing_a_local_run_keeps_the_definitions_published_results_use(tmp_path, capsys):
    """results/ holds runs made at version 'a' of X; a local run of newer code made X at
    'b' and a new benchmark Y. X keeps 'a' (its published results stay visible), Y is
    added, Z (changed, but no published result uses it) is updated, W stays."""
    into = _tree(tmp_path / "results", {"X": {"version": "a"}, "Z": {"version": "z1"},
                                        "W": {"version": "w"}}, {"X": "a"})
    local = _tree(tmp_path / "local", {"X": {"version": "b"}, "Y": {"version": "y"},
                                       "Z": {"version": "z2"}}, {"X": "b", "Y": "y", "Z": "z2"})
    (local / "m" / "3-env.json").rename(local / "m" / "3-local.json")
    assert main(["merge-results", str(local), "--into", str(into)]) == 0
    out = capsys.readouterr().out
    assert "kept the definitions of 1 benchmark(s) that results already there use" in out
    assert out.rstrip().endswith(": X")
    merged = json.loads((into / "benchmarks.json").read_text())
    assert {k: v["version"] for k, v in merged.items() if k != "version"} == {
        "X": "a", "Y": "y", "Z": "z2", "W": "w"}
    assert sorted(p.name for p in (into / "m").glob("*.json")) == [
        "1-env.json", "3-local.json", "machine.json"]
    assert merge.versions_in_use(into) == {"X": {"a", "b"}, "Y": {"y"}, "Z": {"z2"}}
