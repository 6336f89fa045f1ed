"""A history of torch releases: one asv environment at a time, built, run, recorded, deleted.

    blocks = history.plan(history.DEFAULT_RELEASES, replicates=3, replicate_newest=2)
    history.run(blocks, history.Settings(repo=..., results_dir=..., work_dir=..., ...))

Each release gets its own asv configuration (a relocated copy of ``asv.conf.json``,
:mod:`cebench.asvconf`) whose matrix holds that release only, so asv builds a virtualenv
named after it (``virtualenv-py3.11-numpy-torch2.9.1``): results of many releases at one
commit land in distinct files, ``<commit[:8]>-<env name>.json``, as asv names them. A
run writes into a scratch results folder first; then its file moves into
``results/<machine>/`` (the first free name of ``NAME.json``, ``NAME-r2.json``,
``NAME-r3.json`` ...: a second run of one release at one commit is a replicate and never
overwrites the first) and its ``benchmarks.json`` entries are merged into the results
folder's (asv rewrites that file from the benchmarks it discovers; merging keeps every
benchmark that other runs recorded).

Releases run in blocks: one environment at a time, except the newest
``replicate_newest`` releases, which are built together so that their wall-time
replicates interleave (A1 B1 A2 B2 A3 B3: load drifts on a shared machine hit both
sides). In each environment ``cebench check --json`` runs the semantics check; its
verdicts go to ``results/<machine>/semantics/torch-<version>.jsonl`` (not ``.json``: asv
reads every ``*.json`` under the results folder as a results file). Environments are
deleted after their block unless asked to keep them.

pip must be allowed to install each release: a pip constraint (``pip config list``,
``PIP_CONSTRAINT``) that excludes one is reported before anything runs
(:func:`pip_torch_caps`, :func:`check_installable`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

from cebench import asvconf
from cebench.errors import InputError

#: Eight releases over two years of torch, oldest first (release order).
DEFAULT_RELEASES = ("2.5.1", "2.7.1", "2.9.1", "2.11.0", "2.12.1", "2.13.0", "2.14.1", "2.15.0")

#: What every release gets (asv --bench regexes): the torch version, the instruction
#: counts (deterministic), the paired weighted/unweighted ratios and the accuracy tracks.
EVERY_RELEASE_BENCHMARKS = (
    r"^bench_environment\.",
    r"^bench_instructions\.",
    r"^bench_loss\.WeightOverhead\.",
    r"^bench_accuracy\.",
)
#: What the replicated releases also get, in every replicate: wall times of the core grid
#: and of the control workload (bench_control).
REPLICATE_BENCHMARKS = (r"^bench_environment\.", r"^bench_control\.", r"^bench_loss\.Core\.")

#: asv_runner 0.3.x times one call per sample when setup exists: pinned (asv.conf.json).
ASV_RUNNER = "0.3.2"
#: torch releases before 2.3 were built against numpy 1.x.
NUMPY_1_BEFORE = (2, 3)
NUMPY_1_PIN = "1.26.4"

SEMANTICS_DIR = "semantics"
#: ``cebench check --json OUT`` in an asv environment, which has cebench, torch and numpy
#: but not the analysis tools that the ``cebench`` dispatcher imports: the check
#: command's own parser and function are called (wherever the measured commit keeps them).
CHECK_IN_ENV = """
import argparse, importlib, sys
argv, parser = ["--json", sys.argv[1]], argparse.ArgumentParser()
try:
    command = importlib.import_module("cebench.commands.check")
except ImportError:  # a cebench whose check command registered itself
    importlib.import_module("cebench.semantics.conformance").register_cli(
        parser.add_subparsers())
    args = parser.parse_args(["check", *argv])
    sys.exit(args.func(args))
command.add_arguments(parser)
sys.exit(command.run(parser.parse_args(argv)))
"""
CHECK_TIMEOUT_S = 1800

_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


# --- the plan -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Release:
    torch: str
    numpy: str = ""  # an exact pin, or "" for the newest

    @property
    def key(self) -> tuple[int, ...]:
        return version_key(self.torch)


@dataclasses.dataclass(frozen=True)
class Run:
    """One asv run of one release: replicate 1 is the release's main run."""

    release: Release
    replicate: int
    benchmarks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Block:
    """Releases whose environments exist together, and their runs in order."""

    releases: tuple[Release, ...]
    runs: tuple[Run, ...]


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def release(version: str) -> Release:
    """A release with the numpy it needs ('2.1.2' -> numpy 1.26.4; '2.9.1' -> newest)."""
    if not _VERSION.match(version):
        raise InputError(f"not a torch release: {version!r} (expected e.g. 2.9.1)")
    numpy = NUMPY_1_PIN if version_key(version)[:2] < NUMPY_1_BEFORE else ""
    return Release(version, numpy)


