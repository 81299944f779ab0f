//! Outcomes beyond the happy path: configuration errors that stop the
//! connector, retries that run out, requests too large, records that cannot
//! be decoded, shutdown behaviour, response shapes and routing.
//!
//! Most run against the real emulator; the failures it cannot produce (413,
//! 403) come from the in-process fake endpoint of the testkit.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::fake_lambda;
use lambda_sink_testkit::kafka::{Produce, Record};
use lambda_sink_testkit::world;
use lambda_sink_testkit::{Services, unique, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

async fn topic(s: &Services, prefix: &str, partitions: i32) -> String {
    let t = unique(prefix);
    s.create_topic(&t, partitions).await.unwrap();
    t
}

async fn function(s: &Services, prefix: &str, env: &[(&str, &str)]) -> String {
    let f = unique(prefix);
    s.deploy_test_function(&f, 30, env).await.unwrap();
    f
}

fn json_records(partition: i32, values: &[Value]) -> Vec<Produce> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| Produce::text(partition, &format!("k{i}"), &v.to_string()))
        .collect()
}

fn start(config: &Value) -> Connector {
    Connector::start(Path::new(BIN), config, &[]).unwrap()
}

async fn records_in(s: &Services, topic: &str) -> i64 {
    if !s.topic_exists(topic).await.unwrap() {
        return 0;
    }
    s.end_offsets(topic, 1).await.unwrap()[0]
}

async fn read(s: &Services, topic: &str) -> Vec<Record> {
    let n = usize::try_from(records_in(s, topic).await).unwrap();
    let records = s.read_topic(topic, n, MINUTE).await.unwrap();
    assert_eq!(records.len(), n);
    records
}

fn string_format(r: &Record) -> Value {
    let text: String = serde_json::from_slice(r.value.as_deref().unwrap()).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn unknown_function_stops_with_advice_and_commits_nothing() {
    let s = Services::from_env();
    let t = topic(&s, "nofn", 1).await;
    s.produce(&t, &json_records(0, &[json!({"i": 1}), json!({"i": 2})]))
        .await
        .unwrap();
    let name = unique("nofn-sink");
    let mut c = start(&s.connector_config(&name, &t, &unique("absent-fn"), &[]));
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    let log = c.log();
    assert!(log.contains("ResourceNotFoundException"), "{log}");
    assert!(
        log.contains("check aws.lambda.function.name"),
        "says what to fix:\n{log}"
    );
    assert_eq!(
        s.committed(&format!("connect-{name}"), &t, 1)
            .await
            .unwrap(),
        vec![-1]
    );
    assert_eq!(
        records_in(&s, &format!("error-{name}")).await,
        0,
        "nothing in the error topic"
    );
}

#[tokio::test]
async fn access_denied_stops_with_advice() {
    let s = Services::from_env();
    let fake = fake_lambda::start().await.unwrap();
    let t = topic(&s, "denied", 1).await;
    s.produce(&t, &json_records(0, &[json!({"i": 1})]))
        .await
        .unwrap();
    let name = unique("denied-sink");
    let config = s.connector_config(
        &name,
        &t,
        "status403-AccessDeniedException-fn",
        &[("aws.lambda.endpoint", &fake.url())],
    );
    let mut c = start(&config);
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    assert!(c.log().contains("lambda:InvokeFunction"), "{}", c.log());
    assert_eq!(
        fake.stats.invocations.load(Ordering::SeqCst),
        1,
        "a configuration error is not retried"
    );
    assert_eq!(
        s.committed(&format!("connect-{name}"), &t, 1)
            .await
            .unwrap(),
        vec![-1]
    );
}

#[tokio::test]
async fn retries_give_up_after_the_retry_timeout_as_invocation_errors() {
    let w = world!("giveup").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    s.set_concurrency(f, Some(0)).await.unwrap();
    s.produce(t, &json_records(0, &[json!({"i": 1}), json!({"i": 2})]))
        .await
        .unwrap();
    let mut c = start(&s.connector_config(name, t, f, &[("aws.lambda.retry.timeout.ms", "1500")]));
    let errors = s
        .read_topic(&format!("error-{name}"), 2, MINUTE)
        .await
        .unwrap();
    s.wait_committed_to_end(&format!("connect-{name}"), t, 1, MINUTE)
        .await;
    let log = c.log();
    c.stop_cleanly().await;
    assert_eq!(errors.len(), 2);
    for e in &errors {
        assert_eq!(e.header("error_class"), "invocation");
        assert_eq!(e.header("error_type"), "TooManyRequestsException");
        assert_eq!(e.header("status_code"), "429");
        assert_eq!(string_format(e)["errorType"], "TooManyRequestsException");
    }
    assert!(
        log.contains("giving up after aws.lambda.retry.timeout.ms"),
        "{log}"
    );
}

#[tokio::test]
async fn too_large_requests_are_split_and_a_lone_giant_goes_to_the_dlq() {
    let s = Services::from_env();
    let fake = fake_lambda::start().await.unwrap();
    let t = topic(&s, "split", 1).await;
    let filler = "x".repeat(500);
    let mut values: Vec<Value> = (0..10).map(|i| json!({"i": i, "pad": filler})).collect();
    values.insert(5, json!({"i": "giant", "pad": "y".repeat(3500)}));
    s.produce(&t, &json_records(0, &values)).await.unwrap();
    let name = unique("split-sink");
    let config = s.connector_config(
        &name,
        &t,
        "max3000-fn",
        &[
            ("aws.lambda.endpoint", &fake.url()),
            ("aws.lambda.batch.size", "10"),
            // Full batches of 10 whatever the fetch sizes, so the first
            // request is too large and must be split.
            ("aws.lambda.batch.linger.ms", "5000"),
        ],
    );
    let mut c = start(&config);
    s.wait_committed_to_end(&format!("connect-{name}"), &t, 1, MINUTE)
        .await;
    c.stop_cleanly().await;
    let results = read(&s, &format!("success-{name}")).await;
    let offsets: Vec<&str> = results
        .iter()
        .map(|r| r.header("input_record_offset"))
        .collect();
    assert_eq!(
        offsets,
        ["0", "1", "2", "3", "4", "6", "7", "8", "9", "10"],
        "all but the giant, in order"
    );
    let dlq = read(&s, &format!("dlq-{name}")).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].header("__connect.errors.stage"), "TASK_PUT");
    assert_eq!(dlq[0].header("__connect.errors.offset"), "5");
    assert_eq!(
        dlq[0].value.as_deref(),
        Some(values[5].to_string().as_bytes()),
        "original bytes"
    );
    assert!(
        fake.stats.errors.load(Ordering::SeqCst) >= 2,
        "413s made it split"
    );
}

