"""`cebench compare`: did a torch version (or a commit) make anything worse?

    cebench compare results --baseline torch=2.13.0 --candidate torch=2.14.1

asv compares commits within one environment; this compares any two sets of runs on one
machine: torch versions, commits, or environments. Each side takes **every run** that
matches its spec (a run is one asv results file; replicate runs of one version sit side
by side as ``<asv name>-r2.json``, ``-r3`` ...): run-to-run noise is measured from those
replicates, never from the other benchmarks of the same comparison.

The rule, per machine. For benchmark b and run r, y = log(value), signed so that larger
is worse (:data:`WORSE_WHEN`).

* Within each side, residuals from the side's mean. The **run shift** of run r is the
  median residual of its ``time_`` benchmarks that the side ran more than once (the whole
  machine running faster or slower during that run); tau^2 pools the run shifts of both
  sides. A run that shares no benchmark with another run of its side has no shift.
* Per-benchmark noise v_b pools the residuals left after removing the run shift (for
  units a slower machine shifts: :data:`SHIFTED_UNITS`), shrunk towards the other
  benchmarks of the same unit (empirical Bayes, as limma does for gene-wise variances).
* Per benchmark: delta_b = difference of the side means; t = delta_b /
  sqrt((v_b + tau^2) (1/k_A + 1/k_B)) (tau^2 only for shifted units), Welch-Satterthwaite
  degrees of freedom, Bonferroni over the benchmarks at ``alpha``; a **regression** is
  significant and more than ``threshold`` worse. The centre is always 0. A second test,
  of the benchmark's change beyond the suite's median change D against v_b alone (the
  shared part is tested on its own, below), finds slowed benchmarks that the tau term
  would hide when the per-benchmark noise is small against tau; it flags regressions
  only, and needs the benchmark's own change beyond the threshold too.
* **Suite-wide**: D = median delta over the ``time_`` benchmarks, tested against tau. A
  significant D beyond the threshold is a **shared regression** x e^D; the benchmarks
  that carry it are listed (verdict 'shared').
* Deterministic metrics (unit 'instructions') are compared by threshold alone.
* One run on each side: no noise can be measured, so the verdict is **inconclusive**
  (exit 3). The report gives the median shift D and the smallest shared shift that the
  comparison could have detected, from the noise that replicate runs on the same
  machine measured, when there are any.

Exit status: 0 nothing regressed, 1 a regression, 2 bad input, 3 inconclusive.
"""

from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pandas as pd

from cebench.errors import InputError
from cebench.results import deterministic
from cebench.results import load as results_mod
from cebench.results.rules import DEFAULT_ALPHA, DEFAULT_THRESHOLD, rule_lines  # noqa: F401

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
#: (tau) applies to them. Self-normalised units (the paired weighted/unweighted
#: 'ratio'), memory and accuracy do not move with it.
SHIFTED_UNITS = frozenset({"seconds", "bytes/s", "fraction"})
#: Units measured without run-to-run noise (instruction counts) are compared by their
#: relative change against a threshold alone: cebench.results.deterministic.
DETERMINISTIC_UNITS = deterministic.DETERMINISTIC_UNITS
DETERMINISTIC_THRESHOLD = deterministic.DEFAULT_THRESHOLD


SPEC_KEYS = ("torch", "commit", "env")

#: Verdicts, worst first (the order of the tables).
VERDICTS = ("regression", "shared", "inconclusive", "improvement", "unchanged", "missing")


@dataclasses.dataclass(frozen=True)
class Spec:
    """Which runs one side of a comparison takes: torch version, commit prefix, env name.

    ``env=`` matches an environment name exactly, else as a substring.
    """

    text: str
    torch: str | None = None
    commit: str | None = None
    env: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Spec":
        fields = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or key not in SPEC_KEYS or not value:
                raise InputError(f"bad run spec {text!r}: expected KEY=VALUE[,KEY=VALUE] with "
                                 f"KEY one of {', '.join(SPEC_KEYS)} (e.g. torch=2.13.0)")
            fields[key] = value
        if not fields:
            raise InputError(f"empty run spec {text!r}: e.g. torch=2.13.0 or commit=abc123")
        return cls(text=text, **fields)

    def select(self, df: pd.DataFrame, role: str) -> pd.DataFrame:
        """Every run this spec names (all replicates); a one-line InputError otherwise."""
        mask = pd.Series(True, index=df.index)
        if self.torch is not None:
            mask &= df["torch_version"].astype(str) == self.torch
            if not mask.any():
                raise InputError(f"{role} {self.text!r}: no results for torch {self.torch}; "
                                 f"available: {_listing(df, 'torch_version')}")
        if self.commit is not None:
            mask &= df["commit"].astype(str).str.startswith(self.commit)
            if not mask.any():
                raise InputError(f"{role} {self.text!r}: no results for commit {self.commit}; "
                                 f"available: {_listing(df, 'commit', short=True)}")
        if self.env is not None:
            names = df["env_name"].astype(str)
            exact = names == self.env  # an exact name wins over a substring
            mask &= exact if exact.any() else names.str.contains(self.env, regex=False)
            if not mask.any():
                raise InputError(f"{role} {self.text!r}: no environment matches {self.env!r}; "
                                 f"available: {_listing(df, 'env_name')}")
        return df[mask]   # not empty: each key above kept at least one row


