//! Scripted implementations of the pipeline's ports for the component
//! tests: a Lambda that answers by script, an outcome producer that records
//! (or refuses), an offset store that publishes, a registry with an outage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::wire::SchemaRef;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::park;
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::route::Invoked;
use lambda_sink_core::trace::Carrier;
use lambda_sink_core::transaction::Lease;
use tokio::sync::watch;
use tokio::time::Instant;

use super::super::ports::{Lambda, NotStored, Offsets, Outcomes, ParkedStore, Schemas};
use crate::error::Error;
use crate::kafka::parked::Entries;
use crate::kafka::producer::{OutcomeRecord, ProduceError};
use crate::kafka::transaction::NotCommitted;
use crate::registry::RegistryError;
use crate::sync::lock;

/// One invocation the fake Lambda received: the offsets and keys in its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Call {
    pub(super) offsets: Vec<i64>,
    pub(super) keys: Vec<Option<String>>,
    /// What the request carried of its trace.
    pub(super) trace: Carrier,
    /// Each element's `traceparent`.
    pub(super) traceparents: Vec<Option<String>>,
}

/// A call as it ran, in virtual time.
#[derive(Clone, Debug)]
pub(super) struct Span {
    pub(super) call: Call,
    pub(super) started: Instant,
    pub(super) ended: Instant,
}

pub(super) type Script = dyn Fn(usize, &Call) -> Answer + Send + Sync;

/// What the fake Lambda does with a call.
pub(super) enum Answer {
    /// Answer after `latency`.
    After(Duration, Result<Invoked, InvokeFailure>),
    /// Answer once the gate opens.
    Gated(watch::Receiver<bool>, Result<Invoked, InvokeFailure>),
    /// A function with `limit` concurrent executions: `{}` after `latency`,
    /// or 429 at once when `limit` calls are already running.
    Capacity { limit: usize, latency: Duration },
}

/// Lambda, scripted: `script(n, call)` answers the n-th call (from 0).
pub(super) struct FakeLambda {
    pub(super) script: Box<Script>,
    pub(super) calls: watch::Sender<Vec<Call>>,
    /// Calls running now (for [`Answer::Capacity`]).
    pub(super) running: Arc<AtomicUsize>,
    /// Calls throttled by [`Answer::Capacity`].
    pub(super) throttled: AtomicUsize,
    /// Every call that answered, with when it ran.
    pub(super) spans: Arc<Mutex<Vec<Span>>>,
}

impl Lambda for FakeLambda {
    fn invoke<'a>(
        &'a self,
        _function: &'a FunctionRef,
        _kind: InvocationType,
        body: Vec<u8>,
        trace: &'a Carrier,
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
            keys: elements
                .iter()
                .map(|e| e["payload"]["key"].as_str().map(str::to_string))
                .collect(),
            traceparents: elements
                .iter()
                .map(|e| e["payload"]["traceparent"].as_str().map(str::to_string))
                .collect(),
            trace: trace.clone(),
        };
        let mut n = 0;
        self.calls.send_modify(|calls| {
            n = calls.len();
            calls.push(call.clone());
        });
        let answer = (self.script)(n, &call);
        let running = Running::start(&self.running);
        let started = Instant::now();
        let spans = self.spans.clone();
        let throttle = matches!(answer, Answer::Capacity { limit, .. } if running.count > limit);
        if throttle {
            self.throttled.fetch_add(1, Ordering::SeqCst);
        }
        Box::pin(async move {
            let result = match answer {
                Answer::After(latency, result) => {
                    tokio::time::sleep(latency).await;
                    result
                }
                Answer::Gated(mut gate, result) => {
                    // A dropped gate counts as open.
                    let _ = gate.wait_for(|open| *open).await;
                    result
                }
                Answer::Capacity { .. } if throttle => Err(InvokeFailure {
                    status: Some(429),
                    code: Some("TooManyRequestsException".into()),
                    message: "Rate Exceeded. (test)".into(),
                    retry_after: None,
                    transport: None,
                }),
                Answer::Capacity { latency, .. } => {
                    tokio::time::sleep(latency).await;
                    super::ok("{}")
                }
            };
            drop(running);
            lock(&spans).push(Span {
                call,
                started,
                ended: Instant::now(),
            });
            result
        })
    }
}

/// Counts a call as running until dropped.
struct Running {
    counter: Arc<AtomicUsize>,
    /// Calls running, this one included, when it started.
    count: usize,
}

impl Running {
    fn start(counter: &Arc<AtomicUsize>) -> Self {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            counter: counter.clone(),
            count,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The outcome producer: records what is sent; refuses topics in `refuse`.
#[derive(Default)]
pub(super) struct FakeOutcomes {
    pub(super) sent: Mutex<Vec<OutcomeRecord>>,
    /// How many records `sent` holds, for waiting on.
    pub(super) count: watch::Sender<usize>,
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
            self.push(record);
            Ok(())
        };
        Box::pin(async move { result })
    }
}

impl FakeOutcomes {
    pub(super) fn new(refuse: Vec<String>) -> Arc<Self> {
        Arc::new(Self {
            sent: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
            refuse,
        })
    }

    /// Kafka holds `record` now.
    fn push(&self, record: OutcomeRecord) {
        let mut sent = lock(&self.sent);
        sent.push(record);
        self.count.send_replace(sent.len());
    }
}

