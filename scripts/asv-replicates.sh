#!/usr/bin/env bash
# Runs `asv run ARGS...` N times and keeps every run: run k > 1 is stored beside the first
# as <asv name>-r<k>.json (cebench.results.load.replicate_name), the replicate runs from
# which `cebench compare` measures run-to-run noise. One asv run covers every environment
# of the matrix, so N runs interleave them (A B A B ...).
#
#   bash scripts/asv-replicates.sh N RESULTS/MACHINE [asv run arguments...]
#
# asv updates a results file in place when it runs one commit again, so run 1's files are
# set aside while a later run writes, and put back (also if that run is interrupted).
set -euo pipefail
replicates=$1 results_dir=$2
shift 2
if ! [[ "$replicates" =~ ^[1-9][0-9]*$ ]]; then
    echo "asv-replicates: the number of runs must be a positive integer, not '$replicates'" >&2
    exit 2
fi
stash=$(mktemp -d "${TMPDIR:-/tmp}/cebench-replicates.XXXXXX")
first=()
restore_first() {
    for f in "${first[@]}"; do
        if [ -e "$stash/$(basename "$f")" ]; then mv -f "$stash/$(basename "$f")" "$f"; fi
    done
}
trap 'restore_first; rm -rf "$stash"' EXIT
status=0
for run in $(seq 1 "$replicates"); do
    if [ "$replicates" -gt 1 ]; then echo "cebench: run $run of $replicates"; fi
    for f in "${first[@]}"; do mv "$f" "$stash/"; done
    touch "$stash/started"
    asv run "$@" || status=$?
    mapfile -t produced < <(find "$results_dir" -maxdepth 1 -name '*.json' \
        ! -name machine.json -newer "$stash/started" 2>/dev/null)
    if [ "$run" -eq 1 ]; then
        first=("${produced[@]}")
        continue
    fi
    mkdir -p "$stash/new"
    for f in "${produced[@]}"; do mv "$f" "$stash/new/"; done
    restore_first
    for f in "$stash"/new/*.json; do
        [ -e "$f" ] || continue
        dest=$(python -c 'import sys; from cebench.results.load import replicate_name
print(replicate_name(sys.argv[1], sys.argv[2]))' "$results_dir" "$(basename "$f")")
        mv "$f" "$dest" && echo "cebench: replicate run $run -> $dest"
    done
done
exit "$status"
