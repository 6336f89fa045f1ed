#!/usr/bin/env bash
# Installs Debian's valgrind (callgrind, callgrind_annotate) for the instruction-count
# tests and `cebench instructions`. Idempotent: does nothing if valgrind is on PATH.
# Needs root (or sudo) and apt; elsewhere install valgrind yourself, or those tests skip.
set -euo pipefail
if command -v valgrind >/dev/null; then
    echo "install-valgrind: $(valgrind --version) already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-valgrind: no apt-get here; install valgrind yourself" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends valgrind >/dev/null
valgrind --version
