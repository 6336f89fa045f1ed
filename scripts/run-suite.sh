#!/usr/bin/env bash
# Runs the whole suite on this machine's device (CUDA if present, else the CPU):
# asv environments over the torch matrix, the machine record, asv run, the dashboard.
# CPU measurements run on one torch thread (CEBENCH_CPU_THREADS; see docs/measurement.md).
# Extra arguments go to `asv run` (e.g. --bench Core, -E existing:same, HEAD^!).
set -euo pipefail
source "$(dirname "$0")/_venv.sh"

machine=$(cebench machine)
asv machine --machine "$machine" --yes >/dev/null
echo "cebench: asv machine '$machine'"

# asv.conf.json says "spawn" (safe for CUDA whatever the benchmark imports). cebench's
# benchmark modules never touch CUDA at import, so a fork server is safe too, and it
# starts each benchmark process ~7x faster (measured on the 2-core CPU machine: 150
# parameter combinations in 61 s with forkserver, 462 s with spawn).
launch=${CEBENCH_LAUNCH_METHOD:-forkserver}

# On a machine without a GPU the default run stays short (about a quarter of an hour on
# two cores): one round per benchmark (asv's default is two; replicate runs measure the
# run-to-run noise instead) and no instruction counts, whose valgrind start-up alone costs
# minutes per torch environment. CEBENCH_INSTRUCTIONS_MATCH=. counts every case; `-a
# rounds=2` restores asv's rounds.
cpu_defaults=()
if [[ "$machine" == cpu-* ]]; then
    if [ -z "${CEBENCH_INSTRUCTIONS_MATCH+set}" ]; then
        export CEBENCH_INSTRUCTIONS_MATCH='^$'  # no case
        echo "cebench: no instruction counts in this run (CEBENCH_INSTRUCTIONS_MATCH=. to count them)"
    fi
    if [[ " $* " != *"rounds="* ]]; then
        cpu_defaults=(-a rounds=1)
    fi
fi

# CEBENCH_REPLICATES=N runs the suite N times, the torch environments interleaved (A B A B
# ...); run k > 1 is stored beside the first as <asv name>-r<k>.json. `cebench compare`
# measures run-to-run noise from such replicates; with one run per side its verdict is
# "inconclusive" (docs/measurement.md).
status=0
bash "$(dirname "$0")/asv-replicates.sh" "${CEBENCH_REPLICATES:-1}" "results/$machine" \
    --machine "$machine" --launch-method "$launch" --record-samples --show-stderr \
    "${cpu_defaults[@]}" "$@" \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "cebench: asv run exited $status (some benchmarks failed); building the dashboard anyway" >&2
fi
# asv publish (offline UI) + the analysis notebooks, compare report and semantics table
cebench dashboard || status=$?
echo "cebench: the site is html/index.html: open it from disk, or serve it with cebench dashboard --serve"
exit "$status"
