#!/usr/bin/env bash
# Writes sutra_cache.pc from bindings/pkgconfig/sutra_cache.pc.in.
#   scripts/pkgconfig.sh                 -> target/release/pkgconfig/sutra_cache.pc for the
#                                           build tree (libdir target/release, include/ here),
#                                           and the link target/release/libsutra_cache.so.0 ->
#                                           libsutra_cache.so (the library's SONAME, which
#                                           programs linked against it load; its Libs carry
#                                           -Wl,-rpath to target/release)
#   scripts/pkgconfig.sh PREFIX [OUT]    -> a .pc for an install under PREFIX, written to OUT/
#                                           (default target/pkgconfig-install/; scripts/install.sh
#                                           writes it to PREFIX/lib/pkgconfig)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
if [ $# -ge 1 ]; then
  prefix=$1; libdir=$prefix/lib; includedir=$prefix/include; out=${2:-$target/pkgconfig-install}
else
  prefix=$root; libdir=$target/release; includedir=$root/include; out=$target/release/pkgconfig
  if [ -e "$libdir/libsutra_cache.so" ]; then ln -sfn libsutra_cache.so "$libdir/libsutra_cache.so.0"; fi
fi
mkdir -p "$out"
sed -e "s|@PREFIX@|$prefix|" -e "s|@LIBDIR@|$libdir|" -e "s|@INCLUDEDIR@|$includedir|" \
    -e "s|@VERSION@|$version|" "$root/bindings/pkgconfig/sutra_cache.pc.in" > "$out/sutra_cache.pc"
if [ $# -eq 0 ]; then
  # The build tree is nobody's library path: programs linked against it (the Go package's
  # tests too) find the library there by their rpath.
  sed -i 's|^Libs: -L${libdir} -lsutra_cache$|Libs: -L${libdir} -Wl,-rpath,${libdir} -lsutra_cache|' "$out/sutra_cache.pc"
fi
echo "$out/sutra_cache.pc"
