"""Results across torch releases: what changed between consecutive releases, and when.

    df = load.load("results")
    changes = releases.consecutive_changes(df)        # cebench compare's verdicts
    cases = releases.load_semantics("results")        # `cebench check` per release
    releases.semantic_changes(cases)

Replicate runs (several runs of one release at one commit on one machine) are files named
as asv names them plus ``-r<k>`` (k = 2, 3, ...); :func:`replicate_of` reads k from the
``file`` column (1 for asv's own name). Comparisons between consecutive releases take
the runs of each side at one commit per pair: the newest commit that measured
that benchmark on both releases (never one release at one commit against another at
another commit).

The semantics verdicts of each release (``cebench check`` run in that release's
environment by ``cebench history``) lie in ``<results>/<machine>/semantics/torch-<release>.jsonl``:
a header line (torch build, commit, verdict counts), then one line per golden, edge and
bad-input case (and per grid case that did not match).
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path

import pandas as pd

from cebench.results import compare
from cebench.results import load as results
from cebench.results.rules import DEFAULT_ALPHA, DEFAULT_THRESHOLD

SEMANTICS_DIR = "semantics"
#: ``<results>/<machine>/builds/torch-<release>.jsonl``: ``cebench instructions --build
#: --json`` records (a JSON line; not ``.json``, which asv would read as a results file).
BUILDS_DIR = "builds"
_REPLICATE = re.compile(r"-r(\d+)\.json$")

#: Columns of :func:`consecutive_changes` besides compare's.
PAIR_COLUMNS = ["baseline_version", "candidate_version", "commit"]


def replicate_of(filename) -> int:
    """1 for asv's own file name, k for ``...-r<k>.json``."""
    match = _REPLICATE.search(str(filename))
    return int(match.group(1)) if match else 1


def with_replicates(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with a ``replicate`` column (from the file name)."""
    return df.assign(replicate=df["file"].map(replicate_of))


def release_order(versions) -> list[str]:
    """Torch versions oldest first ('2.9.1' before '2.13.0')."""
    return sorted({str(v) for v in versions if isinstance(v, str)}, key=results.version_key)


def replicate_aware() -> bool:
    """Whether compare pools a side's replicate runs (its ``compare_frames`` then takes
    the noise that replicates measured as ``reference``); else it takes one run a side."""
    return "reference" in inspect.signature(compare.compare_frames).parameters


def consecutive_changes(df: pd.DataFrame, *, threshold: float = DEFAULT_THRESHOLD,
                        alpha: float = DEFAULT_ALPHA) -> pd.DataFrame:
    """``compare.compare_frames`` between each release and the one before it, per machine.

    Each pair is compared at one commit per benchmark: the newest commit (by date) with
    measured results of that benchmark for both releases (a run that skipped the
    benchmark, e.g. a quick run without instruction counts, never hides an earlier one
    that measured it); one call of ``compare_frames`` per
    pair and commit. Each side is every replicate run there when compare pools
    replicates (:func:`replicate_aware`), else its first run. Columns: compare's, plus
    :data:`PAIR_COLUMNS`.
    """
    pooled = replicate_aware()
    runs = with_replicates(df)
    if not pooled:  # one run per side: the first
        runs = runs[runs["replicate"] == 1]
    parts = []
    for machine, rows in runs.groupby("machine"):
        extra = {"reference": rows} if pooled else {}
        versions = release_order(rows["torch_version"].dropna())
        for base, cand in zip(versions, versions[1:]):
            pair = rows[rows["torch_version"].isin([base, cand])]
            measured = pair[pair["status"].isin(compare.select.MEASURED_STATUSES)]
            have = measured.groupby(["benchmark", "commit"])["torch_version"].nunique()
            both = have[have == 2].reset_index()[["benchmark", "commit"]]
            if both.empty:
                continue
            dates = pair.groupby("commit")["date"].max()
            both = both.assign(date=both["commit"].map(dates)).sort_values("date")
            chosen = both.groupby("benchmark").tail(1)
            for commit, benchmarks in chosen.groupby("commit")["benchmark"]:
                at = pair[(pair["commit"] == commit) & pair["benchmark"].isin(set(benchmarks))]
                table = compare.compare_frames(at[at["torch_version"] == base],
                                               at[at["torch_version"] == cand],
                                               threshold=threshold, alpha=alpha, **extra)
                if len(table):
                    parts.append(table.assign(baseline_version=base, candidate_version=cand,
                                              commit=commit))
    if not parts:
        return pd.DataFrame(columns=["machine", "benchmark", "params", "ratio", "verdict",
                                     *PAIR_COLUMNS])
    return pd.concat(parts, ignore_index=True)


def history_series(df: pd.DataFrame) -> pd.DataFrame:
    """One value per machine x benchmark x parameters x release: what a chart over releases
    plots. The first run at the newest commit that measured the release; columns of
    :func:`cebench.results.load.load` plus ``release_index`` (0 = oldest release)."""
    rows = results.ok(with_replicates(df))
    rows = rows[rows["replicate"] == 1]
    if rows.empty:
        return rows.assign(release_index=[])
    rows = rows.sort_values("date")
    keys = ["machine", "benchmark", "params", "torch_version"]
    rows = rows.groupby(keys, sort=False).tail(1)
    order = {v: i for i, v in enumerate(release_order(rows["torch_version"].dropna()))}
    return rows.assign(release_index=rows["torch_version"].map(order)).reset_index(drop=True)


# --- builds -----------------------------------------------------------------------------


def load_builds(results_dir, machine: str | None = None) -> pd.DataFrame:
    """One row per machine x release: the torch build ``cebench instructions --build``
    recorded in ``<machine>/builds/torch-<release>.jsonl`` (compiler, C++ standard, MKL,
    oneDNN, CPU capability natively on that machine). Columns: machine, release and the
    record's keys."""
    rows = []
    for path in sorted(Path(results_dir).glob(f"*/{BUILDS_DIR}/torch-*.jsonl")):
        machine_name = path.parent.parent.name
        if machine is not None and machine_name != machine:
            continue
        lines = [line for line in path.read_text().splitlines() if line.strip()]
        if not lines:
            continue
        try:
            record = json.loads(lines[0])
            release = str(record["torch_version"]).split("+")[0]
        except (ValueError, KeyError, TypeError) as exc:
            raise results.ResultsError(f"{path}: not a record of `cebench instructions "
                                       f"--build --json` ({type(exc).__name__}: {exc})") from None
        rows.append({"machine": machine_name, "release": release, **record})
    return pd.DataFrame(rows)


