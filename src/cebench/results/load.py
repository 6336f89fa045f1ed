"""asv results as one tidy pandas DataFrame: a row per benchmark x parameters x run.

    df = cebench.results.load.load("results")

asv keeps ``results/benchmarks.json`` (names, parameters, units) and, per machine,
``results/<machine>/machine.json`` and one ``<commit[:8]>-<env_name>.json`` per
environment and commit (asv's compact format, read with asv's own loader). A file that
cannot be read is skipped with a one-line warning naming it; the rest loads.

**Replicate runs**: a second, third ... run of the same environment and commit is kept as
its own file, asv's name plus ``-r2``, ``-r3`` ... before ``.json``
(``1038e6ab-virtualenv-py3.11-numpy-torch2.13.0-r2.json``); asv's own tools load every
``*.json`` of a machine folder whatever its name (``asv publish`` averages the runs of
one commit). Each file is one run: the ``file`` column tells runs apart, and
:func:`replicate_name` gives the next free name.

Columns: machine, cpu, gpu, env_name, torch_version, python, commit, date, benchmark
(full asv name), short_name (class.method), kind (time/track), pass ('forward',
'forward_backward' or None, from the method name), unit, one column per
parameter (values unquoted: 'float32', 0.1), params (the parameters in words, for
labels: 'family=small, weighting=random, ignore=0.1, smoothing=0.0'; :func:`param_label`),
status ('ok', 'skipped' = NaN, asv's skip; 'failed' = no value), value
(asv's result: the median for time_), ci_99_low/high, q25, q75, n_samples, samples
(the raw samples, a list, where ``--record-samples`` kept them, else None), file.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import re
import warnings
from pathlib import Path

import pandas as pd

from cebench.errors import InputError

#: The benchmark that records the torch version (for ``existing`` environments).
TORCH_VERSION_BENCHMARK = "bench_environment.Environment.track_torch_version"

#: Columns every frame has, in order (parameter columns go after ``unit``).
BASE_COLUMNS = ["machine", "cpu", "gpu", "env_name", "torch_version", "python", "commit",
                "date", "benchmark", "short_name", "kind", "pass", "unit"]
VALUE_COLUMNS = ["params", "status", "value", "ci_99_low", "ci_99_high", "q25", "q75",
                 "n_samples", "samples", "file"]


#: Shorter words for long parameter names in labels (:func:`param_label`).
PARAM_WORDS = {"ignore_fraction": "ignore", "label_smoothing": "smoothing"}


class ResultsError(InputError):
    """The results directory is missing, empty, or holds nothing readable."""


def param_label(params: dict) -> str:
    """Parameters in words, for reports: {'family': 'small', 'ignore_fraction': 0.1} ->
    'family=small, ignore=0.1' (an unparameterised benchmark: '')."""
    return ", ".join(f"{PARAM_WORDS.get(name, name)}={value}" for name, value in params.items())


def result_files(results_dir, machine: str | None = None) -> dict[Path, list[Path]]:
    """Machine folder -> its asv result files (every ``*.json`` but ``machine.json``)."""
    found = {}
    for machine_dir in sorted(p for p in Path(results_dir).iterdir() if p.is_dir()):
        if machine is None or machine_dir.name == machine:
            paths = sorted(p for p in machine_dir.glob("*.json") if p.name != "machine.json")
            if paths:
                found[machine_dir] = paths
    return found


def unquote(value: str):
    """asv stores parameter values as repr strings: "'float32'" -> 'float32', '0.1' -> 0.1."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def load_benchmarks(results_dir: Path) -> dict:
    """``benchmarks.json`` as a dict (without its ``version``); {} with a warning if unreadable."""
    path = Path(results_dir) / "benchmarks.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        warnings.warn(f"{path}: missing; parameter names and units unknown", stacklevel=3)
        return {}
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: unreadable ({_first_line(exc)}); parameter names and units "
                      "unknown", stacklevel=3)
        return {}
    data.pop("version", None)
    return {name: spec for name, spec in data.items() if isinstance(spec, dict)}


def load_machine(machine_dir: Path) -> dict:
    """``machine.json`` of a machine folder ({} with a warning if unreadable)."""
    path = machine_dir / "machine.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except FileNotFoundError:
        warnings.warn(f"{path}: missing; machine details unknown", stacklevel=3)
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path}: unreadable ({_first_line(exc)}); machine details unknown",
                      stacklevel=3)
    return {}


def gpu_name(machine: str, machine_info: dict) -> str | None:
    """The GPU a machine has: machine.json's ``gpu`` if recorded, else from the asv name.

    cebench names machines after their device (cebench.environment.machine_name):
    'nvidia-h200-x1' for a GPU machine, 'cpu-...' for a CPU-only one.
    """
    if machine_info.get("gpu"):
        return str(machine_info["gpu"])
    return None if machine.startswith("cpu-") else machine


