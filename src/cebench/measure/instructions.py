"""Instruction counts of cross entropy calls under valgrind's callgrind: a deterministic CPU cost.

    records = measure([lookup("small.contiguous.float32.mean.w-random")], ["forward"])

:func:`measure` starts **one** valgrind process (``--tool=callgrind --collect-atstart=no``)
for every case and pass asked, so Python's and torch's start-up (about a minute under
valgrind) is paid once. Inside it each case runs on one torch thread, on the CPU (CUDA
hidden), warm calls first; then collection is switched on around ``calls`` calls
(``torch._C._valgrind_toggle``) and switched off with a dump
(``torch._C._valgrind_toggle_and_dump_stats``), one dump per case and pass: the same
mechanism as ``torch.utils.benchmark.Timer.collect_callgrind``. The count per call is the
dump's total of executed instructions (callgrind's ``Ir``) divided by ``calls``.

:func:`explain` compares the inclusive per-function counts of two dumps
(``callgrind_annotate --inclusive=yes``) and names the functions whose cost changed most.

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
from pathlib import Path
from typing import Iterable, Sequence

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


def _child_environment() -> dict[str, str]:
    """The valgrind process's environment: the CPU only, one thread, this cebench first."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", CEBENCH_DEVICE="cpu",
               CEBENCH_CPU_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("CEBENCH_INJECT_SLOWDOWN", None)
    source_root = str(Path(__file__).resolve().parents[2])  # the folder holding cebench/
    env["PYTHONPATH"] = os.pathsep.join(
        [source_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def measure(cases: Iterable[Case], passes: Sequence[str] = PASSES, *,
            calls: int = DEFAULT_CALLS, warmup_calls: int = DEFAULT_WARMUP_CALLS,
            python: str | None = None, keep_dumps_in: Path | None = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> tuple[list[InstructionCount], dict]:
    """Instructions per call of every case x pass, in one valgrind process.

    Returns ``(counts, skipped)``: the counts in the order asked, and ``{case name:
    reason}`` for the cases that cannot run on the CPU. ``python`` is the interpreter to
    measure (default: this one; another torch environment for a comparison).
    ``keep_dumps_in`` keeps the callgrind dumps there (their paths in ``dump``).
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
    with tempfile.TemporaryDirectory(prefix="cebench-callgrind-") as scratch:
        work = Path(scratch)
        spec = work / "spec.json"
        report = work / "report.json"
        spec.write_text(json.dumps({"items": items, "calls": calls, "warmup_calls": warmup_calls,
                                    "report": str(report)}))
        out_file = work / "callgrind.out"
        command = [
            "valgrind", "--tool=callgrind", "--collect-atstart=no", "--dump-instr=no",
            f"--callgrind-out-file={out_file}", python or sys.executable, "-c",
            "from cebench.measure.instructions import _child_main; _child_main()", str(spec),
        ]
        try:
            proc = subprocess.run(command, env=_child_environment(), capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ValgrindFailed(f"valgrind ran past {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not report.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ValgrindFailed(f"valgrind exited {proc.returncode}:\n{tail}")
        result = json.loads(report.read_text())
        dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        measured = [item for item in result["items"] if item["status"] == "measured"]
        if len(dumps) != len(measured):
            raise ValgrindFailed(f"{len(dumps)} callgrind dumps for {len(measured)} measured "
                                 "cases")
        counts = []
        for item, dump in zip(measured, dumps):
            kept = None
            if keep_dumps_in is not None:
                kept = save_dump(dump, Path(keep_dumps_in) / f"{item['name']}.{item['pass']}"
                                 ".callgrind", calls)
            counts.append(InstructionCount(
                case=item["name"], pass_=item["pass"],
                instructions_per_call=total_instructions(dump) / calls, calls=calls,
                torch_version=result["torch_version"],
                cpu_capability=result["cpu_capability"], dump=str(kept) if kept else None))
        skipped = {item["name"]: item["reason"] for item in result["items"]
                   if item["status"] == "skipped"}
    return counts, skipped


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


def save_dump(dump: Path, destination: Path, calls: int) -> Path:
    """Copy a dump to ``destination`` with a header line saying how many calls it counted."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    lines = Path(dump).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    header_end = next((i for i, line in enumerate(lines) if line.startswith("desc:")), 1)
    lines.insert(header_end, f"{CALLS_HEADER}{calls}\n")
    destination.write_text("".join(lines), encoding="utf-8")
    return destination


def dump_calls(dump: Path) -> int:
    """The calls a saved dump counted (its cebench header line)."""
    with open(dump, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith(CALLS_HEADER):
                return int(line[len(CALLS_HEADER):])
            if line.startswith(("fn=", "summary:", "totals:")):
                break
    raise InputError(f"{dump}: not a dump saved by cebench (no '{CALLS_HEADER.strip()}' line)")


# --- explaining a change: per-function inclusive counts ----------------------------------

_ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$")
_OBJECT_SUFFIX = re.compile(r"\s+\[([^\]]*)\]$")
#: Frames of the Python interpreter and the C start-up: their inclusive counts follow the
#: shape of the Python stack (and double-count recursion), not the work of the call.
_INTERPRETER_OBJECT = re.compile(r"(^|/)(lib)?python[\d.]*(\.so[\d.]*)?$")
_INTERPRETER_FILE = re.compile(r"(^|/)(Python|Objects|Include|Modules|Programs|csu)/|python-build")
_INTERPRETER_FUNCTION = re.compile(r"^\(below main\)$|^__libc_start|^0x[0-9a-f]+('\d+)?$")


def function_counts(dump: Path, inclusive: bool = True,
                    include_interpreter: bool = False) -> dict[str, int]:
    """Per-function instruction counts of a dump (``callgrind_annotate``), keyed by a name
    without file and object paths, so that two torch environments line up. The Python
    interpreter's own frames are left out unless ``include_interpreter``."""
    if shutil.which("callgrind_annotate") is None:
        raise ValgrindUnavailable("callgrind_annotate is not installed (it comes with valgrind)")
    proc = subprocess.run(
        ["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
         "--threshold=100", "--show-percs=no", "--auto=no", str(dump)],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ValgrindFailed(f"callgrind_annotate {dump}: {proc.stderr.strip()[:300]}")
    return parse_annotate(proc.stdout, include_interpreter)


def parse_annotate(text: str, include_interpreter: bool = False) -> dict[str, int]:
    """``{function: Ir}`` from callgrind_annotate's function table (repeats summed)."""
    counts: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        if re.match(r"^\s*Ir\s+file:function", line):
            in_table = True
            continue
        if not in_table or line.startswith("-"):
            continue
        match = _ANNOTATE_LINE.match(line)
        if not match:
            continue
        location = match.group(2)
        obj = _OBJECT_SUFFIX.search(location)
        location = location[:obj.start()] if obj else location
        file, _, function = location.partition(":") if ":" in location else ("", "", location)
        if not include_interpreter and (
                (obj and _INTERPRETER_OBJECT.search(obj.group(1)))
                or _INTERPRETER_FILE.search(file) or _INTERPRETER_FUNCTION.search(function)):
            continue
        counts[function] = counts.get(function, 0) + int(match.group(1).replace(",", ""))
    return counts


@dataclasses.dataclass(frozen=True)
class FunctionChange:
    function: str
    baseline_per_call: float
    candidate_per_call: float

    @property
    def change_per_call(self) -> float:
        return self.candidate_per_call - self.baseline_per_call


def explain(baseline_dump: Path, candidate_dump: Path, top: int = 20) -> list[FunctionChange]:
    """The ``top`` functions whose inclusive per-call counts changed most (by size)."""
    base = {k: v / dump_calls(baseline_dump) for k, v in function_counts(baseline_dump).items()}
    cand = {k: v / dump_calls(candidate_dump) for k, v in function_counts(candidate_dump).items()}
    changes = [FunctionChange(name, base.get(name, 0.0), cand.get(name, 0.0))
               for name in set(base) | set(cand)]
    changes = [c for c in changes if c.change_per_call]
    changes.sort(key=lambda c: (-abs(c.change_per_call), c.function))
    return changes[:top]


# --- inside the valgrind process ----------------------------------------------------------


def _child_main() -> None:
    """Runs under valgrind: measures the spec's cases, one dump each, writes a report."""
    import gc

    import torch

    from cebench.grid.inputs import SkipCase, loss_call, prepare

    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(1)
    calls, warmup_calls = spec["calls"], spec["warmup_calls"]
    done = []
    for item in spec["items"]:
        case = Case(**item["case"])
        try:
            call = loss_call(prepare(case, "cpu"), item["pass"])
        except SkipCase as exc:
            done.append(dict(item, status="skipped", reason=str(exc)))
            continue
        for _ in range(warmup_calls):
            call()
        gc.collect()
        gc.disable()
        torch._C._valgrind_toggle()
        for _ in range(calls):
            call()
        torch._C._valgrind_toggle_and_dump_stats()
        gc.enable()
        done.append(dict(item, status="measured"))
    Path(spec["report"]).write_text(json.dumps({
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "items": done,
    }))
