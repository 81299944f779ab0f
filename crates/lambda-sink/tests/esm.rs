//! `aws.lambda.payload.format=esm` end to end, against the real broker and
//! a function written for AWS's Kafka event source mapping: the test
//! function's ESM handler deserialises the event into `aws_lambda_events`'
//! `KafkaEvent` (it fails the invocation if it cannot) and answers with a
//! partial batch response.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::path::Path;
use std::time::Duration;

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::Produce;
use lambda_sink_testkit::{Services, metric, unique, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_function_written_for_the_event_source_mapping_runs_unchanged() {
    let s = Services::from_env();
    let topic = unique("esm");
    s.create_topic(&topic, 1).await.unwrap();
    let function = unique("esm-fn");
    s.deploy_test_function(&function, 30, &[]).await.unwrap();
    // Six records in one batch; the function fails offset 3 (and, for the
    // partition's order, 4 and 5 fail with it).
    let mut records: Vec<Produce> = (0..6)
        .map(|i| {
            let value = if i == 3 {
                json!({"i": i, "fail_item": true})
            } else {
                json!({"i": i})
            };
            Produce::text(0, &format!("k{i}"), &value.to_string())
        })
        .collect();
    records[0]
        .headers
        .push(("accent".into(), "\u{eb}".as_bytes().to_vec()));
    records[1].key = None;
    s.produce(&topic, &records).await.unwrap();

    let name = unique("esm-sink");
    let config = s.connector_config(
        &name,
        &topic,
        &function,
        &[
            ("input.data.format", "JSON"),
            ("aws.lambda.payload.format", "esm"),
            ("aws.lambda.batch.size", "6"),
            ("aws.lambda.batch.linger.ms", "10000"),
            ("behavior.on.error", "log"),
            ("http.listener", "127.0.0.1:0"),
        ],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let url = c.http_url().await;
    s.wait_committed_to_end(&format!("connect-{name}"), &topic, 1, MINUTE)
        .await;

    // The function read every record through KafkaEvent, in one event.
    let seen = wait_until(MINUTE, "six records at the function", || async {
        let seen = s.function_records(&function).await.unwrap();
        (seen.len() >= 6).then_some(seen)
    })
    .await;
    assert_eq!(seen.len(), 6, "{seen:?}");
    let first = &seen[0];
    assert_eq!(first["shape"], "esm");
    assert_eq!(first["event_source"], "SelfManagedKafka");
    assert_eq!(first["partition_key"], format!("{topic}-0"));
    assert_eq!(first["topic"], topic);
    assert_eq!(first["timestamp_type"], "CREATE_TIME");
    assert!(first["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(first["key"], "k0");
    assert_eq!(first["value"], json!({"i": 0}));
    assert_eq!(
        first["headers"],
        json!([{"key": "accent", "value": "\u{eb}"}])
    );
    assert_eq!(seen[1]["key"], Value::Null, "a null key is left out");
    let offsets: Vec<i64> = seen.iter().map(|r| r["offset"].as_i64().unwrap()).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    let requests: std::collections::BTreeSet<&str> = seen
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    assert_eq!(requests.len(), 1, "one invocation");

    // Only the reported record and those after it failed; the rest succeeded.
    let successes = s
        .read_topic(&format!("success-{name}"), 3, MINUTE)
        .await
        .unwrap();
    let errors = s
        .read_topic(&format!("error-{name}"), 3, MINUTE)
        .await
        .unwrap();
    let at = |rs: &[lambda_sink_testkit::kafka::Record]| -> Vec<String> {
        rs.iter()
            .map(|r| r.header("input_record_offset").to_string())
            .collect()
    };
    assert_eq!(at(&successes), ["0", "1", "2"]);
    assert_eq!(at(&errors), ["3", "4", "5"]);
    assert!(
        errors
            .iter()
            .all(|r| r.header("error_type") == "BatchItemFailure")
    );
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &metrics,
            "lambda_sink_records_resolved_total{outcome=\"function_error\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    assert_eq!(
        metric(
            &metrics,
            "lambda_sink_records_resolved_total{outcome=\"success\"}"
        ),
        Some(3.0),
        "{metrics}"
    );
    c.stop_cleanly().await;
}
