#!/usr/bin/env bash
# Instructions per search through the raw index, Engine::vsearch and Engine::vsearch_batch
# (#20 point 2), counted by callgrind inside examples/search_ir.rs's `searches` function only
# (the set's build is not counted): deterministic, so two commits compare on a loaded machine
# where wall-clock timings do not. Prints a Markdown table of Ir per search and the engine's
# ratio to the raw index; keeps the callgrind files in OUT (default a temp dir) for
# `callgrind_annotate OUT/cg.engine.10.32`.
#
#   scripts/search-ir.sh [N] [DIM] [QUERIES] [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-2000}
dim=${2:-128}
queries=${3:-300}
for v in "$n" "$dim" "$queries"; do
  case $v in '' | *[!0-9]* | 0) echo "N, DIM and QUERIES must be positive integers, got '$v'" >&2; exit 2 ;; esac
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
out=${4:-$(mktemp -d)}
mkdir -p "$out"
export CARGO_INCREMENTAL=0
cargo build --release --example search_ir --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/search_ir
ir() { # path k ef -> Ir per search
  local f="$out/cg.$1.$2.$3"
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*searches*' \
    --callgrind-out-file="$f" "$bin" --path "$1" --n "$n" --dim "$dim" --k "$2" --ef "$3" \
    --queries "$queries" >/dev/null 2>&1
  awk -v q="$queries" '/^(summary|totals):/ {print $2 / q; exit}' "$f"
}
echo "n $n, dim $dim, $queries queries, commit $(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty)"
echo
echo "| k, ef | raw Ir/search | Engine::vsearch | vsearch_batch | vsearch / raw |"
echo "|---|---|---|---|---|"
for kef in "1 1" "10 16" "10 32" "10 64"; do
  set -- $kef
  raw=$(ir raw "$1" "$2")
  eng=$(ir engine "$1" "$2")
  bat=$(ir batch "$1" "$2")
  python3 -c "import sys; k, ef = sys.argv[1:3]; r, e, b = map(float, sys.argv[3:]); print(f'| {k}, {ef} | {r:,.0f} | {e:,.0f} | {b:,.0f} | {e / r:.3f} |')" \
    "$1" "$2" "$raw" "$eng" "$bat"
done
echo
echo "callgrind files: $out"
