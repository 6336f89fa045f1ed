"""Achieved memory bandwidth of cross entropy against the roofline (cebench.measure.roofline).

``track_achieved_bandwidth_*``: the minimum bytes a pass must move divided by its
single-call kernel time (cebench.measure.timing: CUDA events with L2 flushed; perf_counter on
the CPU), in bytes/s. ``track_peak_fraction_*``: that bandwidth over this machine's
measured copy bandwidth (cached per machine; see cebench.measure.roofline).
"""

from cebench.measure import roofline
from cebench.asvbench import CaseBenchmark, asv_samples
from cebench.grid.inputs import bench_device


class _Bandwidth(CaseBenchmark):
    rounds = 1
    per_bytes_per_s = 1.0  # scale of the reported value

    def _bandwidth(self, pass_):
        seconds = self.kernel_measurement(pass_).samples_s
        return asv_samples(roofline.achieved_bandwidth(self.case, pass_, s) * self.per_bytes_per_s
                           for s in seconds)


class Bandwidth(_Bandwidth, grid="bandwidth"):
    """Minimum bytes / kernel time, forward and forward+backward (one value per sample)."""

    unit = "bytes/s"

    def track_achieved_bandwidth_forward(self, *params):
        return self._bandwidth("forward")

    def track_achieved_bandwidth_forward_backward(self, *params):
        return self._bandwidth("forward_backward")


class PeakFraction(_Bandwidth, grid="bandwidth"):
    """Achieved bandwidth as a fraction of this machine's measured peak copy bandwidth."""

    unit = "fraction"

    def setup(self, *params):
        super().setup(*params)
        self.per_bytes_per_s = 1.0 / roofline.peak_bandwidth(self.device).bytes_per_s

    def track_peak_fraction_forward(self, *params):
        return self._bandwidth("forward")

    def track_peak_fraction_forward_backward(self, *params):
        return self._bandwidth("forward_backward")


class PeakBandwidth:
    """This machine's measured device-copy bandwidth (read + write), measured afresh."""

    unit = "bytes/s"
    rounds = 1
    timeout = 120

    def track_peak_copy_bandwidth(self):
        return roofline.peak_bandwidth(bench_device(), refresh=True).bytes_per_s
