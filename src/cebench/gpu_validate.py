"""The one-shot GPU validation run: every check a GPU machine should make, in one call.

``python -m cebench.gpu_validate OUT_DIR`` (``scripts/gpu-validate.sh OUT_DIR`` is the
wrapper a GPU machine runs; docs/gpu-run.md says how to carry it there and back).

Phases, in order; each is timed, runs under its own time limit and never past the
run's deadline, and a failed or timed-out phase does not stop the later ones:

  setup        install the carried wheels into WORK/site, clone the git bundle into
               WORK/repo, write a relocated asv config, ``asv machine``
  environment  nvidia-smi, python/torch/CUDA and package versions
  nvml_rate    ``python -m cebench.measure.nvml``: the NVML sample rate sustained
  profile      ``cebench profile CASE`` (torch.profiler + NVML)
  check        ``cebench check`` (float64 reference; CUDA too when present)
  check_impls  ``cebench check --impl NAME`` for compile, liger, quack and by_hand on the
               rule grid's 2-D cases (dry run: by_hand and liger on the CPU, a few cases)
  pytest_cuda  ``pytest -m cuda``
  selfcheck    ``cebench selfcheck`` (timer fidelity, peak copy bandwidth)
  asv_*        ``asv run -E existing:same --set-commit-hash ...``, one per chunk
  pack         tar the asv results and the profile; write phases.json

asv saves a run's results only when the run returns, so the suite runs in small chunks
(about 30 benchmark processes, :data:`CHUNK_LIMIT_S` at most each), the most valuable
first; a chunk is admitted only when its estimate (from the chunks already run) fits
the time left, and one cut off loses only itself.

Knobs (environment): CEBENCH_GPU_DRY_RUN=1 (CPU dry run: small cases, short budgets),
CEBENCH_GPU_DEADLINE_S (default 450; dry run 300), CEBENCH_GPU_PHASES (comma list;
setup and pack always run; "asv" names every chunk), CEBENCH_WHEEL_DIR (default .whl),
CEBENCH_DEVGIT (default .devgit), CEBENCH_GPU_WORK (default /tmp/cebench-gpu),
CEBENCH_LAUNCH_METHOD (default forkserver), CEBENCH_PROFILE_CASE, PYTHON (the
interpreter for every phase; default: this one).
"""

from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cebench.errors import EXIT_BAD_INPUT, EXIT_FINDING, EXIT_OK, InputError

ROOT = Path(__file__).resolve().parents[2]
WORK_MARKER = ".cebench-gpu-work"
PACK_RESERVE_S = 15         # kept free before the deadline for packing
KILL_GRACE_S = 5            # SIGTERM, then SIGKILL after this
CHUNK_LIMIT_S = 90          # the most one asv chunk may take
CHUNK_OVERHEAD_S = 8.0      # asv's own start per chunk (discovery, fork server): a guess
#: Seconds per benchmark process before any chunk has run (guesses; each finished
#: chunk replaces them with what it measured).
FIRST_GUESS_S_PER_PROCESS = {"forkserver": 1.2, "spawn": 4.0}

DEADLINE_S = {"gpu": 450, "dry": 300}
PROFILE_CASE = {"gpu": "llm-128k.contiguous.bfloat16.mean.w-random",
                "dry": "small.contiguous.float32.mean.w-random"}
SELFCHECK_DRY_CASE = "small.contiguous.float32.mean.w-random"
#: (name, limit in seconds) of the phases before the asv chunks.
FIXED_PHASES = (("setup", 60), ("environment", 20), ("nvml_rate", 15), ("profile", 45),
                ("check", 60), ("check_impls", 120), ("pytest_cuda", 75), ("selfcheck", 75))
#: (implementation, --match regex on the rule grid's case names) per mode: on a GPU the
#: 2-D cases (compile recompiles per graph: the whole grid would not fit the run).
IMPL_CHECKS = {
    "gpu": (("liger", r"^index 2-D "), ("quack", r"^index 2-D "), ("by_hand", r"^index 2-D "),
            ("compile", r"^index 2-D w=(none|random) ")),
    "dry": (("by_hand", r"^index 2-D w=random ignored=some ls=0 mean$"),
            ("liger", r"^index 2-D w=random ignored=some ls=0\.1 mean$")),
}


