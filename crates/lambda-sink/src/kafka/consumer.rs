//! The consumer of one task: a librdkafka consumer polled on its own thread.
//!
//! Every assigned partition gets its own librdkafka queue, split off before
//! the partition is assigned, so its records never enter the shared consumer
//! queue. The poll thread moves records from a partition's queue to the
//! [`RecordHandler`] (the pipeline) only while that partition's buffer has
//! room; a full partition simply stays in its queue, and librdkafka stops
//! fetching it once its queue holds `queued.max.messages.kbytes` (or
//! `queued.min.messages` records). Nothing is
//! paused, so nothing fetched is thrown away and fetched again (librdkafka
//! discards a paused partition's prefetched records), and one slow partition
//! never holds up the others. The thread sleeps on a [`Wake`] until a queue
//! receives records, an event arrives, or a full partition drains to half.
//!
//! Revocation (rebalance) and shutdown take one path: the handler drains the
//! partitions (finishing in-flight work, storing their offsets) before the
//! consumer commits and lets them go.
//!
//! librdkafka commits *stored* offsets on a timer; only the handler stores
//! offsets, and only for records whose outcome is resolved.

use crate::sync::lock;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::disposition::{Disposition, RetryReason};
use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::read_ahead::ReadAhead;
use lambda_sink_core::record::{SourceRecord, TimestampType, TopicPartition};
use lambda_sink_core::transaction::Committed;
use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, ConsumerGroupMetadata, Rebalance,
};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::client_config;
use super::diagnostics::ClientEvents;
use crate::events::Events;
use crate::metrics::{Metrics, PartitionLabels};

/// What the pipeline offers the consumer.
pub trait RecordHandler: Send + Sync + 'static {
    /// Takes a record (offsets increase within a partition). Returns how
    /// many records of its partition are now buffered and not yet invoked.
    fn deliver(&self, record: SourceRecord) -> usize;
    /// Records of `tp` buffered and not yet invoked.
    fn buffered(&self, tp: &TopicPartition) -> usize;
    /// Most records a partition may buffer before the consumer holds it back.
    fn buffer_limit(&self) -> usize;
    /// Stops work on `partitions` and, unless they were lost, blocks until
    /// their in-flight batches are resolved and their offsets stored
    /// (bounded by the shutdown timeout).
    fn drain(&self, partitions: &[TopicPartition], why: Release);
    /// Partitions currently held (with a worker).
    fn partitions(&self) -> Vec<TopicPartition>;
    /// `partitions` were assigned (a worker normally starts with a
    /// partition's first record; one with work of its own, such as parked
    /// keys to retry, starts now).
    fn assigned(&self, _partitions: &[TopicPartition]) {}
    /// The consumer cannot go on (e.g. no offset and `auto.offset.reset=none`).
    fn fail(&self, reason: String);
}

/// Why partitions are given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Release {
    /// A rebalance moves them to another member: finish in-flight work and
    /// commit first, so the next owner does not redo it.
    Revoked,
    /// The group already gave them away (the session timed out, e.g. while
    /// the broker was unreachable): offsets can no longer be committed, so
    /// in-flight work is dropped at once; the next owner redoes it.
    Lost,
    /// The connector stops: finish in-flight work and commit.
    Shutdown,
}

/// Wakes the poll thread: a partition queue or the consumer queue received
/// something, or a full partition's buffer drained to its low-water mark.
/// A notification is never lost: one that arrives while the thread is busy
/// makes its next wait return at once.
#[derive(Debug, Default)]
pub struct Wake {
    pending: Mutex<bool>,
    signal: Condvar,
}

impl Wake {
    /// Wakes the poll thread (cheap; any thread).
    pub fn notify(&self) {
        *lock(&self.pending) = true;
        self.signal.notify_one();
    }

    /// Sleeps until notified or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let pending = lock(&self.pending);
        let (mut pending, _) = self
            .signal
            .wait_timeout_while(pending, timeout, |p| !*p)
            .unwrap_or_else(PoisonError::into_inner);
        *pending = false;
    }
}

/// Stores offsets on the consumer: the only way offsets advance.
#[derive(Clone)]
pub struct OffsetStore {
    consumer: Weak<BaseConsumer<TaskContext>>,
}

