"""scripts/asv_progress.py: what `bash scripts/run-suite.sh` prints of asv's output.

``tests/data/asv-output/run.txt`` is real `asv run --show-stderr` output (this repository's
``Vocab|Environment|Kernel`` benchmarks, ``-E existing:same``, on the 2-core CPU machine;
only the environment's name is shortened): asv's phases, six results, parameter tables,
and 120 skipped cases, each a ``NotImplementedError`` block.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "asv_progress.py"
RUN = REPO / "tests" / "data" / "asv-output" / "run.txt"

spec = importlib.util.spec_from_file_location("asv_progress", SCRIPT)
asv_progress = importlib.util.module_from_spec(spec)
spec.loader.exec_module(asv_progress)


def test_the_terminal_gets_phases_results_and_skips_counted_and_the_log_gets_all(tmp_path):
    log = tmp_path / "logs" / "asv.log"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--log", str(log)],
                          input=RUN.read_text(), capture_output=True, text=True, check=True)
    lines = proc.stdout.splitlines()
    assert log.read_text() == RUN.read_text()  # every line, as asv printed it
    assert len(lines) < 20 < len(RUN.read_text().splitlines())
    assert lines[0] == f"cebench: asv's whole output goes to {log}"
    assert "· Discovering benchmarks" in lines[1]
    results = [ln for ln in lines if "··· " in ln]
    assert len(results) == 6 and results[-1].startswith("[100.00%] ··· bench_loss.Vocab")
    assert not any("NotImplementedError(" in ln or "For parameters" in ln or "====" in ln
                   for ln in lines)
    summary = lines.index(f"cebench: 120 benchmark case(s) skipped, by reason (every line is "
                          f"in {log}):")
    assert lines[summary + 1].split() == ["120", "NotImplementedError:", "too", "big", "for",
                                          "the", "CPU", "grid", "(N", "MiB", "of", "logits",
                                          ">", "N", "MiB)"]
    assert json.loads(Path(f"{log}.timings.json").read_text())  # each phase's seconds


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_each_result_says_how_long_is_left_and_phases_their_previous_time(tmp_path):
    clock, out = Clock(), io.StringIO()
    timings = tmp_path / "t.json"
    progress = asv_progress.Progress(out, timings, clock)
    progress.line("· Discovering benchmarks")
    clock.now = 30
    progress.line("[ 0.00%] ·· Benchmarking virtualenv-py3.11-numpy-torch2.13.0")
    clock.now = 90
    progress.line("[25.00%] ··· bench_loss.Core.time_forward          ok")
    clock.now = 150
    progress.line("[50.00%] ··· bench_loss.Core.time_forward_backward          3/150 failed")
    progress.line("[50.00%] ···· For parameters: 'small', 'float32', 'none', 'none'")
    progress.line("              asv: skipped: NotImplementedError('needs CUDA')")
    progress.line("              ")
    progress.line("              For parameters: 'small', 'float32', 'mean', 'none'")
    progress.line("              Traceback (most recent call last):")
    progress.line("              RuntimeError: out of memory")
    progress.line("cebench: run 2 of 3")  # asv-replicates.sh's own line
    progress.finish(None)
    lines = out.getvalue().splitlines()
    assert lines[0] == "· Discovering benchmarks"
    assert lines[2].endswith("ok   (60 s in, about 3 min left)")
    assert lines[3].endswith("3/150 failed   (2 min in, about 2 min left)")
    assert lines[4:7] == ["    Traceback (most recent call last):",
                          "    RuntimeError: out of memory", "cebench: run 2 of 3"]
    assert lines[7] == "cebench: 1 benchmark case(s) skipped, by reason:"
    assert lines[8].split() == ["1", "NotImplementedError:", "needs", "CUDA"]
    assert lines[9] == "cebench: 1 benchmark(s) failed: bench_loss.Core.time_forward_backward"
    recorded = json.loads(timings.read_text())
    assert recorded["Discovering benchmarks"] == 30.0
    # the next run: each phase with the time it took this time
    again = io.StringIO()
    asv_progress.Progress(again, timings, Clock()).line("· Discovering benchmarks")
    assert again.getvalue() == "· Discovering benchmarks (last time 30 s)\n"


def test_a_phase_line_is_shown_before_asv_ends_it(tmp_path):
    """asv ends a line when it starts the next one: creating an environment (minutes of
    pip) must show while it runs, once, not when it is over."""
    import os
    import threading

    read_fd, write_fd = os.pipe()
    out = io.StringIO()
    progress = asv_progress.Progress(out, None)
    follower = threading.Thread(target=asv_progress.follow,
                                args=(read_fd, None, progress, 0.05))
    follower.start()
    os.write(write_fd,
             "· Creating environments\n·· Creating virtualenv for torch2.13.0".encode())
    for _ in range(200):  # a wait for the follower, not a measurement
        if "Creating virtualenv" in out.getvalue():
            break
        threading.Event().wait(0.05)
    assert out.getvalue().splitlines() == ["· Creating environments",
                                           "·· Creating virtualenv for torch2.13.0"]
    os.write(write_fd, "\n· Discovering benchmarks\n".encode())
    os.close(write_fd)
    follower.join(30)
    os.close(read_fd)
    assert out.getvalue().splitlines() == ["· Creating environments",
                                           "·· Creating virtualenv for torch2.13.0",
                                           "· Discovering benchmarks"]
