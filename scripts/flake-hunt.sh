#!/usr/bin/env bash
# Runs the Rust test binaries (and, with FLAKE_BINDINGS=1, the C/Python/Go tests) ROUNDS times
# under load, to find tests that fail only sometimes (#19 point 0). Not part of CI.
#
#   scripts/flake-hunt.sh [ROUNDS] [HOGS]
#
# Each round runs every test executable of `cargo test --all-targets` (built once, run
# directly, so a round does not wait on cargo) while HOGS busy loops (default: one per core)
# compete for the CPU. A failing executable's output is kept in $FLAKE_OUT (default
# target/flake-hunt/) as round-N-<binary>.log; the summary names every test that failed and
# in how many rounds. Exit status: non-zero when any test failed in any round.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
hogs=${2:-$(nproc)}
out=${FLAKE_OUT:-target/flake-hunt}
mkdir -p "$out"
. scripts/env.sh 2>/dev/null || true
export SUTRA_REQUIRE_TOOLS=${SUTRA_REQUIRE_TOOLS:-1}

# The executables cargo would run, with the directory cargo runs each in (the package root).
mapfile -t exes < <(cargo test --all-targets --no-run --message-format=json 2>/dev/null \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["executable"])
')
[ "${#exes[@]}" -gt 0 ] || { echo "no test executables built" >&2; exit 1; }
echo "flake-hunt: ${#exes[@]} test executables, $rounds rounds, $hogs CPU hogs"

hog_pids=()
stop_hogs() { [ "${#hog_pids[@]}" -eq 0 ] || kill "${hog_pids[@]}" 2>/dev/null || true; hog_pids=(); }
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do (while :; do :; done) & hog_pids+=($!); done

failures=$out/failures.txt
: > "$failures"
for r in $(seq "$rounds"); do
    start=$(date +%s)
    bad=0
    for exe in "${exes[@]}"; do
        name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
        log=$out/round-$r-$name.log
        if ! "$exe" >"$log" 2>&1; then
            bad=$((bad + 1))
            # libtest lists failing tests under "failures:" as indented names.
            names=$(awk '/^failures:$/{f++; next} f==2 && /^    /{print $1} /^test result/{f=0}' "$log")
            if [ -n "$names" ]; then printf '%s\n' "$names" | sed "s|^|$name |" >> "$failures"
            else echo "$name (no test named: see $log)" >> "$failures"; fi
        else
            rm -f "$log"
        fi
    done
    if [ "${FLAKE_BINDINGS:-0}" = 1 ]; then
        log=$out/round-$r-bindings.log
        if ./scripts/test-bindings.sh >"$log" 2>&1; then rm -f "$log"; else
            bad=$((bad + 1)); echo "bindings (see $log)" >> "$failures"; fi
    fi
    echo "round $r: $bad failing executables, $(( $(date +%s) - start )) s, load $(cut -d' ' -f1 /proc/loadavg)"
done
stop_hogs
echo "==== failures over $rounds rounds (test: rounds failed) ===="
if [ -s "$failures" ]; then sort "$failures" | uniq -c | sort -rn; exit 1; fi
echo "none"
