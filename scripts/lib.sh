# Shared settings of lambda-sink's scripts; sourced, not run.
#
# Everything installed goes under $LAMBDA_SINK_CACHE (default
# ~/.cache/lambda-sink) and is reused when present; everything a run creates
# (databases, logs, PID files) goes under $LAMBDA_SINK_STATE (default
# <repo>/.services). Ports can be moved with LAMBDA_SINK_{KAFKA,LAMBDA,REGISTRY}_PORT.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LAMBDA_SINK_CACHE:-$HOME/.cache/lambda-sink}
STATE=${LAMBDA_SINK_STATE:-$REPO/.services}
KAFKA_PORT=${LAMBDA_SINK_KAFKA_PORT:-9092}
LAMBDA_PORT=${LAMBDA_SINK_LAMBDA_PORT:-4566}
REGISTRY_PORT=${LAMBDA_SINK_REGISTRY_PORT:-8081}

TANSU_VERSION=0.6.0
TANSU=$CACHE/tansu-$TANSU_VERSION/bin/tansu
# The venv is keyed by the lock file's hash: changing a pin installs afresh.
VENV=$CACHE/venv-$(sha256sum "$REPO/scripts/requirements.lock" | cut -c1-12)
PYTHON=$VENV/bin/python
FUNCTION_ZIP=$REPO/target/test-function/function.zip
TEST_REGISTRY=$REPO/target/debug/test-registry

export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

log() { printf '[lambda-sink %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The environment integration tests read to find the services.
service_env() {
    cat <<ENV
export LAMBDA_SINK_TEST_BOOTSTRAP=127.0.0.1:$KAFKA_PORT
export LAMBDA_SINK_TEST_LAMBDA_ENDPOINT=http://127.0.0.1:$LAMBDA_PORT
export LAMBDA_SINK_TEST_REGISTRY_URL=http://127.0.0.1:$REGISTRY_PORT
export LAMBDA_SINK_TEST_FUNCTION_ZIP=$FUNCTION_ZIP
export LAMBDA_SINK_PYTHON=$PYTHON
export LAMBDA_SINK_TANSU=$TANSU
ENV
}
