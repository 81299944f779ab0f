//! From resolved records to stored offsets ([`Committer`]): a batch's
//! outcome records are enqueued in order, and its offsets are stored once
//! Kafka acknowledges them all (at-least-once), or they are released with
//! the offsets that resolve them into the task's transaction
//! (`reporter.exactly.once`). The commit loop runs beside the worker, so
//! batches go on while earlier outcomes are still being acknowledged. The
//! worker tracks every record in the partition's ledger (an
//! [`OffsetTracker`]) as it takes it, in offset order; batches resolve in
//! any order (`aws.lambda.ordering` `key` and `none`), and only the
//! contiguous watermark is stored, never past an unresolved record.
//! Every second the commit loop hands the partition's ledger to its
//! [`Watch`] (lag in time, stalls).
//!
//! Outcomes of records resolved after their offsets were committed (a
//! parked key's release) are *delivered* instead: acknowledged by Kafka
//! (at-least-once), or written in the task's open transaction, which
//! commits the partition's offset as it stands (exactly-once; the
//! committer [begins](Committer::begin) its lease first, and a delivery
//! waits until the offsets stored cover its records: a record parked a
//! moment ago may still wait behind an earlier one).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::{FuturesUnordered, StreamExt};
use lambda_sink_core::offsets::OffsetTracker;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::retry::Backoff;
use lambda_sink_core::route::Outcome;
use lambda_sink_core::transaction::Lease;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::context::{Context, Halt};
use super::ports::{NotStored, Offsets};
use super::watch::{WATCH_INTERVAL, Watch};
use crate::kafka::producer::{OutcomeRecord, ProduceError};
use crate::kafka::transaction::NotCommitted;
use crate::sync::lock;

/// Most batches whose outcomes may await acknowledgement at once, per
/// partition, beyond its batches in flight.
const PENDING_BATCHES: usize = 4;

/// A partition's consumed records until their offsets are committable:
/// tracked by the worker, resolved by the commit loop.
type Ledger = Arc<Mutex<OffsetTracker>>;

/// A resolved batch on its way to the commit loop.
struct Pending {
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

/// A partition's committer as the worker and its stages see it: it tracks
/// the records taken and takes resolved batches. The commit loop ends once
/// every clone is dropped and what they handed over is stored.
#[derive(Clone)]
pub(super) struct Committer {
    ctx: Arc<Context>,
    /// The worker's stop (revoked, lost, stopping): a delivery waiting
    /// for its records' offsets gives up.
    stop: CancellationToken,
    tp: TopicPartition,
    lease: Lease,
    ledger: Ledger,
    pending: mpsc::Sender<Pending>,
    store: Arc<dyn Offsets>,
    /// How far the partition's offsets are stored: the committed offset
    /// the lease began at, then each offset the commit loop stored
    /// (exactly-once: what a late release may cover).
    stored: watch::Sender<Option<i64>>,
}

impl Committer {
    /// The committer of `tp` (held under `lease` by task `task`) storing
    /// into `store`, and its commit loop, to run beside the worker;
    /// `in_flight` batches may resolve at once.
    pub(super) fn start(
        (tp, lease, task): (TopicPartition, Lease, usize),
        ctx: &Arc<Context>,
        stop: &CancellationToken,
        store: Arc<dyn Offsets>,
        in_flight: usize,
    ) -> (Self, impl Future<Output = ()> + use<>) {
        let (pending, pending_rx) = mpsc::channel(PENDING_BATCHES.max(in_flight));
        let ledger: Ledger = Arc::new(Mutex::new(OffsetTracker::new()));
        let stored = watch::Sender::new(None);
        let committer = Self {
            ctx: ctx.clone(),
            stop: stop.clone(),
            tp: tp.clone(),
            lease,
            ledger: ledger.clone(),
            pending,
            store: store.clone(),
            stored: stored.clone(),
        };
        let watch = Watch::new(&tp, task, ctx.clone());
        let committing = commit_loop(
            tp,
            lease,
            ledger,
            pending_rx,
            (store, stored),
            ctx.clone(),
            watch,
        );
        (committer, committing)
    }

