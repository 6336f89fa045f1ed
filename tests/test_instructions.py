"""Instruction counts (cebench.measure.instructions; their comparison: test_deterministic.py).

The measuring tests run real valgrind (marked slow: each valgrind process pays about a
minute of Python and torch start-up). Where valgrind is missing they skip, unless
``CEBENCH_REQUIRE_VALGRIND=1`` (set by .ci/run, which installs it) makes that a failure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cebench.cli import main
from cebench.errors import InputError
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
    assert record["candidate"]["torch_version"] == torch.__version__
    base_total = instructions.total_instructions(base_dump) / instructions.dump_calls(base_dump)
    assert record["baseline"]["instructions_per_call"] == pytest.approx(base_total)
    cand = record["candidate"]["instructions_per_call"]
    assert f"{base_total:,.0f} -> {cand:,.0f} instructions per call" in printed
    # a new process measuring this case alone: within 1 % of the two-case process's count
    weighted = two_runs[0][SEG_MEAN_WEIGHTED.name].instructions_per_call
    assert cand == pytest.approx(weighted, rel=1e-2)
    assert len(record["functions"]) == 5
    for f in record["functions"]:
        assert f"{f['candidate_per_call'] - f['baseline_per_call']:>+14,.0f}" in printed
        assert f["function"] in printed


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


# --- measuring and explaining, with stand-ins for valgrind's two programs ---------------
# The child really runs (torch, the cases, the warm and counted calls: torch's valgrind
# toggles do nothing outside valgrind); the stand-ins check their command line and write
# or read dumps whose counts are known, so the plumbing around them is checked exactly.

FAKE_VALGRIND = '''
import json, os, pathlib, sys
args = sys.argv[1:]
options = [a for a in args if a.startswith("--")]
out = options.pop().split("=", 1)
if options != ["--tool=callgrind", "--collect-atstart=no", "--dump-instr=no"] or \\
        out[0] != "--callgrind-out-file" or args[-3:-1] != ["-c", CHILD]:
    sys.exit(f"unexpected command {args}")
if args[-4] != os.environ.get("FAKE_EXPECT_PYTHON", sys.executable):
    sys.exit(f"unexpected python {args[-4]}")
if os.environ.get("CEBENCH_DEVICE") != "cpu" or os.environ.get("OMP_NUM_THREADS") != "1":
    sys.exit("not the child environment")
if "/cebench-callgrind-" not in out[1]:
    sys.exit(f"scratch folder not named: {out[1]}")
mode = os.environ.get("FAKE_VALGRIND", "")
if mode == "fail":
    print("line one"); print("the last line", file=sys.stderr); sys.exit(7)
if mode == "fail-long":
    print("\\n".join(f"line {i}" for i in range(1, 21))); sys.exit(1)
spec = json.loads(pathlib.Path(args[-1]).read_text())
if sorted(spec) != ["calls", "items", "report", "warmup_calls"] or \\
        any(sorted(i) != ["case", "name", "pass"] for i in spec["items"]) or \\
        spec["warmup_calls"] != int(os.environ.get("FAKE_EXPECT_WARMUP", "1")):
    sys.exit(f"unexpected spec {spec}")
# the child's report: items whose layout is channels_last are skipped, as on "small"
items = [dict(i, status="skipped", reason="needs 4-D") if "channels_last" in i["name"]
         else dict(i, status="measured") for i in spec["items"]]
if mode != "no-report":
    pathlib.Path(spec["report"]).write_text(json.dumps(
        {"torch_version": "9.9.9", "cpu_capability": "FAKE", "items": items}))
measured = [i for i in items if i["status"] == "measured"]
for n, item in enumerate(measured[:-1] if mode == "lose-one" else measured, 1):
    total = 1000 * n * spec["calls"]  # dump n: 1000 n instructions per call
    pathlib.Path(f"{out[1]}.{n}").write_text(
        f"version: 1\\ncreator: fake\\ndesc: I1 cache:\\nevents: Ir\\nfn=f\\n0 {total}\\n"
        f"summary: {total}\\n")
'''.replace("CHILD", repr("from cebench.measure.instructions import _child_main; _child_main()"))

FAKE_ANNOTATE = '''
import pathlib, sys
*options, dump = sys.argv[1:]
if options[1:] != ["--threshold=100", "--show-percs=no", "--auto=no"] or \\
        options[0] not in ("--inclusive=yes", "--inclusive=no"):
    sys.exit(f"unexpected options {options}")
print("-" * 20)
print("Ir  file:function")
print("-" * 20)
for line in pathlib.Path(dump).read_text().splitlines():
    if line.startswith("fake "):  # fake COUNT_INCLUSIVE COUNT_SELF LOCATION
        _, inclusive, own, location = line.split(" ", 3)
        print(f"{inclusive if options[0] == '--inclusive=yes' else own}  {location}")
'''


@pytest.fixture
def fake_valgrind(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, source in (("valgrind", FAKE_VALGRIND), ("callgrind_annotate", FAKE_ANNOTATE)):
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{source}")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


SMALL = [cases.lookup("small.contiguous.float32.mean.w-none"),
         cases.lookup("small.channels_last.float32.mean.w-none"),  # 2-D input: skipped
         cases.lookup("small.contiguous.float32.sum.w-random")]


def test_measure_divides_each_dump_by_the_calls_in_the_order_asked(fake_valgrind, tmp_path):
    counts, skipped = instructions.measure(SMALL, ["forward", "forward_backward"], calls=2,
                                           keep_dumps_in=tmp_path / "kept")
    measured = [SMALL[0].name, SMALL[0].name, SMALL[2].name, SMALL[2].name]
    assert [(c.case, c.pass_) for c in counts] == list(zip(
        measured, ["forward", "forward_backward"] * 2))
    assert [c.instructions_per_call for c in counts] == [1000.0, 2000.0, 3000.0, 4000.0]
    assert {c.calls for c in counts} == {2}
    assert {(c.torch_version, c.cpu_capability) for c in counts} == {("9.9.9", "FAKE")}
    assert skipped == {SMALL[1].name: "needs 4-D"}
    kept = Path(counts[1].dump)
    assert kept == tmp_path / "kept" / f"{SMALL[0].name}.forward_backward.callgrind"
    assert instructions.dump_calls(kept) == 2
    assert instructions.total_instructions(kept) == 4000
    assert kept.read_text().splitlines()[2:4] == ["desc: cebench calls: 2", "desc: I1 cache:"]
    without = instructions.measure(SMALL[:1], ["forward"])[0][0]
    assert without.dump is None and "dump" not in without.as_record()
    assert without.calls == instructions.DEFAULT_CALLS


def test_more_than_nine_dumps_are_taken_in_numeric_order(fake_valgrind, monkeypatch):
    grid = [c for c in cases.iter_grid("instructions") if c.skip_reason("cpu") is None][:10]
    monkeypatch.setenv("FAKE_EXPECT_WARMUP", "0")
    counts, _ = instructions.measure(grid, ["forward"], calls=1, warmup_calls=0)
    assert [c.instructions_per_call for c in counts] == [1000.0 * n for n in range(1, 11)]
    assert [c.case for c in counts] == [c.name for c in grid]


def test_a_failing_or_short_valgrind_run_is_an_error_with_its_output(fake_valgrind,
                                                                      monkeypatch):
    monkeypatch.setenv("FAKE_VALGRIND", "fail")
    with pytest.raises(instructions.ValgrindFailed,
                       match="^valgrind exited 7:\nline one\nthe last line$"):
        instructions.measure(SMALL[:1], ["forward"])
    monkeypatch.setenv("FAKE_VALGRIND", "fail-long")  # the last 15 lines of its output
    with pytest.raises(instructions.ValgrindFailed) as failed:
        instructions.measure(SMALL[:1], ["forward"])
    assert str(failed.value).splitlines() == ["valgrind exited 1:"] + [
        f"line {i}" for i in range(6, 21)]
    monkeypatch.setenv("FAKE_VALGRIND", "lose-one")
    with pytest.raises(instructions.ValgrindFailed,
                       match="^1 callgrind dumps for 2 measured cases$"):
        instructions.measure(SMALL[:1])
    monkeypatch.setenv("FAKE_VALGRIND", "no-report")
    with pytest.raises(instructions.ValgrindFailed, match="^valgrind exited 0:\n$"):
        instructions.measure(SMALL[:1])
    with pytest.raises(instructions.ValgrindFailed, match="^valgrind ran past 0 s$"):
        instructions.measure(SMALL[:1], ["forward"], timeout_s=0.001)


def test_measure_refuses_bad_arguments_before_starting_valgrind(fake_valgrind):
    with pytest.raises(InputError, match="^calls must be >= 1, not 0$"):
        instructions.measure(SMALL, calls=0)
    with pytest.raises(InputError, match="^unknown pass 'backward'; expected one of "
                       "forward, forward_backward$"):
        instructions.measure(SMALL, ["forward", "backward"])
    with pytest.raises(InputError, match="^no cases to measure$"):
        instructions.measure([], ["forward"])
    assert instructions.measure(SMALL[:1], ["forward"], calls=1)[0][0].calls == 1


def test_measure_runs_the_python_it_is_given(fake_valgrind, monkeypatch):
    monkeypatch.setenv("FAKE_EXPECT_PYTHON", "/envs/other/bin/python")
    counts, _ = instructions.measure(SMALL[:1], ["forward"], python="/envs/other/bin/python")
    assert [c.instructions_per_call for c in counts] == [1000.0]
    with pytest.raises(instructions.ValgrindFailed, match="unexpected python"):
        instructions.measure(SMALL[:1], ["forward"])


def test_the_child_runs_on_one_cpu_thread_with_this_cebench_first(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"/elsewhere{os.pathsep}")
    monkeypatch.setenv("CEBENCH_INJECT_SLOWDOWN", "2")
    for name, value in (("CUDA_VISIBLE_DEVICES", "0"), ("OMP_NUM_THREADS", "4"),
                        ("MKL_NUM_THREADS", "4"), ("CEBENCH_CPU_THREADS", "4")):
        monkeypatch.setenv(name, value)
    env = instructions._child_environment()
    assert {k: env[k] for k in ("CUDA_VISIBLE_DEVICES", "CEBENCH_DEVICE", "CEBENCH_CPU_THREADS",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS")} == {
        "CUDA_VISIBLE_DEVICES": "", "CEBENCH_DEVICE": "cpu", "CEBENCH_CPU_THREADS": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    assert "CEBENCH_INJECT_SLOWDOWN" not in env
    source_root = Path(instructions.__file__).resolve().parents[1].parent
    assert env["PYTHONPATH"] == f"{source_root}{os.pathsep}/elsewhere"
    assert (source_root / "cebench" / "measure" / "instructions.py").exists()
    monkeypatch.delenv("PYTHONPATH")
    assert instructions._child_environment()["PYTHONPATH"] == str(source_root)


def _dump(path: Path, calls: int, *functions: str) -> Path:
    path.write_text(f"version: 1\ndesc: x\n{instructions.CALLS_HEADER}{calls}\n"
                    + "".join(f"fake {f}\n" for f in functions) + "summary: 1\n")
    return path


def test_explain_ranks_per_call_changes_of_inclusive_counts(fake_valgrind, tmp_path):
    torch_fn = "???:at::native::nll_loss_out_frame(at::Tensor const&) [/env/libtorch_cpu.so]"
    base = _dump(tmp_path / "base", 2, f"2,000 10 {torch_fn}", "600 600 ???:gone [/x.so]",
                 "500 5 ???:same [/x.so]", "9,000 9 Python/ceval.c:_PyEval_Eval [/bin/python3]")
    cand = _dump(tmp_path / "cand", 4, f"6,000 20 {torch_fn}", "1,000 5 ???:same [/y.so]",
                 "400 400 ???:new [/x.so]", "90 90 ???:small [/x.so]")
    changes = instructions.explain(base, cand)
    assert [(c.function, c.baseline_per_call, c.candidate_per_call) for c in changes] == [
        ("at::native::nll_loss_out_frame(at::Tensor const&)", 1000.0, 1500.0),
        ("gone", 300.0, 0.0), ("new", 0.0, 100.0), ("small", 0.0, 22.5)]
    assert [c.change_per_call for c in changes] == [500.0, -300.0, 100.0, 22.5]
    assert [c.function for c in instructions.explain(base, cand, top=2)] == [
        changes[0].function, "gone"]
    assert instructions.function_counts(base) == {
        "at::native::nll_loss_out_frame(at::Tensor const&)": 2000, "gone": 600, "same": 500}
    assert instructions.function_counts(base, inclusive=False, include_interpreter=True) == {
        "at::native::nll_loss_out_frame(at::Tensor const&)": 10, "gone": 600, "same": 5,
        "_PyEval_Eval": 9}


def test_explain_without_callgrind_annotate_or_with_it_failing(fake_valgrind, tmp_path,
                                                               monkeypatch):
    (fake_valgrind / "callgrind_annotate").write_text("#!/bin/sh\necho 'no such dump' >&2\n"
                                                      "exit 1\n")
    dump = _dump(tmp_path / "d", 1)
    with pytest.raises(instructions.ValgrindFailed,
                       match=f"^callgrind_annotate {dump}: no such dump$"):
        instructions.function_counts(dump)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    with pytest.raises(instructions.ValgrindUnavailable,
                       match="^callgrind_annotate is not installed"):
        instructions.function_counts(dump)
    with pytest.raises(instructions.ValgrindUnavailable, match="^valgrind is not installed"):
        instructions.require_valgrind()


def test_the_child_measures_each_item_and_reports_the_skipped_ones(tmp_path, monkeypatch):
    """_child_main in this process (outside valgrind its toggles do nothing): the warm and
    counted calls, in order, and a report of what it measured and skipped."""
    import cebench.grid.inputs as inputs_module

    made = []
    real_loss_call = inputs_module.loss_call

    def counting_loss_call(prepared, pass_):
        call = real_loss_call(prepared, pass_)

        def counted():
            made.append(pass_)
            return call()
        return counted

    monkeypatch.setattr(inputs_module, "loss_call", counting_loss_call)
    items = [{"case": c.as_dict(), "name": c.name, "pass": p}
             for c in SMALL[:2] for p in ("forward", "forward_backward")]
    spec = tmp_path / "spec.json"
    report = tmp_path / "report.json"
    spec.write_text(json.dumps({"items": items, "calls": 3, "warmup_calls": 2,
                                "report": str(report)}))
    monkeypatch.setattr(sys, "argv", ["-c", str(spec)])
    threads = torch.get_num_threads()
    try:
        instructions._child_main()
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    done = json.loads(report.read_text())
    assert done["torch_version"] == torch.__version__
    assert done["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert [i["status"] for i in done["items"]] == ["measured", "measured", "skipped", "skipped"]
    assert [i["pass"] for i in done["items"]] == ["forward", "forward_backward"] * 2
    assert "4-D" in done["items"][2]["reason"] and "reason" not in done["items"][0]
    assert done["items"][0]["case"] == SMALL[0].as_dict()
    # preparing the case runs each pass once; then 2 warm and 3 counted calls per item
    assert made == ["forward", "forward_backward"] + ["forward"] * 5 + ["forward_backward"] * 5


def test_a_record_names_the_pass_and_keeps_a_dump_only_when_there_is_one():
    count = instructions.InstructionCount("c", "forward", 12.5, 3, "2.13.0", "AVX2")
    assert count.as_record() == {"case": "c", "pass": "forward", "instructions_per_call": 12.5,
                                 "calls": 3, "torch_version": "2.13.0",
                                 "cpu_capability": "AVX2"}
    kept = dataclasses.replace(count, dump="/d/c.forward.callgrind").as_record()
    assert kept["dump"] == "/d/c.forward.callgrind" and kept["pass"] == "forward"


def test_why_instructions_cannot_be_counted(monkeypatch):
    monkeypatch.setattr(instructions.shutil, "which", lambda name: None)
    assert instructions.unavailable_reason() == (
        "valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    monkeypatch.setattr(instructions.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(torch._C, "_valgrind_supported_platform", lambda: False)
    assert instructions.unavailable_reason() == (
        "this torch build has no valgrind support on this platform")
    with pytest.raises(instructions.ValgrindUnavailable, match="^this torch build has no"):
        instructions.require_valgrind()
    monkeypatch.setattr(torch._C, "_valgrind_supported_platform", lambda: True)
    assert instructions.unavailable_reason() is None
    instructions.require_valgrind()


def test_dumps_with_odd_bytes_without_desc_or_summary_lines(tmp_path):
    raw = tmp_path / "raw"
    raw.write_bytes(b"version: 1\nfn=at::\xff\xfenot utf-8\n0 7\ntotals: 70\n")
    assert instructions.total_instructions(raw) == 70
    saved = instructions.save_dump(raw, tmp_path / "a" / "b" / "saved", 5)  # no desc: line
    assert saved.read_text(encoding="utf-8").splitlines()[:3] == [
        "version: 1", "desc: cebench calls: 5", "fn=at::\ufffd\ufffdnot utf-8"]
    assert instructions.dump_calls(saved) == 5
    raw.write_bytes(b"version: 1\ndesc: \xff\xfe\ndesc: cebench calls: 6\nfn=f\n")
    assert instructions.dump_calls(raw) == 6
    empty = tmp_path / "empty"
    empty.write_text("version: 1\nfn=f\n0 7\n")
    with pytest.raises(instructions.ValgrindFailed,
                       match=f"^{empty}: no summary line \\(not a callgrind dump\\?\\)$"):
        instructions.total_instructions(empty)


@pytest.mark.parametrize("first", ["fn=f", "summary: 7", "totals: 7"])
def test_the_calls_header_is_looked_for_in_the_header_only(tmp_path, first):
    dump = tmp_path / "dump"
    dump.write_text(f"version: 1\n{first}\n{instructions.CALLS_HEADER}3\n")
    with pytest.raises(InputError, match=f"^{dump}: not a dump saved by cebench "
                       "\\(no 'desc: cebench calls:' line\\)$"):
        instructions.dump_calls(dump)


ANNOTATE_WITH_SUMMARY = """\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
9,999  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir     file:function
--------------------------------------------------------------------------------
1,000  no_location_at_all
  500  ???:torch_function [/env/libtorch_cpu.so]

  200  Objects/call.c:_PyObject_Call [/env/libfoo.so]
  100  ???:(below main) [/lib/libc.so.6]
   50  ???:lookup [/usr/bin/python3.11]
   20  src/kernel.cpp:kernel
