"""``cebench profile CASE``: one case under torch.profiler and the NVML sampler."""

from __future__ import annotations

from pathlib import Path

from cebench.errors import InputError

NAME = "profile"
HELP = "profile one case (torch.profiler + NVML): PNG, trace, JSON"
DESCRIPTION = ("Run one case for a few iterations under torch.profiler "
               "(profile_memory, record_shapes) and the NVML sampler; write a timeline PNG, "
               "a Chrome trace and a JSON summary.")


def add_arguments(parser) -> None:
    from cebench.grid.cases import PASSES

    parser.add_argument("case", help="a case name, as `cebench cases` prints it")
    parser.add_argument("--out", default="cebench-profile", help="output folder")
    parser.add_argument("--iterations", type=int, default=5, help="calls to profile")
    parser.add_argument("--pass", dest="pass_", choices=PASSES,
                        default="forward_backward", help="which pass to run")


def run(args) -> int:
    from cebench.grid import cases
    from cebench.grid.inputs import SkipCase, bench_device, prepare
    from cebench.measure.profile import profile_case

    try:
        case = cases.lookup(args.case)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.iterations < 1:
        raise InputError("--iterations must be at least 1")
    device = bench_device()
    try:
        inputs = prepare(case, device)
    except SkipCase as exc:
        raise InputError(f"{case.name} does not run on {device}: {exc}") from None
    summary = profile_case(inputs, args.pass_, args.iterations, Path(args.out))
    if not summary["nvml"]["available"]:
        print(f"NVML unavailable: {summary['nvml']['reason']}")
    for path in summary["files"].values():
        print(f"wrote {path}")
    return 0