impl OffsetStore {
    /// Stores `next` (the next offset to consume) for `tp`, to be committed
    /// by the auto-commit timer or the next synchronous commit.
    ///
    /// # Errors
    /// When the partition is no longer assigned or the consumer is gone.
    pub fn store(&self, tp: &TopicPartition, next: i64) -> KafkaResult<()> {
        let consumer = self.consumer.upgrade().ok_or(KafkaError::Canceled)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&tp.topic, tp.partition, Offset::Offset(next))?;
        consumer.store_offsets(&tpl)
    }
}

/// Why a task's offsets must not be committed now: its consumer does not
/// hold the partitions (their next owner redoes their records; nothing to
/// retry here).
#[derive(Debug, thiserror::Error)]
pub enum NotHeld {
    /// The consumer was dropped (the task is ending).
    #[error("the task's consumer is gone")]
    Gone,
    /// The consumer left the group or was expelled from it.
    #[error("the task's consumer is not a group member now")]
    NotMember,
    /// librdkafka reported the assignment lost (session timeout, fencing).
    #[error("the task's consumer lost its partitions")]
    Lost,
    /// The assignment could not be read.
    #[error("reading the consumer's assignment: {0}")]
    Unreadable(KafkaError),
    /// The partition was revoked from the task.
    #[error("partition {0} is no longer assigned to the task")]
    Unassigned(TopicPartition),
}

/// The task's consumer as its transactions see it: the group metadata
/// (member id, generation) an exactly-once offset commit is fenced by, and
/// the group's committed offsets.
#[derive(Clone)]
pub struct GroupMetadata {
    consumer: Weak<BaseConsumer<TaskContext>>,
}

impl GroupMetadata {
    /// The metadata to commit offsets of `partitions` with, read now, if
    /// the consumer holds them all.
    ///
    /// The broker fences a commit by the member and generation it carries,
    /// but accepts a transactional one that carries neither (generation -1,
    /// no member id), and librdkafka resets both before the application
    /// hears that its membership is gone. So the assignment is checked here
    /// too: a partition that is lost or no longer assigned is never
    /// committed, whatever the metadata says.
    ///
    /// # Errors
    /// Why the offsets must not be committed now.
    pub fn for_offsets<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Result<ConsumerGroupMetadata, NotHeld> {
        let consumer = self.consumer.upgrade().ok_or(NotHeld::Gone)?;
        let metadata = consumer.group_metadata().ok_or(NotHeld::NotMember)?;
        if consumer.assignment_lost() {
            return Err(NotHeld::Lost);
        }
        let assigned = consumer.assignment().map_err(NotHeld::Unreadable)?;
        for tp in partitions {
            if assigned.find_partition(&tp.topic, tp.partition).is_none() {
                return Err(NotHeld::Unassigned(tp.clone()));
            }
        }
        Ok(metadata)
    }

    /// The group's committed offsets of `partitions`, with their metadata
    /// (stable: once no transaction holding offsets of them is in flight).
    /// Blocks.
    ///
    /// # Errors
    /// When the consumer is gone or the broker does not answer in time.
    pub fn committed(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> KafkaResult<HashMap<TopicPartition, Committed>> {
        let consumer = self.consumer.upgrade().ok_or(KafkaError::Canceled)?;
        let mut tpl = TopicPartitionList::new();
        for tp in partitions {
            tpl.add_partition(&tp.topic, tp.partition);
        }
        let committed = consumer.committed_offsets(tpl, timeout)?;
        Ok(partitions
            .iter()
            .filter_map(|tp| {
                let e = committed.find_partition(&tp.topic, tp.partition)?;
                match e.offset() {
                    Offset::Offset(offset) => {
                        let metadata = e.metadata().to_string();
                        Some((tp.clone(), Committed { offset, metadata }))
                    }
                    _ => None,
                }
            })
            .collect())
    }
}

/// A partition's own queue.
type Queue = PartitionQueue<TaskContext>;

/// What a rebalance changed, for the poll thread to apply once `poll`
/// returns (the callbacks run inside it).
enum QueueChange {
    /// A partition was assigned, with its queue.
    Assigned(TopicPartition, Queue),
    /// Partitions were revoked (and drained).
    Revoked(Vec<TopicPartition>),
}

/// librdkafka callbacks of one task's consumer.
pub struct TaskContext {
    task: usize,
    handler: OnceLock<Arc<dyn RecordHandler>>,
    metrics: Arc<Metrics>,
    /// The consumer itself, to split partition queues off during a
    /// rebalance (weak: the context lives inside the consumer).
    consumer: OnceLock<Weak<BaseConsumer<TaskContext>>>,
    /// Queue changes not yet applied by the poll thread.
    changes: Mutex<Vec<QueueChange>>,
    /// librdkafka's log lines and errors, folded.
    events: ClientEvents,
    /// The connector's event log: rebalances and commit failures.
    journal: Arc<Events>,
}

impl ClientContext for TaskContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.events.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.events.error(&error, reason);
    }

    /// librdkafka's periodic statistics (`statistics.interval.ms`): consumer
    /// lag, committed offset and high watermark of every partition this
    /// task consumes.
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 {
                    continue;
                }
                let labels = PartitionLabels {
                    topic: topic.clone(),
                    partition: partition.to_string(),
                };
                // Known once the partition is fetched, commits or not.
                if p.hi_offset >= 0 && p.fetch_state == "active" {
                    self.metrics
                        .end_offset
                        .get_or_create(&labels)
                        .set(p.hi_offset);
                }
                if p.consumer_lag < 0 {
                    continue;
                }
                self.metrics
                    .consumer_lag
                    .get_or_create(&labels)
                    .set(p.consumer_lag);
                if p.committed_offset >= 0 {
                    self.metrics
                        .committed_offset
                        .get_or_create(&labels)
                        .set(p.committed_offset);
                }
            }
        }
    }
}

