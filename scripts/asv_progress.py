"""Reads `asv run` output on stdin: keeps all of it in a log file, prints the progress.

    asv run ... 2>&1 | python scripts/asv_progress.py --log .asv/logs/run-suite.log

Printed: asv's phase lines (discovering benchmarks, building and benchmarking each
environment), one line per benchmark with its result and an estimate of the time left
(from asv's percentage and the time so far), every failure with its first lines, and at
the end the skipped cases counted by reason ("too big for the CPU grid", "needs CUDA" ...),
instead of a NotImplementedError block per skipped parameter combination. Everything,
tables and skips included, goes to the log. Each phase's duration is kept beside the log
(``<log>.timings.json``): the next run prints it as the phase's estimate.

asv ends a line only when it starts the next one: a phase line is shown as soon as
nothing more has come for a second (:func:`follow`). Standard library only: it runs
wherever asv does.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import select
import sys
import time
from collections import Counter
from pathlib import Path

PERCENT = re.compile(r"^\[\s*(\d+(?:\.\d+)?)%\] (·+) ?(.*)$")
PHASE = re.compile(r"^·{1,2} (.*)$")  # before benchmarking: no percentage yet
SKIP = re.compile(r"asv: skipped: (\w+)\((['\"])(.*)\2\)\s*$")
#: A count or a size in words ('56 total benchmarks', '2004 MiB'), not a number inside a
#: name ('py3.11', 'torch2.13.0', '4-D').
NUMBER = re.compile(r"(?<![\w.-])\d+(?:[.,]\d+)*(?![\w.-])")
#: A commit hash as asv abbreviates it ('34cb21de').
COMMIT = re.compile(r"\b[0-9a-f]{8}\b")
#: asv's result word for a benchmark that failed (the others: ok, a value, n/a).
FAILED = "failed"
#: Lines of a failure's details shown on the terminal (all of them are in the log).
DETAIL_LINES = 12


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def phase_key(text: str) -> str:
    """A phase without its numbers: 'Running 150 total benchmarks (1 commits ...)' and the
    next run's 'Running 152 total ...' are the same phase."""
    return NUMBER.sub("N", COMMIT.sub("COMMIT", text.strip()))


