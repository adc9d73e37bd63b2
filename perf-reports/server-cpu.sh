#!/usr/bin/env bash
# Server CPU per request, syscalls per request, req/s, p50/p99: Redis 7 against one or two
# sutra-cache binaries, interleaved round by round (Redis, A, B, Redis, …) so that load from
# other work hits all alike. 3072-byte values, redis-benchmark -r 10000.
#
#   perf-reports/server-cpu.sh ROUNDS BIN_A [BIN_B] -- "MODE C P N" ...
#     MODE get      in memory (Redis --appendonly no; sutra-cache --in-memory true), GET after a
#                   SET warm-up of the 10k keys; servers live across rounds
#     MODE set      SET, Redis appendonly yes + appendfsync everysec against WAL_SYNC_INTERVAL_MS=1000
#     MODE always   SET, Redis appendfsync always against WAL_SYNC_INTERVAL_MS=0
#   (set/always: a fresh server and data directory under target/tmp per run)
#   e.g. perf-reports/server-cpu.sh 5 target/release/sutra-cache -- "get 50 16 300000" "get 50 1 100000"
#
# CPU: utime and stime of the server process from /proc/<pid>/stat (all its threads) over
# the benchmark run, in µs per request. Syscalls: `perf stat -e raw_syscalls:sys_enter` on
# the server during the run (SYSCALLS=0 to skip; needs perf and root), per request.
# SUTRA_ARGS adds flags to every sutra-cache run (e.g. SUTRA_ARGS="--threads 1").
# Each line: server req/s p50_ms p99_ms cpu_user cpu_sys cpu_total syscalls_per_req; then
# the medians per server and configuration.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p target/tmp
ROUNDS=$1; A=$2; shift 2
B=
if [ "${1:-}" != "--" ]; then B=$1; shift; fi
[ "${1:-}" = "--" ] && shift
PORT=${PORT:-56530}
SYSCALLS=${SYSCALLS:-1}
command -v perf >/dev/null || SYSCALLS=0
TCK=$(getconf CLK_TCK)
OUT=$(mktemp)
PIDS=""; DIRS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; for d in $DIRS; do rm -rf "$d"; done; rm -f "$OUT"; }
SPID=
trap cleanup EXIT

up() { for _ in $(seq 300); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "server on $1 did not start" >&2; return 1; }

# stop PID: kills and waits until it is gone (its port free)
stop() { kill "$1" 2>/dev/null; for _ in $(seq 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; kill -9 "$1" 2>/dev/null; }

# start NAME MODE PORT -> the pid in SPID (not in a subshell: PIDS and DIRS are kept)
start() {
  local name=$1 mode=$2 port=$3 d pid
  if [ "$mode" = get ]; then
    if [ "$name" = redis ]; then
      redis-server --port "$port" --save '' --appendonly no --daemonize no --logfile /dev/null >/dev/null 2>&1 &
    else
      # shellcheck disable=SC2086
      "$name" serve --port "$port" --in-memory true --log warn ${SUTRA_ARGS:-} >/dev/null 2>&1 &
    fi
    pid=$!
  else
    d=$(mktemp -d target/tmp/cpu.XXXXXX); DIRS="$DIRS $d"
    if [ "$name" = redis ]; then
      local fs=everysec; [ "$mode" = always ] && fs=always
      redis-server --port "$port" --save '' --appendonly yes --appendfsync $fs --dir "$d" \
        --daemonize no --logfile /dev/null >/dev/null 2>&1 &
    else
      local ms=1000; [ "$mode" = always ] && ms=0
      # shellcheck disable=SC2086
      WAL_SYNC_INTERVAL_MS=$ms "$name" serve --port "$port" --storage-path "$d" --in-memory false \
        --log warn ${SUTRA_ARGS:-} >/dev/null 2>&1 &
    fi
    pid=$!
  fi
  PIDS="$PIDS $pid"
  up "$port" || exit 1
  SPID=$pid
}

# bench PORT PID TEST C P N -> "rps p50 p99 user sys total syscalls"
bench() {
  local port=$1 pid=$2 t=$3 c=$4 p=$5 n=$6 c0 c1 csv sc=- spid=
  local stat; stat=$(mktemp)
  if [ "$SYSCALLS" = 1 ]; then
    perf stat -x, -e raw_syscalls:sys_enter -p "$pid" -o "$stat" 2>/dev/null & spid=$!
    sleep 0.2
  fi
  c0=$(awk '{print $14, $15}' "/proc/$pid/stat")
  csv=$(timeout 120 redis-benchmark -p "$port" -t "$t" -c "$c" -P "$p" -n "$n" -d 3072 -r 10000 --csv 2>/dev/null | tail -1)
  c1=$(awk '{print $14, $15}' "/proc/$pid/stat")
  if [ -n "$spid" ]; then
    kill -INT "$spid" 2>/dev/null; wait "$spid" 2>/dev/null
    sc=$(awk -F, -v n="$n" '/raw_syscalls/ {printf "%.3f", $1/n}' "$stat")
  fi
  rm -f "$stat"
  # "test","rps","avg","min","p50","p95","p99","max"
  echo "$csv" | tr -d '"' | awk -F, -v c0="$c0" -v c1="$c1" -v n="$n" -v tck="$TCK" -v sc="$sc" '{
    split(c0, a, " "); split(c1, b, " ");
    u = (b[1]-a[1])/tck*1e6/n; s = (b[2]-a[2])/tck*1e6/n;
    printf "%.0f %.3f %.3f %.2f %.2f %.2f %s\n", $2, $5, $7, u, s, u+s, sc }'
}

