"""The implementations (cebench.impls): the axis, what each declares, the by-hand weighting,
Liger through Triton's interpreter, the conformance matrix, stored verdicts, and the
`cebench impls` / `cebench check --impl` commands."""

from __future__ import annotations

import importlib
import itertools
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cebench import impls
from cebench.cli import main
from cebench.grid import cases
from cebench.impls import by_hand
from cebench.impls.base import Features, installed_version
from cebench.results import impls as stored
from cebench.semantics import reference
from cebench.semantics.conformance import impls as impl_check
from cebench.semantics.conformance.comparison import CaseResult
from cebench.semantics.conformance.grid import grid_cases

REPO = Path(__file__).resolve().parents[1]
needs_liger = pytest.mark.skipif(
    installed_version("liger-kernel") is None or installed_version("triton") is None,
    reason="needs liger-kernel and triton (pip install 'cebench[impls]')")


# --- the axis and the declarations ------------------------------------------------------

def test_every_name_on_the_axis_is_one_module_with_its_impl():
    assert cases.IMPLEMENTATIONS == ("eager", "compile", "liger", "quack", "by_hand")
    for name in cases.IMPLEMENTATIONS:
        impl = importlib.import_module(f"cebench.impls.{name}").IMPL
        assert impl.name == name and impls.get(name) is impl
        assert impl.support.reductions and impl.support.devices
    with pytest.raises(ValueError, match="unknown implementation 'nope'; expected one of eager"):
        impls.get("nope")


def test_impl_params_put_the_implementation_first_and_round_trip():
    params, names = cases.impl_asv_params("impls")
    assert names == ["impl", "family", "dtype", "weighting"]
    assert params[0] == list(cases.IMPLEMENTATIONS)
    for values in itertools.product(*params):
        impl, case = cases.impl_case_from_params("impls", values)
        assert impl == values[0] and (case.family, case.dtype, case.weighting) == values[1:]
    with pytest.raises(ValueError, match="the first parameter must be an implementation"):
        cases.impl_case_from_params("impls", ("small", "float32", "none"))


@pytest.mark.parametrize("features, reason", [
    (Features(weighted=True, prob_targets=True), "no probability targets"),
    (Features(weighted=False, rank=4), "(N, C) inputs only"),
    (Features(weighted=False, label_smoothing=True), None),
    (Features(weighted=False, dtype="bfloat16"), None),
    (Features(weighted=True, autocast=True), "not under autocast"),
])
def test_liger_declares_its_limits(features, reason):
    assert impls.get("liger").support.unsupported(features) == reason


def test_weight_support_follows_the_release():
    from cebench.impls import liger, quack

    assert not liger.support_for("0.5.2").weight and liger.support_for("0.5.3").weight
    assert not quack.support_for("0.4.1").weight and quack.support_for("0.5.0").weight
    assert quack.support_for("0.6.5").unsupported(Features(weighted=True, label_smoothing=True)) \
        == "no label smoothing"


def test_skip_reasons_on_this_cpu():
    case = cases.lookup("small.contiguous.float32.mean.w-random")
    features = impls.features_of(case)
    assert impls.get("eager").skip_reason(features, "cpu") is None
    assert "compute capability 9.0" in impls.get("quack").skip_reason(features, "cpu")
    assert impls.get("by_hand").skip_reason(
        impls.features_of(cases.lookup("small.prob_targets.float32.mean.w-random")), "cpu") \
        == "by_hand: no weighted probability targets (w[y] needs a class index)"


# --- weighting by hand ------------------------------------------------------------------

def _inputs(seed=3, shape=(6, 5)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g, dtype=torch.float64)
    target = torch.randint(0, shape[1], (shape[0],) + shape[2:], generator=g)
    target.view(-1)[::3] = -100
    weight = torch.rand(shape[1], generator=g, dtype=torch.float64) + 0.1
    return logits, target, weight


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3)])
def test_by_hand_weighting_is_torchs_without_smoothing(reduction, shape):
    logits, target, weight = _inputs(shape=shape)
    for w in (None, weight):
        got = by_hand.by_hand_cross_entropy(logits, target, w, reduction=reduction)
        want = F.cross_entropy(logits, target, weight=w, reduction=reduction)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_by_hand_smoothing_scales_the_whole_smoothed_loss_by_w_y():
    logits, target, weight = _inputs()
    eps, selected = 0.1, target != -100
    got = by_hand.by_hand_cross_entropy(logits, target, weight, label_smoothing=eps)
    per = F.cross_entropy(logits, target, reduction="none", label_smoothing=eps)
    w_y = weight[target.clamp(min=0)] * selected
    assert float(got) == pytest.approx(float((per * w_y).sum() / w_y.sum()), rel=1e-12)
    torch_loss = float(F.cross_entropy(logits, target, weight=weight, label_smoothing=eps))
    assert abs(float(got) - torch_loss) > 1e-3  # not torch's weighted smoothing


