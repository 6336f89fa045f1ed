"""`cebench selfcheck`: does cebench's timer agree with other timers on the same calls?

For a few cases and both passes it times one call with:

* ``cebench`` — :func:`cebench.measure.timing.measure` (cold: L2 flushed on CUDA), and on CUDA
  also ``cebench-graph`` (the call replayed from a CUDA graph);
* ``torch-timer`` — ``torch.utils.benchmark.Timer(...).blocked_autorange()`` with the
  same thread count (warm loop; each sample is the mean of a block of calls);
* ``triton`` — ``triton.testing.do_bench`` (CUDA and triton only; 256 MB flush, events);
* ``profiler`` — CUDA only: per call, the span ``torch.profiler`` records from the
  call's first kernel start to its last kernel end, with the L2 flushed before each
  call as cebench does (the flush kernel itself excluded). The span, not the sum of
  kernel durations: cebench's event pair also holds the gaps between kernels (launch
  latency, ~1 µs each), which a sum would leave out.

It prints each method's median and relative IQR and cebench's ratio to the profiler
(CUDA) or to torch's Timer (CPU), and the measured peak copy bandwidth. Exit status 1
when, on CUDA, cebench is off the profiler by more than ``--tolerance`` for a call whose
kernel span is 20 µs or more; the CPU has no kernel-time reference and never fails.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import torch

from cebench.measure import roofline
from cebench.measure import timing
from cebench.grid.cases import PASSES, Case, lookup

DEFAULT_CASES = {
    "cpu": ("small.contiguous.float32.mean.w-random",
            "small-seg.contiguous.float32.mean.w-random"),
    "cuda": ("classification.contiguous.float32.mean.w-random",
             "llm-128k.contiguous.bfloat16.mean.w-random",
             "segmentation.contiguous.float32.mean.w-random"),
}
PROFILER_MIN_KERNEL_S = 20e-6  # shorter calls are not judged (event resolution, gaps)


@dataclasses.dataclass
class MethodResult:
    median_s: float
    rel_iqr: float
    samples: int
    note: str = ""


@dataclasses.dataclass
class Row:
    case: str
    pass_: str
    methods: dict[str, MethodResult | None]
    reference: str  # 'profiler' or 'torch-timer'
    ratio: float | None  # cebench median / reference median
    judged: bool
    fidelity_miss: bool

    def as_dict(self) -> dict:
        return {"case": self.case, "pass": self.pass_, "reference": self.reference,
                "ratio": self.ratio, "judged": self.judged, "fidelity_miss": self.fidelity_miss,
                "methods": {k: dataclasses.asdict(v) if v else None
                            for k, v in self.methods.items()}}


# --- the methods ----------------------------------------------------------------------

def time_cebench(fn: Callable, device: str, budget_s: float,
                 use_cuda_graph: bool = False) -> MethodResult:
    m = timing.measure(fn, device, budget_s=budget_s, use_cuda_graph=use_cuda_graph)
    note = m.stop_reason
    if m.cuda_graph_fallback:
        note += f"; graph fallback: {m.cuda_graph_fallback}"
    if m.throttled_dropped:
        note += f"; {m.throttled_dropped} throttled dropped"
    return MethodResult(m.median_s, m.rel_iqr, len(m.samples_s), note)


def time_torch_timer(fn: Callable, min_run_time: float) -> MethodResult:
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return MethodResult(m.median, m.iqr / m.median, len(m.times),
                        f"blocks of {m.number_per_run}")


def time_triton(fn: Callable) -> MethodResult | None:
    try:
        from triton.testing import do_bench
    except ImportError:
        return None
    try:
        q1, median, q3 = do_bench(fn, quantiles=[0.25, 0.5, 0.75])  # milliseconds
    except TypeError:  # an older do_bench without `quantiles`
        return MethodResult(float(do_bench(fn)) / 1e3, float("nan"), 0, "do_bench (mean)")
    return MethodResult(median / 1e3, (q3 - q1) / median, 0, "do_bench")


@dataclasses.dataclass(frozen=True)
class KernelEvent:
    """One device kernel from a profile: name and start/end in microseconds."""

    name: str
    start_us: float
    end_us: float


def per_call_kernel_spans(events: list[KernelEvent], flush_names: set[str],
                          iterations: int) -> tuple[list[float], int]:
    """(seconds from each call's first kernel start to its last kernel end, flushes seen).

    ``events`` hold ``iterations`` repetitions of (flush kernel(s), the call's kernels);
    a call is everything after one flush and before the next. A call with no kernels
    spans 0 s.
    """
    first: list[float | None] = [None] * iterations
    last: list[float | None] = [None] * iterations
    call, flushes = -1, 0
    for e in sorted(events, key=lambda e: e.start_us):
        if e.name in flush_names:
            call += 1
            flushes += 1
            continue
        if 0 <= call < iterations:
            first[call] = e.start_us if first[call] is None else min(first[call], e.start_us)
            last[call] = e.end_us if last[call] is None else max(last[call], e.end_us)
    spans = [0.0 if a is None else (b - a) / 1e6 for a, b in zip(first, last)]
    return spans, flushes


def kernel_seconds_per_call(fn: Callable, iterations: int = 20) -> MethodResult:
    """Per-call kernel span from ``torch.profiler`` (L2 flushed between calls)."""
    from torch.profiler import ProfilerActivity, profile

    flush = timing._L2Flusher("cuda")

    def kernels(prof) -> list[KernelEvent]:
        return [KernelEvent(e.name, e.time_range.start, e.time_range.end) for e in prof.events()
                if e.device_type == torch.autograd.DeviceType.CUDA
                and not getattr(e, "is_user_annotation", False)]

    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        flush()
        torch.cuda.synchronize()
    flush_names = {e.name for e in kernels(prof)}
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as prof:
        for _ in range(iterations):
            flush()
            fn()
        torch.cuda.synchronize()
    per_call, flushes = per_call_kernel_spans(kernels(prof), flush_names, iterations)
    note = "" if flushes == iterations else f"expected {iterations} flush kernels, saw {flushes}"
    return MethodResult(timing.quantile(per_call, 0.5), timing.relative_iqr(per_call),
                        iterations, note)


# --- the check ------------------------------------------------------------------------

def check_case(case: Case, pass_: str, device: str, *, budget_s: float, min_run_time: float,
               tolerance: float) -> Row:
    from cebench.grid.inputs import loss_call, prepare

    fn = loss_call(prepare(case, device), pass_)
    methods: dict[str, MethodResult | None] = {
        "cebench": time_cebench(fn, device, budget_s)}
    if device == "cuda":
        methods["cebench-graph"] = time_cebench(fn, device, budget_s, use_cuda_graph=True)
    methods["torch-timer"] = time_torch_timer(fn, min_run_time)
    if device == "cuda":
        methods["triton"] = time_triton(fn)
        methods["profiler"] = kernel_seconds_per_call(fn)
    reference = "profiler" if device == "cuda" else "torch-timer"
    ref = methods[reference]
    ratio, judged, miss = judge(methods["cebench"].median_s,
                                ref.median_s if ref else None, device, tolerance)
    return Row(case.name, pass_, methods, reference, ratio, judged, miss)


def judge(cebench_s: float, reference_s: float | None, device: str,
          tolerance: float) -> tuple[float | None, bool, bool]:
    """(cebench / reference, judged?, fidelity miss?). Only CUDA calls whose profiler
    kernel span is >= 20 µs are judged."""
    if not reference_s or reference_s <= 0:
        return None, False, False
    ratio = cebench_s / reference_s
    judged = device == "cuda" and reference_s >= PROFILER_MIN_KERNEL_S
    return ratio, judged, judged and abs(ratio - 1.0) > tolerance


def format_table(rows: list[Row]) -> str:
    names = []
    for row in rows:
        names += [n for n in row.methods if n not in names]
    width = max(len(f"{r.case} {r.pass_}") for r in rows)
    head = f"{'case / pass':<{width}}  " + "  ".join(f"{n + ' median':>20}" for n in names)
    lines = [head + f"  {'cebench/ref':>12}  verdict"]
    for r in rows:
        cells = []
        for n in names:
            res = r.methods.get(n)
            cells.append(f"{'—':>20}" if res is None else
                         f"{res.median_s * 1e6:>11.1f} µs ±{res.rel_iqr:>5.1%}")
        ratio = f"{r.ratio:.3f}" if r.ratio is not None else "—"
        verdict = ("MISS" if r.fidelity_miss else "ok") if r.judged else "not judged"
        lines.append(f"{r.case + ' ' + r.pass_:<{width}}  " + "  ".join(cells)
                     + f"  {ratio + ' (' + r.reference + ')':>12}  {verdict}")
    lines.append("± = relative IQR (IQR / median); torch-timer samples are block means.")
    return "\n".join(lines)




# --- the whole check ------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    device: str
    rows: list[Row]
    skipped: list[str]          # "<case>: <reason>" for cases that cannot run here
    peak: roofline.PeakBandwidth
    tolerance: float

    @property
    def misses(self) -> list[Row]:
        return [r for r in self.rows if r.fidelity_miss]

    def as_dict(self) -> dict:
        from cebench.environment import machine_name

        return {
            "device": self.device, "machine": machine_name(), "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "tolerance": self.tolerance, "rows": [r.as_dict() for r in self.rows],
            "peak_bandwidth": self.peak.as_dict(), "fidelity_misses": len(self.misses),
        }


def run_selfcheck(device: str, cases: list[Case], passes: list[str], *, budget_s: float,
                  min_run_time: float, tolerance: float, peak_mib: int = 0) -> Report:
    """Every case and pass with every timer, then the peak copy bandwidth.

    ``peak_mib`` 0 measures the default copy size afresh and updates this machine's cache.
    """
    from cebench.grid.inputs import SkipCase

    rows: list[Row] = []
    skipped: list[str] = []
    for case in cases:
        for pass_ in passes:
            try:
                rows.append(check_case(case, pass_, device, budget_s=budget_s,
                                       min_run_time=min_run_time, tolerance=tolerance))
            except SkipCase as exc:
                skipped.append(f"{case.name}: {exc}")
    if peak_mib:
        peak = roofline.measure_peak_bandwidth(device, peak_mib * 2**20)
    else:
        peak = roofline.peak_bandwidth(device, refresh=True)
    return Report(device, rows, skipped, peak, tolerance)
