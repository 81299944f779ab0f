//! A task's side of the consumer: the [`RecordHandler`] that gives each
//! partition the task is assigned its worker ([`Worker`]), delivers it its
//! records, counts what it buffers (the consumer's flow control), and drains
//! workers when partitions are revoked, lost or the connector stops.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_sink_core::record::{SourceRecord, TopicPartition};
use prometheus_client::metrics::counter::Counter;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::partition::Worker;
use super::ports::Offsets;
use super::{Shared, lock};
use crate::kafka::consumer::{RecordHandler, Release, Wake};
use crate::metrics::TopicLabel;

/// Records delivered to a partition's worker and not yet taken by it.
/// Taking the one that leaves half of `max.poll.records` wakes the
/// consumer's poll thread, which refills a partition only while it has room.
#[derive(Clone)]
pub(super) struct Buffered {
    count: Arc<AtomicUsize>,
    low: usize,
    wake: Arc<Wake>,
}

impl Buffered {
    fn added(&self) -> usize {
        self.count.fetch_add(1, Ordering::SeqCst) + 1
    }

    pub(super) fn taken(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == self.low + 1 {
            self.wake.notify();
        }
    }

    fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// A partition's worker as its task's consumer sees it.
pub(super) struct PartitionHandle {
    records: mpsc::UnboundedSender<SourceRecord>,
    buffered: Buffered,
    /// `records_consumed` of the partition's topic, looked up once rather
    /// than per record.
    consumed: Counter,
    stop: CancellationToken,
    join: JoinHandle<()>,
}

/// The pipeline side of one task's consumer.
pub(super) struct TaskHandler {
    pub(super) task: usize,
    pub(super) shared: Arc<Shared>,
    pub(super) store: Arc<dyn Offsets>,
    pub(super) wake: Arc<Wake>,
    pub(super) runtime: Handle,
    pub(super) partitions: Mutex<HashMap<TopicPartition, PartitionHandle>>,
}

impl TaskHandler {
    fn start_partition(&self, tp: TopicPartition) -> PartitionHandle {
        let (records, rx) = mpsc::unbounded_channel();
        let consumed = self
            .shared
            .metrics
            .records_consumed
            .get_or_create(&TopicLabel {
                topic: tp.topic.to_string(),
            })
            .clone();
        let buffered = Buffered {
            count: Arc::new(AtomicUsize::new(0)),
            low: self.shared.config.max_buffered_per_partition / 2,
            wake: self.wake.clone(),
        };
        let stop = self.shared.stop.child_token();
        let worker = Worker::new(
            tp,
            self.task,
            self.shared.clone(),
            self.store.clone(),
            rx,
            buffered.clone(),
            stop.clone(),
        );
        PartitionHandle {
            records,
            buffered,
            consumed,
            stop,
            join: self.runtime.spawn(worker.run()),
        }
    }
}

impl RecordHandler for TaskHandler {
    fn deliver(&self, record: SourceRecord) -> usize {
        let mut partitions = lock(&self.partitions);
        let handle = partitions
            .entry(TopicPartition::of(&record))
            .or_insert_with_key(|tp| self.start_partition(tp.clone()));
        handle.consumed.inc();
        let buffered = handle.buffered.added();
        if handle.records.send(record).is_err() {
            // The worker has stopped (the connector is failing); the record
            // stays unresolved and uncommitted. Report "full" to pause it.
            return usize::MAX;
        }
        buffered
    }

    fn buffered(&self, tp: &TopicPartition) -> usize {
        lock(&self.partitions)
            .get(tp)
            .map_or(0, |h| h.buffered.get())
    }

    fn buffer_limit(&self) -> usize {
        self.shared.config.max_buffered_per_partition
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
            self.shared
                .metrics
                .forget_partition(&tp.topic, tp.partition);
        }
        if why == Release::Lost {
            // Nothing they resolve could be committed any more.
            for (_, h) in handles {
                h.join.abort();
            }
            return;
        }
        let timeout = self.shared.config.service.shutdown_timeout;
        // Called on the consumer's poll thread (a blocking thread), never
        // inside the runtime, so blocking on the runtime here is allowed.
        self.runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + timeout;
            for (tp, mut h) in handles {
                if tokio::time::timeout_at(deadline, &mut h.join).await.is_err() {
                    h.join.abort();
                    // Only a stop that leaves work undone is a failed stop;
                    // after a rebalance the next owner redoes it.
                    if why == Release::Shutdown {
                        self.shared.abandoned.store(true, Ordering::SeqCst);
                    }
                    warn!(
                        partition = %tp,
                        timeout_ms = timeout.as_millis(),
                        "in-flight work did not finish within shutdown.timeout.ms: abandoned, it is not committed and will be redone"
                    );
                }
            }
        });
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        lock(&self.partitions).keys().cloned().collect()
    }

    fn fail(&self, reason: String) {
        self.shared.fail(reason);
    }
}
