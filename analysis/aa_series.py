"""Record an A/A series: repeated asv runs of one torch version, interleaved with
runs that carry an injected slowdown (``CEBENCH_INJECT_*``), one run per asv invocation.

    python analysis/aa_series.py --work /tmp/cebench-aa --runs 12

Every run goes to its own scratch results folder (``<work>/runs/<label>``) and is then
copied to ``<work>/collected/<machine>/`` under asv's file name plus ``-r<k>`` for the
k-th run of the same kind (the first keeps asv's name): the replicate naming that
``cebench.results.load`` and ``cebench compare`` understand. ``<work>/series.csv``
records each run's label, injected slowdown, start and end (UTC) and the load average
before and after it, so that a reader can see how busy the machine was.

The order interleaves the kinds (A, injected, A, injected, ...), so that drifting load
hits every kind alike. ``--src`` is a checkout of the code being measured (its
benchmarks and its ``src`` go first on the benchmark processes' path): a fixed
checkout keeps the code the same for the whole series while the repository moves.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: The reduced CPU grid: Core float32/bfloat16 on the two CPU-sized families, the paired
#: weighted/unweighted ratio of small float32, and the torch version record.
DEFAULT_BENCH = (r"Core\.time_forward(_backward)?\('small(-seg)?', '(float32|bfloat16)'",
                 r"WeightOverhead\.track_weighted_overhead_ratio_forward(_backward)?\('small', 'float32'",
                 r"Environment\.track_torch_version")
#: label -> (CEBENCH_INJECT_SLOWDOWN, CEBENCH_INJECT_MATCH): the injected kinds.
INJECTED = {
    "x3-all": (2.0, ""),
    "x2-half": (1.0, r"w-random"),
    "x1.5-one": (0.5, r"^small\.contiguous\.float32\.mean\.w-random$"),
}


def asv_run(work: Path, src: Path, label: str, slowdown: float, match: str, bench,
            machine: str, commit: str) -> Path:
    sys.path.insert(0, str(src / "src"))
    from cebench import asvconf

    results = work / "runs" / label
    shutil.rmtree(results, ignore_errors=True)
    conf = asvconf.write_relocated(src / "asv.conf.json", work / "conf" / f"{label}.json",
                                   results_dir=results, html_dir=work / "html",
                                   env_dir=work / "env", repo=REPO)
    env = dict(os.environ, CEBENCH_INJECT_SLOWDOWN=str(slowdown), CEBENCH_INJECT_MATCH=match,
               ASV_PYTHONPATH=str(src / "src"))
    cmd = [sys.executable, "-m", "asv", "--config", str(conf), "run", "-E", "existing:same",
           "--launch-method", "forkserver", "--record-samples", "--machine", machine,
           "--set-commit-hash", commit]
    for regex in bench:
        cmd += ["--bench", regex]
    with (work / "logs" / f"{label}.log").open("w") as log:
        subprocess.run(cmd, env=env, cwd=src, check=True, stdout=log, stderr=subprocess.STDOUT)
    return results


def collect(results: Path, dest: Path, k: int) -> Path:
    """Copy a run's results file into ``dest`` as asv names it, plus ``-r<k>`` for k >= 2."""
    machine_dir = next(p for p in results.iterdir() if p.is_dir())
    out = dest / machine_dir.name
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(machine_dir / "machine.json", out / "machine.json")
    shutil.copy(results / "benchmarks.json", dest / "benchmarks.json")
    (path,) = [p for p in machine_dir.glob("*.json") if p.name != "machine.json"]
    target = out / (path.name if k == 1 else f"{path.stem}-r{k}.json")
    shutil.copy(path, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cebench-aa"))
    parser.add_argument("--src", type=Path, default=REPO, help="checkout whose code is run")
    parser.add_argument("--commit", help="its commit (default: HEAD of --src)")
    parser.add_argument("--runs", type=int, default=12, help="A/A runs")
    parser.add_argument("--injected-runs", type=int, default=2, help="runs of each injected kind")
    parser.add_argument("--machine", default=None)
    args = parser.parse_args(argv)

    work, src = args.work.resolve(), args.src.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    commit = args.commit or subprocess.check_output(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], text=True).strip()
    if args.machine is None:
        sys.path.insert(0, str(src / "src"))
        from cebench import environment
        args.machine = environment.machine_name()
    injected = [(kind, rep) for rep in range(1, args.injected_runs + 1) for kind in INJECTED]
    plan = []
    for i in range(1, args.runs + 1):
        plan.append(("aa", i, 0.0, ""))
        if injected:
            kind, rep = injected.pop(0)
            plan.append((kind, rep, *INJECTED[kind]))
    log_path = work / "series.csv"
    new = not log_path.exists()
    with log_path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["label", "kind", "k", "slowdown", "match", "start_utc", "end_utc",
                             "seconds", "load1_before", "load1_after", "load5_after", "file"])
        for kind, k, slowdown, match in plan:
            label = f"{kind}-{k}"
            before = os.getloadavg()[0]
            start = dt.datetime.now(dt.timezone.utc)
            t0 = time.perf_counter()
            results = asv_run(work, src, label, slowdown, match, DEFAULT_BENCH, args.machine,
                              commit)
            seconds = time.perf_counter() - t0
            after = os.getloadavg()
            target = collect(results, work / "collected" / kind, k)
            end = dt.datetime.now(dt.timezone.utc)
            writer.writerow([label, kind, k, slowdown, match, start.isoformat(timespec="seconds"),
                             end.isoformat(timespec="seconds"), f"{seconds:.0f}",
                             f"{before:.2f}", f"{after[0]:.2f}", f"{after[1]:.2f}", target.name])
            f.flush()
            print(f"{label}: {seconds:.0f} s, load {before:.1f} -> {after[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
