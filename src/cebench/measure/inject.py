"""Slowdowns injected on purpose into the benchmarked calls, to validate ``cebench compare``.

``CEBENCH_INJECT_SLOWDOWN`` (a fraction, e.g. 0.10) makes every benchmarked loss call
about that much slower; ``CEBENCH_INJECT_MATCH`` (a regex on the case name, e.g.
``w-random``) limits it to the matching cases, as a real regression of one code path
would be. Only the asv benchmarks take their calls from here (:func:`benchmark_call`).
"""

from __future__ import annotations

import os
import re
import time
from typing import Callable

from cebench.grid.inputs import Inputs, loss_call
from cebench.measure import timing

_CALL_SECONDS: dict[tuple[str, str, str, bool], float] = {}


def benchmark_call(inputs: Inputs, pass_: str, weighted: bool = True) -> Callable[[], object]:
    """:func:`cebench.grid.inputs.loss_call`, slowed down when the environment asks for it."""
    call = loss_call(inputs, pass_, weighted)
    slowdown = float(os.environ.get("CEBENCH_INJECT_SLOWDOWN") or 0)
    if slowdown and not re.search(os.environ.get("CEBENCH_INJECT_MATCH") or "", inputs.case.name):
        slowdown = 0.0
    return with_injected_slowdown(call, inputs, pass_, weighted, slowdown) if slowdown else call


def with_injected_slowdown(call, inputs: Inputs, pass_: str, weighted: bool,
                           slowdown: float) -> Callable[[], object]:
    """``call`` plus a busy wait of ``slowdown`` x its median time (``CEBENCH_INJECT_SLOWDOWN``).

    For validating ``cebench compare`` only: ``CEBENCH_INJECT_SLOWDOWN=0.10`` makes every
    loss call about 10 % slower. The call's time is measured once per process and case
    (cebench.measure.timing; the fastest of >= 10 calls, the best estimate of its uncontended
    time on a shared machine); the extra time is a spin on the CPU after the call (and
    after a CUDA sync), not a sleep: exact at microsecond scale, and it keeps the core
    busy as real work would.
    """
    if slowdown < 0:
        raise ValueError(f"CEBENCH_INJECT_SLOWDOWN must be >= 0, not {slowdown}")
    key = (inputs.case.name, inputs.device, pass_, weighted)
    if key not in _CALL_SECONDS:
        _CALL_SECONDS[key] = min(timing.measure(
            call, inputs.device, min_samples=10, budget_s=0.2, warmup=1, max_warmup_batches=2,
            flush_l2=False, clock_reader=None).samples_s)
    extra_s = slowdown * _CALL_SECONDS[key]

    def slowed():
        result = call()
        timing.synchronize(inputs.device)
        deadline = time.perf_counter() + extra_s
        while time.perf_counter() < deadline:
            pass
        return result

    return slowed
