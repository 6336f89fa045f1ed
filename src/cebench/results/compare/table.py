"""One comparison, assembled: the rows of two sides -> one row per benchmark with its
change, test and verdict, and per machine the shared shift (``compare_frames``)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd

from cebench.errors import InputError
from cebench.results import load as results_mod
from cebench.results.compare import noise, select, stats
from cebench.results.compare.verdict import VERDICTS, count_verdict, exact_change, noisy_verdict
from cebench.results.deterministic import DETERMINISTIC_UNITS
from cebench.results.rules import (COUNT_THRESHOLD, DEFAULT_ALPHA, DEFAULT_THRESHOLD, MIN_RUNS,
                                   check_settings)

#: Units compared by the count rule: values that repeat bit for bit with the same code and
#: inputs (instruction counts; accuracy against the float64 reference, from seeded inputs).
EXACT_UNITS = frozenset(DETERMINISTIC_UNITS | {"relative error"})

#: The columns of an empty comparison.
EMPTY_COLUMNS = ["machine", "benchmark", "params", "ratio", "worse_by", "verdict"]


def compare_frames(baseline: pd.DataFrame, candidate: pd.DataFrame, *,
                   threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA,
                   reference=None,
                   count_threshold: float = COUNT_THRESHOLD) -> pd.DataFrame:
    """One row per machine x benchmark x parameters present on either side.

    Columns: machine, key, benchmark, short_name_base, params, unit_base, kind, the
    parameter columns, k_base / k_cand (runs with a value), value_base / value_cand (their
    geometric mean; arithmetic for the count rule), ratio (candidate / baseline),
    ratio_low / ratio_high (the 1 - 2 level interval of the test), worse_by (+0.10 = 10 %
    worse), noise_sd (the benchmark's own run-to-run sd, log), se, t, df, p_value (one
    sided, against the threshold, in the direction of the change), p_adjusted (times the
    tests' count and 2, to read against alpha), row_min_detectable, test ('threshold-t',
    'count' or 'none'), verdict; and per machine: tau, tau_df, tau_runs, tau_source,
    k_runs_base / k_runs_cand (runs with timings), shared_change (e^D - 1, worse
    direction), shared_low / shared_high, shared_p, shared_verdict, min_detectable (the
    shared change caught with probability stats.POWER).

    ``reference``: every result of the machines (the sides included or not), whose
    replicate groups measure the noise too (see :mod:`noise`); or, per machine, their
    :func:`noise.reference_stats` computed once (a dict machine -> list).
    """
    parts = []
    machines = sorted(set(baseline["machine"]) | set(candidate["machine"]))
    for machine in machines:
        if isinstance(reference, pd.DataFrame):
            pool = reference[reference["machine"] == machine]
        else:
            pool = (reference or {}).get(machine)
        parts.append(compare_machine(baseline[baseline["machine"] == machine],
                                     candidate[candidate["machine"] == machine], machine,
                                     threshold=threshold, alpha=alpha, reference=pool,
                                     count_threshold=count_threshold))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if table.empty:
        return pd.DataFrame(columns=EMPTY_COLUMNS)
    order = {v: i for i, v in enumerate(VERDICTS)}
    table = table.sort_values(["verdict", "worse_by"], key=lambda s: s.map(order)
                              if s.name == "verdict" else -s.fillna(-np.inf))
    return table.reset_index(drop=True)


def _expm1(x: float) -> float:
    """e^x - 1 of a log change; inf past the float range."""
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


@dataclasses.dataclass(frozen=True)
class Sides:
    """The two sides of one machine's comparison, as the tests read them: per benchmark
    key its description (``info``), unit and kind; per side the log matrix (runs x keys),
    the arithmetic means (for the count rule) and, for the candidate, the keys that
    failed there (asv recorded a failure and no value)."""

    info: pd.DataFrame
    units: pd.Series
    exact: pd.Series
    time_keys: frozenset
    mat_a: pd.DataFrame
    mat_b: pd.DataFrame
    mean_a: pd.Series
    mean_b: pd.Series
    failed_b: pd.Series
    files: frozenset  # the runs that measured a benchmark of both sides
    paired: frozenset  # the benchmarks measured on both sides

    @classmethod
    def of(cls, base_rows: pd.DataFrame, cand_rows: pd.DataFrame) -> "Sides":
        info_cols = ["benchmark", "short_name", "pass", "params", "unit", "kind"]
        params = [c for c in results_mod.param_columns(base_rows)
                  if c in base_rows.columns and c not in ("key", "direction")]
        base, cand = noise.prepare(base_rows), noise.prepare(cand_rows)
        every = pd.concat([base, cand])
        info = every.drop_duplicates("key").set_index("key")[
            [c for c in info_cols + params if c in every.columns]]
        keys = list(info.index)
        units = info["unit"].astype(str).str.strip().str.lower()

        def side(rows):
            means = rows[rows["status"] == "ok"].groupby("key")["value"].mean().reindex(keys)
            failed = rows[rows["status"] == "failed"].groupby("key").size().reindex(keys)
            return (noise.log_matrix(rows).reindex(columns=keys), means,
                    (failed.fillna(0) > 0) & means.isna())

        mat_a, mean_a, _ = side(base)
        mat_b, mean_b, failed_b = side(cand)
        # a benchmark one side never measured compares nothing: its runs (e.g. a series of
        # the candidate's only) are neither a side's replicates nor kept from the reference
        paired = frozenset(k for k in keys if pd.notna(mean_a[k]) and pd.notna(mean_b[k]))
        used = every[every["key"].isin(paired)]["file"] if paired else every["file"]
        return cls(info, units, units.isin(EXACT_UNITS),
                   frozenset(every.loc[every["kind"] == "time", "key"]), mat_a, mat_b,
                   mean_a, mean_b, failed_b, frozenset(used), paired)

    @property
    def noisy(self) -> list[str]:
        return [k for k in self.info.index if not self.exact[k]]

    def runs(self, key: str) -> tuple[int, int]:
        """Runs with a value, per side."""
        if self.exact[key]:
            return int(pd.notna(self.mean_a[key])), int(pd.notna(self.mean_b[key]))
        return int(self.mat_a[key].notna().sum()), int(self.mat_b[key].notna().sum())


def _row(sides: Sides, model: noise.NoiseModel, key: str, machine: str,
         count_threshold: float) -> dict:
    """One benchmark's change, and what its test needs (se, df) or its count verdict."""
    kb, kc = sides.runs(key)
    row = dict(machine=machine, key=key, k_base=kb, k_cand=kc, delta=math.nan,
               noise_sd=math.nan, se=math.nan, t=math.nan, df=math.nan, critical=math.nan,
               p_value=math.nan, low=math.nan, high=math.nan, row_mdc=math.nan, test="none",
               test_result=None, count_verdict=None, failed=bool(sides.failed_b[key] and kb))
    if not (kb and kc):
        return row
    if sides.exact[key]:  # the count rule: the values' exact relative change
        a, b = sides.mean_a[key], sides.mean_b[key]
        direction = int(noise.worse_when(sides.units[key]))
        change = float(exact_change(a, b)) * direction
        row.update(test="count", count_verdict=count_verdict(a, b, count_threshold, direction),
                   delta=math.log1p(change) if change > -1 else -math.inf)
        return row
    row["delta"] = float(sides.mat_b[key].mean() - sides.mat_a[key].mean())
    v = model.variance.get(key, math.nan)
    if np.isfinite(v):
        row["noise_sd"] = math.sqrt(sum(model.side_variance(key, side)[0]
                                        for side in ("baseline", "candidate")) / 2)
    shifted = sides.units[key] in noise.SHIFTED_UNITS
    if min(kb, kc) >= MIN_RUNS and np.isfinite(v) and (not shifted or model.tau_df > 0):
        parts = model.noise_parts(key, kb, kc)
        if shifted:
            parts.append((model.shift_variance(kb, kc), model.tau_df))
        row.update(se=math.sqrt(sum(p for p, _ in parts)), df=stats.satterthwaite(parts),
                   test="threshold-t")
    return row


