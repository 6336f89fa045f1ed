#!/usr/bin/env bash
# Mutation testing of the modules that decide (mutmut): each module is mutated against its
# own tests (fast tests only), and a score table is written to build/mutation/scores.md.
#
#   bash scripts/mutation.sh                  # every module below
#   bash scripts/mutation.sh reference cases  # some of them
#   bash scripts/mutation.sh --table          # only rebuild the table from the last runs
#   bash scripts/mutation.sh --record         # the same, and record the scores in
#                                             # docs/mutation-scores.json (docs/testing.md's
#                                             # table is generated from it: cebench docs --write)
#   bash scripts/mutation.sh compare:_compare_machine,Spec
#                                             # only these functions' (or classes') mutants,
#                                             # kept beside the module's earlier results
#   bash scripts/mutation.sh compare:survived # the last run's survivors again (new tests)
#   bash scripts/mutation.sh compare:x__compare_machine__mutmut_647   # one mutant
#
# MUTATION_JOBS sets the parallel test processes (default: the CPU count). Slow (hours
# on 2 cores): not part of scripts/test.sh; a scheduled workflow runs it. Survivors
# that compute what the original computes are listed, with the reason, in docs/testing.md; the
# table counts them apart and names every other survivor.
set -euo pipefail
# The active virtual environment if there is one (it needs cebench[dev]), else .venv.
if [ -n "${VIRTUAL_ENV:-}" ]; then
    cd "$(dirname "$0")/.."
    export PATH="$VIRTUAL_ENV/bin:$PATH"
else
    source "$(dirname "$0")/_venv.sh"   # cd to the repository root, PATH has .venv/bin
fi

# name | source file under src/ | its tests | functions that only format or parse arguments
# (they are mutated and counted, but kept out of the decision-code score)
MODULES="
reference|cebench/semantics/reference.py|tests/test_reference.py|
cases|cebench/grid/cases.py|tests/test_cases.py|
inputs|cebench/grid/inputs.py|tests/test_inputs.py|
roofline|cebench/measure/roofline.py|tests/test_roofline.py|
memory|cebench/measure/memory.py|tests/test_memory.py|
compare-select|cebench/results/compare/select.py|tests/test_compare.py|_listing
compare-noise|cebench/results/compare/noise.py|tests/test_compare.py|
compare-stats|cebench/results/compare/stats.py|tests/test_compare.py|
compare-verdict|cebench/results/compare/verdict.py|tests/test_compare.py|
compare-table|cebench/results/compare/table.py|tests/test_compare.py|
instructions|cebench/measure/instructions.py|tests/test_instructions.py|
deterministic|cebench/results/deterministic.py|tests/test_deterministic.py|
"

root=$PWD
work=$root/build/mutation
mkdir -p "$work"
table_only=false
record=false
if [ "${1:-}" = "--table" ]; then table_only=true; fi
if [ "${1:-}" = "--record" ]; then table_only=true; record=true; fi
jobs=${MUTATION_JOBS:-$(nproc)}
known=$(awk -F'|' 'NF > 1 {print $1}' <<< "$MODULES")
declare -A only=()   # module -> its functions to mutate (empty: all of it)
if [ "$table_only" = false ]; then
    for arg in "$@"; do
        name=${arg%%:*}
        if ! grep -qx -- "$name" <<< "$known"; then
            echo "mutation: unknown module '$name' (known: $(echo $known))" >&2
            exit 2
        fi
        only[$name]=$([[ "$arg" == *:* ]] && echo "${arg#*:}" || echo "")
    done
fi