# --- the matrix rows and cells -----------------------------------------------------------

def test_every_grid_case_belongs_to_one_known_row():
    rules = {impl_check.rule_of(case, twin) for case in grid_cases(["cpu"])
             for twin in (False, True)}
    assert rules <= set(impl_check.RULE_IDS)
    assert rules >= {"unweighted", "weighted_mean", "weighted_sum_none", "ignore_index",
                     "label_smoothing", "prob_targets", "k_dim", "low_precision", "all_ignored"}


def _result(verdict, kind="grid", **fields):
    return CaseResult(kind, fields.pop("name", "case"), "cpu", "float32", verdict, **fields)


def test_a_cell_is_a_tick_differs_with_both_values_or_unsupported():
    assert impl_check.matrix_cell("unweighted", [_result("matches"), _result("skipped")]) == {
        "cases": 1, "unsupported": 0, "differ": 0, "cell": "✓", "text": "1 cases"}
    cell = impl_check.matrix_cell("weighted_mean", [
        _result("matches"), _result("differs", name="w", torch_loss=1.25, reference_loss=1.5,
                                    loss_rel_error=0.2)])
    assert cell["cell"] == "differs"
    assert cell["text"] == "1 of 2; e.g. w (cpu, float32): loss 1.25 vs reference 1.5"
    only = impl_check.matrix_cell("k_dim", [_result("unsupported", note="(N, C) inputs only")])
    assert (only["cell"], only["text"]) == ("unsupported", "(N, C) inputs only")
    bad = impl_check.matrix_cell("bad_input", [
        _result("raises", kind="bad_input"),
        _result("accepts", kind="bad_input", note="torch raises RuntimeError: x", torch_loss=2.0)])
    assert bad["cell"] == "differs" and "accepts, returns 2; torch raises" in bad["text"]


def test_contracts_catch_an_implementation_that_writes_into_its_inputs():
    def writes_gradient_into_logits(logits, target, weight=None, **kwargs):
        loss = F.cross_entropy(logits, target, weight=weight, **kwargs)
        if logits.requires_grad:
            with torch.no_grad():
                logits.mul_(0.5)
        return loss

    for fn, verdict in ((F.cross_entropy, "matches"), (writes_gradient_into_logits, "differs")):
        training = impl_check.inputs_unchanged_case(fn, "cpu", True, training=True)
        inference = impl_check.inputs_unchanged_case(fn, "cpu", True, training=False)
        repeat = impl_check.repeatable_case(fn, "cpu", True)
        assert (training.verdict, inference.verdict, repeat.verdict) == (
            verdict, "matches", verdict)
    assert training.note.startswith("logits changed: largest change")


def test_by_hand_check_finds_the_smoothing_and_the_unchecked_weight(tmp_path):
    report = impl_check.check_impl("by_hand", ["cpu"], match=r"^index 2-D w=random ")
    matrix = report.matrix()
    assert matrix["weighted_mean"]["cell"] == matrix["golden"]["cell"] == "✓"
    assert matrix["label_smoothing"]["cell"] == "differs"
    assert matrix["bad_input"]["cell"] == "differs"  # a weight of C-1 entries goes through
    assert "label_smoothing" in report.broken and "all_ignored" not in report.broken
    path = stored.store(report.to_json(), tmp_path, "cpu-test", "abc")
    assert path == tmp_path / "cpu-test" / "impls" / f"by_hand-{torch.__version__.split('+')[0]}.jsonl"
    heads, cells = stored.load(tmp_path)
    assert list(heads["implementation"]) == ["by_hand"]
    assert "label_smoothing" in heads["rows_differ"][0]
    table = stored.matrix(cells)
    assert table.loc["label_smoothing"].iloc[0].startswith("differs: ")


# --- Liger through Triton's interpreter (subprocesses: the interpreter is process-wide) ----

INTERPRETER_PROBE = textwrap.dedent("""
    import json, os
    os.environ["TRITON_INTERPRET"] = "1"
    import torch, triton, triton.language as tl
    from cebench.impls.liger import interpreter_float_arguments

    @triton.jit
    def scaled(x_ptr, out_ptr, scale, N: tl.constexpr):
        offs = tl.arange(0, N)
        tl.store(out_ptr + offs, tl.load(x_ptr + offs) * scale.to(tl.float32))

    @triton.jit
    def negated(x_ptr, out_ptr, N: tl.constexpr):
        offs = tl.arange(0, N)
        tl.store(out_ptr + offs, (-tl.load(x_ptr + offs)).cast(tl.float32))

    x, out = torch.tensor([1.0, 2.0]), torch.zeros(2)
    try:
        scaled[(1,)](x, out, 0.5, N=2)
        before = "ran"
    except Exception as exc:
        before = type(exc).__name__ + ": " + str(exc)
    interpreter_float_arguments()
    scaled[(1,)](x, out, 0.5, N=2)
    neg = torch.zeros(2)
    negated[(1,)](torch.tensor([0.30078125, 2.0], dtype=torch.bfloat16), neg, N=2)
    print(json.dumps({"before": before, "after": out.tolist(), "bf16_negated": neg.tolist()}))
""")