def torch_version_of_env(env_params: dict, env_name: str) -> str | None:
    """The torch version in an asv environment's parameters or name, else None."""
    version = env_params.get("torch") if isinstance(env_params, dict) else None
    if version:
        return str(version)
    match = re.search(r"(?:^|-)torch(\d+\.\d+(?:\.\d+)?)", env_name or "")
    return match.group(1) if match else None


def load(results_dir, machine: str | None = None,
         skipped: list[Path] | None = None, samples: bool = True) -> pd.DataFrame:
    """Every result under ``results_dir`` as one tidy frame (see the module doc).

    Each unreadable results file is a warning, and is appended to ``skipped`` if given.
    ``samples=False`` leaves the raw samples out (``samples`` is None): what a comparison
    reads is the value, and the samples are most of a large results folder's memory.
    Raises :class:`ResultsError` when the folder is missing or holds no readable result.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ResultsError(f"no results directory at {results_dir}")
    import asv.results  # noqa: F401 -- asv's loader, needed for every file: fail once, here
    found = result_files(results_dir, machine)
    benchmarks = load_benchmarks(results_dir) if found else {}
    rows: list[dict] = []
    files = 0
    for machine_dir, paths in found.items():
        machine_info = load_machine(machine_dir)
        for path in paths:
            files += 1
            try:
                rows.extend(_file_rows(path, machine_dir.name, machine_info, benchmarks,
                                       samples))
            except Exception as exc:  # noqa: BLE001 -- any defect: skip the file, say which
                warnings.warn(f"{path}: skipped ({_first_line(exc)})", stacklevel=2)
                if skipped is not None:
                    skipped.append(path)
    if not rows:
        where = f" for machine {machine!r}" if machine else ""
        what = f"{files} result file(s), none readable" if files else "no result files"
        raise ResultsError(f"{results_dir}: {what}{where}")
    return _frame(rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _load_asv(path: Path):
    from asv import util
    from asv.results import Results

    try:
        return Results.load(str(path))
    except util.UserError as exc:
        raise ValueError(str(exc).replace(str(path.resolve()), path.name)) from None


def _file_rows(path: Path, machine: str, machine_info: dict, benchmarks: dict,
               samples: bool = True) -> list[dict]:
    result = _load_asv(path)
    env_params = result.params if isinstance(result.params, dict) else {}
    file_machine = env_params.get("machine")
    if file_machine and file_machine != machine:
        raise ValueError(f"machine {file_machine!r} recorded in a folder named {machine!r}")
    common = {
        "machine": machine,
        "cpu": machine_info.get("cpu") or None,
        "gpu": gpu_name(machine, machine_info),
        "env_name": result.env_name,
        "torch_version": torch_version_of_env(env_params, result.env_name),
        "python": env_params.get("python") or result._python,
        "commit": result.commit_hash,
        "date": pd.to_datetime(result.date, unit="ms") if result.date else pd.NaT,
        "file": str(path),
    }
    rows: list[dict] = []
    for name in result.get_all_result_keys():
        try:
            rows.extend(_benchmark_rows(result, name, benchmarks.get(name, {}), common, samples))
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            warnings.warn(f"{path}: benchmark {name} skipped ({_first_line(exc)})", stacklevel=4)
    if common["torch_version"] is None:
        common_version = _recorded_torch_version(rows)
        for row in rows:
            row["torch_version"] = common_version
    return rows


def _recorded_torch_version(rows: list[dict]) -> str | None:
    from cebench.environment import version_from_number

    for row in rows:
        if row["benchmark"] == TORCH_VERSION_BENCHMARK and row["status"] == "ok":
            return version_from_number(row["value"])
    return None


def _benchmark_rows(result, name: str, spec: dict, common: dict,
                    with_samples: bool = True) -> list[dict]:
    raw_params = result.get_result_params(name) or []
    combos = list(itertools.product(*raw_params))
    values = result._results.get(name)
    values = [None] * len(combos) if values is None else values
    if not isinstance(values, list):  # an unparameterised benchmark stores a bare value
        values = [values]
    if len(values) != len(combos):
        raise ValueError(f"{len(values)} values for {len(combos)} parameter combinations")
    stats = result.get_result_stats(name, raw_params)
    samples = (result.get_result_samples(name, raw_params) if with_samples
               else [None] * len(combos))
    param_names = list(spec.get("param_names") or [])
    if len(param_names) != len(raw_params):
        param_names = [f"param{i + 1}" for i in range(len(raw_params))]
    short_name = ".".join(name.split(".")[-2:])
    rows = []
    for combo, value, stat, sample in zip(combos, values, stats, samples):
        params = {p: unquote(v) for p, v in zip(param_names, combo)}
        row = dict(common, benchmark=name, short_name=short_name, **{"pass": pass_of(name)},
                   kind=spec.get("type") or name.rsplit(".", 1)[-1].split("_", 1)[0],
                   unit=spec.get("unit"), params=param_label(params))
        row.update(params)
        row.update(_value_fields(value, stat or {}, sample))
        rows.append(row)
    return rows


def pass_of(benchmark: str) -> str | None:
    """'forward_backward' / 'forward' from a method name's suffix, else None."""
    method = benchmark.rsplit(".", 1)[-1]
    for pass_ in ("forward_backward", "forward"):
        if method.endswith("_" + pass_):
            return pass_
    return None


