#!/usr/bin/env bash
# Instructions per lookup with analytics on vs off (issue #15 point 1), counted by
# `valgrind --tool=cachegrind` (deterministic: the figure does not depend on the machine's
# load, unlike the criterion A/B of scripts/analytics-ab.sh). For each case of
# examples/lookup_ir.rs, runs K and 2K lookups with analytics on and off; one lookup's Ir is
# (Ir(2K) − Ir(K)) / K, the setup cancelling. Prints a Markdown table; keeps the cachegrind
# files in OUT (default a temp dir) for `cg_diff OUT/cg.on.hot64.2K OUT/cg.off.hot64.2K`.
#
#   scripts/lookup-ir.sh [K] [OUT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
k=${1:-100000}
case $k in '' | *[!0-9]* | 0) echo "K must be a positive integer, got '$k'" >&2; exit 2 ;; esac
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
out=${2:-$(mktemp -d)}
mkdir -p "$out"
export CARGO_INCREMENTAL=0
cargo build --release --example lookup_ir --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/examples/lookup_ir
ir() { # analytics case lookups -> total Ir
  local f="$out/cg.$1.$2.$3"
  valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$f" \
    "$bin" --analytics "$1" --case "$2" --lookups "$3" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$f"
}
echo "| case | on, Ir/lookup | off, Ir/lookup | on − off |"
echo "|---|---|---|---|"
for c in hot64 random miss; do
  declare -A per=()
  for a in on off; do
    one=$(ir "$a" "$c" "$k")
    two=$(ir "$a" "$c" $((2 * k)))
    per[$a]=$(python3 -c "print(f'{($two - $one) / $k:.1f}')")
  done
  python3 -c "import sys; on, off = map(float, sys.argv[2:]); print(f'| {sys.argv[1]} | {on:.1f} | {off:.1f} | {on - off:+.1f} |')" \
    "$c" "${per[on]}" "${per[off]}"
done
echo
echo "cachegrind files: $out (cg_diff $out/cg.on.hot64.$((2 * k)) $out/cg.off.hot64.$((2 * k)) | cg_annotate -)"
