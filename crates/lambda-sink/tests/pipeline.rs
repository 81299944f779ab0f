//! The pipeline end to end, against the real broker (Apache Kafka) and the
//! real Lambda emulator (ministack) running the test function. Each test has
//! its own topic, consumer group (connector name) and function.
//!
//! The function logs one line per record it receives, so "the function saw
//! every record exactly once, in order" is read from its CloudWatch logs,
//! and outcome topics and committed offsets are read back with an
//! independent Kafka client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use lambda_sink_testkit::kafka::{Isolation, Record};
use lambda_sink_testkit::wait_until;
use lambda_sink_testkit::world;
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

/// Per partition, the offsets in the order they were seen.
fn by_partition(seen: &[(i64, i64)]) -> BTreeMap<i64, Vec<i64>> {
    let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (p, o) in seen {
        map.entry(*p).or_default().push(*o);
    }
    map
}

/// The (partition, offset) an outcome record refers to.
fn input_of(r: &Record) -> (i64, i64) {
    (
        r.header("input_record_partition").parse().unwrap(),
        r.header("input_record_offset").parse().unwrap(),
    )
}

/// A `string`-format outcome value: a JSON string literal holding JSON text.
fn string_format(r: &Record) -> Value {
    let text: String =
        serde_json::from_slice(r.value.as_deref().unwrap()).expect("a JSON string literal");
    serde_json::from_str(&text).expect("JSON text inside")
}

#[tokio::test]
async fn sync_happy_path_every_record_once_in_order_with_results_and_offsets() {
    let w = world!("happy")
        .partitions(4)
        .function_timeout(10)
        .create()
        .await;
    let produced = w.produce_json(200, |i| json!({ "i": i })).await;
    let mut c = w.start(&[("aws.lambda.batch.size", "7")]);

    let results = w.wait_outcomes("success", 200, MINUTE).await;
    assert_eq!(results.len(), 200, "success records:\n{}", c.log());
    let committed = w.drained(MINUTE, &[]).await;
    assert_eq!(committed, vec![50, 50, 50, 50]);
    c.stop_cleanly().await;

    // The function saw every record exactly once, in offset order per partition.
    let seen = w.seen().await;
    assert_eq!(seen.len(), 200, "no record twice");
    for (p, offsets) in by_partition(&seen) {
        assert_eq!(
            offsets,
            (0..50).collect::<Vec<i64>>(),
            "partition {p} in order"
        );
    }
    // One result per input record, with input_record_* headers and the echo.
    let expected: BTreeMap<(i64, i64), Value> = produced
        .into_iter()
        .map(|(p, o, v)| ((i64::from(p), o), v))
        .collect();
    let mut covered = BTreeSet::new();
    for r in &results {
        let input = input_of(r);
        assert_eq!(r.header("input_record_topic"), w.topic);
        assert!(!r.header("input_record_timestamp").is_empty());
        assert_eq!(r.key, None);
        let result = string_format(r);
        assert_eq!(result["result"]["echo"], expected[&input], "{input:?}");
        assert_eq!(result["offset"], input.1);
        covered.insert(input);
    }
    assert_eq!(covered.len(), 200);
}

