//! A partition's progress as its commit loop watches it ([`Watch`]): every
//! [`WATCH_INTERVAL`] it sets the partition's lag in time (the age of its
//! oldest unresolved record, and of the next record not yet taken) and how
//! long its committable offset has stood
//! still while records waited, marks the partition stalled past
//! `partition.stall.timeout.ms` (metric, status, an event) and clears it
//! when the offset moves; and lets a throttling episode end. The rule is
//! the core's `progress`.

use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::progress::{next_record_age, progress};
use lambda_sink_core::record::TopicPartition;
use tokio::time::Instant;

use super::context::Context;
use crate::clock::epoch_ms;
use crate::metrics::PartitionLabels;

/// How often a partition's progress is looked at.
pub(super) const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// A partition's progress as its commit loop watches it: its gauges (gone
/// with the loop) and whether it is stalled.
pub(super) struct Watch {
    ctx: Arc<Context>,
    task: usize,
    tp: TopicPartition,
    labels: PartitionLabels,
    /// When the committable offset last moved, or nothing last waited.
    moved_at: Instant,
    stalled: bool,
}

impl Watch {
    /// The watch of `tp`, run by task `task`.
    pub(super) fn new(tp: &TopicPartition, task: usize, ctx: Arc<Context>) -> Self {
        Self {
            ctx,
            task,
            tp: tp.clone(),
            labels: PartitionLabels {
                topic: tp.topic.to_string(),
                partition: tp.partition.to_string(),
            },
            moved_at: Instant::now(),
            stalled: false,
        }
    }

    /// `topic-partition`, as the status shows it.
    fn partition(&self) -> String {
        format!("{}-{}", self.labels.topic, self.labels.partition)
    }

    /// The committable offset advanced.
    pub(super) fn moved(&mut self) {
        self.moved_at = Instant::now();
    }

    /// Sets the partition's gauges now, from whether records `waiting`,
    /// the `oldest` unresolved one and the `last` one taken (offset,
    /// timestamp); logs a stall starting or ending.
    pub(super) fn observe(
        &mut self,
        waiting: bool,
        oldest: Option<(i64, Option<i64>)>,
        last: Option<(i64, Option<i64>)>,
    ) {
        if !waiting {
            self.moved();
        }
        let now_ms = epoch_ms();
        let threshold = self.ctx.config.service.stall_timeout;
        let p = progress(
            now_ms,
            oldest.and_then(|(_, ts)| ts),
            waiting,
            self.moved_at.elapsed(),
            threshold,
        );
        let next = next_record_age(now_ms, last, self.ctx.metrics.partition_end(&self.labels));
        self.ctx.metrics.progress(&self.labels, &p, next);
        if p.stalled != self.stalled {
            self.stalled = p.stalled;
            self.ctx
                .status
                .stall(self.task, &self.partition(), p.stalled);
            let seconds = p.stuck_for.as_secs();
            let event = match oldest.filter(|_| p.stalled) {
                Some((offset, _)) => Event::new(
                    Level::Warn,
                    "partition_stalled",
                    format!(
                        "partition stalled: its committable offset has not moved for {seconds} s while records wait, the oldest unresolved at offset {offset} (partition.stall.timeout.ms is {} ms)",
                        threshold.as_millis()
                    ),
                )
                .offsets(offset),
                None => Event::new(
                    Level::Info,
                    "partition_flows",
                    "partition flows again: its committable offset moved",
                ),
            };
            self.ctx.events.record(
                event
                    .task(self.task)
                    .partition(&self.tp.topic, self.tp.partition),
            );
        }
        // The connector's throttling episode ends on a clock too.
        self.ctx.events.tick(self.ctx.in_flight.limit());
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.ctx.metrics.forget_progress(&self.labels);
        if self.stalled {
            self.ctx.status.stall(self.task, &self.partition(), false);
        }
    }
}
