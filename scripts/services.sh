#!/usr/bin/env bash
# Starts, stops and reports the real services the tests and the demo use,
# all on 127.0.0.1:
#   kafka     Apache Kafka broker (scripts/broker.sh): plaintext $LAMBDA_SINK_KAFKA_PORT (9092),
#             controller 9093, SASL_SSL 9094 (PLAIN, SCRAM-SHA-512), mutual TLS 9095
#   lambda    ministack Lambda emulator             ($LAMBDA_SINK_LAMBDA_PORT, 4566)
#   registry  Apicurio Registry, Confluent-compatible API at /apis/ccompat/v7
#                                                   ($LAMBDA_SINK_REGISTRY_PORT, 8081;
#             its management interface on $LAMBDA_SINK_REGISTRY_MANAGEMENT_PORT, 9001)
#
#   scripts/services.sh start           start what is not running (side by side);
#                                       wait until each answers
#   scripts/services.sh stop            stop only the processes these scripts started (by PID)
#   scripts/services.sh status          show each service's state; exit 0 only if all run
#   scripts/services.sh env             print the variables integration tests read
#   scripts/services.sh kill9 kafka     crash the broker (SIGKILL); its data stays
#   scripts/services.sh restart kafka   SIGKILL, then start again on the same data
#
# Run scripts/install.sh first. Each start of the broker formats fresh data,
# and the registry keeps its schemas in memory: a start is a clean slate.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(kafka lambda registry)
BROKER=$REPO/scripts/broker.sh

pidfile() { echo "$STATE/$1/pid"; }

# The PID of a service these scripts started, if it is still that process.
running_pid() {
    [[ $1 == kafka ]] && { "$BROKER" status "$STATE/kafka" 2>/dev/null; return; }
    local f pid
    f=$(pidfile "$1")
    [[ -f $f ]] || return 1
    pid=$(<"$f")
    [[ -d /proc/$pid ]] || return 1
    # Guard against a recycled PID: the command line must still be ours.
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$(expected_cmd "$1")" || return 1
    echo "$pid"
}

expected_cmd() {
    case $1 in
        lambda) echo "ministack" ;;
        registry) echo "quarkus-run.jar" ;;
    esac
}

port_of() {
    case $1 in
        kafka) echo "$KAFKA_PORT" ;;
        lambda) echo "$LAMBDA_PORT" ;;
        registry) echo "$REGISTRY_PORT" ;;
    esac
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ready() {
    case $1 in
        kafka) KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT "$PYTHON" "$REPO/scripts/tools/kafka_tool.py" ready 2 2>/dev/null ;;
        lambda) curl -sf "http://127.0.0.1:$LAMBDA_PORT/_ministack/health" >/dev/null ;;
        registry) curl -sf "http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7/subjects" >/dev/null ;;
    esac
}

