"""Inputs are what the case says: layout, targets, weight dtype/device, determinism."""

import importlib
import pathlib
import sys

import pytest
import torch
import torch.nn.functional as F

from cebench.grid import inputs
from cebench.grid.cases import IGNORE_INDEX, SEED_CLASS_WEIGHTS, Case

BENCH_DIR = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def test_contiguous_2d_and_nchw():
    x = inputs.build_inputs(Case("small"), "cpu")
    assert x.logits.shape == (4096, 128) and x.logits.is_contiguous()
    assert x.target.shape == (4096,) and x.target.dtype == torch.int64
    seg = inputs.build_inputs(Case("small-seg"), "cpu")
    assert seg.logits.shape == (2, 21, 64, 64) and seg.target.shape == (2, 64, 64)


def test_channels_last_has_nhwc_strides():
    x = inputs.build_inputs(Case("small-seg", layout="channels_last"), "cpu").logits
    n, c, h, w = x.shape
    assert x.stride() == (h * w * c, 1, w * c, c)
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


def test_noncontig_views_are_really_strided():
    x2 = inputs.build_inputs(Case("small", layout="noncontig"), "cpu").logits
    assert x2.shape == (4096, 128) and x2.stride() == (1, 4096)
    x4 = inputs.build_inputs(Case("small-seg", layout="noncontig"), "cpu").logits
    assert x4.shape == (2, 21, 64, 64) and x4.stride()[-1] == 2 and not x4.is_contiguous()


def test_probability_targets_are_distributions_shaped_like_the_logits():
    x = inputs.build_inputs(Case("small-seg", layout="prob_targets", dtype="bfloat16"), "cpu")
    assert x.target.shape == x.logits.shape and x.target.dtype == torch.bfloat16
    sums = x.target.float().sum(dim=1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=2e-2)
    assert (x.target >= 0).all()


@pytest.mark.parametrize("dtype, stored", [
    ("float32", torch.float32), ("float16", torch.float16), ("bfloat16", torch.bfloat16),
    ("autocast_bfloat16", torch.bfloat16),
])
def test_weight_has_the_inputs_dtype_and_device(dtype, stored):
    x = inputs.build_inputs(Case("small", dtype=dtype, weighting="random"), "cpu")
    assert x.logits.dtype == stored
    assert x.weight.dtype == x.logits.dtype and x.weight.device == x.logits.device
    assert x.weight.shape == (128,) and (x.weight > 0).all()


def test_weight_values():
    assert inputs.build_inputs(Case("small", weighting="none"), "cpu").weight is None
    assert (inputs.build_inputs(Case("small", weighting="ones"), "cpu").weight == 1).all()
    zero = inputs.build_inputs(Case("small", weighting="zero_class"), "cpu").weight
    assert zero[:6].tolist() == pytest.approx(SEED_CLASS_WEIGHTS)
    assert (zero == 0).sum() == 128 // 6 + (1 if 128 % 6 > 5 else 0)


def test_ignored_fraction_and_determinism():
    a = inputs.build_inputs(Case("small", ignore_fraction=0.1), "cpu")
    b = inputs.build_inputs(Case("small", ignore_fraction=0.1), "cpu")
    fraction = (a.target == IGNORE_INDEX).float().mean().item()
    assert 0.08 < fraction < 0.12
    assert torch.equal(a.logits, b.logits) and torch.equal(a.target, b.target)


def test_loss_calls_compute_the_cases_loss():
    case = Case("small", reduction="none", weighting="random", label_smoothing=0.1)
    x = inputs.build_inputs(case, "cpu")
    expected = F.cross_entropy(x.logits, x.target, weight=x.weight, reduction="none",
                               label_smoothing=0.1)
    assert torch.equal(inputs.loss_call(x, "forward")(), expected)
    unweighted = F.cross_entropy(x.logits, x.target, reduction="none", label_smoothing=0.1)
    assert torch.equal(inputs.loss_call(x, "forward", weighted=False)(), unweighted)
    (grad,) = inputs.loss_call(x, "forward_backward")()
    assert grad.shape == x.logits.shape and grad.dtype == x.logits.dtype
    assert x.logits_leaf.grad is None  # no accumulation between timed calls


def test_autocast_case_computes_in_float32():
    x = inputs.build_inputs(Case("small", dtype="autocast_bfloat16", reduction="none"), "cpu")
    assert x.logits.dtype == torch.bfloat16
    assert inputs.loss_call(x, "forward")().dtype == torch.float32


def test_prepare_skips_what_the_device_cannot_run_with_the_reason():
    with pytest.raises(inputs.SkipCase, match="too big for the CPU grid"):
        inputs.prepare(Case("llm-256k"), "cpu")
    with pytest.raises(inputs.SkipCase, match="channels_last needs a 4-D"):
        inputs.prepare(Case("small", layout="channels_last"), "cpu")


def test_bench_device_rejects_unknown(monkeypatch):
    monkeypatch.setenv("CEBENCH_DEVICE", "tpu")
    with pytest.raises(ValueError, match="CEBENCH_DEVICE"):
        inputs.bench_device()


def test_benchmark_modules_do_not_touch_cuda_at_import(monkeypatch):
    """The fork-server launch is only safe if importing the suite leaves CUDA alone."""
    def forbidden(*args, **kwargs):
        raise AssertionError("CUDA queried at import time")

    monkeypatch.setattr(torch.cuda, "is_available", forbidden)
    monkeypatch.setattr(torch.cuda, "device_count", forbidden)
    monkeypatch.setattr(torch.cuda, "init", forbidden)
    monkeypatch.syspath_prepend(str(BENCH_DIR.parent))
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        name = f"benchmarks.{path.stem}"
        sys.modules.pop(name, None)
        importlib.import_module(name)
