"""``cebench check --impl NAME``: one implementation of cross entropy against the float64
reference, and the contracts a user silently assumes.

The same rules as torch's check, loss and gradient: the article's examples (as (N·d, C)
rows for an implementation that takes (N, C) inputs only), the whole rule grid (each case
the implementation does not support is *unsupported*, with the reason) and bad input
(rejected wherever torch rejects it). Then the contracts:

* the call leaves logits, target and weight unchanged (a training call, logits requiring
  grad, and an inference call);
* a second call on the same tensors gives the same loss;
* the gradient matches the reference (every grid case).

Each case belongs to one row of the support × conformance matrix (:data:`RULES`,
:func:`rule_of`); a row's cell is ✓, *differs* (with both values) or *unsupported*
(:func:`matrix_cell`). Cases whose reference is 0/0 under 'mean' (all targets ignored)
are recorded, as for torch, and never count as broken.
"""

from __future__ import annotations

import math
import platform
from dataclasses import asdict, dataclass, field

import torch

from cebench import impls
from cebench.impls.base import Features, Implementation, Unavailable
from cebench.semantics.conformance.bad_input import BAD_INPUT_CASES, run_bad_input_case
from cebench.semantics.conformance.comparison import CaseResult, error_text
from cebench.semantics.conformance.golden import GOLDEN_CASES, run_golden_case
from cebench.semantics.conformance.grid import (
    GRID_IGNORE_INDEX, NUM_CLASSES, GridCase, class_weights, grid_cases, run_grid_case,
)
from cebench.semantics.conformance.report import _json_safe, device_name, single_cpu_thread

#: The rows of the matrix: (id, what the row checks). Every case belongs to exactly one.
RULES = (
    ("golden", "the article's examples: weighted 'mean' = Σ w[y]·(−log p[y]) / Σ w[y]"),
    ("unweighted", "no weight: every reduction, some targets ignored or none"),
    ("weighted_mean", "weighted 'mean' divides by Σ w[y], not by N"),
    ("weighted_sum_none", "weighted 'sum' and 'none' give w[y]·(−log p[y])"),
    ("ignore_index", "with weight, ignored targets add nothing and leave the denominator"),
    ("label_smoothing", "label smoothing with index targets: (1−ε)·w[y]·(−log p[y]) + "
                        "(ε/C)·Σ_c w_c·(−log p_c), over the same Σ w[y]"),
    ("prob_targets", "probability targets: −Σ_c w_c·y_c·log p_c; 'mean' divides by N"),
    ("k_dim", "inputs other than (N, C): (C,) and (N, C, d1, …)"),
    ("low_precision", "float16 and bfloat16 inputs, within their tolerance"),
    ("all_ignored", "all targets ignored: 0/0 = NaN under 'mean' (recorded, not enforced)"),
    ("gradient", "the gradient matches the reference in every case it runs"),
    ("inputs_unchanged", "the call leaves logits, target and weight unchanged"),
    ("repeatable", "a second call on the same tensors gives the same loss"),
    ("bad_input", "rejects what torch rejects (wrong weight shape or dtype, bad targets, ...)"),
)
RULE_IDS = tuple(rule for rule, _ in RULES)
#: Rows recorded but never counted as broken (torch itself may change them).
RECORDED_ONLY = ("all_ignored",)


def features_of_grid_case(case: GridCase) -> Features:
    return Features(
        weighted=case.weighting != "none", reduction=case.reduction,
        ignores=case.ignored != "none", label_smoothing=bool(case.label_smoothing),
        prob_targets=case.target_kind == "prob", rank=case.rank, dtype=case.dtype)


