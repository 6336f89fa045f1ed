"""``cebench merge-results``: merge asv results trees (one per CI job) into one results/."""

from __future__ import annotations

from pathlib import Path

NAME = "merge-results"
HELP = "merge asv results trees (one per CI job) into one results/"
DESCRIPTION = ("Copies the machine folders of each SRC results tree into --into, after "
               "checking that every benchmarks.json agrees (exit 2, naming the differing "
               "benchmarks, if not). Nothing is copied when a check fails. Into a folder that "
               "holds results already (publishing a local run: `cebench merge-results "
               ".asv/results --into results`), the benchmark definitions those results use "
               "are kept; new ones are added.")


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
    if summary.definitions_kept:
        print(f"cebench merge-results: kept the definitions of {len(summary.definitions_kept)} "
              "benchmark(s) that results already there use (the merged results of those "
              "were made by other code): " + ", ".join(summary.definitions_kept[:8])
              + (" ..." if len(summary.definitions_kept) > 8 else ""))
    return 0
