"""The runs in a results folder, as `cebench compare` specs name them: one per machine,
torch version and commit (its replicate results files together), and the pairs the CI
gate checks."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

from cebench.results import load as results


def runs_by_machine(results_dir: Path, skipped: list[Path] | None = None,
                    strict: bool = False) -> dict[str, list[Run]]:
    """machine name -> its runs, one per torch version x commit (replicate results files
    of that version and commit together), oldest torch first, then oldest commit (read
    with cebench.results.load, which also knows the torch version that ``--python=same``
    runs recorded themselves). Unreadable files are appended to ``skipped``; ``strict``:
    any damaged file is a ResultsError naming it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each skipped file is reported through `skipped`
        df = results.load(results_dir, skipped=skipped, strict=strict)
    return runs_from_frame(df)


def runs_from_frame(df) -> dict[str, list[Run]]:
    """:func:`runs_by_machine` of results already loaded (cebench.results.load.load)."""
    df = df[["machine", "torch_version", "env_name", "commit", "date", "file",
             "benchmark"]].dropna(subset=["torch_version", "commit"])
    found: dict[str, list[Run]] = {}
    for (machine, torch, commit), rows in df.groupby(["machine", "torch_version", "commit"]):
        files = rows["file"].unique()
        found.setdefault(str(machine), []).append(
            Run(str(torch), str(commit), str(rows["env_name"].iloc[0]),
                max(_epoch_s(d) for d in rows["date"]), len(files),
                frozenset(rows["benchmark"]), max(ran_at(f) for f in files)))
    return {m: sorted(r, key=lambda run: (results.version_key(run.torch), run.date, run.commit))
            for m, r in found.items()}


def ran_at(path) -> float:
    """When the run of an asv results file ended, as seconds since the epoch: the latest
    ``started_at`` + ``duration`` of its benchmarks (0.0 when the file does not say)."""
    try:
        data = json.loads(Path(path).read_text())
        columns = data["result_columns"]
        start, duration = columns.index("started_at"), columns.index("duration")
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    ends = [row[start] / 1000 + (row[duration] or 0) for row in data.get("results", {}).values()
            if isinstance(row, list) and len(row) > duration and row[start]]
    return max(ends, default=0.0)


def _epoch_s(date) -> float:
    """A results date (pandas Timestamp, or missing) as seconds since the epoch."""
    try:
        return float(date.timestamp())
    except (AttributeError, ValueError):  # missing (NaT / None): order it first
        return 0.0


@dataclass(frozen=True)
class Run:
    """The runs of one torch version at one commit on a machine (``runs`` replicate
    results files), as a `cebench compare` spec names them."""

    torch: str
    commit: str
    env: str
    date: float = 0.0  # the commit's date (asv's results date)
    runs: int = 1
    benchmarks: frozenset = frozenset()  # the benchmarks these runs hold results for
    ran_at: float = 0.0  # when the last of these runs ended (seconds since the epoch)

    @property
    def spec(self) -> str:
        return f"torch={self.torch},commit={self.commit[:12]}"

    @property
    def label(self) -> str:
        return (f"torch {self.torch} @ {self.commit[:8]}"
                + (f" ({self.runs} runs)" if self.runs > 1 else ""))


def latest_per_torch(runs: list[Run], commit: str | None = None) -> dict[str, Run]:
    """torch version -> its newest run (at ``commit`` when given), oldest version first."""
    latest: dict[str, Run] = {}
    for run in runs:  # sorted by version, then date: the last one seen wins
        if commit is None or run.commit.startswith(commit):
            latest[run.torch] = run
    return latest


def alert_pairs(runs: list[Run], commit: str | None = None) -> list[tuple[str, Run, Run]]:
    """What the GPU workflow checks on one machine: the newest torch version at ``commit``
    (default: the newest commit) against (a) the previous torch version at that commit and
    (b) the same torch version at the previous commit that has results for it."""
    if commit is None and runs:
        commit = max(runs, key=lambda r: r.date).commit
    at_commit = latest_per_torch(runs, commit)
    if not at_commit:
        return []
    versions = list(at_commit)
    candidate = at_commit[versions[-1]]
    pairs = []
    if len(versions) >= 2:
        pairs.append(("previous torch version", at_commit[versions[-2]], candidate))
    earlier = [r for r in runs if r.torch == candidate.torch and r.date < candidate.date
               and r.commit != candidate.commit]
    if earlier:  # the earlier run sharing most benchmarks (a run of a subset, e.g. a
        # history or instruction-count run, must not stand in for the whole suite), newest
        previous = max(earlier, key=lambda r: (len(r.benchmarks & candidate.benchmarks), r.date))
        pairs.append(("previous results", previous, candidate))
    return pairs
