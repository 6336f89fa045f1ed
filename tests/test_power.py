"""cebench power: the detection-power harness of the time rule, and docs/verdicts.md.

The harness runs on the replicate series committed under results/ (real runs of the shared
2-core CPU machine). Here a seeded handful of its comparisons (the full run sits behind
``cebench power``; its trials are committed and docs/verdicts.md is rendered from them).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from cebench.cli import main
from cebench.publish import verdicts_doc as verdicts
from cebench.results import load, power

REPO_RESULTS = Path(__file__).resolve().parents[1] / "results"
pytestmark = pytest.mark.committed


@pytest.fixture(scope="module")
def committed(committed_results):
    return load.load(committed_results, samples=False)


@pytest.fixture(scope="module")
def series(committed):
    found = [s for s in power.series_of(committed) if "91656913" in s.name]
    assert len(found) == 1
    return found[0]


def test_series_are_replicate_groups_in_recording_order(series):
    assert series.name == "12 runs of torch 2.13.0 at 91656913 on cpu-amd-epyc-2c"
    assert [power.replicate_number(f) for f in series.runs] == list(range(1, 13))
    assert len(series.time_keys) == 48 and len(series.targets) == power.TARGETS
    assert not any(f in {g.name for g in series.reference} for f in series.runs)


def test_a_seeded_sample_of_the_harness(committed, series):
    """No A/A alarm at 3 v 3 and 6 v 6; every timing x3 caught at 6 v 6; a slowdown of
    exactly the printed minimum detectable change caught; half the timings faster never
    an alarm; fewer than three runs a side inconclusive."""
    trials = power.evaluate(committed, draws=2, aa_draws=2, seed=3, series=[series],
                            splits=((2, 2), (3, 3), (6, 6)), shared_factors=(3.0,),
                            one_factors=(5.0,))
    by = trials.groupby(["scenario", "k_base"])
    assert set(trials.loc[trials["k_base"] == 2, "exit"]) == {3}
    for k in (3, 6):
        assert (by.get_group(("A/A", k))["exit"] == 0).all()
        assert (by.get_group(("half faster", k))["exit"] != 1).all()
    assert (by.get_group(("shared", 6))["exit"] == 1).all()
    cal = trials[trials["scenario"] == "calibration"]
    assert len(cal) == 4 and cal["factor"].gt(1).all() and (cal["exit"] == 1).mean() >= 0.5
    tables = power.summarise(trials)
    assert tables["aa"].loc["3 v 3", "exit_1"] == 0 and tables["shared"].loc["6 v 6", 3.0] == 1
    text = power.markdown(tables)
    assert "| 6 v 6 | 2 | 100% | 0% | 0% |" in text and "**Calibration**" in text


def test_slow_down_multiplies_only_the_keys():
    rows = pd.DataFrame({"key": ["a", "b"], "value": [1.0, 2.0]})
    assert power.slow_down(rows, ["b"], 3.0)["value"].tolist() == [1.0, 6.0]


def test_trials_round_trip_and_the_doc_is_generated(tmp_path):
    trials = pd.DataFrame([{"machine": "m", "series": "4 runs of torch x at c on m",
                            "scenario": "A/A", "k_base": 3, "k_cand": 3, "factor": math.nan,
                            "target": None, "outcome": "ok", "exit": 0, "flags": 0,
                            "false_flags": 0, "hits": 0, "slowed": 0,
                            "shared_verdict": "unchanged", "min_detectable": 0.8,
                            "row_min_detectable": math.nan}])
    path = tmp_path / "m" / verdicts.TRIALS_FILE
    verdicts.write_trials(path, trials, {"draws": 1, "seed": 2})
    settings, back = verdicts.read_trials(path)
    assert settings == {"draws": 1, "seed": 2} and back.loc[0, "exit"] == 0
    page = verdicts.render(tmp_path)
    assert "### m" in page and "1 comparisons (1 draws per split and slowdown" in page
    (tmp_path / "m" / verdicts.TRIALS_FILE).write_text("not json\n")
    with pytest.raises(Exception, match="not a trials file"):
        verdicts.render(tmp_path)


def test_the_committed_page_is_what_the_stored_trials_render(committed_results):
    assert verdicts.DOC_PATH.read_text() == verdicts.render(committed_results)


def test_power_command_bad_input(tmp_path, capsys):
    assert main(["power", str(REPO_RESULTS), "--draws", "0"]) == 2
    assert "--draws must be >= 1" in capsys.readouterr().err
    assert main(["power", str(REPO_RESULTS), "--series", "("]) == 2
    assert "bad regular expression" in capsys.readouterr().err
    assert main(["power", str(REPO_RESULTS), "--series", "no such series"]) == 2
    assert "no replicate series" in capsys.readouterr().err


def test_load_notes_say_when_and_under_what_load_a_series_ran(tmp_path):
    (tmp_path / "m" / "load").mkdir(parents=True)
    (tmp_path / "m" / "load" / "abc12345-series.csv").write_text(
        "kind,start_utc,end_utc,load1_before,load1_after\n"
        "aa,2026-01-01T10:00:00+00:00,2026-01-01T10:02:00+00:00,1.5,2.0\n"
        "x3,2026-01-01T10:02:00+00:00,2026-01-01T10:04:00+00:00,9.0,9.0\n"
        "aa,2026-01-01T10:04:00+00:00,2026-01-01T10:06:00+00:00,2.5,3.25\n")
    (note,) = verdicts.load_notes(tmp_path / "m")
    assert note.startswith("runs at abc12345: 2 runs recorded 2026-01-01 10:00–10:06 UTC, "
                           "1-minute load average 1.5–3.2 (")
