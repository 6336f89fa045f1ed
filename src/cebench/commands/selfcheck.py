"""``cebench selfcheck``: cebench's timer against torch's Timer, triton and the profiler."""

from __future__ import annotations

import json
import sys

from cebench.errors import EXIT_FINDING, EXIT_OK, InputError

NAME = "selfcheck"
HELP = "compare cebench's timer with torch's Timer, triton, the profiler"
DESCRIPTION = (
    "Time a few cases with cebench's timer and with other timers; print "
    "each one's median and relative spread and the peak copy bandwidth. Exit 1 if, on "
    "CUDA, cebench is off the profiler's kernel time by more than the tolerance for "
    "calls of 20 µs and longer.")


def add_arguments(parser) -> None:
    from cebench.grid.cases import PASSES

    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    parser.add_argument("--tolerance", type=float, default=0.03,
                        help="allowed relative difference from the profiler (default 0.03)")
    parser.add_argument("--case", action="append", metavar="NAME",
                        help="a case name from `cebench cases` (repeatable; default: a few)")
    parser.add_argument("--pass", dest="pass_", choices=PASSES, help="only one pass")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: the bench device")
    parser.add_argument("--budget-s", type=float, default=1.0,
                        help="cebench's time budget per measurement (default 1)")
    parser.add_argument("--min-run-time", type=float, default=0.2,
                        help="torch Timer's blocked_autorange min_run_time (default 0.2)")
    parser.add_argument("--threads", type=int,
                        help="torch intra-op threads for every method (default: as the suite "
                        "measures: on the CPU CEBENCH_CPU_THREADS, default 1; torch's on CUDA)")
    parser.add_argument("--peak-mib", type=int, default=0,
                        help="size of the peak-bandwidth copy in MiB (default: 256 on the "
                        "CPU, 1024 on CUDA, and the result updates the per-machine cache)")


def run(args) -> int:
    import torch

    from cebench.grid.cases import PASSES, lookup
    from cebench.grid.inputs import bench_device
    from cebench.measure import selfcheck
    from cebench.measure.timing import pin_cpu_threads

    device = args.device or bench_device()
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda, but torch sees no CUDA device")
    if not 0 < args.tolerance < 1:
        raise InputError(f"--tolerance must be between 0 and 1, not {args.tolerance}")
    if not args.budget_s > 0 or not args.min_run_time > 0 or args.peak_mib < 0:
        raise InputError("--budget-s and --min-run-time must be positive, --peak-mib >= 0")
    try:
        cases = [lookup(name) for name in (args.case or selfcheck.DEFAULT_CASES[device])]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    for case in cases if args.case else []:  # a case asked for by name must run here
        reason = case.skip_reason(device)
        if reason:
            raise InputError(f"--case {case.name} does not run on {device}: {reason}")
    passes = [args.pass_] if args.pass_ else list(PASSES)
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, not {args.threads}")
    from cebench import atomic

    json_path = atomic.check_writable(args.json, "--json") if args.json else None
    threads_before = torch.get_num_threads()
    try:
        if args.threads:
            torch.set_num_threads(args.threads)
        elif device == "cpu":  # what the suite's CPU benchmarks run on (asvbench)
            try:
                pin_cpu_threads()
            except ValueError as exc:
                raise InputError(str(exc)) from None
        threads = torch.get_num_threads()
        print(f"device {device}, torch {torch.__version__}, {threads} CPU "
              f"thread{'s' * (threads != 1)}")
        sys.stdout.flush()
        report = selfcheck.run_selfcheck(
            device, cases, passes, budget_s=args.budget_s, min_run_time=args.min_run_time,
            tolerance=args.tolerance, peak_mib=args.peak_mib)
        _print_report(report, args.tolerance)
        if json_path:
            atomic.write_text(json_path, json.dumps(report.as_dict(), indent=1))
    finally:
        torch.set_num_threads(threads_before)
    sys.stdout.flush()
    return EXIT_FINDING if report.misses else EXIT_OK


def _print_report(report, tolerance: float) -> None:
    from cebench.measure.selfcheck import format_table

    for line in report.skipped:
        print(f"skipped {line}")
    if report.rows:
        print(format_table(report.rows))
    if report.device != "cuda":
        print("The profiler kernel-time check needs CUDA: on the CPU cebench is compared "
              "with torch.utils.benchmark only, and nothing is judged.")
    peak = report.peak
    print(f"peak copy bandwidth ({report.device}): {peak.bytes_per_s / 1e9:.2f} GB/s "
          f"(read + write of a {peak.copy_bytes / 2**20:.0f} MiB copy, "
          f"median of {peak.samples}, relative IQR {peak.rel_iqr:.1%})")
    misses = report.misses
    if misses:
        print(f"FIDELITY MISS: cebench is off the profiler by more than {tolerance:.1%} "
              f"for {len(misses)} of {sum(r.judged for r in report.rows)} judged calls")
