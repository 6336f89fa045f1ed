"""The ``cebench`` sub-commands: one small module each.

A command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``: it parses, calls the library, prints, and returns the exit status
(:mod:`cebench.errors`). Library code never prints or exits. The order below is the
order ``cebench --help`` lists them.
"""

COMMAND_MODULES = (
    "cases", "machine", "check", "profile", "selfcheck",
    "compare", "notebooks", "alert", "dashboard", "merge_results", "instructions",
    "history", "findings", "power", "impls", "docs",
)
