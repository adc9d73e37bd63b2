#!/usr/bin/env bash
# Tests the C ABI and the bindings: the C example under valgrind, pip install + pytest, and
# go test -race. One release build of the library in target/ serves all three.
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
