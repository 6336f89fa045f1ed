"""The analytical memory model: hand-computed cases, torch.profiler on the CPU, CUDA allocator."""

from __future__ import annotations

import contextlib

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
    with pytest.raises(NotImplementedError, match="^allocator peaks need CUDA$"):
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


# --- the helpers, on recorded and faked inputs -----------------------------------------------

def test_live_bytes_series_accumulates_the_deltas():
    events = [memory.MemoryEvent(10, 100, "cpu"), memory.MemoryEvent(20, 50, "cpu"),
              memory.MemoryEvent(30, -100, "cpu"), memory.MemoryEvent(40, -50, "cpu")]
    assert memory.live_bytes_series(events) == [(10, 100), (20, 150), (30, 50), (40, 0)]
    assert memory.live_bytes_series([]) == []


DeviceType = torch._C._autograd.DeviceType  # what a kineto event's device_type() returns


class _KinetoEvent:
    """The part of a kineto event that profiler_memory_events reads (torch.autograd
    profiler's ``_KinetoEvent``: name(), device_type(), start_ns() or start_us(), nbytes())."""

    def __init__(self, name, device_type, start_ns, nbytes, with_ns=True):
        self._name, self._device, self._start_ns, self._nbytes = name, device_type, start_ns, nbytes
        if with_ns:
            self.start_ns = lambda: self._start_ns

    def name(self):
        return self._name

    def device_type(self):
        return self._device

    def start_us(self):
        return self._start_ns // 1000

    def nbytes(self):
        return self._nbytes


def _fake_profile(events):
    results = type("Results", (), {"events": lambda self: events})()
    return type("Prof", (), {"profiler": type("P", (), {"kineto_results": results})()})()


def test_profiler_memory_events_keep_the_devices_memory_events_in_time_order():
    events = [_KinetoEvent("[memory]", DeviceType.CPU, 3000, -8),
              _KinetoEvent("aten::mul", DeviceType.CPU, 1000, 0),
              _KinetoEvent("[memory]", DeviceType.CUDA, 500, 512),
              _KinetoEvent("[memory]", DeviceType.CPU, 2000, 8),
              _KinetoEvent("[memory]", DeviceType.CPU, 4000, 16, with_ns=False)]
    cpu = memory.profiler_memory_events(_fake_profile(events), "cpu")
    assert cpu == [memory.MemoryEvent(2000, 8, "cpu"), memory.MemoryEvent(3000, -8, "cpu"),
                   memory.MemoryEvent(4000, 16, "cpu")]
    assert memory.profiler_memory_events(_fake_profile(events), "cuda") == [
        memory.MemoryEvent(500, 512, "cuda")]


def test_profiler_peak_bytes_of_a_call_that_allocates_nothing_is_zero():
    assert memory.profiler_peak_bytes(lambda: None, "cpu") == 0


def test_profiler_peak_bytes_sees_a_temporary():
    # two 1 MiB float32 tensors live at once, then freed: the peak is 2 MiB
    def call():
        a = torch.ones(2**18)
        b = torch.ones(2**18)
        return float((a + 0).sum()) + float(b.sum())

    peak = memory.profiler_peak_bytes(call, "cpu")
    assert 3 * 2**20 <= peak <= 3 * 2**20 + 4096  # a, b and the (a + 0) temporary


def test_allocator_peak_is_the_delta_over_the_baseline(monkeypatch):
    """A fake of the documented torch.cuda allocator statistics (no CUDA here)."""
    state = {"allocated": 1000, "reserved": 4096, "max_allocated": 0, "max_reserved": 0,
             "calls": []}

    def reset():
        state["calls"].append("reset")
        state["max_allocated"], state["max_reserved"] = state["allocated"], state["reserved"]

    def fn():
        state["calls"].append("fn")
        state["max_allocated"] = state["allocated"] + 700
        state["max_reserved"] = state["reserved"] + 2048
        return "result"

    monkeypatch.setattr(torch.cuda, "synchronize", lambda: state["calls"].append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", reset)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda: state["allocated"])
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda: state["reserved"])
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda: state["max_allocated"])
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda: state["max_reserved"])
    peak = memory.allocator_peak(fn)
    assert peak == memory.AllocatorPeak(baseline_allocated_bytes=1000,
                                        peak_allocated_delta_bytes=700,
                                        peak_reserved_delta_bytes=2048)
    assert state["calls"] == ["sync", "reset", "fn", "sync"]


