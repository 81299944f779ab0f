//! A task's side of the consumer: the [`RecordHandler`] that gives each
//! partition the task is assigned its worker ([`Worker`]), delivers it its
//! records, counts what it buffers (the consumer's flow control), and drains
//! workers when partitions are revoked, lost or the connector stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::transaction::Lease;
use prometheus_client::metrics::counter::Counter;
use tokio::runtime::Handle;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::context::Context;
use super::inbox::Inbox;
use super::partition::Worker;
use super::ports::Offsets;
use crate::kafka::consumer::{RecordHandler, Release, Wake};
use crate::metrics::TopicLabel;
use crate::sync::lock;

/// A partition's worker as its task's consumer sees it.
pub(super) struct PartitionHandle {
    /// The bounded channel to the worker: its only buffer bound.
    records: mpsc::Sender<SourceRecord>,
    /// `records_consumed` of the partition's topic, looked up once rather
    /// than per record.
    consumed: Counter,
    stop: CancellationToken,
    join: JoinHandle<()>,
    /// The worker's hold on the partition: let go once it is drained.
    lease: Lease,
}

/// The pipeline side of one task's consumer.
pub(super) struct TaskHandler {
    task: usize,
    ctx: Arc<Context>,
    store: Arc<dyn Offsets>,
    wake: Arc<Wake>,
    runtime: Handle,
    partitions: Mutex<HashMap<TopicPartition, PartitionHandle>>,
    /// Records a partition's inbox holds (the task's read-ahead).
    buffered: usize,
    /// The last lease given to a worker.
    leases: AtomicU64,
}

impl TaskHandler {
    /// Task `task`'s handler: each partition buffers up to `buffered`
    /// records; workers store offsets in `store` and wake `wake` (the
    /// consumer's poll thread) when their buffer has room.
    pub(super) fn new(
        task: usize,
        ctx: Arc<Context>,
        store: Arc<dyn Offsets>,
        wake: Arc<Wake>,
        runtime: Handle,
        buffered: usize,
    ) -> Self {
        Self {
            task,
            ctx,
            store,
            wake,
            runtime,
            partitions: Mutex::new(HashMap::new()),
            buffered: buffered.max(1),
            leases: AtomicU64::new(0),
        }
    }

    fn start_partition(&self, tp: TopicPartition) -> PartitionHandle {
        self.ctx.status.topic_seen(&tp.topic);
        let limit = self.buffer_limit();
        let (records, rx) = mpsc::channel(limit);
        let consumed = self
            .ctx
            .metrics
            .records_consumed
            .get_or_create(&TopicLabel {
                topic: tp.topic.to_string(),
            })
            .clone();
        let inbox = Inbox::new(rx, self.wake.clone());
        let stop = self.ctx.stop.child_token();
        let lease = self.leases.fetch_add(1, Ordering::Relaxed) + 1;
        let worker = Worker::new(
            tp,
            lease,
            self.task,
            self.ctx.clone(),
            self.store.clone(),
            stop.clone(),
        );
        PartitionHandle {
            records,
            consumed,
            stop,
            join: self.runtime.spawn(worker.run(inbox)),
            lease,
        }
    }
}

impl RecordHandler for TaskHandler {
    fn deliver(&self, record: SourceRecord) -> usize {
        let limit = self.buffer_limit();
        let (record, sender) = {
            let mut partitions = lock(&self.partitions);
            let handle = partitions
                .entry(TopicPartition::of(&record))
                .or_insert_with_key(|tp| self.start_partition(tp.clone()));
            handle.consumed.inc();
            match handle.records.try_send(record) {
                Ok(()) => return limit - handle.records.capacity(),
                // The worker has stopped (the connector is failing): the
                // record stays unresolved and uncommitted. "Full" holds the
                // partition.
                Err(TrySendError::Closed(_)) => return limit,
                Err(TrySendError::Full(record)) => (record, handle.records.clone()),
            }
        };
        // The poll thread sends only while a partition has room, so only
        // records of a partition without a queue of its own, fetched before
        // its pause took effect, arrive here. Never dropped: wait for the
        // worker to take one (this is the poll thread, not the runtime).
        debug!(
            offset = record.offset,
            "partition buffer full: waiting for room"
        );
        match sender.blocking_send(record) {
            Ok(()) => limit - sender.capacity(),
            Err(_) => limit,
        }
    }

