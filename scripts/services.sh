#!/usr/bin/env bash
# Starts, stops and reports the real services the tests and the demo use,
# all on 127.0.0.1:
#   kafka     Tansu broker, SQLite storage        (port $LAMBDA_SINK_KAFKA_PORT, 9092)
#   lambda    ministack Lambda emulator            (port $LAMBDA_SINK_LAMBDA_PORT, 4566)
#   registry  lambda-sink's test Schema Registry   (port $LAMBDA_SINK_REGISTRY_PORT, 8081)
#
#   scripts/services.sh start    start what is not running; wait until each answers
#   scripts/services.sh stop     stop only the processes these scripts started (by PID)
#   scripts/services.sh status   show each service's state; exit 0 only if all run
#   scripts/services.sh env      print the variables integration tests read
#
# Run scripts/install.sh first. Each start of the broker uses a fresh database.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SERVICES=(kafka lambda registry)

pidfile() { echo "$STATE/$1/pid"; }

# The PID of a service these scripts started, if it is still that process.
running_pid() {
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
        kafka) echo "tansu broker" ;;
        lambda) echo "ministack" ;;
        registry) echo "test-registry" ;;
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
        kafka) "$TANSU" topic list --broker "tcp://127.0.0.1:$KAFKA_PORT" >/dev/null 2>&1 ;;
        lambda) curl -sf "http://127.0.0.1:$LAMBDA_PORT/_ministack/health" >/dev/null ;;
        registry) curl -sf "http://127.0.0.1:$REGISTRY_PORT/subjects" >/dev/null ;;
    esac
}

launch() {
    local dir=$STATE/$1
    mkdir -p "$dir"
    case $1 in
        kafka)
            [[ -x $TANSU ]] || die "tansu is not installed; run scripts/install.sh"
            rm -f "$dir"/tansu.db*
            # Tansu reads .env from its working directory and resolves
            # sqlite:// paths against it.
            (cd "$dir" && exec "$TANSU" broker \
                --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
                --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
                --storage-engine sqlite://tansu.db) >"$dir/log" 2>&1 &
            ;;
        lambda)
            [[ -x $VENV/bin/ministack ]] || die "ministack is not installed; run scripts/install.sh"
            mkdir -p "$dir/tmp"
            BIND_HOST=127.0.0.1 GATEWAY_PORT=$LAMBDA_PORT TMPDIR=$dir/tmp \
                "$VENV/bin/ministack" >"$dir/log" 2>&1 &
            ;;
        registry)
            [[ -x $TEST_REGISTRY ]] || die "test-registry is not built; run scripts/install.sh"
            "$TEST_REGISTRY" --listen "127.0.0.1:$REGISTRY_PORT" >"$dir/log" 2>&1 &
            ;;
    esac
    echo $! >"$(pidfile "$1")"
}

start_one() {
    local name=$1 pid port
    if pid=$(running_pid "$name"); then
        log "$name: already running (pid $pid)"
        return
    fi
    port=$(port_of "$name")
    if port_in_use "$port"; then
        die "$name: port $port is already in use by another process; stop it or set LAMBDA_SINK_$(tr a-z A-Z <<<"$name")_PORT"
    fi
    launch "$name"
    # Poll until it answers; never a fixed sleep.
    local deadline=$((SECONDS + 60))
    until ready "$name"; do
        if ! running_pid "$name" >/dev/null; then
            tail -n 20 "$STATE/$name/log" >&2 || true
            die "$name: exited during start-up (log above: $STATE/$name/log)"
        fi
        ((SECONDS < deadline)) || die "$name: not ready after 60 s (log: $STATE/$name/log)"
        sleep 0.1
    done
    if [[ $name == kafka ]]; then
        # Tansu's SQLite schema has no index on record headers, so each fetch
        # scans them all; this index makes consuming ~20x faster (TESTING.md).
        "$PYTHON" -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
c.execute("create index if not exists header_topition_offset on header (topition, offset_id)")
c.commit()' "$STATE/kafka/tansu.db"
    fi
    log "$name: ready on 127.0.0.1:$port (pid $(<"$(pidfile "$name")"))"
}

stop_one() {
    local name=$1 pid
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
        for s in "${SERVICES[@]}"; do start_one "$s"; done
        service_env >"$STATE/env"
        ;;
    stop)
        # In reverse order, and in parallel: Tansu takes a few seconds on TERM.
        for s in registry lambda kafka; do stop_one "$s" & done
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
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
