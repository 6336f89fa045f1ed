"""``cebench profile CASE``: one case under torch.profiler and the NVML sampler."""

from __future__ import annotations

import os
from pathlib import Path

from cebench.errors import InputError

NAME = "profile"
HELP = "profile one case (torch.profiler + NVML): PNG, trace, JSON"
DESCRIPTION = ("Run one case for a few iterations under torch.profiler "
               "(profile_memory, record_shapes) and the NVML sampler; write a timeline PNG, "
               "a Chrome trace and a JSON summary, and print a short summary: wall time per "
               "call, the top kernels (CUDA) or ops (CPU) with their share of the time, the "
               "memory peak. The profiler's own log lines are silenced (KINETO_LOG_LEVEL=2 "
               "shows its warnings).")


def add_arguments(parser) -> None:
    from cebench.grid.cases import PASSES

    parser.add_argument("case", help="a case name, as `cebench cases` prints it")
    parser.add_argument("--out", default="cebench-profile", help="output folder")
    parser.add_argument("--iterations", type=int, default=5, help="calls to profile")
    parser.add_argument("--pass", dest="pass_", choices=PASSES,
                        default="forward_backward", help="which pass to run")
    parser.add_argument("--top", type=int, default=5, help="kernels or ops to list (default 5)")


def run(args) -> int:
    import torch

    threads_before = torch.get_num_threads()
    try:
        return _profile(args)
    finally:
        torch.set_num_threads(threads_before)


def _profile(args) -> int:
    from cebench.grid import cases
    from cebench.grid.inputs import SkipCase, bench_device, prepare
    from cebench.measure.profile import profile_case

    try:
        case = cases.lookup(args.case)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if args.iterations < 1:
        raise InputError("--iterations must be at least 1")
    if args.top < 0:
        raise InputError("--top must be at least 0")
    from cebench import atomic

    atomic.check_creatable_dir(args.out, "--out")
    # torch's profiler (kineto) logs every start and stop on stderr ("USDT: ...
    # profiler_start"), read when it first starts: above every level, it is silent.
    os.environ.setdefault("KINETO_LOG_LEVEL", "6")
    device = bench_device()
    if device == "cpu":  # as the suite measures: CEBENCH_CPU_THREADS, default 1
        from cebench.measure.timing import pin_cpu_threads

        try:
            pin_cpu_threads()
        except ValueError as exc:
            raise InputError(str(exc)) from None
    try:
        inputs = prepare(case, device)
    except SkipCase as exc:
        raise InputError(f"{case.name} does not run on {device}: {exc}") from None
    summary = profile_case(inputs, args.pass_, args.iterations, Path(args.out))
    for line in summary_lines(summary, args.top):
        print(line)
    return 0


def _duration(seconds: float) -> str:
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def _profiled_words(summary: dict, op: dict, key: str, wall_s: float) -> str:
    """'2 profiled calls of 5.92 ms each (2.1x the wall time above: the profiler slows
    every call)': what a profiled call took (an op's self time over its share of the
    total), said beside the unprofiled wall time, so that an op's time above the wall
    time is not a surprise."""
    calls = summary["iterations"]
    text = f"{calls} profiled call{'s' * (calls != 1)}"
    if op.get("share") and op[key] > 0 and wall_s > 0:
        per_call = op[key] * 1e-6 / op["share"] / calls
        why = ("the profiler slows every call" if summary["device"] != "cuda"
               else "their kernels' device time, under the profiler")
        text += (f" of {_duration(per_call)} each ({per_call / wall_s:.1f}x the wall time "
                 f"above: {why})")
    return text


def summary_lines(summary: dict, top: int = 5) -> list[str]:
    """What a terminal shows of a profile: wall time, top kernels or ops, memory, files."""
    device = summary["device"]
    wall = summary["wall_s_per_call"]
    threads = summary["cpu_threads"]
    lines = [f"{summary['case']} {summary['pass']} on {device} ({summary['device_name']}), "
             f"torch {summary['torch_version']}, {threads} CPU thread{'s' * (threads != 1)}",
             f"wall time per call: {_duration(wall['median'])} (median of {wall['calls']}, "
             "without the profiler)"]
    what, key = (("kernels", "self_device_time_us") if device == "cuda"
                 else ("ops", "self_cpu_time_us"))
    ops = summary["top_ops"][:top]
    if device == "cuda" and not summary["top_ops"]:
        lines.append("the profiler recorded no CUDA kernel (CUPTI unavailable? "
                     "KINETO_LOG_LEVEL=2 shows the profiler's warnings)")
    elif ops:
        lines.append(f"top {what} by self {'device' if device == 'cuda' else 'CPU'} time, "
                     f"{_profiled_words(summary, ops[0], key, wall['median'])}:")
        width = max(len(op["name"]) for op in ops)
        for op in ops:
            per_call = op[key] * 1e-6 / summary["iterations"]
            lines.append(f"  {op['share']:6.1%}  {op['name']:<{width}}  "
                         f"{_duration(per_call)} per call")
    peak = summary["allocator_peaks"][summary["pass"]]
    line = (f"memory peak: {peak['peak_allocated_delta_bytes'] / 2**20:.2f} MiB allocated "
            f"(expected {peak['expected_peak_bytes'] / 2**20:.2f} MiB)")
    nvml = summary["nvml"]
    if nvml["available"] and nvml.get("peak_delta_bytes") is not None:
        line += f"; NVML device used +{nvml['peak_delta_bytes'] / 2**20:.2f} MiB"
    elif not nvml["available"]:
        line += f"; NVML unavailable: {nvml['reason']}"
    lines.append(line)
    files = summary["files"]
    stem = os.path.commonprefix(list(files.values()))
    lines.append(f"wrote {stem}{{{', '.join(p[len(stem):] for p in files.values())}}}")
    return lines
