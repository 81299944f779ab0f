//! Records written by Confluent's own serializers (confluent-kafka, Python)
//! decode to the JSON SPEC §3 prescribes. The fixtures (bytes, the schemas
//! the test registry assigned, expected JSON computed independently in
//! Python) are made by `scripts/tools/make_fixtures.py`; see
//! `tests/fixtures/README.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::collections::BTreeMap;

use lambda_sink_core::codec::DecimalFormat;
use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::codec::wire::{self, SchemaRef};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Fixture {
    schemas: BTreeMap<String, SchemaDef>,
    subjects: BTreeMap<String, BTreeMap<String, u32>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct SchemaDef {
    #[serde(rename = "schemaType")]
    schema_type: String,
    schema: String,
    references: Vec<Reference>,
}

#[derive(Deserialize)]
struct Reference {
    name: String,
    subject: String,
    version: i64,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    field: String,
    hex: String,
    decimal: String,
    expected: Value,
}

fn load(name: &str) -> Fixture {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every reference of schema `id`, transitively, dependencies first.
fn references<'a>(fx: &'a Fixture, id: u32, out: &mut Vec<(&'a str, &'a str)>) {
    for r in &fx.schemas[&id.to_string()].references {
        let ref_id = fx.subjects[&r.subject][&r.version.to_string()];
        references(fx, ref_id, out);
        let text = fx.schemas[&ref_id.to_string()].schema.as_str();
        if !out.iter().any(|(n, _)| *n == r.name) {
            out.push((r.name.as_str(), text));
        }
    }
}

fn compile(fx: &Fixture, id: u32) -> Compiled {
    let def = &fx.schemas[&id.to_string()];
    let mut refs = Vec::new();
    references(fx, id, &mut refs);
    let ty = SchemaType::from_registry(Some(&def.schema_type)).unwrap();
    Compiled::compile(ty, &def.schema, &refs).unwrap_or_else(|e| panic!("schema {id}: {e}"))
}

/// JSON equality where numbers compare by value (Python and Rust print some
/// floats differently: `1e+300` / `1e300`), everything else exactly.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.to_string() == y.to_string()
                || x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn check(name: &str, decode: impl Fn(&Fixture, &Case) -> Value) {
    let fx = load(name);
    assert!(!fx.cases.is_empty());
    let mut fields = std::collections::BTreeSet::new();
    for case in &fx.cases {
        let actual = decode(&fx, case);
        assert!(
            same(&actual, &case.expected),
            "{name} / {} ({}):\n  actual   {actual}\n  expected {}",
            case.name,
            case.field,
            case.expected
        );
        fields.insert(case.field.as_str());
    }
    assert_eq!(fields.len(), 2, "both keys and values are covered");
}

fn decode_with_registry(fx: &Fixture, case: &Case) -> Value {
    let bytes = hex(&case.hex);
    let framed = wire::parse(&bytes).unwrap();
    let SchemaRef::Id(id) = framed.schema else {
        panic!("Confluent writes ids")
    };
    let decimal = if case.decimal == "NUMERIC" {
        DecimalFormat::Numeric
    } else {
        DecimalFormat::Base64
    };
    let json = compile(fx, id)
        .decode(framed.payload, decimal)
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    serde_json::from_slice(&json).unwrap()
}

#[test]
fn avro_every_type_for_keys_and_values() {
    check("avro", decode_with_registry);
}

#[test]
fn protobuf_every_type_for_keys_and_values() {
    check("protobuf", decode_with_registry);
}

#[test]
fn json_schema_documents_pass_through_unchanged() {
    check("json_schema", decode_with_registry);
    // The exact bytes: numbers and key order as written.
    let fx = load("json_schema");
    let bytes = hex(&fx.cases[0].hex);
    let framed = wire::parse(&bytes).unwrap();
    let out = Compiled::Json
        .decode(framed.payload, DecimalFormat::Base64)
        .unwrap();
    assert_eq!(out, framed.payload);
}

/// The same records, with the schemas as `.proto` text (what Confluent's
/// registry serves) instead of the serialized descriptors Python registered.
#[test]
fn protobuf_from_proto_text_decodes_the_same() {
    let dir = format!("{}/tests/fixtures/proto", env!("CARGO_MANIFEST_DIR"));
    let common = std::fs::read_to_string(format!("{dir}/acme/common.proto")).unwrap();
    let order = std::fs::read_to_string(format!("{dir}/order.proto")).unwrap();
    let text = Compiled::compile(
        SchemaType::Protobuf,
        &order,
        &[("acme/common.proto", &common)],
    )
    .unwrap();
    check("protobuf", |_, case| {
        let bytes = hex(&case.hex);
        let framed = wire::parse(&bytes).unwrap();
        let json = text.decode(framed.payload, DecimalFormat::Base64).unwrap();
        serde_json::from_slice(&json).unwrap()
    });
}

#[test]
fn exact_number_text_for_decimals_and_floats() {
    let fx = load("avro");
    let case = fx
        .cases
        .iter()
        .find(|c| c.name == "every type (NUMERIC)")
        .unwrap();
    let text = String::from_utf8({
        let bytes = hex(&case.hex);
        let framed = wire::parse(&bytes).unwrap();
        let SchemaRef::Id(id) = framed.schema else {
            unreachable!()
        };
        compile(&fx, id)
            .decode(framed.payload, DecimalFormat::Numeric)
            .unwrap()
    })
    .unwrap();
    assert!(text.contains("\"dec\":123.45,"), "{text}");
    assert!(text.contains("\"dec_neg\":-1.00,"), "scale kept: {text}");
    assert!(text.contains("\"dec_fixed\":12.345,"), "{text}");
    assert!(text.contains("\"f\":0.1,"), "shortest float: {text}");
    assert!(
        text.contains("\"l\":9007199254740993,"),
        "exact long: {text}"
    );
}
