"""Device telemetry from NVML: memory used, clocks, power, temperature, throttling.

NVML keeps no memory-used history, so :class:`NvmlSampler` polls it from a background
thread (ctypes releases the GIL during each call) and timestamps every sample with
``time.perf_counter``. Use it around a measured region::

    with NvmlSampler(device=0, interval_s=0.002) as rec:
        run_the_region(); torch.cuda.synchronize()
    rec.summary.peak_delta_bytes, rec.summary.throttle_reasons_seen, rec.frame()

Where NVML cannot run (no driver: ``NVMLError_LibraryNotFound``; not supported; no
permission) nothing raises: ``rec.summary.available`` is False and ``.reason`` says
why in one line. A field a device does not support (e.g. power) is left ``None`` and
named in ``summary.unsupported_fields``; the others are still sampled. A GPU lost
mid-run stops the thread and sets ``summary.lost``.

*What NVML "used" means*: device-wide memory in use, which includes every process's
CUDA context and the caching allocator's whole pool, not just live tensors; the exact
per-call figure is the allocator's (:mod:`cebench.measure.memory`). Report both, labelled.
Blocks the allocator keeps cached after earlier calls count as used until
``torch.cuda.empty_cache()``: a baseline taken after a warm-up already holds the peak.
:func:`sample_calls` therefore releases the cache (:func:`release_cached_memory`) before
its baseline, so ``peak_delta_bytes`` is the device memory the calls take beyond the
live tensors and the CUDA context.

*How fast NVML can be polled* depends on the driver and on which fields are read
(the running-process list is the slowest query). Measure it on the machine at hand
with :func:`measure_sample_rate` (``python -m cebench.measure.nvml``), which polls with no
sleep for a second and reports the achieved rate; ``summary.achieved_rate_hz`` tells
what every recording actually achieved. The default interval asks for 500 Hz.

The torch device is mapped to its NVML handle by UUID (``CUDA_VISIBLE_DEVICES``
renumbers torch's devices but not NVML's), see :func:`nvml_index_for_uuid`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable
from typing import Any

try:  # nvidia-ml-py; importable without a driver (nvmlInit then fails)
    import pynvml
except ImportError:  # pragma: no cover - the gpu extra is not installed
    pynvml = None

DEFAULT_INTERVAL_S = 0.002

# NVML return codes (stable ABI values, as in nvml.h); looked up on the module when present.
_ERR_UNINITIALIZED = 1
_ERR_NOT_SUPPORTED = 3
_ERR_NO_PERMISSION = 4
_ERR_DRIVER_NOT_LOADED = 9
_ERR_LIBRARY_NOT_FOUND = 12
_ERR_FUNCTION_NOT_FOUND = 13
_ERR_GPU_IS_LOST = 15
_ERR_RESET_REQUIRED = 16

_ERROR_REASONS = {
    _ERR_LIBRARY_NOT_FOUND: "NVML library not found (no NVIDIA driver on this machine)",
    _ERR_DRIVER_NOT_LOADED: "NVIDIA driver not loaded",
    _ERR_NO_PERMISSION: "no permission to query the device",
    _ERR_NOT_SUPPORTED: "not supported on this device",
    _ERR_FUNCTION_NOT_FOUND: "not in this driver's NVML",
    _ERR_GPU_IS_LOST: "GPU is lost",
    _ERR_RESET_REQUIRED: "GPU requires reset",
    _ERR_UNINITIALIZED: "NVML uninitialized",
}
#: Errors after which the device cannot be read any more: the recording stops.
_LOST_CODES = {_ERR_GPU_IS_LOST, _ERR_RESET_REQUIRED, _ERR_UNINITIALIZED}

#: Clock-event (formerly "throttle") reason bits, nvml.h ``nvmlClocksEventReason*``.
CLOCK_EVENT_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
#: The reasons that mean the clocks were held down while work ran (not idle, not a
#: user setting): a benchmark that saw one of these ran slower than it could.
THROTTLE_REASONS = frozenset({
    "sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
})


def decode_clock_event_reasons(mask: int) -> list[str]:
    """Names of the bits set in an NVML clock-event reason mask (unknown bits as hex)."""
    names = [name for bit, name in CLOCK_EVENT_REASONS.items() if mask & bit]
    unknown = mask & ~sum(CLOCK_EVENT_REASONS)
    bit = 1
    while unknown:
        if unknown & bit:
            names.append(f"unknown_{bit:#x}")
            unknown &= ~bit
        bit <<= 1
    return names


class NvmlUnavailable(Exception):
    """NVML cannot report on this device; ``reason`` says why in one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _error_code(exc: BaseException) -> int | None:
    return getattr(exc, "value", None) if _is_nvml_error(exc) else None


