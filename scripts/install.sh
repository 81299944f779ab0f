#!/usr/bin/env bash
# Installs everything the tests and the demo need, reusing what is cached
# under $LAMBDA_SINK_CACHE (~/.cache/lambda-sink):
#   * Apache Kafka $KAFKA_VERSION (the broker) from Maven Central: kafka_2.13,
#     its runtime dependencies and the log4j2 SLF4J binding;
#   * Apicurio Registry $APICURIO_VERSION (the Schema Registry, Confluent-
#     compatible API) from Maven Central;
#   * test TLS material: a CA, a broker certificate for 127.0.0.1, a client
#     certificate for mutual TLS (openssl);
#   * a Python venv with ministack (Lambda emulator), awscli and confluent-kafka;
#   * Debian's chromium (apt) and playwright-core (npm, scripts/browser's
#     lock file) for the web console's browser tests, and Debian's
#     prometheus (apt) for promtool, which tests deploy/'s alert rules;
#   * Jaeger $JAEGER_VERSION (an OpenTelemetry receiver for the trace tests),
#     built with Go from its module (the Go module proxy);
#   * the test Lambda function (zip), built from this repo.
# The downloads run side by side with the function's build. Idempotent: a
# second run only rebuilds what changed. Cold: about 5 minutes (Jaeger's Go build) beside the function's build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mvn_quiet() { mvn -B -ntp -q -Dmaven.repo.local="$MAVEN_REPO" "$@"; }

install_kafka() {
    local partial=$KAFKA_HOME.partial
    rm -rf "$partial" && mkdir -p "$work/kafka" "$partial"
    # A throw-away POM naming the broker and the logging binding; Maven
    # resolves the rest of the runtime classpath.
    cat >"$work/kafka/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>lambda-sink</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
    mvn_quiet -f "$work/kafka/pom.xml" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$partial/libs"
    [[ -f $partial/libs/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after the download"
    rm -rf "$KAFKA_HOME" && mv "$partial" "$KAFKA_HOME"
}

install_apicurio() {
    local partial=$APICURIO_HOME.partial
    rm -rf "$partial" && mkdir -p "$partial"
    mvn_quiet org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" -DoutputDirectory="$work"
    tar -xzf "$work/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$partial"
    [[ -f $partial/quarkus-run.jar ]] || die "quarkus-run.jar missing from Apicurio's distribution"
    rm -rf "$APICURIO_HOME" && mv "$partial" "$APICURIO_HOME"
}

install_tls() {
    local partial=$TLS_DIR.partial
    rm -rf "$partial" && mkdir -p "$partial" && cd "$partial"
    local days=3650
    openssl req -x509 -newkey rsa:2048 -nodes -days $days -subj "/CN=lambda-sink test CA" \
        -keyout ca.key -out ca.pem 2>/dev/null
    # The broker's certificate names 127.0.0.1, which clients verify.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr 2>/dev/null
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days $days \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n') \
        -out broker.crt 2>/dev/null
    # Kafka's PEM key store: the (PKCS#8) key, then the certificate chain.
    cat broker.key broker.crt ca.pem >broker.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=lambda-sink-client" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days $days \
        -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out client.pem 2>/dev/null
    rm -f ./*.csr ca.key ca.srl
    cd - >/dev/null
    rm -rf "$TLS_DIR" && mv "$partial" "$TLS_DIR"
}

install_venv() {
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
        -r "$REPO/scripts/requirements.txt" -c "$REPO/scripts/requirements.lock"
    touch "$VENV/.complete"
}

# One apt-get for every Debian package (apt takes one lock at a time).
install_debian_packages() {
    local sudo=() packages=(chromium chromium-driver prometheus)
    ((EUID == 0)) || sudo=(sudo)
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${packages[@]}" ||
        { "${sudo[@]}" apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${packages[@]}"; }
}

install_browser_deps() {
    local partial=$BROWSER_DEPS.partial
    rm -rf "$partial" && mkdir -p "$partial"
    cp "$REPO/scripts/browser/package.json" "$REPO/scripts/browser/package-lock.json" "$partial/"
    (cd "$partial" && npm ci --no-audit --no-fund --loglevel=error)
    rm -rf "$BROWSER_DEPS" && mv "$partial" "$BROWSER_DEPS"
}

install_jaeger() {
    local go partial=${JAEGER%/*}.partial
    go=$(command -v go || echo /usr/local/go/bin/go)
    [[ -x $go ]] || die "Go is needed to build Jaeger, the trace tests' OpenTelemetry receiver"
    rm -rf "$partial" && mkdir -p "$partial" "$work/jaeger"
    cd "$work/jaeger"
    export GOMODCACHE=$GO_CACHE/mod GOCACHE=$GO_CACHE/build GOFLAGS=-buildvcs=false GOTOOLCHAIN=local
    "$go" mod init lambda-sink-jaeger
    "$go" get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    "$go" build -trimpath -ldflags='-s -w' -o "$partial/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
    rm -rf "${JAEGER%/*}" && mv "$partial" "${JAEGER%/*}"
}

# Each missing piece installs in the background, its output in a file.
pids=() names=()
background() {
    local name=$1
    shift
    log "$name: installing"
    ("$@") >"$work/$name.log" 2>&1 &
    pids+=($!) names+=("$name")
}
if [[ -f $KAFKA_HOME/libs/kafka_2.13-$KAFKA_VERSION.jar ]]; then
    log "kafka $KAFKA_VERSION: cached at $KAFKA_HOME"
else
    background "kafka-$KAFKA_VERSION" install_kafka
fi
if [[ -f $APICURIO_HOME/quarkus-run.jar ]]; then
    log "apicurio registry $APICURIO_VERSION: cached at $APICURIO_HOME"
else
    background "apicurio-$APICURIO_VERSION" install_apicurio
fi
if [[ -f $TLS_DIR/client.pem ]]; then
    log "test TLS material: cached at $TLS_DIR"
else
    background tls install_tls
fi
if [[ -f $VENV/.complete ]]; then
    log "python tools: cached at $VENV"
else
    background python-tools install_venv
fi

if [[ -x $CHROMIUM && -x $PROMTOOL ]]; then
    log "chromium and promtool: installed at $CHROMIUM, $PROMTOOL"
else
    background debian-packages install_debian_packages
fi
if [[ -x $JAEGER ]]; then
    log "jaeger $JAEGER_VERSION: cached at $JAEGER"
else
    background "jaeger-$JAEGER_VERSION" install_jaeger
fi
if [[ -d $BROWSER_DEPS/node_modules/playwright-core ]]; then
    log "playwright-core: cached at $BROWSER_DEPS"
else
    background browser-deps install_browser_deps
fi

log "building the test function"
cargo build --quiet --release --locked -p test-function
mkdir -p "$(dirname "$FUNCTION_ZIP")"

failed=0
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
        log "${names[$i]}: installed"
    else
        cat "$work/${names[$i]}.log" >&2
        log "error: installing ${names[$i]} failed (output above)"
        failed=1
    fi
done
((failed == 0)) || exit 1

# A provided.al2023 function is a zip with an executable named bootstrap.
"$PYTHON" - "$REPO/target/release/bootstrap" "$FUNCTION_ZIP" <<'PY'
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(dst + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    z.write(src, "bootstrap")
os.replace(dst + ".tmp", dst)
PY
find_java 21 >/dev/null || die "Apicurio Registry $APICURIO_VERSION needs Java 21 or newer: install one or set JAVA_HOME"
log "installed"
