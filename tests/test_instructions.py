"""Instruction counts (cebench.measure.instructions; their comparison: test_deterministic.py).

The measuring tests run real valgrind (marked slow: each valgrind process pays about a
minute of Python and torch start-up). Where valgrind is missing they skip, unless
``CEBENCH_REQUIRE_VALGRIND=1`` (set by .ci/run, which installs it) makes that a failure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
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


#: A callgrind dump as valgrind writes it (compressed names, a call, a recursive call, an
#: inlined file, a relative position, a name defined on a cfn= line first).
CALLGRIND_SAMPLE = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
positions: line
events: Ir
summary: 850

ob=(1) /env/lib/libtorch_cpu.so
fl=(1) ???
fn=(1) at::native::kernel(float*)
0 300
cfn=(2) Sleef_expf8_u10avx2
calls=10 0
0 400
fi=(2) inlined.h
+3 50
fe=(1)
cob=(2) /env/lib/libsleef.so
cfn=(3) helper [clone .isra.0]
calls=2 0
* 100

ob=(2)
fn=(2)
0 400

fn=(3)
0 60
cfn=(3)
calls=1 0
0 40
0 40
cfn=(4) never_defined_by_fn
calls=5 0
0 0
totals: 850
"""


def test_callgrind_dumps_give_self_counts_and_calls_per_function(tmp_path):
    dump = tmp_path / "callgrind.out"
    dump.write_text(CALLGRIND_SAMPLE)
    costs = instructions.function_costs(dump)
    assert costs == {
        "at::native::kernel(float*)": instructions.FunctionCost(350, 0),
        "Sleef_expf8_u10avx2": instructions.FunctionCost(400, 10),
        "helper [clone .isra.0]": instructions.FunctionCost(100, 3),
        "never_defined_by_fn": instructions.FunctionCost(0, 5)}
    assert sum(c.self_instructions for c in costs.values()) == instructions.total_instructions(
        dump) == 850  # self counts add up to the total


