"""Instruction counts of each implementation's calls under valgrind (eager against compile on
the CPU): :mod:`cebench.measure.instructions`'s mechanism with an implementation's call.

    counts = measure([("compile", case), ("eager", case)])

One valgrind process (``--tool=callgrind --collect-atstart=no``, the CPU only, one thread:
:func:`cebench.measure.instructions.measure`'s settings) runs every item: the inputs, then
warm calls (a compiled implementation compiles there, uncounted), then collection on
around ``calls`` calls with one dump each. Counting a compile item takes minutes: the
compile itself runs under valgrind (inductor's on-disk caches, when warm, shorten it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

from cebench.errors import InputError
from cebench.grid.cases import PASSES, Case
from cebench.measure import instructions

DEFAULT_TIMEOUT_S = 3 * 3600.0


def measure(items: Sequence[tuple[str, Case]], passes: Sequence[str] = PASSES, *,
            calls: int = instructions.DEFAULT_CALLS,
            warmup_calls: int = instructions.DEFAULT_WARMUP_CALLS,
            python: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """``[{impl, case, pass, instructions_per_call, calls, torch_version, cpu_capability}]``
    for every (implementation, case) x pass, in one valgrind process; items that cannot
    run on the CPU come back with ``skipped`` (the reason) instead of a count."""
    instructions.require_valgrind()
    if calls < 1:
        raise InputError(f"calls must be >= 1, not {calls}")
    spec_items = [{"impl": impl, "case": case.as_dict(), "name": case.name, "pass": pass_}
                  for impl, case in items for pass_ in passes]
    if not spec_items:
        raise InputError("nothing to measure")
    with tempfile.TemporaryDirectory(prefix="cebench-callgrind-") as scratch:
        work = Path(scratch)
        spec, report = work / "spec.json", work / "report.json"
        spec.write_text(json.dumps({"items": spec_items, "calls": calls,
                                    "warmup_calls": warmup_calls, "report": str(report)}))
        command = ["valgrind", "--tool=callgrind", "--collect-atstart=no", "--dump-instr=no",
                   f"--callgrind-out-file={work / 'callgrind.out'}", python or sys.executable,
                   "-c", "from cebench.impls.instructions import _child_main; _child_main()",
                   str(spec)]
        try:
            proc = subprocess.run(command, env=instructions._child_environment(),
                                  capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise instructions.ValgrindFailed(f"valgrind ran past {timeout_s:.0f} s") from None
        if proc.returncode != 0 or not report.exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise instructions.ValgrindFailed(f"valgrind exited {proc.returncode}:\n{tail}")
        result = json.loads(report.read_text())
        dumps = sorted(work.glob("callgrind.out.*"), key=lambda p: int(p.suffix[1:]))
        measured = [item for item in result["items"] if item["status"] == "measured"]
        if len(dumps) != len(measured):
            raise instructions.ValgrindFailed(
                f"{len(dumps)} callgrind dumps for {len(measured)} measured items")
        counts = iter(instructions.total_instructions(dump) / calls for dump in dumps)
        out = []
        for item in result["items"]:
            record = {"impl": item["impl"], "case": item["name"], "pass": item["pass"],
                      "torch_version": result["torch_version"],
                      "cpu_capability": result["cpu_capability"]}
            if item["status"] == "measured":
                record.update(instructions_per_call=next(counts), calls=calls)
            else:
                record["skipped"] = item["reason"]
            out.append(record)
    return out


def _child_main() -> None:
    """Runs under valgrind: each item's warm calls, then its counted calls (one dump)."""
    import gc

    import torch

    from cebench import impls
    from cebench.grid.inputs import SkipCase, prepare

    spec = json.loads(Path(sys.argv[1]).read_text())
    torch.set_num_threads(1)
    done = []
    for item in spec["items"]:
        case = Case(**item["case"])
        try:
            reason = impls.get(item["impl"]).skip_reason(impls.features_of(case), "cpu")
            if reason:
                raise SkipCase(reason)
            call = impls.loss_call(prepare(case, "cpu"), item["impl"], item["pass"])
            for _ in range(max(spec["warmup_calls"], 1)):  # the first call compiles
                call()
        except SkipCase as exc:
            done.append(dict(item, status="skipped", reason=str(exc)))
            continue
        gc.collect()
        gc.disable()
        torch._C._valgrind_toggle()
        for _ in range(spec["calls"]):
            call()
        torch._C._valgrind_toggle_and_dump_stats()
        gc.enable()
        done.append(dict(item, status="measured"))
    Path(spec["report"]).write_text(json.dumps({
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "items": done,
    }))