/// Over many partitions a task reads little ahead of each (a budget shared
/// out over them), and a fetch asks a partition for no more than its share:
/// records larger than that still arrive, every one, in order.
#[tokio::test]
async fn many_partitions_read_little_ahead_and_still_deliver_records_larger_than_a_fetch() {
    let w = world!("wide")
        .partitions(400)
        .function_timeout(10)
        .create()
        .await;
    // Every third record is ~150 KB: above the 81 KiB a fetch asks of a
    // partition here.
    let produced = w
        .produce_json(
            1_200,
            |i| json!({ "i": i, "pad": "x".repeat(if i % 3 == 0 { 150_000 } else { 10 }) }),
        )
        .await;
    let mut c = w.start(&[("aws.lambda.batch.size", "5")]);
    c.wait_for_log("each partition's read-ahead", MINUTE).await;
    let log = c.log();
    let sized = log
        .lines()
        .find(|l| l.contains("each partition's read-ahead"))
        .unwrap_or_default();
    for field in [
        "partitions_per_task=400",
        "prefetch_kbytes=81",
        "prefetch_records=250",
        "buffered_records=250",
    ] {
        assert!(sized.contains(field), "{field} in: {sized}");
    }
    let committed = w.drained(MINUTE, &[&c]).await;
    assert_eq!(committed, vec![3; 400]);
    // One result per record, each record once, in offset order per
    // partition (the result topic has one partition, written in invocation
    // order). The results, not the function's log: the emulator's log store
    // loses some of the large records' 150 KB lines under load (seen: 1,200
    // results, log lines still missing a minute later).
    let results = w.wait_outcomes("success", produced.len(), MINUTE).await;
    let mut by_input: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for r in &results {
        by_input
            .entry(r.header("input_record_partition").parse().unwrap())
            .or_default()
            .push(r.header("input_record_offset").parse().unwrap());
    }
    assert_eq!(results.len(), produced.len(), "one result per record");
    assert_eq!(by_input.len(), 400, "every partition");
    for (p, offsets) in by_input {
        assert_eq!(
            offsets,
            vec![0, 1, 2],
            "partition {p}: each record once, in order"
        );
    }
    c.stop_cleanly().await;
    let log = c.log();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warned, Vec::<&str>::new(), "nothing went wrong");
}

#[tokio::test]
async fn confluent_reference_add_function_results() {
    let w = world!("add")
        .partitions(1)
        .function_timeout(10)
        .create()
        .await;
    w.produce_json(10, |i| json!({ "a": i, "b": 1 })).await;
    let mut c = w.start(&[]);
    let results = w.wait_outcomes("success", 10, MINUTE).await;
    assert_eq!(results.len(), 10, "{}", c.log());
    w.drained(MINUTE, &[]).await;
    c.stop_cleanly().await;
    for r in &results {
        // The success topic holds the JSON text of each element's payload,
        // written as a JSON string literal (Confluent's bytes).
        let payload = string_format(r);
        let offset = payload["offset"].as_i64().unwrap();
        assert_eq!(payload["result"], json!({ "sum": offset + 1 }));
        assert_eq!(payload["topic"], w.topic.as_str());
        assert_eq!(payload["partition"], 0);
        assert_eq!(offset.to_string(), r.header("input_record_offset"));
        assert!(payload.get("timestamp").is_some());
    }
}

#[tokio::test]
async fn function_errors_are_logged_to_the_error_topic() {
    let w = world!("errlog")
        .partitions(2)
        .function_timeout(10)
        .create()
        .await;
    // Every 4th record asks the function to fail; batch size 1 makes each
    // invocation one record.
    w.produce_json(40, |i| json!({ "i": i, "fail": i % 4 == 0 }))
        .await;
    let mut c = w.start(&[("aws.lambda.batch.size", "1"), ("behavior.on.error", "log")]);
    let errors = w.wait_outcomes("error", 10, MINUTE).await;
    let results = w.wait_outcomes("success", 30, MINUTE).await;
    w.drained(MINUTE, &[]).await;
    c.stop_cleanly().await;
    assert_eq!(errors.len(), 10);
    assert_eq!(results.len(), 30);
    for e in &errors {
        assert_eq!(e.header("error_class"), "function");
        assert_eq!(e.header("error_type"), "Unhandled");
        assert_eq!(e.header("status_code"), "200");
        assert_eq!(e.header("input_record_topic"), w.topic);
        let body = string_format(e);
        assert_eq!(body["errorType"], "RequestedFailure");
    }
    let failed: BTreeSet<(i64, i64)> = errors.iter().map(input_of).collect();
    let succeeded: BTreeSet<(i64, i64)> = results.iter().map(input_of).collect();
    assert!(
        failed.is_disjoint(&succeeded),
        "a function error is never a success"
    );
    assert_eq!(failed.len() + succeeded.len(), 40);
}

