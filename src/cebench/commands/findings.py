"""`cebench findings`: the changes between consecutive torch releases (docs/findings.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cebench.errors import InputError

NAME = "findings"
HELP = "what changed between consecutive torch releases, from the results (docs/findings.md)"
DESCRIPTION = (
    "Render the findings page from a results folder: a summary, the releases measured "
    "with their builds, each distinct change between consecutive releases grouped by cause "
    "(with the functions that carry it, where `cebench instructions --explain` recorded "
    "them), and the semantic changes recorded by `cebench history`. Prints it, or writes "
    "it with --write.")


def add_arguments(parser) -> None:
    from cebench.publish import findings

    parser.add_argument("--results", type=Path, default=findings.RESULTS_DIR,
                        help="results folder (default: the repository's results/)")
    parser.add_argument("--write", nargs="?", const=findings.DOC_PATH, type=Path, metavar="PATH",
                        help="write the page (default docs/findings.md)")


def run(args) -> int:
    from cebench.publish import findings
    from cebench.results.load import ResultsError

    if args.write:
        folder = Path(args.write).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise InputError(f"--write {args.write}: cannot write there ({folder} is not a "
                             "writable folder)")
    try:
        text = findings.render(args.results)
    except ResultsError as exc:
        raise InputError(str(exc)) from None
    if args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0
