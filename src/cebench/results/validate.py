"""What a well-formed asv results folder holds, checked without asv or pandas.

asv keeps ``benchmarks.json`` (one per results folder), ``<machine>/machine.json`` and one
results file per environment and commit (asv's format version 2). cebench reads them with
asv's own loader (:mod:`cebench.results.load`); these checks come first, so that a damaged
file is named instead of being read as a measurement, and ``merge-results`` (which needs
no extra) refuses it before copying anything. Each check raises :class:`Damaged` with what
is wrong; the caller names the file.

A results file is damaged when its JSON is (not UTF-8, cut short, a key twice, a folder in
its place), when a field asv writes has the wrong type, or when a value is impossible:

- not finite (asv writes NaN for a skipped benchmark and null for a failed one; +inf is
  allowed only as a relative error, which overflows with the low-precision loss);
- negative in any unit cebench records, zero for a time, above 10^15 in any unit but a
  relative error (a petabyte, a petasecond, 10^15 instructions in one call), a version
  number outside 0..100;
- a time longer than the benchmark's own recorded duration;
- not the median of its recorded samples, or outside its recorded quartiles or 99 %
  interval (asv records all three from the same samples), or samples recorded for a
  skipped or failed value.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

#: asv's format versions of the files it writes.
BENCHMARKS_VERSION = 2
RESULTS_VERSION = 2
#: asv's benchmark types.
BENCHMARK_TYPES = frozenset({"time", "track", "mem", "peakmem"})
#: The largest value any unit cebench records can take (see the module doc).
CEILING = 1e15
#: Stats are stored rounded (asv keeps five significant digits): the slack of a bound.
ROUNDING = 1e-4
#: Units whose values can be +inf (an overflowed low-precision result).
UNBOUNDED_UNITS = frozenset({"relative error"})
#: Result columns that hold one number (or null) per parameter combination.
PER_COMBINATION = ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75",
                   "stats_number", "stats_repeat")
#: The earliest and latest plausible run date (ms since the epoch: 2000-01-01, 2200-01-01).
DATE_RANGE_MS = (946_684_800_000, 7_258_118_400_000)


class Damaged(ValueError):
    """A file breaks asv's format or holds an impossible value (the message says where)."""


def _no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise Damaged(f"key {key!r} appears twice")
        seen[key] = value
    return seen


