"""``cebench dashboard``: the published HTML site, built from results alone; ``--serve``
serves it over HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cebench.errors import EXIT_BAD_INPUT, EXIT_OK, InputError

NAME = "dashboard"
HELP = "build the HTML site (answers, verdicts, analysis, charts) from results; --serve it"
DESCRIPTION = (
    "Builds html/ from results alone: the committed results/ together with this "
    "machine's own runs in .asv/results/ (where scripts/run-suite.sh writes them), when "
    "there are any. html/index.html answers what a weight costs, what changed between "
    "releases and whether the semantics hold, with the newest run's verdicts; beside it "
    "the comparisons, the findings, the analysis notebooks, the semantics check and asv's "
    "benchmark charts. The site opens from disk; --serve serves it over HTTP instead. "
    "It is built in a temporary folder that replaces --html only when complete (Ctrl-C "
    "leaves the previous site). Exit 2 on bad input, a damaged results file included "
    "(named; nothing built), or when a part could not be built (each named in one line; "
    "the other parts are built).")


def add_arguments(parser) -> None:
    from cebench.publish.dashboard import PARTS

    parser.add_argument("--results", default="results", help="asv results directory (default: results)")
    parser.add_argument("--local-results", metavar="DIR",
                        help="this machine's own runs, read with --results (default: "
                        "$CEBENCH_LOCAL_RESULTS, else .asv/results beside the config, when it "
                        "exists); 'none' for none")
    parser.add_argument("--html", default="html", help="output directory, replaced (default: html)")
    parser.add_argument("--config", default="asv.conf.json", help="asv config (default: asv.conf.json)")
    parser.add_argument("--only", metavar="PARTS", help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--analysis", metavar="DIR",
                        help="folder of analysis notebooks (default: the project's analysis/)")
    parser.add_argument("--serve", action="store_true",
                        help="serve --html over HTTP (building it first if it has no "
                        "index.html) until Ctrl-C")
    parser.add_argument("--port", type=int, default=8000,
                        help="port for --serve (default 8000; 0 picks a free one)")


def _local_results(args, conf: Path) -> Path | None:
    if args.local_results == "none":
        return None
    if args.local_results:
        path = Path(args.local_results)
        if not path.is_dir():
            raise InputError(f"no local results directory {path}")
        return path
    from cebench.publish.dashboard import LOCAL_RESULTS

    moved = os.environ.get("CEBENCH_LOCAL_RESULTS")  # where run-suite.sh writes, if moved
    path = Path(moved) if moved else conf.resolve().parent / LOCAL_RESULTS
    return path if path.is_dir() else None


def _progress(parts: tuple[str, ...], html: Path):
    """One line before each part; the analysis part's estimate is the notebooks' times in
    the previous site (html/analysis/.timings.json)."""
    from cebench.publish import notebooks

    previous = notebooks.previous_timings(html / "analysis")
    words = {"asv": "asv publish and the asv-tachyon UI",
             "analysis": "the analysis notebooks" + (
                 f", about {notebooks.duration(sum(previous.values()))} as last time"
                 if previous else ""),
             "compare": "cebench compare: every verdict of the site",
             "findings": "the findings across releases",
             "check": "cebench check on this torch"}

    def log(name: str, i: int) -> None:
        print(f"cebench dashboard: [{i}/{len(parts)}] {name}: {words.get(name, name)}",
              flush=True)

    return log


def _validate(results: Path, local: Path | None) -> None:
    """A damaged results file is named and nothing is built."""
    from cebench.commands.compare import load_results
    from cebench.results.load import result_files

    if not (results / "benchmarks.json").exists():
        raise InputError(f"{results} is not an asv results folder (no benchmarks.json)")
    if not result_files(results):
        raise InputError(f"no asv result files in {results} (<machine>/<run>.json)")
    load_results(results, NAME, samples=False)
    if local is not None and result_files(local):
        load_results(local, NAME, samples=False)


def run(args) -> int:
    if args.serve and not 0 <= args.port < 65536:
        raise InputError(f"--port {args.port}: choose 0 to 65535")
    html = Path(args.html)
    status = EXIT_OK
    if not (args.serve and (html / "index.html").exists()):
        status = build(args)
    if args.serve:
        serve(html, args.port)
    return status


def build(args) -> int:
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
    local = _local_results(args, conf)
    if set(parts) & {"asv", "analysis", "compare", "findings"}:
        _validate(results, local)
    html = atomic.check_creatable_dir(args.html, "--html")
    check_output_dir(html)
    if local is not None:  # bad input is one line on stderr: said once the input is good
        print(f"cebench dashboard: reading {results} and this machine's runs in {local}")
    outcomes = build_dashboard(results, html, conf, parts, notebook_dir, local,
                               log=_progress(parts, html))
    for o in outcomes:
        state = "skipped" if o.skipped else "ok" if o.ok else "FAILED"
        print(f"cebench dashboard: {o.name}: {state}: {o.message}",
              file=sys.stdout if o.ok else sys.stderr)
    index = os.path.join(args.html, "index.html")
    print(f"cebench dashboard: open {index} (from disk), or serve it: cebench dashboard --serve")
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_BAD_INPUT


def serve(html: Path, port: int) -> None:
    """Serves ``html`` on 127.0.0.1 until Ctrl-C."""
    import functools
    import http.server

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(html.resolve()))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise InputError(f"cannot serve on port {port}: {exc.strerror}; choose another --port") from None
    with server:
        print(f"cebench dashboard: serving {html} at http://127.0.0.1:{server.server_address[1]}/ "
              "(Ctrl-C stops)", flush=True)
        server.serve_forever()
