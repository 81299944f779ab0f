# Shared settings of lambda-sink's scripts; sourced, not run.
#
# Everything installed goes under $LAMBDA_SINK_CACHE (default
# ~/.cache/lambda-sink) and is reused when present; everything a run creates
# (broker data, logs, PID files) goes under $LAMBDA_SINK_STATE (default
# <repo>/.services). Ports can be moved with LAMBDA_SINK_*_PORT (below).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${LAMBDA_SINK_CACHE:-$HOME/.cache/lambda-sink}
STATE=${LAMBDA_SINK_STATE:-$REPO/.services}

# The shared test broker's listeners: plaintext, the KRaft controller,
# SASL_SSL (PLAIN and SCRAM-SHA-512) and mutual TLS.
KAFKA_PORT=${LAMBDA_SINK_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${LAMBDA_SINK_KAFKA_CONTROLLER_PORT:-9093}
KAFKA_SASL_SSL_PORT=${LAMBDA_SINK_KAFKA_SASL_SSL_PORT:-9094}
KAFKA_MTLS_PORT=${LAMBDA_SINK_KAFKA_MTLS_PORT:-9095}
LAMBDA_PORT=${LAMBDA_SINK_LAMBDA_PORT:-4566}
REGISTRY_PORT=${LAMBDA_SINK_REGISTRY_PORT:-8081}
REGISTRY_MANAGEMENT_PORT=${LAMBDA_SINK_REGISTRY_MANAGEMENT_PORT:-9001}

# Apache Kafka from Maven Central, with the log4j2 SLF4J binding Kafka's
# release tarball adds (without it the broker logs nothing): the log4j2
# version Kafka 4.1.2 was built with.
KAFKA_VERSION=4.1.2
LOG4J_VERSION=2.25.3
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
# Apicurio Registry's runnable Quarkus distribution (needs Java 21 or newer).
APICURIO_VERSION=3.3.3
APICURIO_HOME=$CACHE/apicurio-registry-$APICURIO_VERSION
# Jaeger v2 — the OpenTelemetry Collector with Jaeger's storage and query —
# the tests' OTLP receiver, built from its Go module through the Go module
# proxy (its v1.x module tags carry the v2 binary); Go's caches stay here too.
JAEGER_VERSION=v1.75.0
JAEGER=$CACHE/jaeger-$JAEGER_VERSION/jaeger
GO_CACHE=$CACHE/go
# Test TLS material: a CA, the broker's certificate, a client certificate.
TLS_DIR=$CACHE/tls-v1
# Maven's downloads stay in the cache too.
MAVEN_REPO=$CACHE/m2

# The venv is keyed by the lock file's hash: changing a pin installs afresh.
VENV=$CACHE/venv-$(sha256sum "$REPO/scripts/requirements.lock" | cut -c1-12)
PYTHON=$VENV/bin/python
# The console's browser tests: Debian's Chromium, and playwright-core (npm)
# keyed by its lock file's hash.
CHROMIUM=${LAMBDA_SINK_CHROMIUM:-/usr/bin/chromium}
PROMTOOL=/usr/bin/promtool
BROWSER_DEPS=$CACHE/browser-$(sha256sum "$REPO/scripts/browser/package-lock.json" | cut -c1-12)
FUNCTION_ZIP=$REPO/target/test-function/function.zip

# Test credentials of the local broker's SASL_SSL listener (loopback only).
KAFKA_API_KEY=lambda-sink-test-key
KAFKA_API_SECRET=lambda-sink-test-secret-4d1f
KAFKA_SCRAM_USER=lambda-sink-scram
KAFKA_SCRAM_PASSWORD=lambda-sink-scram-pw-93c7

export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}

log() { printf '[lambda-sink %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The major version of the `java` at $1.
java_major() {
    "$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = //p' | cut -d. -f1
}

# A java binary of at least major version $1: $JAVA_HOME's, the one on PATH,
# then any JDK under /usr/lib/jvm (Apicurio 3.3 needs 21; Kafka 4.1 needs 17).
find_java() {
    local want=$1 candidate
    for candidate in ${JAVA_HOME:+$JAVA_HOME/bin/java} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
        [[ -n $candidate && -x $candidate ]] || continue
        if (($(java_major "$candidate") >= want)); then
            echo "$candidate"
            return
        fi
    done
    return 1
}

# The environment integration tests read to find the services; a variable
# already set (an external cluster or registry) is kept.
service_env() {
    cat <<ENV
export LAMBDA_SINK_TEST_BOOTSTRAP=${LAMBDA_SINK_TEST_BOOTSTRAP:-127.0.0.1:$KAFKA_PORT}
export LAMBDA_SINK_TEST_SASL_SSL_BOOTSTRAP=${LAMBDA_SINK_TEST_SASL_SSL_BOOTSTRAP:-127.0.0.1:$KAFKA_SASL_SSL_PORT}
export LAMBDA_SINK_TEST_MTLS_BOOTSTRAP=${LAMBDA_SINK_TEST_MTLS_BOOTSTRAP:-127.0.0.1:$KAFKA_MTLS_PORT}
export LAMBDA_SINK_TEST_TLS_DIR=${LAMBDA_SINK_TEST_TLS_DIR:-$TLS_DIR}
export LAMBDA_SINK_TEST_KAFKA_API_KEY=${LAMBDA_SINK_TEST_KAFKA_API_KEY:-$KAFKA_API_KEY}
export LAMBDA_SINK_TEST_KAFKA_API_SECRET=${LAMBDA_SINK_TEST_KAFKA_API_SECRET:-$KAFKA_API_SECRET}
export LAMBDA_SINK_TEST_SCRAM_USER=${LAMBDA_SINK_TEST_SCRAM_USER:-$KAFKA_SCRAM_USER}
export LAMBDA_SINK_TEST_SCRAM_PASSWORD=${LAMBDA_SINK_TEST_SCRAM_PASSWORD:-$KAFKA_SCRAM_PASSWORD}
export LAMBDA_SINK_TEST_LAMBDA_ENDPOINT=${LAMBDA_SINK_TEST_LAMBDA_ENDPOINT:-http://127.0.0.1:$LAMBDA_PORT}
export LAMBDA_SINK_TEST_REGISTRY_URL=${LAMBDA_SINK_TEST_REGISTRY_URL:-http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7}
export LAMBDA_SINK_TEST_FUNCTION_ZIP=${LAMBDA_SINK_TEST_FUNCTION_ZIP:-$FUNCTION_ZIP}
export LAMBDA_SINK_PYTHON=$PYTHON
export LAMBDA_SINK_CHROMIUM=$CHROMIUM
export LAMBDA_SINK_BROWSER_NODE_PATH=$BROWSER_DEPS/node_modules
export LAMBDA_SINK_BROKER_SCRIPT=$REPO/scripts/broker.sh
export LAMBDA_SINK_JAEGER=$JAEGER
ENV
}
