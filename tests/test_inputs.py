"""Inputs are what the case says: layout, targets, weight dtype/device, determinism."""

import importlib
import pathlib
import sys

import pytest
import torch
import torch.nn.functional as F

from cebench.grid import inputs
from cebench.grid.cases import IGNORE_INDEX, SEED, SEED_CLASS_WEIGHTS, Case
from cebench.semantics import reference

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
    forward = inputs.loss_call(x, "forward")()
    assert torch.equal(forward, expected) and not forward.requires_grad
    unweighted = F.cross_entropy(x.logits, x.target, reduction="none", label_smoothing=0.1)
    assert torch.equal(inputs.loss_call(x, "forward", weighted=False)(), unweighted)
    (grad,) = inputs.loss_call(x, "forward_backward")()
    assert grad.shape == x.logits.shape and grad.dtype == x.logits.dtype
    assert x.logits_leaf.grad is None  # no accumulation between timed calls
    # the gradient is d(sum of the per-row losses)/d logits: the float64 reference's
    _, grad64 = reference.loss_and_grad(x.logits, x.target, x.weight, reduction="none",
                                        label_smoothing=0.1)
    torch.testing.assert_close(grad.double(), grad64, rtol=1e-4, atol=1e-7)
    (unweighted_grad,) = inputs.loss_call(x, "forward_backward", weighted=False)()
    _, unweighted64 = reference.loss_and_grad(x.logits, x.target, reduction="none",
                                              label_smoothing=0.1)
    torch.testing.assert_close(unweighted_grad.double(), unweighted64, rtol=1e-4, atol=1e-7)


def test_loss_ignores_the_grid_ignore_index_and_uses_the_cases_reduction():
    case = Case("small-seg", reduction="sum", weighting="random", ignore_fraction=0.1)
    x = inputs.build_inputs(case, "cpu")
    assert x.grad_output is None  # a scalar loss needs no grad_output
    expected = reference.cross_entropy(x.logits, x.target, x.weight, ignore_index=IGNORE_INDEX,
                                       reduction="sum")
    torch.testing.assert_close(inputs.loss_call(x, "forward")().double(), expected,
                               rtol=1e-5, atol=0)
    (grad,) = inputs.loss_call(x, "forward_backward")()
    _, grad64 = reference.loss_and_grad(x.logits, x.target, x.weight,
                                        ignore_index=IGNORE_INDEX, reduction="sum")
    torch.testing.assert_close(grad.double(), grad64, rtol=1e-4, atol=1e-7)


def test_reduction_none_gets_a_grad_output_of_ones():
    x = inputs.build_inputs(Case("small-seg", reduction="none"), "cpu")
    assert torch.equal(x.grad_output, torch.ones(2, 64, 64))


def test_an_unknown_pass_is_refused():
    x = inputs.build_inputs(Case("small"), "cpu")
    with pytest.raises(ValueError, match=r"^unknown pass 'backward'; expected one of forward, "
                                         r"forward_backward$"):
        inputs.loss_call(x, "backward")


@pytest.mark.parametrize("dtype, low", [("autocast_bfloat16", torch.bfloat16),
                                        ("autocast_float16", torch.float16)])
def test_autocast_case_computes_in_float32(dtype, low):
    x = inputs.build_inputs(Case("small", dtype=dtype, reduction="none"), "cpu")
    assert x.logits.dtype == low
    assert inputs.loss_call(x, "forward")().dtype == torch.float32
    with inputs.autocast_context(x.case, "cpu"):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == low
    with inputs.autocast_context(Case("small", dtype="bfloat16"), "cpu"):
        assert not torch.is_autocast_enabled("cpu")


def test_inputs_are_the_seeded_values():
    """Logits, targets and weight come, in this order, from one generator seeded with SEED."""
    gen = torch.Generator().manual_seed(SEED)
    logits = torch.randn(128, 4096, generator=gen).t()  # noncontig 2-D: a transposed buffer
    target = torch.randint(0, 128, (4096,), generator=gen)
    weight = 0.5 + torch.rand(128, generator=gen)
    x = inputs.build_inputs(Case("small", layout="noncontig", weighting="random"), "cpu")
    assert torch.equal(x.logits, logits) and x.logits.stride() == logits.stride()
    assert torch.equal(x.target, target) and torch.equal(x.weight, weight)
    gen = torch.Generator().manual_seed(SEED)
    wide = torch.randn(2, 21, 64, 128, generator=gen)
    x4 = inputs.build_inputs(Case("small-seg", layout="noncontig"), "cpu")
    assert torch.equal(x4.logits, wide[..., ::2])


DEFAULTS_CASES = [
    Case("small", layout="noncontig", weighting="random", reduction="none"),
    Case("small-seg", layout="noncontig", dtype="bfloat16", weighting="ones",
         ignore_fraction=0.1),
    Case("small-seg", layout="channels_last", dtype="float16", weighting="zero_class"),
    Case("small", layout="prob_targets", weighting="random"),
    Case("small-seg", layout="prob_targets", dtype="bfloat16"),
]