def plan(versions: Iterable[str], *, replicates: int = 3, replicate_newest: int = 2,
         benchmarks: tuple[str, ...] = EVERY_RELEASE_BENCHMARKS,
         replicate_benchmarks: tuple[str, ...] = REPLICATE_BENCHMARKS) -> list[Block]:
    """Blocks, newest first: the newest releases together, then one per older release.

    Every release runs ``benchmarks`` once; the newest ``replicate_newest`` releases also
    run ``replicate_benchmarks`` ``replicates`` times, interleaved across them (their first
    replicate is part of their main run). Newest first: the releases people use now have
    results first, and their wall-time replicates run while a long history is young.
    """
    releases = sorted({release(v) for v in versions}, key=lambda r: r.key)
    if not releases:
        raise InputError("no torch releases to run")
    if replicates < 1 or replicate_newest < 0:
        raise InputError("replicates must be >= 1 and replicate_newest >= 0")
    cut = len(releases) - min(replicate_newest, len(releases)) if replicates > 1 else len(releases)
    blocks = []
    newest = releases[cut:]
    if newest:
        main = tuple(dict.fromkeys(tuple(benchmarks) + tuple(replicate_benchmarks)))
        runs = [Run(r, 1, main) for r in newest]
        runs += [Run(r, k, tuple(replicate_benchmarks))
                 for k in range(2, replicates + 1) for r in newest]
        blocks.append(Block(tuple(newest), tuple(runs)))
    blocks += [Block((r,), (Run(r, 1, tuple(benchmarks)),)) for r in reversed(releases[:cut])]
    return blocks


# --- pip's constraints -----------------------------------------------------------------


def pip_constraint_files(python: str = sys.executable) -> list[Path]:
    """The constraint files pip applies: ``PIP_CONSTRAINT`` and ``pip config list``."""
    files = [Path(p) for p in os.environ.get("PIP_CONSTRAINT", "").split() if p]
    try:
        listing = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True,
                                 text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.strip().endswith(".constraint"):
            files += [Path(p) for p in value.strip().strip("'\"").split() if p]
    return list(dict.fromkeys(files))


def pip_torch_caps(files: Iterable[Path]) -> list[tuple[Path, str]]:
    """``(file, specifier)`` of every torch constraint in ``files`` (e.g. 'torch<=2.14.1')."""
    from packaging.requirements import InvalidRequirement, Requirement

    caps = []
    for path in files:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                continue
            if requirement.name.lower() == "torch" and str(requirement.specifier):
                caps.append((Path(path), str(requirement)))
    return caps


def check_installable(releases: Iterable[Release], caps: list[tuple[Path, str]]) -> None:
    """InputError naming the releases a pip constraint excludes (nothing runs then)."""
    from packaging.requirements import Requirement

    excluded = []
    for r in releases:
        for path, cap in caps:
            if not Requirement(cap).specifier.contains(r.torch, prereleases=True):
                excluded.append(f"torch {r.torch} (pip constraint {cap!r} in {path})")
    if excluded:
        raise InputError("pip may not install " + "; ".join(excluded) + ": lift the "
                         "constraint (README, 'History of torch releases') or leave those "
                         "releases out (--releases)")


# --- running ---------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    repo: Path                 # the project: asv.conf.json and the git history
    results_dir: Path          # results/ (benchmarks.json, <machine>/)
    work_dir: Path             # environments, scratch results, logs
    machine: str               # the asv machine name (cebench machine)
    commit: str                # the commit measured (full hash)
    python: str = "3.11"
    launch_method: str = "forkserver"
    keep_envs: bool = False
    run_check: bool = True
    asv_args: tuple[str, ...] = ()


@dataclasses.dataclass
class RunRecord:
    torch: str
    replicate: int
    results_file: str | None   # where the results went (None: asv wrote none)
    asv_returncode: int
    seconds: float
    log: str


@dataclasses.dataclass
class BlockRecord:
    releases: list[str]
    runs: list[RunRecord]
    semantics_files: dict[str, str | None]
    peak_work_bytes: int
    seconds: float