def read_json(path: Path):
    """The JSON document in ``path``; Damaged if it is not a readable, complete UTF-8 JSON
    file with each key once (NaN and Infinity are allowed: asv writes them)."""
    path = Path(path)
    if path.is_dir():
        raise Damaged("a folder, not a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Damaged(f"cannot read it ({exc.strerror or exc})") from None
    if not raw.strip():
        raise Damaged("empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Damaged(f"not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise Damaged(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
                      ) from None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise Damaged(message)


def _str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# --- benchmarks.json and machine.json ---------------------------------------------------


def check_benchmarks(data) -> dict:
    """``benchmarks.json``'s benchmarks (name -> definition, without ``version``)."""
    _require(isinstance(data, dict), "not a JSON object")
    _require(data.get("version") == BENCHMARKS_VERSION,
             f"format version {data.get('version')!r}, expected {BENCHMARKS_VERSION}")
    benchmarks = {}
    for name, spec in data.items():
        if name == "version":
            continue
        where = f"benchmark {name}"
        _require(isinstance(spec, dict), f"{where}: not a JSON object")
        _require(spec.get("name") == name, f"{where}: its name field is {spec.get('name')!r}")
        _require(spec.get("type") in BENCHMARK_TYPES, f"{where}: type {spec.get('type')!r}")
        _require(isinstance(spec.get("unit"), str), f"{where}: unit {spec.get('unit')!r}")
        names, params = spec.get("param_names", []), spec.get("params", [])
        _require(_str_list(names), f"{where}: param_names is not a list of names")
        _require(isinstance(params, list) and all(_str_list(p) for p in params),
                 f"{where}: params is not a list of lists of values")
        _require(len(names) == len(params),
                 f"{where}: {len(names)} param_names for {len(params)} parameters")
        benchmarks[name] = spec
    return benchmarks


def check_machine(data, machine: str) -> dict:
    """``<machine>/machine.json``: an object naming the folder's machine."""
    _require(isinstance(data, dict), "not a JSON object")
    _require(data.get("machine") == machine,
             f"machine {data.get('machine')!r} in the folder of {machine!r}")
    _require(all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in data.values()),
             "a field that is neither text nor a number")
    return data


# --- results files ------------------------------------------------------------------------


def check_results(data, machine: str) -> dict[str, list]:
    """A results file's fields (not its values): its benchmark entries, name -> columns
    (a dict per entry, ``result_columns`` zipped with the entry)."""
    _require(isinstance(data, dict), "not a JSON object")
    _require(data.get("version") == RESULTS_VERSION,
             f"format version {data.get('version')!r}, expected {RESULTS_VERSION}")
    for key in ("commit_hash", "env_name", "python"):
        _require(isinstance(data.get(key), str) and data[key], f"{key} is {data.get(key)!r}")
    commit = data["commit_hash"]
    _require(7 <= len(commit) <= 64 and all(c in "0123456789abcdef" for c in commit),
             f"commit_hash {commit!r} is not a commit hash")
    date = data.get("date")
    _require(_is_number(date) and DATE_RANGE_MS[0] <= date <= DATE_RANGE_MS[1],
             f"date {date!r} is not a time between 2000 and 2200 (ms since 1970)")
    params = data.get("params")
    _require(isinstance(params, dict) and all(isinstance(v, str) for v in params.values()),
             "params is not an object of text values")
    _require(params.get("machine", machine) == machine,
             f"machine {params.get('machine')!r} recorded in the folder of {machine!r}")
    for key in ("requirements", "env_vars"):
        _require(isinstance(data.get(key, {}), dict), f"{key} is not an object")
    durations = data.get("durations", {})
    _require(isinstance(durations, dict) and all(
        _is_number(v) and math.isfinite(v) and v >= 0 for v in durations.values()),
        "durations holds a value that is not a number of seconds")
    columns = data.get("result_columns")
    _require(_str_list(columns) and len(set(columns)) == len(columns)
             and {"result", "params"} <= set(columns),
             f"result_columns is {columns!r}")
    results = data.get("results")
    _require(isinstance(results, dict), "results is not an object")
    entries = {}
    for name, row in results.items():
        _require(isinstance(row, list) and len(row) <= len(columns),
                 f"benchmark {name}: not a list of at most {len(columns)} columns")
        entries[name] = dict(zip(columns, row))
    return entries


def run_identity(data: dict, entries: dict[str, dict]) -> tuple:
    """What makes a results file one run: its commit, environment and when each benchmark
    started (asv records it to the millisecond); a copy of the file under another name has
    the same. Without start times, its measurements."""
    started = tuple(sorted((name, entry.get("started_at")) for name, entry in entries.items()))
    if not any(time for _, time in started):
        started = (json.dumps(data.get("results"), sort_keys=True),)
    return (data["commit_hash"], data["env_name"], started)


def check_entry(entry: dict, spec: dict | None) -> None:
    """One benchmark's columns in a results file, against its definition in
    ``benchmarks.json`` (``spec``; None when unknown: only the shape and finiteness)."""
    params = entry.get("params")
    _require(isinstance(params, list) and all(_str_list(p) for p in params),
             "params is not a list of lists of values")
    if spec is not None:
        names = spec.get("param_names", [])
        _require(len(params) == len(names),
                 f"{len(params)} parameters, benchmarks.json names {len(names)}")
    combinations = math.prod(len(p) for p in params)
    result = entry.get("result")
    if result is None:
        return  # asv's record of a benchmark that failed as a whole
    values = result if isinstance(result, list) else [result]
    _require(len(values) == combinations,
             f"{len(values)} values for {combinations} parameter combinations")
    per = {}
    for column in PER_COMBINATION:
        column_values = entry.get(column)
        if column == "result":
            column_values = values
        if column_values is None:
            continue
        _require(isinstance(column_values, list) and len(column_values) == combinations
                 and all(v is None or _is_number(v) for v in column_values),
                 f"{column} is not {combinations} numbers")
        per[column] = column_values
    samples = entry.get("samples")
    if samples is not None:  # their numbers are checked with their values
        _require(isinstance(samples, list) and len(samples) == combinations and all(
            s is None or isinstance(s, list) for s in samples),
            f"samples are not {combinations} lists of numbers")
    for key in ("started_at", "duration"):
        value = entry.get(key)
        _require(value is None or (_is_number(value) and math.isfinite(value) and value >= 0),
                 f"{key} is {value!r}")
    _require(entry.get("version") is None or isinstance(entry.get("version"), str),
             "version is not text")
    kind = spec["type"] if spec else None
    unit = spec["unit"] if spec else None
    for i, value in enumerate(values):
        stats = {c: per[c][i] for c in per if c != "result"}
        sample = samples[i] if samples else None
        _check_value(value, stats, sample, kind, unit, entry.get("duration"),
                     f"value {i + 1} of {combinations}")


def _check_value(value, stats: dict, sample, kind, unit, duration, where: str) -> None:
    recorded = {k: v for k, v in stats.items() if v is not None and not math.isnan(v)}
    if value is None or math.isnan(value):  # failed or skipped: nothing measured
        _require(not recorded and not sample,
                 f"{where} is {'null' if value is None else 'NaN'} (not measured) "
                 "but has statistics or samples")
        return
    unbounded = unit in UNBOUNDED_UNITS
    if not math.isfinite(value):
        _require(unbounded and value > 0, f"{where} is {value}")
        return
    _require(value >= 0, f"{where} is negative ({value:g} {unit or ''})".replace(" )", ")"))
    _require(value > 0 or kind != "time", f"{where} is a time of 0")
    _require(unbounded or value <= CEILING, f"{where} is {value:g}: impossibly large")
    _require(not (unit or "").startswith("version") or 0 < value < 100,
             f"{where} ({value:g}) is not a version number")
    timed = kind == "time" or unit == "seconds"
    if timed and _is_number(duration) and duration > 0:
        _require(value <= duration * (1 + ROUNDING),
                 f"{where} ({value:g} s) is longer than the benchmark's whole run "
                 f"({duration:g} s)")
    for low, high in (("stats_q_25", "stats_q_75"), ("stats_ci_99_a", "stats_ci_99_b")):
        lo, hi = recorded.get(low), recorded.get(high)
        if lo is not None and hi is not None:
            slack = ROUNDING * max(abs(lo), abs(hi), abs(value))
            _require(lo - slack <= value <= hi + slack,
                     f"{where} ({value:g}) is outside its recorded {low[6:]}..{high[6:]} "
                     f"({lo:g}..{hi:g})")
    if sample:
        try:
            plausible = all(math.isfinite(x) and x >= 0 for x in sample)
        except TypeError:  # text, a list, null ...
            plausible = False
        _require(plausible, f"{where}: a sample is not a number, negative or not finite")
        median = statistics.median(sample)
        _require(math.isclose(median, value, rel_tol=1e-9, abs_tol=1e-300),
                 f"{where} ({value:g}) is not the median of its {len(sample)} samples "
                 f"({median:g})")
