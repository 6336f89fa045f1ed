"""Every ``cebench`` sub-command, run through ``cebench.cli.main``: exit status and output.

The expected text was recorded from the commands as they were before they moved out of
the library modules (``tests/data/cli/cases-cpu.txt`` is ``cebench cases --device cpu``
of that version), so a change of output or exit status in the move shows here.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from cebench.cli import main

DATA = pathlib.Path(__file__).parent / "data"
RESULTS = DATA / "asv-results"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cases_text_is_unchanged(capsys):
    code, out, err = run(capsys, "cases", "--device", "cpu")
    assert (code, err) == (0, "")
    assert out == (DATA / "cli" / "cases-cpu.txt").read_text()


def test_cases_json_matches_the_text(capsys):
    code, out, _ = run(capsys, "cases", "--json", "--device", "cpu", "--grid", "core")
    rows = json.loads(out)
    assert code == 0 and rows
    text = (DATA / "cli" / "cases-cpu.txt").read_text().splitlines()
    core_lines = [line for line in text[1:-1] if "core" in line.split()[3].split(",")]
    assert [r["name"] for r in rows] == [line.split()[0] for line in core_lines]
    assert all(r["device"] == "cpu" and "core" in r["grids"] for r in rows)
    assert [r["runs_here"] for r in rows] == [line.split()[2] == "yes" for line in core_lines]


def test_machine_prints_one_name(capsys):
    code, out, err = run(capsys, "machine")
    assert (code, err) == (0, "")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*-x?\d+c?\n|[a-z0-9-]+\n", out)


BAD_INPUT = [
    (["profile", "nosuchcase"],
     "cebench profile: error: unknown case 'nosuchcase' (list them with `cebench cases`)"),
    (["profile", "small.contiguous.float32.mean.w-random", "--iterations", "0"],
     "cebench profile: error: --iterations must be at least 1"),
    (["selfcheck", "--tolerance", "2"],
     "cebench selfcheck: error: --tolerance must be between 0 and 1, not 2.0"),
    (["selfcheck", "--case", "nosuch"],
     "cebench selfcheck: error: unknown case 'nosuch' (list them with `cebench cases`)"),
    (["notebooks", "--results", "/nonexistent"],
     "cebench notebooks: error: no results directory at /nonexistent"),
    (["dashboard", "--config", "/nonexistent.json"],
     "cebench dashboard: error: no asv config /nonexistent.json (run from the project root, "
     "or pass --config)"),
    (["dashboard", "--only", "nope"],
     "cebench dashboard: error: unknown part(s) nope; choose from asv, analysis, compare, findings, check"),
    (["merge-results", "/nonexistent", "--into", "/tmp/cebench-merge-never"],
     "cebench merge-results: error: no results directory /nonexistent"),
    (["compare", str(RESULTS), "--baseline", "torch=2.13.0", "--candidate", "torch=2.14.1",
      "--bench", "("],
     "cebench compare: error: --bench '(': bad regular expression (missing ), unterminated "
     "subpattern at position 0)"),
    (["alert", str(RESULTS), "--machine", "nope", "--summary", "/tmp/cebench-alert-never.md"],
     None),
]


@pytest.mark.parametrize("argv, message", BAD_INPUT, ids=[" ".join(a[:2]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # dashboard --only must fail on the part, before any config
    if argv[0] == "dashboard" and argv[1] == "--only":
        (tmp_path / "asv.conf.json").write_text("{}")
        (tmp_path / "results").mkdir()
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1, err
    if message:
        assert err.strip() == message
    else:
        assert err.startswith(f"cebench {argv[0]}: error: ")


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["cases", "--grid", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    listed = re.findall(r"^    (\S+)", out, re.M)
    assert listed[:10] == ["cases", "machine", "check", "profile", "selfcheck", "compare",
                           "notebooks", "alert", "dashboard", "merge-results"]


def test_interrupt_is_one_line_and_exit_130(capsys, monkeypatch):
    from cebench.commands import machine

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(machine, "run", interrupted)
    code, out, err = run(capsys, "machine")
    assert code == 130 and err == "cebench machine: interrupted\n"
