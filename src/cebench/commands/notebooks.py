"""``cebench notebooks``: execute the analysis notebooks headless, write offline HTML."""

from __future__ import annotations

import sys
from pathlib import Path

from cebench.errors import EXIT_FINDING, EXIT_OK, InputError

NAME = "notebooks"
ALIASES = ("analysis",)
HELP = "execute the analysis notebooks and write offline HTML"
DESCRIPTION = (
    "Execute every analysis notebook headless against a results folder and "
    "write each as HTML (with its figures) into the out folder. Exit 1 if a notebook "
    "fails, 2 on bad input.")


def add_arguments(parser) -> None:
    from cebench.publish.notebooks import DEFAULT_NOTEBOOK_DIR

    parser.add_argument("--results", default="results", help="asv results folder "
                        "(default: results)")
    parser.add_argument("--out", default="html/analysis",
                        help="output folder (default: html/analysis)")
    parser.add_argument("--notebooks", default=str(DEFAULT_NOTEBOOK_DIR),
                        help=f"folder of notebooks (default: {DEFAULT_NOTEBOOK_DIR})")
    parser.add_argument("--timeout", type=int, default=600,
                        help="seconds per notebook cell (default 600)")


def run(args) -> int:
    from nbclient.exceptions import CellExecutionError

    from cebench.publish import notebooks

    results_dir, out_dir = Path(args.results), Path(args.out)
    notebook_dir = Path(args.notebooks)
    if not results_dir.is_dir():
        raise InputError(f"no results directory at {results_dir}")
    if not notebooks.notebook_paths(notebook_dir):
        raise InputError(f"no notebooks (*.ipynb) in {notebook_dir}")
    skipped = unreadable_results(results_dir)
    if skipped:
        print(f"cebench notebooks: skipped {len(skipped)} unreadable result file(s): "
              + ", ".join(sorted(p.name for p in skipped)))
    try:
        notebooks.run_all(results_dir, out_dir, notebook_dir, timeout_s=args.timeout,
                          log=print)
    except CellExecutionError as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        print(f"cebench notebooks: a notebook failed: {lines[-1] if lines else exc}",
              file=sys.stderr)
        return EXIT_FINDING
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
