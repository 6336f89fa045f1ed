# Sourced by the scripts in this folder: makes .venv (once) with cebench and its tools.
# CEBENCH_TORCH chooses the torch for the driver environment (default torch==2.13.0;
# asv builds its own environments for the torch matrix in asv.conf.json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import cebench, asv, torch, pandas, nbclient" 2>/dev/null \
    || [ pyproject.toml -nt .venv/.cebench-installed ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "${CEBENCH_TORCH:-torch==2.13.0}" -e ".[dev]"
    touch .venv/.cebench-installed
fi
export PATH="$PWD/.venv/bin:$PATH"
