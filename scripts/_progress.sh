# Sourced by run-suite.sh: `phase NAME` prints one line per phase, with the time the same
# phase took on this machine the previous time (kept in .asv/run-suite.timings);
# `phase_end` records the current phase's time.
_progress_file="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.asv/run-suite.timings"
_progress_name="" _progress_start=0

_progress_words() {
    if [ "$1" -lt 90 ]; then echo "$1 s"; else echo "$(( ($1 + 30) / 60 )) min"; fi
}

phase() {
    phase_end
    _progress_name=$1 _progress_start=$SECONDS
    local last
    last=$(awk -F'\t' -v p="$1" '$1 == p {s = $2} END {if (s != "") print s}' \
        "$_progress_file" 2>/dev/null || true)
    if [ -n "$last" ]; then
        echo "cebench: $1 (last time $(_progress_words "$last"))"
    else
        echo "cebench: $1 (first time on this machine: no estimate yet)"
    fi
}

phase_end() {
    [ -n "$_progress_name" ] || return 0
    mkdir -p "$(dirname "$_progress_file")"
    { awk -F'\t' -v p="$_progress_name" '$1 != p' "$_progress_file" 2>/dev/null || true
      printf '%s\t%s\n' "$_progress_name" $((SECONDS - _progress_start))
    } > "$_progress_file.new" && mv "$_progress_file.new" "$_progress_file"
    _progress_name=""
}
