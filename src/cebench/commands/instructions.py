"""``cebench instructions``: instructions per call under valgrind, what changed, and why."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from cebench.errors import EXIT_OK, InputError
from cebench.grid import cases
from cebench.measure import instructions

NAME = "instructions"
HELP = "instructions per call under valgrind (deterministic CPU cost)"
DESCRIPTION = (
    "Count the instructions one call executes (valgrind's callgrind), for each CPU-runnable "
    "case and pass, on one torch thread, warm calls excluded: one valgrind process, each "
    "case and pass counted in its own process forked from it (a count does not depend on "
    "the other cases). Deterministic where wall time is noise; blind to cache misses, "
    "parallelism and memory bandwidth (docs/measurement.md). With --explain CASE "
    "--baseline PYTHON_OR_DUMP: the functions whose own (self) instructions changed most, "
    "with their calls before and after. With --build: the torch build of an environment "
    "(compiler, CPU capability, libraries). Progress goes to stderr."
)
DEFAULT_GRID = "instructions"


def add_arguments(parser) -> None:
    parser.add_argument("cases", nargs="*", metavar="CASE",
                        help="case names (`cebench cases`); default: the grid's cases")
    parser.add_argument("--grid", default=None, choices=sorted(cases.GRIDS),
                        help=f"the cases of one grid (default: {DEFAULT_GRID})")
    parser.add_argument("--pass", dest="pass_", choices=cases.PASSES,
                        help="one pass only (default: both)")
    parser.add_argument("--calls", type=int, default=instructions.DEFAULT_CALLS,
                        help="calls counted per case and pass (default: %(default)s)")
    parser.add_argument("--json", metavar="FILE",
                        help="write the counts as a JSON list (with --explain: the explanation "
                        "as one JSON line, which `cebench findings` reads from "
                        "results/<machine>/explanations/*.jsonl; with --build: the build as "
                        "one JSON line, read from results/<machine>/builds/*.jsonl)")
    parser.add_argument("--python", metavar="PYTHON",
                        help="the interpreter (torch environment) to measure; default: this one")
    parser.add_argument("--explain", metavar="CASE",
                        help="compare one case's per-function counts against --baseline")
    parser.add_argument("--baseline", metavar="PYTHON_OR_DUMP",
                        help="with --explain: a Python of another torch environment, or a "
                        "dump saved with --save-dump")
    parser.add_argument("--save-dump", metavar="FILE",
                        help="with --explain: keep the measured dump here (a later baseline)")
    parser.add_argument("--top", type=int, default=20,
                        help="with --explain: how many functions to list (default: %(default)s)")
    parser.add_argument("--build", action="store_true",
                        help="print the torch build of --python (or this one): compiler, "
                        "CPU capability, MKL, oneDNN; no valgrind needed")


def _progress(line: str) -> None:
    print(f"cebench instructions: {line}", file=sys.stderr, flush=True)


def _case(name: str) -> cases.Case:
    try:
        case = cases.lookup(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    reason = case.skip_reason("cpu")
    if reason:
        raise InputError(f"{case.name} does not run on the CPU: {reason}")
    return case


def _cases(args) -> list[cases.Case]:
    if args.cases and args.grid:
        raise InputError("give case names or --grid, not both")
    if args.cases:
        return [_case(name) for name in args.cases]
    return [case for case in cases.iter_grid(args.grid or DEFAULT_GRID)
            if case.skip_reason("cpu") is None]


def _writable(path: str | None, option: str) -> None:
    """An output path whose folder exists (or can be made) and can be written."""
    if not path:
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{option} {path}: is a folder")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"{option} {path}: cannot write there ({folder} is not a writable "
                         "folder)")


def _python(python: str | None, option: str) -> str | None:
    """``python``, checked: an executable with torch (before any valgrind run)."""
    if python is None:
        return None
    try:
        instructions.torch_build(python)
    except instructions.NotATorchPython as exc:
        raise InputError(f"{option} {python}: {exc}") from None
    return python


def _check_common(args) -> None:
    if args.calls < 1:
        raise InputError(f"--calls must be >= 1, not {args.calls}")
    if args.top < 1:
        raise InputError(f"--top must be >= 1, not {args.top}")
    _writable(args.json, "--json")
    _writable(args.save_dump, "--save-dump")


def run(args) -> int:
    _check_common(args)
    if args.build:
        return _build(args)
    if args.explain:
        return _explain(args)
    if args.baseline or args.save_dump:
        raise InputError("--baseline and --save-dump go with --explain CASE")
    passes = [args.pass_] if args.pass_ else list(cases.PASSES)
    selected = _cases(args)
    instructions.require_valgrind()
    python = _python(args.python, "--python")
    start = time.perf_counter()
    counts, skipped = instructions.measure(selected, passes, calls=args.calls, python=python,
                                           progress=_progress)
    wall_s = time.perf_counter() - start
    width = max(len(c.case) for c in counts) if counts else 4
    print(f"{'case':<{width}}  {'pass':<16} {'instructions/call':>18}")
    for c in counts:
        print(f"{c.case:<{width}}  {c.pass_:<16} {c.instructions_per_call:>18,.0f}")
    for name, reason in skipped.items():
        print(f"{name:<{width}}  skipped: {reason}")
    if counts:
        print(f"{len(counts)} counts, {args.calls} calls each; torch {counts[0].torch_version}, "
              f"CPU capability {counts[0].cpu_capability}; one valgrind process, {wall_s:.0f} s")
    if args.json:
        _write(args.json, json.dumps([c.as_record() for c in counts], indent=1) + "\n")
    return EXIT_OK


def _write(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)


def _build(args) -> int:
    if args.cases or args.explain or args.baseline or args.save_dump:
        raise InputError("--build takes only --python and --json")
    build = instructions.torch_build(args.python)
    for key, value in build.items():
        print(f"{key:<16} {value}")
    if args.json:
        _write(args.json, json.dumps(build) + "\n")
    return EXIT_OK


def _explain(args) -> int:
    if not args.baseline:
        raise InputError("--explain needs --baseline (a Python of another torch environment, "
                         "or a dump saved with --save-dump)")
    if args.cases:
        raise InputError("--explain takes one case: give it as --explain CASE")
    case = _case(args.explain)
    pass_ = args.pass_ or "forward"
    instructions.require_valgrind()
    baseline = Path(args.baseline)
    if not baseline.exists():
        raise InputError(f"--baseline {baseline}: no such file")
    is_dump = baseline.is_file() and baseline.read_bytes()[:18] == b"# callgrind format"
    if is_dump:
        instructions.dump_calls(baseline)  # a dump saved by cebench, or exit 2 now
        version = instructions.dump_torch_version(baseline)
        base_build = {"torch_version": version} if version else None
    else:
        base_build = instructions.torch_build(_python(str(baseline), "--baseline"))
    cand_python = _python(args.python, "--python")
    cand_build = instructions.torch_build(cand_python)
    with tempfile.TemporaryDirectory(prefix="cebench-explain-") as scratch:
        keep = Path(scratch)
        _progress(f"counting the candidate ({cand_build['torch_version']})")
        candidate, cand_cap = _measure_dump(case, pass_, args, cand_python, keep / "candidate")
        if is_dump:
            baseline_dump, baseline_label, base_cap = baseline, str(baseline), None
        else:
            _progress(f"counting the baseline ({base_build['torch_version']})")
            baseline_dump, base_cap = _measure_dump(case, pass_, args, str(baseline),
                                                    keep / "baseline")
            baseline_label = f"{baseline} (measured now)"
        changes = instructions.explain(baseline_dump, candidate, top=args.top)
        base_total = instructions.total_instructions(baseline_dump) / instructions.dump_calls(
            baseline_dump)
        cand_total = instructions.total_instructions(candidate) / instructions.dump_calls(candidate)
        if args.save_dump:
            _write(args.save_dump, "")
            Path(args.save_dump).write_bytes(candidate.read_bytes())
    total_change = cand_total - base_total
    listed = sum(c.change_per_call for c in changes)
    print(f"{case.name} {pass_}: {base_total:,.0f} -> {cand_total:,.0f} instructions per call "
          f"({cand_total / base_total - 1:+.2%}); baseline {baseline_label}")
    print(f"the {len(changes)} functions below carry {listed:+,.0f} of the {total_change:+,.0f} "
          "(self counts add up to the total)")
    print(f"{'change/call':>12} {'self before':>12} {'self after':>12} {'calls':>15} "
          f"{'instr/call':>13}  function")
    for c in changes:
        print(f"{c.change_per_call:>+12,.0f} {c.baseline_self_per_call:>12,.0f} "
              f"{c.candidate_self_per_call:>12,.0f} {_pair(c.baseline_calls_per_call, c.candidate_calls_per_call, '{:,.0f}'):>15} "
              f"{_pair(*_per_invocation(c), '{:,.1f}'):>13}  {c.function}"
              + (f"  [{c.note}]" if c.note else ""))
    if args.save_dump:
        print(f"dump saved to {args.save_dump}")
    if args.json:
        side = lambda build, cap, total: {  # noqa: E731
            "torch_version": (build or {}).get("torch_version"), "instructions_per_call": total,
            "valgrind_cpu_capability": cap, "build": build}
        record = {"case": case.name, "pass": pass_, "ranking": "self",
                  "baseline": side(base_build, base_cap, base_total),
                  "candidate": side(cand_build, cand_cap, cand_total),
                  "functions": [c.as_record() for c in changes]}
        _write(args.json, json.dumps(record) + "\n")
    return EXIT_OK


def _per_invocation(c) -> tuple:
    return (c.cost_per_invocation(c.baseline_self_per_call, c.baseline_calls_per_call),
            c.cost_per_invocation(c.candidate_self_per_call, c.candidate_calls_per_call))


def _pair(before, after, fmt: str) -> str:
    show = lambda v: "-" if v is None else fmt.format(v)  # noqa: E731
    return f"{show(before)}>{show(after)}"


def _measure_dump(case, pass_, args, python, directory: Path) -> tuple[Path, str]:
    """One case's kept dump and the CPU capability torch ran under valgrind."""
    counts, skipped = instructions.measure([case], [pass_], calls=args.calls, python=python,
                                           keep_dumps_in=directory, progress=_progress)
    if skipped:
        raise InputError(f"{case.name} does not run on the CPU: {skipped[case.name]}")
    return Path(counts[0].dump), counts[0].cpu_capability
