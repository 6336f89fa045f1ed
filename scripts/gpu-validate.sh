#!/usr/bin/env bash
# The one-shot GPU validation run: everything the H200 should do, in one call of at most
# ~8 minutes, with its results in OUT_DIR as at most 8 files. docs/gpu-run.md says how to
# call it on the device and where its results go; GPU.md (shared/) says why.
#
#   scripts/gpu-validate.sh OUT_DIR
#
# Phases, in order (each timed, each under its own time limit, and every later phase runs
# even if an earlier one failed or timed out; the whole run keeps a global deadline):
#   setup          install the carried wheels into $WORK/site (PYTHONPATH), clone the git
#                  bundle into $WORK/repo, write a temporary asv config, `asv machine`
#   environment    nvidia-smi, python/torch/CUDA versions
#   nvml_rate      python -m cebench.measure.nvml: the NVML sample rate this machine sustains
#   profile        cebench profile CASE (torch.profiler + NVML): PNG, trace, JSON
#   check          cebench check (float64 reference; CUDA too when present)
#   pytest_cuda    python -m pytest -m cuda
#   selfcheck      cebench selfcheck (timer fidelity against the profiler; peak bandwidth)
#   asv_*          asv run -E existing:same --set-commit-hash ... --record-samples, in
#                  chunks (each saves its results; a chunk that would not fit is skipped)
#   pack           tar the asv results and the profile folder; write phases.json
#
# OUT_DIR receives: gpu-validate.log, phases.json, asv-results.tar.gz (untar into
# results/), check.json, selfcheck.json, pytest-cuda.xml, profile.tar.gz.
#
# Knobs (environment):
#   CEBENCH_GPU_DRY_RUN=1     CPU dry run: CUDA parts report "no CUDA"; small asv subset
#   CEBENCH_GPU_DEADLINE_S    the whole run's deadline (default 450; dry run 300)
#   CEBENCH_GPU_PHASES        comma list of phases to run (default all; setup and pack
#                             always run), e.g. "asv_core,pytest_cuda" for a rerun
#   CEBENCH_WHEEL_DIR         carried wheels (default .whl; absent: use this python's)
#   CEBENCH_DEVGIT            the history: folder with repo.bundle or repo.git (default
#                             .devgit; scripts/make-devgit.sh writes it)
#   CEBENCH_GPU_WORK          scratch folder (default /tmp/cebench-gpu; emptied first)
#   CEBENCH_LAUNCH_METHOD     asv launch method (default forkserver; spawn on failure)
#   CEBENCH_PROFILE_CASE      the case to profile
#   PYTHON                    the interpreter (default python3)
# HOME is set to $WORK/home for the run (asv's machine file, caches), so nothing outside
# the scratch folder and OUT_DIR is written.
set -uo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: scripts/gpu-validate.sh OUT_DIR" >&2
    exit 2
