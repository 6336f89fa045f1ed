"""The exit-status contract, command by command (``cebench --help`` lists it):

0 fine; 1 only for a finding that was measured; 2, with one line on stderr naming the file
or argument, for anything cebench could not read, write or understand (checked before any
long work starts, nothing written); 3 when the data cannot decide; 130 on Ctrl-C; never a
traceback for bad input. ``tests/test_fuzz_results.py`` fuzzes the results path;
``tests/test_atomic.py`` interrupts every output.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cebench.cli import main

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "asv-results"  # torch 2.13.0 and 2.14.1, one run each
MACHINE = "cpu-amd-epyc-2c"
CASE = "small.contiguous.float32.mean.w-random"


@pytest.fixture
def results(tmp_path) -> Path:
    dest = tmp_path / "results"
    shutil.copytree(DATA, dest)
    return dest


def result_file(results: Path, version: str = "2.14.1") -> Path:
    prefix = {"2.13.0": "2b2f6672", "2.14.1": "3c1d300c"}[version]
    return next((results / MACHINE).glob(f"{prefix}-*.json"))


def run(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, command: str, *named: str) -> str:
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cebench {command}: error: "), lines[0]
    for name in named:
        assert name in lines[0], (name, lines[0])
    return lines[0]


# --- arguments, before any work ---------------------------------------------------------------


@pytest.mark.parametrize("command", ["cases", "machine", "compare", "findings", "notebooks"])
def test_an_unknown_option_prints_the_sub_commands_usage(capsys, command):
    required = {"compare": [DATA, "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1"]}
    code, out, err = run(capsys, command, *required.get(command, []), "--frobnicate")
    assert code == 2 and out == ""
    assert err.startswith(f"usage: cebench {command} ")
    assert err.rstrip().endswith(f"cebench {command}: error: unrecognized arguments: --frobnicate")


def missing(tmp_path: Path, name: str) -> Path:
    return tmp_path / "no-such-folder" / name


BAD_ARGUMENTS = [
    # (argv, what the one line must name); {tmp} is a fresh folder, {results} real results
    (["check", "--json", "{missing}/check.json"], "--json"),
    (["check", "--json", "{tmp}"], "it is a folder"),
    (["profile", CASE, "--out", "{file}"], "--out"),
    (["profile", CASE, "--top", "-1"], "--top"),
    (["selfcheck", "--json", "{missing}/s.json"], "--json"),
    (["selfcheck", "--threads", "0"], "--threads"),
    (["selfcheck", "--device", "cpu", "--case", "llm-128k.contiguous.float32.mean.w-none"],
     "does not run on cpu"),
    (["compare", "{results}", "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
      "--markdown", "{missing}/c.md"], "--markdown"),
    (["compare", "{results}", "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
      "--json", "{missing}/c.json"], "--json"),
    (["compare", "{results}", "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
      "--limit", "-1"], "--limit"),
    (["compare", "{results}", "--baseline", "torch=2.13.0", "--candidate", "commit=deadbeef"],
     "deadbeef"),
    (["compare", "{results}", "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
      "--machine", "nope"], "'nope'"),
    (["compare", "{results}", "--baseline", "torch", "--candidate", "torch=2.14.1"], "'torch'"),
    (["alert", "{results}", "--summary", "{missing}/summary.md"], "--summary"),
    (["alert", "{results}", "--commit", "deadbeef", "--summary", "{tmp}/summary.md"],
     "--commit deadbeef"),
    (["alert", "{results}", "--commit", "HEAD~1", "--summary", "{tmp}/summary.md"], "--commit"),
    (["findings", "--results", "{results}", "--write", "{missing}/findings.md"], "--write"),
    (["findings", "--results", "{missing}"], "no-such-folder"),
    (["merge-results", "{results}", "--into", "{file}"], "--into"),
    (["notebooks", "--timeout", "-5", "--results", "{results}", "--out", "{tmp}/out"],
     "--timeout"),
    (["notebooks", "--timeout", "0", "--results", "{results}", "--out", "{tmp}/out"],
     "--timeout"),
    (["notebooks", "--results", "{results}", "--out", "{file}"], "--out"),
    (["dashboard", "--results", "{results}", "--html", "{file}", "--only", "compare"], "--html"),
    (["dashboard", "--results", "{tmp}", "--only", "compare"], "benchmarks.json"),
    (["history", "--json", "{missing}/h.json", "--dry-run"], "--json"),
    (["history", "--replicates", "0", "--dry-run"], "replicates"),
    (["history", "--rounds", "0", "--dry-run"], "--rounds"),
    (["history", "--commit", "deadbeef", "--dry-run"], "deadbeef"),
    (["history", "--bench", "Core(", "--dry-run"], "--bench 'Core('"),
]


@pytest.mark.parametrize("argv, named", BAD_ARGUMENTS, ids=[" ".join(a[:2]) + " " + n
                                                              for a, n in BAD_ARGUMENTS])
def test_bad_arguments_are_one_line_exit_2_and_write_nothing(capsys, tmp_path, results, argv,
                                                            named, monkeypatch):
    monkeypatch.chdir(REPO)  # history needs the project root; the others take paths
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    a_file = scratch / "a-file"
    a_file.write_text("not a folder")
    before = sorted(p.name for p in scratch.iterdir())
    filled = [a.format(missing=tmp_path / "no-such-folder", tmp=scratch, results=results,
                       file=a_file) for a in argv]
    code, out, err = run(capsys, *filled)
    assert code == 2, (code, out, err)
    one_error_line(err, argv[0], named)
    assert sorted(p.name for p in scratch.iterdir()) == before, "something was written"
    assert not (tmp_path / "no-such-folder").exists()


# --- damaged input -----------------------------------------------------------------------------


DAMAGES = {
    "benchmarks.json cut short": lambda r: (r / "benchmarks.json").write_text(
        (r / "benchmarks.json").read_text()[:3000]),
    "a results file cut short": lambda r: result_file(r).write_text(
        result_file(r).read_text()[:5000]),
    "a negative time": lambda r: _edit(result_file(r), "bench_loss.Core.time_forward", -1.0),
    "a huge time": lambda r: _edit(result_file(r), "bench_loss.Core.time_forward", 1e300),
    "a folder for a results file": lambda r: _folder_for(result_file(r)),
}


def _folder_for(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _edit(path: Path, benchmark: str, value: float) -> None:
    data = json.loads(path.read_text())
    row = data["results"][benchmark]
    first = next(i for i, v in enumerate(row[0]) if isinstance(v, float) and v == v)
    row[0][first] = value
    path.write_text(json.dumps(data))


def damaged_name(results: Path, damage: str) -> str:
    return "benchmarks.json" if damage.startswith("benchmarks") else "3c1d300c-"


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_file_is_named_never_a_finding(capsys, tmp_path, results, damage):
    """compare, alert, findings and merge-results on one damaged file: exit 2 naming it
    (the fuzz test tries many more damages, on the A/A series)."""
    DAMAGES[damage](results)
    name = damaged_name(results, damage)
    for argv in (["compare", results, "--baseline", "torch=2.13.0", "--candidate",
                  "torch=2.14.1", "--markdown", tmp_path / "c.md"],
                 ["alert", results, "--summary", tmp_path / "summary.md"],
                 ["findings", "--results", results, "--write", tmp_path / "findings.md"],
                 ["merge-results", results, "--into", tmp_path / "merged"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, (argv[0], code, err)
        one_error_line(err, argv[0], name)
        assert not [p for p in tmp_path.iterdir() if p.name != "results"], argv[0]


def test_a_damaged_machine_json_is_a_warning_and_the_same_verdict(capsys, tmp_path, results):
    code, out, _ = run(capsys, "compare", results, "--baseline", "torch=2.13.0",
                       "--candidate", "torch=2.14.1")
    (results / MACHINE / "machine.json").write_text("{")
    damaged = run(capsys, "compare", results, "--baseline", "torch=2.13.0",
                  "--candidate", "torch=2.14.1")
    assert damaged[:2] == (code, out)
    assert damaged[2].startswith(f"cebench compare: warning: {results / MACHINE / 'machine.json'}: "
                                 "unreadable (not valid JSON")


def test_a_malformed_notebook_is_one_line_and_leaves_no_folder(capsys, tmp_path, results):
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    (analysis / "broken.ipynb").write_text('{"cells": [')
    out_dir = tmp_path / "html" / "analysis"
    code, out, err = run(capsys, "notebooks", "--analysis", analysis, "--results", results,
                         "--out", out_dir)
    assert code == 2 and out == ""
    one_error_line(err, "notebooks", str(analysis / "broken.ipynb"), "not a readable notebook")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis", "results"]


def test_a_commit_with_no_results_fails_the_gate(capsys, tmp_path, results):
    code, out, err = run(capsys, "alert", results, "--commit", "deadbeef", "--summary",
                         tmp_path / "summary.md")
    assert code == 2 and out == ""
    line = one_error_line(err, "alert", "--commit deadbeef", "no results at that commit")
    assert "2b2f6672" in line and "3c1d300c" in line  # the commits there are
    assert not (tmp_path / "summary.md").exists()


# --- tool failures are never findings ----------------------------------------------------------


def test_a_defect_is_exit_2_with_its_traceback_and_one_line_saying_so(capsys, monkeypatch):
    from cebench.commands import machine

    def broken(args):
        return {}["a defect"]

    monkeypatch.setattr(machine, "run", broken)
    code, out, err = run(capsys, "machine")
    assert code == 2 and out == ""
    assert "Traceback (most recent call last)" in err  # for the report
    assert err.splitlines()[-1] == ("cebench machine: error: internal error (KeyError: "
                                    "'a defect'); a defect in cebench, not a finding: please "
                                    "report it with the traceback above")


def test_a_file_that_cannot_be_written_late_is_one_line_exit_2(capsys, monkeypatch, tmp_path):
    from cebench.commands import machine

    def unwritable(args):
        open(tmp_path / "gone" / "x.txt", "w")

    monkeypatch.setattr(machine, "run", unwritable)
    code, out, err = run(capsys, "machine")
    assert code == 2
    assert err == (f"cebench machine: error: cannot use {tmp_path / 'gone' / 'x.txt'}: No such "
                   "file or directory\n")


# --- progress ------------------------------------------------------------------------------


def test_history_progress_says_where_it_is_and_how_long_is_left(tmp_path, capsys):
    from cebench.commands.history import Progress

    timings = tmp_path / "timings.json"
    runs = ["2.13.0 run 1", "2.14.1 run 1", "2.13.0 run 2"]
    progress = Progress(runs, timings)
    assert progress.plan_line() == ("history: 3 asv runs; estimates follow from the first "
                                    "run's time")
    progress("torch 2.13.0 run 1: asv run (4 benchmark patterns; log x.log)")
    progress("torch 2.13.0 run 1: 600 s, asv exit 0, results a.json")
    progress("torch 2.14.1 run 1: asv run (4 benchmark patterns; log y.log)")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("log x.log) [1/3]")  # nothing measured yet: no estimate
    assert lines[2].endswith("log y.log) [2/3] about 10 min, 20 min left in all")
    again = Progress(runs, timings)  # the next history run knows the first run's time
    assert json.loads(timings.read_text()) == {"2.13.0 run 1": 600.0}
    again("torch 2.13.0 run 1: asv run (4 benchmark patterns; log x.log)")
    assert capsys.readouterr().out.endswith("[1/3] about 10 min, 30 min left in all\n")
