"""cebench.measure.timing: statistics, stopping and warm-up rules, throttle logic (fake clocks).

No timing thresholds: the rules are driven with synthetic samples and scripted clocks.
"""

import itertools
import math
import statistics

import numpy as np
import pytest
import torch

from cebench.measure import timing
from cebench.measure.timing import ClockReading, StopRule

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


# --- statistics ---------------------------------------------------------------------

@pytest.mark.parametrize("q", [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
def test_quantile_matches_numpy_linear(q):
    samples = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.6]
    assert timing.quantile(samples, q) == pytest.approx(np.quantile(samples, q))


def test_quantile_hand_computed():
    assert timing.quantile([1, 2, 3, 4], 0.5) == 2.5
    assert timing.quantile([1, 2, 3, 4], 0.25) == 1.75
    assert timing.quantile([7.0], 0.75) == 7.0
    with pytest.raises(ValueError):
        timing.quantile([], 0.5)
    with pytest.raises(ValueError):
        timing.quantile([1.0], 1.5)


def test_measurement_statistics_on_synthetic_samples():
    m = timing.Measurement([1.0, 2.0, 3.0, 4.0, 100.0], "cpu", target_rel_iqr=0.5)
    assert m.median_s == 3.0
    assert (m.q1_s, m.q3_s) == (2.0, 4.0)
    assert m.iqr_s == 2.0
    assert m.rel_iqr == pytest.approx(2 / 3)
    assert m.noisy  # 0.67 > 0.5
    assert not timing.Measurement([1.0, 1.0, 1.01], "cpu").noisy
    summary = m.as_dict()
    assert summary["samples"] == 5 and summary["median_s"] == 3.0
    assert "samples_s" not in summary


def test_relative_iqr_of_a_zero_median_is_infinite():
    assert timing.relative_iqr([0.0, 0.0, 0.0]) == math.inf


def test_median_ci_contains_the_median_and_matches_the_binomial_rule():
    samples = list(range(1, 101))  # n = 100: the 95 % interval is [x_40, x_61]
    low, high = timing.median_ci(samples, 0.95)
    assert (low, high) == (40, 61)
    assert low <= statistics.median(samples) <= high
    # tiny samples cannot reach 95 %: the full range
    assert timing.median_ci([5.0, 1.0, 3.0], 0.95) == (1.0, 5.0)
    # a lower confidence gives a narrower interval
    low90, high90 = timing.median_ci(samples, 0.90)
    assert low <= low90 and high90 <= high and (high90 - low90) < (high - low)


# --- stopping rule ------------------------------------------------------------------

def test_stop_rule_converges_on_low_spread():
    rule = StopRule(target_rel_iqr=0.02, min_samples=5, budget_s=10.0)
    flat = [1.0, 1.001, 0.999, 1.0, 1.0005]
    assert timing.stop_reason(flat, elapsed_s=0.1, rule=rule) == "converged"


def test_stop_rule_goes_on_while_noisy_and_in_budget_then_stops_on_budget():
    rule = StopRule(target_rel_iqr=0.02, min_samples=5, budget_s=1.0)
    noisy = [1.0, 2.0, 1.5, 3.0, 1.2]
    assert timing.stop_reason(noisy, elapsed_s=0.5, rule=rule) is None
    assert timing.stop_reason(noisy, elapsed_s=1.0, rule=rule) == "budget"


def test_stop_rule_respects_min_samples_even_past_the_budget():
    rule = StopRule(target_rel_iqr=0.02, min_samples=10, budget_s=1.0)
    flat = [1.0] * 9
    assert timing.stop_reason(flat, elapsed_s=5.0, rule=rule) is None
    assert timing.stop_reason(flat + [1.0], elapsed_s=5.0, rule=rule) == "converged"
    # ... but not past the hard timeout (10x the budget by default)
    assert timing.stop_reason(flat, elapsed_s=10.0, rule=rule) == "timeout"


def test_stop_rule_caps_samples():
    rule = StopRule(target_rel_iqr=0.0, min_samples=2, max_samples=4, budget_s=100)
    assert timing.stop_reason([1.0, 2.0, 3.0], 0.0, rule) is None
    assert timing.stop_reason([1.0, 2.0, 3.0, 4.0], 0.0, rule) == "max_samples"


def test_stop_rule_rejects_nonsense():
    with pytest.raises(ValueError):
        StopRule(min_samples=0)
    with pytest.raises(ValueError):
        StopRule(min_samples=10, max_samples=5)


# --- warm-up rule -------------------------------------------------------------------

def test_warmup_converges_when_two_consecutive_batches_agree():
    assert not timing.warmup_converged([], 0.05)
    assert not timing.warmup_converged([5.0], 0.05)
    assert not timing.warmup_converged([5.0, 1.0], 0.05)  # first batch: cold
    assert not timing.warmup_converged([5.0, 1.0, 1.2], 0.05)
    assert timing.warmup_converged([5.0, 1.0, 1.2, 1.21], 0.05)
    assert timing.warmup_converged([1.0, 1.04], 0.05)
    assert not timing.warmup_converged([1.0, 1.06], 0.05)


class _VirtualTime:
    """Stands in for the ``time`` module inside cebench.measure.timing: a clock that moves
    only when the scripted call runs, so the test does not depend on the machine's load."""

    def __init__(self, durations):
        self.now_ns = 0
        self.durations = iter(durations)

    def call(self):
        self.now_ns += int(next(self.durations) * 1e9)

    def perf_counter_ns(self):
        return self.now_ns

    def perf_counter(self):
        return self.now_ns / 1e9


def test_measure_stops_warming_up_at_the_bound_when_it_never_settles(monkeypatch):
    durations = itertools.cycle([1e-3, 3e-3])  # alternating: batch medians never agree
    clock = _VirtualTime(durations)
    monkeypatch.setattr(timing, "time", clock)
    m = timing.measure(clock.call, "cpu", warmup=1, max_warmup_batches=4, min_samples=3,
                       max_samples=3, budget_s=100)
    assert m.warmup_converged is False
    assert m.warmup_calls == 1 + 4  # one untimed first call, then four batches of one


# --- throttle logic with fake clocks ------------------------------------------------

def test_throttle_reason_by_clock_fraction():
    assert timing.throttle_reason(None) is None
    assert timing.throttle_reason(ClockReading(1980.0, 1980.0, 0)) is None
    assert timing.throttle_reason(ClockReading(1500.0, 1980.0, 0)) is None  # 76 %
    reason = timing.throttle_reason(ClockReading(1400.0, 1980.0, 0))  # 71 %
    assert reason and "1400" in reason
    # unknown default clock: the fraction cannot be judged
    assert timing.throttle_reason(ClockReading(100.0, None, None)) is None


def test_throttle_reason_by_clock_event_bits():
    idle_and_app_clock = ClockReading(1980.0, 1980.0, 0x1 | 0x2)
    assert timing.throttle_reason(idle_and_app_clock) is None
    hw_thermal = timing.throttle_reason(ClockReading(1980.0, 1980.0, 0x40 | 0x1))
    assert hw_thermal == "clock event: hw_thermal_slowdown"
    power = timing.throttle_reason(ClockReading(1980.0, 1980.0, 0x4))
    assert power == "clock event: sw_power_cap"
    # a caller may declare more reasons benign
    assert timing.throttle_reason(ClockReading(1980.0, 1980.0, 0x4), benign_mask=0x7) is None
    assert timing.reason_names(0x1000 | 0x8) == ["hw_slowdown", "unknown_0x1000"]


def test_measure_drops_samples_taken_while_throttled():
    # every third reading is throttled (clock at 50 % of default)
    readings = itertools.cycle([ClockReading(1980.0, 1980.0, 0),
                                ClockReading(1980.0, 1980.0, 0),
                                ClockReading(990.0, 1980.0, 0)])
    m = timing.measure(lambda: None, "cpu", min_samples=20, max_samples=20, budget_s=100,
                       warmup=1, max_warmup_batches=2, clock_reader=lambda: next(readings))
    assert len(m.samples_s) == 20
    assert m.throttled_dropped >= 9  # 1 in 3 of the ~30 sampled after warm-up
    assert any("990" in r for r in m.throttle_reasons)
    assert m.sm_clocks_mhz and set(m.sm_clocks_mhz) == {1980.0}
    assert m.default_sm_clock_mhz == 1980.0
    assert m.clock_note == "injected reader"


def test_measure_keeps_one_flagged_sample_when_every_sample_is_throttled():
    throttled = ClockReading(500.0, 1980.0, 0x40)
    m = timing.measure(lambda: None, "cpu", min_samples=5, budget_s=0.0, timeout_s=0.05,
                       warmup=1, max_warmup_batches=1, clock_reader=lambda: throttled)
    assert m.stop_reason == "timeout+all_throttled"
    assert len(m.samples_s) == 1 and m.throttled_dropped >= 1


# --- measure / measure_paired on the CPU (no thresholds) ----------------------------

def test_measure_returns_samples_and_how_it_stopped():
    counter = {"n": 0}

    def fn():
        counter["n"] += 1

    m = timing.measure(fn, "cpu", min_samples=7, max_samples=7, budget_s=100)
    assert len(m.samples_s) == 7 and all(s >= 0 for s in m.samples_s)
    assert m.stop_reason in ("converged", "max_samples")
    assert m.timer == "perf_counter_ns" and m.device == "cpu"
    assert counter["n"] == m.warmup_calls + 7
    assert m.clock_note == "not read on the CPU"


class _FakeStreams:
    """torch.cuda's current-stream state, faked for a CPU run (recorded behaviour).

    Sources: torch/cuda/__init__.py ``StreamContext`` (enter: remember the current
    stream, set the new one; exit: set the remembered one back) and
    torch/cuda/graphs.py ``graph`` (``__exit__`` calls ``capture_end()`` first, then
    ``stream_ctx.__exit__``), whose real class is used here unchanged. ``capture_end()``
    raises when capture was invalidated (cudaErrorStreamCaptureInvalidated, e.g. a
    synchronising call on another thread under the default "global" capture mode).
    """

    def __init__(self):
        self.default = self.Stream("default")
        self.current = self.default

    class Stream:
        def __init__(self, name="side"):
            self.name = name

        def wait_stream(self, other):
            pass

    def stream(self, stream):
        import contextlib

        @contextlib.contextmanager
        def context():
            previous, self.current = self.current, stream
            yield
            self.current = previous

        return context()

    def set_stream(self, stream):
        self.current = stream


class _InvalidatedCapture:
    def capture_begin(self, *pool, **options):
        pass

    def capture_end(self):
        raise RuntimeError("CUDA error: operation failed due to a previous error during capture")


def test_failed_graph_capture_restores_the_callers_stream(monkeypatch):
    import torch

    streams = _FakeStreams()
    monkeypatch.setattr(torch.cuda, "Stream", _FakeStreams.Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda *a: streams.current)
    monkeypatch.setattr(torch.cuda, "set_stream", streams.set_stream)
    monkeypatch.setattr(torch.cuda, "stream", streams.stream)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(torch._C, "_host_emptyCache", lambda: None, raising=False)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _InvalidatedCapture)
    monkeypatch.setattr(torch.cuda.graphs.graph, "default_capture_stream", None)

    replay, why = timing._capture_cuda_graph(lambda: None)
    assert replay is None and "previous error during capture" in why
    assert streams.current is streams.default


