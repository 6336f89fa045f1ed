"""Does torch's cross entropy follow its documented semantics? (`cebench check`)

Every case runs ``F.cross_entropy`` (loss and input gradient) and the float64
``cebench.semantics.reference`` on the *same* inputs (low-precision inputs are rounded first,
then upcast for the reference), on each available device. Four kinds of case:

* ``golden``    the source article's three examples: 1.4803, 1.6075, 1.5472.
* ``grid``      reduction × weighting × ignored targets × label smoothing × target kind
                × input rank (1-D..5-D) × dtype; must match within the dtype tolerance.
* ``edge``      behaviour that torch versions may legitimately change (0/0 means,
                fp16 total-weight overflow...): recorded with a verdict, never a failure.
* ``bad_input`` misuse: torch's error is recorded (or that it accepted the input); the
                reference must raise a clear ``ValueError``.

Verdicts: ``matches`` (loss and gradient within the dtype's tolerance), ``differs``
(both values kept), ``raises`` (torch's message kept), ``accepts`` (bad input torch let
through), ``skipped`` (an invalid combination or missing device, with the reason),
``reference_raises`` (the reference could not compute a valid case: our bug).

A case *breaks a rule* when a golden or grid case does not match (grid cases whose
reference is 0/0 under 'mean' are edges in disguise and only recorded), or when the
reference fails to reject bad input or to compute an edge.

Also home to the asv accuracy metric (``accuracy_relative_error``) and the generator
of ``docs/semantics.md`` (``python -m cebench.semantics.conformance --write-doc``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import platform
import sys
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from cebench.semantics import reference

# --- the grid ---------------------------------------------------------------------------

NUM_CLASSES = 7
REDUCTIONS = ("none", "mean", "sum")
WEIGHTINGS = ("none", "ones", "random", "zero_class")
IGNORED = ("none", "some", "all")
LABEL_SMOOTHINGS = (0.0, 0.1)
TARGET_KINDS = ("index", "prob")
RANKS = (1, 2, 3, 4, 5)
DTYPES = ("float32", "float16", "bfloat16")
GRID_IGNORE_INDEX = 255  # the article's value; exercises a non-default ignore_index
# The article's real-world class weights, with a zero entry (tiled to NUM_CLASSES).
SEED_CLASS_WEIGHTS = (0.13859937, 0.5821059, 0.63871904, 2.30220396, 7.1588294, 0.0)
# Input shapes per rank (C is the class dimension): few elements, so the grid is fast.
SHAPE_BY_RANK = {
    1: (NUM_CLASSES,),
    2: (4, NUM_CLASSES),
    3: (2, NUM_CLASSES, 3),
    4: (2, NUM_CLASSES, 2, 2),
    5: (2, NUM_CLASSES, 2, 1, 2),
}


@dataclass(frozen=True)
class Tolerance:
    """|torch − reference| ≤ atol + rtol·|reference|, elementwise."""

    rtol: float
    atol: float


# Measured worst cases on this grid (torch 2.13 CPU): fp32 rel 3e-6; fp16 rel 2e-3,
# grad abs 3e-3; bf16 rel 1e-2, grad abs 3e-2. Tolerances sit a few ulps above.
TOLERANCE = {
    "float32": Tolerance(rtol=1e-5, atol=1e-5),
    "float16": Tolerance(rtol=1e-2, atol=5e-3),
    "bfloat16": Tolerance(rtol=4e-2, atol=4e-2),
}


@dataclass(frozen=True)
class GridCase:
    reduction: str
    weighting: str
    ignored: str
    label_smoothing: float
    target_kind: str
    rank: int
    dtype: str
    device: str

    @property
    def name(self) -> str:
        return (
            f"{self.target_kind} {self.rank}-D w={self.weighting} ignored={self.ignored} "
            f"ls={self.label_smoothing:g} {self.reduction}"
        )

    def skip_reason(self) -> str | None:
        if self.target_kind == "prob" and self.ignored != "none":
            return "probability targets have no ignore_index (torch rejects ignore_index >= 0)"
        if self.rank == 1 and self.ignored == "some":
            return "a 1-D input has a single target: 'some ignored' needs two or more"
        return None


def grid_cases(devices: list[str]) -> Iterator[GridCase]:
    for values in itertools.product(
        REDUCTIONS, WEIGHTINGS, IGNORED, LABEL_SMOOTHINGS, TARGET_KINDS, RANKS, DTYPES, devices
    ):
        yield GridCase(*values)


def class_weights(weighting: str, num_classes: int, generator: torch.Generator) -> Tensor | None:
    """The float32 class-weight vector a weighting names (None for 'none')."""
    if weighting == "none":
        return None
    if weighting == "ones":
        return torch.ones(num_classes)
    if weighting == "random":
        return torch.rand(num_classes, generator=generator) * 2.0 + 0.1
    if weighting == "zero_class":
        tiled = [SEED_CLASS_WEIGHTS[i % len(SEED_CLASS_WEIGHTS)] for i in range(num_classes)]
        return torch.tensor(tiled)
    raise ValueError(f"unknown weighting {weighting!r}, expected one of {WEIGHTINGS}")


def grid_inputs(case: GridCase) -> tuple[Tensor, Tensor, Tensor | None, dict]:
    """(logits, target, weight, extra kwargs) for a grid case, seeded by its name."""
    generator = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    dtype = getattr(torch, case.dtype)
    shape = SHAPE_BY_RANK[case.rank]
    class_dim = 0 if case.rank == 1 else 1
    logits = (torch.randn(shape, generator=generator) * 2.0).to(dtype)
    weight = class_weights(case.weighting, NUM_CLASSES, generator)
    weight = None if weight is None else weight.to(dtype)
    kwargs: dict = {"reduction": case.reduction, "label_smoothing": case.label_smoothing}
    if case.target_kind == "prob":
        target = torch.randn(shape, generator=generator).softmax(class_dim).to(dtype)
    else:
        target_shape = shape[:class_dim] + shape[class_dim + 1:]
        target = torch.randint(0, NUM_CLASSES, target_shape, generator=generator)
        flat = target.view(-1)
        if case.ignored == "all":
            flat.fill_(GRID_IGNORE_INDEX)
        elif case.ignored == "some":
            flat[::2] = GRID_IGNORE_INDEX  # every other target: some ignored, some kept
        kwargs["ignore_index"] = GRID_IGNORE_INDEX
    return _to(logits, case.device), _to(target, case.device), _to(weight, case.device), kwargs


def _to(tensor: Tensor | None, device: str) -> Tensor | None:
    return None if tensor is None else tensor.to(device)


# --- comparing torch with the reference -------------------------------------------------


@dataclass
class Comparison:
    """How far torch's tensor is from the reference (errors are maxima over elements)."""

    torch_value: float  # at the worst element (the scalar itself for a scalar)
    reference_value: float
    abs_error: float
    rel_error: float
    within_tolerance: bool


