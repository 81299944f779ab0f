//! The transactions of one task: the [`Transactions`] handle its partition
//! workers release into, and the transactor that runs them (the lifecycle
//! and failure handling described in the [parent module](super)).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use lambda_sink_core::config::Transactions as Bounds;
use lambda_sink_core::journal::{Event as Logged, Level};
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::retry::Backoff;
use lambda_sink_core::transaction::{
    self as txn, Admission, Committed, Content, Late, Lease, Leases, Release,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::port::{Class, Txn, TxnError};
use crate::events::Events;
use crate::kafka::producer::OutcomeRecord;
use crate::metrics::{Metrics, ResultLabel};

/// Releases waiting for the transactor, per task.
const RELEASE_QUEUE: usize = 64;

/// Stops the connector with a reason (a failure retrying cannot heal).
pub type Fail = Arc<dyn Fn(String) + Send + Sync>;

/// Why a release was not taken, or a commit asked for did not happen. In
/// every case the records concerned are not lost: they are redone by their
/// partition's next owner, written again in a new transaction, or redone
/// after the restart that follows a stop.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotCommitted {
    /// The partition was let go (revoked or lost): its next owner redoes
    /// its records.
    #[error("partition {0} was let go")]
    LetGo(TopicPartition),
    /// The transaction failed (Kafka's answer): its outcome records are
    /// written again in a new transaction.
    #[error("the transaction failed while {step}: {error}")]
    Failed {
        /// The step that failed (writing, committing, ...).
        step: &'static str,
        /// What Kafka said, and how it is handled.
        error: String,
    },
    /// The task's transactions stopped: the connector is stopping, or it
    /// failed for the reason given.
    #[error("{}", .0.as_deref().unwrap_or("the task's transactions have stopped"))]
    Stopped(Option<String>),
}

/// A task's handle on its transactions.
#[derive(Clone)]
pub struct Transactions {
    releases: mpsc::Sender<Released>,
    control: mpsc::UnboundedSender<Control>,
    /// Reads the group's committed offsets (blocking), off the transactor:
    /// a stable fetch may wait for another member's transaction, and the
    /// task's other partitions must not wait with it.
    committed: CommittedReader,
}

/// Reads the group's committed offsets of some partitions, with their
/// metadata (blocks).
type CommittedReader = Arc<
    dyn Fn(&[TopicPartition]) -> Result<HashMap<TopicPartition, Committed>, TxnError> + Send + Sync,
>;

/// A release on its way to the transactor.
struct Released {
    release: Release<OutcomeRecord>,
    /// Answered once the transactor holds the release (or refused it); a
    /// release whose sender is gone (its worker was aborted) is dropped.
    taken: oneshot::Sender<Result<(), NotCommitted>>,
    /// A late release: its records' offsets were committed before (a
    /// parked key's), so it commits the offset its lease released last.
    late: bool,
}

enum Control {
    /// Commit what is open now; answered when it is committed (or fails).
    Commit(oneshot::Sender<Result<(), NotCommitted>>),
    /// These leases are let go: drop what they released and is not
    /// committed.
    Forget(Vec<(TopicPartition, Lease)>, oneshot::Sender<()>),
    /// A lease begins at its partition's committed offset (if any) for
    /// its late releases.
    Begin(
        TopicPartition,
        Lease,
        Option<i64>,
        oneshot::Sender<Result<(), NotCommitted>>,
    ),
}

impl Transactions {
    /// Starts the transactor of `txn` (transactional id `id`), counting in
    /// `metrics` and logging aborts to `events`; `fail` stops the connector
    /// on a failure no retry heals.
    pub(crate) fn start<T: Txn>(
        txn: T,
        id: String,
        bounds: Bounds,
        (metrics, events): (Arc<Metrics>, Arc<Events>),
        fail: Fail,
    ) -> Self {
        let (releases, releases_rx) = mpsc::channel(RELEASE_QUEUE);
        let (control, control_rx) = mpsc::unbounded_channel();
        let reader = txn.clone();
        let committed = Arc::new(move |partitions: &[TopicPartition]| reader.committed(partitions));
        let transactor = Transactor {
            txn,
            id,
            bounds,
            metrics,
            events,
            fail,
            phase: Phase::Idle,
            leases: Leases::default(),
            current: Content::default(),
            queued: Content::default(),
            deliveries: Vec::new(),
            opened: None,
            retry: None,
            failures: 0,
            waiters: Vec::new(),
            stopped: false,
            sent: 0,
            inbox: Inbox {
                releases: releases_rx,
                control: control_rx,
                releases_open: true,
                control_open: true,
            },
        };
        tokio::spawn(transactor.run());
        Self {
            releases,
            control,
            committed,
        }
    }

