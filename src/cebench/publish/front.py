"""The site's front page (html/index.html): the newest run's verdict, then the three
questions cebench answers, each computed from the results with its rule and the noise it
was measured against, before any chart.

1. What does ``weight`` cost, per family, pass and dtype?
2. What changed between releases (confirmed changes, by rule and cause)?
3. Do the semantics hold, per release?

A plain page: inline CSS, no script, so it opens from disk as well as over HTTP.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from pathlib import Path

import pandas as pd

from cebench.publish import conclusions, pages
from cebench.publish.conclusions import PASS_WORDS
from cebench.publish.pages import esc
from cebench.publish.reports import outcome_html, rule_html, threshold_words
from cebench.publish.verdicts import PairVerdict


@dataclasses.dataclass
class FrontData:
    """What the front page says, computed by the site builder from one load of results."""

    newest: list[PairVerdict]  # newest-run comparisons, newest first
    steps: list[PairVerdict]  # consecutive releases, per machine, in release order
    weight_cost: list[dict]  # conclusions.weight_cost_table
    instruction_cost: list[dict]  # conclusions.instruction_cost_table
    count_repeat: dict  # conclusions.count_repeatability
    semantics: pd.DataFrame  # releases.load_semantics()[0]
    semantic_changes: pd.DataFrame  # releases.semantic_changes
    explanations: dict  # (machine, base, cand) -> [(case, pass, top function)]
    sources: dict  # pair slug -> ' (your run, .asv/results)' or ''
    threshold: float
    detection_power: str = ""  # HTML of the time rule's measured power (docs/verdicts.md)
    impl_lines: list = dataclasses.field(default_factory=list)  # semantics per implementation
    impl_matrix: pd.DataFrame | None = None  # rule x implementation
    newest_run: str = ""  # the newest run in words (machine, torch, commit, date, where)
    newest_compared: bool = False  # whether newest[0] is that run's comparison


def _date(epoch_s: float) -> str:
    if not epoch_s:
        return "date unknown"
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch_s))


def banner(data: FrontData) -> str:
    if not data.newest:
        return ('<div class="answer"><p><strong>Newest run</strong>: '
                + esc(data.newest_run or "no run to compare yet") + ". No machine has two "
                "runs to compare (a torch version and the one before it, or two commits).</p>"
                "</div>")
    v = data.newest[0]
    others = [w for w in data.newest[1:] if w.machine == v.machine
              and w.candidate == v.candidate]
    parts = [f'<div class="answer" id="newest"><p><strong>Newest run</strong>: '
             f"{esc(data.newest_run)}.</p>"]
    if not data.newest_compared:
        parts.append("<p>It has nothing to be compared with: no other torch version at its "
                     "commit and no earlier run of its version. The newest comparison: "
                     f"{esc(v.candidate)} on {esc(v.machine)}.</p>")
    for w in [v] + others:
        parts.append(f'<p><a href="cebench/pair-{esc(w.slug)}.html">Against '
                     f"{esc(w.relation)} ({esc(w.baseline)})</a>: {outcome_html(w.outcome)}"
                     "</p>" + "".join(rule_html(r) for r in w.rules))
    parts.append('<p class="rule"><a href="cebench/newest.html">Every machine\'s newest run'
                 "</a></p></div>")
    return "".join(parts)


def _cost_tables(data: FrontData) -> str:
    parts = []
    if not data.weight_cost:
        parts.append("<p>No paired weighted/unweighted timings (<code>WeightOverhead</code>) "
                     "in these results: run the suite to measure what a weight costs.</p>")
    for block in data.weight_cost:
        passes = block["passes"]
        rows = [[family, dtype] + [cells.get(p, "") for p in passes]
                for family, dtype, cells in block["rows"]]
        parts.append(f"<p><strong>{esc(block['machine'])}, torch {esc(block['version'])}</strong>"
                     " — weighted / unweighted time, change from unweighted:</p>")
        parts.append(pages.table(["family", "dtype"] + [PASS_WORDS[p] for p in passes], rows,
                                 summary="weight cost per family and dtype"))
        noise = (f"the paired ratio's own run-to-run noise is {_sd_percent(block['noise_sd'])} "
                 f"(sd of repeated runs, median over {block['noise_groups']} benchmarks)"
                 if block["noise_groups"] else
                 "the paired ratio's run-to-run noise is not measured (no repeated runs)")
        parts.append(
            '<p class="rule">How: the weighted and unweighted calls interleaved in one process '
            "(<code>WeightOverhead</code>), their per-pair median ratio; each cell is the "
            "geometric mean over the reductions and weight values (all-ones, random) of the "
            f"{block['cases']} cases, with its 95 % interval across them; {esc(noise)}. A "
            "cell whose interval holds 0 % shows no cost these runs can tell.</p>")
    for block in data.instruction_cost:
        passes = block["passes"]
        rows = [[family, layout] + [cells.get(p, "") for p in passes]
                for family, layout, cells in block["rows"]]
        parts.append(f"<p><strong>{esc(block['machine'])}, torch {esc(block['version'])}</strong>"
                     " — weighted / unweighted instructions per call (CPU, valgrind):</p>")
        parts.append(pages.table(["family", "layout"] + [PASS_WORDS[p] for p in passes], rows,
                                 summary="instruction cost per family and layout"))
        repeat = data.count_repeat.get(block["machine"])
        noise = (f"counts of one case counted in separate runs differ by at most "
                 f"{repeat[0]:.3%} ({repeat[1]} counts counted twice)" if repeat else
                 "no count was counted twice here")
        parts.append('<p class="rule">How: instructions one call executes under valgrind '
                     "(one thread, AVX2 kernels), geometric mean over reductions; "
                     f"{esc(noise)}. Instructions are work, not time.</p>")
    return "".join(parts)


def _sd_percent(sd_log: float) -> str:
    return f"{math.expm1(sd_log) * 100:.1f} %" if math.isfinite(sd_log) else "unknown"


def _rule_cell(rule) -> str:
    if rule.outcome == "none":
        return "—"
    text = f"{rule.worse} worse, {rule.better} better of {rule.compared}"
    if rule.untested:
        text += f"; {rule.untested} untestable"
    return text


def _releases(data: FrontData) -> str:
    if not data.steps:
        return ("<p>No benchmark was measured on two consecutive releases at one commit "
                "(<code>cebench history</code> measures a series of releases).</p>")
    parts = []
    headers = ["releases", "verdict", "count rule (counts, accuracy)", "largest count-rule change",
               "time rule", "cause (explained)"]
    for machine in dict.fromkeys(v.machine for v in data.steps):
        steps = [v for v in data.steps if v.machine == machine]
        rows, classes = [], []
        for v in steps:
            base, cand = v.baseline.split()[-1], v.candidate.split()[-1]
            causes = data.explanations.get((machine, base, cand), [])
            rows.append([f"{base} → {cand}", v.outcome, _rule_cell(v.count),
                         v.count.largest or "—", _rule_cell(v.time),
                         "; ".join(f"{case} {p}: {fn}" for case, p, fn in causes) or "—"])
            classes.append({"regression": "worse", "improvement": "better"}.get(v.outcome, ""))
        parts.append(f"<p><strong>{esc(machine)}</strong>:</p>")
        parts.append(pages.table(headers, rows, classes, summary="every release step"))
        last = steps[-1]
        parts.append('<p class="rule">' + esc(last.count.words) + ".</p>" if last.count.words
                     else "")
        parts.append('<p class="rule">' + esc(last.time.words) + f"; threshold "
                     f"{esc(threshold_words(data.threshold))}.</p>")
        noises = sorted({v.time.noise for v in steps if v.time.noise})
        if noises:
            parts.append('<p class="rule">The time rule judged these steps against:</p><ul '
                         'class="rule">' + "".join(f"<li>{esc(n)}</li>" for n in noises) + "</ul>")
    parts.append('<p class="rule">Each release is compared with the one before it, each '
                 "benchmark at the newest commit that measured it on both. "
                 '<a href="cebench/findings.html">The findings page</a> lists every change '
                 "and the functions that carry the explained ones.</p>")
    return "".join(parts)


def _semantics(data: FrontData) -> str:
    heads = data.semantics
    if heads is None or heads.empty:
        return ("<p>No semantics verdicts stored with these results (<code>cebench "
                "history</code> runs <code>cebench check</code> in each release's "
                'environment). <a href="cebench/check.html">The check on this Python\'s '
                "torch</a>.</p>")
    kinds = [c for c in heads.columns if " " in c]
    headers = ["machine", "release", "torch build", "rules broken"] + kinds + [
        "changed from the release before"]
    rows, classes = [], []
    changes = data.semantic_changes
    for r in heads.itertuples(index=False):
        row = r._asdict() if hasattr(r, "_asdict") else dict(zip(heads.columns, r))
        mine = changes[(changes["machine"] == row["machine"])
                       & (changes["candidate_version"] == row["release"])] \
            if len(changes) else changes
        changed = "; ".join(f"{c.kind} {c.name} ({c.dtype}): {c.before} → {c.after}"
                            for c in mine.itertuples(index=False)) or "nothing"
        broken = row["rules_broken"]
        rows.append([row["machine"], row["release"], row["torch_build"], broken]
                    + [_int(heads.loc[heads["release"] == row["release"], k].iloc[0])
                       for k in kinds] + [changed])
        classes.append("worse" if broken else "")
    try:  # the tolerances live beside the check, which needs torch
        from cebench.semantics.conformance.comparison import TOLERANCE

        tolerances = " (" + ", ".join(f"{d}: rtol {t.rtol:g}, atol {t.atol:g}"
                                      for d, t in TOLERANCE.items()) + ")"
    except ModuleNotFoundError:
        tolerances = ""
    return (pages.table(headers, rows, classes, summary="the semantics of every release")
            + '<p class="rule">Rule: every golden example and grid case must match cebench\'s '
            "float64 reference within its dtype's tolerance" + esc(tolerances) + "; edge "
            "behaviour and bad input are recorded, not judged. The check is deterministic: no "
            'noise. <a href="cebench/check.html">The full check on this Python\'s torch</a>; '
            "the rules: <code>docs/semantics.md</code>.</p>")


def _impl_semantics(data: FrontData) -> str:
    if not data.impl_lines:
        return ""
    parts = ["<p><strong>Per implementation</strong> (torch eager, torch.compile, Liger, "
             "weighting by hand; `cebench check --impl`):</p>",
             pages.markdown_to_html("\n\n".join(data.impl_lines))]
    if data.impl_matrix is not None and len(data.impl_matrix):
        m = data.impl_matrix
        parts.append(pages.table([m.index.name or "rule", *map(str, m.columns)],
                                 [[idx, *row] for idx, row in zip(m.index, m.to_numpy().tolist())],
                                 summary="every rule of every implementation"))
    parts.append('<p class="rule">The same rules and tolerances as torch eager, checked on each '
                 'implementation that runs here; <a href="cebench/implementations.html">the '
                 "implementations page</a> has the support, the caveats and the releases.</p>")
    return "".join(parts)


def _int(value) -> str:
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return ""


def front_data(results_dir: Path, local_files: set[str], root: Path, local_words: str) -> FrontData:
    """What the front page says, from one load of the results; ``local_files`` are the
    names of this machine's own results files, said of a run as ``local_words``."""
    from cebench.errors import InputError
    from cebench.publish import findings, verdicts
    from cebench.results import load as results
    from cebench.results import releases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = results.load(results_dir)
        newest = verdicts.newest_run_pairs(df)
        changes = verdicts.release_changes(df)
    steps = verdicts.release_steps(df, changes)
    heads, cases = releases.load_semantics(results_dir)
    sources = {}
    for v in newest:
        files = df.loc[(df["machine"] == v.machine)
                       & df["commit"].astype(str).str.startswith(v.candidate_spec.split("=")[-1])
                       & (df["torch_version"] == v.candidate.split()[1]), "file"]
        mine = any(Path(str(f)).name in local_files for f in files)
        sources[v.slug] = f" ({local_words})" if mine else ""
    explanations = {}
    for machine in sorted(set(df["machine"])):
        try:
            records = findings.load_explanations(results_dir, machine)
        except InputError:
            records = []
        for record in records:
            key = (machine, _release(record["baseline"].get("torch_version")),
                   _release(record["candidate"].get("torch_version")))
            explanations.setdefault(key, []).append(
                (record["case"], record["pass"], _top_function(record)))
    from cebench.publish.runs import runs_from_frame

    every = [(m, r) for m, runs in runs_from_frame(df).items() for r in runs]
    newest_run, compared = "", False
    if every:
        machine, run = max(every, key=lambda mr: (mr[1].ran_at, mr[1].date))
        files = df.loc[(df["machine"] == machine) & (df["commit"] == run.commit)
                       & (df["torch_version"] == run.torch), "file"]
        mine = any(Path(str(f)).name in local_files for f in files)
        where = f" ({local_words})" if mine else " (the committed history, in results/)"
        compared = bool(newest) and newest[0].machine == machine and \
            newest[0].candidate_spec.endswith(run.commit[:12])
        label = newest[0].candidate if compared else run.label  # its commit's newest torch
        newest_run = f"{label} on {machine}; its commit's last run ended {_date(run.ran_at)}{where}"
    impl_lines, impl_matrix = _implementations(results_dir)
    return FrontData(
        newest=newest, steps=steps, weight_cost=conclusions.weight_cost_table(df),
        instruction_cost=conclusions.instruction_cost_table(df),
        count_repeat=conclusions.count_repeatability(df), semantics=heads,
        semantic_changes=releases.semantic_changes(cases), explanations=explanations,
        sources=sources, threshold=verdicts.THRESHOLD, newest_run=newest_run,
        newest_compared=compared,
        detection_power=_power(results_dir), impl_lines=impl_lines, impl_matrix=impl_matrix)


