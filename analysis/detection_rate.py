"""How often does a regression rule catch a slowdown, and how often does it cry wolf (A/A)?

    python analysis/detection_rate.py --aa results --injected tests/data/aa-injected

Input: an A/A series (>= 4 runs of one torch version at one commit on one machine, each
its own asv results file, as ``analysis/aa_series.py`` records them) and, optionally,
runs of the same code with an injected slowdown (``CEBENCH_INJECT_*``) recorded
interleaved with it. Four rules are measured on the same data:

* ``cebench`` -- ``cebench compare`` now: replicate runs per side (``k`` each);
  ``cebench-relative`` the same plus the optional test of each benchmark's change beyond
  the suite's (``compare_frames(relative=True)``);
* ``cebench-before`` -- ``cebench compare`` as it was before replicates (one run per
  side, Mann-Whitney on the raw samples with a noise floor from the other benchmarks);
  its code is taken from the repository's history (``--before``, a commit);
* ``asv`` -- asv's own decision (``asv._stats.is_different``: Mann-Whitney p < 0.002 on
  the raw samples, else 99 % intervals apart) and a change beyond x1.1, as
  ``asv compare`` / ``asv continuous`` decide; one run per side;
* ``benchstat`` -- Go's benchstat rule: Mann-Whitney U p < 0.05 on the raw samples, one
  run per side, no threshold and no correction for the number of benchmarks.

A/A: every pair of runs (one-run rules) and random disjoint splits into k + k runs
(cebench). Synthetic candidates: the candidate runs of an A/A comparison with the
value, interval and raw samples of some ``time_`` benchmarks multiplied by a factor
(x1.5, x2, x3 on one benchmark, 10 %, 50 % and 100 % of them). Real injected runs: the
injected kind's runs against the A/A runs.

Prints Markdown tables (what docs/measurement.md quotes) and writes ``--json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
FACTORS = (1.5, 2.0, 3.0)
SHARES = ("one", 0.10, 0.50, 1.00)


# --- the rules ---------------------------------------------------------------------------


def old_compare_module(commit: str):
    """``cebench.results.compare`` as it was at ``commit`` (the rule before replicates)."""
    source = subprocess.check_output(
        ["git", "-C", str(REPO), "show", f"{commit}:src/cebench/results/compare.py"], text=True)
    path = Path(tempfile.mkdtemp(prefix="cebench-before-")) / "compare_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("compare_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def flags_cebench(base: pd.DataFrame, cand: pd.DataFrame, **_) -> tuple[set, str]:
    from cebench.results import compare

    table = compare.compare_frames(base, cand)
    flagged = set(table.loc[table["verdict"].isin(["regression", "shared"]), "key"])
    return flagged, compare.outcome(table)


def _time_rows(base: pd.DataFrame, cand: pd.DataFrame) -> pd.DataFrame:
    keys = ["benchmark", "params"]
    cols = keys + ["value", "samples", "ci_99_low", "ci_99_high"]
    a = base[(base["kind"] == "time") & (base["status"] == "ok")][cols]
    b = cand[(cand["kind"] == "time") & (cand["status"] == "ok")][cols]
    return a.merge(b, on=keys, suffixes=("_a", "_b"))


def flags_cebench_relative(base: pd.DataFrame, cand: pd.DataFrame, **_) -> tuple[set, str]:
    """cebench plus the test of each benchmark's change beyond the suite's."""
    from cebench.results import compare

    table = compare.compare_frames(base, cand, relative=True)
    flagged = set(table.loc[table["verdict"].isin(["regression", "shared"]), "key"])
    return flagged, compare.outcome(table)


#: The rules that take replicate runs per side (the others take one run per side).
REPLICATE_RULES = ("cebench", "cebench-relative")


def flags_asv(base, cand, **_) -> tuple[set, str]:
    from asv import _stats

    flagged = set()
    for r in _time_rows(base, cand).itertuples(index=False):
        different = _stats.is_different(
            r.samples_a, r.samples_b, {"ci_99_a": r.ci_99_low_a, "ci_99_b": r.ci_99_high_a},
            {"ci_99_a": r.ci_99_low_b, "ci_99_b": r.ci_99_high_b})
        if different and r.value_b > r.value_a * 1.1:  # asv compare's default factor
            flagged.add(f"{r.benchmark}({r.params})")
    return flagged, "regression" if flagged else "ok"


def flags_benchstat(base, cand, **_) -> tuple[set, str]:
    from scipy.stats import mannwhitneyu

    flagged = set()
    for r in _time_rows(base, cand).itertuples(index=False):
        if r.samples_a and r.samples_b and r.value_b > r.value_a:
            if mannwhitneyu(r.samples_a, r.samples_b, alternative="two-sided").pvalue < 0.05:
                flagged.add(f"{r.benchmark}({r.params})")
    return flagged, "regression" if flagged else "ok"


def make_flags_before(module):
    def flags(base, cand, **_):
        table = module.compare_frames(base, cand)
        keys = table["benchmark"] + "(" + table["params"] + ")"
        flagged = set(keys[table["verdict"] == "regression"])
        return flagged, "regression" if flagged else "ok"
    return flags


# --- data ------------------------------------------------------------------------------


def load_runs(folder: Path) -> pd.DataFrame:
    from cebench.results import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load.load(folder)
    return df.assign(key=df["benchmark"] + "(" + df["params"] + ")")


def relabel(rows: pd.DataFrame, side: str) -> pd.DataFrame:
    """One side of a comparison: the runs as they are, the env renamed (specs aside)."""
    return rows.assign(env_name=side)


def slow_down(rows: pd.DataFrame, keys: set, factor: float) -> pd.DataFrame:
    """The rows with ``keys``' value, interval, quartiles and raw samples x factor."""
    rows = rows.copy()
    hit = rows["key"].isin(keys)
    for col in ("value", "ci_99_low", "ci_99_high", "q25", "q75"):
        rows.loc[hit, col] = rows.loc[hit, col] * factor
    rows.loc[hit, "samples"] = rows.loc[hit, "samples"].map(
        lambda s: [x * factor for x in s] if s else s)
    return rows


