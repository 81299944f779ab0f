//! Where this worker's tasks run ([`Placement`]).
//!
//! The cluster's workers form one Kafka consumer group
//! (`<group.id>-tasks`) over a small topic per connector
//! (`<group.id>-tasks-<id>`, one partition per task, never written to).
//! Kafka's cooperative-sticky assignor hands the partitions — the tasks —
//! to the live workers; a worker runs the tasks whose partitions it holds.
//! A worker joining or leaving moves tasks, and only those that must move.
//! A task taken away is stopped (drained and committed) inside the
//! rebalance, before the group completes it, so its next owner starts
//! after the last commit. The rules (topic names, which tasks an
//! assignment means) are `lambda_sink_core::connect::placement`'s.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientRole, KafkaConfig};
use lambda_sink_core::connect::placement::{Owned, SlotTopics, overlaps, owned_tasks};
use rdkafka::TopicPartitionList;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::types::RDKafkaErrorCode;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::error::Error;
use crate::kafka::{client_config, failed, fault_of};
use crate::sync::lock;

/// How long a rebalance waits for revoked tasks to stop (their drain is
/// bounded by the connector's own shutdown timeout first).
const REVOKE_WAIT: Duration = Duration::from_secs(120);

/// This worker's place in the cluster's task placement.
pub(super) struct Placement {
    shared: Arc<Shared>,
    admin: AdminClient<DefaultClientContext>,
    replication: i32,
    subscribe: mpsc::Sender<Vec<String>>,
    stop: CancellationToken,
    thread: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the poll thread, its rebalance callbacks and the supervisors share.
struct Shared {
    /// The slot topics the cluster state asks for.
    topics: Mutex<SlotTopics>,
    /// The tasks this worker holds.
    owned: watch::Sender<Owned>,
    /// The tasks whose pipelines run here now.
    running: Mutex<Owned>,
    stopped: Condvar,
}

impl Shared {
    /// Publishes the tasks `consumer`'s assignment stands for.
    fn publish(&self, consumer: &BaseConsumer<PlacementContext>) {
        let assignment = match consumer.assignment() {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "cannot read this worker's task assignment");
                return;
            }
        };
        let owned = tasks_of(&lock(&self.topics), &assignment);
        self.owned.send_if_modified(|current| {
            let changed = *current != owned;
            if changed {
                info!(tasks = ?owned, "tasks placed on this worker");
                current.clone_from(&owned);
            }
            changed
        });
    }

    /// Takes `revoked` away and waits until none of them runs here.
    fn revoke(&self, revoked: &Owned) {
        if revoked.is_empty() {
            return;
        }
        info!(tasks = ?revoked, "tasks leaving this worker: stopping them");
        self.owned.send_modify(|owned| {
            for (connector, tasks) in revoked {
                if let Some(mine) = owned.get_mut(connector) {
                    mine.retain(|t| !tasks.contains(t));
                    if mine.is_empty() {
                        owned.remove(connector);
                    }
                }
            }
        });
        let deadline = Instant::now() + REVOKE_WAIT;
        let mut running = lock(&self.running);
        while overlaps(&running, revoked) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                warn!(tasks = ?revoked, "revoked tasks did not stop within {REVOKE_WAIT:?}; their next owner may overlap them");
                return;
            }
            running = self
                .stopped
                .wait_timeout(running, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
    }
}

/// The tasks the slot partitions in `list` stand for.
fn tasks_of(topics: &SlotTopics, list: &TopicPartitionList) -> Owned {
    let partitions: Vec<(String, i32)> = list
        .elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect();
    owned_tasks(topics, partitions.iter().map(|(t, p)| (t.as_str(), *p)))
}

/// The placement consumer's callbacks.
struct PlacementContext {
    shared: Arc<Shared>,
}

impl ClientContext for PlacementContext {}

impl ConsumerContext for PlacementContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked = tasks_of(&lock(&self.shared.topics), list);
            // Blocking here holds the rebalance: the next owner starts
            // after these tasks drained and committed.
            self.shared.revoke(&revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Error(e) => warn!(error = %e, "task placement rebalance error"),
            _ => self.shared.publish(consumer),
        }
    }
}

