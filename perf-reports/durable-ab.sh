#!/usr/bin/env bash
# Durable SET (3072-byte values): Redis appendfsync always vs two sutra-cache binaries with
# WAL_SYNC_INTERVAL_MS=0, each server fresh per run (data under target/tmp), interleaved.
#   perf-reports/durable-ab.sh ROUNDS BIN_A BIN_B "C P N" ...   (sets/fsync: SETs per fdatasync, INFO wal_fsyncs)
# INTERVAL_MS=1000 REDIS_FSYNC=everysec compares interval mode with everysec instead.
set -uo pipefail
cd "$(dirname "$0")/.."; mkdir -p target/tmp
ROUNDS=$1; A=$2; B=$3; shift 3
PORT=56520
INTERVAL_MS=${INTERVAL_MS:-0}; REDIS_FSYNC=${REDIS_FSYNC:-always}
up() { for _ in $(seq 200); do redis-cli -p $PORT ping >/dev/null 2>&1 && return; sleep 0.05; done; }
bench() { timeout 300 redis-benchmark -p $PORT -t set -c "$1" -P "$2" -n "$3" -d 3072 -r 10000 -q 2>&1 | tr '\r' '\n' | grep "requests per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 \2/'; }
fsyncs() { redis-cli -p $PORT info persistence | tr -d '\r' | awk -F: -v n="$1" '$1=="wal_fsyncs"{printf "%.1f", n/$2}'; }
run_redis() { local d; d=$(mktemp -d target/tmp/redis-aof.XXXXXX); redis-server --port $PORT --save '' --appendonly yes --appendfsync $REDIS_FSYNC --dir "$d" --daemonize no --logfile /dev/null & local p=$!; up; echo -n "$(bench "$@")"; kill $p; wait $p 2>/dev/null; rm -rf "$d"; }
run_sutra() { local bin=$1; shift; local d; d=$(mktemp -d target/tmp/sutra-wal.XXXXXX); WAL_SYNC_INTERVAL_MS=$INTERVAL_MS $bin serve --port $PORT --storage-path "$d" --in-memory false --log warn & local p=$!; up; echo -n "$(bench "$@") sets/fsync $(fsyncs $3)"; kill $p; wait $p 2>/dev/null; rm -rf "$d"; }
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in "$@"; do
  set -- $cfg
  for r in $(seq $ROUNDS); do
    echo "c$1/P$2 r$r | redis $(run_redis $1 $2 $3) | A $(run_sutra $A $1 $2 $3) | B $(run_sutra $B $1 $2 $3) | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
