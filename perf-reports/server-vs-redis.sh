#!/usr/bin/env bash
# GET/SET throughput of sutra-cache's RESP server against Redis (Debian's redis-server), the
# two measured in the same run, interleaved round by round, with redis-benchmark and
# 3072-byte values (one 768-d float32 embedding). Prints a markdown report on stdout.
#   perf-reports/server-vs-redis.sh [rounds] > perf-reports/server-vs-redis-$(date +%F).md
# Durability rows (appendfsync always / everysec vs WAL_SYNC_INTERVAL_MS) need the WAL and
# are added once it lands. VADD/VSIM use the loader perf-reports/vector-load.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
RPORT=${RPORT:-56390}
SPORT=${SPORT:-56391}
cargo build --release --quiet --bin sutra-cache
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "needs redis-server and redis-benchmark: run scripts/setup.sh" >&2; exit 1; }

redis-server --port "$RPORT" --save '' --appendonly no --daemonize no --logfile /dev/null &
RPID=$!
./target/release/sutra-cache serve --port "$SPORT" --in-memory true --log warn &
SPID=$!
trap 'kill "$RPID" "$SPID" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for p in "$RPORT" "$SPORT"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done

# One redis-benchmark run: prints "rps p50_ms".
bench() { # port test clients pipeline requests
  redis-benchmark -p "$1" -t "$2" -c "$3" -P "$4" -n "$5" -d 3072 -r 10000 -q 2>&1 \
    | tr '\r' '\n' | grep "requests per second" | tail -1 \
    | sed -E 's/.*: ([0-9.]+) requests per second, p50=([0-9.]+) msec.*/\1 \2/'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "# sutra-cache RESP server vs Redis: GET/SET, 3072-byte values"
echo
echo "- commit: $(git rev-parse --short HEAD), $(date -u +%FT%TZ)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores (shared with the benchmark client)"
echo "- peer: $(redis-server --version | cut -d' ' -f1-3), no persistence; sutra-cache in memory"
echo "- command: \`redis-benchmark -t get|set -c C -P P -n N -d 3072 -r 10000\`, $ROUNDS interleaved rounds, median"
echo
echo "| test | clients/pipeline | Redis req/s | sutra-cache req/s | ratio | Redis p50 ms | sutra-cache p50 ms |"
echo "|---|---|---|---|---|---|---|"
for cfg in "1 1 20000" "50 1 100000" "50 16 400000"; do
  set -- $cfg; C=$1; P=$2; N=$3
  for t in set get; do
    : > /tmp/sutra-bench-r; : > /tmp/sutra-bench-s
    for _ in $(seq "$ROUNDS"); do
      bench "$RPORT" "$t" "$C" "$P" "$N" >> /tmp/sutra-bench-r
      bench "$SPORT" "$t" "$C" "$P" "$N" >> /tmp/sutra-bench-s
    done
    r=$(cut -d' ' -f1 /tmp/sutra-bench-r | median); s=$(cut -d' ' -f1 /tmp/sutra-bench-s | median)
    rp=$(cut -d' ' -f2 /tmp/sutra-bench-r | median); sp=$(cut -d' ' -f2 /tmp/sutra-bench-s | median)
    ratio=$(awk -v a="$s" -v b="$r" 'BEGIN {printf "%.2f", a/b}')
    echo "| ${t^^} | c$C/P$P | ${r%.*} | ${s%.*} | $ratio | $rp | $sp |"
  done
done
