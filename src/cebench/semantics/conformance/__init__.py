"""Does torch's cross entropy follow its documented semantics? (`cebench check`)

Every case runs ``F.cross_entropy`` (loss and input gradient) and the float64
:mod:`cebench.semantics.reference` on the *same* inputs (low-precision inputs are rounded
first, then upcast for the reference), on each available device. Four kinds of case:

* ``golden``    the source article's three examples: 1.4803, 1.6075, 1.5472 (:mod:`.golden`).
* ``grid``      reduction × weighting × ignored targets × label smoothing × target kind
                × input rank (1-D..5-D) × dtype; must match within the dtype tolerance
                (:mod:`.grid`).
* ``edge``      behaviour that torch versions may legitimately change (0/0 means,
                fp16 total-weight overflow...): recorded with a verdict, never a failure
                (:mod:`.edges`).
* ``bad_input`` misuse: torch's error is recorded (or that it accepted the input); the
                reference must raise a clear ``ValueError`` (:mod:`.bad_input`).

A case *breaks a rule* when a golden or grid case does not match (grid cases whose
reference is 0/0 under 'mean' are edges in disguise and only recorded), or when the
reference fails to reject bad input or to compute an edge. :mod:`.comparison` holds the
tolerances and the comparison every case ends in; :mod:`.report` runs them all and
summarises (verdict counts, JSON, the text table).

Also here: the asv accuracy metric (:mod:`.accuracy`) and the generator of
``docs/semantics.md`` (:mod:`.docs`; ``python -m cebench.semantics.conformance --write-doc``).
"""

from cebench.semantics.conformance.accuracy import (
    ACCURACY_DTYPES, ACCURACY_WEIGHTINGS, accuracy_relative_error,
)
from cebench.semantics.conformance.bad_input import (
    BAD_INPUT_CASES, BadInputCase, run_bad_input_case,
)
from cebench.semantics.conformance.comparison import (
    TOLERANCE, CaseResult, Comparison, Tolerance, compare,
)
from cebench.semantics.conformance.docs import DOC_PATH, render_semantics_doc, write_doc
from cebench.semantics.conformance.edges import EDGE_CASES, EdgeCase, run_edge_case
from cebench.semantics.conformance.golden import (
    GOLDEN_CASES, GoldenCase, golden_inputs, run_golden_case,
)
from cebench.semantics.conformance.grid import (
    DTYPES, RANKS, REDUCTIONS, SEED_CLASS_WEIGHTS, TARGET_KINDS, GridCase, class_weights,
    grid_cases, grid_inputs, run_grid_case,
)
from cebench.semantics.conformance.report import (
    Report, available_devices, check, format_summary, format_table, run_all,
    shown_by_default, single_cpu_thread,
)

__all__ = [
    "ACCURACY_DTYPES", "ACCURACY_WEIGHTINGS", "BAD_INPUT_CASES", "DOC_PATH", "DTYPES",
    "EDGE_CASES", "GOLDEN_CASES", "RANKS", "REDUCTIONS", "SEED_CLASS_WEIGHTS", "TARGET_KINDS",
    "TOLERANCE", "BadInputCase", "CaseResult", "Comparison", "EdgeCase", "GoldenCase",
    "GridCase", "Report", "Tolerance", "accuracy_relative_error", "available_devices",
    "check", "class_weights", "compare", "format_summary", "format_table", "golden_inputs",
    "grid_cases", "grid_inputs", "render_semantics_doc", "run_all", "run_bad_input_case",
    "run_edge_case", "run_golden_case", "run_grid_case", "shown_by_default",
    "single_cpu_thread", "write_doc",
]
