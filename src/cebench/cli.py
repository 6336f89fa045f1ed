"""The ``cebench`` command: dispatches to :mod:`cebench.commands`.

Exit statuses (cebench.errors): 0 ok, 1 a finding (broken rule, regression, fidelity
miss), 2 bad input (one line on stderr), 3 inconclusive, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cebench.commands import COMMAND_MODULES
from cebench.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, InputError



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cebench",
        description="Benchmarks and semantics checks for weighted cross entropy in PyTorch.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"cebench.commands.{name}")
        command = sub.add_parser(module.NAME, help=module.HELP,
                                 description=getattr(module, "DESCRIPTION", module.HELP),
                                 aliases=getattr(module, "ALIASES", ()))
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or EXIT_OK)
    except InputError as exc:
        print(f"cebench {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"cebench {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # `python -m cebench.cli`: use the importable module's names
    from cebench.cli import main as _main

    sys.exit(_main())
