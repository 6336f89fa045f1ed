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


class _ImplGrid:
    """The implementation axis x a grid, set by a subclass's class arguments
    (``class X(ImplBenchmark, grid="...", impls=(...))``): ``params`` are the
    implementation then the grid's axes (:func:`cebench.grid.cases.impl_asv_params`)."""

    grid: str = ""
    impls: tuple[str, ...] = cases.IMPLEMENTATIONS

    def __init_subclass__(cls, grid: str | None = None, impls: tuple[str, ...] | None = None,
                          **kwargs):
        super().__init_subclass__(**kwargs)
        if impls is not None:
            cls.impls = tuple(impls)
        if grid is not None:
            cls.grid = grid
            cls.params, cls.param_names = cases.impl_asv_params(grid, cls.impls)


class ImplBenchmark(_ImplGrid):
    """The implementation axis (cebench.impls) x a grid: ``params`` are the implementation
    then the grid's axes (:func:`cebench.grid.cases.impl_asv_params`).

    ``setup`` skips, with the reason, what the implementation does not support or cannot
    run here, and where its times mean nothing (Liger on the CPU runs only under Triton's
    interpreter: ``cebench check --impl liger`` checks it there, nothing times it). It
    takes the process-cached inputs and the implementation's calls, each already called
    once: a compiled implementation compiles in ``setup``, outside the timed region.
    """

    timer = staticmethod(timing.synchronized_clock)
    timeout = 600  # a first torch.compile takes tens of seconds on a 2-core CPU
    cuda_only = False  # skip on the CPU (CUDA-event kernel times, allocator peaks)
    warm = True        # call (and so compile) each pass in setup; False: nothing runs yet

    def setup(self, *params):
        from cebench import impls

        self.impl_name, self.case = cases.impl_case_from_params(self.grid, params)
        self.device = bench_device()
        if self.device == "cpu":
            timing.pin_cpu_threads()
        impl = impls.get(self.impl_name)
        if self.cuda_only and self.device != "cuda":
            raise NotImplementedError("needs CUDA")
        reason = impl.skip_reason(impls.features_of(self.case), self.device)
        if reason is None and self.device not in impl.support.timed_devices:
            reason = (f"{self.impl_name} on {self.device} is checked (cebench check --impl), "
                      "never timed")
        if reason:
            raise NotImplementedError(reason)
        try:
            self.inputs = prepare(self.case, self.device)
            if not self.warm:
                return
            self.calls = impls.prepared_calls(self.inputs, self.impl_name)
        except SkipCase as exc:
            raise NotImplementedError(str(exc)) from None
        except RuntimeError as exc:  # e.g. a compile or kernel this build cannot make
            raise NotImplementedError(f"{self.impl_name} cannot run it here: "
                                      f"{str(exc).splitlines()[0]}") from None
        self.forward = self.calls["forward", True]
        self.forward_backward = self.calls["forward_backward", True]

    def weighted_overhead_ratio(self, pass_: str) -> dict:
        """Weighted/unweighted time of this implementation, the two interleaved."""
        if ("forward", False) not in self.calls:
            raise NotImplementedError("an unweighted case has no weighted/unweighted pair")
        return asv_samples(timing.measure_paired(
            self.calls[pass_, True], self.calls[pass_, False], self.device).ratio_samples)

    def ratio_to_eager(self, pass_: str) -> dict:
        """This implementation's time / torch eager's on the same inputs, interleaved."""
        from cebench import impls

        eager = impls.loss_call(self.inputs, "eager", pass_)
        return asv_samples(timing.measure_paired(
            self.calls[pass_, True], eager, self.device).ratio_samples)

    def kernel_seconds(self, pass_: str) -> dict:
        """Single calls: CUDA events with L2 flushed (cebench.measure.timing)."""
        return asv_samples(timing.measure(self.calls[pass_, True], self.device).samples_s)

    def first_call_seconds(self, pass_: str) -> float:
        """Seconds of the first call of ``pass_`` on cold compile caches (the process has
        compiled nothing: set ``warm = False``); cebench.impls.compile.compile_seconds."""
        from cebench import impls
        from cebench.impls import compile as compiled

        return compiled.compile_seconds(impls.loss_call(self.inputs, self.impl_name, pass_))

    def peak_allocated_delta_bytes(self, pass_: str) -> float:
        """torch.cuda.max_memory_allocated() over one call, minus what was allocated before."""
        from cebench.measure import memory

        return memory.allocator_peak(self.calls[pass_, True]).peak_allocated_delta_bytes


class ImplInstructionBenchmark(_ImplGrid):
    """Instruction counts per implementation under valgrind (cebench.impls.instructions):
    ``setup_cache`` counts every CPU-runnable (implementation, case) of the grid and both
    passes in one valgrind process per asv environment; ``CEBENCH_INSTRUCTIONS_MATCH`` (a
    regex on the case name) limits it as for :class:`InstructionBenchmark` (``^$``: none).
    """

    unit = "instructions"
    rounds = 1
    repeat = 1
    number = 1

    def setup_cache(self) -> dict:
        from cebench import impls
        from cebench.impls import instructions as impl_instructions
        from cebench.measure import instructions

        reason = instructions.unavailable_reason()
        if reason:
            return {"unavailable": reason}
        match = os.environ.get("CEBENCH_INSTRUCTIONS_MATCH") or ""
        items = [(impl, case) for impl in self.impls for case in cases.iter_grid(self.grid)
                 if case.skip_reason("cpu") is None and re.search(match, case.name)
                 and impls.get(impl).skip_reason(impls.features_of(case), "cpu") is None]
        if not items:
            return {"unavailable": f"no case matches CEBENCH_INSTRUCTIONS_MATCH={match!r}"}
        records = impl_instructions.measure(items)
        return {"counts": {(r["impl"], r["case"], r["pass"]): r.get("instructions_per_call")
                           for r in records},
                "skipped": {(r["impl"], r["case"]): r["skipped"] for r in records
                            if "skipped" in r}}

    setup_cache.timeout = 3 * 3600  # compiles run under valgrind: minutes each

    def setup(self, counts: dict, *params):
        from cebench import impls

        if "unavailable" in counts:
            raise NotImplementedError(counts["unavailable"])
        self.impl_name, self.case = cases.impl_case_from_params(self.grid, params)
        reason = self.case.skip_reason("cpu") or impls.get(self.impl_name).skip_reason(
            impls.features_of(self.case), "cpu")
        if reason:
            raise NotImplementedError(reason)
        skipped = counts["skipped"].get((self.impl_name, self.case.name))
        if skipped:
            raise NotImplementedError(skipped)
        if (self.impl_name, self.case.name, "forward") not in counts["counts"]:
            raise NotImplementedError("not measured (CEBENCH_INSTRUCTIONS_MATCH)")

    def instructions(self, counts: dict, pass_: str) -> float:
        return counts["counts"][(self.impl_name, self.case.name, pass_)]
