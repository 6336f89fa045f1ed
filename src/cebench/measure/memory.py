"""Memory of one loss call: what the allocator saw, and what eager torch must allocate.

* :func:`allocator_peak` — CUDA caching-allocator peak of one call, as a delta over
  the bytes allocated before it (inputs, weight and targets are the baseline):
  ``max_memory_allocated()`` after ``synchronize()`` and ``reset_peak_memory_stats()``.
* :func:`memory_model` / :func:`expected_peak_bytes` — the analytical expectation:
  eager torch's allocation sequence for the case, replayed on a ledger (see
  :func:`memory_model` for the model).
* :func:`profiler_memory_events` / :func:`profiler_peak_bytes` — the same peak read
  from ``torch.profiler``'s memory events, which also works on the CPU (torch keeps no
  allocator statistics for the CPU): that is how the model is checked without a GPU.
* :func:`cuda_autocast_dispatch` — a context manager that makes CPU autocast dispatch
  ``F.cross_entropy`` the way CUDA autocast does, so that the model's CUDA branch is
  checked on the CPU too (see :func:`memory_model`, "autocast").
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator

from cebench.grid.cases import PASSES, Case

#: The CUDA caching allocator hands out blocks in multiples of 512 bytes.
CUDA_BLOCK_BYTES = 512
_COMPUTE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}


# --- the analytical model ---------------------------------------------------------------

@dataclasses.dataclass
class Step:
    op: str            # what allocates or frees ('+log_softmax out', '-upcast copy')
    delta_bytes: int
    live_bytes: int    # bytes live after this step, over the baseline


@dataclasses.dataclass
class MemoryModel:
    case: str
    pass_: str
    device: str
    peak_bytes: int
    steps: list[Step]


class _Ledger:
    """Live bytes over a sequence of allocations and frees; remembers the peak."""

    def __init__(self, block_bytes: int):
        self.block_bytes = block_bytes
        self.live: dict[str, int] = {}
        self.steps: list[Step] = []
        self.peak = 0

    def _total(self) -> int:
        return sum(self.live.values())

    def alloc(self, name: str, nbytes: int) -> None:
        if nbytes <= 0:
            return
        b = self.block_bytes
        size = -(-nbytes // b) * b
        assert name not in self.live, name
        self.live[name] = size
        self.peak = max(self.peak, self._total())
        self.steps.append(Step(f"+{name}", size, self._total()))

    def free(self, *names: str) -> None:
        for name in names:
            if name in self.live:
                size = self.live.pop(name)
                self.steps.append(Step(f"-{name}", -size, self._total()))


def memory_model(case: Case, pass_: str, device: str = "cuda", *,
                 dispatch: str | None = None) -> MemoryModel:
    """Eager torch's allocations for one call of ``case``, and their peak over the baseline.

    ``device`` sets the block size (512 bytes on CUDA, 1 on the CPU); ``dispatch``
    ('cpu' or 'cuda', default ``device``) says whose autocast rules apply (below).

    The model, with NC = logits elements, R = targets (N x spatial), C = classes,
    s = bytes per element of the dtype the loss computes in, s_in = storage bytes;
    each allocation is rounded up to the block size:

    forward (``F.cross_entropy`` -> ``log_softmax`` -> ``nll_loss_nd``, ATen LossNLL.cpp):
      * non-contiguous or channels-last logits: ``log_softmax`` makes a contiguous
        copy (NC*s), freed once it has run (not needed when the CPU-autocast copy of a
        non-dense slice already came out contiguous);
      * the log-softmax result, NC*s (the term that dominates);
      * index targets: nll_loss's output (R*s for 'none', else one scalar) and its
        ``total_weight`` scalar; with label smoothing, the smoothing term's per-row
        sums (2 R*s), a weighted copy of the log-probabilities (NC*s) when weighted,
        and for 'mean' the ignore masks (2 R bytes) and an int64 index (R*8);
      * probability targets: ``logp * target`` (NC*s), times the weight (NC*s) when
        weighted, and for 'none' the per-row sum and its negation (2 R*s).
    forward+backward adds (``autograd.grad`` of the loss w.r.t. the logits): the seed
    gradient (a scalar, or nothing for 'none', whose grad_output is an input), the
    gradient arriving at ``log_softmax`` (NC*s; built from nll_loss_backward, the
    smoothing or the soft-target product), and the result of
    ``_log_softmax_backward_data`` (NC*s), while the saved log-softmax result is still
    live: 3 NC*s at the peak.

    autocast differs by device (torch 2.13, ``torch._C._dispatch_dump``):

    * CPU (``dispatch='cpu'``): ``aten::cross_entropy_loss`` has an ``AutocastCPU``
      kernel that casts the whole call to float32 (s = 4): fp32 copies of the logits
      (NC*4), of the weight (C*4) and of probability targets (NC*4), alive until the
      loss returns; the gradient is cast back at the end (NC*s_in). Forward ~ 2 NC*4,
      forward+backward ~ 3 NC*4.
    * CUDA (``dispatch='cuda'``): there is no ``AutocastCUDA`` kernel for
      ``cross_entropy_loss``, so the call decomposes. ``log_softmax(x, 1,
      dtype=x.dtype)`` keeps its explicit dtype (s = s_in: the log-softmax is computed
      in float16/bfloat16), and ``nll_loss`` is autocast to float32: an fp32 copy of
      the log-probabilities (NC*4, saved for the backward) and of the weight (C*4);
      its gradient comes out in float32 (NC*4) and is cast back (NC*s_in).
      Probability targets never reach an autocast op: the whole call runs in s_in.
      For bfloat16 and index targets: forward ~ 6 NC bytes, forward+backward ~ 10 NC
      (CPU rules: 8 and 12).

    Checked against torch.profiler's CPU memory events, the CUDA rules through
    :func:`cuda_autocast_dispatch` (tests/test_memory.py).
    """
    if pass_ not in PASSES:
        raise ValueError(f"unknown pass {pass_!r}; expected one of {', '.join(PASSES)}")
    nc = 1
    for size in case.shape:
        nc *= size
    dispatch = dispatch or device
    if dispatch not in ("cpu", "cuda"):
        raise ValueError(f"unknown dispatch {dispatch!r}; expected 'cpu' or 'cuda'")
    rows, classes = case.num_targets, case.num_classes
    weighted = case.weighting != "none"
    soft = case.target_kind == "probability"
    autocast = case.autocast_dtype is not None and dispatch == "cpu"  # the fp32 cast of the call
    nll_fp32 = case.autocast_dtype is not None and dispatch == "cuda" and not soft
    s = 4 if autocast else _COMPUTE_BYTES[case.storage_dtype]
    s_nll = 4 if nll_fp32 else s  # nll_loss's dtype: float32 under CUDA autocast
    s_in = case.element_bytes
    none = case.reduction == "none"
    smoothing = case.label_smoothing > 0 and not soft
    grad = pass_ == "forward_backward"
    kept = max(rows - round(rows * case.ignore_fraction), 0)  # targets not ignored

    led = _Ledger(CUDA_BLOCK_BYTES if device == "cuda" else 1)
    # -- forward --
    if autocast:
        if weighted:
            led.alloc("weight fp32 copy", classes * 4)
        led.alloc("logits fp32 copy", nc * 4)
        if soft:
            led.alloc("target fp32 copy", nc * 4)
    if _log_softmax_input_is_strided(case, dispatch):
        led.alloc("contiguous logits", nc * s)
    led.alloc("log_softmax out", nc * s)
    led.free("contiguous logits")
    if nll_fp32:  # CUDA autocast: nll_loss casts its inputs to float32
        if weighted:
            led.alloc("weight fp32 copy", classes * 4)
        led.alloc("log_softmax fp32 copy", nc * 4)
    if soft:
        led.alloc("logp*target", nc * s)
        if weighted:
            led.alloc("logp*target*weight", nc * s)
        if none:
            led.alloc("row sum", rows * s)
            led.alloc("loss", rows * s)
            led.free("row sum")
        else:
            led.alloc("loss", s)
        led.free("logp*target*weight", "logp*target")
    else:
        led.alloc("nll out", rows * s_nll if none else s_nll)
        led.alloc("total_weight", s_nll)
        if not grad:
            led.free("total_weight", "log_softmax fp32 copy", "weight fp32 copy")
        if smoothing:
            if weighted:
                led.alloc("logp*weight", nc * s)
            led.alloc("smooth row sum", rows * s)
            led.alloc("smooth loss", rows * s)
            led.free("smooth row sum", "logp*weight")
            led.alloc("ignore mask", rows)
            if case.reduction == "mean":
                led.alloc("kept mask", rows)
                led.alloc("kept index", kept * 8)
                if weighted:
                    led.alloc("gathered weight", kept * s)
                led.free("gathered weight", "kept index", "kept mask")
            if none:  # (1 - eps) * nll + (eps / C) * smooth, row by row
                led.alloc("scaled nll", rows * s_nll)
                led.alloc("scaled smooth", rows * s)
                led.alloc("loss", rows * s_nll)
                led.free("scaled smooth", "scaled nll")
            else:
                led.alloc("loss", s_nll)
            led.free("ignore mask", "smooth loss")
            led.free("nll out")
    if autocast:
        led.free("logits fp32 copy", "target fp32 copy")
        if not grad:
            led.free("weight fp32 copy")
    if grad:
        # -- backward --
        def nll_grad() -> None:  # nll_loss_backward, in nll_loss's dtype, cast back if needed
            if nll_fp32:
                led.alloc("nll grad fp32", nc * 4)
                led.free("log_softmax fp32 copy", "weight fp32 copy")
                led.alloc("nll grad", nc * s)
                led.free("nll grad fp32")
            else:
                led.alloc("nll grad", nc * s)

        if not none:
            led.alloc("seed grad", s_nll)            # the loss's dtype (s_nll = s when soft)
        if smoothing and weighted:
            led.alloc("smooth grad", nc * s)         # d(logp*weight)
            if none:
                led.alloc("nll grad_output", rows * s_nll)  # (1 - eps) * grad
            nll_grad()                               # added in place into the above
            led.free("nll grad", "nll grad_output")
            incoming = "smooth grad"
        elif smoothing:
            led.alloc("smooth row grad", rows * s)
            if none:
                led.alloc("nll grad_output", rows * s_nll)
            nll_grad()
            led.free("nll grad_output")
            led.alloc("summed grad", nc * s)         # nll grad + expanded row grad
            led.free("smooth row grad", "nll grad")
            incoming = "summed grad"
        elif soft:
            if none:
                led.alloc("row grad", rows * s)
            led.alloc("product grad", nc * s)
            if weighted:
                led.alloc("product grad 2", nc * s)
                led.free("product grad")
            led.free("row grad")
            incoming = "product grad 2" if weighted else "product grad"
        else:
            nll_grad()
            incoming = "nll grad"
        led.free("seed grad")
        led.alloc("log_softmax grad", nc * s)
        led.free(incoming, "log_softmax out", "total_weight")
        if autocast:
            led.alloc("logits grad", nc * s_in)
            led.free("log_softmax grad", "weight fp32 copy")
    return MemoryModel(case.name, pass_, device, led.peak, led.steps)


def _log_softmax_input_is_strided(case: Case, dispatch: str) -> bool:
    """Whether ``log_softmax`` gets non-contiguous logits (and copies them first).

    channels_last and the transposed 2-D view stay strided; under CPU autocast the fp32
    copy of the strided 4-D slice (not dense) comes out contiguous (preserve_format).
    Under CUDA autocast ``log_softmax`` gets the stored logits as they are.
    """
    if case.layout == "channels_last":
        return True
    if case.layout == "noncontig":
        return case.autocast_dtype is None or dispatch == "cuda" or len(case.shape) == 2
    return False


def expected_peak_bytes(case: Case, pass_: str, device: str = "cuda", *,
                        dispatch: str | None = None) -> int:
    """Bytes eager torch must allocate at the peak of one ``pass_`` (see memory_model)."""
    return memory_model(case, pass_, device, dispatch=dispatch).peak_bytes


@contextlib.contextmanager
def cuda_autocast_dispatch() -> Iterator[None]:
    """Within the block, CPU autocast dispatches ``F.cross_entropy`` as CUDA autocast does.

    In torch 2.13 ``aten::cross_entropy_loss`` has an ``AutocastCPU`` kernel (the whole
    call in float32) and no ``AutocastCUDA`` one (``torch._C._dispatch_dump``). This
    registers a fallthrough for it under ``AutocastCPU`` while the block runs, so the
    call decomposes as on CUDA: ``log_softmax.int`` (no CPU autocast kernel; the CUDA
    one keeps an explicit dtype, so both run it as called) and ``nll_loss`` /
    ``nll_loss2d`` (autocast to float32 on both). The registration is removed on exit.
    A replay of CUDA dispatch on the CPU, for checking models and numerics without a GPU.
    """
    import torch

    library = torch.library.Library("aten", "IMPL")
    try:
        with warnings.catch_warnings():  # "overriding a previously registered kernel"
            warnings.simplefilter("ignore")
            library.impl("cross_entropy_loss", torch.library.fallthrough_kernel, "AutocastCPU")
        yield
    finally:
        library._destroy()


# --- measured: the CUDA caching allocator ------------------------------------------------

@dataclasses.dataclass
class AllocatorPeak:
    """One call's allocator peak, over what was allocated before it."""

    baseline_allocated_bytes: int
    peak_allocated_delta_bytes: int
    peak_reserved_delta_bytes: int   # pool growth: 0 when cached blocks sufficed


