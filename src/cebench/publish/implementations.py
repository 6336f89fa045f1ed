"""The implementations page: the computed conclusion that analysis/implementations.ipynb
opens with, the support x conformance matrix, and docs/implementations.md.

    lines = implementations.conclusion(df, cells)   # df: results.load.load(...);
                                                    # cells: results.impls.load(...)[1]
    implementations.write_doc()                     # docs/implementations.md

Every figure comes from the stored results (asv results of ``bench_impls``; the verdicts
``cebench check --impl NAME --record`` stored) or from the implementations' own
declarations (:mod:`cebench.impls`); ``tests/test_impls_doc.py`` fails when the committed
doc and :func:`render_doc` disagree.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cebench.grid.cases import IMPLEMENTATIONS
from cebench.publish.conclusions import LEVEL, ratio_with_interval, signed_percent
from cebench.results import impls as stored
from cebench.results import load as results

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "implementations.md"
RESULTS_DIR = Path(__file__).resolve().parents[3] / "results"
PASS_WORDS = {"forward": "forward", "forward_backward": "forward+backward"}
MARKS = {"✓": "✓", "differs": "differs", "unsupported": "unsupported", "not run": "–"}


# --- conformance -------------------------------------------------------------------------

def conformance_lines(cells: pd.DataFrame) -> list[str]:
    """Which implementations keep the weighted semantics (newest stored version of each,
    per machine) and which rows differ, with the first such row's words."""
    if cells.empty:
        return ["No implementation verdicts stored: run `cebench check --impl NAME --record`."]
    from cebench.semantics.conformance.impls import RECORDED_ONLY

    lines = []
    latest = stored.newest(cells)
    for machine, part in latest.groupby("machine"):
        keep, differ = [], []
        for impl in _ordered(part["implementation"].unique()):
            rows = part[part["implementation"] == impl]
            label = f"{impl} {rows['version'].iloc[0]}"
            broken = rows[(rows["cell"] == "differs") & ~rows["rule"].isin(RECORDED_ONLY)]
            if broken.empty:
                keep.append(label)
            else:
                differ.append(f"{label} in {', '.join(broken['rule'])}")
        text = f"**`{machine}`**: " + (
            f"{', '.join(keep)} keep{'s' if len(keep) == 1 else ''} every checked rule of the "
            "weighted semantics" if keep else "no implementation keeps every checked rule")
        if differ:
            text += "; differ: " + "; ".join(differ)
        lines.append(text + ".")
    return lines


def _ordered(names) -> list[str]:
    return sorted(names, key=lambda n: (IMPLEMENTATIONS.index(n) if n in IMPLEMENTATIONS
                                        else len(IMPLEMENTATIONS), n))


# --- time and instructions --------------------------------------------------------------

def ratio_rows(df: pd.DataFrame, impl: str = "compile") -> pd.DataFrame:
    """``ImplVsEager`` ratios of ``impl`` (its time / eager's, paired), newest runs."""
    if df.empty or "impl" not in df:
        return df.iloc[0:0]
    rows = results.ok(results.latest_runs(df), "ImplVsEager.")
    return rows[rows["impl"] == impl]


def compile_lines(df: pd.DataFrame, counts: pd.DataFrame | None = None) -> list[str]:
    """What compile costs or saves against eager, per machine and torch version, weighted
    and unweighted, per pass: geometric mean of the paired ratios over the cases with a
    95 % interval across cases; the compile time on cold caches; instructions per call
    (``counts``, :func:`cebench.results.impls.load_instructions`)."""
    rows = ratio_rows(df)
    if rows.empty:
        return ["No compile-vs-eager results (`bench_impls.ImplVsEager`): "
                "`CEBENCH_IMPLS=1 bash scripts/run-suite.sh --bench ImplVsEager` measures them."]
    lines = []
    for (machine, version), part in rows.groupby(["machine", "torch_version"]):
        parts = []
        for weighting, by_weight in part.groupby("weighting"):
            per_pass = []
            for pass_, cases in by_weight.groupby("pass"):
                per_case = cases.groupby(["family", "dtype"])["value"].agg(results.geometric_mean)
                per_pass.append(f"{ratio_with_interval(per_case)} {PASS_WORDS.get(pass_, pass_)}")
            words = "unweighted" if weighting == "none" else f"weight {weighting}"
            parts.append(f"{words}: " + ", ".join(per_pass))
        n_cases = part.groupby(["family", "dtype"]).ngroups
        text = (f"**`{machine}`, torch {version}**: compile's time against eager's "
                + "; ".join(parts) + f" (paired ratios, geometric mean over {n_cases} cases, "
                f"{LEVEL:.0%} interval across cases)")
        extra = _compile_seconds_words(df, machine, version)
        instruction_words = _instruction_words(counts, machine, version)
        lines.append(text + "".join(f"; {w}" for w in (extra, instruction_words) if w) + ".")
    return lines