    /// Hands `tp`'s outcome records below `next` (in offset order, each with
    /// its input record's offset), released under `lease`, to the
    /// transaction that commits `next`; returns once the transactor holds
    /// them.
    ///
    /// # Errors
    /// When the lease was let go (the partition's next owner redoes the
    /// records), or the transactor has stopped.
    pub async fn release(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        next: i64,
        records: Vec<(i64, OutcomeRecord)>,
    ) -> Result<(), NotCommitted> {
        let release = Release {
            tp: tp.clone(),
            lease,
            next,
            records,
        };
        self.hand_over(release, false).await
    }

    /// Hands `tp`'s outcome records of records resolved after their offsets
    /// were committed (a parked key's release; each with its input record's
    /// offset), under `lease`, to the open transaction, which commits the
    /// offset the lease released last with them; returns once the
    /// transactor holds them. Their order with the lease's other releases
    /// is the order they are handed over in.
    ///
    /// # Errors
    /// As [`Self::release`]. A record not below the offset the lease
    /// released (or began at) breaks the invariant and stops the
    /// connector: callers wait until the offsets released cover it.
    pub async fn release_late(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        records: Vec<(i64, OutcomeRecord)>,
    ) -> Result<(), NotCommitted> {
        let release = Release {
            tp: tp.clone(),
            lease,
            // Set from the lease when admitted.
            next: 0,
            records,
        };
        self.hand_over(release, true).await
    }

    async fn hand_over(
        &self,
        release: Release<OutcomeRecord>,
        late: bool,
    ) -> Result<(), NotCommitted> {
        let (taken, held) = oneshot::channel();
        self.releases
            .send(Released {
                release,
                taken,
                late,
            })
            .await
            .map_err(|_| NotCommitted::Stopped(None))?;
        held.await.unwrap_or(Err(NotCommitted::Stopped(None)))
    }

    /// Begins `lease` on `tp`: its committed offset is read once no
    /// transaction holding offsets of it is pending (so what a previous
    /// owner committed is visible from here on), and late releases commit
    /// it until the lease releases an offset of its own.
    ///
    /// The committed offset begun at, if the group has one.
    ///
    /// # Errors
    /// When the offset cannot be read (try again), or the transactor has
    /// stopped.
    pub async fn begin(
        &self,
        tp: &TopicPartition,
        lease: Lease,
    ) -> Result<Option<i64>, NotCommitted> {
        let (read, of) = (self.committed.clone(), [tp.clone()]);
        let committed = tokio::task::spawn_blocking(move || read(&of))
            .await
            .unwrap_or_else(|e| {
                Err(TxnError::new(
                    Class::Retriable,
                    format!("reading the committed offset panicked: {e}"),
                ))
            })
            .map_err(|e| NotCommitted::Failed {
                step: "reading the committed offset",
                error: e.to_string(),
            })?;
        let offset = committed.get(tp).map(|c| c.offset);
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Begin(tp.clone(), lease, offset, tx))
            .map_err(|_| NotCommitted::Stopped(None))?;
        rx.await.unwrap_or(Err(NotCommitted::Stopped(None)))?;
        Ok(offset)
    }

    /// Commits the open transaction now (partitions are being given up).
    ///
    /// # Errors
    /// Why it did not commit (it is retried; the caller decides how long
    /// to wait).
    pub async fn commit(&self) -> Result<(), NotCommitted> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Commit(tx))
            .map_err(|_| NotCommitted::Stopped(None))?;
        rx.await.unwrap_or(Err(NotCommitted::Stopped(None)))
    }

    /// Lets `leases` go: what they released and is not committed is dropped
    /// (aborting the open transaction if it wrote any of it), and what they
    /// release later is refused; the partitions' next owner redoes it.
    pub async fn forget(&self, leases: Vec<(TopicPartition, Lease)>) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Forget(leases, tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Where the producer's transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No transaction begun; `current` (if any) is not written yet.
    Idle,
    /// Begun, all of `current` written, offsets not sent.
    Open,
    /// Offsets sent; committing (resumed after a timeout).
    Committing,
    /// Aborting (resumed after a timeout).
    Aborting,
    /// The producer failed fatally: a new one is needed. `unknown`: it
    /// failed while committing, so the transaction may have committed.
    Broken { unknown: bool },
}

