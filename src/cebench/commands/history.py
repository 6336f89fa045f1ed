"""`cebench history`: run the suite on a series of torch releases, one environment at a time."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

from cebench import history
from cebench.errors import EXIT_INCONCLUSIVE, EXIT_OK, InputError
from cebench.publish.notebooks import duration

NAME = "history"
HELP = "run the suite on a series of torch releases (one environment at a time)"
DESCRIPTION = (
    "Build one asv environment per torch release (newest first), run the history "
    "benchmarks (torch version, instruction counts where present, paired "
    "weighted/unweighted ratios, accuracy) and `cebench check` in it, store the results "
    "under RESULTS/<machine>/, and delete the environment. The newest releases are built "
    "together and also run the core wall-time grid several times, interleaved (replicates: "
    "NAME-r2.json, ...). Exit 0 when every run stored results, 3 when some did not, 2 on "
    "bad input (e.g. a release that pip's constraints exclude).")


def add_arguments(parser) -> None:
    parser.add_argument("--releases", default=",".join(history.DEFAULT_RELEASES),
                        help="comma-separated torch releases (default: %(default)s)")
    parser.add_argument("--replicates", type=int, default=3,
                        help="wall-time runs of each of the newest releases (default 3)")
    parser.add_argument("--replicate-newest", type=int, default=2,
                        help="how many of the newest releases get replicates (default 2)")
    parser.add_argument("--commit", default="HEAD", help="the commit to measure (default HEAD)")
    parser.add_argument("--bench", action="append", metavar="REGEX",
                        help="asv --bench pattern for every release, instead of the default "
                        "set (repeatable)")
    parser.add_argument("--replicate-bench", action="append", metavar="REGEX",
                        help="asv --bench pattern for the replicate runs of the newest "
                        "releases, instead of the core wall-time grid (repeatable)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="asv rounds per benchmark (-a rounds=N; default 1: replicate "
                        "runs measure the run-to-run noise instead)")
    parser.add_argument("--results", type=Path, default=Path("results"),
                        help="results folder (default results)")
    parser.add_argument("--work", type=Path, default=Path(".asv/history"),
                        help="environments, scratch results and logs (default .asv/history)")
    parser.add_argument("--machine", help="asv machine name (default: `cebench machine`)")
    parser.add_argument("--keep-envs", action="store_true",
                        help="keep the environments (about 5 GB each) after their runs")
    parser.add_argument("--no-check", action="store_true",
                        help="skip `cebench check` in each environment")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    parser.add_argument("--json", type=Path, help="write the run records here")


def _git(repo: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise InputError(f"git {' '.join(args)} failed in {repo}: "
                         f"{getattr(exc, 'stderr', '') or exc}".strip()) from None


#: Each run's seconds in the last history run (in --work): the next one's estimates.
TIMINGS_FILE = "timings.json"


class Progress:
    """Prints history's progress lines, each asv run's start with its place in the plan and
    an estimate (:meth:`guess`; the times of the previous history are kept in
    ``timings.json`` in the work folder) and the time left."""

    START = re.compile(r"^torch (\S+) run (\d+): asv run \(")
    END = re.compile(r"^torch (\S+) run (\d+): (\d+) s, asv exit")

    def __init__(self, runs: list[str], timings: Path):
        self.runs, self.timings, self.done = runs, timings, {}
        try:
            self.previous = {str(k): float(v) for k, v in json.loads(timings.read_text()).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            self.previous = {}

    def guess(self, key: str) -> float | None:
        """This run's time last time, else the mean of this history's runs so far, else
        the mean of the last history's."""
        for source in ({key: self.previous[key]} if key in self.previous else {},
                       self.done, self.previous):
            if source:
                return sum(source.values()) / len(source)
        return None

    def plan_line(self) -> str:
        known = [self.previous[k] for k in self.runs if k in self.previous]
        if len(known) == len(self.runs):
            return (f"history: {len(self.runs)} asv runs; about {duration(sum(known))} in all, "
                    "as last time")
        return (f"history: {len(self.runs)} asv runs; estimates follow from the first run's "
                "time")

    def __call__(self, line: str) -> None:
        start, end = self.START.match(line), self.END.match(line)
        if start:
            key = f"{start.group(1)} run {start.group(2)}"
            place = self.runs.index(key) + 1 if key in self.runs else len(self.done) + 1
            mine = self.guess(key)
            left = [self.guess(k) for k in self.runs if k not in self.done]
            words = f"[{place}/{len(self.runs)}]"
            if mine is not None:
                words += f" about {duration(mine)}"
                if all(x is not None for x in left):
                    words += f", {duration(sum(left))} left in all"
            line = f"{line} {words}"
        elif end:
            self.done[f"{end.group(1)} run {end.group(2)}"] = float(end.group(3))
            self.timings.parent.mkdir(parents=True, exist_ok=True)
            self.timings.write_text(json.dumps({**self.previous, **self.done}, indent=1))
        print(line, flush=True)