# --- semantics --------------------------------------------------------------------------


def load_semantics(results_dir, machine: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(releases, cases)`` from every ``<machine>/semantics/torch-*.jsonl``.

    ``releases``: one row per machine x release (torch build, commit, rules broken, and the
    verdict counts per kind as ``'<kind> <verdict>'`` columns). ``cases``: one row per
    stored case and release, with ``outcome`` (:func:`outcome`).
    """
    heads, cases = [], []
    for path in sorted(Path(results_dir).glob(f"*/{SEMANTICS_DIR}/torch-*.jsonl")):
        machine_name = path.parent.parent.name
        if machine is not None and machine_name != machine:
            continue
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if not lines:
            continue
        head, records = lines[0], lines[1:]
        counts = {f"{kind} {verdict}": n
                  for kind, by in (head.get("summary") or {}).get("verdicts", {}).items()
                  for verdict, n in by.items()}
        heads.append({"machine": machine_name, "release": head.get("release"),
                      "torch_build": head.get("torch_version"), "commit": head.get("commit"),
                      "rules_broken": (head.get("summary") or {}).get("rules_broken"),
                      **counts})
        for rec in records:
            cases.append({"machine": machine_name, "release": head.get("release"), **rec,
                          "outcome": outcome(rec)})
    releases = pd.DataFrame(heads)
    if len(releases):
        order = {v: i for i, v in enumerate(release_order(releases["release"]))}
        releases = releases.sort_values(["machine", "release"], key=lambda s: s.map(order)
                                        if s.name == "release" else s).reset_index(drop=True)
    return releases, pd.DataFrame(cases)


def outcome(case: dict) -> str:
    """What torch did in a case, comparable across releases: the verdict, and the error's
    type or the loss to 4 significant digits ('raises: IndexError', 'differs: 0')."""
    verdict = case.get("verdict", "?")
    error = case.get("torch_error")
    if error:
        return f"{verdict}: {str(error).split(':', 1)[0]}"
    loss = case.get("torch_loss")
    if isinstance(loss, str):  # JSON has no NaN: the check writes "nan", "inf"
        return f"{verdict}: {loss}"
    if isinstance(loss, (int, float)):
        return f"{verdict}: {loss:.4g}" if math.isfinite(loss) else f"{verdict}: {loss}"
    return verdict


CASE_KEYS = ["machine", "kind", "name", "device", "dtype"]


def semantics_table(cases: pd.DataFrame) -> pd.DataFrame:
    """Cases x releases (release order): the outcome of each case in each release."""
    if cases.empty:
        return pd.DataFrame()
    table = cases.pivot_table(index=CASE_KEYS, columns="release", values="outcome",
                              aggfunc="first")
    return table[release_order(table.columns)]


def semantic_changes(cases: pd.DataFrame) -> pd.DataFrame:
    """Cases whose outcome differs between a release and the one before it.

    Grid cases are stored only when they do not match; a grid case stored for one
    release and not the other changed from or to 'matches or skipped'. Columns:
    machine, kind, name, device, dtype, baseline_version, candidate_version, before, after.
    """
    columns = CASE_KEYS + ["baseline_version", "candidate_version", "before", "after"]
    if cases.empty:
        return pd.DataFrame(columns=columns)
    table = semantics_table(cases)
    versions = list(table.columns)
    rows = []
    for key, outcomes in table.iterrows():
        grid = key[1] == "grid"
        for base, cand in zip(versions, versions[1:]):
            before, after = outcomes[base], outcomes[cand]
            if grid:
                before = "matches or skipped" if pd.isna(before) else before
                after = "matches or skipped" if pd.isna(after) else after
            elif pd.isna(before) or pd.isna(after):
                continue
            if before != after:
                rows.append(dict(zip(CASE_KEYS, key), baseline_version=base,
                                 candidate_version=cand, before=before, after=after))
    return pd.DataFrame(rows, columns=columns)
