#!/usr/bin/env bash
# Lints the GitHub Actions workflows, offline:
#   - check-jsonschema: each file is a valid workflow (SchemaStore's schema, vendored);
#   - zizmor: security audit (template injection, token permissions, credential
#     persistence, unpinned actions, dangerous triggers...); fails on any finding of
#     medium severity or above (low / informational ones are printed, not fatal).
# Both come with the dev extra (pip install -e ".[dev]"). Exit 0 when both pass.
# Usage: bash scripts/check-workflows.sh [DIR]   (default: .github/workflows)
set -euo pipefail
dir=$(realpath "${1:-$(dirname "$0")/../.github/workflows}")
cd "$(dirname "$0")/.."
if [ -x .venv/bin/python ]; then
    export PATH="$PWD/.venv/bin:$PATH"
fi
for tool in check-jsonschema zizmor; do
    command -v "$tool" >/dev/null || { echo "check-workflows: $tool is not installed (pip install -e '.[dev]')" >&2; exit 127; }
done
shopt -s nullglob
workflows=("$dir"/*.yml "$dir"/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
    echo "check-workflows: no workflows in $dir" >&2
    exit 1
fi
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}"
zizmor --offline --min-severity medium "${workflows[@]}"
