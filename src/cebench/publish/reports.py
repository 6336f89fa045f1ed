"""The report pages of the site: a comparison of two runs, the newest runs' comparisons,
the semantics check, the findings across releases, the list of analysis pages.

Each function returns HTML (a whole page from :func:`cebench.publish.pages.page`); the
site builder (:mod:`cebench.publish.dashboard`) writes them.
"""

from __future__ import annotations

import math
import re

from cebench.publish import pages
from cebench.results import rules
from cebench.publish.pages import esc
from cebench.publish.verdicts import (OUTCOME_WORDS, UNTESTED_WORDS, PairVerdict, RuleVerdict,
                                      is_count)

#: Rows of a verdict shown before the rest is folded.
SHOWN_ROWS = 25


def threshold_words(threshold: float) -> str:
    """compare's threshold in words, as it applies it: the same factor either way."""
    return (f"×{1 + threshold:.2f} either way (more than {threshold:.1%} worse or "
            f"{1 - 1 / (1 + threshold):.1%} better)")


def outcome_html(outcome: str) -> str:
    return f'<span class="verdict-{esc(outcome)}">{esc(OUTCOME_WORDS.get(outcome, outcome))}</span>'


def rule_html(rule: RuleVerdict) -> str:
    """A rule's verdict with the rule and the noise it was judged against."""
    if rule.outcome == "none":
        return ""
    text = (f"<p><strong>{esc(rule.rule.capitalize())} rule</strong>: {outcome_html(rule.outcome)}"
            f" &middot; {rule.worse} worse, {rule.better} better of {rule.compared} compared")
    if rule.untested:
        text += f", {rule.untested} {esc(UNTESTED_WORDS)}"
    if rule.largest:
        text += f" &middot; largest change: {esc(rule.largest)}"
    text += f"</p><p class=\"rule\">{esc(rule.words)}.</p>"
    if rule.noise:
        text += f"<p class=\"rule\">Noise: {esc(rule.noise)}.</p>"
    return text


_ROW_CLASS = {"regression": "worse", "shared": "worse", "failed": "worse",
              "improvement": "better", "inconclusive": "untested"}
_COLUMNS = ["verdict", "benchmark", "params", "runs", "baseline", "candidate", "change", "test"]


def _rows_table(rows: list[dict], summary: str, fold: bool = True) -> str:
    return pages.table(_COLUMNS, [[r[c] for c in _COLUMNS] for r in rows],
                       [_ROW_CLASS.get(r["verdict"], "") for r in rows],
                       fold_after=SHOWN_ROWS if fold else len(rows), summary=summary)


def pair_page(v: PairVerdict, threshold: float) -> str:
    """One comparison: each rule's verdict first, then its changes, then every row folded."""
    from cebench.results import compare

    title = f"{v.baseline} → {v.candidate} on {v.machine}"
    parts = [f'<div class="answer"><p>Overall: {outcome_html(v.outcome)} '
             f"({esc(v.relation)}).</p>" + "".join(rule_html(r) for r in v.rules) + "</div>"]
    if v.baseline_spec:
        parts.append(f"<p class=\"rule\">The same comparison on the command line: "
                     f"<code>cebench compare RESULTS --baseline {esc(v.baseline_spec)} "
                     f"--candidate {esc(v.candidate_spec)} --machine {esc(v.machine)}</code>"
                     "</p>")
    table = v.table[v.table["verdict"] != "missing"] if len(v.table) else v.table
    for name, mask in (("count", is_count(table)), ("time", ~is_count(table))):
        rows = compare.display_rows(table[mask]) if len(table) else []
        if not rows:
            continue
        heading = ("Instruction counts (count rule)" if name == "count"
                   else "Times, ratios, bytes and errors (time rule)")
        parts.append(f"<h2>{heading}</h2>")
        changed = [r for r in rows if r["verdict"] in ("regression", "shared", "improvement")]
        parts.append(f"<p>Changes the rule confirms: {len(changed)}.</p>")
        if changed:
            parts.append(_rows_table(changed, "the confirmed changes"))
        beyond = [r for r, ratio in zip(rows, table[mask]["ratio"])
                  if r["verdict"] == "inconclusive" and math.isfinite(ratio)
                  and abs(math.log(ratio)) > math.log1p(threshold)]
        failed = [r for r in rows if r["verdict"] == "failed"]
        if failed:
            parts.append(f"<p>Measured in the baseline, failed in the candidate: {len(failed)}.</p>")
            parts.append(_rows_table(failed, "the failures"))
        if beyond:
            parts.append(f"<p>Changed by more than {esc(threshold_words(threshold))} but "
                         f"untestable (fewer than {rules.MIN_RUNS} runs on a side: no run-to-run "
                         f"noise to test against), {len(beyond)}: neither confirmed nor ruled "
                         "out.</p>")
            parts.append(_rows_table(beyond, "the untestable changes"))
        parts.append(f"<details><summary>Every {name}-rule comparison ({len(rows)})"
                     f"</summary>{_rows_table(rows, 'all', fold=False)}</details>")
    if v.headline:
        parts.append("<details><summary>What <code>cebench compare</code> prints</summary>"
                     f"<pre>{esc(v.headline)}</pre></details>")
    return pages.page(title, "\n".join(parts), here="cebench/newest.html", prefix="../")


