"""`cebench check` (cebench.commands.check): output and exit statuses.

tests/data/check/cpu-torch-2.13.0.{txt,json} are what `cebench check --device cpu`
printed and wrote (with --json; line count with --all) before the command moved out of the
conformance module: the same torch must give the same table, verdicts and exit status.
"""

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path

import pytest
import torch

from cebench import cli
from cebench.semantics import conformance

RECORDED = Path(__file__).resolve().parent / "data" / "check"
RECORDED_STDOUT = (RECORDED / "cpu-torch-2.13.0.txt").read_text()
RECORDED_RUN = json.loads((RECORDED / "cpu-torch-2.13.0.json").read_text())
same_torch_as_recorded = pytest.mark.skipif(
    torch.__version__ != RECORDED_RUN["torch_version"],
    reason=f"recorded with torch {RECORDED_RUN['torch_version']}: edge verdicts and error "
    "messages are torch's own and may change between versions")

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _digest(lines) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _case_ids(report_json: dict) -> list[str]:
    return [f"{c['kind']}\t{c['name']}\t{c['device']}\t{c['dtype']}"
            for c in report_json["cases"]]


def _skeleton_and_numbers(text: str) -> tuple[list[str], list[str]]:
    """Each line with numbers as '#' and blanks collapsed (column widths follow the
    numbers' lengths), the CPU model masked; and the numbers, in order."""
    text = re.sub(r"devices: cpu \([^)]*\)", "devices: cpu (CPU)", text)
    lines = [" ".join(_NUMBER.sub("#", line).split()) for line in text.splitlines()]
    return lines, _NUMBER.findall(text)


def _same_number(got: str, want: str) -> bool:
    """Counts and integers exactly; measured values as printed, to a last-digit flip.

    A loss error of a few float32 ulps may differ between CPUs (vectorised sums), so the
    error columns' values under 1e-4 count as equal: the float32 tolerance is
    1e-5 + 1e-5·|r|, and the verdict column, compared as text, says whether each case was
    within it. Losses printed to 6 significant digits agree within rel 1e-5.
    """
    if re.fullmatch(r"[-+]?\d+", got) and re.fullmatch(r"[-+]?\d+", want):
        return got == want
    got_value, want_value = float(got), float(want)
    if max(abs(got_value), abs(want_value)) < 1e-4:
        return True
    return math.isclose(got_value, want_value, rel_tol=1e-5)


def _assert_same_output(got: str, want: str) -> None:
    got_lines, got_numbers = _skeleton_and_numbers(got)
    want_lines, want_numbers = _skeleton_and_numbers(want)
    assert got_lines == want_lines
    assert len(got_numbers) == len(want_numbers)
    differing = [(g, w) for g, w in zip(got_numbers, want_numbers, strict=True)
                 if not _same_number(g, w)]
    assert not differing, differing[:10]


@pytest.fixture(scope="module")
def cpu_report():
    """One real `check` on the CPU, for the tests that exercise only the command's output."""
    return conformance.check(["cpu"])


def test_check_cpu_prints_and_writes_what_it_did_before(tmp_path, capsys):
    report_path = tmp_path / "check.json"
    status = cli.main(["check", "--device", "cpu", "--json", str(report_path)])
    out, err = capsys.readouterr()
    report = json.loads(report_path.read_text())

    assert err == ""
    assert status == (1 if report["summary"]["rules_broken"] else 0)
    # independent of the torch version: the same cases, in the same order
    assert len(report["cases"]) == RECORDED_RUN["num_cases"]
    assert _digest(_case_ids(report)) == RECORDED_RUN["case_ids_sha256"]
    assert report["summary"]["verdicts"]["grid"]["skipped"] == \
        RECORDED_RUN["summary"]["verdicts"]["grid"]["skipped"]
    assert report["torch_version"] == torch.__version__ and list(report["devices"]) == ["cpu"]
    golden = [c for c in report["cases"] if c["kind"] == "golden"]
    assert [round(c["torch_loss"], 4) for c in golden] == [1.4803, 1.6075, 1.5472]
    assert any(c["torch_loss"] == "nan" for c in report["cases"])  # strict-JSON NaN
    assert out.endswith(f"{len(report['cases'])} cases, "
                        f"{report['summary']['rules_broken']} broken rules\n")

    if torch.__version__ == RECORDED_RUN["torch_version"]:
        assert status == RECORDED_RUN["exit_status"]
        assert report["summary"] == RECORDED_RUN["summary"]
        verdicts = [f"{i}\t{c['verdict']}\t{c['rule_broken']}"
                    for i, c in zip(_case_ids(report), report["cases"], strict=True)]
        assert _digest(verdicts) == RECORDED_RUN["case_verdicts_sha256"]
        _assert_same_output(out, RECORDED_STDOUT)