"""


def test_annotate_parsing_of_the_function_table_only():
    assert instructions.parse_annotate(ANNOTATE_WITH_SUMMARY) == {
        "no_location_at_all": 1000, "torch_function": 500, "kernel": 20}
    assert instructions.parse_annotate(ANNOTATE_WITH_SUMMARY, include_interpreter=True) == {
        "no_location_at_all": 1000, "torch_function": 500, "_PyObject_Call": 200,
        "(below main)": 100, "lookup": 50, "kernel": 20}


def test_explain_lists_twenty_functions_by_default_and_long_errors_are_cut(fake_valgrind,
                                                                           tmp_path):
    base = _dump(tmp_path / "base", 1)
    cand = _dump(tmp_path / "cand", 1, *(f"{100 + i} 1 ???:f{i} [/x.so]" for i in range(25)))
    changes = instructions.explain(base, cand)
    assert [c.function for c in changes] == [f"f{i}" for i in range(24, 4, -1)]
    (fake_valgrind / "callgrind_annotate").write_text(
        f"#!/bin/sh\nprintf '%0400d' 0 >&2\nexit 1\n")
    with pytest.raises(instructions.ValgrindFailed) as failed:
        instructions.function_counts(base)
    assert str(failed.value) == f"callgrind_annotate {base}: {'0' * 300}"


def test_dumps_are_read_and_written_as_utf8_whatever_the_locale(tmp_path):
    """C++ names in a dump may hold any bytes: they are read as UTF-8 (a bad byte becomes
    U+FFFD) and saved as UTF-8, also under an ASCII locale (LC_ALL=C, no UTF-8 mode)."""
    dump = tmp_path / "dump"
    dump.write_bytes("version: 1\ndesc: \xe9t\xe9\nfn=caf\xe9\n0 1\nsummary: 9\n".encode()
                     .replace(b"\xc3\xa9t", b"\xff\xfet", 1))
    script = ("import sys; from pathlib import Path; from cebench.measure import instructions as i;"
              "d = Path(sys.argv[1]); s = i.save_dump(d, d.parent / 'saved', 4);"
              "print(i.total_instructions(d), i.dump_calls(s), i.total_instructions(s))")
    source_root = Path(instructions.__file__).resolve().parents[2]
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               PYTHONPATH=str(source_root))
    # here (so that mutation testing counts this test for these functions) and under C
    assert instructions.total_instructions(dump) == 9
    assert instructions.dump_calls(instructions.save_dump(dump, tmp_path / "here", 4)) == 4
    proc = subprocess.run([sys.executable, "-c", script, str(dump)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "9 4 9\n", "")
    assert (tmp_path / "saved").read_bytes() == (
        "version: 1\ndesc: cebench calls: 4\ndesc: \ufffd\ufffdt\xe9\nfn=caf\xe9\n0 1\n"
        "summary: 9\n").encode()
