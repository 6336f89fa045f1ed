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
import time

from cebench.impls.base import ALL_DTYPES, Implementation, Support

SUPPORT = Support(
    weight=True, ignore_index=True, label_smoothing=True, reductions=("none", "mean", "sum"),
    prob_targets=True, ranks="any", dtypes=ALL_DTYPES, devices=("cpu", "cuda"),
    timed_devices=("cpu", "cuda"), torch=">=2.0", autocast=True,
    notes=("the first call of each new graph compiles (not timed; see compile time)",),
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
    """Inductor's and AOTAutograd's on-disk caches off, dynamo's in-memory cache reset:
    the next first call compiles from scratch, as in a fresh environment."""
    import torch
    import torch._dynamo

    torch._dynamo.reset()
    patches = []
    for module_name, flag in (("torch._inductor.config", "fx_graph_cache"),
                              ("torch._inductor.config", "fx_graph_remote_cache"),
                              ("torch._functorch.config", "enable_autograd_cache")):
        try:
            module = __import__(module_name, fromlist=["_"])
        except ImportError:
            continue
        if hasattr(module, flag):
            patches.append(module.patch(**{flag: False}))
    with contextlib.ExitStack() as stack:
        for patch in patches:
            stack.enter_context(patch)
        try:
            yield
        finally:
            torch._dynamo.reset()


def compile_seconds(first_call) -> float:
    """Seconds of ``first_call()`` on cold caches: a fresh compile (dynamo, AOTAutograd,
    inductor and the C++/Triton compiler) plus one call."""
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
