"""Generates the Schema Registry fixtures of lambda-sink-core's decoder tests
with Confluent's own serializers (confluent-kafka), so the bytes are the real
wire format, and writes the JSON SPEC section 3 says each must render to.

The expected JSON is computed here, independently of lambda-sink, from the
rules (base64 of minimal two's-complement decimals, epoch milliseconds, ...).

    make_fixtures.py REGISTRY_URL OUT_DIR PROTO_DESCRIPTOR_SET

OUT_DIR receives avro.json, protobuf.json and json_schema.json:
    {"schemas": {id: {"schemaType", "schema", "references"}},
     "subjects": {subject: {version: id}},
     "cases": [{"name", "field", "hex", "decimal", "expected"}]}

Numbers whose exact text matters (decimals) are written as the JSON number
text itself (not re-formatted by Python's float printer).
"""
import base64
import datetime as dt
import decimal
import json
import math
import sys
import uuid

import requests
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

URL, OUT, DESCRIPTORS = sys.argv[1], sys.argv[2], sys.argv[3]
client = SchemaRegistryClient({"url": URL})
TOPIC = "fixtures"


class Raw:
    """A JSON number written with exactly this text."""

    def __init__(self, text):
        self.text = text


def dumps(obj):
    raws = {}

    def encode(o):
        if isinstance(o, Raw):
            key = f"__raw_{len(raws)}__"
            raws[key] = o.text
            return key
        raise TypeError(type(o))

    text = json.dumps(obj, indent=1, default=encode, ensure_ascii=False)
    for key, raw in raws.items():
        text = text.replace(f'"{key}"', raw)
    return text


def b64(data):
    return base64.b64encode(data).decode()


def minimal_twos_complement(n):
    """Java's BigInteger.toByteArray."""
    return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)


def decimal_expected(value, scale, fmt):
    unscaled = int(value.scaleb(scale))
    if fmt == "BASE64":
        return b64(minimal_twos_complement(unscaled))
    return Raw(str(value))


def float_expected(x):
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def registry_dump():
    subjects = {}
    schemas = {}
    for subject in requests.get(f"{URL}/subjects").json():
        path = f"{URL}/subjects/{requests.utils.quote(subject, safe='')}/versions"
        for version in requests.get(path).json():
            s = requests.get(f"{path}/{version}").json()
            subjects.setdefault(subject, {})[str(version)] = s["id"]
            schemas[str(s["id"])] = {
                "schemaType": s.get("schemaType", "AVRO"),
                "schema": s["schema"],
                "references": s.get("references", []),
            }
    return subjects, schemas


def write(name, cases, topic):
    all_subjects, all_schemas = registry_dump()
    # This format's subjects, plus every subject their schemas reference.
    subjects = {k: v for k, v in all_subjects.items() if k.startswith(topic)}
    todo = [i for versions in subjects.values() for i in versions.values()]
    while todo:
        for ref in all_schemas[str(todo.pop())]["references"]:
            if ref["subject"] not in subjects:
                subjects[ref["subject"]] = all_subjects[ref["subject"]]
                todo.extend(subjects[ref["subject"]].values())
    used = {str(i) for versions in subjects.values() for i in versions.values()}
    schemas = {k: v for k, v in all_schemas.items() if k in used}
    with open(f"{OUT}/{name}.json", "w") as f:
        f.write(dumps({"schemas": schemas, "subjects": subjects, "cases": cases}) + "\n")
    print(f"{name}: {len(cases)} cases, {len(schemas)} schemas", file=sys.stderr)


def both_fields(serialize, name, data, expected, decimal_format="BASE64"):
    cases = []
    for field in (MessageField.KEY, MessageField.VALUE):
        data_bytes = serialize(field, data)
        cases.append({
            "name": name,
            "field": "key" if field == MessageField.KEY else "value",
            "hex": data_bytes.hex(),
            "decimal": decimal_format,
            "expected": expected,
        })
    return cases