def _number(x) -> float:
    if x is None:
        return math.nan
    return float(x)


def _value_fields(value, stat: dict, sample) -> dict:
    if value is None:
        status, value = "failed", math.nan
    else:
        value = float(value)
        status = "skipped" if math.isnan(value) else "ok"
    samples = [float(s) for s in sample] if sample else None
    return {
        "status": status,
        "value": value,
        "ci_99_low": _number(stat.get("ci_99_a")),
        "ci_99_high": _number(stat.get("ci_99_b")),
        "q25": _number(stat.get("q_25")),
        "q75": _number(stat.get("q_75")),
        "n_samples": len(samples) if samples else (int(stat["repeat"]) if stat.get("repeat")
                                                    else 0),
        "samples": samples,
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    fixed = set(BASE_COLUMNS) | set(VALUE_COLUMNS)
    param_columns = [c for c in df.columns if c not in fixed]
    df = df[BASE_COLUMNS + param_columns + VALUE_COLUMNS]
    df.attrs["param_columns"] = param_columns
    return df


def param_columns(df: pd.DataFrame) -> list[str]:
    """The parameter columns of a frame from :func:`load` (in first-seen order)."""
    if "param_columns" in df.attrs:
        return [c for c in df.attrs["param_columns"] if c in df.columns]
    fixed = set(BASE_COLUMNS) | set(VALUE_COLUMNS)
    return [c for c in df.columns if c not in fixed]


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per machine x torch version x env x commit: how many results, and their status."""
    keys = ["machine", "torch_version", "env_name", "commit"]
    counts = (df.assign(torch_version=df["torch_version"].fillna("?"))
              .groupby(keys + ["status"]).size().unstack("status", fill_value=0))
    return counts.reset_index()


def available(df: pd.DataFrame, column: str) -> list[str]:
    """The distinct non-null values of ``column``, sorted, as strings (for messages)."""
    return sorted({str(v) for v in df[column].dropna().unique()})


# --- queries the analysis notebooks share ------------------------------------------------


def version_key(version) -> tuple:
    """Sort key of a torch version string ('2.9.1' < '2.13.0'); unknown versions last."""
    parts = re.findall(r"\d+", str(version)) if isinstance(version, str) else []
    return (0, *map(int, parts)) if parts else (1,)


def torch_versions(df: pd.DataFrame) -> list[str]:
    """The torch versions in the frame, oldest first."""
    return sorted({v for v in df["torch_version"].dropna()}, key=version_key)


def replicate_name(machine_dir: Path, asv_name: str) -> Path:
    """Where a new run of the results file ``asv_name`` goes in ``machine_dir``: asv's
    name if free, else ``<stem>-r<k>.json`` with the smallest free k >= 2."""
    machine_dir = Path(machine_dir)
    path = machine_dir / asv_name
    k = 2
    while path.exists():
        path = machine_dir / f"{Path(asv_name).stem}-r{k}.json"
        k += 1
    return path


def runs(df: pd.DataFrame) -> pd.DataFrame:
    """One row per run (a results file: machine x env x commit, replicates apart):
    torch version, date, counts by status."""
    keys = ["machine", "torch_version", "env_name", "commit", "file"]
    table = (df.assign(torch_version=df["torch_version"].fillna("?"),
                       file=df["file"].map(lambda f: Path(str(f)).name))
             .groupby(keys, sort=False)
             .agg(date=("date", "max"), ok=("status", lambda s: int((s == "ok").sum())),
                  skipped=("status", lambda s: int((s == "skipped").sum())),
                  failed=("status", lambda s: int((s == "failed").sum())))
             .reset_index())
    return table.sort_values(["machine", "torch_version", "date"],
                             key=lambda s: s.map(version_key) if s.name == "torch_version"
                             else s).reset_index(drop=True)


def latest_runs(df: pd.DataFrame) -> pd.DataFrame:
    """The runs to show for each machine x torch version, per benchmark: those at the
    newest commit that the most torch versions of the machine share for that benchmark
    (so that versions are compared on the same code), else the version's own newest
    commit; every replicate run there. Chosen per benchmark, so a later run of only some
    benchmarks (``asv run --bench``) replaces those and keeps the others' results."""
    if df.empty:
        return df
    version = df["torch_version"].fillna("?")
    keep = set()
    frame = df.assign(_version=version)
    for (machine, benchmark), rows in frame.groupby(["machine", "benchmark"]):
        per_commit = rows.groupby("commit").agg(versions=("_version", "nunique"),
                                                date=("date", "max"))
        order = per_commit.sort_values(["versions", "date"]).index[::-1]
        for v, vrows in rows.groupby("_version"):
            have = set(vrows["commit"])
            keep.add((machine, benchmark, v, next(c for c in order if c in have)))
    mask = [k in keep for k in zip(df["machine"], df["benchmark"], version, df["commit"])]
    return df[mask]


def ok(df: pd.DataFrame, short_name_prefix: str | None = None) -> pd.DataFrame:
    """Rows with a value, optionally of benchmarks whose short name starts with a prefix."""
    mask = df["status"] == "ok"
    if short_name_prefix:
        mask &= df["short_name"].str.startswith(short_name_prefix)
    return df[mask]


def weight_overhead_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Weighted / unweighted median time from separate ``time_`` benchmarks of one run.

    Every ``time_`` row with a weighting other than 'none' is divided by the row of the
    same run, benchmark and other parameters with weighting 'none'. Columns: the run and
    parameter columns, ``weighting`` (of the weighted side), ``weighted_s``,
    ``unweighted_s``, ``ratio``. (The paired ``WeightOverhead`` track benchmarks measure
    the same ratio with the two interleaved in one process: less noisy.)
    """
    timed = ok(df)
    return _weighted_over_unweighted(timed[timed["kind"] == "time"], param_columns(df),
                                     "weighted_s", "unweighted_s")


def _weighted_over_unweighted(rows: pd.DataFrame, params: list[str], weighted_name: str,
                              unweighted_name: str) -> pd.DataFrame:
    """Each row with a weighting other than 'none' over its twin with weighting 'none'."""
    timed = rows[rows.get("weighting", pd.Series(index=rows.index, dtype=object)).notna()]
    if timed.empty:
        return pd.DataFrame(columns=["machine", "torch_version", "benchmark", "weighting",
                                     weighted_name, unweighted_name, "ratio"])
    params = [c for c in params if c != "weighting"]
    keys = ["machine", "torch_version", "env_name", "commit", "file", "benchmark",
            "short_name", "pass"] + params
    base = timed[timed["weighting"] == "none"][keys + ["value"]]
    weighted = timed[timed["weighting"] != "none"][keys + ["weighting", "value"]]
    joined = weighted.merge(base, on=keys, suffixes=("_w", "_u"), how="inner",
                            validate="many_to_one") if not weighted.empty else weighted
    joined = joined.rename(columns={"value_w": weighted_name, "value_u": unweighted_name})
    if not joined.empty:
        joined["ratio"] = joined[weighted_name] / joined[unweighted_name]
    return joined.reset_index(drop=True)


#: The asv unit of instruction counts (bench_instructions; cebench.measure.instructions).
INSTRUCTIONS_UNIT = "instructions"


def instruction_counts(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with an instruction count (unit 'instructions'), with a ``case`` label:
    family/layout/reduction/weighting."""
    counts = ok(df)
    counts = counts[counts["unit"] == INSTRUCTIONS_UNIT].copy()
    axes = [c for c in ("family", "layout", "reduction", "weighting") if c in counts.columns]
    counts["case"] = counts[axes].astype(str).agg("/".join, axis=1) if len(counts) else []
    return counts


def weighted_instruction_ratio(df: pd.DataFrame) -> pd.DataFrame:
    """Weighted / unweighted instructions per call, per run, pass and case: the
    deterministic CPU cost of ``weight`` (columns as :func:`weight_overhead_pairs`, with
    ``weighted_instructions`` and ``unweighted_instructions``)."""
    counts = instruction_counts(df).drop(columns="case")
    return _weighted_over_unweighted(counts, param_columns(df), "weighted_instructions",
                                     "unweighted_instructions")


def geometric_mean(values) -> float:
    import numpy as np

    values = np.asarray(list(values), dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.log(values).mean())) if values.size else math.nan
