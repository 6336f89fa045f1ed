"""The noise model: how much repeated runs of the same code differ on one machine.

Values are compared as y = log(value), signed so that larger is worse. For run r of a
replicate group g (the runs of one environment at one commit; each side of a comparison is
a group too) and benchmark b:

    y[g, r, b] = m[g, b] + s[g, r] + e[g, r, b],    var(e[g, r, b]) = level[g] * v[b]

* ``s``, the **run shift**: the whole machine faster or slower during run r, estimated as
  the median over the run's ``time_`` benchmarks of its residuals from the group's means
  (:func:`run_shifts`). It applies to units that move with the machine's speed
  (:data:`SHIFTED_UNITS`). ``tau`` pools the run shifts of every group
  (:func:`pooled_tau`).
* ``v[b]``, the benchmark's **own noise**, and ``level[g]``, how noisy the machine was
  during group g (its load), fitted together to the residual sums of squares of every
  group (:func:`fit_levels`), per unit. Benchmarks differ a lot (on a loaded 2-core CPU the
  quietest is ten times quieter than the loudest), so each keeps its own variance, pooled
  over every replicate group of the machine rather than over the other benchmarks.
* ``v[b]`` is then shrunk towards its unit's common value (:func:`shrink_variances`,
  Smyth 2004), the prior's weight capped at the median benchmark's own degrees of freedom
  so that the common value never outweighs a benchmark's own replicates.
* A benchmark's noise also changes from one group to the next beyond the group's level
  (one that switches between a fast and a slow mode in one session and not in the next).
  How much is measured over every (group, benchmark) cell, as the prior degrees of freedom
  ``d0`` of each cell's own variance around ``level[g] v[b]`` (:func:`interaction_df`).
  Each side's variance is then the empirical-Bayes mix of the fit and its own residuals,
  (d0 level v + d s^2) / (d0 + d), with d0 + d degrees of freedom
  (:meth:`NoiseModel.side_variance`): where the machine's benchmarks change their noise a
  lot between sessions, d0 is small and a test's critical value grows with it.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd

from cebench.results.compare import stats
from cebench.results.compare.select import replicate_number

#: unit -> +1 when a larger value is worse, -1 when a smaller one is; other units
#: (versions, device counts, throttle flags) are not compared.
WORSE_WHEN = {
    "seconds": +1,
    "bytes": +1,
    "relative error": +1,
    "ratio": +1,
    "instructions": +1,
    "bytes/s": -1,
    "fraction": -1,
}

#: Units whose values move with the whole machine's speed during a run: the run shift
#: applies to them. Self-normalised units (the paired weighted/unweighted 'ratio') and
#: memory do not move with it.
SHIFTED_UNITS = frozenset({"seconds", "bytes/s", "fraction"})


def worse_when(unit) -> int:
    return WORSE_WHEN.get(str(unit).strip().lower(), 0) if unit else 0


def log_matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """Runs (files) x benchmark keys, y = log(value) signed worse-is-larger; only
    measured, positive values (a log needs one)."""
    usable = rows[(rows["status"] == "ok") & (rows["value"] > 0)]
    y = np.log(usable["value"]) * usable["direction"]
    return usable.assign(y=y).pivot_table(index="file", columns="key", values="y",
                                          aggfunc="mean", dropna=False)


#: Fewest ``time_`` benchmarks a run shift is the median over: the shift of a run is what
#: its benchmarks share, and one or two benchmarks' own noise would pass for it.
MIN_SHIFT_BENCHMARKS = 5


def run_shifts(matrix: pd.DataFrame, time_keys) -> pd.Series:
    """The median residual (from the group's means) of each run's ``time_`` benchmarks
    that the group measured more than once; NaN for a run with fewer than
    :data:`MIN_SHIFT_BENCHMARKS` of them."""
    cols = np.array([k in time_keys for k in matrix.columns], dtype=bool)
    y = matrix.to_numpy(dtype=float)[:, cols]
    y = y[:, (~np.isnan(y)).sum(axis=0) >= 2]
    if y.size == 0:
        return pd.Series(np.nan, index=matrix.index)
    enough = (~np.isnan(y)).sum(axis=1) >= MIN_SHIFT_BENCHMARKS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN runs: NaN, as documented
        shifts = np.nanmedian(y - np.nanmean(y, axis=0), axis=1)
    return pd.Series(np.where(enough, shifts, np.nan), index=matrix.index)


def pooled_tau(shift_sets) -> tuple[float, float]:
    """tau = sqrt(sum over groups of sum (s - mean s)^2 / sum (k_g - 1)): the sd of run
    shifts, each group centred on its own mean; and its degrees of freedom. Runs without a
    measured shift (NaN) are left out; (nan, 0) when no group has two."""
    ss, df = 0.0, 0
    for shifts in (s.dropna() for s in shift_sets):
        if len(shifts) >= 2:
            ss += float(((shifts - shifts.mean()) ** 2).sum())
            df += len(shifts) - 1
    return (math.sqrt(ss / df), float(df)) if df else (math.nan, 0.0)


def group_residuals(matrix: pd.DataFrame, shifts: pd.Series, shifted
                    ) -> tuple[pd.Series, pd.Series]:
    """Per benchmark: the sum of squared residuals from the group's mean after removing
    the run shift (for ``shifted`` benchmarks, a boolean per column), and its degrees of
    freedom (runs - 1)."""
    y = matrix.to_numpy(dtype=float)
    s = np.nan_to_num(shifts.reindex(matrix.index).to_numpy(dtype=float))
    y = y - np.outer(s, np.asarray(shifted, dtype=float))
    counts = (~np.isnan(y)).sum(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # benchmarks without runs: 0
        ss = np.nansum((y - np.nanmean(y, axis=0)) ** 2, axis=0)
    return (pd.Series(ss, index=matrix.columns),
            pd.Series(np.clip(counts - 1, 0, None).astype(float), index=matrix.columns))


def fit_levels(ss: pd.DataFrame, dof: pd.DataFrame, iterations: int = 200
               ) -> tuple[pd.Series, pd.Series]:
    """The rank-one fit E[ss[g, b]] = dof[g, b] * level[g] * v[b] (groups x benchmarks):

        v[b] = sum_g (ss[g, b] / level[g]) / sum_g dof[g, b]
        level[g] = sum_b (ss[g, b] / v[b]) / sum_b dof[g, b]    (over b with v[b] > 0)

    alternated from level = 1 until stable; the levels are scaled to a geometric mean of 1
    over the groups with residuals. Returns ``(v, level)``: v is NaN for a benchmark
    without residuals, level 1 for a group without."""
    s = ss.fillna(0.0).to_numpy(dtype=float)
    d = dof.fillna(0.0).to_numpy(dtype=float)
    level = np.ones(s.shape[0])
    d_b, d_g = d.sum(axis=0), d.sum(axis=1) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            v = (s / level[:, None]).sum(axis=0) / d_b
            usable = np.isfinite(v) & (v > 0)
            num = (s[:, usable] / v[usable]).sum(axis=1)
            den = d[:, usable].sum(axis=1)
            new = np.where((den > 0) & (num > 0), num / den, 1.0)
            if d_g.any() and (new[d_g] > 0).all():
                new = new / math.exp(float(np.log(new[d_g]).mean()))
            done = np.allclose(new, level, rtol=1e-12, atol=0)
            level = new
            if done:
                break
        v = (s / level[:, None]).sum(axis=0) / d_b
    return (pd.Series(np.where(d_b > 0, v, np.nan), index=ss.columns),
            pd.Series(level, index=ss.index))


def interaction_df(ss: pd.DataFrame, dof: pd.DataFrame, v: pd.Series, level: pd.Series
                   ) -> float:
    """The prior degrees of freedom d0 of the cells' own variances ss/dof around the fit
    level[g] v[b] (Smyth 2004's moment estimate on the ratios): with
    e = log(ss / dof / (level v)) - digamma(dof/2) + log(dof/2), the scatter beyond sampling
    is var(e) - mean(trigamma(dof/2)) = trigamma(d0/2). inf when the cells scatter no more
    than sampling explains (or fewer than three cells)."""
    from scipy.special import digamma, polygamma

    d = dof.to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ss.to_numpy(dtype=float) / d / np.outer(level.to_numpy(dtype=float),
                                                     v.to_numpy(dtype=float))
    cells = (d > 0) & np.isfinite(r) & (r > 0)
    if cells.sum() < 3:
        return math.inf
    dc = d[cells]
    e = np.log(r[cells]) - digamma(dc / 2) + np.log(dc / 2)
    evar = float(e.var(ddof=1) - np.mean(polygamma(1, dc / 2)))
    return 2 * stats.trigamma_inverse(evar) if evar > 0 else math.inf


def shrink_variances(variances, dfs, cap: float | None = None
                     ) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Empirical-Bayes shrinkage of per-benchmark variances towards their common prior
    (Smyth 2004, limma's ``squeezeVar``): a variance v with d degrees of freedom becomes
    (d0 s0^2 + d v) / (d0 + d) with d0 + d degrees of freedom; d0 and s0^2 are fitted to
    the spread of the log variances. ``cap`` bounds d0 (the prior's weight); d0 is inf
    (all take the prior) when the variances scatter no more than sampling explains and
    there is no cap.

    Returns ``(posterior variances, posterior dfs, s0^2, d0)``."""
    from scipy.special import digamma, polygamma

    v = np.asarray(variances, dtype=float)
    d = np.asarray(dfs, dtype=float)
    fit = (v > 0) & (d > 0) & np.isfinite(v)
    if fit.sum() < 3:
        return v, d, math.nan, 0.0
    e = np.log(v[fit]) - digamma(d[fit] / 2) + np.log(d[fit] / 2)
    emean = float(e.mean())
    evar = float(e.var(ddof=1) - np.mean(polygamma(1, d[fit] / 2)))
    d0 = 2 * stats.trigamma_inverse(evar) if evar > 0 else math.inf
    if cap is not None:
        d0 = min(d0, cap)
    s0 = math.exp(emean + digamma(d0 / 2) - math.log(d0 / 2)) if d0 < math.inf else \
        math.exp(emean)
    if math.isinf(d0):
        return np.full_like(v, s0), np.full_like(d, math.inf), s0, d0
    post = (d0 * s0 + d * np.nan_to_num(v)) / (d0 + d)
    return np.where(d > 0, post, s0), d0 + d, s0, d0


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """The fitted noise of one comparison's machine (see the module doc).

    ``variance[b]`` and ``variance_df[b]``: v[b] after shrinkage and its df; ``level``:
    each group's noise level per unit (the comparison's sides are groups 'baseline' and
    'candidate'); ``side_ss``/``side_dof``: the sides' own residual sums of squares and
    df per benchmark; ``interaction_df``: d0 per unit (:func:`interaction_df`); ``tau``,
    ``tau_df``, ``tau_runs``: the run-shift sd, its df and the runs it was measured from;
    ``groups``: the replicate groups used, in words."""

    tau: float
    tau_df: float
    tau_runs: int
    variance: pd.Series
    variance_df: pd.Series
    level: pd.DataFrame
    units: pd.Series
    groups: tuple[str, ...]
    side_ss: pd.DataFrame
    side_dof: pd.DataFrame
    interaction_df: pd.Series

    def side_levels(self, key: str) -> tuple[float, float]:
        """The noise levels of the baseline and candidate sides for ``key``'s unit."""
        col = self.level.get(self.units.get(key))
        if col is None:
            return 1.0, 1.0
        return float(col.get("baseline", 1.0)), float(col.get("candidate", 1.0))

    def side_variance(self, key: str, side: str) -> tuple[float, float]:
        """The variance of one run of ``key`` on ``side`` and its df: the mix
        (d0 level v + d s^2) / (d0 + d) of the fit and the side's own residuals, with
        d0 + d df; never below the fit (a side whose few runs happen to agree says little
        about a benchmark that switches between modes); the fit alone, with v's df, when
        d0 is infinite or the side has no residuals."""
        level = self.side_levels(key)[0 if side == "baseline" else 1]
        prior = float(self.variance.get(key, math.nan)) * level
        d0 = float(self.interaction_df.get(self.units.get(key), math.inf))
        d = float(self.side_dof.at[side, key]) if key in self.side_dof else 0.0
        if math.isinf(d0) or d <= 0 or not math.isfinite(prior):
            return prior, float(self.variance_df.get(key, 0.0))
        own = float(self.side_ss.at[side, key]) / d
        return max(prior, (d0 * prior + d * own) / (d0 + d)), d0 + d

    def noise_parts(self, key: str, k_base: int, k_cand: int) -> list[tuple[float, float]]:
        """The variance parts (var, df) of a difference of side means from the
        benchmark's own noise: each side's variance over its runs."""
        (var_a, df_a), (var_b, df_b) = (self.side_variance(key, "baseline"),
                                        self.side_variance(key, "candidate"))
        return [(var_a / k_base, df_a), (var_b / k_cand, df_b)]

    def noise_variance(self, key: str, k_base: int, k_cand: int) -> float:
        """var of a difference of side means from the benchmark's own noise."""
        return float(sum(v for v, _ in self.noise_parts(key, k_base, k_cand)))

    def shift_variance(self, k_base: int, k_cand: int) -> float:
        """var of a difference of side means from run shifts: tau^2 (1/k_base + 1/k_cand)."""
        return self.tau ** 2 * (1 / k_base + 1 / k_cand) if self.tau_df else math.nan


@dataclasses.dataclass(frozen=True)
class GroupStats:
    """What one replicate group tells about the noise: per benchmark the residual sum of
    squares and its df, and the run shifts of its runs."""

    name: str
    ss: pd.Series
    dof: pd.Series
    shifts: pd.Series


def group_stats(name: str, matrix: pd.DataFrame, units: pd.Series, time_keys) -> GroupStats:
    """:class:`GroupStats` of a runs x keys log matrix (``units``: key -> unit)."""
    shifts = run_shifts(matrix, time_keys)
    shifted = [units.get(k) in SHIFTED_UNITS for k in matrix.columns]
    ss, dof = group_residuals(matrix, shifts, shifted)
    return GroupStats(name, ss, dof, shifts)


def reference_stats(rows: pd.DataFrame, exclude_files=()) -> list[GroupStats]:
    """The :class:`GroupStats` of every replicate group in ``rows`` (all results of one
    machine), leaving out the runs in ``exclude_files`` (the comparison's own sides)."""
    rows = prepare(rows)
    rows = rows[rows["status"] == "ok"]
    units = rows.drop_duplicates("key").set_index("key")["unit"].astype(str).str.strip(
        ).str.lower()
    time_keys = set(rows.loc[rows["kind"] == "time", "key"])
    return [group_stats(name, matrix, units, time_keys)
            for name, matrix in replicate_groups(rows, exclude_files).items()]


def fit(groups: list[GroupStats], units: pd.Series) -> NoiseModel:
    """The :class:`NoiseModel` of ``groups`` for the benchmarks ``units`` (key -> unit)
    lists."""
    keys = list(units.index)
    groups = [g for g in groups if (g.dof.reindex(keys).fillna(0) > 0).any()
              or g.name in ("baseline", "candidate")]
    shift_sets = [g.shifts for g in groups]
    tau, tau_df = pooled_tau(shift_sets)
    ss = pd.DataFrame({g.name: g.ss for g in groups}).T.reindex(columns=keys)
    dof = pd.DataFrame({g.name: g.dof for g in groups}).T.reindex(columns=keys)
    variance = pd.Series(np.nan, index=keys)
    variance_df = pd.Series(0.0, index=keys)
    level = pd.DataFrame(index=[g.name for g in groups])
    interaction = pd.Series(math.inf, index=list(units.unique()))
    for unit in units.unique():  # each unit its own scale and levels
        cols = list(units.index[units == unit])
        v, level[unit] = fit_levels(ss[cols], dof[cols])
        interaction[unit] = interaction_df(ss[cols], dof[cols], v, level[unit])
        d = dof[cols].sum()
        cap = float(np.median(d[d > 0])) if (d > 0).any() else None
        post_v, post_d, _, _ = shrink_variances(v.to_numpy(), d.to_numpy(), cap)
        variance[cols] = post_v
        variance_df[cols] = post_d
    runs = sum(int(s.notna().sum()) for s in shift_sets if s.notna().sum() >= 2)
    sides = [n for n in ("baseline", "candidate") if n in ss.index]
    return NoiseModel(tau, tau_df, runs, variance, variance_df, level, units,
                      tuple(g.name for g in groups), ss.loc[sides].fillna(0.0),
                      dof.loc[sides].fillna(0.0), interaction)


def replicate_groups(rows: pd.DataFrame, exclude_files=()) -> dict[str, pd.DataFrame]:
    """The replicate groups in ``rows`` (prepared: key and direction columns): runs of one
    environment at one commit, two or more, each as a log matrix; name -> matrix. Runs in
    ``exclude_files`` are left out."""
    rows = rows[~rows["file"].isin(set(exclude_files))]
    out = {}
    for (version, commit, env), g in rows.groupby(["torch_version", "commit", "env_name"],
                                                  dropna=False, sort=True):
        if g["file"].nunique() >= 2:
            out[f"{g['file'].nunique()} runs of torch {version} at {str(commit)[:8]}"
                f" ({env})"] = log_matrix(g)
    return out


def prepare(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that can be compared: a unit with a direction and a key per benchmark."""
    if rows.empty:
        return rows.assign(direction=pd.Series(dtype=int), key=pd.Series(dtype=str))
    units = rows["unit"].astype(str)
    direction = units.map({u: worse_when(u) for u in units.unique()})
    rows = rows.assign(direction=direction, key=rows["benchmark"] + "(" + rows["params"] + ")")
    return rows[rows["direction"] != 0]


@dataclasses.dataclass(frozen=True)
class Noise:
    """Run-to-run noise of whole runs on one machine: tau (sd of the run shift, log), its
    df, the runs it was measured from, and where (for reports)."""

    tau: float
    df: float
    runs: int
    source: str

    def min_detectable(self, k_base: int, k_cand: int, alpha: float,
                       threshold: float, spread: float = 0.0) -> float:
        """The smallest shared change (relative) that a comparison of k_base vs k_cand
        runs catches with probability :data:`stats.POWER` (see
        :func:`stats.shared_shift`)."""
        se = math.sqrt(self.tau ** 2 * (1 / k_base + 1 / k_cand) + spread)
        return math.expm1(stats.min_detectable(math.log1p(threshold), se, self.df,
                                               alpha / 2))


def replicate_shifts(df: pd.DataFrame, machine: str) -> pd.DataFrame:
    """The run shift (log) of every replicate run in ``df`` on ``machine``: runs of one
    environment (torch version) at one commit, in groups of >= 2. Columns: torch_version,
    commit, env_name, file, date, shift; in date order."""
    columns = ["torch_version", "commit", "env_name", "file", "date", "shift"]
    rows = prepare(df[df["machine"] == machine])
    rows = rows[rows["status"] == "ok"]
    if rows.empty:
        return pd.DataFrame(columns=columns)
    time_keys = set(rows.loc[rows["kind"] == "time", "key"])
    parts = []
    for (version, commit, env), g in rows.groupby(["torch_version", "commit", "env_name"],
                                                  dropna=False):
        if g["file"].nunique() < 2:
            continue
        shifts = run_shifts(log_matrix(g), time_keys)
        dates = g.groupby("file")["date"].max()
        parts.append(pd.DataFrame({"torch_version": version, "commit": commit,
                                   "env_name": env, "file": shifts.index,
                                   "date": dates.reindex(shifts.index).to_numpy(),
                                   "shift": shifts.to_numpy()}))
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)
    order = out["file"].map(replicate_number)
    return out.assign(_order=order).sort_values(["date", "_order"], ignore_index=True).drop(
        columns="_order")


def replicate_noise(df: pd.DataFrame, machine: str) -> Noise | None:
    """tau measured from the replicate runs in ``df`` on ``machine`` (see
    :func:`replicate_shifts`); None when there are none."""
    shifts = replicate_shifts(df, machine).dropna(subset=["shift"])
    shifts = shifts.groupby(["torch_version", "commit", "env_name"], dropna=False).filter(
        lambda g: len(g) >= 2)
    if shifts.empty:
        return None
    groups = [g["shift"] for _, g in shifts.groupby(["torch_version", "commit", "env_name"],
                                                    dropna=False)]
    tau, dof = pooled_tau(groups)
    per_version = shifts.groupby(["torch_version", "commit"], sort=False).size()
    labels = [f"{n} runs of torch {v} at {str(c)[:8]}" for (v, c), n in per_version.items()]
    return Noise(tau, dof, len(shifts), "; ".join(labels))

