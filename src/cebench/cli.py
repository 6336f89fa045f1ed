"""The ``cebench`` command: dispatches to :mod:`cebench.commands`.

The exit statuses are a contract (:data:`cebench.errors.EXIT_MEANINGS`, listed by
``cebench --help``): 0 fine; 1 only for a finding that was measured (a broken rule, a
regression, a timer off the profiler); 2 for anything cebench could not read, write or
understand, with one line on stderr naming the file or argument (bad input, a missing
extra, a damaged results file, an unwritable output, and a defect of cebench itself, which
is never reported as a finding); 3 when the data cannot decide; 130 on Ctrl-C. Bad input
never prints a traceback. ``cebench --help`` works with no extra installed: a command whose
optional dependency is missing is still listed, and says which extra to install when run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
import traceback

from cebench.commands import COMMAND_MODULES
from cebench.errors import (EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_MEANINGS, EXIT_OK,
                            InputError, missing_dependency)

#: The sub-command parsers by every name they answer to (for their own usage on errors).
_SUBPARSERS: dict[str, argparse.ArgumentParser] = {}


def _epilog() -> str:
    codes = "\n".join(textwrap.fill(meaning, width=88, initial_indent=f"  {code:<4} ",
                                     subsequent_indent=" " * 7)
                       for code, meaning in EXIT_MEANINGS.items())
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
        for alias in (module.NAME, *getattr(module, "ALIASES", ())):
            _SUBPARSERS[alias] = command
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Like ``parser.parse_args``, but an unknown option of a sub-command is reported with
    that sub-command's usage (``cebench cases --frobnicate``), not the top-level one."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        sub = _SUBPARSERS.get(getattr(args, "command", None) or "", parser)
        sub.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


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
        args = parse_args(build_parser(), argv)
        name = f"cebench {args.command}"
        return int(args.func(args) or EXIT_OK)
    except InputError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # a file the command could not read or write
        if isinstance(exc, BrokenPipeError):
            return EXIT_OK
        where = f" {exc.filename}" if exc.filename else ""
        print(f"{name}: error: cannot use{where}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ModuleNotFoundError as exc:
        missing = missing_dependency(exc)
        if missing is None:
            return _defect(name, exc)
        print(f"{name}: error: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 -- a defect: never to be read as a finding (1)
        return _defect(name, exc)


def _defect(name: str, exc: BaseException) -> int:
    """A defect of cebench (not bad input): its traceback, one line saying so, status 2."""
    traceback.print_exception(exc)
    first = (str(exc).strip().splitlines() or [""])[0]
    print(f"{name}: error: internal error ({type(exc).__name__}: {first}); a defect in "
          "cebench, not a finding: please report it with the traceback above", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # `python -m cebench.cli`: use the importable module's names
    from cebench.cli import main as _main

    sys.exit(_main())
