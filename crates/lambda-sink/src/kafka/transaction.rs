//! Exactly-once outcome records (`reporter.exactly.once=true`): each task's
//! transactional producer and the transactions it runs.
//!
//! A task's partitions *release* outcome records together with the
//! committable offset that resolves them (the committer releases a record's
//! outcomes only once every record before it is resolved). The
//! [`Transactor`] writes what is released into the open transaction, and
//! commits it with the offsets (`send_offsets_to_transaction` with the
//! consumer's group metadata, KIP-447) once it has been open
//! `reporter.transaction.interval.ms` or holds
//! `reporter.transaction.max.records` outcome records, and whenever the
//! task gives partitions up. A reader with `isolation.level=read_committed`
//! sees an outcome exactly when the offsets past its input record are
//! committed.
//!
//! Fencing is the group's: a member that lost its partitions (a paused or
//! partitioned zombie) carries an old generation, and the group coordinator
//! refuses its offsets, so its transaction can only abort. The transactional
//! id only has to be unique per producer: `lambda-sink-<connector>-<task>-`
//! and a random suffix per start. A transaction a crashed process left open
//! is aborted by the coordinator after `transaction.timeout.ms` (10 s unless
//! overridden); until then the next owner of its partitions waits (KIP-447's
//! stable offset fetch), which is the price of not fencing by a fixed id.
//!
//! Until a transaction commits, what it holds stays here: an aborted
//! transaction (a retriable broker failure, a fatal producer error that
//! needs a new producer) is written again in the next one, and only what
//! lost partitions released is dropped ([`Transactions::forget`]), for
//! their next owner redoes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::FutureExt;
use lambda_sink_core::config::{ClientProperties, ClientValue, Transactions as Bounds};
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::retry::Backoff;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::client_config;
use super::consumer::GroupMetadata;
use super::diagnostics::KafkaContext;
use super::producer::{OutcomeRecord, enqueue, permanent_delivery_error};
use crate::metrics::{Metrics, ResultLabel};

/// How long one blocking transaction call may take before it is resumed
/// later (each is resumable after a timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long `init_transactions` may take at start before the cluster is
/// declared unable to run transactions.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Releases waiting for the transactor, per task.
const RELEASE_QUEUE: usize = 64;

/// Stops the connector with a reason (a failure retrying cannot heal).
pub type Fail = Arc<dyn Fn(String) + Send + Sync>;

/// A task's handle on its transactions.
#[derive(Clone)]
pub struct Transactions {
    releases: mpsc::Sender<Release>,
    control: mpsc::UnboundedSender<Control>,
}

/// Outcome records of a partition, in offset order, with the committable
/// offset after them.
struct Release {
    tp: TopicPartition,
    next: i64,
    records: Vec<OutcomeRecord>,
    /// Answered once the transactor holds the release; a release whose
    /// sender is gone (its worker was aborted) is dropped.
    taken: oneshot::Sender<()>,
}

enum Control {
    /// Commit what is open now; answered when it is committed (or fails).
    Commit(oneshot::Sender<Result<(), String>>),
    /// These partitions are no longer held: drop what they released and
    /// that is not committed.
    Forget(Vec<TopicPartition>, oneshot::Sender<()>),
}

/// A task's transactional producer with its transactions initialised, not
/// yet running: initialised before the task's consumer joins the group, so
/// a cluster that refuses transactions never takes partitions from the
/// group's healthy members.
pub struct Initialised {
    producer: FutureProducer<KafkaContext>,
    props: ClientProperties,
    id: String,
}

impl Transactions {
    /// Creates task `task`'s transactional producer and initialises its
    /// transactions: the start-up check, where a cluster or ACLs that do not
    /// allow transactions fail, with what to fix.
    ///
    /// # Errors
    /// When the producer cannot be created or its transactions initialised.
    pub async fn init(
        props: &ClientProperties,
        prefix: &str,
        task: usize,
    ) -> anyhow::Result<Initialised> {
        let id = format!("{prefix}-{task}-{:08x}", rand::random::<u32>());
        let mut props = props.clone();
        props.insert("transactional.id".into(), ClientValue::new(&id, false));
        props
            .entry("transaction.timeout.ms".into())
            .or_insert_with(|| ClientValue::new("10000", false));
        let producer = init(&props, &id, INIT_TIMEOUT).await?;
        info!(task, transactional_id = %id, "exactly-once: transactions initialised");
        Ok(Initialised {
            producer,
            props,
            id,
        })
    }

