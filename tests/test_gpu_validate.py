"""The GPU validation run (cebench.gpu_validate, scripts/gpu-validate.sh) exercised on the CPU.

The GPU machine gets one try of a few minutes, so its script is run here end to end
with ``CEBENCH_GPU_DRY_RUN=1``: CUDA parts report "no CUDA", the asv chunks run a few
CPU-sized cases. The dry run uses a Python 3.12 environment holding only what the GPU
machine has (scripts/make-gpu-venv.sh) plus the carried wheels
(scripts/fetch-gpu-wheels.sh), so that an import the GPU machine cannot satisfy fails
here first. Chunk planning, admission and the fork-server check are unit-tested below.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from cebench import gpu_validate as gv

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-validate.sh"
MAKE_DEVGIT = ROOT / "scripts" / "make-devgit.sh"

FIXED = [name for name, _ in gv.FIXED_PHASES]
EXPECTED_PHASES = FIXED + [c.name for c in gv.DRY_CHUNKS] + ["pack"]
EXPECTED_FILES = {
    "gpu-validate.log", "phases.json", "asv-results.tar.gz", "check.json",
    "selfcheck.json", "pytest-cuda.xml", "profile.tar.gz", "check-impls.json",
}
#: The GPU subset must fit the run's few minutes (see docs/gpu-run.md for its sizing).
MAX_GPU_BENCHMARK_PROCESSES = 300
#: A chunk small enough that losing it to a time limit loses little.
MAX_CHUNK_PROCESSES = 36

needs_git = pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.update(
        CEBENCH_GPU_DRY_RUN="1", CEBENCH_GPU_WORK=str(tmp_path / "work"),
        CEBENCH_DEVGIT=str(tmp_path / "devgit"), PYTHON=sys.executable,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


def _make_devgit(tmp_path: Path) -> str:
    subprocess.run(["bash", str(MAKE_DEVGIT), str(tmp_path / "devgit")], check=True,
                   capture_output=True, text=True, cwd=ROOT)
    head = subprocess.run(["git", "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True, cwd=ROOT).stdout.strip()
    return head


def _phases(out: Path) -> dict[str, dict]:
    report = json.loads((out / "phases.json").read_text())
    return {phase["name"]: phase for phase in report["phases"]}


# --- the chunks ---------------------------------------------------------------------

def _benchmark_names() -> list[str]:
    """Every (benchmark, parameters) name as asv's --bench regexes see it."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import importlib
        import inspect

        names = []
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(path.stem)
            for cls_name, cls in vars(module).items():
                if not inspect.isclass(cls) or cls.__module__ != path.stem or cls_name.startswith("_"):
                    continue
                for attr in dir(cls):
                    if not attr.startswith(("time_", "track_", "mem_", "peakmem_")):
                        continue
                    base = f"{path.stem}.{cls_name}.{attr}"
                    params = getattr(cls, "params", None)
                    if params:
                        names += [f"{base}({', '.join(map(repr, combo))})"
                                  for combo in itertools.product(*params)]
                    else:
                        names.append(base)
        return names
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _matching(names: list[str], regexes) -> set[str]:
    return {n for n in names if any(re.search(r, n) for r in regexes)}


def test_chunks_are_small_disjoint_counted_and_the_gpu_subset_fits():
    names = _benchmark_names()
    seen: set[str] = set()
    for chunk in gv.GPU_CHUNKS:
        selected = _matching(names, chunk.regexes)
        for regex in chunk.regexes:  # a renamed class must not leave a chunk empty
            assert _matching(names, [regex]), f"{chunk.name}: {regex!r} selects nothing"
        assert len(selected) == chunk.processes, chunk.name
        assert chunk.processes <= MAX_CHUNK_PROCESSES, chunk.name
        assert not selected & seen, f"{chunk.name} repeats benchmarks of an earlier chunk"
        seen |= selected
    assert 0 < len(seen) <= MAX_GPU_BENCHMARK_PROCESSES
    for chunk in gv.DRY_CHUNKS:
        assert len(_matching(names, chunk.regexes)) == chunk.processes, chunk.name
    assert {c.name for c in gv.DRY_CHUNKS} <= {c.name for c in gv.GPU_CHUNKS}


def test_cheap_high_value_chunks_run_first():
    order = [c.name for c in gv.GPU_CHUNKS]
    assert order[:3] == ["asv_env", "asv_allocator_peak", "asv_kernel_llm128k"]


def test_the_cases_the_run_names_exist():
    from cebench.grid import cases

    for name in [*gv.PROFILE_CASE.values(), gv.SELFCHECK_DRY_CASE]:
        assert cases.lookup(name).name == name