# ── Avro ──────────────────────────────────────────────────────────────────
def avro_cases():
    topic = "fixtures-avro"
    everything = {
        "type": "record", "name": "Everything", "namespace": "acme", "fields": [
            {"name": "n", "type": "null"},
            {"name": "flag", "type": "boolean"},
            {"name": "i", "type": "int"},
            {"name": "l", "type": "long"},
            {"name": "f", "type": "float"},
            {"name": "f_nan", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "d_inf", "type": "double"},
            {"name": "raw", "type": "bytes"},
            {"name": "s", "type": "string"},
            {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
            {"name": "color", "type": {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN", "BLUE"]}},
            {"name": "arr", "type": {"type": "array", "items": "int"}},
            {"name": "m", "type": {"type": "map", "values": "long"}},
            {"name": "nested", "type": {"type": "record", "name": "Nested", "fields": [
                {"name": "x", "type": "string"},
                {"name": "kids", "type": {"type": "array", "items": "Nested"}}]}},
            {"name": "opt_null", "type": ["null", "string"]},
            {"name": "opt_set", "type": ["null", "string"]},
            {"name": "either", "type": ["int", "string", "Color"]},
            {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "dec_neg", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
            {"name": "dec_fixed", "type": {"type": "fixed", "name": "DecFixed", "size": 8,
                                           "logicalType": "decimal", "precision": 18, "scale": 3}},
            {"name": "day", "type": {"type": "int", "logicalType": "date"}},
            {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
            {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "tsu", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "lts", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        ]}
    ts = dt.datetime(2021, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)
    lts = dt.datetime(2021, 1, 2, 3, 4, 5, 678000)
    tm = dt.time(1, 2, 3, 4000)
    day = dt.date(2020, 2, 29)
    the_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    data = {
        "n": None, "flag": True, "i": -42, "l": 9007199254740993, "f": 0.1, "f_nan": float("nan"),
        "d": 12345.678, "d_inf": float("-inf"), "raw": b"\x00\xff\x10", "s": "héllo \"w\"",
        "fx": b"ABCD", "color": "GREEN", "arr": [1, 2, 3], "m": {"b": 2, "a": 1},
        "nested": {"x": "top", "kids": [{"x": "kid", "kids": []}]},
        "opt_null": None, "opt_set": "here", "either": "text",
        "dec": decimal.Decimal("123.45"), "dec_neg": decimal.Decimal("-1.00"),
        "dec_fixed": decimal.Decimal("12.345"),
        "day": day, "tm": tm, "tu": tm, "ts": ts, "tsu": ts, "lts": lts, "id": the_id,
    }
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    tm_micros = ((tm.hour * 60 + tm.minute) * 60 + tm.second) * 1_000_000 + tm.microsecond

    def expected(fmt):
        return {
            "n": None, "flag": True, "i": -42, "l": 9007199254740993,
            "f": Raw("0.1"), "f_nan": "NaN", "d": 12345.678, "d_inf": "-Infinity",
            "raw": b64(b"\x00\xff\x10"), "s": "héllo \"w\"", "fx": b64(b"ABCD"), "color": "GREEN",
            "arr": [1, 2, 3], "m": {"a": 1, "b": 2},
            "nested": {"x": "top", "kids": [{"x": "kid", "kids": []}]},
            "opt_null": None, "opt_set": "here", "either": "text",
            "dec": decimal_expected(decimal.Decimal("123.45"), 2, fmt),
            "dec_neg": decimal_expected(decimal.Decimal("-1.00"), 2, fmt),
            "dec_fixed": decimal_expected(decimal.Decimal("12.345"), 3, fmt),
            "day": (day - dt.date(1970, 1, 1)).days,
            "tm": tm_micros // 1000, "tu": tm_micros,
            "ts": int((ts - epoch).total_seconds()) * 1000 + ts.microsecond // 1000,
            "tsu": int((ts - epoch).total_seconds()) * 1_000_000 + ts.microsecond,
            "lts": int((lts.replace(tzinfo=dt.timezone.utc) - epoch).total_seconds()) * 1000 + lts.microsecond // 1000,
            "id": str(the_id),
        }

    ser = AvroSerializer(client, json.dumps(everything))
    serialize = lambda field, d: ser(d, SerializationContext(topic, field))
    cases = []
    for fmt in ("BASE64", "NUMERIC"):
        cases += both_fields(serialize, f"every type ({fmt})", data, expected(fmt), fmt)

    # Top-level union and primitive schemas.
    for schema, datum, exp, name in [
        (["null", "long"], 7, 7, "top-level [null, long]"),
        (["string", "long"], 5, 5, "top-level union, second branch"),
        ("string", "plain", "plain", "top-level string"),
        ({"type": "enum", "name": "Size", "symbols": ["S", "M"]}, "M", "M", "top-level enum"),
    ]:
        s = AvroSerializer(client, json.dumps(schema))
        t = f"{topic}-{len(cases)}"
        cases += both_fields(lambda f, d: s(d, SerializationContext(t, f)), name, datum, exp)

    # Schema evolution: two writer schemas under one subject.
    evo_topic = f"{topic}-evolution"
    v1 = {"type": "record", "name": "Evolving", "fields": [{"name": "a", "type": "int"}]}
    v2 = {"type": "record", "name": "Evolving", "fields": [
        {"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": "x"}]}
    for schema, datum, name in [(v1, {"a": 1}, "evolution v1"), (v2, {"a": 2, "b": "y"}, "evolution v2")]:
        s = AvroSerializer(client, json.dumps(schema))
        cases += both_fields(lambda f, d: s(d, SerializationContext(evo_topic, f)), name, datum, datum)

    # A reference to a named type registered under another subject.
    address = {"type": "record", "name": "Address", "namespace": "acme",
               "fields": [{"name": "city", "type": "string"}]}
    client.register_schema("acme-address", Schema(json.dumps(address), "AVRO"))
    customer = {"type": "record", "name": "Customer", "namespace": "acme",
                "fields": [{"name": "name", "type": "string"}, {"name": "home", "type": "acme.Address"}]}
    s = AvroSerializer(client, Schema(json.dumps(customer), "AVRO",
                                      [SchemaReference("acme.Address", "acme-address", 1)]))
    ref_topic = f"{topic}-reference"
    datum = {"name": "Kim", "home": {"city": "Oslo"}}
    cases += both_fields(lambda f, d: s(d, SerializationContext(ref_topic, f)), "reference to acme.Address", datum, datum)
    write("avro", cases, topic)


# ── Protobuf ──────────────────────────────────────────────────────────────
def protobuf_cases():
    topic = "fixtures-protobuf"
    fds = descriptor_pb2.FileDescriptorSet.FromString(open(DESCRIPTORS, "rb").read())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    Order = message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Order"))
    Inner = message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Order.Inner"))
    Other = message_factory.GetMessageClass(pool.FindMessageTypeByName("acme.Other"))

    full = Order(
        i32=-7, i64=-9223372036854775808, u32=4294967295, u64=18446744073709551615,
        s32=-3, s64=-4, f32=5, f64=6, sf64=-7, fl=0.1, db=float("nan"), flag=True,
        text="héllo", blob=b"\x00\x01\xfe", status=1, nums=[1, 2, 3], tags=["a", "b"],
        name="chosen", opt=0,
    )
    full.counts["x"] = 10
    full.counts["a"] = -1
    full.by_zip[7].city = "Lagos"
    full.address.city = "Oslo"
    full.address.zip = 150
    full.created.seconds = 1609556645
    full.created.nanos = 678901234
    full.maybe_count.value = 0
    full.meta.update({"k": "v", "n": 1.5, "on": True, "nothing": None, "list": [1, "two"], "obj": {"z": 1}})
    full.ttl.seconds = 1
    full.ttl.nanos = 500000000
    full.mask.paths.extend(["user.display_name", "id"])
    full.inner.x = "in"
    full.inner.children.add().x = "child"
    full.nothing.SetInParent()
    full.list.extend([1, "x", None])
    full_expected = {
        "i32": -7, "i64": -9223372036854775808, "u32": 4294967295, "u64": 18446744073709551615,
        "s32": -3, "s64": -4, "f32": 5, "f64": 6, "sf64": -7, "fl": Raw("0.1"), "db": "NaN", "flag": True,
        "text": "héllo", "blob": b64(b"\x00\x01\xfe"), "status": "ACTIVE", "nums": [1, 2, 3],
        "tags": ["a", "b"], "counts": {"a": -1, "x": 10}, "by_zip": {"7": {"city": "Lagos", "zip": 0}},
        "address": {"city": "Oslo", "zip": 150}, "missing": None, "name": "chosen",
        "created": 1609556645678, "maybe_count": 0, "maybe_note": None,
        "meta": {"k": "v", "n": 1.5, "on": True, "nothing": None, "list": [1, "two"], "obj": {"z": 1}},
        "ttl": "1.500s", "mask": "user.displayName,id", "opt": 0,
        "inner": {"x": "in", "children": [{"x": "child", "children": []}]},
        "nothing": {}, "list": [1, "x", None],
    }
    empty_expected = {
        "i32": 0, "i64": 0, "u32": 0, "u64": 0, "s32": 0, "s64": 0, "f32": 0, "f64": 0, "sf64": 0,
        "fl": 0, "db": 0, "flag": False, "text": "", "blob": "", "status": "STATUS_UNKNOWN",
        "nums": [], "tags": [], "counts": {}, "by_zip": {}, "address": None, "missing": None,
        "created": None, "maybe_count": None, "maybe_note": None, "meta": None, "ttl": None,
        "mask": None, "opt": None, "inner": None, "nothing": None, "list": None,
    }
    unknown_enum = Order(status=7, number=12)
    unknown_expected = dict(empty_expected, status=7, number=12)

    def serializer(cls):
        ser = ProtobufSerializer(cls, client, {"use.deprecated.format": False})

        def serialize(message, ctx):
            # Keep Confluent's header (magic byte, id, message indexes) and
            # re-serialize the message with map entries in key order, so the
            # fixture bytes are the same on every run (upb randomizes maps).
            framed = ser(message, ctx)
            body = message.SerializeToString(deterministic=True)
            return framed[: len(framed) - len(body)] + body

        return serialize

    order_ser = serializer(Order)
    cases = []
    for msg, exp, name in [(full, full_expected, "every field set"), (Order(), empty_expected, "defaults"),
                           (unknown_enum, unknown_expected, "unknown enum number, oneof int")]:
        cases += both_fields(lambda f, d: order_ser(d, SerializationContext(topic, f)), name, msg, exp)
    inner = Inner(x="nested top-level")
    inner_ser = serializer(Inner)
    cases += both_fields(lambda f, d: inner_ser(d, SerializationContext(f"{topic}-inner", f)),
                         "nested message as the record (indexes [0, 0])", inner,
                         {"x": "nested top-level", "children": []})
    other_ser = serializer(Other)
    cases += both_fields(lambda f, d: other_ser(d, SerializationContext(f"{topic}-other", f)),
                         "second message of the file (indexes [1])", Other(v="second"), {"v": "second"})
    write("protobuf", cases, topic)


# ── JSON Schema ───────────────────────────────────────────────────────────
def json_schema_cases():
    topic = "fixtures-json"
    schema = json.dumps({
        "$schema": "http://json-schema.org/draft-07/schema#", "title": "Doc", "type": "object",
        "properties": {"a": {"type": "integer"}, "s": {"type": "string"},
                       "nested": {"type": "object"}, "list": {"type": "array"}, "big": {"type": "integer"}},
    })
    ser = JSONSerializer(schema, client)
    datum = {"a": 1, "s": "x\u00e9", "nested": {"b": [1, 2, {"c": None}]}, "list": [True, 1.5], "big": 12345678901234567890}
    cases = both_fields(lambda f, d: ser(d, SerializationContext(topic, f)), "document", datum, datum)
    write("json_schema", cases, topic)


avro_cases()
protobuf_cases()
json_schema_cases()
