"""`cebench history` and the results across releases: plan, storage, semantics, findings.

Storage tests use real asv results (tests/data/asv-results, written by asv 0.6.6) and
asv's own loader; the semantics tests use a real `cebench check` report of this torch.
The slow test builds a real asv virtualenv for torch 2.13.0 and runs it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cebench import history
from cebench.cli import main
from cebench.errors import InputError
from cebench.publish import findings
from cebench.results import load as results
from cebench.results import releases

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "asv-results"
MACHINE = "cpu-amd-epyc-2c"


# --- the plan -------------------------------------------------------------------------


def test_plan_runs_the_newest_first_with_interleaved_replicates():
    blocks = history.plan(["2.9.1", "2.15.0", "2.5.1", "2.14.1"], replicates=3,
                          replicate_newest=2)
    assert [[r.torch for r in b.releases] for b in blocks] == [["2.14.1", "2.15.0"],
                                                               ["2.9.1"], ["2.5.1"]]
    newest = [(run.release.torch, run.replicate) for run in blocks[0].runs]
    assert newest == [("2.14.1", 1), ("2.15.0", 1), ("2.14.1", 2), ("2.15.0", 2),
                      ("2.14.1", 3), ("2.15.0", 3)]
    main_run, replicate = blocks[0].runs[0], blocks[0].runs[2]
    assert set(history.EVERY_RELEASE_BENCHMARKS) <= set(main_run.benchmarks)
    assert set(history.REPLICATE_BENCHMARKS) <= set(main_run.benchmarks)
    assert replicate.benchmarks == history.REPLICATE_BENCHMARKS
    assert [run.replicate for run in blocks[1].runs] == [1]


def test_plan_pins_numpy_1_before_torch_2_3_and_rejects_bad_versions():
    assert history.release("2.1.2").numpy == history.NUMPY_1_PIN
    assert history.release("2.3.0").numpy == ""
    assert history.release("2.13.0").numpy == ""
    with pytest.raises(InputError, match="not a torch release"):
        history.plan(["2.13"])
    with pytest.raises(InputError):
        history.plan([])


def test_a_pip_constraint_that_caps_torch_is_reported_before_anything_runs(tmp_path,
                                                                           monkeypatch):
    cap = tmp_path / "constraints.txt"
    cap.write_text("# local wheels\ntorch<=2.14.1\ntorchvision<=0.29.1\n")
    monkeypatch.setenv("PIP_CONSTRAINT", str(cap))
    files = history.pip_constraint_files()
    assert cap in files
    caps = history.pip_torch_caps(files)
    assert (cap, "torch<=2.14.1") in caps
    history.check_installable([history.release("2.14.1")], caps)  # allowed: no error
    with pytest.raises(InputError, match=r"torch 2\.15\.0 .*torch<=2\.14\.1"):
        history.check_installable([history.release("2.15.0")], caps)


def test_history_command_bad_input_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["history", "--releases", "2.13", "--dry-run"]) == 2
    assert "not a torch release" in capsys.readouterr().err
    cap = tmp_path / "constraints.txt"
    cap.write_text("torch<=2.14.1\n")
    monkeypatch.setenv("PIP_CONSTRAINT", str(cap))
    assert main(["history", "--releases", "2.14.1,2.15.0", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "pip may not install torch 2.15.0" in err and len(err.strip().splitlines()) == 1
    monkeypatch.delenv("PIP_CONSTRAINT")
    monkeypatch.chdir(tmp_path)
    assert main(["history", "--releases", "2.13.0", "--dry-run"]) == 2
    assert "no asv.conf.json" in capsys.readouterr().err


# --- storing runs ---------------------------------------------------------------------


def _scratch_run(tmp_path: Path, name: str) -> Path:
    """A scratch results tree as asv leaves it: benchmarks.json, machine.json, one file
    (its runs started ``name``'s letter number of hours later: another run, not a copy)."""
    scratch = tmp_path / name
    shutil.copytree(DATA, scratch)
    files = sorted((scratch / MACHINE).glob("*-*.json"))
    for extra in files[1:]:
        extra.unlink()
    data = json.loads(files[0].read_text())
    column = data["result_columns"].index("started_at")
    for row in data["results"].values():
        row[column] += 3_600_000 * (ord(name[0]) - ord("a"))
    files[0].write_text(json.dumps(data))
    return scratch


def _settings(tmp_path: Path) -> history.Settings:
    return history.Settings(repo=REPO, results_dir=tmp_path / "results",
                            work_dir=tmp_path / "work", machine=MACHINE, commit="0" * 40)


def test_runs_of_one_release_and_commit_are_stored_as_replicates(tmp_path):
    settings = _settings(tmp_path)
    settings.results_dir.mkdir()
    other = {"bench_other.Other.track_x": {"name": "bench_other.Other.track_x",
                                          "type": "track", "unit": "x", "version": "1"}}
    (settings.results_dir / "benchmarks.json").write_text(json.dumps(dict(other, version=2)))
    first = history.store_run(_scratch_run(tmp_path, "a"), settings)
    second = history.store_run(_scratch_run(tmp_path, "b"), settings)
    third = history.store_run(_scratch_run(tmp_path, "c"), settings)
    asv_name = sorted((DATA / MACHINE).glob("*-*.json"))[0].name
    assert first.name == asv_name
    assert second.name == asv_name.replace(".json", "-r2.json")
    assert third.name == asv_name.replace(".json", "-r3.json")
    merged = json.loads((settings.results_dir / "benchmarks.json").read_text())
    data = json.loads((DATA / "benchmarks.json").read_text())
    assert "bench_other.Other.track_x" in merged  # never dropped
    assert set(data) <= set(merged)
    assert (settings.results_dir / MACHINE / "machine.json").exists()

    from asv.results import Results

    for path in (first, second, third):  # asv's own loader reads every replicate
        assert Results.load(str(path)).commit_hash
    df = releases.with_replicates(results.load(settings.results_dir))
    assert sorted(df["replicate"].unique()) == [1, 2, 3]
    pairs = results.weight_overhead_pairs(df)  # weighted / unweighted within each run
    assert len(pairs) and pairs["file"].nunique() == 3
    assert releases.replicate_of("abc-virtualenv-py3.11-numpy-torch2.9.1-r12.json") == 12
    assert releases.replicate_of("abc-virtualenv-py3.11-numpy-torch2.9.1.json") == 1


def test_write_config_holds_one_release_and_absolute_paths(tmp_path):
    settings = _settings(tmp_path)
    conf = history.write_config(settings, history.release("2.1.2"), tmp_path / "bench",
                                tmp_path / "scratch")
    data = json.loads(conf.read_text())
    assert data["matrix"] == {"req": {"torch": ["2.1.2"], "numpy": [history.NUMPY_1_PIN],
                                      "pip+asv_runner": [history.ASV_RUNNER]}}
    assert data["results_dir"] == str(tmp_path / "scratch")
    assert data["env_dir"] == str(tmp_path / "work" / "env" / "2.1.2")
    assert Path(data["repo"]).is_absolute() and Path(data["benchmark_dir"]).is_absolute()


# --- comparisons between consecutive releases --------------------------------------------


def _two_releases_at(commit_a: str, commit_b: str):
    df = results.load(DATA)
    versions = releases.release_order(df["torch_version"].dropna())
    assert len(versions) == 2
    commits = {versions[0]: commit_a, versions[1]: commit_b}
    return df.assign(commit=df["torch_version"].map(commits)), versions


def test_consecutive_changes_compare_each_pair_at_one_commit():
    df, versions = _two_releases_at("c" * 40, "c" * 40)
    changes = releases.consecutive_changes(df)
    assert len(changes) and set(changes["commit"]) == {"c" * 40}
    assert set(zip(changes["baseline_version"], changes["candidate_version"])) == {
        tuple(versions)}
    assert set(changes["verdict"]) <= set(releases.compare.VERDICTS)
    apart, _ = _two_releases_at("a" * 40, "b" * 40)
    assert releases.consecutive_changes(apart).empty  # never across commits


def test_history_series_has_one_value_per_release_and_case():
    df, versions = _two_releases_at("c" * 40, "c" * 40)
    series = releases.history_series(df)
    assert not series.duplicated(["machine", "benchmark", "params", "torch_version"]).any()
    assert set(series["release_index"]) == {0, 1}


# --- semantics --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def check_report():
    """A real `cebench check` report of this torch on the CPU."""
    from cebench.semantics import conformance

    return conformance.check(["cpu"]).to_json()


def test_semantics_verdicts_are_stored_per_release_and_changes_found(tmp_path, check_report):
    settings = _settings(tmp_path)
    older = json.loads(json.dumps(check_report))
    edge = next(c for c in older["cases"] if c["kind"] == "edge")
    edge["torch_loss"], edge["verdict"] = 0.0, "differs"
    grid = next(c for c in older["cases"] if c["kind"] == "grid" and c["verdict"] == "matches")
    grid["verdict"] = "differs"
    path_old = history.store_semantics(older, history.release("2.9.1"), settings)
    path_new = history.store_semantics(check_report, history.release("2.13.0"), settings)
    assert path_old.suffix == ".jsonl"  # asv reads *.json under results/ as results
    lines = path_new.read_text().splitlines()
    assert json.loads(lines[0])["release"] == "2.13.0"
    kinds = {json.loads(line)["kind"] for line in lines[1:]}
    assert {"golden", "edge", "bad_input"} <= kinds

    heads, cases = releases.load_semantics(settings.results_dir)
    assert list(heads["release"]) == ["2.9.1", "2.13.0"]
    table = releases.semantics_table(cases)
    assert list(table.columns) == ["2.9.1", "2.13.0"]
    changed = releases.semantic_changes(cases)
    names = set(changed["name"])
    assert edge["name"] in names and grid["name"] in names
    row = changed[changed["name"] == grid["name"]].iloc[0]
    assert row["before"].startswith("differs") and row["after"] == "matches or skipped"
    assert (changed["baseline_version"] == "2.9.1").all()
    unchanged = releases.semantic_changes(cases[cases["name"] != edge["name"]])
    assert edge["name"] not in set(unchanged["name"])


def test_outcome_names_the_error_type_or_the_loss():
    assert releases.outcome({"verdict": "raises", "torch_error": "IndexError: Target 7"}) \
        == "raises: IndexError"
    assert releases.outcome({"verdict": "differs", "torch_loss": 0.0}) == "differs: 0"
    assert releases.outcome({"verdict": "matches", "torch_loss": "nan"}) == "matches: nan"
    assert releases.outcome({"verdict": "skipped"}) == "skipped"


# --- the findings page --------------------------------------------------------------------


def test_findings_doc_is_generated_from_the_committed_results(committed_results):
    committed = (REPO / "docs" / "findings.md").read_text()
    assert committed == findings.render(committed_results), (
        "docs/findings.md is stale: run `cebench findings --write`")


def test_findings_say_none_where_nothing_changed(tmp_path):
    df, _ = _two_releases_at("c" * 40, "c" * 40)
    text = findings.render(DATA)  # two releases at two commits: nothing compared
    assert "No benchmark was measured on both releases of a pair at one commit." in text
    assert "No change confirmed between consecutive releases." in text
    assert "No semantics verdicts recorded." in text
    assert len(df)


# --- a real history run (slow) -------------------------------------------------------------


@pytest.mark.slow
def test_history_builds_runs_and_deletes_one_release(tmp_path, monkeypatch, capsys):
    """torch 2.13.0 (installable from this machine's disk): a real asv virtualenv."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("HOME", str(tmp_path))
    out = tmp_path / "results"
    commit = subprocess.check_output(["git", "-C", str(REPO), "rev-parse", "HEAD"],
                                     text=True).strip()
    status = main(["history", "--commit", commit, "--releases", "2.13.0", "--replicates", "2",
                   "--replicate-newest", "1", "--bench", r"^bench_environment\.",
                   "--results", str(out), "--work", str(tmp_path / "work"),
                   "--machine", "cebench-test", "--json", str(tmp_path / "runs.json")])
    assert status == 0, capsys.readouterr()
    files = sorted(p.name for p in (out / "cebench-test").glob("*.json"))
    name = f"{commit[:8]}-virtualenv-py3.11-numpy-torch2.13.0"
    assert files == [f"{name}-r2.json", f"{name}.json", "machine.json"]
    df = results.load(out)
    assert set(df["torch_version"]) == {"2.13.0"}
    version = df[df["short_name"] == "Environment.track_torch_version"]["value"]
    assert list(version) == [2.13, 2.13]
    heads, _ = releases.load_semantics(out)
    assert list(heads["release"]) == ["2.13.0"] and heads["rules_broken"].iloc[0] == 0
    assert not (tmp_path / "work" / "env" / "2.13.0").exists()  # deleted after the run


def test_release_chart_marks_compare_verdicts_at_the_later_release():
    from cebench.publish import plots

    df, versions = _two_releases_at("c" * 40, "c" * 40)
    name = "bench_loss.Core.time_forward"
    series = releases.history_series(df)
    changes = releases.consecutive_changes(df)
    rows = changes.index[changes["benchmark"] == name]
    assert len(rows)
    changes.loc[rows[:2], "verdict"] = "regression"  # the chart marks what compare says
    fig = plots.release_history(series, changes, name)
    labels = {t.get_text() for ax in fig.axes for t in ax.get_xticklabels()}
    assert set(versions) <= labels
    legends = {t.get_text() for legend in fig.legends for t in legend.texts}
    assert "regression vs previous release" in legends
    assert plots.release_history(series, changes, "no.such.benchmark") is None


def _rows(base, cand, worse_by, *, family="small-seg", passes=("forward_backward",),
          layouts=("contiguous",), reductions=("mean", "sum"), verdict=None, unit="instructions"):
    """compare rows of an instruction-count change over a set of cases (one per case)."""
    rows = []
    for pass_ in passes:
        for layout in layouts:
            for reduction in reductions:
                params = f"family={family}, layout={layout}, reduction={reduction}, weighting=none"
                rows.append(dict(
                    machine="m", unit_base=unit, family=family, layout=layout,
                    reduction=reduction, weighting="none", **{"pass": pass_},
                    benchmark=f"bench_instructions.Instructions.track_instructions_{pass_}",
                    key=f"track_instructions_{pass_}({params})", params=params,
                    baseline_version=base, candidate_version=cand, commit="c" * 40,
                    value_base=1000.0, value_cand=1000.0 * (1 + worse_by), worse_by=worse_by,
                    ratio=1 + worse_by, verdict=verdict or (
                        "regression" if worse_by > 0 else "improvement"),
                    short_name_base=f"Instructions.track_instructions_{pass_}"))
    return rows


def _universe(base, cand):
    return _rows(base, cand, 0.0, family="small", passes=("forward", "forward_backward"),
                 reductions=("mean", "sum"), verdict="unchanged") + _rows(
        base, cand, 0.0, family="small-seg", passes=("forward", "forward_backward"),
        reductions=("mean", "sum"), verdict="unchanged")


def test_findings_group_one_cause_and_chain_a_back_and_forth():
    """A rise over every case (both families, alike) is one finding; a small-seg step
    down, up, down, up over the same cases is one back-and-forth finding; a change twice
    as large in one family as in the other is two."""
    every = [dict(r, verdict="regression", worse_by=w, value_cand=1000 * (1 + w))
             for r, w in zip(_universe("2.1", "2.2"), [0.10, 0.12, 0.15, 0.2] * 2)]
    steps = [_rows("2.2", "2.3", -0.013), _rows("2.3", "2.4", 0.012), _rows("2.4", "2.5", -0.012),
             _rows("2.5", "2.6", 0.013)]
    split = _rows("2.6", "2.7", 0.02, family="small") + _rows("2.6", "2.7", 0.09)
    quiet = _rows("2.1", "2.2", 0.5, verdict="unchanged") + _rows(
        "2.1", "2.2", 1.0, unit="seconds", verdict="inconclusive")
    changes = pd.DataFrame(every + sum(steps, []) + split + quiet)
    found = findings.group_findings(changes)
    assert [(f.unit, f.pairs, len(f.rows)) for f in found] == [
        ("instructions", [("2.1", "2.2")], 8),
        ("instructions", [("2.6", "2.7")], 2),
        ("instructions", [("2.6", "2.7")], 2),
        ("instructions", [("2.2", "2.3"), ("2.3", "2.4"), ("2.4", "2.5"), ("2.5", "2.6")], 8)]
    assert found[0].size == pytest.approx(0.2) and found[3].flip_flop
    assert findings.finding_title(found[0]) == "2.1 → 2.2: instructions rose +10.0% … +20.0%"
    assert findings.finding_title(found[3]) == (
        "instructions back and forth between builds, ±1.2% … ±1.3%: 2.3 ↓, 2.4 ↑, 2.5 ↓, 2.6 ↑")
    universe = pd.DataFrame(_universe("2.1", "2.2"))
    assert findings.case_pattern(found[0].rows, universe) == "every case, both passes (8 of 8)"
    small = universe[universe["family"] == "small"]
    assert findings.case_pattern(small, universe) == "every small case, both passes (4 of 8)"
    assert findings.case_pattern(found[3].steps[0], universe) == (
        "family small-seg; pass forward_backward (2 of 8)")
    odd = pd.concat([small.iloc[:1], small.iloc[-1:]])
    assert findings.case_pattern(odd, universe) == (
        "family small (2 of 8, not every combination of these)")
    assert findings.group_findings(pd.DataFrame(quiet)) == []


SELF_RECORD = {
    "case": "small.contiguous.float32.none.w-random", "pass": "forward_backward",
    "ranking": "self",
    "baseline": {"torch_version": "2.7.1+cu126", "instructions_per_call": 1000.0,
                 "valgrind_cpu_capability": "AVX2",
                 "build": {"compiler": "GCC 11.2", "mkl": "2024.2", "onednn": "v3.7.1"}},
    "candidate": {"torch_version": "2.9.1+cu128", "instructions_per_call": 1100.0,
                  "valgrind_cpu_capability": "AVX2",
                  "build": {"compiler": "GCC 13.3", "mkl": "2024.2", "onednn": "v3.7.1"}},
    "functions": [
        {"function": "Sleef_expf8_u10avx2", "baseline_self_per_call": 310.0,
         "candidate_self_per_call": 430.0, "baseline_calls_per_call": 10.0,
         "candidate_calls_per_call": 10.0, "note": ""},
        {"function": "kernel", "baseline_self_per_call": 100.0,
         "candidate_self_per_call": 80.0, "baseline_calls_per_call": 1.0,
         "candidate_calls_per_call": 1.0, "note": ""}]}


def test_an_explanation_names_the_carrier_its_calls_and_the_build(tmp_path):
    folder = tmp_path / "m" / findings.EXPLANATIONS_DIR
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(json.dumps(SELF_RECORD) + "\n")
    (folder / "notes.txt").write_text("ignored: not .jsonl")
    (record,) = findings.load_explanations(tmp_path, "m")
    text = "\n".join(findings.explanation_lines(record, {}))
    assert ("- carrier: `Sleef_expf8_u10avx2` carries +120 per call, 120% of the change: "
            "10 → 10 calls per loss call × 31.0 → 43.0 instructions a call.") in text
    assert "- then: `kernel` -20 per call (-20%)." in text
    assert "- build:" not in text  # the finding states the build once
    assert ("- cause: the build: 120% of the change is in code torch vendors (SLEEF), "
            "compiled into each build, not in torch's own source.") in text
    assert "| +120 | 310 | 430 | 10 → 10 | 31.0 → 43.0 | `Sleef_expf8_u10avx2` |  |" in text
    moved = dict(SELF_RECORD, functions=[
        dict(SELF_RECORD["functions"][1], function="old_lambda", candidate_self_per_call=0.0,
             note="moved: about as much now runs in `new_range`"),
        dict(SELF_RECORD["functions"][1], function="new_range", baseline_self_per_call=0.0,
             candidate_self_per_call=190.0, note="moved: took over about as much from "
             "`old_lambda`")])
    assert [u["change"] for u in findings.carrier_units(moved["functions"])] == [90.0]
    text = "\n".join(findings.explanation_lines(dict(moved, file="m.jsonl"), {}))
    assert ("- carrier: `old_lambda` → `new_range` (moved between builds) carries +90 per "
            "call, 90% of the change.") in text
    assert ("- cause: the build: most of the change is code that moved between functions "
            "(inlined, renamed) while the compiler changed.") in text
    torch_only = dict(SELF_RECORD, functions=[dict(SELF_RECORD["functions"][1],
                                                   candidate_self_per_call=200.0)])
    text = "\n".join(findings.explanation_lines(dict(torch_only, file="b.jsonl"), {}))
    assert ("- cause: torch's own code; the build changed too, so source and compiler are "
            "not told apart.") in text
    unknown = dict(torch_only, functions=[dict(SELF_RECORD["functions"][1],
                                               candidate_self_per_call=110.0)])
    text = "\n".join(findings.explanation_lines(dict(unknown, file="c.jsonl"), {}))
    assert "- cause: not known: the 1 functions listed carry only 10% of the change." in text
    old = {k: v for k, v in SELF_RECORD.items() if k != "ranking"}
    text = "\n".join(findings.explanation_lines(dict(old, file="d.jsonl"), {}))
    assert "This record ranks inclusive counts" in text and "names no cause" in text


def test_a_malformed_explanation_is_one_line_naming_the_file(tmp_path):
    folder = tmp_path / "m" / findings.EXPLANATIONS_DIR
    folder.mkdir(parents=True)
    (folder / "bad.jsonl").write_text('{"case": "x"}\n')
    with pytest.raises(InputError, match=r"bad\.jsonl: not a record of `cebench instructions "
                       r"--explain --json` \(KeyError"):
        findings.load_explanations(tmp_path, "m")


def test_findings_write_into_a_missing_folder_is_one_line_exit_2(tmp_path, capsys):
    target = tmp_path / "no-such-folder" / "findings.md"
    assert main(["findings", "--results", str(DATA), "--write", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write --write" in err[0] and not target.parent.exists()


def test_dry_run_names_what_the_replicates_measure(monkeypatch, capsys):
    """--replicate-bench replaces the replicate runs' benchmarks (by default the core grid
    and the control workload); the dry run prints what each kind of run measures."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("PIP_CONSTRAINT", "")
    monkeypatch.setattr(history, "pip_constraint_files", lambda *a, **k: [])
    assert main(["history", "--releases", "2.13.0,2.14.1", "--replicates", "2",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  replicate runs measure: ^bench_environment\\. ^bench_control\\. " \
           "^bench_loss\\.Core\\." in out
    assert main(["history", "--releases", "2.13.0,2.14.1", "--replicates", "2",
                 "--replicate-bench", "^bench_loss\\.WeightOverhead\\.", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "  replicate runs measure: ^bench_loss\\.WeightOverhead\\.\n" in out
    assert "  first runs measure: ^bench_environment\\." in out


def test_the_control_workload_is_fixed_and_correct():
    import numpy as np

    from cebench.measure import control

    x = control.control_logits()
    assert x.shape == control.CONTROL_SHAPE and x.dtype == np.float32
    assert np.array_equal(x, control.control_logits())
    x64 = x.astype(np.float64)
    expected = (x64 - np.log(np.exp(x64).sum(axis=1, keepdims=True))).sum()
    assert control.log_softmax_rows(x) == pytest.approx(expected, rel=1e-5)
