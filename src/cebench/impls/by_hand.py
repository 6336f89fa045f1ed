"""``by_hand``: the class weighting a user writes around an unweighted per-element loss.

Kernels without a ``weight`` argument (flash-attn's Triton cross entropy, Transformer
Engine, cut-cross-entropy, Unsloth) are weighted by hand: the per-element loss
(``reduction='none'``) times w[y], summed, divided by Σ w[y] over the non-ignored
targets under ``'mean'``. Here the unweighted kernel is torch's own, so this module is
the baseline of every such kernel: what the weighting by hand costs and means.

Label smoothing is passed to the unweighted kernel, so its smoothing term is weighted
by w[y] as a whole, where torch weights each class's term by w_c: ``cebench check
--impl by_hand`` shows where the two differ. A per-element weight w[y] needs class
indices, so weighted probability targets are not supported.
"""

from __future__ import annotations

from cebench.impls.base import ALL_DTYPES, Features, Implementation, Support

SUPPORT = Support(
    weight=True, ignore_index=True, label_smoothing=True, reductions=("none", "mean", "sum"),
    prob_targets=True, ranks="any", dtypes=ALL_DTYPES, devices=("cpu", "cuda"),
    timed_devices=("cpu", "cuda"), torch="any", autocast=True,
    notes=("probability targets only unweighted (w[y] needs a class index)",),
)


class _Support(Support):
    def unsupported(self, f: Features) -> str | None:
        if f.weighted and f.prob_targets:
            return "no weighted probability targets (w[y] needs a class index)"
        return super().unsupported(f)


def by_hand_cross_entropy(input, target, weight=None, ignore_index: int = -100,
                          reduction: str = "mean", label_smoothing: float = 0.0):
    """``F.cross_entropy``'s signature; the weight applied by hand around ``'none'``."""
    import torch
    import torch.nn.functional as F

    per_element = F.cross_entropy(input, target, ignore_index=ignore_index, reduction="none",
                                  label_smoothing=label_smoothing)
    if target.dtype.is_floating_point:  # probability targets: unweighted only
        if weight is not None:
            raise ValueError("by_hand weighting needs class-index targets")
        if reduction == "none":
            return per_element
        return per_element.sum() if reduction == "sum" else per_element.mean()
    selected = target != ignore_index
    if weight is None:
        target_weight = selected.to(per_element.dtype)
    else:
        safe_target = torch.where(selected, target, torch.zeros_like(target))
        target_weight = weight[safe_target] * selected
    weighted = per_element * target_weight
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / target_weight.sum()


IMPL = Implementation(
    name="by_hand", title="weighted by hand around reduction='none'",
    measured_as="F.cross_entropy(reduction='none') (unweighted), times w[y], summed, "
                "divided by the selected weights' sum under 'mean'",
    support_for=lambda version: _Support(**SUPPORT.as_dict()),
    load=lambda device: by_hand_cross_entropy,
    caveats=("with label smoothing the whole smoothed per-element loss is scaled by w[y] "
             "(torch scales each class's smoothing term by w_c)",),
)