def test_cuda_graph_request_on_the_cpu_falls_back_with_a_reason():
    m = timing.measure(lambda: None, "cpu", use_cuda_graph=True, min_samples=3,
                       max_samples=3)
    assert not m.cuda_graph and "cuda" in m.cuda_graph_fallback.lower()


def test_measure_paired_interleaves_abba_and_reports_a_ratio_with_ci():
    order = []
    paired = timing.measure_paired(lambda: order.append("a"), lambda: order.append("b"),
                                   "cpu", pairs=6, max_pairs=6, budget_s=100, warmup=1,
                                   max_warmup_batches=1)
    sampled = order[-12:]
    assert sampled == list("abbaabbaabba")
    assert len(paired.ratio_samples) == 6
    low, high = paired.ratio_ci()
    assert low <= paired.ratio <= high
    assert paired.stop_reason in ("converged", "max_samples")


def test_paired_ratio_is_the_median_of_per_pair_ratios():
    a = timing.Measurement([2.0, 4.0, 9.0], "cpu")
    b = timing.Measurement([1.0, 1.0, 3.0], "cpu")
    paired = timing.PairedMeasurement(a, b)
    assert paired.ratio_samples == [2.0, 4.0, 3.0]
    assert paired.ratio == 3.0


def test_synchronized_clock_is_monotonic():
    assert timing.synchronized_clock() <= timing.synchronized_clock()


@needs_cuda
@pytest.mark.cuda
def test_cuda_measure_flushes_l2_and_records_how():
    x = torch.randn(1 << 20, device="cuda")
    m = timing.measure(lambda: x.mul_(1.0), "cuda", budget_s=0.2)
    assert m.timer == "cuda_event" and len(m.samples_s) >= 10
    flusher = timing._L2Flusher("cuda")
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    assert flusher.nbytes == (getattr(props, "L2_cache_size", 0) or 256 * 2**20)


@needs_cuda
@pytest.mark.cuda
def test_cuda_graph_capture_and_fallback():
    x = torch.randn(1 << 20, device="cuda")
    m = timing.measure(lambda: x.mul_(1.0), "cuda", budget_s=0.2, use_cuda_graph=True)
    assert m.cuda_graph and m.timer == "cuda_event+graph"
    # a host sync inside the call cannot be captured: falls back and says why
    m = timing.measure(lambda: x.sum().item(), "cuda", budget_s=0.2, use_cuda_graph=True)
    assert not m.cuda_graph and m.cuda_graph_fallback