    /// Hands `tp`'s outcome records below `next` (in offset order) to the
    /// transaction that commits `next`; returns once the transactor holds
    /// them.
    ///
    /// # Errors
    /// When the transactor has stopped.
    pub async fn release(
        &self,
        tp: &TopicPartition,
        next: i64,
        records: Vec<OutcomeRecord>,
    ) -> Result<(), String> {
        let (taken, held) = oneshot::channel();
        let release = Release {
            tp: tp.clone(),
            next,
            records,
            taken,
        };
        let gone = || "the task's transactions have stopped".to_string();
        self.releases.send(release).await.map_err(|_| gone())?;
        held.await.map_err(|_| gone())
    }

    /// Commits the open transaction now (partitions are being given up).
    ///
    /// # Errors
    /// Why it did not commit (it is retried; the caller decides how long
    /// to wait).
    pub async fn commit(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Commit(tx))
            .map_err(|_| "the task's transactions have stopped".to_string())?;
        rx.await
            .unwrap_or_else(|_| Err("the task's transactions have stopped".into()))
    }

    /// Drops what `partitions` released and is not committed (aborting the
    /// open transaction if it holds any of it): they were lost, or given up
    /// before their transaction committed, and their next owner redoes it.
    pub async fn forget(&self, partitions: Vec<TopicPartition>) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Forget(partitions, tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Initialised {
    /// Starts the transactor, committing offsets with `group`'s metadata
    /// (the task's consumer); `fail` stops the connector on a failure no
    /// retry heals.
    pub fn start(
        self,
        group: GroupMetadata,
        bounds: Bounds,
        metrics: Arc<Metrics>,
        fail: Fail,
    ) -> Transactions {
        let Self {
            producer,
            props,
            id,
        } = self;
        let (releases, releases_rx) = mpsc::channel(RELEASE_QUEUE);
        let (control, control_rx) = mpsc::unbounded_channel();
        let transactor = Transactor {
            producer,
            props,
            id,
            group,
            bounds,
            metrics,
            fail,
            phase: Phase::Idle,
            current: Content::default(),
            queued: Content::default(),
            deliveries: Vec::new(),
            opened: None,
            retry: None,
            failures: 0,
            waiters: Vec::new(),
            stopped: false,
            inbox: Inbox {
                releases: releases_rx,
                control: control_rx,
                releases_open: true,
                control_open: true,
            },
        };
        tokio::spawn(transactor.run());
        Transactions { releases, control }
    }
}

/// Outcome records and offsets of one transaction.
#[derive(Default)]
struct Content {
    records: Vec<(TopicPartition, OutcomeRecord)>,
    offsets: HashMap<TopicPartition, i64>,
}

impl Content {
    fn is_empty(&self) -> bool {
        self.offsets.is_empty() && self.records.is_empty()
    }

    fn append(&mut self, mut later: Content) {
        self.records.append(&mut later.records);
        // A partition's committable offset only grows: the later one wins.
        self.offsets.extend(later.offsets);
    }

    /// Removes what `partitions` hold; whether there was any.
    fn remove(&mut self, partitions: &[TopicPartition]) -> bool {
        let before = (self.records.len(), self.offsets.len());
        self.records.retain(|(tp, _)| !partitions.contains(tp));
        self.offsets.retain(|tp, _| !partitions.contains(tp));
        before != (self.records.len(), self.offsets.len())
    }
}

/// Where the producer's transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No transaction begun; `current` (if any) is not written yet.
    Idle,
    /// Begun, `current` written, offsets not sent.
    Open,
    /// Offsets sent; committing (resumed after a timeout).
    Committing,
    /// Aborting (resumed after a timeout).
    Aborting,
    /// The producer failed fatally: a new one is needed.
    Broken,
}

/// What a failed call means.
enum Failed {
    /// Call it again later.
    Retriable,
    /// The transaction must be aborted.
    Abortable,
    /// The producer is unusable.
    Fatal,
    /// Nothing a retry heals: stop the connector.
    Permanent(String),
}

