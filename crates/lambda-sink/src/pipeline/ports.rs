//! The pipeline's seams: the services a partition worker talks to —
//! Lambda, the outcome producer, the offset store (at-least-once) or the
//! task's transactions (exactly-once), the Schema Registry, and the parked
//! topic (`aws.lambda.on.key.failure=park`) — as small traits, with the
//! real adapters in a few lines each.
//!
//! The component tests (`pipeline::tests`) run the real workers against
//! scripted implementations of these traits; everything else uses the
//! adapters below.

use std::sync::Arc;

use futures::future::BoxFuture;
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::wire::SchemaRef;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::route::Invoked;
use lambda_sink_core::trace::Carrier;
use lambda_sink_core::transaction::Lease;

use crate::error::Error;
use crate::kafka::consumer::OffsetStore;
use crate::kafka::parked::{Entries, ParkedReader};
use crate::kafka::producer::{OutcomeProducer, OutcomeRecord, ProduceError};
use crate::kafka::transaction::{NotCommitted, Transactions};
use crate::lambda::invoke::Invoker;
use crate::registry::{Registry, RegistryError};
use rdkafka::error::KafkaError;

/// Invokes a function: one request, no retries (the pipeline owns them),
/// carrying `trace` (its `X-Amzn-Trace-Id` and client context).
pub(crate) trait Lambda: Send + Sync + 'static {
    fn invoke<'a>(
        &'a self,
        function: &'a FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: &'a Carrier,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>>;
}

/// Writes outcome records. The record is enqueued before `send` returns, so
/// records sent in order are written in order; the future resolves once
/// Kafka acknowledges it, or with an error that will not heal.
pub(crate) trait Outcomes: Send + Sync + 'static {
    fn send(&self, record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>>;
}

/// Why offsets were not stored or made durable. Nothing to retry: the
/// records they cover are redone by the partition's next owner, or after a
/// restart.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NotStored {
    /// At-least-once: the consumer did not store the offset (it no longer
    /// holds the partition, or is gone).
    #[error("the consumer did not store the offset: {0}")]
    Consumer(#[from] KafkaError),
    /// Exactly-once: the task's transactions did not take or commit it.
    #[error(transparent)]
    Transaction(#[from] NotCommitted),
}

/// Stores a partition's committable offset (the next offset to consume).
///
/// At-least-once ([`OffsetStore`]): outcome records were acknowledged
/// before their offsets are stored. Exactly-once ([`Transactions`]): the
/// outcome records travel with the offset that resolves them and are
/// written in the transaction that commits it.
pub(crate) trait Offsets: Send + Sync + 'static {
    /// Whether outcome records go with the offsets (exactly-once) rather
    /// than to [`Outcomes`] before them.
    fn with_outcomes(&self) -> bool {
        false
    }

    /// Stores `next` for `tp`, held under `lease`, with the outcome records
    /// of the records below it not stored before (in offset order, each
    /// with its input record's offset; none at-least-once).
    ///
    /// # Errors
    /// When the partition is no longer held: nothing to do, the next owner
    /// redoes the work.
    fn store(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        next: i64,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>>;

    /// Begins `lease` on `tp` before it resolves anything late (a parked
    /// key's release): exactly-once, the partition's committed offset is
    /// read once no transaction on it is pending — a previous owner's last
    /// transaction, parked topic and all, is settled from here on — and
    /// late releases commit it until the lease stores an offset. The
    /// offset begun at, if any.
    fn begin(
        &self,
        _tp: &TopicPartition,
        _lease: Lease,
    ) -> BoxFuture<'_, Result<Option<i64>, NotStored>> {
        Box::pin(async { Ok(None) })
    }

    /// Exactly-once: writes the outcome records of records resolved after
    /// their offsets were committed (a parked key's release; each with its
    /// input record's offset) in the transaction that commits the offset
    /// `lease` stored last.
    ///
    /// # Errors
    /// As [`Self::store`]; a record the offsets stored (or begun at) do
    /// not cover stops the connector (callers wait until they cover it).
    fn store_late(
        &self,
        tp: &TopicPartition,
        _lease: Lease,
        _outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        let tp = tp.clone();
        Box::pin(async move {
            Err(NotStored::Transaction(NotCommitted::Stopped(Some(
                format!("{tp}: late outcome records go to the outcome producer at-least-once"),
            ))))
        })
    }

    /// Makes what was stored durable now: partitions are being given up.
    /// (At-least-once the consumer commits stored offsets itself.)
    fn flush(&self) -> BoxFuture<'_, Result<(), NotStored>> {
        Box::pin(async { Ok(()) })
    }

    /// Lets `leases` go: what they stored and is not durable yet is
    /// dropped, and what they store later is refused (the partitions were
    /// lost or given up; their next owner redoes it).
    fn forget(&self, _leases: Vec<(TopicPartition, Lease)>) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Reads a partition's entries of the parked topic (written through