def _is_nvml_error(exc: BaseException) -> bool:
    return any(cls.__name__ == "NVMLError" for cls in type(exc).__mro__)


def describe_error(exc: BaseException) -> str:
    code = _error_code(exc)
    if code in _ERROR_REASONS:
        return f"{_ERROR_REASONS[code]} ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"


# --- torch device -> NVML device, by UUID ----------------------------------------------

def normalize_uuid(uuid: Any) -> str:
    """'GPU-1a2b...' / b'GPU-1A2B...' / '1a2b...' -> '1a2b...' (MIG- kept: it names a slice)."""
    text = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
    text = text.strip().lower()
    return text.removeprefix("gpu-")


def torch_device_uuid(index: int) -> str:
    """The UUID torch reports for its CUDA device ``index`` (after CUDA_VISIBLE_DEVICES)."""
    import torch

    return normalize_uuid(torch.cuda.get_device_properties(index).uuid)


def nvml_index_for_uuid(nvml, uuid: str) -> int:
    """The NVML index of the device whose UUID is ``uuid``; NvmlUnavailable if none."""
    wanted = normalize_uuid(uuid)
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        if normalize_uuid(nvml.nvmlDeviceGetUUID(handle)) == wanted:
            return index
    raise NvmlUnavailable(f"no NVML device has torch's UUID {wanted}")


# --- samples and their summary -----------------------------------------------------------

@dataclasses.dataclass
class NvmlSample:
    """One poll of the device. Fields the device did not report are None."""

    t_s: float                          # time.perf_counter() when the poll began
    used_bytes: int | None              # device-wide memory used
    process_used_bytes: int | None      # this process's, where the driver reports it
    sm_clock_mhz: int | None
    memory_clock_mhz: int | None
    power_w: float | None
    temperature_c: int | None
    clock_event_reasons: int | None     # bit mask, see decode_clock_event_reasons


SAMPLE_FIELDS = tuple(f.name for f in dataclasses.fields(NvmlSample))


@dataclasses.dataclass
class NvmlSummary:
    """What a recording saw. ``available=False`` (with ``reason``) when NVML could not run."""

    available: bool
    reason: str | None = None
    device_name: str | None = None
    device_uuid: str | None = None
    nvml_index: int | None = None
    memory_info_version: int | None = None
    requested_interval_s: float | None = None
    samples_taken: int = 0
    duration_s: float = 0.0
    achieved_rate_hz: float | None = None
    baseline_used_bytes: int | None = None
    peak_used_bytes: int | None = None
    baseline_process_used_bytes: int | None = None
    peak_process_used_bytes: int | None = None
    max_sm_clock_mhz: int | None = None
    min_sm_clock_mhz: int | None = None
    max_power_w: float | None = None
    max_temperature_c: int | None = None
    clock_event_reasons_seen: list[str] = dataclasses.field(default_factory=list)
    unsupported_fields: dict[str, str] = dataclasses.field(default_factory=dict)
    lost: bool = False

    @property
    def peak_delta_bytes(self) -> int | None:
        """Peak minus baseline device memory used (None when not measured)."""
        if self.peak_used_bytes is None or self.baseline_used_bytes is None:
            return None
        return self.peak_used_bytes - self.baseline_used_bytes

    @property
    def throttle_reasons_seen(self) -> list[str]:
        return [r for r in self.clock_event_reasons_seen if r in THROTTLE_REASONS]

    @property
    def throttled(self) -> bool | None:
        """Whether a throttling reason was seen; None when the reasons were not read."""
        if not self.available or "clock_event_reasons" in self.unsupported_fields:
            return None
        return bool(self.throttle_reasons_seen)

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(peak_delta_bytes=self.peak_delta_bytes, throttled=self.throttled,
                   throttle_reasons_seen=self.throttle_reasons_seen)
        return out

    def one_line(self) -> str:
        if not self.available:
            return f"NVML unavailable: {self.reason}"
        delta = self.peak_delta_bytes
        text = (f"NVML {self.device_name}: {self.samples_taken} samples at "
                f"{self.achieved_rate_hz or 0:.0f} Hz, peak used "
                f"{'n/a' if delta is None else f'+{delta / 2**20:.1f} MiB'} over baseline, "
                f"throttle reasons: {', '.join(self.throttle_reasons_seen) or 'none'}")
        return text + (f"; stopped early: {self.reason}" if self.lost else "")