while IFS='|' read -r name source tests formatting; do
    [ -n "$name" ] && [ "$table_only" = false ] || continue
    if [ $# -gt 0 ] && [ -z "${only[$name]+set}" ]; then continue; fi
    if [ ! -f "src/$source" ] || [ ! -f "$tests" ]; then
        echo "mutation: $name: src/$source or $tests is missing; skipped" >&2
        continue
    fi
    dir=$work/$name
    functions=${only[$name]:-}
    # mutmut's names for the mutants of function F, class F or method F of this module
    module=$(sed 's|/|.|g; s|\.py$||' <<< "$source")
    patterns=()
    for f in ${functions//,/ }; do
        if [ "$f" = survived ]; then   # by name: the survivors in the last results
            [ -f "$dir/results.txt" ] || { echo "mutation: $name has no earlier run" >&2; exit 2; }
            patterns+=($(awk '$2 == "survived" {sub(":$", "", $1); print $1}' "$dir/results.txt"))
        elif [[ "$f" == *__mutmut_* ]]; then   # one mutant, by mutmut's name
            patterns+=("$module.$f")
        else
            patterns+=("$module.x_${f}__mutmut_*" "$module.xǁ${f}ǁ*" "$module.xǁ*ǁ${f}__mutmut_*")
        fi
    done
    if [ -n "$functions" ] && [ ${#patterns[@]} -eq 0 ]; then
        echo "mutation: $name: no survivors to run again"
        continue
    fi
    # A whole module starts afresh; some functions' mutants are added to the module's
    # earlier results (mutmut re-runs a function whose source changed since).
    if [ -z "$functions" ]; then rm -rf "$dir"; fi
    mkdir -p "$dir"
    # A copy of the tree with its own mutmut configuration: one module, its own tests
    # (and the committed results, which some tests read).
    rm -rf "$dir/src" "$dir/tests" "$dir/benchmarks" "$dir/results"
    cp -r src tests benchmarks results "$dir/"
    find "$dir" -name __pycache__ -prune -exec rm -rf {} +
    cp pyproject.toml "$dir/"
    cat >> "$dir/pyproject.toml" <<EOF

[tool.mutmut]
source_paths = ["src"]
only_mutate = ["src/$source"]
also_copy = ["benchmarks", "results"]
pytest_add_cli_args = ["-m", "not slow and not cuda and not committed", "-p", "no:cacheprovider", "-q"]
pytest_add_cli_args_test_selection = ["$tests"]
use_git_change_detection = false
EOF
    echo "mutation: $name (src/$source${functions:+, only $functions} against $tests) ..."
    start=$(date +%s)
    # One torch thread: mutmut forks a child per mutant, and a fork after torch has started
    # its OpenMP pool can hang the child (counted as a timeout).
    (cd "$dir" && OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
        mutmut run --max-children "$jobs" "${patterns[@]}" >> run.log 2>&1) \
        || { echo "mutation: $name: mutmut failed, see $dir/run.log" >&2; tail -20 "$dir/run.log" >&2; exit 1; }
    (cd "$dir" && mutmut results --all true > results.txt)
    # run time: this run's, added to the earlier ones' when only some functions ran
    seconds=$(( $(date +%s) - start ))
    if [ -n "$functions" ] && [ -f "$dir/seconds" ]; then
        seconds=$(( seconds + $(cat "$dir/seconds") ))
    fi
    echo "$seconds" > "$dir/seconds"
    echo "$formatting" > "$dir/formatting"
    echo "mutation: $name done in $(( $(date +%s) - start )) s"
done <<< "$MODULES"

python - "$work" docs/testing.md "$record" <<'EOF'
"""Score table from each module's `mutmut results --all true`; with --record, the scores
into docs/mutation-scores.json (a module's entry replaced, the others kept)."""
import collections
import datetime
import importlib.metadata
import json
import pathlib
import re
import subprocess
import sys

work, doc, record = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3] == "true"
scores = []
# Equivalent survivors: the backquoted mutant names in docs/testing.md's table rows.
equivalent = set(re.findall(r"^\| `(cebench\.[^`]+)`", doc.read_text(), re.M)) \
    if doc.exists() else set()

rows, unexplained = [], []
for result in sorted(work.glob("*/results.txt")):
    module = result.parent.name
    formatting = (result.parent / "formatting").read_text().split()
    seconds = int((result.parent / "seconds").read_text())
    counts = {"all": collections.Counter(), "decision": collections.Counter()}
    for line in result.read_text().splitlines():
        match = re.match(r"\s*(\S+): (.+)$", line)
        if not match:
            continue
        mutant, status = match.groups()
        function = re.sub(r"__mutmut_\d+$", "", mutant).split(".")[-1].split("ǁ")[-1]
        function = function[2:] if function.startswith("x_") else function
        status = "equivalent" if status == "survived" and mutant in equivalent else status
        counts["all"][status] += 1
        if function not in formatting:
            counts["decision"][status] += 1
            if status == "survived":
                unexplained.append(mutant)
    for scope, c in counts.items():
        if scope == "decision" and not formatting:
            continue
        total = sum(c.values())
        judged = total - c["equivalent"]
        # caught: the tests failed (killed), hung (timeout) or crashed (segfault)
        caught = c["killed"] + c["timeout"] + c["segfault"]
        # mutants not run yet (only some functions were asked for) are not in the score
        judged -= c["not checked"]
        score = 100 * caught / judged if judged else float("nan")
        label = module if scope == "all" else f"{module} (decision code)"
        measured = datetime.datetime.fromtimestamp(result.stat().st_mtime, datetime.timezone.utc)
        if not (formatting and scope == "all"):  # a module with formatting: its decision code
            scores.append({"module": label, "mutants": total, "caught": caught,
                           "survived": c["survived"], "equivalent": c["equivalent"],
                           "not_run": c["not checked"], "no_tests": c["no tests"],
                           "seconds": seconds, "measured": measured.strftime("%Y-%m-%d")})
        rows.append(f"| {label} | {total} | {c['not checked']} | {c['killed']} | "
                    f"{c['timeout'] + c['segfault']} | {c['survived']} | {c['equivalent']} | "
                    f"{c['no tests']} | {score:.1f} % | {seconds if scope == 'all' else ''} |")

table = ["| module | mutants | not run | killed | timeout | survived | equivalent | no tests | "
         "caught / (run − equivalent) | run time (s) |", "|---" * 10 + "|", *rows]
if unexplained:
    table += ["", "Survivors in decision code not listed as equivalent in docs/testing.md:", ""]
    table += [f"- `{m}`" for m in unexplained]
(work / "scores.md").write_text("\n".join(table) + "\n")
print("\n".join(table))
print(f"\n(written to {work / 'scores.md'})")
if record:
    path = pathlib.Path("docs/mutation-scores.json")
    kept = json.loads(path.read_text()) if path.exists() else {"modules": []}
    machine = subprocess.run([sys.executable, "-m", "cebench", "machine"], capture_output=True,
                             text=True).stdout.strip()
    new = {s["module"]: dict(s, machine=machine) for s in scores}
    modules = [new.pop(m["module"], m) for m in kept["modules"]] + list(new.values())
    path.write_text(json.dumps({"tool": f"mutmut {importlib.metadata.version('mutmut')}",
                                "modules": modules}, indent=1) + "\n")
    print(f"(recorded in {path}: run `cebench docs --write` for docs/testing.md)")
EOF
