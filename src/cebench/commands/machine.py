"""``cebench machine``: the asv machine name results are recorded under."""

from __future__ import annotations

NAME = "machine"
HELP = "print this machine's asv machine name"
DESCRIPTION = ("Print the asv machine name cebench records results under "
               "(GPU or CPU model and count; never the host name).")


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from cebench.environment import machine_name

    print(machine_name())
    return 0
