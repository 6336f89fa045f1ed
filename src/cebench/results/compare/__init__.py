"""`cebench compare`: did a torch version (or a commit) make anything worse?

    cebench compare results --baseline torch=2.13.0 --candidate torch=2.14.1

asv compares commits within one environment; this compares any two sets of runs on one
machine: torch versions, commits, or environments. Each side takes **every run** its spec
matches (:mod:`.select`); run-to-run noise is measured from replicate runs (the sides'
own, and every other replicate group of the machine), never from the other benchmarks of
the same comparison alone. The stages, each small:

* :mod:`.select` -- which runs each side takes (specs, commits, copies of a run);
* :mod:`.noise` -- the noise model: run shifts (tau), each benchmark's own variance and
  each group's noise level, fitted over every replicate group of the machine;
* :mod:`.stats` -- the tests: each benchmark's change against the threshold (one-sided t,
  Bonferroni over the benchmarks at alpha / 2), the suite's median change against the
  run shifts (at alpha / 2), and the minimum detectable change;
* :mod:`.verdict` -- row verdicts, the count rule (exact), the outcome;
* :mod:`.table` -- one comparison assembled (``compare_frames``, ``compare_specs``,
  ``compare_versions``);
* :mod:`.report` -- the headline, tables, Markdown and JSON.

Exit status: 0 nothing regressed and everything was tested, 1 a regression, 2 bad input,
3 inconclusive (a noisy benchmark measured once on a side, a failure in the candidate).
"""

from cebench.results.compare.noise import (  # noqa: F401
    SHIFTED_UNITS, WORSE_WHEN, Noise, NoiseModel, replicate_noise, replicate_shifts,
    worse_when)
from cebench.results.compare.report import (  # noqa: F401
    Suite, counts, display_rows, format_table, headline, markdown, outcome, percent_words,
    suite_sentence, suites, to_json)
from cebench.results.compare.select import (  # noqa: F401
    SPEC_KEYS, Spec, bench_pattern, choose_commits, drop_duplicate_runs, replicate_number,
    select_results)
from cebench.results.compare.table import (  # noqa: F401
    EXACT_UNITS, compare_frames, compare_specs, compare_versions)
from cebench.results.compare.verdict import VERDICTS, outcome_of  # noqa: F401
from cebench.results.rules import (  # noqa: F401
    COUNT_THRESHOLD, DEFAULT_ALPHA, DEFAULT_THRESHOLD, MIN_RUNS, POWER, check_settings, rule_lines)
