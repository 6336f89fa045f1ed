"""The software and device a measurement ran on, for results and machine names.

torch is imported where it is used: reading results (version numbers) needs no torch.
"""

from __future__ import annotations

import os
import platform
import re


def torch_version_number(version: str | None = None) -> float:
    """'2.13.0+cpu' -> 2.1300: major + minor/100 + patch/10000 (a track_ value)."""
    if version is None:
        import torch

        version = torch.__version__
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        raise ValueError(f"not a torch version: {version!r}")
    major, minor, patch = (int(g or 0) for g in match.groups())
    return round(major + minor / 100 + patch / 10000, 4)


def version_from_number(number: float) -> str:
    """2.1301 -> '2.13.1' (inverse of :func:`torch_version_number`)."""
    scaled = round(number * 10000)
    return f"{scaled // 10000}.{scaled // 100 % 100}.{scaled % 100}"


def cuda_device_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_name() -> str:
    """A stable, descriptive asv machine name: the GPU or CPU model and its count.

    Never the host name, so that results from machines of one kind group together
    and no host name is published. E.g. 'nvidia-h200-x1', 'cpu-intel-xeon-...-2c'.
    """
    import torch

    if torch.cuda.is_available():
        model, count = torch.cuda.get_device_name(0), torch.cuda.device_count()
        suffix = f"x{count}"
    else:
        model, count = "cpu " + _cpu_model(), os.cpu_count() or 1
        suffix = f"{count}c"
    slug = re.sub(r"\(r\)|\(tm\)|cpu @.*|@.*", "", model.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    return f"{slug}-{suffix}"