impl ConsumerContext for TaskContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let tpl = match rebalance {
            Rebalance::Assign(tpl) => {
                self.split_queues(tpl);
                return;
            }
            Rebalance::Revoke(tpl) => tpl,
            Rebalance::Error(_) => return,
        };
        let partitions = tp_list(tpl);
        lock(&self.changes).push(QueueChange::Revoked(partitions.clone()));
        let Some(handler) = self.handler.get() else {
            return;
        };
        if consumer.assignment_lost() {
            self.event(
                Level::Warn,
                "partitions_lost",
                format!("partitions lost (the group session expired): {}; their uncommitted work will be redone", names(&partitions)),
            );
            handler.drain(&partitions, Release::Lost);
            return;
        }
        self.event(
            Level::Info,
            "partitions_revoked",
            format!("partitions revoked: {}; draining", names(&partitions)),
        );
        // Runs on the poll thread: blocking here holds the rebalance until the
        // drain is done, so the next owner starts after our last commit.
        handler.drain(&partitions, Release::Revoked);
        commit(consumer, self.task, "revoke");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = tp_list(tpl);
                if !partitions.is_empty() {
                    self.event(
                        Level::Info,
                        "partitions_assigned",
                        format!("partitions assigned: {}", names(&partitions)),
                    );
                    if let Some(handler) = self.handler.get() {
                        handler.assigned(&partitions);
                    }
                }
                // A partition paused before it was revoked (only records that
                // reached the consumer queue are paused) may come back paused.
                if let Err(e) = consumer.resume(tpl) {
                    debug!(error = %e, "resume after assignment");
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => self.event(
                Level::Warn,
                "rebalance_failed",
                format!("rebalance error: {e}"),
            ),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => debug!(task = self.task, offsets = ?offsets_of(offsets), "offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => self.event(
                Level::Warn,
                "commit_failed",
                format!("offset commit failed: {e}; it is retried with the next commit"),
            ),
        }
    }
}

impl TaskContext {
    /// Records an event of this task in the connector's log.
    fn event(&self, level: Level, event: &'static str, message: String) {
        self.journal
            .record(Event::new(level, event, message).task(self.task));
    }

    /// Gives each partition about to be assigned its own queue. Done before
    /// the assignment, so no record of it ever reaches the consumer queue
    /// (librdkafka keeps an application's forwarding when it starts
    /// fetching): a partition's records arrive in one queue, in order.
    fn split_queues(&self, tpl: &TopicPartitionList) {
        let Some(consumer) = self.consumer.get().and_then(Weak::upgrade) else {
            return;
        };
        let mut changes = lock(&self.changes);
        for tp in tp_list(tpl) {
            match consumer.split_partition_queue(&tp.topic, tp.partition) {
                Some(queue) => changes.push(QueueChange::Assigned(tp, queue)),
                // Its records then arrive in the consumer queue, where a full
                // partition is paused instead.
                None => {
                    warn!(task = self.task, partition = %tp, "no queue of its own for the partition")
                }
            }
        }
    }
}

