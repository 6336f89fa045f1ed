"""The computed conclusion each analysis notebook opens with: a few sentences from the data.

    lines = conclusions.weight_cost(df)        # df: cebench.results.load.load(...)
    lines = conclusions.accuracy(df)
    lines = conclusions.memory_bandwidth(df)

Each function returns Markdown lines (one per machine, or one saying what is absent) for
the newest torch version each machine measured, from the runs the notebook charts
(:func:`cebench.results.load.latest_runs`). Intervals are 95 % t-intervals of the
geometric mean over the cases of a group (:func:`interval`): how much the cases of one
group differ, not how noisy one case is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from cebench.results import load as results

LEVEL = 0.95
PASS_WORDS = {"forward": "forward", "forward_backward": "forward+backward"}


def interval(values, level: float = LEVEL) -> tuple[float, float, float]:
    """``(geometric mean, low, high)`` of positive values: a t-interval of their logs.

    One value gives no interval (low and high are NaN); no finite positive value gives
    NaN everywhere."""
    logs = np.log(np.asarray([v for v in values if np.isfinite(v) and v > 0], dtype=float))
    if logs.size == 0:
        return math.nan, math.nan, math.nan
    centre = float(logs.mean())
    if logs.size == 1:
        return math.exp(centre), math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, logs.size - 1) * logs.std(ddof=1)
                 / math.sqrt(logs.size))
    return math.exp(centre), math.exp(centre - half), math.exp(centre + half)


def signed_percent(ratio: float) -> str:
    """A ratio as a signed change: 1.031 -> '+3.1 %'."""
    if not np.isfinite(ratio):
        return "?"
    return f"{(ratio - 1) * 100:+.1f} %"


def ratio_with_interval(values) -> str:
    """'+3.1 % [+1.2 %, +5.0 %]' (no bracket for one value)."""
    centre, low, high = interval(values)
    text = signed_percent(centre)
    if np.isfinite(low):
        text += f" [{signed_percent(low)}, {signed_percent(high)}]"
    return text


def _newest(rows: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The newest torch version among ``rows`` and its rows."""
    version = max(rows["torch_version"].dropna().unique(), key=results.version_key)
    return version, rows[rows["torch_version"] == version]


def _where(machine: str) -> str:
    return f"`{machine}`" + (" (CPU, one thread)" if machine.startswith("cpu-") else "")


def _case_words(row, columns) -> str:
    return " ".join(str(row[c]) for c in columns if c in row and isinstance(row[c], str))


def weight_cost(df: pd.DataFrame) -> list[str]:
    """What a weight costs: the paired weighted/unweighted ratio (``WeightOverhead``) per
    machine, newest torch version, weighting and pass, with the group's most costly case."""
    paired = results.ok(results.latest_runs(df), "WeightOverhead.") if len(df) else df
    if paired.empty:
        return ["No paired weighted/unweighted results (`WeightOverhead`): run the suite to "
                "measure what a weight costs."]
    lines = []
    for machine, rows in paired.groupby("machine"):
        version, rows = _newest(rows)
        parts = []
        for weighting, by_weight in rows.groupby("weighting"):
            per_pass = []
            for pass_, part in by_weight.groupby("pass"):
                # one value per case: the geometric mean over its replicate runs
                per_case = part.groupby(["family", "dtype", "reduction"])["value"].agg(
                    results.geometric_mean)
                worst = per_case.idxmax()
                per_pass.append(
                    f"{ratio_with_interval(per_case)} {PASS_WORDS.get(pass_, pass_)} "
                    f"(most: {' '.join(worst)}, {signed_percent(per_case.max())})")
            parts.append(f"a weight of {weighting} costs " + "; ".join(per_pass))
        n_cases = rows.groupby(["family", "dtype", "reduction"]).ngroups
        lines.append(
            f"**{_where(machine)}, torch {version}**: " + "; ".join(parts)
            + f". Geometric mean of the paired weighted/unweighted time over {n_cases} "
            f"cases (family x dtype x reduction), {LEVEL:.0%} interval across cases.")
    return lines


