"""Edge behaviour that torch versions may legitimately change, recorded per torch version
and device with a verdict, never a failure: 0/0 means, a single ignored 1-D target, the
soft-target 'mean' denominator, label smoothing with ignored targets, and the fp16 total
weight that overflows past 65504 targets. Only a reference that cannot compute an edge
breaks a rule.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from cebench.semantics.conformance.comparison import (
    TOLERANCE, CaseResult, compared_result, to_device,
)
from cebench.semantics.conformance.grid import (
    NUM_CLASSES, REDUCTIONS, class_weights, index_targets,
)


@dataclass(frozen=True)
class EdgeCase:
    name: str
    dtype: str
    build: Callable[[torch.Generator], tuple[Tensor, Tensor, Tensor | None, dict]]
    note: str


def _edge_logits(generator, shape=(4, NUM_CLASSES), dtype=torch.float32) -> Tensor:
    return (torch.randn(shape, generator=generator) * 2.0).to(dtype)


def _confident_fp16_case(_generator=None) -> tuple[Tensor, Tensor]:
    """fp16 logits (1, 2, 300, 300) and their argmax targets: small losses, 90000 targets.

    The loss sum (~1e4) fits in fp16 while the target count (90000) does not, so only
    an overflowing total weight can spoil the mean.
    """
    generator = torch.Generator().manual_seed(29429)  # the same case with and without weight
    logits = (torch.randn((1, 2, 300, 300), generator=generator) * 4.0).to(torch.float16)
    return logits, logits.argmax(1)


EDGE_CASES = (
    EdgeCase(
        "all targets ignored, 'mean'", "float32",
        lambda g: (_edge_logits(g), index_targets(*[-100] * 4), None, {"reduction": "mean"}),
        "0/0: NaN since torch 1.11 (pytorch#64572, #70348), 0 before",
    ),
    EdgeCase(
        "all selected weights zero, 'mean'", "float32",
        lambda g: (_edge_logits(g), index_targets(5, 5, 5, 5),
                   class_weights("zero_class", NUM_CLASSES, g), {"reduction": "mean"}),
        "every target is the zero-weight class: 0/0",
    ),
    *(
        EdgeCase(
            f"1-D input, ignored target, '{reduction}'", "float32",
            (lambda r: lambda g: (_edge_logits(g, (NUM_CLASSES,)), torch.tensor(-100), None,
                                  {"reduction": r}))(reduction),
            "a single ignored target",
        )
        for reduction in REDUCTIONS
    ),
    EdgeCase(
        "prob targets with weight, 'mean' denominator", "float32",
        lambda g: (_edge_logits(g), torch.randn(4, NUM_CLASSES, generator=g).softmax(1),
                   class_weights("random", NUM_CLASSES, g), {"reduction": "mean"}),
        "'mean' divides by N=4 positions, not by a weight sum",
    ),
    EdgeCase(
        "label smoothing 0.1 with weight and ignored targets, 'mean'", "float32",
        lambda g: (_edge_logits(g), index_targets(0, -100, 3, 6),
                   class_weights("random", NUM_CLASSES, g),
                   {"reduction": "mean", "label_smoothing": 0.1}),
        "both terms over Σ w[y] of non-ignored targets",
    ),
    EdgeCase(
        "fp16 (1,2,300,300), unit weight, 'mean' (>65504 targets)", "float16",
        lambda g: (*_confident_fp16_case(g), torch.ones(2, dtype=torch.float16),
                   {"reduction": "mean"}),
        "90000 targets, loss sum ~1e4 (fits fp16): a total weight accumulated in fp16 "
        "overflows to inf and the mean becomes 0 (torch #29429, #85791)",
    ),
    EdgeCase(
        "fp16 (1,2,300,300), no weight, 'mean' (>65504 targets)", "float16",
        lambda g: (*_confident_fp16_case(g), None, {"reduction": "mean"}),
        "the same without weight: the target count is the total weight",
    ),
)


def run_edge_case(case: EdgeCase, device: str) -> CaseResult:
    generator = torch.Generator().manual_seed(zlib.crc32(case.name.encode()))
    logits, target, weight, kwargs = case.build(generator)
    result = compared_result(
        "edge", case.name, device, case.dtype, logits.to(device), target.to(device),
        to_device(weight, device), kwargs, TOLERANCE[case.dtype],
    )
    result.note = "; ".join(filter(None, (case.note, result.note)))
    # Edges are recorded, not enforced: only a reference that cannot compute one is broken.
    result.rule_broken = result.reference_error is not None
    return result