def _planned_run(tmp_path, deadline_s, **env) -> gv.Run:
    out = tmp_path / "out"
    out.mkdir()
    run = gv.Run(out, dict(os.environ, CEBENCH_GPU_WORK=str(tmp_path / "work"),
                           CEBENCH_GPU_DEADLINE_S=str(deadline_s), **env))
    run.work.mkdir()
    for name in ("machine-name", "commit"):
        (run.work / name).write_text("x\n")
    (run.work / "repo").mkdir()
    return run


def test_chunks_are_admitted_on_measured_rates_and_finished_ones_kept(tmp_path, monkeypatch):
    """A fake asv run (no process; the run's clock advanced by what it 'took'): 3 s per
    process, well above the first guess. After the first chunks the measured rate
    replaces the guess, and chunks that no longer fit are skipped, not started and killed."""
    run = _planned_run(tmp_path, deadline_s=400)
    ran = []

    def fake_chunk(run, chunk, name, launch):
        seconds = gv.CHUNK_OVERHEAD_S + 3.0 * chunk.processes
        run.started -= seconds  # time passes
        ran.append(name)
        rec = gv.PhaseRecord(name, seconds, gv.CHUNK_LIMIT_S, "ok", 0)
        run.record(rec)
        return rec

    monkeypatch.setattr(gv, "_run_chunk", fake_chunk)
    monkeypatch.setattr(gv, "fork_server_works", lambda run, tally: True)
    gv.run_asv_chunks(run)
    records = {r.name: r for r in run.records}
    assert ran[:3] == ["asv_env", "asv_allocator_peak", "asv_kernel_llm128k"]
    assert run.s_per_process == pytest.approx(3.0)
    skipped = [r for r in run.records if r.status == "skipped"]
    assert skipped and all("estimate" in r.note for r in skipped)
    assert run.elapsed_s() <= run.deadline_s - gv.PACK_RESERVE_S  # nothing ran into the pack
    assert len(records) == len(gv.GPU_CHUNKS)


def test_forkserver_check_needs_a_visible_gpu(tmp_path):
    """On the GPU, a forked child that imports torch but sees no CUDA device records a
    torch version and 0 devices: every case would then skip as too big for the CPU."""
    run = _planned_run(tmp_path, deadline_s=400)
    no_device = gv.Tally(finite={
        "bench_environment.Environment.track_torch_version": [2.11],
        "bench_environment.Environment.track_cuda_device_count": [0.0]})
    one_device = gv.Tally(finite={
        "bench_environment.Environment.track_torch_version": [2.11],
        "bench_environment.Environment.track_cuda_device_count": [1.0]})
    assert not gv.fork_server_works(run, no_device)
    assert gv.fork_server_works(run, one_device)
    (tmp_path / "dry").mkdir()
    dry = _planned_run(tmp_path / "dry", deadline_s=300, CEBENCH_GPU_DRY_RUN="1")
    assert gv.fork_server_works(dry, no_device)  # the CPU has no device: the version will do


def test_a_phase_cut_off_by_its_limit_takes_its_child_processes_with_it(tmp_path):
    run = _planned_run(tmp_path, deadline_s=60)
    run.open_log()
    pid_file = tmp_path / "grandchild.pid"

    def body(run, until):
        run.call(["bash", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], until)

    started = time.perf_counter()
    rec = gv.run_phase(run, "stuck", 5, body)
    assert rec.status == "timeout" and rec.rc == 124
    assert time.perf_counter() - started < 5 + 2 * gv.KILL_GRACE_S
    grandchild = Path(f"/proc/{int(pid_file.read_text())}/status")
    time.sleep(0.2)  # gone, or a zombie waiting for init to reap it
    assert not grandchild.exists() or "State:\tZ" in grandchild.read_text()


def test_a_foreign_scratch_folder_is_refused_and_kept(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("not the script's")
    env = _env(tmp_path, CEBENCH_GPU_PHASES="none")
    result = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env,
                            capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert result.returncode == 2
    assert "is not a cebench scratch folder" in result.stderr
    assert (work / "keep.txt").read_text() == "not the script's"


def test_no_output_folder_is_a_usage_error():
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "usage: scripts/gpu-validate.sh OUT_DIR"
    result = subprocess.run([sys.executable, "-m", "cebench.gpu_validate", "--bogus"],
                            capture_output=True, text=True, check=False,
                            env=dict(os.environ, PYTHONPATH=str(ROOT / "src")))
    assert result.returncode == 2 and result.stderr.startswith("usage:")


def test_missing_history_fails_setup_and_skips_asv_but_still_reports(tmp_path):
    out = tmp_path / "out"
    env = _env(tmp_path, CEBENCH_GPU_PHASES="none", CEBENCH_WHEEL_DIR=str(tmp_path / "nowheels"))
    result = subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True,
                            text=True, timeout=180, cwd=ROOT, check=False)
    assert result.returncode == 1
    phases = _phases(out)
    assert list(phases) == EXPECTED_PHASES
    assert phases["setup"]["status"] == "failed"
    for chunk in gv.DRY_CHUNKS:
        assert phases[chunk.name]["status"] == "skipped"
        assert "setup failed" in phases[chunk.name]["note"]
    assert phases["check"]["note"] == "not selected"
    assert "no history" in (out / "gpu-validate.log").read_text()


