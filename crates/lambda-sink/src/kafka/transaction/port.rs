//! What the transactor needs of Kafka: a transactional producer with its
//! transactions initialised and the consumer group its offsets commit to
//! ([`Txn`]), and how a failed call is handled ([`Class`]).

use std::collections::HashMap;
use std::future::Future;

use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::transaction::Committed;

use crate::kafka::producer::OutcomeRecord;

/// How a failed Kafka call is handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// The producer's queue is full: the record is enqueued again shortly.
    Full,
    /// The call is made again later.
    Retriable,
    /// The transaction is aborted and written again.
    Abortable,
    /// The producer is unusable: it is replaced by one with the same id.
    Fatal,
    /// Nothing a retry heals: the connector stops.
    Permanent,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full => "queue full",
            Self::Retriable => "retriable",
            Self::Abortable => "abortable",
            Self::Fatal => "fatal: the producer is replaced",
            Self::Permanent => "permanent",
        })
    }
}

/// A failed Kafka call: what librdkafka said, and how it is handled.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{message} [{class}]")]
pub(crate) struct TxnError {
    pub(crate) class: Class,
    pub(crate) message: String,
}

impl TxnError {
    pub(crate) fn new(class: Class, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
        }
    }
}

/// What the transactor asks of Kafka: a transactional producer with its
/// transactions initialised, and the consumer group its offsets commit to.
/// The calls that block (network round trips) run off the runtime.
pub(crate) trait Txn: Clone + Send + Sync + 'static {
    /// A record's delivery in the open transaction.
    type Delivery: Future<Output = Result<(), TxnError>> + Send + Sync + Unpin + 'static;

    /// Begins a transaction.
    fn begin(&self) -> Result<(), TxnError>;
    /// Enqueues `record` in the open transaction.
    fn send(&self, record: &OutcomeRecord) -> Result<Self::Delivery, TxnError>;
    /// Adds `offsets` to the open transaction, fenced by the group, each
    /// committed with `tag` as its metadata (blocks).
    fn send_offsets(
        &self,
        offsets: &HashMap<TopicPartition, i64>,
        tag: &str,
    ) -> Result<(), TxnError>;
    /// Commits the open transaction (blocks; resumable after a timeout).
    fn commit(&self) -> Result<(), TxnError>;
    /// Aborts the open transaction (blocks; resumable after a timeout).
    fn abort(&self) -> Result<(), TxnError>;
    /// A new producer with the same transactional id, initialised: it
    /// fences this one, and its initialisation completes or aborts the
    /// transaction this one left (blocks).
    fn renew(&self) -> Result<Self, TxnError>;
    /// The group's committed offsets of `partitions`, once no transaction
    /// holding offsets of them is in flight (blocks).
    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Committed>, TxnError>;
}
