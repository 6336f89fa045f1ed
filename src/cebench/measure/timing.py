"""The one place cebench times anything.

* :func:`synchronized_clock` — asv's ``timer`` for ``time_`` benchmarks: a wall clock
  that first waits for queued CUDA work, so a sample covers the whole call.
* :func:`measure` — repeated single calls; returns a :class:`Measurement`.
* :func:`measure_paired` — two callables interleaved in one process (A B B A ...), for
  ratios that machine drift cannot bias; returns a :class:`PairedMeasurement`.

How :func:`measure` takes a sample (anchors: nvbench's cold measurement, triton's
``do_bench``, ``torch.utils.benchmark.Timer``):

* **CUDA**: write a buffer as large as the device's L2 (``L2_cache_size``; 256 MiB when
  unknown) so that the call starts cold; enqueue a short spin kernel that keeps the
  stream busy while the host enqueues the call (nvbench's "blocking kernel": host launch
  gaps then do not count as kernel time); record a CUDA event, call, record an event,
  read the SM clock (while the GPU is still busy), wait. Optionally the call is captured
  once in a CUDA graph and replayed (``use_cuda_graph=True``); if capture fails the
  measurement falls back to plain calls and says why.
* **CPU**: ``time.perf_counter_ns`` around the call; no cache flush (as torch's Timer).

Warm-up runs batches of calls until two consecutive batch medians agree within a
tolerance (bounded). Sampling stops when the relative IQR of the kept samples is under
the target, or the budget is spent (after ``min_samples``), or at a hard timeout.
Samples taken while the GPU was throttled (SM clock under 75 % of the default
application clock, or a clock-event reason other than idle / application-clock setting)
are dropped and counted. The rules and statistics are pure functions
(:func:`quantile`, :func:`stop_reason`, :func:`warmup_converged`,
:func:`throttle_reason`, :func:`median_ci`) that tests drive with synthetic samples.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import math
import time
from collections.abc import Callable, Sequence

import torch

from cebench.measure.nvml import (
    CLOCK_EVENT_REASONS,
    THROTTLE_REASONS,
    decode_clock_event_reasons,
    nvml_index_for_uuid,
    torch_device_uuid,
)

# --- clocks ---------------------------------------------------------------------------


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def pin_cpu_threads() -> int:
    """Set torch's CPU thread count for measurements: ``CEBENCH_CPU_THREADS``, default 1.

    On a shared 2-core machine a two-thread pool under contention made calls 10-30x
    slower and run-to-run spread 1-27x (docs/measurement.md); one thread measures the
    kernels, not the scheduler. Set ``CEBENCH_CPU_THREADS`` to time a multi-threaded CPU.
    """
    threads = int(os.environ.get("CEBENCH_CPU_THREADS") or 1)
    if threads < 1:
        raise ValueError(f"CEBENCH_CPU_THREADS must be >= 1, not {threads}")
    torch.set_num_threads(threads)
    return threads


def synchronized_clock() -> float:
    """Seconds, after all queued CUDA work (if CUDA is in use) has finished."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()


# --- statistics (pure) ----------------------------------------------------------------


