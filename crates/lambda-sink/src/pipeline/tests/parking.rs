//! Parked keys (`aws.lambda.on.key.failure=park`) through the real worker:
//! a key whose record fails for good goes to the parked topic while the
//! other keys flow and the offset moves on; it comes back in order once a
//! retry succeeds, survives a restart, gives up after its attempts, and
//! the bounds hold.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_sink_core::journal::{Level, Query};
use lambda_sink_core::park;

use super::*;

const MS: Duration = Duration::from_millis(1);
const PARKED: &str = "parked-component";

/// Parking on, failing keys isolated by bisection, retried every second
/// or so, failures written to the error topic.
const PARKING: [(&str, &str); 8] = [
    ("aws.lambda.ordering", "key"),
    ("aws.lambda.on.key.failure", "park"),
    ("aws.lambda.bisect.on.function.error", "true"),
    ("aws.lambda.batch.size", "3"),
    ("aws.lambda.max.in.flight.per.partition", "4"),
    ("aws.lambda.park.retry.backoff.ms", "1000"),
    ("aws.lambda.park.retry.backoff.max.ms", "4000"),
    ("behavior.on.error", "log"),
];

/// [`PARKING`], with `extra` over it.
fn parking<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut props: Vec<(&str, &str)> = PARKING
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    props.extend_from_slice(extra);
    props
}

fn setup(extra: &[(&str, &str)], sick: Arc<AtomicBool>, fails: fn(&str, i64) -> bool) -> Setup {
    Setup::new(&parking(extra), move |_, call: &Call| {
        let failing = sick.load(Ordering::SeqCst)
            && call
                .keys
                .iter()
                .zip(&call.offsets)
                .any(|(k, o)| fails(&key_of(k.as_deref()), *o));
        if failing {
            Answer::After(10 * MS, boom())
        } else {
            Answer::After(10 * MS, ok("{}"))
        }
    })
}

/// A payload's key as text (the payload carries the bytes in base64);
/// empty for a null key.
fn key_of(element_key: Option<&str>) -> String {
    use base64::Engine as _;
    element_key
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .unwrap_or_default()
}

/// Key "a" fails, whatever the offset.
fn a_fails(key: &str, _: i64) -> bool {
    key == "a"
}

/// Records 0..n with keys a, b, c in turn.
fn abc(from: i64, to: i64) -> Vec<SourceRecord> {
    (from..to)
        .map(|o| {
            let key = ["a", "b", "c"][usize::try_from(o % 3).unwrap()];
            keyed(0, o, Some(key), "{}")
        })
        .collect()
}

impl Harness {
    /// Waits (in virtual time) until `done` holds.
    async fn until(&self, what: &str, done: impl Fn(&Self) -> bool) {
        self.until_within(PATIENCE, what, done).await;
    }