#[tokio::test]
async fn function_errors_ignored_write_nothing_and_advance() {
    let w = world!("errignore")
        .partitions(1)
        .function_timeout(10)
        .create()
        .await;
    w.produce_json(12, |i| json!({ "i": i, "fail": i % 3 == 0 }))
        .await;
    let mut c = w.start(&[
        ("aws.lambda.batch.size", "1"),
        ("behavior.on.error", "ignore"),
    ]);
    let results = w.wait_outcomes("success", 8, MINUTE).await;
    assert_eq!(results.len(), 8, "{}", c.log());
    w.drained(MINUTE, &[]).await;
    let log = c.log();
    c.stop_cleanly().await;
    assert!(
        log.contains("function error ignored (behavior.on.error=ignore)"),
        "{log}"
    );
    assert!(
        !w.s.topic_exists(&format!("error-{}", w.name))
            .await
            .unwrap(),
        "no error topic is created when nothing is ever written to it"
    );
    assert_eq!(w.seen().await.len(), 12);
}

#[tokio::test]
async fn function_error_with_fail_stops_without_committing_and_restart_retries() {
    let w = world!("errfail")
        .partitions(1)
        .function_timeout(10)
        .create()
        .await;
    w.produce_json(15, |i| json!({ "i": i, "fail": i == 10 }))
        .await;
    let mut c = w.start(&[
        ("aws.lambda.batch.size", "1"),
        ("behavior.on.error", "fail"),
    ]);
    let code = c.wait(MINUTE).await;
    assert_eq!(code, Some(1), "fail mode exits 1:\n{}", c.log());
    assert!(
        c.log().contains("offsets 10..=10"),
        "the message names the records:\n{}",
        c.log()
    );
    let committed = w.s.committed(&w.group(), &w.topic, 1).await.unwrap();
    assert_eq!(committed, vec![10], "the failed batch is not committed");
    assert_eq!(w.wait_outcomes("success", 10, MINUTE).await.len(), 10);

    // A restart retries the failed record (which fails again).
    let mut again = w.start(&[
        ("aws.lambda.batch.size", "1"),
        ("behavior.on.error", "fail"),
    ]);
    assert_eq!(again.wait(MINUTE).await, Some(1), "{}", again.log());
    let tens = w.seen().await.iter().filter(|(_, o)| *o == 10).count();
    assert_eq!(tens, 2, "offset 10 was invoked again after the restart");
    assert_eq!(
        w.s.committed(&w.group(), &w.topic, 1).await.unwrap(),
        vec![10]
    );
}

#[tokio::test]
async fn throttling_is_retried_until_concurrency_returns_and_nothing_is_lost() {
    let w = world!("throttle")
        .partitions(2)
        .function_timeout(10)
        .create()
        .await;
    w.s.set_concurrency(&w.function, Some(0))
        .await
        .expect("throttle");
    w.produce_json(20, |i| json!({ "i": i })).await;
    let mut c = w.start(&[
        ("aws.lambda.retry.timeout.ms", "-1"),
        ("aws.lambda.retry.backoff.max.ms", "500"),
    ]);
    c.wait_for_log("reason=throttled", MINUTE).await;
    assert!(w.seen().await.is_empty(), "nothing ran while throttled");
    w.s.set_concurrency(&w.function, None)
        .await
        .expect("restore");
    let results = w.wait_outcomes("success", 20, MINUTE).await;
    assert_eq!(results.len(), 20, "{}", c.log());
    w.drained(MINUTE, &[]).await;
    c.stop_cleanly().await;
    let inputs: BTreeSet<(i64, i64)> = results.iter().map(input_of).collect();
    assert_eq!(inputs.len(), 20, "every record has its result");
}

#[tokio::test]
async fn async_invocations_reach_the_function_and_commit_without_results() {
    let w = world!("async")
        .partitions(2)
        .function_timeout(10)
        .create()
        .await;
    w.produce_json(30, |i| json!({ "i": i })).await;
    let mut c = w.start(&[
        ("aws.lambda.invocation.type", "async"),
        ("aws.lambda.batch.size", "4"),
    ]);
    let seen = w.wait_seen(30, MINUTE).await;
    w.drained(MINUTE, &[]).await;
    c.stop_cleanly().await;
    let distinct: BTreeSet<(i64, i64)> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), 30);
    for kind in ["success", "error"] {
        assert!(
            !w.s.topic_exists(&format!("{kind}-{}", w.name))
                .await
                .unwrap(),
            "async mode writes no {kind} records"
        );
    }
}

