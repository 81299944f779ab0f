#!/usr/bin/env bash
# Installs everything the tests and the demo need, reusing what is cached:
#   * Tansu (Kafka-protocol broker) into $LAMBDA_SINK_CACHE  (~7 min cold, 2 cores);
#   * a Python venv with ministack (Lambda emulator), awscli and confluent-kafka;
#   * the test Lambda function (zip) and the test Schema Registry, from this repo.
# Idempotent: a second run only rebuilds what changed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$CACHE"

if [[ -x $TANSU ]]; then
    log "tansu $TANSU_VERSION: cached at $TANSU"
else
    log "tansu $TANSU_VERSION: installing into $CACHE (cold: about 7 minutes)"
    # The default features compile no storage engine; sqlite (libsql) is the
    # engine the tests use, dynostore the one upstream builds with.
    cargo install tansu --version "$TANSU_VERSION" --locked \
        --features dynostore,libsql --root "$CACHE/tansu-$TANSU_VERSION.partial" --quiet
    rm -rf "$CACHE/tansu-$TANSU_VERSION"
    mv "$CACHE/tansu-$TANSU_VERSION.partial" "$CACHE/tansu-$TANSU_VERSION"
fi

if [[ -f $VENV/.complete ]]; then
    log "python tools: cached at $VENV"
else
    log "python tools: installing into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        -r "$REPO/scripts/requirements.txt" -c "$REPO/scripts/requirements.lock"
    touch "$VENV/.complete"
fi

log "building the test function and the test registry"
cargo build --quiet --release -p test-function
cargo build --quiet -p lambda-sink-testkit --bin test-registry
mkdir -p "$(dirname "$FUNCTION_ZIP")"
# A provided.al2023 function is a zip with an executable named bootstrap.
"$PYTHON" - "$REPO/target/release/bootstrap" "$FUNCTION_ZIP" <<'PY'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(src, "bootstrap")
import os; os.replace(dst + ".tmp", dst)
PY
log "installed"
