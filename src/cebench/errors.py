"""The errors cebench's library raises; the ``cebench`` command maps them to exit codes.

Library modules never print or exit: they return values or raise one of these, and a
command (:mod:`cebench.commands`) turns them into a one-line message and a status.
"""

from __future__ import annotations

#: Exit statuses of every ``cebench`` command.
EXIT_OK = 0            # nothing found: no broken rule, no regression, no fidelity miss
EXIT_FINDING = 1       # a finding: a broken rule, a regression, a timer off the profiler
EXIT_BAD_INPUT = 2     # bad input: one line on stderr, nothing written
EXIT_INCONCLUSIVE = 3  # the data cannot decide (e.g. no replicate runs to estimate noise)
EXIT_INTERRUPTED = 130  # Ctrl-C


class InputError(Exception):
    """Bad input (an unknown case, a missing or malformed file): exit status 2."""


class MissingDependency(InputError):
    """An optional dependency is not installed; the message names the extra to install."""
