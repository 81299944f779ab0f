//! AWS's Kafka event source mapping behaviours end to end, against the real
//! broker and the test function: `aws.lambda.payload.format=esm` with a
//! function written for ESM (the test function's ESM handler deserialises
//! the event into `aws_lambda_events`' `KafkaEvent`, failing the
//! invocation if it cannot, and answers with a partial batch response),
//! and ESM's failure settings (bisect, retries, maximum record age), each
//! with a function that fails on exactly one record.

use std::time::Duration;

use lambda_sink_testkit::kafka::{Produce, Record};
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use lambda_sink_testkit::{metric, scrape};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_function_written_for_the_event_source_mapping_runs_unchanged() {
    // Six records in one batch; the function fails offset 3 (and, for the
    // partition's order, 4 and 5 fail with it).
    let mut records: Vec<Produce> = (0..6)
        .map(|i| {
            let value = json!({"i": i, "fail_item": i == 3});
            Produce::text(0, &format!("k{i}"), &value.to_string())
        })
        .collect();
    records[0]
        .headers
        .push(("accent".into(), "\u{eb}".as_bytes().to_vec()));
    records[1].key = None;
    let run = Run::new("esm", records, &[("aws.lambda.payload.format", "esm")]).await;

    // The function read every record through KafkaEvent, in one event.
    let seen = run.seen().await;
    assert_eq!(seen.len(), 6, "{seen:?}");
    let first = &seen[0];
    let topic = first["topic"].as_str().unwrap();
    assert_eq!(first["shape"], "esm");
    assert_eq!(first["event_source"], "SelfManagedKafka");
    assert_eq!(first["partition_key"], format!("{topic}-0"));
    assert_eq!(first["timestamp_type"], "CREATE_TIME");
    assert!(first["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(first["key"], "k0");
    assert_eq!(first["value"], json!({"i": 0, "fail_item": false}));
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
    let ok: Vec<i64> = run
        .outcomes("success", 3)
        .await
        .iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(ok, [0, 1, 2]);
    let failed = run.outcomes("error", 3).await;
    assert_eq!(
        failed,
        [3, 4, 5].map(|o| (o, "BatchItemFailure".to_string()))
    );
    for (outcome, count) in [("function_error", 3.0), ("success", 3.0)] {
        let name = format!("lambda_sink_records_resolved_total{{outcome=\"{outcome}\"}}");
        assert_eq!(metric(&run.metrics, &name), Some(count), "{}", run.metrics);
    }
}

#[tokio::test]
async fn any_bytes_reach_an_esm_function_without_an_input_format() {
    // docs/esm.md's example sets no input.data.format: in esm format the
    // default is BYTES, so text and arbitrary bytes are delivered base64 in
    // the event, as the event source mapping delivers them.
    let w = world!("esm-bytes").partitions(1).create().await;
    let mut records = vec![
        Produce::text(0, "k0", "plain text"),
        Produce::text(0, "k1", ""),
        Produce::text(0, "k2", r#"{"i":2}"#),
    ];
    records[1].value = Some(vec![0xff, 0x00, 0x80]);
    w.s.produce(&w.topic, &records).await.unwrap();
    let mut c = w.start(&[
        ("aws.lambda.payload.format", "esm"),
        ("aws.lambda.batch.size", "3"),
        ("aws.lambda.batch.linger.ms", "10000"),
    ]);
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    let mut seen = w.function_records().await;
    seen.sort_by_key(|r| r["offset"].as_i64());
    let delivered: Vec<&str> = seen
        .iter()
        .map(|r| r["value_base64"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(delivered, ["cGxhaW4gdGV4dA==", "/wCA", "eyJpIjoyfQ=="]);
    assert!(
        !c.log().contains("WARN") && !c.log().contains("dead letter"),
        "nothing was dead-lettered or warned about:\n{}",
        c.log()
    );
}

#[tokio::test]
async fn records_that_shared_a_failed_batch_say_so_in_the_dlq() {
    // No bisect, no retries: ESM's rules send the whole batch to the
    // destination after one invocation (RetryAttemptsExhausted, count 1);
    // each dead letter says which records failed together and that the
    // function did not name one.
    let run = Run::new(
        "esm-shared",
        failing_at(3, 1),
        &[
            ("aws.lambda.on.failure", "dlq"),
            ("errors.tolerance", "all"),
        ],
    )
    .await;
    let dead = run.dead_letters(3).await;
    let offsets: Vec<&str> = dead
        .iter()
        .map(|d| d.header("__connect.errors.offset"))
        .collect();
    assert_eq!(offsets, ["0", "1", "2"]);
    for d in &dead {
        assert_eq!(
            d.header("lambda.requestContext.condition"),
            "RetryAttemptsExhausted"
        );
        assert_eq!(
            d.header("lambda.requestContext.approximateInvokeCount"),
            "1"
        );
        assert_eq!(d.header("lambda.kafkaBatchInfo.batchSize"), "3");
        assert_eq!(d.header("lambda.kafkaBatchInfo.firstRecordOffset"), "0");
        assert_eq!(d.header("lambda.kafkaBatchInfo.lastRecordOffset"), "2");
        assert_eq!(d.header("lambda-sink.failedRecordOffset"), "", "not known");
    }
}

/// A run of `records` (one partition, one batch) through a connector with
/// `settings` and the test function, until committed to the end; what it
/// wrote and the function saw is read afterwards.
struct Run {
    w: World,
    metrics: String,
}

impl std::ops::Deref for Run {
    type Target = World;
    fn deref(&self) -> &World {
        &self.w
    }
}

impl Run {
    async fn new(prefix: &str, records: Vec<Produce>, settings: &[(&str, &str)]) -> Self {
        let w = world!(prefix).partitions(1).create().await;
        w.s.produce(&w.topic, &records).await.unwrap();
        let batch = records.len().to_string();
        let mut extra = vec![
            ("input.data.format", "JSON"),
            ("aws.lambda.batch.size", batch.as_str()),
            ("aws.lambda.batch.linger.ms", "10000"),
            ("aws.lambda.retry.backoff.ms", "10"),
            ("behavior.on.error", "log"),
            ("http.listener", "127.0.0.1:0"),
        ];
        extra.extend_from_slice(settings);
        let mut c = w.start(&extra);
        let url = c.http_url().await;
        w.drained(MINUTE, &[&c]).await;
        let metrics = scrape(&url).await.unwrap();
        c.stop_cleanly().await;
        Self { w, metrics }
    }

    /// The offsets of the outcome records in `kind-<id>`.
    async fn outcomes(&self, kind: &str, expected: usize) -> Vec<(i64, String)> {
        let mut got: Vec<(i64, String)> = self
            .s
            .read_topic(&format!("{kind}-{}", self.name), expected, MINUTE)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.header("input_record_offset").parse().unwrap(),
                    r.header("error_type").to_string(),
                )
            })
            .collect();
        got.sort();
        got
    }

    /// The first `expected` records of `dlq-<id>`.
    async fn dead_letters(&self, expected: usize) -> Vec<Record> {
        self.s
            .read_topic(&format!("dlq-{}", self.name), expected, MINUTE)
            .await
            .unwrap()
    }

    /// What the function logged for each record, in offset order.
    async fn seen(&self) -> Vec<Value> {
        let mut seen = self.function_records().await;
        seen.sort_by_key(|r| r["offset"].as_i64());
        seen
    }

    /// How many times the function received each offset.
    async fn invocations(&self) -> std::collections::BTreeMap<i64, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for r in self.function_records().await {
            *counts.entry(r["offset"].as_i64().unwrap()).or_default() += 1;
        }
        counts
    }
}

/// Records `{"i": i}`, the one at `failing` asking the function to fail.
fn failing_at(n: i64, failing: i64) -> Vec<Produce> {
    (0..n)
        .map(|i| {
            let value = json!({"i": i, "fail": i == failing});
            Produce::text(0, &format!("k{i}"), &value.to_string())
        })
        .collect()
}

#[tokio::test]
async fn bisect_isolates_the_one_failing_record() {
    let run = Run::new(
        "esm-bisect",
        failing_at(8, 5),
        &[("aws.lambda.bisect.on.function.error", "true")],
    )
    .await;
    // 8 → [0..4) ok, [4..8) fails → [4,5] fails, [6,7] ok → [4] ok, [5] fails.
    assert_eq!(run.outcomes("error", 1).await, [(5, "Unhandled".into())]);
    let ok: Vec<i64> = run
        .outcomes("success", 7)
        .await
        .iter()
        .map(|o| o.0)
        .collect();
    assert_eq!(ok, [0, 1, 2, 3, 4, 6, 7]);
    assert_eq!(
        metric(&run.metrics, "lambda_sink_bisections_total"),
        Some(3.0),
        "{}",
        run.metrics
    );
    // Record 5 was in every failing batch: 8, 4, 2 and 1 records.
    assert_eq!(run.invocations().await.get(&5), Some(&4));
}

#[tokio::test]
async fn a_failing_record_is_retried_the_configured_number_of_times() {
    let run = Run::new(
        "esm-retry",
        failing_at(1, 0),
        &[("aws.lambda.function.error.max.retries", "2")],
    )
    .await;
    // The first invocation and two retries, then behavior.on.error.
    assert_eq!(run.invocations().await.get(&0), Some(&3));
    assert_eq!(run.outcomes("error", 1).await, [(0, "Unhandled".into())]);
    assert_eq!(
        metric(
            &run.metrics,
            "lambda_sink_retries_total{reason=\"function_error\"}"
        ),
        Some(2.0),
        "{}",
        run.metrics
    );
}

#[tokio::test]
async fn records_older_than_the_maximum_age_are_not_invoked() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let hour_ago = i64::try_from(now).unwrap() - 3_600_000;
    let mut records = failing_at(3, -1);
    records[1].timestamp = Some(hour_ago);
    let run = Run::new(
        "esm-age",
        records,
        &[("aws.lambda.max.record.age.ms", "60000")],
    )
    .await;
    assert_eq!(
        run.outcomes("error", 1).await,
        [(1, "RecordAgeExceeded".into())]
    );
    let invoked: Vec<i64> = run.invocations().await.into_keys().collect();
    assert_eq!(invoked, [0, 2], "the old record is never invoked");
}

