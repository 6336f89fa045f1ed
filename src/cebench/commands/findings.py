"""`cebench findings`: the changes between consecutive torch releases (docs/findings.md)."""

from __future__ import annotations

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
    "it with --write (the whole page or nothing). A damaged results file is bad input "
    "(exit 2, named).")


def add_arguments(parser) -> None:
    from cebench.publish import findings

    parser.add_argument("--results", type=Path, default=findings.RESULTS_DIR,
                        help="results folder (default: the repository's results/)")
    parser.add_argument("--write", nargs="?", const=findings.DOC_PATH, type=Path, metavar="PATH",
                        help="write the page (default docs/findings.md)")


def run(args) -> int:
    from cebench.publish import findings
    from cebench.results.load import ResultsError

    from cebench import atomic

    write = atomic.check_writable(args.write, "--write") if args.write else None
    try:
        text = findings.render(args.results, strict=True)
    except ResultsError as exc:
        raise InputError(str(exc)) from None
    if write:
        atomic.write_text(write, text)  # the whole page or nothing
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0