def test_missing_valgrind_is_exit_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert main(["instructions", "small.contiguous.float32.mean.w-none"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "valgrind is not installed" in err[0]


def test_calls_through_a_one_instruction_trampoline_are_its_entries(tmp_path):
    """As valgrind 3.19 records SLEEF's dispatch (torch 2.9.1, 3 loss calls): callers call
    the trampoline 786,432 times, it executes 393,216 instructions (one jump per entry) and
    calls the AVX2 kernel 786,431 times: each entry is recorded twice. Calls are taken
    from the trampoline's instructions: 131,072 entries per loss call, 43 instructions."""
    dump = tmp_path / "d"
    dump.write_text("events: Ir\nfn=(1) kernel\n0 100\ncfn=(2) Sleef_expf8_u10\n"
                    "calls=401408 0\n0 9\ncfn=(2)\ncalls=385024 0\n0 9\n"
                    "fn=(2)\n0 393216\ncfn=(3) Sleef_expf8_u10avx2\ncalls=786431 0\n0 9\n"
                    "fn=(3)\n0 16908288\nfn=(4) helper\n0 6\ncfn=(1)\ncalls=3 0\n0 9\n"
                    "summary: 17301610\n")
    costs = instructions.function_costs(dump)
    assert costs["Sleef_expf8_u10"] == instructions.FunctionCost(393_216, 393_216)
    assert costs["Sleef_expf8_u10avx2"] == instructions.FunctionCost(16_908_288, 393_216)
    assert 16_908_288 / 393_216 == 43.0
    assert costs["kernel"] == instructions.FunctionCost(100, 3)  # an ordinary call: as recorded


def test_bad_input_is_exit_2(capsys, tmp_path):
    assert main(["instructions", "no-such-case"]) == 2
    assert "unknown case" in capsys.readouterr().err
    assert main(["instructions", "--explain", "small.contiguous.float32.mean.w-none"]) == 2
    assert "--baseline" in capsys.readouterr().err
    bogus = tmp_path / "dump"
    bogus.write_text("not a dump\n")
    with pytest.raises(instructions.InputError):
        instructions.dump_calls(bogus)


@pytest.fixture
def valgrind_must_not_run(tmp_path, monkeypatch):
    """A valgrind that fails the test if started: bad input is refused before it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "valgrind").write_text("#!/bin/sh\necho 'valgrind was started' >&2\nexit 99\n")
    (bin_dir / "valgrind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


BIG = "llm-128k.contiguous.float32.mean.w-none"  # 2 GiB of logits: GPU only


@pytest.mark.parametrize("arguments, message", [
    (["--python", "MISSING", "small.contiguous.float32.mean.w-none"],
     "--python MISSING: cannot run it"),
    (["--explain", "small.contiguous.float32.mean.w-none", "--baseline", "{json}"],
     "--baseline {json}: cannot run it"),
    (["--explain", "small.contiguous.float32.mean.w-none", "--baseline", "{missing}"],
     "--baseline {missing}: no such file"),
    ([BIG], f"{BIG} does not run on the CPU: too big for the CPU grid"),
    (["--explain", BIG, "--baseline", "{json}"], f"{BIG} does not run on the CPU"),
    (["--calls", "0"], "--calls must be >= 1, not 0"),
    (["--explain", "small.contiguous.float32.mean.w-none", "--baseline", "{json}",
      "--top", "0"], "--top must be >= 1, not 0"),
    (["--json", "{json}/counts.json"], "--json {json}/counts.json: cannot write there"),
    (["--build", "small.contiguous.float32.mean.w-none"], "--build takes only --python"),
])
def test_every_argument_is_checked_before_valgrind_starts(valgrind_must_not_run, capsys,
                                                          arguments, message):
    """Exit 2 at once with one line: a missing Python, a baseline that is neither a Python
    nor a dump (a results file), a case too big for the CPU, a count below one, an output
    path that cannot be written."""
    paths = {"json": valgrind_must_not_run / "results.json",
             "missing": valgrind_must_not_run / "nothing-here"}
    paths["json"].write_text("{}")
    arguments = [a.format(**paths) for a in arguments]
    assert main(["instructions", *arguments]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(**paths) in err[0], err
    assert "valgrind was started" not in err[0]


def test_build_prints_the_environment_s_torch_build(tmp_path, capsys):
    """torch.__config__.show() read in the environment: version, compiler, the CPU
    capability torch picks natively here."""
    out = tmp_path / "builds" / "torch.jsonl"
    assert main(["instructions", "--build", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["torch_version"] == torch.__version__
    assert record["cpu_capability_native"] == torch.backends.cpu.get_cpu_capability()
    assert re.fullmatch(r"(GCC|clang|Clang|MSVC) [\d.]+", record["compiler"] or "GCC 0"), record
    assert f"compiler         {record['compiler']}" in printed


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
    changed most include ATen's NLL loss, and the per-function self changes add up to
    the whole change."""
    run = two_runs[0]
    base, cand = Path(run[SEG_MEAN.name].dump), Path(run[SEG_MEAN_WEIGHTED.name].dump)
    changes = instructions.explain(base, cand, top=10_000)
    assert changes and any("nll_loss" in c.function for c in changes[:15]), changes[:15]
    assert abs(changes[0].change_per_call) >= abs(changes[-1].change_per_call)
    whole = (run[SEG_MEAN_WEIGHTED.name].instructions_per_call
             - run[SEG_MEAN.name].instructions_per_call)
    assert sum(c.change_per_call for c in changes) == pytest.approx(whole, abs=1)
    # the same dump against itself: nothing changed
    assert instructions.explain(base, base) == []


@pytest.mark.slow
def test_explain_json_records_the_totals_and_the_functions(two_runs, tmp_path, capsys):
    """`--explain --json`: one JSON line whose totals and per-function counts are those the
    command printed; a saved dump as the baseline names its torch version. The candidate,
    counted alone in a new process, has the count the two-case process gave it: counts
    do not depend on the other cases a process measured."""
    base_dump = Path(two_runs[0][SEG_MEAN.name].dump)
    out = tmp_path / "explanations" / "seg.jsonl"
    assert main(["instructions", "--explain", SEG_MEAN_WEIGHTED.name, "--pass", "forward",
                 "--baseline", str(base_dump), "--top", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert record["case"] == SEG_MEAN_WEIGHTED.name and record["pass"] == "forward"
    assert record["ranking"] == "self"
    assert record["baseline"]["torch_version"] == torch.__version__  # from the dump's header
    assert record["candidate"]["torch_version"] == torch.__version__
    assert record["candidate"]["build"]["torch_version"] == torch.__version__
    base_total = instructions.total_instructions(base_dump) / instructions.dump_calls(base_dump)
    assert record["baseline"]["instructions_per_call"] == pytest.approx(base_total)
    cand = record["candidate"]["instructions_per_call"]
    assert f"{base_total:,.0f} -> {cand:,.0f} instructions per call" in printed
    weighted = two_runs[0][SEG_MEAN_WEIGHTED.name].instructions_per_call
    assert cand == pytest.approx(weighted, rel=1e-3)  # within 0.1 %: measured <= 0.042 %
    assert len(record["functions"]) == 5
    for f in record["functions"]:
        change = f["candidate_self_per_call"] - f["baseline_self_per_call"]
        assert f"{change:>+12,.0f}" in printed and f["function"] in printed


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


# --- measuring and explaining, with a stand-in for valgrind --------------------------------
# The stand-in checks its command line and plays valgrind and the child's protocol: a
# report (a header line, one line per item with the pid of the process that counted it)
# and one dump per measured item, ``callgrind.out.<pid>.1``, whose counts are known, so
# the plumbing around them is checked exactly. The child itself runs for real below.

FAKE_VALGRIND = '''
import json, os, pathlib, sys, time
args = sys.argv[1:]
options = [a for a in args if a.startswith("--")]
out = options.pop().split("=", 1)
if options != ["--tool=callgrind", "--collect-atstart=no", "--dump-instr=no"] or \\
        out[0] != "--callgrind-out-file" or not out[1].endswith(".%p") or \\
        args[-3:-1] != ["-c", CHILD]:
    sys.exit(f"unexpected command {args}")
base = out[1][:-len(".%p")]
if args[-4] != os.environ.get("FAKE_EXPECT_PYTHON", sys.executable):
    sys.exit(f"unexpected python {args[-4]}")
if os.environ.get("CEBENCH_DEVICE") != "cpu" or os.environ.get("OMP_NUM_THREADS") != "1" \\
        or os.environ.get("PYTHONHASHSEED") != "0":
    sys.exit("not the child environment")
if "/cebench-callgrind-" not in base:
    sys.exit(f"scratch folder not named: {base}")
mode = os.environ.get("FAKE_VALGRIND", "")
if mode == "fail":
    print("line one"); print("the last line", file=sys.stderr); sys.exit(7)
if mode == "fail-long":
    print("\\n".join(f"line {i}" for i in range(1, 21))); sys.exit(1)
if mode == "hang":
    time.sleep(60)
spec = json.loads(pathlib.Path(args[-1]).read_text())
if sorted(spec) != ["calls", "items", "report", "warmup_calls"] or \\
        any(sorted(i) != ["case", "name", "pass"] for i in spec["items"]) or \\
        spec["warmup_calls"] != int(os.environ.get("FAKE_EXPECT_WARMUP", "1")):
    sys.exit(f"unexpected spec {spec}")
report = open(spec["report"], "w")
report.write(json.dumps({"torch_version": "9.9.9", "cpu_capability": "FAKE"}) + "\\n")
if mode == "no-report":
    sys.exit(0)
n = 0
for pid, item in enumerate(spec["items"], 100):
    if "channels_last" in item["name"]:  # skipped, as on "small"
        line = dict(item, pid=pid, status="skipped", reason="needs 4-D")
    elif mode == "item-fails":
        line = dict(item, pid=pid, status="failed", reason="RuntimeError: boom")
    else:
        n += 1
        line = dict(item, pid=pid, status="measured")
        total = 1000 * n * spec["calls"]  # item n: 1000 n instructions per call
        if not (mode == "lose-one" and n == 1):
            pathlib.Path(f"{base}.{pid}.1").write_text(
                f"version: 1\\ncreator: fake\\ndesc: I1 cache:\\nevents: Ir\\nfn=f\\n0 {total}\\n"
                f"summary: {total}\\n")
    report.write(json.dumps(line) + "\\n")
    report.flush()
'''.replace("CHILD", repr("from cebench.measure.instructions import _child_main; _child_main()"))


@pytest.fixture
def fake_valgrind(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = bin_dir / "valgrind"
    path.write_text(f"#!{sys.executable}\n{FAKE_VALGRIND}")
    path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


SMALL = [cases.lookup("small.contiguous.float32.mean.w-none"),
         cases.lookup("small.channels_last.float32.mean.w-none"),  # 2-D input: skipped
         cases.lookup("small.contiguous.float32.sum.w-random")]


def test_measure_divides_each_dump_by_the_calls_in_the_order_asked(fake_valgrind, tmp_path):
    said = []
    counts, skipped = instructions.measure(SMALL, ["forward", "forward_backward"], calls=2,
                                           keep_dumps_in=tmp_path / "kept", progress=said.append)
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
    assert instructions.dump_torch_version(kept) == "9.9.9"
    assert instructions.total_instructions(kept) == 4000
    assert kept.read_text().splitlines()[2:5] == ["desc: cebench calls: 2",
                                                  "desc: cebench torch: 9.9.9", "desc: I1 cache:"]
    # progress: the start-up with its estimate, torch ready, then one line per item
    assert said[0].startswith("starting Python and torch under valgrind (6 counts to make; "
                              "start-up takes about ")
    assert said[1].startswith("torch 9.9.9 ready under valgrind after ")
    assert [line.split(";")[0] for line in said[2:]] == [
        f"[{k}/6] {c.name} {p} {'skipped' if c is SMALL[1] else 'counted'}"
        for k, (c, p) in enumerate(((c, p) for c in SMALL
                                    for p in ("forward", "forward_backward")), 1)]
    assert all(re.search(r"; about \d+ s left$", line) for line in said[2:])
    without = instructions.measure(SMALL[:1], ["forward"])[0][0]
    assert without.dump is None and "dump" not in without.as_record()
    assert without.calls == instructions.DEFAULT_CALLS


def test_many_items_each_take_their_own_dump(fake_valgrind, monkeypatch):
    grid = [c for c in cases.iter_grid("instructions") if c.skip_reason("cpu") is None][:12]
    monkeypatch.setenv("FAKE_EXPECT_WARMUP", "0")
    counts, _ = instructions.measure(grid, ["forward"], calls=1, warmup_calls=0)
    assert [c.instructions_per_call for c in counts] == [1000.0 * n for n in range(1, 13)]
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
                       match=f"^no callgrind dump for {SMALL[0].name} forward "
                       r"\(callgrind.out.100.1\)$"):
        instructions.measure(SMALL[:1])
    monkeypatch.setenv("FAKE_VALGRIND", "item-fails")
    with pytest.raises(instructions.ValgrindFailed,
                       match=f"^{SMALL[0].name} forward: RuntimeError: boom$"):
        instructions.measure(SMALL[:1])
    monkeypatch.setenv("FAKE_VALGRIND", "no-report")
    with pytest.raises(instructions.ValgrindFailed, match="^valgrind exited 0:\n$"):
        instructions.measure(SMALL[:1])
    monkeypatch.setenv("FAKE_VALGRIND", "hang")
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
                        ("MKL_NUM_THREADS", "4"), ("CEBENCH_CPU_THREADS", "4"),
                        ("PYTHONHASHSEED", "random")):
        monkeypatch.setenv(name, value)
    env = instructions._child_environment()
    assert {k: env[k] for k in ("CUDA_VISIBLE_DEVICES", "CEBENCH_DEVICE", "CEBENCH_CPU_THREADS",
                                "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONHASHSEED")} == {
        "CUDA_VISIBLE_DEVICES": "", "CEBENCH_DEVICE": "cpu", "CEBENCH_CPU_THREADS": "1",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    assert "CEBENCH_INJECT_SLOWDOWN" not in env
    source_root = Path(instructions.__file__).resolve().parents[1].parent
    assert env["PYTHONPATH"] == f"{source_root}{os.pathsep}/elsewhere"
    assert (source_root / "cebench" / "measure" / "instructions.py").exists()
    monkeypatch.delenv("PYTHONPATH")
    assert instructions._child_environment()["PYTHONPATH"] == str(source_root)


def test_an_item_is_prepared_warmed_and_counted(monkeypatch):
    """_measure_item in this process (outside valgrind the toggles do nothing): the case
    is prepared (each pass once), then the warm and the counted calls, in order."""
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
    inputs_module._PREPARED.clear()
    item = {"case": SMALL[0].as_dict(), "name": SMALL[0].name, "pass": "forward_backward"}
    assert instructions._measure_item(item, calls=3, warmup_calls=2) == {"status": "measured"}
    assert made == ["forward", "forward_backward"] + ["forward_backward"] * 5
    skipped = dict(item, case=SMALL[1].as_dict(), name=SMALL[1].name)
    result = instructions._measure_item(skipped, calls=3, warmup_calls=2)
    assert result["status"] == "skipped" and "4-D" in result["reason"]


def test_the_child_forks_one_process_per_item_and_reports_each(tmp_path):
    """_child_main for real, outside valgrind: a header, then one line per item in the
    order asked, each from its own process (a pid of its own, not the child's)."""
    items = [{"case": c.as_dict(), "name": c.name, "pass": "forward"} for c in SMALL[:2]]
    spec = tmp_path / "spec.json"
    report = tmp_path / "report.jsonl"
    spec.write_text(json.dumps({"items": items, "calls": 1, "warmup_calls": 0,
                                "report": str(report)}))
    proc = subprocess.run([sys.executable, "-c", "import os, sys; print(os.getpid()); "
                           "from cebench.measure.instructions import _child_main; _child_main()",
                           str(spec)], env=instructions._child_environment(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    header, *done = [json.loads(line) for line in report.read_text().splitlines()]
    assert header == {"torch_version": torch.__version__,
                      "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    assert [(d["name"], d["pass"], d["status"]) for d in done] == [
        (i["name"], i["pass"], "skipped" if "channels_last" in i["name"] else "measured")
        for i in items]
    pids = [d["pid"] for d in done]
    assert len(set(pids)) == 2 and int(proc.stdout.split()[0]) not in pids
    assert "4-D" in done[1]["reason"] and "reason" not in done[0]


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
    assert instructions.function_costs(raw) == {
        "at::\ufffd\ufffdnot utf-8": instructions.FunctionCost(7, 0)}
    saved = instructions.save_dump(raw, tmp_path / "a" / "b" / "saved", 5)  # no desc: line
    assert saved.read_text(encoding="utf-8").splitlines()[:3] == [
        "version: 1", "desc: cebench calls: 5", "fn=at::\ufffd\ufffdnot utf-8"]
    assert instructions.dump_calls(saved) == 5 and instructions.dump_torch_version(saved) is None
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


def _dump(path: Path, calls: int, *functions: tuple) -> Path:
    """A saved dump whose functions have (name, self instructions, calls)."""
    body = "".join(f"fn={name}\n0 {own}\n" for name, own, _ in functions)
    body += "".join(f"fn=caller\ncfn={name}\ncalls={n} 0\n0 0\n" for name, _, n in functions if n)
    total = sum(own for _, own, _ in functions)
    path.write_text(f"# callgrind format\nversion: 1\ndesc: x\n{instructions.CALLS_HEADER}{calls}"
                    f"\nevents: Ir\n{body}summary: {total}\n")
    return path


def test_explain_ranks_self_counts_per_call_with_calls_before_and_after(tmp_path):
    """Per loss call (baseline dump 2 calls, candidate 4): self instructions and calls of
    each function; what moved between builds is named."""
    base = _dump(tmp_path / "base", 2, ("Sleef_expf8_u10avx2", 62_000, 2000),
                 ("kernel_lambda", 16_000, 2), ("copy [clone .isra.0]", 1000, 2),
                 ("same", 500, 2), ("gone", 600, 0))
    cand = _dump(tmp_path / "cand", 4, ("Sleef_expf8_u10avx2", 172_000, 4000),
                 ("serial_kernel_range", 36_000, 4), ("copy", 2000, 4), ("same", 1000, 4),
                 ("new", 400, 4))
    changes = instructions.explain(base, cand)
    got = {c.function: c for c in changes}
    exp = got["Sleef_expf8_u10avx2"]
    assert changes[0] is exp and exp.change_per_call == 12_000
    assert (exp.baseline_self_per_call, exp.candidate_self_per_call) == (31_000, 43_000)
    assert (exp.baseline_calls_per_call, exp.candidate_calls_per_call) == (1000, 1000)
    assert exp.cost_per_invocation(exp.baseline_self_per_call, exp.baseline_calls_per_call) == 31
    assert exp.cost_per_invocation(43_000, 0) is None and exp.note == ""
    assert exp.cost_per_invocation(7_000, 360_000) is None  # more calls than instructions
    assert got["serial_kernel_range"].note == "moved: took over about as much from `kernel_lambda`"
    assert got["kernel_lambda"].note == "moved: about as much now runs in `serial_kernel_range`"
    assert got["copy"].note == "renamed: was `copy [clone .isra.0]`"
    assert got["copy [clone .isra.0]"].note == "renamed: now `copy`"
    assert got["gone"].note == "vanished (inlined into its callers, or no longer run)"
    assert got["new"].note == "new in the candidate"
    assert "same" not in got  # 250 per call on both sides
    assert [c.function for c in instructions.explain(base, cand, top=2)] == [
        "Sleef_expf8_u10avx2", "serial_kernel_range"]
    assert instructions.explain(base, base) == []
    # self counts add up: the listed changes are the whole change per call
    total = (instructions.total_instructions(cand) / 4 - instructions.total_instructions(base) / 2)
    assert sum(c.change_per_call for c in changes) == pytest.approx(total)


def test_build_names_drop_what_the_compiler_adds():
    assert instructions.build_name("f(int) [clone .isra.0]") == "f(int)"
    assert instructions.build_name("f(int) [clone .isra.0] [clone .constprop.1]") == "f(int)"
    assert instructions.build_name("f'2") == "f" and instructions.build_name("f.cold") == "f"
    assert instructions.build_name("g") == "g"


def test_explain_lists_twenty_functions_by_default(tmp_path):
    base = _dump(tmp_path / "base", 1)
    cand = _dump(tmp_path / "cand", 1, *((f"f{i}", 100 + i, 1) for i in range(25)))
    assert [c.function for c in instructions.explain(base, cand)] == [
        f"f{i}" for i in range(24, 4, -1)]


def test_an_interpreter_that_cannot_give_a_torch_build(tmp_path):
    with pytest.raises(instructions.NotATorchPython, match="^cannot run it"):
        instructions.torch_build(str(tmp_path / "no-python"))
    data = tmp_path / "results.json"
    data.write_text("{}")
    with pytest.raises(instructions.NotATorchPython, match="^cannot run it"):
        instructions.torch_build(str(data))
    without = tmp_path / "python-without-torch"
    without.write_text(f"#!/bin/sh\nexec {sys.executable} -I -S \"$@\"\n")
    without.chmod(0o755)
    with pytest.raises(instructions.NotATorchPython, match="^not a Python with torch "
                       r"\(ModuleNotFoundError: No module named 'torch'\)$"):
        instructions.torch_build(str(without))


def test_dumps_are_read_and_written_as_utf8_whatever_the_locale(tmp_path):
    """C++ names in a dump may hold any bytes: they are read as UTF-8 (a bad byte becomes
    U+FFFD) and saved as UTF-8, also under an ASCII locale (LC_ALL=C, no UTF-8 mode)."""
    dump = tmp_path / "dump"
    dump.write_bytes("version: 1\ndesc: \xe9t\xe9\nfn=caf\xe9\n0 1\nsummary: 9\n".encode()
                     .replace(b"\xc3\xa9t", b"\xff\xfet", 1))
    script = ("import sys; from pathlib import Path; from cebench.measure import instructions as i;"
              "d = Path(sys.argv[1]); s = i.save_dump(d, d.parent / 'saved', 4);"
              "print(i.total_instructions(d), i.dump_calls(s), i.total_instructions(s),"
              " list(i.function_costs(d)) == ['caf\\xe9'])")
    source_root = Path(instructions.__file__).resolve().parents[2]
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0",
               PYTHONPATH=str(source_root))
    # here (so that mutation testing counts this test for these functions) and under C
    assert instructions.total_instructions(dump) == 9
    assert instructions.dump_calls(instructions.save_dump(dump, tmp_path / "here", 4)) == 4
    proc = subprocess.run([sys.executable, "-c", script, str(dump)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "9 4 9 True\n", "")
    assert (tmp_path / "saved").read_bytes() == (
        "version: 1\ndesc: cebench calls: 4\ndesc: \ufffd\ufffdt\xe9\nfn=caf\xe9\n0 1\n"
        "summary: 9\n").encode()
