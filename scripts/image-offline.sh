#!/usr/bin/env bash
# Builds the repository's Dockerfile as an image where neither a Docker engine nor Docker Hub
# is reachable (the build machine), then measures and smoke-tests it. Not part of CI: it needs
# root, takes ~25 minutes on 2 cores and ~8 GB of disk.
#
#   sudo scripts/image-offline.sh [WORKDIR]      (default /var/tmp/sutra-image)
#
# How: Debian's podman builds the Dockerfile unchanged (chroot isolation, host network), with
# the two images it names made locally instead of pulled:
#   - debian:bookworm-slim  <- debootstrap --variant=minbase bookworm from deb.debian.org, with
#                              docs, man pages and locales removed as the slim image does
#                              (76.9 MB here against Docker Hub's 74.8 MB);
#   - rust:1-bookworm       <- that rootfs + gcc/libc6-dev/make/pkg-config, with this host's
#                              stable Rust toolchain mounted read-only into every RUN step.
# The host's CA bundle is mounted too (a TLS-intercepting proxy is common on build machines).
# Then: the image's size; the cargo-chef layer reused after a source change; and, since no
# container runtime may run here, the image's root filesystem exported and the binary run in
# it by chroot as the image's user with the image's environment: `sutra-cache health`, a
# SET/GET, a SIGTERM stop and a restart that still has the key.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/sutra-image}
toolchain=$(rustc --print sysroot)
mkdir -p "$work"
need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2"; }; }
need podman podman
need debootstrap debootstrap
need redis-cli redis-tools

if ! podman image exists docker.io/library/debian:bookworm-slim; then
  echo "image: debootstrap bookworm (minbase)"
  rm -rf "$work/rootfs"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log"
  (cd "$work/rootfs" && rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* \
      usr/share/locale/* var/cache/apt/*.bin var/cache/apt/archives/*.deb var/lib/apt/lists/*)
  tar -C "$work/rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
fi
if ! podman image exists docker.io/library/rust:1-bookworm; then
  echo "image: stand-in rust:1-bookworm"
  mkdir -p "$work/rust"
  cat >"$work/rust/Containerfile" <<'EOF'
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev make pkg-config ca-certificates && rm -rf /var/lib/apt/lists/*
ENV CARGO_HOME=/usr/local/cargo PATH=/usr/local/cargo/bin:/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
  podman build --isolation chroot --network host -t docker.io/library/rust:1-bookworm "$work/rust"
fi

src="$work/src"
rm -rf "$src" && git clone -q "$root" "$src"
build() {
  podman build --isolation chroot --network host --pull=never \
    -v "$toolchain:/opt/rust:ro" -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
    -t "$1" "$src"
}
echo "image: building sutra-cache:offline from $(git -C "$src" rev-parse --short HEAD)"
time build sutra-cache:offline >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
size=$(podman image inspect sutra-cache:offline --format '{{.Size}}')
base=$(podman image inspect docker.io/library/debian:bookworm-slim --format '{{.Size}}')
echo "image: sutra-cache:offline is $size bytes; its base $base bytes; ours on top $((size - base)) bytes"

echo "image: a source change reuses the dependency layer"
echo "// cache probe" >>"$src/src/main.rs"
build sutra-cache:probe >"$work/build2.log" 2>&1 || { tail -20 "$work/build2.log"; exit 1; }
grep -A1 "cargo chef cook" "$work/build2.log" | grep -q "Using cache" \
  || { echo "image: the cook layer was rebuilt"; exit 1; }
podman rmi -f sutra-cache:probe >/dev/null

echo "image: run by chroot as the image's user"
fs="$work/imgroot"
rm -rf "$fs" && mkdir -p "$fs"
cid=$(podman create sutra-cache:offline)
podman export "$cid" | tar -x -C "$fs"
podman rm -f "$cid" >/dev/null
port=50991
image_env=(env -i PATH=/usr/local/bin:/usr/bin:/bin STORAGE_PATH=/data STORAGE_PORT=$port
  SUTRA_BIND=127.0.0.1 SUTRA_PROTECTED_MODE=no
  /usr/sbin/chroot --userspec=10001:10001 "$fs" /usr/local/bin/sutra-cache)
# env execs chroot, which execs the binary: $! is the server's own pid.
serve() { "${image_env[@]}" serve >>"$work/serve.log" 2>&1 & pid=$!; }
stop() {
  kill -TERM "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "image: the server did not stop on SIGTERM"; exit 1
}
wait_healthy() {
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || { echo "image: the server exited:"; tail -3 "$work/serve.log"; exit 1; }
    "${image_env[@]}" health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  "${image_env[@]}" health
}
: >"$work/serve.log"
serve
wait_healthy
"${image_env[@]}" health
[ "$(redis-cli -p $port SET image-key v)" = OK ]
stop
serve
wait_healthy
[ "$(redis-cli -p $port GET image-key)" = v ] || { echo "image: the key did not survive"; exit 1; }
stop
echo "image: ok"
