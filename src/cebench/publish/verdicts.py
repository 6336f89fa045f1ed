"""Every regression verdict the site shows, from one computation per (baseline, candidate)
pair, with the rule that decided it beside it.

    df = load.load(results_dir)
    newest = verdicts.newest_run_pairs(df)      # the banner, the compare pages, the notebook
    steps = verdicts.release_steps(df)          # the front page, the history notebook

A pair's comparison is `cebench compare`'s (:func:`cebench.results.compare.compare_specs`
for two runs, :func:`cebench.results.releases.consecutive_changes` for consecutive
releases), at the default settings of :mod:`cebench.results.rules`. Its rows are then
told apart by the rule that judged them: instruction counts by the **count rule** (a
change of at least the count threshold, one run per side decides), every other unit by
the **time rule** (beyond the threshold and significant against the run-to-run noise of
replicate runs). Each :class:`RuleVerdict` carries the rule in words and the noise it
was judged against, so that no page shows a verdict without them.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from cebench.errors import InputError
from cebench.publish.conclusions import count_repeatability
from cebench.results import compare, releases, rules
from cebench.results import load as results

THRESHOLD = rules.DEFAULT_THRESHOLD
ALPHA = rules.DEFAULT_ALPHA
#: Verdicts of a change larger than its noise (compare's words).
CHANGED = ("regression", "shared", "improvement")


@dataclasses.dataclass(frozen=True)
class RuleVerdict:
    """What one rule said about the rows it judged in one comparison."""

    rule: str  # 'time' or 'count'
    words: str  # the rule with its settings (rules.rule_lines)
    compared: int  # rows with a value on both sides
    worse: int  # regressions (and, for the time rule, benchmarks carrying a shared one)
    better: int
    untested: int  # not testable (too few runs on a side) or failed in the candidate
    outcome: str  # 'regression', 'improvement', 'unchanged', 'inconclusive' or 'none'
    noise: str  # the noise these rows were judged against, in words
    largest: str = ""  # the largest change judged a change, in words

    @property
    def sentence(self) -> str:
        """'count rule: 4 worse, 0 better of 84 (+1.3 % ...)' for a page."""
        if self.outcome == "none":
            return f"{self.rule} rule: nothing it judges was measured on both sides"
        said = OUTCOME_WORDS[self.outcome]
        text = (f"{self.rule} rule: {said}; {self.worse} worse, {self.better} better of "
                f"{self.compared} compared")
        if self.untested:
            text += f", {self.untested} {UNTESTED_WORDS}"
        return text + (f"; largest: {self.largest}" if self.largest else "")


UNTESTED_WORDS = (f"untested (fewer than {rules.MIN_RUNS} runs on a side, or failed in the "
                  "candidate)")
OUTCOME_WORDS = {"regression": "regression", "improvement": "improvement",
                 "unchanged": "no change", "inconclusive": "inconclusive",
                 "none": "nothing to judge"}


@dataclasses.dataclass
class PairVerdict:
    """One comparison: its rows (compare's table), its overall outcome and each rule's."""

    machine: str
    baseline: str  # what a reader reads: 'torch 2.14.1 @ 5de27586 (3 runs)'
    candidate: str
    relation: str  # 'previous torch version', 'previous results', 'previous release'
    outcome: str  # compare.outcome of the whole table
    time: RuleVerdict
    count: RuleVerdict
    table: pd.DataFrame = dataclasses.field(repr=False)
    headline: str = ""  # compare's own report head (the `cebench compare` text)
    baseline_spec: str = ""
    candidate_spec: str = ""
    candidate_ran_at: float = 0.0  # when the candidate's last run ended (epoch seconds)
    slug: str = ""  # a file-name-safe name for this pair's page

    @property
    def rules(self) -> list[RuleVerdict]:
        return [r for r in (self.count, self.time) if r.outcome != "none"]

    def to_json(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("table",)}
        out["time"] = dataclasses.asdict(self.time)
        out["count"] = dataclasses.asdict(self.count)
        return out


def is_count(table: pd.DataFrame) -> pd.Series:
    """Rows the count rule judges (units that repeat exactly: instruction counts, accuracy
    figures)."""
    unit = table["unit_base"] if "unit_base" in table else pd.Series("", index=table.index)
    return unit.isin(compare.EXACT_UNITS)


def _largest(rows: pd.DataFrame) -> str:
    changed = rows[rows["verdict"].isin(CHANGED)]
    if changed.empty:
        return ""
    top = changed.loc[changed["worse_by"].abs().idxmax()]
    ratio = float(top["ratio"])
    values = ", ".join(p.split("=", 1)[-1] for p in str(top["params"]).split(", ") if p)
    return (f"{(ratio - 1) * 100:+.1f} % {top['short_name_base']} ({values})"
            if math.isfinite(ratio) else "")


def count_verdict(table: pd.DataFrame, repeat: tuple[float, int] | None = None) -> RuleVerdict:
    """The count rule's rows of a comparison table; ``repeat``: how far counts of one case
    counted twice differ on that machine (:func:`cebench.publish.conclusions.count_repeatability`)."""
    rows = table[is_count(table) & (table["verdict"] != "missing")] if len(table) else table
    words = rules.rule_lines(THRESHOLD, ALPHA)["count"]
    if rows.empty:
        return RuleVerdict("count", words, 0, 0, 0, 0, "none", "")
    n = compare.counts(rows)
    outcome = ("regression" if n["regression"] else "improvement" if n["improvement"]
               else "unchanged")
    noise = (f"instruction counts of one case counted in separate runs differ by at most "
             f"{repeat[0]:.3%} ({repeat[1]} counts counted twice)" if repeat else
             "no instruction count was counted twice on this machine: its repeatability is "
             "not measured")
    return RuleVerdict("count", words, len(rows), n["regression"], n["improvement"],
                       n["inconclusive"] + n.get("failed", 0), outcome, noise, _largest(rows))


def time_verdict(table: pd.DataFrame) -> RuleVerdict:
    """The time rule's rows of a comparison table, with the run-to-run noise they were
    judged against (tau, and the smallest shared change the comparison can detect)."""
    rows = table[~is_count(table) & (table["verdict"] != "missing")] if len(table) else table
    words = rules.rule_lines(THRESHOLD, ALPHA)["time"]
    if rows.empty:
        return RuleVerdict("time", words, 0, 0, 0, 0, "none", "")
    n = compare.counts(rows)
    state = compare.outcome(rows)
    if state == "ok":
        state = "improvement" if n["improvement"] else "unchanged"
    return RuleVerdict("time", words, len(rows), n["regression"] + n["shared"],
                       n["improvement"], n["inconclusive"] + n.get("failed", 0), state,
                       noise_words(rows), _largest(rows))


def noise_words(rows: pd.DataFrame) -> str:
    """The measured run-to-run noise of a comparison (its suites), in words."""
    parts = []
    for s in compare.suites(rows):
        if not math.isfinite(s.tau):
            parts.append(f"{s.machine}: run-to-run noise not measured (no replicate runs)")
            continue
        text = f"run-to-run noise {s.tau * 100:.1f} % (sd of whole runs, from {s.tau_source})"
        if math.isfinite(s.min_detectable):
            text += (f"; with {s.k_base} v {s.k_cand} runs a shared change of "
                     f"{compare.percent_words(s.min_detectable)} is caught "
                     f"{rules.POWER:.0%} of the time")
        parts.append(text)
    return "; ".join(parts)


def judge(table: pd.DataFrame, machine: str, baseline: str, candidate: str, relation: str,
          repeat: tuple[float, int] | None = None, **extra) -> PairVerdict:
    """A comparison's table as a :class:`PairVerdict` (``repeat``: see :func:`count_verdict`)."""
    return PairVerdict(machine, baseline, candidate, relation, compare.outcome(table)
                       if len(table) else "ok", time_verdict(table),
                       count_verdict(table, repeat), table, **extra)


# --- which pairs ---------------------------------------------------------------------------


def newest_run_pairs(df: pd.DataFrame) -> list[PairVerdict]:
    """For each machine, its newest run (the commit of the run that ended last, its newest
    torch version) against the previous torch version at that commit and against its own
    previous results (the pairs `cebench alert` checks), the newest first. Each pair is compared as
    ``cebench compare --baseline SPEC --candidate SPEC --machine M`` compares it."""
    from cebench.publish.runs import alert_pairs, runs_from_frame

    repeats = count_repeatability(df)
    out = []
    for machine, runs in runs_from_frame(df).items():
        everything = df[df["machine"] == machine]
        last = max(runs, key=lambda r: (r.ran_at, r.date))  # the run that ended last
        for relation, base, cand in alert_pairs(runs, last.commit):
            baseline, candidate = compare.Spec.parse(base.spec), compare.Spec.parse(cand.spec)
            try:
                table, notes = compare.compare_specs(everything, baseline, candidate,
                                                     threshold=THRESHOLD, alpha=ALPHA,
                                                     everything=everything)
            except InputError:  # no benchmark measured on both sides: nothing to say
                continue
            head = compare.headline(table, baseline, candidate, [machine], THRESHOLD, ALPHA,
                                    notes)
            slug = f"{machine}-{cand.torch}-{cand.commit[:8]}-vs-{base.torch}-{base.commit[:8]}"
            out.append(judge(table, machine, base.label, cand.label, relation,
                             repeats.get(machine), headline=head,
                             baseline_spec=base.spec, candidate_spec=cand.spec,
                             candidate_ran_at=cand.ran_at, slug=slug))
    return sorted(out, key=lambda v: -v.candidate_ran_at)


def release_steps(df: pd.DataFrame, changes: pd.DataFrame | None = None) -> list[PairVerdict]:
    """Each release against the one before it, per machine, in release order: the verdicts
    of :func:`cebench.results.releases.consecutive_changes` (pass ``changes`` when it is
    computed already)."""
    if changes is None:
        changes = release_changes(df)
    out = []
    if changes.empty:
        return out
    repeats = count_repeatability(df)
    for (machine, base, cand), table in changes.groupby(
            ["machine", "baseline_version", "candidate_version"], sort=False):
        out.append(judge(table, str(machine), f"torch {base}", f"torch {cand}",
                         "previous release", repeats.get(machine),
                         slug=f"{machine}-{cand}-vs-{base}"))
    order = {v: i for i, v in enumerate(releases.release_order(changes["candidate_version"]))}
    return sorted(out, key=lambda v: (v.machine, order[v.candidate.split()[-1]]))


def release_changes(df: pd.DataFrame) -> pd.DataFrame:
    """:func:`cebench.results.releases.consecutive_changes` at the rules' settings."""
    return releases.consecutive_changes(df, threshold=THRESHOLD, alpha=ALPHA)


def version_of(label: str) -> str:
    """'torch 2.14.1 @ 5de27586 (3 runs)' -> '2.14.1'."""
    return label.split()[1] if label.startswith("torch ") else label


def in_release_order(verdicts: list[PairVerdict]) -> list[PairVerdict]:
    return sorted(verdicts, key=lambda v: results.version_key(version_of(v.candidate)))
