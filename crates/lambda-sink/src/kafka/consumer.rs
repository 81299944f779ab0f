//! The consumer of one task: a librdkafka consumer polled on its own thread.
//!
//! The poll loop never waits for Lambda: records go to a [`RecordHandler`]
//! (the pipeline) and, when a partition has more buffered than the handler
//! wants, that partition is paused — not the consumer — and resumed once it
//! has drained. Revocation (rebalance) and shutdown take one path: the
//! handler drains the partitions (finishing in-flight work, storing their
//! offsets) before the consumer commits and lets them go.
//!
//! librdkafka commits *stored* offsets on a timer; only the handler stores
//! offsets, and only for records whose outcome is resolved.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::client_config;
use crate::metrics::{Metrics, PartitionLabels};

/// What the pipeline offers the consumer.
pub trait RecordHandler: Send + Sync + 'static {
    /// Takes a record (offsets increase within a partition). Returns how
    /// many records of its partition are now buffered and not yet invoked.
    fn deliver(&self, record: SourceRecord) -> usize;
    /// Records of `tp` buffered and not yet invoked.
    fn buffered(&self, tp: &TopicPartition) -> usize;
    /// Most records a partition may buffer before it is paused.
    fn buffer_limit(&self) -> usize;
    /// Stops work on `partitions` and blocks until their in-flight batches are
    /// resolved and their offsets stored (bounded by the shutdown timeout).
    fn drain(&self, partitions: &[TopicPartition]);
    /// Partitions currently held (with a worker).
    fn partitions(&self) -> Vec<TopicPartition>;
    /// The consumer cannot go on (e.g. no offset and `auto.offset.reset=none`).
    fn fail(&self, reason: String);
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

/// librdkafka callbacks of one task's consumer.
pub struct TaskContext {
    task: usize,
    handler: OnceLock<Arc<dyn RecordHandler>>,
    metrics: Arc<Metrics>,
}

impl ClientContext for TaskContext {
    /// librdkafka's periodic statistics (`statistics.interval.ms`): consumer
    /// lag and committed offset of every partition this task consumes.
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition < 0 || p.consumer_lag < 0 {
                    continue;
                }
                let labels = PartitionLabels {
                    topic: topic.clone(),
                    partition: partition.to_string(),
                };
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
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let Some(handler) = self.handler.get() else {
            return;
        };
        let partitions = tp_list(tpl);
        let lost = consumer.assignment_lost();
        info!(task = self.task, partitions = %names(&partitions), lost, "partitions revoked: draining");
        // Runs on the poll thread: blocking here holds the rebalance until the
        // drain is done, so the next owner starts after our last commit.
        handler.drain(&partitions);
        if !lost {
            commit(consumer, self.task, "revoke");
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let partitions = tp_list(tpl);
                if !partitions.is_empty() {
                    info!(task = self.task, partitions = %names(&partitions), "partitions assigned");
                }
                // A partition paused before it was revoked may come back paused.
                if let Err(e) = consumer.resume(tpl) {
                    debug!(error = %e, "resume after assignment");
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => warn!(task = self.task, error = %e, "rebalance error"),
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => debug!(task = self.task, offsets = ?offsets_of(offsets), "offsets committed"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                warn!(task = self.task, error = %e, "offset commit failed; it is retried with the next commit")
            }
        }
    }
}

fn commit(consumer: &BaseConsumer<TaskContext>, task: usize, why: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
            debug!(task, why, "committed stored offsets");
        }
        Err(e) => {
            warn!(task, why, error = %e, "synchronous commit failed; uncommitted records will be processed again")
        }
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
}

impl TaskConsumer {
    /// Creates task `task`'s consumer and subscribes it.
    ///
    /// # Errors
    /// When librdkafka refuses the configuration or the subscription.
    pub fn new(config: &Config, task: usize, metrics: Arc<Metrics>) -> KafkaResult<Self> {
        let mut props = config
            .kafka
            .client_properties(ClientRole::Consumer(&config.connector_id));
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
        let context = TaskContext {
            task,
            handler: OnceLock::new(),
            metrics,
        };
        let consumer: BaseConsumer<TaskContext> =
            client_config(&props).create_with_context(context)?;
        let subscription: Vec<String> = match &config.subscription {
            lambda_sink_core::config::Subscription::Topics(topics) => {
                topics.iter().map(ToString::to_string).collect()
            }
            // librdkafka treats a leading ^ as a regex; Kafka matches whole names.
            lambda_sink_core::config::Subscription::Pattern(p) => vec![format!("^({p})$")],
        };
        let refs: Vec<&str> = subscription.iter().map(String::as_str).collect();
        consumer.subscribe(&refs)?;
        Ok(Self {
            task,
            consumer: Arc::new(consumer),
        })
    }

