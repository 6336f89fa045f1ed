"""torch against the reference: the grid, golden values, edges, bad input, accuracy, the doc.

The `cebench check` command itself: tests/test_check_command.py.
"""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cebench.semantics import conformance
from cebench.semantics import reference

REPO = Path(__file__).resolve().parents[1]
#: The torch version of the recorded `cebench check` run (tests/data/check).
RECORDED_TORCH = json.loads((REPO / "tests" / "data" / "check" / "cpu-torch-2.13.0.json")
                            .read_text())["torch_version"]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def cpu_grid():
    with conformance.single_cpu_thread():
        return [conformance.run_grid_case(c) for c in conformance.grid_cases(["cpu"])]


def test_cpu_grid_matches_the_reference(cpu_grid):
    broken = [f"{r.name} {r.dtype}: {r.verdict} {r.note}" for r in cpu_grid if r.rule_broken]
    assert not broken, "\n".join(broken[:20])
    matched = [r for r in cpu_grid if r.verdict == "matches"]
    # every non-skipped case ran and compared loss and gradient
    assert len(matched) + sum(r.verdict == "skipped" for r in cpu_grid) == len(cpu_grid)
    assert len(matched) > 1000
    assert all(r.loss_rel_error is not None and r.grad_rel_error is not None for r in matched)


def test_grid_covers_every_rank_dtype_and_target_kind(cpu_grid):
    matched = {(r.dtype, r.name.split()[0], r.name.split()[1]) for r in cpu_grid
               if r.verdict == "matches"}
    for dtype in conformance.DTYPES:
        for kind in conformance.TARGET_KINDS:
            for rank in conformance.RANKS:
                assert (dtype, kind, f"{rank}-D") in matched


def test_invalid_grid_combinations_are_skipped_with_a_reason(cpu_grid):
    skipped = [r for r in cpu_grid if r.verdict == "skipped"]
    assert skipped and all(r.note for r in skipped)
    assert all(("prob" in r.name and "ignored=none" not in r.name) or "1-D" in r.name
               for r in skipped)


def test_grid_is_deterministic():
    case = next(conformance.grid_cases(["cpu"]))
    first, second = conformance.grid_inputs(case), conformance.grid_inputs(case)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_zero_class_weighting_tiles_the_article_vector():
    weight = conformance.class_weights("zero_class", 8, torch.Generator())
    assert weight.tolist() == pytest.approx(
        list(conformance.SEED_CLASS_WEIGHTS) + list(conformance.SEED_CLASS_WEIGHTS[:2]), rel=1e-6
    )


@pytest.mark.parametrize("case", conformance.GOLDEN_CASES, ids=lambda c: c.name)
def test_golden_values_from_torch_and_reference(case):
    logits, target, weight = conformance.golden_inputs(case)
    kwargs = {"ignore_index": case.ignore_index}
    assert round(float(F.cross_entropy(logits, target, weight, **kwargs)), 4) == \
        case.expected_loss_4dp
    assert round(float(reference.cross_entropy(logits, target, weight, **kwargs)), 4) == \
        case.expected_loss_4dp
    result = conformance.run_golden_case(case, "cpu")
    assert result.verdict == "matches" and not result.rule_broken


def test_golden_case_with_a_wrong_expectation_breaks_a_rule():
    wrong = conformance.GOLDEN_CASES[1].__class__(
        **{**conformance.GOLDEN_CASES[1].__dict__, "expected_loss_4dp": 2.4113}
    )
    result = conformance.run_golden_case(wrong, "cpu")
    assert result.verdict == "differs" and result.rule_broken


#: torch's verdict on each edge on the CPU, as the recorded `cebench check` run has them.
EDGE_VERDICTS = {
    "all targets ignored, 'mean'": "matches",
    "all selected weights zero, 'mean'": "matches",
    "1-D input, ignored target, 'none'": "matches",
    "1-D input, ignored target, 'mean'": "matches",
    "1-D input, ignored target, 'sum'": "matches",
    "prob targets with weight, 'mean' denominator": "matches",
    "label smoothing 0.1 with weight and ignored targets, 'mean'": "matches",
    # float16 accumulation: torch's mean over >65504 targets comes out 0.0
    "fp16 (1,2,300,300), unit weight, 'mean' (>65504 targets)": "differs",
    "fp16 (1,2,300,300), no weight, 'mean' (>65504 targets)": "differs",
}


def test_edges_are_recorded_with_a_verdict_and_never_break_a_rule():
    results = [conformance.run_edge_case(c, "cpu") for c in conformance.EDGE_CASES]
    assert [r.name for r in results] == list(EDGE_VERDICTS)
    assert not any(r.rule_broken for r in results)
    by_name = {r.name: r for r in results}
    # the reference's own answers for the edges (torch's are recorded, not asserted)
    assert math.isnan(by_name["all targets ignored, 'mean'"].reference_loss)
    assert math.isnan(by_name["all selected weights zero, 'mean'"].reference_loss)
    assert by_name["1-D input, ignored target, 'sum'"].reference_loss == 0.0
    fp16 = by_name["fp16 (1,2,300,300), unit weight, 'mean' (>65504 targets)"]
    assert 0.05 < fp16.reference_loss < 0.2


@pytest.mark.skipif(torch.__version__ != RECORDED_TORCH,
                    reason=f"edge verdicts recorded with torch {RECORDED_TORCH}")
