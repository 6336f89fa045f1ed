"""How often does `cebench compare` catch a real slowdown, and does it cry wolf (A/A)?

    python analysis/detection_rate.py --work /tmp/cebench-detection

For each repetition: one baseline asv run, then one run per injected slowdown level
(``CEBENCH_INJECT_SLOWDOWN``, see cebench.measure.inject; level 0 is the A/A run), each into
its own results folder, in an interleaved order so that drifting machine load hits
every level alike. The candidate files are then relabelled (environment name
``inject-<level>-r<rep>``; the measurements are untouched) into one folder next to
their baseline and compared with the default settings of ``cebench compare``.
Prints per level: the share of benchmark x parameter combinations flagged as a
regression, and the share of comparisons that would exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_BENCH = r"Core\.time_forward(_backward)?\('small', 'float32'"


def asv_config(work: Path, name: str) -> Path:
    from cebench import asvconf

    return asvconf.write_relocated(REPO / "asv.conf.json", work / "conf" / f"{name}.json",
                                   results_dir=work / "runs" / name, html_dir=work / "html",
                                   env_dir=work / "env")


def asv_run(work: Path, name: str, slowdown: float, bench: str, machine: str,
            commit: str) -> float:
    env = dict(os.environ, CEBENCH_INJECT_SLOWDOWN=str(slowdown),
               CEBENCH_INJECT_MATCH=os.environ.get("CEBENCH_INJECT_MATCH", ""))
    cmd = ["asv", "--config", str(asv_config(work, name)), "run", "-E", "existing:same",
           "--launch-method", "forkserver", "--record-samples", "--machine", machine,
           "--bench", bench, "--set-commit-hash", commit]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def relabel(src_dir: Path, dest_dir: Path, env_name: str) -> None:
    """Copy a run's result folder, renaming its environment (the data unchanged)."""
    for machine_dir in (p for p in src_dir.iterdir() if p.is_dir()):
        out = dest_dir / machine_dir.name
        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(machine_dir / "machine.json", out / "machine.json")
        for path in machine_dir.glob("*.json"):
            if path.name == "machine.json":
                continue
            data = json.loads(path.read_text())
            data["env_name"] = env_name
            (out / f"{data['commit_hash'][:8]}-{env_name}.json").write_text(json.dumps(data))
    shutil.copy(src_dir / "benchmarks.json", dest_dir / "benchmarks.json")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cebench-detection"))
    parser.add_argument("--levels", type=float, nargs="+", default=[0.0, 0.05, 0.10, 0.25])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--bench", default=DEFAULT_BENCH)
    parser.add_argument("--compare-only", action="store_true",
                        help="reuse the runs already in --work")
    args = parser.parse_args(argv)

    import pandas as pd

    from cebench import environment
    from cebench.results import compare
    from cebench.results import load as results

    machine = environment.machine_name()
    commit = subprocess.check_output(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                     text=True).strip()
    work = args.work
    if not args.compare_only:
        for rep in range(1, args.reps + 1):
            for level in ["base", *args.levels]:
                name = f"r{rep}-{level}"
                shutil.rmtree(work / "runs" / name, ignore_errors=True)
                seconds = asv_run(work, name, 0.0 if level == "base" else level, args.bench,
                                  machine, commit)
                load = os.getloadavg()[0]
                print(f"run {name}: {seconds:.0f} s (load average {load:.1f})", flush=True)

    rows = []
    for rep in range(1, args.reps + 1):
        for level in args.levels:
            combined = work / "combined" / f"r{rep}-{level}"
            shutil.rmtree(combined, ignore_errors=True)
            relabel(work / "runs" / f"r{rep}-base", combined, "baseline")
            relabel(work / "runs" / f"r{rep}-{level}", combined, f"inject-{level}")
            df = results.load(combined)
            table = compare.compare_frames(df[df["env_name"] == "baseline"],
                                           df[df["env_name"] == f"inject-{level}"])
            table = table[table["verdict"] != "missing"]
            flagged = int((table["verdict"] == "regression").sum())
            rows.append({"level": level, "rep": rep, "compared": len(table),
                         "regressions": flagged,
                         "improvements": int((table["verdict"] == "improvement").sum()),
                         "median_ratio": float(table["ratio"].median()),
                         "exit_1": flagged > 0})
    per_run = pd.DataFrame(rows)
    print(per_run.to_string(index=False))
    summary = per_run.groupby("level").agg(
        runs=("rep", "size"), compared=("compared", "sum"), flagged=("regressions", "sum"),
        median_ratio=("median_ratio", "median"), runs_exit_1=("exit_1", "sum"))
    summary["detection_rate"] = summary["flagged"] / summary["compared"]
    print(summary.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
