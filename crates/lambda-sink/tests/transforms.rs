//! Single Message Transforms end to end, against the real broker and the
//! test function: a connector file carrying a chain as Confluent's users
//! write one, and `validate` on a file with a broken chain.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::Produce;
use lambda_sink_testkit::world;
use lambda_sink_testkit::{metric, scrape, unique, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

/// The chain: drop tombstones (Filter + RecordIsTombstone), mask `card`,
/// add the offset, exclude test records with Confluent's JSON Path Filter.
const CHAIN: &[(&str, &str)] = &[
    ("transforms", "dropTombstones,mask,addOffset,noTests"),
    (
        "transforms.dropTombstones.type",
        "org.apache.kafka.connect.transforms.Filter",
    ),
    ("transforms.dropTombstones.predicate", "isTombstone"),
    (
        "transforms.mask.type",
        "org.apache.kafka.connect.transforms.MaskField$Value",
    ),
    ("transforms.mask.fields", "card"),
    (
        "transforms.addOffset.type",
        "org.apache.kafka.connect.transforms.InsertField$Value",
    ),
    ("transforms.addOffset.offset.field", "offset"),
    (
        "transforms.noTests.type",
        "io.confluent.connect.transforms.Filter$Value",
    ),
    (
        "transforms.noTests.filter.condition",
        "$[?(@.status == \"test\")]",
    ),
    ("transforms.noTests.filter.type", "exclude"),
    ("predicates", "isTombstone"),
    (
        "predicates.isTombstone.type",
        "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    ),
];

#[tokio::test]
async fn a_chain_transforms_filters_and_dead_letters_records() {
    let w = world!("smt")
        .partitions(1)
        .function_timeout(30)
        .create()
        .await;
    let (s, topic, function) = (&w.s, &w.topic, &w.function);
    let value = |v: Value| Produce::text(0, "k", &v.to_string());
    let records = vec![
        value(json!({"id": 1, "card": "4111-1111", "status": "live"})),
        Produce {
            value: None,
            ..Produce::text(0, "k", "")
        }, // a tombstone: dropped
        value(json!({"id": 2, "card": "5500", "status": "test"})), // excluded by the JSON Path filter
        value(json!({"id": 3, "card": "x", "status": "live"})),
        value(json!("not an object")), // MaskField needs a map: TRANSFORMATION error
        value(json!({"id": 5, "status": "live"})), // no card: MaskField adds it as null
    ];
    s.produce(topic, &records).await.unwrap();

    let name = unique("smt-sink");
    let mut extra: Vec<(&str, &str)> = vec![
        ("input.data.format", "JSON"),
        ("http.listener", "127.0.0.1:0"),
    ];
    extra.extend_from_slice(CHAIN);
    let config = s.connector_config(&name, topic, function, &extra);
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let url = c.http_url().await;
    s.wait_committed_to_end(&format!("connect-{name}"), topic, 1, MINUTE)
        .await;

    // Exactly the transformed records, in order.
    let seen = wait_until(MINUTE, "three records at the function", || async {
        let seen = s.function_records(function).await.unwrap();
        (seen.len() >= 3).then_some(seen)
    })
    .await;
    let got: Vec<(i64, Value)> = seen
        .iter()
        .map(|r| (r["offset"].as_i64().unwrap(), r["value"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                0,
                json!({"id": 1, "card": "", "status": "live", "offset": 0})
            ),
            (
                3,
                json!({"id": 3, "card": "", "status": "live", "offset": 3})
            ),
            (
                5,
                json!({"id": 5, "status": "live", "card": null, "offset": 5})
            ),
        ]
    );

    // The filtered ones are committed (above) and counted.
    let metrics = scrape(&url).await.unwrap();
    assert_eq!(
        metric(
            &metrics,
            "lambda_sink_records_resolved_total{outcome=\"filtered\"}"
        ),
        Some(2.0),
        "{metrics}"
    );
    c.stop_cleanly().await;

    // The record that broke MaskField is in the DLQ, stage TRANSFORMATION.
    let dlq = s
        .read_topic(&format!("dlq-{name}"), 1, MINUTE)
        .await
        .unwrap();
    assert_eq!(dlq.len(), 1);
    let d = &dlq[0];
    assert_eq!(d.header("__connect.errors.offset"), "4");
    assert_eq!(d.header("__connect.errors.stage"), "TRANSFORMATION");
    assert_eq!(
        d.header("__connect.errors.class.name"),
        "org.apache.kafka.connect.transforms.MaskField$Value"
    );
    assert_eq!(
        d.header("__connect.errors.exception.class.name"),
        "org.apache.kafka.connect.errors.DataException"
    );
    assert!(
        d.header("__connect.errors.exception.message")
            .contains("Only Map objects supported in absence of schema for [mask fields], found: java.lang.String"),
        "{}",
        d.header("__connect.errors.exception.message")
    );
    assert_eq!(d.text(), "\"not an object\"", "the original bytes");
}

/// Confluent's default record converter renders the record the transforms
/// made: they see the JSON value, the function gets Java's `Map` text.
#[tokio::test]
async fn the_default_record_converter_renders_the_transformed_record() {
    let w = world!("smt-java")
        .partitions(1)
        .function_timeout(30)
        .create()
        .await;
    let (s, topic, function) = (&w.s, &w.topic, &w.function);
    let v = json!({"id": 1, "card": "4111-1111"}).to_string();
    s.produce(topic, &[Produce::text(0, "k", &v)])
        .await
        .unwrap();
    let name = unique("smt-java-sink");
    let config = s.connector_config(
        &name,
        topic,
        function,
        &[
            ("input.data.format", "JSON"),
            ("record.converter.class", "JsonKeyValueConverter"),
            ("transforms", "mask"),
            ("transforms.mask.type", "MaskField$Value"),
            ("transforms.mask.fields", "card"),
        ],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let seen = wait_until(MINUTE, "the record at the function", || async {
        let seen = s.function_records(function).await.unwrap();
        (!seen.is_empty()).then_some(seen)
    })
    .await;
    c.stop_cleanly().await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["value"], json!("{id=1, card=}"));
}

#[test]
fn validate_reports_a_broken_chain_with_the_keys_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.properties");
    std::fs::write(
        &path,
        "name=smt\ntopics=t\nkafka.bootstrap.servers=127.0.0.1:9092\n\
         aws.lambda.function.name=f\naws.lambda.region=us-east-1\n\
         transforms=mask,tomb\n\
         transforms.mask.type=org.apache.kafka.connect.transforms.MaskFeild$Value\n\
         transforms.tomb.type=Filter\ntransforms.tomb.negate=true\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "validate",
            "--offline",
            "--config",
            &path.display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "error: transforms.mask.type: \"org.apache.kafka.connect.transforms.MaskFeild$Value\" is not a supported class; did you mean \"org.apache.kafka.connect.transforms.MaskField$Value\"?\n\
         error: transforms.tomb.negate: Config 'transforms.tomb.negate' was provided but there is no config 'transforms.tomb.predicate' defining a predicate to be negated.\n\
         2 errors: the configuration is not valid\n"
    );
}
