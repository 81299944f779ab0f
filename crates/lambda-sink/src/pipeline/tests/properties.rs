//! A property test of the real worker under `aws.lambda.ordering`: random
//! keys (some null), random function latencies, random failures (function
//! errors written to the error topic, retryable 503s), one partition with
//! several batches in flight. Whatever completes first:
//!
//! * in `key` mode no two calls in flight share a key, and each key's
//!   records reach the function in offset order;
//! * in `partition` mode calls never overlap and go in offset order;
//! * every stored offset comes after records whose outcomes are written
//!   (the fake offset store audits each store), and the last is the end;
//! * with `reporter.exactly.once`, each store carries exactly the outcome
//!   records of the records since the previous one, in offset order,
//!   however out of order the batches resolved.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::fakes::Span;
use super::*;

/// What the function does with the n-th call.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Ok,
    FunctionError,
    Unavailable,
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        6 => Just(Behaviour::Ok),
        1 => Just(Behaviour::FunctionError),
        1 => Just(Behaviour::Unavailable),
    ]
}

fn answer(latency_ms: u32, behaviour: Behaviour) -> Answer {
    let latency = Duration::from_millis(u64::from(latency_ms));
    match behaviour {
        Behaviour::Ok => Answer::After(latency, ok("{}")),
        Behaviour::FunctionError => Answer::After(latency, boom()),
        Behaviour::Unavailable => Answer::After(latency, failure(503, "ServiceException")),
    }
}

/// Each key's offsets in the order calls started.
fn per_key_order(spans: &[Span]) -> BTreeMap<String, Vec<i64>> {
    let mut by_start: Vec<&Span> = spans.iter().collect();
    by_start.sort_by_key(|s| s.started);
    let mut order: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in by_start {
        for (key, offset) in s.call.keys.iter().zip(&s.call.offsets) {
            if let Some(k) = key {
                order.entry(k.clone()).or_default().push(*offset);
            }
        }
    }
    order
}

fn check(
    ordering: &str,
    exactly_once: bool,
    keys: &[Option<u8>],
    latencies: Vec<u32>,
    behaviours: Vec<Behaviour>,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut setup = Setup::new(
            &[
                ("aws.lambda.ordering", ordering),
                ("aws.lambda.max.in.flight.per.partition", "4"),
                ("aws.lambda.batch.size", "3"),
                ("aws.lambda.retry.backoff.ms", "5"),
                ("aws.lambda.retry.backoff.max.ms", "5"),
                // A call that keeps failing gives up soon (an error record).
                ("aws.lambda.retry.timeout.ms", "100"),
                ("behavior.on.error", "log"),
            ],
            move |n, _: &Call| {
                let latency = latencies.get(n % latencies.len().max(1)).copied();
                let behaviour = behaviours.get(n % behaviours.len().max(1)).copied();
                answer(latency.unwrap_or(10), behaviour.unwrap_or(Behaviour::Ok))
            },
        );
        setup.audit = true;
        setup.transactional = exactly_once;
        let h = setup.start();
        let n = keys.len() as i64;
        h.deliver(keys.iter().enumerate().map(|(o, k)| {
            let key = k.map(|k| format!("key-{k}"));
            keyed(0, o as i64, key.as_deref(), "{}")
        }));
        h.stored(0, n).await;
        let spans = lock(&h.lambda.spans).clone();
        prop_assert_eq!(lock(&h.store.violations).clone(), Vec::<String>::new());
        if exactly_once {
            prop_assert!(
                lock(&h.outcomes.sent).is_empty(),
                "an outcome bypassed the transaction"
            );
            let released: usize = lock(&h.store.released)
                .iter()
                .map(|(_, _, o)| o.len())
                .sum();
            prop_assert_eq!(released, keys.len(), "one outcome per record");
        }
        match ordering {
            "key" => {
                prop_assert_eq!(super::cases::shared_keys_in_flight(&spans), vec![]);
                for (key, offsets) in per_key_order(&spans) {
                    // A retried call repeats its offsets: order is by first sight.
                    let mut seen = Vec::new();
                    for o in offsets {
                        if !seen.contains(&o) {
                            seen.push(o);
                        }
                    }
                    prop_assert!(
                        seen.windows(2).all(|w| w[0] < w[1]),
                        "key {} out of order: {:?}",
                        key,
                        seen
                    );
                }
            }
            "partition" => {
                let mut by_start = spans.clone();
                by_start.sort_by_key(|s| s.started);
                for w in by_start.windows(2) {
                    prop_assert!(
                        w[0].ended <= w[1].started,
                        "calls overlap in partition mode"
                    );
                    let (a, b) = (&w[0].call.offsets, &w[1].call.offsets);
                    prop_assert!(a == b || a.last() < b.first(), "{:?} then {:?}", a, b);
                }
            }
            _ => {}
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ordering_holds_through_the_real_worker(
        keys in prop::collection::vec(prop::option::weighted(0.9, 0u8..6), 1..60),
        latencies in prop::collection::vec(1u32..50, 1..30),
        behaviours in prop::collection::vec(behaviour(), 1..30),
        ordering in prop::sample::select(vec!["partition", "key", "none"]),
        exactly_once in any::<bool>(),
    ) {
        check(ordering, exactly_once, &keys, latencies, behaviours)?;
    }
}