def rule_of(case: GridCase, float32_twin_matches: bool = False) -> str:
    """The one matrix row a grid case belongs to: its most specific feature (all ignored,
    probability targets, label smoothing, K-dim, then weighting and reduction). A float16
    or bfloat16 case belongs to ``low_precision`` when its float32 twin matches (so that
    row shows what precision alone does), else to its feature's row."""
    if case.dtype != "float32" and float32_twin_matches:
        return "low_precision"
    if case.ignored == "all":
        return "all_ignored"
    if case.target_kind == "prob":
        return "prob_targets"
    if case.label_smoothing:
        return "label_smoothing"
    if case.rank != 2:
        return "k_dim"
    if case.weighting == "none":
        return "unweighted"
    if case.ignored == "some":
        return "ignore_index"
    return "weighted_mean" if case.reduction == "mean" else "weighted_sum_none"


@dataclass
class ImplReport:
    implementation: str
    version: str | None
    torch_version: str
    devices: dict[str, str]
    python: str = field(default_factory=platform.python_version)
    match: str | None = None  # the regex that chose the grid cases (None: all of them)
    adaptations: list[str] = field(default_factory=list)
    cases: list[tuple[str, CaseResult]] = field(default_factory=list)  # (rule, result)

    def by_rule(self) -> dict[str, list[CaseResult]]:
        grouped: dict[str, list[CaseResult]] = {rule: [] for rule in RULE_IDS}
        for rule, result in self.cases:
            grouped[rule].append(result)
        return grouped

    def matrix(self) -> dict[str, dict]:
        return {rule: matrix_cell(rule, results) for rule, results in self.by_rule().items()}

    @property
    def broken(self) -> list[str]:
        """The rows that differ (not counting the recorded-only ones)."""
        return [rule for rule, cell in self.matrix().items()
                if cell["cell"] == "differs" and rule not in RECORDED_ONLY]

    def verdict_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for _, case in self.cases:
            per_kind = counts.setdefault(case.kind, {})
            per_kind[case.verdict] = per_kind.get(case.verdict, 0) + 1
        return counts

    def to_json(self) -> dict:
        return _json_safe({
            "implementation": self.implementation, "version": self.version,
            "torch_version": self.torch_version, "python": self.python,
            "devices": self.devices, "match": self.match, "adaptations": self.adaptations,
            "summary": {"verdicts": self.verdict_counts(), "rows_differ": self.broken},
            "matrix": self.matrix(),
            "cases": [dict(asdict(case), rule=rule) for rule, case in self.cases],
        })


def matrix_cell(rule: str, results: list[CaseResult]) -> dict:
    """One cell: ``{"cell": "✓" | "differs" | "unsupported" | "not run", "text": ...}``
    with the counts and, where it differs, the worst case's two values."""
    ran = [r for r in results if r.verdict not in ("skipped", "unsupported")]
    unsupported = [r for r in results if r.verdict == "unsupported"]
    failed = [r for r in ran if r.verdict not in ("matches", "raises")
              or (r.verdict == "raises" and r.kind != "bad_input")]
    if rule == "bad_input":
        failed = [r for r in ran if r.verdict == "crashes"
                  or (r.verdict == "accepts" and "torch raises" in r.note)]
    cell = {"cases": len(ran), "unsupported": len(unsupported), "differ": len(failed)}
    if not ran:
        if unsupported:
            return dict(cell, cell="unsupported", text=_most_common_note(unsupported))
        return dict(cell, cell="not run", text="no case")
    if failed:
        worst = max(failed, key=lambda r: (r.dtype == "float32", _badness(r)))
        if worst.kind == "contract":
            return dict(cell, cell="differs", text=_both_values(worst))
        return dict(cell, cell="differs", text=(
            f"{len(failed)} of {len(ran)}; e.g. {worst.name} ({worst.device}, {worst.dtype}): "
            + _both_values(worst)))
    if len(ran) == 1 and ran[0].kind == "contract":
        return dict(cell, cell="✓", text=ran[0].note or "holds")
    text = f"{len(ran)} cases" + (f"; {len(unsupported)} unsupported" if unsupported else "")
    return dict(cell, cell="✓", text=text)


def _badness(result: CaseResult) -> float:
    if result.verdict in ("raises", "crashes") or result.torch_loss is None:
        return math.inf
    errors = [e for e in (result.loss_rel_error, result.grad_rel_error) if e is not None]
    return max(errors, default=0.0)


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.6g}"