fi
mkdir -p "$1" || exit 2
OUT=$(cd "$1" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

DRY=${CEBENCH_GPU_DRY_RUN:-0}
[ "$DRY" = 1 ] || DRY=0
if [ "$DRY" = 1 ]; then DEFAULT_DEADLINE=300; else DEFAULT_DEADLINE=450; fi
DEADLINE_S=${CEBENCH_GPU_DEADLINE_S:-$DEFAULT_DEADLINE}
SELECTED=${CEBENCH_GPU_PHASES:-all}
WHEELS=${CEBENCH_WHEEL_DIR:-$ROOT/.whl}
DEVGIT=${CEBENCH_DEVGIT:-$ROOT/.devgit}
WORK=${CEBENCH_GPU_WORK:-/tmp/cebench-gpu}
LAUNCH=${CEBENCH_LAUNCH_METHOD:-forkserver}
PY=${PYTHON:-python3}
if [ "$DRY" = 1 ]; then
    PROFILE_CASE=${CEBENCH_PROFILE_CASE:-small.contiguous.float32.mean.w-random}
else
    PROFILE_CASE=${CEBENCH_PROFILE_CASE:-llm-128k.contiguous.bfloat16.mean.w-random}
fi

# The scratch folder is emptied first: only one this script made (it holds the marker).
if [ -e "$WORK" ] && [ ! -e "$WORK/.cebench-gpu-work" ] && [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
    echo "gpu-validate: $WORK exists and is not a cebench scratch folder; set CEBENCH_GPU_WORK" >&2
    exit 2
fi
rm -rf "$WORK"
mkdir -p "$WORK/home" "$WORK/site" "$WORK/results" || exit 2
touch "$WORK/.cebench-gpu-work"
export HOME="$WORK/home" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
export PYTHONPATH="$ROOT/src:$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
export ASV_PYTHONPATH="$PYTHONPATH"  # asv drops PYTHONPATH in benchmark processes otherwise
export PATH="$WORK/site/bin:$PATH"
export ROOT OUT WORK DRY PY WHEELS DEVGIT PROFILE_CASE

LOG="$OUT/gpu-validate.log"
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!

PHASES_TSV="$WORK/phases.tsv"
: >"$PHASES_TSV"
RUN_START=$EPOCHREALTIME

elapsed_s() {  # seconds since the run started, to 0.1 s
    awk -v a="$RUN_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}

selected() {
    case ",$SELECTED," in *",all,"* | *",$1,"*) return 0 ;; *) return 1 ;; esac
}

record() {  # NAME SECONDS BUDGET STATUS RC NOTE
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$PHASES_TSV"
    echo "phase $1: $2 s ($4${6:+: $6})"
}

# run_phase NAME BUDGET_S RESERVE_S CMD...: runs CMD under `timeout`, for at most
# BUDGET_S and never into the last RESERVE_S seconds before the deadline.
run_phase() {
    local name=$1 budget=$2 reserve=$3
    shift 3
    case $name in
        setup | pack | *_spawn) ;;  # always run (a fallback runs when its phase did)
        *) if ! selected "$name"; then
               record "$name" 0 "$budget" skipped "" "not selected"
               return 0
           fi ;;
    esac
    local now limit
    now=$(elapsed_s)
    limit=$(awk -v d="$DEADLINE_S" -v n="$now" -v r="$reserve" -v b="$budget" \
        'BEGIN { l = d - n - r; if (l > b) l = b; printf "%d", l }')
    if [ "$limit" -lt 5 ]; then
        record "$name" 0 "$budget" skipped "" "deadline: ${limit}s left for it"
        return 0
    fi
    echo
    echo "=== phase $name (limit ${limit} s, at ${now} s) ==="
    local t0=$EPOCHREALTIME rc=0
    timeout -k 5 "$limit" bash -c '"$@"' "$name" "$@" || rc=$?
    local seconds status
    seconds=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0) status=ok ;;
        124 | 137) status=timeout ;;
        *) status=failed ;;
    esac
    record "$name" "$seconds" "$limit" "$status" "$rc" ""
    return 0
}

# --- phase bodies (run under timeout in a child bash, hence exported) -------------------

phase_setup() {
    set -e
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$WORK/site" "$WHEELS"/*.whl
        echo "installed $(ls "$WHEELS"/*.whl | wc -l) wheels from $WHEELS into $WORK/site"
    elif [ "$DRY" = 1 ]; then
        echo "no wheels in $WHEELS: dry run uses this python's own packages"
    else
        echo "no wheels in $WHEELS (see scripts/fetch-gpu-wheels.sh)" >&2
        "$PY" -c "import asv" || exit 1
    fi
    "$PY" -c "import asv, asv_runner, cebench; print('asv', asv.__version__, 'cebench from', cebench.__file__)"

    if [ -f "$DEVGIT/repo.bundle" ]; then
        git -c advice.detachedHead=false clone -q "$DEVGIT/repo.bundle" "$WORK/repo"
    elif [ -d "$DEVGIT/repo.git" ]; then
        git -c advice.detachedHead=false clone -q "file://$(cd "$DEVGIT/repo.git" && pwd)" "$WORK/repo"
    else
        echo "no history: neither $DEVGIT/repo.bundle nor $DEVGIT/repo.git (scripts/make-devgit.sh)" >&2
        exit 1
    fi
    git -C "$WORK/repo" checkout -q -B main
    echo "commit $(git -C "$WORK/repo" rev-parse HEAD)"
    if diff -rq -x __pycache__ "$WORK/repo/src" "$ROOT/src" >/dev/null \
        && diff -rq -x __pycache__ "$WORK/repo/benchmarks" "$ROOT/benchmarks" >/dev/null; then
        echo "src/ and benchmarks/ match the commit" | tee "$WORK/tree-matches-head"
    else
        echo "NOTE: src/ or benchmarks/ differ from the commit (results are recorded under it):"
        diff -rq -x __pycache__ "$WORK/repo/src" "$ROOT/src" || true
        diff -rq -x __pycache__ "$WORK/repo/benchmarks" "$ROOT/benchmarks" || true
    fi

    # asv.conf.json with the repository, benchmarks and results redirected (the copied tree
    # has no .git): cebench.asvconf, which reads it with asv's own loader.
    "$PY" - <<'EOF'
import os
from pathlib import Path
from cebench import asvconf
work, root = Path(os.environ["WORK"]), Path(os.environ["ROOT"])
asvconf.write_relocated(root / "asv.conf.json", work / "asv.conf.json", repo=work / "repo",
                        results_dir=work / "results", html_dir=work / "html",
                        env_dir=work / "env", branches=["main"])
EOF
    "$PY" -m cebench machine >"$WORK/machine-name"
    "$PY" -m asv machine --machine "$(cat "$WORK/machine-name")" --yes >/dev/null
    echo "asv machine: $(cat "$WORK/machine-name")"
}