@needs_liger
def test_the_interpreter_needs_the_float_adaptation_and_negates_bfloat16_wrongly():
    """Both facts behind liger's CPU path: if a Triton release fixes either, this fails and
    the adaptation or the bfloat16 limit (cebench.impls.liger) can go."""
    proc = subprocess.run([sys.executable, "-c", INTERPRETER_PROBE], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "'float' object has no attribute 'to'" in probe["before"]
    assert probe["after"] == [0.5, 1.0]
    assert probe["bf16_negated"][1] == -2.0 and probe["bf16_negated"][0] != pytest.approx(-0.30078125)


@needs_liger
def test_cebench_check_liger_on_the_cpu(tmp_path):
    out = tmp_path / "liger.json"
    proc = subprocess.run(
        [sys.executable, "-m", "cebench", "check", "--impl", "liger", "--device", "cpu",
         "--match", r"^index [24]-D w=random ignored=some ls=0 mean$|"
                    r"^index 2-D w=(random|none) ignored=(some|all) ls=0\.1 mean$",
         "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 1, proc.stderr[-2000:]  # a finding: it writes into the logits
    report = json.loads(out.read_text())
    assert report["implementation"] == "liger" and report["version"]
    assert "float scalar kernel arguments passed as float32" in report["adaptations"][0]
    matrix = report["matrix"]
    assert matrix["golden"]["cell"] == matrix["label_smoothing"]["cell"] == "✓"
    assert matrix["k_dim"]["cell"] == "unsupported"
    assert matrix["inputs_unchanged"]["cell"] == "differs"
    assert matrix["inputs_unchanged"]["text"].startswith("logits changed")
    assert matrix["repeatable"]["cell"] == "differs"
    low = [c for c in report["cases"] if c["dtype"] == "bfloat16" and c["kind"] == "grid"]
    assert low and {c["verdict"] for c in low} == {"unsupported"}
    assert "liger 0." in proc.stdout and "inputs_unchanged" in proc.stdout


# --- the commands -----------------------------------------------------------------------

def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cebench_impls_lists_every_implementation(capsys):
    code, out, err = _run(capsys, "impls", "--device", "cpu")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["impl", "package", "version", "runs"]
    assert [line.split()[0] for line in lines[1:6]] == list(cases.IMPLEMENTATIONS)
    quack_row = lines[4].split()
    assert quack_row[0] == "quack" and "no" in quack_row
    code, out, _ = _run(capsys, "impls", "--json", "--device", "cuda")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == list(cases.IMPLEMENTATIONS)
    assert all(r["device"] == "cuda" for r in rows)
    assert rows[0]["support"]["reductions"] == ["none", "mean", "sum"]


@pytest.mark.parametrize("argv, message", [
    (["check", "--match", "x"], "cebench check: error: --match and --record go with --impl NAME"),
    (["check", "--impl", "quack", "--device", "cpu"],
     "cebench check: error: --impl quack: quack runs only on NVIDIA GPUs of compute "
     "capability 9.0+ (CuTe DSL)"),
    (["check", "--impl", "eager", "--match", "("], "cebench check: error: --match '(': "),
])
def test_check_impl_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and err.count("\n") == 1


def test_check_impl_eager_records_its_verdicts(capsys, tmp_path):
    code, out, _ = _run(capsys, "check", "--impl", "eager", "--device", "cpu", "--match",
                        r"^index 2-D w=random ignored=some ls=0 mean$", "--record", str(tmp_path))
    assert code == 0
    assert "weighted_mean" in out and "verdicts stored in" in out
    (head, records), = stored.read(tmp_path)
    assert head["implementation"] == "eager" and head["matrix"]["ignore_index"]["cell"] == "✓"
    assert {r["kind"] for r in records} >= {"golden", "contract", "bad_input"}


# --- the stored verdicts of this repository ---------------------------------------------

def test_committed_verdicts_hold_a_matrix_for_each_file():
    files = stored.read(REPO / "results")
    assert files, "no committed implementation verdicts"
    for head, _ in files:
        assert set(head["matrix"]) == set(impl_check.RULE_IDS), head["file"]
        assert all(cell["cell"] in ("✓", "differs", "unsupported", "not run")
                   for cell in head["matrix"].values())


def test_a_bad_input_case_that_kills_the_process_is_a_crash_not_the_end_of_the_check():
    import os
    from cebench.semantics.conformance.bad_input import BAD_INPUT_CASES

    def dies(*args, **kwargs):
        os.abort()

    case = next(c for c in BAD_INPUT_CASES if c.name == "target batch size != input batch size")
    result = impl_check._bad_input_against_torch(case, "cpu", dies)
    assert result.verdict == "crashes"
    assert result.note.startswith("the process died (SIGABRT)")
    assert "torch raises: ValueError" in result.note
    cell = impl_check.matrix_cell("bad_input", [result])
    assert cell["cell"] == "differs" and "SIGABRT" in cell["text"]


def test_an_implementation_that_cannot_run_is_recorded_with_record(capsys, tmp_path):
    code, out, err = _run(capsys, "check", "--impl", "quack", "--device", "cpu",
                          "--record", str(tmp_path))
    assert code == 3 and err == ""
    assert out.startswith("quack: not checked: quack runs only on NVIDIA GPUs")
    (head, records), = stored.read(tmp_path)
    assert head["unavailable"].startswith("quack runs only on NVIDIA GPUs") and records == []
    assert {cell["cell"] for cell in head["matrix"].values()} == {"not run"}


def test_run_suite_leaves_the_implementations_out_on_a_cpu_unless_asked():
    """scripts/run-suite.sh's CPU default: a --bench regex that keeps every benchmark but
    bench_impls (asv matches it against 'module.Class.method(params)')."""
    import re as regex

    script = (REPO / "scripts" / "run-suite.sh").read_text()
    found = regex.search(r"cpu_defaults\+=\(--bench '([^']+)'\)", script)
    assert found and 'CEBENCH_IMPLS:-0}" != 1' in script
    keep = regex.compile(found.group(1))
    assert not keep.search("bench_impls.ImplTime.time_forward('eager', 'small', 'float32', 'none')")
    assert not keep.search("bench_impls.CompileTime.track_compile_seconds_forward")
    for name in ("bench_loss.Core.time_forward('small', 'float32', 'mean', 'none')",
                 "bench_instructions.Instructions.track_instructions_forward",
                 "bench_environment.Environment.track_torch_version"):
        assert keep.search(name)
    names = subprocess.run(
        ["bash", "-c", f"source <(sed -n '/^names_benchmarks()/,/^}}/p' {REPO}/scripts/run-suite.sh)"
         "; for a in '--bench Core' '-b X' '--bench=X' '-bX' '-a rounds=2' ''; do "
         "names_benchmarks $a && echo yes || echo no; done"],
        capture_output=True, text=True, check=True).stdout.split()
    assert names == ["yes", "yes", "yes", "yes", "no", "no"]


def test_compile_time_is_the_first_call_on_an_empty_inductor_cache(monkeypatch, tmp_path):
    import os

    from cebench.impls import compile as compiled

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    seen = []

    def first_call():
        folder = os.environ["TORCHINDUCTOR_CACHE_DIR"]
        seen.append((folder, os.listdir(folder)))

    seconds = compiled.compile_seconds(first_call)
    assert seconds >= 0 and len(seen) == 1
    folder, contents = seen[0]
    assert folder != str(tmp_path) and contents == [] and not os.path.exists(folder)
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path)


def test_compile_time_benchmark_compiles_nothing_in_setup(monkeypatch):
    import sys as system

    system.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_impls
    finally:
        system.path.remove(str(REPO / "benchmarks"))
    monkeypatch.setattr(impls, "prepared_calls", lambda *a: pytest.fail("compiled in setup"))
    bench = bench_impls.CompileTime()
    bench.setup("compile", "small", "random")
    assert bench.inputs.case.name == "small.contiguous.float32.mean.w-random"
    assert bench_impls.CompileTime.params == [["compile"], ["small"], ["none", "random"]]
    with pytest.raises(NotImplementedError, match="needs CUDA"):
        bench_impls.ImplKernel().setup("eager", "small", "float32", "random")
    with pytest.raises(NotImplementedError, match=r"^liger "):
        bench_impls.ImplTime().setup("liger", "small", "float32", "random")


def test_the_torch_range_is_enforced():
    from cebench.impls.base import in_range

    assert in_range("2.13.0+cpu", ">=2.1.2") and in_range("2.1.2", ">=2.1.2")
    assert not in_range("2.0.1", ">=2.1.2") and in_range("1.0", "any")
    with pytest.raises(ValueError, match="a torch range is 'any' or '>=VERSION'"):
        in_range("2.0", "<3")
