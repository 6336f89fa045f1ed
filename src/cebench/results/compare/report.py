"""What a comparison says: the headline, the tables, Markdown and JSON."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from cebench.results.compare.verdict import VERDICTS, outcome_of
from cebench.results.rules import COUNT_THRESHOLD, MIN_RUNS, POWER


def counts(table: pd.DataFrame) -> dict[str, int]:
    found = table["verdict"].value_counts() if len(table) else {}
    return {v: int(found.get(v, 0)) for v in VERDICTS}


@dataclasses.dataclass(frozen=True)
class Suite:
    """The suite-wide result of one machine (a row of :func:`suites`)."""

    machine: str
    k_base: int
    k_cand: int
    shared_change: float
    shared_low: float
    shared_high: float
    shared_p: float
    shared_verdict: str
    min_detectable: float
    tau: float
    tau_df: float
    tau_source: str
    regressions: int
    carriers: int


def suites(table: pd.DataFrame) -> list[Suite]:
    out = []
    if table.empty or "shared_verdict" not in table:
        return out
    for machine, rows in table.groupby("machine", sort=True):
        r = rows.iloc[0]
        out.append(Suite(machine, int(r.k_runs_base), int(r.k_runs_cand), r.shared_change,
                         r.shared_low, r.shared_high, r.shared_p, r.shared_verdict,
                         r.min_detectable, r.tau, r.tau_df, r.tau_source,
                         int((rows["verdict"] == "regression").sum()),
                         int((rows["verdict"] == "shared").sum())))
    return out


def outcome(table: pd.DataFrame) -> str:
    """'regression', 'inconclusive' or 'ok': what the exit status says."""
    verdicts = table["verdict"] if len(table) and "verdict" in table else []
    return outcome_of(verdicts, [s.shared_verdict for s in suites(table)])


def _fmt_value(x, unit) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    unit = str(unit or "")
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(x) >= scale:
                return f"{x / scale:.3g} {suffix}"
        return f"{x:.3g} s"
    if unit in ("bytes", "bytes/s"):
        for scale, prefix in ((2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
            if abs(x) >= scale:
                return f"{x / scale:.3g} {prefix}B" + ("/s" if unit == "bytes/s" else "")
        return f"{x:.3g} B" + ("/s" if unit == "bytes/s" else "")
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%" if x is not None and np.isfinite(x) else "n/a"


def _fmt_change(row) -> str:
    if not np.isfinite(row.ratio):
        return "n/a" if not (row.ratio == np.inf) else "from 0"
    text = _pct(row.ratio - 1)
    if np.isfinite(row.ratio_low) and np.isfinite(row.ratio_high):
        text += f" [{_pct(row.ratio_low - 1)}, {_pct(row.ratio_high - 1)}]"
    return text


def _fmt_test(row) -> str:
    if row.test == "threshold-t":
        return f"t={row.t:.2f}, needs {row.critical:.2f}"
    if row.test == "count":
        return "count rule"
    if row.verdict == "failed":
        return "failed in the candidate"
    if row.verdict == "missing":
        return "measured on one side only"
    return f"fewer than {MIN_RUNS} runs on a side"


def display_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for r in table.itertuples(index=False):
        out.append({
            "verdict": r.verdict,
            "benchmark": str(r.short_name_base),
            "params": str(r.params),
            "runs": f"{r.k_base}/{r.k_cand}",
            "baseline": _fmt_value(r.value_base, r.unit_base),
            "candidate": _fmt_value(r.value_cand, r.unit_base),
            "change": _fmt_change(r),
            "test": _fmt_test(r),
        })
    return out


def format_table(rows: list[dict[str, str]], limit: int | None = None) -> str:
    if not rows:
        return "(nothing to show)"
    shown = rows if limit is None else rows[:limit]
    cols = list(shown[0])
    widths = {c: max(len(c), *(len(r[c]) for r in shown)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines.append("  ".join("-" * widths[c] for c in cols))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in shown]
    if limit is not None and len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more")
    return "\n".join(lines)


def percent_words(change: float) -> str:
    """A relative change for a sentence: '40 %', or 'x12' beyond +900 %."""
    if not np.isfinite(change):
        return "an unknown amount"
    return f"{change * 100:.0f} %" if change < 9 else f"x{1 + change:.0f}"


def suite_sentence(s: Suite, threshold: float) -> str:
    """One machine's suite-wide result in plain words."""
    runs = f"{s.k_base} baseline run(s), {s.k_cand} candidate run(s) with timings"
    if np.isfinite(s.shared_change):
        word = "slower" if s.shared_change > 0 else "faster"
        shift = (f"overall the candidate is {abs(s.shared_change) * 100:.1f} % {word} "
                 "(median over its timings)")
    else:
        shift = "no timings to compare overall"
    if np.isfinite(s.tau):
        noise = (f"whole runs differ by about {s.tau * 100:.0f} % (sd) on this machine "
                 f"(measured from {s.tau_source})")
        if np.isfinite(s.min_detectable):
            noise += (f"; these runs catch a shared change of "
                      f"{percent_words(s.min_detectable)} {POWER:.0%} of the time")
    else:
        noise = ("run-to-run noise is unknown (no replicate runs on this machine): run each "
                 "side at least twice, keeping each run's results file ('-r2', '-r3' ...)")
    if s.shared_verdict == "inconclusive":
        return (f"{s.machine}: a side has fewer than {MIN_RUNS} runs with timings; {shift}; "
                f"{noise}.")
    if s.shared_verdict == "regression":
        head = (f"{s.machine}: SHARED REGRESSION: the whole suite is "
                f"{s.shared_change * 100:.0f} % slower ({_pct(s.shared_low)} to "
                f"{_pct(s.shared_high)}), carried by {s.carriers} benchmark(s)")
    elif s.shared_verdict == "improvement":
        head = f"{s.machine}: shared improvement, {abs(s.shared_change) * 100:.0f} % faster"
    else:
        head = f"{s.machine}: no shared change beyond {threshold:.0%}"
    return f"{head}; {runs}; {shift}; {noise}."