    /// Begins the partition's lease before anything is delivered late
    /// (see [`Offsets::begin`]), asked again while Kafka cannot answer.
    pub(super) async fn begin(&self) -> Result<(), Halt> {
        let backoff = Backoff::forever(Duration::from_millis(200), Duration::from_secs(10));
        let mut attempt = 0;
        loop {
            let error = match self.store.begin(&self.tp, self.lease).await {
                Ok(committed) => {
                    self.stored.send_if_modified(|s| {
                        let begun = s.is_none() && committed.is_some();
                        if begun {
                            *s = committed;
                        }
                        begun
                    });
                    return Ok(());
                }
                Err(NotStored::Transaction(NotCommitted::Failed { error, .. })) => error,
                Err(e) => return Err(halt(e)),
            };
            let delay = backoff.delay_forever(attempt, rand::random::<f64>());
            warn!(partition = %self.tp, error, retry_in_ms = delay.as_millis(), "cannot read the partition's committed offset yet; retrying");
            attempt += 1;
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(Halt::Stopped),
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// Tracks a record taken, in offset order, with its timestamp.
    pub(super) fn track(&self, offset: i64, timestamp: Option<i64>) {
        if let Err(e) = lock(&self.ledger).track_at(offset, timestamp) {
            warn!(error = %e, "offset tracking");
        }
    }

    /// Hands the batch's outcome records (in order) to the commit loop:
    /// sent now and its offsets stored once all are acknowledged
    /// (at-least-once), or kept until its offsets are committable and then
    /// released with them (exactly-once).
    pub(super) async fn resolve(
        &self,
        records: &[SourceRecord],
        outcome: Outcome,
        outcomes: Vec<OutcomeRecord>,
    ) -> Result<(), Halt> {
        self.ctx.metrics.resolved(outcome, records.len());
        let outcomes = if self.store.with_outcomes() {
            Durable::WithOffsets(tagged(records, outcomes))
        } else {
            Durable::Acknowledged(self.send_all(outcomes).boxed())
        };
        let offsets = records.iter().map(|r| r.offset).collect();
        self.pending
            .send(Pending { offsets, outcomes })
            .await
            .map_err(|_| Halt::Stopped)
    }

    /// Delivers the outcome records (`outcomes`, each with its input
    /// record's offset) of `counted` records resolved long ago (parked
    /// records being released, whose input offsets were committed when
    /// they were parked), in order: sent now and returned from once Kafka
    /// has acknowledged them all (at-least-once), or once the task's open
    /// transaction holds them (exactly-once; first it waits until the
    /// offsets stored are past every one of them). Nothing is tracked.
    pub(super) async fn deliver(
        &self,
        counted: usize,
        outcome: Outcome,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> Result<(), Halt> {
        self.ctx.metrics.resolved(outcome, counted);
        if !self.store.with_outcomes() {
            return self
                .send_all(outcomes.into_iter().map(|(_, o)| o).collect())
                .await
                .map_err(|e| Halt::Failed(e.to_string()));
        }
        if let Some(last) = outcomes.iter().map(|(o, _)| *o).max() {
            let mut stored = self.stored.subscribe();
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Err(Halt::Stopped),
                covered = stored.wait_for(|s| s.is_some_and(|next| next > last)) => {
                    covered.map_err(|_| Halt::Stopped)?;
                }
            }
        }
        self.store
            .store_late(&self.tp, self.lease, outcomes)
            .await
            .map_err(halt)
    }

    /// Sends `outcomes` in order (each is enqueued at once); done when
    /// Kafka has acknowledged them all.
    fn send_all(
        &self,
        outcomes: Vec<OutcomeRecord>,
    ) -> impl Future<Output = Result<(), ProduceError>> + use<> {
        let deliveries: Vec<_> = outcomes
            .into_iter()
            .map(|o| self.ctx.outcomes.send(o))
            .collect();
        try_join_all(deliveries).map(|r| r.map(|_| ()))
    }
}

/// `outcomes` of `records`, each with its input record's offset: one
/// outcome record per input record (extras, if any, go with the last).
pub(super) fn tagged(
    records: &[SourceRecord],
    outcomes: Vec<OutcomeRecord>,
) -> Vec<(i64, OutcomeRecord)> {
    let last = records.last().map_or(0, |r| r.offset);
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| (records.get(i).map_or(last, |r| r.offset), o))
        .collect()
}

/// What an offset store's refusal means for the worker: a partition let go
/// (or a stopping connector) stops it quietly; anything else stops the
/// connector.
fn halt(e: NotStored) -> Halt {
    match e {
        NotStored::Transaction(NotCommitted::Stopped(Some(reason))) => Halt::Failed(reason),
        NotStored::Transaction(NotCommitted::LetGo(_) | NotCommitted::Stopped(None)) => {
            Halt::Stopped
        }
        e => Halt::Failed(e.to_string()),
    }
}

/// Stores the committable offset as it advances: at-least-once once each
/// batch's outcomes are acknowledged (an outcome that cannot be written
/// stops the connector, and neither its records nor any after them are
/// stored); exactly-once with the outcome records of every record below
/// it, released in offset order, so a transaction never holds an outcome
/// whose offset it does not commit, nor commits an offset whose outcome it
/// does not hold. Every [`WATCH_INTERVAL`] it shows `watch` the ledger.
async fn commit_loop(
    tp: TopicPartition,
    lease: Lease,
    ledger: Ledger,
    mut pending: mpsc::Receiver<Pending>,
    (store, stored): (Arc<dyn Offsets>, watch::Sender<Option<i64>>),
    ctx: Arc<Context>,
    mut watch: Watch,
) {
    let mut waiting = FuturesUnordered::new();
    // Exactly-once: outcome records by input offset, until committable.
    let mut held: BTreeMap<i64, Vec<OutcomeRecord>> = BTreeMap::new();
    let mut open = true;
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        if !open && waiting.is_empty() {
            return;
        }
        let resolved = tokio::select! {
            biased;
            Some((offsets, result)) = waiting.next(), if !waiting.is_empty() => {
                if let Err(e) = result {
                    ctx.fail(format!("{e}"));
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
            _ = tick.tick() => {
                let (waiting, oldest, last) = {
                    let tracker = lock(&ledger);
                    (tracker.pending() > 0, tracker.oldest_unresolved(), tracker.last_tracked())
                };
                watch.observe(waiting, oldest, last);
                continue;
            }
        };
        let Some(next) = advance(&ledger, resolved) else {
            continue;
        };
        watch.moved();
        let later = held.split_off(&next);
        let released = std::mem::replace(&mut held, later)
            .into_iter()
            .flat_map(|(offset, records)| records.into_iter().map(move |r| (offset, r)))
            .collect();
        match store.store(&tp, lease, next, released).await {
            Ok(()) => {
                stored.send_replace(Some(next));
            }
            Err(e) => debug!(error = %e, next, "offset not stored (partition no longer held)"),
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
