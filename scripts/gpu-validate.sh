#!/usr/bin/env bash
# The one-shot GPU validation run (cebench.gpu_validate does the work; this wrapper only
# finds the interpreter and the source tree). docs/gpu-run.md says how to carry the
# repository to a GPU machine, run this, and bring its results back.
#
#   scripts/gpu-validate.sh OUT_DIR
#
# OUT_DIR receives at most 8 files: gpu-validate.log, phases.json, asv-results.tar.gz,
# check.json, check-impls.json, selfcheck.json, pytest-cuda.xml, profile.tar.gz. Exit status 0 when every
# phase passed or was skipped, 1 when one failed or timed out, 2 on bad usage.
# Knobs (environment): see `python -m cebench.gpu_validate` (CEBENCH_GPU_DRY_RUN=1 for
# the CPU dry run, CEBENCH_GPU_DEADLINE_S, CEBENCH_GPU_PHASES, CEBENCH_WHEEL_DIR,
# CEBENCH_DEVGIT, CEBENCH_GPU_WORK, CEBENCH_LAUNCH_METHOD, CEBENCH_PROFILE_CASE) and
# PYTHON, the interpreter (default python3).
set -uo pipefail
if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: scripts/gpu-validate.sh OUT_DIR" >&2
    exit 2
fi
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
export PYTHON
PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m cebench.gpu_validate "$1"