def _machine_name(args) -> str:
    if args.machine:
        return args.machine
    from cebench.environment import machine_name

    return machine_name()


def run(args) -> int:
    repo = Path.cwd()
    if not (repo / "asv.conf.json").is_file():
        raise InputError(f"no asv.conf.json in {repo}: run from the project's root")
    versions = [v.strip() for v in args.releases.split(",") if v.strip()]
    if args.rounds < 1:
        raise InputError("--rounds must be >= 1")
    from cebench import atomic

    if args.json:
        atomic.check_writable(args.json, "--json")
    atomic.check_creatable_dir(args.results, "--results")
    atomic.check_creatable_dir(args.work, "--work")
    for option, patterns in (("--bench", args.bench), ("--replicate-bench", args.replicate_bench)):
        for pattern in patterns or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InputError(f"{option} {pattern!r}: bad regular expression ({exc})") from None
    benchmarks = tuple(args.bench) if args.bench else history.EVERY_RELEASE_BENCHMARKS
    replicated = (tuple(args.replicate_bench) if args.replicate_bench
                  else history.REPLICATE_BENCHMARKS)
    blocks = history.plan(versions, replicates=args.replicates,
                          replicate_newest=args.replicate_newest, benchmarks=benchmarks,
                          replicate_benchmarks=replicated)
    releases = [r for block in blocks for r in block.releases]
    history.check_installable(releases, history.pip_torch_caps(history.pip_constraint_files()))
    commit = _git(repo, "rev-parse", "--verify", f"{args.commit}^{{commit}}")
    for block in blocks:
        together = " + ".join(f"torch {r.torch}" + (f" (numpy {r.numpy})" if r.numpy else "")
                              for r in block.releases)
        print(f"{together}: " + ", ".join(f"{run.release.torch} run {run.replicate}"
                                          for run in block.runs))
        for what, runs in (("first runs", block.runs[:len(block.releases)]),
                           ("replicate runs", block.runs[len(block.releases):])):
            if runs:
                print(f"  {what} measure: {' '.join(runs[0].benchmarks)}")
    if args.dry_run:
        return EXIT_OK
    machine = _machine_name(args)
    subprocess.run([sys.executable, "-m", "asv", "machine", "--machine", machine, "--yes"],
                   check=True, capture_output=True)
    settings = history.Settings(repo=repo, results_dir=args.results.resolve(),
                                work_dir=args.work.resolve(), machine=machine, commit=commit,
                                keep_envs=args.keep_envs, run_check=not args.no_check,
                                asv_args=("-a", f"rounds={args.rounds}"))
    print(f"commit {commit[:12]}, machine {machine}, results {settings.results_dir}",
          flush=True)
    progress = Progress([f"{run.release.torch} run {run.replicate}" for block in blocks
                         for run in block.runs], settings.work_dir / TIMINGS_FILE)
    print(progress.plan_line(), flush=True)
    records = history.run(blocks, settings, progress=progress)
    missing = [f"{r.torch} run {r.replicate}" for b in records for r in b.runs
               if r.results_file is None]
    missing += [f"{v} semantics" for b in records for v, p in b.semantics_files.items()
                if p is None and settings.run_check]
    peak = max((b.peak_work_bytes for b in records), default=0)
    total = sum(b.seconds for b in records)
    print(f"history: {len(records)} block(s) in {total:.0f} s; peak {peak / 2**30:.1f} GiB "
          f"in {settings.work_dir}")
    if args.json:
        atomic.write_text(args.json, json.dumps([dataclasses.asdict(b) for b in records],
                                                indent=1))
    if missing:
        print("history: no results for " + ", ".join(missing), file=sys.stderr)
        return EXIT_INCONCLUSIVE
    return EXIT_OK
