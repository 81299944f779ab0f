//! Parked keys (`aws.lambda.on.key.failure=park`) end to end, against the
//! real broker and the real Lambda emulator running the test function: a
//! few keys whose records fail for a while (`fail_until`) are parked while
//! every other key flows and the group commits to the end (before they
//! recover; the drain time against the same records without failures is
//! printed as `PARK-RESULT`); lambda-sink is
//! killed (kill -9) twice while they are parked; once the function
//! recovers, every record has its outcome, each key's in offset order, and
//! the parked topic is empty again. With `reporter.exactly.once=true` the
//! same, and a `read_committed` reader sees exactly one outcome of each
//! record.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::{Isolation, Record};
use lambda_sink_testkit::verify::Verdict;
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use lambda_sink_testkit::{scrape, transactions, wait_until};
use serde_json::json;

const MINUTE: Duration = Duration::from_secs(60);
const RECORDS: usize = 600;
const KEYS: usize = 30;
/// Keys whose records fail until the function recovers.
const POISONED: [usize; 2] = [3, 17];
/// How long the poisoned keys fail.
const SICK: Duration = Duration::from_secs(25);

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// Parking on, failing keys isolated by bisection, retried every second
/// or two until they succeed.
fn parking(w: &World) -> Vec<(&'static str, String)> {
    vec![
        ("aws.lambda.ordering", "key".into()),
        ("aws.lambda.on.key.failure", "park".into()),
        ("aws.lambda.bisect.on.function.error", "true".into()),
        ("aws.lambda.batch.size", "10".into()),
        ("aws.lambda.park.retry.backoff.ms", "1000".into()),
        ("aws.lambda.park.retry.backoff.max.ms", "2000".into()),
        ("aws.lambda.park.max.attempts", "-1".into()),
        ("aws.lambda.park.topic.name", format!("parked-{}", w.name)),
        ("behavior.on.error", "log".into()),
        // A killed member's partitions move on within seconds.
        ("consumer.override.session.timeout.ms", "6000".into()),
        ("consumer.override.heartbeat.interval.ms", "1000".into()),
        ("http.listener", "127.0.0.1:0".into()),
    ]
}

/// `GET /parked` of a running connector.
async fn parked_keys(c: &Connector) -> serde_json::Value {
    let r = reqwest::get(format!("{}/parked", c.http_url().await))
        .await
        .expect("GET /parked");
    assert_eq!(r.status().as_u16(), 200);
    r.json().await.expect("JSON")
}

/// Waits until `c` lists each poisoned key once with all its records
/// parked; that listing.
async fn all_parked(c: &Connector) -> serde_json::Value {
    let per_key = RECORDS / KEYS;
    wait_until(
        MINUTE,
        "both keys listed with all their records",
        || async {
            let view = parked_keys(c).await;
            let keys = view["parked"].as_array()?;
            let complete =
                keys.len() == POISONED.len() && keys.iter().all(|k| k["records"] == json!(per_key));
            complete.then_some(view)
        },
    )
    .await
}

fn start(w: &World) -> Connector {
    start_with(w, &[])
}

/// Parking on, and `more`.
fn start_with(w: &World, more: &[(&str, &str)]) -> Connector {
    let props = parking(w);
    let mut extra: Vec<(&str, &str)> = props.iter().map(|(k, v)| (*k, v.as_str())).collect();
    extra.extend_from_slice(more);
    w.start(&extra)
}

/// A world of `RECORDS` records over `KEYS` keys; with `fail_until`, the
/// poisoned keys' records fail until then.
async fn world(prefix: &str, fail_until: Option<u64>) -> World {
    let w = world!(prefix)
        .partitions(2)
        .function_timeout(30)
        .create()
        .await;
    w.produce_keyed(0..RECORDS, KEYS, |i| {
        match fail_until {
            Some(until) if POISONED.contains(&(i % KEYS)) => json!({ "i": i, "fail_until": until }),
            _ => json!({ "i": i }),
        }
        .to_string()
    })
    .await;
    w
}

fn input_of(r: &Record) -> (i32, i64) {
    (
        r.header("input_record_partition").parse().unwrap(),
        r.header("input_record_offset").parse().unwrap(),
    )
}

