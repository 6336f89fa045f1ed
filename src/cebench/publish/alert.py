"""`cebench alert`: the CI regression gate over a results folder.

For each machine, the newest torch version at a commit against the previous torch
version there and against its own previous results, each with `cebench compare` (run as
a command, so that the gate reports exactly what the command says); the status is the
most serious of the comparisons'.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cebench.errors import InputError, missing_dependency
from cebench.publish import subprocesses
from cebench.publish.runs import Run, alert_pairs, runs_by_machine


def run_compare(results_dir: Path, machine: str, baseline: Run, candidate: Run,
                markdown_path: Path, json_path: Path | None, root: Path) -> tuple[int, str]:
    """`cebench compare` between two runs; returns (exit code, its last output line)."""
    cmd = subprocesses.cebench("compare", str(results_dir.resolve()), "--baseline",
                               baseline.spec, "--candidate", candidate.spec, "--machine",
                               machine, "--markdown", str(markdown_path))
    if json_path is not None:
        cmd += ["--json", str(json_path)]
    return subprocesses.run(cmd, cwd=root)


@dataclass
class AlertReport:
    """What ``cebench alert`` found: one line per comparison, the markdown, the status."""

    lines: list[str] = field(default_factory=list)
    markdown: str = ""
    status: int = 0


#: Exit statuses of `cebench compare`, most serious first (what `cebench alert` returns).
_STATUS_RANK = (2, 1, 3, 0)


def worst_status(a: int, b: int) -> int:
    """The more serious of two statuses: bad input, then regression, then inconclusive."""
    rank = {code: i for i, code in enumerate(_STATUS_RANK)}
    return min(a, b, key=lambda c: rank.get(c, 0))


def alert_report(results: Path, machine: str | None = None,
                 commit: str | None = None) -> AlertReport:
    """For each machine: the newest torch at ``commit`` against the previous torch version
    and against its own previous results, with `cebench compare` (status 0, 1, 2 or 3).

    An unreadable results file of a checked machine is bad input (InputError naming it):
    a gate that skipped the newest run would pass without looking at it."""
    skipped: list[Path] = []
    try:
        machines = runs_by_machine(results, skipped, strict=True)
    except ModuleNotFoundError as exc:
        raise (missing_dependency(exc) or exc) from None
    except Exception as exc:  # noqa: BLE001 -- reported in one line
        raise InputError(f"cannot load {results}: {exc}") from None
    if machine:
        if machine not in machines and not any(p.parent.name == machine for p in skipped):
            raise InputError(f"no results for machine {machine!r} in {results}; "
                             f"available: {', '.join(sorted(machines)) or 'none'}")
    unreadable = [p for p in skipped if machine is None or p.parent.name == machine]
    if unreadable:
        raise InputError(f"unreadable results file(s), not checked: "
                         f"{', '.join(str(p) for p in sorted(unreadable))}")
    if machine:
        machines = {machine: machines[machine]}
    if commit and not any(r.commit.startswith(commit) for runs in machines.values() for r in runs):
        known = sorted({r.commit[:8] for runs in machines.values() for r in runs})
        raise InputError(f"--commit {commit}: no results at that commit in {results}; "
                         f"available: {', '.join(known) or 'none'}")
    report = AlertReport()
    sections = []
    words = {0: "no regression", 1: "**REGRESSION**",
             3: "inconclusive: too few runs on a side, or a failure (see the report)"}
    with tempfile.TemporaryDirectory(prefix="cebench-alert-") as tmp:
        for name, runs in sorted(machines.items()):
            pairs = alert_pairs(runs, commit)
            if not pairs:
                sections.append(f"## {name}\n\nNothing to compare: no run at commit "
                                f"{commit or '(newest)'} with an earlier run or torch version.\n")
                continue
            for i, (what, baseline, candidate) in enumerate(pairs):
                md = Path(tmp) / f"{name}-{i}.md"
                code, last = run_compare(results, name, baseline, candidate, md, None, Path.cwd())
                ok = code in words
                verdict = words.get(code, f"compare failed (exit {code})")
                report.lines.append(
                    f"cebench alert: {name}: {what}: {baseline.label} -> {candidate.label}: "
                    f"{verdict.strip('*')}" + ("" if ok else f": {last}"))
                body = md.read_text() if md.exists() and ok else f"`{last}`\n"
                sections.append(f"## {name}: {what} ({verdict})\n\n"
                                f"{baseline.label} → {candidate.label}\n\n{body}\n")
                report.status = worst_status(report.status, code if ok else 2)
    report.markdown = "# cebench regression check\n\n" + "\n".join(sections)
    return report
