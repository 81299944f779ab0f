"""A small, independent Kafka client (confluent-kafka) for the demo and for
checking what lambda-sink wrote, so tests do not only agree with themselves.

  kafka_tool.py create-topic TOPIC PARTITIONS
  kafka_tool.py produce TOPIC < lines       each line: JSON {"key":..,"value":..,"partition":..}
                                             (value/key: any JSON, sent as its JSON text)
  kafka_tool.py consume TOPIC [--max N] [--idle-ms MS] [--values text|json]
                                             prints one JSON line per record:
                                             {"partition","offset","key","value","headers"};
                                             with --values json, a value that is JSON
                                             (or a JSON string holding JSON) as that JSON
  kafka_tool.py committed GROUP TOPIC        prints {"partition": committed offset, ...}
  kafka_tool.py end-offsets TOPIC            prints {"partition": end offset, ...}
  kafka_tool.py ready SECONDS                exit 0 once a Metadata request lists a broker
  kafka_tool.py deny-transactional-ids PREFIX PRINCIPAL
                                             adds an ACL denying PRINCIPAL every operation
                                             on the transactional ids starting with PREFIX

The broker is $KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
"""
import json
import os
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                  NewTopic, ResourcePatternType, ResourceType)

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
COMMON = {"bootstrap.servers": BOOTSTRAP}


def create_topic(topic, partitions):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    if topic in admin.list_topics(timeout=10).topics:
        return
    for _, future in admin.create_topics([NewTopic(topic, int(partitions), 1)]).items():
        future.result(30)


def produce(topic):
    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True})
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    count = 0
    for line in sys.stdin:
        if not line.strip():
            continue
        record = json.loads(line)
        kwargs = {"on_delivery": report}
        if "partition" in record:
            kwargs["partition"] = record["partition"]
        key = record.get("key")
        value = record.get("value")
        producer.produce(
            topic,
            key=None if key is None else (key if isinstance(key, str) else json.dumps(key)),
            value=None if value is None else (value if isinstance(value, str) else json.dumps(value)),
            **kwargs,
        )
        producer.poll(0)
        count += 1
    if producer.flush(30) != 0 or failures:
        sys.exit(f"produce failed: {failures[:3]}")
    print(f"produced {count} records to {topic}", file=sys.stderr)


def text(data):
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.hex()


def decoded(value):
    """`value` as the JSON it holds, unwrapping JSON strings that hold JSON
    (a result record's value is the function's response, often a JSON
    document serialised as a string); text that is not JSON stays text."""
    while isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            break
    return value


def consume(topic, max_records=None, idle_ms=3000, values="text"):
    consumer = Consumer({**COMMON, "group.id": f"kafka-tool-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen, last = 0, time.monotonic()
    try:
        while max_records is None or seen < max_records:
            msg = consumer.poll(0.2)
            if msg is None:
                if (time.monotonic() - last) * 1000 > idle_ms:
                    break
                continue
            if msg.error():
                raise KafkaException(msg.error())
            last = time.monotonic()
            seen += 1
            print(json.dumps({
                "partition": msg.partition(), "offset": msg.offset(),
                "key": text(msg.key()),
                "value": decoded(text(msg.value())) if values == "json" else text(msg.value()),
                "headers": {k: text(v) for k, v in (msg.headers() or [])},
            }), flush=True)
    finally:
        consumer.close()


def committed(group, topic):
    consumer = Consumer({**COMMON, "group.id": group})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    parts = [TopicPartition(topic, p) for p in meta.partitions]
    result = {tp.partition: tp.offset for tp in sorted(consumer.committed(parts, timeout=10), key=lambda tp: tp.partition)}
    consumer.close()
    print(json.dumps(result))


def end_offsets(topic):
    consumer = Consumer({**COMMON, "group.id": f"kafka-tool-{time.time_ns()}"})
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    result = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
              for p in sorted(meta.partitions)}
    consumer.close()
    print(json.dumps(result))


def ready(seconds):
    """A real Metadata request: the broker is up and serving, not just listening."""
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "log_level": 0})
    try:
        if not admin.list_topics(timeout=float(seconds)).brokers:
            sys.exit(1)
    except KafkaException as e:
        sys.exit(f"not ready: {e}")


def deny_transactional_ids(prefix, principal):
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    acl = AclBinding(ResourceType.TRANSACTIONAL_ID, prefix, ResourcePatternType.PREFIXED,
                     principal, "*", AclOperation.ALL, AclPermissionType.DENY)
    for future in admin.create_acls([acl]).values():
        future.result(30)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "create-topic" and len(args) == 2:
        create_topic(*args)
    elif cmd == "produce" and len(args) == 1:
        produce(args[0])
    elif cmd == "consume" and args:
        opts = dict(zip(args[1::2], args[2::2]))
        if opts.get("--values", "text") not in ("text", "json"):
            sys.exit("--values is text or json")
        consume(args[0], int(opts["--max"]) if "--max" in opts else None, int(opts.get("--idle-ms", 3000)),
                opts.get("--values", "text"))
    elif cmd == "committed" and len(args) == 2:
        committed(*args)
    elif cmd == "end-offsets" and len(args) == 1:
        end_offsets(args[0])
    elif cmd == "ready" and len(args) == 1:
        ready(args[0])
    elif cmd == "deny-transactional-ids" and len(args) == 2:
        deny_transactional_ids(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