# Starts one service in the background and waits until it answers.
start_one() {
    local name=$1 dir=$STATE/$1 pid port
    if pid=$(running_pid "$name"); then
        log "$name: already running (pid $pid)"
        return
    fi
    port=$(port_of "$name")
    if port_in_use "$port"; then
        die "$name: port $port is already in use by another process; stop it or set LAMBDA_SINK_$(tr a-z A-Z <<<"$name")_PORT"
    fi
    mkdir -p "$dir"
    case $name in
        kafka)
            for p in "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"; do
                ! port_in_use "$p" || die "kafka: port $p is already in use by another process (LAMBDA_SINK_KAFKA_*_PORT move it)"
            done
            "$BROKER" init "$dir" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$KAFKA_SASL_SSL_PORT" "$KAFKA_MTLS_PORT"
            "$BROKER" start "$dir"
            ;;
        lambda)
            [[ -x $VENV/bin/ministack ]] || die "ministack is not installed; run scripts/install.sh"
            mkdir -p "$dir/tmp"
            BIND_HOST=127.0.0.1 GATEWAY_PORT=$LAMBDA_PORT TMPDIR=$dir/tmp \
                "$VENV/bin/ministack" >"$dir/log" 2>&1 &
            echo $! >"$(pidfile "$name")"
            ;;
        registry)
            [[ -f $APICURIO_HOME/quarkus-run.jar ]] || die "Apicurio Registry is not installed; run scripts/install.sh"
            local java
            java=$(find_java 21) || die "Apicurio Registry needs Java 21 or newer"
            # Quarkus binds 0.0.0.0 unless told, its management interface too
            # (enabled at Apicurio's build time; it cannot be turned off).
            # Storage: in memory.
            ! port_in_use "$REGISTRY_MANAGEMENT_PORT" ||
                die "registry: port $REGISTRY_MANAGEMENT_PORT is already in use (LAMBDA_SINK_REGISTRY_MANAGEMENT_PORT moves it)"
            (cd "$dir" && exec "$java" -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
                -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
                -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$REGISTRY_MANAGEMENT_PORT" \
                -jar "$APICURIO_HOME/quarkus-run.jar") >"$dir/log" 2>&1 &
            echo $! >"$(pidfile "$name")"
            ;;
    esac
    # Poll until it answers; never a fixed sleep. Alive means the recorded PID
    # exists: until the launching subshell has exec'd, its command line is
    # still the shell's, which the cmdline guard of running_pid rejects.
    pid=$(<"$(pidfile "$name")")
    local deadline=$((SECONDS + 90))
    until ready "$name"; do
        if [[ ! -d /proc/$pid ]]; then
            tail -n 20 "$dir/log" >&2 || true
            die "$name: exited during start-up (log above: $dir/log)"
        fi
        ((SECONDS < deadline)) || die "$name: not ready after 90 s (log: $dir/log)"
        sleep 0.1
    done
    log "$name: ready on 127.0.0.1:$port (pid $(running_pid "$name"))"
}

stop_one() {
    local name=$1 pid
    if [[ $name == kafka ]]; then
        if pid=$(running_pid kafka); then
            "$BROKER" stop "$STATE/kafka"
            log "kafka: stopped (pid $pid)"
        fi
        return
    fi
    if ! pid=$(running_pid "$name"); then
        rm -f "$(pidfile "$name")"
        return
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while [[ -d /proc/$pid ]] && ((SECONDS < deadline)); do sleep 0.1; done
    [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
    rm -f "$(pidfile "$name")"
    log "$name: stopped (pid $pid)"
}

case ${1:-} in
    start)
        # Side by side: the two JVMs take several seconds each to start.
        pids=()
        for s in "${SERVICES[@]}"; do
            start_one "$s" &
            pids+=($!)
        done
        failed=0
        for p in "${pids[@]}"; do wait "$p" || failed=1; done
        ((failed == 0)) || die "a service did not start (see above); scripts/services.sh stop ends the others"
        mkdir -p "$STATE"
        service_env >"$STATE/env"
        ;;
    stop)
        for s in "${SERVICES[@]}"; do stop_one "$s" & done
        wait
        ;;
    status)
        all=0
        for s in "${SERVICES[@]}"; do
            if pid=$(running_pid "$s") && ready "$s"; then
                echo "$s: running (pid $pid, 127.0.0.1:$(port_of "$s"))"
            else
                echo "$s: not running"
                all=1
            fi
        done
        exit $all
        ;;
    env) service_env ;;
    kill9)
        [[ ${2:-} == kafka ]] || die "usage: $0 kill9 kafka"
        "$BROKER" kill "$STATE/kafka"
        log "kafka: killed (SIGKILL)"
        ;;
    restart)
        [[ ${2:-} == kafka ]] || die "usage: $0 restart kafka"
        "$BROKER" restart "$STATE/kafka"
        log "kafka: restarted on the same data"
        ;;
    *)
        echo "usage: $0 start|stop|status|env|kill9 kafka|restart kafka" >&2
        exit 2
        ;;
esac
