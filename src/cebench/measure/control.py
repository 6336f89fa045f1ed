"""A fixed control workload, timed in every run beside the loss (``bench_control``).

Its code never changes with torch (numpy only), so whatever moves its time between
runs is the machine: load from other processes, frequency, memory traffic. Timed
interleaved with the loss benchmarks in every run, it measures the whole-machine part
of a run's shift independently of the code under test; ``cebench compare`` reports how
well it tracks the run shifts (``cebench.results.compare``).
"""

from __future__ import annotations

import numpy as np

#: Logits of the control workload: the shape of the ``small`` case (4096 x 128, float32).
CONTROL_SHAPE = (4096, 128)


def control_logits(shape: tuple[int, int] = CONTROL_SHAPE, seed: int = 0) -> np.ndarray:
    """Fixed, seeded float32 logits for :func:`log_softmax_rows`."""
    return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def log_softmax_rows(x: np.ndarray) -> float:
    """Sum of the row-wise log-softmax of ``x`` (numpy, one thread): the control's work,
    a memory-bound reduction like the loss's forward pass."""
    shifted = x - x.max(axis=1, keepdims=True)
    return float((shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))).sum())
