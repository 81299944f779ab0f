//! Micro-benchmarks of the per-record hot paths: decoding a key or value
//! (schemaless JSON/STRING/BYTES, Avro, Protobuf), rendering the payload
//! element (Confluent's, or the event source mapping's record), applying a
//! transform chain, and cutting batches. `cargo bench -p lambda-sink-core`.
//! Results and analysis: `BENCHMARKS.md`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;

use apache_avro::types::Value as AvroValue;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lambda_sink_core::batch::{BatchLimits, Element, request_body, take_batch};
use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::codec::schemaless;
use lambda_sink_core::codec::{DataFormat, DecimalFormat, RecordConverter};
use lambda_sink_core::esm;
use lambda_sink_core::payload::render_element;
use lambda_sink_core::record::SourceRecord;
use lambda_sink_core::transform::{self, Chain};

/// A ~100-byte JSON value, like the end-to-end benchmark's small records.
const JSON_VALUE: &[u8] =
    br#"{"id":12345,"customer":"c-000042","amount":19.99,"items":["a","b"],"ok":true}"#;

fn record() -> SourceRecord {
    SourceRecord {
        topic: Arc::from("orders"),
        partition: 3,
        offset: 1_234_567,
        timestamp: Some(1_764_115_200_000),
        timestamp_type: lambda_sink_core::record::TimestampType::CreateTime,
        key: Some(b"c-000042".to_vec()),
        value: Some(JSON_VALUE.to_vec()),
        headers: vec![("trace".into(), Some(b"abc123".to_vec()))],
    }
}

fn schemaless(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode/schemaless");
    group.throughput(Throughput::Bytes(JSON_VALUE.len() as u64));
    for (name, format, converter) in [
        ("json_native", DataFormat::Json, RecordConverter::NativeJson),
        (
            "json_escaped",
            DataFormat::Json,
            RecordConverter::EscapedJson,
        ),
        ("json_java", DataFormat::Json, RecordConverter::Json),
        ("string", DataFormat::String, RecordConverter::NativeJson),
        ("bytes", DataFormat::Bytes, RecordConverter::NativeJson),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| schemaless::render(format, converter, black_box(JSON_VALUE)));
        });
    }
    group.finish();
}

const AVRO_SCHEMA: &str = r#"{"type":"record","name":"Order","namespace":"acme","fields":[
    {"name":"id","type":"long"},{"name":"customer","type":"string"},
    {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
    {"name":"items","type":{"type":"array","items":"string"}},
    {"name":"note","type":["null","string"]},
    {"name":"ts","type":{"type":"long","logicalType":"timestamp-millis"}}]}"#;

fn avro_datum() -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(AVRO_SCHEMA).expect("bench schema parses");
    let value = AvroValue::Record(vec![
        ("id".into(), AvroValue::Long(12345)),
        ("customer".into(), AvroValue::String("c-000042".into())),
        (
            "amount".into(),
            AvroValue::Decimal(apache_avro::Decimal::from(vec![0x07, 0xcf])),
        ),
        (
            "items".into(),
            AvroValue::Array(vec![
                AvroValue::String("a".into()),
                AvroValue::String("b".into()),
            ]),
        ),
        (
            "note".into(),
            AvroValue::Union(1, Box::new(AvroValue::String("gift".into()))),
        ),
        ("ts".into(), AvroValue::TimestampMillis(1_764_115_200_000)),
    ]);
    let mut datum = Vec::new();
    apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .expect("bench writer")
        .write_value(&mut datum, value)
        .expect("bench datum encodes");
    datum
}

const PROTO_SCHEMA: &str = r#"syntax = "proto3";
package acme;
message Order {
  int64 id = 1;
  string customer = 2;
  double amount = 3;
  repeated string items = 4;
  map<string, string> labels = 5;
}"#;

/// An `acme.Order` after the Confluent header: message index `[0]`, then the
/// message, encoded by hand so the bench needs no generated code.
fn protobuf_payload() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
        out.push(tag);
        out.push(u8::try_from(bytes.len()).expect("short field"));
        out.extend_from_slice(bytes);
    }
    let mut out = vec![0x00]; // message indexes: the first message
    out.extend_from_slice(&[0x08, 0xb9, 0x60]); // id = 12345
    field(&mut out, 0x12, b"c-000042");
    out.push(0x19); // amount = 19.99
    out.extend_from_slice(&19.99f64.to_le_bytes());
    field(&mut out, 0x22, b"a");
    field(&mut out, 0x22, b"b");
    let mut entry = Vec::new();
    field(&mut entry, 0x0a, b"region");
    field(&mut entry, 0x12, b"eu");
    field(&mut out, 0x2a, &entry);
    out
}