def test_inputs_do_not_depend_on_torch_defaults():
    """Every tensor is made on the device and in the dtype the case asks for: a default
    device (meta) and dtype (float64) set by the caller change nothing."""
    plain = [inputs.build_inputs(case, "cpu") for case in DEFAULTS_CASES]
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        with torch.device("meta"):
            under_defaults = [inputs.build_inputs(case, "cpu") for case in DEFAULTS_CASES]
    finally:
        torch.set_default_dtype(previous)
    for a, b in zip(plain, under_defaults):
        for name in ("logits", "target", "weight", "grad_output"):
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert y.device.type == "cpu" and y.dtype == x.dtype, (a.case.name, name)
                assert torch.equal(x, y) and x.stride() == y.stride(), (a.case.name, name)
        storage = getattr(torch, a.case.storage_dtype)
        assert a.logits.dtype == storage and (a.weight is None or a.weight.dtype == storage)


@pytest.mark.cuda
def test_inputs_are_made_on_the_gpu():
    for case in DEFAULTS_CASES:
        x = inputs.build_inputs(case, "cuda")
        for t in (x.logits, x.target, x.weight, x.grad_output):
            assert t is None or t.device.type == "cuda"


def test_index_targets_span_every_class():
    target = inputs.build_inputs(Case("small"), "cpu").target
    assert int(target.min()) == 0 and int(target.max()) == 127


def test_random_weights_lie_in_half_to_three_halves():
    weight = inputs.build_inputs(Case("small", weighting="random"), "cpu").weight
    assert 0.5 <= float(weight.min()) < 0.6 and 1.4 < float(weight.max()) < 1.5


def test_inputs_are_deterministic_for_every_layout():
    for layout in ("contiguous", "channels_last", "noncontig", "prob_targets"):
        case = Case("small-seg", layout=layout, weighting="random")
        a, b = inputs.build_inputs(case, "cpu"), inputs.build_inputs(case, "cpu")
        assert torch.equal(a.logits, b.logits) and torch.equal(a.target, b.target)
        assert torch.equal(a.weight, b.weight)


def test_bench_device(monkeypatch):
    monkeypatch.delenv("CEBENCH_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert inputs.bench_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert inputs.bench_device() == "cuda"
    monkeypatch.setenv("CEBENCH_DEVICE", "cpu")
    assert inputs.bench_device() == "cpu"


def test_build_inputs_turns_torch_errors_into_skips(monkeypatch):
    def unsupported(*args):
        raise RuntimeError("no kernel for this dtype\nmore detail")

    monkeypatch.setattr(inputs, "make_weight", unsupported)
    with pytest.raises(inputs.SkipCase, match=r"^torch cannot run it here: no kernel for this "
                                              r"dtype$"):
        inputs.build_inputs(Case("small"), "cpu")

    def out_of_memory(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried 2 GiB\nmore detail")

    monkeypatch.setattr(inputs, "make_weight", out_of_memory)
    with pytest.raises(inputs.SkipCase, match=r"^CUDA out of memory building inputs: CUDA out "
                                              r"of memory. Tried 2 GiB$"):
        inputs.build_inputs(Case("small"), "cpu")


def test_prepare_builds_once_and_keeps_only_the_latest_case(monkeypatch):
    built = []
    real_build = inputs.build_inputs
    monkeypatch.setattr(inputs, "build_inputs", lambda case, device: built.append(case.name)
                        or real_build(case, device))
    monkeypatch.setattr(inputs, "_PREPARED", {})
    first = inputs.prepare(Case("small"), "cpu")
    assert inputs.prepare(Case("small"), "cpu") is first and built == [first.case.name]
    inputs.prepare(Case("small-seg"), "cpu")
    assert list(inputs._PREPARED) == [("small-seg.contiguous.float32.mean.w-none", "cpu")]
    assert inputs.prepare(Case("small"), "cpu") is not first and len(built) == 3


@pytest.mark.parametrize("error, message", [
    (RuntimeError("bad kernel\nmore"), r"^torch cannot run it here: bad kernel$"),
    (torch.OutOfMemoryError("CUDA out of memory.\nmore"), r"^CUDA out of memory: CUDA out of "
                                                         r"memory.$"),
])
def test_prepare_turns_a_failing_first_call_into_a_skip(monkeypatch, error, message):
    passes = []

    def failing(x, pass_):
        passes.append(pass_)
        if pass_ == "forward_backward":
            raise error
        return lambda: None

    monkeypatch.setattr(inputs, "_PREPARED", {})
    monkeypatch.setattr(inputs, "loss_call", failing)
    with pytest.raises(inputs.SkipCase, match=message):
        inputs.prepare(Case("small"), "cpu")
    assert passes == ["forward", "forward_backward"] and inputs._PREPARED == {}


def test_prepare_skips_what_the_device_cannot_run_with_the_reason():
    with pytest.raises(inputs.SkipCase, match="too big for the CPU grid"):
        inputs.prepare(Case("llm-256k"), "cpu")
    with pytest.raises(inputs.SkipCase, match="channels_last needs a 4-D"):
        inputs.prepare(Case("small", layout="channels_last"), "cpu")


def test_bench_device_rejects_unknown(monkeypatch):
    monkeypatch.setenv("CEBENCH_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"^CEBENCH_DEVICE must be 'cpu' or 'cuda', not 'tpu'$"):
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
