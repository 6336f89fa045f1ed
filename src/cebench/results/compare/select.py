"""Which runs each side of a comparison takes.

A **run** is one asv results file; replicate runs of one environment and commit sit side by
side as ``<asv name>-r2.json``, ``-r3`` ... A side takes every run its :class:`Spec` matches.
When a spec names no commit, :func:`choose_commits` picks, per benchmark, the newest commit
at which the benchmark was *measured* on both sides (a value skipped at a newer commit never
masks a measured one). :func:`drop_duplicate_runs` removes copies of one run (the same
start time and the same values under two names), which would otherwise count as two
replicates.
"""

from __future__ import annotations

import dataclasses
import re

import pandas as pd

from cebench.errors import InputError
from cebench.results import load as results_mod

SPEC_KEYS = ("torch", "commit", "env")

#: Statuses of a benchmark that was run (a value, or asv's record of a failure). A value
#: skipped (asv's NaN) was not measured.
MEASURED_STATUSES = ("ok", "failed")


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


def choose_commits(base: pd.DataFrame, cand: pd.DataFrame, baseline: Spec,
                   candidate: Spec) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """When a side's spec names no commit and its runs span several commits, keep one
    commit per benchmark: the newest at which both sides *measured* that benchmark, else
    that side's newest measurement of it (else, never measured, its newest row). Per
    benchmark, so that a later run of a subset (say, only the instruction counts) does not
    hide the other benchmarks' earlier runs, and a value skipped at a newer commit does not
    hide a measured one. Returns the two sides and one note per narrowed side."""
    notes = []
    sides = {"baseline": base, "candidate": cand}
    measured = lambda rows: rows[rows["status"].isin(MEASURED_STATUSES)]  # noqa: E731
    for role, spec, rows, other in (("baseline", baseline, base, cand),
                                    ("candidate", candidate, cand, base)):
        if spec.commit is not None or rows["commit"].nunique() <= 1:
            continue
        dates = rows.groupby("commit")["date"].max().to_dict()
        newest = lambda commits: max(commits, key=lambda c: (dates[c], c))  # noqa: E731
        other_commits = measured(other).groupby("benchmark")["commit"].agg(set).to_dict()
        mine_measured = measured(rows).groupby("benchmark")["commit"].agg(set).to_dict()
        kept, chosen, shared = [], set(), True
        for benchmark, bench_rows in rows.groupby("benchmark"):
            mine = mine_measured.get(benchmark) or set(bench_rows["commit"])
            pool = mine & other_commits.get(benchmark, set())
            shared &= bool(pool)
            commit = newest(pool or mine)
            chosen.add(commit)
            kept.append(bench_rows[bench_rows["commit"] == commit])
        sides[role] = pd.concat(kept)
        why = ("the newest commit both sides measured" if shared else
               "the newest commit both sides measured, else its newest")
        notes.append(f"{role} {spec.text}: runs at {len(dates)} commits; taking per benchmark "
                     f"{why} ({', '.join(sorted(str(c)[:8] for c in chosen))}; "
                     "name another with commit=)")
    return sides["baseline"], sides["candidate"], notes


def run_signature(rows: pd.DataFrame) -> pd.Series:
    """Per run (file): its environment, commit, date, row count and an order-free hash of
    its (benchmark, parameters, value) rows, as one hashable tuple."""
    hashed = pd.util.hash_pandas_object(rows[["benchmark", "params", "value"]], index=False)
    per_file = pd.DataFrame({"file": rows["file"].to_numpy(), "hash": hashed.to_numpy()})
    content = per_file.groupby("file")["hash"].agg(lambda h: (int(h.sum()), len(h)))
    first = rows.groupby("file")[["env_name", "commit"]].first().astype(str)
    dates = rows.groupby("file")["date"].max().astype(str)
    return pd.Series({f: (dates[f], first.at[f, "env_name"], first.at[f, "commit"], content[f])
                      for f in content.index})


def drop_duplicate_runs(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``rows`` without copies of a run (same machine, start time, environment, commit and
    values under another file name), and the files dropped. A copy is not a replicate:
    counting it would shrink the measured noise. Of copies, the lowest replicate number and
    the shortest name stay."""
    if rows.empty:
        return rows, []
    dropped: list[str] = []
    for _, machine_rows in rows.groupby("machine"):
        signatures = run_signature(machine_rows)
        order = sorted(signatures.index, key=lambda f: (replicate_number(f), len(str(f)), str(f)))
        seen = set()
        for file in order:
            if signatures[file] in seen:
                dropped.append(file)
            seen.add(signatures[file])
    return (rows[~rows["file"].isin(dropped)] if dropped else rows), sorted(dropped)


def replicate_number(path) -> int:
    """k of a replicate results file '<asv name>-r<k>.json' (1 for asv's own name)."""
    match = re.search(r"-r(\d+)\.json$", str(path))
    return int(match.group(1)) if match else 1


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
