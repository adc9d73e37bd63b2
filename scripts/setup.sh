#!/usr/bin/env bash
# Installs what the tests and the server need on a fresh Debian machine (idempotent, quiet).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pair in "redis-server:redis-server" "redis-cli:redis-tools" "valgrind:valgrind" "pkg-config:pkg-config"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Stop the Debian service if the package started one: tests start their own servers.
if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# Python packages the tests use (redis-py drives the server; the binding's tests need the rest).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    setuptools wheel cffi numpy redis tqdm pytest pyyaml
