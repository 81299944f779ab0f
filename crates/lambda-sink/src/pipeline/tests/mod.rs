//! Component tests: the real task handler and partition workers against
//! scripted Lambda, outcome producer, offset store and registry (the
//! [`ports`](super::ports)), on tokio's paused clock — backoffs, linger and
//! function latency cost no wall time, so the whole suite runs in seconds.
//!
//! Every wait is on a condition (a `watch` channel the fakes publish to),
//! bounded by a virtual-time timeout so that a broken pipeline fails the
//! test instead of hanging it.

mod cases;
mod fakes;
mod parking;
mod properties;

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_sink_core::config::{Config, RawConfig, validate};
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::route::Invoked;
use tokio::runtime::Handle;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::context::{Context, Telemetry};
use super::ports::{ParkedStore, Schemas};
use super::task::TaskHandler;
use crate::kafka::consumer::{RecordHandler, Release, Wake};
use crate::kafka::producer::OutcomeRecord;
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use crate::sync::lock;
use fakes::{Answer, Call, FakeLambda, FakeOffsets, FakeOutcomes, FakeParked, FakeSchemas, Script};

/// The topic every case consumes.
const TOPIC: &str = "orders";

/// How long (virtual time) a wait may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(600);

/// A connector config: the base properties plus `extra`.
fn config(extra: &[(&str, &str)]) -> Config {
    let mut pairs = vec![
        ("name", "component"),
        ("topics", TOPIC),
        ("kafka.bootstrap.servers", "127.0.0.1:1"),
        ("aws.lambda.function.name", "fn"),
        ("aws.lambda.region", "us-east-1"),
    ];
    pairs.extend_from_slice(extra);
    let v = validate(&RawConfig::from_pairs(pairs), &|_| None);
    assert!(v.errors.is_empty(), "config errors: {:?}", v.errors);
    v.config.expect("a config without errors")
}

/// A running connector made of the real task handler and workers.
struct Harness {
    ctx: Arc<Context>,
    handler: Arc<TaskHandler>,
    lambda: Arc<FakeLambda>,
    /// What the outcome producer was given outside a transaction.
    outcomes: Arc<FakeOutcomes>,
    /// What Kafka holds, as a `read_committed` reader sees it: `outcomes`,
    /// or exactly-once what the transactions committed.
    kafka: Arc<FakeOutcomes>,
    store: Arc<FakeOffsets>,
    offsets: watch::Receiver<HashMap<i32, i64>>,
    stop: CancellationToken,
}

struct Setup {
    config: Config,
    script: Box<Script>,
    refuse: Vec<String>,
    schemas: Option<Arc<FakeSchemas>>,
    /// Check at every store that the records before it have outcomes.
    audit: bool,
    /// The offset store stands for exactly-once transactions.
    transactional: bool,
    /// Exactly-once: the group's committed offset a lease begins at.
    group_offset: Option<i64>,
    /// OpenTelemetry traces on.
    tracer: Option<crate::otel::Tracer>,
    /// The outcome records of an earlier run, parked topic and all (a
    /// restart); a new, empty one when `None`.
    outcomes: Option<Arc<FakeOutcomes>>,
}

impl Setup {
    fn new(
        extra: &[(&str, &str)],
        script: impl Fn(usize, &Call) -> Answer + Send + Sync + 'static,
    ) -> Self {
        Self {
            config: config(extra),
            script: Box::new(script),
            refuse: Vec::new(),
            schemas: None,
            audit: false,
            transactional: false,
            group_offset: None,
            tracer: None,
            outcomes: None,
        }
    }

    fn start(self) -> Harness {
        let (calls, _) = watch::channel(Vec::new());
        let lambda = Arc::new(FakeLambda {
            script: self.script,
            calls,
            running: Arc::default(),
            throttled: AtomicUsize::new(0),
            spans: Arc::default(),
        });
        // Exactly-once, what the producer is given outside a transaction
        // is not what Kafka holds.
        let kafka = self
            .outcomes
            .unwrap_or_else(|| FakeOutcomes::new(self.refuse.clone()));
        let outcomes = match self.transactional {
            true => FakeOutcomes::new(self.refuse),
            false => kafka.clone(),
        };
        let parked = self.config.errors.park.as_ref().map(|p| {
            Arc::new(FakeParked {
                outcomes: kafka.clone(),
                topic: p.topic.name.to_string(),
            }) as Arc<dyn ParkedStore>
        });
        let (stored, offsets) = watch::channel(HashMap::new());
        let offsets_store = Arc::new(FakeOffsets {
            stored,
            audit: self.audit.then(|| outcomes.clone()),
            committed: self.transactional.then(|| kafka.clone()),
            group_offset: self.group_offset,
            begun: Mutex::default(),
            released: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
        });
        let stop = CancellationToken::new();
        let telemetry = Telemetry {
            metrics: Arc::new(Metrics::new()),
            status: Arc::new(ServiceStatus::new("component", "component", 1)),
            tracer: self.tracer,
            events: Arc::default(),
            orders: crate::pipeline::Orders::default(),
        };
        let ctx = Arc::new(Context::new(
            self.config,
            lambda.clone(),
            outcomes.clone(),
            self.schemas.map(|s| s as Arc<dyn Schemas>),
            parked,
            stop.clone(),
            telemetry,
        ));
        let handler = Arc::new(TaskHandler::new(
            0,
            ctx.clone(),
            offsets_store.clone(),
            Arc::new(Wake::default()),
            Handle::current(),
            ctx.config.max_buffered_per_partition,
        ));
        Harness {
            ctx,
            handler,
            lambda,
            outcomes,
            kafka,
            store: offsets_store,
            offsets,
            stop,
        }
    }
}

