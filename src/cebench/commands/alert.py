"""``cebench alert``: the CI regression gate over a results folder, markdown for the job summary."""

from __future__ import annotations

import re
from pathlib import Path

from cebench.errors import InputError

NAME = "alert"
HELP = ("CI regression gate: compare the newest run with the previous torch "
        "version and the previous results; markdown summary; exit 1 on a regression, "
        "3 when inconclusive")
DESCRIPTION = (
    "For each machine (or --machine): the newest torch version at --commit "
    "(default: the newest commit) against the previous torch version at that "
    "commit and against its own previous results, with `cebench compare`. "
    "Appends the reports to --summary (e.g. $GITHUB_STEP_SUMMARY), the whole report or "
    "nothing. Exit 0: no regression; 1: a regression; 2: bad input (a damaged results "
    "file, named; a commit with no results; an unwritable summary) or a compare that "
    "failed; 3: inconclusive (one run per side: no noise to test against).")


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="asv results folder")
    parser.add_argument("--machine", help="only this asv machine")
    parser.add_argument("--commit", help="the candidate runs' commit (hash or prefix)")
    parser.add_argument("--summary", required=True, metavar="FILE", help="markdown appended here")


def run(args) -> int:
    from cebench import atomic
    from cebench.publish.alert import alert_report

    if args.commit is not None and not re.fullmatch(r"[0-9a-fA-F]{4,64}", args.commit):
        raise InputError(f"--commit {args.commit!r} is not a commit hash or a prefix of one "
                         "(4 to 64 hexadecimal digits)")
    summary = atomic.check_writable(args.summary, "--summary")
    report = alert_report(Path(args.results_dir), args.machine,
                          args.commit.lower() if args.commit else None)
    for line in report.lines:
        print(line)
    atomic.append_text(summary, report.markdown)  # $GITHUB_STEP_SUMMARY may hold more
    return report.status