phase_environment() {
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem,power.limit,temperature.gpu \
            --format=csv || true
    else
        echo "no nvidia-smi (no CUDA here)"
    fi
    "$PY" - <<'EOF'
import platform, torch
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "available", torch.cuda.is_available())
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print("device", p.name, "SMs", p.multi_processor_count, "memory", p.total_memory,
          "L2", getattr(p, "L2_cache_size", None))
from importlib import metadata
for name in ("triton", "numpy", "nvidia-ml-py", "pandas", "matplotlib", "asv", "asv_runner"):
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "not installed")
EOF
    [ "$DRY" = 1 ] || [ "$("$PY" -c 'import torch; print(torch.cuda.is_available())')" = True ]
}

phase_nvml_rate() {
    if [ ! -f "$ROOT/src/cebench/nvml.py" ]; then
        echo "cebench.measure.nvml is not in this tree"
        return 0
    fi
    if [ "$DRY" = 1 ]; then "$PY" -m cebench.measure.nvml 0.5; else "$PY" -m cebench.measure.nvml 2; fi
}

phase_profile() {
    "$PY" -m cebench profile "$PROFILE_CASE" --out "$WORK/profile"
}

phase_check() {
    "$PY" -m cebench check --json "$OUT/check.json"
}

phase_pytest_cuda() {
    local rc=0
    "$PY" -m pytest -m cuda -q -p no:cacheprovider --junitxml="$OUT/pytest-cuda.xml" tests || rc=$?
    if [ "$rc" = 5 ]; then
        echo "no tests are marked cuda"
        return 0
    fi
    return "$rc"
}

phase_selfcheck() {
    if [ "$DRY" = 1 ]; then  # the CPU path, kept short
        "$PY" -m cebench selfcheck --json "$OUT/selfcheck.json" --case small.contiguous.float32.mean.w-random \
            --budget-s 0.2 --min-run-time 0.05 --peak-mib 64
    else
        "$PY" -m cebench selfcheck --json "$OUT/selfcheck.json"
    fi
}

export -f phase_setup phase_environment phase_nvml_rate phase_profile phase_check \
    phase_pytest_cuda phase_selfcheck

