"""A tiny real asv run: every benchmark runs (one parameter combination each) and the
result file records the torch version, as the suite's `-E existing:same` runs do."""

import importlib
import inspect
import json
import math
import pathlib
import re
import sys

import pytest
import torch

from cebench.environment import torch_version_number
from cebench.measure import instructions

ROOT = pathlib.Path(__file__).resolve().parents[1]
#: Benchmarks left out of the tiny run: CompileTime compiles on cold caches (tens of
#: seconds a process); tests/test_impls.py checks its mechanism without compiling.
LEFT_OUT = {"bench_impls.CompileTime"}


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
                if f"{path.stem}.{cls_name}" in LEFT_OUT:
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
def test_tiny_asv_run_records_every_benchmark_and_the_torch_version(run_asv):
    # Instructions counts its grid in one valgrind process: here only the first case.
    results_dir, head, run = run_asv(_first_combination_regexes(), "--quick", extra_env={
        "CEBENCH_INSTRUCTIONS_MATCH": r"^small\.contiguous\.float32\.none\.w-none$"})
    log = run.stdout[-3000:] + run.stderr[-3000:]
    assert (results_dir / "benchmarks.json").exists(), log
    assert "Traceback" not in run.stdout + run.stderr, log

    discovered = json.loads((results_dir / "benchmarks.json").read_text())
    names = {name for name in discovered if name != "version"
             and not name.startswith(tuple(f"{left_out}." for left_out in LEFT_OUT))}
    files = list((results_dir / "cebench-test").glob(f"{head[:8]}-*.json"))
    assert len(files) == 1, files
    result = json.loads(files[0].read_text())
    assert set(result["results"]) == names  # every benchmark has an entry
    columns = result["result_columns"]

    version_row = dict(zip(columns, result["results"]["bench_environment.Environment.track_torch_version"]))
    assert version_row["result"] == [pytest.approx(torch_version_number(torch.__version__))]
    # the Core benchmark's first combination runs on every device (small, fp32)
    core = dict(zip(columns, result["results"]["bench_loss.Core.time_forward"]))
    assert core["result"][0] is not None and core["result"][0] > 0
    # track_ timings carry their samples and a confidence interval, like time_ results
    ratio = dict(zip(columns, result["results"][
        "bench_loss.WeightOverhead.track_weighted_overhead_ratio_forward"]))
    assert ratio["result"][0] > 0 and ratio["stats_ci_99_a"][0] is not None
    assert len(ratio["samples"][0]) >= 10
    # instruction counts: one number per call where valgrind is installed, else a skip
    counted = dict(zip(columns, result["results"][
        "bench_instructions.Instructions.track_instructions_forward"]))["result"][0]
    if instructions.unavailable_reason() is None:
        assert counted is not None and counted > 100_000, log
    else:
        assert counted is None or math.isnan(counted)