# --- the GPU machine's Python, for the dry run ----------------------------------------

@pytest.fixture(scope="module")
def gpu_machine_python(tmp_path_factory):
    """(python, wheel folder): Python 3.12 with only the GPU machine's packages, and the
    wheels carried to it (built here once; both need the package index the first time)."""
    made = subprocess.run(["bash", str(ROOT / "scripts" / "make-gpu-venv.sh")], check=False,
                          cwd=ROOT, timeout=1800, stdout=subprocess.PIPE, text=True)
    if made.returncode == 2:  # the script's "no python3.12 found"
        pytest.skip("no python3.12 on this machine for the GPU machine's environment")
    made.check_returncode()
    python = Path(made.stdout.strip().splitlines()[-1])
    wheels = tmp_path_factory.mktemp("whl")
    subprocess.run(["bash", str(ROOT / "scripts" / "fetch-gpu-wheels.sh")], check=True, cwd=ROOT,
                   env=dict(os.environ, CEBENCH_WHEEL_DIR=str(wheels)), timeout=600,
                   capture_output=True)
    return python, wheels


@pytest.mark.slow
@needs_git
def test_dry_run_end_to_end(tmp_path, gpu_machine_python):
    python, wheels = gpu_machine_python
    head = _make_devgit(tmp_path)
    out = tmp_path / "out"
    env = _env(tmp_path, PYTHON=str(python), CEBENCH_WHEEL_DIR=str(wheels),
               PATH=f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    # the dry run's deadline: 300 s
    result = subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True,
                            text=True, timeout=420, cwd=ROOT, check=False)
    log = (out / "gpu-validate.log").read_text()
    assert result.returncode == 0, log[-3000:]
    assert "Traceback" not in log

    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert len(files) <= 8
    assert set(files) == EXPECTED_FILES

    report = json.loads((out / "phases.json").read_text())
    assert report["dry_run"] is True
    assert report["commit"] == head
    phases = _phases(out)
    assert list(phases) == EXPECTED_PHASES
    for name, phase in phases.items():
        assert phase["status"] == "ok", (name, phase)
        assert phase["seconds"] > 0 or name == "pack"
    assert re.findall(r"^phase (\S+): [\d.]+ s", log, re.MULTILINE) == EXPECTED_PHASES

    with tarfile.open(out / "asv-results.tar.gz") as tar:
        members = {m.name.removeprefix("./") for m in tar.getmembers() if m.isfile()}
        machine = report["machine"]
        result_files = [m for m in members
                        if m.startswith(f"{machine}/{head[:8]}-existing-") and m.endswith(".json")]
        assert {"benchmarks.json", f"{machine}/machine.json"} <= members
        assert len(result_files) == 1
        data = json.load(tar.extractfile("./" + result_files[0]))
    assert data["commit_hash"] == head
    from cebench.environment import torch_version_number

    results = data["results"]
    assert results["bench_environment.Environment.track_torch_version"][0] == [
        torch_version_number()]
    core = results["bench_loss.Core.time_forward"][0]
    assert any(isinstance(v, float) and math.isfinite(v) and v > 0 for v in core)
    assert report["asv_results"]["values"] >= 5

    with tarfile.open(out / "profile.tar.gz") as tar:
        assert any(m.name.endswith(".timeline.png") for m in tar.getmembers())
    json.loads((out / "check.json").read_text())
    json.loads((out / "selfcheck.json").read_text())
    impl_checks = json.loads((out / "check-impls.json").read_text())
    assert impl_checks["device"] == "cpu"
    assert impl_checks["reports"]["by_hand"]["matrix"]["ignore_index"]["cell"] == "✓"
    # Liger and triton are not among the carried wheels' imports on every machine: a
    # report, or the one line saying why it could not run
    assert set(impl_checks["reports"]["liger"]) & {"matrix", "unavailable"}
    # every phase ran on the GPU machine's Python: `pytest -m cuda` collected without errors
    assert re.search(r"^python 3\.12\.\d+ torch", log, re.MULTILINE)
    junit = (out / "pytest-cuda.xml").read_text()
    assert re.search(r'<testsuite [^>]*errors="0"', junit) and 'skipped="0"' not in junit
