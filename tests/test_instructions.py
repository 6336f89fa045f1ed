"""Instruction counts (cebench.measure.instructions; their comparison: test_deterministic.py).

The measuring tests run real valgrind (marked slow: each valgrind process pays about a
minute of Python and torch start-up). Where valgrind is missing they skip, unless
``CEBENCH_REQUIRE_VALGRIND=1`` (set by .ci/run, which installs it) makes that a failure.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from cebench.cli import main
from cebench.grid import cases
from cebench.measure import instructions

# --- the grid, parsing, the command's bad input ------------------------------------------


def test_instruction_grid_is_cpu_sized_and_covers_every_layout():
    grid = list(cases.iter_grid("instructions"))
    runnable = [c for c in grid if c.skip_reason("cpu") is None]
    assert {c.layout for c in runnable} == set(cases.LAYOUTS)
    assert {c.weighting for c in runnable} == {"none", "random"}
    assert len(runnable) == len(grid) - 6  # channels_last needs 4-D: not for "small"


ANNOTATE_SAMPLE = """\
--------------------------------------------------------------------------------
Ir         file:function
--------------------------------------------------------------------------------
5,880,035  ./csu/../csu/libc-start.c:__libc_start_main@@GLIBC_2.34 [/usr/lib/x86_64-linux-gnu/libc.so.6]
1,234,567  ???:at::native::(anonymous namespace)::nll_loss_out_frame<float, long>(at::Tensor const&) [/env/a/libtorch_cpu.so]
      300  ???:at::native::(anonymous namespace)::nll_loss_out_frame<float, long>(at::Tensor const&) [/env/a/libtorch_cpu.so.2]
"""


def test_annotate_parsing_drops_paths_so_environments_line_up():
    """Lines as valgrind 3.19's callgrind_annotate prints them (--show-percs=no)."""
    counts = instructions.parse_annotate(ANNOTATE_SAMPLE)
    name = "at::native::(anonymous namespace)::nll_loss_out_frame<float, long>(at::Tensor const&)"
    assert counts[name] == 1_234_867
    assert "__libc_start_main@@GLIBC_2.34" not in counts  # the C start-up: left out
    everything = instructions.parse_annotate(ANNOTATE_SAMPLE, include_interpreter=True)
    assert everything["__libc_start_main@@GLIBC_2.34"] == 5_880_035


def test_missing_valgrind_is_exit_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert main(["instructions", "small.contiguous.float32.mean.w-none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valgrind is not installed" in err[0]


def test_bad_input_is_exit_2(capsys, tmp_path):
    assert main(["instructions", "no-such-case"]) == 2
    assert "unknown case" in capsys.readouterr().err
    assert main(["instructions", "--explain", "small.contiguous.float32.mean.w-none"]) == 2
    assert "--baseline" in capsys.readouterr().err
    bogus = tmp_path / "dump"
    bogus.write_text("not a dump\n")
    with pytest.raises(instructions.InputError):
        instructions.dump_calls(bogus)


# --- real valgrind -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def valgrind():
    reason = instructions.unavailable_reason()
    if reason:
        if os.environ.get("CEBENCH_REQUIRE_VALGRIND") == "1":
            pytest.fail(f"CEBENCH_REQUIRE_VALGRIND=1 but {reason}")
        pytest.skip(reason)


SEG_MEAN = cases.Case("small-seg", reduction="mean")
SEG_MEAN_WEIGHTED = cases.Case("small-seg", reduction="mean", weighting="random")


@pytest.fixture(scope="module")
def two_runs(valgrind, tmp_path_factory):
    """The K-dim 'mean' case, unweighted and weighted, forward, in two valgrind processes."""
    runs = []
    for i in range(2):
        counts, skipped = instructions.measure(
            [SEG_MEAN, SEG_MEAN_WEIGHTED], ["forward"],
            keep_dumps_in=tmp_path_factory.mktemp(f"dumps{i}"))
        assert skipped == {}
        runs.append({c.case: c for c in counts})
    return runs


@pytest.mark.slow
def test_counts_repeat_within_a_tenth_of_a_percent(two_runs):
    first, second = two_runs
    assert set(first) == set(second) == {SEG_MEAN.name, SEG_MEAN_WEIGHTED.name}
    for name in first:
        a, b = first[name].instructions_per_call, second[name].instructions_per_call
        assert a > 100_000
        assert abs(b / a - 1) < 0.001, (name, a, b)
    record = first[SEG_MEAN.name].as_record()
    assert {"case", "pass", "instructions_per_call", "calls", "torch_version",
            "cpu_capability"} <= set(record)
    assert record["cpu_capability"] in {"DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX"}


@pytest.mark.slow
def test_weighted_k_dim_mean_costs_more_instructions(two_runs):
    for run in two_runs:
        assert (run[SEG_MEAN_WEIGHTED.name].instructions_per_call
                > run[SEG_MEAN.name].instructions_per_call)


@pytest.mark.slow
def test_explain_names_the_aten_functions_weight_adds_to(two_runs):
    """Unweighted dump as the baseline, weighted as the candidate: the functions that
    changed most include ATen's NLL loss, and the per-function changes add up."""
    run = two_runs[0]
    base, cand = Path(run[SEG_MEAN.name].dump), Path(run[SEG_MEAN_WEIGHTED.name].dump)
    changes = instructions.explain(base, cand, top=15)
    assert changes and any("nll_loss" in c.function for c in changes), changes
    assert abs(changes[0].change_per_call) >= abs(changes[-1].change_per_call)
    # the same dump against itself: nothing changed
    assert instructions.explain(base, base) == []


def test_latest_runs_keeps_each_benchmarks_newest_run():
    """A later run of only the Instructions benchmarks (the committed results) must not
    hide the earlier run's timings of the same torch version."""
    from cebench.results import load

    df = load.load(Path(__file__).parents[1] / "results")
    latest = load.latest_runs(df)
    for version in ("2.13.0", "2.14.1"):
        part = latest[latest["torch_version"] == version]
        assert part.groupby("benchmark")["commit"].nunique().max() == 1
        assert (part["unit"] == "instructions").any() and (part["kind"] == "time").any()

