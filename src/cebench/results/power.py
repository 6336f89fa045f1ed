"""How often the time rule cries wolf, and what it catches: measured on real replicate runs.

    table = power.evaluate(df, draws=40, seed=1)

A **series** is a replicate group of one machine: four or more runs of one environment at
one commit (:func:`series_of`), the same code measured again and again. Comparisons are
built from it the way :func:`cebench.results.compare.compare_frames` would meet them:

* **A/A** -- two disjoint random subsets of its runs, k_base vs k_cand (:data:`SPLITS`):
  nothing changed, so exit 1 is a false alarm; and **A/A apart** -- two consecutive blocks
  of runs in the order they were recorded (the sides measured at different times, as a
  new run against older results is);
* **shared x f** -- the same, with every ``time_`` value of the candidate multiplied by f:
  the whole suite slower;
* **one x f** -- one ``time_`` benchmark slower, the target drawn from ten benchmarks
  spread over the range of run-to-run noise;
* **half faster** -- half the timings three times faster, the rest unchanged: no
  regression, so exit 1 is a false alarm;
* **calibration** -- an A/A comparison whose printed minimum detectable shared change is
  m, run again with every timing of the candidate x (1 + m): the promise is that it is
  caught (:data:`cebench.results.rules.POWER`) of the time.

The machine's other replicate groups measure the noise, as in a real comparison, and so do
the series' runs that neither side took (replicate runs of the same machine). The time
rule reads each result's value only (its median), so a slowdown multiplies the value.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from cebench.results.compare import (MIN_RUNS, compare_frames, noise, outcome, replicate_number,
                                     suites)

#: k_base x k_cand runs per side.
SPLITS = ((1, 1), (1, 2), (2, 1), (2, 2), (3, 3), (4, 4), (6, 6))
SHARED_FACTORS = (1.25, 1.5, 2.0, 3.0)
ONE_FACTORS = (1.5, 2.0, 3.0, 5.0)
#: How many benchmarks the single-benchmark slowdowns target, spread over the noise range.
TARGETS = 10
EXIT = {"ok": 0, "regression": 1, "inconclusive": 3}


@dataclasses.dataclass(frozen=True)
class Series:
    """One replicate group: its rows by run, its time_ keys, the noise reference."""

    name: str
    machine: str
    runs: dict            # file -> rows, in the order the runs were recorded
    time_keys: tuple      # keys of its time_ benchmarks measured in every run
    reference: list       # noise.GroupStats of the machine's other replicate groups
    targets: tuple        # time keys spread over the noise range (quietest first)


def series_of(df: pd.DataFrame, min_runs: int = 4) -> list[Series]:
    """Every replicate group of ``df`` with at least ``min_runs`` runs that carry timings."""
    df = noise.prepare(df)
    out = []
    for (machine, version, commit, env), g in df.groupby(
            ["machine", "torch_version", "commit", "env_name"], dropna=False, sort=True):
        t = g[(g["kind"] == "time") & (g["status"] == "ok")]
        files = sorted(t["file"].unique())
        if len(files) < min_runs:
            continue
        present = t.groupby("key")["file"].nunique()
        time_keys = tuple(sorted(present.index[present == len(files)]))
        if not time_keys:
            continue
        machine_rows = df[df["machine"] == machine]
        reference = noise.reference_stats(machine_rows, set(g["file"]))
        files = sorted(files, key=replicate_number)  # the order they were recorded in
        runs = {f: g[g["file"] == f] for f in files}
        targets = _targets(runs, time_keys)
        out.append(Series(f"{len(files)} runs of torch {version} at {str(commit)[:8]} on "
                          f"{machine}", machine, runs, time_keys, reference, targets))
    return out


def _targets(runs: dict, time_keys) -> tuple:
    """TARGETS time keys at evenly spaced quantiles of their run-to-run sd (log)."""
    y = pd.concat(runs.values())
    y = y[y["key"].isin(time_keys)]
    sd = np.log(y.pivot_table(index="file", columns="key", values="value")).std()
    ordered = list(sd.sort_values().index)
    picks = np.linspace(0, len(ordered) - 1, min(TARGETS, len(ordered))).round().astype(int)
    return tuple(dict.fromkeys(ordered[i] for i in picks))


def slow_down(rows: pd.DataFrame, keys, factor: float) -> pd.DataFrame:
    """``rows`` with the values of ``keys`` multiplied by ``factor``."""
    hit = rows["key"].isin(set(keys))
    return rows.assign(value=rows["value"].where(~hit, rows["value"] * factor))


def _compare(series: Series, base_files, cand_files, slowed=(), factor: float = 1.0):
    base = pd.concat([series.runs[f] for f in base_files])
    cand = pd.concat([series.runs[f] for f in cand_files])
    if slowed:
        cand = slow_down(cand, slowed, factor)
    reference = list(series.reference)
    rest = [f for f in series.runs if f not in set(base_files) | set(cand_files)]
    if len(rest) >= 2:  # the series' other runs: replicate runs of this machine too
        reference += noise.reference_stats(pd.concat([series.runs[f] for f in rest]))
    return compare_frames(base.assign(env_name="baseline"), cand.assign(env_name="candidate"),
                          reference={series.machine: reference})


def _record(series: Series, scenario: str, split, table, slowed=(), factor=math.nan,
            target=None) -> dict:
    state = outcome(table)
    flagged = set(table.loc[table["verdict"].isin(["regression", "shared"]), "key"])
    suite = suites(table)[0] if len(table) else None
    row_mdc = math.nan
    if target is not None:
        match = table.loc[table["key"] == target, "row_min_detectable"]
        row_mdc = float(match.iloc[0]) if len(match) else math.nan
    return {"machine": series.machine, "series": series.name, "scenario": scenario, "k_base": split[0],
            "k_cand": split[1], "factor": factor, "target": target, "outcome": state,
            "exit": EXIT[state], "flags": len(flagged),
            "false_flags": len(flagged - set(slowed)), "hits": len(flagged & set(slowed)),
            "slowed": len(slowed),
            "shared_verdict": suite.shared_verdict if suite else "none",
            "min_detectable": suite.min_detectable if suite else math.nan,
            "row_min_detectable": row_mdc}


def evaluate(df: pd.DataFrame, *, draws: int = 40, aa_draws: int | None = None, seed: int = 1,
             splits=SPLITS, shared_factors=SHARED_FACTORS, one_factors=ONE_FACTORS,
             series: list[Series] | None = None, progress=None) -> pd.DataFrame:
    """One row per comparison (see the module doc): machine, series, scenario, k_base,
    k_cand, factor, target, outcome, exit, flags, false_flags, hits, slowed,
    shared_verdict, min_detectable, row_min_detectable.

    ``draws`` random splits per series, split and slowdown; ``aa_draws`` (default 2.5 x
    draws) for the A/A scenarios, whose rare false alarms need more. A split with a side
    under :data:`MIN_RUNS` cannot be tested (every comparison exits 3): three draws show
    it."""
    rng = np.random.default_rng(seed)
    aa_draws = aa_draws if aa_draws is not None else int(2.5 * draws)
    out = []
    for s in series if series is not None else series_of(df):
        files = list(s.runs)
        for split in splits:
            if sum(split) > len(files):
                continue
            few = min(split) < MIN_RUNS
            for _ in range(min(aa_draws, 3) if few else aa_draws):
                perm = list(rng.permutation(files))
                out.append(_record(s, "A/A", split, _compare(s, perm[:split[0]],
                                                             perm[split[0]:sum(split)])))
                start = int(rng.integers(len(files) - sum(split) + 1))
                block = files[start:start + sum(split)]
                out.append(_record(s, "A/A apart", split,
                                   _compare(s, block[:split[0]], block[split[0]:])))
            for _ in range(min(draws, 3) if few else draws):
                perm = list(rng.permutation(files))
                base, cand = perm[:split[0]], perm[split[0]:sum(split)]
                aa = _record(s, "A/A", split, _compare(s, base, cand))
                mdc = aa["min_detectable"]
                if np.isfinite(mdc):
                    table = _compare(s, base, cand, s.time_keys, 1 + mdc)
                    out.append(_record(s, "calibration", split, table, s.time_keys, 1 + mdc))
                for f in shared_factors:
                    out.append(_record(s, "shared", split,
                                       _compare(s, base, cand, s.time_keys, f), s.time_keys, f))
                for f in one_factors:
                    target = s.targets[int(rng.integers(len(s.targets)))]
                    out.append(_record(s, "one", split, _compare(s, base, cand, (target,), f),
                                       (target,), f, target))
                half = tuple(rng.choice(s.time_keys, size=len(s.time_keys) // 2,
                                        replace=False))
                out.append(_record(s, "half faster", split,
                                   _compare(s, base, cand, half, 1 / 3)))
            if progress:
                progress(f"{s.name}: {split[0]} v {split[1]} done")
    return pd.DataFrame(out)


# --- what the trials say -----------------------------------------------------------------


def _share(x: pd.Series) -> float:
    return float(x.mean()) if len(x) else math.nan


def summarise(rows: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The tables of a harness run, each by runs per side (``split``, 'k v k'):

    * ``aa``, ``apart``: comparisons, and the share that exit 0, 1 and 3 (exit 1 is a false
      alarm), for random sides and for sides recorded apart;
    * ``shared``: per factor, the share of comparisons that exit 1;
    * ``one``: per factor, the share where the slowed benchmark is flagged;
    * ``half``: the share of 'half faster' comparisons that exit 1 (false alarms);
    * ``calibration``: the median printed minimum detectable shared change, and the share
      of comparisons caught when the candidate is slower by exactly that much.
    """
    rows = rows.assign(split=rows["k_base"].astype(str) + " v " + rows["k_cand"].astype(str))
    order = list(dict.fromkeys(f"{a} v {b}" for a, b in SPLITS))
    by = lambda frame: frame.groupby("split", sort=False)  # noqa: E731
    out = {}
    for name, scenario in (("aa", "A/A"), ("apart", "A/A apart")):
        part = rows[rows["scenario"] == scenario]
        out[name] = by(part).agg(comparisons=("exit", "size"),
                                 exit_0=("exit", lambda e: _share(e == 0)),
                                 exit_1=("exit", lambda e: _share(e == 1)),
                                 exit_3=("exit", lambda e: _share(e == 3)))
    shared = rows[rows["scenario"] == "shared"]
    out["shared"] = shared.pivot_table(index="split", columns="factor", values="exit",
                                       aggfunc=lambda e: _share(e == 1))
    one = rows[rows["scenario"] == "one"]
    out["one"] = one.pivot_table(index="split", columns="factor", values="hits",
                                 aggfunc=lambda h: _share(h > 0))
    half = rows[rows["scenario"] == "half faster"]
    out["half"] = by(half).agg(comparisons=("exit", "size"),
                               exit_1=("exit", lambda e: _share(e == 1)))
    cal = rows[rows["scenario"] == "calibration"]
    out["calibration"] = by(cal).agg(comparisons=("exit", "size"),
                                     median_min_detectable=("factor",
                                                            lambda f: float(np.median(f)) - 1),
                                     caught=("exit", lambda e: _share(e == 1)))
    return {name: t.reindex([s for s in order if s in t.index]) for name, t in out.items()}


