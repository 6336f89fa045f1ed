"""The source article's three examples (1.4803, 1.6075, 1.5472): torch and the reference
must both reproduce them to 4 decimals. docs/semantics.md works them through."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from cebench.semantics.conformance.comparison import TOLERANCE, CaseResult, compared_result


@dataclass(frozen=True)
class GoldenCase:
    name: str
    logits: tuple[float, ...]
    logits_shape: tuple[int, ...]
    target: tuple[int, ...]
    target_shape: tuple[int, ...]
    weight: tuple[float, ...]
    ignore_index: int
    expected_loss_4dp: float  # what the article's torch printed


GOLDEN_CASES = (
    GoldenCase("article 1: weight [1,1,1]", (0, 1, 0, 0, 0, 1), (1, 3, 2), (0, 1), (1, 2),
               (1, 1, 1), 255, 1.4803),
    GoldenCase("article 2: weight [1,2,3]", (0, 1, 0, 0, 0, 1), (1, 3, 2), (0, 1), (1, 2),
               (1, 2, 3), 255, 1.6075),
    GoldenCase("article 3: weight [1,2,3], 4 positions",
               (0, 1, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0.5), (1, 3, 4), (0, 1, 2, 2), (1, 4),
               (1, 2, 3), -100, 1.5472),
)


def golden_inputs(case: GoldenCase, device: str = "cpu") -> tuple[Tensor, Tensor, Tensor]:
    logits = torch.tensor(case.logits, dtype=torch.float32).view(case.logits_shape)
    target = torch.tensor(case.target, dtype=torch.long).view(case.target_shape)
    weight = torch.tensor(case.weight, dtype=torch.float32)
    return logits.to(device), target.to(device), weight.to(device)


def as_rows(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """(N, C, d1, ...) logits and (N, d1, ...) targets as (N·d1·..., C) and (N·d1·...,):
    the same positions, in the layout an (N, C)-only kernel takes."""
    num_classes = logits.shape[1]
    return logits.movedim(1, -1).reshape(-1, num_classes).contiguous(), target.reshape(-1)


def run_golden_case(case: GoldenCase, device: str, cross_entropy=None,
                    rows: bool = False) -> CaseResult:
    """One article example: torch's ``F.cross_entropy`` (or ``cross_entropy``) against the
    reference; ``rows`` passes the positions as (N·d, C) rows (:func:`as_rows`)."""
    logits, target, weight = golden_inputs(case, device)
    if rows:
        logits, target = as_rows(logits, target)
    kwargs = {"ignore_index": case.ignore_index, "reduction": "mean"}
    result = compared_result(
        "golden", case.name, device, "float32", logits, target, weight, kwargs,
        TOLERANCE["float32"], cross_entropy,
    )
    rounded = {round(v, 4) for v in (result.torch_loss, result.reference_loss) if v is not None}
    if result.verdict == "matches" and rounded != {case.expected_loss_4dp}:
        result.verdict = "differs"
    result.note = f"expected {case.expected_loss_4dp:.4f} (to 4 decimals) from both"
    result.rule_broken = result.verdict != "matches"
    return result
