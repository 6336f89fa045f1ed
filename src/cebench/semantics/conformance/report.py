"""Running every case, and the report: verdict counts, broken rules, JSON, text table.

Verdicts: ``matches`` (loss and gradient within the dtype's tolerance), ``differs``
(both values kept), ``raises`` (torch's message kept), ``accepts`` (bad input torch let
through), ``skipped`` (an invalid combination or missing device, with the reason),
``reference_raises`` (the reference could not compute a valid case: our bug).
"""

from __future__ import annotations

import contextlib
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from cebench.semantics.conformance.bad_input import BAD_INPUT_CASES, run_bad_input_case
from cebench.semantics.conformance.comparison import CaseResult
from cebench.semantics.conformance.edges import EDGE_CASES, run_edge_case
from cebench.semantics.conformance.golden import GOLDEN_CASES, run_golden_case
from cebench.semantics.conformance.grid import grid_cases, run_grid_case


def available_devices() -> list[str]:
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


@contextlib.contextmanager
def single_cpu_thread() -> Iterator[None]:
    """The cases are tiny: handing them to a CPU thread pool costs ~40x the work."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_all(devices: list[str]) -> list[CaseResult]:
    results: list[CaseResult] = []
    with single_cpu_thread():
        for device in devices:
            results += [run_golden_case(case, device) for case in GOLDEN_CASES]
            results += [run_edge_case(case, device) for case in EDGE_CASES]
            results += [run_bad_input_case(case, device) for case in BAD_INPUT_CASES]
        results += [run_grid_case(case) for case in grid_cases(devices)]
    return results


@dataclass
class Report:
    torch_version: str
    devices: dict[str, str]
    cases: list[CaseResult] = field(default_factory=list)

    @property
    def broken(self) -> list[CaseResult]:
        return [case for case in self.cases if case.rule_broken]

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for case in self.cases:
            per_kind = counts.setdefault(case.kind, {})
            per_kind[case.verdict] = per_kind.get(case.verdict, 0) + 1
        return counts

    def to_json(self) -> dict:
        return _json_safe({
            "torch_version": self.torch_version,
            "devices": self.devices,
            "summary": {"verdicts": self.verdict_counts(), "rules_broken": len(self.broken)},
            "cases": [asdict(case) for case in self.cases],
        })


def check(devices: list[str]) -> Report:
    """Every case on each of ``devices``: golden, edge and bad input per device, then the grid."""
    return Report(torch.__version__, {d: device_name(d) for d in devices}, run_all(devices))


def _json_safe(value):
    """NaN and ±inf become the strings 'nan', 'inf', '-inf' (strict JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


# --- the text table -----------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def format_table(cases: list[CaseResult]) -> str:
    header = ("kind", "case", "device", "dtype", "torch", "reference", "abs err", "rel err",
              "grad rel err", "verdict")
    rows = [
        (c.kind, c.name, c.device, c.dtype,
         _fmt(c.torch_loss) if c.torch_error is None else "raises",
         _fmt(c.reference_loss) if c.reference_error is None else "raises",
         _fmt(c.loss_abs_error), _fmt(c.loss_rel_error), _fmt(c.grad_rel_error),
         c.verdict + ("  RULE BROKEN" if c.rule_broken else ""))
        for c in cases
    ]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for case, row in zip(cases, rows, strict=True):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        for label, text in (("torch", case.torch_error), ("reference", case.reference_error),
                            ("note", case.note)):
            if text:
                lines.append(f"    {label}: {text}")
    return "\n".join(lines)


def format_summary(report: Report) -> str:
    lines = [f"torch {report.torch_version}; devices: "
             + ", ".join(f"{d} ({name})" for d, name in report.devices.items())]
    for kind, counts in report.verdict_counts().items():
        lines.append(f"  {kind:<10} " + ", ".join(f"{v} {n}" for v, n in sorted(counts.items())))
    lines.append(f"{len(report.cases)} cases, {len(report.broken)} broken rules")
    return "\n".join(lines)


def shown_by_default(case: CaseResult) -> bool:
    """The rows `cebench check` lists without --all: all but matching or skipped grid cases."""
    always_shown = case.kind in ("golden", "edge", "bad_input")
    return always_shown or case.verdict not in ("matches", "skipped")
