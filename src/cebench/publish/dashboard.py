"""`cebench dashboard`: the published site, built from results alone (no benchmark runs).

The results are the committed history (``results/``) together with this machine's own
runs (``.asv/results/``, where ``scripts/run-suite.sh`` writes them) when there are any:
both are read as one folder (:func:`combine_results`), so the newest run the site speaks
of may be the user's own.

The site (html/):

- ``index.html``: the answers (:mod:`cebench.publish.front`): the newest run's verdicts,
  what a weight costs, what changed between releases, whether the semantics hold;
- ``cebench/``: each verdict's comparison page, the newest runs, the findings across
  releases, the semantics check, the analysis pages' list, ``verdicts.json`` (every verdict
  of the site, as data);
- ``analysis/``: the executed analysis notebooks (``cebench notebooks``);
- ``benchmarks.html``: asv's data in asv-tachyon's UI (:mod:`cebench.publish.asvsite`).

Every verdict comes from one computation per pair (:mod:`cebench.publish.verdicts`).
Each part is built on its own, so one failing does not stop the others; each failure is
one line. The site is built in a temporary sibling folder that replaces html/ only when
complete: an interrupted build (Ctrl-C) leaves the previous html/ as it was.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from cebench import atomic
from cebench.atomic import replace_dir  # noqa: F401 -- where it was
from cebench.errors import InputError, missing_dependency
from cebench.publish import asvsite, pages, subprocesses

PARTS = ("asv", "analysis", "compare", "findings", "check")
#: Where this machine's own asv runs go (scripts/run-suite.sh), relative to the project.
LOCAL_RESULTS = Path(".asv") / "results"
LOCAL_WORDS = "this machine's own run, in .asv/results"


@dataclass
class PartOutcome:
    """How one part of the dashboard went: ``links`` are (title, path relative to html/)."""

    name: str
    ok: bool
    message: str
    links: list[tuple[str, str]] = field(default_factory=list)
    skipped: bool = False  # not built here (a missing extra), not a failure


# --- the results: the committed history and this machine's own runs -----------------------


def combine_results(committed: Path, local: Path | None, dest: Path) -> tuple[Path, set[str]]:
    """One results folder holding ``committed`` and ``local`` (when it has results):
    ``dest``, of links to their files (a local file replaces a committed one of the same
    name; benchmarks.json is the union, local definitions first). Returns the folder to
    read and the names of the local results files."""
    if local is None or not (local / "benchmarks.json").exists():
        return committed, set()
    dest.mkdir(parents=True)
    benchmarks = {}
    for tree in (committed, local):
        path = tree / "benchmarks.json"
        if path.exists():
            try:
                benchmarks.update(json.loads(path.read_text()))
            except ValueError as exc:
                raise InputError(f"{path} is not valid JSON: {exc}") from None
    (dest / "benchmarks.json").write_text(json.dumps(benchmarks, indent=1))
    names = set()
    for tree in (committed, local):
        for machine in sorted(p for p in tree.iterdir() if p.is_dir()):
            for path in machine.rglob("*"):
                if path.is_file():
                    target = dest / machine.name / path.relative_to(machine)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    target.symlink_to(path.resolve())
                    if tree is local and path.suffix == ".json" and path.name != "machine.json":
                        names.add(path.name)
    return dest, names


# --- the parts ------------------------------------------------------------------------------


def build_analysis(results_dir: Path, html_dir: Path, root: Path,
                   notebook_dir: Path | None = None) -> PartOutcome:
    out = html_dir / "analysis"
    cmd = subprocesses.cebench("notebooks", "--results", str(results_dir.resolve()),
                               "--out", str(out.resolve()))
    if notebook_dir is not None:
        cmd += ["--analysis", str(Path(notebook_dir).resolve())]
    code, last = subprocesses.run(cmd, cwd=root)
    found = sorted(out.glob("*.html")) if out.is_dir() else []
    links = [(p.stem.replace("_", " "), f"analysis/{p.name}") for p in found]
    if code != 0:
        return PartOutcome("analysis", False, f"cebench notebooks exited {code}: {last}", links)
    if not found:
        return PartOutcome("analysis", False, f"cebench notebooks wrote no HTML into {out}")
    return PartOutcome("analysis", True, f"{len(found)} analysis page(s)", links)


def build_check(out_dir: Path, root: Path) -> PartOutcome:
    if not subprocesses.installed("torch"):
        return PartOutcome("check", True, "torch is not installed: no semantics check "
                           "(pip install 'cebench[bench]')", skipped=True)
    from cebench.publish import reports

    report_path = out_dir / "check.json"
    code, last = subprocesses.run(subprocesses.cebench("check", "--json", str(report_path)),
                                  cwd=root)
    if code not in (0, 1) or not report_path.exists():
        return PartOutcome("check", False, f"cebench check exited {code}: {last}")
    try:
        report = json.loads(report_path.read_text())
        text = reports.check_page(report)
    except (ValueError, AttributeError, TypeError) as exc:
        return PartOutcome("check", False, f"cannot render {report_path}: {exc}")
    (out_dir / "check.html").write_text(text)
    note = "rules broken" if code == 1 else "no rule broken"
    return PartOutcome("check", True, note, [("Semantics check", "cebench/check.html")])


def build_findings(results_dir: Path, out_dir: Path) -> PartOutcome:
    """The generated docs of these results as pages: the findings across releases, the
    implementations side by side, the time rule's measured power."""
    from cebench.publish import findings, implementations, reports, verdicts_doc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        docs = {"findings": findings.render(results_dir),
                "implementations": implementations.render_doc(results_dir),
                "verdicts": verdicts_doc.render(results_dir)}
    for name, text in docs.items():
        (out_dir / f"{name}.html").write_text(reports.doc_page(name, text))
    return PartOutcome("findings", True, "findings, implementations, the rules' power",
                       [("Findings across releases", "cebench/findings.html"),
                        ("Implementations", "cebench/implementations.html"),
                        ("How far to trust a verdict", "cebench/verdicts.html")])