class Progress:
    def __init__(self, out, timings_path: Path | None, clock=time.monotonic):
        self.out, self.clock = out, clock
        self.start = clock()
        self.timings_path = timings_path
        self.previous = self._read(timings_path)
        self.phases: dict[str, float] = {}
        self.phase, self.phase_start = None, self.start
        self.skips: Counter = Counter()
        self.failures: list[str] = []
        self.detail_for: str | None = None  # the failed benchmark whose details follow
        self.detail_shown = 0
        self.in_table = False
        self.bench_percent = 0.0
        self.bench_start = None

    @staticmethod
    def _read(path):
        try:
            return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _enter_phase(self, text: str) -> str:
        now = self.clock()
        if self.phase is not None:
            self.phases[self.phase] = round(now - self.phase_start, 1)
        self.phase, self.phase_start = phase_key(text), now
        last = self.previous.get(self.phase)
        return f" (last time {duration(last)})" if last is not None else ""

    def line(self, raw: str) -> None:
        text = raw.rstrip("\n")
        phase = PHASE.match(text)
        if phase:
            self.say(text + self._enter_phase(phase.group(1)))
            return
        match = PERCENT.match(text)
        if not match:
            self._continuation(text)
            return
        percent, dots, rest = float(match.group(1)), len(match.group(2)), match.group(3)
        self.in_table = rest.startswith("=")
        if dots <= 2:  # 'For <project> commit ...', 'Building for ...', 'Benchmarking ...'
            self.detail_for = None
            self.say(text + (self._enter_phase(rest) if dots == 2 else ""))
            if dots == 2 and rest.startswith("Benchmarking"):
                self.bench_start, self.bench_percent = self.clock(), percent
            return
        if dots == 3:
            if self.in_table:
                return
            self.detail_for = None
            name, _, result = rest.rpartition("  ")
            if result.strip().endswith(FAILED):  # 'failed', or '3/150 failed'
                self.failures.append(name.strip())
                self.detail_for, self.detail_shown = name.strip(), 0
            self.say(text.rstrip() + self._left(percent))
            return
        self._detail(rest)

    def _left(self, percent: float) -> str:
        """'(4 min in, about 6 min left)', from asv's percentage since benchmarking began."""
        if self.bench_start is None or percent <= self.bench_percent or percent >= 100:
            return ""
        spent = self.clock() - self.bench_start
        done = percent - self.bench_percent
        left = spent * (100.0 - percent) / done
        return f"   ({duration(spent)} in, about {duration(left)} left)"

    def _continuation(self, text: str) -> None:
        if text and not text[0].isspace():  # not asv's: e.g. the replicate runs' lines
            self.in_table, self.detail_for = False, None
            self.say(text)
            return
        if self.in_table:
            return
        self._detail(text.strip())

    def _detail(self, text: str) -> None:
        skip = SKIP.search(text)
        if skip:
            self.skips[f"{skip.group(1)}: {NUMBER.sub('N', skip.group(3))}"] += 1
            return
        if not text or text.startswith("For parameters:"):
            return
        if self.detail_for is not None and self.detail_shown < DETAIL_LINES:
            self.say(f"    {text}")
            self.detail_shown += 1

    def finish(self, log: Path | None) -> None:
        self._enter_phase("end")
        total = sum(self.skips.values())
        where = f" (every line is in {log})" if log else ""
        if total:
            self.say(f"cebench: {total:,} benchmark case(s) skipped, by reason{where}:")
            for reason, count in self.skips.most_common():
                self.say(f"  {count:>7,}  {reason}")
        if self.failures:
            self.say(f"cebench: {len(self.failures)} benchmark(s) failed: "
                     + ", ".join(self.failures))
        self.say(f"cebench: asv output done in {duration(self.clock() - self.start)}{where}")
        if self.timings_path is not None:
            try:
                self.timings_path.write_text(json.dumps({**self.previous, **self.phases},
                                                        indent=1))
            except OSError:
                pass


def is_phase(text: str) -> bool:
    """A line asv prints before a long step (creating an environment, building, starting
    to benchmark one)."""
    match = PERCENT.match(text)
    return bool(PHASE.match(text)) or bool(match and len(match.group(2)) <= 2)


def follow(fd: int, log, progress: Progress, wait_s: float = 1.0) -> None:
    """Feeds ``progress`` asv's lines from ``fd`` as they come. asv ends a line only when
    it starts the next one, so a phase line (say, creating an environment, minutes of
    pip) is shown once nothing more has come for ``wait_s``, not when the phase is over."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pending, shown = "", None
    while True:
        ready, _, _ = select.select([fd], [], [], wait_s)
        if ready:
            chunk = os.read(fd, 1 << 16)
            if log:
                log.write(chunk)
                log.flush()
            pending += decoder.decode(chunk, final=not chunk)
            *lines, pending = pending.split("\n")
            for line in lines:
                if line != shown:
                    progress.line(line)
                shown = None
            if not chunk:
                break
        elif pending and shown is None and is_phase(pending):
            progress.line(pending)
            shown = pending
    if pending and pending != shown:
        progress.line(pending)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", type=Path, help="write every line here")
    args = parser.parse_args(argv)
    log = None
    if args.log:
        args.log.parent.mkdir(parents=True, exist_ok=True)
        log = args.log.open("wb")
        print(f"cebench: asv's whole output goes to {args.log}", flush=True)
    timings = args.log.with_name(args.log.name + ".timings.json") if args.log else None
    progress = Progress(sys.stdout, timings)
    try:
        follow(sys.stdin.fileno(), log, progress)
    finally:
        progress.finish(args.log)
        if log:
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
