"""torch against the reference on one set of inputs: tolerances, comparison, verdict.

Every kind of case (golden, grid, edge) ends in :func:`compared_result`: torch's loss and
input gradient next to the float64 reference's, as a :class:`CaseResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from cebench.semantics import reference


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


def torch_loss_and_grad(logits: Tensor, target: Tensor, weight: Tensor | None,
                        cross_entropy=None, **kwargs):
    """torch's (loss, d loss.sum() / d logits), in the input's dtype.

    ``cross_entropy`` is the function under test (default ``F.cross_entropy``); it gets a
    fresh copy of the logits, so an implementation that writes into them harms no one.
    """
    leaf = logits.detach().clone().requires_grad_(True)
    loss = (cross_entropy or F.cross_entropy)(leaf, target, weight=weight, **kwargs)
    loss.sum().backward()
    return loss.detach(), leaf.grad


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


def error_text(exc: BaseException) -> str:
    """'TypeName: first line of the message'."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"


def to_device(tensor: Tensor | None, device: str) -> Tensor | None:
    return None if tensor is None else tensor.to(device)


def compared_result(kind, name, device, dtype, logits, target, weight, kwargs, tol,
                    cross_entropy=None) -> CaseResult:
    """Run torch (or ``cross_entropy``, an implementation with its signature) and the
    reference on the same inputs and compare loss and gradient."""
    result = CaseResult(kind, name, device, dtype, verdict="matches")
    try:
        ref_loss, ref_grad = reference.loss_and_grad(logits, target, weight, **kwargs)
    except ValueError as exc:
        result.verdict, result.rule_broken = "reference_raises", True
        result.reference_error = error_text(exc)
        result.note = "the reference could not compute this case"
        return result
    try:
        torch_loss, torch_grad = torch_loss_and_grad(logits, target, weight, cross_entropy,
                                                     **kwargs)
    except Exception as exc:  # noqa: BLE001 - any torch failure is a recorded verdict
        result.verdict, result.torch_error = "raises", error_text(exc)
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
