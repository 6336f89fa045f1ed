"""Instruction counts (cebench.measure.instructions, cebench.results.deterministic).

The measuring tests run real valgrind (marked slow: each valgrind process pays about a
minute of Python and torch start-up). Where valgrind is missing they skip, unless
``CEBENCH_REQUIRE_VALGRIND=1`` (set by .ci/run, which installs it) makes that a failure.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest

from cebench.cli import main
from cebench.grid import cases
from cebench.measure import instructions
from cebench.results import deterministic

DATA = Path(__file__).parent / "data" / "instructions"

# --- the deterministic comparison ---------------------------------------------------------


def _counts(path: Path) -> dict[str, float]:
    return {f"{r['case']}.{r['pass']}": r["instructions_per_call"]
            for r in json.loads(path.read_text())}


def test_two_percent_more_instructions_on_a_few_cases_is_flagged_and_nothing_else():
    """A synthetic +2 % on three cases of a real run, +0.02 % on every other case."""
    baseline = _counts(DATA / "run1.json")
    bumped = sorted(baseline)[:: len(baseline) // 3][:3]
    candidate = {k: v * (1.02 if k in bumped else 1.0002) for k, v in baseline.items()}
    changes = deterministic.compare_counts(baseline, candidate)
    flagged = {c.benchmark for c in changes if c.verdict != "unchanged"}
    assert flagged == set(bumped)
    assert all(c.verdict == "regression" and c.relative_change == pytest.approx(0.02)
               for c in changes if c.benchmark in bumped)


def test_two_full_runs_of_one_environment_agree():
    """A/A: the committed pair of full CPU-grid runs (two valgrind processes) flags nothing,
    and their spread is reported as the count noise."""
    first, second = _counts(DATA / "run1.json"), _counts(DATA / "run2.json")
    assert set(first) == set(second) and len(first) >= 40
    changes = deterministic.compare_counts(first, second)
    assert [c.benchmark for c in changes if c.verdict != "unchanged"] == []
    assert max(abs(c.relative_change) for c in changes) < 0.001
    repeated = deterministic.compare_counts(
        {k: [first[k], second[k]] for k in first}, {k: second[k] * 0.98 for k in first})
    assert all(c.verdict == "improvement" for c in repeated)
    assert all(0 <= c.noise < 0.001 for c in repeated)


def test_verdicts_threshold_noise_and_missing():
    changes = {c.benchmark: c for c in deterministic.compare_counts(
        {"up": 100.0, "down": 100.0, "flat": [100.0, 100.5], "gone": 100.0, "zero": 0.0},
        {"up": 101.0, "down": 98.0, "flat": 100.2, "new": 5.0, "zero": 1.0})}
    assert changes["up"].verdict == "regression"  # exactly at the threshold
    assert changes["down"].verdict == "improvement"
    assert changes["flat"].verdict == "unchanged"
    assert changes["flat"].noise == pytest.approx(0.5 / 100.25)
    assert math.isnan(changes["up"].noise)
    assert {changes[k].verdict for k in ("gone", "new", "zero")} == {"missing"}
    loose = deterministic.compare_counts({"up": 100.0}, {"up": 101.0}, threshold=0.05)
    assert loose[0].verdict == "unchanged"
    with pytest.raises(ValueError):
        deterministic.compare_counts({}, {}, threshold=0)
    assert deterministic.is_deterministic("instructions")
    assert not deterministic.is_deterministic("seconds")


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


@pytest.mark.slow
def test_explain_json_records_the_totals_and_the_functions(two_runs, tmp_path, capsys):
    """`--explain --json`: one JSON line whose totals and per-function counts are those the
    command printed; a saved dump as the baseline has no torch version."""
    base_dump = Path(two_runs[0][SEG_MEAN.name].dump)
    out = tmp_path / "explanations" / "seg.jsonl"
    assert main(["instructions", "--explain", SEG_MEAN_WEIGHTED.name, "--pass", "forward",
                 "--baseline", str(base_dump), "--top", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert record["case"] == SEG_MEAN_WEIGHTED.name and record["pass"] == "forward"
    assert record["baseline"]["torch_version"] is None
    import torch
    assert record["candidate"]["torch_version"] == torch.__version__
    base_total = instructions.total_instructions(base_dump) / instructions.dump_calls(base_dump)
    assert record["baseline"]["instructions_per_call"] == pytest.approx(base_total)
    weighted = two_runs[0][SEG_MEAN_WEIGHTED.name].instructions_per_call
    assert record["candidate"]["instructions_per_call"] == pytest.approx(weighted, rel=1e-3)
    assert len(record["functions"]) == 5
    for f in record["functions"]:
        assert f"{f['candidate_per_call'] - f['baseline_per_call']:>+14,.0f}" in printed
        assert f["function"] in printed


def test_counts_by_benchmark_keeps_only_deterministic_rows():
    import pandas as pd

    frame = pd.DataFrame({
        "short_name": ["Instructions.track_instructions_forward"] * 3 + ["Core.time_forward"],
        "params": ["small, contiguous, mean, none"] * 2 + ["small, noncontig, mean, none", "x"],
        "unit": ["instructions"] * 3 + ["seconds"],
        "status": ["ok", "ok", "skipped", "ok"],
        "value": [100.0, 100.01, float("nan"), 1e-3],
    })
    assert deterministic.counts_by_benchmark(frame) == {
        "Instructions.track_instructions_forward(small, contiguous, mean, none)": [100.0, 100.01]}


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
