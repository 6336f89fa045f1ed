"""``cebench impls``: each implementation of cross entropy, its version, where it runs,
and what it supports."""

from __future__ import annotations

import json
from pathlib import Path

NAME = "impls"
HELP = "list the implementations (eager, compile, liger, quack, by_hand) and their support"
DESCRIPTION = ("Each implementation of cross entropy that the suite compares: its installed "
               "version, whether it runs on this machine's benchmark device (and why not), "
               "whether its times mean something there, and the features it supports.")

_FEATURES = (("weight", "weight"), ("ignore_index", "ignore"), ("label_smoothing", "smoothing"),
             ("prob_targets", "prob targets"))


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="judge for this device (default: this machine's benchmark device)")
    parser.add_argument("--count-instructions", action="store_true",
                        help="count instructions per call of eager, compile and by_hand under "
                             "valgrind (the impl_instructions grid; minutes: compiles run under "
                             "valgrind)")
    parser.add_argument("--match", metavar="REGEX", help="with --count-instructions: only the "
                        "cases whose name matches")
    parser.add_argument("--python", metavar="PYTHON", help="with --count-instructions: count in "
                        "this interpreter (another torch environment)")
    parser.add_argument("--record", metavar="RESULTS", nargs="?", const="results",
                        help="with --count-instructions: store the counts under RESULTS/<machine>/"
                             "impls/instructions-torch-<version>.json (default results)")
    parser.add_argument("--write-doc", nargs="?", const="", metavar="PATH",
                        help="write docs/implementations.md (or PATH) from the declarations "
                             "and the verdicts stored under results/")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def run(args) -> int:
    from cebench import impls
    from cebench.commands.cases import _bench_device

    if args.count_instructions:
        return _count_instructions(args)
    if args.write_doc is not None:
        from cebench.publish import implementations

        path = implementations.write_doc(*(
            [Path(args.write_doc)] if args.write_doc else []))
        print(f"wrote {path}")
        return 0

    device = args.device or _bench_device(NAME)
    rows = impls.rows(device)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    header = ("impl", "package", "version", f"runs on {device}", "timed", "weight", "ignore",
              "smoothing", "reductions", "prob targets", "K-dim", "dtypes", "devices", "torch")
    table = []
    for r in rows:
        s = r["support"]
        table.append((
            r["name"], r["package"], r["version"] or "not installed",
            "yes" if r["unavailable"] is None else "no", _yes(r["timed_here"]),
            *(_yes(s[key]) for key, _ in _FEATURES[:3]), ",".join(s["reductions"]),
            _yes(s["prob_targets"]), _yes(s["ranks"] == "any"),
            ",".join(d.replace("float", "fp").replace("bfp", "bf") for d in s["dtypes"]),
            ",".join(s["devices"]), s["torch"]))
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in table:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())
    print()
    for r in rows:
        print(f"{r['name']}: {r['measured_as']}")
        for text in ([f"not here: {r['unavailable']}"] if r["unavailable"] else []) + \
                list(r["support"]["notes"]) + r["caveats"]:
            print(f"    {text}")
    return 0


INSTRUCTION_IMPLS = ("eager", "compile", "by_hand")


def _count_instructions(args) -> int:
    import re

    from cebench import impls
    from cebench.errors import InputError
    from cebench.grid.cases import iter_grid
    from cebench.impls import instructions

    try:
        pattern = re.compile(args.match or "")
    except re.error as exc:
        raise InputError(f"--match {args.match!r}: {exc}") from exc
    items = [(impl, case) for case in iter_grid("impl_instructions") for impl in INSTRUCTION_IMPLS
             if pattern.search(case.name) and case.skip_reason("cpu") is None
             and impls.get(impl).skip_reason(impls.features_of(case), "cpu") is None]
    if not items:
        raise InputError(f"no case of the impl_instructions grid matches {args.match!r}")
    records = instructions.measure(items, python=args.python)
    for r in records:
        count = r.get("instructions_per_call")
        print(f"{r['impl']:<8} {r['case']:<44} {r['pass']:<17} "
              + (f"{count:>14,.0f}" if count is not None else f"skipped: {r['skipped']}"))
    if args.record:
        from cebench.commands.check import _commit
        from cebench.environment import machine_name
        from cebench.results import impls as stored

        path = stored.store_instructions(records, Path(args.record), machine_name(), _commit())
        print(f"counts stored in {path}")
    return 0