def _by_rule(table: pd.DataFrame, verdict: str) -> tuple[int, int]:
    rows = table[table["verdict"] == verdict]
    return int((rows["test"] != "count").sum()), int((rows["test"] == "count").sum())


def headline(table: pd.DataFrame, baseline, candidate, machines, threshold, alpha,
             notes=(), count_threshold: float = COUNT_THRESHOLD) -> str:
    """The report's first lines: the verdict with the rule that gave it, one sentence per
    machine, the counts."""
    n = counts(table)
    state = outcome(table)
    which = (f"candidate {candidate.text} vs baseline {baseline.text} on "
             f"{', '.join(machines)}")
    if state == "regression":
        timed, counted = _by_rule(table, "regression")
        parts = []
        if timed:
            parts.append(f"{timed} benchmark(s) worse by more than {threshold:.0%} (time rule)")
        if counted:
            parts.append(f"{counted} instruction count(s) or accuracy figure(s) up by "
                         f"{count_threshold:.0%} or more (count rule)")
        if any(s.shared_verdict == "regression" for s in suites(table)):
            parts.append(f"the whole suite slower by more than {threshold:.0%} (time rule)")
        lead = "REGRESSION: " + "; ".join(parts)
    elif state == "inconclusive":
        why = []
        if n["inconclusive"]:
            why.append(f"{n['inconclusive']} noisy benchmark(s) measured fewer than {MIN_RUNS} "
                       "times on a side, so their change cannot be told from run-to-run noise")
        if n["failed"]:
            why.append(f"{n['failed']} benchmark(s) failed in the candidate")
        if not why:
            why.append("the suite-wide shift cannot be tested with one run on a side")
        lead = "INCONCLUSIVE: " + "; ".join(why)
    else:
        lead = "No regression"
    lines = [f"{lead} -- {which}."]
    lines += [suite_sentence(s, threshold) for s in suites(table)]
    lines.append(
        f"{len(table)} compared: {n['regression']} worse, {n['shared']} part of a shared "
        f"slowdown, {n['failed']} failed, {n['inconclusive']} untestable (fewer than "
        f"{MIN_RUNS} runs on a side), {n['improvement']} better, {n['unchanged']} unchanged, {n['missing']} "
        f"measured on one side only (time rule: threshold {threshold:.0%}, family-wise "
        f"error {alpha:g}; count rule: {count_threshold:.0%}).")
    lines += list(notes)
    return "\n".join(lines)


def _md_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame, title: str) -> str:
    rows = display_rows(table)
    by = lambda v: [r for r in rows if r["verdict"] == v]  # noqa: E731
    n = counts(table)
    state = outcome(table)
    icon = {"regression": ":red_circle:", "inconclusive": ":warning:"}.get(
        state, ":white_check_mark:")
    head, *rest = title.splitlines()
    parts = [f"### {icon} cebench compare\n", f"{head}\n"] + [f"- {line}" for line in rest]
    parts += ["", f"#### Regressions ({n['regression']})\n", _md_table(by("regression"))]
    if n["shared"]:
        parts += [f"#### Carrying the shared regression ({n['shared']})\n",
                  "Each of these is beyond the threshold and the whole suite moved with them; "
                  "one by one they are within run-to-run noise.\n", _md_table(by("shared"))]
    if n["failed"]:
        parts += [f"#### Failed in the candidate ({n['failed']})\n", _md_table(by("failed"))]
    parts += [f"#### Improvements ({n['improvement']})\n", _md_table(by("improvement"))]
    if n["inconclusive"]:
        parts += [f"#### Untestable: fewer than {MIN_RUNS} runs on a side ({n['inconclusive']})\n",
                  "Too few runs to tell a change from run-to-run noise: run each side "
                  "again.\n",
                  _md_table(by("inconclusive"))]
    parts += [f"<details><summary>All {len(rows)} comparisons</summary>\n", _md_table(rows),
              "</details>\n"]
    return "\n".join(parts)


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


def to_json(table: pd.DataFrame, title: str, settings: dict) -> dict:
    fields = ["machine", "benchmark", "short_name_base", "params", "unit_base", "k_base",
              "k_cand", "value_base", "value_cand", "ratio", "ratio_low", "ratio_high",
              "worse_by", "noise_sd", "test", "t", "critical", "df", "p_value", "p_adjusted",
              "row_min_detectable", "verdict"]
    rename = {"short_name_base": "short_name", "unit_base": "unit",
              "row_min_detectable": "min_detectable"}
    records = [{rename.get(k, k): _plain(v) for k, v in rec.items()}
               for rec in table[[f for f in fields if f in table]].to_dict("records")]
    machines = [{k: _plain(v) for k, v in dataclasses.asdict(s).items()} for s in suites(table)]
    return {"summary": title, "outcome": outcome(table), "settings": settings,
            "counts": counts(table), "machines": machines, "comparisons": records}