fn commit(consumer: &BaseConsumer<TaskContext>, task: usize, why: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
            debug!(task, why, "committed stored offsets");
        }
        Err(e) => consumer.context().event(
            Level::Warn,
            "commit_failed",
            format!("synchronous commit ({why}) failed: {e}; uncommitted records will be processed again"),
        ),
    }
}

fn tp_list(tpl: &TopicPartitionList) -> Vec<TopicPartition> {
    tpl.elements()
        .iter()
        .map(|e| TopicPartition {
            topic: Arc::from(e.topic()),
            partition: e.partition(),
        })
        .collect()
}

fn names(tps: &[TopicPartition]) -> String {
    tps.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn offsets_of(tpl: &TopicPartitionList) -> Vec<(String, i32, Option<i64>)> {
    tpl.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition(), e.offset().to_raw()))
        .collect()
}

/// One task's consumer, created and subscribed but not yet polled.
pub struct TaskConsumer {
    task: usize,
    consumer: Arc<BaseConsumer<TaskContext>>,
    wake: Arc<Wake>,
}

impl TaskConsumer {
    /// Creates task `task`'s consumer, prefetching as far as `read_ahead`
    /// allows, and subscribes it.
    ///
    /// # Errors
    /// When librdkafka refuses the configuration or the subscription.
    pub fn new(
        config: &Config,
        task: usize,
        read_ahead: ReadAhead,
        metrics: Arc<Metrics>,
        journal: Arc<Events>,
    ) -> KafkaResult<Self> {
        let mut props = config
            .kafka
            .client_properties(ClientRole::Consumer(&config.connector_id, read_ahead));
        let client_id = format!(
            "{}-{}-{task}",
            props
                .get("client.id")
                .map(|v| v.expose().to_string())
                .unwrap_or_default(),
            config.connector_id
        );
        props.insert(
            "client.id".into(),
            lambda_sink_core::config::ClientValue::new(client_id, false),
        );
        if config.reporter.transactions.is_some() {
            // Offsets are committed inside the outcome transactions only.
            props.insert(
                "enable.auto.commit".into(),
                lambda_sink_core::config::ClientValue::new("false", false),
            );
        }
        let context = TaskContext {
            task,
            handler: OnceLock::new(),
            metrics,
            consumer: OnceLock::new(),
            changes: Mutex::new(Vec::new()),
            events: ClientEvents::new(&props),
            journal,
        };
        let mut consumer: BaseConsumer<TaskContext> =
            client_config(&props).create_with_context(context)?;
        let wake = Arc::new(Wake::default());
        let on_event = wake.clone();
        consumer.set_nonempty_callback(move || on_event.notify());
        let subscription: Vec<String> = match &config.subscription {
            lambda_sink_core::config::Subscription::Topics(topics) => {
                topics.iter().map(ToString::to_string).collect()
            }
            // librdkafka treats a leading ^ as a regex; Kafka matches whole names.
            lambda_sink_core::config::Subscription::Pattern(p) => vec![format!("^({p})$")],
        };
        let refs: Vec<&str> = subscription.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        let consumer = Arc::new(consumer);
        let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
        Ok(Self {
            task,
            consumer,
            wake,
        })
    }

    /// What the pipeline notifies when a full partition has drained to half
    /// (see [`Wake`]).
    pub fn wake(&self) -> Arc<Wake> {
        self.wake.clone()
    }

    /// The handle through which the pipeline stores offsets.
    pub fn offset_store(&self) -> OffsetStore {
        OffsetStore {
            consumer: Arc::downgrade(&self.consumer),
        }
    }

    /// The consumer's group metadata, for exactly-once offset commits.
    pub fn group_metadata(&self) -> GroupMetadata {
        GroupMetadata {
            consumer: Arc::downgrade(&self.consumer),
        }
    }

