#!/usr/bin/env bash
# Fills .whl/ (git-ignored) with the wheels a GPU machine's Python usually lacks, for
# CPython 3.12 on x86-64 Linux, plus cebench's own wheel (its `cebench` entry point), and
# makes the git bundle .devgit/repo.bundle (scripts/make-devgit.sh). Copy both folders
# with the working tree to a GPU machine without network access; docs/gpu-run.md says how.
#
# The GPU machine is expected to have torch, numpy, pandas, matplotlib, scipy,
# nvidia-ml-py, pytest and triton; cebench's GPU path imports nothing else. What it
# lacks is asv and asv's own needs. Nothing here depends on the torch version, so the
# folder serves any torch release.
#
# Needs the package index (pip's own configuration). Usage: scripts/fetch-gpu-wheels.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WHEEL_DIR=${CEBENCH_WHEEL_DIR:-.whl}
# Any Python with pip and setuptools runs the downloads; the wheels are chosen for 3.12.
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# asv and asv_runner pinned as in pyproject.toml's dev extra; the rest are their needs
# (and virtualenv's, and importlib-metadata's: lazy-importer, zipp). tabulate, filelock
# and zipp are often there already; they are carried anyway (tiny, pure Python) so that
# a Python without them, or with an older zipp, still runs.
PACKAGES=(
    asv==0.6.6 asv_runner==0.3.2 json5 tabulate pympler virtualenv importlib-metadata
    lazy-importer zipp distlib platformdirs filelock python-discovery
    liger-kernel
)
# Quack (CuTe DSL, sm90+ GPUs) needs NVIDIA's CUTLASS DSL wheels, hundreds of MB:
# CEBENCH_FETCH_QUACK=1 carries them too; without them `quack` reports itself not installed.
if [ "${CEBENCH_FETCH_QUACK:-0}" = 1 ]; then
    PACKAGES+=(quack-kernels nvidia-cutlass-dsl apache-tvm-ffi torch-c-dlpack-ext einops)
fi
PLATFORM_ARGS=(
    --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
    --platform manylinux2014_x86_64 --platform any
)

rm -rf "$WHEEL_DIR"
mkdir -p "$WHEEL_DIR"
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: "${PLATFORM_ARGS[@]}" \
    -d "$WHEEL_DIR" "${PACKAGES[@]}"

# Check that each package resolved to exactly one wheel (two versions stop the install).
status=0
for spec in "${PACKAGES[@]}"; do
    name=${spec%%==*}
    pattern=$(echo "$name" | tr '-' '_')
    count=$(find "$WHEEL_DIR" -maxdepth 1 -iname "${pattern}-*.whl" | wc -l)
    if [ "$count" -ne 1 ]; then
        echo "fetch-gpu-wheels: $name: $count wheels in $WHEEL_DIR (expected 1)" >&2
        status=1
    fi
done

# cebench itself: the code runs from the carried working tree (src/ comes first on
# PYTHONPATH there); the wheel gives the `cebench` command.
# Built from a copy, so that no build/ or egg-info lands in the tree.
build_dir=$(mktemp -d)
trap 'rm -rf "$build_dir"' EXIT
cp -r pyproject.toml src "$build_dir"/
[ -f README.md ] && cp README.md "$build_dir"/
rm -rf "$build_dir"/src/*.egg-info
find "$build_dir" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$WHEEL_DIR" "$build_dir" >/dev/null

bash scripts/make-devgit.sh

ls -1 "$WHEEL_DIR"
echo "fetch-gpu-wheels: $(find "$WHEEL_DIR" -name '*.whl' | wc -l) wheels," \
    "$(du -sh "$WHEEL_DIR" | cut -f1) in $WHEEL_DIR; bundle $(du -sh .devgit | cut -f1) in .devgit"
exit "$status"