fn registry_formats(c: &mut Criterion) {
    let avro = Compiled::compile(SchemaType::Avro, AVRO_SCHEMA, &[]).expect("avro compiles");
    let datum = avro_datum();
    let proto =
        Compiled::compile(SchemaType::Protobuf, PROTO_SCHEMA, &[]).expect("protobuf compiles");
    let message = protobuf_payload();
    // Sanity: the fixtures decode, so the bench measures success paths.
    avro.decode(&datum, DecimalFormat::Numeric)
        .expect("avro datum decodes");
    proto
        .decode(&message, DecimalFormat::Base64)
        .expect("protobuf message decodes");

    let mut group = c.benchmark_group("decode/registry");
    group.bench_function("avro", |b| {
        b.iter(|| avro.decode(black_box(&datum), DecimalFormat::Numeric));
    });
    group.bench_function("protobuf", |b| {
        b.iter(|| proto.decode(black_box(&message), DecimalFormat::Base64));
    });
    group.bench_function("json_schema", |b| {
        b.iter(|| Compiled::Json.decode(black_box(JSON_VALUE), DecimalFormat::Base64));
    });
    group.finish();
}

fn render(c: &mut Criterion) {
    let record = record();
    let key = schemaless::render(DataFormat::String, RecordConverter::NativeJson, b"c-000042")
        .expect("string key renders")
        .into_owned();
    let mut group = c.benchmark_group("render_element");
    group.bench_function("without_headers", |b| {
        b.iter(|| render_element(black_box(&record), Some(&key), Some(JSON_VALUE), false));
    });
    group.bench_function("with_headers", |b| {
        b.iter(|| render_element(black_box(&record), Some(&key), Some(JSON_VALUE), true));
    });
    // The event source mapping's record of the same record: base64 key
    // and value, headers as signed bytes.
    group.bench_function("esm_record", |b| {
        b.iter(|| {
            esm::render_record(
                black_box(&record),
                esm::Part::own(record.key.as_deref()),
                esm::Part::own(Some(JSON_VALUE)),
                &lambda_sink_core::payload::Extras::default(),
            )
        });
    });
    group.finish();
}

struct Rendered(Vec<u8>);

impl Element for Rendered {
    fn element_len(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

fn batching(c: &mut Criterion) {
    let record = record();
    let element = render_element(&record, Some(b"\"c-000042\""), Some(JSON_VALUE), false);
    let limits = BatchLimits {
        max_records: 20,
        max_bytes: 6 * 1024 * 1024,
    };
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("take_and_join_1000_records_by_20", |b| {
        b.iter_batched(
            || {
                (0..1000)
                    .map(|_| Rendered(element.clone()))
                    .collect::<VecDeque<_>>()
            },
            |mut queue| {
                while !queue.is_empty() {
                    let batch = take_batch(&mut queue, limits);
                    black_box(request_body(batch.iter().map(|e| e.0.as_slice())));
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// A ~1 KB JSON value: an order with a card, nested address and items.
fn kilobyte_value() -> Vec<u8> {
    let items: Vec<_> = (0..12)
        .map(|i| serde_json::json!({"sku": format!("sku-{i:05}"), "qty": i % 3 + 1, "price": 9.99 + f64::from(i)}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "id": 12345, "customer": "c-000042", "card": "4111-1111-1111-1111", "status": "live",
        "address": {"street": "1 Main Street", "city": "Springfield", "zip": "12345", "country": "US"},
        "items": items, "note": "leave at the door, ring twice; fragile contents",
    }))
    .expect("json")
}

fn transforms(c: &mut Criterion) {
    let value = kilobyte_value();
    let mut record = record();
    record.value = Some(value.clone());
    let key = br#""c-000042""#;
    // Three transforms: mask a field, add the offset, drop a field.
    let keys: std::collections::BTreeMap<String, String> = [
        ("transforms", "mask,offset,drop"),
        (
            "transforms.mask.type",
            "org.apache.kafka.connect.transforms.MaskField$Value",
        ),
        ("transforms.mask.fields", "card"),
        (
            "transforms.offset.type",
            "org.apache.kafka.connect.transforms.InsertField$Value",
        ),
        ("transforms.offset.offset.field", "offset"),
        (
            "transforms.drop.type",
            "org.apache.kafka.connect.transforms.ReplaceField$Value",
        ),
        ("transforms.drop.exclude", "note"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let chain = Chain::configure(&keys).expect("chain");
    let mut group = c.benchmark_group("transforms_1kb");
    group.throughput(Throughput::Bytes(value.len() as u64));
    group.bench_function("no_chain", |b| {
        b.iter(|| render_element(black_box(&record), Some(key), Some(&value), false));
    });
    // What any chain pays: the decoded JSON parsed into a value and
    // written back (no transform).
    group.bench_function("parse_and_write_only", |b| {
        b.iter(|| {
            let v: serde_json::Value = serde_json::from_slice(black_box(&value)).expect("json");
            black_box(serde_json::to_vec(&v).expect("json"))
        });
    });
    group.bench_function("three_transforms", |b| {
        b.iter(|| {
            transform::render(
                &chain,
                black_box(&record),
                Some(key),
                Some(&value),
                transform::Rendering::default(),
            )
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    schemaless,
    registry_formats,
    render,
    batching,
    transforms
);
criterion_main!(benches);
