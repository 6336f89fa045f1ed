"""``compile``: ``torch.compile(F.cross_entropy)`` (inductor: generated C++ on the CPU,
Triton on CUDA).

The compiled function is made once per process; every new combination of dtype, rank,
reduction, label smoothing and weight presence compiles a new graph on its first call
(tens of seconds for the first on a 2-core CPU, seconds for later ones that reuse
inductor's caches). Benchmarks compile outside the timed region, and compile time is
its own metric (:func:`compile_seconds`). The recompile limit is raised so that a long
sequence of cases never falls back to eager silently, and hitting it raises instead.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time

from cebench.impls.base import ALL_DTYPES, Implementation, Support

SUPPORT = Support(
    weight=True, ignore_index=True, label_smoothing=True, reductions=("none", "mean", "sum"),
    prob_targets=True, ranks="any", dtypes=ALL_DTYPES, devices=("cpu", "cuda"),
    timed_devices=("cpu", "cuda"), torch=">=2.0", autocast=True,
)
#: Recompiles allowed per function: the conformance grid needs a few hundred graphs.
RECOMPILE_LIMIT = 4096
_COMPILED: dict[str, object] = {}


def _raise_recompile_limits() -> None:
    import torch._dynamo

    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit",
                 "accumulated_cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
    if hasattr(config, "fail_on_recompile_limit_hit"):
        config.fail_on_recompile_limit_hit = True


def load(device: str):
    """The compiled ``F.cross_entropy`` (one per process)."""
    if "fn" not in _COMPILED:
        import torch
        import torch.nn.functional as F

        _raise_recompile_limits()
        _COMPILED["fn"] = torch.compile(F.cross_entropy)
    return _COMPILED["fn"]


@contextlib.contextmanager
def cold_caches():
    """An empty inductor cache folder (``TORCHINDUCTOR_CACHE_DIR``; Triton's cache lies
    under it) and dynamo's in-memory cache reset: in a process that has compiled nothing
    yet, the next first call compiles from scratch, as in a fresh environment."""
    import torch._dynamo

    saved = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="cebench-inductor-") as folder:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
        torch._dynamo.reset()
        try:
            yield
        finally:
            torch._dynamo.reset()
            if saved is None:
                os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
            else:
                os.environ["TORCHINDUCTOR_CACHE_DIR"] = saved


def compile_seconds(first_call) -> float:
    """Seconds of ``first_call()`` on cold caches (:func:`cold_caches`): dynamo,
    AOTAutograd, inductor and the C++ or Triton compiler, plus one call."""
    with cold_caches():
        start = time.perf_counter()
        first_call()
        return time.perf_counter() - start


IMPL = Implementation(
    name="compile", title="torch.compile(F.cross_entropy)",
    measured_as="torch.compile(F.cross_entropy), default mode; compiled on the first call "
                "of each graph, outside the timed region; the compile itself is timed "
                "apart, on cold caches",
    support_for=lambda version: SUPPORT, load=load,
    caveats=("each new dtype, rank, reduction, smoothing or weight presence compiles a new "
             "graph on its first call",),
)
