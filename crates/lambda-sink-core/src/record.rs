//! [`SourceRecord`]: a Kafka record as lambda-sink owns it.
//!
//! The Kafka adapter turns each librdkafka message into one of these at the
//! edge, so nothing past the consumer names a librdkafka type.

use std::sync::Arc;

/// One consumed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceRecord {
    /// Topic (shared: every record of a partition points at the same string).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in epoch milliseconds, when the record has one.
    pub timestamp: Option<i64>,
    /// What the timestamp is (the producer's or the broker's).
    pub timestamp_type: TimestampType,
    /// Key bytes; `None` for a null key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in record order; a header value may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Kafka's timestamp types (of a record that has a timestamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the record.
    LogAppendTime,
}

impl SourceRecord {
    /// Approximate heap size, for memory accounting.
    pub fn size(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum::<usize>()
    }
}

/// A topic-partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
}

impl TopicPartition {
    /// The topic-partition of `record`.
    pub fn of(record: &SourceRecord) -> Self {
        Self {
            topic: record.topic.clone(),
            partition: record.partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.topic, self.partition)
    }
}

/// `first..=last` of records in offset order, for logs and messages.
pub fn offset_range<'a>(mut records: impl DoubleEndedIterator<Item = &'a SourceRecord>) -> String {
    match (records.next(), records.next_back()) {
        (Some(a), Some(b)) => format!("{}..={}", a.offset, b.offset),
        (Some(a), None) => format!("{}..={}", a.offset, a.offset),
        _ => String::new(),
    }
}
