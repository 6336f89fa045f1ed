"""An independent float64 reference for ``torch.nn.functional.cross_entropy``.

Written from the documented formulas (torch docs, ATen ``LossNLL.cpp``), using only
elementary tensor ops in float64: ``logsumexp``, ``gather``, sums and divisions. It
never calls ``F.cross_entropy``, ``F.nll_loss`` or ``log_softmax``, so it can judge them.

Rules (C classes, class dimension 1, or 0 for a 1-D input; log p = x - logsumexp(x)):

* class-index targets y: ``'none'`` gives w[y]·(−log p[y]), 0 where y == ignore_index;
  ``'sum'`` sums; ``'mean'`` divides by Σ w[y] over the non-ignored targets (their
  count when unweighted). Nothing selected (or all selected weights zero) → 0/0 = NaN.
* label smoothing ε with index targets: per element
  (1−ε)·w[y]·(−log p[y]) + (ε/C)·Σ_c w_c·(−log p_c), 0 where ignored; under ``'mean'``
  both terms share the denominator Σ w[y] over the non-ignored targets.
* probability targets (target shaped like the input, floating point):
  −Σ_c w_c·y_c·log p_c, with y ← (1−ε)·y + ε/C under smoothing; ``'mean'`` divides by
  the number of positions N·d1·…·dk (never a weight sum); an ``ignore_index`` ≥ 0 is
  rejected, as ATen does.

Every misuse raises ``ValueError`` with a one-line message.
"""

from __future__ import annotations

import torch
from torch import Tensor

