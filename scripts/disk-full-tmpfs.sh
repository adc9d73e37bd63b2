#!/usr/bin/env bash
# A real full disk under the server (#19 point 4, the by-hand form; needs root for the mount):
# a size-limited tmpfs as the data directory, partly taken by a filler file; SETs of 64 KiB
# values with WAL_SYNC_INTERVAL_MS=0 until the disk is full (writes answered -MISCONF), reads
# checked meanwhile, the filler deleted, writes resumed without a restart, then a restart
# that must serve every acknowledged value.
#
#   sudo scripts/disk-full-tmpfs.sh [BINARY]      (default target/debug/sutra-cache)
#
# Prints one line per phase and exits non-zero on the first broken promise.
set -euo pipefail
BIN=${1:-target/debug/sutra-cache}
MNT=$(mktemp -d /tmp/sutra-full.XXXXXX)
PORT=$((20000 + RANDOM % 20000))
SIZE_MB=${SIZE_MB:-160}
FILLER_MB=${FILLER_MB:-60}
mount -t tmpfs -o size=${SIZE_MB}m tmpfs "$MNT"
SERVER=
cleanup() {
    [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
    umount "$MNT" || true
    rmdir "$MNT" || true
}
trap cleanup EXIT
fallocate -l ${FILLER_MB}m "$MNT/filler"
start() {
    WAL_SYNC_INTERVAL_MS=0 "$BIN" serve --port "$PORT" --storage-path "$MNT/data" \
        --checkpoint-interval-seconds 0 >"$MNT/../sutra-full-$PORT.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 1 200); do
        redis-cli -p "$PORT" PING >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "server did not start"; exit 1
}
cli() { redis-cli -p "$PORT" "$@"; }
start
VALUE=$(head -c 49152 /dev/urandom | base64 -w0)   # 64 KiB of text
acked=0; refused=0; first_refusal=
while :; do
    r=$(cli SET "k$acked" "$VALUE" 2>&1 || true)
    if [ "$r" = "OK" ]; then
        acked=$((acked + 1))
    else
        refused=1; first_refusal=$r; break
    fi
done
echo "full: $acked SETs acknowledged, then: $first_refusal"
case "$first_refusal" in MISCONF*) ;; *) echo "not a MISCONF reply"; exit 1 ;; esac
r=$(cli SET again x 2>&1 || true)
case "$r" in MISCONF*) echo "refused again: ok" ;; *) echo "second write not refused: $r"; exit 1 ;; esac
for i in 0 $((acked / 2)) $((acked - 1)); do
    [ "$(cli GET "k$i")" = "$VALUE" ] || { echo "read of k$i failed while full"; exit 1; }
done
echo "reads served while full: ok"
rm "$MNT/filler"
t0=$(date +%s.%N)
until [ "$(cli SET resumed yes 2>&1)" = "OK" ]; do
    sleep 0.05
    if (( $(echo "$(date +%s.%N) - $t0 > 60" | bc) )); then echo "writes did not resume"; exit 1; fi
done
echo "writes resumed $(echo "$(date +%s.%N) - $t0" | bc) s after the filler was deleted"
for i in $(seq 0 19); do cli SET "after$i" "$VALUE" >/dev/null; done
kill "$SERVER"; wait "$SERVER" || true; SERVER=
start
missing=0
for i in $(seq 0 $((acked - 1))); do
    [ "$(cli GET "k$i")" = "$VALUE" ] || missing=$((missing + 1))
done
[ "$(cli GET resumed)" = "yes" ] || missing=$((missing + 1))
echo "after restart: $missing of $((acked + 1)) acknowledged keys missing"
[ "$missing" = 0 ]