def _listing(df: pd.DataFrame, column: str, short: bool = False) -> str:
    values = results_mod.available(df, column)
    if short:
        values = sorted({v[:8] for v in values})
    return ", ".join(values) if values else "(none recorded)"


def _commit_dates(rows: pd.DataFrame) -> dict[str, pd.Timestamp]:
    return rows.groupby("commit")["date"].max().to_dict()


def choose_commits(base: pd.DataFrame, cand: pd.DataFrame, baseline: Spec,
                   candidate: Spec) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """When a side's spec names no commit and its runs span several commits, keep one
    commit per benchmark: the newest at which both sides ran that benchmark, else that
    side's newest run of it. Per benchmark, so that a later run of a subset (say, only
    the instruction counts) does not hide the other benchmarks' earlier runs. Returns the
    two sides and one note per narrowed side (for the report)."""
    notes = []
    sides = {"baseline": base, "candidate": cand}
    for role, spec, rows, other in (("baseline", baseline, base, cand),
                                    ("candidate", candidate, cand, base)):
        if spec.commit is not None or rows["commit"].nunique() <= 1:
            continue
        dates = _commit_dates(rows)
        other_commits = other.groupby("benchmark")["commit"].agg(set).to_dict()
        kept, chosen, shared = [], set(), True
        for benchmark, bench_rows in rows.groupby("benchmark"):
            mine = set(bench_rows["commit"])
            pool = mine & other_commits.get(benchmark, set())
            shared &= bool(pool)
            commit = max(pool or mine, key=lambda c: (dates[c], c))
            chosen.add(commit)
            kept.append(bench_rows[bench_rows["commit"] == commit])
        sides[role] = pd.concat(kept)
        why = ("the newest commit both sides have" if shared else
               "the newest commit both sides have, else its newest")
        notes.append(f"{role} {spec.text}: runs at {len(dates)} commits; taking per benchmark "
                     f"{why} ({', '.join(sorted(str(c)[:8] for c in chosen))}; "
                     "name another with commit=)")
    return sides["baseline"], sides["candidate"], notes


# --- statistics (pure) ------------------------------------------------------------------


def worse_when(unit) -> int:
    return WORSE_WHEN.get(str(unit).strip().lower(), 0) if unit else 0


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y, for x up to 1e8; inf for a smaller y (a larger x)."""
    from scipy.optimize import brentq
    from scipy.special import polygamma

    if y <= polygamma(1, 1e8):
        return math.inf
    return float(brentq(lambda x: float(polygamma(1, x)) - y, 1e-8, 1e8))


def shrink_variances(variances, dfs) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Empirical-Bayes shrinkage of per-benchmark variances towards their common prior
    (Smyth 2004, limma's ``squeezeVar``): each variance v with d degrees of freedom
    becomes (d0 s0^2 + d v) / (d0 + d) with d0 + d degrees of freedom, where d0 and s0^2
    are fitted to the spread of log variances of the whole group.

    Returns ``(posterior variances, posterior dfs, s0^2, d0)``; ``d0`` is inf when the
    variances scatter no more than sampling alone explains (all take the prior)."""
    from scipy.special import digamma, polygamma

    v = np.asarray(variances, dtype=float)
    d = np.asarray(dfs, dtype=float)
    fit = (v > 0) & (d > 0) & np.isfinite(v)
    if fit.sum() < 3:
        return v, d, math.nan, 0.0
    e = np.log(v[fit]) - digamma(d[fit] / 2) + np.log(d[fit] / 2)
    emean = float(e.mean())
    evar = float(e.var(ddof=1) - np.mean(polygamma(1, d[fit] / 2)))
    d0 = 2 * _trigamma_inverse(evar) if evar > 0 else math.inf
    s0 = math.exp(emean + digamma(d0 / 2) - math.log(d0 / 2)) if d0 < math.inf else \
        math.exp(emean)
    if math.isinf(d0):
        return np.full_like(v, s0), np.full_like(d, math.inf), s0, d0
    return (d0 * s0 + d * np.nan_to_num(v)) / (d0 + d), d0 + d, s0, d0


