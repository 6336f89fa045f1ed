"""The computed conclusions the analysis notebooks open with, on frames whose answers are
known by hand, and the difference-from-1 bars with their intervals."""

import math

import numpy as np
import pandas as pd
import pytest

from cebench.publish import conclusions, plots

T_975_1DF = 12.7062047  # Student t, 97.5 % quantile, 1 degree of freedom (tables)


def _row(short_name, value, version="2.14.1", machine="cpu-x", **params):
    base = dict(machine=machine, torch_version=version, commit="c1", date=1, env_name="e",
                benchmark=f"mod.{short_name}", short_name=short_name, status="ok",
                value=value, unit="ratio", file=f"{version}.json", family="small",
                dtype="float32", reduction="mean", weighting="random", **{"pass": "forward"})
    base.update(params)
    return base


def test_interval_is_a_t_interval_of_the_logs():
    centre, low, high = conclusions.interval([1.1, 1.21])
    assert centre == pytest.approx(1.1 ** 1.5)
    half = T_975_1DF * (math.log(1.1) / math.sqrt(2)) / math.sqrt(2)
    assert low == pytest.approx(1.1 ** 1.5 * math.exp(-half), rel=1e-6)
    assert high == pytest.approx(1.1 ** 1.5 * math.exp(half), rel=1e-6)
    one = conclusions.interval([2.0, -1.0, float("nan")])  # only one usable value
    assert one[0] == pytest.approx(2.0) and math.isnan(one[1]) and math.isnan(one[2])
    assert all(math.isnan(v) for v in conclusions.interval([]))
    assert conclusions.ratio_with_interval([1.05]) == "+5.0 %"
    assert conclusions.signed_percent(0.9) == "-10.0 %"


def test_weight_cost_reports_the_newest_version_and_the_most_costly_case():
    rows = [_row("WeightOverhead.track_weighted_overhead_ratio_forward", 1.10, family="small"),
            _row("WeightOverhead.track_weighted_overhead_ratio_forward", 1.21,
                 family="small-seg"),
            # an older release with a different cost must not be the one reported
            _row("WeightOverhead.track_weighted_overhead_ratio_forward", 3.0, version="2.9.1")]
    (line,) = conclusions.weight_cost(pd.DataFrame(rows))
    assert "torch 2.14.1" in line and "(CPU, one thread)" in line
    expected = conclusions.ratio_with_interval([1.10, 1.21])
    assert expected.startswith("+15.4 %")
    assert f"a weight of random costs {expected} forward" in line
    assert "(most: small-seg float32 mean, +21.0 %)" in line
    assert "over 2 cases" in line and "+200" not in line


def test_weight_cost_without_paired_results_says_so():
    (line,) = conclusions.weight_cost(pd.DataFrame([_row("Core.time_forward", 0.01)]))
    assert line.startswith("No paired weighted/unweighted results")


def test_accuracy_names_the_largest_error_and_the_weight_effect():
    name = "Accuracy.track_loss_relative_error"
    rows = [_row(name, 1e-3, dtype="bfloat16", weighting="none"),
            _row(name, 4e-3, dtype="bfloat16", weighting="random", reduction="sum"),
            _row(name, 2e-4, dtype="float16", weighting="random")]
    (line,) = conclusions.accuracy(pd.DataFrame(rows))
    assert "the loss is within 2.0e-04 (float16), 4.0e-03 (bfloat16) of float64" in line
    assert "largest: bfloat16 sum, weighting random" in line
    assert "x4 the unweighted one" in line


def test_memory_bandwidth_on_a_cpu_machine():
    name = "PeakFraction.track_fraction_forward"
    rows = [_row(name, 0.04, weighting="none", unit="fraction"),
            _row(name, 0.05, weighting="random", unit="fraction"),
            _row(name, 0.10, weighting="none", family="small-seg", unit="fraction"),
            _row(name, 0.11, weighting="random", family="small-seg", unit="fraction")]
    lines = conclusions.memory_bandwidth(pd.DataFrame(rows))
    assert lines[0].startswith("No GPU memory results")
    assert "reaches 8% of the measured memory-copy bandwidth of the CPU" in lines[1]
    assert "3% to 9%" not in lines[1] and "4% to 11%" in lines[1]
    assert conclusions.ratio_with_interval([1.25, 1.1]) in lines[1]


