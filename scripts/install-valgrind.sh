#!/usr/bin/env bash
# Installs Debian's valgrind (callgrind, callgrind_annotate) for the instruction-count
# tests and `cebench instructions`. Idempotent: does nothing if valgrind is on PATH.
# Needs root (or sudo) and apt; elsewhere install valgrind yourself, or those tests skip.
exec bash "$(dirname "$0")/_apt_install.sh" valgrind valgrind \
    "install valgrind yourself" valgrind