def quantile(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile with linear interpolation (numpy's and torch's default)."""
    if not samples:
        raise ValueError("quantile of no samples")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], not {q}")
    ordered = sorted(samples)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def relative_iqr(samples: Sequence[float]) -> float:
    """(Q3 - Q1) / median; infinite for a non-positive median."""
    median = quantile(samples, 0.5)
    if median <= 0:
        return math.inf
    return (quantile(samples, 0.75) - quantile(samples, 0.25)) / median


def median_ci(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval of the median (order statistics).

    The interval [x_(k), x_(n+1-k)] (1-based, sorted) with the largest k such that
    P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2. With too few samples for the
    requested confidence it is the full range.
    """
    ordered = sorted(samples)
    n = len(ordered)
    if n == 0:
        raise ValueError("confidence interval of no samples")
    alpha_half = (1.0 - confidence) / 2.0
    k, cumulative = 0, 0.0
    while k < n // 2:
        next_cumulative = cumulative + math.comb(n, k) / 2.0**n  # P(B <= k)
        if next_cumulative > alpha_half:
            break
        cumulative = next_cumulative
        k += 1
    if k == 0:
        return ordered[0], ordered[-1]
    return ordered[k - 1], ordered[n - k]


# --- rules (pure) ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StopRule:
    """When sampling stops. ``timeout_s`` defaults to ten times ``budget_s``."""

    target_rel_iqr: float = 0.02
    min_samples: int = 10
    max_samples: int = 1000
    budget_s: float = 1.0
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError("need 1 <= min_samples <= max_samples")
        if self.budget_s < 0 or self.target_rel_iqr < 0:
            raise ValueError("budget_s and target_rel_iqr must be >= 0")

    @property
    def hard_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else 10.0 * self.budget_s


def stop_reason(samples: Sequence[float], elapsed_s: float, rule: StopRule) -> str | None:
    """Why sampling stops now, or None to go on.

    'max_samples' at the cap; before ``min_samples`` only 'timeout' (hard limit); then
    'converged' when the relative IQR is at or under the target, else 'budget' once
    the time budget is spent.
    """
    if len(samples) >= rule.max_samples:
        return "max_samples"
    if len(samples) < rule.min_samples:
        return "timeout" if elapsed_s >= rule.hard_timeout_s else None
    if relative_iqr(samples) <= rule.target_rel_iqr:
        return "converged"
    if elapsed_s >= rule.budget_s:
        return "budget"
    return None


def warmup_converged(batch_medians_s: Sequence[float], tolerance: float) -> bool:
    """True when the last two warm-up batch medians agree within ``tolerance`` (relative)."""
    if len(batch_medians_s) < 2:
        return False
    a, b = batch_medians_s[-2], batch_medians_s[-1]
    smaller = min(a, b)
    if smaller <= 0:
        return a == b
    return abs(a - b) <= tolerance * smaller


#: Clock events that do not slow a running kernel (idle, application-clock setting,
#: sync boost, display clock): every bit of cebench.measure.nvml's table not in THROTTLE_REASONS.
BENIGN_CLOCK_EVENTS = sum(bit for bit, name in CLOCK_EVENT_REASONS.items()
                          if name not in THROTTLE_REASONS)
THROTTLE_THRESHOLD = 0.75  # nvbench's default: SM clock under 75 % of the default clock


@dataclasses.dataclass(frozen=True)
class ClockReading:
    """One read of the GPU's clocks; a field is None when it could not be read."""

    sm_clock_mhz: float | None
    default_sm_clock_mhz: float | None = None
    event_reasons: int | None = None


reason_names = decode_clock_event_reasons


def throttle_reason(reading: ClockReading | None, threshold: float = THROTTLE_THRESHOLD,
                    benign_mask: int = BENIGN_CLOCK_EVENTS) -> str | None:
    """Why a sample taken at ``reading`` must be dropped, or None if it may be kept."""
    if reading is None:
        return None
    sm, default = reading.sm_clock_mhz, reading.default_sm_clock_mhz
    if sm is not None and default and sm < threshold * default:
        return f"sm clock {sm:.0f} MHz < {threshold:.0%} of default {default:.0f} MHz"
    if reading.event_reasons:
        bad = reading.event_reasons & ~benign_mask
        if bad:
            return "clock event: " + ",".join(reason_names(bad))
    return None


# --- NVML clock reader (tiny, local; injectable) --------------------------------------

ClockReader = Callable[[], ClockReading | None]


def nvml_clock_reader(device_index: int | None = None) -> tuple[ClockReader | None, str]:
    """A reader of the SM clock and clock-event reasons of a CUDA device, and a note.

    The torch device is matched to its NVML handle by UUID. Returns ``(None, why)``
    without CUDA, pynvml or a driver.
    """
    if not torch.cuda.is_available():
        return None, "no CUDA device"
    try:
        import pynvml
    except ImportError:
        return None, "pynvml not installed"
    try:
        pynvml.nvmlInit()
        index = torch.cuda.current_device() if device_index is None else device_index
        handle = _nvml_handle(pynvml, index)
        try:
            default_mhz = float(pynvml.nvmlDeviceGetDefaultApplicationsClock(
                handle, pynvml.NVML_CLOCK_SM))
        except pynvml.NVMLError:
            default_mhz = None
        reasons_fn = getattr(pynvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            pynvml.nvmlDeviceGetCurrentClocksThrottleReasons
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, no permission, ...
        return None, f"NVML unavailable: {type(exc).__name__}: {exc}"

    def read() -> ClockReading | None:
        try:
            sm = float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
        except pynvml.NVMLError:
            return None
        try:
            reasons = int(reasons_fn(handle))
        except pynvml.NVMLError:
            reasons = None
        return ClockReading(sm, default_mhz, reasons)

    return read, "nvml"


def _nvml_handle(pynvml, torch_index: int):
    """The NVML handle of torch's device, matched by UUID (cebench.measure.nvml's mapping)."""
    try:
        index = nvml_index_for_uuid(pynvml, torch_device_uuid(torch_index))
    except Exception:  # noqa: BLE001 - no UUID match: fall back to torch's index
        index = torch_index
    return pynvml.nvmlDeviceGetHandleByIndex(index)


# --- the measurement ------------------------------------------------------------------


@dataclasses.dataclass
class Measurement:
    """Kept samples of one call, in seconds, and how they were taken."""

    samples_s: list[float]
    device: str
    target_rel_iqr: float = 0.02
    stop_reason: str = ""
    timer: str = ""
    warmup_calls: int = 0
    warmup_converged: bool | None = None
    cuda_graph: bool = False
    cuda_graph_fallback: str | None = None
    sm_clocks_mhz: list[float] = dataclasses.field(default_factory=list)
    default_sm_clock_mhz: float | None = None
    throttled_dropped: int = 0
    throttle_reasons: list[str] = dataclasses.field(default_factory=list)
    clock_note: str = ""
    elapsed_s: float = 0.0

    @property
    def q1_s(self) -> float:
        return quantile(self.samples_s, 0.25)

    @property
    def median_s(self) -> float:
        return quantile(self.samples_s, 0.5)

    @property
    def q3_s(self) -> float:
        return quantile(self.samples_s, 0.75)

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def rel_iqr(self) -> float:
        return relative_iqr(self.samples_s)

    @property
    def noisy(self) -> bool:
        return self.rel_iqr > self.target_rel_iqr

    def median_ci_s(self, confidence: float = 0.95) -> tuple[float, float]:
        return median_ci(self.samples_s, confidence)

    def as_dict(self) -> dict:
        """Summary (no raw samples) for JSON output."""
        out = {k: v for k, v in dataclasses.asdict(self).items()
               if k not in ("samples_s", "sm_clocks_mhz")}
        clocks = self.sm_clocks_mhz
        out.update(samples=len(self.samples_s), median_s=self.median_s, iqr_s=self.iqr_s,
                   rel_iqr=self.rel_iqr, noisy=self.noisy,
                   median_sm_clock_mhz=quantile(clocks, 0.5) if clocks else None)
        return out


class _L2Flusher:
    """Writes a buffer the size of the device's L2 (or 256 MiB) before each timed call."""

    FALLBACK_BYTES = 256 * 2**20

    def __init__(self, device: str, enabled: bool = True):
        self.buffer = None
        self.nbytes = 0
        if device == "cuda" and enabled:
            props = torch.cuda.get_device_properties(torch.cuda.current_device())
            self.nbytes = int(getattr(props, "L2_cache_size", 0) or self.FALLBACK_BYTES)
            self.buffer = torch.empty(self.nbytes, dtype=torch.uint8, device="cuda")

    def __call__(self) -> None:
        if self.buffer is not None:
            self.buffer.zero_()


class _Sampler:
    """Times one call at a time on one device; keeps the clock readings."""

    def __init__(self, device: str, flush_l2: bool, clock_reader, hold_stream: bool):
        self.device = device
        self.flush = _L2Flusher(device, flush_l2)
        self.read_clock: ClockReader | None = None
        if callable(clock_reader):
            self.read_clock, self.clock_note = clock_reader, "injected reader"
        elif clock_reader == "auto" and device == "cuda":
            self.read_clock, self.clock_note = nvml_clock_reader()
        else:
            self.clock_note = "not read on the CPU" if device != "cuda" else "no clock reader"
        if device == "cuda":
            self.events = (torch.cuda.Event(enable_timing=True),
                           torch.cuda.Event(enable_timing=True))
        self.hold_stream = hold_stream and device == "cuda" and hasattr(torch.cuda, "_sleep")
        self.spin_cycles = 0
        self.host_enqueue_s: list[float] = []
        self.last_reading: ClockReading | None = None

    def call_untimed(self, fn: Callable[[], object]) -> None:
        t0 = time.perf_counter()
        fn()
        self.host_enqueue_s.append(time.perf_counter() - t0)
        synchronize(self.device)

    def size_spin(self) -> None:
        """Spin for twice the host's recent median enqueue time (+20 µs, at most 20 ms)."""
        if not self.hold_stream or not self.host_enqueue_s:
            return
        reading = self.read_clock() if self.read_clock else None
        clock_hz = (reading.sm_clock_mhz if reading and reading.sm_clock_mhz else 2000.0) * 1e6
        enqueue_s = quantile(self.host_enqueue_s[-10:], 0.5)
        self.spin_cycles = int(min(2.0 * enqueue_s + 20e-6, 0.02) * clock_hz)

    def time_call(self, fn: Callable[[], object]) -> float:
        if self.device != "cuda":
            t0 = time.perf_counter_ns()
            fn()
            elapsed_ns = time.perf_counter_ns() - t0
            self.last_reading = self.read_clock() if self.read_clock else None
            return elapsed_ns / 1e9
        start, end = self.events
        self.flush()
        if self.spin_cycles:
            torch.cuda._sleep(self.spin_cycles)
        start.record()
        t0 = time.perf_counter()
        fn()
        self.host_enqueue_s.append(time.perf_counter() - t0)
        end.record()
        self.last_reading = self.read_clock() if self.read_clock else None
        end.synchronize()
        return start.elapsed_time(end) / 1e3


def _capture_cuda_graph(fn: Callable[[], object]) -> tuple[Callable[[], None] | None, str | None]:
    """Capture ``fn`` in a CUDA graph (after side-stream warm-up); (replay, None) or (None, why).

    The caller's stream is current again afterwards, also when capture fails:
    ``torch.cuda.graph.__exit__`` calls ``capture_end()`` before it restores the stream,
    so a capture that ``capture_end()`` rejects would leave the capture stream current.
    """
    previous = None
    try:
        previous = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                fn()
        finally:
            torch.cuda.set_stream(previous)
        graph.replay()
        torch.cuda.synchronize()
        return graph.replay, None
    except Exception as exc:  # noqa: BLE001 - capture refuses host syncs, CPU tensors, ...
        with contextlib.suppress(Exception):
            if previous is not None:
                torch.cuda.set_stream(previous)
            torch.cuda.synchronize()
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _warm_up(fns: Sequence[Callable[[], object]], sampler: _Sampler, batch: int,
             max_batches: int, tolerance: float, budget_s: float) -> tuple[int, bool]:
    """Timed batches of each callable until every one's batch medians agree; (calls, converged)."""
    medians: list[list[float]] = [[] for _ in fns]
    calls, deadline = 0, time.perf_counter() + budget_s
    for fn in fns:  # first calls: compile, allocate, measure host enqueue time
        sampler.call_untimed(fn)
        calls += 1
    sampler.size_spin()
    for _ in range(max_batches):
        for i, fn in enumerate(fns):
            medians[i].append(quantile([sampler.time_call(fn) for _ in range(batch)], 0.5))
            calls += batch
        sampler.size_spin()
        if all(warmup_converged(m, tolerance) for m in medians):
            return calls, True
        if time.perf_counter() > deadline:
            break
    return calls, False


def measure(fn: Callable[[], object], device: str, *, target_rel_iqr: float = 0.02,
            min_samples: int = 10, max_samples: int = 1000, budget_s: float = 1.0,
            timeout_s: float | None = None, warmup: int = 3, max_warmup_batches: int = 10,
            warmup_tolerance: float = 0.05, flush_l2: bool = True,
            use_cuda_graph: bool = False, hold_stream: bool = True,
            clock_reader="auto", throttle_threshold: float = THROTTLE_THRESHOLD,
            benign_clock_events: int = BENIGN_CLOCK_EVENTS) -> Measurement:
    """Time single calls of ``fn`` on ``device`` ('cpu' or 'cuda'); see the module doc.

    ``warmup`` is the number of calls per warm-up batch; ``clock_reader`` is 'auto'
    (NVML on CUDA), None, or a callable returning a :class:`ClockReading` (tests).
    """
    rule = StopRule(target_rel_iqr, min_samples, max_samples, budget_s, timeout_s)
    sampler = _Sampler(device, flush_l2, clock_reader, hold_stream)
    began = time.perf_counter()
    result = Measurement([], device, target_rel_iqr, clock_note=sampler.clock_note,
                         timer="perf_counter_ns" if device != "cuda" else "cuda_event")
    timed = fn
    if use_cuda_graph:
        if device != "cuda":
            result.cuda_graph_fallback = "CUDA graphs need device 'cuda'"
        else:
            replay, why = _capture_cuda_graph(fn)
            if replay is not None:
                timed, result.cuda_graph, result.timer = replay, True, "cuda_event+graph"
            result.cuda_graph_fallback = why
    result.warmup_calls, result.warmup_converged = _warm_up(
        [timed], sampler, max(warmup, 1), max_warmup_batches, warmup_tolerance, budget_s / 2)
    began_sampling = time.perf_counter()
    while True:
        seconds = sampler.time_call(timed)
        _keep(result, seconds, sampler.last_reading, throttle_threshold, benign_clock_events)
        reason = stop_reason(result.samples_s, time.perf_counter() - began_sampling, rule)
        if reason:
            break
    result.stop_reason = reason
    if not result.samples_s:  # every sample throttled: keep the last one, flagged
        result.samples_s.append(seconds)
        result.stop_reason += "+all_throttled"
    result.elapsed_s = time.perf_counter() - began
    return result


def _keep(result: Measurement, seconds: float, reading: ClockReading | None,
          threshold: float, benign: int) -> bool:
    if reading is not None and reading.default_sm_clock_mhz:
        result.default_sm_clock_mhz = reading.default_sm_clock_mhz
    why = throttle_reason(reading, threshold, benign)
    if why:
        result.throttled_dropped += 1
        if why not in result.throttle_reasons:
            result.throttle_reasons.append(why)
        return False
    result.samples_s.append(seconds)
    if reading is not None and reading.sm_clock_mhz is not None:
        result.sm_clocks_mhz.append(reading.sm_clock_mhz)
    return True


# --- paired (A/B) measurement ---------------------------------------------------------


@dataclasses.dataclass
class PairedMeasurement:
    a: Measurement
    b: Measurement
    stop_reason: str = ""

    @property
    def ratio_samples(self) -> list[float]:
        return _ratios(self.a.samples_s, self.b.samples_s)

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios a/b."""
        return quantile(self.ratio_samples, 0.5)

    def ratio_ci(self, confidence: float = 0.95) -> tuple[float, float]:
        """Order-statistic confidence interval of :attr:`ratio`."""
        return median_ci(self.ratio_samples, confidence)


def _ratios(a_s: Sequence[float], b_s: Sequence[float]) -> list[float]:
    return [x / max(y, 1e-12) for x, y in zip(a_s, b_s)]


def measure_paired(fn_a: Callable[[], object], fn_b: Callable[[], object], device: str, *,
                   pairs: int = 30, budget_s: float = 2.0, target_rel_iqr: float = 0.01,
                   max_pairs: int | None = None, warmup: int = 3,
                   max_warmup_batches: int = 10, warmup_tolerance: float = 0.05,
                   flush_l2: bool = True, hold_stream: bool = True, clock_reader="auto",
                   throttle_threshold: float = THROTTLE_THRESHOLD,
                   benign_clock_events: int = BENIGN_CLOCK_EVENTS) -> PairedMeasurement:
    """Interleave ``fn_a`` and ``fn_b`` (AB, BA, AB, ...) and time each call.

    At least ``pairs`` pairs; then stops when the per-pair ratios' relative IQR is under
    ``target_rel_iqr`` or the budget is spent (at most ``max_pairs``, default 10x).
    A pair with a throttled sample is dropped whole.
    """
    rule = StopRule(target_rel_iqr, pairs, max_pairs or 10 * pairs, budget_s)
    sampler = _Sampler(device, flush_l2, clock_reader, hold_stream)
    began = time.perf_counter()
    timer = "perf_counter_ns" if device != "cuda" else "cuda_event"
    a = Measurement([], device, timer=timer, clock_note=sampler.clock_note)
    b = Measurement([], device, timer=timer, clock_note=sampler.clock_note)
    calls, converged = _warm_up([fn_a, fn_b], sampler, max(warmup, 1), max_warmup_batches,
                                warmup_tolerance, budget_s / 2)
    a.warmup_calls = b.warmup_calls = calls
    a.warmup_converged = b.warmup_converged = converged
    began_sampling, order = time.perf_counter(), 0
    while True:
        taken = {}
        for name, fn in ((("a", fn_a), ("b", fn_b)) if order % 2 == 0 else
                         (("b", fn_b), ("a", fn_a))):
            taken[name] = (sampler.time_call(fn), sampler.last_reading)
        order += 1
        readings = [r for _, r in taken.values()]
        why = next((w for w in (throttle_reason(r, throttle_threshold, benign_clock_events)
                                for r in readings) if w), None)
        if why:
            for m in (a, b):
                m.throttled_dropped += 1
                if why not in m.throttle_reasons:
                    m.throttle_reasons.append(why)
        else:
            _keep(a, *taken["a"], throttle_threshold, benign_clock_events)
            _keep(b, *taken["b"], throttle_threshold, benign_clock_events)
        reason = stop_reason(_ratios(a.samples_s, b.samples_s),
                             time.perf_counter() - began_sampling, rule)
        if reason:
            break
    if not a.samples_s:
        a.samples_s.append(taken["a"][0])
        b.samples_s.append(taken["b"][0])
        reason += "+all_throttled"
    a.stop_reason = b.stop_reason = reason
    a.elapsed_s = b.elapsed_s = time.perf_counter() - began
    return PairedMeasurement(a, b, reason)
