#!/usr/bin/env bash
# Conformance of several releases of one implementation: for each VERSION, installs that
# release alone (no dependencies: the driver environment's torch and triton serve) into
# its own folder and runs `cebench check --impl IMPL --record` with it first on the path.
# The verdicts go to results/<machine>/impls/IMPL-VERSION.jsonl.
#
#   bash scripts/check-impl-versions.sh liger 0.5.3 0.6.0 0.7.0 0.8.5
#
# Environment: CEBENCH_IMPL_ENVS (default .asv/impls) holds the per-release folders
# (removed after each check unless CEBENCH_KEEP_IMPL_ENVS=1); extra `cebench check`
# arguments in CEBENCH_CHECK_ARGS (e.g. "--device cpu"). Exit status 0 when every release
# was checked (each check's own status is printed: 1 a finding, 3 a release that does not
# run here, recorded as such), 2 on bad usage.
set -euo pipefail
source "$(dirname "$0")/_venv.sh"
if [ $# -lt 2 ]; then
    echo "usage: scripts/check-impl-versions.sh IMPL VERSION..." >&2
    exit 2
fi
impl=$1; shift
case "$impl" in
    liger) package=liger-kernel ;;
    quack) package=quack-kernels ;;
    *) echo "check-impl-versions: $impl has no releases of its own (liger, quack)" >&2; exit 2 ;;
esac
envs=${CEBENCH_IMPL_ENVS:-.asv/impls}
mkdir -p "$envs"
envs=$(cd "$envs" && pwd)
status=0
for version in "$@"; do
    target="$envs/$impl-$version"
    rm -rf "$target"
    if ! python -m pip install -q --no-deps --target "$target" "$package==$version"; then
        echo "check-impl-versions: $package==$version did not install" >&2
        status=1
        continue
    fi
    start=$(date +%s)
    rc=0
    # shellcheck disable=SC2086
    PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}" python -m cebench check --impl "$impl" \
        --record results ${CEBENCH_CHECK_ARGS:-} > "$envs/$impl-$version.log" 2>&1 || rc=$?
    checked=$(grep -m1 "^$impl " "$envs/$impl-$version.log" || true)
    echo "$impl $version: exit $rc in $(( $(date +%s) - start )) s; checked: ${checked:-?} (log $envs/$impl-$version.log)"
    if [ "$rc" -eq 3 ]; then
        tail -1 "$envs/$impl-$version.log"
    elif [ "$rc" -gt 1 ]; then
        tail -3 "$envs/$impl-$version.log" >&2
        status=1
    fi
    [ "${CEBENCH_KEEP_IMPL_ENVS:-0}" = 1 ] || rm -rf "$target"
done
exit "$status"
