"""The `cebench` command.

Each feature module that offers a subcommand defines ``register_cli(subparsers)``,
which adds its parser and sets ``func`` (a callable taking the parsed args and
returning an exit code). Modules are imported lazily, one name per line below.
Exit codes: 0 ok, 1 a finding (broken rule, regression, fidelity miss), 2 bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands, in the order `cebench --help` lists them.
SUBCOMMAND_MODULES = [
    "cebench.grid.cases",
    "cebench.environment",
    "cebench.semantics.conformance",
    "cebench.measure.profile",
    "cebench.measure.selfcheck",
    "cebench.results.compare",
    "cebench.publish.notebooks",
    "cebench.publish.dashboard",
    "cebench.results.merge",
]


class UsageError(Exception):
    """Bad input from the user: reported in one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cebench",
        description="Benchmarks and semantics checks for weighted cross entropy in PyTorch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"cebench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # `python -m cebench.cli`: use the importable module's names
    from cebench.cli import main as _main

    sys.exit(_main())
