"""The GitHub Actions workflows: lint/security checks, their shape, and the alert path
they run (compare -> job-summary markdown -> exit status) on results with an injected
regression."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cebench.publish import dashboard

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
FAKE_COMMIT = "feedface" * 5


def results_source() -> Path:
    return Path(os.environ.get("CEBENCH_DASHBOARD_RESULTS", REPO / "results"))


def load_workflow(name: str) -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True


def cebench(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "cebench", *args], check=False, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


# --- lint and security ------------------------------------------------------------------


def _need_tools():
    bin_dir = Path(sys.executable).parent
    for tool in ("check-jsonschema", "zizmor"):
        if not (shutil.which(tool) or (bin_dir / tool).exists()):
            pytest.skip(f"{tool} is not installed (pip install -e '.[dev]')")
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_workflows_pass_schema_and_zizmor():
    env = _need_tools()
    proc = subprocess.run(["bash", "scripts/check-workflows.sh"], check=False, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_check_workflows_fails_an_unsafe_workflow(tmp_path):
    env = _need_tools()
    (tmp_path / "bad.yml").write_text(
        "name: bad\non:\n  pull_request_target:\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - uses: actions/checkout@v4\n        with:\n"
        "          ref: ${{ github.event.pull_request.head.sha }}\n"
        "      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    proc = subprocess.run(["bash", "scripts/check-workflows.sh", str(tmp_path)], check=False, cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "template-injection" in proc.stdout + proc.stderr


# --- shape: what a maintainer relies on ----------------------------------------------------


@pytest.mark.parametrize("name", ["ci.yml", "gpu-bench.yml", "gpu-fleet.yml", "mutation.yml"])
def test_every_job_is_time_limited_read_only_by_default_and_pins_actions(name):
    wf = load_workflow(name)
    assert wf["permissions"] == {"contents": "read"}
    assert "pull_request_target" not in triggers(wf)
    for job_name, job in wf["jobs"].items():
        assert "timeout-minutes" in job, f"{name}:{job_name} has no timeout"
        for step in job.get("steps", []):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}:{job_name}: {step['uses']} not pinned by SHA"
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_hosted_ci_runs_the_readme_tests_a_smoke_run_and_the_dashboard():
    wf = load_workflow("ci.yml")
    assert {"push", "pull_request"} <= set(triggers(wf))
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["test"]["steps"])
    assert "bash scripts/test.sh" in runs
    assert "-E existing:same" in runs and "--quick" in runs and "--python=same" not in runs
    assert "cebench dashboard" in runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact@") for s in wf["jobs"]["test"]["steps"])


def test_mutation_testing_is_scheduled_not_on_every_push():
    wf = load_workflow("mutation.yml")
    assert set(triggers(wf)) == {"schedule", "workflow_dispatch"}
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["mutation"]["steps"])
    assert "bash scripts/mutation.sh" in runs and "GITHUB_STEP_SUMMARY" in runs
    # and the per-push path does not run it
    assert "mutation" not in (REPO / ".ci" / "run").read_text()
    assert "mutation" not in (REPO / "scripts" / "test.sh").read_text()


def test_gpu_workflow_runs_on_pull_requests_only_by_label_and_publishes_only_from_main():
    wf = load_workflow("gpu-bench.yml")
    on = triggers(wf)
    assert on["pull_request"] == {"types": ["labeled"]} and "schedule" in on and "workflow_dispatch" in on
    bench = wf["jobs"]["bench"]
    assert "github.event.label.name == 'run-gpu-bench'" in bench["if"]
    assert "self-hosted" in bench["runs-on"] and "gpu" in bench["runs-on"]
    runs = "\n".join(s.get("run", "") for s in bench["steps"])
    assert "bash scripts/run-suite.sh" in runs and "cebench alert" in runs
    assert "$GITHUB_STEP_SUMMARY" in runs
    decide = next(s for s in bench["steps"] if s.get("id") == "publish")
    assert "pull_request" in decide["run"] and "schedule" in decide["run"]
    deploy = wf["jobs"]["deploy"]
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert "checkout" not in json.dumps(deploy["steps"])  # the writer runs no project code


def test_fleet_fans_out_gpu_kinds_by_torch_and_merges_into_one_tree():
    wf = load_workflow("gpu-fleet.yml")
    matrix = wf["jobs"]["bench"]["strategy"]["matrix"]
    assert matrix["gpu"] == ["h100", "a100", "l4"] and len(matrix["torch"]) >= 2
    assert "${{ matrix.gpu }}" in wf["jobs"]["bench"]["runs-on"]
    runs = "\n".join(s.get("run", "") for s in wf["jobs"]["merge"]["steps"])
    assert "cebench merge-results" in runs and "cebench alert" in runs and "cebench dashboard" in runs


# --- the alert path, end to end ----------------------------------------------------------


def _scaled_copy(path: Path, dest: Path, factor: float, commit: str, day_ms: int) -> Path:
    """A copy of one asv results file as a run at ``commit``, one day later, with every
    time_ result (value, interval, quartiles and raw samples) scaled by ``factor``."""
    data = json.loads(path.read_text())
    columns = data["result_columns"]
    scaled_cols = [columns.index(c) for c in ("result", "stats_ci_99_a", "stats_ci_99_b",
                                               "stats_q_25", "stats_q_75") if c in columns]
    samples_col = columns.index("samples")

    def scale(x):
        return x * factor if isinstance(x, (int, float)) and not math.isnan(x) else x

    for name, row in data["results"].items():
        if name.rsplit(".", 1)[-1].startswith("time_"):
            for i in scaled_cols:
                if i < len(row) and row[i] is not None:
                    row[i] = [scale(v) for v in row[i]]
            if samples_col < len(row) and row[samples_col] is not None:
                row[samples_col] = [[scale(v) for v in s] if s else s for s in row[samples_col]]
    data["commit_hash"] = commit
    data["date"] = data["date"] + day_ms
    dest.write_text(json.dumps(data))
    return dest


@pytest.fixture
def scratch_results(tmp_path, committed_results):
    """A copy of the committed results and the A/A series in it: the largest group of
    replicate runs of one torch version at one commit (see results/)."""
    from cebench.results import compare, load

    source = Path(os.environ.get("CEBENCH_DASHBOARD_RESULTS") or committed_results)
    if not (source / "benchmarks.json").exists():
        pytest.skip(f"no committed asv results in {source} (set CEBENCH_DASHBOARD_RESULTS)")
    df = load.load(source)
    sizes = df.groupby(["machine", "torch_version", "commit"])["file"].nunique()
    if sizes.max() < 6:
        pytest.skip("the committed results hold no series of >= 6 replicate runs")
    machine, _, commit = sizes.idxmax()
    files = sorted({Path(f).name for f in df[(df["machine"] == machine)
                                             & (df["commit"] == commit)]["file"]},
                   key=compare.replicate_number)  # in the order they were recorded
    results = tmp_path / "results"
    shutil.copytree(source, results)
    return results, machine, [results / machine / f for f in files]


def _new_commit_runs(results: Path, machine: str, series: list[Path], factor: float) -> None:
    """Three runs at a new commit, one day later: the series' last three runs with their
    timings x factor, named as replicates ('-r2', '-r3')."""
    for k, path in enumerate(series[-3:], start=1):
        env = json.loads(path.read_text())["env_name"]
        name = f"{FAKE_COMMIT[:8]}-{env}" + ("" if k == 1 else f"-r{k}") + ".json"
        _scaled_copy(path, results / machine / name, factor, FAKE_COMMIT, 86_400_000)


@pytest.mark.slow
def test_injected_regression_fails_the_gate_and_is_named_in_the_job_summary(scratch_results):
    """Three runs of the A/A series as a new commit, 2x slower, against the twelve."""
    results, machine, series = scratch_results
    _new_commit_runs(results, machine, series, 2.0)  # the same code, 2x slower
    summary = results.parent / "step_summary.md"
    summary.write_text("earlier step output\n")  # $GITHUB_STEP_SUMMARY is appended to
    proc = cebench("alert", str(results), "--machine", machine, "--commit", FAKE_COMMIT,
                   "--summary", str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = summary.read_text()
    assert text.startswith("earlier step output\n# cebench regression check")
    assert f"## {machine}: previous results (**REGRESSION**)" in text
    # three runs against twelve: tau (about 17 % on this machine) lets a shared x2 through
    assert re.search(r"SHARED REGRESSION x[12]\.\d\d", text), text[:3000]
    shared_rows = [ln for ln in text.splitlines() if ln.startswith("| shared |")
                   or ln.startswith("| regression |")]
    assert shared_rows and any("time_forward" in ln for ln in shared_rows)


@pytest.mark.slow
def test_unchanged_copy_passes_the_gate(scratch_results):
    results, machine, series = scratch_results
    _new_commit_runs(results, machine, series, 1.0)
    summary = results.parent / "summary.md"
    proc = cebench("alert", str(results), "--machine", machine, "--commit", FAKE_COMMIT,
                   "--summary", str(summary))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"## {machine}: previous results (no regression)" in summary.read_text()


@pytest.mark.slow
def test_one_run_per_side_is_inconclusive_exit_3(scratch_results):
    results, machine, series = scratch_results
    for path in series[1:]:  # one run left at the series' commit
        path.unlink()
    _scaled_copy(series[0], results / machine / f"{FAKE_COMMIT[:8]}-x.json", 1.0,
                 FAKE_COMMIT, 86_400_000)
    summary = results.parent / "summary.md"
    proc = cebench("alert", str(results), "--machine", machine, "--commit", FAKE_COMMIT,
                   "--summary", str(summary))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "previous results (inconclusive" in summary.read_text()


def test_alert_names_an_unreadable_newest_results_file_and_exits_2(tmp_path, capsys):
    from cebench.cli import main

    results = tmp_path / "results"
    shutil.copytree(REPO / "tests" / "data" / "asv-results", results)
    machine_dir = next(p for p in results.iterdir() if p.is_dir())
    newest = machine_dir / f"{FAKE_COMMIT[:8]}-existing-py.json"
    newest.write_text('{"truncated')
    summary = tmp_path / "s.md"
    assert main(["alert", str(results), "--summary", str(summary)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and newest.name in err and "unreadable" in err
    assert not summary.exists()


def test_alert_bad_input_is_one_line_exit_2(tmp_path, capsys):
    from cebench.cli import main

    assert main(["alert", str(tmp_path / "missing"), "--summary", str(tmp_path / "s.md")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cebench alert: error:")
    assert not (tmp_path / "s.md").exists()
