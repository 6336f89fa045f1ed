"""The analytical memory model: hand-computed cases, torch.profiler on the CPU, CUDA allocator."""

from __future__ import annotations

import pytest
import torch

from cebench.measure import memory
from cebench.grid.cases import Case
from cebench.grid.inputs import build_inputs, loss_call

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


# --- hand-computed -----------------------------------------------------------------------

def test_classification_fp32_by_hand():
    case = Case("classification")  # (8192, 1000) fp32, mean, unweighted
    nc_bytes = 8192 * 1000 * 4
    # forward: log-softmax + nll output (scalar) + total_weight (scalar), 512 B blocks on CUDA
    assert memory.expected_peak_bytes(case, "forward") == nc_bytes + 512 + 512
    assert memory.expected_peak_bytes(case, "forward", "cpu") == nc_bytes + 4 + 4
    # forward+backward: log-softmax (saved) + nll grad + log-softmax grad, plus the scalars
    assert memory.expected_peak_bytes(case, "forward_backward") == 3 * nc_bytes + 2 * 512


def test_bfloat16_halves_and_weight_adds_nothing():
    fp32 = Case("llm-128k", weighting="random")
    bf16 = Case("llm-128k", dtype="bfloat16", weighting="random")
    nc = 4096 * 128256
    assert memory.expected_peak_bytes(bf16, "forward") == nc * 2 + 1024
    assert memory.expected_peak_bytes(fp32, "forward") == nc * 4 + 1024
    assert memory.expected_peak_bytes(bf16, "forward_backward") == 3 * nc * 2 + 1024


def test_cpu_autocast_adds_the_fp32_copy():
    case = Case("llm-128k", dtype="autocast_bfloat16", weighting="random")
    nc = 4096 * 128256
    # fp32 weight copy (128256*4 = 513024 B, one 513024 B block) + fp32 logits + fp32 log-softmax
    assert memory.expected_peak_bytes(case, "forward", dispatch="cpu") == \
        513024 + 2 * nc * 4 + 1024
    # backward in fp32: 3 NC*4 (the copy of the logits is gone by then)
    assert memory.expected_peak_bytes(case, "forward_backward", dispatch="cpu") == \
        513024 + 3 * nc * 4 + 1024


def test_cuda_autocast_keeps_log_softmax_low_and_copies_it_for_nll_loss():
    """CUDA rules (the default on CUDA): 6 NC bytes forward, 10 NC forward+backward (bf16).

    Under torch.autocast("cuda") cross_entropy_loss decomposes (no AutocastCUDA kernel):
    log_softmax in bf16 (2 NC), nll_loss's fp32 copy of it (4 NC, saved for backward) and
    of the weight; backward: nll grad in fp32 (4 NC), then its bf16 cast (2 NC).
    """
    case = Case("llm-32k", dtype="autocast_bfloat16")
    nc = 4096 * 32000
    assert memory.expected_peak_bytes(case, "forward") == 6 * nc + 2 * 512
    # + three scalars: the loss, total_weight and the seed gradient
    assert memory.expected_peak_bytes(case, "forward_backward") == 10 * nc + 3 * 512
    weighted = Case("llm-32k", dtype="autocast_bfloat16", weighting="random")
    assert memory.expected_peak_bytes(weighted, "forward_backward") == \
        10 * nc + 32000 * 4 + 3 * 512
    # probability targets meet no autocast op on CUDA: the bf16 model, unchanged
    soft = Case("small", dtype="autocast_bfloat16", layout="prob_targets")
    assert memory.expected_peak_bytes(soft, "forward_backward") == \
        memory.expected_peak_bytes(Case("small", dtype="bfloat16", layout="prob_targets"),
                                   "forward_backward")
    with pytest.raises(ValueError, match="unknown dispatch"):
        memory.memory_model(case, "forward", dispatch="mps")


def test_reduction_none_keeps_per_row_losses():
    case = Case("segmentation", reduction="none")  # (8, 21, 512, 512)
    nc, rows = 8 * 21 * 512 * 512, 8 * 512 * 512
    assert memory.expected_peak_bytes(case, "forward", "cpu") == nc * 4 + rows * 4 + 4


