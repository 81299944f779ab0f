//! What a connector's partition workers in one process share of parked
//! keys (`aws.lambda.on.key.failure=park`): the parked topic and how to
//! read it, the retry policy, and the keys and records parked against
//! `aws.lambda.park.max.keys` / `.max.records` ([`Parking`]). The workers'
//! own part is [`park`](super::park).

use std::sync::{Arc, Mutex};

use lambda_sink_core::config::Park;
use lambda_sink_core::park::{self as rules, Refused, RetryPolicy};

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

    /// Counts a release by `result`.
    pub(super) fn released(&self, result: &'static str) {
        self.metrics
            .park_releases
            .get_or_create(&ResultLabel { result })
            .inc();
    }
}
