//! The pipeline's seams: the four services a partition worker talks to —
//! Lambda, the outcome producer, the offset store and the Schema Registry —
//! as small traits, with the real adapters in a few lines each.
//!
//! The component tests (`pipeline::tests`) run the real workers against
//! scripted implementations of these traits; everything else uses the
//! adapters below.

use std::sync::Arc;

use futures::future::BoxFuture;
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::wire::SchemaRef;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::outcome::InvokeFailure;
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::route::Invoked;

use crate::kafka::consumer::OffsetStore;
use crate::kafka::producer::{OutcomeProducer, OutcomeRecord, ProduceError};
use crate::lambda::invoke::Invoker;
use crate::registry::{Registry, RegistryError};

/// Invokes a function: one request, no retries (the pipeline owns them).
/// `trace` is the request's `X-Amzn-Trace-Id`, when a record carries one.
pub(crate) trait Lambda: Send + Sync + 'static {
    fn invoke<'a>(
        &'a self,
        function: &'a FunctionRef,
        kind: InvocationType,
        body: Vec<u8>,
        trace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>>;
}

/// Writes outcome records. The record is enqueued before `send` returns, so
/// records sent in order are written in order; the future resolves once
/// Kafka acknowledges it, or with an error that will not heal.
pub(crate) trait Outcomes: Send + Sync + 'static {
    fn send(&self, record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>>;
}

/// Stores a partition's committable offset (the next offset to consume).
pub(crate) trait Offsets: Send + Sync + 'static {
    /// # Errors
    /// When the partition is no longer held: nothing to do, the next owner
    /// redoes the work.
    fn store(&self, tp: &TopicPartition, next: i64) -> Result<(), String>;
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
        trace: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        Box::pin(Invoker::invoke(self, function, kind, body, trace))
    }
}

impl Outcomes for OutcomeProducer {
    fn send(&self, record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>> {
        Box::pin(OutcomeProducer::send(self, record))
    }
}

impl Offsets for OffsetStore {
    fn store(&self, tp: &TopicPartition, next: i64) -> Result<(), String> {
        OffsetStore::store(self, tp, next).map_err(|e| e.to_string())
    }
}

impl Schemas for Registry {
    fn schema(&self, schema: SchemaRef) -> BoxFuture<'_, Result<Arc<Compiled>, RegistryError>> {
        Box::pin(Registry::schema(self, schema))
    }
}
