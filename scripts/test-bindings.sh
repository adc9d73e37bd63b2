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

section "bindings: python wheel, installed into a fresh venv outside the repository"
# The wheel users install: built (stripped library inside), audited and repaired by
# auditwheel into a manylinux wheel, installed with its core dependencies only (cffi, numpy)
# into a new venv in a temporary directory, where the docs' first Python example runs; the
# client's names say which extra they need, and work once `[client]` is installed.
whtmp=$(mktemp -d)
python3 -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation \
    -w "$whtmp/dist" ./bindings/python
auditwheel repair --wheel-dir "$whtmp/wheelhouse" "$whtmp"/dist/*.whl 2>&1 | tail -1
wheel=$(ls "$whtmp"/wheelhouse/sutra_cache-*manylinux*.whl)
echo "wheel: $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KiB)"
python3 -m venv "$whtmp/venv"
"$whtmp/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
awk '/^```python$/{on=1; n++; next} /^```$/{on=0} on && n==1' docs/bindings.md > "$whtmp/example.py"
(cd "$whtmp" && ./venv/bin/python3 example.py)
(cd "$whtmp" && ./venv/bin/python3 - <<'PY'
import sutra_cache
try:
    sutra_cache.SutraCacheClient
except ImportError as e:
    assert "sutra_cache[client]" in str(e), e
    print("core install:", e)
else:
    raise SystemExit("the core install imported the client without redis-py")
PY
)
"$whtmp/venv/bin/pip" install --quiet --disable-pip-version-check "sutra_cache[client] @ file://$wheel"
(cd "$whtmp" && ./venv/bin/python3 -c 'from sutra_cache_client import MultiTierSutraCache, SutraCacheClient; print("client extra: ok")')
# The sdist carries the crate (rust/): pip builds it from source with cargo, no checkout
# (CARGO_TARGET_DIR: this build tree, so the dependencies are not compiled again).
(cd bindings/python && python3 setup.py -q sdist -d "$whtmp/sdist" >/dev/null 2>&1)
sdist_file=$(ls "$whtmp"/sdist/sutra_cache-*.tar.gz)
tar tzf "$sdist_file" > "$whtmp/sdist.txt"
grep -q '/rust/src/lib.rs$' "$whtmp/sdist.txt" || { echo "the sdist lacks the crate" >&2; exit 1; }
! grep -q '\.so$' "$whtmp/sdist.txt" || { echo "the sdist carries a built library" >&2; exit 1; }
echo "sdist: $(basename "$sdist_file") ($(du -k "$sdist_file" | cut -f1) KiB)"
(cd "$whtmp" && CARGO_TARGET_DIR=$root/target ./venv/bin/pip install --quiet \
    --disable-pip-version-check --force-reinstall --no-deps "$sdist_file" && ./venv/bin/python3 example.py)
rm -rf "$whtmp"

section "bindings: go"
# The Go package finds the C library with pkg-config: the build tree's .pc (rpath included).
export PKG_CONFIG_PATH=$(dirname "$(./scripts/pkgconfig.sh)")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
(cd bindings/go && go test -race -count=1 ./...)

section "bindings: go, go get of the module into a fresh module, against an installed library"
# As a user outside the repository: `go get` of the package at the project's version from a
# module proxy (a file-system proxy made here from bindings/go, as proxy.golang.org would
# serve a tag; the other modules from the module cache `go test` filled, itself a file-system
# proxy, so nothing is fetched), then the docs' first Go program built with pkg-config finding
# only the library scripts/install.sh put under a temporary prefix.
gotmp=$(mktemp -d)
trap 'chmod -R u+w "$gotmp" 2>/dev/null; rm -rf "$gotmp"' EXIT
./scripts/install.sh "$gotmp/usr" >/dev/null
gomod=github.com/sutra-cache/sutra-cache/bindings/go
gover=v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
python3 - "$gotmp/proxy" "$gomod" "$gover" bindings/go <<'PY'
import json, os, sys, zipfile
proxy, mod, ver, src = sys.argv[1:]
d = os.path.join(proxy, mod, "@v")
os.makedirs(d)
with open(os.path.join(d, "list"), "w") as f:
    f.write(ver + "\n")
with open(os.path.join(d, ver + ".info"), "w") as f:
    json.dump({"Version": ver, "Time": "2026-01-01T00:00:00Z"}, f)
with open(os.path.join(src, "go.mod"), "rb") as f, open(os.path.join(d, ver + ".mod"), "wb") as g:
    g.write(f.read())
with zipfile.ZipFile(os.path.join(d, ver + ".zip"), "w") as z:
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        if os.path.isfile(path):
            z.write(path, f"{mod}@{ver}/{name}")
PY
mkdir "$gotmp/app"
awk '/^```go$/{on=1; n++; next} /^```$/{on=0} on && n==1' docs/bindings.md > "$gotmp/app/main.go"
# Its own GOCACHE: go's build cache does not key cgo packages on pkg-config's answer, so the
# package built above for the build tree would be reused, with its flags. GONOSUMDB: this
# module is in no checksum database; the others are checked against bindings/go's go.sum.
# Its own GOMODCACHE too, so a module of the same version from an earlier run is not reused.
filled=$(go env GOMODCACHE)/cache/download
go_out=$(cd "$gotmp/app" && export GOFLAGS=-mod=mod GOCACHE=$gotmp/gocache GOMODCACHE=$gotmp/modcache \
    GOPROXY="file://$gotmp/proxy,file://$filled" \
    GONOSUMDB=github.com/sutra-cache GOSUMDB=sum.golang.org \
    PKG_CONFIG_PATH=$gotmp/usr/lib/pkgconfig \
    && printf 'module app\n\ngo %s\n' "$(sed -n 's/^go //p' "$root/bindings/go/go.mod")" > go.mod \
    && cp "$root/bindings/go/go.sum" go.sum \
    && go get "$gomod@$gover" >&2 && grep -q "$gomod $gover" go.mod \
    && go build -o app . && LD_LIBRARY_PATH=$gotmp/usr/lib ./app)
! readelf -d "$gotmp/app/app" | grep -q 'R.*PATH.*target' \
  || { echo "the Go program was linked against the build tree, not the installed library" >&2; exit 1; }
echo "$go_out"
grep -q '^apple 1.00$' <<<"$go_out" || { echo "the Go program printed something unexpected" >&2; exit 1; }
