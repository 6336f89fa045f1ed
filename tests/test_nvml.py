"""The NVML sampler against a fake pynvml (every error path) and the real one (no driver here)."""

from __future__ import annotations

import time
import types

import pynvml
import pytest
import torch

from cebench.measure import nvml

MiB = 2**20


class FakeMemory:
    def __init__(self, used):
        self.used, self.total, self.free = used, 80 * 2**30, 80 * 2**30 - used


class FakeNvml(types.SimpleNamespace):
    """A pynvml stand-in: real error classes, scripted devices and failures.

    ``fail``: query name -> NVML error code raised by every call to it.
    ``lose_after``: memory reads after this many raise GPU_IS_LOST (the sampler's first
    read is its v2 probe when opening; each sample reads memory first).
    ``used``: memory used per read, the last repeated.
    """

    NVMLError = pynvml.NVMLError
    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 1, 2, 0
    nvmlMemory_v2 = pynvml.nvmlMemory_v2

    def __init__(self, uuids=("GPU-aaaa", "GPU-bbbb", "GPU-cccc"), *, init_error=None,
                 fail=None, lose_after=None, v2=True, used=None, reasons=0x4,
                 event_reasons_fn=True, pid=None):
        super().__init__()
        self.uuids, self.init_error, self.fail = list(uuids), init_error, dict(fail or {})
        self.lose_after, self.v2, self.reasons = lose_after, v2, reasons
        self.used = list(used or [1000 * MiB])
        self.memory_reads, self.memory_versions, self.calls = 0, [], []
        self.shutdowns = 0
        self.pid = pid
        if event_reasons_fn:
            self.nvmlDeviceGetCurrentClocksEventReasons = self._reasons
        self.nvmlDeviceGetCurrentClocksThrottleReasons = self._reasons

    def _check(self, name):
        self.calls.append(name)
        if (self.lose_after is not None and name == "memory"
                and self.memory_reads >= self.lose_after):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST)
        if name in self.fail:
            raise pynvml.NVMLError(self.fail[name])

    def nvmlInit(self):
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return len(self.uuids)

    def nvmlDeviceGetHandleByIndex(self, index):
        return ("handle", index)

    def nvmlDeviceGetUUID(self, handle):
        return self.uuids[handle[1]]

    def nvmlDeviceGetName(self, handle):
        return f"Fake GPU {handle[1]}"

    def nvmlDeviceGetMemoryInfo(self, handle, version=None):
        self._check("memory")
        if version is not None and not self.v2:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
        self.memory_versions.append(2 if version else 1)
        used = self.used[min(self.memory_reads, len(self.used) - 1)]
        self.memory_reads += 1
        return FakeMemory(used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        self._check("processes")
        pid = self.pid if self.pid is not None else -1
        return [types.SimpleNamespace(pid=pid, usedGpuMemory=512 * MiB)]

    def nvmlDeviceGetClockInfo(self, handle, kind):
        self._check("clock")
        return 1980 if kind == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetPowerUsage(self, handle):
        self._check("power")
        return 350_000  # mW

    def nvmlDeviceGetTemperature(self, handle, sensor):
        self._check("temperature")
        return 45

    def _reasons(self, handle):
        self._check("reasons")
        return self.reasons


def record(fake, seconds=0.02, **kwargs):
    with nvml.NvmlSampler(nvml_index=kwargs.pop("nvml_index", 0), nvml=fake,
                          interval_s=kwargs.pop("interval_s", 0.001), **kwargs) as rec:
        time.sleep(seconds)
    return rec


# --- opening ---------------------------------------------------------------------------

def test_library_not_found_at_init_is_reported_not_raised():
    rec = record(FakeNvml(init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND))
    assert rec.summary.available is False
    assert "library not found" in rec.summary.reason.lower()
    assert rec.samples == [] and rec.summary.peak_delta_bytes is None
    assert rec.summary.throttled is None


def test_no_permission_at_open_is_reported():
    fake = FakeNvml(fail={"memory": pynvml.NVML_ERROR_NO_PERMISSION})
    rec = record(fake)
    # memory unreadable: the recording still runs, other fields sampled, memory marked
    assert rec.summary.available
    assert "permission" in rec.summary.unsupported_fields["used_bytes"]
    assert rec.summary.peak_used_bytes is None and rec.summary.max_sm_clock_mhz == 1980


def test_no_permission_at_init():
    rec = record(FakeNvml(init_error=pynvml.NVML_ERROR_NO_PERMISSION))
    assert not rec.summary.available and "permission" in rec.summary.reason


def test_real_pynvml_without_driver_reports_unavailable():
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError_LibraryNotFound:
        pass
    else:  # pragma: no cover - a machine with a driver
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present here")
    with nvml.NvmlSampler() as rec:
        pass
    assert rec.summary.available is False
    assert rec.summary.reason.startswith("NVML library not found")
    assert "NVMLError_LibraryNotFound" in rec.summary.reason
    assert rec.summary.one_line().startswith("NVML unavailable: ")
    assert nvml.measure_sample_rate(0.01).available is False


# --- sampling --------------------------------------------------------------------------

def test_not_supported_field_is_skipped_and_others_sampled():
    fake = FakeNvml(fail={"power": pynvml.NVML_ERROR_NOT_SUPPORTED})
    rec = record(fake)
    s = rec.summary
    assert s.available and s.samples_taken >= 2
    assert "not supported" in s.unsupported_fields["power_w"]
    assert all(x.power_w is None for x in rec.samples)
    assert all(x.used_bytes == 1000 * MiB and x.sm_clock_mhz == 1980 for x in rec.samples)
    assert fake.calls.count("power") == 1  # not asked again once unsupported


def test_gpu_lost_mid_run_stops_and_marks_summary():
    fake = FakeNvml(lose_after=4)  # the probe, then 3 samples
    rec = record(fake, seconds=0.05)
    s = rec.summary
    assert s.lost and s.available
    assert s.samples_taken == 3
    assert "GPU is lost" in s.reason and "after 3 samples" in s.reason
    assert fake.shutdowns == 1


def test_memory_v2_preferred_and_v1_fallback():
    v2 = FakeNvml()
    assert record(v2).summary.memory_info_version == 2 and set(v2.memory_versions) == {2}
    v1 = FakeNvml(v2=False)
    rec = record(v1)
    assert rec.summary.memory_info_version == 1 and set(v1.memory_versions) == {1}
    assert rec.summary.peak_used_bytes == 1000 * MiB


def test_throttle_reasons_fall_back_to_deprecated_query():
    fake = FakeNvml(event_reasons_fn=False, reasons=0x4 | 0x1)
    s = record(fake).summary
    assert s.clock_event_reasons_seen == ["gpu_idle", "sw_power_cap"]
    assert s.throttle_reasons_seen == ["sw_power_cap"] and s.throttled is True


def test_idle_only_is_not_throttled():
    s = record(FakeNvml(reasons=0x1)).summary
    assert s.throttled is False and s.clock_event_reasons_seen == ["gpu_idle"]


def test_process_memory_matched_by_pid():
    import os

    ours = record(FakeNvml(pid=os.getpid())).summary
    assert ours.peak_process_used_bytes == 512 * MiB
    others = record(FakeNvml()).summary  # our PID not listed (e.g. a container)
    assert others.peak_process_used_bytes is None


def test_decode_clock_event_reasons():
    assert nvml.decode_clock_event_reasons(0) == []
    assert nvml.decode_clock_event_reasons(0x8 | 0x40) == ["hw_slowdown", "hw_thermal_slowdown"]
    assert nvml.decode_clock_event_reasons(0x1000 | 0x2) == [
        "applications_clocks_setting", "unknown_0x1000"]


def test_summary_maths():
    samples = [nvml.NvmlSample(t_s=10.0 + 0.01 * i, used_bytes=used, process_used_bytes=None,
                               sm_clock_mhz=clk, memory_clock_mhz=2619, power_w=300.0 + i,
                               temperature_c=40 + i, clock_event_reasons=r)
               for i, (used, clk, r) in enumerate(
                   [(100, 1980, 0), (400, 1700, 0x4), (250, 1980, 0x1), (100, 1980, 0)])]
    s = nvml.summarize(samples)
    assert (s.baseline_used_bytes, s.peak_used_bytes, s.peak_delta_bytes) == (100, 400, 300)
    assert s.samples_taken == 4
    assert s.duration_s == pytest.approx(0.03)
    assert s.achieved_rate_hz == pytest.approx(100.0)  # 3 intervals in 30 ms
    assert (s.min_sm_clock_mhz, s.max_sm_clock_mhz) == (1700, 1980)
    assert s.max_power_w == 303.0 and s.max_temperature_c == 43
    assert s.throttle_reasons_seen == ["sw_power_cap"] and s.throttled


def test_achieved_rate_is_reported_and_bounded_by_request():
    # reads: the v2 probe, the baseline, then the thread's samples
    rec = record(FakeNvml(used=[0, 1000 * MiB, 1200 * MiB, 1100 * MiB]), seconds=0.1,
                 interval_s=0.01)
    s = rec.summary
    assert s.peak_delta_bytes == 200 * MiB
    # asked for 100 Hz: can't exceed it by more than the two synchronous extra samples
    assert s.achieved_rate_hz is not None and 0 < s.achieved_rate_hz <= 100 * 1.5
    ts = [x.t_s for x in rec.samples]
    assert ts == sorted(ts)
    df = rec.frame()
    assert list(df.columns) == list(nvml.SAMPLE_FIELDS) and df["t_s"].iloc[0] == 0


def test_measure_sample_rate_polls_without_sleep():
    s = nvml.measure_sample_rate(0.05, nvml_index=0, nvml=FakeNvml())
    assert s.available and s.requested_interval_s == 0.0 and s.samples_taken > 10


# --- torch device -> NVML device by UUID ------------------------------------------------

def test_uuid_normalization():
    assert nvml.normalize_uuid(b"GPU-ABCD-12") == "abcd-12"
    assert nvml.normalize_uuid("abcd-12") == "abcd-12"
    assert nvml.normalize_uuid("MIG-ab") == "mig-ab"


def test_uuid_mapping_follows_cuda_visible_devices(monkeypatch):
    fake = FakeNvml(uuids=("GPU-aaaa", "GPU-bbbb", "GPU-cccc"))
    # CUDA_VISIBLE_DEVICES=2,0: torch's device 0 is NVML's 2, torch's 1 is NVML's 0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")

    def torch_uuid(index):  # what torch.cuda.get_device_properties(i).uuid says (no prefix)
        visible = [int(x) for x in __import__("os").environ["CUDA_VISIBLE_DEVICES"].split(",")]
        return ["aaaa", "bbbb", "cccc"][visible[index]]

    with nvml.NvmlSampler(0, nvml=fake, torch_uuid=torch_uuid) as rec0:
        pass
    with nvml.NvmlSampler(1, nvml=fake, torch_uuid=torch_uuid) as rec1:
        pass
    assert (rec0.summary.nvml_index, rec0.summary.device_uuid) == (2, "cccc")
    assert (rec1.summary.nvml_index, rec1.summary.device_name) == (0, "Fake GPU 0")
    assert nvml.nvml_index_for_uuid(fake, "GPU-BBBB") == 1


def test_unknown_uuid_is_unavailable():
    with nvml.NvmlSampler(0, nvml=FakeNvml(), torch_uuid=lambda i: "ffff") as rec:
        pass
    assert not rec.summary.available and "ffff" in rec.summary.reason


def test_sample_calls_runs_the_calls_inside_the_recording():
    fake, seen = FakeNvml(), []
    rec = nvml.sample_calls(lambda: seen.append(fake.memory_reads), 4, nvml=fake,
                            nvml_index=0, interval_s=0.001)
    assert len(seen) == 4 and min(seen) >= 1  # the baseline sample came first
    assert rec.summary.available and rec.summary.samples_taken >= 2


class FakeCachingAllocator:
    """torch's CUDA caching allocator as NVML sees it: a recorded fake of documented behaviour.

    Source: torch docs, notes/cuda.rst "Memory management": freed blocks stay in the
    allocator's cache and "will still show as if used in nvidia-smi";
    ``torch.cuda.empty_cache()`` releases them. NVML's "used" = context + reserved.
    """

    def __init__(self, context_bytes: int, live_bytes: int):
        self.context_bytes, self.live_bytes = context_bytes, live_bytes
        self.reserved_bytes = live_bytes

    def call(self, temporary_bytes: int) -> None:  # one loss call: allocate, then free
        self.reserved_bytes = max(self.reserved_bytes, self.live_bytes + temporary_bytes)

    def empty_cache(self) -> None:
        self.reserved_bytes = self.live_bytes

    def nvml_used_bytes(self) -> int:
        return self.context_bytes + self.reserved_bytes


def test_sample_calls_releases_the_cache_so_the_baseline_excludes_the_warm_up(monkeypatch):
    """asv's setup (cebench.grid.inputs.prepare) has already run the call once: without
    empty_cache() before the baseline, NVML's baseline holds the whole peak (delta 0)."""
    allocator = FakeCachingAllocator(context_bytes=500 * MiB, live_bytes=1000 * MiB)
    fake = FakeNvml()
    fake.nvmlDeviceGetMemoryInfo = lambda handle, version=None: FakeMemory(
        allocator.nvml_used_bytes())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    monkeypatch.setattr(torch.cuda, "empty_cache", allocator.empty_cache)

    temporaries = 3000 * MiB
    allocator.call(temporaries)  # the warm-up in setup
    rec = nvml.sample_calls(lambda: allocator.call(temporaries), 5, nvml=fake, nvml_index=0,
                            interval_s=0.001)
    assert rec.summary.baseline_used_bytes == 1500 * MiB
    assert rec.summary.peak_delta_bytes == temporaries


# --- on a GPU ------------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.cuda
@needs_cuda
def test_real_device_sampled_at_the_claimed_rate():
    """A 2 ms interval must deliver at least a quarter of 500 Hz (NVML calls cost ~0.1-1 ms)."""
    rate = nvml.measure_sample_rate(0.5)
    assert rate.available, rate.reason
    x = torch.randn(8192, 8192, device="cuda")
    with nvml.NvmlSampler(interval_s=0.002) as rec:
        for _ in range(20):
            x = x @ x.T / 8192
        torch.cuda.synchronize()
    s = rec.summary
    assert s.available and not s.lost
    expected = min(500.0, rate.achieved_rate_hz)
    assert s.achieved_rate_hz >= expected / 4, (s.achieved_rate_hz, rate.achieved_rate_hz)
    assert s.baseline_used_bytes > 0 and s.max_sm_clock_mhz > 0
    assert s.device_uuid == nvml.torch_device_uuid(torch.cuda.current_device())
