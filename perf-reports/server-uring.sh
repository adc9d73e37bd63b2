#!/usr/bin/env bash
# io_uring client sockets against epoll and Redis 7 (#20 point 1): one sutra-cache binary run
# as two servers, `--io-uring-sockets no` (A, epoll) and `--io-uring-sockets yes` (B), through
# perf-reports/server-cpu.sh (server CPU per request from /proc, req/s, p50/p99, syscalls per
# request by `perf stat`), then syscalls per request by `strace -c -f` (which system calls)
# for each server over one redis-benchmark window per configuration.
#
#   perf-reports/server-uring.sh BIN [ROUNDS]
#   e.g. perf-reports/server-uring.sh target/release/sutra-cache 3
# CONFIGS overrides the configurations (server-cpu.sh's "MODE C P N" strings).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "$1"); ROUNDS=${2:-3}
mkdir -p target/tmp
for m in no yes; do
  printf '#!/bin/sh\nexec %s "$@" --io-uring-sockets %s\n' "$BIN" "$m" > "target/tmp/sutra-uring-$m"
  chmod +x "target/tmp/sutra-uring-$m"
done
A=$PWD/target/tmp/sutra-uring-no; B=$PWD/target/tmp/sutra-uring-yes
# shellcheck disable=SC2206
CONFIGS=(${CONFIGS:-"get 50 16 300000" "get 50 1 100000" "set 50 16 150000" "set 50 1 60000"})
if [ -n "${CONFIGS_RAW:-}" ]; then IFS=';' read -ra CONFIGS <<< "$CONFIGS_RAW"; fi
[ "${SKIP_CPU:-0}" = 1 ] || perf-reports/server-cpu.sh "$ROUNDS" "$A" "$B" -- "${CONFIGS[@]}"

# strace -c -f windows: in memory (GET after a SET warm-up) and SET (Redis everysec, ours
# WAL_SYNC_INTERVAL_MS=1000), 3072-byte values.
PORT=${PORT:-56630}
up() { for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
echo
echo "| window | server | requests | syscalls | syscalls/req | top calls (count) |"
echo "|---|---|---|---|---|---|"
for cfg in "${CONFIGS[@]}"; do
  set -- $cfg; MODE=$1; C=$2; P=$3; N=$4
  for srv in redis epoll uring; do
    d=$(mktemp -d target/tmp/sc.XXXXXX)
    case $srv in
      redis) if [ "$MODE" = get ]; then redis-server --port $PORT --save '' --appendonly no --logfile /dev/null & else
               redis-server --port $PORT --save '' --appendonly yes --appendfsync everysec --dir "$d" --logfile /dev/null & fi ;;
      epoll|uring) m=no; [ $srv = uring ] && m=yes
        if [ "$MODE" = get ]; then "$BIN" serve --port $PORT --in-memory true --log warn --io-uring-sockets $m & else
          WAL_SYNC_INTERVAL_MS=1000 "$BIN" serve --port $PORT --storage-path "$d" --in-memory false --log warn --io-uring-sockets $m & fi ;;
    esac
    pid=$!
    up $PORT || { echo "$srv did not start"; kill $pid; continue; }
    [ "$MODE" = get ] && redis-benchmark -p $PORT -t set -c 50 -P 16 -n 100000 -d 3072 -r 10000 -q >/dev/null 2>&1
    T=set; [ "$MODE" = get ] && T=get
    out=$(mktemp)
    strace -c -f -q -o "$out" -p $pid & st=$!
    sleep 0.5
    redis-benchmark -p $PORT -t $T -c "$C" -P "$P" -n "$N" -d 3072 -r 10000 -q >/dev/null 2>&1
    kill -INT $st; wait $st 2>/dev/null
    kill $pid; wait $pid 2>/dev/null
    rm -rf "$d"
    total=$(awk '$NF == "total" {print $4}' "$out")
    top=$(awk 'NR > 2 && $1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF " " $4 }' "$out" | sort -k2 -nr | head -4 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
    echo "| $MODE c$C/P$P | $srv | $N | $total | $(awk -v t="$total" -v n="$N" 'BEGIN {printf "%.3f", t / n}') | $top |"
    rm -f "$out"
  done
done