def accuracy(df: pd.DataFrame) -> list[str]:
    """The largest relative error against float64 per machine and newest torch version,
    per dtype, for the loss and the gradient, and whether a weight makes it worse."""
    rows = results.ok(results.latest_runs(df), "Accuracy.") if len(df) else df
    if rows.empty:
        return ["No accuracy results (`Accuracy`): run the suite to measure them."]
    lines = []
    for machine, part in rows.groupby("machine"):
        version, part = _newest(part)
        sentences = []
        for name, quantity in part.groupby("short_name"):
            what = "gradient" if "grad" in name else "loss"
            worst = quantity.groupby("dtype")["value"].max().sort_values()
            top = quantity.loc[quantity["value"].idxmax()]
            weighted = quantity[quantity["weighting"] != "none"]["value"].max()
            unweighted = quantity[quantity["weighting"] == "none"]["value"].max()
            effect = ""
            if np.isfinite(weighted) and np.isfinite(unweighted) and unweighted > 0:
                effect = (f"; with a weight the largest error is x{weighted / unweighted:.2g} "
                          "the unweighted one")
            sentences.append(
                f"the {what} is within " + ", ".join(f"{v:.1e} ({d})" for d, v in worst.items())
                + f" of float64 (largest: {_case_words(top, ['dtype', 'reduction'])}, "
                f"weighting {top['weighting']}){effect}")
        lines.append(f"**{_where(machine)}, torch {version}**: " + "; ".join(sentences) + ".")
    return lines


def memory_bandwidth(df: pd.DataFrame) -> list[str]:
    """GPU memory peaks of a weight (weighted minus unweighted allocator peak) where measured,
    and the achieved fraction of the measured copy bandwidth, per machine."""
    if df.empty:
        return ["No results."]
    latest = results.latest_runs(df)
    lines = []
    memory = results.ok(latest, "AllocatorPeak.")
    memory = memory[memory["unit"] == "bytes"]
    if memory.empty:
        lines.append("No GPU memory results: no machine in these results ran the memory "
                     "benchmarks on CUDA.")
    for machine, rows in memory.groupby("machine"):
        version, rows = _newest(rows)
        keys = [c for c in ("short_name", "family", "dtype") if c in rows]
        table = rows.pivot_table(index=keys, columns="weighting", values="value",
                                 aggfunc="median")
        if "none" in table and "random" in table:
            extra = (table["random"] - table["none"]) / 2**20
            top = extra.idxmax()
            lines.append(f"**{_where(machine)}, torch {version}**: a weight adds at most "
                         f"{extra.max():.1f} MiB to the allocator peak "
                         f"({' '.join(map(str, top))}; median over cases "
                         f"{extra.median():.2f} MiB).")
    fraction = results.ok(latest, "PeakFraction.")
    if fraction.empty:
        lines.append("No bandwidth results (`PeakFraction`).")
    for machine, rows in fraction.groupby("machine"):
        version, rows = _newest(rows)
        peak = "measured memory-copy bandwidth of the CPU" if machine.startswith("cpu-") \
            else "measured device copy bandwidth"
        sentence = (f"**{_where(machine)}, torch {version}**: cross entropy reaches "
                    f"{rows['value'].median():.0%} of the {peak} (median over "
                    f"{len(rows)} cases and passes; {rows['value'].min():.0%} to "
                    f"{rows['value'].max():.0%})")
        keys = [c for c in ("short_name", "family", "dtype") if c in rows]
        table = rows.pivot_table(index=keys, columns="weighting", values="value",
                                 aggfunc="median")
        if "none" in table and "random" in table:
            sentence += ("; a random weight changes the fraction reached by "
                         f"{ratio_with_interval(table['random'] / table['none'])}")
        lines.append(sentence + ".")
    return lines