# --- asv: the standard GPU subset, in chunks ----------------------------------------------
#
# The full grid is ~860 (benchmark, parameter) pairs, ~1300 benchmark processes with the
# default rounds: far beyond a few minutes even with a fork server. The standard GPU
# subset below is 267 pairs, run with `-a rounds=1` (one process per pair; time_
# benchmarks then take up to 10 samples in it); docs/gpu-run.md lists it. Each chunk is
# one `asv run`, which saves its results when it ends: a chunk cut off by its time limit
# loses only its own. Chunks run in priority order; one whose estimate (seconds on the
# H200, a guess until a GPU run's phase times replace it) does not fit is skipped.
#
# name | estimate s | regexes for forkserver ; smaller regexes for the spawn fallback
GPU_CHUNKS=(
    "asv_env|15|^bench_environment\. ^bench_bandwidth\.PeakBandwidth\.;^bench_environment\. ^bench_bandwidth\.PeakBandwidth\."
    "asv_kernel|125|^bench_loss\.Kernel\.;^bench_loss\.Kernel\..*\('llm-128k'"
    "asv_overhead_memory_accuracy|100|^bench_loss\.WeightOverhead\..*\('(llm-128k|segmentation)',\s'[a-z0-9]+',\s'mean' ^bench_memory\.AllocatorPeak\. ^bench_memory\.NvmlTelemetry\..*\('llm-128k' ^bench_accuracy\.;^bench_loss\.WeightOverhead\..*\('llm-128k',\s'[a-z0-9]+',\s'mean' ^bench_memory\.AllocatorPeak\..*\('llm-128k' ^bench_accuracy\..*\('bfloat16'"
    "asv_core|55|^bench_loss\.Core\..*\('(llm-128k|segmentation)',\s'[a-z0-9_]+',\s'mean' ^bench_loss\.Vocab\.;^bench_loss\.Core\..*\('llm-128k',\s'[a-z0-9_]+',\s'mean'"
)
# The CPU dry run: the same chunks on a few CPU-sized cases (GPU-only ones skip in set-up).
DRY_CHUNKS=(
    "asv_env|10|^bench_environment\. ^bench_bandwidth\.PeakBandwidth\.;^bench_environment\."
    "asv_kernel|10|^bench_loss\.Kernel\..*\('classification',\s'float32',\s'mean',\s'random'\);^bench_loss\.Kernel\..*\('classification',\s'float32',\s'mean',\s'random'\)"
    "asv_overhead_memory_accuracy|10|^bench_loss\.WeightOverhead\..*\('small',\s'float32',\s'mean',\s'random'\) ^bench_memory\.AllocatorPeak\..*\('llm-128k',\s'bfloat16',\s'random'\) ^bench_accuracy\..*\('bfloat16',\s'mean',\s'random'\);^bench_accuracy\..*\('bfloat16',\s'mean',\s'random'\)"
    "asv_core|10|^bench_loss\.Core\..*\('small',\s'float32',\s'mean';^bench_loss\.Core\..*\('small',\s'float32',\s'mean',\s'none'"
)

asv_run() {  # LAUNCH_METHOD REGEX...
    local launch=$1
    shift
    local bench=()
    for regex in "$@"; do bench+=(-b "$regex"); done
    "$PY" -m asv run --config "$WORK/asv.conf.json" -E existing:same --no-pull \
        --set-commit-hash "$(git -C "$WORK/repo" rev-parse HEAD)" \
        --machine "$(cat "$WORK/machine-name")" --record-samples --launch-method "$launch" \
        --show-stderr -a rounds=1 "${bench[@]}"
}
export -f asv_run

# Prints "<benchmarks> <values> <nan>" of the run's asv results (values: finite numbers;
# nan: skipped or not run), and,
# with an argument, whether that benchmark has a value (exit status).
asv_tally() {
    "$PY" - "$WORK/results" "${1:-}" <<'EOF'
import glob, json, math, os, sys
results_dir, wanted = sys.argv[1], sys.argv[2]
values = nans = count = 0
found = False
for path in glob.glob(os.path.join(results_dir, "*", "*.json")):
    if os.path.basename(path) == "machine.json":
        continue
    with open(path) as f:
        data = json.load(f)
    columns = data.get("result_columns", [])
    for name, row in data.get("results", {}).items():
        count += 1
        result = row[columns.index("result")] if isinstance(row, list) else row
        flat = result if isinstance(result, list) else [result]
        finite = [isinstance(v, (int, float)) and math.isfinite(v) for v in flat]
        values += sum(finite)
        nans += len(finite) - sum(finite)
        if name == wanted and any(finite):
            found = True
print(count, values, nans)
sys.exit(0 if (found or not wanted) else 1)
EOF
}

