//! The connector at run time: Kafka → decode → batch → Lambda → outcome
//! topics → offsets.
//!
//! [`run`] starts one consumer per task (`tasks.max`), each polled on its own
//! blocking thread (`kafka::consumer`). Every partition a task holds gets a
//! worker ([`partition`]) that decodes its records, invokes its batches as
//! `aws.lambda.ordering` allows (one at a time in offset order by default;
//! several at once, never two holding one key, in `key` mode), hands the
//! outcome records to the producer and, once Kafka acknowledges them, stores
//! the partition's committable offset (the contiguous watermark). With
//! `reporter.exactly.once` the outcome records go instead, with that offset,
//! into the task's transaction (`kafka::transaction`).
//!
//! [`replay`] runs the same partition workers over records that were
//! already consumed (a DLQ redrive), committing nothing.
//!
//! Stopping — a signal, a fatal error, or a rebalance taking partitions away —
//! always takes the same path: no new batches, in-flight ones finish (bounded
//! by `shutdown.timeout.ms`), their outcomes are acknowledged, offsets are
//! stored and committed, then the partitions are released.
//!
//! Memory is bounded per partition by `max.poll.records` buffered records
//! (the consumer hands a partition more only while it has room), the
//! worker's look-ahead (`aws.lambda.batch.size ×
//! aws.lambda.max.in.flight.per.partition` decoded records, one batch in
//! `partition` mode) and librdkafka's prefetch for the partition
//! (`queued.max.messages.kbytes` and `queued.min.messages`), and overall by
//! `aws.lambda.max.in.flight` requests.

mod commit;
mod decode;
mod invoke;
mod limit;
mod partition;
mod ports;
mod replay;
mod route;
mod task;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Context;
use aws_credential_types::provider::ProvideCredentials;
use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::route::Policy;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::kafka::consumer::{RecordHandler, TaskConsumer};
use crate::kafka::producer::OutcomeProducer;
use crate::kafka::transaction::Initialised;
use crate::lambda::invoke::Invoker;
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use crate::{kafka, lambda};
use ports::{Lambda, Offsets, Outcomes, Schemas};
pub use replay::replay;
use task::TaskHandler;

/// Why a run did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not start: no region or credentials, librdkafka refusing
    /// the configuration, output topics that cannot be created, ...
    #[error("{0:#}")]
    Start(anyhow::Error),
    /// The connector stopped itself (`behavior.on.error=fail`, a
    /// configuration error found at run time, an outcome that cannot be
    /// written, ...).
    #[error("{0}")]
    Failed(String),
    /// A requested stop abandoned work at the shutdown timeout (or a final
    /// commit failed): it is not committed and will be redone after a
    /// restart.
    #[error(
        "work was abandoned at the shutdown timeout; it is not committed and will be redone after a restart"
    )]
    Abandoned,
}

impl From<anyhow::Error> for RunError {
    fn from(e: anyhow::Error) -> Self {
        Self::Start(e)
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

/// Why a worker stopped taking records.
#[derive(Debug)]
pub(crate) enum Halt {
    /// A stop was requested (shutdown, revocation) or the connector is
    /// already failing.
    Stopped,
    /// The connector must stop, for this reason.
    Failed(String),
}

/// State every partition worker shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// The part of `config` that decides outcomes.
    pub(crate) policy: Policy,
    pub(crate) lambda: Arc<dyn Lambda>,
    pub(crate) outcomes: Arc<dyn Outcomes>,
    /// Present when a key or value format uses the Schema Registry.
    pub(crate) schemas: Option<Arc<dyn Schemas>>,
    /// `aws.lambda.max.in.flight`, adaptive on throttling.
    pub(crate) in_flight: limit::Limiter,
    /// Cancelled on shutdown and on failure; partitions hold child tokens.
    pub(crate) stop: CancellationToken,
    failure: Mutex<Option<String>>,
    abandoned: AtomicBool,
    pub(crate) metrics: Arc<Metrics>,
    status: Arc<ServiceStatus>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        lambda: Arc<dyn Lambda>,
        outcomes: Arc<dyn Outcomes>,
        schemas: Option<Arc<dyn Schemas>>,
        stop: CancellationToken,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            policy: Policy::of(&config),
            in_flight: limit::Limiter::new(
                config.lambda.max_in_flight,
                config.lambda.adaptive_concurrency,
                telemetry.metrics.in_flight.clone(),
                telemetry.metrics.in_flight_limit.clone(),
            ),
            config,
            lambda,
            outcomes,
            schemas,
            stop,
            failure: Mutex::new(None),
            abandoned: AtomicBool::new(false),
            metrics: telemetry.metrics,
            status: telemetry.status,
        }
    }

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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a panic elsewhere
    // does not make it unusable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs the connector until `shutdown` is cancelled or it fails. `Ok` after