def test_torch_gives_the_recorded_verdict_on_every_edge():
    results = [conformance.run_edge_case(c, "cpu") for c in conformance.EDGE_CASES]
    assert {r.name: r.verdict for r in results} == EDGE_VERDICTS
    fp16 = [r for r in results if r.name.startswith("fp16")]
    assert [r.torch_loss for r in fp16] == [0.0, 0.0]


def test_soft_target_edge_reference_uses_positions_not_weight_sum():
    case = next(c for c in conformance.EDGE_CASES if "prob targets" in c.name)
    logits, target, weight, kwargs = case.build(torch.Generator().manual_seed(0))
    total = reference.cross_entropy(logits, target, weight, reduction="sum")
    mean = reference.cross_entropy(logits, target, weight, reduction="mean")
    assert float(mean) == pytest.approx(float(total) / logits.shape[0], rel=1e-12)


def test_bad_input_is_rejected_by_the_reference_and_torch_outcome_recorded():
    results = [conformance.run_bad_input_case(c, "cpu") for c in conformance.BAD_INPUT_CASES]
    ran = [r for r in results if r.verdict != "skipped"]
    assert len(ran) >= 9
    assert not any(r.rule_broken for r in results)
    for r in ran:
        assert r.reference_error and r.reference_error.startswith("ValueError: ")
        if r.verdict == "raises":
            assert r.torch_error
        else:
            assert r.verdict == "accepts" and r.torch_loss is not None
    by_name = {r.name: r for r in results}
    assert by_name["weight of wrong length (C-1)"].verdict == "raises"
    assert by_name["prob targets with ignore_index=255"].verdict == "raises"


def test_compare_treats_nan_as_equal_and_flags_differences():
    tol = conformance.Tolerance(rtol=1e-3, atol=0.0)
    nan = torch.tensor([1.0, float("nan")])
    assert conformance.compare(nan, nan.double(), tol).within_tolerance
    off = conformance.compare(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.1]), tol)
    assert not off.within_tolerance
    assert off.torch_value == 2.0 and off.reference_value == pytest.approx(2.1)
    assert off.rel_error == pytest.approx(0.1 / 2.1)
    assert not conformance.compare(torch.tensor(0.0), torch.tensor(float("nan")), tol)\
        .within_tolerance


@pytest.mark.parametrize("dtype", conformance.ACCURACY_DTYPES)
def test_accuracy_relative_error_is_small_and_positive(dtype):
    for quantity in ("loss", "grad"):
        error = conformance.accuracy_relative_error(dtype, "none", "random", "cpu", quantity)
        assert 0.0 < error < 0.02


def test_accuracy_rejects_unknown_dtype():
    with pytest.raises(ValueError, match="dtype must be one of"):
        conformance.accuracy_relative_error("float8", "mean", "none", "cpu")


def test_asv_accuracy_params_come_from_conformance():
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import bench_accuracy
    finally:
        sys.path.pop(0)
    assert bench_accuracy.Accuracy.params == (
        list(conformance.ACCURACY_DTYPES), ["none", "mean", "sum"], ["none", "random"]
    )
    value = bench_accuracy.Accuracy().track_loss_relative_error("bfloat16", "mean", "random")
    assert isinstance(value, float) and 0.0 < value < 0.05


def test_semantics_doc_is_generated_from_the_reference():
    committed = (REPO / "docs" / "semantics.md").read_text()
    assert committed == conformance.render_semantics_doc(), (
        "docs/semantics.md is stale: run `python -m cebench.semantics.conformance --write-doc`"
    )


def test_write_doc_returns_the_path_and_prints_nothing(tmp_path, capsys):
    path = tmp_path / "docs" / "semantics.md"
    assert conformance.write_doc(path) == path and capsys.readouterr() == ("", "")
    assert path.read_text() == conformance.render_semantics_doc()


def test_write_doc_script_named_in_the_doc(tmp_path):
    """`python -m cebench.semantics.conformance --write-doc PATH` (the doc's header)."""
    path = tmp_path / "semantics.md"
    script = [sys.executable, "-m", "cebench.semantics.conformance"]
    proc = subprocess.run([*script, "--write-doc", str(path)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"{path}\n", "")
    assert path.read_text() == (REPO / "docs" / "semantics.md").read_text()
    bare = subprocess.run(script, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bare.returncode == 2 and "--write-doc" in bare.stdout


def test_numbers_quoted_in_the_doc_are_what_torch_computes():
    doc = (REPO / "docs" / "semantics.md").read_text()
    quoted = [float(v) for v in re.findall(r"= \*\*(\d+\.\d{4})\*\*", doc)]
    assert len(quoted) == len(conformance.GOLDEN_CASES)
    for value, case in zip(quoted, conformance.GOLDEN_CASES, strict=True):
        logits, target, weight = conformance.golden_inputs(case)
        torch_mean = F.cross_entropy(logits, target, weight, ignore_index=case.ignore_index)
        assert round(float(torch_mean), 4) == value == case.expected_loss_4dp
    assert "(1·1.0986 + 2·1.8620) / (1 + 2) = **1.6075**" in doc


@pytest.mark.cuda
@needs_cuda
def test_cuda_grid_golden_and_edges():
    report = conformance.check(["cuda"])
    broken = [f"{c.kind} {c.name} {c.dtype}: {c.verdict} {c.note}" for c in report.broken]
    assert not broken, "\n".join(broken[:20])
    golden = [c for c in report.cases if c.kind == "golden"]
    assert [round(c.torch_loss, 4) for c in golden] == [1.4803, 1.6075, 1.5472]
    wrong_device = [c for c in report.cases if "weight on cpu, input on cuda" in c.name]
    assert wrong_device and all(c.reference_error for c in wrong_device)
