#!/usr/bin/env bash
# Runs the whole suite on this machine's device (CUDA if present, else the CPU):
# asv environments over the torch matrix, the machine record, asv run, the dashboard.
# CPU measurements run on one torch thread (CEBENCH_CPU_THREADS; see docs/measurement.md).
# Extra arguments go to `asv run` (e.g. --bench Core, -E existing:same, HEAD^!).
#
# The results of a local run go to .asv/results/ (git-ignored; CEBENCH_LOCAL_RESULTS to
# change it), never to the tracked results/, which holds published runs only: its
# benchmarks.json is never rewritten. Publish a run with
#   cebench merge-results .asv/results --into results
set -euo pipefail
source "$(dirname "$0")/_progress.sh"
phase "setting up .venv (cebench, asv, torch)"
source "$(dirname "$0")/_venv.sh"

phase "recording the machine"
# asv takes its results folder from its config: run with a copy of the config (the one
# given with --config, else asv.conf.json) whose results_dir is the local folder.
results_root=${CEBENCH_LOCAL_RESULTS:-.asv/results}
base_config=asv.conf.json
asv_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --config) base_config=$2; shift 2 ;;
        --config=*) base_config=${1#--config=}; shift ;;
        *) asv_args+=("$1"); shift ;;
    esac
done
local_config=.asv/asv.local.json
python -c 'import sys; from pathlib import Path; from cebench.asvconf import write_relocated
write_relocated(Path(sys.argv[1]), Path(sys.argv[2]), results_dir=Path(sys.argv[3]))' \
    "$base_config" "$local_config" "$results_root"
echo "cebench: results of this run go to $results_root/ (publish: cebench merge-results $results_root --into results)"

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
# run-to-run noise instead), no instruction counts, whose valgrind start-up alone costs
# minutes per torch environment, and no implementation benchmarks (bench_impls), whose
# torch.compile cases compile for tens of seconds each. CEBENCH_INSTRUCTIONS_MATCH=. counts
# every case; CEBENCH_IMPLS=1 runs the implementations (or name them with --bench);
# `-a rounds=2` restores asv's rounds.
names_benchmarks() {
    for arg in "$@"; do
        case "$arg" in -b|--bench|--bench=*|-b?*) return 0 ;; esac
    done
    return 1
}
cpu_defaults=()
if [[ "$machine" == cpu-* ]]; then
    if [ "${CEBENCH_IMPLS:-0}" != 1 ] && ! names_benchmarks "${asv_args[@]}"; then
        cpu_defaults+=(--bench '^(?!bench_impls\.)')
        echo "cebench: no implementation benchmarks in this run (CEBENCH_IMPLS=1 to run them)"
    fi
    if [ -z "${CEBENCH_INSTRUCTIONS_MATCH+set}" ]; then
        export CEBENCH_INSTRUCTIONS_MATCH='^$'  # no case
        echo "cebench: no instruction counts in this run (CEBENCH_INSTRUCTIONS_MATCH=. to count them)"
    fi
    if [[ " ${asv_args[*]-} " != *"rounds="* ]]; then
        cpu_defaults+=(-a rounds=1)
    fi
fi

# CEBENCH_REPLICATES=N runs the suite N times, the torch environments interleaved (A B A B
# ...); run k > 1 is stored beside the first as <asv name>-r<k>.json. `cebench compare`
# measures run-to-run noise from such replicates; with too few runs a side its verdict is
# "inconclusive" (docs/verdicts.md).
# asv's whole output goes to a log; the terminal gets its phases, one line per benchmark
# with the time left, failures, and the skipped cases counted by reason (unbuffered: asv
# writes to a pipe here, and would otherwise hold its lines back for minutes).
status=0
phase "running the benchmarks (asv)"
PYTHONUNBUFFERED=1 bash "$(dirname "$0")/asv-replicates.sh" "${CEBENCH_REPLICATES:-1}" "$results_root/$machine" \
    --config "$local_config" --machine "$machine" --launch-method "$launch" --record-samples \
    --show-stderr "${cpu_defaults[@]}" "${asv_args[@]}" 2>&1 \
    | python "$(dirname "$0")/asv_progress.py" --log .asv/logs/run-suite-asv.log \
    || status=$?
if [ "$status" -ne 0 ]; then
    echo "cebench: asv run exited $status (some benchmarks failed); building the dashboard anyway" >&2
fi
# asv publish (offline UI) + the analysis notebooks, compare report and semantics table
phase "building the dashboard"
cebench dashboard || status=$?
phase_end
echo "cebench: the site is html/index.html: open it from disk, or serve it with cebench dashboard --serve"
echo "cebench: this run's results are in $results_root/$machine/ (not published); e.g."
echo "  cebench compare $results_root --baseline torch=2.13.0 --candidate torch=2.14.1"
echo "  cebench merge-results $results_root --into results   # publish them into results/"
exit "$status"
