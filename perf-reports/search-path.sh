#!/usr/bin/env bash
# The product search path against the raw index, one run: examples/search_path (the raw HNSW
# index, Engine::vsearch, Engine::vsearch_batch), perf-reports/search-path.py (Python
# Cache.search and Cache.search_batch), bindings/go/bench/search (Go Search and SearchBatch)
# and perf-reports/search-vsim.py (VSIM over RESP, pipelined and one round trip per query,
# with the server's CPU per query), on the same data and efs; plus the fixed cost of a
# k=1, ef=1 search. JSON lines on stdout (machine and commit first). In-process times are the
# searching thread's CPU time (see the scripts), so runs on a shared machine compare.
#   perf-reports/search-path.sh [n] [efs] [repeat]    e.g. perf-reports/search-path.sh 100000 16,32,64,128 5
# Needs the project venv with the binding installed (scripts/test-bindings.sh does that).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
EFS=${2:-16,32,64,128}
REPEAT=${3:-5}
DATA=${DATA:-../shared/data/minilm-wordnet}
[ -d "$DATA" ] || DATA=/work/shared/data/minilm-wordnet
DATA=$(realpath "$DATA")
cargo build --release --example search_path --bin sutra-cache --lib --quiet
. scripts/env.sh
printf '{"event": "machine", "cpu": "%s", "nproc": %s, "load": "%s", "commit": "%s", "date": "%s"}\n' \
  "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(git rev-parse --short HEAD)" "$(date -u +%FT%TZ)"
./target/release/examples/search_path --data "$DATA" --n "$N" --efs "$EFS" --repeat "$REPEAT"
python3 perf-reports/search-path.py --data "$DATA" --n "$N" --efs "$EFS" --repeat "$REPEAT"
(export PKG_CONFIG_PATH=$(dirname "$(./scripts/pkgconfig.sh)") && cd bindings/go &&
  go run ./bench/search -data "$DATA" -n "$N" -efs "$EFS" -repeat "$REPEAT")
python3 perf-reports/search-vsim.py --bin target/release/sutra-cache --data "$DATA" --n "$N" \
  --efs "$EFS" --repeat "$REPEAT"
printf '{"event": "end", "load": "%s", "date": "%s"}\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)"
