"""Bytes that cross entropy must move, bytes eager torch moves, and the machine's ceiling.

Notation: L = N·C·s, the bytes of the logits in the dtype the loss computes in (s = 4
for float32, 2 for float16/bfloat16; under CPU autocast the whole loss computes in
float32, under CUDA autocast only ``nll_loss`` does, see below); R = N·spatial, the
number of targets.

**Minimum bytes** (:func:`minimum_bytes`), what any implementation must move:

* forward: read the logits once (N·C·s of the *stored* dtype), read the targets (8·R
  for int64 class indices, N·C·s for probability targets), read the weight (C·s), write
  the loss (R·s for ``'none'``, one element otherwise);
* forward+backward, fused: the forward's bytes plus writing the gradient (N·C·s), plus
  reading ``grad_output`` for ``'none'`` (R·s): 2·N·C·s plus the small terms.

**Eager bytes** (:func:`eager_kernels`), the kernels eager torch runs, read from ATen
(``cross_entropy_loss_symint`` in ``aten/src/ATen/native/LossNLL.cpp``) and checked
against ``torch.profiler`` op trees on the CPU (torch 2.13). Dense traffic only, each
tensor counted once per kernel that reads or writes it; gathers count one element per
target (not a cache line):

* class-index targets: ``_log_softmax`` (read L, write L) then ``nll_loss_forward``
  (gather R elements, read targets and weight). Backward: ``nll_loss_backward``
  zero-fills the gradient (write L) and scatters R values; ``_log_softmax_backward_data``
  reads the incoming gradient and the saved output and writes the gradient (read 2L,
  write L). Total about 6·L for forward+backward. On the CPU ``nll_loss2d_backward``
  (4-D inputs) zero-fills twice (``zeros_like`` then ``zero_``): one more L.
* label smoothing > 0 adds ``input * weight`` (read L, write L; unweighted: none) and a
  class sum (read L) to the forward; in the backward, ``weight`` times the expanded
  gradient (write L; unweighted: none) and the sum of the two gradients (``add_``:
  read 2L, write L; unweighted ``add`` of a dense and an expanded gradient: read L,
  write L).
* probability targets: ``_log_softmax``, ``input * target`` (read 2L, write L),
  ``* weight`` (read L, write L; weighted only), ``sum`` (read L); backward: the
  gradient times ``weight`` (write L; weighted only), times ``target`` (read 2L or L,
  write L), ``_log_softmax_backward_data`` (read 2L, write L).
* non-contiguous or channels-last logits: ``_log_softmax`` first copies them to a
  contiguous tensor (read L, write L).
* autocast, CPU rules: ``aten::cross_entropy_loss`` has an ``AutocastCPU`` kernel, so
  the logits are cast to float32 first (read the stored bytes, write L) and the
  gradient is cast back (read L, write the stored bytes).
* autocast, CUDA rules (torch 2.13 has no ``AutocastCUDA`` kernel for
  ``cross_entropy_loss``; the call decomposes): ``_log_softmax`` runs in the stored
  dtype (its explicit dtype is kept), then ``nll_loss`` is autocast to float32: the
  log-probabilities are cast up (read L, write L32 = N·C·4) and ``nll_loss_backward``
  writes a float32 gradient (L32), cast back down (read L32, write L). Probability
  targets reach no autocast op: the call runs in the stored dtype throughout.
  ``eager_kernels(..., dispatch=...)`` chooses the rules (default: the device's).

The **peak bandwidth** is measured, not taken from a datasheet: a large device-to-device
copy (``Tensor.copy_``) timed with :func:`cebench.measure.timing.measure`, counted as read +
write (2x the buffer). It is cached per machine and device in a small JSON file outside
asv's ``results/`` tree (asv tries to load every ``*.json`` under ``results/`` as a
result file): ``$CEBENCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/cebench``, else
``~/.cache/cebench``, then ``<machine>/peak-bandwidth-<device>.json``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import warnings
from pathlib import Path

from cebench.grid.cases import PASSES, Case

TARGET_INDEX_BYTES = 8  # int64 class indices
CACHE_VERSION = 1


@dataclasses.dataclass(frozen=True)
class KernelTraffic:
    """Bytes one kernel reads and writes (dense traffic)."""

    name: str
    read_bytes: int
    write_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.read_bytes + self.write_bytes


def _check_pass(pass_: str) -> None:
    if pass_ not in PASSES:
        raise ValueError(f"unknown pass {pass_!r}; expected one of {', '.join(PASSES)}")


def _compute_element_bytes(case: Case, dispatch: str = "cuda") -> int:
    """Bytes per element of the dtype ``log_softmax`` computes in: float32 under CPU
    autocast, the stored dtype otherwise (CUDA autocast keeps it)."""
    return 4 if case.autocast_dtype and dispatch == "cpu" else case.element_bytes


def _output_elements(case: Case) -> int:
    return case.num_targets if case.reduction == "none" else 1


def minimum_bytes(case: Case, pass_: str) -> int:
    """The bytes any implementation of ``pass_`` must move (see the module doc)."""
    _check_pass(pass_)
    s = case.element_bytes
    logits = case.logits_bytes
    if case.target_kind == "probability":
        target = logits
    else:
        target = TARGET_INDEX_BYTES * case.num_targets
    weight = case.num_classes * s if case.weighting != "none" else 0
    loss_out = _output_elements(case) * s
    total = logits + target + weight + loss_out
    if pass_ == "forward_backward":
        grad_out = case.num_targets * s if case.reduction == "none" else 0
        total += logits + grad_out
    return total


def eager_kernels(case: Case, pass_: str, device: str = "cuda", *,
                  dispatch: str | None = None) -> list[KernelTraffic]:
    """The dense-traffic kernels eager torch runs for ``pass_`` (see the module doc).

    ``device`` decides the CPU's extra zero fill; ``dispatch`` ('cpu' or 'cuda',
    default ``device``) whose autocast rules apply.
    """
    _check_pass(pass_)
    dispatch = dispatch or device
    if dispatch not in ("cpu", "cuda"):
        raise ValueError(f"unknown dispatch {dispatch!r}; expected 'cpu' or 'cuda'")
    s = _compute_element_bytes(case, dispatch)
    L = case.num_targets * case.num_classes * s
    stored = case.logits_bytes
    R = case.num_targets
    C = case.num_classes
    weighted = case.weighting != "none"
    prob = case.target_kind == "probability"
    smoothing = case.label_smoothing > 0
    nll_fp32 = bool(case.autocast_dtype) and dispatch == "cuda" and not prob
    s_nll = 4 if nll_fp32 else s        # nll_loss's dtype
    L_nll = case.num_targets * case.num_classes * s_nll
    w_bytes = C * s_nll if weighted else 0
    out = _output_elements(case) * s_nll
    k = KernelTraffic
    fwd: list[KernelTraffic] = []
    bwd: list[KernelTraffic] = []

    if case.autocast_dtype and dispatch == "cpu":
        fwd.append(k("to(float32)", stored, L))
    if case.layout in ("noncontig", "channels_last"):
        fwd.append(k("contiguous", L, L))
    fwd.append(k("_log_softmax", L, L))
    if prob:
        if smoothing:
            fwd += [k("target*(1-eps)", L, L), k("+eps/C", L, L)]
        fwd.append(k("mul(logp,target)", 2 * L, L))
        if weighted:
            fwd.append(k("mul(weight)", L + w_bytes, L))
        fwd.append(k("sum", L, out))
        if weighted:
            bwd.append(k("mul_backward(weight)", w_bytes, L))
        bwd.append(k("mul_backward(target)", (2 * L if weighted else L), L))
    else:
        if nll_fp32:
            fwd.append(k("logp.to(float32)", L, L_nll))
        fwd.append(k("nll_loss_forward", R * s_nll + R * TARGET_INDEX_BYTES
                     + (R * s_nll if weighted else 0), out))
        zero_fills = 2 if (device == "cpu" and len(case.shape) == 4) else 1
        bwd.append(k("nll_loss_backward", R * TARGET_INDEX_BYTES + w_bytes,
                     zero_fills * L_nll + R * s_nll))
        if nll_fp32:
            bwd.append(k("grad.to(storage dtype)", L_nll, L))
        w_smooth = C * s if weighted else 0
        if smoothing:
            if weighted:
                fwd.append(k("mul(weight)", L + w_smooth, L))
            fwd.append(k("sum(class)", L, R * s))
            if weighted:
                bwd.append(k("mul_backward(weight)", R * s + w_smooth, L))
            # the two gradients summed: in place when both are dense, else out of place
            bwd.append(k("add_", 2 * L, L) if weighted else k("add", L + R * s, L))
    bwd.append(k("_log_softmax_backward_data", 2 * L, L))
    if case.autocast_dtype and dispatch == "cpu":
        bwd.append(k("to(storage dtype)", L, stored))
    return fwd if pass_ == "forward" else fwd + bwd


def eager_bytes(case: Case, pass_: str, device: str = "cuda", *,
                dispatch: str | None = None) -> int:
    return sum(kernel.total_bytes
               for kernel in eager_kernels(case, pass_, device, dispatch=dispatch))


def achieved_bandwidth(case: Case, pass_: str, seconds: float) -> float:
    """Minimum bytes / time, in bytes/s: the bandwidth a perfect kernel would need."""
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    return minimum_bytes(case, pass_) / seconds


# --- measured peak bandwidth ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PeakBandwidth:
    """A measured device copy: ``bytes_per_s`` counts read + write."""

    device: str
    machine: str
    bytes_per_s: float
    copy_bytes: int
    median_s: float
    rel_iqr: float
    samples: int
    torch_version: str
    measured_at: str

    def as_dict(self) -> dict:
        return {"version": CACHE_VERSION, **dataclasses.asdict(self)}


def default_copy_bytes(device: str) -> int:
    """1 GiB on CUDA (far beyond any L2), 256 MiB on the CPU (beyond its caches)."""
    return 2**30 if device == "cuda" else 256 * 2**20


def measure_peak_bandwidth(device: str, copy_bytes: int | None = None, *,
                           budget_s: float = 2.0) -> PeakBandwidth:
    """Time ``dst.copy_(src)`` of ``copy_bytes`` on ``device`` with cebench's timer."""
    import torch

    from cebench.environment import machine_name
    from cebench.measure import timing

    nbytes = copy_bytes or default_copy_bytes(device)
    source = torch.empty(nbytes // 4, dtype=torch.float32, device=device).fill_(1.0)
    destination = torch.empty_like(source).fill_(0.0)
    moved = 2 * source.numel() * source.element_size()
    m = timing.measure(lambda: destination.copy_(source), device, budget_s=budget_s,
                       min_samples=10, flush_l2=True)
    return PeakBandwidth(
        device=device, machine=machine_name(), bytes_per_s=moved / m.median_s,
        copy_bytes=moved // 2, median_s=m.median_s, rel_iqr=m.rel_iqr,
        samples=len(m.samples_s), torch_version=torch.__version__,
        measured_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def default_cache_path(device: str, machine: str | None = None) -> Path:
    from cebench.environment import machine_name

    root = os.environ.get("CEBENCH_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "cebench"
    return base / (machine or machine_name()) / f"peak-bandwidth-{device}.json"


def load_peak_bandwidth(path: Path) -> PeakBandwidth | None:
    """The cached measurement at ``path``; None (with a warning) if it is unusable."""
    try:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.pop("version", None) != CACHE_VERSION:
            raise ValueError("unknown cache version")
        peak = PeakBandwidth(**data)
        if not peak.bytes_per_s > 0:
            raise ValueError(f"bytes_per_s {peak.bytes_per_s!r} is not positive")
        return peak
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, OSError) as exc:
        warnings.warn(f"cebench: ignoring the peak-bandwidth cache {path} ({exc}); "
                      "measuring again", stacklevel=2)
        return None


def peak_bandwidth(device: str, *, cache_path: Path | None = None, refresh: bool = False,
                   measure=measure_peak_bandwidth) -> PeakBandwidth:
    """This machine's measured copy bandwidth on ``device``, from the cache or measured now.

    A missing, corrupt or other-device cache is measured again and rewritten.
    """
    path = Path(cache_path) if cache_path else default_cache_path(device)
    if not refresh:
        cached = load_peak_bandwidth(path)
        if cached is not None and cached.device == device:
            return cached
    peak = measure(device)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(peak.as_dict(), indent=1) + "\n")
        tmp.replace(path)
    except OSError as exc:
        warnings.warn(f"cebench: could not write the peak-bandwidth cache {path} ({exc})",
                      stacklevel=2)
    return peak
