"""``cebench cases``: the case grid, bytes of logits, and whether each case runs here."""

from __future__ import annotations

import json
import sys

NAME = "cases"
HELP = "print the case grid"
DESCRIPTION = ("Print every case of the grid: parameters, bytes of logits, and "
               "whether it runs on this machine's benchmark device.")


def add_arguments(parser) -> None:
    from cebench.grid.cases import GRIDS

    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--grid", choices=sorted(GRIDS), help="only the cases of one grid")
    parser.add_argument("--device", choices=("cpu", "cuda"),
                        help="judge runnability for this device (default: this machine's)")


def _bench_device(command: str = NAME) -> str:
    """This machine's benchmark device; the CPU, said on stderr, where torch is missing."""
    try:
        from cebench.grid.inputs import bench_device
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        print(f"cebench {command}: torch is not installed: runnability is judged for the CPU "
              "(--device cuda for a GPU)", file=sys.stderr)
        return "cpu"
    return bench_device()


def run(args) -> int:
    from cebench.grid.cases import case_rows

    device = args.device or _bench_device()
    rows = case_rows(device, args.grid)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    width = max(len(r["name"]) for r in rows)
    print(f"{'case':<{width}}  {'logits MiB':>10}  {'runs on ' + device:<12} grids / skip reason")
    for r in rows:
        runs = "yes" if r["runs_here"] else "no"
        tail = ",".join(r["grids"]) + ("" if r["runs_here"] else f"  ({r['skip_reason']})")
        print(f"{r['name']:<{width}}  {r['logits_bytes'] / 2**20:>10.1f}  {runs:<12} {tail}")
    runnable = sum(r["runs_here"] for r in rows)
    print(f"{len(rows)} cases, {runnable} run on {device}, {len(rows) - runnable} skipped")
    return 0
