#!/usr/bin/env bash
# Runs every test of the project: Rust (fmt, clippy, unit + integration), a fuzz smoke run,
# C, Python, Go.
# Installs what the tests need on a fresh machine first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==== %s ====\n' "$*"; }

section "setup"
./scripts/setup.sh
. scripts/env.sh   # the venv's python3 (and setup's Go, if it installed one) first in PATH
# Tests that drive external tools (redis-cli, redis-benchmark, redis-py) skip them when they
# are missing under a bare `cargo test`; here setup installed them, so a missing one fails.
export SUTRA_REQUIRE_TOOLS=1

section "rust: fmt"
cargo fmt --all -- --check

section "rust: clippy"
cargo clippy --all-targets -- -D warnings

section "rust: tests"
# --no-fail-fast: a failing test binary does not hide the ones after it (still exits non-zero).
cargo test --all-targets --no-fail-fast

# The tests and benches that read the full data sets ($SUTRA_DATA_DIR, default ../shared/data)
# fall back to the committed fixture tests/data/minilm-wordnet-5k; prove they pass without
# them. (tests/engine/engine_index.rs reads only the fixture, so it already ran as it would here.)
section "rust: the tests that read the data sets, with the data sets absent"
no_data=$(mktemp -d)
SUTRA_DATA_DIR=$no_data cargo test --test engine -- index_recall:: quant_minilm::
SUTRA_DATA_DIR=$no_data cargo test --bench index
rmdir "$no_data"

# Every fuzz target (fuzz/README.md) under AFL++ for 60 s in all, from the committed seeds and
# the inputs of past crashes: any crash or hang fails the run. The first run builds the
# instrumented targets (one binary, cached under target/afl/).
section "fuzz: a 60-second smoke run of every target"
./scripts/fuzz.sh smoke 60

section "C ABI, Python and Go bindings"
./scripts/test-bindings.sh

section "all tests passed"