#[tokio::test]
async fn undecodable_records_go_to_the_dlq_with_context_and_original_bytes() {
    let w = world!("badjson").partitions(2).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let good =
        |p: i32, i: usize| Produce::text(p, &format!("\"k{i}\""), &json!({"i": i}).to_string());
    let mut records = Vec::new();
    for p in 0..2 {
        records.push(good(p, 0));
        records.push(Produce {
            headers: vec![("trace".into(), b"t-1".to_vec())],
            ..Produce::text(p, "\"kbad\"", "{not json")
        });
        records.push(good(p, 2));
        records.push(Produce::text(
            p,
            "unquoted key",
            &json!({"i": 3}).to_string(),
        ));
        records.push(good(p, 4));
    }
    s.produce(t, &records).await.unwrap();
    let mut c = start(&s.connector_config(name, t, f, &[("input.key.format", "JSON")]));
    s.wait_committed_to_end(&format!("connect-{name}"), t, 2, MINUTE)
        .await;
    c.stop_cleanly().await;

    let seen = s.function_records(f).await.unwrap();
    for p in 0..2 {
        let offsets: Vec<i64> = seen
            .iter()
            .filter(|r| r["partition"] == p)
            .map(|r| r["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(
            offsets,
            [0, 2, 4],
            "valid records reach the function in order (partition {p})"
        );
    }
    let dlq = read(s, &format!("dlq-{name}")).await;
    assert_eq!(dlq.len(), 4);
    for d in &dlq {
        let offset = d.header("__connect.errors.offset");
        assert_eq!(d.header("__connect.errors.topic"), t);
        assert_eq!(d.header("__connect.errors.connector.name"), name);
        assert_eq!(d.header("__connect.errors.task.id"), "0");
        assert_eq!(
            d.header("__connect.errors.class.name"),
            "org.apache.kafka.connect.json.JsonConverter"
        );
        assert_eq!(
            d.header("__connect.errors.exception.class.name"),
            "org.apache.kafka.connect.errors.DataException"
        );
        assert!(
            d.header("__connect.errors.exception.message")
                .contains("not valid JSON")
        );
        match offset {
            "1" => {
                assert_eq!(d.header("__connect.errors.stage"), "VALUE_CONVERTER");
                assert_eq!(
                    d.value.as_deref(),
                    Some(&b"{not json"[..]),
                    "original value"
                );
                assert_eq!(d.key.as_deref(), Some(&b"\"kbad\""[..]), "original key");
                assert_eq!(d.header("trace"), "t-1", "original headers kept");
            }
            "3" => {
                assert_eq!(d.header("__connect.errors.stage"), "KEY_CONVERTER");
                assert_eq!(d.key.as_deref(), Some(&b"unquoted key"[..]));
            }
            other => panic!("unexpected DLQ offset {other}"),
        }
    }
}

#[tokio::test]
async fn a_record_too_large_for_any_request_goes_to_the_dlq_without_invoking() {
    let w = world!("oversize").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let values = [
        json!({"i": 0}),
        json!({"i": 1, "pad": "z".repeat(3000)}),
        json!({"i": 2}),
    ];
    s.produce(t, &json_records(0, &values)).await.unwrap();
    let mut c = start(&s.connector_config(name, t, f, &[("aws.lambda.max.payload.bytes", "2048")]));
    s.wait_committed_to_end(&format!("connect-{name}"), t, 1, MINUTE)
        .await;
    c.stop_cleanly().await;
    let dlq = read(s, &format!("dlq-{name}")).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(dlq[0].header("__connect.errors.stage"), "TASK_PUT");
    assert!(
        dlq[0]
            .header("__connect.errors.exception.message")
            .contains("aws.lambda.max.payload.bytes")
    );
    let offsets: Vec<i64> = s
        .function_records(f)
        .await
        .unwrap()
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 2]);
}