def _both_values(result: CaseResult) -> str:
    if result.torch_error:
        return f"raises: {result.torch_error}; reference {_fmt(result.reference_loss)}"
    if result.kind == "contract":
        return result.note
    if result.kind == "bad_input":
        if result.verdict == "crashes":
            return result.note
        return f"accepts, returns {_fmt(result.torch_loss)}; torch raises"
    text = f"loss {_fmt(result.torch_loss)} vs reference {_fmt(result.reference_loss)}"
    if result.note.startswith("gradient differs"):
        text += "; " + result.note
    return text


def _most_common_note(results: list[CaseResult]) -> str:
    notes: dict[str, int] = {}
    for r in results:
        notes[r.note] = notes.get(r.note, 0) + 1
    return max(notes, key=notes.get)


# --- the contracts --------------------------------------------------------------------


def _contract_inputs(device: str, weighted: bool):
    """2-D float32 logits (6, C), targets with one ignored, seeded weights."""
    generator = torch.Generator().manual_seed(2026)
    logits = (torch.randn(6, NUM_CLASSES, generator=generator) * 2.0).to(device)
    target = torch.tensor([0, 3, GRID_IGNORE_INDEX, 6, 2, 5]).to(device)
    weight = class_weights("random", NUM_CLASSES, generator).to(device) if weighted else None
    return logits, target, weight, {"ignore_index": GRID_IGNORE_INDEX, "reduction": "mean"}


def _largest_change(before: torch.Tensor, after: torch.Tensor) -> tuple[float, float, float]:
    """(largest |after − before|, before, after at that element)."""
    b, a = before.detach().double().reshape(-1).cpu(), after.detach().double().reshape(-1).cpu()
    if b.numel() == 0:
        return 0.0, math.nan, math.nan
    diff = (a - b).abs().nan_to_num(nan=math.inf)
    i = int(diff.argmax())
    return float(diff[i]), float(b[i]), float(a[i])


def inputs_unchanged_case(fn, device: str, weighted: bool, training: bool) -> CaseResult:
    mode = "training call (logits require grad, forward+backward)" if training \
        else "inference call (no grad)"
    result = CaseResult("contract", f"inputs unchanged, {mode}", device, "float32", "matches")
    logits, target, weight, kwargs = _contract_inputs(device, weighted)
    leaf = logits.clone().requires_grad_(training)
    saved = {"logits": logits, "target": target.clone(),
             "weight": None if weight is None else weight.clone()}
    try:
        if training:
            fn(leaf, target, weight=weight, **kwargs).sum().backward()
        else:
            with torch.no_grad():
                fn(leaf, target, weight=weight, **kwargs)
    except Exception as exc:  # noqa: BLE001 - recorded
        result.verdict, result.torch_error = "raises", error_text(exc)
        return result
    now = {"logits": leaf, "target": target, "weight": weight}
    changed = []
    for name, before in saved.items():
        if before is None:
            continue
        change, was, became = _largest_change(before, now[name])
        if not change == 0.0:
            changed.append(f"{name} changed: largest change {change:.6g} "
                           f"({was:.6g} became {became:.6g})")
            if result.torch_loss is None:
                result.torch_loss, result.reference_loss = became, was
    if changed:
        result.verdict = "differs"
        result.note = "; ".join(changed)
    return result


def repeatable_case(fn, device: str, weighted: bool) -> CaseResult:
    result = CaseResult("contract", "a second call on the same tensors (logits require grad) "
                        "gives the same loss", device, "float32", "matches")
    logits, target, weight, kwargs = _contract_inputs(device, weighted)
    leaf = logits.clone().requires_grad_(True)
    try:
        first = float(fn(leaf, target, weight=weight, **kwargs).detach().double())
        second = float(fn(leaf, target, weight=weight, **kwargs).detach().double())
    except Exception as exc:  # noqa: BLE001 - recorded
        result.verdict, result.torch_error = "raises", error_text(exc)
        return result
    result.torch_loss, result.reference_loss = second, first
    if not (first == second or (math.isnan(first) and math.isnan(second))):
        result.verdict = "differs"
        result.note = f"first call {first:.6g}, second call {second:.6g}"
    return result


