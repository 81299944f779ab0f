//! From resolved records to stored offsets: a batch's outcome records are
//! enqueued in order, and its offsets are stored once Kafka acknowledges
//! them all (at-least-once), or they are released with the offsets that
//! resolve them into the task's transaction (`reporter.exactly.once`). The
//! committer runs beside the worker, so batches go on while earlier
//! outcomes are still being acknowledged. The worker tracks every
//! record in the partition's [`Ledger`] as it takes it, in offset order;
//! batches resolve in any order (`aws.lambda.ordering` `key` and `none`),
//! and the [`OffsetTracker`] stores only the contiguous watermark, never
//! past an unresolved record.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::{FuturesUnordered, StreamExt};
use lambda_sink_core::offsets::OffsetTracker;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::route::Outcome;
use lambda_sink_core::transaction::Lease;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::partition::Worker;
use super::ports::Offsets;
use super::{Halt, Shared, lock};
use crate::kafka::producer::{OutcomeRecord, ProduceError};

/// Most batches whose outcomes may await acknowledgement at once, per
/// partition, beyond its batches in flight.
pub(super) const PENDING_BATCHES: usize = 4;

/// A partition's consumed records until their offsets are committable:
/// tracked by the worker, resolved by the committer.
pub(super) type Ledger = Arc<Mutex<OffsetTracker>>;

/// A resolved batch on its way to the committer.
pub(super) struct Pending {
    offsets: Vec<i64>,
    outcomes: Durable,
}

/// How a batch's outcome records become durable.
enum Durable {
    /// At-least-once: once Kafka acknowledges these deliveries; then the
    /// offsets are stored.
    Acknowledged(BoxFuture<'static, Result<(), ProduceError>>),
    /// Exactly-once: each record with its input record's offset, written
    /// in the transaction that commits an offset past it.
    WithOffsets(Vec<(i64, OutcomeRecord)>),
}

impl Worker {
    /// Hands the batch's outcome records (in order) to the committer: sent
    /// now and its offsets stored once all are acknowledged
    /// (at-least-once), or kept until its offsets are committable and then
    /// released with them (exactly-once).
    pub(super) async fn resolve(
        &self,
        records: &[SourceRecord],
        outcome: Outcome,
        outcomes: Vec<OutcomeRecord>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Halt> {
        self.shared.metrics.resolved(outcome, records.len());
        let outcomes = if self.store.with_outcomes() {
            // One outcome record per input record (extras, if any, go with
            // the last).
            let last = records.last().map_or(0, |r| r.offset);
            let tagged = outcomes
                .into_iter()
                .enumerate()
                .map(|(i, o)| (records.get(i).map_or(last, |r| r.offset), o))
                .collect();
            Durable::WithOffsets(tagged)
        } else {
            let deliveries: Vec<_> = outcomes
                .into_iter()
                .map(|o| self.shared.outcomes.send(o))
                .collect();
            Durable::Acknowledged(try_join_all(deliveries).map(|r| r.map(|_| ())).boxed())
        };
        let offsets = records.iter().map(|r| r.offset).collect();
        pending
            .send(Pending { offsets, outcomes })
            .await
            .map_err(|_| Halt::Stopped)
    }
}

/// Stores the committable offset as it advances: at-least-once once each
/// batch's outcomes are acknowledged (an outcome that cannot be written
/// stops the connector, and neither its records nor any after them are
/// stored); exactly-once with the outcome records of every record below
/// it, released in offset order, so a transaction never holds an outcome
/// whose offset it does not commit, nor commits an offset whose outcome it
/// does not hold.
pub(super) async fn commit_loop(
    tp: TopicPartition,
    lease: Lease,
    ledger: Ledger,
    mut pending: mpsc::Receiver<Pending>,
    store: Arc<dyn Offsets>,
    shared: Arc<Shared>,
) {
    let mut waiting = FuturesUnordered::new();
    // Exactly-once: outcome records by input offset, until committable.
    let mut held: BTreeMap<i64, Vec<OutcomeRecord>> = BTreeMap::new();
    let mut open = true;
    loop {
        let resolved = tokio::select! {
            biased;
            Some((offsets, result)) = waiting.next(), if !waiting.is_empty() => {
                if let Err(e) = result {
                    shared.fail(format!("{e}"));
                    return;
                }
                offsets
            }
            p = pending.recv(), if open => match p {
                Some(Pending { offsets, outcomes: Durable::Acknowledged(done) }) => {
                    waiting.push(done.map(move |r| (offsets, r)));
                    continue;
                }
                Some(Pending { offsets, outcomes: Durable::WithOffsets(tagged) }) => {
                    for (offset, record) in tagged {
                        held.entry(offset).or_default().push(record);
                    }
                    offsets
                }
                None => {
                    open = false;
                    continue;
                }
            },
            else => return,
        };
        let Some(next) = advance(&ledger, resolved) else {
            continue;
        };
        let later = held.split_off(&next);
        let released = std::mem::replace(&mut held, later)
            .into_iter()
            .flat_map(|(offset, records)| records.into_iter().map(move |r| (offset, r)))
            .collect();
        if let Err(e) = store.store(&tp, lease, next, released).await {
            debug!(error = %e, next, "offset not stored (partition no longer held)");
        }
    }
}

/// Marks `offsets` resolved; the committable offset if it advanced.
fn advance(ledger: &Ledger, offsets: Vec<i64>) -> Option<i64> {
    let mut next = None;
    let mut tracker = lock(ledger);
    for o in offsets {
        match tracker.resolve(o) {
            Ok(Some(n)) => next = Some(n),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "offset tracking"),
        }
    }
    next
}
