"""Implementations of cross entropy side by side: one small module each.

    impl = impls.get("liger")
    reason = impl.skip_reason(impls.features_of(case), "cuda")   # None: it runs
    fn = impl.load("cuda")      # F.cross_entropy's signature

The names and their order are the implementation axis of the grid
(:data:`cebench.grid.cases.IMPLEMENTATIONS`). Each module declares what it supports
(:class:`~cebench.impls.base.Support`), loads its loss function and says why it cannot
run here (not installed, no suitable device); :func:`loss_call` gives the benchmarks
their timed calls, like :func:`cebench.grid.inputs.loss_call` does for torch eager.
A new implementation is one module with an ``IMPL`` and one name in the axis.
"""

from __future__ import annotations

import importlib
from typing import Callable

from cebench.grid.cases import IMPLEMENTATIONS, Case
from cebench.impls.base import Features, Implementation, Support, Unavailable

__all__ = ["IMPLEMENTATIONS", "Features", "Implementation", "Support", "Unavailable",
           "features_of", "get", "loss_call", "prepared_calls", "rows"]


def get(name: str) -> Implementation:
    """The implementation called ``name``; ValueError naming the known ones otherwise."""
    if name not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {name!r}; expected one of "
                         f"{', '.join(IMPLEMENTATIONS)}")
    return importlib.import_module(f"cebench.impls.{name}").IMPL


def features_of(case: Case) -> Features:
    """What a benchmark case asks of an implementation."""
    return Features(
        weighted=case.weighting != "none", reduction=case.reduction,
        ignores=bool(case.ignore_fraction), label_smoothing=bool(case.label_smoothing),
        prob_targets=case.target_kind == "probability", rank=len(case.shape),
        dtype=case.storage_dtype, autocast=case.autocast_dtype is not None,
    )


def rows(device: str) -> list[dict]:
    """One dict per implementation: installed version, whether it runs on ``device`` (and
    why not), where its times mean something, what it supports, its caveats."""
    out = []
    for name in IMPLEMENTATIONS:
        impl = get(name)
        support = impl.support
        out.append({
            "name": name, "title": impl.title, "package": impl.distribution or "torch",
            "version": impl.version(), "device": device,
            "unavailable": impl.unavailable(device) or (
                None if device in support.devices else f"does not run on {device}"),
            "timed_here": device in support.timed_devices, "support": support.as_dict(),
            "measured_as": impl.measured_as, "caveats": list(impl.caveats),
        })
    return out


def loss_call(inputs, impl_name: str, pass_: str, weighted: bool = True,
              fn: Callable | None = None) -> Callable[[], object]:
    """A no-argument callable running one ``pass_`` of ``impl_name`` on prepared inputs
    (:func:`cebench.grid.inputs.prepare`), like :func:`cebench.grid.inputs.loss_call`.

    ``weighted=False`` drops the weight. ``fn`` is the loaded loss function (loaded for
    the inputs' device when not given). A forward+backward call returns the gradient.
    """
    import torch

    from cebench.grid.cases import IGNORE_INDEX, PASSES

    if pass_ not in PASSES:
        raise ValueError(f"unknown pass {pass_!r}; expected one of {', '.join(PASSES)}")
    fn = fn or get(impl_name).load(inputs.device)
    weight = inputs.weight if weighted else None
    kwargs = {"weight": weight, "ignore_index": IGNORE_INDEX,
              "reduction": inputs.case.reduction,
              "label_smoothing": inputs.case.label_smoothing}
    target = inputs.target
    if pass_ == "forward":
        logits = inputs.logits

        def forward():
            with torch.no_grad():
                return fn(logits, target, **kwargs)

        return forward

    leaf, grad_output = inputs.logits_leaf, inputs.grad_output

    def forward_backward():
        loss = fn(leaf, target, **kwargs)
        return torch.autograd.grad(loss, leaf, grad_output)

    return forward_backward


_PREPARED_CALLS: dict[tuple, dict] = {}


def prepared_calls(inputs, impl_name: str) -> dict[tuple[str, bool], Callable[[], object]]:
    """``{(pass, weighted): call}`` of ``impl_name`` on ``inputs``, each called once (so a
    compiled implementation compiles here, outside any timed region); kept for the
    process, for the latest inputs only. Errors of that first call propagate."""
    from cebench.grid.cases import PASSES

    key = (impl_name, inputs.case.name, inputs.device)
    if key not in _PREPARED_CALLS:
        _PREPARED_CALLS.clear()
        fn = get(impl_name).load(inputs.device)
        calls = {}
        for pass_ in PASSES:
            for weighted in ((True, False) if inputs.weight is not None else (True,)):
                call = loss_call(inputs, impl_name, pass_, weighted, fn)
                call()
                calls[pass_, weighted] = call
        _PREPARED_CALLS[key] = calls
    return _PREPARED_CALLS[key]