def _implementations(results_dir: Path) -> tuple[list[str], pd.DataFrame | None]:
    """The stored conformance of each implementation (cebench check --impl --record)."""
    from cebench.publish import implementations
    from cebench.results import impls as stored

    cells = stored.load(results_dir)[1]
    if cells is None or not len(cells):
        return [], None
    return implementations.conformance_lines(cells), implementations.matrix_table(cells)


def _power(results_dir: Path) -> str:
    """The time rule's measured false alarms and detection (docs/verdicts.md, rendered from
    these results), without its title."""
    from cebench.publish import verdicts_doc

    text = verdicts_doc.render(results_dir)
    return pages.markdown_to_html("\n".join(line for line in text.splitlines()
                                            if not line.startswith(("# ", "Generated by "))))


def _release(build) -> str:
    return str(build).split("+")[0] if build else ""


def _top_function(record: dict) -> str:
    """The function (or pair moved between builds) that carries most of a recorded change,
    by self counts (cebench.publish.findings.carrier_units), its names without arguments."""
    from cebench.publish.findings import carrier_units

    functions = record.get("functions") or []
    if not functions or record.get("ranking") != "self":
        return "not ranked by self counts yet"
    top = carrier_units(functions)[0]
    members = sorted(top["functions"], key=lambda f: f["candidate_self_per_call"]
                     - f["baseline_self_per_call"])
    names = [short_function(f["function"]) for f in members]
    return " → ".join(names) + (" (moved between builds)" if len(names) == 2 else "")