def test_output_comparison_catches_a_changed_verdict_or_count():
    changed_verdict = RECORDED_STDOUT.replace("float16  0        0.112814   0.112814     1"
                                              "            1             differs",
                                              "float16  0        0.112814   0.112814     1"
                                              "            1             matches", 1)
    changed_count = RECORDED_STDOUT.replace("matches 1368", "matches 1367")
    changed_loss = RECORDED_STDOUT.replace("1.60753", "1.60763")
    changed_precision = RECORDED_STDOUT.replace("3.26784", "3.2678")
    for changed in (changed_verdict, changed_count, changed_loss, changed_precision):
        assert changed != RECORDED_STDOUT
        with pytest.raises(AssertionError):
            _assert_same_output(changed, RECORDED_STDOUT)
    _assert_same_output(RECORDED_STDOUT.replace("(AMD EPYC)", "(Another CPU)"), RECORDED_STDOUT)


@same_torch_as_recorded
def test_check_all_lists_every_case(cpu_report, monkeypatch, capsys):
    monkeypatch.setattr(conformance, "check", lambda devices: cpu_report)
    assert cli.main(["check", "--device", "cpu", "--all"]) == RECORDED_RUN["exit_status"]
    out = capsys.readouterr().out
    assert out.count("\n") == RECORDED_RUN["all_stdout_lines"]
    for case in cpu_report.cases:
        assert f"{case.kind:<9}  {case.name}" in out


def test_check_exits_1_and_marks_a_broken_rule(cpu_report, monkeypatch, capsys):
    broken = dataclasses.replace(cpu_report, cases=[
        dataclasses.replace(cpu_report.cases[0], rule_broken=True), *cpu_report.cases[1:]])
    monkeypatch.setattr(conformance, "check", lambda devices: broken)
    assert cli.main(["check", "--device", "cpu"]) == 1
    out = capsys.readouterr().out
    assert out.count("RULE BROKEN") == 1
    assert out.endswith(f"{len(broken.cases)} cases, 1 broken rules\n")


def test_unwritable_json_is_bad_input_before_the_check_runs(monkeypatch, capsys, tmp_path):
    def never(devices):
        raise AssertionError("the check ran before its output was checked")

    monkeypatch.setattr(conformance, "check", never)
    target = tmp_path / "missing-folder" / "check.json"
    assert cli.main(["check", "--device", "cpu", "--json", str(target)]) == 2
    out, err = capsys.readouterr()
    assert err == (f"cebench check: error: cannot write --json {target}: no folder "
                   f"{target.parent}\n")
    assert out == "" and not target.parent.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present here")
def test_check_device_cuda_without_cuda_is_bad_input(capsys):
    assert cli.main(["check", "--device", "cuda"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("cebench check: error: --device cuda: CUDA is not available to torch "
                   f"{torch.__version__}\n")


def test_check_rejects_unknown_device(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err


def test_check_help_is_unchanged(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["check", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cebench check [-h] [--all] [--json FILE] [--device {cpu,cuda}]")
    assert "Exit 1 when a rule is broken." in " ".join(out.split())
