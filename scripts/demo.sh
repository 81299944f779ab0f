#!/usr/bin/env bash
# From a fresh machine to lambda-sink running on a local demo stack:
# installs what is missing, starts Kafka (Apache Kafka), the Lambda emulator
# (ministack) and the Schema Registry (Apicurio), deploys the demo function, creates the topic
# `demo-orders` and produces sample records, validates the configuration
# against the live services, runs lambda-sink until every record is
# committed, shows what the function received and what landed in
# `success-demo`, and stops lambda-sink gracefully.
#
# The services keep running afterwards; stop them with scripts/services.sh stop.
# Running it again produces 30 more records; the connector resumes from its
# committed offsets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"
demo_started=$SECONDS

"$REPO/scripts/install.sh"
"$REPO/scripts/services.sh" start
eval "$("$REPO/scripts/services.sh" env)"

# The dev profile: a cold release build takes three times as long, and 30
# records need no optimiser (the tests reuse these artifacts). For real use:
# cargo build --release -p lambda-sink.
log "building lambda-sink"
cargo build --quiet --locked -p lambda-sink
LAMBDA_SINK=$REPO/target/debug/lambda-sink

DEMO=$STATE/demo
mkdir -p "$DEMO"
FUNCTION=lambda-sink-demo
TOPIC=demo-orders
AWS=("$VENV/bin/aws" --endpoint-url "$LAMBDA_SINK_TEST_LAMBDA_ENDPOINT" --region us-east-1)
KAFKA_TOOL=("$PYTHON" "$REPO/scripts/tools/kafka_tool.py")
export KAFKA_BOOTSTRAP=$LAMBDA_SINK_TEST_BOOTSTRAP

if "${AWS[@]}" lambda get-function --function-name "$FUNCTION" >/dev/null 2>&1; then
    log "function $FUNCTION: updating its code"
    "${AWS[@]}" lambda update-function-code --function-name "$FUNCTION" \
        --zip-file "fileb://$FUNCTION_ZIP" >/dev/null
else
    log "function $FUNCTION: deploying the test function (echoes each batch, sums a + b)"
    "${AWS[@]}" lambda create-function --function-name "$FUNCTION" \
        --runtime provided.al2023 --handler bootstrap --timeout 30 \
        --role arn:aws:iam::000000000000:role/lambda-sink-demo \
        --zip-file "fileb://$FUNCTION_ZIP" >/dev/null
fi
until [[ $("${AWS[@]}" lambda get-function --function-name "$FUNCTION" \
        --query Configuration.State --output text) == Active ]]; do sleep 0.2; done

log "topic $TOPIC: creating (3 partitions) and producing 30 records {\"a\": i, \"b\": 2i}"
"${KAFKA_TOOL[@]}" create-topic "$TOPIC" 3
for i in $(seq 1 30); do
    printf '{"key": "order-%d", "value": {"a": %d, "b": %d}}\n' "$i" "$i" $((2 * i))
done | "${KAFKA_TOOL[@]}" produce "$TOPIC"

cat >"$DEMO/connector.json" <<JSON
{
  "connector.class": "LambdaSink",
  "name": "demo",
  "topics": "$TOPIC",
  "input.data.format": "JSON",
  "input.key.format": "STRING",
  "record.converter.class": "NativeJsonKeyValueConverter",
  "kafka.bootstrap.servers": "$LAMBDA_SINK_TEST_BOOTSTRAP",
  "aws.lambda.function.name": "$FUNCTION",
  "aws.lambda.region": "us-east-1",
  "aws.lambda.endpoint": "$LAMBDA_SINK_TEST_LAMBDA_ENDPOINT",
  "aws.access.key.id": "test",
  "aws.secret.access.key": "test",
  "aws.lambda.invocation.type": "sync",
  "behavior.on.error": "log",
  "http.listener": "127.0.0.1:0"
}
JSON
log "config: $DEMO/connector.json"
log "lambda-sink validate (live checks against the demo stack)"
"$LAMBDA_SINK" validate --config "$DEMO/connector.json"

log "lambda-sink run (log: $DEMO/lambda-sink.log)"
"$LAMBDA_SINK" run --config "$DEMO/connector.json" >"$DEMO/lambda-sink.log" 2>&1 &
SINK_PID=$!
trap 'kill -TERM $SINK_PID 2>/dev/null || true' EXIT

# Poll until the connector's committed offsets reach the end of the topic.
end=$("${KAFKA_TOOL[@]}" end-offsets "$TOPIC")
deadline=$((SECONDS + 120))
until [[ $("${KAFKA_TOOL[@]}" committed connect-demo "$TOPIC") == "$end" ]]; do
    kill -0 $SINK_PID 2>/dev/null || { cat "$DEMO/lambda-sink.log"; die "lambda-sink exited early"; }
    ((SECONDS < deadline)) || { tail -20 "$DEMO/lambda-sink.log"; die "records not committed after 120 s"; }
    sleep 0.2
done
log "every record is processed and committed: offsets $end"

log "what the function received (the last 5 records its log shows for $TOPIC):"
"${AWS[@]}" logs filter-log-events --log-group-name "/aws/lambda/$FUNCTION" --output json |
    "$PYTHON" -c '
import json, sys
topic = sys.argv[1]
lines = [json.loads(e["message"]) for e in json.load(sys.stdin)["events"]
         if e["message"].startswith("{")]
records = [l for l in lines if l.get("lambda_sink_test") == "record" and l.get("topic") == topic]
print(f"  {len(records)} records logged in total")
for r in records[-5:]:
    print("  ", json.dumps({k: r[k] for k in ("topic", "partition", "offset", "key", "value")}))
' "$TOPIC"

log "what landed in success-demo (first 5 of $("${KAFKA_TOOL[@]}" end-offsets success-demo)):"
"${KAFKA_TOOL[@]}" consume success-demo --max 5 --values json

log "stopping lambda-sink (SIGTERM: finish in-flight work, commit, exit 0)"
kill -TERM $SINK_PID
if wait $SINK_PID; then
    log "lambda-sink stopped cleanly (exit 0)"
else
    die "lambda-sink exited with $?; see $DEMO/lambda-sink.log"
fi
trap - EXIT
log "done in $((SECONDS - demo_started)) s. Services keep running: scripts/services.sh stop ends them."