@dataclasses.dataclass(frozen=True)
class Chunk:
    """One ``asv run``: its phase name, its ``--bench`` regexes, and how many benchmark
    processes they select (tests/test_gpu_validate.py checks the count)."""

    name: str
    processes: int
    regexes: tuple[str, ...]


_S = r",\s"
#: The standard GPU subset in priority order: cheap, high-value figures first.
GPU_CHUNKS = (
    Chunk("asv_env", 3, (r"^bench_environment\.", r"^bench_bandwidth\.PeakBandwidth\.")),
    Chunk("asv_allocator_peak", 32, (r"^bench_memory\.AllocatorPeak\.",)),
    Chunk("asv_kernel_llm128k", 24, (r"^bench_loss\.Kernel\..*\('llm-128k'",)),
    Chunk("asv_overhead_nvml", 24,
          (rf"^bench_loss\.WeightOverhead\..*\('(llm-128k|segmentation)'{_S}'[a-z0-9]+'{_S}'mean'",
           r"^bench_memory\.NvmlTelemetry\..*\('llm-128k'")),
    Chunk("asv_impls_llm128k", 23,
          (rf"^bench_impls\.Impl(Kernel|VsEager|Memory)\..*\('[a-z_]+'{_S}'llm-128k'{_S}'bfloat16'"
           rf"{_S}'random'\)",)),
    Chunk("asv_kernel_segmentation", 24, (r"^bench_loss\.Kernel\..*\('segmentation'",)),
    Chunk("asv_core_llm128k", 20, (rf"^bench_loss\.Core\..*\('llm-128k'{_S}'[a-z0-9_]+'{_S}'mean'",)),
    Chunk("asv_accuracy_loss", 24, (r"^bench_accuracy\.Accuracy\.track_loss_",)),
    Chunk("asv_accuracy_grad", 24, (r"^bench_accuracy\.Accuracy\.track_grad_",)),
    Chunk("asv_kernel_classification", 24, (r"^bench_loss\.Kernel\..*\('classification'",)),
    Chunk("asv_kernel_segmentation150", 24, (r"^bench_loss\.Kernel\..*\('segmentation-150'",)),
    Chunk("asv_core_segmentation", 20,
          (rf"^bench_loss\.Core\..*\('segmentation'{_S}'[a-z0-9_]+'{_S}'mean'",)),
    Chunk("asv_vocab", 24, (r"^bench_loss\.Vocab\.",)),
)
#: The CPU dry run: a few chunks of the same names on CPU-sized (or skipped) cases.
DRY_CHUNKS = (
    Chunk("asv_env", 3, (r"^bench_environment\.", r"^bench_bandwidth\.PeakBandwidth\.")),
    Chunk("asv_allocator_peak", 1,
          (rf"^bench_memory\.AllocatorPeak\..*forward_backward\('llm-128k'{_S}'bfloat16'{_S}'random'\)",)),
    Chunk("asv_kernel_llm128k", 1,
          (rf"^bench_loss\.Kernel\..*forward\('llm-128k'{_S}'bfloat16'{_S}'mean'{_S}'random'\)",)),
    Chunk("asv_impls_llm128k", 4,
          (rf"^bench_impls\.ImplTime\..*\('(eager|by_hand)'{_S}'small'{_S}'float32'{_S}'random'\)",)),
    Chunk("asv_core_llm128k", 4,
          (rf"^bench_loss\.Core\..*\('small'{_S}'float32'{_S}'mean'",)),
)


# --- the run's state and its log ----------------------------------------------------------

@dataclasses.dataclass
class PhaseRecord:
    name: str
    seconds: float
    limit_s: float
    status: str          # ok, failed, timeout, skipped
    rc: int | None
    note: str = ""


