//! From resolved records to stored offsets: a batch's outcome records are
//! enqueued in order, and its offsets are stored once Kafka acknowledges
//! them all. The committer runs beside the worker, so batches go on while
//! earlier outcomes are still being acknowledged. The worker tracks every
//! record in the partition's [`Ledger`] as it takes it, in offset order;
//! batches resolve in any order (`aws.lambda.ordering` `key` and `none`),
//! and the [`OffsetTracker`] stores only the contiguous watermark, never
//! past an unresolved record.

use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::{FuturesUnordered, StreamExt};
use lambda_sink_core::offsets::OffsetTracker;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::route::Outcome;
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

/// Records whose outcome is durable once `done` completes.
pub(super) struct Pending {
    offsets: Vec<i64>,
    done: BoxFuture<'static, Result<(), ProduceError>>,
}

impl Worker {
    /// Enqueues the outcome records (in order) and hands the batch to the
    /// committer: its offsets are stored once all are acknowledged.
    pub(super) async fn resolve(
        &self,
        records: &[SourceRecord],
        outcome: Outcome,
        outcomes: Vec<OutcomeRecord>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Halt> {
        self.shared.metrics.resolved(outcome, records.len());
        let deliveries: Vec<_> = outcomes
            .into_iter()
            .map(|o| self.shared.outcomes.send(o))
            .collect();
        let done = try_join_all(deliveries).map(|r| r.map(|_| ())).boxed();
        let offsets = records.iter().map(|r| r.offset).collect();
        pending
            .send(Pending { offsets, done })
            .await
            .map_err(|_| Halt::Stopped)
    }
}

/// Waits for each batch's outcomes to be acknowledged and stores the
/// committable offset as it advances. An outcome that cannot be written
/// stops the connector, and neither its records nor any after them are
/// stored.
pub(super) async fn commit_loop(
    tp: TopicPartition,
    ledger: Ledger,
    mut pending: mpsc::Receiver<Pending>,
    store: Arc<dyn Offsets>,
    shared: Arc<Shared>,
) {
    let mut waiting = FuturesUnordered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some((offsets, result)) = waiting.next(), if !waiting.is_empty() => {
                if let Err(e) = result {
                    shared.fail(format!("{e}"));
                    return;
                }
                let mut next = None;
                let mut tracker = lock(&ledger);
                for o in offsets {
                    match tracker.resolve(o) {
                        Ok(Some(n)) => next = Some(n),
                        Ok(None) => {}
                        Err(e) => warn!(error = %e, "offset tracking"),
                    }
                }
                drop(tracker);
                if let Some(next) = next
                    && let Err(e) = store.store(&tp, next)
                {
                    debug!(error = %e, next, "offset not stored (partition no longer assigned)");
                }
            }
            p = pending.recv(), if open => match p {
                Some(Pending { offsets, done }) => {
                    waiting.push(done.map(move |r| (offsets, r)));
                }
                None => open = false,
            },
            else => return,
        }
    }
}
