#!/usr/bin/env bash
# Installs Debian packages for a tool the tests need, once: does nothing if BINARY is
# already there. Needs root (or sudo) and apt; elsewhere it says what to do and exits 1.
#   bash scripts/_apt_install.sh NAME BINARY 'WHAT TO DO WITHOUT APT' PACKAGE...
set -euo pipefail
name=$1 binary=$2 hint=$3
shift 3
if command -v "$binary" >/dev/null; then
    echo "install-$name: $binary already installed ($("$binary" --version 2>/dev/null | head -n 1 || echo 'version unknown'))"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "install-$name: no apt-get here; $hint" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
"$binary" --version