def test_require_cuda_accepts_cuda():
    assert memory.require_cuda("cuda") is None


# --- the model's allocation sequence, written out from its documented rules --------------------

def _steps(model):
    return [(step.op, step.delta_bytes) for step in model.steps]


def test_steps_weighted_smoothing_per_row_losses():
    case = Case("small", weighting="random", label_smoothing=0.1, reduction="none")
    L, R4, R = 4096 * 128 * 4, 4096 * 4, 4096
    forward = [("+log_softmax out", L), ("+nll out", R4), ("+total_weight", 4),
               ("+logp*weight", L), ("+smooth row sum", R4), ("+smooth loss", R4),
               ("-smooth row sum", -R4), ("-logp*weight", -L), ("+ignore mask", R),
               ("+scaled nll", R4), ("+scaled smooth", R4), ("+loss", R4),
               ("-scaled smooth", -R4), ("-scaled nll", -R4), ("-ignore mask", -R),
               ("-smooth loss", -R4), ("-nll out", -R4)]
    backward = [("+smooth grad", L), ("+nll grad_output", R4), ("+nll grad", L),
                ("-nll grad", -L), ("-nll grad_output", -R4), ("+log_softmax grad", L),
                ("-smooth grad", -L), ("-log_softmax out", -L), ("-total_weight", -4)]
    assert _steps(memory.memory_model(case, "forward_backward", "cpu")) == forward + backward
    # forward only: total_weight is freed at once
    fwd = memory.memory_model(case, "forward", "cpu")
    assert _steps(fwd) == forward[:3] + [("-total_weight", -4)] + forward[3:]
    # the peak: log-softmax out, the loss, smooth grad, nll grad_output, nll grad, total_weight
    assert memory.memory_model(case, "forward_backward", "cpu").peak_bytes == 3 * L + 2 * R4 + 4


def test_steps_unweighted_smoothing_mean_with_ignored_targets():
    case = Case("small", label_smoothing=0.1, ignore_fraction=0.1)
    L, R4, R = 4096 * 128 * 4, 4096 * 4, 4096
    kept = 4096 - round(4096 * 0.1)
    forward = [("+log_softmax out", L), ("+nll out", 4), ("+total_weight", 4),
               ("+smooth row sum", R4), ("+smooth loss", R4), ("-smooth row sum", -R4),
               ("+ignore mask", R), ("+kept mask", R), ("+kept index", kept * 8),
               ("-kept index", -kept * 8), ("-kept mask", -R), ("+loss", 4),
               ("-ignore mask", -R), ("-smooth loss", -R4), ("-nll out", -4)]
    backward = [("+seed grad", 4), ("+smooth row grad", R4), ("+nll grad", L),
                ("+summed grad", L), ("-smooth row grad", -R4), ("-nll grad", -L),
                ("-seed grad", -4), ("+log_softmax grad", L), ("-summed grad", -L),
                ("-log_softmax out", -L), ("-total_weight", -4)]
    model = memory.memory_model(case, "forward_backward", "cpu")
    assert _steps(model) == forward + backward
    assert model.peak_bytes == 3 * L + R4 + 4 + 4 + 4  # + loss, total_weight, seed grad


def test_steps_weighted_smoothing_mean_gathers_the_kept_weights():
    case = Case("small", weighting="random", label_smoothing=0.1, ignore_fraction=0.1)
    kept = 4096 - round(4096 * 0.1)
    ops = _steps(memory.memory_model(case, "forward", "cpu"))
    at = ops.index(("+kept index", kept * 8))
    assert ops[at + 1:at + 5] == [("+gathered weight", kept * 4), ("-gathered weight", -kept * 4),
                                  ("-kept index", -kept * 8), ("-kept mask", -4096)]