    fn assigned(&self, partitions: &[TopicPartition]) {
        // Parked keys are retried whether or not new records arrive.
        if self.ctx.parking.is_none() {
            return;
        }
        let mut held = lock(&self.partitions);
        for tp in partitions {
            held.entry(tp.clone())
                .or_insert_with_key(|tp| self.start_partition(tp.clone()));
        }
    }

    fn buffered(&self, tp: &TopicPartition) -> usize {
        lock(&self.partitions)
            .get(tp)
            .map_or(0, |h| self.buffer_limit() - h.records.capacity())
    }

    fn buffer_limit(&self) -> usize {
        self.buffered
    }

    fn drain(&self, partitions: &[TopicPartition], why: Release) {
        let handles: Vec<(TopicPartition, PartitionHandle)> = {
            let mut held = lock(&self.partitions);
            partitions
                .iter()
                .filter_map(|tp| held.remove(tp).map(|h| (tp.clone(), h)))
                .collect()
        };
        if handles.is_empty() {
            return;
        }
        for (tp, h) in &handles {
            h.stop.cancel();
            self.ctx.metrics.forget_partition(&tp.topic, tp.partition);
        }
        // Their leases end with the drain, whatever it commits: what they
        // stored and is not durable by then is dropped, and nothing they
        // might store later is taken (their next owner redoes it).
        let leases: Vec<(TopicPartition, Lease)> = handles
            .iter()
            .map(|(tp, h)| (tp.clone(), h.lease))
            .collect();
        if why == Release::Lost {
            // Nothing they resolve could be committed any more. Called on
            // the consumer's poll thread (a blocking thread), never inside
            // the runtime, so blocking on the runtime here is allowed.
            self.runtime.block_on(async {
                for (_, h) in &handles {
                    h.join.abort();
                }
                // Once they are gone, nothing more of theirs is stored.
                for (_, h) in handles {
                    let _ = h.join.await;
                }
                self.store.forget(leases).await;
            });
            return;
        }
        let timeout = self.ctx.config.service.shutdown_timeout;
        self.runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut complete = true;
            for (tp, mut h) in handles {
                if tokio::time::timeout_at(deadline, &mut h.join).await.is_err() {
                    h.join.abort();
                    let _ = h.join.await;
                    complete = false;
                    self.ctx.events.record(
                        Event::new(
                            Level::Warn,
                            "abandoned",
                            format!(
                                "in-flight work did not finish within shutdown.timeout.ms ({} ms): abandoned, it is not committed and will be redone",
                                timeout.as_millis()
                            ),
                        )
                        .task(self.task)
                        .partition(&tp.topic, tp.partition),
                    );
                }
            }
            // Exactly-once: the open transaction commits before the
            // partitions go (at-least-once the consumer commits next).
            let flushed = match tokio::time::timeout_at(deadline, self.store.flush()).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    self.ctx.events.record(Event::new(Level::Warn, "abandoned", format!("the final transaction did not commit: {e}; its records will be redone")).task(self.task));
                    false
                }
                Err(_) => {
                    self.ctx.events.record(Event::new(Level::Warn, "abandoned", format!("the final transaction did not commit within shutdown.timeout.ms ({} ms): its records will be redone", timeout.as_millis())).task(self.task));
                    false
                }
            };
            self.store.forget(leases).await;
            // Only a stop that leaves work undone is a failed stop; after a
            // rebalance the next owner redoes it.
            if why == Release::Shutdown && !(complete && flushed) {
                self.ctx.abandon();
            }
        });
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        lock(&self.partitions).keys().cloned().collect()
    }

    fn fail(&self, reason: String) {
        self.ctx.fail(reason);
    }
}
