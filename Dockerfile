# syntax=docker/dockerfile:1
# lambda-sink: build with the pinned toolchain, run on a small Debian image.
#   docker build -t lambda-sink .
#   docker run --rm -v $PWD/connector.json:/etc/lambda-sink/connector.json:ro -p 8083:8083 lambda-sink
# In a container set "http.listener": "0.0.0.0:8083" so /health and /metrics
# are reachable from outside it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lambda-sink \
 && strip target/release/lambda-sink

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 lambda-sink
COPY --from=build /src/target/release/lambda-sink /usr/local/bin/lambda-sink
USER 10001
EXPOSE 8083
ENTRYPOINT ["lambda-sink"]
CMD ["run", "--config", "/etc/lambda-sink/connector.json"]
