"""``cebench dashboard``: the published HTML site, built from results/ alone."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cebench.errors import EXIT_BAD_INPUT, EXIT_OK, InputError

NAME = "dashboard"
HELP = "build the HTML dashboard (asv + analysis + compare + check) from results/"
DESCRIPTION = (
    "Builds html/ from committed results alone: asv publish with the offline "
    "asv-tachyon UI, the analysis notebooks, the torch-version compare reports "
    "and the semantics check. The site is built in a temporary folder that replaces "
    "--html only when complete (Ctrl-C leaves the previous site). Exit 2 on bad input, "
    "a damaged results file included (named; nothing built), or when a part could not be "
    "built (each named in one line; the other parts are built).")


def add_arguments(parser) -> None:
    from cebench.publish.dashboard import PARTS

    parser.add_argument("--results", default="results", help="asv results directory (default: results)")
    parser.add_argument("--html", default="html", help="output directory, replaced (default: html)")
    parser.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    parser.add_argument("--only", metavar="PARTS", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--analysis", metavar="DIR",
                        help="folder of analysis notebooks (default: the project's analysis/)")


def _progress(parts: tuple[str, ...], html: Path):
    """One line before each part; the analysis part's estimate is the notebooks' times in
    the previous site (html/analysis/.timings.json)."""
    from cebench.publish import notebooks

    previous = notebooks.previous_timings(html / "analysis")
    words = {"asv": "asv publish and the asv-tachyon UI",
             "analysis": "the analysis notebooks" + (
                 f", about {notebooks.duration(sum(previous.values()))} as last time"
                 if previous else ""),
             "compare": "cebench compare between the two newest torch versions",
             "check": "cebench check on this torch"}

    def log(name: str, i: int) -> None:
        print(f"cebench dashboard: [{i}/{len(parts)}] {name}: {words.get(name, name)}",
              flush=True)

    return log


def run(args) -> int:
    import asv  # noqa: F401 -- every part but `check` needs the analysis extra: say so first
    import pandas  # noqa: F401

    from cebench import atomic
    from cebench.publish.dashboard import PARTS, build_dashboard, check_output_dir

    conf = Path(args.config)
    if not conf.is_file():
        raise InputError(f"no asv config {conf} (run from the project root, or pass --config)")
    results = Path(args.results)
    if not results.is_dir():
        raise InputError(f"no results directory {results}")
    parts = tuple(args.only.split(",")) if args.only else PARTS
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise InputError(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    notebook_dir = Path(args.analysis) if args.analysis else None
    if notebook_dir is not None and not notebook_dir.is_dir():
        raise InputError(f"no analysis folder {notebook_dir}")
    if set(parts) & {"asv", "analysis", "compare"}:
        from cebench.commands.compare import load_results
        from cebench.results.load import result_files

        if not (results / "benchmarks.json").exists():
            raise InputError(f"{results} is not an asv results folder (no benchmarks.json)")
        if not result_files(results):
            raise InputError(f"no asv result files in {results} (<machine>/<run>.json)")
        load_results(results, NAME)  # a damaged file: named, and nothing is built
    html = atomic.check_creatable_dir(args.html, "--html")
    check_output_dir(html)
    outcomes = build_dashboard(results, html, conf, parts, notebook_dir,
                               log=_progress(parts, html))
    for o in outcomes:
        state = "skipped" if o.skipped else "ok" if o.ok else "FAILED"
        print(f"cebench dashboard: {o.name}: {state}: {o.message}",
              file=sys.stdout if o.ok else sys.stderr)
    print(f"cebench dashboard: open {os.path.join(args.html, 'index.html')}")
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_BAD_INPUT
