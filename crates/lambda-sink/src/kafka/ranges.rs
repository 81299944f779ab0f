//! Reading offset ranges of one topic's partitions ([`RangeReader`]): a
//! consumer assigned the ranges (never subscribed, so it joins no group),
//! read a bounded number of records at a time, each partition's range
//! ending at its `to` offset or at the partition's end, whichever comes
//! first — a topic written in transactions ends in a commit marker no
//! reader is given, so waiting for the offset before `to` would wait
//! forever. The DLQ redrive, the console's dead-letter view and replay
//! jobs read through it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientRole, KafkaConfig};
use lambda_sink_core::record::SourceRecord;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::owned;
use super::{client_config, failed};
use crate::error::Error;

/// How long a read may go without a record before it fails.
const QUIET: Duration = Duration::from_secs(30);

/// One partition's range: `next..to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Partition.
    pub partition: i32,
    /// The next offset to read.
    pub next: i64,
    /// The offset to stop before.
    pub to: i64,
}

impl Span {
    fn done(&self) -> bool {
        self.next >= self.to
    }
}

/// A consumer of `topic` assigned the spans it was created with.
pub struct RangeReader {
    consumer: BaseConsumer,
    topic: String,
}

impl RangeReader {
    /// A reader of `spans` of `topic`, as consumer group `group` (which
    /// [`Self::commit`] commits to).
    ///
    /// # Errors
    /// When the consumer cannot be created or assigned.
    pub fn new(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        spans: &[Span],
    ) -> Result<Self, Error> {
        let mut props = client_config(&kafka.client_properties(ClientRole::Admin));
        props
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer = props
            .create()
            .map_err(failed(format!("creating the reader of {topic}")))?;
        let mut assignment = TopicPartitionList::new();
        for s in spans.iter().filter(|s| !s.done()) {
            assignment
                .add_partition_offset(topic, s.partition, Offset::Offset(s.next))
                .map_err(failed(format!("assigning {topic}")))?;
        }
        consumer
            .assign(&assignment)
            .map_err(failed(format!("assigning {topic}")))?;
        Ok(Self {
            consumer,
            topic: topic.to_string(),
        })
    }

    /// The next records of `spans` (at most `max`), in the order read,
    /// moving each span's `next` past them.
    ///
    /// # Errors
    /// When Kafka fails the read, or gives nothing for 30 s.
    pub fn read(&self, spans: &mut [Span], max: usize) -> Result<Vec<SourceRecord>, Error> {
        let mut out = Vec::new();
        let mut topics = HashMap::new();
        let mut quiet_since = Instant::now();
        while out.len() < max && spans.iter().any(|s| !s.done()) {
            if quiet_since.elapsed() >= QUIET {
                return Err(Error::unavailable(format!(
                    "reading {}: no record for {QUIET:?}",
                    self.topic
                )));
            }
            let Some(m) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            quiet_since = Instant::now();
            let (p, record) = match m {
                Ok(m) => (m.partition(), Some(owned(&mut topics, &m))),
                // The partition's end before the span's: the rest were not
                // records (transaction markers).
                Err(KafkaError::PartitionEOF(p)) => (p, None),
                Err(e) => return Err(failed(format!("reading {}", self.topic))(e)),
            };
            let Some(span) = spans.iter_mut().find(|s| s.partition == p) else {
                continue;
            };
            match record {
                Some(r) if r.offset < span.to => {
                    span.next = r.offset + 1;
                    out.push(r);
                }
                _ => span.next = span.to,
            }
            if span.done() {
                self.pause(p)?;
            }
        }
        Ok(out)
    }

    /// Stops fetching partition `p` (its span is read).
    fn pause(&self, p: i32) -> Result<(), Error> {
        let mut l = TopicPartitionList::new();
        l.add_partition(&self.topic, p);
        self.consumer.pause(&l).map_err(failed(format!(
            "pausing a read partition of {}",
            self.topic
        )))
    }

    /// Commits how far `spans` got to the reader's group.
    ///
    /// # Errors
    /// When Kafka does not take the commit.
    pub fn commit(&self, spans: &[Span]) -> Result<(), Error> {
        let mut list = TopicPartitionList::new();
        for s in spans {
            list.add_partition_offset(&self.topic, s.partition, Offset::Offset(s.next))
                .map_err(failed("building the offsets to commit"))?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(failed(format!(
                "committing how far {} was read",
                self.topic
            )))
    }
}