/// a requested stop with everything in flight resolved and committed.
///
/// A failure inside stops the connector through a child of `shutdown`, so
/// it never cancels the caller's token.
///
/// # Errors
/// [`RunError`]: it could not start, it failed, or it abandoned work.
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    telemetry: Telemetry,
) -> Result<(), RunError> {
    let stop = shutdown.child_token();
    let Some((shared, producer)) = start(config, stop.clone(), telemetry).await? else {
        return Ok(());
    };
    let tasks = shared.config.tasks_max;
    // Exactly-once: every task's transactions are initialised before any
    // consumer joins the group, so a start that fails takes no partitions.
    let mut exactly_once = Vec::new();
    if let Some(bounds) = shared.config.reporter.transactions {
        for task in 0..tasks {
            exactly_once.push((init_transactions(&shared.config, task).await?, bounds));
        }
    }
    let mut exactly_once = exactly_once.into_iter();
    let mut threads = Vec::with_capacity(tasks);
    for task in 0..tasks {
        let consumer = TaskConsumer::new(&shared.config, task, shared.metrics.clone())
            .with_context(|| format!("creating the consumer of task {task}"))?;
        let store: Arc<dyn Offsets> = match exactly_once.next() {
            Some((initialised, bounds)) => {
                let failing = shared.clone();
                Arc::new(initialised.start(
                    consumer.group_metadata(),
                    bounds,
                    shared.metrics.clone(),
                    Arc::new(move |reason| failing.fail(reason)),
                ))
            }
            None => Arc::new(consumer.offset_store()),
        };
        let handler: Arc<dyn RecordHandler> = Arc::new(TaskHandler::new(
            task,
            shared.clone(),
            store,
            consumer.wake(),
            Handle::current(),
        ));
        let token = shared.stop.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            consumer.run(handler, &token)
        }));
    }
    shared.status.running();
    let status = shared.status.clone();
    let stopping = stop.clone();
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
    finish(&shared, producer).await
}

/// Connects to everything a run needs, checking it side by side
/// (credentials, registry, cluster and output topics); `None` when `stop`
/// is cancelled first.
async fn start(
    config: Config,
    stop: CancellationToken,
    telemetry: Telemetry,
) -> Result<Option<(Arc<Shared>, OutcomeProducer)>, RunError> {
    let sdk = lambda::sdk_config(&config.aws, config.lambda.socket_timeout).await?;
    let invoker = Invoker::new(lambda::client(&sdk));
    let producer = OutcomeProducer::new(&config.kafka.client_properties(ClientRole::Producer))
        .context("creating the Kafka producer")?;
    // The start-up checks are independent: run them side by side, so the
    // first invocation waits for the slowest, not for their sum.
    let registry = tokio::select! {
        biased;
        () = stop.cancelled() => return Ok(None),
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
    let shared = Arc::new(Shared::new(
        config,
        Arc::new(invoker),
        Arc::new(producer.clone()),
        registry.map(|r| Arc::new(r) as Arc<dyn Schemas>),
        stop,
        telemetry,
    ));
    Ok(Some((shared, producer)))
}

/// Task `task`'s transactions (`reporter.exactly.once`), initialised: a
/// cluster or ACLs that do not allow them stop the start here.
async fn init_transactions(config: &Config, task: usize) -> Result<Initialised, RunError> {
    Initialised::init(
        &config.kafka.client_properties(ClientRole::Producer),
        &format!("lambda-sink-{}", config.connector_id),
        task,
    )
    .await
    .map_err(RunError::Start)
}

/// Lets what a run enqueued go out (every outcome a stored offset depends
/// on was acknowledged already); then the run's verdict.
async fn finish(shared: &Shared, producer: OutcomeProducer) -> Result<(), RunError> {
    // librdkafka's flush blocks: off the runtime.
    let flushing = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(5)));
    if let Err(e) = flushing.await {
        error!(error = %e, "the outcome producer's final flush did not run");
    }
    if let Some(reason) = lock(&shared.failure).clone() {
        return Err(RunError::Failed(reason));
    }
    if shared.abandoned.load(Ordering::SeqCst) {
        return Err(RunError::Abandoned);
    }
    Ok(())
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