def _test(row: dict, log_thr: float, level: float) -> None:
    """Each tested row against the threshold at ``level`` (see stats.threshold_test)."""
    test = stats.threshold_test(row["delta"], row["se"], row["df"], log_thr, level)
    row.update(test_result=test, low=test.low, high=test.high, row_mdc=test.min_detectable,
               critical=test.critical, t=test.t_worse if row["delta"] >= 0 else -test.t_better,
               p_value=min(test.p_worse, test.p_better))


def _shared(rows: list[dict], sides: Sides, model: noise.NoiseModel, log_thr: float,
            level: float) -> stats.SharedShift:
    """The suite-wide shift over the timings tested on both sides (else, in words only,
    over every timing: inconclusive); per side the runs its least replicated one has."""
    tested = [r for r in rows if r["test"] == "threshold-t" and r["key"] in sides.time_keys]
    timed = tested or [r for r in rows if r["key"] in sides.time_keys
                       and np.isfinite(r["delta"])]
    runs_a = min((r["k_base"] for r in timed), default=0)
    runs_b = min((r["k_cand"] for r in timed), default=0)
    spread = [model.noise_variance(r["key"], max(r["k_base"], 1), max(r["k_cand"], 1))
              for r in timed]
    return stats.shared_shift([r["delta"] for r in timed], spread, model.tau, model.tau_df,
                              runs_a, runs_b, log_thr, level)


