//! A partition worker's side of its buffer ([`Inbox`]): the bounded
//! channel the task's consumer delivers the partition's records into, which
//! wakes the consumer's poll thread when it drains to half.

use std::sync::Arc;

use lambda_sink_core::record::SourceRecord;
use tokio::sync::mpsc;

use crate::kafka::consumer::Wake;

/// The worker's side of its partition's buffer: a bounded channel of
/// `max.poll.records` records. Taking the record that leaves half of it
/// wakes the consumer's poll thread, which refills a partition only while
/// its channel has room. (A wake-up lost to a concurrent send is caught by
/// the poll thread's own next pass or its 100 ms safety net.)
pub(super) struct Inbox {
    records: mpsc::Receiver<SourceRecord>,
    low: usize,
    wake: Arc<Wake>,
}

impl Inbox {
    /// An inbox reading `records`, waking `wake` at half of its capacity.
    pub(super) fn new(records: mpsc::Receiver<SourceRecord>, wake: Arc<Wake>) -> Self {
        let low = records.max_capacity() / 2;
        Self { records, low, wake }
    }

    /// The next record; `None` once the handler dropped the sender.
    pub(super) async fn recv(&mut self) -> Option<SourceRecord> {
        let record = self.records.recv().await;
        self.taken();
        record
    }

    /// A record already delivered, if any.
    pub(super) fn try_recv(&mut self) -> Option<SourceRecord> {
        let record = self.records.try_recv().ok();
        if record.is_some() {
            self.taken();
        }
        record
    }

    fn taken(&self) {
        if self.records.len() == self.low {
            self.wake.notify();
        }
    }
}