def test_model_steps_balance():
    model = memory.memory_model(Case("small", weighting="random", label_smoothing=0.1),
                                "forward_backward", "cpu")
    assert model.peak_bytes == max(step.live_bytes for step in model.steps)
    assert sum(step.delta_bytes for step in model.steps) == model.steps[-1].live_bytes
    with pytest.raises(ValueError, match="unknown pass"):
        memory.memory_model(Case("small"), "backward")


# --- against torch.profiler's CPU memory events ------------------------------------------

CPU_CASES = [
    Case("small"),
    Case("small", weighting="random", reduction="none"),
    Case("small", dtype="bfloat16", weighting="random"),
    Case("small", dtype="autocast_bfloat16", weighting="random"),
    Case("small", weighting="random", label_smoothing=0.1),
    Case("small", reduction="none", label_smoothing=0.1),
    Case("small", layout="noncontig"),
    Case("small", layout="prob_targets", weighting="random"),
    Case("small-seg"),
    Case("small-seg", weighting="random", reduction="none"),
    Case("small-seg", layout="channels_last", dtype="autocast_float16"),
    Case("small-seg", layout="noncontig", dtype="autocast_bfloat16"),
    Case("small-seg", layout="prob_targets", reduction="sum"),
]


@pytest.mark.parametrize("pass_", ["forward", "forward_backward"])
@pytest.mark.parametrize("case", CPU_CASES, ids=lambda c: c.name)
def test_model_matches_cpu_profiler_within_1_percent(case, pass_):
    fn = loss_call(build_inputs(case, "cpu"), pass_)
    fn()
    measured = memory.profiler_peak_bytes(fn, "cpu")
    expected = memory.expected_peak_bytes(case, pass_, "cpu")
    assert measured > 0
    assert abs(expected - measured) <= 0.01 * measured, (expected, measured)


CUDA_AUTOCAST_CASES = [
    Case("small", dtype="autocast_bfloat16"),
    Case("small", dtype="autocast_bfloat16", weighting="random"),
    Case("small", dtype="autocast_float16", weighting="random", reduction="none"),
    Case("small", dtype="autocast_bfloat16", weighting="random", label_smoothing=0.1),
    Case("small", dtype="autocast_bfloat16", layout="noncontig"),
    Case("small", dtype="autocast_bfloat16", layout="prob_targets", weighting="random"),
    Case("small-seg", dtype="autocast_bfloat16", weighting="random"),
    Case("small-seg", layout="channels_last", dtype="autocast_float16"),
    Case("small-seg", layout="noncontig", dtype="autocast_bfloat16", reduction="none",
         label_smoothing=0.1),
]


@pytest.mark.parametrize("pass_", ["forward", "forward_backward"])
@pytest.mark.parametrize("case", CUDA_AUTOCAST_CASES, ids=lambda c: c.name)
def test_cuda_autocast_model_matches_the_cpu_replay_within_1_percent(
        case, pass_, cuda_autocast_replay):
    """The model's CUDA branch against a CPU replay of CUDA dispatch (conftest's
    cuda_autocast_replay: torch 2.13 has no AutocastCUDA kernel for cross_entropy_loss)."""
    fn = loss_call(build_inputs(case, "cpu"), pass_)
    fn()
    measured = memory.profiler_peak_bytes(fn, "cpu")
    expected = memory.expected_peak_bytes(case, pass_, "cpu", dispatch="cuda")
    assert abs(expected - measured) <= 0.01 * measured, (expected, measured)


def test_the_cuda_replay_takes_the_cuda_path_and_is_undone_on_exit():
    """Inside the replay the forward peaks at 6 NC bytes (bf16 log-softmax + nll_loss's
    fp32 copy); outside it CPU autocast runs the whole call in float32 again (8 NC)."""
    case = Case("small", dtype="autocast_bfloat16")
    fn = loss_call(build_inputs(case, "cpu"), "forward")
    nc = 4096 * 128
    with memory.cuda_autocast_dispatch():
        fn()
        assert memory.profiler_peak_bytes(fn, "cpu") < 6.1 * nc
    assert memory.profiler_peak_bytes(fn, "cpu") > 7.9 * nc


