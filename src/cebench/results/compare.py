"""`cebench compare`: did a torch version (or a commit) make anything worse?

    cebench compare results --baseline torch=2.13.0 --candidate torch=2.14.1

asv compares commits within one environment; this compares any two runs on one
machine: torch versions, commits, or environments. For every benchmark x parameters
measured on both sides it reports the ratio candidate/baseline and whether the change
is significant:

* raw samples on both sides (``time_`` with ``--record-samples``), enough that the
  test can reach ``alpha``: two-sided Mann-Whitney U; the p-values of all such tests
  are adjusted for multiple comparisons (Benjamini-Hochberg,
  ``scipy.stats.false_discovery_control``) and compared with ``alpha``;
* else the 99 % confidence intervals asv stores: significant when they do not overlap
  (pessimistic, as ``asv compare`` does);
* else (``track_`` values without samples or intervals) no test is possible: a change
  beyond the threshold is reported as 'untested', never as a regression.

Both tests take the samples of one run as independent, which they are not on a shared
machine: load drifts between runs (measured here: identical code on the 2-core CPU
machine under load gave ratios from 0.06 to 4.4 between two runs). So each comparison
also estimates its **run-to-run noise floor** from the spread of the log ratios of all
its tested benchmarks (a robust scale: the median absolute deviation around the
median, which a uniform shift of every benchmark does not inflate) and a change
smaller than ``noise_sigmas`` times that scale (by default a Bonferroni-corrected
normal quantile over the benchmarks compared, at least 3) is 'noisy', not a regression.
When the spread itself exceeds the threshold, a shift shared by all benchmarks is not
trusted either (the whole machine may have been slower during one run): changes are
then measured from the median ratio, not from 1. With
clean data the floor is far below the threshold and changes nothing.

Whether up or down is worse comes from the unit (:data:`WORSE_WHEN`). A regression is
a change for the worse by more than ``threshold``, significant, and above the noise
floor. Exit status: 0 nothing regressed, 1 something regressed, 2 bad input.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cebench.results import load as results_mod
from cebench.errors import InputError

#: unit -> +1 when a larger value is worse, -1 when a smaller one is; other units
#: (versions, device counts, throttle flags) are not compared.
WORSE_WHEN = {
    "seconds": +1,
    "bytes": +1,
    "relative error": +1,
    "ratio": +1,
    "bytes/s": -1,
    "fraction": -1,
}

SPEC_KEYS = ("torch", "commit", "env")

#: Verdicts, worst first (the order of the tables).
VERDICTS = ("regression", "untested", "noisy", "improvement", "unchanged", "missing")

#: Fewest tested benchmarks from which a noise floor is estimated (else none is applied).
MIN_FOR_NOISE_FLOOR = 8
#: 1.4826 x MAD estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826


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
        """The rows this spec names; a one-line InputError listing what exists otherwise."""
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
        selected = df[mask]
        if selected.empty:
            raise InputError(f"{role} {self.text!r}: no results match all of it")
        runs = selected[["env_name", "commit"]].drop_duplicates()
        counts = selected.groupby(["machine", "benchmark", "params"]).size()
        if (counts > 1).any():
            names = "; ".join(f"{e} @ {str(c)[:8]}" for e, c in runs.itertuples(index=False))
            raise InputError(f"{role} {self.text!r} matches {len(runs)} runs ({names}): "
                             "narrow it with commit= or env=")
        return selected


def _listing(df: pd.DataFrame, column: str, short: bool = False) -> str:
    values = results_mod.available(df, column)
    if short:
        values = sorted({v[:8] for v in values})
    return ", ".join(values) if values else "(none recorded)"


# --- statistics (pure) ------------------------------------------------------------------


def worse_when(unit) -> int:
    return WORSE_WHEN.get(str(unit).strip().lower(), 0) if unit else 0


def min_mannwhitney_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value Mann-Whitney U can give for these sample sizes."""
    if n_a == 0 or n_b == 0:
        return 1.0
    # 2 / C(n_a + n_b, n_a), in logs: the binomial overflows a float past ~1000 samples
    log_comb = math.lgamma(n_a + n_b + 1) - math.lgamma(n_a + 1) - math.lgamma(n_b + 1)
    return min(1.0, 2.0 * math.exp(-log_comb))