    /// Waits (in virtual time) up to `patience` until `done` holds.
    async fn until_within(&self, patience: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(patience, async {
            while !done(self) {
                tokio::time::sleep(10 * MS).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "never {what}; calls: {:?}; failure: {:?}",
            self.calls(),
            self.failure()
        );
    }

    /// The parked topic as written: each input offset's latest entry
    /// (`true`: parked, `false`: released), and how many records were
    /// parked in all (entries rewritten to count a failed retry aside).
    fn parked_topic(&self) -> (BTreeMap<i64, bool>, usize) {
        let mut latest = BTreeMap::new();
        let mut written = 0;
        for r in self.sent(PARKED) {
            let (_, offset) = park::parse_entry_key(r.key.as_deref().unwrap()).unwrap();
            latest.insert(offset, r.value.is_some());
            // Parks, not a failed retry counted over an entry.
            let parked = r
                .value
                .as_deref()
                .is_some_and(|v| park::decode(v).is_ok_and(|p| p.attempts == 0));
            written += usize::from(parked);
        }
        (latest, written)
    }

    /// The parked topic's latest entry for input offset `offset` (of
    /// partition 0), which must be a parked record.
    fn latest_entry(&self, offset: i64) -> park::ParkedRecord {
        let key = park::entry_key(
            &TopicPartition {
                topic: Arc::from(TOPIC),
                partition: 0,
            },
            offset,
        );
        let sent = self.sent(PARKED);
        let value = sent
            .iter()
            .rev()
            .find(|r| r.key.as_deref() == Some(key.as_slice()))
            .and_then(|r| r.value.as_deref())
            .expect("a parked entry");
        park::decode(value).unwrap()
    }

    fn parked_now(&self) -> Vec<i64> {
        self.parked_topic()
            .0
            .into_iter()
            .filter_map(|(o, parked)| parked.then_some(o))
            .collect()
    }

    /// Each key's offsets in the order calls carried them.
    fn invoked_by_key(&self) -> BTreeMap<String, Vec<i64>> {
        let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for call in self.lambda.calls.borrow().iter() {
            for (k, o) in call.keys.iter().zip(&call.offsets) {
                by_key.entry(key_of(k.as_deref())).or_default().push(*o);
            }
        }
        by_key
    }

    /// The offsets of key "a" (every third record of [`abc`]) in the
    /// success topic, in the order written.
    fn successes_of_a(&self) -> Vec<i64> {
        self.sent("success-component")
            .iter()
            .filter_map(fakes::input_offset)
            .filter(|o| o % 3 == 0)
            .collect()
    }

    fn events(&self, level: Level) -> Vec<String> {
        self.ctx
            .events
            .query(&Query {
                level,
                ..Query::default()
            })
            .into_iter()
            .map(|e| e.event.to_string())
            .collect()
    }
}

/// Offsets of `key` among records 0..n of [`abc`].
fn of_key(key: i64, n: i64) -> Vec<i64> {
    (0..n).filter(|o| o % 3 == key).collect()
}

#[tokio::test(start_paused = true)]
async fn a_failing_key_is_parked_while_the_others_flow_then_released_in_order() {
    let sick = Arc::new(AtomicBool::new(true));
    let h = setup(&[], sick.clone(), a_fails).start();
    h.deliver(abc(0, 30));
    // Everything is committed: a's records are parked, b's and c's done.
    h.stored(0, 30).await;
    assert_eq!(h.parked_now(), of_key(0, 30));
    let successes = h.sent("success-component");
    let succeeded: Vec<i64> = successes.iter().filter_map(fakes::input_offset).collect();
    let mut others: Vec<i64> = of_key(1, 30).into_iter().chain(of_key(2, 30)).collect();
    others.sort_unstable();
    let mut sorted = succeeded.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, others, "every record of the healthy keys succeeded");
    // a's records after its first batch (0, 3, 6: bisected down to 0, the
    // rest held back) were never invoked: they were parked.
    assert!(
        h.invoked_by_key()["a"]
            .iter()
            .all(|o| [0, 3, 6].contains(o))
    );
    assert_eq!(h.ctx.metrics.parked_keys.get(), 1);
    assert_eq!(h.ctx.metrics.parked_records.get(), 10);
    let parked_at = h.ctx.metrics.parked_oldest_timestamp.get();
    assert!(
        parked_at > 1_600_000_000,
        "the oldest parked key's time: {parked_at}"
    );
    assert!(
        h.sent("error-component").is_empty(),
        "a parked key is not an error"
    );
    // Retries fail while the function is sick; the key stays parked.
    h.until("retried", |h| {
        h.ctx
            .metrics
            .park_releases
            .get_or_create(&crate::metrics::ResultLabel { result: "failed" })
            .get()
            >= 2
    })
    .await;
    assert_eq!(h.parked_now(), of_key(0, 30));
    // Each failed retry is counted over the key's first entry, for its
    // next owner and the operator's listing.
    let first = h.latest_entry(0);
    assert!(first.attempts >= 2, "{first:?}");
    assert!(first.reason.contains("function error"), "{first:?}");
    // The function recovers: a's records are invoked in offset order and
    // released, the key flows again.
    let before = h.calls().len();
    sick.store(false, Ordering::SeqCst);
    h.until("released", |h| h.parked_now().is_empty()).await;
    h.until("counted", |h| h.ctx.metrics.parked_keys.get() == 0)
        .await;
    // From the recovery on, each of a's records is invoked once, in order.
    let after: Vec<i64> = h.lambda.calls.borrow()[before..]
        .iter()
        .flat_map(|c| c.keys.iter().zip(&c.offsets))
        .filter(|(k, _)| key_of(k.as_deref()) == "a")
        .map(|(_, o)| *o)
        .collect();
    assert_eq!(after, of_key(0, 30));
    assert_eq!(
        h.successes_of_a(),
        of_key(0, 30),
        "a's outcomes, once each, in order"
    );
    assert_eq!(h.ctx.metrics.parked_records.get(), 0);
    assert_eq!(
        h.ctx.metrics.parked_oldest_timestamp.get(),
        0,
        "nothing parked"
    );
    // The key flows again: its next record is invoked, not parked.
    h.deliver([keyed(0, 30, Some("a"), "{}")]);
    h.stored(0, 31).await;
    assert_eq!(h.invoked_by_key()["a"].last(), Some(&30));
    assert_eq!(h.parked_topic().1, 10, "nothing parked twice");
    let warned = h.events(Level::Warn);
    assert!(warned.contains(&"key_parked".to_string()), "{warned:?}");
    assert!(h.events(Level::Info).contains(&"key_released".to_string()));
    // A graceful stop finishes everything (nothing abandoned).
    h.drain(Release::Shutdown).await;
    assert!(!h.ctx.abandoned(), "a graceful stop abandoned work");
    assert_eq!(h.failure(), None);
}

#[tokio::test(start_paused = true)]
async fn a_parked_key_stays_parked_across_a_restart_and_keeps_its_order() {
    let sick = Arc::new(AtomicBool::new(true));
    let first = setup(&[], sick.clone(), a_fails).start();
    first.deliver(abc(0, 12));
    first.stored(0, 12).await;
    assert_eq!(first.parked_now(), of_key(0, 12));
    first.stop.cancel();
    first.idle().await;
    // The partition's next owner: from the parked topic, and (a crash
    // before the commit) every record again, and new ones.
    let mut again = setup(&[], sick.clone(), a_fails);
    again.outcomes = Some(first.outcomes.clone());
    let second = again.start();
    second.deliver(abc(0, 15));
    second.stored(0, 15).await;
    // a's new record went to the parked topic, never to the function.
    assert_eq!(second.parked_now(), of_key(0, 15));
    assert!(
        second
            .invoked_by_key()
            .get("a")
            .is_none_or(|a| a.iter().all(|o| *o < 12))
    );
    assert_eq!(
        second.parked_topic().1,
        5,
        "records parked before are not parked again"
    );
    sick.store(false, Ordering::SeqCst);
    second
        .until("released", |h| h.parked_now().is_empty())
        .await;
    assert_eq!(
        second.successes_of_a(),
        of_key(0, 15),
        "a's records, in order, after the restart"
    );
    assert_eq!(second.failure(), None);
}

#[tokio::test(start_paused = true)]
async fn a_parked_topic_that_cannot_be_read_stops_the_connector_before_anything_runs() {
    let sick = Arc::new(AtomicBool::new(true));
    let first = setup(&[], sick.clone(), a_fails).start();
    first.deliver(abc(0, 3));
    first.stored(0, 3).await;
    first.stop.cancel();
    first.idle().await;
    // Someone else's record in the parked topic.
    crate::pipeline::ports::Outcomes::send(
        first.outcomes.as_ref(),
        OutcomeRecord {
            topic: Arc::from(PARKED),
            key: Some(b"orders/0/7".to_vec()),
            value: Some(b"not a parked record".to_vec()),
            headers: Vec::new(),
            timestamp: None,
        },
    )
    .await
    .unwrap();
    let mut again = setup(&[], sick, a_fails);
    again.outcomes = Some(first.outcomes.clone());
    let second = again.start();
    second.deliver(abc(3, 6));
    let reason = second.failed().await;
    assert!(
        reason.contains("orders[0]: its parked keys cannot be rebuilt: not a parked record"),
        "{reason}"
    );
    assert!(
        second.calls().is_empty(),
        "invoked before its parked keys were known"
    );
    assert_eq!(second.offset(0), None);
}

#[tokio::test(start_paused = true)]
async fn a_key_that_keeps_failing_is_given_up_and_resolved_as_failed() {
    // Records of "a" below offset 10 always fail.
    fn early_a_fails(key: &str, offset: i64) -> bool {
        key == "a" && offset < 10
    }
    let h = setup(
        &[("aws.lambda.park.max.attempts", "2")],
        Arc::new(AtomicBool::new(true)),
        early_a_fails,
    )
    .start();
    h.deliver(abc(0, 9));
    h.stored(0, 9).await;
    h.until("given up", |h| h.parked_now().is_empty()).await;
    // Resolved as without parking: the error topic, once each, in order.
    let errors: Vec<i64> = h
        .sent("error-component")
        .iter()
        .map(|r| header(r, "input_record_offset").unwrap().parse().unwrap())
        .collect();
    assert_eq!(errors, of_key(0, 9));
    let gave_up = h
        .ctx
        .metrics
        .park_releases
        .get_or_create(&crate::metrics::ResultLabel { result: "gave_up" })
        .get();
    assert!(gave_up >= 1);
    assert!(h.events(Level::Warn).contains(&"key_gave_up".to_string()));
    // The key flows again.
    h.deliver([keyed(0, 12, Some("a"), "{}")]);
    h.stored(0, 13).await;
    assert_eq!(h.invoked_by_key()["a"].last(), Some(&12));
    assert!(h.parked_now().is_empty());
}

#[tokio::test(start_paused = true)]
async fn keys_beyond_the_bound_and_keys_that_are_null_are_resolved_as_without_parking() {
    fn a_and_b_fail(key: &str, _: i64) -> bool {
        key == "a" || key == "b" || key.is_empty()
    }
    let h = setup(
        &[("aws.lambda.park.max.keys", "1")],
        Arc::new(AtomicBool::new(true)),
        a_and_b_fail,
    )
    .start();
    h.deliver([
        keyed(0, 0, Some("a"), "{}"),
        keyed(0, 1, Some("b"), "{}"),
        keyed(0, 2, None, "{}"),
    ]);
    h.stored(0, 3).await;
    assert_eq!(h.parked_now(), vec![0]);
    let mut errors: Vec<i64> = h
        .sent("error-component")
        .iter()
        .map(|r| header(r, "input_record_offset").unwrap().parse().unwrap())
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        vec![1, 2],
        "b over the bound, the null key never parked"
    );
    assert!(h.events(Level::Warn).contains(&"park_full".to_string()));
}

