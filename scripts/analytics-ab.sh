#!/usr/bin/env bash
# Analytics on vs off on the lookup path (issue #15 point 1), A/B in one run: the `analytics`
# group of benches/engine.rs (release, criterion's quick settings) run ROUNDS times (default
# 5), the on and off engines' order swapped every round (SUTRA_AB_OFF_FIRST), each case's
# median per round read from criterion's estimates, then the median over the rounds, on - off
# and the load average before and after each round printed as a Markdown table.
#
#   scripts/analytics-ab.sh [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rounds=${1:-5}
case $rounds in '' | *[!0-9]* | 0) echo "ROUNDS must be a positive integer, got '$rounds'" >&2; exit 2 ;; esac
target=${CARGO_TARGET_DIR:-$root/target}
export CARGO_INCREMENTAL=0 SUTRA_BENCH_QUICK=1
cargo bench --bench engine --no-run --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
  off_first=$(( r % 2 == 0 ))
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  SUTRA_AB_OFF_FIRST=$off_first cargo bench --bench engine --quiet -- 'analytics/' >"$out/round$r.log" 2>&1 || {
    cat "$out/round$r.log" >&2; exit 1; }
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  for d in "$target"/criterion/analytics/*/; do
    case=$(basename "$d")
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["median"]["point_estimate"])' \
      "$d/new/estimates.json" >"$out/$case.r$r"
  done
  echo "round $r ($( [ $off_first = 1 ] && echo off first || echo on first )): load average $load_before -> $load_after" >&2
  echo "$r|$off_first|$load_before|$load_after" >>"$out/rounds"
done
python3 - "$out" "$rounds" <<'PY'
import pathlib, statistics, sys
out, rounds = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def med(case):
    return [float((out / f"{case}.r{r}").read_text()) for r in range(1, rounds + 1)]
cases = [("hit, 768-d, one of 64 hot", "hit_768d_hot64"),
         ("hit, 768-d, one of 10k", "hit_768d_random10k"), ("miss", "miss")]
print(f"Median of {rounds} interleaved rounds (each round: criterion's median of the case), ns:\n")
print("| case | on | off | on - off | on/off | per round (on / off) |")
print("|---|---|---|---|---|---|")
for label, c in cases:
    on, off = med(c + "_on"), med(c + "_off")
    m_on, m_off = statistics.median(on), statistics.median(off)
    rows = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(on, off))
    print(f"| {label} | {m_on:.1f} | {m_off:.1f} | {m_on - m_off:+.1f} | {m_on / m_off:.3f} | {rows} |")
print("\nRounds (round | off first | load average before | after):\n")
for line in (out / "rounds").read_text().split("\n"):
    if line:
        print("- " + " | ".join(line.split("|")))
PY
