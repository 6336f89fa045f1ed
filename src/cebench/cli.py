"""The ``cebench`` command: dispatches to :mod:`cebench.commands`.

Exit statuses (cebench.errors): 0 ok, 1 a finding (broken rule, regression, fidelity
miss), 2 bad input or a missing extra (one line on stderr), 3 inconclusive, 130
interrupted. ``cebench --help`` works with no extra installed: a command whose optional
dependency is missing is still listed, and says which extra to install when run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cebench.commands import COMMAND_MODULES
from cebench.errors import (EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_MEANINGS, EXIT_OK,
                            InputError, missing_dependency)


def _epilog() -> str:
    codes = "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_MEANINGS.items())
    return ("exit status:\n" + codes + "\n\n"
            "extras (pip install 'cebench[EXTRA]'): bench = torch + asv (run the suite; "
            "check, profile,\nselfcheck, machine); analysis = read results (compare, "
            "alert, notebooks, dashboard);\ngpu = NVML memory and clocks. "
            "`cases` and `merge-results` need none.")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cebench",
        description="Benchmarks and semantics checks for weighted cross entropy in PyTorch.",
        epilog=_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"cebench.commands.{name}")
        options = argparse.ArgumentParser(add_help=False)
        try:
            module.add_arguments(options)
        except ModuleNotFoundError as exc:  # its options need an extra: say so when run
            _add_unavailable(sub, module.NAME, module.HELP, getattr(module, "ALIASES", ()), exc)
            continue
        command = sub.add_parser(module.NAME, help=module.HELP, parents=[options],
                                 description=getattr(module, "DESCRIPTION", module.HELP),
                                 aliases=getattr(module, "ALIASES", ()))
        command.set_defaults(func=module.run)
    return parser


def _add_unavailable(sub, name: str, help_text: str, aliases, exc: ModuleNotFoundError) -> None:
    """A command whose module needs a missing extra: listed, and says which when run."""
    missing = missing_dependency(exc)
    if missing is None:  # not an optional dependency: a defect, not a user's problem
        raise exc
    command = sub.add_parser(name, help=f"{help_text} (needs the {missing.extra} extra)".lstrip(),
                             description=str(missing), aliases=aliases)
    command.add_argument("ignored", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    def unavailable(args, missing=missing):
        raise missing

    command.set_defaults(func=unavailable)


def main(argv: list[str] | None = None) -> int:
    name = "cebench"
    try:
        args = build_parser().parse_args(argv)
        name = f"cebench {args.command}"
        return int(args.func(args) or EXIT_OK)
    except InputError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModuleNotFoundError as exc:
        missing = missing_dependency(exc)
        if missing is None:
            raise
        print(f"{name}: error: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":  # `python -m cebench.cli`: use the importable module's names
    from cebench.cli import main as _main

    sys.exit(_main())
