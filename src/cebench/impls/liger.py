"""``liger``: Liger-Kernel's ``LigerCrossEntropyLoss`` (one Triton kernel computes the loss
and, when the logits require grad, writes the gradient into the logits' own storage).

Per-class ``weight`` since Liger 0.5.3; (N, C) inputs and class-index targets only.

On CUDA the kernel is compiled by Triton as usual. On the CPU it runs under **Triton's
interpreter** (``TRITON_INTERPRET=1``, set here before Liger is imported): numpy executes
the kernel program by program. That is for correctness only; its times mean nothing and
are never taken. One adaptation makes the interpreter run Liger's weighted kernel: from
Liger 0.8.2 on the kernel receives host Python floats (the selected weights' sum) and
calls ``.to(tl.float32)`` on them, which the interpreter's argument conversion
(``triton.runtime.interpreter._implicit_cvt``, bools and ints only) does not allow. The
adaptation wraps float scalar arguments as float32 scalars, which is what compiled Triton
makes of a Python float argument (its signature type ``fp32``). It is installed only when
the interpreter runs Liger on the CPU (:func:`interpreter_float_arguments`).

bfloat16 is not checked on the CPU: the interpreter (triton 3.9.0) negates bfloat16
values wrongly (−0.30078125 becomes −14.375; float16 and float32 are right), and Liger's
weighted label-smoothing gradient negates the bfloat16 weights, so the CPU would blame
Liger for the interpreter's error (:func:`device_limit`).

What a user must know: the forward writes the gradient into the logits when they require
grad, so those logits no longer hold the logits afterwards; every call must get fresh
logits (``cebench check`` hands each call its own copy and reports the overwrite).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from cebench.impls.base import (Implementation, Support, Unavailable, installed_version,
                                 version_tuple)

WEIGHT_SINCE = (0, 5, 3)


def support_for(version: str | None) -> Support:
    return Support(
        weight=version is None or version_tuple(version) >= WEIGHT_SINCE, ignore_index=True, label_smoothing=True,
        reductions=("none", "mean", "sum"), prob_targets=False, ranks="2",
        dtypes=("float32", "float16", "bfloat16"), devices=("cpu", "cuda"),
        timed_devices=("cuda",), torch=">=2.1.2",
        notes=("weight since 0.5.3",),
    )


def interpreter_float_arguments() -> bool:
    """Make Triton's interpreter pass Python float kernel arguments as float32 scalars
    (compiled Triton's treatment of a float argument). True when it is (now) installed."""
    import numpy as np
    import triton.language as tl
    import triton.runtime.interpreter as interpreter

    convert = interpreter._implicit_cvt
    if getattr(convert, "cebench_float_arguments", False):
        return True

    def implicit_cvt(arg):
        if isinstance(arg, float):
            return tl.tensor(interpreter.TensorHandle(np.array([arg], dtype=np.float32),
                                                      tl.float32), tl.float32)
        return convert(arg)

    implicit_cvt.cebench_float_arguments = True
    interpreter._implicit_cvt = implicit_cvt
    return True


def unavailable(device: str) -> str | None:
    missing = [name for name in ("liger-kernel", "triton") if installed_version(name) is None]
    if missing:
        return (f"liger needs {' and '.join(missing)}, not installed: "
                "pip install 'cebench[impls]'")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "no CUDA device"
    return None


def device_limit(features, device: str) -> str | None:
    if device == "cpu" and features.dtype == "bfloat16":
        return ("bfloat16 is checked on CUDA only: Triton's interpreter negates bfloat16 "
                "values wrongly")
    return None


#: How the loss class was imported in this process (said in ``cebench check``'s report).
ENTRY_POINT: dict[str, str] = {}


def loss_module_class():
    """``LigerCrossEntropyLoss`` as released. Releases before 0.6 import Hugging Face
    transformers in ``liger_kernel.transformers.__init__`` (for model patching, nothing to
    do with the loss): without it installed, the class's own module file is loaded by path,
    which imports only Liger's ops."""
    try:
        from liger_kernel.transformers import LigerCrossEntropyLoss
    except ModuleNotFoundError as exc:
        if exc.name != "transformers":
            raise
        import importlib.util

        import liger_kernel

        path = Path(liger_kernel.__file__).parent / "transformers" / "cross_entropy.py"
        spec = importlib.util.spec_from_file_location("cebench_liger_cross_entropy", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        ENTRY_POINT["loss"] = (f"LigerCrossEntropyLoss loaded from {path.parent.name}/"
                               f"{path.name} by path: this release's liger_kernel.transformers "
                               "imports Hugging Face transformers (not installed)")
        return module.LigerCrossEntropyLoss
    ENTRY_POINT["loss"] = "liger_kernel.transformers.LigerCrossEntropyLoss"
    return LigerCrossEntropyLoss


def load(device: str):
    """``F.cross_entropy``'s signature over ``LigerCrossEntropyLoss``."""
    reason = unavailable(device)
    if reason:
        raise Unavailable(reason)
    if device == "cpu":
        interpreted = os.environ.get("TRITON_INTERPRET") == "1"
        if not interpreted and "liger_kernel.ops.cross_entropy" in sys.modules:
            raise Unavailable("Liger was imported without Triton's interpreter in this "
                              "process: its CPU path needs TRITON_INTERPRET=1 before import")
        os.environ["TRITON_INTERPRET"] = "1"
        interpreter_float_arguments()
    logging.getLogger("liger_kernel").setLevel(logging.ERROR)  # its backend discovery notes
    try:
        LigerCrossEntropyLoss = loss_module_class()
    except Exception as exc:  # noqa: BLE001 - a release that does not import with this torch
        first = (str(exc).strip().splitlines() or [""])[0]
        raise Unavailable(f"liger-kernel {installed_version('liger-kernel')} does not import "
                          f"here: it raises: {type(exc).__name__}: {first}") from exc

    def liger_cross_entropy(input, target, weight=None, ignore_index: int = -100,
                            reduction: str = "mean", label_smoothing: float = 0.0):
        kwargs = {"ignore_index": ignore_index, "reduction": reduction,
                  "label_smoothing": label_smoothing}
        if weight is not None:
            kwargs["weight"] = weight
        return LigerCrossEntropyLoss(**kwargs)(input, target)

    return liger_cross_entropy


IMPL = Implementation(
    name="liger", title="Liger-Kernel LigerCrossEntropyLoss",
    measured_as="LigerCrossEntropyLoss(weight=..., ignore_index=..., reduction=..., "
                "label_smoothing=...) on (N, C) logits; on the CPU through Triton's "
                "interpreter (correctness only)",
    support_for=support_for, load=load, unavailable=unavailable, device_limit=device_limit,
    distribution="liger-kernel", extra="impls",
    caveats=("the forward writes the gradient into the logits when they require grad: "
             "hand every call fresh logits",
             "on the CPU it runs only under Triton's interpreter: checked, never timed; "
             "bfloat16 there is left to CUDA (the interpreter of triton 3.9.0 negates "
             "bfloat16 values wrongly)"),
)