def build_verdicts(results_dir: Path, out_dir: Path, local_files: set[str], root: Path,
                   fronts: list) -> PartOutcome:
    """Every verdict of the site (:mod:`cebench.publish.verdicts`): the newest runs' pages,
    verdicts.json, and the front page's data (appended to ``fronts``)."""
    from cebench.publish import front, reports

    data = front.front_data(results_dir, local_files, root, LOCAL_WORDS)
    fronts.append(data)
    for v in data.newest:
        (out_dir / f"pair-{v.slug}.html").write_text(reports.pair_page(v, data.threshold))
    (out_dir / "newest.html").write_text(reports.newest_page(data.newest, data.sources))
    (out_dir / "verdicts.json").write_text(json.dumps(
        {"newest": [v.to_json() for v in data.newest],
         "releases": [v.to_json() for v in data.steps]}, indent=1, default=str))
    said = ", ".join(f"{v.machine} {v.candidate} vs {v.relation}: {v.outcome}"
                     for v in data.newest) or "no two runs to compare"
    return PartOutcome("compare", True, said, [("The newest runs", "cebench/newest.html")])


# --- the site -------------------------------------------------------------------------------


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
                    parts: tuple[str, ...] = PARTS, notebook_dir: Path | None = None,
                    local_results: Path | None = None, log=None) -> list[PartOutcome]:
    """Builds every requested part; returns each part's outcome. The site is built in a
    temporary sibling of html_dir that replaces it when complete (see the module doc).
    ``local_results``: this machine's own runs, read together with ``results_dir``;
    ``log(name, i)`` is called before part ``i`` (from 1) starts."""
    check_output_dir(html_dir)
    with atomic.staging_dir(html_dir) as staging:  # interrupted: html_dir stays as it was
        with tempfile.TemporaryDirectory(prefix="cebench-dashboard-") as tmp:
            combined, local_files = combine_results(results_dir, local_results,
                                                    Path(tmp) / "results")
            outcomes = _build_site(combined, staging, conf_path, parts, notebook_dir,
                                   local_files, Path(tmp), log)
    return outcomes


def _build_site(results_dir: Path, html_dir: Path, conf_path: Path, parts: tuple[str, ...],
                notebook_dir: Path | None, local_files: set[str], tmp: Path, log=None
                ) -> list[PartOutcome]:
    from cebench.publish import front, reports

    root = conf_path.resolve().parent
    out_dir = html_dir / "cebench"
    outcomes, fronts = [], []
    steps = {
        "asv": lambda: PartOutcome("asv", *asvsite.publish(results_dir, html_dir, conf_path, tmp),
                                   [("Benchmark charts", asvsite.PAGE)]),
        "analysis": lambda: build_analysis(results_dir, html_dir, root, notebook_dir),
        "compare": lambda: build_verdicts(results_dir, out_dir, local_files, root, fronts),
        "findings": lambda: build_findings(results_dir, out_dir),
        "check": lambda: build_check(out_dir, root),
    }
    for i, name in enumerate((n for n in PARTS if n in parts), 1):  # asv first: `asv
        if log is not None:                                           # publish` empties
            log(name, i)                                              # html_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            outcome = steps[name]()
        except Exception as exc:  # noqa: BLE001 -- one part's bug must not stop the others
            reason = missing_dependency(exc) if isinstance(exc, ModuleNotFoundError) else None
            outcome = PartOutcome(name, False, f"{type(exc).__name__}: {reason or exc}")
        if not outcome.ok and name == "asv":
            outcome.links = []
        outcome.message += f" ({time.perf_counter() - start:.0f} s)"
        outcomes.append(outcome)
    out_dir.mkdir(parents=True, exist_ok=True)
    analysis = next((o for o in outcomes if o.name == "analysis"), None)
    (out_dir / "analysis.html").write_text(reports.analysis_page(
        analysis.links if analysis else [],
        "" if analysis is None or analysis.ok else f"Failed: {analysis.message}"))
    for name, path in (("findings", "findings.html"), ("findings", "implementations.html"),
                       ("findings", "verdicts.html"), ("check", "check.html")):
        if not (out_dir / path).exists():
            (out_dir / path).write_text(pages.page(name.capitalize(), _missing(outcomes, name),
                                                   here=f"cebench/{path}", prefix="../"))
    if not (out_dir / "newest.html").exists():
        (out_dir / "newest.html").write_text(reports.newest_page([], {}))
    data = fronts[0] if fronts else None
    body = front.render(data) if data else _front_without_verdicts(outcomes)
    (html_dir / "index.html").write_text(body)
    if not (html_dir / asvsite.PAGE).exists():
        (html_dir / asvsite.PAGE).write_text(pages.page(
            "Benchmark charts", _missing(outcomes, "asv"), here=asvsite.PAGE))
    return outcomes


def _missing(outcomes: list[PartOutcome], name: str) -> str:
    found = next((o for o in outcomes if o.name == name), None)
    if found is None:
        return f"<p>Not built this time (<code>cebench dashboard --only</code> left out {name}).</p>"
    return f"<p>This part failed: {pages.esc(found.message)}</p>"


def _front_without_verdicts(outcomes: list[PartOutcome]) -> str:
    items = "".join(f"<li>{pages.esc(o.name)}: {'ok' if o.ok else 'failed'}: "
                    f"{pages.esc(o.message)}</li>" for o in outcomes)
    return pages.page("cebench", "<p>The verdicts were not computed in this build.</p>"
                      f"<ul>{items}</ul>", here="index.html")
