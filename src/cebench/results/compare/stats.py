"""The tests: each benchmark's change against the threshold, and the whole suite's shift.

Both are one-sided t tests against the threshold, not against zero: a **regression** is a
change whose lower confidence bound is beyond ``log(1 + threshold)``; an improvement one
whose upper bound is beyond ``-log(1 + threshold)``. The family-wise error rate ``alpha``
of one comparison is spent once: half on the shared-shift test, half on the benchmarks
(Bonferroni: ``alpha / 2 / m`` each, m the benchmarks tested). The **minimum detectable
change** is the true change that the test catches with probability :data:`POWER`:

    log(1 + threshold) + (t[1 - level, df] + t[POWER, df]) * se
"""

from __future__ import annotations

import dataclasses
import math

from cebench.results.rules import MIN_RUNS, POWER


def trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y, for x up to 1e8; inf for a smaller y (a larger x)."""
    from scipy.optimize import brentq
    from scipy.special import polygamma

    if y <= polygamma(1, 1e8):
        return math.inf
    return float(brentq(lambda x: float(polygamma(1, x)) - y, 1e-8, 1e8))


def satterthwaite(parts) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of variance parts ``(var, df)``:
    (sum var)^2 / sum(var^2 / df); inf when every part has infinite df."""
    total = sum(v for v, _ in parts)
    denom = sum(v * v / df for v, df in parts if v > 0 and df > 0 and math.isfinite(df))
    if total <= 0:
        return math.inf
    return total * total / denom if denom > 0 else math.inf


def t_sf(t: float, df: float) -> float:
    """One-sided P(T > t) for T ~ t(df) (normal when df is inf); nan without df."""
    from scipy import stats

    if math.isnan(t) or math.isnan(df) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    return float(stats.norm.sf(t) if math.isinf(df) else stats.t.sf(t, df))


def t_quantile(q: float, df: float) -> float:
    """The q quantile of t(df) (normal when df is inf); nan without df."""
    from scipy import stats

    if math.isnan(df) or df <= 0:
        return math.nan
    return float(stats.norm.ppf(q) if math.isinf(df) else stats.t.ppf(q, df))


def min_detectable(log_threshold: float, se: float, df: float, level: float) -> float:
    """The true change (log) that a one-sided level-``level`` test against
    ``log_threshold`` catches with probability :data:`POWER`."""
    return log_threshold + (t_quantile(1 - level, df) + t_quantile(POWER, df)) * se


@dataclasses.dataclass(frozen=True)
class ThresholdTest:
    """One change against the threshold (log scale, larger is worse).

    ``t_worse = (delta - log(1 + threshold)) / se`` and ``t_better = (-delta -
    log(1 + threshold)) / se``, each against ``critical`` = t[1 - level, df]: a regression
    when t_worse exceeds it, an improvement when t_better does. ``low``/``high``: delta -/+
    critical se (the one-sided bounds); ``p_worse``/``p_better``: the one-sided P-values;
    ``min_detectable``: see the module doc."""

    delta: float
    se: float
    df: float
    critical: float
    t_worse: float
    t_better: float
    p_worse: float
    p_better: float
    low: float
    high: float
    min_detectable: float

    @property
    def worse(self) -> bool:
        return self.t_worse > self.critical

    @property
    def better(self) -> bool:
        return self.t_better > self.critical


def threshold_test(delta: float, se: float, df: float, log_threshold: float, level: float
                   ) -> ThresholdTest:
    """The test of ``delta`` against the threshold at one-sided ``level``. A zero ``se``
    (noiseless runs) decides by the value alone."""
    q = t_quantile(1 - level, df)
    if se == 0:
        big = lambda x: math.inf if x > 0 else -math.inf  # noqa: E731
        return ThresholdTest(delta, se, df, q, big(delta - log_threshold),
                             big(-delta - log_threshold),
                             0.0 if delta > log_threshold else 1.0,
                             0.0 if delta < -log_threshold else 1.0, delta, delta,
                             log_threshold)
    t_worse, t_better = (delta - log_threshold) / se, (-delta - log_threshold) / se
    return ThresholdTest(delta, se, df, q, t_worse, t_better, t_sf(t_worse, df),
                         t_sf(t_better, df), delta - q * se, delta + q * se,
                         log_threshold + (q + t_quantile(POWER, df)) * se)


def median_spread(variances, n: int) -> float:
    """The variance of the median of n independent changes with these variances, from
    their mean: (pi / 2) mean(var) / n (the median's asymptotic efficiency)."""
    finite = [v for v in variances if math.isfinite(v)]
    return math.pi / 2 * sum(finite) / len(finite) / n if finite and n else 0.0


@dataclasses.dataclass(frozen=True)
class SharedShift:
    """The suite-wide change: D, the median change of the ``time_`` benchmarks tested,
    against the run-to-run shift of whole runs (tau) and the median's own spread."""

    change: float       # D (log, larger is worse); nan without timings
    test: ThresholdTest | None
    runs_base: int      # runs that carry timings, per side
    runs_cand: int
    verdict: str        # 'regression', 'improvement', 'unchanged', 'inconclusive', 'none'


def shared_shift(deltas, noise_variances, tau: float, tau_df: float, runs_base: int,
                 runs_cand: int, log_threshold: float, level: float) -> SharedShift:
    """Test D = median(deltas) with se^2 = tau^2 (1/runs_base + 1/runs_cand) +
    :func:`median_spread`, tau_df degrees of freedom, one-sided at ``level`` against the
    threshold. 'inconclusive' when D exists but cannot be tested (a side with fewer than
    MIN_RUNS runs, or tau unknown), 'none' without timings."""
    deltas = [d for d in deltas if math.isfinite(d)]
    if not deltas:
        return SharedShift(math.nan, None, runs_base, runs_cand, "none")
    ordered = sorted(deltas)
    n = len(ordered)
    change = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    if not tau_df or min(runs_base, runs_cand) < MIN_RUNS or not math.isfinite(tau):
        return SharedShift(change, None, runs_base, runs_cand, "inconclusive")
    se = math.sqrt(tau * tau * (1 / runs_base + 1 / runs_cand)
                   + median_spread(noise_variances, n))
    test = threshold_test(change, se, tau_df, log_threshold, level)
    verdict = "regression" if test.worse else "improvement" if test.better else "unchanged"
    return SharedShift(change, test, runs_base, runs_cand, verdict)
