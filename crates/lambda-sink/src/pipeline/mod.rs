//! The connector at run time: Kafka → decode → batch → Lambda → outcome
//! topics → offsets.
//!
//! [`run`] starts one consumer per task (`tasks.max`), each polled on its own
//! blocking thread (`kafka::consumer`). Every partition a task holds gets a
//! worker ([`partition`]) that decodes its records, invokes one batch at a
//! time in offset order, hands the outcome records to the producer and, once
//! Kafka acknowledges them, stores the partition's committable offset.
//!
//! Stopping — a signal, a fatal error, or a rebalance taking partitions away —
//! always takes the same path: no new batches, in-flight ones finish (bounded
//! by `shutdown.timeout.ms`), their outcomes are acknowledged, offsets are
//! stored and committed, then the partitions are released.
//!
//! Memory is bounded per partition by `max.poll.records` buffered records
//! (the consumer hands a partition more only while it has room) plus one
//! batch being prepared and librdkafka's prefetch for the partition
//! (`queued.max.messages.kbytes` and `queued.min.messages`), and overall by `aws.lambda.max.in.flight`
//! requests.

mod partition;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use aws_credential_types::provider::ProvideCredentials;
use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use prometheus_client::metrics::counter::Counter;
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::kafka::consumer::{OffsetStore, RecordHandler, Release, TaskConsumer, Wake};
use crate::kafka::producer::OutcomeProducer;
use crate::lambda::invoke::Invoker;
use crate::metrics::{Metrics, TopicLabel};
use crate::status::ServiceStatus;
use crate::{kafka, lambda};

/// How a run ended.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Why the connector stopped itself (`behavior.on.error=fail`, a
    /// configuration error found at run time, ...). `None` after a requested
    /// stop.
    pub failure: Option<String>,
    /// Work was abandoned at the shutdown timeout (or a final commit failed):
    /// it is not committed and will be redone after a restart.
    pub abandoned: bool,
}

impl RunOutcome {
    /// Whether everything in flight was resolved and committed after a
    /// requested stop.
    pub fn is_clean(&self) -> bool {
        self.failure.is_none() && !self.abandoned
    }
}

/// What the pipeline reports to the HTTP endpoint.
#[derive(Clone)]
pub struct Telemetry {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Connector and task states.
    pub status: Arc<ServiceStatus>,
}

/// State every partition worker shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) invoker: Invoker,
    pub(crate) producer: OutcomeProducer,
    /// Present when a key or value format uses the Schema Registry.
    pub(crate) registry: Option<crate::registry::Registry>,
    /// `aws.lambda.max.in.flight`.
    pub(crate) in_flight: Semaphore,
    /// Cancelled on shutdown and on failure; partitions hold child tokens.
    pub(crate) stop: CancellationToken,
    failure: Mutex<Option<String>>,
    abandoned: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    status: Arc<ServiceStatus>,
}

