# sutra-cache server image: multi-stage build, non-root user, data in the /data volume.
#   docker build -t sutra-cache .
#   docker run --network my-net -v sutra-data:/data sutra-cache            # private network
#   docker run -p 50051:50051 -e SUTRA_PASSWORD=... -v sutra-data:/data sutra-cache  # published
# As in Redis's official image, protected mode is off (SUTRA_PROTECTED_MODE=no) and the
# server binds 0.0.0.0, so containers on the same Docker network reach it without a
# password. A port published beyond that network needs SUTRA_PASSWORD.
# deploy/compose.yml is the seed's cache-shard service built from this file.
# Dependency layers are cached with cargo-chef: the `cook` step builds only the dependencies
# (from recipe.json, which changes only when Cargo.toml/Cargo.lock do), so a change to the
# sources rebuilds the crate alone. The binary is built without debug info and stripped.
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=symbols
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin sutra-cache --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin sutra-cache

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin sutra \
    && mkdir -p /data && chown sutra:sutra /data
COPY --from=build /src/target/release/sutra-cache /usr/local/bin/sutra-cache
USER sutra
VOLUME ["/data"]
ENV STORAGE_PATH=/data \
    STORAGE_PORT=50051 \
    SUTRA_BIND=0.0.0.0 \
    SUTRA_PROTECTED_MODE=no
EXPOSE 50051
STOPSIGNAL SIGTERM
# GET /health on the container's own port (STORAGE_PORT); exit 0 when it answers status ok.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["sutra-cache", "health"]
ENTRYPOINT ["/usr/local/bin/sutra-cache"]
CMD ["serve"]