class Run:
    """Settings, the log (stdout and OUT/gpu-validate.log), the clock, phase records."""

    def __init__(self, out: Path, env: dict[str, str] | None = None, console=None):
        env = dict(os.environ if env is None else env)
        self.console = console  # a text stream that also gets the log (e.g. sys.stdout)
        self.dry = env.get("CEBENCH_GPU_DRY_RUN") == "1"
        mode = "dry" if self.dry else "gpu"
        self.deadline_s = float(env.get("CEBENCH_GPU_DEADLINE_S") or DEADLINE_S[mode])
        self.selected = {p.strip() for p in (env.get("CEBENCH_GPU_PHASES") or "all").split(",")}
        self.wheels = Path(env.get("CEBENCH_WHEEL_DIR") or ROOT / ".whl")
        self.devgit = Path(env.get("CEBENCH_DEVGIT") or ROOT / ".devgit")
        self.work = Path(env.get("CEBENCH_GPU_WORK") or "/tmp/cebench-gpu")
        self.launch = env.get("CEBENCH_LAUNCH_METHOD") or "forkserver"
        self.python = env.get("PYTHON") or sys.executable
        self.profile_case = env.get("CEBENCH_PROFILE_CASE") or PROFILE_CASE[mode]
        self.chunks = DRY_CHUNKS if self.dry else GPU_CHUNKS
        self.out = out
        self.records: list[PhaseRecord] = []
        self.started = time.perf_counter()
        self.s_per_process: float | None = None   # measured by the chunks run so far
        site = self.work / "site"
        pythonpath = os.pathsep.join(
            [str(ROOT / "src"), str(site)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.env = dict(env, HOME=str(self.work / "home"), PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
                        PYTHONPATH=pythonpath, ASV_PYTHONPATH=pythonpath,
                        PATH=f"{site / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        self._log = None

    # -- log --
    def open_log(self) -> None:
        self._log = open(self.out / "gpu-validate.log", "a", buffering=1)

    def say(self, text: str = "") -> None:
        for stream in (self.console, self._log):
            if stream is not None:
                stream.write(text + "\n")
                stream.flush()

    # -- clock --
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def left_s(self, reserve_s: float = 0.0) -> float:
        return self.deadline_s - self.elapsed_s() - reserve_s

    def is_selected(self, name: str) -> bool:
        if name in ("setup", "pack") or "all" in self.selected or name in self.selected:
            return True
        return name.startswith("asv_") and "asv" in self.selected

    def record(self, rec: PhaseRecord) -> None:
        self.records.append(rec)
        self.say(f"phase {rec.name}: {rec.seconds:.1f} s ({rec.status}"
                 + (f": {rec.note}" if rec.note else "") + ")")

    # -- subprocesses --
    def call(self, cmd: Sequence[str], until: float, *, capture: bool = False,
             cwd: Path | None = None) -> tuple[int, str]:
        """Run ``cmd`` (output into the log) until ``until`` (perf_counter seconds).

        Returns (exit status, captured stdout); raises PhaseTimeout when cut off. The
        command runs in its own process group, so that asv's benchmark processes and
        fork server go down with it.
        """
        timeout = until - time.perf_counter()
        if timeout <= 0:
            raise PhaseTimeout()
        proc = subprocess.Popen(list(cmd), cwd=cwd or ROOT, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, errors="replace")
        captured: list[str] = []

        def pump() -> None:
            for line in proc.stdout:
                captured.append(line)
                if not capture:
                    self.say(line.rstrip("\n"))

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            reader.join(KILL_GRACE_S)
            raise PhaseTimeout() from None
        reader.join()
        return proc.returncode, "".join(captured)


class PhaseTimeout(Exception):
    pass


class PhaseFailed(Exception):
    """A phase step failed; the message says which."""


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(KILL_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def run_phase(run: Run, name: str, limit_s: float, body: Callable[[Run, float], None], *,
              reserve_s: float = 0.0) -> PhaseRecord:
    """Run ``body(run, until)`` for at most ``limit_s`` and never into the last
    ``reserve_s`` before the deadline; record it."""
    if not run.is_selected(name):
        rec = PhaseRecord(name, 0.0, limit_s, "skipped", None, "not selected")
        run.record(rec)
        return rec
    limit = int(min(limit_s, run.left_s(reserve_s)))
    if limit < 5:
        rec = PhaseRecord(name, 0.0, limit_s, "skipped", None, f"deadline: {limit}s left for it")
        run.record(rec)
        return rec
    run.say()
    run.say(f"=== phase {name} (limit {limit} s, at {run.elapsed_s():.1f} s) ===")
    t0 = time.perf_counter()
    status, rc, note = "ok", 0, ""
    try:
        body(run, t0 + limit)
    except PhaseTimeout:
        status, rc = "timeout", 124
    except PhaseFailed as exc:
        status, rc, note = "failed", 1, str(exc)
        run.say(f"{name}: {exc}")
    rec = PhaseRecord(name, round(time.perf_counter() - t0, 1), limit, status, rc, note)
    run.record(rec)
    return rec


def _check(run: Run, cmd: Sequence[str], until: float, what: str, **kwargs) -> str:
    rc, output = run.call(cmd, until, **kwargs)
    if rc != 0:
        raise PhaseFailed(f"{what} exited {rc}")
    return output


# --- the phases -------------------------------------------------------------------------

def phase_setup(run: Run, until: float) -> None:
    py, work = run.python, run.work
    wheels = sorted(run.wheels.glob("*.whl")) if run.wheels.is_dir() else []
    if wheels:
        _check(run, [py, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                     "--no-cache-dir", "--upgrade", "--target", str(work / "site"),
                     *map(str, wheels)], until, "pip install of the carried wheels")
        run.say(f"installed {len(wheels)} wheels from {run.wheels} into {work / 'site'}")
    elif run.dry:
        run.say(f"no wheels in {run.wheels}: dry run uses this python's own packages")
    else:
        run.say(f"no wheels in {run.wheels} (see scripts/fetch-gpu-wheels.sh)")
    _check(run, [py, "-c", "import asv, asv_runner, cebench; "
                 "print('asv', asv.__version__, 'cebench from', cebench.__file__)"],
           until, "importing asv, asv_runner and cebench")

    repo = work / "repo"
    if (run.devgit / "repo.bundle").is_file():
        source = str(run.devgit / "repo.bundle")
    elif (run.devgit / "repo.git").is_dir():
        source = f"file://{(run.devgit / 'repo.git').resolve()}"
    else:
        raise PhaseFailed(f"no history: neither {run.devgit}/repo.bundle nor "
                          f"{run.devgit}/repo.git (scripts/make-devgit.sh)")
    _check(run, ["git", "-c", "advice.detachedHead=false", "clone", "-q", source, str(repo)],
           until, "git clone of the history")
    _check(run, ["git", "-C", str(repo), "checkout", "-q", "-B", "main"], until, "git checkout")
    commit = _check(run, ["git", "-C", str(repo), "rev-parse", "HEAD"], until, "git rev-parse",
                    capture=True).strip()
    (work / "commit").write_text(commit + "\n")
    run.say(f"commit {commit}")
    differ = [sub for sub in ("src", "benchmarks")
              if run.call(["diff", "-rq", "-x", "__pycache__", str(repo / sub), str(ROOT / sub)],
                          until)[0] != 0]
    if differ:
        run.say(f"NOTE: {' and '.join(differ)} differ from the commit (results are recorded under it)")
    else:
        (work / "tree-matches-head").write_text("yes\n")
        run.say("src/ and benchmarks/ match the commit")

    # the copied tree has no .git: a config pointing at the clone and the scratch folders
    _check(run, [py, "-c", (
        "import sys; from pathlib import Path; from cebench import asvconf; w = Path(sys.argv[1]); "
        "asvconf.write_relocated(Path(sys.argv[2]), w / 'asv.conf.json', repo=w / 'repo', "
        "results_dir=w / 'results', html_dir=w / 'html', env_dir=w / 'env', branches=['main'])"),
        str(work), str(ROOT / "asv.conf.json")], until, "writing the asv config")
    machine = _check(run, [py, "-m", "cebench", "machine"], until, "cebench machine",
                     capture=True).strip()
    _check(run, [py, "-m", "asv", "machine", "--machine", machine, "--yes"], until, "asv machine",
           capture=True)
    (work / "machine-name").write_text(machine + "\n")
    run.say(f"asv machine: {machine}")


def phase_environment(run: Run, until: float) -> None:
    if shutil.which("nvidia-smi"):
        run.call(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                  "clocks.max.mem,power.limit,temperature.gpu", "--format=csv"], until)
    else:
        run.say("no nvidia-smi (no CUDA here)")
    _check(run, [run.python, "-m", "cebench.gpu_validate", "--describe-environment"], until,
           "describing the environment")
    if not run.dry:
        cuda = _check(run, [run.python, "-c", "import torch; print(torch.cuda.is_available())"],
                      until, "torch", capture=True).strip()
        if cuda != "True":
            raise PhaseFailed("torch sees no CUDA device")


def describe_environment() -> str:
    """Python, torch, CUDA, the device and package versions, one item a line."""
    import platform
    from importlib import metadata

    import torch

    lines = [f"python {platform.python_version()} torch {torch.__version__} cuda "
             f"{torch.version.cuda} available {torch.cuda.is_available()}"]
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        lines.append(f"device {p.name} SMs {p.multi_processor_count} memory {p.total_memory} "
                     f"L2 {getattr(p, 'L2_cache_size', None)}")
    for name in ("triton", "numpy", "nvidia-ml-py", "pandas", "matplotlib", "scipy", "pytest",
                 "asv", "asv_runner"):
        try:
            lines.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name} not installed")
    return "\n".join(lines)


def phase_nvml_rate(run: Run, until: float) -> None:
    _check(run, [run.python, "-m", "cebench.measure.nvml", "0.5" if run.dry else "2"], until,
           "the NVML rate")


def phase_profile(run: Run, until: float) -> None:
    _check(run, [run.python, "-m", "cebench", "profile", run.profile_case,
                 "--out", str(run.work / "profile")], until, "cebench profile")


def phase_check(run: Run, until: float) -> None:
    _check(run, [run.python, "-m", "cebench", "check", "--json", str(run.out / "check.json")],
           until, "cebench check")


def phase_check_impls(run: Run, until: float) -> None:
    """``cebench check --impl NAME --json`` for each implementation, into one
    OUT/check-impls.json: each report, or why the implementation did not run (exit 2: not
    installed, no suitable GPU). Exit 1 (a rule differs) is a finding, recorded."""
    device = "cpu" if run.dry else "cuda"
    checks = IMPL_CHECKS["dry" if run.dry else "gpu"]
    merged: dict = {"device": device, "reports": {}}
    failed = []
    for i, (impl, match) in enumerate(checks):
        share = (until - time.perf_counter()) / (len(checks) - i)  # what is left, shared
        path = run.work / f"check-impl-{impl}.json"
        try:
            rc, output = run.call([run.python, "-m", "cebench", "check", "--impl", impl,
                                   "--device", device, "--match", match, "--json", str(path)],
                                  time.perf_counter() + share, capture=True)
        except PhaseTimeout:
            merged["reports"][impl] = {"error": f"cut off after {share:.0f} s"}
            failed.append(impl)
            continue
        lines = [line for line in output.splitlines() if line.strip()]
        run.say("\n".join(lines[-17:]))  # the support x conformance row and its adaptations
        if rc in (0, 1) and path.is_file():
            merged["reports"][impl] = json.loads(path.read_text())
        elif rc == 2:
            merged["reports"][impl] = {"unavailable": lines[-1] if lines else "exit 2"}
        else:
            merged["reports"][impl] = {"error": f"exit {rc}: " + " ".join(lines[-3:])}
            failed.append(impl)
    (run.out / "check-impls.json").write_text(json.dumps(merged, indent=1) + "\n")
    if failed:
        raise PhaseFailed(f"cebench check --impl failed for {', '.join(failed)}")


def phase_pytest_cuda(run: Run, until: float) -> None:
    rc, _ = run.call([run.python, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider",
                      f"--junitxml={run.out / 'pytest-cuda.xml'}", "tests"], until)
    if rc == 5:
        run.say("no tests are marked cuda")
    elif rc != 0:
        raise PhaseFailed(f"pytest -m cuda exited {rc}")


def phase_selfcheck(run: Run, until: float) -> None:
    cmd = [run.python, "-m", "cebench", "selfcheck", "--json", str(run.out / "selfcheck.json")]
    if run.dry:  # the CPU path, kept short
        cmd += ["--case", SELFCHECK_DRY_CASE, "--budget-s", "0.2", "--min-run-time", "0.05",
                "--peak-mib", "64"]
    _check(run, cmd, until, "cebench selfcheck")


# --- asv --------------------------------------------------------------------------------

def asv_command(run: Run, chunk: Chunk, launch: str) -> list[str]:
    commit = (run.work / "commit").read_text().strip()
    machine = (run.work / "machine-name").read_text().strip()
    bench = [arg for regex in chunk.regexes for arg in ("-b", regex)]
    return [run.python, "-m", "asv", "run", "--config", str(run.work / "asv.conf.json"),
            "-E", "existing:same", "--no-pull", "--set-commit-hash", commit,
            "--machine", machine, "--record-samples", "--launch-method", launch,
            "--show-stderr", "-a", "rounds=1", *bench]


@dataclasses.dataclass
class Tally:
    benchmarks: int = 0
    values: int = 0
    nan: int = 0
    finite: dict[str, list[float]] = dataclasses.field(default_factory=dict)


def asv_tally(results_dir: Path) -> Tally:
    """Benchmarks, finite values and NaN/skipped values in asv results; finite values by name."""
    tally = Tally()
    for path in glob.glob(str(results_dir / "*" / "*.json")):
        if os.path.basename(path) == "machine.json":
            continue
        with open(path) as f:
            data = json.load(f)
        columns = data.get("result_columns", [])
        for name, row in data.get("results", {}).items():
            tally.benchmarks += 1
            result = row[columns.index("result")] if isinstance(row, list) else row
            flat = result if isinstance(result, list) else [result]
            finite = [v for v in flat if isinstance(v, (int, float)) and math.isfinite(v)]
            tally.values += len(finite)
            tally.nan += len(flat) - len(finite)
            if finite:
                tally.finite[name] = finite
    return tally


def estimate_chunk_s(run: Run, chunk: Chunk) -> float:
    per_process = run.s_per_process or FIRST_GUESS_S_PER_PROCESS.get(run.launch, 4.0)
    return CHUNK_OVERHEAD_S + per_process * chunk.processes


def fork_server_works(run: Run, tally: Tally) -> bool:
    """Whether the asv_env chunk shows a usable benchmark process: on a GPU, one that sees
    the device (a forked child without CUDA would skip every case as too big for the
    CPU); in the CPU dry run, one that recorded the torch version."""
    if run.dry:
        return "bench_environment.Environment.track_torch_version" in tally.finite
    counts = tally.finite.get("bench_environment.Environment.track_cuda_device_count", [])
    return any(count > 0 for count in counts)


def run_asv_chunks(run: Run) -> None:
    if not all((run.work / name).exists() for name in ("machine-name", "commit", "repo")):
        for chunk in run.chunks:
            run.record(PhaseRecord(chunk.name, 0.0, 0, "skipped", None,
                                   "setup failed (no clone or machine)"))
        return
    measured_s, measured_processes = 0.0, 0
    for chunk in run.chunks:
        if run.is_selected(chunk.name):
            estimate = estimate_chunk_s(run, chunk)
            left = run.left_s(PACK_RESERVE_S)
            if estimate > left:
                run.record(PhaseRecord(chunk.name, 0.0, round(estimate), "skipped", None,
                                       f"estimate {estimate:.0f}s > {left:.0f}s left"))
                continue
        rec = _run_chunk(run, chunk, chunk.name, run.launch)
        if rec.status == "ok" and rec.seconds > 0:
            measured_s += max(rec.seconds - CHUNK_OVERHEAD_S, 0.1 * rec.seconds)
            measured_processes += chunk.processes
            run.s_per_process = measured_s / measured_processes
        if chunk.name == "asv_env" and rec.status != "skipped" and run.launch != "spawn":
            if not fork_server_works(run, asv_tally(run.work / "results")):
                what = "no CUDA device" if not run.dry else "no torch version"
                run.say(f"asv with --launch-method {run.launch} recorded {what}: "
                        "falling back to spawn")
                run.launch = "spawn"
                run.s_per_process = None
                measured_s, measured_processes = 0.0, 0
                _run_chunk(run, chunk, "asv_env_spawn", "spawn")


def _run_chunk(run: Run, chunk: Chunk, name: str, launch: str) -> PhaseRecord:
    def body(run: Run, until: float) -> None:
        _check(run, asv_command(run, chunk, launch), until, "asv run")

    rec = run_phase(run, name, CHUNK_LIMIT_S, body, reserve_s=PACK_RESERVE_S)
    if rec.status != "skipped":
        tally = asv_tally(run.work / "results")
        run.say(f"asv results so far (benchmarks, values, nan): "
                f"{tally.benchmarks} {tally.values} {tally.nan}")
    return rec


# --- pack -------------------------------------------------------------------------------

def pack(run: Run) -> dict:
    t0 = time.perf_counter()
    results = run.work / "results"
    if results.is_dir() and any(results.iterdir()):
        with tarfile.open(run.out / "asv-results.tar.gz", "w:gz") as tar:
            tar.add(results, arcname=".")
    if (run.work / "profile").is_dir():
        with tarfile.open(run.out / "profile.tar.gz", "w:gz") as tar:
            tar.add(run.work / "profile", arcname="profile")
    run.record(PhaseRecord("pack", round(time.perf_counter() - t0, 1), 0, "ok", 0))
    tally = asv_tally(results)

    def read(name: str) -> str:
        path = run.work / name
        return path.read_text().strip() if path.is_file() else "unknown"

    report = {
        "dry_run": run.dry, "machine": read("machine-name"), "commit": read("commit"),
        "tree_matches_commit": (run.work / "tree-matches-head").is_file(),
        "deadline_s": run.deadline_s, "total_s": round(run.elapsed_s(), 1),
        "asv_launch_method": run.launch,
        "asv_results": {"benchmarks": tally.benchmarks, "values": tally.values, "nan": tally.nan},
        "phases": [dataclasses.asdict(r) for r in run.records],
    }
    (run.out / "phases.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def validate(out: Path, env: dict[str, str] | None = None, console=None) -> int:
    """The whole run into ``out`` (its log also to ``console``, a text stream); the exit
    status: 0 when every phase passed or was skipped, 1 when one failed or timed out.
    Raises InputError when the scratch folder exists and is not one this run made."""
    out.mkdir(parents=True, exist_ok=True)
    run = Run(out.resolve(), env, console)
    work = run.work
    if work.exists() and not (work / WORK_MARKER).exists() and any(work.iterdir()):
        raise InputError(f"{work} exists and is not a cebench scratch folder; "
                         "set CEBENCH_GPU_WORK")
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("home", "site", "results"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    (work / WORK_MARKER).touch()
    (run.out / "gpu-validate.log").write_text("")
    run.open_log()
    run.say(f"gpu-validate: dry_run={int(run.dry)} deadline={run.deadline_s:g}s "
            f"phases={','.join(sorted(run.selected))} out={run.out} work={work}")
    bodies = {"setup": phase_setup, "environment": phase_environment,
              "nvml_rate": phase_nvml_rate, "profile": phase_profile, "check": phase_check,
              "check_impls": phase_check_impls,
              "pytest_cuda": phase_pytest_cuda, "selfcheck": phase_selfcheck}
    for name, limit_s in FIXED_PHASES:
        run_phase(run, name, limit_s, bodies[name])
    run_asv_chunks(run)
    report = pack(run)

    run.say()
    run.say("phase times:")
    for r in run.records:
        run.say(f"  {r.name:<28} {r.seconds:7.1f} s  {r.status}" + (f" ({r.note})" if r.note else ""))
    run.say(f"total: {report['total_s']} s (deadline {run.deadline_s:g} s); files in {run.out}:")
    files = sorted(p for p in run.out.rglob("*") if p.is_file())
    for path in files:
        run.say(f"  {path.stat().st_size:>12}  {path.relative_to(run.out)}")
    if len(files) > 8:
        run.say(f"WARNING: {len(files)} files in {run.out} (at most 8 come back)")
    failed = sum(r.status in ("failed", "timeout") for r in run.records)
    run.say(f"gpu-validate: done; {failed} phase(s) failed or timed out")
    return EXIT_FINDING if failed else EXIT_OK


if __name__ == "__main__":  # python -m cebench.gpu_validate OUT_DIR | --describe-environment
    _args = sys.argv[1:]
    if _args == ["--describe-environment"]:
        print(describe_environment())
        sys.exit(EXIT_OK)
    if len(_args) != 1 or not _args[0] or _args[0].startswith("-"):
        print("usage: python -m cebench.gpu_validate OUT_DIR", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    try:
        sys.exit(validate(Path(_args[0]), console=sys.stdout))
    except InputError as exc:
        print(f"gpu-validate: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