/// A record of partition `partition` at `offset` with a JSON value.
fn record(partition: i32, offset: i64, value: &str) -> SourceRecord {
    keyed(partition, offset, Some(&format!("k{offset}")), value)
}

/// A record with the given (string) key.
fn keyed(partition: i32, offset: i64, key: Option<&str>, value: &str) -> SourceRecord {
    SourceRecord {
        topic: Arc::from(TOPIC),
        partition,
        offset,
        timestamp: Some(1_700_000_000_000 + offset),
        timestamp_type: lambda_sink_core::record::TimestampType::CreateTime,
        key: key.map(|k| k.as_bytes().to_vec()),
        value: Some(value.as_bytes().to_vec()),
        headers: Vec::new(),
    }
}

fn ok(payload: &str) -> Result<Invoked, InvokeFailure> {
    Ok(Invoked {
        status: 200,
        function_error: None,
        payload: payload.as_bytes().to_vec(),
    })
}

/// An unhandled function error (`{"errorMessage":"boom"}`).
fn boom() -> Result<Invoked, InvokeFailure> {
    Ok(Invoked {
        status: 200,
        function_error: Some("Unhandled".into()),
        payload: br#"{"errorMessage":"boom"}"#.to_vec(),
    })
}

fn failure(status: u16, code: &str) -> Result<Invoked, InvokeFailure> {
    Err(InvokeFailure {
        status: Some(status),
        code: Some(code.into()),
        message: format!("{code} (test)"),
        retry_after: None,
        transport: None,
    })
}

impl Harness {
    fn deliver(&self, records: impl IntoIterator<Item = SourceRecord>) {
        for r in records {
            self.handler.deliver(r);
        }
    }

    /// Waits until the last stored offset of `partition` is `next`.
    async fn stored(&self, partition: i32, next: i64) {
        let mut offsets = self.offsets.clone();
        let waited = tokio::time::timeout(
            PATIENCE,
            offsets.wait_for(|s| s.get(&partition) == Some(&next)),
        )
        .await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "offset {next} of partition {partition} never stored; stored: {:?}, calls: {:?}, failure: {:?}",
            *self.offsets.borrow(),
            self.calls(),
            self.failure()
        );
    }

    /// Lets every task run until all of them wait: the paused clock only
    /// moves on once nothing can run, so after this the pipeline has done
    /// everything it can without time passing or a call answering.
    async fn idle(&self) {
        tokio::time::sleep(Duration::from_nanos(1)).await;
    }

    /// The stored offset of `partition`, if any.
    fn offset(&self, partition: i32) -> Option<i64> {
        self.offsets.borrow().get(&partition).copied()
    }

    /// Waits until Lambda has received `n` calls.
    async fn calls_reach(&self, n: usize) {
        let mut calls = self.lambda.calls.subscribe();
        let waited = tokio::time::timeout(PATIENCE, calls.wait_for(|c| c.len() >= n)).await;
        assert!(
            waited.is_ok(),
            "Lambda never got {n} calls: {:?}; failure: {:?}",
            self.calls(),
            self.failure()
        );
    }

    fn calls(&self) -> Vec<Vec<i64>> {
        self.lambda
            .calls
            .borrow()
            .iter()
            .map(|c| c.offsets.clone())
            .collect()
    }

    /// Waits until `n` outcome records have been sent.
    async fn sent_reach(&self, n: usize) {
        let mut sent = self.kafka.count.subscribe();
        let waited = tokio::time::timeout(PATIENCE, sent.wait_for(|c| *c >= n)).await;
        assert!(
            waited.is_ok(),
            "only {} outcome records were sent; calls: {:?}",
            *self.kafka.count.borrow(),
            self.calls()
        );
    }

    /// Outcome records sent to `topic`.
    fn sent(&self, topic: &str) -> Vec<OutcomeRecord> {
        lock(&self.kafka.sent)
            .iter()
            .filter(|r| &*r.topic == topic)
            .cloned()
            .collect()
    }

    fn failure(&self) -> Option<String> {
        self.ctx.failure()
    }

    /// Waits until the connector fails; returns why.
    async fn failed(&self) -> String {
        let waited = tokio::time::timeout(PATIENCE, self.stop.cancelled()).await;
        assert!(
            waited.is_ok(),
            "the connector never stopped; calls: {:?}",
            self.calls()
        );
        self.failure()
            .expect("the connector stopped without a failure")
    }

    /// Drains every partition as the consumer's poll thread does, for `why`.
    async fn drain(&self, why: Release) {
        let handler = self.handler.clone();
        let held = handler.partitions();
        drain_on_thread(handler, held, why)
            .await
            .expect("drain ran");
    }
}

/// The value of header `name`, as text.
fn header(r: &OutcomeRecord, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_ref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Runs `handler.drain` on a thread of its own, as the consumer's poll
/// thread does: it blocks on the runtime. (A plain thread, not
/// `spawn_blocking`: the paused clock does not advance while a blocking task
/// runs, and the drain waits on work that needs time to pass.)
fn drain_on_thread(
    handler: Arc<TaskHandler>,
    partitions: Vec<TopicPartition>,
    why: Release,
) -> tokio::sync::oneshot::Receiver<()> {
    let (done, drained) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        handler.drain(&partitions, why);
        let _ = done.send(());
    });
    drained
}
