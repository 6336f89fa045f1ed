"""The errors cebench's library raises; the ``cebench`` command maps them to exit codes.

Library modules never print or exit: they return values or raise one of these, and a
command (:mod:`cebench.commands`) turns them into a one-line message and a status.
"""

from __future__ import annotations

#: Exit statuses of every ``cebench`` command: a contract that CI relies on. A tool failure
#: never reads as a finding, and a finding is never lost to a tool failure.
EXIT_OK = 0            # nothing found: no broken rule, no regression, no fidelity miss
EXIT_FINDING = 1       # only a finding that was measured: a broken rule, a regression, ...
EXIT_BAD_INPUT = 2     # anything cebench could not read, write or understand: one line
EXIT_INCONCLUSIVE = 3  # the data cannot decide (e.g. no replicate runs to estimate noise)
EXIT_INTERRUPTED = 130  # Ctrl-C

#: What each exit status means, for ``cebench --help``.
EXIT_MEANINGS = {
    EXIT_OK: "fine: no broken rule, no regression, no fidelity miss",
    EXIT_FINDING: "a finding that was measured: a broken rule, a regression, a timer off "
                  "the profiler (never a tool failure)",
    EXIT_BAD_INPUT: "bad input: something cebench could not read, write or understand (an "
                    "argument, a missing or damaged file, an unwritable output, a missing "
                    "extra, a defect of cebench); one line on stderr names it, no traceback",
    EXIT_INCONCLUSIVE: "inconclusive: the data cannot decide (e.g. no replicate runs)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C): temporary files removed, every output as it "
                      "was before",
}

#: The extra of cebench that installs each optional module (``pip install 'cebench[EXTRA]'``).
#: bench: torch and asv, to run the suite and the commands that call torch; analysis:
#: reading results (asv's loader, pandas, scipy), notebooks, plots, the dashboard; gpu: NVML.
EXTRA_OF_MODULE = {
    "torch": "bench", "matplotlib": "analysis",
    "asv": "analysis", "asv_runner": "analysis", "asv_tachyon": "analysis",
    "pandas": "analysis", "scipy": "analysis", "mistune": "analysis",
    "nbclient": "analysis", "nbformat": "analysis", "nbconvert": "analysis",
    "ipykernel": "analysis", "jupyter_client": "analysis", "IPython": "analysis",
    "pynvml": "gpu",
}


class InputError(Exception):
    """Bad input (an unknown case, a missing or malformed file): exit status 2."""


class MissingDependency(InputError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, message: str, extra: str | None = None):
        super().__init__(message)
        self.extra = extra


def missing_dependency(exc: ModuleNotFoundError) -> MissingDependency | None:
    """The :class:`MissingDependency` for a missing optional module, else None (a defect)."""
    module = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    hint = " (or the torch release of your choice)" if module == "torch" else ""
    return MissingDependency(f"needs {module}, which is not installed: "
                             f"pip install 'cebench[{extra}]'{hint}", extra)