    /// Polls until `shutdown`, then drains every held partition, commits and
    /// closes. Blocks the calling thread: run it with `spawn_blocking`.
    pub fn run(self, handler: Arc<dyn RecordHandler>, shutdown: &CancellationToken) {
        let task = self.task;
        if self
            .consumer
            .context()
            .handler
            .set(handler.clone())
            .is_err()
        {
            error!(task, "consumer started twice");
            return;
        }
        let mut poller = Poller {
            consumer: &self.consumer,
            handler: handler.as_ref(),
            wake: self.wake.clone(),
            queues: Vec::new(),
            paused: HashSet::new(),
            full: HashSet::new(),
            last_resume_check: Instant::now(),
            topics: HashMap::new(),
        };
        while !shutdown.is_cancelled() {
            poller.poll_once();
        }
        // The queues hold the consumer: release them before closing it.
        drop(poller);
        lock(&self.consumer.context().changes).clear();
        let held = handler.partitions();
        info!(
            task,
            partitions = held.len(),
            "stopping: draining in-flight work"
        );
        handler.drain(&held, Release::Shutdown);
        commit(&self.consumer, task, "shutdown");
        // Dropping the consumer closes it (rust-rdkafka polls until closed):
        // the final revoke finds nothing left to drain, and the group is
        // left at once so the other members take the partitions over.
        // (librdkafka's close unsubscribes and sends LeaveGroup itself.)
        drop(self.consumer);
        info!(task, "consumer closed");
    }
}

struct Poller<'a> {
    consumer: &'a BaseConsumer<TaskContext>,
    handler: &'a dyn RecordHandler,
    /// Shared with the consumer's callbacks and the pipeline.
    wake: Arc<Wake>,
    /// The assigned partitions' own queues.
    queues: Vec<(TopicPartition, Queue)>,
    /// Partitions paused because their records reached the consumer queue
    /// while their buffer was full (only when a queue could not be split).
    paused: HashSet<TopicPartition>,
    /// Partitions whose queue is not served because their buffer is full.
    full: HashSet<TopicPartition>,
    last_resume_check: Instant,
    topics: HashMap<String, Arc<str>>,
}

impl Poller<'_> {
    /// One round: events (rebalances run here), queue changes, records of
    /// partitions with room; sleeps when none of it had anything.
    fn poll_once(&mut self) {
        let mut busy = self.serve_consumer_queue();
        busy |= self.apply_queue_changes();
        busy |= self.serve_partition_queues();
        self.resume_drained();
        if !busy {
            // A safety net only: every source of work notifies `wake`.
            self.wake.wait(Duration::from_millis(100));
        }
    }

    /// Serves the consumer queue: events, errors, and records of partitions
    /// without a queue of their own. Whether anything came.
    fn serve_consumer_queue(&mut self) -> bool {
        let mut busy = false;
        // Bounded, so records here never starve the partition queues.
        for _ in 0..1_000 {
            let Some(result) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            busy = true;
            match result {
                Ok(message) => {
                    let record = owned(&mut self.topics, &message);
                    drop(message);
                    let tp = TopicPartition::of(&record);
                    let buffered = self.handler.deliver(record);
                    if buffered >= self.handler.buffer_limit() && !self.paused.contains(&tp) {
                        self.set_paused(&tp, true);
                    }
                }
                Err(e) => consumer_error(self.consumer, self.handler, &e),
            }
        }
        busy
    }

    /// Applies what rebalances changed. Revoked queues are dropped before
    /// new ones get their wake-up callback: dropping a queue clears the
    /// callback of the librdkafka queue it wraps, which a partition assigned
    /// again shares.
    fn apply_queue_changes(&mut self) -> bool {
        let changes = std::mem::take(&mut *lock(&self.consumer.context().changes));
        if changes.is_empty() {
            return false;
        }
        let mut added = Vec::new();
        for change in changes {
            match change {
                QueueChange::Revoked(tps) => {
                    self.queues.retain(|(tp, _)| !tps.contains(tp));
                    self.full.retain(|tp| !tps.contains(tp));
                    added.retain(|tp| !tps.contains(tp));
                }
                QueueChange::Assigned(tp, queue) => {
                    self.queues.retain(|(held, _)| *held != tp);
                    added.retain(|held| *held != tp);
                    added.push(tp.clone());
                    self.queues.push((tp, queue));
                }
            }
        }
        for (tp, queue) in &mut self.queues {
            if added.contains(tp) {
                let wake = self.wake.clone();
                queue.set_nonempty_callback(move || wake.notify());
            }
        }
        true
    }

    /// Moves records from each partition's queue to the pipeline while its
    /// buffer has room. Whether any moved.
    fn serve_partition_queues(&mut self) -> bool {
        let mut busy = false;
        let limit = self.handler.buffer_limit();
        for (tp, queue) in &self.queues {
            let mut room = limit.saturating_sub(self.handler.buffered(tp));
            while room > 0 {
                match queue.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(message)) => {
                        let record = owned(&mut self.topics, &message);
                        drop(message);
                        self.handler.deliver(record);
                        room -= 1;
                        busy = true;
                    }
                    Some(Err(e)) => {
                        consumer_error(self.consumer, self.handler, &e);
                        busy = true;
                        break;
                    }
                }
            }
            if room == 0 {
                if self.full.insert(tp.clone()) {
                    debug!(partition = %tp, "buffer full: holding the partition back");
                }
            } else if self.full.remove(tp) {
                debug!(partition = %tp, "buffer has room: the partition flows again");
            }
        }
        let full = self.full.len() + self.paused.len();
        self.consumer
            .context()
            .metrics
            .full_partitions
            .set(i64::try_from(full).unwrap_or(i64::MAX));
        busy
    }

    /// Resumes paused partitions whose buffer drained to half.
    fn resume_drained(&mut self) {
        if self.paused.is_empty() || self.last_resume_check.elapsed() < Duration::from_millis(1) {
            return;
        }
        self.last_resume_check = Instant::now();
        let low = self.handler.buffer_limit() / 2;
        let ready: Vec<TopicPartition> = self
            .paused
            .iter()
            .filter(|tp| self.handler.buffered(tp) <= low)
            .cloned()
            .collect();
        for tp in ready {
            self.set_paused(&tp, false);
        }
    }

    fn set_paused(&mut self, tp: &TopicPartition, pause: bool) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&tp.topic, tp.partition);
        let result = if pause {
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        match result {
            Ok(()) => {
                debug!(partition = %tp, pause, "buffer limit: partition {}", if pause { "paused" } else { "resumed" });
                if pause {
                    self.paused.insert(tp.clone());
                } else {
                    self.paused.remove(tp);
                }
            }
            // Not assigned any more: nothing to pause or resume.
            Err(e) => {
                debug!(partition = %tp, error = %e, "pause/resume");
                self.paused.remove(tp);
            }
        }
    }
}