/// The offset store: publishes the last stored offset of each partition.
/// With `audit`, every store first checks that each earlier offset of the
/// partition has its outcome record sent (each record must have one then).
/// With `committed`, it stands for the task's transactions, each store
/// committing at once: outcome records come with the offsets (`released`)
/// and are then what Kafka holds (`committed`), and every store checks that
/// they are exactly those of the records since the previous one; late
/// releases commit with the offset stored last, or the group's
/// (`group_offset`) the lease began at.
pub(super) struct FakeOffsets {
    pub(super) stored: watch::Sender<HashMap<i32, i64>>,
    pub(super) audit: Option<Arc<FakeOutcomes>>,
    pub(super) committed: Option<Arc<FakeOutcomes>>,
    /// The group's committed offset of every partition when a lease
    /// begins (exactly-once).
    pub(super) group_offset: Option<i64>,
    /// Exactly-once: the offset each partition's lease began at.
    pub(super) begun: Mutex<HashMap<i32, i64>>,
    /// Exactly-once: each store's offset and the input offsets of the
    /// outcome records released with it.
    pub(super) released: Mutex<Vec<(i32, i64, Vec<i64>)>>,
    /// Stores that passed a record without an outcome.
    pub(super) violations: Mutex<Vec<String>>,
}

/// The input offset an outcome record names (a parked record's, by its
/// parked topic key).
pub(super) fn input_offset(r: &OutcomeRecord) -> Option<i64> {
    if r.topic.starts_with("parked-") {
        r.value.as_ref()?;
        return park::parse_entry_key(r.key.as_deref()?)
            .ok()
            .map(|(_, o)| o);
    }
    r.headers
        .iter()
        .find(|(k, _)| k == "input_record_offset")
        .and_then(|(_, v)| std::str::from_utf8(v.as_deref()?).ok()?.parse().ok())
}

/// The parked topic, as the fake outcome producer received it.
pub(super) struct FakeParked {
    pub(super) outcomes: Arc<FakeOutcomes>,
    pub(super) topic: String,
}

impl ParkedStore for FakeParked {
    fn load(&self, tp: &TopicPartition) -> BoxFuture<'_, Result<Entries, Error>> {
        let mut entries = Vec::new();
        for r in lock(&self.outcomes.sent)
            .iter()
            .filter(|r| *r.topic == *self.topic)
        {
            let Some(Ok((of, offset))) = r.key.as_deref().map(park::parse_entry_key) else {
                continue;
            };
            // As the real reader: an entry that cannot be read is an error.
            match r.value.as_deref().map(park::decode).transpose() {
                Ok(entry) if of == *tp => entries.push((offset, entry)),
                Ok(_) => {}
                Err(e) => return Box::pin(async move { Err(Error::setup(e.reason())) }),
            }
        }
        Box::pin(async move { Ok(entries) })
    }
}

impl Offsets for FakeOffsets {
    fn with_outcomes(&self) -> bool {
        self.committed.is_some()
    }

    fn begin(
        &self,
        tp: &TopicPartition,
        _lease: Lease,
    ) -> BoxFuture<'_, Result<Option<i64>, NotStored>> {
        let begun = self.group_offset.filter(|_| self.committed.is_some());
        if let Some(offset) = begun {
            lock(&self.begun).insert(tp.partition, offset);
        }
        Box::pin(async move { Ok(begun) })
    }

    fn store_late(
        &self,
        tp: &TopicPartition,
        _lease: Lease,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        let Some(committed) = &self.committed else {
            return Box::pin(async { Err(NotStored::Transaction(NotCommitted::Stopped(None))) });
        };
        let placed = self
            .stored
            .borrow()
            .get(&tp.partition)
            .copied()
            .or_else(|| lock(&self.begun).get(&tp.partition).copied());
        for (offset, record) in outcomes {
            if placed.is_none_or(|placed| offset >= placed) {
                lock(&self.violations).push(format!(
                    "a late outcome of offset {offset}, not committed before (at {placed:?})"
                ));
            }
            committed.push(record);
        }
        Box::pin(async { Ok(()) })
    }

    fn store(
        &self,
        tp: &TopicPartition,
        _lease: Lease,
        next: i64,
        outcomes: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        if let Some(committed) = &self.committed {
            let offsets: Vec<i64> = outcomes.iter().map(|(o, _)| *o).collect();
            let named: Vec<i64> = outcomes
                .iter()
                .filter_map(|(_, r)| input_offset(r))
                .collect();
            if named != offsets {
                lock(&self.violations).push(format!(
                    "outcomes of {named:?} released as those of {offsets:?}"
                ));
            }
            let mut released = lock(&self.released);
            let previous = released
                .iter()
                .rev()
                .find(|(p, _, _)| *p == tp.partition)
                .map(|(_, n, _)| *n)
                .or(self.group_offset)
                .unwrap_or(0);
            let expected: Vec<i64> = (previous..next).collect();
            if offsets != expected {
                lock(&self.violations).push(format!(
                    "stored {next} with the outcomes of {offsets:?}, not of {expected:?}"
                ));
            }
            released.push((tp.partition, next, offsets));
            for (_, record) in outcomes {
                committed.push(record);
            }
        } else if let Some(outcomes) = &self.audit {
            let sent: std::collections::HashSet<i64> = lock(&outcomes.sent)
                .iter()
                .filter_map(input_offset)
                .collect();
            if let Some(missing) = (0..next).find(|o| !sent.contains(o)) {
                lock(&self.violations).push(format!(
                    "stored {next} before offset {missing} was resolved"
                ));
            }
        }
        self.stored.send_modify(|s| {
            s.insert(tp.partition, next);
        });
        Box::pin(async { Ok(()) })
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