def allocator_peak(fn: Callable[[], object]) -> AllocatorPeak:
    """``max_memory_allocated()`` over one call of ``fn``, minus the baseline (CUDA)."""
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    baseline_allocated = torch.cuda.memory_allocated()
    baseline_reserved = torch.cuda.memory_reserved()
    result = fn()
    torch.cuda.synchronize()
    peak = AllocatorPeak(
        baseline_allocated_bytes=baseline_allocated,
        peak_allocated_delta_bytes=torch.cuda.max_memory_allocated() - baseline_allocated,
        peak_reserved_delta_bytes=torch.cuda.max_memory_reserved() - baseline_reserved,
    )
    del result
    return peak


def require_cuda(device: str) -> None:
    """asv set-up guard: allocator peaks exist only for CUDA (NotImplementedError = skip)."""
    if device != "cuda":
        raise NotImplementedError("allocator peaks need CUDA")


# --- measured: torch.profiler memory events (CPU and CUDA) ------------------------------

@dataclasses.dataclass
class MemoryEvent:
    t_ns: int
    delta_bytes: int
    device: str   # 'cpu' or 'cuda'


def profiler_memory_events(prof, device: str) -> list[MemoryEvent]:
    """Allocation (+) and free (-) events on ``device`` recorded by a finished profiler
    run with ``profile_memory=True``, in time order."""
    events = []
    for e in prof.profiler.kineto_results.events():
        if e.name() != "[memory]":
            continue
        kind = e.device_type().name.lower()   # DeviceType.CPU -> 'cpu'
        if kind != device:
            continue
        t_ns = e.start_ns() if hasattr(e, "start_ns") else e.start_us() * 1000
        events.append(MemoryEvent(t_ns, e.nbytes(), kind))
    events.sort(key=lambda ev: ev.t_ns)
    return events


def live_bytes_series(events: list[MemoryEvent]) -> list[tuple[int, int]]:
    """(t_ns, bytes live over the start) after each event."""
    live, out = 0, []
    for ev in events:
        live += ev.delta_bytes
        out.append((ev.t_ns, live))
    return out


def profiler_peak_bytes(fn: Callable[[], object], device: str) -> int:
    """Peak of live bytes allocated by one call of ``fn``, from profiler memory events."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
        torch.cuda.synchronize()
    with profile(activities=activities, profile_memory=True) as prof:
        result = fn()
        del result
        if device == "cuda":
            torch.cuda.synchronize()
    series = live_bytes_series(profiler_memory_events(prof, device))
    return max((live for _, live in series), default=0)
