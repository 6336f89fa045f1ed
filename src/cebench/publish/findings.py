"""docs/findings.md: what changed between consecutive torch releases, grouped by cause.

    cebench findings --write     # regenerate docs/findings.md
    text = render(results_dir)   # the page as Markdown (a site can embed it)

Every line comes from the results folder: the runs (:func:`cebench.results.load.load`),
`cebench compare`'s verdicts between each release and the one before it
(:func:`cebench.results.releases.consecutive_changes`), the builds and the semantics
verdicts stored per release, and the explanations ``cebench instructions --explain``
stored. A test checks that the committed page is what this renders.

A *finding* is one distinct change: the confirmed changes of one metric unit in one
direction between two consecutive releases (one cause is one finding, however many
cases it touches), with the cases as a pattern, the size range and the absolute values.
Changes that go back and forth between builds over the same cases are one finding.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from cebench.errors import InputError
from cebench.grid import cases as grid
from cebench.results import compare
from cebench.results import load as results
from cebench.results import releases
from cebench.results.rules import DEFAULT_ALPHA, DEFAULT_THRESHOLD, rule_lines

REPO = Path(__file__).resolve().parents[3]
DOC_PATH = REPO / "docs" / "findings.md"
RESULTS_DIR = REPO / "results"
#: ``<results>/<machine>/explanations/*.jsonl``: ``cebench instructions --explain --json``
#: records (one JSON line each; not ``.json``, which asv would read as a results file).
EXPLANATIONS_DIR = "explanations"
#: compare's verdicts for a change larger than its noise, and for one it could not test.
CHANGE_VERDICTS = [v for v in ("regression", "shared", "improvement") if v in compare.VERDICTS]
UNDECIDED_VERDICTS = [v for v in ("untested", "inconclusive") if v in compare.VERDICTS]
#: The axes that name an instruction-count case, and the pass.
CASE_AXES = tuple(grid.GRIDS["instructions"])
#: Groups over the same cases whose typical sizes are within this factor of each other, in
#: opposite directions in a row, are one back-and-forth finding.
FLIP_FLOP_SIZE_FACTOR = 2.0
#: How many functions an explanation's table lists.
TABLE_FUNCTIONS = 10
#: Functions whose names start so are code torch vendors (its build compiles them).
VENDORED = {"Sleef_": "SLEEF", "mkl_": "MKL", "dnnl_": "oneDNN", "mkldnn_": "oneDNN"}


def _md_table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return lines


def _pct(x: float) -> str:
    return f"{x:+.1%}".replace("+0.0%", "0.0%")


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --- findings: confirmed changes grouped by cause -------------------------------------------


@dataclasses.dataclass
class Finding:
    """One distinct change: the rows (compare's, one per benchmark and case) of one unit
    and direction between consecutive releases; several such steps when it flip-flops."""

    unit: str
    steps: list[pd.DataFrame]           # one frame of rows per release pair, in order

    @property
    def rows(self) -> pd.DataFrame:
        return pd.concat(self.steps, ignore_index=True)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return [(s["baseline_version"].iloc[0], s["candidate_version"].iloc[0])
                for s in self.steps]

    @property
    def flip_flop(self) -> bool:
        return len(self.steps) > 1

    @property
    def size(self) -> float:
        """The largest relative change, in absolute value (how findings are ordered)."""
        return float(self.rows["worse_by"].abs().max())


def case_keys(rows: pd.DataFrame) -> set[tuple]:
    """The cases (axes and pass) a frame of compare rows touches."""
    cols = [c for c in (*CASE_AXES, "pass", "benchmark") if c in rows.columns]
    return {tuple(str(v) for v in key) for key in rows[cols].itertuples(index=False)}


def group_findings(changes: pd.DataFrame) -> list[Finding]:
    """compare's confirmed changes between consecutive releases, as findings.

    Within a release pair, unit and direction, the changes of each case family form a
    group, and families whose typical (median) sizes are within
    :data:`FLIP_FLOP_SIZE_FACTOR` of each other are one group (one cause moving every
    family alike). Then groups that go in opposite directions in later steps over mostly
    the same cases (half the smaller group or more) with typical sizes within that factor
    are chained into one back-and-forth finding. Largest first."""
    confirmed = changes[changes["verdict"].isin(CHANGE_VERDICTS)] if len(changes) else changes
    if confirmed.empty:
        return []
    order = {v: i for i, v in enumerate(releases.release_order(
        pd.concat([changes["baseline_version"], changes["candidate_version"]])))}
    family = confirmed["family"].astype(str) if "family" in confirmed else ""
    groups = []
    for (base, _cand, unit, sign), rows in confirmed.groupby(
            ["baseline_version", "candidate_version", "unit_base",
             np.sign(confirmed["worse_by"])]):
        parts: list[pd.DataFrame] = []
        for _, part in rows.groupby(family[rows.index] if len(family) else [0] * len(rows)):
            for i, other in enumerate(parts):
                if _similar(part, other):
                    parts[i] = pd.concat([other, part])
                    break
            else:
                parts.append(part)
        groups += [(order.get(base, 0), unit, sign, part) for part in parts]
    groups.sort(key=lambda g: g[0])
    findings: list[Finding] = []
    for _, unit, sign, rows in groups:
        keys = case_keys(rows)
        for finding in findings:
            last = finding.steps[-1]
            last_keys = case_keys(last)
            if (finding.unit == unit and np.sign(last["worse_by"].iloc[0]) == -sign
                    and len(keys & last_keys) >= 0.5 * min(len(keys), len(last_keys))
                    and _similar(rows, last)):
                finding.steps.append(rows)
                break
        else:
            findings.append(Finding(unit, [rows]))
    findings.sort(key=lambda f: -f.size)
    return findings


def _similar(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Typical sizes (median absolute change) within :data:`FLIP_FLOP_SIZE_FACTOR`."""
    ratio = a["worse_by"].abs().median() / b["worse_by"].abs().median()
    return 1 / FLIP_FLOP_SIZE_FACTOR <= ratio <= FLIP_FLOP_SIZE_FACTOR


def case_pattern(rows: pd.DataFrame, universe: pd.DataFrame) -> str:
    """The cases ``rows`` touch, as a pattern over the cases compared (``universe``):
    'every case, both passes (84 of 84)', 'every small case, both passes (36 of 84)', or
    the values of each axis it is limited to (each axis read among the cases the axes
    before it allow) and whether it touches every combination of them."""
    keys, every = case_keys(rows), case_keys(universe)
    count = f"{len(keys)} of {len(every)}"
    if keys >= every:
        return f"every case, both passes ({count})"
    parts, inside = [], universe
    for axis in (a for a in (*CASE_AXES, "pass") if a in rows.columns):
        have = sorted({str(v) for v in rows[axis].dropna()})
        if have != sorted({str(v) for v in inside[axis].dropna()}):
            parts.append((axis, have))
        inside = inside[inside[axis].astype(str).isin(have)]
    complete = len(keys) >= len(case_keys(inside))
    if complete and [axis for axis, _ in parts] == ["family"]:
        return f"every {', '.join(parts[0][1])} case, both passes ({count})"
    some = "" if complete else ", not every combination of these"
    shown = "; ".join(f"{axis} {', '.join(have)}" for axis, have in parts) or "some cases"
    return f"{shown} ({count}{some})"


def case_label(row) -> str:
    """'small-seg.contiguous.float32.mean.w-none, forward' for an instruction-count row."""
    try:
        case = grid.Case(**{a: row[a] for a in CASE_AXES})
        return f"`{case.name}`, {row['pass']}"
    except (KeyError, TypeError, ValueError):
        return f"`{row.get('params', '')}`"


def _value(x: float, unit: str) -> str:
    return f"{x:,.0f}" if unit == "instructions" else f"{x:.4g}"


def _size_lines(step: pd.DataFrame, unit: str) -> list[str]:
    lo, hi = step.loc[step["worse_by"].idxmin()], step.loc[step["worse_by"].idxmax()]
    lines = []
    for label, row in (("largest", hi if abs(hi["worse_by"]) >= abs(lo["worse_by"]) else lo),
                       ("smallest", lo if abs(hi["worse_by"]) >= abs(lo["worse_by"]) else hi)):
        lines.append(f"{label}: {case_label(row)}: {_value(row['value_base'], unit)} → "
                     f"{_value(row['value_cand'], unit)} {unit} per call "
                     f"({_pct(row['worse_by'])})")
    return lines if len(step) > 1 else lines[:1]


def _range(step: pd.DataFrame) -> str:
    lo, hi = step["worse_by"].min(), step["worse_by"].max()
    return _pct(lo) if np.isclose(lo, hi, atol=5e-4) else f"{_pct(lo)} … {_pct(hi)}"


def finding_title(finding: Finding) -> str:
    if finding.flip_flop:
        marks = ", ".join(f"{cand} {'↑' if s['worse_by'].iloc[0] > 0 else '↓'}"
                          for (_, cand), s in zip(finding.pairs, finding.steps))
        sizes = finding.rows["worse_by"].abs()
        return (f"{finding.unit} back and forth between builds, ±{sizes.min():.1%} … "
                f"±{sizes.max():.1%}: {marks}")
    (base, cand), step = finding.pairs[0], finding.steps[0]
    word = "rose" if step["worse_by"].iloc[0] > 0 else "fell"
    return f"{base} → {cand}: {finding.unit} {word} {_range(step)}"


# --- explanations and builds ----------------------------------------------------------------


def load_explanations(results_dir: Path, machine: str) -> list[dict]:
    """The ``cebench instructions --explain --json`` records stored for ``machine``."""
    records = []
    for path in sorted((Path(results_dir) / machine / EXPLANATIONS_DIR).glob("*.jsonl")):
        try:
            record = json.loads(path.read_text().splitlines()[0])
            record["case"], record["pass"], record["functions"]  # noqa: B018 (required keys)
        except (ValueError, IndexError, KeyError, TypeError, OSError) as exc:
            raise InputError(f"{path}: not a record of `cebench instructions --explain --json` "
                             f"({type(exc).__name__}: {exc})") from None
        records.append(dict(record, file=path.name))
    return records


def _release(build) -> str:
    return str(build).split("+")[0] if build else ""


def _explains(record: dict, finding: Finding) -> bool:
    pairs = set(finding.pairs)
    if (_release(record["baseline"].get("torch_version")),
            _release(record["candidate"].get("torch_version"))) not in pairs:
        return False
    return any(case_label(row) == f"`{record['case']}`, {record['pass']}"
               for _, row in finding.rows.iterrows())


def _build_change(base: dict | None, cand: dict | None) -> str | None:
    """'compiler GCC 11.2 → GCC 13.3; oneDNN v3.7.1 → v3.9.2' (what differs), or None."""
    if not base or not cand:
        return None
    parts = [f"{label} {base.get(key)} → {cand.get(key)}"
             for key, label in (("compiler", "compiler"), ("cxx_standard", "C++"),
                                ("mkl", "MKL"), ("onednn", "oneDNN"))
             if base.get(key) != cand.get(key)]
    return "; ".join(parts) if parts else "the same compiler and libraries"


def _vendor(function: str) -> str | None:
    return next((lib for prefix, lib in VENDORED.items() if function.startswith(prefix)), None)


def explanation_lines(record: dict, builds: dict[str, dict]) -> list[str]:
    """What carries one stored change: the functions by self counts, with calls and
    instructions per call before and after, and what the names and builds say."""
    b, c = record["baseline"], record["candidate"]
    total = c["instructions_per_call"] - b["instructions_per_call"]
    lines = [f"Explained (`{record['file']}`, `{record['case']}`, {record['pass']}): "
             f"{b['instructions_per_call']:,.0f} → {c['instructions_per_call']:,.0f} "
             f"instructions per call ({total:+,.0f}), torch {b.get('torch_version')} → "
             f"{c.get('torch_version')}, counted again with `cebench instructions --explain`."]
    if record.get("ranking") != "self":
        lines += ["This record ranks inclusive counts (each function with its callees), "
                  "which symbols renamed or inlined between builds dominate; it names no "
                  "cause.", ""]
        return lines
    functions = record["functions"]
    if not functions or not total:
        return lines + ["No function's count changed.", ""]
    units = carrier_units(functions)
    top = units[0]
    share = top["change"] / total
    carrier = f"{top['label']} carries {top['change']:+,.0f} per call, {share:.0%} of the change"
    single = top["functions"][0] if len(top["functions"]) == 1 else None
    if single and single["baseline_calls_per_call"] and single["candidate_calls_per_call"]:
        before = single["baseline_self_per_call"] / single["baseline_calls_per_call"]
        after = single["candidate_self_per_call"] / single["candidate_calls_per_call"]
        carrier += (f": {single['baseline_calls_per_call']:,.0f} → "
                    f"{single['candidate_calls_per_call']:,.0f} calls per loss call × "
                    f"{before:,.1f} → {after:,.1f} instructions a call")
    lines += ["", f"- carrier: {carrier}."]
    for unit in units[1:3]:
        lines.append(f"- then: {unit['label']} {unit['change']:+,.0f} per call "
                     f"({unit['change'] / total:.0%}).")
    base_build = {**builds.get(_release(b.get("torch_version")), {}), **(b.get("build") or {})}
    cand_build = {**builds.get(_release(c.get("torch_version")), {}), **(c.get("build") or {})}
    build_change = _build_change(base_build, cand_build)
    compiler_changed = bool(build_change) and build_change != "the same compiler and libraries"
    vendored = sum(f["candidate_self_per_call"] - f["baseline_self_per_call"]
                   for f in functions if _vendor(f["function"]))
    moved = [u for u in units if len(u["functions"]) > 1]
    listed = sum(u["change"] for u in units)
    if abs(vendored) >= 0.5 * abs(total):
        libs = sorted({_vendor(f["function"]) for f in functions if _vendor(f["function"])})
        cause = (f"the build: {vendored / total:.0%} of the change is in code torch vendors "
                 f"({', '.join(libs)}), compiled into each build, not in torch's own source")
    elif moved and abs(sum(u["change"] for u in moved)) >= 0.5 * abs(total) and compiler_changed:
        cause = ("the build: most of the change is code that moved between functions "
                 "(inlined, renamed) while the compiler changed")
    elif abs(listed) < 0.5 * abs(total):
        cause = (f"not known: the {len(functions)} functions listed carry only "
                 f"{listed / total:.0%} of the change")
    else:
        cause = ("torch's own code; the build "
                 + ("changed too, so source and compiler are not told apart"
                    if compiler_changed else "did not change"))
    lines.append(f"- cause: {cause}.")
    shown = functions[:TABLE_FUNCTIONS]
    lines += ["", f"The {len(shown)} functions whose self count per loss call changed most:", ""]
    lines += _md_table(
        ["change", "self before", "self after", "calls before → after",
         "instructions a call before → after", "function", "note"],
        [[f"{f['candidate_self_per_call'] - f['baseline_self_per_call']:+,.0f}",
          f"{f['baseline_self_per_call']:,.0f}", f"{f['candidate_self_per_call']:,.0f}",
          f"{f['baseline_calls_per_call']:,.0f} → {f['candidate_calls_per_call']:,.0f}",
          _per_call_pair(f), f"`{f['function']}`", f.get("note", "")] for f in shown])
    lines += [""]
    return lines


_PARTNER = re.compile(r"^(?:moved|renamed): .*`(.+)`$")


def carrier_units(functions: list[dict]) -> list[dict]:
    """The listed functions as units of change, largest net change first: a function that
    moved between builds (its note names the other) and its partner are one unit, labelled
    '`A` → `B` (moved)', with their changes summed; every other function is its own."""
    by_name = {f["function"]: f for f in functions}
    units, done = [], set()
    for f in functions:
        if f["function"] in done:
            continue
        match = _PARTNER.match(f.get("note", ""))
        partner = by_name.get(match.group(1)) if match else None
        members = [f] if partner is None or partner["function"] in done else [f, partner]
        done.update(m["function"] for m in members)
        if len(members) == 2:
            old, new = sorted(members, key=lambda m: m["candidate_self_per_call"]
                              - m["baseline_self_per_call"])
            label = f"`{old['function']}` → `{new['function']}` (moved between builds)"
        else:
            label = f"`{f['function']}`"
        units.append({"label": label, "functions": members,
                      "change": sum(m["candidate_self_per_call"] - m["baseline_self_per_call"]
                                    for m in members)})
    units.sort(key=lambda u: -abs(u["change"]))
    return units


def _per_call_pair(f: dict) -> str:
    def one(self_, calls):  # fewer than one instruction a call: not a count of entries
        return f"{self_ / calls:,.1f}" if calls and self_ >= calls else "-"
    return (f"{one(f['baseline_self_per_call'], f['baseline_calls_per_call'])} → "
            f"{one(f['candidate_self_per_call'], f['candidate_calls_per_call'])}")


def _explain_command(finding: Finding, machine: str,
                     lead: str = "No explanation recorded.") -> list[str]:
    step = finding.steps[0]
    row = step.loc[step["worse_by"].abs().idxmax()]
    base, cand = finding.pairs[0]
    try:
        name = grid.Case(**{a: row[a] for a in CASE_AXES}).name
    except (KeyError, TypeError, ValueError):
        return [lead, ""]
    return [f"{lead} In two environments holding these releases, run", "",
            f"    cebench instructions --explain {name} --pass {row['pass']} "
            f"--python PYTHON_WITH_TORCH_{cand} --baseline PYTHON_WITH_TORCH_{base} "
            f"--json results/{machine}/{EXPLANATIONS_DIR}/{base}-to-{cand}.{name}."
            f"{row['pass']}.jsonl", "", "then `cebench findings --write`.", ""]


# --- the page -----------------------------------------------------------------------------


def render(results_dir: Path = RESULTS_DIR) -> str:
    """The findings page, Markdown (a top-level heading, then sections)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = results.load(results_dir)
        changes = releases.consecutive_changes(df, threshold=DEFAULT_THRESHOLD,
                                               alpha=DEFAULT_ALPHA)
    heads, sem_cases = releases.load_semantics(results_dir)
    builds = releases.load_builds(results_dir)
    rules = rule_lines(DEFAULT_THRESHOLD, DEFAULT_ALPHA)
    machines = []
    for machine, rows in df.groupby("machine"):
        here = changes[changes["machine"] == machine] if len(changes) else changes
        machines.append((machine, rows, here, group_findings(here),
                         load_explanations(results_dir, machine),
                         builds[builds["machine"] == machine] if len(builds) else builds))
    lines = ["# Findings across torch releases", "",
             "Generated by `cebench findings --write` from the results in `results/` (a test "
             "checks it is current). Each finding is one distinct change between consecutive "
             "releases, with the cases it touches, its size and, where it was measured again "
             "function by function, its cause.", ""]
    lines += ["## Summary", ""]
    for machine, rows, here, findings, explanations, machine_builds in machines:
        lines += _summary(machine, here, findings, explanations,
                          heads[heads["machine"] == machine] if len(heads) else heads,
                          sem_cases[sem_cases["machine"] == machine] if len(sem_cases)
                          else sem_cases)
    lines += ["## How to read it", "",
              f"- The {rules['count']}.",
              f"- The {rules['time']}.",
              "- Each release is compared with the one before it at one commit per benchmark: "
              "the newest commit that measured it on both.",
              "- Instructions are not time: an instruction count is what one call executes "
              "under valgrind, on one thread, blind to caches, memory bandwidth and "
              "parallelism. It moves when the code that runs changes, which makes it a "
              "deterministic alarm, not a speed.",
              _capability_caveat(machines),
              "- The cases: " + _families() + " Layouts: contiguous; channels_last (NHWC "
              "memory, 4-D only); noncontig (a transposed (N, C) view, or every other column "
              "of an NCHW buffer); prob_targets (probability targets shaped like the logits). "
              "Reductions none, mean, sum; weighting none or random positive class weights; "
              "forward (no grad) and forward_backward (the loss and its gradient).", ""]
    for machine, rows, here, findings, explanations, machine_builds in machines:
        lines += _machine_section(machine, rows, here, findings, explanations, machine_builds,
                                  heads[heads["machine"] == machine] if len(heads) else heads,
                                  sem_cases[sem_cases["machine"] == machine] if len(sem_cases)
                                  else sem_cases)
    return "\n".join(lines).rstrip() + "\n"


def _families() -> str:
    shapes = {name: grid.FAMILIES[name] for name in grid.GRIDS["instructions"]["family"]}
    parts = []
    for name, shape in shapes.items():
        if len(shape) == 2:
            parts.append(f"`{name}` is {shape[0]:,} rows of {shape[1]:,} classes "
                         f"(logits {shape}, float32)")
        else:
            parts.append(f"`{name}` is {shape[0]} images of {shape[2]}×{shape[3]} pixels, "
                         f"{shape[1]} classes (logits {shape}, float32: the K-dim path)")
    return "; ".join(parts) + "."


def _capability_caveat(machines) -> str:
    native = sorted({str(v) for *_, b in machines if len(b) and "cpu_capability_native" in b
                     for v in b["cpu_capability_native"].dropna()})
    under = sorted({str(side.get("valgrind_cpu_capability")) for *_, e, _b in machines
                    for rec in e for side in (rec["baseline"], rec["candidate"])
                    if side.get("valgrind_cpu_capability")})
    text = ("- Under valgrind, which emulates no AVX-512, torch runs its "
            + (f"{'/'.join(under)} kernels (as recorded by each explanation run)"
               if under else "AVX2 kernels at most"))
    if native:
        text += (f"; natively, the machines measured here run torch's {'/'.join(native)} "
                 "kernels (each release's build record). On a CPU with AVX-512 torch picks "
                 "its AVX-512 kernels natively, which valgrind never counts.")
    return text


def _summary(machine, changes, findings, explanations, heads, sem_cases) -> list[str]:
    lines = [f"Machine `{machine}`:", ""]
    if not findings:
        lines.append("- no change confirmed between consecutive releases.")
    for finding in findings[:5]:
        line = f"- {finding_title(finding)}"
        if not finding.flip_flop:
            line += f", {case_pattern(finding.steps[0], _universe(changes, finding, 0))}"
        found = [e for e in explanations if _explains(e, finding)
                 and e.get("ranking") == "self" and e["functions"]]
        if found:
            record = found[0]
            total = (record["candidate"]["instructions_per_call"]
                     - record["baseline"]["instructions_per_call"])
            top = carrier_units(record["functions"])[0]
            line += f"; carried by {top['label']} ({top['change'] / total:.0%} of it)"
        lines.append(line + ".")
    if len(findings) > 5:
        lines.append(f"- and {len(findings) - 5} smaller findings below.")
    undecided = changes[changes["verdict"].isin(UNDECIDED_VERDICTS)
                        & (changes["worse_by"].abs() > DEFAULT_THRESHOLD)] if len(changes) \
        else changes
    if len(undecided):
        lines.append(f"- {len(undecided)} changes beyond {DEFAULT_THRESHOLD:.0%} that compare "
                     "could not test (one run per side, no samples): neither confirmed nor "
                     "ruled out.")
    broken = heads["rules_broken"].fillna(0).sum() if len(heads) else 0
    changed = releases.semantic_changes(sem_cases) if len(sem_cases) else sem_cases
    if len(heads):
        lines.append(f"- semantics: {int(broken)} documented rule broken in "
                     f"{len(heads)} releases; {len(changed)} outcome(s) changed between "
                     "releases.")
    return lines + [""]


def _universe(changes: pd.DataFrame, finding: Finding, step: int) -> pd.DataFrame:
    base, cand = finding.pairs[step]
    return changes[(changes["baseline_version"] == base) & (changes["candidate_version"] == cand)
                   & (changes["unit_base"] == finding.unit)]


def _machine_section(machine, df, changes, findings, explanations, builds, heads,
                     sem_cases) -> list[str]:
    cpu = df["cpu"].dropna().iloc[0] if df["cpu"].notna().any() else None
    lines = [f"## Machine `{machine}`" + (f" ({cpu})" if cpu else ""), ""]
    lines += _releases_table(df, builds, heads)
    lines += ["### Findings, largest first", ""]
    if not findings:
        lines += ["No change confirmed between consecutive releases.", ""]
    by_release = {r.release: r._asdict() for r in builds.itertuples(index=False)} \
        if len(builds) else {}
    for number, finding in enumerate(findings, 1):
        lines += [f"#### {number}. {finding_title(finding)}", ""]
        for i, step in enumerate(finding.steps):
            base, cand = finding.pairs[i]
            prefix = f"{base} → {cand}: " if finding.flip_flop else ""
            lines.append(f"- {prefix}{_range(step)}, "
                         f"{case_pattern(step, _universe(changes, finding, i))}; "
                         + "; ".join(_size_lines(step, finding.unit)) + ".")
        if finding.flip_flop:
            first, last = finding.steps[0], finding.steps[-1]
            merged = first.merge(last, on="key", suffixes=("_first", "_last"))
            if len(merged):
                net = merged["value_cand_last"] / merged["value_base_first"] - 1
                lines.append(f"- net from {finding.pairs[0][0]} to {finding.pairs[-1][1]} over "
                             f"the cases in both steps: {_pct(net.min())} … {_pct(net.max())}.")
        base_build = by_release.get(finding.pairs[0][0])
        cand_build = by_release.get(finding.pairs[0][1])
        if not finding.flip_flop and _build_change(base_build, cand_build):
            lines.append(f"- build: {_build_change(base_build, cand_build)}.")
        lines.append("")
        if finding.unit != "instructions":
            continue
        found = [e for e in explanations if _explains(e, finding)]
        found.sort(key=lambda e: e.get("ranking") != "self")
        for record in found:
            lines += explanation_lines(record, by_release)
        if not found:
            lines += _explain_command(finding, machine)
        elif not any(record.get("ranking") == "self" for record in found):
            lines += _explain_command(finding, machine, "To rank self counts:")
    lines += _undecided_section(changes)
    lines += _semantics_section(heads, sem_cases)
    return lines


def _releases_table(df, builds, heads) -> list[str]:
    lines = ["### Releases measured", ""]
    runs = releases.with_replicates(df)
    by_build = {r.release: r for r in builds.itertuples(index=False)} if len(builds) else {}
    checked = {h.release: h for h in heads.itertuples(index=False)} if len(heads) else {}
    table = []
    for version in releases.release_order(df["torch_version"].dropna()):
        here = runs[runs["torch_version"] == version]
        build, head = by_build.get(version), checked.get(version)
        torch_build = (getattr(build, "torch_version", None) if build is not None else None) \
            or (head.torch_build if head is not None else None) or version
        cell = (lambda key: getattr(build, key, None) or "-") if build is not None \
            else (lambda key: "-")
        table.append([version, torch_build, cell("compiler"), cell("cxx_standard"),
                      cell("mkl"), cell("onednn"), cell("cpu_capability_native"),
                      here["file"].nunique(), here["commit"].nunique(),
                      here["benchmark"].nunique(),
                      head.rules_broken if head is not None else "-"])
    lines += _md_table(["release", "torch build", "compiler", "C++", "MKL", "oneDNN",
                        "CPU capability (native)", "results files", "commits", "benchmarks",
                        "semantic rules broken"], table) + [""]
    if not len(builds):
        lines += ["No build recorded: `cebench instructions --build --python PYTHON --json "
                  "results/<machine>/builds/torch-RELEASE.jsonl` records one.", ""]
    return lines


def _undecided_section(changes) -> list[str]:
    lines = [f"### Changes beyond {DEFAULT_THRESHOLD:.0%} that compare could not test", ""]
    if not len(changes):
        return lines + ["No benchmark was measured on both releases of a pair at one commit.",
                        ""]
    undecided = changes[changes["verdict"].isin(UNDECIDED_VERDICTS)
                        & (changes["worse_by"].abs() > DEFAULT_THRESHOLD)]
    if undecided.empty:
        return lines + ["none.", ""]
    lines += ["Values without samples or replicate runs on a side: neither confirmed nor "
              "ruled out. Per release pair and metric:", ""]
    rows = []
    for (base, cand, name), part in undecided.groupby(
            ["baseline_version", "candidate_version", "short_name_base"], sort=False):
        rows.append([f"{base} → {cand}", f"`{name}`", part["unit_base"].iloc[0], len(part),
                     f"{_pct(part['worse_by'].min())} … {_pct(part['worse_by'].max())}"])
    order = {v: i for i, v in enumerate(releases.release_order(changes["baseline_version"]))}
    rows.sort(key=lambda r: (order.get(r[0].split(" ")[0], 0), r[1]))
    return lines + _md_table(["releases", "metric", "unit", "changes", "range"], rows) + [""]


def _semantics_section(heads, sem_cases) -> list[str]:
    lines = ["### Semantic changes", ""]
    if heads.empty:
        return lines + ["No semantics verdicts recorded.", ""]
    changed = releases.semantic_changes(sem_cases)
    order = releases.release_order(heads["release"])
    any_change = False
    for base, cand in zip(order, order[1:]):
        here = changed[(changed["baseline_version"] == base)
                       & (changed["candidate_version"] == cand)]
        if here.empty:
            continue
        any_change = True
        lines += [f"#### {base} → {cand}", ""]
        lines += _md_table(["kind", "case", "dtype", base, cand],
                           [[r.kind, r.name, r.dtype, r.before, r.after]
                            for r in here.itertuples(index=False)]) + [""]
    if not any_change:
        lines += [f"None: every case had the same outcome in {', '.join(order)}.", ""]
    return lines