impl Placement {
    /// Joins the placement group of worker cluster `group` (its session
    /// lapses after `session_timeout` without a heartbeat: a worker that
    /// died loses its tasks then).
    ///
    /// # Errors
    /// When librdkafka refuses the clients' configuration.
    pub(super) fn start(
        kafka: &KafkaConfig,
        group: &str,
        session_timeout: Duration,
        replication: i32,
    ) -> Result<Self, Error> {
        let (owned, _) = watch::channel(Owned::new());
        let shared = Arc::new(Shared {
            topics: Mutex::default(),
            owned,
            running: Mutex::default(),
            stopped: Condvar::new(),
        });
        let mut config = client_config(&kafka.client_properties(ClientRole::Admin));
        let admin: AdminClient<DefaultClientContext> = config
            .create()
            .map_err(failed("creating the Kafka admin client"))?;
        let session = session_timeout.as_millis().to_string();
        // A member learns of a rebalance from its next heartbeat, and a
        // move takes two rebalances (revoke, then assign): a heartbeat a
        // second (a tenth of the default session) keeps a move to about
        // two seconds, where librdkafka's third of the session took six.
        let heartbeat = (session_timeout / 10).as_millis().to_string();
        config
            .set(
                "group.id",
                lambda_sink_core::connect::placement::placement_group(group),
            )
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", &session)
            .set("heartbeat.interval.ms", &heartbeat)
            // Slot topics are created and grown while workers run: notice
            // them within a second or two.
            .set("topic.metadata.refresh.interval.ms", "2000");
        let consumer: BaseConsumer<PlacementContext> = config
            .create_with_context(PlacementContext {
                shared: shared.clone(),
            })
            .map_err(failed("creating the task placement consumer"))?;
        let (subscribe, wanted) = mpsc::channel();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let thread = tokio::task::spawn_blocking(move || poll(&consumer, &wanted, &token));
        Ok(Self {
            shared,
            admin,
            replication,
            subscribe,
            stop,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The tasks this worker holds, by connector, to watch.
    pub(super) fn owned(&self) -> watch::Receiver<Owned> {
        self.shared.owned.subscribe()
    }

    /// Takes part in placing `topics` (every connector of the cluster
    /// state): creates or grows their slot topics, then subscribes. A slot
    /// topic that cannot be created or grown keeps what it had (nothing,
    /// or its old size) and the others are placed; the caller tries again.
    ///
    /// # Errors
    /// The first slot topic that could not be created or grown.
    pub(super) async fn want(&self, mut topics: SlotTopics) -> Result<(), Error> {
        let known = lock(&self.shared.topics).clone();
        let mut refused = None;
        for (topic, slots) in topics.clone() {
            if known.get(&topic).is_some_and(|k| k.tasks >= slots.tasks) {
                continue;
            }
            if let Err(e) = self.ensure(&topic, slots.tasks).await {
                match known.get(&topic) {
                    Some(old) => topics.insert(topic, old.clone()),
                    None => topics.remove(&topic),
                };
                refused.get_or_insert(e);
            }
        }
        let names: Vec<String> = topics.keys().cloned().collect();
        *lock(&self.shared.topics) = topics;
        // The poll thread subscribes and publishes (tasks.max may change
        // what the same assignment means).
        let _ = self.subscribe.send(names);
        refused.map_or(Ok(()), Err)
    }

    /// Creates slot topic `topic` with `tasks` partitions, or grows it.
    async fn ensure(&self, topic: &str, tasks: usize) -> Result<(), Error> {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let partitions = i32::try_from(tasks).unwrap_or(i32::MAX);
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(self.replication));
        let created = self
            .admin
            .create_topics([&new], &options)
            .await
            .map_err(failed(format!("creating the task slot topic {topic}")))?;
        match created.into_iter().next() {
            Some(Ok(_)) => {
                info!(topic, tasks, "created a task slot topic");
                return Ok(());
            }
            Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => {}
            Some(Err((_, code))) => return Err(refused(topic, code)),
        }
        let grow = NewPartitions::new(topic, tasks);
        match self.admin.create_partitions([&grow], &options).await {
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => info!(topic, tasks, "grew a task slot topic"),
                // Already as large (or larger: tasks.max was lowered).
                Some(Err((_, RDKafkaErrorCode::InvalidPartitions))) | None => {}
                Some(Err((_, code))) => return Err(refused(topic, code)),
            },
            Err(e) => return Err(failed(format!("growing the task slot topic {topic}"))(e)),
        }
        Ok(())
    }

    /// Records that the pipelines of `connector` now run `tasks` here
    /// (empty: none), which a rebalance taking tasks away waits for.
    pub(super) fn running(&self, connector: &str, tasks: &BTreeSet<usize>) {
        let mut running = lock(&self.shared.running);
        if tasks.is_empty() {
            running.remove(connector);
        } else {
            running.insert(connector.to_string(), tasks.clone());
        }
        drop(running);
        self.shared.stopped.notify_all();
    }

    /// Deletes slot topic `topic` (its connector was deleted).
    pub(super) async fn delete(&self, topic: &str) {
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        match self.admin.delete_topics(&[topic], &options).await {
            Ok(r) => match r.into_iter().next() {
                Some(Ok(_)) => info!(topic, "deleted the task slot topic"),
                Some(Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))) | None => {}
                Some(Err((_, code))) => {
                    warn!(topic, error = %code, "cannot delete the task slot topic of a deleted connector; delete it yourself")
                }
            },
            Err(e) => {
                warn!(topic, error = %e, "cannot delete the task slot topic of a deleted connector; delete it yourself")
            }
        }
    }

    /// Leaves the group (every task must have stopped): the other workers
    /// take this one's tasks at once.
    pub(super) async fn close(&self) {
        self.stop.cancel();
        let thread = lock(&self.thread).take();
        if let Some(t) = thread {
            let _ = t.await;
        }
    }
}

