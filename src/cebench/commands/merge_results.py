"""``cebench merge-results``: merge asv results trees (one per CI job) into one results/."""

from __future__ import annotations

from pathlib import Path

NAME = "merge-results"
HELP = "merge asv results trees (one per CI job) into one results/"
DESCRIPTION = ("Copies the machine folders of each SRC results tree into --into, after "
               "checking that every benchmarks.json agrees (exit 2, naming the differing "
               "benchmarks, if not). Nothing is copied when a check fails.")


def add_arguments(parser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SRC", help="asv results directories")
    parser.add_argument("--into", required=True, metavar="DIR",
                        help="the merged results directory")


def run(args) -> int:
    from cebench.results.merge import merge_results

    summary = merge_results([Path(s) for s in args.sources], Path(args.into))
    print(f"cebench merge-results: {summary.files_copied} file(s) copied, "
          f"{summary.files_identical} already there; {args.into} holds machine(s): "
          f"{', '.join(summary.machines)}")
    return 0
