#!/usr/bin/env bash
# One Apache Kafka broker (KRaft, combined broker + controller, one node, on
# 127.0.0.1) in a directory of its own. The one place a test broker's settings
# live: scripts/services.sh runs the shared broker with it, and the testkit's
# private brokers (fault suite, benchmarks) run theirs with it.
#
#   broker.sh init DIR PORT CONTROLLER_PORT [SASL_SSL_PORT MTLS_PORT [EXTRA]]
#       writes DIR/server.properties and formats a fresh DIR/data; with the
#       two extra ports also a SASL_SSL listener (PLAIN with the test API key,
#       SCRAM-SHA-512 with the test user) and a mutual-TLS listener, using
#       the certificates install.sh made (empty ports: none); EXTRA is
#       appended to server.properties (a test's own broker settings)
#   broker.sh start DIR      starts it, records DIR/pid, and returns once a
#                            Metadata request is answered (never a fixed sleep)
#   broker.sh stop DIR       SIGTERM (a clean shutdown), then waits
#   broker.sh kill DIR       SIGKILL (a crash); the data stays
#   broker.sh restart DIR    kill, then start on the same data
#   broker.sh status DIR     exit 0 while it runs (prints its PID)
#
# Logs go to DIR/log. Needs scripts/install.sh to have run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# The broker's PID if DIR's broker is running (and the PID is still ours).
broker_pid() {
    local f=$1/pid pid
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    [[ -d /proc/$pid ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $1/server.properties" || return 1
    echo "$pid"
}

init() {
    local dir port controller sasl_ssl mtls extra
    dir=$(mkdir -p "$1" && cd "$1" && pwd) port=$2 controller=$3 sasl_ssl=${4:-} mtls=${5:-} extra=${6:-}
    [[ -d $KAFKA_HOME/libs ]] || die "Kafka is not installed; run scripts/install.sh"
    ! broker_pid "$dir" >/dev/null || die "the broker in $dir is running; stop it first"
    rm -rf "$dir/data"
    local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller"
    local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [[ -n $mtls ]]; then
        [[ -f $TLS_DIR/ca.pem ]] || die "no test certificates in $TLS_DIR; run scripts/install.sh"
        listeners+=",SASL_SSL://127.0.0.1:$sasl_ssl,MTLS://127.0.0.1:$mtls"
        protocols+=",SASL_SSL:SASL_SSL,MTLS:SSL"
    fi
    cat >"$dir/server.properties" <<PROPS
# Written by scripts/broker.sh: one node, KRaft combined mode, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=$listeners
advertised.listeners=$listeners
listener.security.protocol.map=$protocols
log.dirs=$dir/data
# One node: every internal topic has one replica, or no group or transaction
# coordinator can be created.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fast on 2 cores: one partition per internal topic, no initial rebalance
# delay (tests start consumers and expect an assignment at once).
offsets.topic.num.partitions=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
# As on managed clusters (Confluent Cloud, MSK defaults): topics exist only
# when created, so nothing may rely on auto-creation.
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=4
# A restart after kill -9 waits until the controller fences the old
# incarnation: one broker session (9 s by default). One node heartbeats to
# itself, so a short session is safe and a crash-restart takes seconds.
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=1000
PROPS
    if [[ -n $mtls ]]; then
        cat >>"$dir/server.properties" <<PROPS
# TLS: PEM files made by install.sh (CA, broker key and certificate chain).
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
# SASL_SSL: Confluent Cloud's PLAIN with an API key, and SCRAM-SHA-512.
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_API_KEY="$KAFKA_API_SECRET";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# Mutual TLS: a client must present a certificate signed by the test CA.
listener.name.mtls.ssl.client.auth=required
PROPS
    fi
    if [[ -n $extra ]]; then
        printf '# The test'"'"'s own settings.\n%s\n' "$extra" >>"$dir/server.properties"
    fi
    cat >"$dir/log4j2.properties" <<'PROPS'
status = error
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
PROPS
    local scram=()
    if [[ -n $mtls ]]; then
        scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$KAFKA_SCRAM_PASSWORD]")
    fi
    # --standalone goes with controller.quorum.bootstrap.servers: this node
    # is the whole (dynamic) controller quorum.
    "$(kafka_java)" -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool format \
        --standalone --cluster-id="$(cluster_id)" --config "$dir/server.properties" \
        "${scram[@]}" >"$dir/format.log" 2>&1 ||
        { cat "$dir/format.log" >&2; die "formatting $dir failed"; }
}

# A random KRaft cluster id (16 bytes, URL-safe base64 without padding; it
# may start with "-", so it is passed as --cluster-id=ID).
cluster_id() { head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

kafka_java() { find_java 17 || die "Kafka $KAFKA_VERSION needs Java 17 or newer"; }

start() {
    local dir pid
    dir=$(cd "$1" && pwd)
    [[ -f $dir/server.properties ]] || die "$dir has no broker; run: broker.sh init $dir ..."
    if pid=$(broker_pid "$dir"); then
        log "broker in $dir already running (pid $pid)"
        return
    fi
    # Heap for a 2-core test machine; G1 with short pauses, as Kafka's own
    # kafka-server-start.sh sets it.
    "$(kafka_java)" -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$dir/log4j2.properties" \
        -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties" >>"$dir/log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/pid"
    local bootstrap
    bootstrap=$(sed -n 's/^listeners=PLAINTEXT:\/\/\([^,]*\).*/\1/p' "$dir/server.properties")
    local deadline=$((SECONDS + 90))
    # Ready when a Metadata request lists this broker.
    until KAFKA_BOOTSTRAP=$bootstrap "$PYTHON" "$REPO/scripts/tools/kafka_tool.py" ready 2 2>/dev/null; do
        # The PID itself: before its exec the child's command line is bash's.
        if [[ ! -d /proc/$pid ]]; then
            tail -n 30 "$dir/log" >&2
            die "the broker in $dir exited during start-up (log: $dir/log)"
        fi
        ((SECONDS < deadline)) || die "the broker in $dir did not answer within 90 s (log: $dir/log)"
    done
}

signal_and_wait() {
    local dir=$1 signal=$2 pid
    pid=$(broker_pid "$dir") || { rm -f "$dir/pid"; return 0; }
    kill "-$signal" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while [[ -d /proc/$pid ]]; do
        if ((SECONDS >= deadline)); then
            log "broker $pid did not stop within 30 s of SIG$signal; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
    done
    rm -f "$dir/pid"
}

case ${1:-} in
    init) (($# == 4 || $# == 6 || $# == 7)) || usage; init "${@:2}" ;;
    start) (($# == 2)) || usage; start "$2" ;;
    stop) (($# == 2)) || usage; signal_and_wait "$(cd "$2" && pwd)" TERM ;;
    kill) (($# == 2)) || usage; signal_and_wait "$(cd "$2" && pwd)" KILL ;;
    restart) (($# == 2)) || usage; signal_and_wait "$(cd "$2" && pwd)" KILL; start "$2" ;;
    status) (($# == 2)) || usage; broker_pid "$(cd "$2" && pwd)" ;;
    *) usage ;;
esac
