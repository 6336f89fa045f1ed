"""Numerics of autocast by CUDA's rule, replayed on the CPU (conftest's cuda_autocast_replay).

Source: torch 2.13's dispatcher (``torch._C._dispatch_dump("aten::cross_entropy_loss")``
lists an ``AutocastCPU`` kernel and no ``AutocastCUDA`` one; ``log_softmax.int`` and
``nll_loss`` have ``AutocastCUDA`` kernels). Under CUDA autocast the log-softmax is
computed in the low dtype, which the accuracy benchmarks on a GPU machine show.
"""

from __future__ import annotations

import pytest

from cebench.semantics import conformance


@pytest.mark.parametrize("dtype", ["autocast_bfloat16", "autocast_float16"])
def test_cuda_rule_rounds_the_log_softmax_so_autocast_loses_accuracy(dtype):
    from cebench.measure.memory import cuda_autocast_dispatch

    cpu_rule = conformance.accuracy_relative_error(dtype, "mean", "random", device="cpu")
    with cuda_autocast_dispatch():
        cuda_rule = conformance.accuracy_relative_error(dtype, "mean", "random", device="cpu")
    # CPU rule: the loss in float32 (error ~1e-7); CUDA rule: a low-precision
    # log-softmax (~1e-4 for bf16, ~3e-5 for fp16 here)
    assert cpu_rule < 1e-6
    assert cuda_rule > 10 * cpu_rule
