//! What a connector's partition workers in one process share of parked
//! keys (`aws.lambda.on.key.failure=park`): the parked topic and how to
//! read it, the retry policy, and the keys and records parked against
//! `aws.lambda.park.max.keys` / `.max.records` ([`Parking`]), and the
//! operator's orders for parked keys ([`Orders`]: retry now, skip). The
//! workers' own part is [`park`](super::park).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use lambda_sink_core::config::Park;
use lambda_sink_core::park::{self as rules, Refused, RetryPolicy};
use lambda_sink_core::record::TopicPartition;

use super::ports::ParkedStore;
use crate::metrics::{Metrics, ResultLabel};
use crate::sync::lock;

/// Parking as a connector's workers in one process share it: the parked
/// topic, the retry policy, and the keys and records parked against
/// `aws.lambda.park.max.keys` / `.max.records`.
pub(crate) struct Parking {
    pub(super) store: Arc<dyn ParkedStore>,
    /// The parked topic.
    pub(crate) topic: Arc<str>,
    pub(super) policy: RetryPolicy,
    pub(super) max: (usize, usize),
    /// Keys and records parked now.
    held: Mutex<(usize, usize)>,
    /// When each partition's longest-parked key was parked (epoch ms).
    oldest: Mutex<HashMap<TopicPartition, i64>>,
    metrics: Arc<Metrics>,
}

impl Parking {
    /// Parking as `park` configures it, reading the parked topic through
    /// `store`.
    pub(crate) fn new(park: &Park, store: Arc<dyn ParkedStore>, metrics: Arc<Metrics>) -> Self {
        Self {
            store,
            topic: Arc::from(park.topic.name.as_str()),
            policy: RetryPolicy {
                backoff: park.backoff,
                backoff_max: park.backoff_max,
                max_attempts: park.max_attempts,
            },
            max: (park.max_keys, park.max_records),
            held: Mutex::new((0, 0)),
            oldest: Mutex::default(),
            metrics,
        }
    }

    /// Takes room for `records` more parked records (of a key not parked
    /// yet, with `new_key`), if the bounds allow.
    pub(super) fn admit(&self, new_key: bool, records: usize) -> Result<(), Refused> {
        let mut held = lock(&self.held);
        let (keys, parked) = *held;
        rules::admit(new_key, records, (keys, self.max.0), (parked, self.max.1))?;
        *held = (keys + usize::from(new_key), parked + records);
        self.show(*held);
        Ok(())
    }

    /// Counts keys and records parked without asking (a rebuilt set: they
    /// are parked whatever the bounds say now).
    pub(super) fn add(&self, keys: usize, records: usize) {
        let mut held = lock(&self.held);
        *held = (held.0 + keys, held.1 + records);
        self.show(*held);
    }

    /// Gives back room: `keys` keys and `records` records are no longer
    /// parked here (released, or their partition moved).
    pub(super) fn free(&self, keys: usize, records: usize) {
        let mut held = lock(&self.held);
        *held = (held.0.saturating_sub(keys), held.1.saturating_sub(records));
        self.show(*held);
    }

    fn show(&self, (keys, records): (usize, usize)) {
        self.metrics
            .parked_keys
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.metrics
            .parked_records
            .set(i64::try_from(records).unwrap_or(i64::MAX));
    }

    /// Notes when `tp`'s longest-parked key was parked (`None`: none is,
    /// or the partition left this process), for the instance's oldest.
    pub(super) fn oldest(&self, tp: &TopicPartition, parked_at: Option<i64>) {
        let mut oldest = lock(&self.oldest);
        match parked_at {
            Some(at) => oldest.insert(tp.clone(), at),
            None => oldest.remove(tp),
        };
        let seconds = oldest.values().min().map_or(0, |ms| ms / 1000);
        self.metrics.parked_oldest_timestamp.set(seconds);
    }

    /// Counts a release by `result`.
    pub(super) fn released(&self, result: &'static str) {
        self.metrics
            .park_releases
            .get_or_create(&ResultLabel { result })
            .inc();
    }
}

/// An operator's order for a parked key: retry it now, or skip it (its
/// parked records resolved as failed, without an invocation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Order {
    /// Its number among the connector's orders, from 1.
    pub(super) seq: u64,
    /// Where the key is parked.
    pub topic: String,
    /// Where the key is parked.
    pub partition: i32,
    /// The key.
    pub key: Vec<u8>,
    /// Skip rather than retry.
    pub skip: bool,
}

/// How many orders are kept for workers that have not looked yet.
const ORDERS_KEPT: usize = 64;

/// The operator's orders for a connector's parked keys, handed to every
/// partition worker of its runs in this process: the worker holding the
/// key carries an order out, once; a worker that starts later ignores the
/// orders given before it started (the key, if still parked, was ordered
/// of its previous owner).
#[derive(Clone, Debug)]
pub struct Orders(Arc<watch::Sender<Vec<Order>>>);

impl Default for Orders {
    fn default() -> Self {
        Self(Arc::new(watch::channel(Vec::new()).0))
    }
}

impl Orders {
    /// Orders `key`, parked in `topic`-`partition`, retried now (or
    /// skipped).
    pub fn give(&self, topic: &str, partition: i32, key: Vec<u8>, skip: bool) {
        self.0.send_modify(|orders| {
            let seq = orders.last().map_or(1, |o| o.seq + 1);
            orders.push(Order {
                seq,
                topic: topic.to_string(),
                partition,
                key,
                skip,
            });
            let drop = orders.len().saturating_sub(ORDERS_KEPT);
            orders.drain(..drop);
        });
    }

    /// A partition worker's view: new orders from now on.
    pub(super) fn follow(&self) -> OrdersSeen {
        let rx = self.0.subscribe();
        let seen = rx.borrow().last().map_or(0, |o| o.seq);
        OrdersSeen { rx, seen }
    }
}

/// The orders a partition worker has seen.
pub(super) struct OrdersSeen {
    rx: watch::Receiver<Vec<Order>>,
    seen: u64,
}

impl OrdersSeen {
    /// Waits for new orders.
    pub(super) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // The handle is gone: no order will come.
            std::future::pending::<()>().await;
        }
    }

    /// The orders given since the last call, oldest first.
    pub(super) fn new_orders(&mut self) -> Vec<Order> {
        let orders: Vec<Order> = self
            .rx
            .borrow_and_update()
            .iter()
            .filter(|o| o.seq > self.seen)
            .cloned()
            .collect();
        if let Some(last) = orders.last() {
            self.seen = last.seq;
        }
        orders
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_sees_the_orders_given_after_it_started_once_each() {
        let orders = Orders::default();
        orders.give("t", 0, b"old".to_vec(), false);
        let mut seen = orders.follow();
        assert!(seen.new_orders().is_empty(), "orders before it started");
        orders.give("t", 0, b"a".to_vec(), false);
        orders.give("t", 1, b"b".to_vec(), true);
        let keys: Vec<(Vec<u8>, bool)> = seen
            .new_orders()
            .into_iter()
            .map(|o| (o.key, o.skip))
            .collect();
        assert_eq!(keys, vec![(b"a".to_vec(), false), (b"b".to_vec(), true)]);
        assert!(seen.new_orders().is_empty(), "each once");
        for i in 0..100_u8 {
            orders.give("t", 0, vec![i], false);
        }
        let kept = seen.new_orders();
        assert_eq!(
            (kept.len(), kept.last().map(|o| o.key.clone())),
            (ORDERS_KEPT, Some(vec![99]))
        );
    }
}
