"""``cebench check``: torch's cross entropy against the float64 reference (semantics)."""

from __future__ import annotations

import json

from cebench.errors import EXIT_FINDING, EXIT_OK, InputError

NAME = "check"
HELP = "check torch's cross entropy against the float64 reference"
DESCRIPTION = (
    "Compare F.cross_entropy (loss and input gradient) with cebench's float64 "
    "reference over a grid of cases, plus the article's golden values, edge behaviour "
    "and bad input. Exit 1 when a rule is broken.")


def add_arguments(parser) -> None:
    parser.add_argument("--all", action="store_true", help="show every case, not only "
                        "non-matching, golden, edge and bad-input rows")
    parser.add_argument("--json", metavar="FILE", help="write every case and the summary as JSON")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="run on this device only")


def run(args) -> int:
    import torch

    from cebench import atomic
    from cebench.semantics import conformance

    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device cuda: CUDA is not available to torch {torch.__version__}")
    json_path = atomic.check_writable(args.json, "--json") if args.json else None
    devices = [args.device] if args.device else conformance.available_devices()
    report = conformance.check(devices)
    shown = report.cases if args.all else [c for c in report.cases
                                           if conformance.shown_by_default(c)]
    print(conformance.format_table(shown))
    print()
    print(conformance.format_summary(report))
    if json_path:
        atomic.write_text(json_path, json.dumps(report.to_json(), indent=1) + "\n")
    return EXIT_FINDING if report.broken else EXIT_OK
