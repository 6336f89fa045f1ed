"""scripts/gpu-validate.sh, the one-shot GPU run, exercised on the CPU (a dry run).

The H200 run gets one try of a few minutes, so its script is run here end to end with
``CEBENCH_GPU_DRY_RUN=1``: CUDA parts report "no CUDA", the asv chunks run a few CPU-sized
cases. No network: without wheels in ``.whl/`` (CI) the dry run uses this Python's asv.
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
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu-validate.sh"
MAKE_DEVGIT = ROOT / "scripts" / "make-devgit.sh"

EXPECTED_PHASES = [
    "setup", "environment", "nvml_rate", "profile", "check", "pytest_cuda", "selfcheck",
    "asv_env", "asv_kernel", "asv_overhead_memory_accuracy", "asv_core", "pack",
]
EXPECTED_FILES = {
    "gpu-validate.log", "phases.json", "asv-results.tar.gz", "check.json",
    "selfcheck.json", "pytest-cuda.xml", "profile.tar.gz",
}
#: The GPU subset must fit the run's few minutes (see docs/gpu-run.md for its sizing).
MAX_GPU_BENCHMARK_PROCESSES = 300

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


# --- the chunks' regexes, read from the script --------------------------------------------

def _chunks(array: str) -> list[tuple[str, list[str], list[str]]]:
    """(name, forkserver regexes, spawn regexes) of GPU_CHUNKS or DRY_CHUNKS."""
    body = re.search(array + r"=\(\n(.*?)\n\)", SCRIPT.read_text(), re.DOTALL).group(1)
    chunks = []
    for line in body.splitlines():
        name, _estimate, regexes = line.strip().strip('"').split("|", 2)
        fork, spawn = regexes.split(";")
        chunks.append((name, fork.split(), spawn.split()))
    return chunks


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


def _matching(names: list[str], regexes: list[str]) -> set[str]:
    return {n for n in names if any(re.search(r, n) for r in regexes)}


def test_every_chunk_regex_selects_benchmarks_and_the_gpu_subset_fits():
    names = _benchmark_names()
    for array in ("GPU_CHUNKS", "DRY_CHUNKS"):
        chunks = _chunks(array)
        assert [c[0] for c in chunks] == EXPECTED_PHASES[7:11]
        for name, fork, spawn in chunks:
            for regex in fork + spawn:  # a renamed class must not leave a chunk empty
                assert _matching(names, [regex]), f"{array} {name}: {regex!r} selects nothing"
            assert _matching(names, spawn) <= _matching(names, fork), f"{array} {name}"
    gpu_total = sum(len(_matching(names, fork)) for _, fork, _ in _chunks("GPU_CHUNKS"))
    assert 0 < gpu_total <= MAX_GPU_BENCHMARK_PROCESSES


def test_the_cases_the_script_names_exist():
    from cebench.grid import cases

    names = re.findall(r"(?:PROFILE_CASE:-|--case )([a-z0-9.-]+)", SCRIPT.read_text())
    assert len(names) == 3
    for name in names:
        assert cases.lookup(name).name == name


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


def test_missing_history_fails_setup_and_skips_asv_but_still_reports(tmp_path):
    out = tmp_path / "out"
    env = _env(tmp_path, CEBENCH_GPU_PHASES="none", CEBENCH_WHEEL_DIR=str(tmp_path / "nowheels"))
    result = subprocess.run(["bash", str(SCRIPT), str(out)], env=env, capture_output=True,
                            text=True, timeout=180, cwd=ROOT, check=False)
    assert result.returncode == 1
    phases = _phases(out)
    assert list(phases) == EXPECTED_PHASES
    assert phases["setup"]["status"] == "failed"
    for name in EXPECTED_PHASES[7:11]:
        assert phases[name]["status"] == "skipped"
        assert "setup failed" in phases[name]["note"]
    assert phases["check"]["note"] == "not selected"
    assert "no history" in (out / "gpu-validate.log").read_text()


@pytest.mark.slow
@needs_git
def test_dry_run_end_to_end(tmp_path):
    head = _make_devgit(tmp_path)
    out = tmp_path / "out"
    env = _env(tmp_path)  # the dry run's deadline: 300 s
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