def test_cuda_autocast_rules_by_hand():
    """Under CUDA autocast the call decomposes: a bfloat16 log-softmax, an fp32 copy of it
    and of the weight for nll_loss, an fp32 nll gradient cast back (memory_model's doc)."""
    case = Case("classification", dtype="autocast_bfloat16", weighting="random")
    nc = 8192 * 1000
    weight_copy = 4096  # 1000 fp32 weights, in 512-byte blocks
    assert memory.expected_peak_bytes(case, "forward") == 2 * nc + weight_copy + 4 * nc + 1024
    assert memory.expected_peak_bytes(case, "forward_backward") == \
        2 * nc + weight_copy + 4 * nc + 3 * 512 + 4 * nc
    # probability targets never reach an autocast op: the call runs in bfloat16
    soft = Case("small", dtype="autocast_bfloat16", layout="prob_targets")
    plain = Case("small", dtype="bfloat16", layout="prob_targets")
    for pass_ in ("forward", "forward_backward"):
        assert _steps(memory.memory_model(soft, pass_)) == \
            _steps(memory.memory_model(plain, pass_))


def test_steps_cpu_autocast_weighted_soft_targets_per_row_in_cuda_blocks():
    case = Case("small-seg", dtype="autocast_bfloat16", weighting="random",
                layout="prob_targets", reduction="none")
    L, R4 = 2 * 21 * 64 * 64 * 4, 2 * 64 * 64 * 4  # both multiples of 512
    forward = [("+weight fp32 copy", 512), ("+logits fp32 copy", L), ("+target fp32 copy", L),
               ("+log_softmax out", L), ("+logp*target", L), ("+logp*target*weight", L),
               ("+row sum", R4), ("+loss", R4), ("-row sum", -R4),
               ("-logp*target*weight", -L), ("-logp*target", -L), ("-logits fp32 copy", -L),
               ("-target fp32 copy", -L)]
    backward = [("+row grad", R4), ("+product grad", L), ("+product grad 2", L),
                ("-product grad", -L), ("-row grad", -R4), ("+log_softmax grad", L),
                ("-product grad 2", -L), ("-log_softmax out", -L),
                ("+logits grad", L // 2), ("-log_softmax grad", -L), ("-weight fp32 copy", -512)]
    model = memory.memory_model(case, "forward_backward", dispatch="cpu")
    assert (model.case, model.pass_, model.device) == (case.name, "forward_backward", "cuda")
    assert _steps(model) == forward + backward
    assert model.peak_bytes == 512 + 5 * L + 2 * R4
    fwd = memory.memory_model(case, "forward", dispatch="cpu")
    assert _steps(fwd) == forward + [("-weight fp32 copy", -512)]


def test_steps_unweighted_soft_targets_with_a_scalar_loss():
    case = Case("small", layout="prob_targets", reduction="sum")
    L = 4096 * 128 * 4
    assert _steps(memory.memory_model(case, "forward_backward", "cpu")) == [
        ("+log_softmax out", L), ("+logp*target", L), ("+loss", 4), ("-logp*target", -L),
        ("+seed grad", 4), ("+product grad", L), ("-seed grad", -4), ("+log_softmax grad", L),
        ("-product grad", -L), ("-log_softmax out", -L)]


@pytest.mark.parametrize("case, forward_peak", [
    # a strided input is copied to a contiguous one before log_softmax, freed after
    (Case("small-seg", layout="channels_last"), (2, 0)),
    (Case("small", layout="noncontig"), (2, 0)),
    # autocast: the fp32 copy, then the contiguous copy of a transposed 2-D view, then the output
    (Case("small", layout="noncontig", dtype="autocast_bfloat16"), (3, 0)),
    # the fp32 copy of a strided 4-D slice comes out contiguous: no second copy (the peak
    # is then the fp32 copy, the output and nll's two scalars)
    (Case("small-seg", layout="noncontig", dtype="autocast_bfloat16"), (2, 8)),
    (Case("small-seg", layout="channels_last", dtype="autocast_float16"), (3, 0)),
], ids=lambda v: getattr(v, "name", str(v)))
def test_strided_inputs_peak_by_hand(case, forward_peak):
    L = case.num_targets * case.num_classes * 4
    logits_copies, scalar_bytes = forward_peak
    assert memory.expected_peak_bytes(case, "forward", "cpu") == logits_copies * L + scalar_bytes


def test_ledger_rounds_to_blocks_and_ignores_empty_allocations():
    ledger = memory._Ledger(512)
    assert ledger.peak == 0 and ledger.steps == []
    ledger.alloc("a", 1)
    ledger.alloc("b", 513)
    ledger.alloc("c", 0)
    ledger.free("a", "never allocated")
    ledger.alloc("d", 512)
    assert [(s.op, s.delta_bytes, s.live_bytes) for s in ledger.steps] == [
        ("+a", 512, 512), ("+b", 1024, 1536), ("-a", -512, 1024), ("+d", 512, 1536)]
    assert ledger.peak == 1536
    with pytest.raises(AssertionError):
        ledger.alloc("b", 8)


def test_cuda_rounds_each_allocation_up_to_512_bytes():
    case = Case("small-seg", weighting="random", reduction="sum")  # scalars and 21 weights
    L = 2 * 21 * 64 * 64 * 4
    assert memory.expected_peak_bytes(case, "forward") == L + 512 + 512
    assert memory.expected_peak_bytes(case, "forward", "cpu") == L + 4 + 4
    assert memory.expected_peak_bytes(case, "forward_backward") == 3 * L + 512 + 512


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


# --- CUDA autocast's allocation sequence, written out from memory_model's documented rules --
# (no AutocastCUDA kernel for cross_entropy_loss: a log-softmax in the storage dtype, an fp32
# copy of it and of the weight for nll_loss, the nll gradient in fp32, cast back). Ledger on
# the CPU (one-byte blocks), so every size shows.

NC = 4096 * 128
L2, L4, R, R2, R4, W4 = NC * 2, NC * 4, 4096, 4096 * 2, 4096 * 4, 128 * 4


def test_steps_cuda_autocast_weighted_smoothing_per_row_losses():
    case = Case("small", dtype="autocast_bfloat16", weighting="random", label_smoothing=0.1,
                reduction="none")
    head = [("+log_softmax out", L2), ("+weight fp32 copy", W4), ("+log_softmax fp32 copy", L4),
            ("+nll out", R4), ("+total_weight", 4)]
    smooth = [("+logp*weight", L2), ("+smooth row sum", R2), ("+smooth loss", R2),
              ("-smooth row sum", -R2), ("-logp*weight", -L2), ("+ignore mask", R),
              ("+scaled nll", R4), ("+scaled smooth", R2), ("+loss", R4),
              ("-scaled smooth", -R2), ("-scaled nll", -R4), ("-ignore mask", -R),
              ("-smooth loss", -R2), ("-nll out", -R4)]
    backward = [("+smooth grad", L2), ("+nll grad_output", R4), ("+nll grad fp32", L4),
                ("-log_softmax fp32 copy", -L4), ("-weight fp32 copy", -W4), ("+nll grad", L2),
                ("-nll grad fp32", -L4), ("-nll grad", -L2), ("-nll grad_output", -R4),
                ("+log_softmax grad", L2), ("-smooth grad", -L2), ("-log_softmax out", -L2),
                ("-total_weight", -4)]
    model = memory.memory_model(case, "forward_backward", "cpu", dispatch="cuda")
    assert _steps(model) == head + smooth + backward
    forward = memory.memory_model(case, "forward", "cpu", dispatch="cuda")
    assert _steps(forward) == head + [("-total_weight", -4), ("-log_softmax fp32 copy", -L4),
                                      ("-weight fp32 copy", -W4)] + smooth
    # the peak, at the fp32 nll gradient: the saved log-softmax, its fp32 copy and the weight
    # copy, total_weight, the loss, the smoothing gradient, nll's grad_output and gradient
    assert model.peak_bytes == max(step.live_bytes for step in model.steps) == \
        L2 + L4 + W4 + 4 + R4 + L2 + R4 + L4


def test_steps_cuda_autocast_unweighted_smoothing_per_row_losses():
    case = Case("small", dtype="autocast_float16", label_smoothing=0.1, reduction="none")
    forward = [("+log_softmax out", L2), ("+log_softmax fp32 copy", L4), ("+nll out", R4),
               ("+total_weight", 4), ("+smooth row sum", R2), ("+smooth loss", R2),
               ("-smooth row sum", -R2), ("+ignore mask", R), ("+scaled nll", R4),
               ("+scaled smooth", R2), ("+loss", R4), ("-scaled smooth", -R2),
               ("-scaled nll", -R4), ("-ignore mask", -R), ("-smooth loss", -R2),
               ("-nll out", -R4)]
    backward = [("+smooth row grad", R2), ("+nll grad_output", R4), ("+nll grad fp32", L4),
                ("-log_softmax fp32 copy", -L4), ("+nll grad", L2), ("-nll grad fp32", -L4),
                ("-nll grad_output", -R4), ("+summed grad", L2), ("-smooth row grad", -R2),
                ("-nll grad", -L2), ("+log_softmax grad", L2), ("-summed grad", -L2),
                ("-log_softmax out", -L2), ("-total_weight", -4)]
    model = memory.memory_model(case, "forward_backward", "cpu", dispatch="cuda")
    assert _steps(model) == forward + backward


def test_steps_cuda_autocast_weighted_mean():
    """A scalar loss: the seed gradient is float32 like nll_loss's output."""
    case = Case("small", dtype="autocast_bfloat16", weighting="random")
    head = [("+log_softmax out", L2), ("+weight fp32 copy", W4), ("+log_softmax fp32 copy", L4),
            ("+nll out", 4), ("+total_weight", 4)]
    backward = [("+seed grad", 4), ("+nll grad fp32", L4), ("-log_softmax fp32 copy", -L4),
                ("-weight fp32 copy", -W4), ("+nll grad", L2), ("-nll grad fp32", -L4),
                ("-seed grad", -4), ("+log_softmax grad", L2), ("-nll grad", -L2),
                ("-log_softmax out", -L2), ("-total_weight", -4)]
    assert _steps(memory.memory_model(case, "forward_backward", "cpu", dispatch="cuda")) == \
        head + backward
    assert _steps(memory.memory_model(case, "forward", "cpu", dispatch="cuda")) == head + [
        ("-total_weight", -4), ("-log_softmax fp32 copy", -L4), ("-weight fp32 copy", -W4)]
    # the same case under CPU rules: no nll copies; the call in float32 (s = 4)
    cpu = memory.memory_model(case, "forward", "cpu", dispatch="cpu")
    assert _steps(cpu)[:4] == [("+weight fp32 copy", W4), ("+logits fp32 copy", L4),
                               ("+log_softmax out", L4), ("+nll out", 4)]


def test_steps_bfloat16_per_row_losses_stay_in_bfloat16():
    """Without autocast nll_loss runs in the storage dtype: 2-byte row losses."""
    case = Case("small", dtype="bfloat16", reduction="none")
    assert _steps(memory.memory_model(case, "forward", "cpu")) == [
        ("+log_softmax out", L2), ("+nll out", R2), ("+total_weight", 2),
        ("-total_weight", -2)]


def test_steps_of_odd_sizes_on_the_cpu_and_every_target_ignored(monkeypatch):
    """One-byte blocks on the CPU (a 3-byte mask stays 3 bytes); with every target ignored
    the 'mean' smoothing term gathers nothing (an empty index allocates nothing)."""
    from cebench.grid import cases

    monkeypatch.setitem(cases.FAMILIES, "odd", (3, 5))
    case = Case("odd", label_smoothing=0.1, ignore_fraction=1.0)
    assert _steps(memory.memory_model(case, "forward", "cpu")) == [
        ("+log_softmax out", 60), ("+nll out", 4), ("+total_weight", 4), ("-total_weight", -4),
        ("+smooth row sum", 12), ("+smooth loss", 12), ("-smooth row sum", -12),
        ("+ignore mask", 3), ("+kept mask", 3), ("-kept mask", -3), ("+loss", 4),
        ("-ignore mask", -3), ("-smooth loss", -12), ("-nll out", -4)]
    # on CUDA each takes a 512-byte block; at most five are live at once (log-softmax, nll
    # out, the smoothing loss, the ignore mask and the kept mask or the loss)
    assert memory.memory_model(case, "forward").peak_bytes == 5 * 512
    with pytest.raises(ValueError, match=r"^unknown pass 'backward'; expected one of "
                                         r"forward, forward_backward$"):
        memory.memory_model(case, "backward")


@pytest.mark.parametrize("layout, shape_2d, autocast, dispatch, strided", [
    ("contiguous", False, False, "cpu", False),
    ("prob_targets", False, True, "cuda", False),
    ("channels_last", False, True, "cpu", True),
    ("noncontig", False, False, "cpu", True),      # the width-strided NCHW slice
    ("noncontig", True, False, "cpu", True),       # the transposed (N, C) view
    ("noncontig", True, True, "cpu", True),        # CPU autocast's copy of a 2-D view stays strided
    ("noncontig", False, True, "cpu", False),      # ... of a 4-D slice comes out contiguous
    ("noncontig", False, True, "cuda", True),      # CUDA autocast: log_softmax gets the slice
])
def test_which_logits_log_softmax_copies_first(layout, shape_2d, autocast, dispatch, strided):
    case = Case("small" if shape_2d else "small-seg", layout=layout,
                dtype="autocast_bfloat16" if autocast else "bfloat16")
    assert memory._log_softmax_input_is_strided(case, dispatch) is strided
    ops = [op for op, _ in _steps(memory.memory_model(case, "forward", dispatch=dispatch))]
    assert ("+contiguous logits" in ops) is strided


def test_profiler_peak_bytes_asks_for_the_devices_activities(monkeypatch):
    """A fake of torch.profiler.profile's documented interface (``activities``,
    ``profile_memory``; a context manager) and torch.cuda.synchronize: on CUDA the CUDA
    activity is recorded too and the call is synchronized before and after; on the CPU
    only the CPU activity, no synchronization."""
    from torch.profiler import ProfilerActivity

    calls = []
    events = [_KinetoEvent("[memory]", DeviceType.CUDA, 10, 512),
              _KinetoEvent("[memory]", DeviceType.CPU, 15, 4096),
              _KinetoEvent("[memory]", DeviceType.CUDA, 20, 1024),
              _KinetoEvent("[memory]", DeviceType.CUDA, 30, -1536)]

    @contextlib.contextmanager
    def profile(activities, profile_memory):
        calls.append(("profile", list(activities), profile_memory))
        yield _fake_profile(events)
        calls.append("exit")

    monkeypatch.setattr(torch.profiler, "profile", profile)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: calls.append("sync"))
    assert memory.profiler_peak_bytes(lambda: calls.append("fn"), "cuda") == 1536
    assert calls == ["sync", ("profile", [ProfilerActivity.CPU, ProfilerActivity.CUDA], True),
                     "fn", "sync", "exit"]
    calls.clear()
    assert memory.profiler_peak_bytes(lambda: calls.append("fn"), "cpu") == 4096
    assert calls == [("profile", [ProfilerActivity.CPU], True), "fn", "exit"]
