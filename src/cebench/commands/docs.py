"""``cebench docs``: the figures in the docs, recomputed from results, records and settings."""

from __future__ import annotations

from pathlib import Path

from cebench.errors import EXIT_FINDING, EXIT_OK

NAME = "docs"
HELP = "check (or --write) every generated figure in the docs"
DESCRIPTION = (
    "Every figure in README.md and docs/ (noise, smallest detectable change, alpha, "
    "counts, times) sits between markers that name where it comes from: the committed "
    "results, a measurement record or a setting of the code. Without --write, lists the "
    "figures that differ from their source (exit 1 if any); with --write, rewrites them. "
    "--list prints every generated figure.")


def add_arguments(parser) -> None:
    parser.add_argument("--write", action="store_true", help="rewrite the stale figures")
    parser.add_argument("--list", action="store_true", help="list every generated figure")
    parser.add_argument("--root", type=Path, default=None,
                        help="the project (default: the checkout cebench runs from)")


def run(args) -> int:
    from cebench import docfigures

    root = args.root or docfigures.REPO
    if args.list:
        for doc, name, arguments in docfigures.figures_in(root):
            print(f"{doc}: {name} {arguments}".rstrip())
        return EXIT_OK
    if args.write:
        for doc in docfigures.write(root):
            print(f"cebench docs: wrote {doc}")
        return EXIT_OK
    stale = docfigures.stale(root)
    for doc, name in stale:
        print(f"cebench docs: {doc}: figure {name} differs from its source "
              "(cebench docs --write)")
    return EXIT_FINDING if stale else EXIT_OK