impl Shared {
    /// Stops the connector because of `reason` (the first reason wins).
    pub(crate) fn fail(&self, reason: String) {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            error!(reason = %reason, "stopping the connector");
            self.status.failed(&reason);
            *failure = Some(reason);
        }
        drop(failure);
        self.stop.cancel();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere
    // does not make it unusable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the connector until `shutdown` is cancelled or it fails.
///
/// # Errors
/// When it cannot start: no region or credentials, librdkafka refusing the
/// configuration, output topics that cannot be created.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    telemetry: Telemetry,
) -> anyhow::Result<RunOutcome> {
    let sdk = lambda::sdk_config(&config.aws, config.lambda.socket_timeout).await?;
    let invoker = Invoker::new(lambda::client(&sdk));
    let producer = OutcomeProducer::new(&config.kafka.client_properties(ClientRole::Producer))
        .context("creating the Kafka producer")?;
    // The start-up checks are independent: run them side by side, so the
    // first invocation waits for the slowest, not for their sum.
    let registry = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Ok(RunOutcome::default()),
        checked = async {
            tokio::try_join!(
                check_credentials(&sdk),
                check_registry(&config),
                async {
                    let cluster = kafka::await_cluster(&config.kafka).await?;
                    kafka::create_output_topics(&config, &cluster).await
                },
            )
        } => checked?.1,
    };
    let tasks = config.tasks_max;
    let shared = Arc::new(Shared {
        in_flight: Semaphore::new(config.lambda.max_in_flight),
        config,
        invoker,
        producer,
        registry,
        stop: shutdown.clone(),
        failure: Mutex::new(None),
        abandoned: AtomicBool::new(false),
        metrics: telemetry.metrics,
        status: telemetry.status,
    });
    let mut threads = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let consumer = TaskConsumer::new(&shared.config, task, shared.metrics.clone())
            .with_context(|| format!("creating the consumer of task {task}"))?;
        let handler: Arc<dyn RecordHandler> = Arc::new(TaskHandler {
            task,
            shared: shared.clone(),
            store: consumer.offset_store(),
            wake: consumer.wake(),
            runtime: Handle::current(),
            partitions: Mutex::new(HashMap::new()),
        });
        let token = shared.stop.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            consumer.run(handler, &token)
        }));
    }
    shared.status.running();
    let status = shared.status.clone();
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        status.stopping();
    });
    info!(
        connector = %shared.config.connector_id,
        group = %shared.config.connector_id.group_id(),
        tasks,
        "lambda-sink running"
    );
    for t in threads {
        if let Err(e) = t.await {
            shared.fail(format!("a consumer task ended abnormally: {e}"));
        }
    }
    shared.producer.flush(Duration::from_secs(5));
    let failure = lock(&shared.failure).clone();
    Ok(RunOutcome {
        failure,
        abandoned: shared.abandoned.load(Ordering::SeqCst),
    })
}

/// The Schema Registry client, once the registry has answered.
async fn check_registry(config: &Config) -> anyhow::Result<Option<crate::registry::Registry>> {
    let Some(r) = &config.schema_registry else {
        return Ok(None);
    };
    let registry = crate::registry::Registry::new(r)?;
    registry.check().await.with_context(|| {
        format!(
            "Schema Registry check failed; fix schema.registry.url ({}) or its credentials",
            r.urls.join(", ")
        )
    })?;
    Ok(Some(registry))
}

/// Resolves credentials once at start, so a missing or broken credential
/// source is a clear start-up error rather than retries later.
async fn check_credentials(sdk: &aws_config::SdkConfig) -> anyhow::Result<()> {
    let Some(provider) = sdk.credentials_provider() else {
        anyhow::bail!("no AWS credentials provider is configured");
    };
    tokio::time::timeout(Duration::from_secs(30), provider.provide_credentials())
        .await
        .context("timed out after 30 s loading AWS credentials")?
        .context(
            "cannot load AWS credentials: set aws.access.key.id and aws.secret.access.key, \
             or configure the AWS default credential chain (environment, profile, role)",
        )?;
    Ok(())
}

/// Records delivered to a partition's worker and not yet taken by it.
/// Taking the one that leaves half of `max.poll.records` wakes the
/// consumer's poll thread, which refills a partition only while it has room.
#[derive(Clone)]
struct Buffered {
    count: Arc<AtomicUsize>,
    low: usize,
    wake: Arc<Wake>,
}

impl Buffered {
    fn added(&self) -> usize {
        self.count.fetch_add(1, Ordering::SeqCst) + 1
    }

    fn taken(&self) {
        if self.count.fetch_sub(1, Ordering::SeqCst) == self.low + 1 {
            self.wake.notify();
        }
    }

