"""Achieved memory bandwidth of cross entropy against the roofline (cebench.roofline).

``track_achieved_bandwidth_*``: the minimum bytes a pass must move divided by its
single-call kernel time (cebench.timing: CUDA events with L2 flushed; perf_counter on
the CPU), in bytes/s. ``track_peak_fraction_*``: that bandwidth over this machine's
measured copy bandwidth (cached per machine; see cebench.roofline).
"""

from cebench import roofline
from cebench.asvbench import CaseBenchmark
from cebench.inputs import bench_device


class Bandwidth(CaseBenchmark, grid="bandwidth"):
    """Minimum bytes / kernel time, forward and forward+backward."""

    unit = "bytes/s"
    rounds = 1

    def track_achieved_bandwidth_forward(self, *params):
        return roofline.achieved_bandwidth(self.case, "forward", self.kernel_seconds("forward"))

    def track_achieved_bandwidth_forward_backward(self, *params):
        return roofline.achieved_bandwidth(self.case, "forward_backward",
                                           self.kernel_seconds("forward_backward"))


class PeakFraction(CaseBenchmark, grid="bandwidth"):
    """Achieved bandwidth as a fraction of the measured peak copy bandwidth."""

    unit = "fraction"
    rounds = 1

    def _fraction(self, pass_):
        achieved = roofline.achieved_bandwidth(self.case, pass_, self.kernel_seconds(pass_))
        return achieved / roofline.peak_bandwidth(self.device).bytes_per_s

    def track_peak_fraction_forward(self, *params):
        return self._fraction("forward")

    def track_peak_fraction_forward_backward(self, *params):
        return self._fraction("forward_backward")


class PeakBandwidth:
    """This machine's measured device-copy bandwidth (read + write), measured afresh."""

    unit = "bytes/s"
    rounds = 1
    timeout = 120

    def track_peak_copy_bandwidth(self):
        return roofline.peak_bandwidth(bench_device(), refresh=True).bytes_per_s