def _verdict(r, shared: stats.SharedShift, log_thr: float, time_keys) -> str:
    if r.failed:
        return "failed"
    if not (r.k_base and r.k_cand):
        return "missing"
    if r.test == "count":
        return r.count_verdict
    if r.test == "none":
        return "inconclusive"
    return noisy_verdict(r.test_result, r.delta, log_thr, shared.verdict == "regression",
                         r.key in time_keys)


def compare_machine(base_rows: pd.DataFrame, cand_rows: pd.DataFrame, machine: str, *,
                    threshold: float, alpha: float, reference, count_threshold: float
                    ) -> pd.DataFrame:
    """:func:`compare_frames` for one machine: the noise model over the two sides and the
    machine's replicate groups, each benchmark's row and test (Bonferroni over the tested
    ones at alpha / 2), the shared shift (at alpha / 2), the verdicts."""
    sides = Sides.of(base_rows, cand_rows)
    if isinstance(reference, pd.DataFrame):
        reference = noise.reference_stats(reference, sides.files)
    noisy = sides.noisy
    paired = [k for k in noisy if k in sides.paired]
    groups = [noise.group_stats(side, mat[paired].loc[lambda m: m.notna().any(axis=1)],
                                sides.units, sides.time_keys)
              for side, mat in (("baseline", sides.mat_a), ("candidate", sides.mat_b))]
    model = noise.fit(groups + list(reference or []), sides.units[noisy])
    log_thr = math.log1p(threshold)
    # a benchmark measured on neither side (skipped on both, e.g. too big for the device)
    # compares nothing
    rows = [r for key in sides.info.index
            if (r := _row(sides, model, key, machine, count_threshold))["k_base"]
            or r["k_cand"]]
    tested = [r for r in rows if r["test"] == "threshold-t"]
    level = alpha / 2 / max(len(tested), 1)
    for row in tested:
        _test(row, log_thr, level)
    shared = _shared(rows, sides, model, log_thr, alpha / 2)
    table = pd.DataFrame(rows)
    table["verdict"] = [_verdict(r, shared, log_thr, sides.time_keys)
                        for r in table.itertuples(index=False)]
    table["p_adjusted"] = (table["p_value"] * 2 * max(len(tested), 1)).clip(upper=1.0)
    return _assemble(table, sides, model, shared)


def _assemble(table: pd.DataFrame, sides: Sides, model: noise.NoiseModel,
              shared: stats.SharedShift) -> pd.DataFrame:
    """The rows in the units of each benchmark (values, ratio and interval, worse_by,
    minimum detectable) and the machine's suite-wide columns."""
    info = sides.info.rename(columns={"short_name": "short_name_base", "unit": "unit_base"})
    table = table.join(info, on="key")
    keys = table["key"]
    sign = table["unit_base"].map(noise.worse_when).astype(float)
    is_exact = (table["test"] == "count").to_numpy()
    geo_a = np.exp(sides.mat_a.mean().reindex(keys).to_numpy() * sign)
    geo_b = np.exp(sides.mat_b.mean().reindex(keys).to_numpy() * sign)
    table["value_base"] = np.where(is_exact, sides.mean_a.reindex(keys).to_numpy(), geo_a)
    table["value_cand"] = np.where(is_exact, sides.mean_b.reindex(keys).to_numpy(), geo_b)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        table["ratio"] = np.where(is_exact, table["value_cand"] / table["value_base"],
                                  np.exp(table["delta"] * sign))
        low, high = np.exp(table["low"] * sign), np.exp(table["high"] * sign)
    table["ratio_low"], table["ratio_high"] = np.fmin(low, high), np.fmax(low, high)
    table["worse_by"] = [_expm1(d) for d in table["delta"]]
    table["row_min_detectable"] = [_expm1(d) for d in table["row_mdc"]]
    table = table.drop(columns=["count_verdict", "test_result", "failed", "low", "high",
                                "row_mdc"])
    test = shared.test
    return table.assign(
        tau=model.tau, tau_df=model.tau_df, tau_runs=model.tau_runs,
        tau_source=_source(model), k_runs_base=shared.runs_base, k_runs_cand=shared.runs_cand,
        shared_change=_expm1(shared.change),
        shared_low=_expm1(test.low) if test else math.nan,
        shared_high=_expm1(test.high) if test else math.nan,
        shared_p=min(test.p_worse, test.p_better) if test else math.nan,
        shared_t=(test.t_worse if shared.change >= 0 else -test.t_better) if test else math.nan,
        shared_critical=test.critical if test else math.nan,
        shared_verdict=shared.verdict,
        min_detectable=_expm1(test.min_detectable) if test else math.nan)