#[tokio::test]
async fn records_no_filter_pattern_matches_are_committed_and_never_invoked() {
    let values = [
        json!({"status": "live", "n": 1}).to_string(),
        json!({"status": "test", "n": 2}).to_string(),
        json!({"status": "live", "n": 300}).to_string(),
        "a plain string".to_string(),
    ];
    let records: Vec<Produce> = values
        .iter()
        .enumerate()
        .map(|(i, v)| Produce::text(0, &format!("k{i}"), v))
        .collect();
    // ESM's FilterCriteria, as `aws lambda create-event-source-mapping
    // --filter-criteria` takes it: live records, except n = 300.
    let pattern = json!({"value": {"status": ["live"], "n": [{"anything-but": [300]}]}});
    let criteria = json!({"Filters": [{"Pattern": pattern.to_string()}]}).to_string();
    let run = Run::new(
        "esm-filter",
        records,
        &[
            ("input.data.format", "STRING"),
            ("aws.lambda.filter.criteria", &criteria),
        ],
    )
    .await;
    let invoked: Vec<i64> = run.invocations().await.into_keys().collect();
    assert_eq!(invoked, [0]);
    assert_eq!(
        metric(
            &run.metrics,
            "lambda_sink_records_resolved_total{outcome=\"filtered\"}"
        ),
        Some(3.0),
        "{}",
        run.metrics
    );
}