def short_function(name: str) -> str:
    """'void at::native::f<float>(float const*, long)' -> 'at::native::f'."""
    text = name.replace("(anonymous namespace)", "\x00").replace("operator()", "\x01")
    out, depth = [], 0
    for char in text:  # drop what is inside <...> and (...)
        depth += char in "<("
        if depth == 0:
            out.append(char)
        depth -= bool(depth) and char in ">)"
    text = "".join(out).removesuffix(" const").strip()
    words = text.split(" ")
    text = words[-1] if len(words) > 1 and "::" not in words[0] else text  # a return type
    text = text.replace("\x00", "(anonymous namespace)").replace("\x01", "operator()")
    return text if len(text) <= 60 else "…" + text[-59:]


def render(data: FrontData) -> str:
    """The front page's HTML."""
    body = [banner(data),
            "<h2>1. What does <code>weight</code> cost?</h2>", _cost_tables(data),
            "<h2>2. What changed between releases?</h2>", _releases(data),
            "<h2>3. Do the semantics hold?</h2>", _semantics(data), _impl_semantics(data),
            "<h2>How far the verdicts can be trusted</h2>",
            data.detection_power or (
                '<p class="pending">The measured false-alarm and detection rates of the '
                "time rule (same-version comparisons, and injected slowdowns per size and "
                "number of runs) are not in these results yet.</p>"),
            "<h2>Where to look next</h2><ul>"
            '<li><a href="cebench/findings.html">Findings across releases</a></li>'
            '<li><a href="cebench/analysis.html">Analysis notebooks</a> (weight cost, '
            "accuracy, instruction counts, memory and bandwidth, releases, regressions)</li>"
            '<li><a href="benchmarks.html">Benchmark charts</a>: every series asv recorded, '
            "per commit and environment (data, not verdicts)</li></ul>"]
    return pages.page("cebench: what weight costs and means in cross entropy",
                      "\n".join(body), here="index.html", prefix="")
