//! One partition's worker: its records in offset order → payload elements
//! ([`decode`](super::decode)) → batches → one invocation at a time
//! ([`invoke`](super::invoke)) → outcome records ([`route`](super::route))
//! → offsets ([`commit`](super::commit)).
//!
//! This file owns the loop that fills batches (`aws.lambda.batch.size`,
//! `aws.lambda.max.payload.bytes`, `aws.lambda.linger.ms`). Ordering: one
//! batch in flight per partition, batches and dead letters in offset order,
//! outcome records enqueued in that same order.

use std::collections::VecDeque;
use std::sync::Arc;

use lambda_sink_core::batch::{self, BatchLimits, Element};
use lambda_sink_core::outcome::DeadLetter;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info_span};

use super::commit::{self, Pending};
use super::ports::Offsets;
use super::task::Inbox;
use super::{Halt, Shared};

/// A record ready to be batched, or one that goes to the DLQ instead.
pub(super) enum Item {
    Ready {
        record: SourceRecord,
        element: Vec<u8>,
    },
    Dead {
        record: SourceRecord,
        dead: DeadLetter,
    },
}

impl Element for Item {
    fn element_len(&self) -> Option<usize> {
        match self {
            Self::Ready { element, .. } => Some(element.len()),
            Self::Dead { .. } => None,
        }
    }
}

/// One partition's worker.
pub(super) struct Worker {
    pub(super) tp: TopicPartition,
    pub(super) task: usize,
    pub(super) shared: Arc<Shared>,
    store: Arc<dyn Offsets>,
    records: Inbox,
    pub(super) stop: CancellationToken,
    pub(super) limits: BatchLimits,
}

impl Worker {
    pub(super) fn new(
        tp: TopicPartition,
        task: usize,
        shared: Arc<Shared>,
        store: Arc<dyn Offsets>,
        records: Inbox,
        stop: CancellationToken,
    ) -> Self {
        let limits = BatchLimits {
            max_records: shared.config.lambda.batch_size,
            max_bytes: shared.config.lambda.max_payload_bytes,
        };
        Self {
            tp,
            task,
            shared,
            store,
            records,
            stop,
            limits,
        }
    }

    /// Runs until stopped; returns once every pending outcome is
    /// acknowledged and its offset stored. A failure stops the connector.
    pub(super) async fn run(self) {
        let (pending_tx, pending_rx) = mpsc::channel(commit::PENDING_BATCHES);
        let committer = commit::commit_loop(
            self.tp.clone(),
            pending_rx,
            self.store.clone(),
            self.shared.clone(),
        );
        let span = info_span!("partition", topic = %self.tp.topic, partition = self.tp.partition);
        let shared = self.shared.clone();
        let worker = async move {
            if let Err(Halt::Failed(reason)) = self.work(pending_tx).await {
                shared.fail(reason);
            }
        };
        tokio::join!(worker.instrument(span.clone()), committer.instrument(span));
    }

    /// The batching loop. `Err` when it stops: requested, or failing.
    async fn work(mut self, pending: mpsc::Sender<Pending>) -> Result<(), Halt> {
        let mut queue: VecDeque<Item> = VecDeque::with_capacity(self.limits.max_records);
        let mut oldest: Option<Instant> = None;
        loop {
            if queue.is_empty() {
                let Some(record) = self.next_record(None).await? else {
                    return Ok(());
                };
                queue.push_back(self.prepare(record).await?);
                oldest = Some(Instant::now());
            }
            self.top_up(&mut queue).await?;
            let linger = self.shared.config.lambda.linger;
            if !linger.is_zero() && !batch::is_full(&queue, self.limits) {
                let deadline = oldest.unwrap_or_else(Instant::now) + linger;
                while !batch::is_full(&queue, self.limits) {
                    let Some(record) = self.next_record(Some(deadline)).await? else {
                        break;
                    };
                    queue.push_back(self.prepare(record).await?);
                }
            }
            while let Some(Item::Dead { .. }) = queue.front() {
                if let Some(Item::Dead { record, dead }) = queue.pop_front() {
                    self.dead_letter(record, dead, &pending).await?;
                }
            }
            let taken = batch::take_batch(&mut queue, self.limits);
            if queue.is_empty() {
                oldest = None;
            }
            let batch: Vec<(SourceRecord, Vec<u8>)> = taken
                .into_iter()
                .filter_map(|item| match item {
                    Item::Ready { record, element } => Some((record, element)),
                    Item::Dead { .. } => None,
                })
                .collect();
            if !batch.is_empty() {
                self.process(batch, &pending).await?;
            }
        }
    }

    /// The next delivered record; `None` when the channel closed or the
    /// `deadline` passed. A stop request comes first.
    async fn next_record(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<SourceRecord>, Halt> {
        let linger = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Halt::Stopped),
            () = linger => Ok(None),
            r = self.records.recv() => Ok(r),
        }
    }

    /// Moves already-delivered records into the queue, up to one batch.
    async fn top_up(&mut self, queue: &mut VecDeque<Item>) -> Result<(), Halt> {
        while queue.len() < self.limits.max_records {
            let Some(record) = self.records.try_recv() else {
                break;
            };
            queue.push_back(self.prepare(record).await?);
        }
        Ok(())
    }
}

/// `first..=last` of records in offset order, for logs and messages.
pub(super) fn offsets_range<'a>(
    mut records: impl DoubleEndedIterator<Item = &'a SourceRecord>,
) -> String {
    match (records.next(), records.next_back()) {
        (Some(a), Some(b)) => format!("{}..={}", a.offset, b.offset),
        (Some(a), None) => format!("{}..={}", a.offset, a.offset),
        _ => String::new(),
    }
}