def _pct(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.0%}" if x >= 0.01 or x == 0 \
        else f"{x:.1%}"


def markdown(tables: dict[str, pd.DataFrame]) -> str:
    """The tables of :func:`summarise` as Markdown."""
    parts = []
    for name, title in (("aa", "**A/A**: the same code on both sides, runs drawn at random"),
                        ("apart", "**A/A, sides recorded apart**: two consecutive blocks of "
                                  "runs")):
        parts += [title + ":", "",
                  "| runs per side | comparisons | exit 0 | exit 1 (false alarm) | exit 3 |",
                  "|---|---:|---:|---:|---:|"]
        parts += [f"| {split} | {int(r.comparisons)} | {_pct(r.exit_0)} | {_pct(r.exit_1)} | "
                  f"{_pct(r.exit_3)} |" for split, r in tables[name].iterrows()]
        parts.append("")
    for name, title in (("shared", "**Every timing slower** by the factor: share that exit 1"),
                        ("one", "**One benchmark slower** by the factor: share where it is "
                                "flagged")):
        t = tables[name]
        head = "| runs per side | " + " | ".join(f"×{f:g}" for f in t.columns) + " |"
        rule = "|---|" + "---:|" * len(t.columns)
        body = [f"| {s} | " + " | ".join(_pct(v) for v in r) + " |" for s, r in t.iterrows()]
        parts += [title + ":", "", head, rule, *body, ""]
    parts += ["**Half the timings three times faster**, the rest unchanged: share that exit "
              "1 (false alarms):", "", "| runs per side | comparisons | exit 1 |",
              "|---|---:|---:|"]
    parts += [f"| {s} | {int(r.comparisons)} | {_pct(r.exit_1)} |"
              for s, r in tables["half"].iterrows()]
    parts += ["", "**Calibration**: the candidate slower by exactly the printed minimum "
              "detectable shared change: share caught (exit 1):", "",
              "| runs per side | comparisons | median printed minimum | caught |",
              "|---|---:|---:|---:|"]
    parts += [f"| {s} | {int(r.comparisons)} | {_pct(r.median_min_detectable)} | "
              f"{_pct(r.caught)} |" for s, r in tables["calibration"].iterrows()]
    return "\n".join(parts) + "\n"
