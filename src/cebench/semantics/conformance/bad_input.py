"""Misuse: torch's error is recorded (or that it accepted the input); the reference must
reject every case with a clear ``ValueError``, or a rule is broken."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from cebench.semantics import reference
from cebench.semantics.conformance.comparison import CaseResult, error_text
from cebench.semantics.conformance.grid import NUM_CLASSES, index_targets


@dataclass(frozen=True)
class BadInputCase:
    name: str
    build: Callable[[str], tuple[Tensor, Tensor, Tensor | None, dict]]
    needs_cuda: bool = False
    skip_on_cuda: str = ""  # a reason, when the case cannot run safely on CUDA


def _bad_logits(device: str, shape=(4, NUM_CLASSES)) -> Tensor:
    return torch.linspace(-2.0, 2.0, math.prod(shape)).view(shape).to(device)


def _bad_index_target(device: str) -> Tensor:
    return index_targets(0, 1, 2, 3).to(device)


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
        _bad_logits(d), index_targets(0, 1, 2, NUM_CLASSES).to(d), None, {}),
        skip_on_cuda="a device-side assert would poison the CUDA context for later cases"),
    BadInputCase("target = -1, ignore_index=-100", lambda d: (
        _bad_logits(d), index_targets(0, 1, 2, -1).to(d), None, {}),
        skip_on_cuda="a device-side assert would poison the CUDA context for later cases"),
    BadInputCase("target batch size != input batch size", lambda d: (
        _bad_logits(d), index_targets(0, 1, 2).to(d), None, {})),
    BadInputCase("label_smoothing = 1.5", lambda d: (
        _bad_logits(d), _bad_index_target(d), None, {"label_smoothing": 1.5})),
    BadInputCase("label_smoothing = -0.1", lambda d: (
        _bad_logits(d), _bad_index_target(d), None, {"label_smoothing": -0.1})),
)


def run_bad_input_case(case: BadInputCase, device: str, cross_entropy=None) -> CaseResult:
    """torch's ``F.cross_entropy`` (or ``cross_entropy``, a function with its signature) on
    one misuse, and the reference, which must reject it."""
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
        loss = (cross_entropy or F.cross_entropy)(logits, target, weight=weight, **kwargs)
        if device == "cuda":
            torch.cuda.synchronize()
        result.verdict, result.torch_loss = "accepts", float(loss.double().sum())
        result.note = "torch accepts this input without an error"
    except Exception as exc:  # noqa: BLE001 - any torch failure is the recorded verdict
        result.torch_error = error_text(exc)
    try:
        reference_loss = reference.cross_entropy(logits, target, weight, **kwargs)
        result.reference_loss = float(reference_loss.sum())
        result.rule_broken = True
        result.note = "; ".join(filter(None, (result.note, "the reference did not reject it")))
    except ValueError as exc:
        result.reference_error = error_text(exc)
    except Exception as exc:  # noqa: BLE001 - a reference crash is a broken rule, not a crash
        result.reference_error, result.rule_broken = error_text(exc), True
        result.note = "; ".join(filter(None, (result.note, "the reference must raise ValueError")))
    return result
