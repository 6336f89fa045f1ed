"""A tiny real asv run: every benchmark runs (one parameter combination each) and the
result file records the torch version, as the suite's `-E existing:same` runs do."""

import importlib
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import torch

from cebench.environment import torch_version_number

ROOT = pathlib.Path(__file__).resolve().parents[1]
ASV = [sys.executable, "-m", "asv"]


def _first_combination_regexes():
    """One --bench regex per benchmark, selecting its first parameter combination.

    asv matches a parameterised benchmark as ``name(param0, param1, ...)`` with the
    parameters repr-quoted."""
    sys.path.insert(0, str(ROOT))
    regexes = []
    try:
        for path in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            module = importlib.import_module(f"benchmarks.{path.stem}")
            for cls_name, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ != module.__name__ or cls_name.startswith("_"):
                    continue
                for meth in dir(cls):
                    if not meth.startswith(("time_", "track_", "peakmem_", "mem_")):
                        continue
                    name = f"{path.stem}.{cls_name}.{meth}"
                    params = getattr(cls, "params", None)
                    if params:
                        first = ", ".join(repr(values[0]) for values in params)
                        regexes.append(re.escape(f"{name}({first})"))
                    else:
                        regexes.append(re.escape(name) + "$")
    finally:
        sys.path.remove(str(ROOT))
    return regexes


@pytest.mark.slow
def test_tiny_asv_run_records_every_benchmark_and_the_torch_version(tmp_path):
    conf = json.loads(re.sub(r"^\s*//.*$", "", (ROOT / "asv.conf.json").read_text(), flags=re.M))
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), results_dir=str(tmp_path / "results"),
                html_dir=str(tmp_path / "html"), env_dir=str(tmp_path / "env"))
    conf_path = tmp_path / "asv.conf.json"
    conf_path.write_text(json.dumps(conf))
    env = dict(os.environ, HOME=str(tmp_path))  # asv's machine file goes to $HOME
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()

    subprocess.run([*ASV, "machine", "--machine", "cebench-test", "--yes"], env=env,
                   cwd=tmp_path, check=True, capture_output=True)
    bench_args = [arg for regex in _first_combination_regexes() for arg in ("--bench", regex)]
    run = subprocess.run(
        [*ASV, "--config", str(conf_path), "run", "-E", "existing:same", "--quick",
         "--launch-method", "forkserver", "--machine", "cebench-test",
         "--set-commit-hash", head, *bench_args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    log = run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "results" / "benchmarks.json").exists(), log
    assert "Traceback" not in run.stdout + run.stderr, log

    discovered = json.loads((tmp_path / "results" / "benchmarks.json").read_text())
    names = {name for name in discovered if name != "version"}
    files = list((tmp_path / "results" / "cebench-test").glob(f"{head[:8]}-*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())
    assert set(result["results"]) == names  # every benchmark has an entry

    version_row = result["results"]["bench_environment.Environment.track_torch_version"]
    assert version_row[0] == [pytest.approx(torch_version_number(torch.__version__))]
    # the Core benchmark's first combination runs on every device (small, fp32)
    core = result["results"]["bench_loss.Core.time_forward"][0]  # one value per combination
    assert core[0] is not None and core[0] > 0
