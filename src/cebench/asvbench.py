"""The base class of cebench's asv benchmarks: benchmark files stay declarative.

    class Core(CaseBenchmark, grid="core"):
        def time_forward(self, *params):
            self.forward()

A subclass names a grid of :mod:`cebench.grid.cases`; ``params`` and ``param_names`` come
from it. ``setup`` rebuilds the case from the parameters, skips (asv's
``NotImplementedError``, reason printed) what this device cannot run, and takes the
process-cached inputs. ``time_`` samples use a synchronising clock, so on CUDA a
sample is one whole call (launch, kernel, sync). CPU cases run on
``CEBENCH_CPU_THREADS`` torch threads (default 1; see timing.pin_cpu_threads).
"""

from __future__ import annotations

import os
import re

from cebench.grid import cases
from cebench.measure import timing
from cebench.grid.inputs import SkipCase, bench_device, prepare
from cebench.measure.inject import benchmark_call


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
        self.forward = benchmark_call(self.inputs, "forward")
        self.forward_backward = benchmark_call(self.inputs, "forward_backward")

    # -- helpers for track_ benchmarks ---------------------------------------------------
    # They return asv_samples(...): asv keeps the median, CI, quartiles and (with
    # --record-samples) the raw samples, so `cebench compare` can test them.
    def overhead_ratio(self, pass_: str) -> dict:
        """Weighted/unweighted time of one pass: per-pair ratios, the two interleaved."""
        weighted = benchmark_call(self.inputs, pass_)
        unweighted = benchmark_call(self.inputs, pass_, weighted=False)
        return asv_samples(timing.measure_paired(weighted, unweighted, self.device).ratio_samples)

    def kernel_measurement(self, pass_: str) -> timing.Measurement:
        """Single calls: CUDA events with L2 flushed (perf_counter on the CPU)."""
        return timing.measure(benchmark_call(self.inputs, pass_), self.device)

    def kernel_seconds(self, pass_: str) -> dict:
        return asv_samples(self.kernel_measurement(pass_).samples_s)


def asv_samples(values) -> dict:
    """A ``track_`` result that asv stores like a ``time_`` one.

    asv 0.6 parses any benchmark result shaped ``{"samples": [...], "number": n}`` as
    timing samples (asv.runner, "special parsing for timing benchmark results"): the
    reported value is their median, with a 99% CI and quartiles, and ``--record-samples``
    keeps them; the track's ``unit`` stays. One value per sample: ``number`` is 1.
    """
    samples = [float(v) for v in values]
    if not samples:
        raise ValueError("no samples")
    return {"samples": samples, "number": 1}


class InstructionBenchmark:
    """Instruction counts under valgrind (cebench.measure.instructions): ``unit`` instructions.

    ``setup_cache`` measures every CPU-runnable case of the grid and both passes in one
    valgrind process, once per asv environment (the CPU path, also on a CUDA machine: the
    valgrind process sees no CUDA device), each case and pass in a process forked from it,
    so a count does not depend on the other cases measured; the ``track_`` methods look
    their case up.
    Without valgrind every combination skips with the reason. ``CEBENCH_INSTRUCTIONS_MATCH``
    (a regex on the case name) measures only the matching cases (the others skip); ``^$``
    measures nothing (every combination skips, saying so). setup_cache's source is part of
    the benchmarks' asv version: changing it orphans their earlier results in asv's graphs.
    """

    grid: str = ""
    unit = "instructions"
    rounds = 1
    repeat = 1
    number = 1

    def __init_subclass__(cls, grid: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if grid is not None:
            cls.grid = grid
            cls.params, cls.param_names = cases.asv_params(grid)

    def setup_cache(self) -> dict:
        from cebench.measure import instructions

        reason = instructions.unavailable_reason()
        if reason:
            return {"unavailable": reason}
        match = os.environ.get("CEBENCH_INSTRUCTIONS_MATCH") or ""
        runnable = [c for c in cases.iter_grid(self.grid)
                    if c.skip_reason("cpu") is None and re.search(match, c.name)]
        if not runnable:
            return {"unavailable": f"no case matches CEBENCH_INSTRUCTIONS_MATCH={match!r}"}
        counts, _ = instructions.measure(runnable)
        return {"counts": {(c.case, c.pass_): c.instructions_per_call for c in counts},
                "torch_version": counts[0].torch_version,
                "cpu_capability": counts[0].cpu_capability}

    setup_cache.timeout = 3600  # one valgrind process for the whole grid (minutes)

    def setup(self, counts: dict, *params):
        if "unavailable" in counts:
            raise NotImplementedError(counts["unavailable"])
        self.case = cases.case_from_params(self.grid, params)
        reason = self.case.skip_reason("cpu")
        if reason:
            raise NotImplementedError(reason)
        if (self.case.name, "forward") not in counts["counts"]:
            raise NotImplementedError("not measured (CEBENCH_INSTRUCTIONS_MATCH)")

    def instructions(self, counts: dict, pass_: str) -> float:
        return counts["counts"][(self.case.name, pass_)]