def pick(keys: list, share, rng) -> set:
    n = 1 if share == "one" else max(1, round(share * len(keys)))
    return set(rng.choice(keys, size=n, replace=False))


# --- the measurement --------------------------------------------------------------------


def evaluate(aa: pd.DataFrame, injected: pd.DataFrame | None, rules: dict, ks: list[int],
             draws: int, seed: int) -> pd.DataFrame:
    """One row per comparison: rule, scenario, k, alarm (exit 1), inconclusive, false
    flags, slowed benchmarks flagged and how many there were."""
    rng = np.random.default_rng(seed)
    files = sorted(aa["file"].unique())
    by_file = {f: aa[aa["file"] == f] for f in files}
    time_keys = sorted(aa.loc[(aa["kind"] == "time") & (aa["status"] == "ok"), "key"].unique())
    out = []

    def record(rule, scenario, k, base, cand, slowed=frozenset()):
        flagged, state = rules[rule](relabel(base, "a"), relabel(cand, "b"))
        out.append({"rule": rule, "scenario": scenario, "k": k, "alarm": state == "regression",
                    "inconclusive": state == "inconclusive",
                    "false_flags": len(flagged - set(slowed)),
                    "hit": len(flagged & set(slowed)), "slowed": len(slowed)})

    replicate_rules = [r for r in rules if r in REPLICATE_RULES]
    one_run_rules = [r for r in rules if r not in REPLICATE_RULES]
    pairs = list(itertools.combinations(files, 2))
    # A/A: every pair (one run per side), and k + k splits for cebench
    for a, b in pairs:
        for rule in rules:
            record(rule, "A/A", 1, by_file[a], by_file[b])
    splits = {k: [rng.permutation(files)[:2 * k] for _ in range(draws)] for k in ks if 2 * k <= len(files)}
    for k, chosen in splits.items():
        if k == 1:
            continue
        for perm in chosen:
            for rule in replicate_rules:
                record(rule, "A/A", k, pd.concat(by_file[f] for f in perm[:k]),
                       pd.concat(by_file[f] for f in perm[k:]))
    # synthetic candidates from the real runs
    for factor, share in itertools.product(FACTORS, SHARES):
        scenario = f"x{factor:g} on {'one' if share == 'one' else f'{share:.0%}'}"
        for _ in range(draws):
            slowed = pick(time_keys, share, rng)
            a, b = pairs[rng.integers(len(pairs))]
            for rule in one_run_rules:
                record(rule, scenario, 1, by_file[a], slow_down(by_file[b], slowed, factor), slowed)
            for k in ks:
                if 2 * k > len(files):
                    continue
                perm = rng.permutation(files)[:2 * k]
                base = pd.concat(by_file[f] for f in perm[:k])
                cand = slow_down(pd.concat(by_file[f] for f in perm[k:]), slowed, factor)
                for rule in replicate_rules:
                    record(rule, scenario, k, base, cand, slowed)
    # real injected runs, against the A/A runs
    if injected is not None and not injected.empty:
        for kind, rows in injected.groupby("env_kind"):
            inj_files = sorted(rows["file"].unique())
            slowed = injected_keys(kind, time_keys)
            for f in inj_files:
                for a in files:
                    for rule in one_run_rules:
                        record(rule, f"injected {kind}", 1, by_file[a], rows[rows["file"] == f],
                               slowed)
            k = len(inj_files)
            for _ in range(draws):
                chosen = rng.permutation(files)[:k]
                for rule in replicate_rules:
                    record(rule, f"injected {kind}", k,
                           pd.concat(by_file[f] for f in chosen), rows, slowed)
            for rule in replicate_rules:
                record(rule, f"injected {kind}", k, aa, rows, slowed)
    return pd.DataFrame(out)