NAMES="redis $A"; [ -n "$B" ] && NAMES="$NAMES $B"
label() { case $1 in redis) echo redis;; "$A") echo A;; *) echo B;; esac; }
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg); A=$A${B:+, B=$B}; SUTRA_ARGS=${SUTRA_ARGS:-}"
for cfg in "$@"; do
  set -- $cfg; MODE=$1; C=$2; P=$3; N=$4
  T=set; [ "$MODE" = get ] && T=get
  declare -A LIVE=()
  if [ "$MODE" = get ]; then
    i=0
    for s in $NAMES; do
      i=$((i+1)); pt=$((PORT+i)); start "$s" get $pt; LIVE[$s]=$SPID
      timeout 120 redis-benchmark -p $pt -t set -c 50 -P 16 -n 200000 -d 3072 -r 10000 -q >/dev/null 2>&1
    done
  fi
  for r in $(seq "$ROUNDS"); do
    line="$MODE c$C/P$P r$r"
    i=0
    for s in $NAMES; do
      i=$((i+1)); pt=$((PORT+i))
      if [ "$MODE" = get ]; then pid=${LIVE[$s]}; else start "$s" "$MODE" $pt; pid=$SPID; fi
      res=$(bench $pt "$pid" $T "$C" "$P" "$N")
      echo "$MODE c$C/P$P $(label "$s") $res" >> "$OUT"
      line="$line | $(label "$s") $res"
      if [ "$MODE" != get ]; then stop "$pid"; fi
    done
    echo "$line | load $(cut -d' ' -f1 /proc/loadavg)"
  done
  if [ "$MODE" = get ]; then for s in $NAMES; do stop "${LIVE[$s]}"; done; fi
  unset LIVE
done
echo "# load at end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| config | server | req/s | p50 ms | p99 ms | CPU µs/req user | sys | total | syscalls/req | total / Redis |"
echo "|---|---|---|---|---|---|---|---|---|---|"
# medians per (config, server), column by column
awk '{ key = $1 " " $2 " " $3; n[key]++; for (i = 4; i <= 10; i++) v[key, i, n[key]] = $i; order[key] = ++k }
  function med(key, i,   m, j, t, a, x) { m = n[key]; for (j = 1; j <= m; j++) a[j] = v[key, i, j];
    for (j = 1; j <= m; j++) for (x = j + 1; x <= m; x++) if (a[x] + 0 < a[j] + 0) { t = a[j]; a[j] = a[x]; a[x] = t }
    return a[int((m + 1) / 2)] }
  END { for (key in n) { split(key, p, " "); cfg = p[1] " " p[2];
      printf "%s|%s|%s|%s|%s|%s|%s|%s|%s\n", cfg, p[3], med(key,4), med(key,5), med(key,6), med(key,7), med(key,8), med(key,9), med(key,10) } }' "$OUT" |
  sort | awk -F'|' '{ if ($2 == "redis") r[$1] = $8; rows[NR] = $0; cfg[NR] = $1; srv[NR] = $2; tot[NR] = $8 }
  END { for (i = 1; i <= NR; i++) { split(rows[i], f, "|");
      ratio = (r[cfg[i]] > 0) ? sprintf("%.2f", tot[i] / r[cfg[i]]) : "-";
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9], ratio } }'
