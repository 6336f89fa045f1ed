"""Memory of one loss call (CUDA only): allocator peaks and NVML device telemetry.

Declarative: the ``memory`` grid of cebench.grid.cases; the figures come from
cebench.measure.memory and cebench.measure.nvml. On the CPU every case is skipped in set-up ("allocator
peaks need CUDA"). The analytical expectation (cebench.measure.memory.expected_peak_bytes) is
not an asv figure: the analysis compares it with these.
"""

from cebench.measure import memory
from cebench.measure import nvml
from cebench.asvbench import CaseBenchmark
from cebench.grid.inputs import bench_device


class _CudaOnly(CaseBenchmark):
    rounds = 1
    repeat = 1
    number = 1

    def setup(self, *params):
        memory.require_cuda(bench_device())
        super().setup(*params)


class AllocatorPeak(_CudaOnly, grid="memory"):
    """torch.cuda.max_memory_allocated() over one call, minus what was allocated before."""

    unit = "bytes"

    def track_peak_allocated_delta_bytes_forward(self, *params):
        return memory.allocator_peak(self.forward).peak_allocated_delta_bytes

    def track_peak_allocated_delta_bytes_forward_backward(self, *params):
        return memory.allocator_peak(self.forward_backward).peak_allocated_delta_bytes


class NvmlTelemetry(_CudaOnly, grid="memory"):
    """NVML over 5 forward+backward calls: device memory used, throttling (NaN: no NVML).

    The peak is over a baseline taken after the allocator's cache is released
    (nvml.sample_calls), so it counts what the calls make the pool grow by."""

    calls = 5

    def track_nvml_peak_used_delta_bytes(self, *params):
        summary = nvml.sample_calls(self.forward_backward, self.calls).summary
        delta = summary.peak_delta_bytes
        return float("nan") if delta is None else delta

    track_nvml_peak_used_delta_bytes.unit = "bytes"

    def track_clocks_throttled(self, *params):
        throttled = nvml.sample_calls(self.forward_backward, self.calls).summary.throttled
        return float("nan") if throttled is None else float(throttled)

    track_clocks_throttled.unit = "throttled (1) or not (0)"