#[tokio::test]
async fn poisoned_keys_park_while_the_others_flow_and_come_back_in_order_after_kill_9() {
    // The same records without failures: how fast the connector drains.
    let healthy = world("park-base", None).await;
    let started = Instant::now();
    let mut c = start(&healthy);
    healthy.drained(MINUTE, &[&c]).await;
    let baseline = started.elapsed();
    c.stop_cleanly().await;

    let until = now_ms() + u64::try_from(SICK.as_millis()).unwrap();
    let w = world("park", Some(until)).await;
    let started = Instant::now();
    let first = start(&w);
    // Every other key flows and the group commits to the end while the
    // poisoned keys are parked (they still fail).
    w.drained(MINUTE, &[&first]).await;
    let drained = started.elapsed();
    assert!(
        now_ms() < until,
        "the partitions were held until the poisoned keys recovered ({drained:?}):\n{}",
        first.log()
    );
    let ratio = baseline.as_secs_f64() / drained.as_secs_f64();
    println!(
        "PARK-RESULT {}",
        json!({
            "records": RECORDS,
            "keys": KEYS,
            "poisoned_keys": POISONED.len(),
            "drain_without_failures_s": baseline.as_secs_f64(),
            "drain_with_parked_keys_s": drained.as_secs_f64(),
            "throughput_ratio": ratio,
        })
    );
    // The figure is printed, not asserted: speed is the benchmark's
    // (BENCHMARKS.md, "Parked keys"); what this test asserts is that the
    // group committed to the end while the poisoned keys still failed.
    first.wait_for_log("key_parked", MINUTE).await;
    // The operator's view: each poisoned key once, all its records parked.
    let view = all_parked(&first).await;
    assert_eq!(view["parking"], json!(true));
    let mut listed: Vec<&str> = view["parked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, ["k17", "k3"]);
    for k in view["parked"].as_array().unwrap() {
        assert!(
            k["reason"].as_str().unwrap().contains("function error"),
            "{k}"
        );
        assert!(k["age_ms"].as_i64().unwrap() >= 0 && k["first_offset"].as_i64().unwrap() >= 0);
    }
    // Orders name a parked key (the retry itself: tests/serve.rs and the
    // component tests).
    let first_url = first.http_url().await;
    let order = |body: serde_json::Value| {
        let url = format!("{first_url}/parked/retry");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("POST");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("JSON"),
            )
        }
    };
    let (code, e) = order(json!({ "key": "k4" })).await;
    assert_eq!(
        (code, e["message"].clone()),
        (
            404,
            json!("key k4 is not parked (GET .../parked lists the parked keys)")
        )
    );
    assert_eq!(order(json!({ "keys": ["k3"] })).await.0, 400);
    kill_twice_then_recover(&w, first, until, start).await;
}

#[tokio::test]
async fn with_exactly_once_each_parked_record_has_one_outcome_after_kill_9() {
    // Longer sick: each instance after a kill -9 waits out the killed
    // one's open transaction (transaction.timeout.ms) before it begins.
    let until = now_ms() + 90_000;
    let w = world("park-eos", Some(until)).await;
    let start = |w: &World| start_with(w, &[("reporter.exactly.once", "true")]);
    let first = start(&w);
    // The group commits to the end, in transactions, while the poisoned
    // keys are parked.
    w.drained(MINUTE, &[&first]).await;
    all_parked(&first).await;
    assert!(
        now_ms() < until,
        "the keys recovered before they were parked"
    );
    // So far a clean run: every transaction committed, none aborted.
    let metrics = scrape(&first.http_url().await).await.expect("metrics");
    let count = |result| transactions(&metrics, None, result);
    assert!(count("committed") >= 1.0, "{metrics}");
    assert_eq!(
        count("aborted"),
        0.0,
        "transactions aborted in a clean run: {metrics}"
    );
    let v = kill_twice_then_recover(&w, first, until, start).await;
    // A read_committed reader sees one outcome of each record, parked and
    // released ones included, whatever the kills left open.
    assert_eq!(v.duplicate_outcomes, 0, "{}", v.summary());
}

/// Kills `first` (kill -9) while the poisoned keys are parked, then the
/// instance `start` brings up after it; once the function recovers (at
/// `until`) the last instance releases every key: every record has its
/// outcome, each key's in offset order, nothing is lost and nothing stays
/// parked. The verifier's verdict.
async fn kill_twice_then_recover(
    w: &World,
    mut first: Connector,
    until: u64,
    start: impl Fn(&World) -> Connector,
) -> Verdict {
    // kill -9 twice while the keys are parked: each next owner rebuilds
    // them from the parked topic.
    first.kill9();
    let mut second = start(w);
    second.wait_for_log("keys_parked", MINUTE).await;
    second.kill9();
    assert!(
        now_ms() < until,
        "the keys recovered before the second kill"
    );
    let mut last = start(w);
    // Once the function recovers, every record has its outcome.
    let success = format!("success-{}", w.name);
    wait_until(2 * MINUTE, "an outcome for every record", || async {
        let read =
            w.s.read_to_end(&success, Isolation::Committed, MINUTE)
                .await
                .ok()?;
        let distinct: BTreeSet<(i32, i64)> = read.iter().map(input_of).collect();
        (distinct.len() == RECORDS).then_some(())
    })
    .await;
    last.wait_for_log("key_released", MINUTE).await;
    wait_until(MINUTE, "no key listed as parked", || async {
        parked_keys(&last).await["parked"]
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    })
    .await;
    last.stop_cleanly().await;
    // Each key's records first succeeded in offset order.
    let out_of_order = w.keys_out_of_order(MINUTE).await;
    assert!(
        out_of_order.is_empty(),
        "keys out of order: {out_of_order:?}"
    );
    let v = w.verify().await;
    assert_eq!(
        (v.lost_count, v.without_outcome_count),
        (0, 0),
        "{}",
        v.summary()
    );
    assert!(v.committed_to_end, "{}", v.summary());
    // Nothing is left parked: each parked record's latest entry is its release.
    let parked =
        w.s.read_to_end(&format!("parked-{}", w.name), Isolation::Committed, MINUTE)
            .await
            .expect("the parked topic");
    assert!(!parked.is_empty(), "nothing was ever parked");
    let mut latest: BTreeMap<Vec<u8>, bool> = BTreeMap::new();
    for r in &parked {
        latest.insert(r.key.clone().unwrap(), r.value.is_some());
    }
    let still: Vec<String> = latest
        .iter()
        .filter(|(_, parked)| **parked)
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(still.is_empty(), "still parked: {still:?}");
    v
}