fn refused(topic: &str, code: RDKafkaErrorCode) -> Error {
    Error::new(
        fault_of(Some(code)),
        format!(
            "cannot create or grow the task slot topic {topic}: {code}; allow this worker's principal to create topics and partitions, or create it yourself with tasks.max partitions"
        ),
    )
}

/// The placement consumer's thread: subscribes as told, serves the group
/// protocol (heartbeats, rebalances) until `stop`, then leaves the group.
fn poll(
    consumer: &BaseConsumer<PlacementContext>,
    wanted: &mpsc::Receiver<Vec<String>>,
    stop: &CancellationToken,
) {
    let mut subscribed: Vec<String> = Vec::new();
    let mut pending: Option<Vec<String>> = None;
    let mut said = String::new();
    while !stop.is_cancelled() {
        if let Some(topics) = wanted.try_iter().last() {
            pending = Some(topics);
        }
        if let Some(topics) = pending.take() {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            let done = if topics == subscribed {
                Ok(())
            } else if names.is_empty() {
                consumer.unsubscribe();
                Ok(())
            } else {
                consumer.subscribe(&names)
            };
            match done {
                Ok(()) => subscribed = topics,
                Err(e) => {
                    let text = e.to_string();
                    if text != said {
                        warn!(error = %text, "cannot subscribe to the task slot topics; retrying");
                        said = text;
                    }
                    pending = Some(topics);
                }
            }
            consumer.context().shared.publish(consumer);
        }
        // Nothing is ever written to slot topics: a poll serves the group
        // protocol and returns errors. A slot topic not there yet (just
        // created, or deleted with its connector) is expected; anything
        // else is said once until it changes (librdkafka keeps retrying).
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(250)) {
            let text = e.to_string();
            if e.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
                debug!(error = %text, "task placement consumer");
            } else if text != said {
                warn!(error = %text, "the task placement consumer cannot place tasks on this worker; retrying");
                said = text;
            }
        }
    }
}
