#!/usr/bin/env bash
# Crash soak: SIGKILLs engine and WAL child processes many more times than CI does.
#   scripts/soak-crash.sh [kills-per-policy] [rounds]
# Each round uses a new random seed (printed, so a failure can be replayed with
# SUTRA_SOAK_SEED=<seed>). Defaults: 500 kills per sync policy, 4 rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
iters="${1:-500}"
rounds="${2:-4}"
cargo test --test engine --no-run
for round in $(seq 1 "$rounds"); do
  seed="${SUTRA_SOAK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
  echo "== round $round/$rounds: $iters kills per policy, seed $seed"
  SUTRA_SOAK_ITERS="$iters" SUTRA_SOAK_SEED="$seed" \
    cargo test --test engine durability_crash:: -- --nocapture 2>&1 | grep -E 'kills|test result|panicked|FAILED'
done
for round in $(seq 1 "$rounds"); do
  echo "== WAL crash test, round $round/$rounds"
  cargo test --test engine wal_crash:: 2>&1 | grep -E 'test result|panicked|FAILED'
done
echo "soak passed"