    /// The handle through which the pipeline stores offsets.
    pub fn offset_store(&self) -> OffsetStore {
        OffsetStore {
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
            paused: HashSet::new(),
            topics: HashMap::new(),
            last_resume_check: Instant::now(),
        };
        while !shutdown.is_cancelled() {
            poller.poll_once();
        }
        let held = handler.partitions();
        info!(
            task,
            partitions = held.len(),
            "stopping: draining in-flight work"
        );
        handler.drain(&held);
        commit(&self.consumer, task, "shutdown");
        // Dropping the consumer closes it (rust-rdkafka polls until closed):
        // the final revoke finds nothing left to drain, and the group is
        // left at once so the other members take the partitions over.
        // (An explicit unsubscribe first left Tansu's cooperative group
        // without a rebalance.)
        drop(self.consumer);
        info!(task, "consumer closed");
    }
}

struct Poller<'a> {
    consumer: &'a BaseConsumer<TaskContext>,
    handler: &'a dyn RecordHandler,
    paused: HashSet<TopicPartition>,
    topics: HashMap<String, Arc<str>>,
    last_resume_check: Instant,
}

impl Poller<'_> {
    fn poll_once(&mut self) {
        match self.consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let record = self.owned(&message);
                drop(message);
                let tp = TopicPartition::of(&record);
                let buffered = self.handler.deliver(record);
                if buffered >= self.handler.buffer_limit() && !self.paused.contains(&tp) {
                    self.set_paused(&tp, true);
                }
            }
            Some(Err(e)) => self.consumer_error(&e),
        }
        if self.last_resume_check.elapsed() >= Duration::from_millis(10) {
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
                let gauge = &self.consumer.context().metrics.paused_partitions;
                if pause {
                    if self.paused.insert(tp.clone()) {
                        gauge.inc();
                    }
                } else if self.paused.remove(tp) {
                    gauge.dec();
                }
            }
            // Not assigned any more: nothing to pause or resume.
            Err(e) => {
                debug!(partition = %tp, error = %e, "pause/resume");
                if self.paused.remove(tp) {
                    self.consumer.context().metrics.paused_partitions.dec();
                }
            }
        }
    }

    fn owned(&mut self, m: &BorrowedMessage<'_>) -> SourceRecord {
        let topic = match self.topics.get(m.topic()) {
            Some(t) => t.clone(),
            None => {
                let t: Arc<str> = Arc::from(m.topic());
                self.topics.insert(m.topic().to_string(), t.clone());
                t
            }
        };
        SourceRecord {
            topic,
            partition: m.partition(),
            offset: m.offset(),
            timestamp: m.timestamp().to_millis(),
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

    fn consumer_error(&self, e: &KafkaError) {
        if let Some((code, reason)) = self.consumer.client().fatal_error() {
            self.handler.fail(format!(
                "the Kafka consumer failed fatally ({code:?}): {reason}"
            ));
            return;
        }
        match e.rdkafka_error_code() {
            Some(RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange) => {
                self.handler.fail(format!(
                    "{e}: a partition has no valid committed offset and consumer.override.auto.offset.reset=none; \
                     set it to earliest or latest, or commit offsets for the group"
                ));
            }
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::GroupAuthorizationFailed
                | RDKafkaErrorCode::SaslAuthenticationFailed,
            ) => {
                self.handler.fail(format!(
                    "{e}: check the Kafka credentials and ACLs (READ on the topics and the group)"
                ));
            }
            // Transport errors, unknown topics (created later), leader changes:
            // librdkafka recovers by itself.
            _ => warn!(error = %e, "Kafka consumer error (librdkafka retries)"),
        }
    }
}
