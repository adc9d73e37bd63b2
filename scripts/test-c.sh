#!/usr/bin/env bash
# Builds the C ABI (libsutra_cache.so/.a, release), compiles examples/c/example.c with gcc
# against include/sutra_cache.h through pkg-config, links it both ways, and runs each under
# valgrind memcheck (any error or leak fails).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --lib --quiet
pc=$(./scripts/pkgconfig.sh)
export PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
out=$CARGO_TARGET_DIR/c-example
mkdir -p "$out"
cflags="-std=c11 -Wall -Wextra -Werror -pedantic -g"
# shared library
gcc $cflags -o "$out/example-shared" examples/c/example.c $(pkg-config --cflags --libs sutra_cache) \
    -Wl,-rpath,"$CARGO_TARGET_DIR/release" -lm
# static library
gcc $cflags -o "$out/example-static" examples/c/example.c $(pkg-config --cflags sutra_cache) \
    "$CARGO_TARGET_DIR/release/libsutra_cache.a" $(pkg-config --libs-only-l --static sutra_cache | sed 's/-lsutra_cache//') -lm
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
for bin in example-shared example-static; do
  echo "== $bin under valgrind"
  rm -rf "${data:?}"/*
  valgrind --quiet --suppressions=examples/c/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=1 "$out/$bin" "$data"
done
# The C block of docs/bindings.md, compiled and run the same way.
awk '/^```c$/{on=1; next} /^```$/{on=0} on' docs/bindings.md > "$out/doc.c"
test -s "$out/doc.c" || { echo "no C block in docs/bindings.md" >&2; exit 1; }
gcc $cflags -o "$out/doc" "$out/doc.c" $(pkg-config --cflags --libs sutra_cache) \
    -Wl,-rpath,"$CARGO_TARGET_DIR/release" -lm
echo "== docs/bindings.md C example under valgrind"
doc_out=$(valgrind --quiet --suppressions=examples/c/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=1 "$out/doc")
echo "$doc_out"
grep -q '^apple 1.00$' <<<"$doc_out" && grep -q '^SUTRA_DIMENSION_MISMATCH: ' <<<"$doc_out" \
  || { echo "docs C example printed something unexpected" >&2; exit 1; }
# The installed library: scripts/install.sh into a temporary prefix, then the example built
# with pkg-config alone against the installed files (linked by the SONAME) and run.
prefix=$(mktemp -d)
trap 'rm -rf "$data" "$prefix"' EXIT
./scripts/install.sh "$prefix/usr"
readelf -d "$prefix/usr/lib/libsutra_cache.so.0" | grep -q 'SONAME.*\[libsutra_cache.so.0\]' \
  || { echo "installed library has no SONAME libsutra_cache.so.0" >&2; exit 1; }
gcc $cflags -o "$out/example-installed" examples/c/example.c \
    $(PKG_CONFIG_PATH=$prefix/usr/lib/pkgconfig pkg-config --cflags --libs sutra_cache)
readelf -d "$out/example-installed" | grep -q 'NEEDED.*\[libsutra_cache.so.0\]' \
  || { echo "example-installed does not load libsutra_cache.so.0" >&2; exit 1; }
echo "== example-installed (built with pkg-config against $prefix/usr)"
rm -rf "${data:?}"/*
LD_LIBRARY_PATH=$prefix/usr/lib "$out/example-installed" "$data"
# A static build against the installed files: pkg-config's private libraries name the rest.
gcc $cflags -o "$out/example-installed-static" examples/c/example.c \
    $(PKG_CONFIG_PATH=$prefix/usr/lib/pkgconfig pkg-config --cflags sutra_cache) \
    "$prefix/usr/lib/libsutra_cache.a" \
    $(PKG_CONFIG_PATH=$prefix/usr/lib/pkgconfig pkg-config --libs-only-l --static sutra_cache | sed 's/-lsutra_cache//')
rm -rf "${data:?}"/*
"$out/example-installed-static" "$data"
echo "C: 5 passed, 0 failed"
