"""``eager``: ``torch.nn.functional.cross_entropy`` as it is: the reference point of every
other implementation, and what the rest of the suite measures."""

from __future__ import annotations

from cebench.impls.base import ALL_DTYPES, Implementation, Support

SUPPORT = Support(
    weight=True, ignore_index=True, label_smoothing=True, reductions=("none", "mean", "sum"),
    prob_targets=True, ranks="any", dtypes=ALL_DTYPES, devices=("cpu", "cuda"),
    timed_devices=("cpu", "cuda"), torch="any", autocast=True,
)


def load(device: str):
    import torch.nn.functional as F

    return F.cross_entropy


IMPL = Implementation(
    name="eager", title="torch eager (F.cross_entropy)",
    measured_as="F.cross_entropy called directly (ATen's log_softmax + nll_loss kernels)",
    support_for=lambda version: SUPPORT, load=load,
)
