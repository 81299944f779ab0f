"""Produces Schema Registry encoded records with Confluent's own serializers
(confluent-kafka's SerializingProducer) for lambda-sink's end-to-end tests,
and prints, per record, where it landed and the JSON lambda-sink must render:

    produce_formats.py BOOTSTRAP REGISTRY TOPIC FORMAT COUNT PARTITIONS
        [--context .ctx] [--descriptors order.fds]

FORMAT: AVRO, PROTOBUF or JSON_SR (keys and values both use it). Output: one
JSON line per record, {"partition", "offset", "key", "value"}, in produce
order. With --context the subjects are qualified (:.ctx:TOPIC-value), so the
schemas live in that registry context.
"""
import argparse
import base64
import datetime as dt
import decimal
import json
import sys

from confluent_kafka import SerializingProducer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer

p = argparse.ArgumentParser()
for name in ("bootstrap", "registry", "topic", "format"):
    p.add_argument(name)
p.add_argument("count", type=int)
p.add_argument("partitions", type=int)
p.add_argument("--context")
p.add_argument("--descriptors")
args = p.parse_args()

client = SchemaRegistryClient({"url": args.registry})
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def strategy(ctx, record_name):
    field = "key" if ctx.field == "key" else "value"
    subject = f"{ctx.topic}-{field}"
    return f":{args.context}:{subject}" if args.context else subject


conf = {"auto.register.schemas": True, "subject.name.strategy": strategy}


def b64(data):
    return base64.b64encode(data).decode()


def minimal_twos_complement(n):
    return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)


if args.format == "AVRO":
    schema = json.dumps({
        "type": "record", "name": "Payment", "namespace": "acme", "fields": [
            {"name": "id", "type": "long"},
            {"name": "name", "type": "string"},
            {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "when", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "note", "type": ["null", "string"]},
        ]})
    key_schema = json.dumps({"type": "record", "name": "PaymentKey", "namespace": "acme",
                             "fields": [{"name": "id", "type": "long"}]})
    serializer, key_serializer = AvroSerializer(client, schema, conf=conf), AvroSerializer(client, key_schema, conf=conf)

    def make(i):
        when = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=i)
        amount = decimal.Decimal(i) + decimal.Decimal("0.25")
        value = {"id": i, "name": f"n{i}", "amount": amount, "tags": ["t", str(i)], "when": when,
                 "note": None if i % 2 else "even"}
        expected = {"id": i, "name": f"n{i}", "amount": b64(minimal_twos_complement(int(amount * 100))),
                    "tags": ["t", str(i)], "when": int((when - EPOCH).total_seconds() * 1000),
                    "note": None if i % 2 else "even"}
        return {"id": i}, {"id": i}, value, expected

elif args.format == "JSON_SR":
    schema = json.dumps({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Doc", "type": "object",
                         "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}})
    serializer = JSONSerializer(schema, client, conf=conf)
    key_serializer = JSONSerializer(schema, client, conf=conf)

    def make(i):
        doc = {"id": i, "name": f"n{i}", "nested": {"list": [i, None, True]}}
        return {"id": i}, {"id": i}, doc, doc

elif args.format == "PROTOBUF":
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(args.descriptors, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    Order = message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Order"))
    Other = message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Other"))
    proto_conf = dict(conf, **{"use.deprecated.format": False})
    serializer = ProtobufSerializer(Order, client, proto_conf)
    key_serializer = ProtobufSerializer(Other, client, proto_conf)
    defaults = {
        "i32": 0, "i64": 0, "u32": 0, "u64": 0, "s32": 0, "s64": 0, "f32": 0, "f64": 0, "sf64": 0,
        "fl": 0, "db": 0, "flag": False, "text": "", "blob": "", "status": "STATUS_UNKNOWN",
        "nums": [], "tags": [], "counts": {}, "by_zip": {}, "address": None, "missing": None,
        "created": None, "maybe_count": None, "maybe_note": None, "meta": None, "ttl": None,
        "mask": None, "opt": None, "inner": None, "nothing": None, "list": None,
    }

    def make(i):
        msg = Order(i64=i, text=f"n{i}", status=2, nums=[i, i + 1])
        msg.created.seconds = 1714521600 + i
        msg.address.city = "Oslo"
        expected = dict(defaults, i64=i, text=f"n{i}", status="SUSPENDED", nums=[i, i + 1],
                        created=(1714521600 + i) * 1000, address={"city": "Oslo", "zip": 0})
        return Other(v=f"k{i}"), {"v": f"k{i}"}, msg, expected
else:
    sys.exit(f"unknown format {args.format}")

producer = SerializingProducer({
    "bootstrap.servers": args.bootstrap, "acks": "all", "enable.idempotence": True,
    "key.serializer": key_serializer, "value.serializer": serializer,
})
results = [None] * args.count
expected = []


def delivered(i):
    def report(err, msg):
        if err is not None:
            sys.exit(f"delivery failed: {err}")
        results[i] = (msg.partition(), msg.offset())
    return report


for i in range(args.count):
    key, key_expected, value, value_expected = make(i)
    expected.append((key_expected, value_expected))
    producer.produce(args.topic, key=key, value=value, partition=i % args.partitions, on_delivery=delivered(i))
    producer.poll(0)
if producer.flush(30) != 0:
    sys.exit("not every record was delivered")
for (partition, offset), (k, v) in zip(results, expected):
    print(json.dumps({"partition": partition, "offset": offset, "key": k, "value": v}))