def test_profiler_events_balance_over_a_call():
    from torch.profiler import profile

    fn = loss_call(build_inputs(Case("small"), "cpu"), "forward_backward")
    with profile(profile_memory=True) as prof:
        fn()
    events = memory.profiler_memory_events(prof, "cpu")
    assert any(ev.delta_bytes == 4096 * 128 * 4 for ev in events)
    assert memory.live_bytes_series(events)[-1][1] == 0  # every allocation freed again


def test_allocator_peak_needs_cuda():
    with pytest.raises(NotImplementedError, match="allocator peaks need CUDA"):
        memory.require_cuda("cpu")


# --- CUDA ---------------------------------------------------------------------------------

GPU_CASES = [Case("classification"), Case("classification", dtype="bfloat16", weighting="random"),
             Case("segmentation"), Case("segmentation", dtype="bfloat16", weighting="random"),
             Case("llm-32k", dtype="autocast_bfloat16")]


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("pass_", ["forward", "forward_backward"])
@pytest.mark.parametrize("case", GPU_CASES, ids=lambda c: c.name)
def test_allocator_peak_within_5_percent_of_model(case, pass_):
    fn = loss_call(build_inputs(case, "cuda"), pass_)
    fn()
    peak = memory.allocator_peak(fn)
    expected = memory.expected_peak_bytes(case, pass_, "cuda")
    assert abs(peak.peak_allocated_delta_bytes - expected) <= 0.05 * expected, (
        peak.peak_allocated_delta_bytes, expected)
    assert peak.baseline_allocated_bytes >= case.logits_bytes


@pytest.mark.slow
def test_model_matches_cpu_profiler_over_the_whole_small_sweep():
    """144 small/small-seg cases x 2 passes (dtype, weight, reduction, layout, smoothing)."""
    import itertools

    worst = 0.0
    for family, dtype, weighting, reduction, layout, smoothing in itertools.product(
            ["small", "small-seg"], ["float32", "bfloat16", "autocast_bfloat16"],
            ["none", "random"], ["mean", "none"],
            ["contiguous", "noncontig", "channels_last", "prob_targets"], [0.0, 0.1]):
        case = Case(family, dtype=dtype, weighting=weighting, reduction=reduction,
                    layout=layout, label_smoothing=smoothing)
        if case.invalid_reason() or (layout == "prob_targets" and smoothing):
            continue
        inputs = build_inputs(case, "cpu")
        for pass_ in ("forward", "forward_backward"):
            fn = loss_call(inputs, pass_)
            fn()
            measured = memory.profiler_peak_bytes(fn, "cpu")
            expected = memory.expected_peak_bytes(case, pass_, "cpu")
            worst = max(worst, abs(expected - measured) / measured)
    assert worst <= 0.01, worst


@pytest.mark.slow
def test_cuda_autocast_model_matches_the_replay_over_the_whole_small_sweep(cuda_autocast_replay):
    """Every autocast case of the small sweep (144 x 2 passes) under the CPU replay of CUDA
    dispatch (conftest's cuda_autocast_replay)."""
    import itertools

    worst = 0.0
    for family, dtype, weighting, reduction, layout, smoothing in itertools.product(
            ["small", "small-seg"], ["autocast_float16", "autocast_bfloat16"],
            ["none", "random"], ["mean", "none", "sum"],
            ["contiguous", "noncontig", "channels_last", "prob_targets"], [0.0, 0.1]):
        case = Case(family, dtype=dtype, weighting=weighting, reduction=reduction,
                    layout=layout, label_smoothing=smoothing)
        if case.invalid_reason() or (layout == "prob_targets" and smoothing):
            continue
        inputs = build_inputs(case, "cpu")
        for pass_ in ("forward", "forward_backward"):
            fn = loss_call(inputs, pass_)
            fn()
            measured = memory.profiler_peak_bytes(fn, "cpu")
            expected = memory.expected_peak_bytes(case, pass_, "cpu", dispatch="cuda")
            worst = max(worst, abs(expected - measured) / measured)
    assert worst <= 0.01, worst