def _compile_seconds_words(df, machine, version) -> str:
    rows = results.ok(results.latest_runs(df), "CompileTime.")
    rows = rows[(rows["machine"] == machine) & (rows["torch_version"] == version)]
    if rows.empty:
        return ""
    per_pass = rows.groupby("pass")["value"].median()
    return "first compile on cold caches " + ", ".join(
        f"{seconds:.1f} s {PASS_WORDS.get(p, p)}" for p, seconds in per_pass.items())


def instruction_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Instructions per call of each implementation (``counts``: the records
    :func:`cebench.results.impls.load_instructions` reads): one row per machine, torch
    version, case and pass; a column per implementation and the ratio of each to eager."""
    if counts is None or counts.empty:
        return pd.DataFrame()
    table = counts.pivot_table(index=["machine", "torch_version", "case", "pass"],
                               columns="impl", values="instructions_per_call", aggfunc="median")
    for impl in [c for c in table.columns if c != "eager"]:
        if "eager" in table:
            table[f"{impl}/eager"] = table[impl] / table["eager"]
    return table


def _instruction_words(counts, machine, version) -> str:
    table = instruction_table(counts)
    if table.empty or "compile/eager" not in table:
        return ""
    try:
        part = table.xs((machine, version), level=("machine", "torch_version"))
    except KeyError:
        return ""
    words = []
    for pass_, by_pass in part.groupby(level="pass"):
        ratios = by_pass["compile/eager"].dropna()
        words.append(f"{', '.join(signed_percent(r) for r in ratios)} "
                     f"{PASS_WORDS.get(pass_, pass_)}")
    cases = ", ".join(sorted(set(part.index.get_level_values("case"))))
    return f"instructions per call against eager {'; '.join(words)} ({cases})"


def conclusion(df: pd.DataFrame, cells: pd.DataFrame, counts: pd.DataFrame | None = None
               ) -> list[str]:
    """The page's opening: semantics first (a wrong but fast kernel is a finding), then
    what compile costs or saves against eager."""
    return conformance_lines(cells) + compile_lines(df, counts)


# --- the matrix and the release history -------------------------------------------------

def matrix_table(cells: pd.DataFrame) -> pd.DataFrame:
    """Rule x implementation (newest stored version per machine), each cell's words."""
    from cebench.semantics.conformance.impls import RULE_IDS

    return stored.matrix(cells, order=list(IMPLEMENTATIONS), rules=list(RULE_IDS))


def release_table(cells: pd.DataFrame, impl: str = "liger") -> pd.DataFrame:
    """Rule x release of one implementation: each cell's mark (✓, differs, unsupported)."""
    from cebench.semantics.conformance.impls import RULE_IDS

    part = cells[cells["implementation"] == impl] if len(cells) else cells
    if part.empty:
        return pd.DataFrame()
    table = part.pivot_table(index="rule", columns="version", values="cell", aggfunc="first")
    table = table[sorted(table.columns, key=stored.version_key)]
    return table.reindex([r for r in RULE_IDS if r in table.index])


def release_changes(cells: pd.DataFrame, impl: str = "liger") -> list[str]:
    """The releases that did not run here (with the reason), then where a row's verdict
    changed from one checked release to the next."""
    table = release_table(cells, impl)
    if table.empty:
        return []
    part = cells[cells["implementation"] == impl]
    lines, checked = [], []
    for version in table.columns:
        if (table[version] == "not run").all():
            reason = part[part["version"] == version]["text"].iloc[0]
            lines.append(f"{version}: not checked ({reason})")
        else:
            checked.append(version)
    for rule, marks in table[checked].iterrows():
        for before, after in zip(checked, checked[1:]):
            if marks[before] != marks[after]:
                lines.append(f"{rule}: {marks[before]} in {before}, {marks[after]} in {after}")
    return lines


