"""Stored conformance verdicts of the implementations (``cebench check --impl NAME --record``).

    path = impls.store(report_json, Path("results"), "cpu-amd-epyc-2c")
    heads, cases = impls.load("results")       # pandas frames
    impls.matrix(heads)                        # implementation x rule, each cell's words

One file per machine, implementation and version:
``<results>/<machine>/impls/<impl>-<version>.jsonl`` (the version without a local tag:
torch's for eager, compile and by_hand, the package's for liger and quack). A header
line holds the implementation, versions, devices, adaptations, verdict counts and the
support × conformance matrix; then one line per case that did not simply match
(golden, contract and bad-input cases always).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

IMPLS_DIR = "impls"
_KEEP = ("kind", "name", "device", "dtype", "verdict", "rule", "rule_broken", "torch_loss",
         "reference_loss", "loss_rel_error", "grad_rel_error", "torch_error", "note")


def plain_version(version: str | None) -> str:
    """'2.13.0+cpu' -> '2.13.0'; None -> 'unknown'."""
    return (version or "unknown").split("+")[0]


def slim_cases(report: dict) -> list[dict]:
    kept = []
    for case in report.get("cases", []):
        if case.get("kind") == "grid" and case.get("verdict") in ("matches", "skipped",
                                                                  "unsupported"):
            continue
        kept.append({k: case.get(k) for k in _KEEP if k in case})
    return kept


def store(report: dict, results_dir: Path, machine: str, commit: str | None = None) -> Path:
    """Write ``report`` (:meth:`ImplReport.to_json`) to its file; returns the path."""
    header = {k: v for k, v in report.items() if k != "cases"}
    header.update(machine=machine, commit=commit)
    folder = Path(results_dir) / machine / IMPLS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{report['implementation']}-"
                  f"{plain_version(report.get('version'))}")
    path = folder / f"{name}.jsonl"
    lines = [json.dumps(header, sort_keys=True, ensure_ascii=False)]
    lines += [json.dumps(c, sort_keys=True, ensure_ascii=False) for c in slim_cases(report)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read(results_dir, machine: str | None = None) -> list[tuple[dict, list[dict]]]:
    """``[(header, cases)]`` of every stored file (machine and file name order)."""
    out = []
    for path in sorted(Path(results_dir).glob(f"*/{IMPLS_DIR}/*.jsonl")):
        if machine is not None and path.parent.parent.name != machine:
            continue
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        if lines:
            head = dict(lines[0], machine=lines[0].get("machine") or path.parent.parent.name,
                        file=str(path))
            out.append((head, lines[1:]))
    return out


def version_key(version: str) -> tuple:
    return tuple(int(p) for p in re.findall(r"\d+", str(version)))


def load(results_dir, machine: str | None = None):
    """``(heads, cells)`` as pandas frames: one row per stored file (implementation,
    version, torch, devices, rows that differ), and one row per file and rule (cell,
    text, counts)."""
    import pandas as pd

    heads, cells = [], []
    for head, _ in read(results_dir, machine):
        row = {"machine": head["machine"], "implementation": head.get("implementation"),
               "version": plain_version(head.get("version")),
               "torch_version": plain_version(head.get("torch_version")),
               "devices": ", ".join(sorted(head.get("devices") or {})),
               "rows_differ": ", ".join((head.get("summary") or {}).get("rows_differ", [])),
               "adaptations": "; ".join(head.get("adaptations") or []),
               "match": head.get("match") or ""}
        heads.append(row)
        for rule, cell in (head.get("matrix") or {}).items():
            cells.append({**{k: row[k] for k in ("machine", "implementation", "version",
                                                  "torch_version", "devices")},
                          "rule": rule, **cell})
    heads = pd.DataFrame(heads)
    if len(heads):
        heads = heads.sort_values(
            ["machine", "implementation", "version"],
            key=lambda s: s.map(version_key) if s.name == "version" else s).reset_index(drop=True)
    return heads, pd.DataFrame(cells)


def newest(cells):
    """The cells of each machine and implementation's newest stored version."""
    if cells.empty:
        return cells
    keep = []
    for (_, _), group in cells.groupby(["machine", "implementation"]):
        top = max(group["version"], key=version_key)
        keep.append(group[group["version"] == top])
    import pandas as pd

    return pd.concat(keep, ignore_index=True)


def matrix(cells, order=None, rules=None):
    """Rule x implementation (newest version of each, per machine): each cell's mark and
    words, e.g. '✓ 64 cases' or 'differs: 3 of 64; e.g. ...'."""
    import pandas as pd

    if cells.empty:
        return pd.DataFrame()
    latest = newest(cells)
    latest = latest.assign(column=latest["implementation"] + " " + latest["version"]
                           + " (" + latest["devices"] + ")",
                           words=latest["cell"] + ": " + latest["text"])
    table = latest.pivot_table(index="rule", columns="column", values="words", aggfunc="first")
    if order:
        table = table[sorted(table.columns, key=lambda c: (
            order.index(c.split()[0]) if c.split()[0] in order else len(order), c))]
    if rules:
        table = table.reindex([r for r in rules if r in table.index])
    table.columns.name = None
    return table


# --- instruction counts per implementation (cebench impls --count-instructions) -------------

def store_instructions(records: list[dict], results_dir: Path, machine: str,
                       commit: str | None = None) -> Path:
    """Write :func:`cebench.impls.instructions.measure`'s records to
    ``<results>/<machine>/impls/instructions-torch-<version>.json``; returns the path."""
    versions = {plain_version(r.get("torch_version")) for r in records}
    if len(versions) != 1:
        raise ValueError(f"records of one torch version expected, got {sorted(versions)}")
    folder = Path(results_dir) / machine / IMPLS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"instructions-torch-{versions.pop()}.json"
    path.write_text(json.dumps({"machine": machine, "commit": commit, "records": records},
                               indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_instructions(results_dir, machine: str | None = None):
    """Every stored instruction record as a frame: machine, torch_version, impl, case,
    pass, instructions_per_call (NaN where skipped)."""
    import pandas as pd

    rows = []
    for path in sorted(Path(results_dir).glob(f"*/{IMPLS_DIR}/instructions-torch-*.json")):
        if machine is not None and path.parent.parent.name != machine:
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for r in data.get("records", []):
            rows.append({"machine": data.get("machine") or path.parent.parent.name,
                         "torch_version": plain_version(r.get("torch_version")),
                         "impl": r["impl"], "case": r["case"], "pass": r["pass"],
                         "instructions_per_call": r.get("instructions_per_call", float("nan")),
                         "cpu_capability": r.get("cpu_capability")})
    return pd.DataFrame(rows)