def injected_keys(kind: str, time_keys: list[str]) -> set:
    """The time_ benchmarks an injected kind slows down (see analysis/aa_series.py)."""
    sys.path.insert(0, str(REPO / "analysis"))
    import re

    from aa_series import INJECTED

    _, match = INJECTED[kind]
    out = set()
    for key in time_keys:
        params = key[key.index("(") + 1:-1].split(", ")
        family, dtype, reduction, weighting = (p.strip("'") for p in params)
        name = f"{family}.contiguous.{dtype}.{reduction}.w-{weighting}"
        if re.search(match, name):
            out.add(key)
    return out


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    g = rows.groupby(["scenario", "rule", "k"], sort=False)
    table = g.agg(comparisons=("alarm", "size"), alarms=("alarm", "sum"),
                  inconclusive=("inconclusive", "sum"), false_flags=("false_flags", "mean"),
                  hit=("hit", "sum"), slowed=("slowed", "sum")).reset_index()
    table["flagged_share"] = np.where(table["slowed"] > 0, table["hit"] / table["slowed"].clip(lower=1),
                                      np.nan)
    return table


def markdown(table: pd.DataFrame) -> str:
    lines = ["| scenario | rule | runs per side | comparisons | exit 1 | exit 3 | "
             "slowed flagged | false flags / comparison |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in table.itertuples(index=False):
        flagged = "—" if not r.slowed else f"{r.flagged_share:.0%}"
        lines.append(f"| {r.scenario} | {r.rule} | {r.k} | {r.comparisons} | "
                     f"{r.alarms} ({r.alarms / r.comparisons:.0%}) | {r.inconclusive} | "
                     f"{flagged} | {r.false_flags:.2f} |")
    return "\n".join(lines)


def compact(table: pd.DataFrame) -> str:
    """One row per scenario, one column per rule (and runs per side): the share of
    comparisons that exit 1, and in brackets the share of slowed benchmarks flagged (or,
    for A/A, the false flags per comparison)."""
    cols = [(r.rule, r.k) for r in table.drop_duplicates(["rule", "k"]).itertuples()]
    order = {"cebench-before": 0, "asv": 1, "benchstat": 2, "cebench": 3,
             "cebench-relative": 4}
    cols.sort(key=lambda c: (order.get(c[0], 9), c[1]))
    head = ["scenario"] + [f"{rule} ({k} run{'s' if k > 1 else ''}/side)" for rule, k in cols]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * len(cols) + "|"]
    for scenario, part in table.groupby("scenario", sort=False):
        cells = []
        for rule, k in cols:
            row = part[(part["rule"] == rule) & (part["k"] == k)]
            if row.empty:
                cells.append("")
                continue
            r = row.iloc[0]
            if r.inconclusive == r.comparisons:
                cells.append("exit 3 (all)")
                continue
            detail = (f"{r.false_flags:.1f} false" if not r.slowed
                      else f"{r.flagged_share:.0%} flagged")
            cells.append(f"{r.alarms / r.comparisons:.0%} ({detail})")
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--aa", type=Path, default=REPO / "results",
                        help="results folder holding the A/A series")
    parser.add_argument("--machine", default="cpu-amd-epyc-2c")
    parser.add_argument("--torch", default="2.13.0")
    parser.add_argument("--commit", default=None, help="the series' commit (default: the one "
                        "with most runs of --torch)")
    parser.add_argument("--injected", type=Path, default=REPO / "tests" / "data" / "aa-injected",
                        help="folder of injected runs, one sub-folder per kind")
    parser.add_argument("--before", default="9165691",
                        help="commit whose cebench compare is the 'before' rule")
    parser.add_argument("--k", type=int, nargs="+", default=[2, 3, 6])
    parser.add_argument("--draws", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", nargs="+", default=["cebench", "cebench-before", "asv",
                                                       "benchstat"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    df = load_runs(args.aa)
    df = df[(df["machine"] == args.machine) & (df["torch_version"] == args.torch)]
    commit = args.commit or df.groupby("commit")["file"].nunique().idxmax()
    aa = df[df["commit"].str.startswith(commit)]
    print(f"A/A series: {aa['file'].nunique()} runs of torch {args.torch} at {commit[:8]} on "
          f"{args.machine}", file=sys.stderr)
    every = {"cebench": flags_cebench, "cebench-relative": flags_cebench_relative,
             "asv": flags_asv, "benchstat": flags_benchstat}
    if "cebench-before" in args.rules:
        every["cebench-before"] = make_flags_before(old_compare_module(args.before))
    rules = {r: every[r] for r in args.rules}
    injected = None
    if args.injected and args.injected.is_dir():
        parts = [load_runs(p).assign(env_kind=p.name) for p in sorted(args.injected.iterdir())
                 if p.is_dir()]
        injected = pd.concat(parts, ignore_index=True) if parts else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = evaluate(aa, injected, rules, args.k, args.draws, args.seed)
    table = summarise(rows)
    print(markdown(table))
    print()
    print(compact(table))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows.to_dict("records"),
                                         "summary": table.to_dict("records")}, indent=1,
                                        default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
