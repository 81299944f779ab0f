#!/usr/bin/env bash
# The benchmark harness (BENCHMARKS.md): lambda-sink measured against the
# broker's consume ceiling and the fake endpoint's invoke ceiling, side by
# side in one run, on a private Apache Kafka broker and an in-process fake
# Lambda endpoint. Needs none of the test services.
#   scripts/bench.sh                       3 rounds, 1M × 100 B and 200k × 1 KB (~10 min)
#   scripts/bench.sh --set KEY=VALUE       a connector property for every lambda-sink run
#   scripts/bench.sh --traces-only         OpenTelemetry traces off and on, side by side (a real Jaeger)
#   scripts/bench.sh --parking-only        healthy keys while 1 % / 10 % of keys keep failing: parked, stalled (fail), out of order (log)
#   scripts/bench.sh --runs 1 --small 100000 --large 20000 --latency-seconds 3   (a quick look)
# Prints the Markdown tables; raw samples and medians go to target/bench/results.json.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
"$REPO/scripts/install.sh"
eval "$("$REPO/scripts/services.sh" env)"
log "building lambda-sink and the harness (release)"
cargo build --release --locked --quiet -p lambda-sink -p lambda-sink-bench
log "benchmarking (machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
exec "$REPO/target/release/lambda-sink-bench" --lambda-sink "$REPO/target/release/lambda-sink" "$@"
