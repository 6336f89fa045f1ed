"""What an implementation of cross entropy declares, and how a call is judged against it.

An implementation (one small module of :mod:`cebench.impls`) says what it supports in a
:class:`Support` (weight, ``ignore_index``, label smoothing, reductions, probability
targets, K-dim inputs, dtypes, devices, the torch range) and supplies a loss function
with ``F.cross_entropy``'s signature. A call is described by :class:`Features`; an
implementation that cannot run it says why (:meth:`Implementation.skip_reason`), and the
benchmarks and ``cebench check --impl`` skip it with that reason.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import re
from typing import Callable

LossFunction = Callable[..., object]
#: Every dtype the grids use for logits.
ALL_DTYPES = ("float32", "float16", "bfloat16")


@dataclasses.dataclass(frozen=True)
class Features:
    """What one call of the loss asks of an implementation."""

    weighted: bool
    reduction: str = "mean"
    ignores: bool = False          # some targets equal ignore_index
    label_smoothing: bool = False
    prob_targets: bool = False
    rank: int = 2                  # dimensions of the logits: 1 (C,), 2 (N, C), 3+ (N, C, d1...)
    dtype: str = "float32"
    autocast: bool = False


@dataclasses.dataclass(frozen=True)
class Support:
    """What an implementation supports: every field a user would ask about."""

    weight: bool
    ignore_index: bool
    label_smoothing: bool
    reductions: tuple[str, ...]
    prob_targets: bool
    ranks: str                       # "any" or "2" (an (N, C) input only)
    dtypes: tuple[str, ...]
    devices: tuple[str, ...]         # where it runs at all
    timed_devices: tuple[str, ...]   # where its times mean something
    torch: str                       # the torch releases it works with, e.g. ">=2.1"
    autocast: bool = False
    notes: tuple[str, ...] = ()

    def unsupported(self, f: Features) -> str | None:
        """Why this call is outside what the implementation supports, or None."""
        if f.weighted and not self.weight:
            return "no per-class weight"
        if f.ignores and not self.ignore_index:
            return "no ignore_index"
        if f.label_smoothing and not self.label_smoothing:
            return "no label smoothing"
        if f.reduction not in self.reductions:
            return f"no reduction={f.reduction!r}"
        if f.prob_targets and not self.prob_targets:
            return "no probability targets"
        if self.ranks == "2" and f.rank != 2:
            return "(N, C) inputs only"
        if f.dtype not in self.dtypes:
            return f"no {f.dtype}"
        if f.autocast and not self.autocast:
            return "not under autocast"
        return None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


class Unavailable(Exception):
    """The implementation cannot run here (not installed, no suitable device); says why."""


@dataclasses.dataclass(frozen=True)
class Implementation:
    """One implementation: its name, what it supports, and how to get its loss function.

    ``distribution`` is the pip package it comes from (None: torch itself);
    ``load(device)`` returns a function with ``F.cross_entropy``'s signature, or raises
    :class:`Unavailable`; ``support_for(version)`` gives the :class:`Support` of an
    installed version (features arrive with releases); ``caveats`` are what a user of it
    should know (said by ``cebench impls`` and docs/implementations.md).
    """

    name: str
    title: str
    measured_as: str
    support_for: Callable[[str | None], Support]
    load: Callable[[str], LossFunction]
    distribution: str | None = None
    extra: str | None = None
    caveats: tuple[str, ...] = ()
    unavailable: Callable[[str], str | None] = lambda device: None
    #: Why a call it supports cannot be run faithfully on a device, or None.
    device_limit: Callable[[Features, str], str | None] = lambda features, device: None

    def version(self) -> str | None:
        """The installed version of its package (torch's for torch's own)."""
        return installed_version(self.distribution or "torch")

    @property
    def support(self) -> Support:
        return self.support_for(self.version())

    def skip_reason(self, features: Features, device: str) -> str | None:
        """Why this implementation does not run ``features`` on ``device``, or None."""
        reason = self.unavailable(device)
        if reason:
            return reason
        support = self.support
        torch_version = installed_version("torch")
        if torch_version and not in_range(torch_version, support.torch):
            return f"{self.name} needs torch {support.torch}, this is {torch_version}"
        if device not in support.devices:
            return f"{self.name} does not run on {device} (runs on {', '.join(support.devices)})"
        unsupported = support.unsupported(features)
        if unsupported:
            return f"{self.name}: {unsupported}"
        return self.device_limit(features, device)


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_tuple(version: str | None) -> tuple[int, ...]:
    """'0.8.5' -> (0, 8, 5); '2.13.0+cpu' -> (2, 13, 0); None -> ()."""
    if not version:
        return ()
    return tuple(int(part) for part in re.findall(r"\d+", version.split("+")[0])[:3])


def in_range(version: str, spec: str) -> bool:
    """Whether ``version`` satisfies ``spec``: 'any' or '>=X.Y[.Z]'."""
    if spec == "any":
        return True
    if not spec.startswith(">="):
        raise ValueError(f"a torch range is 'any' or '>=VERSION', not {spec!r}")
    return version_tuple(version) >= version_tuple(spec[2:])
