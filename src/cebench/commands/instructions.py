"""``cebench instructions``: instructions per call under valgrind, and what changed."""

from __future__ import annotations

import json
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
    "case and pass, in one valgrind process, on one torch thread, warm calls excluded. "
    "Deterministic where wall time is noise; blind to cache misses, parallelism and memory "
    "bandwidth (docs/measurement.md). With --explain CASE --baseline PYTHON_OR_DUMP: the "
    "functions whose inclusive counts changed most."
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
                        "results/<machine>/explanations/*.jsonl)")
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


def _cases(args) -> list[cases.Case]:
    if args.cases and args.grid:
        raise InputError("give case names or --grid, not both")
    try:
        if args.cases:
            return [cases.lookup(name) for name in args.cases]
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return [case for case in cases.iter_grid(args.grid or DEFAULT_GRID)
            if case.skip_reason("cpu") is None]


def run(args) -> int:
    if args.explain:
        return _explain(args)
    if args.baseline or args.save_dump:
        raise InputError("--baseline and --save-dump go with --explain CASE")
    passes = [args.pass_] if args.pass_ else list(cases.PASSES)
    selected = _cases(args)
    instructions.require_valgrind()
    start = time.perf_counter()
    counts, skipped = instructions.measure(selected, passes, calls=args.calls, python=args.python)
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
        Path(args.json).write_text(json.dumps([c.as_record() for c in counts], indent=1) + "\n")
    return EXIT_OK


def _explain(args) -> int:
    if not args.baseline:
        raise InputError("--explain needs --baseline (a Python of another torch environment, "
                         "or a dump saved with --save-dump)")
    try:
        case = cases.lookup(args.explain)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    pass_ = args.pass_ or "forward"
    instructions.require_valgrind()
    baseline = Path(args.baseline)
    if not baseline.exists():
        raise InputError(f"no baseline at {baseline}")
    with tempfile.TemporaryDirectory(prefix="cebench-explain-") as scratch:
        keep = Path(scratch)
        candidate, cand_torch = _measure_dump(case, pass_, args, args.python, keep / "candidate")
        if baseline.is_file() and baseline.read_bytes()[:18] == b"# callgrind format":
            baseline_dump, baseline_label, base_torch = baseline, str(baseline), None
        else:
            baseline_dump, base_torch = _measure_dump(case, pass_, args, str(baseline),
                                                      keep / "baseline")
            baseline_label = f"{baseline} (measured now)"
        changes = instructions.explain(baseline_dump, candidate, top=args.top)
        base_total = instructions.total_instructions(baseline_dump) / instructions.dump_calls(
            baseline_dump)
        cand_total = instructions.total_instructions(candidate) / instructions.dump_calls(candidate)
        if args.save_dump:
            Path(args.save_dump).parent.mkdir(parents=True, exist_ok=True)
            Path(args.save_dump).write_bytes(candidate.read_bytes())
    print(f"{case.name} {pass_}: {base_total:,.0f} -> {cand_total:,.0f} instructions per call "
          f"({cand_total / base_total - 1:+.2%}); baseline {baseline_label}")
    print(f"{'change/call':>14} {'baseline/call':>14} {'candidate/call':>14}  function (inclusive)")
    for c in changes:
        print(f"{c.change_per_call:>+14,.0f} {c.baseline_per_call:>14,.0f} "
              f"{c.candidate_per_call:>14,.0f}  {c.function}")
    if args.save_dump:
        print(f"dump saved to {args.save_dump}")
    if args.json:
        record = {"case": case.name, "pass": pass_,
                  "baseline": {"torch_version": base_torch, "instructions_per_call": base_total},
                  "candidate": {"torch_version": cand_torch, "instructions_per_call": cand_total},
                  "functions": [{"function": c.function, "baseline_per_call": c.baseline_per_call,
                                 "candidate_per_call": c.candidate_per_call} for c in changes]}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record) + "\n")
    return EXIT_OK


def _measure_dump(case, pass_, args, python, directory: Path) -> tuple[Path, str]:
    """One case's kept dump and the torch version that made it."""
    counts, skipped = instructions.measure([case], [pass_], calls=args.calls, python=python,
                                           keep_dumps_in=directory)
    if skipped:
        raise InputError(f"{case.name} does not run on the CPU: {skipped[case.name]}")
    return Path(counts[0].dump), counts[0].torch_version
