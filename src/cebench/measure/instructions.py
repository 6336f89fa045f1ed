"""Instruction counts of cross entropy calls under valgrind's callgrind: a deterministic CPU cost.

    records = measure([lookup("small.contiguous.float32.mean.w-random")], ["forward"])

:func:`measure` starts **one** valgrind process (``--tool=callgrind --collect-atstart=no``)
for every case and pass asked, so Python's and torch's start-up (a minute or more under
valgrind) is paid once. That process imports torch and then forks one process per case
and pass, so that every count starts from the same state: what one case leaves behind
(allocator state, caches, work done on a first call) never reaches another, and a count
is the same alone, in the whole grid, in any order. Each forked process runs its case on
one torch thread, on the CPU (CUDA hidden), warm calls first; then collection is switched
on around ``calls`` calls (``torch._C._valgrind_toggle``) and switched off with a dump
(``torch._C._valgrind_toggle_and_dump_stats``): the same mechanism as
``torch.utils.benchmark.Timer.collect_callgrind``. The count per call is the dump's total
of executed instructions (callgrind's ``Ir``) divided by ``calls``.

:func:`explain` compares two dumps function by function: each function's *self*
instructions (its own code, callees excluded: they add up to the total, so a change is
counted once) and its calls, per loss call, and names code that moved between builds
(renamed, inlined). :func:`torch_build` reads an environment's torch build.

Library code: returns values, raises :class:`ValgrindUnavailable` (an InputError: exit 2)
when valgrind or torch's valgrind hooks are missing, never prints.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

from cebench.errors import InputError
from cebench.grid.cases import PASSES, Case

#: Calls counted per case and pass (the count per call is exact; more calls only average
#: away the tiny differences of Python's own bookkeeping).
DEFAULT_CALLS = 3
#: Untimed calls before counting, on top of the one per pass that input preparation makes.
DEFAULT_WARMUP_CALLS = 1
#: A whole valgrind process may take this long before it is stopped.
DEFAULT_TIMEOUT_S = 3600.0
#: The header line cebench adds to a saved dump: how many calls it counted.
CALLS_HEADER = "desc: cebench calls: "
#: The header line cebench adds to a saved dump: the torch version that made it.
TORCH_HEADER = "desc: cebench torch: "


class ValgrindUnavailable(InputError):
    """valgrind is not installed, or this torch build has no valgrind hooks (exit 2)."""


class ValgrindFailed(RuntimeError):
    """The valgrind process failed; the message holds the tail of its output."""


@dataclasses.dataclass(frozen=True)
class InstructionCount:
    """Instructions one call of ``pass_`` of ``case`` executed (callgrind's Ir)."""

    case: str
    pass_: str
    instructions_per_call: float
    calls: int
    torch_version: str
    cpu_capability: str
    dump: str | None = None  # the callgrind dump, when kept

    def as_record(self) -> dict:
        record = dataclasses.asdict(self)
        record["pass"] = record.pop("pass_")
        if record["dump"] is None:
            record.pop("dump")
        return record


def unavailable_reason() -> str | None:
    """Why instructions cannot be counted here, or None when they can."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)"
    import torch

    if not torch._C._valgrind_supported_platform():
        return "this torch build has no valgrind support on this platform"
    return None


def require_valgrind() -> None:
    reason = unavailable_reason()
    if reason:
        raise ValgrindUnavailable(reason)


class NotATorchPython(InputError):
    """The interpreter given cannot run, or has no torch (exit 2)."""


#: Run by :func:`torch_build` in the environment: its torch build, from
#: ``torch.__config__.show()`` (the compiler torch was built with, its C++ standard, MKL,
#: oneDNN) and the CPU capability torch picks natively on this machine.
_BUILD_SNIPPET = r"""
import json, re, torch
config = torch.__config__.show()
def find(pattern):
    match = re.search(pattern, config)
    return match.group(1).strip() if match else None
print(json.dumps({
    "torch_version": torch.__version__,
    "git_version": getattr(torch.version, "git_version", None),
    "cuda": torch.version.cuda,
    "compiler": find(r"- ((?:GCC|clang|MSVC|Clang) [0-9.]+)"),
    "cxx_compiler": find(r"CXX_COMPILER=([^,]+)"),
    "cxx_standard": find(r"C\+\+ Version: ([0-9]+)"),
    "mkl": find(r"Math Kernel Library Version ([0-9.]+)"),
    "onednn": find(r"MKL-DNN (v[0-9.]+)"),
    "cpu_capability_native": torch.backends.cpu.get_cpu_capability(),
}))
"""


def torch_build(python: str | None = None, timeout_s: float = 300.0) -> dict:
    """The torch build of ``python``'s environment (default: this one), read from
    ``torch.__config__.show()``: version, compiler, C++ standard, MKL and oneDNN versions,
    and the CPU capability torch picks natively here (under valgrind, which emulates no
    AVX-512, it may pick a narrower one: :class:`InstructionCount` records that one).
    Raises :class:`NotATorchPython` when the interpreter cannot run or has no torch."""
    command = [python or sys.executable, "-c", _BUILD_SNIPPET]
    try:
        proc = subprocess.run(command, env=_child_environment(), capture_output=True,
                              text=True, timeout=timeout_s)
    except OSError as exc:
        raise NotATorchPython(f"cannot run it ({exc.strerror or exc})") from None
    except subprocess.TimeoutExpired:
        raise NotATorchPython(f"did not answer within {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise NotATorchPython(f"not a Python with torch ({last[:200]})")
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise NotATorchPython("not a Python with torch (no build printed)") from None


def _child_environment() -> dict[str, str]:
    """The valgrind process's environment: the CPU only, one thread, this cebench first, and
    a fixed hash seed (Python's string hashing, and so its dict work, is the same in every run)."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", CEBENCH_DEVICE="cpu",
               CEBENCH_CPU_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONHASHSEED="0")
    env.pop("CEBENCH_INJECT_SLOWDOWN", None)
    source_root = str(Path(__file__).resolve().parents[2])  # the folder holding cebench/
    env["PYTHONPATH"] = os.pathsep.join(
        [source_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


#: Python's and torch's start-up under valgrind, before the first case (measured on a
#: 2-vCPU AMD EPYC with torch 2.13.0: about 70 s); only for the first progress estimate.
STARTUP_ESTIMATE_S = 90.0


def measure(cases: Iterable[Case], passes: Sequence[str] = PASSES, *,
            calls: int = DEFAULT_CALLS, warmup_calls: int = DEFAULT_WARMUP_CALLS,
            python: str | None = None, keep_dumps_in: Path | None = None,
            timeout_s: float = DEFAULT_TIMEOUT_S,
            progress: Callable[[str], None] | None = None) -> tuple[list[InstructionCount], dict]:
    """Instructions per call of every case x pass, in one valgrind process.

    Returns ``(counts, skipped)``: the counts in the order asked, and ``{case name:
    reason}`` for the cases that cannot run on the CPU. ``python`` is the interpreter to
    measure (default: this one; another torch environment for a comparison).
    ``keep_dumps_in`` keeps the callgrind dumps there (their paths in ``dump``).
    ``progress`` receives one line per phase (start-up, each case and pass) with an
    estimate of the time left.

    Every case and pass is counted in its own process, forked from one that has only
    imported torch (:func:`_child_main`): each starts from the same state, so a count
    does not depend on which other cases the run measured, or in what order.
    """
    require_valgrind()
    if calls < 1:
        raise InputError(f"calls must be >= 1, not {calls}")
    for pass_ in passes:
        if pass_ not in PASSES:
            raise InputError(f"unknown pass {pass_!r}; expected one of {', '.join(PASSES)}")
    items = [{"case": case.as_dict(), "name": case.name, "pass": pass_}
             for case in cases for pass_ in passes]
    if not items:
        raise InputError("no cases to measure")
    say = progress or (lambda line: None)
    with tempfile.TemporaryDirectory(prefix="cebench-callgrind-") as scratch:
        work = Path(scratch)
        spec = work / "spec.json"
        report = work / "report.jsonl"
        spec.write_text(json.dumps({"items": items, "calls": calls, "warmup_calls": warmup_calls,
                                    "report": str(report)}))
        out_base = work / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--dump-instr=no",
            f"--callgrind-out-file={out_base}.%p", python or sys.executable, "-c",
            "from cebench.measure.instructions import _child_main; _child_main()", str(spec),
        ]
        say(f"starting Python and torch under valgrind ({len(items)} counts to make; "
            f"start-up takes about {STARTUP_ESTIMATE_S:.0f} s)")
        returncode, output = _run_reporting(command, report, len(items), timeout_s, say)
        lines = _report_lines(report)
        if returncode != 0 or len(lines) != len(items) + 1:
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise ValgrindFailed(f"valgrind exited {returncode}:\n{tail}")
        header, done = lines[0], lines[1:]
        counts, skipped = [], {}
        for item in done:
            if item["status"] == "failed":
                raise ValgrindFailed(f"{item['name']} {item['pass']}: {item['reason']}")
            if item["status"] == "skipped":
                skipped[item["name"]] = item["reason"]
                continue
            dump = Path(f"{out_base}.{item['pid']}.1")
            if not dump.exists():
                raise ValgrindFailed(f"no callgrind dump for {item['name']} {item['pass']} "
                                     f"({dump.name})")
            kept = None
            if keep_dumps_in is not None:
                kept = save_dump(dump, Path(keep_dumps_in) / f"{item['name']}.{item['pass']}"
                                 ".callgrind", calls, header["torch_version"])
            counts.append(InstructionCount(
                case=item["name"], pass_=item["pass"],
                instructions_per_call=total_instructions(dump) / calls, calls=calls,
                torch_version=header["torch_version"],
                cpu_capability=header["cpu_capability"], dump=str(kept) if kept else None))
    return counts, skipped


def _report_lines(report: Path) -> list[dict]:
    """The child's report: a header line, then one line per item done."""
    if not report.exists():
        return []
    return [json.loads(line) for line in report.read_text().splitlines() if line.strip()]


def _run_reporting(command: list[str], report: Path, total: int, timeout_s: float,
                   say: Callable[[str], None]) -> tuple[int, str]:
    """Run valgrind; while it runs, pass each new report line on as a progress line with
    an estimate of the time left. Returns (exit status, its output)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as output:
        start = time.monotonic()
        proc = subprocess.Popen(command, env=_child_environment(), stdout=output,
                                stderr=subprocess.STDOUT, text=True)
        seen, ready_s = 0, 0.0
        try:
            while True:
                try:
                    proc.wait(timeout=1.0)
                    finished = True
                except subprocess.TimeoutExpired:
                    finished = False
                elapsed = time.monotonic() - start
                lines = _report_lines_tolerant(report)
                for done in range(seen, len(lines)):  # the header is line 0
                    line = lines[done]
                    if done == 0:
                        ready_s = elapsed
                        say(f"torch {line.get('torch_version')} ready under valgrind after "
                            f"{elapsed:.0f} s (CPU capability {line.get('cpu_capability')})")
                        continue
                    left = (elapsed - ready_s) / done * (total - done)
                    state = "skipped" if line.get("status") == "skipped" else "counted"
                    say(f"[{done}/{total}] {line.get('name')} {line.get('pass')} {state}; "
                        f"about {left:.0f} s left")
                seen = len(lines)
                if finished:
                    break
                if elapsed > timeout_s:
                    proc.kill()
                    proc.wait()
                    raise ValgrindFailed(f"valgrind ran past {timeout_s:.0f} s")
        except BaseException:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            raise
        output.seek(0)
        return proc.returncode, output.read()


def _report_lines_tolerant(report: Path) -> list[dict]:
    """The complete lines of a report being written (a partial last line is left out)."""
    try:
        text = report.read_text()
    except OSError:
        return []
    lines = []
    for line in text.split("\n")[:-1]:
        try:
            lines.append(json.loads(line))
        except ValueError:
            break
    return lines


def total_instructions(dump: Path) -> int:
    """The ``Ir`` total a callgrind dump records (its ``summary:`` / ``totals:`` line)."""
    totals = None
    with open(dump, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(("summary:", "totals:")):
                totals = int(line.split()[1])
    if totals is None:
        raise ValgrindFailed(f"{dump}: no summary line (not a callgrind dump?)")
    return totals


def save_dump(dump: Path, destination: Path, calls: int, torch_version: str | None = None) -> Path:
    """Copy a dump to ``destination`` with header lines saying how many calls it counted
    (and, when given, the torch version that ran them)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    lines = Path(dump).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    header_end = next((i for i, line in enumerate(lines) if line.startswith("desc:")), 1)
    header = [f"{CALLS_HEADER}{calls}\n"]
    if torch_version:
        header.append(f"{TORCH_HEADER}{torch_version}\n")
    lines[header_end:header_end] = header
    destination.write_text("".join(lines), encoding="utf-8")
    return destination


def _header_value(dump: Path, prefix: str) -> str | None:
    with open(dump, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
            if line.startswith(("fn=", "summary:", "totals:")):
                break
    return None


def dump_calls(dump: Path) -> int:
    """The calls a saved dump counted (its cebench header line)."""
    value = _header_value(dump, CALLS_HEADER)
    if value is None:
        raise InputError(f"{dump}: not a dump saved by cebench (no '{CALLS_HEADER.strip()}' line)")
    return int(value)


def dump_torch_version(dump: Path) -> str | None:
    """The torch version a saved dump ran, when its header says (None otherwise)."""
    return _header_value(dump, TORCH_HEADER)


# --- explaining a change: self counts and calls per function ---------------------------

_COMPRESSED = re.compile(r"^\((\d+)\)(?: (.*))?$")
#: What differs between builds for one source function: GCC's clones and parts
#: (" [clone .isra.0]", ".cold") and callgrind's recursion marks ("'2").
_BUILD_SUFFIX = re.compile(r"(?: \[clone [^\]]*\])+$|'\d+$|\.(?:cold|part\.\d+)$")


@dataclasses.dataclass(frozen=True)
class FunctionCost:
    """One function in a dump: the instructions executed in its own code (self, or
    exclusive: callees not included) and how many times it was called."""

    self_instructions: int
    calls: int


def function_costs(dump: Path) -> dict[str, FunctionCost]:
    """Per function of a callgrind dump: self instructions and calls, keyed by its name
    without file or object (so that two torch environments line up; a name found in
    several objects is summed).

    Reads the callgrind format (valgrind manual, "Callgrind Format Specification"): a cost
    line belongs to the current ``fn=`` as self cost unless it follows a ``calls=`` line,
    when it is the inclusive cost of that call; ``calls=N`` counts N calls of the current
    ``cfn=``. Names may be compressed (``(id) name`` defines, ``(id)`` refers). The sum of
    every function's self cost is the dump's total.

    A trampoline, a function whose whole work is one jump on to one other function (SLEEF's
    dispatch: ``Sleef_expf8_u10`` jumps to ``Sleef_expf8_u10avx2``), executes one
    instruction per entry; callgrind records two calls per entry for it and for the
    function it jumps to (seen with valgrind 3.19), so their calls are taken from the
    trampoline's instructions.
    """
    names: dict[str, str] = {}
    self_cost: dict[str, int] = {}
    calls: dict[str, int] = {}
    edges: dict[tuple[str, str], int] = {}
    function = callee = None
    after_calls = False
    with open(dump, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            head = line[:1]
            if head.isdigit() or head in "+-*":
                if function is not None and not after_calls:
                    fields = line.split()
                    if len(fields) > 1:
                        self_cost[function] = self_cost.get(function, 0) + int(fields[1])
                after_calls = False
                continue
            key, _, value = line.rstrip("\n").partition("=")
            if key in ("fn", "cfn", "cfi", "cfl"):
                pass
            elif key == "calls":
                if callee is not None:
                    count = int(value.split()[0])
                    calls[callee] = calls.get(callee, 0) + count
                    edge = (function, callee)
                    edges[edge] = edges.get(edge, 0) + count
                after_calls = True
                continue
            else:
                continue
            if key in ("fn", "cfn"):
                match = _COMPRESSED.match(value)
                if match:
                    if match.group(2) is not None:
                        names[match.group(1)] = match.group(2)
                    value = names.get(match.group(1), value)
                if key == "fn":
                    function = value
                    self_cost.setdefault(function, 0)
                else:
                    callee = value
    callees: dict[str, list[str]] = {}
    for caller, callee in edges:
        callees.setdefault(caller, []).append(callee)
    for trampoline, (target,) in ((g, c) for g, c in callees.items() if len(c) == 1):
        entries = self_cost.get(trampoline, 0)
        if 0 < entries < calls.get(trampoline, 0) and entries < edges[(trampoline, target)]:
            calls[trampoline] = entries
            if all(caller == trampoline for caller, callee in edges if callee == target):
                calls[target] = entries
    return {name: FunctionCost(self_cost.get(name, 0), calls.get(name, 0))
            for name in set(self_cost) | set(calls)}


@dataclasses.dataclass(frozen=True)
class FunctionChange:
    """A function's self instructions and calls per measured call (per loss call), in
    the baseline and the candidate, and what the comparison says about its name."""

    function: str
    baseline_self_per_call: float
    candidate_self_per_call: float
    baseline_calls_per_call: float = 0.0
    candidate_calls_per_call: float = 0.0
    note: str = ""

    @property
    def change_per_call(self) -> float:
        return self.candidate_self_per_call - self.baseline_self_per_call

    @staticmethod
    def cost_per_invocation(self_per_call: float, calls_per_call: float) -> float | None:
        """Instructions one invocation of the function executes on average (None when it
        was not called, e.g. code reached by a jump, or when callgrind recorded more calls
        than it executed instructions: then its calls do not count entries)."""
        if not calls_per_call or self_per_call < calls_per_call:
            return None
        return self_per_call / calls_per_call

    def as_record(self) -> dict:
        return dataclasses.asdict(self)


#: A function that vanished and one that appeared or grew are paired as one piece of code
#: that moved (renamed, inlined, outlined) when their per-call sizes are this close.
MOVED_TOLERANCE = 0.25


def explain(baseline_dump: Path, candidate_dump: Path, top: int = 20) -> list[FunctionChange]:
    """The ``top`` functions whose self instructions per call changed most (by size), with
    their calls per call before and after, and a note where the names say what happened:
    the same function under another compiler-made name ("renamed: ..."), a function that
    vanished beside one that grew by about as much ("inlined into / moved to ..."), one
    that vanished or appeared alone. Self counts add up to the total: unlike inclusive
    counts, a change is counted once, in the function whose own code executes it."""
    base_calls, cand_calls = dump_calls(baseline_dump), dump_calls(candidate_dump)
    base = function_costs(baseline_dump)
    cand = function_costs(candidate_dump)
    zero = FunctionCost(0, 0)
    changes = []
    for name in set(base) | set(cand):
        b, c = base.get(name, zero), cand.get(name, zero)
        change = FunctionChange(name, b.self_instructions / base_calls,
                                c.self_instructions / cand_calls,
                                b.calls / base_calls, c.calls / cand_calls)
        if change.change_per_call:
            changes.append(change)
    changes.sort(key=lambda c: (-abs(c.change_per_call), c.function))
    return annotate_moves(changes)[:top]


def build_name(function: str) -> str:
    """A function's name without what a build adds to it (GCC clone suffixes)."""
    return _BUILD_SUFFIX.sub("", function.strip())


def annotate_moves(changes: list[FunctionChange]) -> list[FunctionChange]:
    """``changes`` with notes naming code that moved between builds (largest first).

    - renamed: a vanished and an appeared function with one name once clone suffixes are
      dropped (``f`` and ``f [clone .isra.0]``);
    - moved: a function that vanished (or shrank) and one that appeared (or grew) by
      about as much (within :data:`MOVED_TOLERANCE`): its code now runs inside the other
      (inlined) or under another name;
    - vanished / new: the rest of the functions present on one side only.
    """
    notes: dict[str, str] = {}
    vanished = [c for c in changes if c.candidate_self_per_call == 0]
    appeared = [c for c in changes if c.baseline_self_per_call == 0]
    for gone in vanished:
        for new in appeared:
            if new.function not in notes and build_name(new.function) == build_name(gone.function):
                notes[gone.function] = f"renamed: now `{new.function}`"
                notes[new.function] = f"renamed: was `{gone.function}`"
                break
    for gone in (c for c in changes if c.change_per_call < 0 and c.function not in notes):
        size = -gone.change_per_call
        for new in changes:
            if (new.change_per_call > 0 and new.function not in notes
                    and abs(new.change_per_call - size) <= MOVED_TOLERANCE * size
                    and (gone.candidate_self_per_call == 0 or new.baseline_self_per_call == 0)):
                notes[gone.function] = f"moved: about as much now runs in `{new.function}`"
                notes[new.function] = f"moved: took over about as much from `{gone.function}`"
                break
    for c in changes:
        if c.function not in notes:
            if c.candidate_self_per_call == 0:
                notes[c.function] = "vanished (inlined into its callers, or no longer run)"
            elif c.baseline_self_per_call == 0:
                notes[c.function] = "new in the candidate"
    return [dataclasses.replace(c, note=notes.get(c.function, "")) for c in changes]


# --- inside the valgrind process ----------------------------------------------------------


def _child_main() -> None:
    """Runs under valgrind: imports torch once, then forks one process per item (case and
    pass), which prepares the case, warms it up, counts ``calls`` calls into one dump
    (``callgrind.out.<pid>.1``) and exits. The report (a JSON line per item, after a
    header line) is written by this process, which measures nothing itself: every item
    starts from the same state, whatever was measured before it."""
    import gc

    import torch

    import cebench.grid.inputs  # noqa: F401  (imported once, before any fork)

    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(1)
    with open(spec["report"], "a", encoding="utf-8") as report:
        report.write(json.dumps({
            "torch_version": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability()}) + "\n")
        report.flush()
        gc.collect()
        for item in spec["items"]:
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:  # the item's own process
                os.close(read_end)
                result = {"status": "failed", "reason": "no result"}
                try:
                    result = _measure_item(item, spec["calls"], spec["warmup_calls"])
                except BaseException as exc:  # reported, never raised past the fork
                    result = {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"}
                finally:
                    os.write(write_end, json.dumps(result).encode())
                    os._exit(0)
            os.close(write_end)
            with os.fdopen(read_end, "rb") as pipe:
                answer = pipe.read()
            _, wait_status = os.waitpid(pid, 0)
            try:
                result = json.loads(answer)
            except ValueError:
                result = {"status": "failed",
                          "reason": f"its process ended with status {wait_status}"}
            report.write(json.dumps(dict(item, pid=pid, **result)) + "\n")
            report.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip tearing torch down under valgrind: minutes on a loaded machine


def _measure_item(item: dict, calls: int, warmup_calls: int) -> dict:
    """One case and pass: prepared, warmed up, then ``calls`` calls counted into one dump
    (``torch._C._valgrind_toggle`` on, ``_valgrind_toggle_and_dump_stats`` off and dump).
    Returns ``{"status": "measured"}`` or ``{"status": "skipped", "reason": ...}``."""
    import gc

    import torch

    from cebench.grid.inputs import SkipCase, loss_call, prepare

    case = Case(**item["case"])
    try:
        call = loss_call(prepare(case, "cpu"), item["pass"])
    except SkipCase as exc:
        return {"status": "skipped", "reason": str(exc)}
    for _ in range(warmup_calls):
        call()
    gc.collect()
    gc.disable()
    torch._C._valgrind_toggle()
    for _ in range(calls):
        call()
    torch._C._valgrind_toggle_and_dump_stats()
    gc.enable()
    return {"status": "measured"}
