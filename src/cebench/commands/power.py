"""``cebench power``: the time rule's false-alarm rate, detection rate and calibration,
measured on the replicate runs of a results folder (docs/verdicts.md)."""

from __future__ import annotations

import time
from pathlib import Path

from cebench.errors import InputError

NAME = "power"
HELP = "measure the time rule's false alarms, detection and calibration on replicate runs"
DESCRIPTION = (
    "Split each replicate series of RESULTS (four or more runs of one torch version at one "
    "commit) into two sides at random and compare them with `cebench compare`'s rule: as "
    "they are (A/A), with slowdowns injected (every timing, one benchmark), with half the "
    "timings faster, and slower by exactly the printed minimum detectable change. Prints "
    "the tables; --write stores the trials under RESULTS/<machine>/power/ and regenerates "
    "docs/verdicts.md. Exit 0, or 2 on bad input (no series).")


def add_arguments(parser) -> None:
    parser.add_argument("results_dir", nargs="?", default="results", metavar="RESULTS_DIR",
                        help="asv results folder (default results)")
    parser.add_argument("--draws", type=int, default=40,
                        help="random splits per series, split and slowdown (default 40; the "
                        "A/A scenarios take 2.5 times as many)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--series", metavar="REGEX",
                        help="only series whose name matches (e.g. 'torch 2.14.1')")
    parser.add_argument("--write", action="store_true",
                        help="store the trials under RESULTS/<machine>/power/ and write "
                        "docs/verdicts.md")


def run(args) -> int:
    import re

    from cebench.commands.compare import load_results
    from cebench.publish import verdicts_doc as verdicts
    from cebench.results import power

    if args.draws < 1:
        raise InputError("--draws must be >= 1")
    try:
        pattern = re.compile(args.series) if args.series else None
    except re.error as exc:
        raise InputError(f"--series {args.series!r}: bad regular expression ({exc})") from None
    df = load_results(args.results_dir, NAME, samples=False)
    found = [s for s in power.series_of(df) if pattern is None or pattern.search(s.name)]
    if not found:
        raise InputError(f"{args.results_dir}: no replicate series (4 or more runs of one "
                         "environment at one commit) to measure")
    start = time.monotonic()
    print(f"{len(found)} series: " + "; ".join(s.name for s in found), flush=True)
    trials = power.evaluate(df, draws=args.draws, seed=args.seed, series=found,
                            progress=lambda line: print(
                                f"  {line} ({time.monotonic() - start:.0f} s)", flush=True))
    print(power.markdown(power.summarise(trials)))
    if args.write:
        from cebench.commands.check import _commit

        settings = {"draws": args.draws, "seed": args.seed, "series": args.series,
                    "seconds": round(time.monotonic() - start), "code_commit": _commit()}
        for machine, part in trials.groupby("machine"):
            path = Path(args.results_dir) / machine / verdicts.TRIALS_FILE
            verdicts.write_trials(path, part, settings)
            print(f"wrote {path}")
        verdicts.DOC_PATH.write_text(verdicts.render(Path(args.results_dir)), encoding="utf-8")
        print(f"wrote {verdicts.DOC_PATH}")
    return 0
