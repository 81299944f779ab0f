//! Schema Registry formats end to end: records written by Confluent's own
//! serializers (Python confluent-kafka) to the real broker through the real
//! registry (Apicurio Registry's Confluent-compatible API), decoded by
//! lambda-sink, received by the real function as the JSON SPEC §3
//! prescribes; undecodable records in the DLQ with advice for what Apicurio
//! users meet; a wrong registry URL refused at start.
//!
//! The in-repo test registry serves only what no registry here can: injected
//! outages and request counts, and Confluent's own behaviour where Apicurio
//! has none (schema GUIDs, contexts with their own id spaces).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use lambda_sink_testkit::Services;
use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::{Produce, Record};
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use serde_json::{Value, json};
use tokio::process::Command;

const MINUTE: Duration = Duration::from_secs(60);

/// A record Confluent's serializer produced, and what it must render to.
#[derive(serde::Deserialize)]
struct Expected {
    partition: i64,
    offset: i64,
    key: Value,
    value: Value,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/tools/produce_formats.py` (asynchronously: a test's
/// in-process registry must keep serving meanwhile).
async fn produce_with_confluent(
    s: &Services,
    registry: &str,
    topic: &str,
    format: &str,
    count: usize,
    partitions: i32,
    extra: &[&str],
) -> Vec<Expected> {
    let python = std::env::var("LAMBDA_SINK_PYTHON")
        .expect("LAMBDA_SINK_PYTHON (set by scripts/services.sh env)");
    let mut args: Vec<String> = vec![
        repo()
            .join("scripts/tools/produce_formats.py")
            .display()
            .to_string(),
        s.bootstrap.clone(),
        registry.to_string(),
        topic.to_string(),
        format.to_string(),
        count.to_string(),
        partitions.to_string(),
    ];
    args.extend(extra.iter().map(ToString::to_string));
    let descriptors = tempfile::NamedTempFile::new().unwrap();
    if format == "PROTOBUF" {
        let include = repo().join("crates/lambda-sink-core/tests/fixtures/proto");
        let set = lambda_sink_testkit::proto_descriptor_set(&include, &["order.proto"]).unwrap();
        std::fs::write(descriptors.path(), set).unwrap();
        args.push("--descriptors".into());
        args.push(descriptors.path().display().to_string());
    }
    let out = Command::new(python).args(&args).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// JSON equality where numbers compare by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.to_string() == y.to_string() || x.as_f64().is_some() && x.as_f64() == y.as_f64()
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

/// Starts lambda-sink reading through the registry at `registry`.
fn start(w: &World, registry: &str, extra: &[(&str, &str)]) -> Connector {
    let mut config = w.config(extra);
    config["schema.registry.url"] = json!(registry);
    w.start_with(&config)
}

/// Waits until everything is committed, then stops cleanly.
async fn finish(w: &World, mut c: Connector) {
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
}

async fn format_reaches_the_function(format: &str) {
    let w = world!(&format!("fmt-{}", format.to_lowercase().replace('_', "")))
        .create()
        .await;
    let expected =
        produce_with_confluent(&w.s, &w.s.registry_url, &w.topic, format, 20, 2, &[]).await;
    let c = start(
        &w,
        &w.s.registry_url,
        &[("input.data.format", format), ("input.key.format", format)],
    );
    finish(&w, c).await;
    let received = w.received().await;
    assert_eq!(received.len(), expected.len(), "every record once");
    for e in &expected {
        let got = &received[&(e.partition, e.offset)];
        assert!(
            same(&got["value"], &e.value),
            "{format} value\n  got      {}\n  expected {}",
            got["value"],
            e.value
        );
        assert!(
            same(&got["key"], &e.key),
            "{format} key\n  got      {}\n  expected {}",
            got["key"],
            e.key
        );
    }
}

/// ESM's schema-registry event (EventRecordFormat=JSON): the decoded record
/// as base64 JSON, with `valueSchemaMetadata` naming the format and schema.
#[tokio::test]
async fn avro_records_reach_an_esm_function_with_their_schema_metadata() {
    let w = world!("fmt-esm-avro").create().await;
    let expected =
        produce_with_confluent(&w.s, &w.s.registry_url, &w.topic, "AVRO", 10, 2, &[]).await;
    let c = start(
        &w,
        &w.s.registry_url,
        &[
            ("input.data.format", "AVRO"),
            ("aws.lambda.payload.format", "esm"),
        ],
    );
    finish(&w, c).await;
    let received = w.received().await;
    assert_eq!(received.len(), expected.len(), "every record once");
    for e in &expected {
        let got = &received[&(e.partition, e.offset)];
        assert_eq!(got["shape"], "esm");
        assert!(
            same(&got["value"], &e.value),
            "{} vs {}",
            got["value"],
            e.value
        );
        let meta = &got["value_schema_metadata"];
        assert_eq!(meta["dataFormat"], "AVRO", "{got}");
        assert!(
            meta["schemaId"]
                .as_str()
                .is_some_and(|id| id.parse::<u32>().is_ok()),
            "{meta}"
        );
        // The key is STRING here: its own bytes, no metadata.
        assert_eq!(got["key_schema_metadata"], Value::Null);
    }
}

/// ESM's EventRecordFormat=SOURCE: the record's own bytes without the
/// Confluent wire-format header, with the schema metadata.
#[tokio::test]
async fn avro_records_reach_an_esm_function_in_their_source_form() {
    let w = world!("fmt-esm-source").create().await;
    let expected =
        produce_with_confluent(&w.s, &w.s.registry_url, &w.topic, "AVRO", 4, 2, &[]).await;
    let c = start(
        &w,
        &w.s.registry_url,
        &[
            ("input.data.format", "AVRO"),
            ("aws.lambda.payload.format", "esm"),
            ("aws.lambda.esm.record.format", "source"),
        ],
    );
    finish(&w, c).await;
    let raw: BTreeMap<(i64, i64), Vec<u8>> =
        w.s.read_topic(&w.topic, expected.len(), MINUTE)
            .await
            .unwrap()
            .into_iter()
            .map(|r| ((i64::from(r.partition), r.offset), r.value.unwrap()))
            .collect();
    let received = w.received().await;
    assert_eq!(received.len(), expected.len(), "every record once");
    let b64 = base64::engine::general_purpose::STANDARD;
    for (position, got) in &received {
        let sent = b64.decode(got["value_base64"].as_str().unwrap()).unwrap();
        assert_eq!(
            sent,
            raw[position][5..],
            "the Avro bytes after the 5-byte header"
        );
        assert_eq!(got["value_schema_metadata"]["dataFormat"], "AVRO");
    }
}

#[tokio::test]
async fn avro_records_reach_the_function_as_json() {
    format_reaches_the_function("AVRO").await;
}

#[tokio::test]
async fn protobuf_records_reach_the_function_as_json() {
    format_reaches_the_function("PROTOBUF").await;
}

#[tokio::test]
async fn json_schema_records_reach_the_function_as_json() {
    format_reaches_the_function("JSON_SR").await;
}

/// Contexts with their own id spaces are Confluent's (Apicurio and Karapace
/// take `:.team:` as part of a subject's name and keep one id space, where
/// the context is harmless); the in-repo registry models Confluent's.
#[tokio::test]
async fn a_schema_context_is_used_for_lookups() {
    let w = world!("fmt-ctx").create().await;
    let registry = lambda_sink_testkit::registry::start().await.unwrap();
    // Schemas registered in context .team: their ids mean nothing in the
    // default context of this (private) registry.
    let expected = produce_with_confluent(
        &w.s,
        &registry,
        &w.topic,
        "AVRO",
        6,
        2,
        &["--context", ".team"],
    )
    .await;
    let c = start(
        &w,
        &registry,
        &[
            ("input.data.format", "AVRO"),
            ("schema.context.name", ".team"),
        ],
    );
    finish(&w, c).await;
    let received = w.received().await;
    for e in &expected {
        assert!(same(&received[&(e.partition, e.offset)]["value"], &e.value));
    }
}

#[tokio::test]
async fn undecodable_records_go_to_the_dlq_and_valid_ones_keep_their_order() {
    let w = world!("fmt-bad").create().await;
    let first = produce_with_confluent(&w.s, &w.s.registry_url, &w.topic, "AVRO", 6, 2, &[]).await;
    // A valid record's header, to build a schema-mismatched one from.
    let sample = w.s.read_topic(&w.topic, 1, MINUTE).await.unwrap();
    let header = sample[0].value.as_deref().unwrap()[..5].to_vec();
    let id = u32::from_be_bytes(header[1..5].try_into().unwrap());
    let apicurio_headers = vec![(
        "apicurio.value.globalId".to_string(),
        u64::from(id).to_be_bytes().to_vec(),
    )];
    // (what, bytes, headers, the reason must say)
    type Bad<'a> = (&'a str, Vec<u8>, Vec<(String, Vec<u8>)>, &'a str);
    let bad: Vec<Bad<'_>> = vec![
        (
            "wrong magic byte",
            br#"{"id": 1}"#.to_vec(),
            vec![],
            "unknown magic byte 0x7b",
        ),
        (
            "unknown schema id",
            vec![0, 0x7f, 0xff, 0xff, 0xfe, 0x02],
            vec![],
            "does not know schema id 2147483646",
        ),
        (
            "truncated",
            vec![0, 0, 0],
            vec![],
            "too short for a schema id",
        ),
        (
            "schema mismatch",
            [header.clone(), vec![0xff, 0xff, 0xff]].concat(),
            vec![],
            "not valid AVRO",
        ),
        (
            "trailing bytes",
            [sample[0].value.as_deref().unwrap().to_vec(), vec![0, 0]].concat(),
            vec![],
            "left after the Avro datum",
        ),
        // What Apicurio Registry's own serializers write unless told to
        // write Confluent's format: the id in headers, or an 8-byte id.
        (
            "apicurio id in headers",
            sample[0].value.as_deref().unwrap()[5..].to_vec(),
            apicurio_headers,
            "apicurio.registry.headers.enabled=false",
        ),
        (
            "8-byte schema id",
            [
                vec![0, 0, 0, 0, 0],
                header[1..5].to_vec(),
                sample[0].value.as_deref().unwrap()[5..].to_vec(),
            ]
            .concat(),
            vec![],
            "apicurio.registry.as-confluent=true",
        ),
        // A GUID, which Apicurio does not serve.
        (
            "schema guid",
            [
                vec![1u8],
                vec![0xab; 16],
                sample[0].value.as_deref().unwrap()[5..].to_vec(),
            ]
            .concat(),
            vec![],
            "only registries serving /schemas/guids can resolve",
        ),
    ];
    let mut records = Vec::new();
    for p in 0..2 {
        for (name, bytes, headers, _) in &bad {
            records.push(Produce {
                value: Some(bytes.clone()),
                headers: headers.clone(),
                ..Produce::text(p, name, "")
            });
        }
    }
    let bad_positions = w.s.produce(&w.topic, &records).await.unwrap();
    let second = produce_with_confluent(&w.s, &w.s.registry_url, &w.topic, "AVRO", 6, 2, &[]).await;
    let c = start(
        &w,
        &w.s.registry_url,
        &[("input.data.format", "AVRO"), ("input.key.format", "BYTES")],
    );
    finish(&w, c).await;

    // Every valid record reached the function, in order per partition.
    let received = w.received().await;
    let valid: Vec<&Expected> = first.iter().chain(&second).collect();
    assert_eq!(received.len(), valid.len());
    for e in &valid {
        assert!(same(&received[&(e.partition, e.offset)]["value"], &e.value));
    }
    let seen = w.s.function_records(&w.function).await.unwrap();
    for p in 0..2 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|r| r["partition"] == p)
            .map(|r| r["offset"].as_i64().unwrap())
            .collect();
        assert!(
            offsets.windows(2).all(|o| o[0] < o[1]),
            "partition {p} in order: {offsets:?}"
        );
    }
    // Every bad one is in the DLQ, unchanged, with its context.
    let dlq: Vec<Record> =
        w.s.read_topic(&format!("dlq-{}", w.name), bad_positions.len(), MINUTE)
            .await
            .unwrap();
    assert_eq!(dlq.len(), bad_positions.len());
    for d in &dlq {
        let position: (i32, i64) = (
            d.header("__connect.errors.partition").parse().unwrap(),
            d.header("__connect.errors.offset").parse().unwrap(),
        );
        let index = bad_positions
            .iter()
            .position(|b| *b == position)
            .expect("a bad record");
        let (name, bytes, _, reason) = &bad[index % bad.len()];
        assert_eq!(
            d.value.as_deref(),
            Some(bytes.as_slice()),
            "{name}: original bytes"
        );
        assert_eq!(
            d.key.as_deref(),
            Some(name.as_bytes()),
            "{name}: original key"
        );
        assert_eq!(
            d.header("__connect.errors.stage"),
            "VALUE_CONVERTER",
            "{name}"
        );
        assert_eq!(
            d.header("__connect.errors.class.name"),
            "io.confluent.connect.avro.AvroConverter"
        );
        let message = d.header("__connect.errors.exception.message");
        assert!(
            message.contains(reason),
            "{name}: {reason:?} in {message:?}"
        );
    }
}

/// Schema GUIDs (magic byte 1) are Confluent's; Apicurio and Karapace serve
/// none, so the in-repo registry, which models Confluent's, stands in.
#[tokio::test]
async fn guid_framed_records_are_decoded() {
    let w = world!("fmt-guid").create().await;
    let registry = lambda_sink_testkit::registry::start().await.unwrap();
    let expected = produce_with_confluent(&w.s, &registry, &w.topic, "AVRO", 1, 1, &[]).await;
    let original = w.s.read_topic(&w.topic, 1, MINUTE).await.unwrap().remove(0);
    let bytes = original.value.unwrap();
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let schema: Value = reqwest::get(format!("{registry}/schemas/ids/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guid = schema["guid"].as_str().unwrap().replace('-', "");
    let mut framed = vec![1u8];
    framed.extend((0..16).map(|i| u8::from_str_radix(&guid[2 * i..2 * i + 2], 16).unwrap()));
    framed.extend_from_slice(&bytes[5..]);
    let positions =
        w.s.produce(
            &w.topic,
            &[Produce {
                value: Some(framed),
                ..Produce::text(0, "g", "")
            }],
        )
        .await
        .unwrap();
    let c = start(
        &w,
        &registry,
        &[("input.data.format", "AVRO"), ("input.key.format", "BYTES")],
    );
    finish(&w, c).await;
    let received = w.received().await;
    let (p, o) = positions[0];
    assert!(
        same(&received[&(i64::from(p), o)]["value"], &expected[0].value),
        "the GUID-framed copy decodes like the original"
    );
}

#[tokio::test]
async fn registry_unreachable_at_start_is_a_clear_error() {
    let w = world!("fmt-down").create().await;
    let mut c = start(&w, "http://127.0.0.1:1", &[("input.data.format", "AVRO")]);
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    let log = c.log();
    assert!(
        log.contains("Schema Registry check failed; fix schema.registry.url (http://127.0.0.1:1)"),
        "{log}"
    );
    assert!(log.contains("cannot reach the Schema Registry"), "{log}");
}

#[tokio::test]
async fn a_url_that_is_no_registry_api_is_refused_at_start() {
    let w = world!("fmt-nopath").create().await;
    // Apicurio's address without /apis/ccompat/v7 (or, against another
    // registry, a path under it where there is no API).
    let (url, hint) = match w.s.registry_url.strip_suffix("/apis/ccompat/v7") {
        Some(root) => (
            root.to_string(),
            format!(
                "answers at {}: use that as schema.registry.url",
                w.s.registry_url
            ),
        ),
        None => (
            format!("{}/no-api-here", w.s.registry_url),
            "check the URL".to_string(),
        ),
    };
    let mut c = start(&w, &url, &[("input.data.format", "AVRO")]);
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    let log = c.log();
    assert!(
        log.contains(&format!("no Schema Registry API at {url}")),
        "{log}"
    );
    assert!(log.contains(&hint), "{hint:?} in {log}");
    assert_eq!(w.received().await.len(), 0, "nothing was consumed");
}

#[tokio::test]
async fn a_registry_outage_mid_run_delays_records_without_loss() {
    let w = world!("fmt-outage").create().await;
    let registry = lambda_sink_testkit::registry::start().await.unwrap();
    let expected = produce_with_confluent(&w.s, &registry, &w.topic, "JSON_SR", 10, 2, &[]).await;
    // The next requests fail with 503: the start-up check and the first
    // schema lookups.
    reqwest::Client::new()
        .post(format!("{registry}/_test/fail"))
        .json(&json!({"count": 6, "status": 503}))
        .send()
        .await
        .unwrap();
    let c = start(&w, &registry, &[("input.data.format", "JSON_SR")]);
    let log_before = {
        w.s.wait_committed_to_end(&format!("connect-{}", w.name), &w.topic, 2, MINUTE)
            .await;
        c.log()
    };
    finish(&w, c).await;
    assert!(
        log_before.contains("Schema Registry unavailable; the record waits and is retried"),
        "{log_before}"
    );
    let received = w.received().await;
    assert_eq!(
        received.len(),
        expected.len(),
        "no record lost or dead-lettered"
    );
    assert_eq!(
        w.s.end_offsets(&format!("dlq-{}", w.name), 1)
            .await
            .unwrap_or_default(),
        vec![0]
    );
}

#[tokio::test]
async fn schemas_are_fetched_once_and_unknown_ids_are_remembered() {
    let w = world!("fmt-cache").create().await;
    let registry = lambda_sink_testkit::registry::start().await.unwrap();
    produce_with_confluent(&w.s, &registry, &w.topic, "AVRO", 20, 2, &[]).await;
    let unknown: Vec<Produce> = (0..6)
        .map(|i| Produce {
            value: Some(vec![0, 0x7f, 0, 0, 9, 2]),
            ..Produce::text(i % 2, "u", "")
        })
        .collect();
    w.s.produce(&w.topic, &unknown).await.unwrap();
    let c = start(
        &w,
        &registry,
        &[("input.data.format", "AVRO"), ("input.key.format", "BYTES")],
    );
    finish(&w, c).await;
    let stats: Value = reqwest::get(format!("{registry}/_test/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let by_id: BTreeMap<&str, u64> = stats["requests"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/schemas/ids/"))
        .map(|(path, n)| (path.as_str(), n.as_u64().unwrap()))
        .collect();
    assert_eq!(
        by_id.len(),
        2,
        "one known and one unknown schema: {by_id:?}"
    );
    assert!(
        by_id.values().all(|n| *n == 1),
        "each fetched once for 20 and 6 records across 2 partitions: {by_id:?}"
    );
    assert_eq!(w.received().await.len(), 20);
}
