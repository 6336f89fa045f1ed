"""The base class of cebench's asv benchmarks: benchmark files stay declarative.

    class Core(CaseBenchmark, grid="core"):
        def time_forward(self, *params):
            self.forward()

A subclass names a grid of :mod:`cebench.cases`; ``params`` and ``param_names`` come
from it. ``setup`` rebuilds the case from the parameters, skips (asv's
``NotImplementedError``, reason printed) what this device cannot run, and takes the
process-cached inputs. ``time_`` samples use a synchronising clock, so on CUDA a
sample is one whole call (launch, kernel, sync). CPU cases run on
``CEBENCH_CPU_THREADS`` torch threads (default 1; see timing.pin_cpu_threads).
"""

from __future__ import annotations

from cebench import cases, timing
from cebench.inputs import SkipCase, bench_device, loss_call, prepare


class CaseBenchmark:
    grid: str = ""
    timer = staticmethod(timing.synchronized_clock)

    def __init_subclass__(cls, grid: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if grid is not None:
            cls.grid = grid
            cls.params, cls.param_names = cases.asv_params(grid)

    def setup(self, *params):
        self.case = cases.case_from_params(self.grid, params)
        self.device = bench_device()
        if self.device == "cpu":
            timing.pin_cpu_threads()
        try:
            self.inputs = prepare(self.case, self.device)
        except SkipCase as exc:
            raise NotImplementedError(str(exc)) from None
        self.forward = loss_call(self.inputs, "forward")
        self.forward_backward = loss_call(self.inputs, "forward_backward")

    # -- helpers for track_ benchmarks ---------------------------------------------------
    def overhead_ratio(self, pass_: str) -> float:
        """Weighted/unweighted time of one pass, the two interleaved in this process."""
        weighted = loss_call(self.inputs, pass_)
        unweighted = loss_call(self.inputs, pass_, weighted=False)
        return timing.measure_paired(weighted, unweighted, self.device).ratio

    def kernel_seconds(self, pass_: str) -> float:
        """Median single-call time, CUDA events with L2 flushed (perf_counter on the CPU)."""
        return timing.measure(loss_call(self.inputs, pass_), self.device).median_s