#[tokio::test]
async fn errors_tolerance_none_stops_on_a_bad_record() {
    let w = world!("strict").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let records = vec![
        Produce::text(0, "k", r#"{"i":0}"#),
        Produce::text(0, "k", r#"{"i":1}"#),
        Produce::text(0, "k", "{broken"),
        Produce::text(0, "k", r#"{"i":3}"#),
    ];
    s.produce(t, &records).await.unwrap();
    let mut c = start(&s.connector_config(
        name,
        t,
        f,
        &[("errors.tolerance", "none"), ("aws.lambda.batch.size", "1")],
    ));
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    assert!(
        c.log()
            .contains(&format!("record {t}[0]@2 cannot be processed")),
        "{}",
        c.log()
    );
    assert_eq!(
        s.committed(&format!("connect-{name}"), t, 1).await.unwrap(),
        vec![2]
    );
}

#[tokio::test]
async fn sigterm_finishes_the_in_flight_batch_and_commits_it() {
    let w = world!("drain").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let values: Vec<Value> = (0..6).map(|i| json!({"i": i, "sleep_ms": 3000})).collect();
    s.produce(t, &json_records(0, &values)).await.unwrap();
    // Linger makes the first batch exactly two records whatever the fetch sizes.
    let mut c = start(&s.connector_config(
        name,
        t,
        f,
        &[
            ("aws.lambda.batch.size", "2"),
            ("aws.lambda.batch.linger.ms", "5000"),
        ],
    ));
    c.wait_for_log("invoking", MINUTE).await;
    c.stop_cleanly().await;
    // The batch in flight at SIGTERM finished, its results were written and
    // committed; nothing after it was started.
    let committed = s.committed(&format!("connect-{name}"), t, 1).await.unwrap()[0];
    assert_eq!(committed, 2, "{}", c.log());
    assert_eq!(records_in(s, &format!("success-{name}")).await, 2);
    assert_eq!(s.function_records(f).await.unwrap().len(), 2);
}

#[tokio::test]
async fn shutdown_timeout_abandons_work_uncommitted_and_exits_1() {
    let w = world!("abandon").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    s.produce(t, &json_records(0, &[json!({"sleep_ms": 20000})]))
        .await
        .unwrap();
    let mut c = start(&s.connector_config(name, t, f, &[("shutdown.timeout.ms", "1000")]));
    c.wait_for_log("invoking", MINUTE).await;
    let asked = Instant::now();
    c.terminate().unwrap();
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "stopped at the timeout, not after the function"
    );
    assert!(
        c.log()
            .contains("did not finish within shutdown.timeout.ms"),
        "{}",
        c.log()
    );
    assert_eq!(
        s.committed(&format!("connect-{name}"), t, 1).await.unwrap(),
        vec![-1]
    );
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let w = world!("twice").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    s.produce(t, &json_records(0, &[json!({"sleep_ms": 20000})]))
        .await
        .unwrap();
    let mut c = start(&s.connector_config(name, t, f, &[]));
    c.wait_for_log("invoking", MINUTE).await;
    let asked = Instant::now();
    c.terminate().unwrap();
    c.wait_for_log("signal received", MINUTE).await;
    c.terminate().unwrap();
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
    assert!(asked.elapsed() < Duration::from_secs(10));
    assert!(
        c.log().contains("second signal: exiting now"),
        "{}",
        c.log()
    );
}

#[tokio::test]
async fn any_other_response_body_is_every_records_result() {
    for (shape, expected) in [
        ("object", json!({"status": "ok", "records": 3})),
        ("short", Value::Null),
    ] {
        let w = world!("shape")
            .partitions(1)
            .env(&[("RESPONSE_SHAPE", shape)])
            .create()
            .await;
        let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
        s.produce(
            t,
            &json_records(0, &[json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]),
        )
        .await
        .unwrap();
        // One batch of all three: the records are in Kafka before the start,
        // and linger waits for a fetch that returns fewer.
        let mut c = start(&s.connector_config(
            name,
            t,
            f,
            &[
                ("aws.lambda.batch.size", "3"),
                ("aws.lambda.batch.linger.ms", "5000"),
            ],
        ));
        let results = s
            .read_topic(&format!("success-{name}"), 3, MINUTE)
            .await
            .unwrap();
        c.stop_cleanly().await;
        assert_eq!(results.len(), 3, "{shape}");
        let values: BTreeSet<String> = results
            .iter()
            .map(|r| string_format(r).to_string())
            .collect();
        assert_eq!(values.len(), 1, "{shape}: every record has the same result");
        let value = string_format(&results[0]);
        if shape == "object" {
            assert_eq!(value, expected);
        } else {
            assert_eq!(
                value.as_array().map(Vec::len),
                Some(2),
                "the whole (short) array"
            );
        }
    }
}

#[tokio::test]
async fn json_value_format_and_headers_in_the_payload() {
    let w = world!("hdr").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let record = Produce {
        headers: vec![
            ("trace".into(), b"abc".to_vec()),
            ("bin".into(), vec![0xff, 0x00]),
        ],
        ..Produce::text(0, "k", r#"{"i":0}"#)
    };
    s.produce(t, &[record]).await.unwrap();
    let mut c = start(&s.connector_config(
        name,
        t,
        f,
        &[
            ("reporter.result.topic.value.format", "json"),
            ("aws.lambda.payload.include.headers", "true"),
        ],
    ));
    let results = s
        .read_topic(&format!("success-{name}"), 1, MINUTE)
        .await
        .unwrap();
    c.stop_cleanly().await;
    let value: Value = serde_json::from_slice(results[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(
        value["result"]["echo"],
        json!({"i": 0}),
        "json format: the result itself"
    );
    let seen = s.function_records(f).await.unwrap();
    assert_eq!(
        seen[0]["headers"],
        json!([{"key": "trace", "value": "abc"}, {"key": "bin", "value": "/wA="}])
    );
}

#[tokio::test]
async fn multiple_mode_routes_each_topic_to_its_function() {
    let s = Services::from_env();
    let (orders, users) = (topic(&s, "orders", 1).await, topic(&s, "users", 1).await);
    let (f1, f2) = (
        function(&s, "orders-fn", &[]).await,
        function(&s, "users-fn", &[]).await,
    );
    s.produce(
        &orders,
        &json_records(0, &[json!({"o": 1}), json!({"o": 2})]),
    )
    .await
    .unwrap();
    s.produce(&users, &json_records(0, &[json!({"u": 1})]))
        .await
        .unwrap();
    let name = unique("multi-sink");
    let mut config = s.connector_config(
        &name,
        &format!("{orders},{users}"),
        "unused",
        &[("aws.lambda.configuration.mode", "multiple")],
    );
    config
        .as_object_mut()
        .unwrap()
        .remove("aws.lambda.function.name");
    config["aws.lambda.topic2function.map"] = json!(format!("{orders};{f1},{users};{f2}"));
    let mut c = start(&config);
    s.wait_committed_to_end(&format!("connect-{name}"), &orders, 1, MINUTE)
        .await;
    s.wait_committed_to_end(&format!("connect-{name}"), &users, 1, MINUTE)
        .await;
    c.stop_cleanly().await;
    let topics_of = |records: Vec<Value>| {
        records
            .iter()
            .map(|r| r["topic"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        topics_of(s.function_records(&f1).await.unwrap()),
        BTreeSet::from([orders.clone()])
    );
    assert_eq!(
        topics_of(s.function_records(&f2).await.unwrap()),
        BTreeSet::from([users.clone()])
    );
}

#[tokio::test]
async fn topics_regex_with_two_tasks_in_one_process() {
    let s = Services::from_env();
    let prefix = unique("rx");
    let (a, b) = (format!("{prefix}.a"), format!("{prefix}.b"));
    s.create_topic(&a, 2).await.unwrap();
    s.create_topic(&b, 2).await.unwrap();
    let f = function(&s, "rx-fn", &[]).await;
    for t in [&a, &b] {
        for p in 0..2 {
            s.produce(t, &json_records(p, &[json!({"n": 1}), json!({"n": 2})]))
                .await
                .unwrap();
        }
    }
    let name = unique("rx-sink");
    let mut config = s.connector_config(&name, "unused", &f, &[("tasks.max", "2")]);
    config.as_object_mut().unwrap().remove("topics");
    config["topics.regex"] = json!(format!("{}\\..*", prefix.replace('-', "\\-")));
    let mut c = start(&config);
    let seen = wait_until(MINUTE, "8 records seen", || async {
        let seen = s.function_records(&f).await.ok()?;
        (seen.len() >= 8).then_some(seen)
    })
    .await;
    s.wait_committed_to_end(&format!("connect-{name}"), &a, 2, MINUTE)
        .await;
    s.wait_committed_to_end(&format!("connect-{name}"), &b, 2, MINUTE)
        .await;
    c.stop_cleanly().await;
    assert_eq!(seen.len(), 8);
    assert!(
        c.log().contains("task=1"),
        "the second task took part:\n{}",
        c.log()
    );
}

#[tokio::test]
async fn max_in_flight_bounds_concurrent_invocations_across_partitions() {
    let s = Services::from_env();
    let fake = fake_lambda::start().await.unwrap();
    let t = topic(&s, "inflight", 4).await;
    for p in 0..4 {
        s.produce(
            &t,
            &json_records(p, &[json!({"i": 0}), json!({"i": 1}), json!({"i": 2})]),
        )
        .await
        .unwrap();
    }
    let name = unique("inflight-sink");
    let mut c = start(&s.connector_config(
        &name,
        &t,
        "slow200-fn",
        &[
            ("aws.lambda.endpoint", &fake.url()),
            ("aws.lambda.batch.size", "1"),
            ("aws.lambda.max.in.flight", "2"),
        ],
    ));
    s.wait_committed_to_end(&format!("connect-{name}"), &t, 4, MINUTE)
        .await;
    c.stop_cleanly().await;
    assert_eq!(fake.stats.invocations.load(Ordering::SeqCst), 12);
    assert_eq!(
        fake.stats.max_concurrent.load(Ordering::SeqCst),
        2,
        "4 partitions, at most 2 at once"
    );
}

#[tokio::test]
async fn linger_waits_to_fill_a_batch() {
    let s = Services::from_env();
    let fake = fake_lambda::start().await.unwrap();
    let t = topic(&s, "linger", 1).await;
    let name = unique("linger-sink");
    let mut c = start(&s.connector_config(
        &name,
        &t,
        "echo-fn",
        &[
            ("aws.lambda.endpoint", &fake.url()),
            ("aws.lambda.batch.size", "5"),
            ("aws.lambda.batch.linger.ms", "3000"),
        ],
    ));
    c.wait_for_log("partitions assigned", MINUTE).await;
    // Two records, then three more well within the linger window: one
    // invocation of five, not two.
    s.produce(&t, &json_records(0, &[json!({"i": 0}), json!({"i": 1})]))
        .await
        .unwrap();
    s.produce(
        &t,
        &json_records(0, &[json!({"i": 2}), json!({"i": 3}), json!({"i": 4})]),
    )
    .await
    .unwrap();
    s.wait_committed_to_end(&format!("connect-{name}"), &t, 1, MINUTE)
        .await;
    c.stop_cleanly().await;
    assert_eq!(fake.stats.records.load(Ordering::SeqCst), 5);
    assert_eq!(
        fake.stats.invocations.load(Ordering::SeqCst),
        1,
        "{}",
        c.log()
    );
}

#[tokio::test]
async fn a_socket_timeout_is_retried_then_reported_as_an_invocation_error() {
    let s = Services::from_env();
    let fake = fake_lambda::start().await.unwrap();
    let t = topic(&s, "sockto", 1).await;
    s.produce(&t, &json_records(0, &[json!({"i": 0})]))
        .await
        .unwrap();
    let name = unique("sockto-sink");
    let mut c = start(&s.connector_config(
        &name,
        &t,
        "slow5000-fn",
        &[
            ("aws.lambda.endpoint", &fake.url()),
            ("aws.lambda.socket.timeout", "1000"),
            ("aws.lambda.retry.timeout.ms", "2500"),
        ],
    ));
    let errors = s
        .read_topic(&format!("error-{name}"), 1, MINUTE)
        .await
        .unwrap();
    c.stop_cleanly().await;
    assert_eq!(errors.len(), 1, "{}", c.log());
    assert_eq!(errors[0].header("error_type"), "Timeout");
    assert_eq!(errors[0].header("error_class"), "invocation");
    assert_eq!(errors[0].header("status_code"), "0");
    assert!(
        fake.stats.invocations.load(Ordering::SeqCst) >= 2,
        "the timeout was retried"
    );
    assert!(
        c.log().contains("invocation failed (timeout,"),
        "{}",
        c.log()
    );
}

#[tokio::test]
async fn a_function_alias_is_invoked_through_its_qualifier() {
    let w = world!("alias").partitions(1).create().await;
    let (s, t, f, name) = (&w.s, &w.topic, &w.function, &w.name);
    let client = s.lambda().await;
    let version = client
        .publish_version()
        .function_name(f)
        .send()
        .await
        .unwrap();
    client
        .create_alias()
        .function_name(f)
        .name("live")
        .function_version(version.version().unwrap())
        .send()
        .await
        .unwrap();
    s.produce(t, &json_records(0, &[json!({"i": 0})]))
        .await
        .unwrap();
    let mut c = start(&s.connector_config(name, t, &format!("{f}:live"), &[]));
    let results = s
        .read_topic(&format!("success-{name}"), 1, MINUTE)
        .await
        .unwrap();
    c.stop_cleanly().await;
    assert_eq!(results.len(), 1);
    let mut wrong = start(&s.connector_config(&unique("alias-sink"), t, &format!("{f}:nope"), &[]));
    assert_eq!(
        wrong.wait(MINUTE).await,
        Some(1),
        "an unknown alias stops the connector"
    );
}

#[tokio::test]
async fn the_demos_printout_of_result_records_is_json_objects() {
    // scripts/demo.sh prints success-<id> with `kafka_tool.py consume
    // --values json`: the records a real connector wrote read back as the
    // JSON objects the function answered, not as escaped strings.
    let w = world!("demo-print").partitions(1).create().await;
    let values: Vec<Value> = (1..=3).map(|i| json!({"a": i, "b": 2 * i})).collect();
    w.s.produce(&w.topic, &json_records(0, &values))
        .await
        .unwrap();
    let mut c = w.start(&[]);
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    let python = std::env::var("LAMBDA_SINK_PYTHON")
        .expect("LAMBDA_SINK_PYTHON (set by scripts/services.sh env) names the venv's python");
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tools/kafka_tool.py");
    let printed = |values: &str| {
        let out = std::process::Command::new(&python)
            .arg(&tool)
            .args(["consume", &format!("success-{}", w.name), "--max", "3"])
            .args(["--values", values])
            .env("KAFKA_BOOTSTRAP", &w.s.bootstrap)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["value"].clone())
            .collect::<Vec<Value>>()
    };
    let decoded = printed("json");
    assert_eq!(decoded.len(), 3);
    for value in &decoded {
        assert!(value.is_object(), "a JSON object: {value}");
    }
    // Without decoding the same records are strings: what the demo used to print.
    assert!(printed("text").iter().all(Value::is_string));
}
