"""``cebench notebooks``: execute the analysis notebooks headless, write offline HTML."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from cebench.errors import EXIT_BAD_INPUT, EXIT_OK, InputError

NAME = "notebooks"
ALIASES = ("analysis",)
HELP = "execute the analysis notebooks and write offline HTML"
DESCRIPTION = (
    "Execute every analysis notebook headless against a results folder and "
    "write each as HTML (with its figures) into the out folder, which is built aside and "
    "replaced only when every notebook has run (a failure or Ctrl-C leaves it as it was). "
    "The project is the nearest folder, from here upwards, that holds asv.conf.json; its "
    "analysis/, results/ and html/analysis/ are the defaults. Exit 2 on bad input (no "
    "or a malformed notebook, no readable results, an unwritable out folder) or when a "
    "notebook fails (its error in one line): no page is then replaced.")

#: A terminal colour code (IPython colours the tracebacks a failing cell records).
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Errors a notebook raises for bad input (no readable results): exit 2, not 1.
INPUT_ERRORS = ("ResultsError", "InputError", "MissingDependency")


def add_arguments(parser) -> None:
    parser.add_argument("--results", help="asv results folder (default: the project's results/)")
    parser.add_argument("--out", help="output folder (default: the project's html/analysis)")
    parser.add_argument("--analysis", "--notebooks", dest="notebooks", metavar="DIR",
                        help="folder of notebooks (default: the project's analysis/)")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds per notebook cell, at least 1 (default 600)")


def run(args) -> int:
    from cebench.asvconf import find_project_root
    from cebench.publish import notebooks
    from cebench.results.load import result_files

    if args.timeout < 1:
        raise InputError(f"--timeout must be at least 1 second, not {args.timeout}")
    root = find_project_root()
    base = root if root else Path()
    results_dir = Path(args.results) if args.results else base / "results"
    out_dir = Path(args.out) if args.out else base / "html" / "analysis"
    notebook_dir = Path(args.notebooks) if args.notebooks else notebooks.find_notebook_dir()
    if notebook_dir is None:
        raise InputError("no analysis notebooks found: run from a cebench checkout (a folder "
                         "with asv.conf.json and analysis/, or below it) or pass --analysis DIR")
    if not notebooks.notebook_paths(notebook_dir):
        raise InputError(f"no notebooks (*.ipynb) in {notebook_dir}")
    import nbclient  # noqa: F401 -- a missing extra: one line before any work

    notebooks.check_notebooks(notebook_dir)
    notebooks.check_out_dir(out_dir)
    if not results_dir.is_dir():
        raise InputError(f"no results directory at {results_dir}")
    if not result_files(results_dir):
        raise InputError(f"no asv result files in {results_dir} (<machine>/<run>.json)")
    from nbclient.exceptions import CellExecutionError

    skipped = unreadable_results(results_dir)
    if skipped:
        print(f"cebench notebooks: skipped {len(skipped)} unreadable result file(s): "
              + ", ".join(sorted(p.name for p in skipped)))
    try:
        notebooks.run_all(results_dir, out_dir, notebook_dir, timeout_s=args.timeout,
                          log=lambda line: print(line, flush=True))
    except CellExecutionError as exc:
        lines = [ln for ln in ANSI_ESCAPE.sub("", str(exc)).splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else type(exc).__name__
        if getattr(exc, "ename", None) in INPUT_ERRORS:
            print(f"cebench notebooks: error: {last}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"cebench notebooks: error: a notebook failed: {last}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def unreadable_results(results_dir: Path) -> list[Path]:
    """The results files the notebooks will skip (they load the folder the same way)."""
    import warnings

    from cebench.results import load

    skipped: list[Path] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            load.load(results_dir, skipped=skipped)
        except load.ResultsError:
            pass  # nothing readable: the notebooks say so themselves
    return skipped