def newest_page(newest: list[PairVerdict], source_of: dict[str, str]) -> str:
    """The newest run of each machine and its comparisons, each linked to its page."""
    if not newest:
        body = ("<p>No machine has two runs to compare (a torch version and the previous "
                "one at one commit, or one version at two commits).</p>")
    else:
        items = []
        for v in newest:
            items.append(
                f'<li><a href="pair-{esc(v.slug)}.html">{esc(v.candidate)} against '
                f"{esc(v.relation)} ({esc(v.baseline)})</a> on {esc(v.machine)}"
                f"{esc(source_of.get(v.slug, ''))}: {outcome_html(v.outcome)}"
                + "".join(f"<br><span class=\"rule\">{esc(r.sentence)}</span>" for r in v.rules)
                + "</li>")
        body = ("<p>Each machine's newest run against the previous torch version at the same "
                "commit and against its own previous results.</p><ul>" + "".join(items) + "</ul>")
    return pages.page("The newest runs", body, here="cebench/newest.html", prefix="../")


def check_page(report: dict) -> str:
    """The `cebench check --json` report: summary, then every non-grid case and any grid
    case that does not match the reference."""
    summary = report.get("summary", {})
    broken = summary.get("rules_broken", 0)
    devices = ", ".join(f"{k}: {v}" for k, v in (report.get("devices") or {}).items())
    parts = [(f"<p>torch {esc(report.get('torch_version'))} on {esc(devices)}, the torch of "
              f"the Python that built this site. Rules broken: <strong>{esc(broken)}</strong>. "
              "Each case compares torch with cebench's float64 reference (docs/semantics.md). "
              "The verdicts of every measured release are on the front page.</p>")]
    verdict_rows = [[kind, verdict, count]
                    for kind, counts in (summary.get("verdicts") or {}).items()
                    for verdict, count in counts.items()]
    parts.append("<h2>Summary</h2>" + pages.table(["kind", "verdict", "cases"], verdict_rows))
    cases = report.get("cases") or []
    shown = [c for c in cases if c.get("kind") != "grid"
             or c.get("verdict") not in ("matches", "skipped") or c.get("rule_broken")]
    cols = ["kind", "name", "device", "dtype", "verdict", "rule_broken", "torch_loss",
            "reference_loss", "loss_rel_error", "note"]
    hidden = len(cases) - len(shown)
    parts.append(f"<h2>Cases</h2><p>{len(shown)} shown; {hidden} grid cases that match "
                 "the reference (or are skipped on this device) are counted above.</p>")
    parts.append(pages.table(cols, [[c.get(k) for k in cols] for c in shown],
                             ["worse" if c.get("rule_broken") else "" for c in shown],
                             summary="every case shown"))
    title = f"Semantics check (torch {report.get('torch_version')})"
    return pages.page(title, "\n".join(parts), here="cebench/check.html", prefix="../")


#: A markdown link from a doc in docs/ to a file of the repository (``](../results/...)``).
_REPO_LINK = re.compile(r"\[([^\]]+)\]\(\.\./([^)\s]+)\)")


def doc_page(name: str, markdown: str) -> str:
    """A generated doc (docs/findings.md, implementations.md, verdicts.md) as rendered from
    these results: its first heading is the page's title; a link to a file of the
    repository (which the site does not hold) becomes that file's path."""
    markdown = _REPO_LINK.sub(lambda m: f"{m.group(1)} (`{m.group(2)}`)", markdown)
    lines = markdown.splitlines()
    title = next((line[2:] for line in lines if line.startswith("# ")), name.capitalize())
    body = pages.markdown_to_html("\n".join(line for line in lines if line[2:] != title
                                            or not line.startswith("# ")))
    return pages.page(title, body, here=f"cebench/{name}.html", prefix="../")


def analysis_page(links: list[tuple[str, str]], message: str = "") -> str:
    """The analysis notebooks' pages."""
    items = "".join(f'<li><a href="../{esc(path)}">{esc(title)}</a></li>' for title, path in links)
    body = ("<p>The analysis notebooks (<code>analysis/*.ipynb</code>), executed on these "
            "results: each opens with its conclusion.</p>"
            + (f"<ul>{items}</ul>" if items else "<p>No analysis page was built.</p>")
            + (f"<p class=\"muted\">{esc(message)}</p>" if message else ""))
    return pages.page("Analysis", body, here="cebench/analysis.html", prefix="../")