def _source(model: noise.NoiseModel) -> str:
    """Where the noise was measured, in words."""
    others = [g for g in model.groups if g not in ("baseline", "candidate")]
    text = "these runs"
    if others:
        text += f" and {len(others)} replicate group(s) of this machine: " + "; ".join(others)
    return text


def compare_specs(df: pd.DataFrame, baseline: select.Spec, candidate: select.Spec, *,
                  threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA,
                  everything: pd.DataFrame | None = None,
                  count_threshold: float = COUNT_THRESHOLD) -> tuple[pd.DataFrame, list[str]]:
    """compare_frames of the two sides' runs, and notes on which runs were taken.

    ``everything``: all results of the machines (default ``df``), whose replicate runs
    measure the machines' noise too. InputError when no benchmark has both sides, or when
    a run is on both sides.
    """
    check_settings(threshold, alpha, count_threshold)
    base_df, cand_df = baseline.select(df, "baseline"), candidate.select(df, "candidate")
    base_df, cand_df, notes = select.choose_commits(base_df, cand_df, baseline, candidate)
    shared = set(base_df["file"]) & set(cand_df["file"])
    if shared:
        raise InputError(f"baseline {baseline.text!r} and candidate {candidate.text!r} both "
                         f"take {len(shared)} run(s) (e.g. {sorted(shared)[0]}): narrow them")
    pool, dropped = select.drop_duplicate_runs(df if everything is None else everything)
    if dropped:
        notes.append(f"{len(dropped)} results file(s) are copies of another run and count "
                     f"once: {', '.join(Path(f).name for f in dropped)}")
        base_df = base_df[~base_df["file"].isin(dropped)]
        cand_df = cand_df[~cand_df["file"].isin(dropped)]
    table = compare_frames(base_df, cand_df, threshold=threshold, alpha=alpha,
                           reference=pool, count_threshold=count_threshold)
    if not (table["verdict"] != "missing").any():
        raise InputError(f"no benchmark has results on both sides ({baseline.text} and "
                         f"{candidate.text}) on a common machine")
    return table, notes


def compare_versions(df: pd.DataFrame, *, threshold: float = DEFAULT_THRESHOLD,
                     alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """Every newer torch version against the oldest, per machine, per benchmark at the
    newest commit both measured (all replicate runs there; see select.choose_commits).

    The frames of :func:`compare_frames`, concatenated, with ``baseline_version`` and
    ``candidate_version`` columns; empty when no machine has two torch versions.
    """
    parts = []
    df, _ = select.drop_duplicate_runs(df)
    for machine, rows in df.groupby("machine"):
        versions = results_mod.torch_versions(rows)
        for version in versions[1:]:
            a = select.Spec(f"torch={versions[0]}", torch=versions[0])
            b = select.Spec(f"torch={version}", torch=version)
            base, cand, _ = select.choose_commits(a.select(rows, "baseline"),
                                                  b.select(rows, "candidate"), a, b)
            table = compare_frames(base, cand, threshold=threshold, alpha=alpha,
                                   reference=rows)
            parts.append(table.assign(baseline_version=versions[0], candidate_version=version))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=EMPTY_COLUMNS + ["baseline_version", "candidate_version"])