# --- docs/implementations.md ------------------------------------------------------------

def _md_table(table: pd.DataFrame, index_name: str) -> list[str]:
    header = [index_name, *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        cells = [str(v).replace("|", "\\|") if pd.notna(v) else "–" for v in row]
        lines.append("| " + " | ".join([str(index), *cells]) + " |")
    return lines


def _support_lines() -> list[str]:
    from cebench import impls

    header = ("implementation", "weight", "ignore_index", "label smoothing", "reductions",
              "prob targets", "K-dim", "dtypes", "runs on", "timed on", "torch")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in IMPLEMENTATIONS:
        impl = impls.get(name)
        s = impl.support_for(None)
        yes = {True: "yes", False: "no"}
        lines.append("| " + " | ".join([
            f"`{name}`", yes[s.weight], yes[s.ignore_index], yes[s.label_smoothing],
            ", ".join(s.reductions), yes[s.prob_targets], yes[s.ranks == "any"],
            ", ".join(s.dtypes), ", ".join(s.devices), ", ".join(s.timed_devices),
            s.torch]) + " |")
    lines.append("")
    for name in IMPLEMENTATIONS:
        impl = impls.get(name)
        notes = list(impl.support_for(None).notes) + list(impl.caveats)
        lines.append(f"- **`{name}`** ({impl.title}): {impl.measured_as}."
                     + "".join(f" {n[0].upper()}{n[1:]}." for n in notes))
    return lines


def render_doc(results_dir: Path = RESULTS_DIR) -> str:
    """The text of docs/implementations.md from the implementations' declarations and the
    verdicts stored under ``results_dir``."""
    from cebench.semantics.conformance.impls import RULES

    heads, cells = stored.load(results_dir)
    lines = [_DOC_HEAD, "## What each implementation supports", "", *_support_lines(), "",
             _DOC_MEASURED, "## The rules each implementation is checked on", ""]
    lines += [f"- `{rule}`: {words}." for rule, words in RULES]
    lines += ["", "## Support × conformance", ""]
    if cells.empty:
        lines += ["No verdicts stored yet (`cebench check --impl NAME --record`).", ""]
    for machine, part in (cells.groupby("machine") if len(cells) else []):
        versions = heads[heads["machine"] == machine]
        lines += [f"### `{machine}`", ""]
        lines += [f"- {line}" for line in conformance_lines(part)]
        lines += [""] + _md_table(matrix_table(part), "rule") + [""]
        for _, head in versions[versions["match"] != ""].iterrows():
            lines += [f"`{head['implementation']} {head['version']}` was checked on the grid "
                      f"cases whose name matches `{head['match']}` only.", ""]
        adaptations = sorted({a for text in versions["adaptations"] for a in text.split("; ")
                              if a})
        if adaptations:
            lines += ["Adaptations: " + "; ".join(adaptations) + ".", ""]
        for impl in _ordered(part["implementation"].unique()):
            table = release_table(part, impl)
            if table.shape[1] < 2:
                continue
            lines += [f"#### `{impl}` across releases", ""]
            lines += _md_table(table.map(lambda v: MARKS.get(v, v)), "rule") + [""]
            changes = release_changes(part, impl)
            if not any(": not checked (" not in c for c in changes):
                changes.append("No row changed between the checked releases.")
            lines += [f"- {c}" for c in changes] + [""]
    return "\n".join(lines).rstrip() + "\n"


def write_doc(path: Path = DOC_PATH, results_dir: Path = RESULTS_DIR) -> Path:
    Path(path).write_text(render_doc(results_dir), encoding="utf-8")
    return Path(path)


_DOC_HEAD = """# Implementations of cross entropy, side by side

<!-- Generated by `cebench impls --write-doc`; do not edit by hand. tests/test_impls_doc.py
     fails when this file and the generator disagree. The matrix comes from the verdicts
     stored under results/<machine>/impls/ by `cebench check --impl NAME --record`. -->

A user who pays for `weight` chooses among implementations, not only among torch
releases. cebench puts five on one axis (`IMPLEMENTATIONS` in `src/cebench/grid/cases.py`,
one module each in `src/cebench/impls/`), checks each against the float64 reference
before it times it (`cebench check --impl NAME`), and times them side by side
(`benchmarks/bench_impls.py`). A kernel that breaks a rule is a finding, not a result.
`cebench impls` lists them with the versions installed here.
"""

_DOC_MEASURED = """## How they are measured

- **Timing** (`bench_impls`): `ImplTime` (one synchronised call), `ImplWeightOverhead`
  (weighted / unweighted, interleaved in one process), `ImplVsEager` (the implementation's
  time / torch eager's on the same inputs, interleaved), and on CUDA `ImplKernel` (CUDA
  events, L2 flushed) and `ImplMemory` (allocator peak). Each process builds its inputs
  and calls each pass once before timing: `torch.compile` compiles there, outside the
  timed region. `CompileTime` times that first call in a fresh process on an empty
  inductor cache. `ImplInstructions` counts instructions per call under valgrind (CPU).
- **Where times mean nothing, nothing is timed**: Liger on the CPU runs under Triton's
  interpreter and Quack needs an sm90+ GPU; their benchmark cases skip with the reason.
  On a CPU machine `scripts/run-suite.sh` leaves `bench_impls` out unless
  `CEBENCH_IMPLS=1` (compiling takes tens of seconds per case on two cores).
- **Liger writes into its input**: with logits that require grad its forward overwrites
  them with the gradient. The check hands every call fresh logits and reports the
  overwrite (`inputs_unchanged`, `repeatable`); the timing loop reuses one buffer, whose
  values are then the previous call's gradient (the kernel reads and writes every
  element whatever their values).
- **Releases of an implementation**: `bash scripts/check-impl-versions.sh liger 0.5.3 ...`
  installs each release alone and records its verdicts.
"""


# --- figures ------------------------------------------------------------------------------

CELL_COLOURS = {"✓": "#27ae60", "differs": "#c0392b", "unsupported": "#bdc3c7",
                "not run": "#ffffff"}


def release_chart(cells: pd.DataFrame, impl: str = "liger"):
    """Rule x release grid of one implementation, coloured by verdict; None without data."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    table = release_table(cells, impl)
    if table.empty:
        return None
    fig, ax = plt.subplots(figsize=(1.0 + 0.45 * table.shape[1], 0.6 + 0.32 * table.shape[0]))
    for i, (_, marks) in enumerate(table.iterrows()):
        for j, mark in enumerate(marks):
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=CELL_COLOURS.get(mark, "#ffffff"),
                                       ec="white"))
    ax.set_xlim(0, table.shape[1])
    ax.set_ylim(table.shape[0], 0)
    ax.set_xticks([j + 0.5 for j in range(table.shape[1])], table.columns, rotation=60)
    ax.set_yticks([i + 0.5 for i in range(table.shape[0])], table.index)
    ax.set_title(f"{impl}: conformance per release")
    ax.legend(handles=[Patch(facecolor=c, edgecolor="#999999", label=m)
                       for m, c in CELL_COLOURS.items()],
              loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    fig.tight_layout()
    return fig


def ratio_chart(rows: pd.DataFrame, title: str = "compile / eager, paired"):
    """Per case and torch version: the median paired ratio with its 99 % interval (asv's),
    forward and forward+backward, weighted and not; None without data."""
    import matplotlib.pyplot as plt

    if rows.empty:
        return None
    rows = rows.sort_values(["pass", "family", "dtype", "weighting", "torch_version"])
    labels = (rows["pass"].map(PASS_WORDS) + " " + rows["family"] + " " + rows["dtype"]
              + " w-" + rows["weighting"])
    versions = sorted(rows["torch_version"].dropna().unique(), key=results.version_key)
    fig, ax = plt.subplots(figsize=(7.5, 0.5 + 0.28 * labels.nunique()))
    order = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    for k, version in enumerate(versions):
        part = rows[rows["torch_version"] == version]
        y = [order[label] + 0.15 * (k - (len(versions) - 1) / 2) for label in labels[part.index]]
        low = (part["value"] - part["ci_99_low"]).clip(lower=0)
        high = (part["ci_99_high"] - part["value"]).clip(lower=0)
        ax.errorbar(part["value"], y, xerr=[low.fillna(0), high.fillna(0)], fmt="o", ms=4,
                    capsize=2, label=f"torch {version}")
    ax.axvline(1.0, color="grey", lw=1, ls="--")
    ax.set_yticks(list(order.values()), list(order))
    ax.invert_yaxis()
    ax.set_xlabel("ratio (below 1: compile is faster)")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
