"""``cebench alert``: the CI regression gate over a results folder, markdown for the job summary."""

from __future__ import annotations

from pathlib import Path

NAME = "alert"
HELP = ("CI regression gate: compare the newest run with the previous torch "
        "version and the previous results; markdown summary; exit 1 on a regression, "
        "3 when inconclusive")
DESCRIPTION = (
    "For each machine (or --machine): the newest torch version at --commit "
    "(default: the newest commit) against the previous torch version at that "
    "commit and against its own previous results, with `cebench compare`. "
    "Appends the reports to --summary (e.g. $GITHUB_STEP_SUMMARY). Exit 0: no "
    "regression; 1: a regression; 2: bad input (an unreadable results file, named) or a "
    "compare that failed; 3: inconclusive (one run per side: no noise to test against).")


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="asv results folder")
    parser.add_argument("--machine", help="only this asv machine")
    parser.add_argument("--commit", help="the candidate runs' commit (hash or prefix)")
    parser.add_argument("--summary", required=True, metavar="FILE", help="markdown appended here")


def run(args) -> int:
    from cebench.publish.alert import alert_report

    report = alert_report(Path(args.results_dir), args.machine, args.commit)
    for line in report.lines:
        print(line)
    with Path(args.summary).open("a", encoding="utf-8") as f:  # $GITHUB_STEP_SUMMARY may hold more
        f.write(report.markdown)
    return report.status