def compare(torch_tensor: Tensor, reference_tensor: Tensor, tol: Tolerance) -> Comparison:
    """Elementwise comparison; NaN equals NaN and ±inf equals itself."""
    got = torch_tensor.detach().to("cpu", torch.float64).reshape(-1)
    want = reference_tensor.detach().to("cpu", torch.float64).reshape(-1)
    same = (got == want) | (got.isnan() & want.isnan())
    diff = torch.where(
        same, torch.zeros_like(got), (got - want).abs().nan_to_num(nan=math.inf, posinf=math.inf)
    )
    excess = diff - (tol.atol + tol.rtol * want.abs().nan_to_num(0.0, 0.0, 0.0))
    if got.numel() == 0:
        return Comparison(math.nan, math.nan, 0.0, 0.0, True)
    worst = int(excess.argmax())
    rel = torch.where(diff == 0, torch.zeros_like(diff), diff / want.abs())
    return Comparison(
        torch_value=float(got[worst]),
        reference_value=float(want[worst]),
        abs_error=float(diff.max()),
        rel_error=float(rel.nan_to_num(nan=math.inf, posinf=math.inf).max()),
        within_tolerance=bool((excess <= 0).all()),
    )


def torch_loss_and_grad(logits: Tensor, target: Tensor, weight: Tensor | None, **kwargs):
    """torch's (loss, d loss.sum() / d logits), in the input's dtype."""
    leaf = logits.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(leaf, target, weight=weight, **kwargs)
    loss.sum().backward()
    return loss.detach(), leaf.grad


# --- results ---------------------------------------------------------------------------


@dataclass
class CaseResult:
    kind: str  # golden | grid | edge | bad_input
    name: str
    device: str
    dtype: str
    verdict: str  # matches | differs | raises | accepts | skipped | reference_raises
    rule_broken: bool = False
    torch_loss: float | None = None
    reference_loss: float | None = None
    loss_abs_error: float | None = None
    loss_rel_error: float | None = None
    grad_abs_error: float | None = None
    grad_rel_error: float | None = None
    torch_error: str | None = None
    reference_error: str | None = None
    note: str = ""