#[tokio::test]
async fn idempotency_keys_and_the_traceparent_reach_the_function() {
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut records = vec![
        Produce::text(0, "k0", &json!({"orderId": "o-1"}).to_string()),
        Produce::text(0, "k1", &json!({"orderId": "o-2"}).to_string()),
    ];
    records[1]
        .headers
        .push(("traceparent".into(), traceparent.as_bytes().to_vec()));
    // Confluent's payload: the key from the coordinates, the traceparent
    // as a field.
    let seen = Run::new(
        "idem",
        records.clone(),
        &[
            ("input.data.format", "JSON"),
            ("aws.lambda.idempotency.key", "offset"),
        ],
    )
    .await
    .seen()
    .await;
    let topic = seen[0]["topic"].as_str().unwrap().to_string();
    let keys: Vec<&Value> = seen.iter().map(|r| &r["idempotency_key"]).collect();
    assert_eq!(
        keys,
        [
            &json!(format!("{topic}/0/0")),
            &json!(format!("{topic}/0/1"))
        ]
    );
    assert_eq!(seen[0]["traceparent"], Value::Null);
    assert_eq!(seen[1]["traceparent"], traceparent);
    // ESM's event: the key from a field of the value; the traceparent is
    // among the record's headers.
    let seen = Run::new(
        "idem-esm",
        records,
        &[
            ("input.data.format", "JSON"),
            ("aws.lambda.payload.format", "esm"),
            ("aws.lambda.idempotency.key", "field:orderId"),
        ],
    )
    .await
    .seen()
    .await;
    let keys: Vec<&Value> = seen.iter().map(|r| &r["idempotency_key"]).collect();
    assert_eq!(keys, [&json!("o-1"), &json!("o-2")]);
    assert_eq!(
        seen[1]["headers"],
        json!([{"key": "traceparent", "value": traceparent}])
    );
}

#[tokio::test]
async fn a_batch_that_failed_for_good_goes_to_the_dlq_with_esms_context() {
    let run = Run::new(
        "esm-onfail",
        failing_at(2, 1),
        &[
            ("aws.lambda.bisect.on.function.error", "true"),
            ("aws.lambda.function.error.max.retries", "1"),
            ("aws.lambda.on.failure", "dlq"),
            ("errors.tolerance", "all"),
        ],
    )
    .await;
    let dead = run.dead_letters(1).await;
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.header("__connect.errors.offset"), "1");
    assert_eq!(
        d.header("lambda.requestContext.condition"),
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        d.header("lambda.requestContext.approximateInvokeCount"),
        "2"
    );
    assert_eq!(d.header("lambda.requestContext.functionArn"), run.function);
    assert_eq!(
        d.header("lambda.responseContext.functionError"),
        "Unhandled"
    );
    assert_eq!(d.header("lambda.responseContext.statusCode"), "200");
    // Bisected down to the record at fault: a batch of one, named.
    assert_eq!(d.header("lambda.kafkaBatchInfo.batchSize"), "1");
    assert_eq!(d.header("lambda.kafkaBatchInfo.firstRecordOffset"), "1");
    assert_eq!(d.header("lambda.kafkaBatchInfo.lastRecordOffset"), "1");
    assert_eq!(d.header("lambda-sink.failedRecordOffset"), "1");
    // The original record, as any dead letter.
    assert_eq!(d.text(), json!({"i": 1, "fail": true}).to_string());
    assert_eq!(run.outcomes("success", 1).await, [(0, String::new())]);
}
