#!/usr/bin/env bash
# Type-checks the crate (library and binary) for macOS from Linux: io_uring, fallocate and
# sync_file_range are Linux-only, and this shows the code outside Linux builds without them.
# Needs the target's standard library (`rustup target add x86_64-apple-darwin`). The C parts
# of dependencies (mimalloc, simsimd) cannot be compiled for macOS here without Apple's SDK,
# and `cargo check` never links them, so a stand-in compiler writes empty objects for them.
# Not part of scripts/test-all.sh (about 4 minutes of dependency checking on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-apple-darwin
if ! rustup target list --installed | grep -qx "$target"; then
    echo "check-macos: installing the $target standard library (rustup target add)"
    rustup target add "$target"
fi
stub="$(mktemp -d)"
trap 'rm -rf "$stub"' EXIT
cat > "$stub/cc" <<'STUB'
#!/usr/bin/env bash
# A stand-in C compiler: answers cc-rs's compiler-family probe as clang and writes an empty
# object wherever one is asked for (-o PATH or -FoPATH).
out=""
for a in "$@"; do case "$a" in -E|*detect_compiler_family.c) echo clang; exit 0;; esac; done
while [ $# -gt 0 ]; do
  case "$1" in -o) out="$2"; shift;; -Fo*) out="${1#-Fo}";; esac
  shift
done
[ -n "$out" ] && : > "$out"
exit 0
STUB
chmod +x "$stub/cc"
CC_x86_64_apple_darwin="$stub/cc" AR_x86_64_apple_darwin=ar \
    cargo check --lib --bins --target "$target" --target-dir target/check-macos
echo "check-macos: the library and the server binary type-check for $target"