#[tokio::test(start_paused = true)]
async fn the_parked_records_bound_stops_the_connector_before_a_record_passes() {
    let h = setup(
        &[("aws.lambda.park.max.records", "3")],
        Arc::new(AtomicBool::new(true)),
        a_fails,
    )
    .start();
    h.deliver(abc(0, 12));
    let reason = h.failed().await;
    assert!(
        reason.contains("aws.lambda.park.max.records (3)") && reason.contains("offsets 9"),
        "{reason}"
    );
    // a's fourth record (offset 9) is neither parked nor committed past.
    assert!(h.offset(0).is_none_or(|o| o <= 9), "{:?}", h.offset(0));
    assert_eq!(h.parked_now(), vec![0, 3, 6]);
}

mod property {
    //! A property test of parking through the real worker: random keys
    //! (some null), keys that fail a random number of times before they
    //! recover, random latencies, and a crash at a random moment (the
    //! first owner's runtime dropped, as kill -9 would; the next owner
    //! starts from the committed offset and the parked topic).

    use std::collections::{BTreeSet, HashMap};
    use std::sync::Mutex;

    use proptest::prelude::*;

    use super::*;

    /// A call as the function saw it: each record's key and offset, and
    /// whether it succeeded.
    type Seen = Arc<Mutex<Vec<(Vec<(String, i64)>, bool)>>>;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime")
    }

    /// A function failing every call that holds a key with failures left
    /// (using one of each), after `latency`.
    fn function(
        failures: Arc<Mutex<HashMap<String, usize>>>,
        seen: Seen,
        latencies: Vec<u32>,
    ) -> impl Fn(usize, &Call) -> Answer + Send + Sync + 'static {
        move |n, call: &Call| {
            let records: Vec<(String, i64)> = call
                .keys
                .iter()
                .zip(&call.offsets)
                .map(|(k, o)| (key_of(k.as_deref()), *o))
                .collect();
            let mut left = lock(&failures);
            let keys: BTreeSet<&String> = records.iter().map(|(k, _)| k).collect();
            let fails = keys.iter().any(|k| left.get(*k).is_some_and(|n| *n > 0));
            if fails {
                for k in keys {
                    if let Some(n) = left.get_mut(k) {
                        *n = n.saturating_sub(1);
                    }
                }
            }
            lock(&seen).push((records, !fails));
            let latency = MS * latencies[n % latencies.len()];
            Answer::After(latency, if fails { boom() } else { ok("{}") })
        }
    }

    /// How a run starts: exactly-once or not, and (a restart) what Kafka
    /// holds and the group's committed offset.
    struct Run {
        exactly_once: bool,
        kafka: Option<Arc<FakeOutcomes>>,
        group_offset: Option<i64>,
    }

    fn start(
        run: Run,
        failures: &Arc<Mutex<HashMap<String, usize>>>,
        seen: &Seen,
        latencies: &[u32],
    ) -> Harness {
        let mut props = PARKING.to_vec();
        props.push(("aws.lambda.park.max.attempts", "-1"));
        let mut setup = Setup::new(
            &props,
            function(failures.clone(), seen.clone(), latencies.to_vec()),
        );
        setup.audit = true;
        setup.transactional = run.exactly_once;
        setup.outcomes = run.kafka;
        setup.group_offset = run.group_offset;
        setup.start()
    }

    fn check(
        exactly_once: bool,
        keys: &[Option<u8>],
        poisoned: &[(u8, usize)],
        latencies: &[u32],
        crash_after_ms: u64,
    ) -> Result<(), TestCaseError> {
        let n = keys.len() as i64;
        let records: Vec<SourceRecord> = keys
            .iter()
            .enumerate()
            .map(|(o, k)| {
                let key = k.map(|k| format!("k{k}"));
                keyed(0, o as i64, key.as_deref(), "{}")
            })
            .collect();
        let failures = Arc::new(Mutex::new(
            poisoned
                .iter()
                .map(|(k, times)| (format!("k{k}"), *times))
                .collect::<HashMap<_, _>>(),
        ));
        let seen: Seen = Arc::default();
        // The first owner, until the crash.
        let first = runtime();
        let (kafka, committed, first_spans, violations) = first.block_on(async {
            let run = Run {
                exactly_once,
                kafka: None,
                group_offset: None,
            };
            let h = start(run, &failures, &seen, latencies);
            h.deliver(records.clone());
            tokio::time::sleep(MS * u32::try_from(crash_after_ms).unwrap()).await;
            let spans = lock(&h.lambda.spans).clone();
            let violations = lock(&h.store.violations).clone();
            (h.kafka.clone(), h.offset(0), spans, violations)
        });
        drop(first);
        prop_assert_eq!(violations, Vec::<String>::new());
        prop_assert_eq!(
            super::super::cases::shared_keys_in_flight(&first_spans),
            vec![]
        );
        // The next owner: from the committed offset and the parked topic.
        let next = runtime();
        next.block_on(async {
            let run = Run {
                exactly_once,
                kafka: Some(kafka),
                group_offset: committed,
            };
            let h = start(run, &failures, &seen, latencies);
            let committed = committed.unwrap_or(0);
            h.handler.assigned(&[TopicPartition {
                topic: Arc::from(TOPIC),
                partition: 0,
            }]);
            h.deliver(
                records[usize::try_from(committed).unwrap()..]
                    .iter()
                    .cloned(),
            );
            if committed < n {
                h.stored(0, n).await;
            }
            // Keys fail at most 3 times, retried within 4 s: a minute is
            // ample (and a case that never releases fails in seconds).
            let minute = Duration::from_secs(60);
            h.until_within(minute, "every key released", |h| h.parked_now().is_empty())
                .await;
            prop_assert_eq!(lock(&h.store.violations).clone(), Vec::<String>::new());
            let spans = lock(&h.lambda.spans).clone();
            prop_assert_eq!(super::super::cases::shared_keys_in_flight(&spans), vec![]);
            outcome_of_each(&h, n, exactly_once)
        })?;
        per_key_order(&seen)
    }

    /// Every record succeeded at least once; exactly-once, Kafka holds
    /// exactly one outcome of each, and nothing bypassed the transactions.
    fn outcome_of_each(h: &Harness, n: i64, exactly_once: bool) -> Result<(), TestCaseError> {
        let mut succeeded: Vec<i64> = h
            .sent("success-component")
            .iter()
            .filter_map(fakes::input_offset)
            .collect();
        succeeded.sort_unstable();
        if !exactly_once {
            succeeded.dedup();
        }
        prop_assert_eq!(succeeded, (0..n).collect::<Vec<_>>());
        let bypassed = lock(&h.outcomes.sent).len();
        prop_assert!(
            !exactly_once || bypassed == 0,
            "{} outcomes bypassed the transactions",
            bypassed
        );
        Ok(())
    }

    /// Each key's records succeeded in offset order (a record may succeed
    /// again after the crash: at-least-once).
    fn per_key_order(seen: &Seen) -> Result<(), TestCaseError> {
        let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for (records, ok) in lock(seen).iter() {
            if !ok {
                continue;
            }
            for (k, o) in records {
                let offsets = order.entry(k.clone()).or_default();
                if !k.is_empty() && !offsets.contains(o) {
                    offsets.push(*o);
                }
            }
        }
        for (key, offsets) in order {
            prop_assert!(
                offsets.windows(2).all(|w| w[0] < w[1]),
                "key {} out of order: {:?}",
                key,
                offsets
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn parked_keys_keep_their_order_and_lose_nothing_across_a_crash(
            exactly_once in any::<bool>(),
            keys in prop::collection::vec(prop::option::weighted(0.9, 0u8..6), 1..50),
            poisoned in prop::collection::vec((0u8..6, 1usize..4), 0..3),
            latencies in prop::collection::vec(1u32..40, 1..10),
            crash_after_ms in 0u64..6_000,
        ) {
            check(exactly_once, &keys, &poisoned, &latencies, crash_after_ms)?;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn exactly_once_a_release_waits_until_its_parked_records_are_committed() {
    // b succeeds at once, "slow" takes 30 s, a fails once: a is parked
    // and its retry (after 1 s) succeeds while slow still holds the
    // partition's offset below a's, so a's parked entry is not committed
    // yet. Its release must wait for that commit: a transaction may only
    // carry the late outcome of a record whose offset it covers.
    let failed = Arc::new(AtomicBool::new(false));
    let once = failed.clone();
    let mut setup = Setup::new(
        &parking(&[("aws.lambda.batch.size", "1")]),
        move |_, call: &Call| match key_of(call.keys[0].as_deref()).as_str() {
            "slow" => Answer::After(Duration::from_secs(30), ok("{}")),
            "a" if !once.swap(true, Ordering::SeqCst) => Answer::After(10 * MS, boom()),
            _ => Answer::After(10 * MS, ok("{}")),
        },
    );
    setup.transactional = true;
    let h = setup.start();
    h.deliver([
        keyed(0, 0, Some("b"), "{}"),
        keyed(0, 1, Some("slow"), "{}"),
        keyed(0, 2, Some("a"), "{}"),
    ]);
    // b, a and a's retry answered (slow has not).
    h.until("a's retry answered", |h| lock(&h.lambda.spans).len() >= 3)
        .await;
    h.idle().await;
    assert!(failed.load(Ordering::SeqCst));
    assert_eq!(h.offset(0), Some(1), "slow still holds the offset");
    assert!(
        h.sent("success-component")
            .iter()
            .filter_map(fakes::input_offset)
            .all(|o| o < 1),
        "a's outcome committed before its parked entry"
    );
    h.stored(0, 3).await;
    h.until("a released", |h| h.parked_now().is_empty()).await;
    assert_eq!(lock(&h.store.violations).clone(), Vec::<String>::new());
    let succeeded: Vec<i64> = h
        .sent("success-component")
        .iter()
        .filter_map(fakes::input_offset)
        .collect();
    assert_eq!(succeeded, vec![0, 1, 2], "one outcome each, in this order");
    assert!(lock(&h.outcomes.sent).is_empty(), "all in transactions");
}

#[tokio::test(start_paused = true)]
async fn an_operators_order_retries_a_parked_key_now_or_skips_it() {
    // Retries an hour apart: only an order brings them sooner.
    let slow = [
        ("aws.lambda.park.retry.backoff.ms", "3600000"),
        ("aws.lambda.park.retry.backoff.max.ms", "3600000"),
    ];
    let sick = Arc::new(AtomicBool::new(true));
    let h = setup(&slow, sick.clone(), |key, _| key == "a" || key == "b").start();
    h.deliver(abc(0, 9));
    h.stored(0, 9).await;
    let mut parked = of_key(0, 9);
    parked.extend(of_key(1, 9));
    parked.sort_unstable();
    assert_eq!(h.parked_now(), parked);
    // An order for another partition, or a key not parked, does nothing.
    h.ctx.orders.give(TOPIC, 1, b"a".to_vec(), false);
    h.ctx.orders.give(TOPIC, 0, b"c".to_vec(), false);
    h.idle().await;
    assert_eq!(h.parked_now(), parked);
    // Retried now: with the function well again, a is released, in order,
    // an hour before its retry was due.
    sick.store(false, Ordering::SeqCst);
    h.ctx.orders.give(TOPIC, 0, b"a".to_vec(), false);
    h.until("a released", |h| h.parked_now() == of_key(1, 9))
        .await;
    assert_eq!(h.successes_of_a(), of_key(0, 9));
    // Skipped: b's records are resolved as failed (the error topic, as
    // behavior.on.error=log says) without being invoked again.
    let b_calls = h.invoked_by_key()["b"].len();
    h.ctx.orders.give(TOPIC, 0, b"b".to_vec(), true);
    h.until("b released", |h| h.parked_now().is_empty()).await;
    assert_eq!(
        h.invoked_by_key()["b"].len(),
        b_calls,
        "a skip invokes nothing"
    );
    let errors: Vec<i64> = h
        .sent("error-component")
        .iter()
        .filter_map(fakes::input_offset)
        .collect();
    assert_eq!(errors, of_key(1, 9));
    let told = h.events(Level::Info);
    for event in ["key_retry_ordered", "key_skip_ordered"] {
        assert!(told.contains(&event.to_string()), "{event}: {told:?}");
    }
    h.drain(Release::Shutdown).await;
    assert_eq!(h.failure(), None);
}