struct Transactor {
    producer: FutureProducer<KafkaContext>,
    props: ClientProperties,
    id: String,
    group: GroupMetadata,
    bounds: Bounds,
    metrics: Arc<Metrics>,
    fail: Fail,
    phase: Phase,
    /// What the producer's transaction holds (or will, once begun again).
    current: Content,
    /// Released while `current` was being committed or aborted: the next
    /// transaction's.
    queued: Content,
    /// Deliveries of `current`'s records in this attempt.
    deliveries: Vec<DeliveryFuture>,
    /// When `current` got its first release.
    opened: Option<Instant>,
    /// When to try again after a failure.
    retry: Option<Instant>,
    failures: u32,
    /// Commits asked for, answered when `current` commits.
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    /// A permanent failure stopped the connector: nothing more is written.
    stopped: bool,
    inbox: Inbox,
}

/// What the task sends the transactor.
struct Inbox {
    releases: mpsc::Receiver<Release>,
    control: mpsc::UnboundedReceiver<Control>,
    releases_open: bool,
    control_open: bool,
}

/// What woke the transactor.
enum Event {
    Control(Option<Control>),
    Release(Option<Release>),
    Due,
}

impl Transactor {
    async fn run(mut self) {
        while self.inbox.control_open {
            let due = self.due();
            let room = self.room();
            let event = tokio::select! {
                biased;
                c = self.inbox.control.recv() => Event::Control(c),
                r = self.inbox.releases.recv(), if room => Event::Release(r),
                () = sleep_until(due), if due.is_some() => Event::Due,
            };
            match event {
                Event::Control(Some(Control::Commit(reply))) => {
                    if self.current.is_empty() && self.queued.is_empty() {
                        let _ = reply.send(Ok(()));
                    } else {
                        self.waiters.push(reply);
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
            let producer = self.producer.clone();
            let _ =
                tokio::task::spawn_blocking(move || producer.abort_transaction(CALL_TIMEOUT)).await;
        }
    }

    /// A control message; a commit asked for joins the waiters (the caller
    /// starts one when none is under way).
    async fn control(&mut self, control: Option<Control>) {
        match control {
            Some(Control::Commit(reply)) => self.waiters.push(reply),
            Some(Control::Forget(partitions, reply)) => {
                self.forget(&partitions).await;
                let _ = reply.send(());
            }
            None => self.inbox.control_open = false,
        }
    }

    async fn release(&mut self, release: Option<Release>) {
        match release {
            Some(release) => self.take(release).await,
            None => self.inbox.releases_open = false,
        }
    }

    /// Whether to take releases now.
    fn room(&self) -> bool {
        self.inbox.releases_open && self.held() < self.bounds.max_records
    }

    /// Commits the producer's transaction, taking releases (into `queued`)
    /// and control messages while the broker works: partitions do not wait
    /// for a commit to hand over what they resolved.
    async fn commit(&mut self) -> Result<(), Failed> {
        let producer = self.producer.clone();
        let mut call =
            tokio::task::spawn_blocking(move || producer.commit_transaction(CALL_TIMEOUT));
        loop {
            let room = self.room();
            let event = tokio::select! {
                biased;
                done = &mut call => {
                    return match done {
                        Ok(result) => result.map_err(classify),
                        Err(e) => Err(Failed::Permanent(format!("a transaction call panicked: {e}"))),
                    };
                }
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

    fn held(&self) -> usize {
        self.current.records.len() + self.queued.records.len()
    }

    /// When to commit (or try again).
    fn due(&self) -> Option<Instant> {
        if self.stopped || (self.current.is_empty() && self.queued.is_empty()) {
            return None;
        }
        if let Some(at) = self.retry {
            return Some(at);
        }
        if !self.waiters.is_empty() || self.held() >= self.bounds.max_records {
            return Some(Instant::now());
        }
        Some(self.opened.unwrap_or_else(Instant::now) + self.bounds.interval)
    }

    async fn take(&mut self, release: Release) {
        let Release {
            tp,
            next,
            records,
            taken,
        } = release;
        // Its worker was aborted (the partition was lost): not ours to write.
        if taken.is_closed() || self.stopped {
            return;
        }
        self.opened.get_or_insert_with(Instant::now);
        // Invariant: in `Idle` nothing of `current` is written yet, in
        // `Open` all of it is; while a commit or abort is under way new
        // releases wait in `queued`.
        let content = match self.phase {
            Phase::Idle | Phase::Open => &mut self.current,
            _ => &mut self.queued,
        };
        content.offsets.insert(tp.clone(), next);
        let start = content.records.len();
        content
            .records
            .extend(records.into_iter().map(|r| (tp.clone(), r)));
        let _ = taken.send(());
        let write =
            self.phase == Phase::Open || (self.phase == Phase::Idle && self.retry.is_none());
        if write && let Err(failed) = self.write_from(start).await {
            self.failed("writing outcome records", failed).await;
        }
    }

    /// Writes `current`'s records from `start` into the transaction; from
    /// the first, after beginning it, when none is open.
    async fn write_from(&mut self, start: usize) -> Result<(), Failed> {
        let mut from = start;
        if self.phase == Phase::Idle {
            self.producer.begin_transaction().map_err(classify)?;
            self.phase = Phase::Open;
            self.deliveries.clear();
            from = 0;
        }
        for i in from..self.current.records.len() {
            loop {
                match enqueue(&self.producer, &self.current.records[i].1) {
                    Ok(delivery) => {
                        self.deliveries.push(delivery);
                        break;
                    }
                    Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err(e) => return Err(classify(e)),
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
        while !self.stopped {
            let phase = self.phase;
            let step = match phase {
                Phase::Broken => self.replace().await,
                Phase::Aborting => self.abort().await,
                Phase::Idle if self.current.is_empty() => {
                    self.answer(Ok(()));
                    return;
                }
                Phase::Idle => self.write_from(0).await,
                Phase::Open => self
                    .send_offsets()
                    .await
                    .map(|()| self.phase = Phase::Committing),
                Phase::Committing => {
                    match self.commit().await {
                        Ok(()) => {
                            self.committed();
                            // What was released meanwhile goes out now; it
                            // commits at its own interval.
                            if !self.current.is_empty()
                                && let Err(failed) = self.write_from(0).await
                            {
                                self.failed("writing outcome records", failed).await;
                            }
                            return;
                        }
                        Err(failed) => Err(failed),
                    }
                }
            };
            if let Err(failed) = step {
                self.failed(&format!("{phase:?}").to_lowercase(), failed)
                    .await;
                return;
            }
        }
    }

    async fn send_offsets(&mut self) -> Result<(), Failed> {
        if self.current.offsets.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (tp, next) in &self.current.offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(*next))
                .map_err(classify)?;
        }
        let Some(group) = self.group.get() else {
            return Err(Failed::Permanent(
                "the task's consumer is gone: offsets cannot be committed".into(),
            ));
        };
        self.call(move |p| p.send_offsets_to_transaction(&tpl, &group, CALL_TIMEOUT))
            .await
    }

    /// Runs one blocking transaction call off the runtime.
    async fn call<F>(&self, f: F) -> Result<(), Failed>
    where
        F: FnOnce(&FutureProducer<KafkaContext>) -> Result<(), KafkaError> + Send + 'static,
    {
        let producer = self.producer.clone();
        match tokio::task::spawn_blocking(move || f(&producer)).await {
            Ok(result) => result.map_err(classify),
            Err(e) => Err(Failed::Permanent(format!(
                "a transaction call panicked: {e}"
            ))),
        }
    }

    /// A failed step: abort or replace, answer what waits, and back off.
    async fn failed(&mut self, what: &str, failed: Failed) {
        let failed = match failed {
            Failed::Abortable => match self.abort().await {
                Ok(()) => Failed::Abortable,
                Err(again) => again,
            },
            other => other,
        };
        let fatal = matches!(failed, Failed::Fatal);
        let permanent = match failed {
            Failed::Permanent(reason) => Some(reason),
            _ => self.permanent_delivery_failure(),
        };
        if let Some(reason) = permanent {
            self.stopped = true;
            (self.fail)(format!(
                "exactly-once transaction of outcome records failed ({what}): {reason}"
            ));
            self.answer(Err(reason));
            return;
        }
        if fatal {
            self.phase = Phase::Broken;
        }
        let delay = Backoff::forever(Duration::from_millis(100), Duration::from_secs(5))
            .delay_forever(self.failures, rand::random::<f64>());
        self.failures = self.failures.saturating_add(1);
        warn!(
            transactional_id = %self.id,
            step = what,
            phase = ?self.phase,
            retry_in_ms = delay.as_millis(),
            "exactly-once transaction failed; its outcome records are written again in a new transaction"
        );
        self.answer(Err(format!("the transaction failed while {what}")));
        self.retry = Some(Instant::now() + delay);
    }

    /// Aborts the producer's transaction (resumable after a timeout).
    async fn abort(&mut self) -> Result<(), Failed> {
        self.phase = Phase::Aborting;
        self.call(|p| p.abort_transaction(CALL_TIMEOUT)).await?;
        self.aborted();
        Ok(())
    }

    /// A delivery of this attempt that failed for a reason no retry heals.
    fn permanent_delivery_failure(&mut self) -> Option<String> {
        self.deliveries
            .iter_mut()
            .find_map(|d| match d.now_or_never() {
                Some(Ok(Err((e, _)))) => permanent_delivery_error(&e),
                _ => None,
            })
    }

    /// The abort went through: everything is written again next time.
    fn aborted(&mut self) {
        self.metrics
            .transactions
            .get_or_create(&ResultLabel { result: "aborted" })
            .inc();
        let queued = std::mem::take(&mut self.queued);
        self.current.append(queued);
        self.deliveries.clear();
        self.phase = Phase::Idle;
    }

    fn committed(&mut self) {
        if !self.current.is_empty() {
            self.metrics
                .transactions
                .get_or_create(&ResultLabel {
                    result: "committed",
                })
                .inc();
            debug!(transactional_id = %self.id, records = self.current.records.len(), partitions = self.current.offsets.len(), "transaction committed");
        }
        self.current = std::mem::take(&mut self.queued);
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

    fn answer(&mut self, result: Result<(), String>) {
        for w in self.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
    }

    /// Replaces a producer that failed fatally (same transactional id, so
    /// its initialisation aborts whatever the old one left open).
    async fn replace(&mut self) -> Result<(), Failed> {
        let producer = create(&self.props)
            .map_err(|e| Failed::Permanent(format!("creating the transactional producer: {e}")))?;
        let p = producer.clone();
        match tokio::task::spawn_blocking(move || p.init_transactions(CALL_TIMEOUT)).await {
            Ok(Ok(())) => {}
            // Refusals that retrying does not heal; the rest (the cluster
            // away) is retried.
            Ok(Err(e)) if permanent_init_error(&e) => {
                return Err(Failed::Permanent(init_advice(&e, &self.id, CALL_TIMEOUT)));
            }
            Ok(Err(_)) => return Err(Failed::Retriable),
            Err(e) => {
                return Err(Failed::Permanent(format!(
                    "a transaction call panicked: {e}"
                )));
            }
        }
        self.producer = producer;
        self.aborted();
        Ok(())
    }

    /// Drops what `partitions` released; aborts the open transaction if it
    /// wrote any of it (records written without their offsets must never
    /// commit). A transaction already committing keeps them: it commits or
    /// aborts them with their offsets, atomically.
    async fn forget(&mut self, partitions: &[TopicPartition]) {
        self.queued.remove(partitions);
        let had = self.current.remove(partitions);
        if had && self.phase == Phase::Open {
            debug!(transactional_id = %self.id, "partitions given up: aborting the open transaction");
            match self.abort().await {
                // The rest is written again at once.
                Ok(()) => self.retry = Some(Instant::now()),
                Err(failed) => self.failed("aborting", failed).await,
            }
        }
        if self.current.is_empty() && self.queued.is_empty() {
            self.opened = None;
        }
    }
}

fn create(props: &ClientProperties) -> Result<FutureProducer<KafkaContext>, KafkaError> {
    client_config(props).create_with_context(KafkaContext::new(props))
}

/// Creates a transactional producer and initialises its transactions.
async fn init(
    props: &ClientProperties,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<FutureProducer<KafkaContext>> {
    let producer = create(props).context("creating the transactional producer")?;
    let p = producer.clone();
    tokio::task::spawn_blocking(move || p.init_transactions(timeout))
        .await
        .context("initialising transactions")?
        .map_err(|e| anyhow::anyhow!(init_advice(&e, id, timeout)))?;
    Ok(producer)
}

/// Whether a failed `init_transactions` is a refusal (not the cluster away).
fn permanent_init_error(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::UnsupportedVersion
                | RDKafkaErrorCode::UnsupportedForMessageFormat
                | RDKafkaErrorCode::InvalidTransactionTimeout
        )
    )
}

/// What a failed `init_transactions` means, and what to do.
fn init_advice(e: &KafkaError, id: &str, timeout: Duration) -> String {
    let prefix = id.rsplitn(3, '-').nth(2).unwrap_or(id);
    let advice = match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed) => format!(
            "not authorized to use transactional id {id}: grant the connector's principal WRITE \
             and DESCRIBE on the transactional ids with the prefix {prefix}- (kafka-acls --add \
             --allow-principal User:<principal> --operation Write --operation Describe \
             --transactional-id {prefix}- --resource-pattern-type prefixed), or set reporter.exactly.once=false"
        ),
        Some(RDKafkaErrorCode::ClusterAuthorizationFailed) => {
            "not authorized for idempotent writes: grant IDEMPOTENT_WRITE on the cluster, or set reporter.exactly.once=false".into()
        }
        Some(
            RDKafkaErrorCode::UnsupportedVersion | RDKafkaErrorCode::UnsupportedForMessageFormat,
        ) => "the cluster does not support transactions (Kafka 2.5 or later is needed); set reporter.exactly.once=false".into(),
        Some(RDKafkaErrorCode::InvalidTransactionTimeout) => {
            "producer.override.transaction.timeout.ms exceeds the broker's transaction.max.timeout.ms; lower it".into()
        }
        Some(RDKafkaErrorCode::RequestTimedOut | RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::OperationTimedOut) => format!(
            "the cluster's transaction coordinator did not answer within {} s: the cluster may not \
             support transactions (Kafka 2.5 or later, with transaction.state.log.replication.factor \
             no larger than its number of brokers), or the coordinator is unavailable; fix it or set reporter.exactly.once=false",
            timeout.as_secs()
        ),
        _ => "set reporter.exactly.once=false if the cluster does not allow transactions".into(),
    };
    format!("exactly-once: cannot initialise transactions ({e}): {advice}")
}

/// Sorts a failed transaction call.
fn classify(e: KafkaError) -> Failed {
    if e.rdkafka_error_code() != Some(RDKafkaErrorCode::Fatal)
        && let Some(reason) = permanent_delivery_error(&e)
    {
        return Failed::Permanent(reason);
    }
    match &e {
        KafkaError::Transaction(t) if t.is_retriable() => Failed::Retriable,
        KafkaError::Transaction(t) if t.txn_requires_abort() => Failed::Abortable,
        KafkaError::Transaction(t) if t.is_fatal() => Failed::Fatal,
        // Neither retriable nor abortable: librdkafka's advice is "fatal".
        _ => Failed::Fatal,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition {
            topic: Arc::from("t"),
            partition: p,
        }
    }

    fn record() -> OutcomeRecord {
        OutcomeRecord {
            topic: Arc::from("success-x"),
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    #[test]
    fn content_keeps_the_latest_offset_and_forgets_by_partition() {
        let mut a = Content::default();
        a.offsets.insert(tp(0), 5);
        a.records.push((tp(0), record()));
        let mut b = Content::default();
        b.offsets.insert(tp(0), 9);
        b.offsets.insert(tp(1), 3);
        b.records.push((tp(1), record()));
        a.append(b);
        assert_eq!(a.offsets.get(&tp(0)), Some(&9));
        assert_eq!(a.records.len(), 2);
        assert!(a.remove(&[tp(1)]));
        assert!(!a.remove(&[tp(1)]), "nothing of it left");
        assert_eq!(a.records.len(), 1);
        assert_eq!(a.offsets.len(), 1);
    }

    #[test]
    fn init_failures_say_what_to_fix() {
        let denied = KafkaError::Global(RDKafkaErrorCode::TransactionalIdAuthorizationFailed);
        let text = init_advice(&denied, "lambda-sink-orders-0-1a2b3c4d", INIT_TIMEOUT);
        assert!(
            text.contains("--transactional-id lambda-sink-orders-")
                && text.contains("reporter.exactly.once=false"),
            "{text}"
        );
    }
}