impl Phase {
    /// What a failure in this phase interrupted, for the log.
    fn step(self) -> &'static str {
        match self {
            Self::Idle | Self::Open => "writing outcome records",
            Self::Committing => "committing",
            Self::Aborting => "aborting",
            Self::Broken { .. } => "replacing the producer",
        }
    }
}

struct Transactor<T: Txn> {
    txn: T,
    id: String,
    bounds: Bounds,
    metrics: Arc<Metrics>,
    events: Arc<Events>,
    fail: Fail,
    phase: Phase,
    leases: Leases,
    /// What the producer's transaction holds (or will, once begun again).
    current: Content<OutcomeRecord>,
    /// Released while `current` was being committed, aborted or its
    /// producer replaced: the next transaction's.
    queued: Content<OutcomeRecord>,
    /// Deliveries of `current`'s records in this attempt.
    deliveries: Vec<T::Delivery>,
    /// When `current` got its first release.
    opened: Option<Instant>,
    /// When to try again after a failure.
    retry: Option<Instant>,
    failures: u32,
    /// Commits asked for, answered when everything released before them
    /// has committed (or a failure interrupts it).
    waiters: Vec<oneshot::Sender<Result<(), NotCommitted>>>,
    /// A permanent failure stopped the connector: nothing more is written.
    stopped: bool,
    /// How many times offsets were sent: the last sent carry
    /// [`Self::tag`].
    sent: u64,
    inbox: Inbox,
}

/// What the task sends the transactor.
struct Inbox {
    releases: mpsc::Receiver<Released>,
    control: mpsc::UnboundedReceiver<Control>,
    releases_open: bool,
    control_open: bool,
}

/// What woke the transactor.
enum Event {
    Control(Option<Control>),
    Release(Option<Released>),
    Due,
}

impl<T: Txn> Transactor<T> {
    async fn run(mut self) {
        while self.inbox.control_open {
            let due = self.due();
            let room = self.room();
            // Control first (a commit or a forget must not wait behind
            // releases), then releases, then the timer.
            let event = tokio::select! {
                biased;
                c = self.inbox.control.recv() => Event::Control(c),
                r = self.inbox.releases.recv(), if room => Event::Release(r),
                () = sleep_until(due), if due.is_some() => Event::Due,
            };
            match event {
                Event::Control(Some(Control::Commit(reply))) => {
                    self.waiters.push(reply);
                    if self.retry.is_none() || self.stopped {
                        self.attempt().await;
                    }
                }
                Event::Control(c) => self.control(c).await,
                Event::Release(r) => self.release(r).await,
                Event::Due => self.attempt().await,
            }
        }
        // Every handle is gone (the task stopped, after its final commit):
        // anything left did not commit, and is redone by the next owner.
        if self.phase == Phase::Open {
            let _ = self.call(|t| t.abort()).await;
        }
    }

    /// A control message; a commit asked for joins the waiters.
    async fn control(&mut self, control: Option<Control>) {
        match control {
            Some(Control::Commit(reply)) => self.waiters.push(reply),
            Some(Control::Forget(leases, reply)) => {
                self.forget(&leases).await;
                let _ = reply.send(());
            }
            Some(Control::Begin(tp, lease, offset, reply)) => {
                let _ = reply.send(self.begin(tp, lease, offset).await);
            }
            None => self.inbox.control_open = false,
        }
    }

    async fn release(&mut self, release: Option<Released>) {
        match release {
            Some(release) => self.take(release).await,
            None => self.inbox.releases_open = false,
        }
    }

    /// Whether to take releases now (once stopped, to refuse them).
    fn room(&self) -> bool {
        self.inbox.releases_open && (self.stopped || self.held() < self.bounds.max_records)
    }

    fn held(&self) -> usize {
        self.current.records().len() + self.queued.records().len()
    }

    /// When to commit (or try again).
    fn due(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        if let Some(at) = self.retry {
            return Some(at);
        }
        if self.current.is_empty() && self.queued.is_empty() {
            // Nothing to commit: a waiter is answered at once.
            return (!self.waiters.is_empty()).then(Instant::now);
        }
        if !self.waiters.is_empty() || self.held() >= self.bounds.max_records {
            return Some(Instant::now());
        }
        Some(self.opened.unwrap_or_else(Instant::now) + self.bounds.interval)
    }

