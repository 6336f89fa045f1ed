"""Record a series of `cebench selfcheck` runs, with the machine's load beside each.

    python analysis/selfcheck_series.py --runs 3 --out docs/data/selfcheck-<machine>.json

Each run is ``cebench selfcheck --device cpu --threads 1 --json FILE`` in a fresh process;
the record keeps every run's report with its start and end (UTC) and the load average
(1 minute, from /proc/loadavg) before and after it, the machine's name and the torch
build. docs/measurement.md's timer table is generated from this record
(``cebench docs --write``), so its figures say how busy the machine was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def load_average() -> float:
    return os.getloadavg()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", required=True, help="the record (JSON) to write")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    machine = subprocess.run([sys.executable, "-m", "cebench", "machine"], check=True,
                             capture_output=True, text=True).stdout.strip()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.runs):
            report = Path(tmp) / f"run{k}.json"
            start, load_before = dt.datetime.now(dt.timezone.utc), load_average()
            subprocess.run([sys.executable, "-m", "cebench", "selfcheck", "--device", "cpu",
                            "--threads", str(args.threads), "--json", str(report)], check=True,
                           stdout=subprocess.DEVNULL)
            runs.append({"start": start.isoformat(timespec="seconds"),
                         "end": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         "load_before": round(load_before, 2),
                         "load_after": round(load_average(), 2),
                         "report": json.loads(report.read_text())})
    import torch

    record = {"machine": machine, "torch": torch.__version__, "threads": args.threads,
              "cpus": os.cpu_count(), "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"selfcheck series: {len(runs)} runs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
