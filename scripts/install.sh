#!/usr/bin/env bash
# Installs the C library under PREFIX (default /usr/local; LIBDIR default PREFIX/lib):
#   LIBDIR/libsutra_cache.so.VERSION     the shared library, SONAME libsutra_cache.so.0 (build.rs)
#   LIBDIR/libsutra_cache.so.0 -> it     what programs linked against it load
#   LIBDIR/libsutra_cache.so -> .so.0    what `-lsutra_cache` finds at link time
#   LIBDIR/libsutra_cache.a              the static library
#   PREFIX/include/sutra_cache.h         the header
#   LIBDIR/pkgconfig/sutra_cache.pc      for `pkg-config --cflags --libs sutra_cache`
# Builds the release library first (cargo build --release --lib; SUTRA_NO_BUILD=1 installs what
# target/release already holds, e.g. for packaging). Debug info is stripped from
# the installed copies (`strip --strip-debug`, when strip is installed). Prints what it wrote.
#
#   scripts/install.sh /usr/local && ldconfig
#   gcc app.c $(pkg-config --cflags --libs sutra_cache)
# For another prefix: PKG_CONFIG_PATH=PREFIX/lib/pkgconfig, and LD_LIBRARY_PATH=PREFIX/lib (or
# -Wl,-rpath,PREFIX/lib) to run the program.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${1:-/usr/local}
libdir=${LIBDIR:-$prefix/lib}
case $prefix in /*) ;; *) echo "install.sh: PREFIX must be an absolute path, got '$prefix'" >&2; exit 2 ;; esac
target=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
if [ "${SUTRA_NO_BUILD:-}" != 1 ]; then (cd "$root" && cargo build --release --lib --quiet); fi

so=libsutra_cache.so.$version
install -d "$libdir" "$libdir/pkgconfig" "$prefix/include"
install -m 0755 "$target/release/libsutra_cache.so" "$libdir/$so"
install -m 0644 "$target/release/libsutra_cache.a" "$libdir/libsutra_cache.a"
if command -v strip >/dev/null 2>&1; then
  strip --strip-debug "$libdir/$so" "$libdir/libsutra_cache.a"
fi
soname=$(readelf -d "$libdir/$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$soname" != libsutra_cache.so.0 ]; then
  echo "install.sh: $libdir/$so has SONAME '${soname}', expected libsutra_cache.so.0 (build.rs sets it)" >&2
  exit 1
fi
ln -sfn "$so" "$libdir/libsutra_cache.so.0"
ln -sfn libsutra_cache.so.0 "$libdir/libsutra_cache.so"
install -m 0644 "$root/include/sutra_cache.h" "$prefix/include/sutra_cache.h"
"$root/scripts/pkgconfig.sh" "$prefix" "$libdir/pkgconfig" >/dev/null
sed -i "s|^libdir=.*|libdir=$libdir|" "$libdir/pkgconfig/sutra_cache.pc"
echo "installed sutra-cache $version under $prefix:"
printf '  %s\n' "$libdir/$so (SONAME $soname)" "$libdir/libsutra_cache.so.0 -> $so" \
  "$libdir/libsutra_cache.so -> libsutra_cache.so.0" "$libdir/libsutra_cache.a" \
  "$prefix/include/sutra_cache.h" "$libdir/pkgconfig/sutra_cache.pc"