def _error_text(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"


def _compared_result(kind, name, device, dtype, logits, target, weight, kwargs, tol) -> CaseResult:
    """Run torch and the reference on the same inputs and compare loss and gradient."""
    result = CaseResult(kind, name, device, dtype, verdict="matches")
    try:
        ref_loss, ref_grad = reference.loss_and_grad(logits, target, weight, **kwargs)
    except ValueError as exc:
        result.verdict, result.rule_broken = "reference_raises", True
        result.reference_error = _error_text(exc)
        result.note = "the reference could not compute this case"
        return result
    try:
        torch_loss, torch_grad = torch_loss_and_grad(logits, target, weight, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any torch failure is a recorded verdict
        result.verdict, result.torch_error = "raises", _error_text(exc)
        result.reference_loss = float(ref_loss.reshape(-1)[0]) if ref_loss.numel() else None
        return result
    loss_cmp = compare(torch_loss, ref_loss, tol)
    grad_cmp = compare(torch_grad, ref_grad, tol)
    result.torch_loss, result.reference_loss = loss_cmp.torch_value, loss_cmp.reference_value
    result.loss_abs_error, result.loss_rel_error = loss_cmp.abs_error, loss_cmp.rel_error
    result.grad_abs_error, result.grad_rel_error = grad_cmp.abs_error, grad_cmp.rel_error
    if not (loss_cmp.within_tolerance and grad_cmp.within_tolerance):
        result.verdict = "differs"
        if not grad_cmp.within_tolerance:
            result.note = (
                f"gradient differs: torch {grad_cmp.torch_value:.6g} vs reference "
                f"{grad_cmp.reference_value:.6g} at its worst element"
            )
    return result


def run_grid_case(case: GridCase) -> CaseResult:
    reason = case.skip_reason()
    if reason:
        return CaseResult("grid", case.name, case.device, case.dtype, "skipped", note=reason)
    logits, target, weight, kwargs = grid_inputs(case)
    result = _compared_result(
        "grid", case.name, case.device, case.dtype, logits, target, weight, kwargs,
        TOLERANCE[case.dtype],
    )
    undefined_mean = case.reduction == "mean" and math.isnan(result.reference_loss or 0.0)
    if undefined_mean:
        result.note = (result.note + "; " if result.note else "") + (
            "0/0 under 'mean' (nothing selected or zero selected weight): recorded, not enforced"
        )
    result.rule_broken = result.rule_broken or (result.verdict != "matches" and not undefined_mean)
    return result


# --- golden cases: the source article --------------------------------------------------


@dataclass(frozen=True)
class GoldenCase:
    name: str
    logits: tuple[float, ...]
    logits_shape: tuple[int, ...]
    target: tuple[int, ...]
    target_shape: tuple[int, ...]
    weight: tuple[float, ...]
    ignore_index: int
    expected_loss_4dp: float  # what the article's torch printed


GOLDEN_CASES = (
    GoldenCase("article 1: weight [1,1,1]", (0, 1, 0, 0, 0, 1), (1, 3, 2), (0, 1), (1, 2),
               (1, 1, 1), 255, 1.4803),
    GoldenCase("article 2: weight [1,2,3]", (0, 1, 0, 0, 0, 1), (1, 3, 2), (0, 1), (1, 2),
               (1, 2, 3), 255, 1.6075),
    GoldenCase("article 3: weight [1,2,3], 4 positions",
               (0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0.5), (1, 3, 4), (0, 1, 2, 2), (1, 4),
               (1, 2, 3), -100, 1.5472),
)


def golden_inputs(case: GoldenCase, device: str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    logits = torch.tensor(case.logits, dtype=torch.float32).view(case.logits_shape)
    target = torch.tensor(case.target, dtype=torch.long).view(case.target_shape)
    weight = torch.tensor(case.weight, dtype=torch.float32)
    return logits.to(device), target.to(device), weight.to(device)


def run_golden_case(case: GoldenCase, device: str) -> CaseResult:
    logits, target, weight = golden_inputs(case, device)
    kwargs = {"ignore_index": case.ignore_index, "reduction": "mean"}
    result = _compared_result(
        "golden", case.name, device, "float32", logits, target, weight, kwargs, TOLERANCE["float32"]
    )
    rounded = {round(v, 4) for v in (result.torch_loss, result.reference_loss) if v is not None}
    if result.verdict == "matches" and rounded != {case.expected_loss_4dp}:
        result.verdict = "differs"
    result.note = f"expected {case.expected_loss_4dp:.4f} (to 4 decimals) from both"
    result.rule_broken = result.verdict != "matches"
    return result


# --- edges: recorded per torch version and device ---------------------------------------


@dataclass(frozen=True)
class EdgeCase:
    name: str
    dtype: str
    build: Callable[[torch.Generator], tuple[Tensor, Tensor, Tensor | None, dict]]
    note: str


def _edge_logits(generator, shape=(4, NUM_CLASSES), dtype=torch.float32) -> Tensor:
    return (torch.randn(shape, generator=generator) * 2.0).to(dtype)


def _confident_fp16_case(_generator=None) -> tuple[Tensor, Tensor]:
    """fp16 logits (1, 2, 300, 300) and their argmax targets: small losses, 90000 targets.

    The loss sum (~1e4) fits in fp16 while the target count (90000) does not, so only
    an overflowing total weight can spoil the mean.
    """
    generator = torch.Generator().manual_seed(29429)  # the same case with and without weight
    logits = (torch.randn((1, 2, 300, 300), generator=generator) * 4.0).to(torch.float16)
    return logits, logits.argmax(1)


def _targets(*values: int) -> Tensor:
    return torch.tensor(values, dtype=torch.long)


EDGE_CASES = (
    EdgeCase(
        "all targets ignored, 'mean'", "float32",
        lambda g: (_edge_logits(g), _targets(*[-100] * 4), None, {"reduction": "mean"}),
        "0/0: NaN since torch 1.11 (pytorch#64572, #70348), 0 before",
    ),
    EdgeCase(
        "all selected weights zero, 'mean'", "float32",
        lambda g: (_edge_logits(g), _targets(5, 5, 5, 5),
                   class_weights("zero_class", NUM_CLASSES, g), {"reduction": "mean"}),
        "every target is the zero-weight class: 0/0",
    ),
    *(
        EdgeCase(
            f"1-D input, ignored target, '{reduction}'", "float32",
            (lambda r: lambda g: (_edge_logits(g, (NUM_CLASSES,)), torch.tensor(-100), None,
                                  {"reduction": r}))(reduction),
            "a single ignored target",
        )
        for reduction in REDUCTIONS
    ),
    EdgeCase(
        "prob targets with weight, 'mean' denominator", "float32",
        lambda g: (_edge_logits(g), torch.randn(4, NUM_CLASSES, generator=g).softmax(1),
                   class_weights("random", NUM_CLASSES, g), {"reduction": "mean"}),
        "'mean' divides by N=4 positions, not by a weight sum",
    ),
    EdgeCase(
        "label smoothing 0.1 with weight and ignored targets, 'mean'", "float32",
        lambda g: (_edge_logits(g), _targets(0, -100, 3, 6),
                   class_weights("random", NUM_CLASSES, g),
                   {"reduction": "mean", "label_smoothing": 0.1}),
        "both terms over Σ w[y] of non-ignored targets",
    ),
    EdgeCase(
        "fp16 (1,2,300,300), unit weight, 'mean' (>65504 targets)", "float16",
        lambda g: (*_confident_fp16_case(g), torch.ones(2, dtype=torch.float16),
                   {"reduction": "mean"}),
        "90000 targets, loss sum ~1e4 (fits fp16): a total weight accumulated in fp16 "
        "overflows to inf and the mean becomes 0 (torch #29429, #85791)",
    ),
    EdgeCase(
        "fp16 (1,2,300,300), no weight, 'mean' (>65504 targets)", "float16",
        lambda g: (*_confident_fp16_case(g), None, {"reduction": "mean"}),
        "the same without weight: the target count is the total weight",
    ),
)


def run_edge_case(case: EdgeCase, device: str) -> CaseResult:
    generator = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    logits, target, weight, kwargs = case.build(generator)
    result = _compared_result(
        "edge", case.name, device, case.dtype, logits.to(device), target.to(device),
        _to(weight, device), kwargs, TOLERANCE[case.dtype],
    )
    result.note = "; ".join(filter(None, (case.note, result.note)))
    # Edges are recorded, not enforced: only a reference that cannot compute one is broken.
    result.rule_broken = result.reference_error is not None
    return result


# --- bad input: torch's error recorded, the reference must reject it --------------------


@dataclass(frozen=True)
class BadInputCase:
    name: str
    build: Callable[[str], tuple[Tensor, Tensor, Tensor | None, dict]]
    needs_cuda: bool = False
    skip_on_cuda: str = ""  # a reason, when the case cannot run safely on CUDA


def _bad_logits(device: str, shape=(4, NUM_CLASSES)) -> Tensor:
    return torch.linspace(-2.0, 2.0, math.prod(shape)).view(shape).to(device)


def _bad_index_target(device: str) -> Tensor:
    return _targets(0, 1, 2, 3).to(device)


BAD_INPUT_CASES = (
    BadInputCase("weight of wrong length (C-1)", lambda d: (
        _bad_logits(d), _bad_index_target(d), torch.ones(NUM_CLASSES - 1, device=d), {})),
    BadInputCase("weight of wrong length, 4-D input", lambda d: (
        _bad_logits(d, (2, NUM_CLASSES, 2, 2)), torch.zeros(2, 2, 2, dtype=torch.long, device=d),
        torch.ones(NUM_CLASSES + 1, device=d), {})),
    BadInputCase("weight 2-D (1, C)", lambda d: (
        _bad_logits(d), _bad_index_target(d), torch.ones(1, NUM_CLASSES, device=d), {})),
    BadInputCase("weight float64, input float32, index targets", lambda d: (
        _bad_logits(d), _bad_index_target(d),
        torch.ones(NUM_CLASSES, dtype=torch.float64, device=d), {})),
    BadInputCase("weight float64, input float32, prob targets", lambda d: (
        _bad_logits(d), torch.full((4, NUM_CLASSES), 1.0 / NUM_CLASSES, device=d),
        torch.ones(NUM_CLASSES, dtype=torch.float64, device=d), {})),
    BadInputCase("weight on cpu, input on cuda", lambda d: (
        _bad_logits("cuda"), _bad_index_target("cuda"), torch.ones(NUM_CLASSES), {}),
        needs_cuda=True),
    BadInputCase("weight on cuda, input on cpu", lambda d: (
        _bad_logits("cpu"), _bad_index_target("cpu"), torch.ones(NUM_CLASSES, device="cuda"), {}),
        needs_cuda=True),
    BadInputCase("prob targets with ignore_index=255", lambda d: (
        _bad_logits(d), torch.full((4, NUM_CLASSES), 1.0 / NUM_CLASSES, device=d), None,
        {"ignore_index": 255})),
    BadInputCase("target = C (out of range)", lambda d: (
        _bad_logits(d), _targets(0, 1, 2, NUM_CLASSES).to(d), None, {}),
        skip_on_cuda="a device-side assert would poison the CUDA context for later cases"),
    BadInputCase("target = -1, ignore_index=-100", lambda d: (
        _bad_logits(d), _targets(0, 1, 2, -1).to(d), None, {}),
        skip_on_cuda="a device-side assert would poison the CUDA context for later cases"),
    BadInputCase("target batch size != input batch size", lambda d: (
        _bad_logits(d), _targets(0, 1, 2).to(d), None, {})),
    BadInputCase("label_smoothing = 1.5", lambda d: (
        _bad_logits(d), _bad_index_target(d), None, {"label_smoothing": 1.5})),
    BadInputCase("label_smoothing = -0.1", lambda d: (
        _bad_logits(d), _bad_index_target(d), None, {"label_smoothing": -0.1})),
)


def run_bad_input_case(case: BadInputCase, device: str) -> CaseResult:
    result = CaseResult("bad_input", case.name, device, "float32", verdict="raises")
    if case.needs_cuda and device != "cuda":
        result.verdict = "skipped"
        result.note = "mixes cpu and cuda: run under device cuda" if torch.cuda.is_available() \
            else "needs CUDA"
        return result
    if case.skip_on_cuda and device == "cuda":
        result.verdict, result.note = "skipped", case.skip_on_cuda
        return result
    logits, target, weight, kwargs = case.build(device)
    try:
        loss = F.cross_entropy(logits, target, weight=weight, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        result.verdict, result.torch_loss = "accepts", float(loss.double().sum())
        result.note = "torch accepts this input without an error"
    except Exception as exc:  # noqa: BLE001 - any torch failure is the recorded verdict
        result.torch_error = _error_text(exc)
    try:
        reference_loss = reference.cross_entropy(logits, target, weight, **kwargs)
        result.reference_loss = float(reference_loss.sum())
        result.rule_broken = True
        result.note = "; ".join(filter(None, (result.note, "the reference did not reject it")))
    except ValueError as exc:
        result.reference_error = _error_text(exc)
    except Exception as exc:  # noqa: BLE001 - a reference crash is a broken rule, not a crash
        result.reference_error, result.rule_broken = _error_text(exc), True
        result.note = "; ".join(filter(None, (result.note, "the reference must raise ValueError")))
    return result


# --- running everything -----------------------------------------------------------------


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@contextlib.contextmanager
def single_cpu_thread() -> Iterator[None]:
    """The cases are tiny: handing them to a CPU thread pool costs ~40x the work."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_all(devices: list[str]) -> list[CaseResult]:
    results: list[CaseResult] = []
    with single_cpu_thread():
        for device in devices:
            results += [run_golden_case(case, device) for case in GOLDEN_CASES]
            results += [run_edge_case(case, device) for case in EDGE_CASES]
            results += [run_bad_input_case(case, device) for case in BAD_INPUT_CASES]
        results += [run_grid_case(case) for case in grid_cases(devices)]
    return results


@dataclass
class Report:
    torch_version: str
    devices: dict[str, str]
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def broken(self) -> list[CaseResult]:
        return [case for case in self.cases if case.rule_broken]

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for case in self.cases:
            per_kind = counts.setdefault(case.kind, {})
            per_kind[case.verdict] = per_kind.get(case.verdict, 0) + 1
        return counts

    def to_json(self) -> dict:
        return _json_safe({
            "torch_version": self.torch_version,
            "devices": self.devices,
            "summary": {"verdicts": self.verdict_counts(), "rules_broken": len(self.broken)},
            "cases": [asdict(case) for case in self.cases],
        })


def check(devices: list[str]) -> Report:
    return Report(torch.__version__, {d: device_name(d) for d in devices}, run_all(devices))


def _json_safe(value):
    """NaN and ±inf become the strings 'nan', 'inf', '-inf' (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# --- the `cebench check` table ----------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_table(cases: list[CaseResult]) -> str:
    header = ("kind", "case", "device", "dtype", "torch", "reference", "abs err", "rel err",
              "grad rel err", "verdict")
    rows = [
        (c.kind, c.name, c.device, c.dtype,
         _fmt(c.torch_loss) if c.torch_error is None else "raises",
         _fmt(c.reference_loss) if c.reference_error is None else "raises",
         _fmt(c.loss_abs_error), _fmt(c.loss_rel_error), _fmt(c.grad_rel_error),
         c.verdict + ("  RULE BROKEN" if c.rule_broken else ""))
        for c in cases
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for case, row in zip(cases, rows, strict=True):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        for label, text in (("torch", case.torch_error), ("reference", case.reference_error),
                            ("note", case.note)):
            if text:
                lines.append(f"    {label}: {text}")
    return "\n".join(lines)


def format_summary(report: Report) -> str:
    lines = [f"torch {report.torch_version}; devices: "
             + ", ".join(f"{d} ({name})" for d, name in report.devices.items())]
    for kind, counts in report.verdict_counts().items():
        lines.append(f"  {kind:<10} " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    lines.append(f"{len(report.cases)} cases, {len(report.broken)} broken rules")
    return "\n".join(lines)


def _shown_by_default(case: CaseResult) -> bool:
    always_shown = case.kind in ("golden", "edge", "bad_input")
    return always_shown or case.verdict not in ("matches", "skipped")


def run_check_command(args: argparse.Namespace) -> int:
    from cebench.errors import InputError

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device cuda: CUDA is not available to torch {torch.__version__}")
    devices = [args.device] if args.device else available_devices()
    report = check(devices)
    shown = report.cases if args.all else [c for c in report.cases if _shown_by_default(c)]
    print(format_table(shown))
    print()
    print(format_summary(report))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(report.to_json(), indent=1) + "\n")
        except OSError as exc:
            raise InputError(f"cannot write --json {args.json}: {exc.strerror}") from exc
    return 1 if report.broken else 0


def register_cli(subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check torch's cross entropy against the float64 reference",
        description="Compare F.cross_entropy (loss and input gradient) with cebench's float64 "
        "reference over a grid of cases, plus the article's golden values, edge behaviour "
        "and bad input. Exit 1 when a rule is broken.",
    )
    parser.add_argument("--all", action="store_true", help="show every case, not only "
                        "non-matching, golden, edge and bad-input rows")
    parser.add_argument("--json", metavar="FILE", help="write every case and the summary as JSON")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="run on this device only")
    parser.set_defaults(func=run_check_command)


# --- accuracy of low precision, tracked by asv (benchmarks/bench_accuracy.py) -----------

ACCURACY_DTYPES = ("float16", "bfloat16", "autocast_float16", "autocast_bfloat16")
ACCURACY_WEIGHTINGS = ("none", "random")
ACCURACY_SHAPE_BY_DEVICE = {"cuda": (2048, 1000), "cpu": (512, 128)}  # (N, C)
ACCURACY_FEATURES = 64


def accuracy_relative_error(
    dtype: str, reduction: str, weighting: str, device: str | None = None, quantity: str = "loss"
) -> float:
    """Relative error of torch's low-precision loss or logits-gradient vs the reference.

    ``dtype`` 'float16'/'bfloat16': logits rounded to it and cross entropy run in it.
    'autocast_*': logits from a matmul under ``torch.autocast`` (so in that dtype), cross
    entropy under autocast too, by ``device``'s autocast rule (CPU: the whole loss in
    float32; CUDA: log_softmax in the low dtype, nll_loss in float32; see
    docs/semantics.md). The reference gets the same rounded logits in float64.
    A scalar's error is |t − r|/|r|; a tensor's is ‖t − r‖₂/‖r‖₂.
    """
    if dtype not in ACCURACY_DTYPES:
        raise ValueError(f"dtype must be one of {ACCURACY_DTYPES}, got {dtype!r}")
    if quantity not in ("loss", "grad"):
        raise ValueError(f"quantity must be 'loss' or 'grad', got {quantity!r}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    num_rows, num_classes = ACCURACY_SHAPE_BY_DEVICE[device]
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(num_rows, ACCURACY_FEATURES, generator=generator).to(device)
    projection = (torch.randn(ACCURACY_FEATURES, num_classes, generator=generator) * 0.3).to(device)
    target = torch.randint(0, num_classes, (num_rows,), generator=generator).to(device)
    weight = _to(class_weights(weighting, num_classes, generator), device)

    autocast = dtype.startswith("autocast_")
    low_dtype = getattr(torch, dtype.removeprefix("autocast_"))
    if autocast:
        with torch.autocast(device_type=device, dtype=low_dtype):
            logits = (features @ projection).detach().requires_grad_(True)
            loss = F.cross_entropy(logits, target, weight=weight, reduction=reduction)
        reference_logits, reference_weight = logits.detach().float(), weight
    else:
        logits = (features @ projection).to(low_dtype).requires_grad_(True)
        low_weight = None if weight is None else weight.to(low_dtype)
        loss = F.cross_entropy(logits, target, weight=low_weight, reduction=reduction)
        reference_logits, reference_weight = logits.detach(), low_weight
    loss.sum().backward()
    ref_loss, ref_grad = reference.loss_and_grad(
        reference_logits, target, reference_weight, reduction=reduction
    )
    got, want = (loss, ref_loss) if quantity == "loss" else (logits.grad, ref_grad)
    got, want = got.detach().double().reshape(-1), want.reshape(-1)
    return float(torch.linalg.vector_norm(got - want) / torch.linalg.vector_norm(want))


# --- docs/semantics.md, generated so that it cannot drift -------------------------------

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "semantics.md"


def _neg_log_prob(column: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in column)) - column[target]


def render_semantics_doc() -> str:
    """The text of docs/semantics.md; its numbers come from the float64 reference."""
    sections = [_DOC_HEAD]
    for case in GOLDEN_CASES:
        sections.append(_render_worked_example(case))
    sections.append(_render_tail())
    return "\n".join(sections)


def _render_worked_example(case: GoldenCase) -> str:
    num_classes, positions = case.logits_shape[1], case.logits_shape[2]
    columns = [
        [case.logits[c * positions + p] for c in range(num_classes)] for p in range(positions)
    ]
    logits, target, weight = golden_inputs(case)
    kwargs = {"ignore_index": case.ignore_index}
    per_position = reference.cross_entropy(logits, target, reduction="none", **kwargs)
    mean = float(reference.cross_entropy(logits, target, weight, reduction="mean", **kwargs))
    rows = []
    terms, weights = [], []
    for p, column in enumerate(columns):
        y = case.target[p]
        nll = float(per_position[0, p])
        assert abs(nll - _neg_log_prob(column, y)) < 1e-12  # the reference agrees with math.log
        w = case.weight[y]
        rows.append(f"| {p} | {_nums(column)} | {y} | {nll:.4f} | {w:g} |")
        terms.append(f"{w:g}·{nll:.4f}")
        weights.append(f"{w:g}")
    lines = [
        f"### {case.name}",
        "",
        f"Logits {list(case.logits)} viewed as {case.logits_shape}, targets "
        f"{list(case.target)} viewed as {case.target_shape}, `weight={list(case.weight)}`"
        + (f", `ignore_index={case.ignore_index}`" if case.ignore_index != -100 else "")
        + ".",
        "",
        "| position | logits over classes | target y | −log p[y] | w[y] |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"'mean' = ({' + '.join(terms)}) / ({' + '.join(weights)}) = **{mean:.4f}**",
        "",
    ]
    return "\n".join(lines)


def _nums(values) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


_DOC_HEAD = """\
# What `weight` means in PyTorch's cross entropy

<!-- Generated by `python -m cebench.semantics.conformance --write-doc`; do not edit by hand.
     tests/test_conformance.py fails when this file and the generator disagree, and
     `cebench check` verifies every rule below against torch on each device. -->

`F.cross_entropy(input, target, weight=None, ignore_index=-100, reduction='mean',
label_smoothing=0.0)`, for an input of shape (C,), (N, C) or (N, C, d1, …, dk), with
log p = log_softmax(input) over the class dimension. `cebench.semantics.reference` computes each
rule below in float64 from these formulas, independently of torch's kernels.

## Rules

- **Class-index targets** y: `'none'` gives w[y]·(−log p[y]) per element, 0 where
  y = ignore_index; `'sum'` adds them; `'mean'` divides that sum by **Σ w[y] over the
  non-ignored targets** (their count without `weight`), not by the number of elements.
- **Nothing to average**: all targets ignored, or all selected weights zero, under
  `'mean'` is 0/0 = NaN (torch ≥ 1.11, pytorch#64572; earlier versions gave 0).
  `cebench check` records what each torch version does instead of assuming it.
- **Probability targets** (target shaped like the input, floating point):
  −Σ_c w_c·y_c·log p_c per position; `'mean'` divides by the number of positions
  N·d1·…·dk, never by a weight sum. `ignore_index` ≥ 0 is rejected.
- **Label smoothing** ε with class-index targets: per element
  (1−ε)·w[y]·(−log p[y]) + (ε/C)·Σ_c w_c·(−log p_c), 0 where ignored; under `'mean'`
  both terms are divided by the same Σ w[y] over the non-ignored targets (ATen's
  `cross_entropy_loss_label_smoothing`). With probability targets, y ← (1−ε)·y + ε/C.
- **Spatial inputs** (N, C, d1, …): every position is an element; the `'mean'`
  denominator counts (or weighs) all N·d1·…·dk of them.
- **`weight`** must be 1-D with C entries, on the input's device, in the input's dtype.
  torch enforces the dtype for class-index targets only; with probability targets a
  float64 weight silently promotes the result (`cebench check` reports it).
- **fp16**: the total weight under `'mean'` may be accumulated in the input dtype, so
  more than 65504 unit-weight targets can overflow it to inf and the mean to 0 (torch
  #29429, #85791); `cebench check` records the outcome per version and device.
- **autocast** (`torch.autocast` with float16/bfloat16) follows the device's rule. On
  the CPU the whole `cross_entropy_loss` is autocast to float32. On CUDA it is not
  (torch 2.13 has no CUDA autocast kernel for it): `log_softmax` runs in the logits'
  low dtype and only `nll_loss` is cast to float32, so the log-probabilities are
  rounded to float16/bfloat16 first; probability targets stay low throughout. The
  accuracy benchmarks (`bench_accuracy`) run on the benchmark device and show its
  rule: results from a GPU machine the CUDA rule, from a CPU machine the CPU rule.

## Worked examples (the source article)

The weighted mean divides by the sum of the targets' weights. Each −log p[y] below is
log Σ_c exp(x_c) − x_y for that position's logits.
"""

def _render_tail() -> str:
    """Why the article's second example is not a plain average of weighted losses."""
    case = GOLDEN_CASES[1]
    logits, target, weight = golden_inputs(case)
    kwargs = {"ignore_index": case.ignore_index}
    weighted = reference.cross_entropy(logits, target, weight, reduction="none", **kwargs)
    wrong_mean = float(weighted.sum()) / weighted.numel()
    return (
        f"With `weight={list(case.weight)}` the second example is not the weighted sum over\n"
        f"the number of elements, {float(weighted.sum()):.4f}/{weighted.numel()} = "
        f"{wrong_mean:.4f}, but over the weights\nof the two targets.\n\n"
        "Run `cebench check` to see torch reproduce these numbers on your version and device.\n"
    )


def write_doc(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_semantics_doc())
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cebench.semantics.conformance")
    parser.add_argument("--write-doc", nargs="?", const=str(DOC_PATH), metavar="PATH",
                        help=f"write the semantics doc (default {DOC_PATH})")
    args = parser.parse_args(argv)
    if args.write_doc:
        print(write_doc(Path(args.write_doc)))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