/// `m` as an owned record; `topics` interns topic names.
pub(crate) fn owned(
    topics: &mut HashMap<String, Arc<str>>,
    m: &BorrowedMessage<'_>,
) -> SourceRecord {
    let topic = match topics.get(m.topic()) {
        Some(t) => t.clone(),
        None => {
            let t: Arc<str> = Arc::from(m.topic());
            topics.insert(m.topic().to_string(), t.clone());
            t
        }
    };
    SourceRecord {
        topic,
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis(),
        timestamp_type: match m.timestamp() {
            rdkafka::Timestamp::LogAppendTime(_) => TimestampType::LogAppendTime,
            _ => TimestampType::CreateTime,
        },
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
        headers: m
            .headers()
            .map(|hs| {
                hs.iter()
                    .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Reports a consumer error: those that will not heal stop the connector
/// with advice; librdkafka recovers from the rest by itself.
fn consumer_error(
    consumer: &BaseConsumer<TaskContext>,
    handler: &dyn RecordHandler,
    e: &KafkaError,
) {
    match disposition(consumer, e) {
        Disposition::Stop(reason) | Disposition::DeadLetter(reason) => handler.fail(reason),
        // While a broker is away this repeats: folded.
        Disposition::Retry(_) | Disposition::Split => consumer.context().events.warn_folded(
            "consumer",
            &format!("Kafka consumer error (librdkafka retries): {e}"),
        ),
    }
}

/// What a consumer error means for the connector.
fn disposition(consumer: &BaseConsumer<TaskContext>, e: &KafkaError) -> Disposition {
    if let Some((code, reason)) = consumer.client().fatal_error() {
        return Disposition::Stop(format!(
            "the Kafka consumer failed fatally ({code:?}): {reason}"
        ));
    }
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => {
            Disposition::Stop(format!(
                "{e}: a partition has no valid committed offset and consumer.override.auto.offset.reset=none; \
                 set it to earliest or latest, or commit offsets for the group"
            ))
        }
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed,
        ) => Disposition::Stop(format!(
            "{e}: check the Kafka credentials and ACLs (READ on the topics and the group)"
        )),
        // Transport errors, unknown topics (created later), leader changes.
        _ => Disposition::Retry(RetryReason::Kafka),
    }
}