def summarize(samples: list[NvmlSample], **info) -> NvmlSummary:
    """Baseline = the first sample, peak = the largest; rate over the samples' span."""
    summary = NvmlSummary(available=True, **info)
    summary.samples_taken = len(samples)
    if not samples:
        return summary
    summary.duration_s = samples[-1].t_s - samples[0].t_s
    if len(samples) > 1 and summary.duration_s > 0:
        summary.achieved_rate_hz = (len(samples) - 1) / summary.duration_s

    def series(name):
        return [getattr(s, name) for s in samples if getattr(s, name) is not None]

    used, proc = series("used_bytes"), series("process_used_bytes")
    if used:
        summary.baseline_used_bytes, summary.peak_used_bytes = used[0], max(used)
    if proc:
        summary.baseline_process_used_bytes, summary.peak_process_used_bytes = proc[0], max(proc)
    if clocks := series("sm_clock_mhz"):
        summary.max_sm_clock_mhz, summary.min_sm_clock_mhz = max(clocks), min(clocks)
    if power := series("power_w"):
        summary.max_power_w = max(power)
    if temps := series("temperature_c"):
        summary.max_temperature_c = max(temps)
    mask = 0
    for value in series("clock_event_reasons"):
        mask |= value
    summary.clock_event_reasons_seen = decode_clock_event_reasons(mask)
    return summary


# --- the sampler -----------------------------------------------------------------------

class _DeviceLost(Exception):
    pass


