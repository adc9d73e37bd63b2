#!/usr/bin/env bash
# GET/SET throughput of sutra-cache's RESP server against Redis (Debian's redis-server), the
# two measured in the same run, interleaved round by round, with redis-benchmark and
# 3072-byte values (one 768-d float32 embedding). Prints a markdown report on stdout.
#   perf-reports/server-vs-redis.sh [rounds] > perf-reports/server-vs-redis-$(date +%F).md
# Durable SET rows: Redis `appendonly yes` with `appendfsync always` / `everysec` against
# sutra-cache with WAL_SYNC_INTERVAL_MS=0 / 1000 (data directories under target/tmp, on the
# same disk), for each --wal-io in $WAL_IOS. DURABLE_N sets their request count; the rows also
# give SETs per WAL batch and per fdatasync (INFO wal_batches / wal_fsyncs) and the load.
# SUTRA_WRITE_OFFLOAD=async|spawn-blocking|block-in-place|inline picks how writes wait.
# ONLY=durable skips the in-memory rows; ONLY=memory skips the durable ones. VADD/VSIM use the loader perf-reports/vector-load.py.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
DURABLE_N=${DURABLE_N:-20000}
WAL_IOS=${WAL_IOS:-"auto sync"}
ONLY=${ONLY:-all}
RPORT=${RPORT:-56390}
SPORT=${SPORT:-56391}
cargo build --release --quiet --bin sutra-cache
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
  echo "needs redis-server and redis-benchmark: run scripts/setup.sh" >&2; exit 1; }

redis-server --port "$RPORT" --save '' --appendonly no --daemonize no --logfile /dev/null &
RPID=$!
./target/release/sutra-cache serve --port "$SPORT" --in-memory true --log warn &
SPID=$!
EXTRA_PIDS=""
TMPDIRS=""
trap 'kill "$RPID" "$SPID" $EXTRA_PIDS 2>/dev/null || true; wait 2>/dev/null || true; rm -rf $TMPDIRS' EXIT
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
if [ "$ONLY" != durable ]; then
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
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
fi

# ---- durable writes ----
[ "$ONLY" = memory ] && exit 0
wait_up() { for _ in $(seq 200); do redis-cli -p "$1" ping >/dev/null 2>&1 && return; sleep 0.05; done; }
# Starts a peer on a fresh data directory; sets PEER_PID.
start_redis() { # port fsync
  local d; d=$(mktemp -d target/tmp/redis-aof.XXXXXX); TMPDIRS="$TMPDIRS $d"
  redis-server --port "$1" --save '' --appendonly yes --appendfsync "$2" --dir "$d" \
    --daemonize no --logfile /dev/null &
  PEER_PID=$!; EXTRA_PIDS="$EXTRA_PIDS $PEER_PID"; wait_up "$1"
}
start_sutra() { # port interval_ms wal_io
  local d; d=$(mktemp -d target/tmp/sutra-wal.XXXXXX); TMPDIRS="$TMPDIRS $d"
  WAL_SYNC_INTERVAL_MS="$2" ./target/release/sutra-cache serve --port "$1" --storage-path "$d" \
    --in-memory false --wal-io "$3" --log warn &
  PEER_PID=$!; EXTRA_PIDS="$EXTRA_PIDS $PEER_PID"; wait_up "$1"
}
stop_peer() { kill "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; }

# SETs per WAL batch and per fdatasync of the sutra-cache run on port $1 (INFO persistence).
group_commit() { # port
  redis-cli -p "$1" info persistence | tr -d '\r' | awk -F: -v n="$DURABLE_N" '
    $1 == "wal_batches" {b = $2} $1 == "wal_fsyncs" {f = $2}
    END {printf "%.1f %.1f\n", (b ? n / b : 0), (f ? n / f : 0)}'
}
echo
echo "Durable SET, c50/P1, $DURABLE_N requests per run, fresh data directories on the same disk"
echo "(\`target/tmp\`), $ROUNDS interleaved rounds, median; each server started per run;"
echo "sutra-cache \`--write-offload ${SUTRA_WRITE_OFFLOAD:-async}\`; load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "SETs per batch / per fdatasync: from INFO (wal_batches, wal_fsyncs), median."
echo
echo "| Redis | sutra-cache | Redis req/s | sutra-cache req/s | ratio | Redis p50 ms | sutra-cache p50 ms | SETs per batch / per fdatasync |"
echo "|---|---|---|---|---|---|---|---|"
for pair in "always 0" "everysec 1000"; do
  set -- $pair; FS=$1; MS=$2
  for io in $WAL_IOS; do
    : > /tmp/sutra-bench-r; : > /tmp/sutra-bench-s; : > /tmp/sutra-bench-g
    for _ in $(seq "$ROUNDS"); do
      start_redis $((RPORT + 10)) "$FS"
      bench $((RPORT + 10)) set 50 1 "$DURABLE_N" >> /tmp/sutra-bench-r; stop_peer
      start_sutra $((SPORT + 10)) "$MS" "$io"
      bench $((SPORT + 10)) set 50 1 "$DURABLE_N" >> /tmp/sutra-bench-s
      group_commit $((SPORT + 10)) >> /tmp/sutra-bench-g; stop_peer
    done
    gb=$(cut -d' ' -f1 /tmp/sutra-bench-g | median); gf=$(cut -d' ' -f2 /tmp/sutra-bench-g | median)
    r=$(cut -d' ' -f1 /tmp/sutra-bench-r | median); s=$(cut -d' ' -f1 /tmp/sutra-bench-s | median)
    rp=$(cut -d' ' -f2 /tmp/sutra-bench-r | median); sp=$(cut -d' ' -f2 /tmp/sutra-bench-s | median)
    ratio=$(awk -v a="$s" -v b="$r" 'BEGIN {printf "%.2f", a/b}')
    echo "| appendfsync $FS | WAL_SYNC_INTERVAL_MS=$MS, --wal-io $io | ${r%.*} | ${s%.*} | $ratio | $rp | $sp | $gb / $gf |"
  done
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