def env_dir(settings: Settings, r: Release) -> Path:
    return settings.work_dir / "env" / r.torch


def write_config(settings: Settings, r: Release, benchmark_dir: Path, scratch: Path) -> Path:
    """The relocated asv config for one release: its matrix holds that release only."""
    matrix = {"req": {"torch": [r.torch], "numpy": [r.numpy],
                      "pip+asv_runner": [ASV_RUNNER]}}
    return asvconf.write_relocated(
        settings.repo / "asv.conf.json", settings.work_dir / "conf" / f"torch-{r.torch}.json",
        repo=settings.repo, benchmark_dir=benchmark_dir, results_dir=scratch,
        env_dir=env_dir(settings, r), html_dir=settings.work_dir / "html",
        pythons=[settings.python], matrix=matrix)


def snapshot_benchmarks(settings: Settings) -> Path:
    """The commit's benchmarks/ folder (asv discovers benchmarks in the working tree)."""
    dest = settings.work_dir / "benchmarks" / settings.commit[:12]
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(settings.repo), "archive", settings.commit,
                                  "benchmarks"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        (tmp / "benchmarks").rename(dest)
        tmp.rmdir()
    return dest


def merge_benchmarks_json(scratch: Path, results_dir: Path) -> int:
    """Add (or update) the scratch run's benchmark definitions in ``results_dir``'s file.

    Returns how many definitions the merged file holds. Definitions of benchmarks that
    this run did not discover stay.
    """
    from asv import util

    source = util.load_json(str(scratch / "benchmarks.json"), api_version=2)
    target_path = results_dir / "benchmarks.json"
    target = util.load_json(str(target_path), api_version=2) if target_path.exists() else {}
    target.pop("version", None)
    source.pop("version", None)
    target.update(source)
    util.write_json(str(target_path), target, api_version=2)
    return len(target)


def store_run(scratch: Path, settings: Settings) -> Path | None:
    """Move a scratch run's results file into the results folder; merge benchmarks.json."""
    from cebench.results.load import replicate_name

    produced = sorted((scratch / settings.machine).glob("*.json"))
    produced = [p for p in produced if p.name != "machine.json"]
    if not produced:
        return None
    if len(produced) > 1:
        raise RuntimeError(f"{scratch}: expected one results file, found {len(produced)}")
    machine_dir = settings.results_dir / settings.machine
    machine_dir.mkdir(parents=True, exist_ok=True)
    with _locked(settings.results_dir):  # two histories may store into one folder
        if not (machine_dir / "machine.json").exists():
            shutil.copy2(scratch / settings.machine / "machine.json",
                         machine_dir / "machine.json")
        merge_benchmarks_json(scratch, settings.results_dir)
        dest = replicate_name(machine_dir, produced[0].name)
        shutil.move(str(produced[0]), dest)
    return dest