REDUCTIONS = ("none", "mean", "sum")


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross entropy in float64 with the meaning of ``F.cross_entropy``.

    Differentiable with respect to ``input`` (the float64 cast is part of the graph).
    """
    _check_common(input, weight, reduction, label_smoothing)
    return _float64_loss(
        input.to(torch.float64), target, weight, ignore_index, reduction, label_smoothing
    )


def loss_and_grad(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """(loss, d loss.sum() / d input), both float64, by autograd on the float64 formula.

    For ``reduction='none'`` the gradient is that of the summed per-element losses,
    i.e. a backward pass with a grad_output of ones.
    """
    _check_common(input, weight, reduction, label_smoothing)
    leaf = input.detach().to(torch.float64).requires_grad_(True)
    loss = _float64_loss(leaf, target, weight, ignore_index, reduction, label_smoothing)
    (grad,) = torch.autograd.grad(loss.sum(), leaf)
    return loss.detach(), grad


def _float64_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    class_dim = 0 if logits.dim() == 1 else 1
    num_classes = logits.shape[class_dim]
    log_prob = logits - torch.logsumexp(logits, dim=class_dim, keepdim=True)
    class_weight = _class_weight_broadcast(weight, logits.dim(), class_dim)

    if target.shape == logits.shape:
        return _probability_target_loss(
            log_prob, target, class_weight, class_dim, ignore_index, reduction, label_smoothing
        )
    return _class_index_loss(
        log_prob, target, weight, class_weight, class_dim, num_classes,
        ignore_index, reduction, label_smoothing,
    )


# --- the two target kinds --------------------------------------------------------------


def _class_index_loss(
    log_prob: Tensor,
    target: Tensor,
    weight: Tensor | None,
    class_weight: Tensor | None,
    class_dim: int,
    num_classes: int,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    expected_shape = log_prob.shape[:class_dim] + log_prob.shape[class_dim + 1:]
    if target.shape != expected_shape:
        raise ValueError(
            f"target shape {tuple(target.shape)} does not fit input shape "
            f"{tuple(log_prob.shape)}: expected {tuple(expected_shape)} for class indices "
            f"or {tuple(log_prob.shape)} for class probabilities"
        )
    if target.dtype.is_floating_point or target.dtype.is_complex or target.dtype == torch.bool:
        raise ValueError(f"class-index target must have an integer dtype, got {target.dtype}")
    if target.device != log_prob.device:
        raise ValueError(f"target is on {target.device} but input is on {log_prob.device}")

    selected = target != ignore_index
    out_of_range = selected & ((target < 0) | (target >= num_classes))
    if bool(out_of_range.any()):
        bad = int(target[out_of_range].flatten()[0])
        raise ValueError(
            f"target {bad} is out of range for {num_classes} classes "
            f"(valid: 0..{num_classes - 1}, or ignore_index={ignore_index})"
        )

    # int64 for gather and indexing (torch also takes uint8 class indices)
    safe_target = torch.where(selected, target, torch.zeros_like(target)).long()
    neg_log_prob_target = -log_prob.gather(class_dim, safe_target.unsqueeze(class_dim)).squeeze(
        class_dim
    )
    if weight is None:
        target_weight = torch.ones_like(neg_log_prob_target)
    else:
        target_weight = weight.to(torch.float64)[safe_target]
    zero = torch.zeros((), dtype=torch.float64, device=log_prob.device)
    weighted_nll = torch.where(selected, target_weight * neg_log_prob_target, zero)
    selected_weight = torch.where(selected, target_weight, zero)

    per_element = weighted_nll
    if label_smoothing > 0.0:
        weighted_log_prob = log_prob if class_weight is None else log_prob * class_weight
        smooth = torch.where(selected, -weighted_log_prob.sum(class_dim), zero)
        per_element = (1.0 - label_smoothing) * weighted_nll + (
            label_smoothing / num_classes
        ) * smooth

    if reduction == "none":
        return per_element
    if reduction == "sum":
        return per_element.sum()
    return per_element.sum() / selected_weight.sum()  # 0/0 -> NaN when nothing counts


def _probability_target_loss(
    log_prob: Tensor,
    target: Tensor,
    class_weight: Tensor | None,
    class_dim: int,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    if not target.dtype.is_floating_point:
        raise ValueError(
            f"probability target must be floating point, got {target.dtype} "
            "(class indices are shaped like the input without its class dimension)"
        )
    if ignore_index >= 0:
        raise ValueError(
            f"ignore_index={ignore_index} is not supported with probability targets "
            "(torch accepts only a negative ignore_index there)"
        )
    if target.device != log_prob.device:
        raise ValueError(f"target is on {target.device} but input is on {log_prob.device}")

    num_classes = log_prob.shape[class_dim]
    prob = target.to(torch.float64)
    if label_smoothing > 0.0:
        prob = (1.0 - label_smoothing) * prob + label_smoothing / num_classes
    weighted = prob * log_prob if class_weight is None else class_weight * prob * log_prob
    per_position = -weighted.sum(class_dim)

    if reduction == "none":
        return per_position
    if reduction == "sum":
        return per_position.sum()
    num_positions = per_position.numel()  # N·d1·…·dk; 0/0 -> NaN for an empty batch
    return per_position.sum() / num_positions


# --- validation ------------------------------------------------------------------------


def _check_common(
    input: Tensor, weight: Tensor | None, reduction: str, label_smoothing: float
) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.dim() < 1:
        raise ValueError("input must have at least 1 dimension (C,), got a scalar")
    if not input.dtype.is_floating_point:
        raise ValueError(f"input must be floating point, got {input.dtype}")
    if weight is None:
        return
    num_classes = input.shape[0 if input.dim() == 1 else 1]
    if weight.dim() != 1 or weight.shape[0] != num_classes:
        raise ValueError(
            f"weight must be 1-D with one entry per class ({num_classes}), "
            f"got shape {tuple(weight.shape)}"
        )
    if weight.dtype != input.dtype:
        raise ValueError(f"weight dtype {weight.dtype} does not match input dtype {input.dtype}")
    if weight.device != input.device:
        raise ValueError(f"weight is on {weight.device} but input is on {input.device}")


def _class_weight_broadcast(weight: Tensor | None, ndim: int, class_dim: int) -> Tensor | None:
    """The class weights in float64, shaped to broadcast along the class dimension."""
    if weight is None:
        return None
    shape = [1] * ndim
    shape[class_dim] = weight.shape[0]
    return weight.to(torch.float64).view(shape)