def history(df: pd.DataFrame, changes: pd.DataFrame) -> list[str]:
    """Across releases: how many releases each machine measured and, per rule, how many
    changes between consecutive releases it confirmed (``changes``:
    :func:`cebench.publish.verdicts.release_changes`), with the largest of them: the count
    rule judges instruction counts, the time rule every other unit."""
    from cebench.results import releases
    from cebench.results.deterministic import DETERMINISTIC_UNITS

    if df.empty:
        return ["No results."]
    lines = []
    for machine, rows in df.groupby("machine"):
        versions = releases.release_order(rows["torch_version"].dropna())
        here = changes[changes["machine"] == machine] if len(changes) else changes
        sentence = (f"**{_where(machine)}**: {len(versions)} releases measured "
                    f"({', '.join(versions)})")
        if here.empty:
            lines.append(sentence + "; no benchmark was measured on two consecutive releases "
                         "at one commit.")
            continue
        here = here[here["verdict"] != "missing"]
        unit = here["unit_base"] if "unit_base" in here else pd.Series("", index=here.index)
        count = unit.isin(DETERMINISTIC_UNITS)
        parts = [_rule_part(name, part) for name, part in
                 (("count rule (instruction counts)", here[count]),
                  ("time rule (every other unit)", here[~count])) if len(part)]
        lines.append(sentence + "; between consecutive releases, " + "; ".join(parts) + ".")
    return lines


def _rule_part(name: str, rows: pd.DataFrame) -> str:
    confirmed = rows[rows["verdict"].isin(["regression", "shared", "improvement"])]
    worse = int(confirmed["verdict"].isin(["regression", "shared"]).sum())
    text = (f"the {name} confirms {len(confirmed)} changes of {len(rows)} comparisons "
            f"({worse} worse, {len(confirmed) - worse} better)")
    undecided = int((rows["verdict"] == "inconclusive").sum())
    if undecided:
        text += f", {undecided} beyond the threshold but untestable"
    if len(confirmed):
        top = confirmed.loc[confirmed["worse_by"].abs().idxmax()]
        params = ", ".join(str(top[c]) for c in ("family", "layout", "dtype", "reduction",
                                                 "weighting")
                           if c in top and isinstance(top[c], str))
        text += (f"; the largest: `{top['short_name_base']}` ({params}) "
                 f"{abs(top['worse_by']):.1%} {'worse' if top['worse_by'] > 0 else 'better'} "
                 f"from {top['baseline_version']} to {top['candidate_version']}")
    return text


def instructions(df: pd.DataFrame) -> list[str]:
    """What a weight costs in instructions per call (newest torch version of each machine),
    and how the counts moved from the release before it."""
    latest = results.latest_runs(df) if len(df) else df
    counts = results.instruction_counts(latest) if len(latest) else latest
    if counts.empty:
        return ["No instruction counts in these results."]
    ratios = results.weighted_instruction_ratio(latest)
    lines = []
    for machine, rows in counts.groupby("machine"):
        version, newest = _newest(rows)
        mine = ratios[(ratios["machine"] == machine) & (ratios["torch_version"] == version)]
        parts = [f"a weight costs {ratio_with_interval(part['ratio'])} instructions "
                 f"{PASS_WORDS.get(pass_, pass_)}"
                 for pass_, part in mine.groupby("pass")]
        sentence = f"**{_where(machine)}, torch {version}**: " + ("; ".join(parts) or
                                                                 "no weighted/unweighted pairs")
        sentence += f" ({newest['case'].nunique()} cases)"
        older = [v for v in rows["torch_version"].dropna().unique()
                 if results.version_key(v) < results.version_key(version)]
        if older:
            before = max(older, key=results.version_key)
            keys = ["case", "pass"]
            pair = (newest.groupby(keys)["value"].median().to_frame("new")
                    .join(rows[rows["torch_version"] == before].groupby(keys)["value"]
                          .median().to_frame("old"), how="inner"))
            if len(pair):
                change = pair["new"] / pair["old"]
                worst = (change - 1).abs().idxmax()
                sentence += (f"; against torch {before}, counts moved by "
                             f"{signed_percent(results.geometric_mean(change))} (geometric "
                             f"mean over {len(pair)} counts; most: {worst[0]} {worst[1]}, "
                             f"{signed_percent(change[worst])})")
        lines.append(sentence + ".")
    return lines


