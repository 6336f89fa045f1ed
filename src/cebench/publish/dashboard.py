"""`cebench dashboard`: the published HTML site, built from results/ alone (no benchmark runs).

Parts, each built on its own so that one failing does not stop the others:

- ``asv``: ``asv publish`` into html/, then asv-tachyon's offline-safe UI over it (the stock
  asv site loads jQuery/flot/Bootstrap from CDNs and shows nothing offline);
- ``analysis``: ``cebench notebooks`` into html/analysis/;
- ``compare``: ``cebench compare`` between the two newest torch versions of each machine,
  its markdown rendered to html/cebench/compare-<machine>.html;
- ``check``: ``cebench check --json`` (semantics on the torch running this command),
  rendered to html/cebench/check.html.

html/cebench/index.html links them all, and a small link bar injected into html/index.html
(the tachyon front page) leads there. Nothing in the site loads anything from outside html/.
Each part's failure is one line on stderr; the command then exits 1.

The site is built into a temporary sibling folder that replaces html/ only when the build
is complete: an interrupted build (Ctrl-C) leaves the previous html/ as it was. Each part
runs as a command in its own session; a Ctrl-C is forwarded to it once (SIGINT), and it
is given time to clean up (temporary folders, notebook kernels) before this one returns.
"""

from __future__ import annotations

import html as html_escape
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cebench import asvconf, atomic
from cebench.atomic import replace_dir  # noqa: F401 -- where it was
from cebench.errors import InputError, missing_dependency

PARTS = ("asv", "analysis", "compare", "check")
LINK_BAR_MARKER = "<!-- cebench link bar -->"
#: Seconds a part's command gets to clean up after a Ctrl-C before it is killed.
CLEANUP_GRACE_S = 60


@dataclass
class PartOutcome:
    """How one part of the dashboard went: ``links`` are (title, path relative to html/)."""

    name: str
    ok: bool
    message: str
    links: list[tuple[str, str]] = field(default_factory=list)
    skipped: bool = False  # not built here (a missing extra), not a failure


# --- running the pieces --------------------------------------------------------------


def _run(cmd: list[str], cwd: Path, timeout_s: float = 1800) -> tuple[int, str]:
    """Runs ``cmd``; returns (exit code, the last line of its output, for a one-line report).

    The command runs in its own session, so a Ctrl-C in the terminal reaches this process
    only; :func:`_stop` forwards it once and waits for the command to clean up.
    """
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
    except FileNotFoundError as exc:
        return 127, f"{cmd[0]}: not found ({exc.strerror})"
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return 124, f"timed out after {timeout_s:.0f} s"
    except BaseException:  # KeyboardInterrupt above all: let the command clean up first
        _stop(proc)
        raise
    lines = [ln for ln in (stderr + "\n" + stdout).splitlines() if ln.strip()]
    return proc.returncode, (lines[-1].strip() if lines else "")