def satterthwaite(parts) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance parts ``(var, df)``."""
    total = sum(v for v, _ in parts)
    denom = sum(v * v / df for v, df in parts if v > 0 and df > 0 and math.isfinite(df))
    if total <= 0:
        return math.inf
    return total * total / denom if denom > 0 else math.inf


def t_sf2(t: float, df: float) -> float:
    """Two-sided p-value of t with df degrees of freedom (normal when df is inf)."""
    from scipy import stats

    if not math.isfinite(t):
        return 0.0
    if df <= 0 or math.isnan(df):
        return math.nan
    return float(2 * (stats.norm.sf(abs(t)) if math.isinf(df) else stats.t.sf(abs(t), df)))


def t_quantile(q: float, df: float) -> float:
    from scipy import stats

    if df <= 0 or math.isnan(df):
        return math.nan
    return float(stats.norm.ppf(q) if math.isinf(df) else stats.t.ppf(q, df))


@dataclasses.dataclass(frozen=True)
class Noise:
    """Run-to-run noise of whole runs: tau (sd of the run shift, log), its df, the runs."""

    tau: float
    df: float
    runs: int
    source: str

    def min_detectable(self, k_base: int, k_cand: int, alpha: float,
                       spread: float = 0.0) -> float:
        """Smallest |D| (log) a comparison of k_base vs k_cand runs calls significant."""
        se = math.sqrt(self.tau ** 2 * (1 / k_base + 1 / k_cand) + spread)
        return t_quantile(1 - alpha / 2, self.df) * se


def _matrix(rows: pd.DataFrame) -> pd.DataFrame:
    """Runs (files) x benchmark keys, y = log(value) signed worse-is-larger."""
    y = np.log(rows["value"].where(rows["value"] > 0)) * rows["direction"]
    return (rows.assign(y=y).pivot_table(index="file", columns="key", values="y",
                                         aggfunc="mean", dropna=False))


def run_shifts(matrix: pd.DataFrame, time_keys) -> pd.Series:
    """The median residual (from the side mean) of each run's ``time_`` benchmarks that the
    side measured more than once; NaN for a run without one (nothing to measure it by)."""
    cols = [k for k in matrix.columns if k in time_keys]
    values = matrix[cols].loc[:, matrix[cols].notna().sum() >= 2]
    return (values - values.mean()).median(axis=1, skipna=True)


def pooled_tau(shift_sets: list[pd.Series]) -> tuple[float, float]:
    """tau (sd of run shifts, centred per side) and its degrees of freedom; runs without a
    measured shift (NaN) are left out."""
    ss, df = 0.0, 0
    for shifts in (s.dropna() for s in shift_sets):
        if len(shifts) >= 2:
            ss += float(((shifts - shifts.mean()) ** 2).sum())
            df += len(shifts) - 1
    return (math.sqrt(ss / df), float(df)) if df else (math.nan, 0.0)


def replicate_shifts(df: pd.DataFrame, machine: str) -> pd.DataFrame:
    """The run shift (log) of every replicate run in ``df`` on ``machine``: runs of one
    environment (torch version) at one commit, in groups of >= 2. Columns: torch_version,
    commit, env_name, file, date, shift."""
    rows = _prepare(df[df["machine"] == machine])
    parts = []
    if rows.empty:
        return pd.DataFrame(columns=["torch_version", "commit", "env_name", "file", "date",
                                     "shift"])
    time_keys = set(rows.loc[rows["kind"] == "time", "key"])
    for (version, commit, env), g in rows.groupby(["torch_version", "commit", "env_name"],
                                                  dropna=False):
        if g["file"].nunique() < 2:
            continue
        shifts = run_shifts(_matrix(g), time_keys)
        dates = g.groupby("file")["date"].max()
        parts.append(pd.DataFrame({"torch_version": version, "commit": commit,
                                   "env_name": env, "file": shifts.index,
                                   "date": dates.reindex(shifts.index).to_numpy(),
                                   "shift": shifts.to_numpy()}))
    if not parts:
        return replicate_shifts(df.iloc[:0], machine)
    out = pd.concat(parts, ignore_index=True)
    order = out["file"].map(replicate_number)
    return out.assign(_order=order).sort_values(["date", "_order"], ignore_index=True).drop(
        columns="_order")


def replicate_number(path) -> int:
    """k of a replicate results file '<asv name>-r<k>.json' (1 for asv's own name)."""
    match = re.search(r"-r(\d+)\.json$", str(path))
    return int(match.group(1)) if match else 1


def replicate_noise(df: pd.DataFrame, machine: str) -> Noise | None:
    """tau measured from the replicate runs in ``df`` on ``machine`` (see
    :func:`replicate_shifts`). None when there are none."""
    # only runs with a measured shift, in groups of two or more, measure tau
    shifts = replicate_shifts(df, machine).dropna(subset=["shift"])
    shifts = shifts.groupby(["torch_version", "commit", "env_name"], dropna=False).filter(
        lambda g: len(g) >= 2)
    if shifts.empty:
        return None
    groups = [g for _, g in shifts.groupby(["torch_version", "commit", "env_name"],
                                           dropna=False)]
    tau, dof = pooled_tau([g["shift"] for g in groups])
    per_version = shifts.groupby(["torch_version", "commit"], sort=False).size()
    labels = [f"{n} runs of torch {v} at {str(c)[:8]}" for (v, c), n in per_version.items()]
    return Noise(tau, dof, len(shifts), "; ".join(labels))


def _prepare(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that can be compared: a unit with a direction, status ok, a key per benchmark."""
    if rows.empty:
        return rows.assign(direction=[], key=[])
    direction = rows["unit"].map(worse_when)
    rows = rows.assign(direction=direction, key=rows["benchmark"] + "(" + rows["params"] + ")")
    return rows[(rows["direction"] != 0) & (rows["status"] == "ok")]


# --- the comparison ---------------------------------------------------------------------


def compare_frames(baseline: pd.DataFrame, candidate: pd.DataFrame, *,
                   threshold: float = DEFAULT_THRESHOLD, alpha: float = DEFAULT_ALPHA,
                   reference: dict[str, Noise] | None = None,
                   relative: bool = True) -> pd.DataFrame:
    """One row per machine x benchmark x parameters present on either side.

    Columns: machine, benchmark, short_name_base, params, unit_base, kind, k_base, k_cand
    (runs with a value), value_base / value_cand (geometric means over the runs), ratio
    (candidate / baseline), ratio_low / ratio_high (its 1 - alpha interval), worse_by
    (+0.10 = 10 % worse), noise_sd (per-benchmark run-to-run sd, log), t, df, p_value,
    p_adjusted (Bonferroni), p_relative (the change beyond the suite's, Bonferroni),
    test ('welch-t', 'threshold' or 'none'), verdict; and per
    machine: tau, tau_df, tau_source, shared_change (e^D - 1 in the worse direction),
    shared_low / shared_high, shared_p, shared_verdict, min_detectable (the smallest
    shared change the comparison calls significant, relative), k_runs_base / _cand.

    ``reference``: machine -> :class:`Noise` measured elsewhere (replicate runs on the
    same machine), used for the minimum detectable shift when a side has one run.
    ``relative=False`` leaves out the test of each benchmark's change beyond the suite's
    (docs/measurement.md compares the two on the A/A series).
    """
    parts = []
    machines = sorted(set(baseline["machine"]) | set(candidate["machine"]))
    for machine in machines:
        parts.append(_compare_machine(baseline[baseline["machine"] == machine],
                                      candidate[candidate["machine"] == machine], machine,
                                      threshold, alpha, (reference or {}).get(machine),
                                      relative))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if table.empty:
        return pd.DataFrame(columns=["machine", "benchmark", "params", "ratio", "worse_by",
                                     "verdict"])
    order = {v: i for i, v in enumerate(VERDICTS)}
    table = table.sort_values(["verdict", "worse_by"], key=lambda s: s.map(order)
                              if s.name == "verdict" else -s.fillna(-np.inf))
    return table.reset_index(drop=True)


def _expm1(x: float) -> float:
    """e^x - 1 of a log change; inf past the float range (the shift a tiny alpha needs)."""
    try:
        return math.expm1(x)
    except OverflowError:
        return math.inf


def _compare_machine(base_rows, cand_rows, machine, threshold, alpha, reference, relative):
    info_cols = ["benchmark", "short_name", "pass", "params", "unit", "kind"]
    params = [c for c in results_mod.param_columns(base_rows) if c in base_rows.columns]
    every = pd.concat([base_rows, cand_rows])
    every = every.assign(key=every["benchmark"] + "(" + every["params"] + ")")
    every = every[(every["unit"].map(worse_when) != 0) & (every["status"] == "ok")]
    info = every.drop_duplicates("key").set_index("key")[
        [c for c in info_cols + params if c in every.columns]]
    base, cand = _prepare(base_rows), _prepare(cand_rows)
    mat_a, mat_b = _matrix(base), _matrix(cand)
    time_keys = set(every.loc[every["kind"] == "time", "key"])
    shifts_a, shifts_b = run_shifts(mat_a, time_keys), run_shifts(mat_b, time_keys)
    k_runs_a, k_runs_b = base["file"].nunique(), cand["file"].nunique()
    tau, tau_df = pooled_tau([shifts_a, shifts_b])
    noise = Noise(tau, tau_df, k_runs_a + k_runs_b, "these runs") if tau_df else reference

    keys = list(info.index)
    units = info["unit"].astype(str).str.strip().str.lower()
    shifted = units.isin(SHIFTED_UNITS)
    # per-benchmark residuals after the run shift, pooled over both sides
    ss = pd.Series(0.0, index=keys)
    dof = pd.Series(0.0, index=keys)
    k_a = pd.Series(0, index=keys)
    k_b = pd.Series(0, index=keys)
    mean_a = pd.Series(np.nan, index=keys)
    mean_b = pd.Series(np.nan, index=keys)
    for mat, shifts, k, mean in ((mat_a, shifts_a, k_a, mean_a), (mat_b, shifts_b, k_b, mean_b)):
        if mat.empty:
            continue
        mat = mat.reindex(columns=keys)
        adjusted = mat.sub(np.outer(shifts.reindex(mat.index).fillna(0.0), shifted.to_numpy()),
                           axis=None) if len(mat) else mat
        adjusted = pd.DataFrame(adjusted, index=mat.index, columns=keys)
        counts = mat.notna().sum()
        k[:] = counts.to_numpy()
        mean[:] = mat.mean().to_numpy()
        resid = adjusted - adjusted.mean()
        ss[:] += (resid ** 2).sum().to_numpy()
        dof[:] += (counts - 1).clip(lower=0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        raw_v = (ss / dof).where(dof > 0)
    post_v = raw_v.copy()
    post_df = dof.astype(float).copy()
    for unit in units.unique():  # shrink within each unit
        idx = units.index[units == unit]
        v, d, _, _ = shrink_variances(raw_v[idx].to_numpy(), dof[idx].to_numpy())
        post_v[idx], post_df[idx] = v, d

    delta = mean_b - mean_a
    conclusive = bool(tau_df) or (k_runs_a >= 2 or k_runs_b >= 2)
    rows = []
    for key in keys:
        unit, kind = units[key], info.at[key, "kind"]
        kb, kc = int(k_a[key]), int(k_b[key])
        row = dict(machine=machine, key=key, k_base=kb, k_cand=kc, delta=delta[key],
                   noise_sd=math.sqrt(post_v[key]) if np.isfinite(post_v[key]) else math.nan,
                   t=math.nan, df=math.nan, p_value=math.nan, se=math.nan, test="none")
        if kb and kc and np.isfinite(delta[key]) and unit in DETERMINISTIC_UNITS:
            row["test"] = "threshold"
        elif kb and kc and np.isfinite(delta[key]) and conclusive:
            inv = 1 / kb + 1 / kc
            var_parts = [(post_v[key] * inv if np.isfinite(post_v[key]) else 0.0, post_df[key])]
            if shifted[key] and tau_df:
                var_parts.append((tau * tau * inv, tau_df))
            var = sum(v for v, _ in var_parts)
            if np.isfinite(post_v[key]) or (shifted[key] and tau_df):
                row["se"] = math.sqrt(var)
                row["df"] = satterthwaite(var_parts)
                row["t"] = (math.inf if delta[key] else 0.0) if var == 0 else delta[key] / row["se"]
                row["p_value"] = t_sf2(row["t"], row["df"])
                row["test"] = "welch-t"
        rows.append(row)
    table = pd.DataFrame(rows)
    tested = table["test"] == "welch-t"
    m = int(tested.sum())
    table["p_adjusted"] = (table["p_value"] * max(m, 1)).clip(upper=1.0).where(tested)
    table["significant"] = tested & (table["p_adjusted"] < alpha)
    q = [t_quantile(1 - alpha / 2, d) if np.isfinite(s) else math.nan
         for s, d in zip(table["se"], table["df"])]
    half = np.asarray(q, dtype=float) * table["se"].to_numpy()
    table["worse_by"] = np.expm1(table["delta"])

    # the suite-wide shift: median delta over time_ benchmarks, tested against tau
    is_time = table["key"].isin(time_keys) & np.isfinite(table["delta"])
    deltas = table.loc[is_time, "delta"]
    D = float(deltas.median()) if len(deltas) else math.nan
    spread = 0.0
    if is_time.any():
        inv = (1 / table.loc[is_time, "k_base"].clip(lower=1)
               + 1 / table.loc[is_time, "k_cand"].clip(lower=1))
        v = pd.Series(post_v[table.loc[is_time, "key"]].to_numpy(), index=inv.index)
        spread = float(math.pi / 2 * np.nanmean(v * inv) / len(deltas)) if v.notna().any() else 0.0
    shared_p = shared_low = shared_high = mds = math.nan
    if noise is not None and np.isfinite(D) and np.isfinite(noise.tau):
        mds = noise.min_detectable(max(k_runs_a, 1), max(k_runs_b, 1), alpha, spread)
        if tau_df:
            se_d = math.sqrt(tau * tau * (1 / k_runs_a + 1 / k_runs_b) + spread)
            shared_p = t_sf2(D / se_d if se_d else math.copysign(math.inf, D), tau_df)
            shared_low, shared_high = D - mds, D + mds
    log_thr = math.log1p(threshold)
    # each benchmark's own change beyond the suite's: (delta_b - D) against v_b alone
    rel_p = []
    for r in table.itertuples(index=False):
        v = post_v.get(r.key, math.nan)
        if not (relative and r.test == "welch-t" and np.isfinite(D) and np.isfinite(v)
                and r.key in time_keys):
            rel_p.append(math.nan)
            continue
        se = math.sqrt(v * (1 / r.k_base + 1 / r.k_cand))
        diff = r.delta - D
        rel_p.append(t_sf2((math.inf if diff else 0.0) if se == 0 else diff / se,
                           post_df[r.key]))
    table["p_relative"] = np.minimum(np.asarray(rel_p, dtype=float) * max(m, 1), 1.0)
    table["significant_relative"] = table["p_relative"] < alpha
    if not np.isfinite(shared_p):
        shared_verdict = "inconclusive" if np.isfinite(D) and not tau_df else "none"
    elif shared_p < alpha and D > log_thr:
        shared_verdict = "regression"
    elif shared_p < alpha and D < -log_thr:
        shared_verdict = "improvement"
    else:
        shared_verdict = "unchanged"

    def verdict(r) -> str:
        if not (r.k_base and r.k_cand) or not np.isfinite(r.delta):
            return "missing"
        if r.test == "threshold":  # lower is better: delta = log(candidate / baseline)
            return deterministic.verdict(math.expm1(r.delta), DETERMINISTIC_THRESHOLD)
        beyond = abs(r.delta) > log_thr
        if r.test == "none":
            return "inconclusive" if beyond else "unchanged"
        if r.significant and beyond:
            return "regression" if r.delta > 0 else "improvement"
        own = r.delta - D if np.isfinite(D) else 0.0
        if r.significant_relative and r.delta > log_thr and own > log_thr:
            return "regression"
        if (shared_verdict == "regression" and r.key in time_keys
                and r.delta > max(log_thr, D / 2)):
            return "shared"
        return "unchanged"

    table["verdict"] = [verdict(r) for r in table.itertuples(index=False)]
    info = info.rename(columns={"short_name": "short_name_base", "unit": "unit_base"})
    table = table.join(info, on="key")
    sign = table["unit_base"].map(worse_when).astype(float)
    table["value_base"] = np.exp(mean_a.reindex(table["key"]).to_numpy() * sign)
    table["value_cand"] = np.exp(mean_b.reindex(table["key"]).to_numpy() * sign)
    table["ratio"] = np.exp(table["delta"] * sign)
    low, high = np.exp((table["delta"] - half) * sign), np.exp((table["delta"] + half) * sign)
    table["ratio_low"], table["ratio_high"] = np.minimum(low, high), np.maximum(low, high)
    table = table.assign(
        tau=noise.tau if noise else math.nan, tau_df=noise.df if noise else 0.0,
        tau_source=noise.source if noise else "", tau_runs=noise.runs if noise else 0,
        k_runs_base=k_runs_a, k_runs_cand=k_runs_b, shared_change=_expm1(D),
        shared_low=_expm1(shared_low), shared_high=_expm1(shared_high),
        shared_p=shared_p, shared_verdict=shared_verdict,
        min_detectable=_expm1(max(mds, log_thr)) if np.isfinite(mds) else math.nan,
        shared_carriers=int((table["verdict"] == "shared").sum()))
    return table


def counts(table: pd.DataFrame) -> dict[str, int]:
    found = table["verdict"].value_counts() if len(table) else {}
    return {v: int(found.get(v, 0)) for v in VERDICTS}


@dataclasses.dataclass(frozen=True)
class Suite:
    """The suite-wide result of one machine (a row of :func:`suites`)."""

    machine: str
    k_base: int
    k_cand: int
    shared_change: float
    shared_low: float
    shared_high: float
    shared_p: float
    shared_verdict: str
    min_detectable: float
    tau: float
    tau_df: float
    tau_source: str
    regressions: int
    carriers: int


def suites(table: pd.DataFrame) -> list[Suite]:
    out = []
    if table.empty or "shared_verdict" not in table:
        return out
    for machine, rows in table.groupby("machine", sort=True):
        r = rows.iloc[0]
        out.append(Suite(machine, int(r.k_runs_base), int(r.k_runs_cand), r.shared_change,
                         r.shared_low, r.shared_high, r.shared_p, r.shared_verdict,
                         r.min_detectable, r.tau, r.tau_df, r.tau_source,
                         int((rows["verdict"] == "regression").sum()),
                         int((rows["verdict"] == "shared").sum())))
    return out


def outcome(table: pd.DataFrame) -> str:
    """'regression', 'inconclusive' or 'ok': what the exit status says."""
    n = counts(table)
    every = suites(table)
    if n["regression"] or any(s.shared_verdict == "regression" for s in every):
        return "regression"
    if any(s.shared_verdict == "inconclusive" for s in every) or (
            n["inconclusive"] and not any(s.k_base + s.k_cand > 2 for s in every)):
        return "inconclusive"
    return "ok"


def compare_versions(df: pd.DataFrame, *, threshold: float = 0.05,
                     alpha: float = 0.01) -> pd.DataFrame:
    """Every newer torch version against the oldest, per machine, per benchmark at the
    newest commit both have (all replicate runs there; see :func:`choose_commits`).

    The frames of :func:`compare_frames`, concatenated, with ``baseline_version`` and
    ``candidate_version`` columns; empty when no machine has two torch versions.
    """
    parts = []
    for machine, rows in df.groupby("machine"):
        versions = results_mod.torch_versions(rows)
        reference = replicate_noise(rows, machine)
        for version in versions[1:]:
            a = Spec(f"torch={versions[0]}", torch=versions[0])
            b = Spec(f"torch={version}", torch=version)
            base, cand, _ = choose_commits(a.select(rows, "baseline"), b.select(rows, "candidate"),
                                           a, b)
            table = compare_frames(base, cand, threshold=threshold, alpha=alpha,
                                   reference={machine: reference} if reference else None)
            parts.append(table.assign(baseline_version=versions[0], candidate_version=version))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["machine", "benchmark", "params", "ratio", "verdict", "baseline_version",
                 "candidate_version"])


# --- output -----------------------------------------------------------------------------


def _fmt_value(x, unit) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    unit = str(unit or "")
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns")):
            if abs(x) >= scale:
                return f"{x / scale:.3g} {suffix}"
        return f"{x:.3g} s"
    if unit in ("bytes", "bytes/s"):
        for scale, prefix in ((2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
            if abs(x) >= scale:
                return f"{x / scale:.3g} {prefix}B" + ("/s" if unit == "bytes/s" else "")
        return f"{x:.3g} B" + ("/s" if unit == "bytes/s" else "")
    return f"{x:.4g}"


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%" if x is not None and np.isfinite(x) else "n/a"


def _fmt_change(row) -> str:
    if not np.isfinite(row.ratio):
        return "n/a"
    text = _pct(row.ratio - 1)
    if np.isfinite(row.ratio_low) and np.isfinite(row.ratio_high):
        text += f" [{_pct(row.ratio_low - 1)}, {_pct(row.ratio_high - 1)}]"
    return text


def _fmt_test(row) -> str:
    if row.test == "welch-t":
        return f"p={row.p_adjusted:.2g}"
    if row.test == "threshold":
        return "deterministic: threshold only"
    return "no replicates"


def display_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for r in table.itertuples(index=False):
        out.append({
            "verdict": r.verdict,
            "benchmark": str(r.short_name_base),
            "params": str(r.params),
            "runs": f"{r.k_base}/{r.k_cand}",
            "baseline": _fmt_value(r.value_base, r.unit_base),
            "candidate": _fmt_value(r.value_cand, r.unit_base),
            "change": _fmt_change(r),
            "test": _fmt_test(r),
        })
    return out


def format_table(rows: list[dict[str, str]], limit: int | None = None) -> str:
    if not rows:
        return "(nothing to show)"
    shown = rows if limit is None else rows[:limit]
    cols = list(shown[0])
    widths = {c: max(len(c), *(len(r[c]) for r in shown)) for c in cols}
    lines = ["  ".join(c.ljust(widths[c]) for c in cols)]
    lines.append("  ".join("-" * widths[c] for c in cols))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in shown]
    if limit is not None and len(rows) > limit:
        lines.append(f"... and {len(rows) - limit} more")
    return "\n".join(lines)


def _times(change: float) -> str:
    return f"x{1 + change:.2f}"


def percent_words(change: float) -> str:
    """A relative change for a sentence: '40 %', or 'x12' beyond +900 %."""
    if not np.isfinite(change):
        return "an unknown amount"
    return f"{change * 100:.0f} %" if change < 9 else f"x{1 + change:.0f}"


def suite_sentence(s: Suite, threshold: float) -> str:
    """One machine's suite-wide result in plain words."""
    runs = f"{s.k_base} baseline run(s), {s.k_cand} candidate run(s)"
    if np.isfinite(s.shared_change):
        word = "slower" if s.shared_change > 0 else "faster"
        shift = (f"overall the candidate is {abs(s.shared_change) * 100:.1f} % {word} "
                 "(median over its timings)")
    else:
        shift = "no timings to compare overall"
    if np.isfinite(s.tau):
        where = "these runs" if s.tau_source == "these runs" else s.tau_source
        noise = (f"whole runs of one version differ by about {s.tau * 100:.0f} % on this "
                 f"machine (sd, measured from {where}), so with these runs a shared change "
                 f"under {percent_words(s.min_detectable)} cannot be told from the machine's own drift")
    else:
        noise = ("run-to-run noise is unknown (no replicate runs on this machine): run each "
                 "side at least twice, keeping each run's results file ('-r2', '-r3' ...)")
    if s.shared_verdict == "inconclusive":
        return f"{s.machine}: one run per side; {shift}; {noise}."
    if s.shared_verdict == "regression":
        head = (f"{s.machine}: SHARED REGRESSION {_times(s.shared_change)}: the whole suite is "
                f"{s.shared_change * 100:.0f} % slower ({_pct(s.shared_low)} to "
                f"{_pct(s.shared_high)}, p={s.shared_p:.2g}), carried by {s.carriers} "
                "benchmark(s)")
    elif s.shared_verdict == "improvement":
        head = (f"{s.machine}: shared improvement {_times(s.shared_change)} "
                f"(p={s.shared_p:.2g})")
    else:
        head = f"{s.machine}: no shared change beyond {threshold:.0%}"
    return f"{head}; {runs}; {shift}; {noise}."


def headline(table: pd.DataFrame, baseline: Spec, candidate: Spec, machines, threshold,
             alpha, notes=()) -> str:
    """The report's first lines: the verdict, one sentence per machine, the counts."""
    n = counts(table)
    state = outcome(table)
    which = (f"candidate {candidate.text} vs baseline {baseline.text} on "
             f"{', '.join(machines)}")
    if state == "regression":
        shared = any(s.shared_verdict == "regression" for s in suites(table))
        lead = (f"REGRESSION: {n['regression']} benchmark(s) worse by more than "
                f"{threshold:.0%}" + (", and the whole suite slower" if shared else ""))
    elif state == "inconclusive":
        lead = ("INCONCLUSIVE: one run per side, so no change can be told from "
                "run-to-run noise")
    else:
        lead = "No regression"
    lines = [f"{lead} -- {which}."]
    lines += [suite_sentence(s, threshold) for s in suites(table)]
    lines.append(
        f"{len(table)} compared: {n['regression']} worse, {n['shared']} part of a shared "
        f"slowdown, {n['improvement']} better, {n['unchanged']} unchanged (within "
        f"{threshold:.0%} or within noise), {n['inconclusive']} changed by more than "
        f"{threshold:.0%} but untestable, {n['missing']} measured on one side only "
        f"(family-wise error rate {alpha:g}).")
    lines += list(notes)
    return "\n".join(lines)


def _md_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    esc = lambda s: s.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(esc(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def markdown(table: pd.DataFrame, title: str) -> str:
    rows = display_rows(table)
    by = lambda v: [r for r in rows if r["verdict"] == v]  # noqa: E731
    n = counts(table)
    state = outcome(table)
    icon = {"regression": ":red_circle:", "inconclusive": ":warning:"}.get(
        state, ":white_check_mark:")
    head, *rest = title.splitlines()
    parts = [f"### {icon} cebench compare\n", f"{head}\n"] + [f"- {line}" for line in rest]
    parts += ["", f"#### Regressions ({n['regression']})\n", _md_table(by("regression"))]
    if n["shared"]:
        parts += [f"#### Carrying the shared regression ({n['shared']})\n",
                  "Each of these is beyond the threshold and the whole suite moved with them; "
                  "one by one they are within run-to-run noise.\n", _md_table(by("shared"))]
    parts += [f"#### Improvements ({n['improvement']})\n", _md_table(by("improvement"))]
    if n["inconclusive"]:
        parts += [f"#### Changed beyond the threshold, untestable ({n['inconclusive']})\n",
                  "One run per side: no run-to-run noise to test these against.\n",
                  _md_table(by("inconclusive"))]
    parts += [f"<details><summary>All {len(rows)} comparisons</summary>\n", _md_table(rows),
              "</details>\n"]
    return "\n".join(parts)


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    return None if isinstance(v, float) and not math.isfinite(v) else v


def to_json(table: pd.DataFrame, title: str, settings: dict) -> dict:
    fields = ["machine", "benchmark", "short_name_base", "params", "unit_base", "k_base",
              "k_cand", "value_base", "value_cand", "ratio", "ratio_low", "ratio_high",
              "worse_by", "noise_sd", "test", "t", "df", "p_value", "p_adjusted", "verdict"]
    rename = {"short_name_base": "short_name", "unit_base": "unit"}
    records = [{rename.get(k, k): _plain(v) for k, v in rec.items()}
               for rec in table[fields].to_dict("records")]
    machines = [{k: _plain(v) for k, v in dataclasses.asdict(s).items()} for s in suites(table)]
    return {"summary": title, "outcome": outcome(table), "settings": settings,
            "counts": counts(table), "machines": machines, "comparisons": records}


# --- selecting what to compare ----------------------------------------------------------


def check_settings(threshold: float, alpha: float) -> None:
    """InputError unless threshold is in [0, 10) and alpha in (0, 1)."""
    if not 0 <= threshold < 10 or not 0 < alpha < 1:
        raise InputError("--threshold must be in [0, 10) and --alpha in (0, 1)")


def bench_pattern(bench: str | None) -> re.Pattern | None:
    """The compiled ``--bench`` regular expression (None for none); InputError if bad."""
    try:
        return re.compile(bench) if bench else None
    except re.error as exc:
        raise InputError(f"--bench {bench!r}: bad regular expression ({exc})") from None


def select_results(df: pd.DataFrame, machine: str | None = None,
                   bench: str | None = None) -> pd.DataFrame:
    """The rows of one machine and of the benchmarks whose ``name(params)`` match ``bench``.

    Raises InputError for an unknown machine, a bad regular expression, or no match.
    """
    bench_re = bench_pattern(bench)
    if machine:
        if machine not in set(df["machine"]):
            raise InputError(f"unknown machine {machine!r}; available: "
                             f"{_listing(df, 'machine')}")
        df = df[df["machine"] == machine]
    if bench_re is not None:
        label = df["benchmark"] + "(" + df["params"] + ")"
        df = df[label.map(lambda s: bool(bench_re.search(s)))]
        if df.empty:
            raise InputError(f"--bench {bench!r} matches no benchmark")
    return df


def compare_specs(df: pd.DataFrame, baseline: Spec, candidate: Spec, *, threshold: float,
                  alpha: float, everything: pd.DataFrame | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """compare_frames of the two sides' runs, and notes on which runs were taken.

    ``everything``: all results of the machines (default ``df``), where replicate runs
    that measure a machine's noise are looked for. InputError when no benchmark has both
    sides, or when a run is on both sides.
    """
    check_settings(threshold, alpha)
    base_df, cand_df = baseline.select(df, "baseline"), candidate.select(df, "candidate")
    base_df, cand_df, notes = choose_commits(base_df, cand_df, baseline, candidate)
    shared = set(base_df["file"]) & set(cand_df["file"])
    if shared:
        raise InputError(f"baseline {baseline.text!r} and candidate {candidate.text!r} both "
                         f"take {len(shared)} run(s) (e.g. {sorted(shared)[0]}): narrow them")
    pool = df if everything is None else everything
    reference = {m: n for m in set(base_df["machine"]) | set(cand_df["machine"])
                 if (n := replicate_noise(pool, m)) is not None}
    table = compare_frames(base_df, cand_df, threshold=threshold, alpha=alpha,
                           reference=reference)
    if not (table["verdict"] != "missing").any():
        raise InputError(f"no benchmark has results on both sides ({baseline.text} and "
                         f"{candidate.text}) on a common machine")
    return table, notes
