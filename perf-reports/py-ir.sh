#!/usr/bin/env bash
# Instructions per Python call of the embedded binding (#20 points 2 and 7), by callgrind:
# perf-reports/py-ir.py with N and 2N calls, (Ir(2N) − Ir(N)) / N, for the whole process
# and for the C ABI call alone (--toggle-collect on it), so the Python side is the
# difference. Deterministic: compares commits (and processes) on a loaded machine.
#
#   perf-reports/py-ir.sh OP [N] [extra py-ir.py args...]     # OP: search | search_batch | get
#
# Uses the Python on PATH (the venv with sutra_cache installed) and keeps the callgrind files
# in $PY_IR_OUT (default a temp dir).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
op=${1:?OP: search, search_batch or get}
n=${2:-2000}
shift $(( $# >= 2 ? 2 : 1 ))
out=${PY_IR_OUT:-$(mktemp -d)}
mkdir -p "$out"
case $op in
  search) cfn=sutra_vector_search ;;
  search_batch) cfn=sutra_vector_search_batch ;;
  get) cfn=sutra_cache_get ;;
  *) echo "OP: search, search_batch or get; got '$op'" >&2; exit 2 ;;
esac
extra=("$@")
export PYTHONHASHSEED=${PYTHONHASHSEED:-0}
run() { # calls [toggle] -> Ir
  local f="$out/cg.$op.$1.${2:+c}"
  local tool=(valgrind --tool=callgrind --callgrind-out-file="$f")
  [ -n "${2:-}" ] && tool+=(--collect-atstart=no --toggle-collect="$2")
  "${tool[@]}" python3 "$here/py-ir.py" "$op" --calls "$1" "${extra[@]}" >/dev/null 2>&1
  awk '/^(summary|totals):/ {print $2; exit}' "$f"
}
all1=$(run "$n"); all2=$(run $((2 * n)))
c1=$(run "$n" "$cfn"); c2=$(run $((2 * n)) "$cfn")
python3 - "$op" "$n" "$all1" "$all2" "$c1" "$c2" "${extra[*]}" <<'PY'
import sys
op, n, a1, a2, c1, c2, extra = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7]), sys.argv[7]
per, c = (a2 - a1) / n, (c2 - c1) / n
print(f"{op} {extra}: {per:,.0f} Ir per call, of which the C call {c:,.0f}, Python {per - c:,.0f}")
PY
