"""``cebench check``: torch's cross entropy (or another implementation, ``--impl``) against
the float64 reference (semantics)."""

from __future__ import annotations

import json
from pathlib import Path

from cebench.errors import EXIT_FINDING, EXIT_INCONCLUSIVE, EXIT_OK, InputError

NAME = "check"
HELP = "check torch's cross entropy (or --impl NAME) against the float64 reference"
DESCRIPTION = (
    "Compare F.cross_entropy (loss and input gradient) with cebench's float64 "
    "reference over a grid of cases, plus the article's golden values, edge behaviour "
    "and bad input. With --impl, check that implementation (eager, compile, liger, "
    "quack, by_hand) on the same rules plus the contracts a user assumes (inputs left "
    "unchanged, repeatable loss, gradient), and print its support x conformance row. "
    "Exit 1 when a rule is broken. With --impl --record, exit 3 when the implementation "
    "could not run here (recorded as such).")


def add_arguments(parser) -> None:
    from cebench.grid.cases import IMPLEMENTATIONS

    parser.add_argument("--all", action="store_true", help="show every case, not only "
                        "non-matching, golden, edge and bad-input rows")
    parser.add_argument("--json", metavar="FILE", help="write every case and the summary as JSON")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="run on this device only")
    parser.add_argument("--impl", choices=IMPLEMENTATIONS,
                        help="check this implementation (default: torch's own, all devices)")
    parser.add_argument("--match", metavar="REGEX",
                        help="with --impl: only the grid cases whose name matches")
    parser.add_argument("--record", metavar="RESULTS", nargs="?", const="results",
                        help="with --impl: store the verdicts under "
                             "RESULTS/<machine>/impls/<impl>-<version>.jsonl (default results)")


def _write_json(path: str, data: dict) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=1) + "\n")
    except OSError as exc:
        raise InputError(f"cannot write --json {path}: {exc.strerror}") from exc


def run(args) -> int:
    import torch

    from cebench.semantics import conformance

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device cuda: CUDA is not available to torch {torch.__version__}")
    if (args.match or args.record) and not args.impl:
        raise InputError("--match and --record go with --impl NAME")
    devices = [args.device] if args.device else conformance.available_devices()
    if args.impl:
        return _run_impl(args, devices)
    report = conformance.check(devices)
    shown = report.cases if args.all else [c for c in report.cases
                                           if conformance.shown_by_default(c)]
    print(conformance.format_table(shown))
    print()
    print(conformance.format_summary(report))
    if args.json:
        _write_json(args.json, report.to_json())
    return EXIT_FINDING if report.broken else EXIT_OK


def _store(report: dict, results_dir: str) -> Path:
    from cebench.environment import machine_name
    from cebench.results import impls as stored

    return stored.store(report, Path(results_dir), machine_name(), _commit())


def _commit() -> str | None:
    """The checked-out commit of the working directory's repository, if any."""
    import subprocess

    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def _run_impl(args, devices: list[str]) -> int:
    import re

    from cebench.impls.base import Unavailable
    from cebench.semantics import conformance
    from cebench.semantics.conformance import impls as impl_check

    if args.match:
        try:
            re.compile(args.match)
        except re.error as exc:
            raise InputError(f"--match {args.match!r}: {exc}") from exc
    try:
        report = impl_check.check_impl(args.impl, devices, args.match)
    except Unavailable as exc:
        if not args.record:
            raise InputError(f"--impl {args.impl}: {exc}") from exc
        # a release that cannot run here is part of its history: recorded, exit 3
        path = _store(impl_check.unavailable_report(args.impl, devices, str(exc)), args.record)
        print(f"{args.impl}: not checked: {exc}; recorded in {path}")
        return EXIT_INCONCLUSIVE
    cases = [case for _, case in report.cases]
    shown = cases if args.all else [c for c in cases if c.verdict not in ("matches", "skipped",
                                                                         "unsupported")
                                    or c.kind in ("golden", "contract")]
    print(conformance.format_table(shown))
    print()
    print(impl_check.format_matrix(report))
    if args.json:
        _write_json(args.json, report.to_json())
    if args.record:
        print(f"verdicts stored in {_store(report.to_json(), args.record)}")
    return EXIT_FINDING if report.broken else EXIT_OK
