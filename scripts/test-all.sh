#!/usr/bin/env bash
# Runs every test of the project: Rust (fmt, clippy, unit + integration), C, Python, Go.
# Installs what the tests need on a fresh machine first (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

section() { printf '\n==== %s ====\n' "$*"; }

section "setup"
./scripts/setup.sh

section "rust: fmt"
cargo fmt --all -- --check

section "rust: clippy"
cargo clippy --all-targets -- -D warnings

section "rust: tests"
cargo test --all-targets

section "C ABI, Python and Go bindings"
./scripts/test-bindings.sh

section "all tests passed"