class NvmlSampler:
    """Polls one device every ``interval_s`` in a thread while the ``with`` block runs.

    ``device``: a torch CUDA index (default: the current device), mapped to NVML by
    UUID. ``nvml_index``: an NVML index instead, bypassing torch. ``nvml``: the NVML
    module (default :mod:`pynvml`; tests pass a fake). After the block, ``summary`` and
    ``samples`` hold the recording; it never raises for NVML's sake.
    """

    def __init__(self, device: int | None = None, *, interval_s: float = DEFAULT_INTERVAL_S,
                 nvml_index: int | None = None, nvml=None,
                 torch_uuid: Callable[[int], str] | None = None):
        self.device = device
        self.interval_s = interval_s
        self.nvml_index = nvml_index
        self.nvml = nvml if nvml is not None else pynvml
        self._torch_uuid = torch_uuid or torch_device_uuid
        self.samples: list[NvmlSample] = []
        self.summary: NvmlSummary | None = None
        self.unsupported: dict[str, str] = {}
        self._lost_reason: str | None = None
        self._handle = None
        self._info: dict[str, Any] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._initialized = False
        self._unavailable: str | None = None

    # -- opening ------------------------------------------------------------------------
    def _open(self) -> None:
        nvml = self.nvml
        if nvml is None:
            raise NvmlUnavailable("nvidia-ml-py (pynvml) is not installed")
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound here, on a machine without a driver
            raise NvmlUnavailable(describe_error(exc)) from None
        self._initialized = True
        try:
            index = self.nvml_index
            if index is None:
                torch_index = self.device if self.device is not None else _current_torch_device()
                uuid = self._torch_uuid(torch_index)
                index = nvml_index_for_uuid(nvml, uuid)
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            name = nvml.nvmlDeviceGetName(handle)
            uuid = normalize_uuid(nvml.nvmlDeviceGetUUID(handle))
        except NvmlUnavailable:
            raise
        except Exception as exc:
            raise NvmlUnavailable(describe_error(exc)) from None
        self._handle = handle
        self._info = {"device_name": name.decode() if isinstance(name, bytes) else str(name),
                      "device_uuid": uuid, "nvml_index": index}
        self._memory_version = self._choose_memory_version()
        self._reasons_fn = self._choose_reasons_fn()

    def _choose_memory_version(self) -> int:
        """v2 ('used' excludes memory the driver reserves) when it works, else v1."""
        version = getattr(self.nvml, "nvmlMemory_v2", None)
        if version is not None:
            try:
                self.nvml.nvmlDeviceGetMemoryInfo(self._handle, version=version)
                return 2
            except Exception as exc:
                if _error_code(exc) in _LOST_CODES:
                    raise NvmlUnavailable(describe_error(exc)) from None
        return 1

    def _choose_reasons_fn(self):
        for name in ("nvmlDeviceGetCurrentClocksEventReasons",
                     "nvmlDeviceGetCurrentClocksThrottleReasons"):
            fn = getattr(self.nvml, name, None)
            if fn is None:
                continue
            try:
                fn(self._handle)
                return fn
            except Exception as exc:
                if _error_code(exc) != _ERR_FUNCTION_NOT_FOUND:
                    return fn  # let sampling record NotSupported / NoPermission per field
        return None

    # -- one poll -----------------------------------------------------------------------
    def _query(self, field: str, fn: Callable[[], Any]):
        if field in self.unsupported:
            return None
        try:
            return fn()
        except Exception as exc:
            code = _error_code(exc)
            if code in _LOST_CODES:
                raise _DeviceLost(describe_error(exc)) from None
            self.unsupported[field] = describe_error(exc)
            return None

    def _memory(self):
        if self._memory_version == 2:
            return self.nvml.nvmlDeviceGetMemoryInfo(self._handle, version=self.nvml.nvmlMemory_v2)
        return self.nvml.nvmlDeviceGetMemoryInfo(self._handle)

    def _process_used(self):
        pid = os.getpid()
        for proc in self.nvml.nvmlDeviceGetComputeRunningProcesses(self._handle):
            if proc.pid == pid:
                return proc.usedGpuMemory  # None where the driver does not say
        return None  # not listed: e.g. a container's PID namespace

    def sample_once(self) -> NvmlSample:
        nvml, h = self.nvml, self._handle
        t_s = time.perf_counter()
        memory = self._query("used_bytes", self._memory)
        power_mw = self._query("power_w", lambda: nvml.nvmlDeviceGetPowerUsage(h))
        reasons_fn = self._reasons_fn
        if reasons_fn is None:
            self.unsupported.setdefault("clock_event_reasons", "no clock-event query in this NVML")
        return NvmlSample(
            t_s=t_s,
            used_bytes=None if memory is None else int(memory.used),
            process_used_bytes=self._query("process_used_bytes", self._process_used),
            sm_clock_mhz=self._query(
                "sm_clock_mhz", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)),
            memory_clock_mhz=self._query(
                "memory_clock_mhz", lambda: nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_MEM)),
            power_w=None if power_mw is None else power_mw / 1000.0,
            temperature_c=self._query(
                "temperature_c",
                lambda: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            clock_event_reasons=None if reasons_fn is None else self._query(
                "clock_event_reasons", lambda: reasons_fn(h)),
        )

    def _poll(self) -> bool:
        """Take one sample; False (and the reason noted) when the device is lost."""
        try:
            self.samples.append(self.sample_once())
            return True
        except _DeviceLost as exc:
            self._lost_reason = f"{exc} after {len(self.samples)} samples"
            return False

    def _run(self) -> None:
        next_t = time.perf_counter()
        while not self._stop.is_set():
            if not self._poll():
                return
            next_t += self.interval_s
            delay = next_t - time.perf_counter()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.perf_counter()  # fell behind: don't burst to catch up

    # -- the context manager ----------------------------------------------------------------
    def start(self) -> NvmlSampler:
        try:
            self._open()
        except NvmlUnavailable as exc:
            self._unavailable = exc.reason
            self._shutdown()
            return self
        if self._poll():  # the baseline, in the caller's thread, before the region
            self._thread = threading.Thread(target=self._run, name="cebench-nvml", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> NvmlSummary:
        if self._unavailable is not None:
            self.summary = NvmlSummary(available=False, reason=self._unavailable,
                                       requested_interval_s=self.interval_s)
            return self.summary
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._lost_reason is None:
            self._poll()  # a last sample after the region
        self.summary = summarize(
            self.samples, requested_interval_s=self.interval_s,
            memory_info_version=self._memory_version, **self._info)
        self.summary.unsupported_fields = dict(self.unsupported)
        if self._lost_reason is not None:
            self.summary.lost = True
            self.summary.reason = self._lost_reason
        self._shutdown()
        return self.summary

    def _shutdown(self) -> None:
        if self._initialized:
            self._initialized = False
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001 - a lost device may not shut down cleanly
                pass

    def __enter__(self) -> NvmlSampler:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def frame(self):
        """The samples as a pandas DataFrame (one row per sample, t_s from the first)."""
        import pandas as pd

        df = pd.DataFrame([dataclasses.asdict(s) for s in self.samples], columns=SAMPLE_FIELDS)
        if len(df):
            df["t_s"] -= df["t_s"].iloc[0]
        return df


def _current_torch_device() -> int:
    import torch

    if not torch.cuda.is_available():
        raise NvmlUnavailable("torch sees no CUDA device to map to an NVML device")
    return torch.cuda.current_device()


def release_cached_memory() -> bool:
    """``synchronize()`` and ``empty_cache()`` where CUDA is in use; whether it did.

    NVML counts the caching allocator's free blocks as used (torch docs, "CUDA memory
    management": cached memory "will still show as if used in nvidia-smi" until
    ``empty_cache()`` releases it), so a memory baseline must come after this.
    """
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return False
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    return True


def sample_calls(fn: Callable[[], object], calls: int = 5, *, device: int | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S, **sampler_kwargs) -> NvmlSampler:
    """Run ``fn`` ``calls`` times (synchronising CUDA after) under a sampler; return it.

    The allocator's cache is released first (:func:`release_cached_memory`), so the
    baseline does not already hold the pool that earlier calls of ``fn`` left behind.
    """
    import torch

    release_cached_memory()
    with NvmlSampler(device, interval_s=interval_s, **sampler_kwargs) as rec:
        for _ in range(calls):
            fn()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
    return rec


def measure_sample_rate(duration_s: float = 1.0, *, device: int | None = None,
                        nvml_index: int | None = None, nvml=None) -> NvmlSummary:
    """Poll with no sleep for ``duration_s``: ``achieved_rate_hz`` is what NVML sustains."""
    with NvmlSampler(device, interval_s=0.0, nvml_index=nvml_index, nvml=nvml) as rec:
        time.sleep(duration_s)
    return rec.summary


if __name__ == "__main__":  # python -m cebench.measure.nvml [seconds]
    import sys

    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    index = None
    try:
        import torch

        if not torch.cuda.is_available():
            index = 0
    except ImportError:
        index = 0
    summary = measure_sample_rate(seconds, nvml_index=index)
    if summary.available:
        print(f"{summary.device_name}: {summary.samples_taken} samples in "
              f"{summary.duration_s:.2f} s = {summary.achieved_rate_hz:.0f} Hz sustained "
              f"(unsupported fields: {summary.unsupported_fields or 'none'})")
    else:
        print(summary.one_line())
