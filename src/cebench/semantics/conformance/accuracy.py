"""Numerical accuracy of low-precision cross entropy against the float64 reference, the
metric asv tracks per torch version (benchmarks/bench_accuracy.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cebench.semantics import reference
from cebench.semantics.conformance.comparison import to_device
from cebench.semantics.conformance.grid import class_weights

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
    weight = to_device(class_weights(weighting, num_classes, generator), device)

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

