"""``quack``: Quack's ``quack.cross_entropy`` (a CuTe DSL kernel; NVIDIA GPUs of compute
capability 9.0 or newer: Hopper, Blackwell).

Per-class ``weight`` since quack-kernels 0.5.0; (N, C) inputs and class-index targets;
no label smoothing. It cannot run on a CPU, not even interpreted: without such a GPU
every case is skipped with the reason.
"""

from __future__ import annotations

from cebench.impls.base import Implementation, Support, Unavailable, installed_version, \
    version_tuple

WEIGHT_SINCE = (0, 5, 0)
MIN_CAPABILITY = (9, 0)


def support_for(version: str | None) -> Support:
    return Support(
        weight=version is None or version_tuple(version) >= WEIGHT_SINCE, ignore_index=True,
        label_smoothing=False, reductions=("none", "mean", "sum"), prob_targets=False,
        ranks="2", dtypes=("float32", "float16", "bfloat16"), devices=("cuda",),
        timed_devices=("cuda",), torch=">=2.4",
        notes=("weight since 0.5.0",),
    )


def unavailable(device: str) -> str | None:
    if device != "cuda":
        return "quack runs only on NVIDIA GPUs of compute capability 9.0+ (CuTe DSL)"
    if installed_version("quack-kernels") is None:
        return "quack needs quack-kernels, not installed: pip install 'cebench[impls]'"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA device"
    capability = torch.cuda.get_device_capability(0)
    if capability < MIN_CAPABILITY:
        return (f"quack needs compute capability 9.0+, this GPU has "
                f"{capability[0]}.{capability[1]}")
    return None


def load(device: str):
    reason = unavailable(device)
    if reason:
        raise Unavailable(reason)
    from quack.cross_entropy import cross_entropy

    def quack_cross_entropy(input, target, weight=None, ignore_index: int = -100,
                            reduction: str = "mean", label_smoothing: float = 0.0):
        if label_smoothing:
            raise ValueError("quack has no label smoothing")
        kwargs = {"ignore_index": ignore_index, "reduction": reduction}
        if weight is not None:
            kwargs["weight"] = weight
        return cross_entropy(input, target, **kwargs)

    return quack_cross_entropy


IMPL = Implementation(
    name="quack", title="Quack quack.cross_entropy",
    measured_as="quack.cross_entropy.cross_entropy(x, target, weight=..., ignore_index=..., "
                "reduction=...) on (N, C) logits (CUDA, sm90+)",
    support_for=support_for, load=load, unavailable=unavailable,
    distribution="quack-kernels", extra="impls",
    caveats=("NVIDIA GPUs of compute capability 9.0+ only; no label smoothing",),
)
