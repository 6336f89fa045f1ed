"""Fuzz of the results path (Hypothesis): one damaged file at a time, through `compare`,
`alert`, `findings`, `merge-results` and the dashboard's compare part.

The starting point is real: six runs of the committed A/A series (torch 2.13.0, commit
91656913, results/cpu-amd-epyc-2c), three labelled torch 2.13.0 and three labelled torch
2.14.1, interleaved (runs 2, 4, 6 against runs 3, 5, 7), so that every command compares the
same two sides of identical software; the verdict is 0 ("no regression") or 3
(inconclusive), and with three runs a side a damaged value could pass for a regression.
Relabelling the second pair as another torch release is the only edit, and it is made in a
temporary copy: what the commands compare is two sets of runs of the same code.

Hypothesis damages one file (``benchmarks.json``, ``machine.json``, a results file, a
replicate file) in one way: truncation, an empty file, a folder in its place, non-UTF-8
bytes, a missing or renamed key, a wrong type, NaN, inf, a negative or huge number, a
duplicated entry (a list element, a JSON key, a whole run under another name). For every
command the contract holds:

- never exit 1 (a finding), never a traceback;
- exit 2 with one line on stderr naming the damaged file, or
- the undamaged verdict (exit status), and when the report differs from the undamaged one,
  a warning on stderr naming the file.

The commands run in this process (the dashboard's and alert's `cebench compare` too), so
one damaged folder goes through all five in a few seconds. In CI the run is seeded
(``derandomize``) and bounded (``CEBENCH_FUZZ_EXAMPLES``, default 30); a longer run:

    CEBENCH_FUZZ_EXAMPLES=500 CEBENCH_FUZZ_SEED=1 python -m pytest tests/test_fuzz_results.py

``CEBENCH_FUZZ_REPORT=FILE`` records every violation as a JSON line instead of failing at
the first one, and writes the counts at the end (cases, files damaged, violations).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("hypothesis", reason="Hypothesis is not installed (the dev extra)")
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cebench.cli import main  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MACHINE = "cpu-amd-epyc-2c"
AA = REPO / "results" / MACHINE
AA_STEM = "91656913-existing-py_work_main_.venv_bin_python"
#: torch label -> the A/A runs (asv's file, then -r2 ...) that side takes, interleaved.
SIDES = {"2.13.0": (2, 4, 6), "2.14.1": (3, 5, 7)}
EXAMPLES = int(os.environ.get("CEBENCH_FUZZ_EXAMPLES", "30"))
REPORT = os.environ.get("CEBENCH_FUZZ_REPORT")

KINDS = ("truncate", "empty", "directory", "non-utf8", "delete-key", "rename-key",
         "wrong-type", "nan", "inf", "negative", "huge", "duplicate")
WRONG_TYPES = ("text", 7, True, None, [], {}, [1, "x"])
HUGE = (1e300, sys.float_info.max, 1e15)


def aa_file(k: int) -> Path:
    return AA / (f"{AA_STEM}-r{k}.json" if k > 1 else f"{AA_STEM}.json")


def build_fixture(dest: Path) -> list[str]:
    """The A/A results folder (see the module doc); returns its files, relative to it."""
    machine_dir = dest / MACHINE
    machine_dir.mkdir(parents=True)
    shutil.copy2(REPO / "results" / "benchmarks.json", dest / "benchmarks.json")
    shutil.copy2(AA / "machine.json", machine_dir / "machine.json")
    files = ["benchmarks.json", f"{MACHINE}/machine.json"]
    for version, runs in SIDES.items():
        env = f"virtualenv-py3.11-numpy-torch{version}"
        for j, k in enumerate(runs):
            data = json.loads(aa_file(k).read_text())
            data["env_name"] = env
            data["params"] = dict(data["params"], torch=version)
            name = f"{data['commit_hash'][:8]}-{env}{f'-r{j + 1}' if j else ''}.json"
            (machine_dir / name).write_text(json.dumps(data))
            files.append(f"{MACHINE}/{name}")
    return files


# --- the damage -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Damage:
    target: str            # path relative to the results folder
    kind: str
    path: tuple = ()       # where in the JSON document (keys and indices)
    detail: object = None  # the kind's parameter (a byte offset, a replacement value)

    def __str__(self):
        where = "/".join(str(p) for p in self.path)
        return f"{self.kind} {self.target}" + (f" at {where}" if where else "") + (
            f" ({self.detail!r})" if self.detail is not None else "")


def _children(node):
    if isinstance(node, dict):
        return sorted(node)
    if isinstance(node, list):
        return list(range(len(node)))
    return []


@st.composite
def json_paths(draw, document):
    """A path from the document's root to a node, walked down one random child at a time
    (never the root itself). In a results file, half the paths go down to a measurement
    (results / benchmark / column / value), where a damage can pass for one."""
    path, node = [], document
    deep = isinstance(document, dict) and isinstance(document.get("results"), dict) \
        and draw(st.booleans())
    if deep:
        path, node = ["results"], document["results"]
    while True:
        children = _children(node)
        if not children:
            break
        key = draw(st.sampled_from(children))
        path.append(key)
        node = node[key]
        if not _children(node) or (not deep and draw(st.integers(0, 7)) == 0):
            break
    return tuple(path)


def documents(fixture_dir: Path, files: list[str]) -> dict[str, object]:
    return {name: json.loads((fixture_dir / name).read_text()) for name in files}


@st.composite
def damages(draw, docs: dict[str, object], sizes: dict[str, int]):
    target = draw(st.sampled_from(sorted(docs)))
    kind = draw(st.sampled_from(KINDS))
    if kind == "truncate":
        return Damage(target, kind, detail=draw(st.integers(0, sizes[target] - 1)))
    if kind == "non-utf8":
        return Damage(target, kind, detail=draw(st.integers(0, sizes[target])))
    if kind in ("empty", "directory"):
        return Damage(target, kind)
    if kind == "duplicate" and target.count("/") and draw(st.booleans()):
        return Damage(target, "duplicate-file")  # the same run under a replicate's name
    path = draw(json_paths(docs[target]))
    if kind == "rename-key":  # a key of an object: the deepest object on the path
        while len(path) > 1 and not isinstance(_parent(docs[target], path), dict):
            path = path[:-1]
    detail = None
    if kind == "wrong-type":
        detail = draw(st.sampled_from(WRONG_TYPES))
    elif kind == "huge":
        detail = draw(st.sampled_from(HUGE))
    return Damage(target, kind, path, detail)


def _parent(document, path):
    node = document
    for key in path[:-1]:
        node = node[key]
    return node


def apply(damage: Damage, root: Path) -> None:
    """Damages one file of the results folder ``root`` in place."""
    path = root / damage.target
    raw = path.read_bytes()
    kind = damage.kind
    if kind == "truncate":
        path.write_bytes(raw[:damage.detail])
        return
    if kind == "empty":
        path.write_bytes(b"")
        return
    if kind == "directory":
        path.unlink()
        path.mkdir()
        return
    if kind == "non-utf8":
        path.write_bytes(raw[:damage.detail] + b"\xff\xfe\xc3" + raw[damage.detail:])
        return
    if kind == "duplicate-file":
        shutil.copy2(path, path.with_name(path.stem + "-r9.json"))
        return
    document = json.loads(raw)
    parent, key = _parent(document, damage.path), damage.path[-1]
    old = parent[key]
    placeholder = None
    if kind == "delete-key":
        del parent[key]
    elif kind == "rename-key":
        parent[f"{key}-renamed"] = parent.pop(key)
    elif kind == "wrong-type":
        parent[key] = damage.detail
    elif kind == "nan":
        parent[key] = math.nan
    elif kind == "inf":
        parent[key] = math.inf
    elif kind == "negative":
        parent[key] = -abs(old) if isinstance(old, (int, float)) and old else -1
    elif kind == "huge":
        parent[key] = damage.detail
    elif kind == "duplicate":
        if isinstance(parent, list):
            parent.insert(key, old)
        else:  # the key twice, the second time with a sibling's value (or another type)
            siblings = [v for k, v in parent.items() if k != key]
            placeholder = "\x00duplicate\x00"
            parent[placeholder] = siblings[0] if siblings else "text"
    text = json.dumps(document)
    if placeholder is not None:
        text = text.replace(json.dumps(placeholder), json.dumps(key), 1)
    path.write_text(text)


# --- running the commands in this process ---------------------------------------------------


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def traceback(self) -> bool:
        return "Traceback (most recent call last)" in self.err


def call(argv: list[str]) -> Outcome:
    """``cebench ARGV`` in this process; an escaping exception reads as Python's own exit
    (a traceback, status 1)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:  # noqa: BLE001 -- what a user would see: a traceback, exit 1
            traceback.print_exc()
            code = 1
    return Outcome(int(code or 0), out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def in_process_cebench():
    """The dashboard and alert start `python -m cebench compare`: here, in this process."""
    from cebench.publish import subprocesses

    real_run = subprocesses.run

    def run(cmd, cwd, timeout_s=1800):
        if cmd[1:3] == ["-m", "cebench"]:
            outcome = call(list(cmd[3:]))
            if outcome.traceback:
                outcome.err += "\n(traceback in a nested cebench command)"
                return 1, outcome.err.strip().splitlines()[-2]
            lines = [ln for ln in (outcome.err + "\n" + outcome.out).splitlines() if ln.strip()]
            return outcome.code, (lines[-1].strip() if lines else "")
        return real_run(cmd, cwd, timeout_s)

    mp = pytest.MonkeyPatch()
    mp.setattr(subprocesses, "run", run)
    yield
    mp.undo()


COMMANDS = ("compare", "alert", "findings", "merge-results", "dashboard")


def run_commands(results: Path, scratch: Path) -> dict[str, Outcome]:
    """Every command on the results folder ``results`` (outputs under ``scratch``)."""
    for name in ("merged", "html", "summary.md"):
        target = scratch / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    argvs = {
        "compare": ["compare", str(results), "--baseline", "torch=2.13.0",
                    "--candidate", "torch=2.14.1"],
        "alert": ["alert", str(results), "--summary", str(scratch / "summary.md")],
        "findings": ["findings", "--results", str(results)],
        "merge-results": ["merge-results", str(results), "--into", str(scratch / "merged")],
        "dashboard": ["dashboard", "--results", str(results), "--html", str(scratch / "html"),
                      "--config", str(REPO / "asv.conf.json"), "--only", "compare"],
    }
    outcomes = {}
    for command, argv in argvs.items():
        start = time.perf_counter()
        outcomes[command] = call(argv)
        TALLY.seconds[command] += time.perf_counter() - start
    return outcomes


def names(damage: Damage) -> tuple[str, ...]:
    """How a message may name the damaged file: its name (a copy: the copy's name)."""
    name = Path(damage.target).name
    return (name, Path(name).stem + "-r9.json") if damage.kind == "duplicate-file" else (name,)


def still_valid(damage: Damage) -> bool:
    """A damage that leaves a valid asv file: a results file without one benchmark's entry
    is what ``asv run --bench`` writes (a run of a subset), and replicate runs of one
    environment may legitimately hold different benchmarks (``cebench history`` runs more
    in the first). Its report may differ without a warning; its verdict may not."""
    return damage.kind == "delete-key" and len(damage.path) == 2 and \
        damage.path[0] == "results" and damage.target.count("/") == 1 and \
        not damage.target.endswith("machine.json")


def violations(command: str, got: Outcome, undamaged: Outcome, damage: Damage) -> list[str]:
    found = []
    named = names(damage)
    if got.traceback:
        found.append("traceback: " + got.err.strip().splitlines()[-1][:200])
    if got.code == 1:
        found.append("exit 1 (a finding) on damaged input")
    if got.code == 2:
        errors = [ln for ln in got.err.splitlines() if f"cebench {command}: error:" in ln
                  or f"cebench {command}: " in ln and "FAILED" in ln]
        if not errors:
            found.append("exit 2 without a one-line error")
        elif not any(n in line for n in named for line in errors):
            found.append("exit 2 without naming the file: " + errors[0][:200])
    elif got.code not in (1, undamaged.code):
        found.append(f"exit {got.code}, undamaged {undamaged.code}")
    elif got.code == undamaged.code and got.out != undamaged.out and not still_valid(damage):
        if not any(n in got.err or n in got.out for n in named):
            found.append("a different report without a warning naming the file")
    return found


class Tally:
    def __init__(self):
        self.cases = 0
        self.files = Counter()
        self.kinds = Counter()
        self.violations = Counter()
        self.seconds = Counter()
        self.damages: list[str] = []
        self.examples: list[dict] = []

    def write(self, path: str) -> None:
        Path(path).write_text(json.dumps({
            "cases": self.cases, "files_damaged": dict(self.files),
            "kinds": dict(self.kinds), "violations": dict(self.violations),
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "damages": self.damages, "examples": self.examples}, indent=1, default=str))


TALLY = Tally()


@pytest.fixture(scope="module")
def aa_fixture(tmp_path_factory, in_process_cebench):
    if not all(aa_file(k).exists() for runs in SIDES.values() for k in runs):
        pytest.skip(f"the committed A/A series is not in {AA}")
    base = tmp_path_factory.mktemp("fuzz")
    pristine = base / "pristine"
    files = build_fixture(pristine)
    work, scratch = base / "work" / "results", base / "scratch"
    scratch.mkdir()
    shutil.copytree(pristine, work)
    undamaged = run_commands(work, scratch)
    for command, outcome in undamaged.items():
        assert outcome.code in (0, 3), (command, outcome.code, outcome.err[-2000:])
        assert not outcome.traceback
    docs = documents(pristine, files)
    sizes = {name: (pristine / name).stat().st_size for name in files}
    yield pristine, work, scratch, undamaged, docs, sizes
    if REPORT:
        TALLY.write(REPORT)


def test_the_aa_fixture_is_real_and_undecided(aa_fixture):
    """Each side holds two real runs of torch 2.13.0; the undamaged verdicts say so."""
    pristine, _, _, undamaged, _, _ = aa_fixture
    assert "No regression" in undamaged["compare"].out.splitlines()[0] or \
        undamaged["compare"].code == 3
    for version, runs in SIDES.items():
        stored = sorted((pristine / MACHINE).glob(f"*torch{version}*.json"),
                        key=lambda p: (len(p.name), p.name))  # asv's name, then -r2 ...
        assert len(stored) == len(runs)
        for path, k in zip(stored, runs):
            assert json.loads(path.read_text())["results"] == json.loads(
                aa_file(k).read_text())["results"]


def test_damaged_results_never_read_as_a_finding(aa_fixture):
    pristine, work, scratch, undamaged, docs, sizes = aa_fixture
    fuzz_seed = os.environ.get("CEBENCH_FUZZ_SEED")

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              derandomize=fuzz_seed is None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(damage=damages(docs, sizes))
    def check(damage):
        shutil.rmtree(work)
        shutil.copytree(pristine, work)
        apply(damage, work)
        got = run_commands(work, scratch)
        TALLY.cases += 1
        TALLY.files[damage.target.split("/")[-1]] += 1
        TALLY.kinds[damage.kind] += 1
        TALLY.damages.append(str(damage)[:160])
        found = {command: problems for command, outcome in got.items()
                 if (problems := violations(command, outcome, undamaged[command], damage))}
        for command, problems in found.items():
            for problem in problems:
                TALLY.violations[f"{command}: {problem.split(':')[0]}"] += 1
            TALLY.examples.append({"damage": str(damage), "command": command,
                                   "problems": problems, "code": got[command].code,
                                   "stderr": got[command].err[-600:]})
        if not REPORT:
            assert not found, (str(damage), {c: (p, got[c].err[-800:]) for c, p in found.items()})

    if fuzz_seed is not None:
        check = seed(int(fuzz_seed))(check)
    check()
