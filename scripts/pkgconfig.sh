#!/usr/bin/env bash
# Writes sutra_cache.pc from bindings/pkgconfig/sutra_cache.pc.in.
#   scripts/pkgconfig.sh                 -> target/release/pkgconfig/sutra_cache.pc for the
#                                           build tree (libdir target/release, include/ here)
#   scripts/pkgconfig.sh /usr/local OUT  -> a .pc for an install under PREFIX, written to OUT/
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
if [ $# -ge 1 ]; then
  prefix=$1; libdir=$prefix/lib; includedir=$prefix/include; out=${2:-.}
else
  prefix=$root; libdir=$target/release; includedir=$root/include; out=$target/release/pkgconfig
fi
mkdir -p "$out"
sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@INCLUDEDIR@|$includedir|" \
    -e "s|@VERSION@|$version|" "$root/bindings/pkgconfig/sutra_cache.pc.in" > "$out/sutra_cache.pc"
echo "$out/sutra_cache.pc"
