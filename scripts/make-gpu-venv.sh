#!/usr/bin/env bash
# Makes VENV_DIR (default $CEBENCH_GPU_VENV, else ~/.cache/cebench/venv-gpu, outside the
# repository so that every checkout on the machine shares it): a Python 3.12 virtual environment
# holding only what a GPU machine's Python is expected to have (docs/gpu-run.md, "What
# the GPU machine needs"): torch, numpy, pandas, matplotlib, scipy, nvidia-ml-py, pytest
# and triton, and nothing of cebench's dev or analysis extras. The CPU dry run of scripts/gpu-validate.sh runs
# in it with the carried wheels (.whl/) on top, so that a test module importing
# something the GPU machine lacks fails the dry run, as it would fail the real one.
#
# Needs python3.12 and the package index (torch for 3.12 is a CUDA build of a few GB,
# downloaded once; pip's cache serves later builds). Prints the venv's python.
# Usage: scripts/make-gpu-venv.sh [VENV_DIR]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${1:-${CEBENCH_GPU_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/cebench/venv-gpu}}
PYTHON312=${PYTHON312:-}
if [ -z "$PYTHON312" ]; then
    for candidate in python3.12 "$(pyenv root 2>/dev/null)/versions/3.12"*/bin/python3.12; do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
            PYTHON312=$candidate
            break
        fi
    done
fi
if [ -z "$PYTHON312" ]; then
    echo "make-gpu-venv: no python3.12 found (set PYTHON312)" >&2
    exit 2
fi
# The GPU machine's set; torch as run-suite.sh's driver environment (any release works here).
PACKAGES=(torch==2.13.0 numpy pandas matplotlib scipy nvidia-ml-py pytest triton)
stamp="$venv/.cebench-gpu-set"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PACKAGES[*]}" ]; then
    echo "$venv/bin/python"
    exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
"$PYTHON312" -m venv "$venv"
"$venv/bin/python" -m pip install -q "${PACKAGES[@]}" >&2
echo "${PACKAGES[*]}" >"$stamp"
echo "make-gpu-venv: $venv ($("$venv/bin/python" --version), $(du -sh "$venv" | cut -f1))" >&2
echo "$venv/bin/python"
