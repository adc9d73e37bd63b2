#!/usr/bin/env bash
# Tests the C ABI and the bindings: the C example under valgrind (and built against an
# installed prefix), pip install + pytest in the project venv, go test -race, and a Go module
# outside the repository built against an installed library. One release build of the
# library in target/ serves them all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=$root/target
section() { printf '\n==== %s ====\n' "$*"; }
# The venv and Go that scripts/setup.sh provides (run it first when the venv is missing).
[ -x .venv/bin/python3 ] || ./scripts/setup.sh
. scripts/env.sh

section "bindings: build (release)"
cargo build --release --lib --bin sutra-cache --quiet

section "bindings: C example under valgrind"
./scripts/test-c.sh

section "bindings: python"
python3 -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --force-reinstall --no-deps ./bindings/python
(cd /tmp && python3 -m pytest -q -rs "$root/bindings/python/tests")

section "bindings: go"
# The Go package finds the C library with pkg-config: the build tree's .pc (rpath included).
export PKG_CONFIG_PATH=$(dirname "$(./scripts/pkgconfig.sh)")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
(cd bindings/go && go test -race -count=1 ./...)

section "bindings: go, a module outside the repository against an installed library"
# A fresh module requires the package (GOPROXY=off: a replace to this checkout; the other
# modules come from the cache go test filled) and builds the docs' first Go program with
# pkg-config finding only the library scripts/install.sh put under a temporary prefix.
gotmp=$(mktemp -d)
trap 'chmod -R u+w "$gotmp" 2>/dev/null; rm -rf "$gotmp"' EXIT
./scripts/install.sh "$gotmp/usr" >/dev/null
mkdir "$gotmp/app"
awk '/^```go$/{on=1; n++; next} /^```$/{on=0} on && n==1' docs/bindings.md > "$gotmp/app/main.go"
cp bindings/go/go.sum "$gotmp/app/go.sum"
printf 'module app\n\ngo %s\n\nrequire %s v0.0.0\n\nreplace %s => %s\n' \
    "$(sed -n 's/^go //p' bindings/go/go.mod)" github.com/sutra-cache/sutra-cache/bindings/go \
    github.com/sutra-cache/sutra-cache/bindings/go "$root/bindings/go" > "$gotmp/app/go.mod"
# Its own GOCACHE: go's build cache does not key cgo packages on pkg-config's answer, so the
# package built above for the build tree would be reused, with its flags.
go_out=$(cd "$gotmp/app" && GOFLAGS=-mod=mod GOPROXY=off GOCACHE=$gotmp/gocache \
    PKG_CONFIG_PATH=$gotmp/usr/lib/pkgconfig go build -o app . && LD_LIBRARY_PATH=$gotmp/usr/lib ./app)
! readelf -d "$gotmp/app/app" | grep -q 'R.*PATH.*target' \
  || { echo "the Go program was linked against the build tree, not the installed library" >&2; exit 1; }
echo "$go_out"
grep -q '^apple 1.00$' <<<"$go_out" || { echo "the Go program printed something unexpected" >&2; exit 1; }
