"""Time of weighted and unweighted cross entropy over the case grid (cebench.grid.cases).

Declarative: parameters come from the named grid, bodies call cebench. ``time_`` is
the synchronised wall time of one call; ``track_`` values come from cebench.measure.timing.
"""

from cebench.asvbench import CaseBenchmark


class _TimePasses(CaseBenchmark):
    def time_forward(self, *params):
        self.forward()

    def time_forward_backward(self, *params):
        self.forward_backward()


class Core(_TimePasses, grid="core"):
    """reduction x weighted x dtype (incl. autocast), per shape family."""


class Layouts(_TimePasses, grid="layouts"):
    """contiguous, channels_last, non-contiguous logits, probability targets."""


class Options(_TimePasses, grid="options"):
    """The weight's values, ignored targets, label smoothing."""


class Vocab(_TimePasses, grid="vocab"):
    """LLM vocabulary sizes (GPU)."""


class WeightOverhead(CaseBenchmark, grid="overhead"):
    """Weighted / unweighted time, the two interleaved in one process (paired ratio)."""

    unit = "ratio"
    rounds = 1

    def track_weighted_overhead_ratio_forward(self, *params):
        return self.overhead_ratio("forward")

    def track_weighted_overhead_ratio_forward_backward(self, *params):
        return self.overhead_ratio("forward_backward")


class Kernel(CaseBenchmark, grid="kernel"):
    """Single-call kernel time: CUDA events, L2 flushed before each call, median."""

    unit = "seconds"
    rounds = 1

    def track_kernel_seconds_forward(self, *params):
        return self.kernel_seconds("forward")

    def track_kernel_seconds_forward_backward(self, *params):
        return self.kernel_seconds("forward_backward")