#[tokio::test]
async fn kill_9_mid_run_then_restart_loses_nothing() {
    let w = world!("kill9")
        .partitions(4)
        .function_timeout(10)
        .create()
        .await;
    w.produce_json(400, |i| json!({ "i": i, "sleep_ms": 20 }))
        .await;
    let mut c = w.start(&[("aws.lambda.batch.size", "5")]);
    w.wait_seen(100, MINUTE).await;
    c.kill9();
    let before = w.seen().await.len();
    assert!(before < 400, "killed mid-run ({before} seen)");

    let mut restarted = w.start(&[("aws.lambda.batch.size", "5")]);
    w.drained(MINUTE, &[]).await;
    restarted.stop_cleanly().await;
    let seen: BTreeSet<(i64, i64)> = w.seen().await.into_iter().collect();
    assert_eq!(
        seen.len(),
        400,
        "every record reached the function at least once"
    );
    let results = w.outcomes("success", Isolation::Committed, MINUTE).await;
    let covered: BTreeSet<(i64, i64)> = results.iter().map(input_of).collect();
    assert_eq!(
        covered.len(),
        400,
        "every record has an outcome (duplicates allowed)"
    );
    eprintln!(
        "kill -9 after {before} invocations: {} duplicate results",
        results.len() - 400
    );
}

#[tokio::test]
async fn two_processes_share_partitions_and_take_over_on_stop() {
    let w = world!("shared")
        .partitions(4)
        .function_timeout(10)
        .create()
        .await;
    // ~12 s of work per partition, so B joins while A is busy.
    w.produce_json(200, |i| json!({ "i": i, "sleep_ms": 200 }))
        .await;
    let extra = [("aws.lambda.batch.size", "1")];
    let mut a = w.start(&extra);
    a.wait_for_log("partitions assigned", MINUTE).await;
    let mut b = w.start(&extra);
    b.wait_for_log("partitions assigned", MINUTE).await;
    // Both work on the topic at once: each logs invocations of its partitions.
    wait_until(MINUTE, "both processes invoking", || async {
        (a.log().contains("invoking") && b.log().contains("invoking")).then_some(())
    })
    .await;
    // A leaves; B takes its partitions over and finishes everything.
    a.stop_cleanly().await;
    w.drained(MINUTE, &[]).await;
    let log_b = b.log();
    b.stop_cleanly().await;
    assert!(
        log_b.matches("partitions assigned").count() >= 2,
        "B was assigned A's partitions:\n{log_b}"
    );
    let seen: BTreeSet<(i64, i64)> = w.seen().await.into_iter().collect();
    assert_eq!(seen.len(), 200, "no record lost");
    let covered: BTreeSet<(i64, i64)> = w
        .outcomes("success", Isolation::Committed, MINUTE)
        .await
        .iter()
        .map(input_of)
        .collect();
    assert_eq!(covered.len(), 200);
}

#[tokio::test]
async fn a_function_slower_than_max_poll_interval_holds_back_the_partition_not_the_consumer() {
    // Each invocation takes 7 s; the consumer must poll at least every 6 s.
    let w = world!("slow")
        .partitions(1)
        .function_timeout(30)
        .create()
        .await;
    w.produce_json(12, |i| json!({ "i": i, "sleep_ms": 7000 }))
        .await;
    let mut c = w.start(&[
        ("aws.lambda.batch.size", "4"),
        ("max.poll.records", "2"),
        ("consumer.override.session.timeout.ms", "6000"),
        ("consumer.override.max.poll.interval.ms", "6000"),
    ]);
    let results = w.wait_outcomes("success", 12, MINUTE).await;
    assert_eq!(results.len(), 12, "{}", c.log());
    w.drained(MINUTE, &[]).await;
    let log = c.log();
    c.stop_cleanly().await;
    assert!(
        log.contains("buffer full: holding the partition back"),
        "the full partition was held back:\n{log}"
    );
    assert_eq!(
        log.matches("partitions assigned").count(),
        1,
        "the consumer never left the group:\n{log}"
    );
    assert!(
        !log.contains("revoked"),
        "no rebalance while the function was slow:\n{log}"
    );
    assert_eq!(w.seen().await.len(), 12, "no record invoked twice");
}
