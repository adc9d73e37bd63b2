#!/usr/bin/env bash
# A/B of two sutra-cache binaries (in memory) and Redis 7 on GET (or T=set), 3072-byte values,
# interleaved round by round (Redis, A, B, Redis, …) so load from other work hits all three alike.
# Prints req/s, p50 ms and server CPU µs per request (utime+stime of the server process).
#   perf-reports/server-ab.sh ROUNDS BIN_A BIN_B "C P N" ...   (e.g. "50 16 300000" "1 1 20000")
set -euo pipefail
ROUNDS=$1; A=$2; B=$3; shift 3
RP=56490; AP=56491; BP=56492
redis-server --port $RP --save '' --appendonly no --daemonize no --logfile /dev/null & R=$!
"$A" serve --port $AP --in-memory true --log warn & PA=$!
"$B" serve --port $BP --in-memory true --log warn & PB=$!
trap 'kill $R $PA $PB 2>/dev/null; wait 2>/dev/null' EXIT
for p in $RP $AP $BP; do ok=0; for _ in $(seq 100); do redis-cli -p $p ping >/dev/null 2>&1 && { ok=1; break; }; sleep 0.05; done; [ $ok = 1 ] || { echo "server on $p did not start" >&2; exit 1; }; done
for p in $RP $AP $BP; do timeout 120 redis-benchmark -p $p -t set -c 50 -P 16 -n 200000 -d 3072 -r 10000 -q >/dev/null 2>&1; done
TCK=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
bench() { # port pid C P N
  local c0; c0=$(cpu $2)
  local r; r=$(timeout 120 redis-benchmark -p "$1" -t "${T:-get}" -c "$3" -P "$4" -n "$5" -d 3072 -r 10000 -q 2>&1 | tr '\r' '\n' | grep "requests per second" | tail -1 | sed -E 's/.*: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 \2/')
  local c1; c1=$(cpu $2)
  echo "$r $(awk -v a=$c0 -v b=$c1 -v n=$5 -v t=$TCK 'BEGIN{printf "%.2f", (b-a)/t*1e6/n}')"
}
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for cfg in "$@"; do
  set -- $cfg; C=$1; P=$2; N=$3
  for r in $(seq $ROUNDS); do
    echo "c$C/P$P r$r | redis $(bench $RP $R $C $P $N) | A $(bench $AP $PA $C $P $N) | B $(bench $BP $PB $C $P $N) | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