def _stop(proc: subprocess.Popen, grace_s: float = CLEANUP_GRACE_S) -> None:
    """SIGINT to a running command (it removes its temporary files and shuts its notebook
    kernels down, as after a Ctrl-C), then SIGKILL if it has not exited within grace_s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _cebench(*args: str) -> list[str]:
    return [sys.executable, "-m", "cebench", *args]


def publish_asv(results_dir: Path, html_dir: Path, conf_path: Path, workdir: Path) -> PartOutcome:
    """``asv publish`` (needs the git history for commit dates), then the tachyon UI."""
    if not (results_dir / "benchmarks.json").exists():
        return PartOutcome("asv", False, f"no benchmarks.json in {results_dir}")
    conf = asvconf.write_relocated(conf_path, workdir / "asv.publish.json",
                                   results_dir=results_dir, html_dir=html_dir)
    code, last = _run([sys.executable, "-m", "asv", "publish", "--config", str(conf)],
                      cwd=conf_path.resolve().parent)
    if code != 0 or not (html_dir / "index.json").exists():
        return PartOutcome("asv", False, f"asv publish exited {code}: {last}")
    # --no-backup: the stock index (kept as index.legacy.html otherwise) loads CDN scripts.
    code, last = _run([sys.executable, "-m", "asv_tachyon", "install", "--no-backup",
                       str(html_dir.resolve())], cwd=html_dir)
    if code != 0:
        (html_dir / "index.html").unlink(missing_ok=True)  # never leave the CDN-loading page
        return PartOutcome("asv", False, f"asv-tachyon install exited {code}: {last} "
                           "(pip install asv-tachyon; the stock asv site needs the internet)")
    write_tachyon_sidecars(html_dir, conf_path.resolve().parent)
    return PartOutcome("asv", True, "asv publish + asv-tachyon UI", [("Benchmarks (asv)", "index.html")])


def write_tachyon_sidecars(html_dir: Path, repo: Path) -> None:
    """The optional files the tachyon UI asks for (a 404 each otherwise): commit subjects
    for chart tooltips (from git, when the commits are there), no profiles, no mutes."""
    index = json.loads((html_dir / "index.json").read_text())
    hashes = set((index.get("revision_to_hash") or {}).values())
    subjects = {}
    if hashes:
        proc = subprocess.run(["git", "-C", str(repo), "log", "--all", "--format=%H%x09%s"],
                              check=False, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            commit, _, subject = line.partition("\t")
            if commit in hashes:
                subjects[commit] = subject
    (html_dir / "commits.json").write_text(json.dumps(subjects, indent=1))
    (html_dir / "profiles.json").write_text(json.dumps({"paths": {}}))
    (html_dir / "regressions-ignore.json").write_text("[]")
    if (html_dir / "swallow.ico").exists():  # browsers ask every page's server for one
        shutil.copy2(html_dir / "swallow.ico", html_dir / "favicon.ico")


def build_analysis(results_dir: Path, html_dir: Path, root: Path,
                   notebook_dir: Path | None = None) -> PartOutcome:
    out = html_dir / "analysis"
    cmd = _cebench("notebooks", "--results", str(results_dir.resolve()),
                   "--out", str(out.resolve()))
    if notebook_dir is not None:
        cmd += ["--analysis", str(Path(notebook_dir).resolve())]
    code, last = _run(cmd, cwd=root)
    pages = sorted(out.glob("*.html")) if out.is_dir() else []
    links = [(p.stem.replace("_", " "), f"analysis/{p.name}") for p in pages]
    if code != 0:
        return PartOutcome("analysis", False, f"cebench notebooks exited {code}: {last}", links)
    if not pages:
        return PartOutcome("analysis", False, f"cebench notebooks wrote no HTML into {out}")
    return PartOutcome("analysis", True, f"{len(pages)} analysis page(s)", links)


# --- which torch versions each machine has ------------------------------------------


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("+")[0].split("."))


def runs_by_machine(results_dir: Path, skipped: list[Path] | None = None,
                    strict: bool = False) -> dict[str, list[Run]]:
    """machine name -> its runs, one per torch version x commit (replicate results files
    of that version and commit together), oldest torch first, then oldest commit (read
    with cebench.results.load, which also knows the torch version that ``--python=same``
    runs recorded themselves). Unreadable files are appended to ``skipped``; ``strict``:
    any damaged file is a ResultsError naming it."""
    import warnings

    from cebench.results import load as results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each skipped file is reported through `skipped`
        df = results.load(results_dir, skipped=skipped, strict=strict)
    df = df[["machine", "torch_version", "env_name", "commit", "date", "file",
             "benchmark"]].dropna(subset=["torch_version", "commit"])
    found: dict[str, list[Run]] = {}
    for (machine, torch, commit), rows in df.groupby(["machine", "torch_version", "commit"]):
        found.setdefault(str(machine), []).append(
            Run(str(torch), str(commit), str(rows["env_name"].iloc[0]),
                max(_epoch_s(d) for d in rows["date"]), int(rows["file"].nunique()),
                frozenset(rows["benchmark"])))
    return {m: sorted(r, key=lambda run: (_version_key(run.torch), run.date, run.commit))
            for m, r in found.items()}


def _epoch_s(date) -> float:
    """A results date (pandas Timestamp, or missing) as seconds since the epoch."""
    try:
        return float(date.timestamp())
    except (AttributeError, ValueError):  # missing (NaT / None): order it first
        return 0.0


@dataclass(frozen=True)
class Run:
    """The runs of one torch version at one commit on a machine (``runs`` replicate
    results files), as a `cebench compare` spec names them."""

    torch: str
    commit: str
    env: str
    date: float = 0.0
    runs: int = 1
    benchmarks: frozenset = frozenset()  # the benchmarks these runs hold results for

    @property
    def spec(self) -> str:
        return f"torch={self.torch},commit={self.commit[:12]}"

    @property
    def label(self) -> str:
        return (f"torch {self.torch} @ {self.commit[:8]}"
                + (f" ({self.runs} runs)" if self.runs > 1 else ""))


def latest_per_torch(runs: list[Run], commit: str | None = None) -> dict[str, Run]:
    """torch version -> its newest run (at ``commit`` when given), oldest version first."""
    latest: dict[str, Run] = {}
    for run in runs:  # sorted by version, then date: the last one seen wins
        if commit is None or run.commit.startswith(commit):
            latest[run.torch] = run
    return latest


def alert_pairs(runs: list[Run], commit: str | None = None) -> list[tuple[str, Run, Run]]:
    """What the GPU workflow checks on one machine: the newest torch version at ``commit``
    (default: the newest commit) against (a) the previous torch version at that commit and
    (b) the same torch version at the previous commit that has results for it."""
    if commit is None and runs:
        commit = max(runs, key=lambda r: r.date).commit
    at_commit = latest_per_torch(runs, commit)
    if not at_commit:
        return []
    versions = list(at_commit)
    candidate = at_commit[versions[-1]]
    pairs = []
    if len(versions) >= 2:
        pairs.append(("previous torch version", at_commit[versions[-2]], candidate))
    earlier = [r for r in runs if r.torch == candidate.torch and r.date < candidate.date
               and r.commit != candidate.commit]
    if earlier:  # the earlier run sharing most benchmarks (a run of a subset, e.g. a
        # history or instruction-count run, must not stand in for the whole suite), newest
        previous = max(earlier, key=lambda r: (len(r.benchmarks & candidate.benchmarks), r.date))
        pairs.append(("previous results", previous, candidate))
    return pairs


def run_compare(results_dir: Path, machine: str, baseline: Run, candidate: Run,
                markdown_path: Path, json_path: Path | None, root: Path) -> tuple[int, str]:
    """`cebench compare` between two runs; returns (exit code, its last output line)."""
    cmd = _cebench("compare", str(results_dir.resolve()), "--baseline", baseline.spec,
                   "--candidate", candidate.spec, "--machine", machine,
                   "--markdown", str(markdown_path))
    if json_path is not None:
        cmd += ["--json", str(json_path)]
    return _run(cmd, cwd=root)


# --- rendering -----------------------------------------------------------------------

_CSS = """body{font-family:system-ui,-apple-system,'DejaVu Sans',sans-serif;margin:2rem auto;
max-width:70rem;padding:0 1rem;color:#1b1f24;line-height:1.45}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #d0d7de;padding:.25rem .6rem;text-align:left}
th{background:#f3f5f7}tr.bad td{background:#ffebe9}code,pre{background:#f3f5f7;padding:.1rem .3rem}
nav{margin-bottom:1.5rem;font-size:.95rem}nav a{margin-right:1rem}"""


def html_page(title: str, body_html: str, nav_prefix: str = "") -> str:
    """A self-contained page (inline CSS, no scripts) with links back to the site."""
    t = html_escape.escape(title)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{t}</title><link rel=\"icon\" href=\"data:,\"><style>{_CSS}</style></head><body>\n"
            f"<nav><a href=\"{nav_prefix}../index.html\">Benchmarks (asv)</a>"
            f"<a href=\"{nav_prefix}index.html\">cebench analysis</a></nav>\n"
            f"<h1>{t}</h1>\n{body_html}\n</body></html>\n")


# GitHub shortcodes that `cebench compare` writes (GitHub renders them in job summaries);
# here plain symbols that common fonts (DejaVu) have, not colour emoji.
_SHORTCODES = {":red_circle:": "\N{BLACK CIRCLE}", ":white_check_mark:": "\N{HEAVY CHECK MARK}",
               ":warning:": "\N{WARNING SIGN}", ":green_circle:": "\N{BLACK CIRCLE}"}


def markdown_to_html(text: str) -> str:
    """Markdown (with pipe tables) to HTML; raw HTML in the input is escaped."""
    for code, char in _SHORTCODES.items():
        text = text.replace(code, char)
    try:
        import mistune
    except ImportError:  # nbconvert brings mistune; without it, show the text as is
        return f"<pre>{html_escape.escape(text)}</pre>"
    return mistune.create_markdown(escape=True, plugins=["table"])(text)


def _table(headers: list[str], rows: list[list], bad_rows: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html_escape.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = ' class="bad"' if i in bad_rows else ""
        cells = "".join(f"<td>{html_escape.escape(_cell(v))}</td>" for v in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_check(report: dict) -> str:
    """The `cebench check --json` report as HTML: summary, then every non-grid case and
    any grid case that does not match the reference."""
    summary = report.get("summary", {})
    broken = summary.get("rules_broken", 0)
    devices = ", ".join(f"{k}: {v}" for k, v in (report.get("devices") or {}).items())
    parts = [(f"<p>torch {html_escape.escape(str(report.get('torch_version')))} on "
              f"{html_escape.escape(devices)}. Rules broken: <strong>{broken}</strong>. "
              "Each case compares torch with cebench's float64 reference "
              "(see docs/semantics.md).</p>")]
    verdict_rows = [[kind, verdict, count]
                    for kind, counts in (summary.get("verdicts") or {}).items()
                    for verdict, count in counts.items()]
    parts.append("<h2>Summary</h2>" + _table(["kind", "verdict", "cases"], verdict_rows))
    cases = report.get("cases") or []
    shown = [c for c in cases if c.get("kind") != "grid"
             or c.get("verdict") not in ("matches", "skipped") or c.get("rule_broken")]
    cols = ["kind", "name", "device", "dtype", "verdict", "rule_broken", "torch_loss",
            "reference_loss", "loss_rel_error", "note"]
    rows = [[c.get(k) for k in cols] for c in shown]
    bad = {i for i, c in enumerate(shown) if c.get("rule_broken")}
    hidden = len(cases) - len(shown)
    parts.append(f"<h2>Cases</h2><p>{len(shown)} shown; {hidden} grid cases that match "
                 "the reference (or are skipped on this device) are counted above.</p>")
    parts.append(_table(cols, rows, bad))
    return "\n".join(parts)


# --- the compare and check parts ------------------------------------------------------


def skipped_note(skipped: list[Path]) -> str:
    """'; skipped N unreadable result file(s): a.json, b.json' (or '')."""
    if not skipped:
        return ""
    return (f"; skipped {len(skipped)} unreadable result file(s): "
            + ", ".join(sorted(p.name for p in skipped)))


@dataclass
class Verdict:
    """What `cebench compare` said for one machine's two newest torch versions."""

    machine: str
    baseline: str
    candidate: str
    outcome: str  # 'regression', 'inconclusive', 'ok'
    summary: str  # the per-machine sentence of the headline
    page: str
    tau: float | None = None  # run-to-run noise of whole runs (sd, log), when measured
    min_detectable: float | None = None  # smallest shared change the comparison detects

    @property
    def noise_words(self) -> str:
        if self.tau is None:
            return "run-to-run noise not measured"
        text = f"run-to-run noise {self.tau * 100:.0f} %"
        if self.min_detectable is not None:
            from cebench.results.compare import percent_words

            text += f", detects shared changes over {percent_words(self.min_detectable)}"
        return text


def build_compare(results_dir: Path, out_dir: Path, root: Path,
                  verdicts: list[Verdict] | None = None) -> PartOutcome:
    """`cebench compare` between the two newest torch versions of each machine (at the
    newest commit both have, every replicate run there), rendered to
    html/cebench/compare-<machine>.html; each machine's verdict appended to ``verdicts``."""
    skipped: list[Path] = []
    try:
        machines = runs_by_machine(results_dir, skipped)
    except Exception as exc:  # noqa: BLE001 -- ResultsError, or a loader defect: one line
        reason = missing_dependency(exc) if isinstance(exc, ModuleNotFoundError) else None
        return PartOutcome("compare", False, f"cannot load {results_dir}: {reason or exc}")
    pairs = {}
    for machine, runs in machines.items():
        versions = list(latest_per_torch(runs))
        if len(versions) >= 2:
            pairs[machine] = (versions[-2], versions[-1])
    if not pairs:
        return PartOutcome("compare", False, f"no machine in {results_dir} has results for "
                           f"two torch versions{skipped_note(skipped)}")
    links, failures, states = [], [], {}
    for machine, (baseline, candidate) in sorted(pairs.items()):
        md, js = out_dir / f"compare-{machine}.md", out_dir / f"compare-{machine}.json"
        code, last = _run(_cebench("compare", str(results_dir.resolve()), "--baseline",
                                   f"torch={baseline}", "--candidate", f"torch={candidate}",
                                   "--machine", machine, "--markdown", str(md), "--json",
                                   str(js)), cwd=root)
        if code not in (0, 1, 3) or not md.exists() or not js.exists():
            failures.append(f"{machine}: cebench compare exited {code}: {last}")
            continue
        report = json.loads(js.read_text())
        state = report["outcome"]
        states[machine] = state
        title = f"torch {baseline} → torch {candidate} on {machine}"
        page = out_dir / f"compare-{machine}.html"
        page.write_text(html_page(title, markdown_to_html(md.read_text())))
        lines = report["summary"].splitlines()
        if verdicts is not None:
            suite = (report.get("machines") or [{}])[0]
            verdicts.append(Verdict(machine, baseline, candidate, state,
                                    lines[1] if len(lines) > 1 else lines[0],
                                    f"cebench/{page.name}", suite.get("tau"),
                                    suite.get("min_detectable")))
        links.append((f"{title}: {VERDICT_WORDS[state]}", f"cebench/{page.name}"))
    if failures:
        return PartOutcome("compare", False, "; ".join(failures) + skipped_note(skipped), links)
    told = ", ".join(f"{m} {VERDICT_WORDS[s]}" for m, s in states.items())
    return PartOutcome("compare", True, f"{len(links)} machine(s) compared ({told})"
                       + skipped_note(skipped), links)


VERDICT_WORDS = {"regression": "regression", "inconclusive": "inconclusive (too few runs)",
                 "ok": "no regression"}


def noise_notes(results_dir: Path) -> list[str]:
    """One sentence per machine with replicate runs: its measured run-to-run noise (tau)
    and the shared change that three, six and twelve runs per side catch (at the time
    rule's default settings and promised probability)."""
    import warnings

    from cebench.results import compare, load as results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = results.load(results_dir)
    notes = []
    for machine in sorted(set(df["machine"])):
        noise = compare.replicate_noise(df, machine)
        if noise is None:
            notes.append(f"{machine}: no replicate runs, run-to-run noise not measured: read "
                         "its comparisons as inconclusive.")
            continue
        mds = {k: noise.min_detectable(k, k, compare.DEFAULT_ALPHA, compare.DEFAULT_THRESHOLD)
               for k in (3, 6, 12)}
        notes.append(f"{machine}: whole runs of one version differ by {noise.tau * 100:.1f} % "
                     f"(sd, tau, from {noise.source}); a comparison catches a shared change "
                     f"of {compare.percent_words(mds[3])} with 3 runs per side, "
                     f"{compare.percent_words(mds[6])} with 6 and "
                     f"{compare.percent_words(mds[12])} with 12, {compare.POWER:.0%} of the "
                     "time.")
    return notes


def build_check(out_dir: Path, root: Path) -> PartOutcome:
    if not _installed("torch"):
        return PartOutcome("check", True, "torch is not installed: no semantics check "
                           "(pip install 'cebench[bench]')", skipped=True)
    report_path = out_dir / "check.json"
    code, last = _run(_cebench("check", "--json", str(report_path)), cwd=root)
    if code not in (0, 1) or not report_path.exists():
        return PartOutcome("check", False, f"cebench check exited {code}: {last}")
    try:
        report = json.loads(report_path.read_text())
        body = render_check(report)
    except (ValueError, AttributeError, TypeError) as exc:
        return PartOutcome("check", False, f"cannot render {report_path}: {exc}")
    title = f"Semantics check (torch {report.get('torch_version')})"
    (out_dir / "check.html").write_text(html_page(title, body))
    note = "rules broken" if code == 1 else "no rule broken"
    return PartOutcome("check", True, note, [(title, "cebench/check.html")])


# --- the front pages -------------------------------------------------------------------


def write_cebench_index(html_dir: Path, outcomes: list[PartOutcome],
                        verdicts: list[Verdict] = (), notes: list[str] = ()) -> Path:
    """html/cebench/index.html: the regression verdicts of `cebench compare` and each
    machine's measured noise first, then every page the parts made, and which failed."""
    items = []
    if verdicts:
        rows = "".join(f'<li><strong>{html_escape.escape(VERDICT_WORDS[v.outcome])}</strong>: '
                       f'<a href="../{html_escape.escape(v.page)}">torch {html_escape.escape(v.baseline)}'
                       f' → {html_escape.escape(v.candidate)} on {html_escape.escape(v.machine)}</a>. '
                       f"{html_escape.escape(v.summary)}</li>" for v in verdicts)
        items.append(f'<h2 id="verdicts">Regression verdicts (cebench compare)</h2><ul>{rows}</ul>'
                     "<p>These are the only regression verdicts of this site: asv's own "
                     "regression list leaves out series where higher is better (bandwidth, "
                     "fraction of peak) and records that are not performance (versions, "
                     "device counts, accuracy).</p>")
    if notes:
        items.append('<h2 id="noise">Run-to-run noise</h2><ul>'
                     + "".join(f"<li>{html_escape.escape(n)}</li>" for n in notes) + "</ul>")
    for outcome in outcomes:
        links = "".join(f'<li><a href="../{html_escape.escape(path)}">{html_escape.escape(title)}</a></li>'
                        for title, path in outcome.links)
        status = ""
        if outcome.skipped or not outcome.ok:
            word, colour = ("skipped", "#6e7781") if outcome.skipped else ("failed", "#b42318")
            status = (f' <span style="color:{colour}">{word}: '
                      f'{html_escape.escape(outcome.message)}</span>')
        items.append(f"<h2>{outcome.name}{status}</h2><ul>{links}</ul>")
    page = html_dir / "cebench" / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    body = ("<p>Analysis pages, the torch-version regression reports and the semantics "
            "check, built by <code>cebench dashboard</code> from the committed results.</p>"
            + "\n".join(items))
    page.write_text(html_page("cebench analysis", body, nav_prefix=""))
    return page


def link_bar(verdicts: list[Verdict] = ()) -> str:
    """The fixed box on the front page: each machine's compare verdict, and a link on."""
    told = " · ".join(f"{v.machine}: torch {v.baseline} → {v.candidate} "
                      f"{VERDICT_WORDS[v.outcome]} ({v.noise_words})" for v in verdicts)
    text = (html_escape.escape(told) + " &middot; " if told else "") + "cebench analysis &rarr;"
    return (LINK_BAR_MARKER + '<div id="cebench-links" style="position:fixed;right:12px;'
            "bottom:12px;z-index:2147483647;background:#0b5cad;border-radius:6px;"
            "padding:6px 12px;max-width:60vw;font:600 14px system-ui,sans-serif;"
            'box-shadow:0 2px 6px rgba(0,0,0,.3)"><a href="cebench/index.html" '
            f'style="color:#fff;text-decoration:none">{text}</a></div>')


#: The asv UI's Compare view counts benchmarks beyond a factor as "regressed" /
#: "improved", without a noise test and with every series lower-is-better: a count that
#: would contradict `cebench compare`. This inline script hides those two counts (the
#: fixed box gives the verdict on every view).
_HIDE_FACTOR_COUNTS = (
    "<script>(function(){var re=/^\\d+ (regressed|improved)$/;"
    "function hide(){document.querySelectorAll('#root .chip').forEach(function(c){"
    "if(re.test(c.textContent.trim())){c.style.display='none';}});}"
    "new MutationObserver(hide).observe(document.documentElement,{childList:true,"
    "subtree:true,characterData:true});hide();})();</script>")


def inject_link_bar(index_html: Path, verdicts: list[Verdict] = ()) -> None:
    """Adds a fixed "cebench analysis" link, with the compare verdicts, to the front page
    (outside the UI's #root, so the single-page app's rendering leaves it alone).
    Idempotent."""
    _insert_once(index_html, LINK_BAR_MARKER, "</body>", link_bar(verdicts) + _HIDE_FACTOR_COUNTS)


def _insert_once(index_html: Path, marker: str, before: str, snippet: str) -> None:
    """Puts ``snippet`` (which starts with ``marker``) before the first ``before`` tag,
    unless the page already holds ``marker``."""
    text = index_html.read_text()
    if marker in text:
        return
    if before not in text:
        raise ValueError(f"{index_html} has no {before}")
    index_html.write_text(text.replace(before, snippet + "\n" + before, 1))


CHIP_STYLE_MARKER = "<!-- cebench chip style -->"
_CHIP_STYLE = (CHIP_STYLE_MARKER + "<style>.param-picker .param-chips{max-height:7.5rem;"
               "overflow-y:auto;padding-right:.3rem}</style>")


def inject_chip_style(index_html: Path) -> None:
    """Caps the tachyon graph page's parameter picker at a few rows, scrolling inside
    itself: a benchmark with many parameter combinations (Core: 150) would otherwise list
    them all above its chart. Benchmark names, parameters and results are unchanged.
    Idempotent."""
    _insert_once(index_html, CHIP_STYLE_MARKER, "</head>", _CHIP_STYLE)


def check_output_dir(html_dir: Path) -> None:
    """Refuses an output folder that is not empty and is not a previous dashboard (a typo
    in --html must not replace a source tree)."""
    if html_dir.exists():
        if not html_dir.is_dir():
            raise InputError(f"{html_dir} is not a folder; choose another --html")
        previous = (html_dir / "index.json").exists() or (html_dir / "cebench").is_dir()
        if any(html_dir.iterdir()) and not previous:
            raise InputError(f"{html_dir} is not empty and is not a dashboard; choose another --html")


def build_dashboard(results_dir: Path, html_dir: Path, conf_path: Path,
                    parts: tuple[str, ...] = PARTS,
                    notebook_dir: Path | None = None, log=None) -> list[PartOutcome]:
    """Builds every requested part; returns each part's outcome. The site is built in a
    temporary sibling of html_dir that replaces it when complete (see the module doc).
    ``log(name, i)`` is called before part ``i`` (from 1) starts."""
    check_output_dir(html_dir)
    with atomic.staging_dir(html_dir) as staging:  # interrupted: html_dir stays as it was
        outcomes = _build_site(results_dir, staging, conf_path, parts, notebook_dir, log)
    return outcomes


def _build_site(results_dir: Path, html_dir: Path, conf_path: Path, parts: tuple[str, ...],
                notebook_dir: Path | None, log=None) -> list[PartOutcome]:
    root = conf_path.resolve().parent
    out_dir = html_dir / "cebench"
    outcomes, verdicts = [], []
    with tempfile.TemporaryDirectory(prefix="cebench-dashboard-") as tmp:
        steps = {
            "asv": lambda: publish_asv(results_dir, html_dir, conf_path, Path(tmp)),
            "analysis": lambda: build_analysis(results_dir, html_dir, root, notebook_dir),
            "compare": lambda: build_compare(results_dir, out_dir, root, verdicts),
            "check": lambda: build_check(out_dir, root),
        }
        for i, name in enumerate(parts, 1):  # asv first: `asv publish` empties html_dir
            if log is not None:
                log(name, i)
            out_dir.mkdir(parents=True, exist_ok=True)
            try:
                outcomes.append(steps[name]())
            except Exception as exc:  # noqa: BLE001 -- one part's bug must not stop the others
                outcomes.append(PartOutcome(name, False, f"{type(exc).__name__}: {exc}"))
    try:
        notes = noise_notes(results_dir) if "compare" in parts else []
    except Exception:  # noqa: BLE001 -- unreadable results: the compare part says so
        notes = []
    write_cebench_index(html_dir, outcomes, verdicts, notes)
    index = html_dir / "index.html"
    if index.exists():
        inject_link_bar(index, verdicts)
        inject_chip_style(index)
    else:  # asv failed: still give the site a front page that leads to the rest
        shutil.copy2(out_dir / "index.html", index)
        text = index.read_text().replace('href="index.html"', 'href="cebench/index.html"')
        index.write_text(text.replace('href="../', 'href="'))
    return outcomes


# --- the CI regression gate ------------------------------------------------------------


@dataclass
class AlertReport:
    """What ``cebench alert`` found: one line per comparison, the markdown, the status."""

    lines: list[str] = field(default_factory=list)
    markdown: str = ""
    status: int = 0


#: Exit statuses of `cebench compare`, most serious first (what `cebench alert` returns).
_STATUS_RANK = (2, 1, 3, 0)


def worst_status(a: int, b: int) -> int:
    """The more serious of two statuses: bad input, then regression, then inconclusive."""
    rank = {code: i for i, code in enumerate(_STATUS_RANK)}
    return min(a, b, key=lambda c: rank.get(c, 0))


def alert_report(results: Path, machine: str | None = None,
                 commit: str | None = None) -> AlertReport:
    """For each machine: the newest torch at ``commit`` against the previous torch version
    and against its own previous results, with `cebench compare` (status 0, 1, 2 or 3).

    An unreadable results file of a checked machine is bad input (InputError naming it):
    a gate that skipped the newest run would pass without looking at it."""
    skipped: list[Path] = []
    try:
        machines = runs_by_machine(results, skipped, strict=True)
    except ModuleNotFoundError as exc:
        raise (missing_dependency(exc) or exc) from None
    except Exception as exc:  # noqa: BLE001 -- reported in one line
        raise InputError(f"cannot load {results}: {exc}") from None
    if machine:
        if machine not in machines and not any(p.parent.name == machine for p in skipped):
            raise InputError(f"no results for machine {machine!r} in {results}; "
                             f"available: {', '.join(sorted(machines)) or 'none'}")
    unreadable = [p for p in skipped if machine is None or p.parent.name == machine]
    if unreadable:
        raise InputError(f"unreadable results file(s), not checked: "
                         f"{', '.join(str(p) for p in sorted(unreadable))}")
    if machine:
        machines = {machine: machines[machine]}
    if commit and not any(r.commit.startswith(commit) for runs in machines.values() for r in runs):
        known = sorted({r.commit[:8] for runs in machines.values() for r in runs})
        raise InputError(f"--commit {commit}: no results at that commit in {results}; "
                         f"available: {', '.join(known) or 'none'}")
    report = AlertReport()
    sections = []
    words = {0: "no regression", 1: "**REGRESSION**",
             3: "inconclusive: too few runs on a side, or a failure (see the report)"}
    with tempfile.TemporaryDirectory(prefix="cebench-alert-") as tmp:
        for name, runs in sorted(machines.items()):
            pairs = alert_pairs(runs, commit)
            if not pairs:
                sections.append(f"## {name}\n\nNothing to compare: no run at commit "
                                f"{commit or '(newest)'} with an earlier run or torch version.\n")
                continue
            for i, (what, baseline, candidate) in enumerate(pairs):
                md = Path(tmp) / f"{name}-{i}.md"
                code, last = run_compare(results, name, baseline, candidate, md, None, Path.cwd())
                ok = code in words
                verdict = words.get(code, f"compare failed (exit {code})")
                report.lines.append(
                    f"cebench alert: {name}: {what}: {baseline.label} -> {candidate.label}: "
                    f"{verdict.strip('*')}" + ("" if ok else f": {last}"))
                body = md.read_text() if md.exists() and ok else f"`{last}`\n"
                sections.append(f"## {name}: {what} ({verdict})\n\n"
                                f"{baseline.label} → {candidate.label}\n\n{body}\n")
                report.status = worst_status(report.status, code if ok else 2)
    report.markdown = "# cebench regression check\n\n" + "\n".join(sections)
    return report