def gradient_case(grid_results: list[CaseResult], device: str) -> CaseResult:
    """The gradient contract, from the grid: every case whose loss is compared must have
    its gradient within tolerance too."""
    compared = [r for r in grid_results if r.device == device and r.grad_rel_error is not None]
    off = [r for r in compared if r.note.startswith("gradient differs")]
    result = CaseResult("contract", "gradient matches the reference (every grid case)", device,
                        "float32", "matches" if compared else "skipped")
    if not compared:
        result.note = "no grid case ran"
        return result
    if off:
        worst = max(off, key=lambda r: (r.dtype == "float32", r.grad_abs_error or 0.0))
        result.verdict = "differs"
        result.grad_abs_error = worst.grad_abs_error
        result.note = (f"{len(off)} of {len(compared)} cases; e.g. {worst.name} ({worst.dtype}): "
                       f"{worst.note}")
    else:
        result.grad_abs_error = max(r.grad_abs_error or 0.0 for r in compared)
        result.note = (f"{len(compared)} cases; largest absolute error "
                       f"{result.grad_abs_error:.3g}")
    return result


# --- running it all ---------------------------------------------------------------------


def _unsupported(kind: str, name: str, device: str, dtype: str, reason: str) -> CaseResult:
    return CaseResult(kind, name, device, dtype, "unsupported", note=reason)


#: Seconds a bad-input case may take in its own process before it counts as hung.
ISOLATED_TIMEOUT_S = 300


def _isolated_bad_input_case(case, device: str, fn) -> CaseResult:
    """:func:`run_bad_input_case` in a forked child process (CPU only): misuse can make a
    kernel read out of bounds, and a crash must not take the whole check with it. A child
    that dies gives the verdict ``crashes`` with its signal."""
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)

    def child() -> None:
        import faulthandler

        faulthandler.disable()  # a crash here is the verdict, not a traceback to print
        try:
            sender.send(asdict(run_bad_input_case(case, device, fn)))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            sender.send({"error": error_text(exc)})

    process = ctx.Process(target=child, daemon=True)
    process.start()
    sender.close()
    try:
        got = receiver.recv() if receiver.poll(ISOLATED_TIMEOUT_S) else None
    except EOFError:  # the child died before it could send anything
        got = None
    process.join(5)
    if process.is_alive():
        process.kill()
        process.join()
    if isinstance(got, dict) and "error" not in got:
        return CaseResult(**got)
    result = CaseResult("bad_input", case.name, device, "float32", "crashes")
    if isinstance(got, dict):
        result.torch_error = got["error"]
        result.verdict = "raises"
    elif process.exitcode is not None and process.exitcode < 0:
        result.note = (f"the process died ({signal.Signals(-process.exitcode).name}): "
                       "the kernel read or wrote out of bounds")
    else:
        result.note = f"the process ended without a result (exit {process.exitcode})"
    return result


def _bad_input_against_torch(case, device: str, fn) -> CaseResult:
    if device == "cpu":
        result = _isolated_bad_input_case(case, device, fn)
    else:  # a CUDA context does not survive a fork
        result = run_bad_input_case(case, device, fn)
    if result.verdict == "crashes":
        torch_result = run_bad_input_case(case, device)
        result.note += "; torch " + ("raises: " + (torch_result.torch_error or "")
                                     if torch_result.verdict == "raises" else "accepts it")
        return result
    if result.verdict == "accepts":
        torch_result = run_bad_input_case(case, device)
        result.note = ("torch raises: " + (torch_result.torch_error or "")
                       if torch_result.verdict == "raises" else "torch accepts it too")
    result.rule_broken = False  # the reference's own rejection is checked with torch
    return result


