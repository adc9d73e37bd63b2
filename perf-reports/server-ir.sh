#!/usr/bin/env bash
# Server instructions per request (user space, callgrind) and syscalls per request (strace),
# Redis 7 against one or more sutra-cache binaries: figures that do not depend on the load
# of a shared machine, unlike CPU time (perf-reports/server-cpu.sh).
#
#   perf-reports/server-ir.sh [MODE] BIN ... 
#     MODE get (default): in memory (Redis --appendonly no; sutra-cache --in-memory true);
#          windows SET then GET, at -P 16 and -P 1
#     MODE always: SET under Redis appendfsync always vs WAL_SYNC_INTERVAL_MS=0 (a fresh
#          data directory under target/tmp), at -P 16 and -P 1
#   N=20000 requests per window, 50 clients, 3072-byte values (redis-benchmark without -r:
#   one key, so every GET hits).
#
# Instructions: the server runs under `valgrind --tool=callgrind`; `callgrind_control -z`
# before each redis-benchmark window and `-d` after it; the window's total (every thread),
# minus the server's idle rate (an idle window of IDLE_S seconds) times the window's
# duration, divided by the requests. Syscalls: the same windows on the server without
# valgrind under `strace -c -f` (SYSCALLS=0 to skip), per request.
set -uo pipefail
cd "$(dirname "$0")/.."
MODE=get
case "${1:-}" in get|always) MODE=$1; shift;; esac
N=${N:-20000}
IDLE_S=${IDLE_S:-5}
SYSCALLS=${SYSCALLS:-1}
PORT=${PORT:-57100}
mkdir -p target/tmp
WORK=$(mktemp -d target/tmp/ir.XXXXXX)
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

up() { for _ in $(seq 600); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server on $1 did not start" >&2; return 1; }
stop() { kill "$1" 2>/dev/null; for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null; }

# launch NAME PORT WRAPPER... : starts the server (under the wrapper command) in background
launch() {
  local name=$1 port=$2; shift 2
  local d="$WORK/data.$port.$RANDOM"; mkdir -p "$d"
  if [ "$name" = redis ]; then
    if [ "$MODE" = always ]; then
      "$@" redis-server --port "$port" --save '' --appendonly yes --appendfsync always --dir "$d" --logfile /dev/null &
    else
      "$@" redis-server --port "$port" --save '' --appendonly no --logfile /dev/null &
    fi
  elif [ "$MODE" = always ]; then
    WAL_SYNC_INTERVAL_MS=0 "$@" "$name" serve --port "$port" --storage-path "$d" --in-memory false --log warn &
  else
    "$@" "$name" serve --port "$port" --in-memory true --log warn &
  fi
  LPID=$!; PIDS="$PIDS $LPID"
}

bench() { redis-benchmark -p "$1" -n "$N" -c 50 -P "$3" -d 3072 -t "$2" -q >/dev/null 2>&1; }

# total instructions of the newest callgrind dump
ir_of() { local f; f=$(ls -t "$1".* 2>/dev/null | head -1); awk '/^totals:/ {print $2}' "$f"; }

WINDOWS="set:16 get:16 set:1 get:1"
[ "$MODE" = always ] && WINDOWS="set:16 set:1"
echo "# $(date -u +%FT%TZ) mode $MODE, N=$N, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | window | instructions/request | syscalls/request |"
echo "|---|---|---|---|"
i=0
for s in redis "$@"; do
  i=$((i+1)); port=$((PORT+i))
  name=$s; [ "$s" != redis ] && name=$(basename "$(dirname "$(dirname "$s")")")/$(basename "$s")
  out="$WORK/cg.$i"
  launch "$s" "$port" valgrind --tool=callgrind --callgrind-out-file="$out" >/dev/null 2>&1
  vpid=$LPID
  up "$port" || exit 1
  sleep 1
  callgrind_control -z "$vpid" >/dev/null 2>&1; sleep "$IDLE_S"; callgrind_control -d "$vpid" >/dev/null 2>&1
  idle=$(ir_of "$out")
  declare -A IR=()
  for w in $WINDOWS; do
    t=${w%:*}; p=${w#*:}
    callgrind_control -z "$vpid" >/dev/null 2>&1
    t0=$(date +%s.%N); bench "$port" "$t" "$p"; t1=$(date +%s.%N)
    callgrind_control -d "$vpid" >/dev/null 2>&1
    tot=$(ir_of "$out")
    IR[$w]=$(awk -v tot="$tot" -v idle="$idle" -v s="$IDLE_S" -v t0="$t0" -v t1="$t1" -v n="$N" \
      'BEGIN { printf "%.0f", (tot - idle / s * (t1 - t0)) / n }')
  done
  stop "$vpid"
  declare -A SC=()
  if [ "$SYSCALLS" = 1 ]; then
    launch "$s" "$port" env >/dev/null 2>&1
    spid=$LPID
    up "$port" || exit 1
    for w in $WINDOWS; do
      t=${w%:*}; p=${w#*:}
      strace -c -f -p "$spid" -o "$WORK/st" >/dev/null 2>&1 & tpid=$!
      sleep 1
      bench "$port" "$t" "$p"
      kill -INT "$tpid" 2>/dev/null; wait "$tpid" 2>/dev/null
      SC[$w]=$(awk -v n="$N" '$NF == "total" {printf "%.2f", $4 / n}' "$WORK/st")
    done
    stop "$spid"
  fi
  for w in $WINDOWS; do
    t=${w%:*}; p=${w#*:}
    echo "| $name | ${t^^} c50/P$p | ${IR[$w]} | ${SC[$w]:--} |"
  done
  unset IR SC
done
echo "# idle: instructions per second of each server's idle window are subtracted; load at end $(cut -d' ' -f1-3 /proc/loadavg)"
