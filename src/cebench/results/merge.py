"""`cebench merge-results`: many asv results trees (one per CI job) into one.

A GPU fleet runs the suite as one job per (runner, torch version); each job uploads an
asv results tree (``benchmarks.json`` + ``<machine>/``). asv keeps one ``benchmarks.json``
per results tree, so the trees can only be merged if they were made by the same
benchmark code: the grid is one everywhere (cebench.grid.cases). This command checks that
and copies the machine folders side by side, so that asv publish, `cebench compare`
and the analysis see one tree. Nothing is copied unless everything checks out.

Merging into a folder that already holds results (publishing a local run into the
committed ``results/``) keeps the benchmark definitions that those results use
(:func:`merge_definitions`): a run of newer benchmark code adds its new definitions but
never rewrites the ones the published history needs.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cebench.errors import InputError

BENCHMARKS_FILE = "benchmarks.json"


@dataclass
class MergeSummary:
    machines: list[str]
    files_copied: int
    files_identical: int
    definitions_kept: list[str] = field(default_factory=list)


def _load_benchmarks(results_dir: Path) -> dict:
    path = results_dir / BENCHMARKS_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{results_dir} is not an asv results directory (no {BENCHMARKS_FILE})") from None
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON: {exc}") from None


def benchmark_differences(first: dict, other: dict) -> list[str]:
    """Names of the benchmarks whose definitions differ (or exist in one file only)."""
    names = sorted(set(first) | set(other))
    return [n for n in names if first.get(n) != other.get(n)]


def _plan(sources: list[Path], into: Path) -> tuple[dict, list[tuple[Path, Path]], int, list[str]]:
    """Checks everything; returns (benchmarks, [(src file, dest file)], identical count,
    names of the definitions kept because results in ``into`` use them)."""
    reference_dir = sources[0]
    reference = _load_benchmarks(reference_dir)
    for tree in sources[1:]:
        differing = benchmark_differences(reference, _load_benchmarks(tree))
        if differing:
            shown = ", ".join(differing[:8]) + (f" (and {len(differing) - 8} more)" if len(differing) > 8 else "")
            raise InputError(f"{tree}/{BENCHMARKS_FILE} and {reference_dir}/{BENCHMARKS_FILE} "
                             f"differ in {len(differing)} benchmark(s): {shown}; "
                             "merge only results made by the same benchmark code")
    kept: list[str] = []
    if (into / BENCHMARKS_FILE).exists():
        reference, kept = merge_definitions(_load_benchmarks(into), reference,
                                            versions_in_use(into))
    copies, identical, planned = [], 0, {}
    for src in sources:
        for machine_dir in sorted(p for p in src.iterdir() if p.is_dir()):
            if not (machine_dir / "machine.json").exists():
                continue  # not a machine folder (asv keeps only machine folders here)
            for path in sorted(machine_dir.glob("*.json")):
                dest = into / machine_dir.name / path.name
                earlier = planned.get(dest)
                existing = earlier if earlier is not None else (dest if dest.exists() else None)
                if existing is not None:
                    if existing.read_bytes() == path.read_bytes():
                        identical += 1
                        continue
                    if path.name == "machine.json":
                        continue  # same machine name, other host details: keep the first
                    raise InputError(f"{path} and {existing} are different results with the "
                                     "same name (same machine, commit and environment)")
                planned[dest] = path
                copies.append((path, dest))
    return reference, copies, identical, kept


def versions_in_use(results_dir: Path) -> dict[str, set[str]]:
    """``{benchmark: {version, ...}}``: the benchmark versions that the results files under
    ``results_dir`` record (asv stores each result with its benchmark's version)."""
    used: dict[str, set[str]] = {}
    for machine_dir in (p for p in results_dir.iterdir() if (p / "machine.json").exists()):
        for path in machine_dir.glob("*.json"):
            if path.name == "machine.json":
                continue
            try:
                data = json.loads(path.read_text())
                column = data["result_columns"].index("version")
                rows = data["results"].items()
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue  # not a results file asv could read: it pins nothing
            for name, row in rows:
                if isinstance(row, list) and len(row) > column and row[column]:
                    used.setdefault(name, set()).add(row[column])
    return used


def merge_definitions(existing: dict, incoming: dict,
                      in_use: dict[str, set[str]]) -> tuple[dict, list[str]]:
    """The benchmark definitions of a results folder after a merge, and the names kept.

    A definition only ``incoming`` has is added; one that differs replaces the existing
    one unless results already in the folder use the existing one's version: then the
    existing definition stays (asv shows a benchmark's results only at the version its
    definition names, so replacing it would hide the published history), and its name is
    returned. Definitions only ``existing`` has stay.
    """
    merged, kept = dict(existing), []
    for name, definition in incoming.items():
        if name == "version" or merged.get(name) == definition:
            continue
        old = merged.get(name)
        if isinstance(old, dict) and old.get("version") in in_use.get(name, set()):
            kept.append(name)
            continue
        merged[name] = definition
    return merged, sorted(kept)


def merge_results(sources: list[Path], into: Path) -> MergeSummary:
    """Merges asv results trees ``sources`` into ``into`` (created if needed)."""
    if not sources:
        raise InputError("give at least one results directory to merge")
    for src in sources:
        if not src.is_dir():
            raise InputError(f"no results directory {src}")
    benchmarks, copies, identical, kept = _plan(sources, into)
    into.mkdir(parents=True, exist_ok=True)
    for src, dest in copies:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    (into / BENCHMARKS_FILE).write_text(json.dumps(benchmarks, indent=4, sort_keys=True) + "\n")
    machines = sorted(p.name for p in into.iterdir() if (p / "machine.json").exists())
    return MergeSummary(machines=machines, files_copied=len(copies), files_identical=identical,
                        definitions_kept=kept)


