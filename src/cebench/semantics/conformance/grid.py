"""The rule checks over the case grid: every combination of the axes below, tiny inputs.

reduction × weighting × ignored targets × label smoothing × target kind × input rank
(1-D..5-D) × dtype × device; each must match the reference within its dtype's tolerance.
Grid cases whose reference is 0/0 under 'mean' are edges in disguise: recorded, not
enforced. Reductions, weightings and the article's class weights are the benchmark
grid's (:mod:`cebench.grid.cases`).
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import Tensor

from cebench.grid.cases import REDUCTIONS, SEED_CLASS_WEIGHTS, WEIGHTINGS
from cebench.semantics.conformance.comparison import (
    TOLERANCE, CaseResult, compared_result, to_device,
)

NUM_CLASSES = 7
IGNORED = ("none", "some", "all")
LABEL_SMOOTHINGS = (0.0, 0.1)
TARGET_KINDS = ("index", "prob")
RANKS = (1, 2, 3, 4, 5)
DTYPES = ("float32", "float16", "bfloat16")
GRID_IGNORE_INDEX = 255  # the article's value; exercises a non-default ignore_index
# Input shapes per rank (C is the class dimension): few elements, so the grid is fast.
SHAPE_BY_RANK = {
    1: (NUM_CLASSES,),
    2: (4, NUM_CLASSES),
    3: (2, NUM_CLASSES, 3),
    4: (2, NUM_CLASSES, 2, 2),
    5: (2, NUM_CLASSES, 2, 1, 2),
}


@dataclass(frozen=True)
class GridCase:
    reduction: str
    weighting: str
    ignored: str
    label_smoothing: float
    target_kind: str
    rank: int
    dtype: str
    device: str

    @property
    def name(self) -> str:
        return (
            f"{self.target_kind} {self.rank}-D w={self.weighting} ignored={self.ignored} "
            f"ls={self.label_smoothing:g} {self.reduction}"
        )

    def skip_reason(self) -> str | None:
        if self.target_kind == "prob" and self.ignored != "none":
            return "probability targets have no ignore_index (torch rejects ignore_index >= 0)"
        if self.rank == 1 and self.ignored == "some":
            return "a 1-D input has a single target: 'some ignored' needs two or more"
        return None


def grid_cases(devices: list[str]) -> Iterator[GridCase]:
    for values in itertools.product(
        REDUCTIONS, WEIGHTINGS, IGNORED, LABEL_SMOOTHINGS, TARGET_KINDS, RANKS, DTYPES, devices
    ):
        yield GridCase(*values)


def class_weights(weighting: str, num_classes: int, generator: torch.Generator) -> Tensor | None:
    """The float32 class-weight vector a weighting names (None for 'none')."""
    if weighting == "none":
        return None
    if weighting == "ones":
        return torch.ones(num_classes)
    if weighting == "random":
        return torch.rand(num_classes, generator=generator) * 2.0 + 0.1
    if weighting == "zero_class":
        tiled = [SEED_CLASS_WEIGHTS[i % len(SEED_CLASS_WEIGHTS)] for i in range(num_classes)]
        return torch.tensor(tiled)
    raise ValueError(f"unknown weighting {weighting!r}, expected one of {WEIGHTINGS}")


def index_targets(*values: int) -> Tensor:
    """A 1-D class-index target tensor."""
    return torch.tensor(values, dtype=torch.long)


def grid_inputs(case: GridCase) -> tuple[Tensor, Tensor, Tensor | None, dict]:
    """(logits, target, weight, extra kwargs) for a grid case, seeded by its name."""
    generator = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    dtype = getattr(torch, case.dtype)
    shape = SHAPE_BY_RANK[case.rank]
    class_dim = 0 if case.rank == 1 else 1
    logits = (torch.randn(shape, generator=generator) * 2.0).to(dtype)
    weight = class_weights(case.weighting, NUM_CLASSES, generator)
    weight = None if weight is None else weight.to(dtype)
    kwargs: dict = {"reduction": case.reduction, "label_smoothing": case.label_smoothing}
    if case.target_kind == "prob":
        target = torch.randn(shape, generator=generator).softmax(class_dim).to(dtype)
    else:
        target_shape = shape[:class_dim] + shape[class_dim + 1:]
        target = torch.randint(0, NUM_CLASSES, target_shape, generator=generator)
        flat = target.view(-1)
        if case.ignored == "all":
            flat.fill_(GRID_IGNORE_INDEX)
        elif case.ignored == "some":
            flat[::2] = GRID_IGNORE_INDEX  # every other target: some ignored, some kept
        kwargs["ignore_index"] = GRID_IGNORE_INDEX
    return (to_device(logits, case.device), to_device(target, case.device),
            to_device(weight, case.device), kwargs)


def run_grid_case(case: GridCase, cross_entropy=None) -> CaseResult:
    """One grid case: torch's ``F.cross_entropy`` (or ``cross_entropy``, a function with its
    signature) against the reference."""
    reason = case.skip_reason()
    if reason:
        return CaseResult("grid", case.name, case.device, case.dtype, "skipped", note=reason)
    logits, target, weight, kwargs = grid_inputs(case)
    result = compared_result(
        "grid", case.name, case.device, case.dtype, logits, target, weight, kwargs,
        TOLERANCE[case.dtype], cross_entropy,
    )
    undefined_mean = case.reduction == "mean" and math.isnan(result.reference_loss or 0.0)
    if undefined_mean:
        result.note = (result.note + "; " if result.note else "") + (
            "0/0 under 'mean' (nothing selected or zero selected weight): recorded, not enforced"
        )
    result.rule_broken = result.rule_broken or (result.verdict != "matches" and not undefined_mean)
    return result