    /// Begins `lease` of `tp` at the group's committed `offset`.
    async fn begin(
        &mut self,
        tp: TopicPartition,
        lease: Lease,
        offset: Option<i64>,
    ) -> Result<(), NotCommitted> {
        match self.leases.begin(&tp, lease, offset) {
            Ok(Admission::Take) => Ok(()),
            Ok(Admission::Stale) => Err(NotCommitted::LetGo(tp)),
            Err(violation) => {
                self.violated(&violation).await;
                Err(NotCommitted::Stopped(Some(violation.to_string())))
            }
        }
    }

    async fn take(&mut self, released: Released) {
        let Released {
            mut release,
            taken,
            late,
        } = released;
        // Its worker was aborted (the partition was lost): not ours to write.
        if taken.is_closed() || self.stopped {
            return;
        }
        let admission = if late {
            let offsets = release.records.iter().map(|(o, _)| *o);
            match self.leases.admit_late(&release.tp, release.lease, offsets) {
                Ok(Late::Take(next)) => {
                    release.next = next;
                    Ok(Admission::Take)
                }
                Ok(Late::Stale) => Ok(Admission::Stale),
                Err(violation) => Err(violation),
            }
        } else {
            self.leases.admit(&release)
        };
        match admission {
            Ok(Admission::Take) => {}
            Ok(Admission::Stale) => {
                debug!(transactional_id = %self.id, partition = %release.tp, next = release.next, "a release of a partition let go: dropped");
                let _ = taken.send(Err(NotCommitted::LetGo(release.tp.clone())));
                return;
            }
            Err(violation) => {
                let _ = taken.send(Err(NotCommitted::Stopped(Some(violation.to_string()))));
                self.violated(&violation).await;
                return;
            }
        }
        self.opened.get_or_insert_with(Instant::now);
        // In `Idle` nothing of `current` is written yet, in `Open` all of
        // it is; while a commit, an abort or a replacement is under way new
        // releases wait in `queued`.
        let writable = matches!(self.phase, Phase::Idle | Phase::Open);
        let content = if writable {
            &mut self.current
        } else {
            &mut self.queued
        };
        let start = content.add(release);
        let _ = taken.send(Ok(()));
        let write = self.phase == Phase::Open || (writable && self.retry.is_none());
        if write && let Err(e) = self.write_from(start).await {
            self.failed(Phase::Open, e).await;
        }
    }