# --- the front page's answers: tables, each with the noise it was measured against ---------


def replicate_noise(rows: pd.DataFrame) -> tuple[float, int]:
    """``(median sd, groups)``: the run-to-run sd (log) of each benchmark x parameters
    measured in two or more runs of one torch version at one commit, median over them;
    NaN and 0 when nothing was measured twice."""
    rows = rows[rows["value"] > 0] if len(rows) else rows
    if rows.empty:
        return math.nan, 0
    logs = rows.assign(log=np.log(rows["value"].astype(float)))
    keys = ["machine", "torch_version", "commit", "benchmark", "params"]
    per = logs.groupby(keys)["log"].agg(["std", "count"])
    per = per[per["count"] >= 2]
    if per.empty:
        return math.nan, 0
    return float(per["std"].median()), len(per)


def weight_cost_table(df: pd.DataFrame) -> list[dict]:
    """What a weight costs, per machine (newest torch version that measured it): the paired
    weighted/unweighted time (``WeightOverhead``) per family x dtype and pass, geometric
    mean over reductions and weight values with its 95 % interval across them, and the
    paired ratio's run-to-run noise from replicate runs. One dict per machine: machine,
    version, rows (family, dtype, {pass: text}), passes, noise_sd, noise_groups, cases."""
    paired = results.ok(df, "WeightOverhead.") if len(df) else df
    out = []
    if paired.empty:
        return out
    noise_sd, groups = replicate_noise(paired)
    for machine, rows in results.latest_runs(paired).groupby("machine"):
        version, rows = _newest(rows)
        passes = [p for p in PASS_WORDS if p in set(rows["pass"])]
        table = []
        for (family, dtype), part in rows.groupby(["family", "dtype"]):
            cells = {}
            for pass_, by_pass in part.groupby("pass"):
                per_case = by_pass.groupby(["reduction", "weighting"])["value"].agg(
                    results.geometric_mean)
                cells[pass_] = ratio_with_interval(per_case)
            table.append((family, dtype, cells))
        out.append(dict(machine=machine, version=version, rows=table, passes=passes,
                        noise_sd=noise_sd, noise_groups=groups,
                        cases=rows.groupby(["family", "dtype", "reduction", "weighting"]).ngroups))
    return out


def instruction_cost_table(df: pd.DataFrame) -> list[dict]:
    """What a weight costs in instructions per call, per machine (newest torch version
    that counted them): weighted / unweighted per family x layout and pass, geometric mean
    over reductions. One dict per machine: machine, version, rows (family, layout,
    {pass: text}), passes."""
    counts = results.instruction_counts(df) if len(df) else df
    if counts.empty:
        return []
    out = []
    for machine, rows in counts.groupby("machine"):
        version, _ = _newest(rows)
        ratio = results.weighted_instruction_ratio(rows[rows["torch_version"] == version])
        if ratio.empty:
            continue
        passes = [p for p in PASS_WORDS if p in set(ratio["pass"])]
        table = []
        for (family, layout), part in ratio.groupby(["family", "layout"]):
            cells = {pass_: signed_percent(results.geometric_mean(p["ratio"]))
                     for pass_, p in part.groupby("pass")}
            table.append((family, layout, cells))
        out.append(dict(machine=machine, version=version, rows=table, passes=passes))
    return out


def count_repeatability(df: pd.DataFrame) -> dict[str, tuple[float, int]]:
    """machine -> (largest relative difference, counts) between instruction counts of one
    case, pass and torch version counted in separate runs (e.g. two grid runs)."""
    counts = results.instruction_counts(df) if len(df) else df
    out = {}
    for machine, rows in (counts.groupby("machine") if len(counts) else []):
        spread = rows.groupby(["torch_version", "benchmark", "params"])["value"].agg(
            ["min", "max", "count"])
        spread = spread[spread["count"] >= 2]
        if len(spread):
            out[machine] = (float((spread["max"] / spread["min"] - 1).max()), len(spread))
    return out