def check_impl(name: str, devices: list[str], match: str | None = None) -> ImplReport:
    """Every case for implementation ``name`` on each of ``devices``; ``match`` (a regex on
    the case name) keeps only some grid cases. Raises :class:`Unavailable` when it runs on
    none of the devices."""
    import re

    impl: Implementation = impls.get(name)
    usable = {}
    reasons = []
    for device in devices:
        reason = impl.unavailable(device) or (
            None if device in impl.support.devices else f"{name} does not run on {device}")
        if reason:
            reasons.append(reason)
            continue
        usable[device] = impl.load(device)
    if not usable:
        raise Unavailable("; ".join(reasons))
    report = ImplReport(name, impl.version(), torch.__version__,
                        {d: device_name(d) for d in usable}, match=match)
    if name == "liger":
        from cebench.impls.liger import ENTRY_POINT

        if "by path" in ENTRY_POINT.get("loss", ""):
            report.adaptations.append(ENTRY_POINT["loss"])
    if name == "liger" and "cpu" in usable:
        report.adaptations.append(
            "CPU: Triton's interpreter (TRITON_INTERPRET=1), float scalar kernel arguments "
            "passed as float32 (compiled Triton's treatment of a Python float)")
    support = impl.support
    with single_cpu_thread():
        for device, fn in usable.items():
            rows = support.ranks == "2"
            for case in GOLDEN_CASES:
                result = run_golden_case(case, device, fn, rows=rows)
                if rows:
                    result.note += "; positions passed as (N·d, C) rows"
                report.cases.append(("golden", result))
            grid_results = []
            float32_matches = set()
            for case in grid_cases([device]):  # float32 before the other dtypes of a case
                if match and not re.search(match, case.name):
                    continue
                features = features_of_grid_case(case)
                reason = support.unsupported(features) or impl.device_limit(features, device)
                if reason and not case.skip_reason():
                    result = _unsupported("grid", case.name, device, case.dtype, reason)
                else:
                    result = run_grid_case(case, fn)
                if case.dtype == "float32" and result.verdict == "matches":
                    float32_matches.add(case.name)
                rule = rule_of(case, case.name in float32_matches)
                result.rule_broken = result.rule_broken and rule not in RECORDED_ONLY
                grid_results.append(result)
                report.cases.append((rule, result))
            report.cases.append(("gradient", gradient_case(grid_results, device)))
            weighted = support.weight
            for training in (True, False):
                report.cases.append(("inputs_unchanged",
                                     inputs_unchanged_case(fn, device, weighted, training)))
            report.cases.append(("repeatable", repeatable_case(fn, device, weighted)))
            for case in BAD_INPUT_CASES:
                report.cases.append(("bad_input", _bad_input_against_torch(case, device, fn)))
    return report


def unavailable_report(name: str, devices: list[str], reason: str) -> dict:
    """The stored form of an implementation that could not run here (every row 'not run',
    the reason in each cell), so that a release history shows it."""
    impl = impls.get(name)
    return _json_safe({
        "implementation": name, "version": impl.version(), "torch_version": torch.__version__,
        "python": platform.python_version(), "devices": {d: device_name(d) for d in devices},
        "adaptations": [], "unavailable": reason,
        "summary": {"verdicts": {}, "rows_differ": []},
        "matrix": {rule: {"cases": 0, "unsupported": 0, "differ": 0, "cell": "not run",
                          "text": reason} for rule in RULE_IDS},
        "cases": [],
    })


def format_matrix(report: ImplReport) -> str:
    lines = [f"{report.implementation} {report.version or ''} (torch {report.torch_version}; "
             + ", ".join(f"{d}: {n}" for d, n in report.devices.items()) + ")"]
    width = max(len(rule) for rule in RULE_IDS)
    for rule, cell in report.matrix().items():
        lines.append(f"  {rule:<{width}}  {cell['cell']:<11}  {cell['text']}")
    for text in report.adaptations:
        lines.append(f"  adaptation: {text}")
    return "\n".join(lines)
