"""Deterministic inputs for a case, built once per process, and the loss calls on them.

Inputs are made outside any timed region, seeded, on the benchmark device, with the
weight in the logits' dtype and on their device. :func:`prepare` caches them per
process: asv re-runs ``setup`` before every sample, which must not rebuild gigabytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable

import torch
import torch.nn.functional as F

from cebench.grid.cases import IGNORE_INDEX, PASSES, SEED, SEED_CLASS_WEIGHTS, Case


class SkipCase(Exception):
    """This case cannot run here (too big, out of memory, unsupported); says why."""


def bench_device() -> str:
    """The device benchmarks run on: ``CEBENCH_DEVICE``, else CUDA when present, else CPU."""
    device = os.environ.get("CEBENCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"CEBENCH_DEVICE must be 'cpu' or 'cuda', not {device!r}")
    return device


@dataclasses.dataclass
class Inputs:
    case: Case
    device: str
    logits: torch.Tensor            # never requires grad: the forward-only (inference) pass
    logits_leaf: torch.Tensor       # same storage, requires grad: the training pass
    target: torch.Tensor
    weight: torch.Tensor | None
    grad_output: torch.Tensor | None  # for reduction='none'; scalars need none

    def loss(self, logits: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
        """``F.cross_entropy`` on these inputs (under autocast if the case says so)."""
        with autocast_context(self.case, self.device):
            return F.cross_entropy(
                logits, self.target, weight=weight, ignore_index=IGNORE_INDEX,
                reduction=self.case.reduction, label_smoothing=self.case.label_smoothing,
            )


def autocast_context(case: Case, device: str):
    if case.autocast_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=getattr(torch, case.autocast_dtype))


def _generator(device: str) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(SEED)


def make_logits(case: Case, device: str, gen: torch.Generator) -> torch.Tensor:
    dtype = getattr(torch, case.storage_dtype)
    shape = case.shape
    if case.layout == "noncontig":
        if len(shape) == 2:  # a transposed (C, N) buffer: stride (1, N)
            return torch.randn(shape[::-1], generator=gen, device=device, dtype=dtype).t()
        # an NCHW view that keeps every other column of a twice-as-wide buffer
        wide = (*shape[:-1], 2 * shape[-1])
        return torch.randn(wide, generator=gen, device=device, dtype=dtype)[..., ::2]
    logits = torch.randn(shape, generator=gen, device=device, dtype=dtype)
    if case.layout == "channels_last":
        logits = logits.contiguous(memory_format=torch.channels_last)
    return logits


def make_target(case: Case, device: str, gen: torch.Generator) -> torch.Tensor:
    shape, classes = case.shape, case.num_classes
    if case.target_kind == "probability":
        scores = torch.randn(shape, generator=gen, device=device, dtype=torch.float32)
        return scores.softmax(dim=1).to(getattr(torch, case.storage_dtype))
    spatial = (shape[0], *shape[2:])
    target = torch.randint(0, classes, spatial, generator=gen, device=device)
    if case.ignore_fraction:
        ignored = torch.rand(spatial, generator=gen, device=device,
                             dtype=torch.float32) < case.ignore_fraction
        target[ignored] = IGNORE_INDEX
    return target


def make_weight(case: Case, device: str, gen: torch.Generator) -> torch.Tensor | None:
    classes, dtype = case.num_classes, getattr(torch, case.storage_dtype)
    if case.weighting == "none":
        return None
    if case.weighting == "ones":
        weight = torch.ones(classes, device=device, dtype=torch.float32)
    elif case.weighting == "random":
        weight = 0.5 + torch.rand(classes, generator=gen, device=device, dtype=torch.float32)
    else:  # zero_class: the article's class weights, one zero in six
        seed = torch.tensor(SEED_CLASS_WEIGHTS, device=device, dtype=torch.float32)
        weight = seed.repeat(-(-classes // len(seed)))[:classes]
    return weight.to(dtype)


def build_inputs(case: Case, device: str) -> Inputs:
    reason = case.skip_reason(device)
    if reason:
        raise SkipCase(reason)
    gen = _generator(device)
    try:
        logits = make_logits(case, device, gen)
        target = make_target(case, device, gen)
        weight = make_weight(case, device, gen)
        inputs = Inputs(case, device, logits, logits.detach().requires_grad_(), target,
                        weight, None)
        if case.reduction == "none":
            with torch.no_grad():
                loss = inputs.loss(logits, weight)
            inputs.grad_output = torch.ones_like(loss)
    except torch.OutOfMemoryError as exc:
        torch.cuda.empty_cache()
        raise SkipCase(f"CUDA out of memory building inputs: {str(exc).splitlines()[0]}") from exc
    except RuntimeError as exc:  # e.g. a dtype this build's kernels lack
        raise SkipCase(f"torch cannot run it here: {str(exc).splitlines()[0]}") from exc
    return inputs


def loss_call(inputs: Inputs, pass_: str, weighted: bool = True) -> Callable[[], object]:
    """A no-argument callable running one ``pass_`` ('forward' or 'forward_backward').

    ``weighted=False`` drops the weight (the unweighted twin of a weighted case).
    The asv benchmarks take their calls from :func:`cebench.measure.inject.benchmark_call`,
    which can slow them down on purpose to validate ``cebench compare``.
    """
    if pass_ not in PASSES:
        raise ValueError(f"unknown pass {pass_!r}; expected one of {', '.join(PASSES)}")
    weight = inputs.weight if weighted else None
    if pass_ == "forward":
        logits = inputs.logits

        def forward():
            with torch.no_grad():
                return inputs.loss(logits, weight)

        return forward

    leaf, grad_output = inputs.logits_leaf, inputs.grad_output

    def forward_backward():
        loss = inputs.loss(leaf, weight)
        return torch.autograd.grad(loss, leaf, grad_output)

    return forward_backward


_PREPARED: dict[tuple[str, str], Inputs] = {}


def prepare(case: Case, device: str) -> Inputs:
    """The inputs of ``case`` on ``device``, built on first use and kept for the process.

    Only the latest case is kept: asv runs one parameter combination per process, and
    GPU cases can take gigabytes. Raises :class:`SkipCase` with the reason when the case
    cannot run here, including a CUDA out-of-memory on the first call.
    """
    key = (case.name, device)
    if key not in _PREPARED:
        _PREPARED.clear()
        inputs = build_inputs(case, device)
        try:
            for pass_ in PASSES:  # one call each: fails early, warms kernels and caches
                loss_call(inputs, pass_)()
        except torch.OutOfMemoryError as exc:
            del inputs
            torch.cuda.empty_cache()
            raise SkipCase(f"CUDA out of memory: {str(exc).splitlines()[0]}") from exc
        except RuntimeError as exc:
            raise SkipCase(f"torch cannot run it here: {str(exc).splitlines()[0]}") from exc
        _PREPARED[key] = inputs
    return _PREPARED[key]
