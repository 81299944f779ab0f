#!/usr/bin/env bash
# Regenerates lambda-sink-core's Schema Registry fixtures
# (crates/lambda-sink-core/tests/fixtures/{avro,protobuf,json_schema}.json)
# with Confluent's own serializers, against a fresh private in-repo test
# registry so the schema ids are the same on every run (Apicurio hands out
# content ids with gaps; the end-to-end format tests run against it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
"$REPO/scripts/install.sh"
cargo build --quiet -p lambda-sink-testkit --bins
FIXTURES=$REPO/crates/lambda-sink-core/tests/fixtures
work=$(mktemp -d)
trap 'kill $REGISTRY_PID 2>/dev/null; rm -rf "$work"' EXIT
"$REPO/target/debug/proto-descriptors" "$FIXTURES/proto" "$FIXTURES/proto/order.proto" >"$work/order.fds"
"$REPO/target/debug/test-registry" --listen 127.0.0.1:0 2>"$work/registry.log" &
REGISTRY_PID=$!
until grep -q "listening on" "$work/registry.log"; do sleep 0.05; done
url="http://$(sed -n 's/.*listening on //p' "$work/registry.log")"
"$PYTHON" "$REPO/scripts/tools/make_fixtures.py" "$url" "$FIXTURES" "$work/order.fds"
log "fixtures written to $FIXTURES"