@contextlib.contextmanager
def _locked(folder: Path):
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def asv_run(conf: Path, settings: Settings, benchmarks: Iterable[str], log: Path) -> int:
    bench = [arg for regex in benchmarks for arg in ("--bench", regex)]
    command = [sys.executable, "-m", "asv", "run", "--config", str(conf),
               "--machine", settings.machine, "--launch-method", settings.launch_method,
               "--record-samples", "--show-stderr", *settings.asv_args, *bench,
               f"{settings.commit}^!"]
    env = dict(os.environ, PIP_NO_CACHE_DIR="1")
    with open(log, "a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        return subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                              cwd=settings.repo).returncode


def env_python(settings: Settings, r: Release) -> Path | None:
    found = sorted(env_dir(settings, r).glob("*/bin/python"))
    return found[0] if found else None


def slim_check(report: dict) -> list[dict]:
    """The verdicts of a ``cebench check --json`` report, one record per line to store.

    Every golden, edge and bad-input case is kept (verdict, torch's loss or error); of
    the grid (thousands of matching cases) only those that do not match or are skipped
    for another reason than usual are kept, with the counts in the header.
    """
    keep = ("kind", "name", "device", "dtype", "verdict", "rule_broken", "torch_loss",
            "reference_loss", "loss_rel_error", "torch_error", "note")
    records = []
    for case in report.get("cases", []):
        if case.get("kind") == "grid" and case.get("verdict") in ("matches", "skipped") \
                and not case.get("rule_broken"):
            continue
        records.append({k: case.get(k) for k in keep if k in case})
    return records


def store_semantics(report: dict, r: Release, settings: Settings) -> Path:
    header = {"release": r.torch, "torch_version": report.get("torch_version"),
              "devices": report.get("devices"), "summary": report.get("summary"),
              "commit": settings.commit, "machine": settings.machine}
    folder = settings.results_dir / settings.machine / SEMANTICS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"torch-{r.torch}.jsonl"
    lines = [json.dumps(header, sort_keys=True)]
    lines += [json.dumps(rec, sort_keys=True) for rec in slim_check(report)]
    path.write_text("\n".join(lines) + "\n")
    return path


def run_check(settings: Settings, r: Release, log: Path) -> Path | None:
    """``cebench check --json`` in the release's environment; its verdicts stored."""
    python = env_python(settings, r)
    if python is None:
        return None
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the env's cebench
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "check.json"
        with open(log, "a") as f:
            f.write(f"$ {python} -c <cebench check --json {out}>\n")
            f.flush()
            proc = subprocess.run([str(python), "-c", CHECK_IN_ENV, str(out)], stdout=f,
                                  stderr=subprocess.STDOUT, timeout=CHECK_TIMEOUT_S,
                                  cwd=settings.work_dir, env=env)
        if proc.returncode not in (0, 1) or not out.exists():  # 1: a broken rule, recorded
            return None
        return store_semantics(json.loads(out.read_text()), r, settings)


def tree_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def run_block(block: Block, settings: Settings,
              progress: Callable[[str], None] = lambda line: None) -> BlockRecord:
    """Build the block's environments (asv does, on their first run), run, check, delete."""
    start = time.monotonic()
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    bench_dir = snapshot_benchmarks(settings)
    logs = settings.work_dir / "logs"
    logs.mkdir(exist_ok=True)
    records, peak = [], 0
    for run in block.runs:
        r = run.release
        scratch = settings.work_dir / "scratch" / f"{r.torch}-r{run.replicate}"
        shutil.rmtree(scratch, ignore_errors=True)
        conf = write_config(settings, r, bench_dir, scratch)
        log = logs / f"torch-{r.torch}.log"
        progress(f"torch {r.torch} run {run.replicate}: asv run ({len(run.benchmarks)} "
                 f"benchmark patterns; log {log})")
        t0 = time.monotonic()
        rc = asv_run(conf, settings, run.benchmarks, log)
        peak = max(peak, tree_bytes(settings.work_dir))
        stored = store_run(scratch, settings)
        shutil.rmtree(scratch, ignore_errors=True)
        seconds = time.monotonic() - t0
        records.append(RunRecord(r.torch, run.replicate, str(stored) if stored else None, rc,
                                 round(seconds, 1), str(log)))
        progress(f"torch {r.torch} run {run.replicate}: {seconds:.0f} s, asv exit {rc}, "
                 f"results {stored if stored else 'none'}")
    semantics = {}
    for r in block.releases:
        if settings.run_check:
            t0 = time.monotonic()
            path = run_check(settings, r, logs / f"torch-{r.torch}.log")
            semantics[r.torch] = str(path) if path else None
            progress(f"torch {r.torch}: semantics check {time.monotonic() - t0:.0f} s -> "
                     f"{path if path else 'failed (see log)'}")
        if not settings.keep_envs:
            remove_later(env_dir(settings, r), settings)
    return BlockRecord([r.torch for r in block.releases], records, semantics, peak,
                       round(time.monotonic() - start, 1))


_REMOVALS: list[subprocess.Popen] = []


def remove_later(path: Path, settings: Settings) -> None:
    """Delete an environment in the background (5 GB take a minute to delete here)."""
    if not path.exists():
        return
    trash = settings.work_dir / "trash" / f"{path.name}-{time.monotonic_ns()}"
    trash.parent.mkdir(parents=True, exist_ok=True)
    path.rename(trash)
    _REMOVALS.append(subprocess.Popen(["rm", "-rf", str(trash)]))


def wait_for_removals() -> None:
    while _REMOVALS:
        _REMOVALS.pop().wait()


def run(blocks: list[Block], settings: Settings,
        progress: Callable[[str], None] = lambda line: None) -> list[BlockRecord]:
    try:
        return [run_block(block, settings, progress) for block in blocks]
    finally:
        wait_for_removals()