run_asv_chunks() {
    local chunks=("$@") reserve entry name estimate regexes index
    if [ ! -s "$WORK/machine-name" ] || [ ! -d "$WORK/repo" ]; then
        for entry in "${chunks[@]}"; do
            record "${entry%%|*}" 0 0 skipped "" "setup failed (no clone or machine)"
        done
        return
    fi
    for index in "${!chunks[@]}"; do
        entry=${chunks[$index]}
        name=${entry%%|*}
        entry=${entry#*|}
        estimate=${entry%%|*}
        regexes=${entry#*|}
        if [ "$LAUNCH" = spawn ]; then regexes=${regexes#*;}; else regexes=${regexes%%;*}; fi
        local left
        left=$(awk -v d="$DEADLINE_S" -v n="$(elapsed_s)" 'BEGIN { printf "%d", d - n - 15 }')
        if selected "$name" && [ "$left" -lt "$estimate" ]; then
            record "$name" 0 "$estimate" skipped "" "estimate ${estimate}s > ${left}s left"
            continue
        fi
        local regex_list=()
        read -r -a regex_list <<<"$regexes"  # space-separated; no globbing
        run_phase "$name" 400 15 asv_run "$LAUNCH" "${regex_list[@]}"
        selected "$name" && echo "asv results so far (benchmarks, values, nan): $(asv_tally)"
        if [ "$name" = asv_env ] && selected asv_env && [ "$LAUNCH" != spawn ] \
            && ! asv_tally bench_environment.Environment.track_torch_version >/dev/null; then
            echo "asv with --launch-method $LAUNCH recorded no torch version: falling back to spawn"
            LAUNCH=spawn
            read -r -a regex_list <<<"${chunks[$index]##*;}"
            run_phase asv_env_spawn 60 15 asv_run spawn "${regex_list[@]}"
        fi
    done
}

# --- the run ---------------------------------------------------------------------------

echo "gpu-validate: dry_run=$DRY deadline=${DEADLINE_S}s phases=$SELECTED out=$OUT work=$WORK"
run_phase setup 60 0 phase_setup
run_phase environment 20 0 phase_environment
run_phase nvml_rate 15 0 phase_nvml_rate
run_phase profile 45 0 phase_profile
run_phase check 60 0 phase_check
run_phase pytest_cuda 75 0 phase_pytest_cuda
run_phase selfcheck 75 0 phase_selfcheck
if [ "$DRY" = 1 ]; then run_asv_chunks "${DRY_CHUNKS[@]}"; else run_asv_chunks "${GPU_CHUNKS[@]}"; fi

# --- pack: at most 8 files in OUT ---------------------------------------------------------
pack_start=$EPOCHREALTIME
if [ -d "$WORK/results" ] && [ -n "$(ls -A "$WORK/results")" ]; then
    tar -czf "$OUT/asv-results.tar.gz" -C "$WORK/results" .
fi
if [ -d "$WORK/profile" ]; then
    tar -czf "$OUT/profile.tar.gz" -C "$WORK" profile
fi
commit=$(git -C "$WORK/repo" rev-parse HEAD 2>/dev/null || echo unknown)
machine=$(cat "$WORK/machine-name" 2>/dev/null || echo unknown)
tree_matches=false
[ -f "$WORK/tree-matches-head" ] && tree_matches=true
record pack "$(awk -v a="$pack_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" \
    0 ok 0 ""
total=$(elapsed_s)
{
    printf '{\n "dry_run": %s,\n "machine": "%s",\n "commit": "%s",\n' \
        "$([ "$DRY" = 1 ] && echo true || echo false)" "$machine" "$commit"
    printf ' "tree_matches_commit": %s,\n "deadline_s": %s,\n "total_s": %s,\n' \
        "$tree_matches" "$DEADLINE_S" "$total"
    read -r n_benchmarks n_values n_nan <<<"$(asv_tally 2>/dev/null || echo 0 0 0)"
    printf ' "asv_launch_method": "%s",\n' "$LAUNCH"
    printf ' "asv_results": {"benchmarks": %s, "values": %s, "nan": %s},\n "phases": [\n' \
        "${n_benchmarks:-0}" "${n_values:-0}" "${n_nan:-0}"
    awk -F '\t' '{
        gsub(/"/, "\x27", $6)
        printf "%s  {\"name\": \"%s\", \"seconds\": %s, \"limit_s\": %s, \"status\": \"%s\", \"rc\": %s, \"note\": \"%s\"}",
            (NR > 1 ? ",\n" : ""), $1, $2, $3, $4, ($5 == "" ? "null" : $5), $6
    }' "$PHASES_TSV"
    printf '\n ]\n}\n'
} >"$OUT/phases.json"

echo
echo "phase times:"
awk -F '\t' '{ printf "  %-22s %7s s  %s%s\n", $1, $2, $4, ($6 == "" ? "" : " (" $6 ")") }' "$PHASES_TSV"
echo "total: $total s (deadline $DEADLINE_S s); files in $OUT:"
ls -l "$OUT"
count=$(find "$OUT" -type f | wc -l)
if [ "$count" -gt 8 ]; then
    echo "WARNING: $count files in $OUT (at most 8 come back)"
fi
failed=$(awk -F '\t' '$4 == "failed" || $4 == "timeout"' "$PHASES_TSV" | wc -l)
echo "gpu-validate: done; $failed phase(s) failed or timed out"

exec >&- 2>&-
wait "$TEE_PID" 2>/dev/null
[ "$failed" -eq 0 ]