def test_memory_bandwidth_reports_the_weights_extra_allocator_peak():
    name = "AllocatorPeak.track_peak_bytes_forward"
    mib = 2 ** 20
    rows = [_row(name, 100 * mib, machine="nvidia-h200-x1", weighting="none", unit="bytes"),
            _row(name, 103 * mib, machine="nvidia-h200-x1", weighting="random", unit="bytes")]
    lines = conclusions.memory_bandwidth(pd.DataFrame(rows))
    assert "a weight adds at most 3.0 MiB to the allocator peak" in lines[0]
    assert lines[1].startswith("No bandwidth results")


def test_ratio_bars_show_the_difference_from_one_with_intervals():
    frame = pd.DataFrame({"x": ["a", "a", "b"], "hue": ["v", "v", "v"],
                          "value": [1.1, 1.21, 0.9]})
    fig = plots.grouped_bars(frame, x="x", hue="hue", reference=1.0)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([(1.1 ** 1.5 - 1) * 100, -10.0])
    # one error bar per bar; the single-value bar has none (zero length)
    (errors,) = [c for c in ax.containers if hasattr(c, "lines") and c.lines[2]]
    segments = errors.lines[2][0].get_segments()
    lengths = [abs(s[1][1] - s[0][1]) for s in segments]
    c, lo, hi = conclusions.interval([1.1, 1.21])
    assert lengths == pytest.approx([(hi - lo) * 100, 0.0])
    assert np.isclose(ax.get_ylim()[0], min(ax.get_ylim())) and ax.get_ylim()[0] < 0


def test_history_counts_confirmed_changes_and_names_the_largest():
    df = pd.DataFrame([_row("Core.time_forward", 1.0, version=v) for v in ("2.9.1", "2.13.0")])
    changes = pd.DataFrame([
        dict(machine="cpu-x", verdict="improvement", worse_by=-0.12, unit_base="instructions",
             short_name_base="Instructions.track_instructions_forward", family="small-seg",
             layout="contiguous", reduction="mean", weighting="none",
             baseline_version="2.9.1", candidate_version="2.13.0"),
        dict(machine="cpu-x", verdict="regression", worse_by=0.08, short_name_base="Core.x",
             family="small", baseline_version="2.9.1", candidate_version="2.13.0"),
        dict(machine="cpu-x", verdict="inconclusive", worse_by=0.5, short_name_base="Core.y",
             baseline_version="2.9.1", candidate_version="2.13.0"),
        dict(machine="cpu-x", verdict="unchanged", worse_by=0.01, short_name_base="Core.z",
             baseline_version="2.9.1", candidate_version="2.13.0")])
    (line,) = conclusions.history(df, changes)
    assert line == ("**`cpu-x` (CPU, one thread)**: 2 releases measured (2.9.1, 2.13.0); "
                    "between consecutive releases, the count rule (instruction counts) "
                    "confirms 1 changes of 1 comparisons (0 worse, 1 better); the largest: "
                    "`Instructions.track_instructions_forward` (small-seg, contiguous, "
                    "mean, none) 12.0% better from 2.9.1 to 2.13.0; the time rule (every "
                    "other unit) confirms 1 changes of 3 comparisons (1 worse, 0 better), 1 "
                    "beyond the threshold but untestable; the largest: `Core.x` (small) 8.0% "
                    "worse from 2.9.1 to 2.13.0.")
    (alone,) = conclusions.history(df, changes.iloc[:0])
    assert alone.endswith("no benchmark was measured on two consecutive releases at one commit.")


def test_instructions_weight_cost_and_change_from_the_release_before():
    name = "Instructions.track_instructions_forward"
    rows = []
    for version, scale in (("2.13.0", 1.0), ("2.14.1", 0.98)):
        for family, base in (("small", 1000.0), ("small-seg", 2000.0)):
            for weighting, factor in (("none", 1.0), ("random", 1.1)):
                rows.append(_row(name, base * factor * scale, version=version, family=family,
                                 weighting=weighting, layout="contiguous",
                                 unit="instructions", params=f"{family}, {weighting}"))
    (line,) = conclusions.instructions(pd.DataFrame(rows))
    assert line.startswith("**`cpu-x` (CPU, one thread), torch 2.14.1**: a weight costs "
                           "+10.0 % [+10.0 %, +10.0 %] instructions forward (4 cases)")
    assert "against torch 2.13.0, counts moved by -2.0 % (geometric mean over 4 counts" in line
    assert conclusions.instructions(pd.DataFrame([_row("Core.time_forward", 1.0)])) == [
        "No instruction counts in these results."]