    fn get(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

/// A partition's worker as its task's consumer sees it.
struct PartitionHandle {
    records: mpsc::UnboundedSender<SourceRecord>,
    buffered: Buffered,
    /// `records_consumed` of the partition's topic, looked up once rather
    /// than per record.
    consumed: Counter,
    stop: CancellationToken,
    join: JoinHandle<()>,
}

/// The pipeline side of one task's consumer.
struct TaskHandler {
    task: usize,
    shared: Arc<Shared>,
    store: OffsetStore,
    wake: Arc<Wake>,
    runtime: Handle,
    partitions: Mutex<HashMap<TopicPartition, PartitionHandle>>,
}

impl TaskHandler {
    fn start_partition(&self, tp: TopicPartition) -> PartitionHandle {
        let (records, rx) = mpsc::unbounded_channel();
        let consumed = self
            .shared
            .metrics
            .records_consumed
            .get_or_create(&TopicLabel {
                topic: tp.topic.to_string(),
            })
            .clone();
        let buffered = Buffered {
            count: Arc::new(AtomicUsize::new(0)),
            low: self.shared.config.max_buffered_per_partition / 2,
            wake: self.wake.clone(),
        };
        let stop = self.shared.stop.child_token();
        let worker = partition::Worker::new(
            tp,
            self.task,
            self.shared.clone(),
            self.store.clone(),
            rx,
            buffered.clone(),
            stop.clone(),
        );
        PartitionHandle {
            records,
            buffered,
            consumed,
            stop,
            join: self.runtime.spawn(worker.run()),
        }
    }
}

impl RecordHandler for TaskHandler {
    fn deliver(&self, record: SourceRecord) -> usize {
        let mut partitions = lock(&self.partitions);
        let handle = partitions
            .entry(TopicPartition::of(&record))
            .or_insert_with_key(|tp| self.start_partition(tp.clone()));
        handle.consumed.inc();
        let buffered = handle.buffered.added();
        if handle.records.send(record).is_err() {
            // The worker has stopped (the connector is failing); the record
            // stays unresolved and uncommitted. Report "full" to pause it.
            return usize::MAX;
        }
        buffered
    }

    fn buffered(&self, tp: &TopicPartition) -> usize {
        lock(&self.partitions)
            .get(tp)
            .map_or(0, |h| h.buffered.get())
    }

    fn buffer_limit(&self) -> usize {
        self.shared.config.max_buffered_per_partition
    }

    fn drain(&self, partitions: &[TopicPartition], why: Release) {
        let handles: Vec<(TopicPartition, PartitionHandle)> = {
            let mut held = lock(&self.partitions);
            partitions
                .iter()
                .filter_map(|tp| held.remove(tp).map(|h| (tp.clone(), h)))
                .collect()
        };
        if handles.is_empty() {
            return;
        }
        for (tp, h) in &handles {
            h.stop.cancel();
            self.shared
                .metrics
                .forget_partition(&tp.topic, tp.partition);
        }
        if why == Release::Lost {
            // Nothing they resolve could be committed any more.
            for (_, h) in handles {
                h.join.abort();
            }
            return;
        }
        let timeout = self.shared.config.service.shutdown_timeout;
        // Called on the consumer's poll thread (a blocking thread), never
        // inside the runtime, so blocking on the runtime here is allowed.
        self.runtime.block_on(async {
            let deadline = tokio::time::Instant::now() + timeout;
            for (tp, mut h) in handles {
                if tokio::time::timeout_at(deadline, &mut h.join).await.is_err() {
                    h.join.abort();
                    // Only a stop that leaves work undone is a failed stop;
                    // after a rebalance the next owner redoes it.
                    if why == Release::Shutdown {
                        self.shared.abandoned.store(true, Ordering::SeqCst);
                    }
                    warn!(
                        partition = %tp,
                        timeout_ms = timeout.as_millis(),
                        "in-flight work did not finish within shutdown.timeout.ms: abandoned, it is not committed and will be redone"
                    );
                }
            }
        });
    }

    fn partitions(&self) -> Vec<TopicPartition> {
        lock(&self.partitions).keys().cloned().collect()
    }

    fn fail(&self, reason: String) {
        self.shared.fail(reason);
    }
}