def mannwhitney_p(a, b) -> float:
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def intervals_overlap(a_low, a_high, b_low, b_high) -> bool:
    return not (a_high < b_low or b_high < a_low)


def adjust_bh(p_values) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN kept as NaN)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)
    if finite.any():
        out[finite] = false_discovery_control(p[finite], method="bh")
    return out


# --- the comparison ---------------------------------------------------------------------


def auto_sigmas(n_tests: int, alpha: float = 0.05) -> float:
    """How many robust SDs a change must exceed: Bonferroni over ``n_tests``, at least 3."""
    from scipy.stats import norm

    return max(3.0, float(norm.ppf(1 - alpha / (2 * max(n_tests, 1)))))


def noise_floor(log_ratios, sigmas: float | None = None, alpha: float = 0.05,
                threshold: float = 0.05) -> tuple[float, float]:
    """``sigmas`` x the robust spread of log ratios (0 if too few to estimate).

    The spread is 1.4826 x the median absolute deviation around the lower median: a
    change shared by every benchmark (or by most) shifts the median, not the spread.
    ``sigmas=None``: :func:`auto_sigmas` (3 for a dozen benchmarks, 3.5 for a hundred).

    Returns ``(floor, centre)``: a change counts when ``|log ratio - centre| > floor``.
    The centre is 0 when the spread is under ``log(1 + threshold)`` (clean data: a shift
    shared by all benchmarks is real), else the median log ratio (noisy data: a shared
    shift is as likely the machine's load changing between the two runs).
    """
    z = np.asarray(log_ratios, dtype=float)
    z = z[np.isfinite(z)]
    if z.size < MIN_FOR_NOISE_FLOOR:
        return 0.0, 0.0
    if sigmas is None:
        sigmas = auto_sigmas(z.size, alpha)
    median = np.sort(z)[(z.size - 1) // 2]
    spread = MAD_TO_SD * float(np.median(np.abs(z - median)))
    centre = 0.0 if spread < math.log1p(threshold) else float(median)
    return float(sigmas * spread), centre


def pair(baseline: pd.DataFrame, candidate: pd.DataFrame) -> pd.DataFrame:
    """Rows of both sides joined on machine x benchmark x parameters (suffix _base/_cand)."""
    keys = ["machine", "benchmark", "pass", "params"]
    keep = ["short_name", "unit", "status", "value", "ci_99_low", "ci_99_high", "samples",
            "n_samples", "torch_version", "commit", "env_name"]
    params = results_mod.param_columns(baseline)
    left = baseline[keys + params + keep]
    right = candidate[keys + keep]
    return left.merge(right, on=keys, suffixes=("_base", "_cand"))


def compare_frames(baseline: pd.DataFrame, candidate: pd.DataFrame, *,
                   threshold: float = 0.05, alpha: float = 0.05,
                   noise_sigmas: float | None = None) -> pd.DataFrame:
    """One row per benchmark x parameters on both sides, with ratio, test and verdict.

    Columns added: ratio (candidate/baseline value), ratio_low/high (from the 99 %
    intervals, conservative), worse_by (the change in the worse direction: +0.10 = 10 %
    worse, negative = better), test ('mannwhitneyu', 'ci99-overlap' or 'none'), p_value,
    p_adjusted (BH over the Mann-Whitney tests), significant, noise_floor (per machine,
    a |log ratio|; see :func:`noise_floor`), verdict (:data:`VERDICTS`).
    """
    rows = pair(baseline, candidate)
    rows = rows.assign(direction=rows["unit_base"].map(worse_when))
    rows = rows[rows["direction"] != 0]
    rows = rows[~((rows["status_base"] != "ok") & (rows["status_cand"] != "ok"))]
    if rows.empty:
        return rows.assign(**{c: [] for c in ("ratio", "verdict")})
    rows = rows.copy()
    base, cand = rows["value_base"], rows["value_cand"]
    with np.errstate(divide="ignore", invalid="ignore"):
        rows["ratio"] = np.where((base == 0) & (cand == 0), 1.0, cand / base)
        rows["ratio_low"] = rows["ci_99_low_cand"] / rows["ci_99_high_base"]
        rows["ratio_high"] = rows["ci_99_high_cand"] / rows["ci_99_low_base"]
    rows["worse_by"] = (rows["ratio"] - 1.0) * rows["direction"]
    tests = [_test(r, alpha) for r in rows.itertuples(index=False)]
    rows["test"] = [t for t, _, _ in tests]
    rows["p_value"] = [p for _, p, _ in tests]
    rows["p_adjusted"] = adjust_bh(rows["p_value"])
    ci_significant = pd.Series([s for _, _, s in tests], index=rows.index)
    rows["significant"] = np.where(rows["test"] == "mannwhitneyu",
                                   rows["p_adjusted"] < alpha, ci_significant)
    log_ratio = np.log(rows["ratio"].where(rows["ratio"] > 0))
    tested = rows["test"] != "none"
    rows["noise_floor"], rows["noise_centre"] = 0.0, 0.0
    for machine, idx in rows.groupby("machine").groups.items():
        rows.loc[idx, ["noise_floor", "noise_centre"]] = noise_floor(
            log_ratio[idx][tested[idx]], noise_sigmas, alpha, threshold)
    rows["above_noise"] = (log_ratio - rows["noise_centre"]).abs() > rows["noise_floor"]
    rows["verdict"] = [_verdict(r, threshold) for r in rows.itertuples(index=False)]
    order = {v: i for i, v in enumerate(VERDICTS)}
    rows = rows.sort_values(["verdict", "worse_by"], key=lambda s: s.map(order)
                            if s.name == "verdict" else -s.fillna(-np.inf))
    return rows.reset_index(drop=True)


def _test(row, alpha: float) -> tuple[str, float, bool]:
    a, b = row.samples_base, row.samples_cand
    if row.status_base != "ok" or row.status_cand != "ok":
        return "none", math.nan, False
    if a and b and min_mannwhitney_p(len(a), len(b)) < alpha:
        return "mannwhitneyu", mannwhitney_p(a, b), False
    bounds = (row.ci_99_low_base, row.ci_99_high_base, row.ci_99_low_cand, row.ci_99_high_cand)
    if all(np.isfinite(x) for x in bounds):
        return "ci99-overlap", math.nan, not intervals_overlap(*bounds)
    return "none", math.nan, False


def _verdict(row, threshold: float) -> str:
    if row.status_base != "ok" or row.status_cand != "ok":
        return "missing"
    if not np.isfinite(row.worse_by) or abs(row.worse_by) <= threshold:
        return "unchanged"
    if row.test == "none":
        return "untested"
    if not row.significant:
        return "unchanged"
    if not row.above_noise:
        return "noisy"
    return "regression" if row.worse_by > 0 else "improvement"


def counts(table: pd.DataFrame) -> dict[str, int]:
    found = table["verdict"].value_counts() if len(table) else {}
    return {v: int(found.get(v, 0)) for v in VERDICTS}


def compare_versions(df: pd.DataFrame, *, threshold: float = 0.05,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Every newer torch version against the oldest, per machine (the newest run of each).

    The frames of :func:`compare_frames`, concatenated, with ``baseline_version`` and
    ``candidate_version`` columns; empty when no machine has two torch versions.
    """
    parts = []
    for machine, rows in results_mod.latest_runs(df).groupby("machine"):
        versions = results_mod.torch_versions(rows)
        for version in versions[1:]:
            table = compare_frames(rows[rows["torch_version"] == versions[0]],
                                   rows[rows["torch_version"] == version],
                                   threshold=threshold, alpha=alpha)
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


def _fmt_change(row) -> str:
    if not np.isfinite(row.ratio):
        return "n/a"
    return f"{(row.ratio - 1) * 100:+.1f}%"


def _fmt_p(row) -> str:
    if row.test == "mannwhitneyu":
        return f"p={row.p_adjusted:.2g}"
    if row.test == "ci99-overlap":
        return "CI apart" if row.significant else "CI overlap"
    return "no stats"


def display_rows(table: pd.DataFrame) -> list[dict[str, str]]:
    out = []
    for r in table.itertuples(index=False):
        out.append({
            "verdict": r.verdict,
            "benchmark": r.short_name_base,
            "params": r.params,
            "baseline": _fmt_value(r.value_base, r.unit_base),
            "candidate": _fmt_value(r.value_cand, r.unit_base),
            "change": _fmt_change(r),
            "test": _fmt_p(r),
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


def headline(table: pd.DataFrame, baseline: Spec, candidate: Spec, machines, threshold,
             alpha) -> str:
    n = counts(table)
    floors = table.groupby("machine")["noise_floor"].max() if len(table) else pd.Series()
    centres = table.groupby("machine")["noise_centre"].max() if len(table) else pd.Series()
    floor_text = ", ".join(
        f"{m} x{math.exp(f):.2f}" + (f" around a shared x{math.exp(centres[m]):.2f} shift"
                                     if centres[m] else "")
        for m, f in floors.items() if f > 0)
    return (f"{n['regression']} regression(s), {n['improvement']} improvement(s), "
            f"{n['unchanged']} unchanged, {n['noisy']} within run-to-run noise, "
            f"{n['untested']} untested change(s), {n['missing']} missing on one side -- "
            f"{len(table)} compared; candidate {candidate.text} vs baseline {baseline.text} "
            f"on {', '.join(machines)} (threshold {threshold:.0%}, alpha {alpha:g}"
            + (f"; noise floor: {floor_text}" if floor_text else "") + ")")


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
    icon = ":red_circle:" if n["regression"] else ":white_check_mark:"
    parts = [f"### {icon} cebench compare\n", f"{title}\n",
             f"#### Regressions ({n['regression']})\n", _md_table(by("regression")),
             f"#### Improvements ({n['improvement']})\n", _md_table(by("improvement"))]
    if n["noisy"]:
        parts += [f"#### Within run-to-run noise ({n['noisy']})\n",
                  "Significant within each run, but smaller than the spread between the two "
                  "runs across all benchmarks (the noise floor in the headline): not reported "
                  "as regressions. Rerun on a quieter machine to resolve them.\n",
                  _md_table(by("noisy"))]
    if n["untested"]:
        parts += [f"#### Untested changes beyond the threshold ({n['untested']})\n",
                  "These benchmarks record one value per run, with no samples or interval: "
                  "no significance test is possible.\n", _md_table(by("untested"))]
    parts += [f"<details><summary>All {len(rows)} comparisons</summary>\n", _md_table(rows),
              "</details>\n"]
    return "\n".join(parts)


def to_json(table: pd.DataFrame, title: str, settings: dict) -> dict:
    fields = ["machine", "benchmark", "short_name_base", "params", "unit_base", "value_base",
              "value_cand", "ratio", "ratio_low", "ratio_high", "worse_by", "test", "p_value",
              "p_adjusted", "significant", "noise_floor", "noise_centre", "verdict"]
    records = []
    for rec in table[fields].to_dict("records"):
        rec = {k.replace("_base", "") if k in ("short_name_base", "unit_base") else k:
               (None if isinstance(v, float) and not math.isfinite(v) else
                v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
        records.append(rec)
    return {"summary": title, "settings": settings, "counts": counts(table),
            "comparisons": records}


# --- selecting what to compare ----------------------------------------------------------


def check_settings(threshold: float, alpha: float, noise_sigmas: float | None) -> None:
    """InputError unless threshold is in [0, 10), alpha in (0, 1), noise_sigmas >= 0."""
    if not 0 <= threshold < 10 or not 0 < alpha < 1 or (noise_sigmas or 0) < 0:
        raise InputError("--threshold must be in [0, 10), --alpha in (0, 1), "
                         "--noise-sigmas >= 0")


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
                  alpha: float, noise_sigmas: float | None) -> pd.DataFrame:
    """compare_frames of the two sides' rows; InputError when no benchmark has both."""
    check_settings(threshold, alpha, noise_sigmas)
    base_df, cand_df = baseline.select(df, "baseline"), candidate.select(df, "candidate")
    table = compare_frames(base_df, cand_df, threshold=threshold, alpha=alpha,
                           noise_sigmas=noise_sigmas)
    if not (table.get("verdict", pd.Series(dtype=str)) != "missing").any():
        raise InputError(f"no benchmark has results on both sides ({baseline.text} and "
                         f"{candidate.text}) on a common machine")
    return table
