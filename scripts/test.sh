#!/usr/bin/env bash
# Runs cebench's tests (CPU; CUDA tests skip without a GPU). Extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
python -m pytest "$@"
