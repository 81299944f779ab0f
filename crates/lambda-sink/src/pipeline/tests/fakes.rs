//! Scripted implementations of the pipeline's ports for the component
//! tests: a Lambda that answers by script, an outcome producer that records
//! (or refuses), an offset store that publishes, a registry with an outage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::wire::SchemaRef;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::outcome::InvokeFailure;
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::route::Invoked;
use tokio::sync::watch;

use super::super::lock;
use super::super::ports::{Lambda, Offsets, Outcomes, Schemas};
use crate::kafka::producer::{OutcomeRecord, ProduceError};
use crate::registry::RegistryError;

/// One invocation the fake Lambda received: the offsets in its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Call {
    pub(super) offsets: Vec<i64>,
}

pub(super) type Script = dyn Fn(usize, &Call) -> Answer + Send + Sync;

/// What the fake Lambda does with a call.
pub(super) enum Answer {
    /// Answer after `latency`.
    After(Duration, Result<Invoked, InvokeFailure>),
    /// Answer once the gate opens.
    Gated(watch::Receiver<bool>, Result<Invoked, InvokeFailure>),
}

/// Lambda, scripted: `script(n, call)` answers the n-th call (from 0).
pub(super) struct FakeLambda {
    pub(super) script: Box<Script>,
    pub(super) calls: watch::Sender<Vec<Call>>,
}

impl Lambda for FakeLambda {
    fn invoke<'a>(
        &'a self,
        _function: &'a FunctionRef,
        _kind: InvocationType,
        body: Vec<u8>,
    ) -> BoxFuture<'a, Result<Invoked, InvokeFailure>> {
        let elements: Vec<serde_json::Value> =
            serde_json::from_slice(&body).expect("the request body is a JSON array");
        let call = Call {
            offsets: elements
                .iter()
                .map(|e| {
                    e["payload"]["offset"]
                        .as_i64()
                        .expect("an element has an offset")
                })
                .collect(),
        };
        let mut n = 0;
        self.calls.send_modify(|calls| {
            n = calls.len();
            calls.push(call.clone());
        });
        let answer = (self.script)(n, &call);
        Box::pin(async move {
            match answer {
                Answer::After(latency, result) => {
                    tokio::time::sleep(latency).await;
                    result
                }
                Answer::Gated(mut gate, result) => {
                    // A dropped gate counts as open.
                    let _ = gate.wait_for(|open| *open).await;
                    result
                }
            }
        })
    }
}

/// The outcome producer: records what is sent; refuses topics in `refuse`.
#[derive(Default)]
pub(super) struct FakeOutcomes {
    pub(super) sent: Mutex<Vec<OutcomeRecord>>,
    pub(super) refuse: Vec<String>,
}

impl Outcomes for FakeOutcomes {
    fn send(&self, record: OutcomeRecord) -> BoxFuture<'static, Result<(), ProduceError>> {
        let result = if self.refuse.iter().any(|t| **t == *record.topic) {
            Err(ProduceError {
                topic: record.topic.clone(),
                reason: "refused by the test".into(),
            })
        } else {
            lock(&self.sent).push(record);
            Ok(())
        };
        Box::pin(async move { result })
    }
}

/// The offset store: publishes the last stored offset of each partition.
pub(super) struct FakeOffsets {
    pub(super) stored: watch::Sender<HashMap<i32, i64>>,
}

impl Offsets for FakeOffsets {
    fn store(&self, tp: &TopicPartition, next: i64) -> Result<(), String> {
        self.stored.send_modify(|s| {
            s.insert(tp.partition, next);
        });
        Ok(())
    }
}

/// The registry: `Unavailable` for the first `outage` lookups, then the
/// schema.
pub(super) struct FakeSchemas {
    pub(super) outage: usize,
    pub(super) lookups: Mutex<usize>,
    pub(super) schema: Arc<Compiled>,
}

impl Schemas for FakeSchemas {
    fn schema(&self, _schema: SchemaRef) -> BoxFuture<'_, Result<Arc<Compiled>, RegistryError>> {
        let n = {
            let mut lookups = lock(&self.lookups);
            *lookups += 1;
            *lookups
        };
        let result = if n <= self.outage {
            Err(RegistryError::Unavailable("registry down (test)".into()))
        } else {
            Ok(self.schema.clone())
        };
        Box::pin(async move { result })
    }
}
