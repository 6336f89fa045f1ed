"""``cebench compare``: two runs (torch versions or commits) of asv results, for regressions."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from cebench.errors import EXIT_FINDING, EXIT_INCONCLUSIVE, EXIT_OK, InputError

NAME = "compare"
HELP = "compare two runs (torch versions or commits) for regressions"
DESCRIPTION = (
    "Compare asv results of two sets of runs on the same machine(s): a baseline and a "
    "candidate, each chosen by torch version, commit or environment. Every run a spec "
    "matches (replicate results files '<asv name>-r2.json' ...) is one of that side's "
    "replicates. Two rules decide: the time rule tests each noisy benchmark's change "
    "against the threshold, and the whole suite's median change, against the run-to-run "
    "noise of the machine's replicate runs (family-wise error --alpha for the whole "
    "comparison); the count rule judges instruction counts and accuracy figures, which "
    "repeat exactly, by their size alone (one run per side decides). Exit status 0: "
    "everything tested, no regression; 1: a regression; 2: bad input; 3: inconclusive (a "
    "noisy benchmark measured once on a side, or failed in the candidate).")


def add_arguments(parser) -> None:
    from cebench.results.rules import COUNT_THRESHOLD, DEFAULT_ALPHA, DEFAULT_THRESHOLD

    parser.add_argument("results_dir", metavar="RESULTS_DIR", help="asv results folder")
    parser.add_argument("--baseline", required=True, metavar="SPEC",
                        help="e.g. torch=2.13.0, commit=abc123, env=NAME (comma-separated)")
    parser.add_argument("--candidate", required=True, metavar="SPEC", help="as --baseline")
    parser.add_argument("--machine", help="only this asv machine")
    parser.add_argument("--bench", metavar="REGEX",
                        help="only benchmarks whose 'name(params)' matches")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help="time rule: smallest relative change that counts (default "
                        f"{DEFAULT_THRESHOLD} = {DEFAULT_THRESHOLD * 100:.0f}%%)")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help="time rule: family-wise error rate of the whole comparison "
                        f"(default {DEFAULT_ALPHA})")
    parser.add_argument("--count-threshold", type=float, default=COUNT_THRESHOLD,
                        help="count rule: smallest relative change of an instruction count "
                        f"or accuracy figure that counts (default {COUNT_THRESHOLD} = "
                        f"{COUNT_THRESHOLD * 100:.0f}%%)")
    parser.add_argument("--markdown", metavar="FILE", help="write a Markdown summary here")
    parser.add_argument("--json", metavar="FILE", help="write every comparison as JSON here")
    parser.add_argument("--limit", type=int, default=40,
                        help="rows in the terminal table (default 40)")


def load_results(results_dir, command: str, samples: bool = True):
    """All asv results under ``results_dir``; each skipped file is a warning on stderr."""
    from cebench.results import load

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return load.load(results_dir, samples=samples)
        except load.ResultsError as exc:
            raise InputError(str(exc)) from None
        finally:
            for w in caught:
                print(f"cebench {command}: warning: {w.message}", file=sys.stderr)


def run(args) -> int:
    from cebench.results import compare

    baseline, candidate = compare.Spec.parse(args.baseline), compare.Spec.parse(args.candidate)
    compare.check_settings(args.threshold, args.alpha, args.count_threshold)
    compare.bench_pattern(args.bench)  # a bad pattern fails before the (slow) load
    everything = load_results(args.results_dir, NAME, samples=False)
    df = compare.select_results(everything, args.machine, args.bench)
    table, notes = compare.compare_specs(df, baseline, candidate, threshold=args.threshold,
                                         alpha=args.alpha,
                                         count_threshold=args.count_threshold,
                                         everything=compare.select_results(everything,
                                                                           args.machine))
    machines = sorted(set(table["machine"]))
    title = compare.headline(table, baseline, candidate, machines, args.threshold, args.alpha,
                             notes, count_threshold=args.count_threshold)
    rows = compare.display_rows(table)
    print(title)
    print(compare.format_table([r for r in rows if r["verdict"] != "unchanged"] or rows,
                               limit=args.limit))
    if args.markdown:
        Path(args.markdown).write_text(compare.markdown(table, title), encoding="utf-8")
    if args.json:
        settings = {"baseline": baseline.text, "candidate": candidate.text,
                    "threshold": args.threshold, "alpha": args.alpha,
                    "count_threshold": args.count_threshold, "machines": machines}
        Path(args.json).write_text(
            json.dumps(compare.to_json(table, title, settings), indent=1), encoding="utf-8")
    return {"regression": EXIT_FINDING, "inconclusive": EXIT_INCONCLUSIVE}.get(
        compare.outcome(table), EXIT_OK)