/// [`Outcomes`]).
pub(crate) trait ParkedStore: Send + Sync + 'static {
    fn load(&self, tp: &TopicPartition) -> BoxFuture<'_, Result<Entries, Error>>;
}

/// Looks up writer schemas.
pub(crate) trait Schemas: Send + Sync + 'static {
    fn schema(&self, schema: SchemaRef) -> BoxFuture<'_, Result<Arc<Compiled>, RegistryError>>;
}

impl Lambda for Invoker {
    fn invoke<'a>(
        &'a self,
        function: &'a FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: &'a Carrier,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        Box::pin(Invoker::invoke(self, function, kind, body, trace))
    }
}

impl Outcomes for OutcomeProducer {
    fn send(&self, record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>> {
        Box::pin(OutcomeProducer::send(self, record))
    }
}

/// Outcome records with one more header each (a replay job's
/// [`lambda_sink_core::connect::replays::HEADER`]).
pub(crate) struct Tagged {
    pub(crate) inner: Arc<dyn Outcomes>,
    pub(crate) header: (String, Vec<u8>),
}

impl Outcomes for Tagged {
    fn send(&self, mut record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>> {
        let (key, value) = &self.header;
        record.headers.push((key.clone(), Some(value.clone())));
        self.inner.send(record)
    }
}

impl Offsets for OffsetStore {
    fn store(
        &self,
        tp: &TopicPartition,
        _lease: Lease,
        next: i64,
        _outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        let stored = OffsetStore::store(self, tp, next).map_err(NotStored::from);
        Box::pin(async move { stored })
    }
}

impl Offsets for Transactions {
    fn with_outcomes(&self) -> bool {
        true
    }

    fn store(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        next: i64,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        let tp = tp.clone();
        Box::pin(async move { Ok(self.release(&tp, lease, next, outcomes).await?) })
    }

    fn begin(
        &self,
        tp: &TopicPartition,
        lease: Lease,
    ) -> BoxFuture<'_, Result<Option<i64>, NotStored>> {
        let tp = tp.clone();
        Box::pin(async move { Ok(Transactions::begin(self, &tp, lease).await?) })
    }

    fn store_late(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        let tp = tp.clone();
        Box::pin(async move { Ok(self.release_late(&tp, lease, outcomes).await?) })
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), NotStored>> {
        Box::pin(async { Ok(self.commit().await?) })
    }

    fn forget(&self, leases: Vec<(TopicPartition, Lease)>) -> BoxFuture<'_, ()> {
        Box::pin(Transactions::forget(self, leases))
    }
}

impl ParkedStore for ParkedReader {
    fn load(&self, tp: &TopicPartition) -> BoxFuture<'_, Result<Entries, Error>> {
        let (reader, tp) = (self.clone(), tp.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || reader.read(&tp))
                .await
                .map_err(|e| Error::unavailable(format!("reading the parked topic: {e}")))?
        })
    }
}

impl Schemas for Registry {
    fn schema(&self, schema: SchemaRef) -> BoxFuture<'_, Result<Arc<Compiled>, RegistryError>> {
        Box::pin(Registry::schema(self, schema))
    }
}
