#!/usr/bin/env bash
# Restart time of sutra-cache (Engine::open until an element is served) against Redis 7
# loading the same vectors as 3072-byte blobs from RDB, plus durable appends/s through the
# engine. Prints markdown on stdout.
#   perf-reports/restart.sh [counts] [append-seconds]    e.g. perf-reports/restart.sh 100000,1000000 2
# Data directories go to $RESTART_DIR (default /tmp); 1M × 768 needs ~12 GB of disk, ~8 GB RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNTS=${1:-100000}
APPEND_SECS=${2:-2}
PORT=${RPORT:-56392}
ROOT=${RESTART_DIR:-/tmp}
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "installing redis-server (apt)" >&2
  apt-get install -y -q redis-server redis-tools >&2 || { apt-get update -q >&2 && apt-get install -y -q redis-server redis-tools >&2; }
fi
cargo bench --bench restart --no-run >&2

echo "## Machine"
echo
echo "- CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), nproc $(nproc)"
echo "- commit $(git rev-parse --short HEAD), $(redis-server --version | cut -d' ' -f1-3)"
echo "- command: \`perf-reports/restart.sh $COUNTS $APPEND_SECS\` on $(date -u +%FT%TZ)"
echo
echo "## sutra-cache"
echo
SUTRA_RESTART_N=$COUNTS SUTRA_APPEND_SECS=$APPEND_SECS SUTRA_RESTART_DIR=$ROOT \
  cargo bench --bench restart 2>/dev/null | grep -v '^$\|Running\|Finished' || true
echo
echo "## Redis: RDB load of the same vectors as 3072-byte blobs"
echo
echo "| elements | RDB size | restart until PING answers and INFO loading:0 (median of 5) | Redis's own 'DB loaded from disk' |"
echo "|---|---|---|---|"
RPID=
trap '[ -n "$RPID" ] && kill "$RPID" 2>/dev/null; true' EXIT
start_redis() { # dir
  redis-server --port "$PORT" --dir "$1" --dbfilename dump.rdb --save '' --appendonly no \
    --logfile "$1/redis.log" --daemonize no &
  RPID=$!
}
ready() {
  [ "$(redis-cli -p "$PORT" ping 2>/dev/null)" = PONG ] &&
    redis-cli -p "$PORT" info persistence 2>/dev/null | grep -q '^loading:0'
}
for n in ${COUNTS//,/ }; do
  dir=$(mktemp -d "$ROOT/redis-restart-XXXX")
  start_redis "$dir"
  until ready; do sleep 0.02; done
  SUTRA_RESP_N=$n cargo bench --bench restart 2>/dev/null | redis-cli -p "$PORT" --pipe >/dev/null
  [ "$(redis-cli -p "$PORT" dbsize)" = "$n" ] || { echo "redis load failed" >&2; exit 1; }
  redis-cli -p "$PORT" save >/dev/null
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  wait "$RPID" 2>/dev/null || true
  times=()
  for _ in 1 2 3 4 5; do
    : > "$dir/redis.log"
    t0=$(date +%s%N)
    start_redis "$dir"
    until ready; do sleep 0.005; done
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000000 )))
    [ "$(redis-cli -p "$PORT" dbsize)" = "$n" ] || { echo "redis reload lost keys" >&2; exit 1; }
    own=$(sed -n 's/.*DB loaded from disk: \([0-9.]*\) seconds.*/\1/p' "$dir/redis.log" | tail -1)
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    wait "$RPID" 2>/dev/null || true
  done
  RPID=
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
  echo "| $n | $(du -m "$dir/dump.rdb" | cut -f1) MB | $med ms (all: ${times[*]}) | ${own:-?} s (last run) |"
  rm -rf "$dir"
done