    /// Writes `current`'s records from `start` into the transaction; from
    /// the first, after beginning it, when none is open. Only in `Idle` or
    /// `Open`.
    async fn write_from(&mut self, start: usize) -> Result<(), TxnError> {
        debug_assert!(matches!(self.phase, Phase::Idle | Phase::Open));
        let mut from = start;
        if self.phase == Phase::Idle {
            self.txn.begin()?;
            self.phase = Phase::Open;
            self.deliveries.clear();
            from = 0;
        }
        for i in from..self.current.records().len() {
            loop {
                match self.txn.send(&self.current.records()[i].2) {
                    Ok(delivery) => {
                        self.deliveries.push(delivery);
                        break;
                    }
                    Err(e) if e.class == Class::Full => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Moves the transaction on as far as it goes: write, send offsets,
    /// commit; after a failure, abort or replace the producer and try
    /// again after a backoff.
    async fn attempt(&mut self) {
        self.retry = None;
        if self.stopped {
            self.answer(Err(NotCommitted::Stopped(None)));
        }
        while !self.stopped {
            let phase = self.phase;
            let step = match phase {
                Phase::Broken { unknown } => self.renew(unknown).await,
                Phase::Aborting => self.abort().await,
                Phase::Idle if self.current.is_empty() => {
                    self.answer(Ok(()));
                    return;
                }
                Phase::Idle => self.write_from(0).await,
                Phase::Open => self.send_offsets().await,
                Phase::Committing => match self.commit().await {
                    Ok(()) => {
                        self.committed();
                        // What was released meanwhile is written now; it
                        // commits at its own interval (at once if a commit
                        // is waited for).
                        if !self.stopped
                            && !self.current.is_empty()
                            && let Err(e) = self.write_from(0).await
                        {
                            self.failed(Phase::Open, e).await;
                        }
                        return;
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = step {
                self.failed(phase, e).await;
                return;
            }
        }
    }

    /// Checks the invariant, then sends the offsets.
    async fn send_offsets(&mut self) -> Result<(), TxnError> {
        if let Err(violation) = self.current.verify(&self.leases) {
            self.violated(&violation).await;
            return Ok(());
        }
        if !self.current.offsets().is_empty() {
            let offsets = self.current.offsets().clone();
            // This transaction's own tag, so that an unknown commit can be
            // told (the offsets alone cannot: a transaction of late
            // releases commits offsets committed before).
            self.sent += 1;
            let tag = self.tag();
            self.call(move |t| t.send_offsets(&offsets, &tag)).await?;
        }
        self.phase = Phase::Committing;
        Ok(())
    }

    /// Commits the producer's transaction, taking releases (into `queued`)
    /// and control messages while the broker works: partitions do not wait
    /// for a commit to hand over what they resolved.
    async fn commit(&mut self) -> Result<(), TxnError> {
        let txn = self.txn.clone();
        let mut call = tokio::task::spawn_blocking(move || txn.commit());
        loop {
            let room = self.room();
            let event = tokio::select! {
                biased;
                done = &mut call => return joined(done),
                c = self.inbox.control.recv(), if self.inbox.control_open => Event::Control(c),
                r = self.inbox.releases.recv(), if room => Event::Release(r),
            };
            match event {
                Event::Control(c) => self.control(c).await,
                Event::Release(r) => self.release(r).await,
                Event::Due => {}
            }
        }
    }

    /// Runs one blocking call off the runtime.
    async fn call<R, F>(&self, f: F) -> Result<R, TxnError>
    where
        R: Send + 'static,
        F: FnOnce(&T) -> Result<R, TxnError> + Send + 'static,
    {
        let txn = self.txn.clone();
        joined(tokio::task::spawn_blocking(move || f(&txn)).await)
    }

    /// A failed step of `phase`: abort or mark the producer for
    /// replacement, answer what waits, and back off.
    async fn failed(&mut self, phase: Phase, e: TxnError) {
        let e = match e.class {
            Class::Abortable => match self.abort().await {
                Ok(()) => e,
                Err(again) => again,
            },
            _ => e,
        };
        let permanent = match e.class {
            Class::Permanent => Some(e.message.clone()),
            _ => self.permanent_delivery_failure(),
        };
        if let Some(reason) = permanent {
            self.stop(format!(
                "exactly-once transaction of outcome records failed ({}): {reason}",
                phase.step()
            ))
            .await;
            return;
        }
        if e.class == Class::Fatal {
            self.phase = Phase::Broken {
                unknown: phase == Phase::Committing || phase == (Phase::Broken { unknown: true }),
            };
        }
        let delay = Backoff::forever(Duration::from_millis(100), Duration::from_secs(5))
            .delay_forever(self.failures, rand::random::<f64>());
        self.failures = self.failures.saturating_add(1);
        warn!(
            transactional_id = %self.id,
            step = phase.step(),
            error = %e,
            retry_in_ms = delay.as_millis(),
            "exactly-once transaction failed; its outcome records are written again in a new transaction"
        );
        self.answer(Err(NotCommitted::Failed {
            step: phase.step(),
            error: e.to_string(),
        }));
        self.retry = Some(Instant::now() + delay);
    }

    /// An invariant violation (a bug): nothing of it may commit.
    async fn violated(&mut self, violation: &txn::Violation) {
        self.stop(format!(
            "exactly-once: a transaction would break the invariant that its offsets cover its outcome records, so it is aborted and the connector stops (a bug, please report it): {violation}"
        ))
        .await;
    }

    /// Stops the connector: the open transaction is aborted (best effort;
    /// otherwise the coordinator aborts it after `transaction.timeout.ms`).
    async fn stop(&mut self, reason: String) {
        self.stopped = true;
        if matches!(self.phase, Phase::Open | Phase::Committing) {
            let _ = self.abort().await;
        }
        (self.fail)(reason.clone());
        self.answer(Err(NotCommitted::Stopped(Some(reason))));
    }

    /// Aborts the producer's transaction (resumable after a timeout).
    async fn abort(&mut self) -> Result<(), TxnError> {
        self.phase = Phase::Aborting;
        self.call(|t| t.abort()).await?;
        self.aborted();
        Ok(())
    }

    /// A delivery of this attempt that failed for a reason no retry heals
    /// (deliveries that ended are let go).
    fn permanent_delivery_failure(&mut self) -> Option<String> {
        let mut permanent = None;
        self.deliveries.retain_mut(|d| match d.now_or_never() {
            None => true,
            Some(Err(e)) if e.class == Class::Permanent => {
                permanent.get_or_insert(e.message);
                false
            }
            Some(_) => false,
        });
        permanent
    }

    /// The transaction aborted: everything is written again next time.
    fn aborted(&mut self) {
        self.metrics
            .transactions
            .get_or_create(&ResultLabel { result: "aborted" })
            .inc();
        self.events.record(Logged::new(
            Level::Warn,
            "transaction_aborted",
            format!(
                "exactly-once transaction {} aborted: its {} outcome records over {} partitions are written again",
                self.id,
                self.current.records().len(),
                self.current.offsets().len()
            ),
        ));
        let queued = std::mem::take(&mut self.queued);
        self.current.append(queued);
        self.deliveries.clear();
        self.phase = Phase::Idle;
    }

    /// The transaction committed: what was released meanwhile is next.
    fn committed(&mut self) {
        if !self.current.is_empty() {
            self.metrics
                .transactions
                .get_or_create(&ResultLabel {
                    result: "committed",
                })
                .inc();
            debug!(transactional_id = %self.id, records = self.current.records().len(), partitions = self.current.offsets().len(), "transaction committed");
        }
        self.leases.committed(self.current.offsets());
        self.current = std::mem::take(&mut self.queued);
        self.phase = Phase::Idle;
        self.opened = (!self.current.is_empty()).then(Instant::now);
        self.deliveries.clear();
        self.failures = 0;
        // A commit asked for covers everything released before it: what
        // arrived while this one was committing goes in the next (due at
        // once while anyone waits).
        if self.current.is_empty() {
            self.answer(Ok(()));
        }
    }

    /// The metadata the offsets sent last are committed with: unique per
    /// transaction (the transactional id is unique per start).
    fn tag(&self) -> String {
        format!("{}#{}", self.id, self.sent)
    }

    fn answer(&mut self, result: Result<(), NotCommitted>) {
        for w in self.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
    }

    /// Replaces a producer that failed fatally (same transactional id, so
    /// its initialisation completes or aborts whatever the old one left).
    /// When it failed while committing, the group's committed offsets say
    /// which of the two happened.
    async fn renew(&mut self, unknown: bool) -> Result<(), TxnError> {
        self.txn = self.call(Txn::renew).await?;
        self.deliveries.clear();
        if !unknown {
            self.aborted();
            return Ok(());
        }
        let sent = self.current.offsets().clone();
        let held: Vec<TopicPartition> = sent
            .keys()
            .filter(|tp| self.leases.holds(tp))
            .cloned()
            .collect();
        let committed = self.call(move |t| t.committed(&held)).await?;
        if txn::did_commit(&sent, &committed, &self.leases, &self.tag()) {
            debug!(transactional_id = %self.id, "the transaction whose commit failed had committed");
            self.committed();
        } else {
            self.aborted();
        }
        Ok(())
    }

    /// Lets `leases` go and drops what they released; aborts the open
    /// transaction if it wrote any of it (records written without their
    /// offsets must never commit). A transaction already committing keeps
    /// them: its offsets were sent while the partitions were held, and it
    /// commits or aborts them with those offsets, atomically.
    async fn forget(&mut self, leases: &[(TopicPartition, Lease)]) {
        let partitions: Vec<TopicPartition> = leases
            .iter()
            .filter(|(tp, lease)| self.leases.retire(tp, *lease))
            .map(|(tp, _)| tp.clone())
            .collect();
        if partitions.is_empty() {
            return;
        }
        self.queued.remove(&partitions);
        let had = self.current.remove(&partitions);
        if had && self.phase == Phase::Open {
            debug!(transactional_id = %self.id, "partitions let go: aborting the open transaction");
            match self.abort().await {
                // The rest is written again at once.
                Ok(()) => self.retry = Some(Instant::now()),
                Err(e) => self.failed(Phase::Aborting, e).await,
            }
        }
        if self.current.is_empty() && self.queued.is_empty() {
            self.opened = None;
        }
    }
}

/// The result of a blocking call run on its own thread.
fn joined<R>(done: Result<Result<R, TxnError>, tokio::task::JoinError>) -> Result<R, TxnError> {
    done.unwrap_or_else(|e| {
        Err(TxnError::new(
            Class::Permanent,
            format!("a transaction call panicked: {e}"),
        ))
    })
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
