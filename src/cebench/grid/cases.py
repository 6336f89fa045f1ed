"""The case grid: every benchmarked configuration of cross entropy, defined here once.

A *case* is one call of ``F.cross_entropy``: shape family, tensor layout, dtype
(possibly under autocast), reduction, weighting, ignored fraction and label
smoothing. A *grid* is a named list of axes; asv benchmark classes take their
``params`` from :func:`asv_params` and rebuild the case with :func:`case_from_params`.

The grid is the same on every machine and torch version (asv keeps one
``benchmarks.json`` per results directory). What a device cannot run is skipped
at set-up with the reason from :meth:`Case.skip_reason`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from typing import Any, Iterator

# --- axes ----------------------------------------------------------------------------

#: Logits shapes per family: (N, C) or (N, C, H, W). "small" and "small-seg" are the
#: CPU-sized members; the others are the shapes GPU users train with.
FAMILIES: dict[str, tuple[int, ...]] = {
    "small": (4096, 128),
    "small-seg": (2, 21, 64, 64),
    "classification": (8192, 1000),
    "llm-32k": (4096, 32000),
    "llm-128k": (4096, 128256),
    "llm-256k": (4096, 256000),
    "segmentation": (8, 21, 512, 512),
    "segmentation-150": (8, 150, 512, 512),
}

#: dtype name -> (storage dtype of logits and weight, autocast dtype or None).
DTYPES: dict[str, tuple[str, str | None]] = {
    "float32": ("float32", None),
    "float16": ("float16", None),
    "bfloat16": ("bfloat16", None),
    "autocast_float16": ("float16", "float16"),
    "autocast_bfloat16": ("bfloat16", "bfloat16"),
}

REDUCTIONS = ("none", "mean", "sum")

#: none: no weight; ones: all-ones weight (the weighted code path with neutral values);
#: random: seeded positive weights; zero_class: the seed article's class-weight vector
#: (one class in six has weight 0), tiled to C classes.
WEIGHTINGS = ("none", "ones", "random", "zero_class")
SEED_CLASS_WEIGHTS = (0.13859937, 0.5821059, 0.63871904, 2.30220396, 7.1588294, 0.0)

#: contiguous: (N, C) or NCHW; channels_last: NHWC memory (4-D only); noncontig: a
#: transposed (N, C) view, or a width-strided NCHW slice; prob_targets: contiguous logits
#: with probability (soft) targets shaped like the logits.
LAYOUTS = ("contiguous", "channels_last", "noncontig", "prob_targets")

PASSES = ("forward", "forward_backward")

#: Implementations of the loss, one module each in cebench.impls: eager: F.cross_entropy;
#: compile: torch.compile(F.cross_entropy) (inductor: C++ on the CPU, Triton on CUDA);
#: liger: Liger-Kernel's Triton kernel; quack: Quack's CuTe DSL kernel (sm90+ GPUs);
#: by_hand: the weighting a user writes around an unweighted per-element loss (here
#: torch's reduction='none'), the baseline of every unweighted-only kernel. The
#: implementation benchmarks (benchmarks/bench_impls.py) take it as their first parameter.
IMPLEMENTATIONS = ("eager", "compile", "liger", "quack", "by_hand")

IGNORE_INDEX = -100
SEED = 20261128

#: The largest logits tensor the CPU grid runs; bigger cases are GPU-only.
CPU_MAX_LOGITS_BYTES = 8 * 2**20

_BYTES_PER_ELEMENT = {"float32": 4, "float16": 2, "bfloat16": 2}


@dataclasses.dataclass(frozen=True)
class Case:
    family: str
    dtype: str = "float32"
    reduction: str = "mean"
    weighting: str = "none"
    layout: str = "contiguous"
    ignore_fraction: float = 0.0
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        for value, allowed, axis in (
            (self.family, FAMILIES, "family"),
            (self.dtype, DTYPES, "dtype"),
            (self.reduction, REDUCTIONS, "reduction"),
            (self.weighting, WEIGHTINGS, "weighting"),
            (self.layout, LAYOUTS, "layout"),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {axis} {value!r}; expected one of {', '.join(allowed)}")

    # -- naming ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Stable, unique, human-readable name: what `cebench cases` prints."""
        parts = [self.family, self.layout, self.dtype, self.reduction, f"w-{self.weighting}"]
        if self.ignore_fraction:
            parts.append(f"ignore-{self.ignore_fraction:g}")
        if self.label_smoothing:
            parts.append(f"ls-{self.label_smoothing:g}")
        return ".".join(parts)

    # -- shape and size --------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return FAMILIES[self.family]

    @property
    def num_classes(self) -> int:
        return self.shape[1]

    @property
    def num_targets(self) -> int:
        """N times the spatial size: the count 'mean' divides by when unweighted."""
        return math.prod(self.shape) // self.num_classes

    @property
    def storage_dtype(self) -> str:
        return DTYPES[self.dtype][0]

    @property
    def autocast_dtype(self) -> str | None:
        return DTYPES[self.dtype][1]

    @property
    def element_bytes(self) -> int:
        return _BYTES_PER_ELEMENT[self.storage_dtype]

    @property
    def logits_bytes(self) -> int:
        return math.prod(self.shape) * self.element_bytes

    @property
    def target_kind(self) -> str:
        return "probability" if self.layout == "prob_targets" else "index"

    # -- what can run where ------------------------------------------------------------
    def invalid_reason(self) -> str | None:
        """Why this combination is meaningless on every device, or None."""
        if self.layout == "channels_last" and len(self.shape) != 4:
            return "channels_last needs a 4-D (N, C, H, W) input"
        if self.target_kind == "probability" and self.ignore_fraction:
            return "probability targets take no ignore_index"
        return None

    def skip_reason(self, device: str) -> str | None:
        """Why this case does not run on ``device`` ('cpu' or 'cuda'), or None."""
        invalid = self.invalid_reason()
        if invalid:
            return invalid
        if device == "cpu" and self.logits_bytes > CPU_MAX_LOGITS_BYTES:
            return (
                f"too big for the CPU grid ({self.logits_bytes / 2**20:.0f} MiB of logits "
                f"> {CPU_MAX_LOGITS_BYTES / 2**20:.0f} MiB)"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- grids: what each asv benchmark class sweeps ---------------------------------------

#: grid name -> ordered axes (Case field -> values). Every field not named takes the
#: Case default. Forward and forward+backward are separate benchmark methods. Keep each grid's product small: on the CPU, asv starts one process per
#: parameter combination per round.
GRIDS: dict[str, dict[str, tuple]] = {
    # The core product: reduction x weighted x dtype, per shape family.
    "core": {
        "family": ("small", "small-seg", "classification", "llm-128k", "segmentation"),
        "dtype": tuple(DTYPES),
        "reduction": REDUCTIONS,
        "weighting": ("none", "random"),
    },
    # The paired weighted/unweighted ratio (one process, the two interleaved).
    "overhead": {
        "family": ("small", "small-seg", "classification", "llm-128k", "segmentation"),
        "dtype": ("float32", "bfloat16"),
        "reduction": REDUCTIONS,
        "weighting": ("ones", "random"),
    },
    # Layout sweep: what a strided or channels-last tensor, or soft targets, cost.
    "layouts": {
        "family": ("small", "small-seg", "llm-128k", "segmentation"),
        "layout": LAYOUTS,
        "weighting": ("none", "random"),
    },
    # Options sweep: the weight's values, ignored targets, label smoothing.
    "options": {
        "family": ("small", "llm-128k"),
        "weighting": WEIGHTINGS,
        "ignore_fraction": (0.0, 0.1),
        "label_smoothing": (0.0, 0.1),
    },
    # LLM vocabulary sweep (GPU): the vocabulary size that dominates LM training.
    "vocab": {
        "family": ("llm-32k", "llm-128k", "llm-256k"),
        "dtype": ("float32", "bfloat16"),
        "weighting": ("none", "random"),
    },
    # Memory: allocator peaks and NVML samples (CUDA only).
    "memory": {
        "family": ("classification", "llm-128k", "segmentation", "segmentation-150"),
        "dtype": ("float32", "bfloat16"),
        "weighting": ("none", "random"),
    },
    # Achieved bandwidth against the roofline.
    "bandwidth": {
        "family": ("small", "small-seg", "classification", "llm-128k", "segmentation"),
        "dtype": ("float32", "bfloat16"),
        "weighting": ("none", "random"),
    },
    # Instruction counts under valgrind (CPU only, deterministic): the CPU-sized families
    # over every layout, reduction, weighted or not.
    "instructions": {
        "family": ("small", "small-seg"),
        "layout": LAYOUTS,
        "reduction": REDUCTIONS,
        "weighting": ("none", "random"),
    },
    # Implementations side by side (the implementation axis is the benchmarks' first
    # parameter, see impl_asv_params): 2-D and K-dim inputs, a CPU-sized and a GPU-sized
    # member of each, float32 and bfloat16, weighted or not, 'mean'.
    "impls": {
        "family": ("small", "small-seg", "llm-128k", "segmentation"),
        "dtype": ("float32", "bfloat16"),
        "weighting": ("none", "random"),
    },
    # The paired ratios of each implementation (weighted/unweighted): weighted cases only.
    "impl_pairs": {
        "family": ("small", "small-seg", "llm-128k", "segmentation"),
        "dtype": ("float32", "bfloat16"),
        "weighting": ("random",),
    },
    # Instruction counts per implementation (CPU, valgrind): 2-D and K-dim, weighted or not.
    "impl_instructions": {
        "family": ("small", "small-seg"),
        "weighting": ("none", "random"),
    },
    # Compile time (torch.compile, cold caches): one case, weighted or not.
    "compile": {
        "family": ("small",),
        "weighting": ("none", "random"),
    },
    # Kernel-level (CUDA events, L2 flushed) single-call times.
    "kernel": {
        "family": ("classification", "llm-128k", "segmentation", "segmentation-150"),
        "dtype": ("float32", "bfloat16"),
        "reduction": REDUCTIONS,
        "weighting": ("none", "random"),
    },
}

def asv_params(grid: str) -> tuple[list[list], list[str]]:
    """``(params, param_names)`` for an asv class sweeping ``grid``."""
    axes = GRIDS[grid]
    return [list(values) for values in axes.values()], list(axes)


def impl_asv_params(grid: str, impls: tuple[str, ...] = IMPLEMENTATIONS
                    ) -> tuple[list[list], list[str]]:
    """``(params, param_names)`` for an asv class sweeping ``impls`` x ``grid``."""
    params, names = asv_params(grid)
    return [list(impls), *params], ["impl", *names]


def impl_case_from_params(grid: str, params: tuple) -> tuple[str, Case]:
    """``(implementation, case)`` that a parameter tuple of :func:`impl_asv_params` names."""
    if not params or params[0] not in IMPLEMENTATIONS:
        raise ValueError(f"the first parameter must be an implementation "
                         f"({', '.join(IMPLEMENTATIONS)}), got {params[:1]!r}")
    return params[0], case_from_params(grid, tuple(params[1:]))


def case_from_params(grid: str, params: tuple) -> Case:
    """The case that a parameter tuple of ``grid`` names."""
    names = list(GRIDS[grid])
    if len(params) != len(names):
        raise ValueError(f"grid {grid!r} takes {len(names)} parameters, got {len(params)}")
    return Case(**dict(zip(names, params)))


def iter_grid(grid: str) -> Iterator[Case]:
    for params in itertools.product(*GRIDS[grid].values()):
        yield case_from_params(grid, params)


@functools.lru_cache(maxsize=None)
def all_cases() -> dict[str, tuple[Case, tuple[str, ...]]]:
    """Every distinct case of every grid: name -> (case, grids that use it)."""
    found: dict[str, tuple[Case, list[str]]] = {}
    for grid in GRIDS:
        for case in iter_grid(grid):
            entry = found.setdefault(case.name, (case, []))
            if grid not in entry[1]:
                entry[1].append(grid)
    return {name: (case, tuple(grids)) for name, (case, grids) in found.items()}


def lookup(name: str) -> Case:
    """The case called ``name`` (as `cebench cases` prints it); ValueError if unknown."""
    try:
        return all_cases()[name][0]
    except KeyError:
        raise ValueError(f"unknown case {name!r} (list them with `cebench cases`)") from None


def case_rows(device: str, grid: str | None = None) -> list[dict[str, Any]]:
    """One dict per case (of ``grid``, or all): parameters, shape, bytes, runnable on ``device``."""
    rows = []
    for name, (case, grids) in all_cases().items():
        if grid and grid not in grids:
            continue
        reason = case.skip_reason(device)
        rows.append({
            "name": name, **case.as_dict(), "shape": list(case.shape),
            "logits_bytes": case.logits_bytes, "grids": list(grids), "device": device,
            "runs_here": reason is None, "skip_reason": reason,
        })
    return rows
