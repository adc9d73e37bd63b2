# sutra-cache server image: multi-stage build, non-root user, data in the /data volume.
#   docker build -t sutra-cache .
#   docker run -p 50051:50051 -e SUTRA_PASSWORD=... -v sutra-data:/data sutra-cache
FROM rust:1-bookworm AS build
WORKDIR /src
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
    SUTRA_BIND=0.0.0.0
EXPOSE 50051
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sutra-cache"]
CMD ["serve"]
