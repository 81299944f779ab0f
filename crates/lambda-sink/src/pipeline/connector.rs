//! A connector's run: connect to everything it needs and check it
//! ([`start`]), one consumer per task it runs (`run`: every one of
//! `tasks.max`; `serve`: those placed on the worker) polled on its own
//! blocking thread, each with its [`TaskHandler`] (and, exactly-once, its
//! transactions), until a stop or a failure; then the verdict ([`finish`]).

use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::read_ahead::{ReadAhead, partitions_per_task};
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use super::context::{Context, Telemetry};
use super::ports::{Offsets, Outcomes, ParkedStore, Schemas, Tagged};
use super::task::TaskHandler;
use crate::error::{Error, Fault, OrFault};
use crate::kafka::ClusterView;
use crate::kafka::consumer::{RecordHandler, TaskConsumer};
use crate::kafka::parked::ParkedReader;
use crate::kafka::producer::{OutcomeProducer, Producers};
use crate::kafka::transaction::Initialised;
use crate::lambda::invoke::Invoker;
use crate::{kafka, lambda};

/// Why a run did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// It could not start: no region or credentials, librdkafka refusing
    /// the configuration, output topics that cannot be created, ...
    #[error("{0}")]
    Start(Error),
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

impl From<Error> for RunError {
    fn from(e: Error) -> Self {
        Self::Start(e)
    }
}

/// Runs tasks `tasks` of the connector, writing outcomes with a producer
/// from `producers`, until `shutdown` is cancelled or it fails. `Ok` after
/// a requested stop with everything in flight resolved and committed.
///
/// A failure inside stops the connector through a child of `shutdown`, so
/// it never cancels the caller's token.
///
/// # Errors
/// [`RunError`]: it could not start, it failed, or it abandoned work.
pub async fn run(
    config: Config,
    tasks: &[usize],
    shutdown: CancellationToken,
    telemetry: Telemetry,
    producers: &Producers,
) -> Result<(), RunError> {
    let events = telemetry.events.clone();
    let result = run_tasks(config, tasks, shutdown, telemetry, producers).await;
    events.record(match &result {
        Ok(()) => Event::new(
            Level::Info,
            "tasks_stopped",
            "stopped: everything in flight was resolved and committed",
        ),
        Err(e @ RunError::Abandoned) => {
            Event::new(Level::Warn, "tasks_stopped", format!("stopped: {e}"))
        }
        Err(e) => Event::new(Level::Error, "failed", e.to_string()),
    });
    result
}

async fn run_tasks(
    config: Config,
    tasks: &[usize],
    shutdown: CancellationToken,
    telemetry: Telemetry,
    producers: &Producers,
) -> Result<(), RunError> {
    let stop = shutdown.child_token();
    let Some((ctx, producer, cluster)) =
        start(config, stop.clone(), telemetry, producers, None).await?
    else {
        return Ok(());
    };
    let read_ahead = read_ahead(&ctx.config, &cluster);
    // Exactly-once: every task's transactions are initialised before any
    // consumer joins the group, so a start that fails takes no partitions
    // (and a task that moved fences its previous owner's producer).
    let mut exactly_once = Vec::new();
    if let Some(bounds) = ctx.config.reporter.transactions {
        for &task in tasks {
            exactly_once.push((init_transactions(&ctx.config, task).await?, bounds));
        }
    }
    let mut exactly_once = exactly_once.into_iter();
    let mut threads = Vec::with_capacity(tasks.len());
    for &task in tasks {
        let consumer = TaskConsumer::new(
            &ctx.config,
            task,
            read_ahead,
            ctx.metrics.clone(),
            ctx.events.clone(),
        )
        .or_fault_with(Fault::Setup, || {
            format!("creating the consumer of task {task}")
        })?;
        let store: Arc<dyn Offsets> = match exactly_once.next() {
            Some((initialised, bounds)) => {
                let failing = ctx.clone();
                Arc::new(initialised.start(
                    consumer.group_metadata(),
                    bounds,
                    (ctx.metrics.clone(), ctx.events.clone()),
                    Arc::new(move |reason| failing.fail(reason)),
                ))
            }
            None => Arc::new(consumer.offset_store()),
        };
        let handler: Arc<dyn RecordHandler> = Arc::new(TaskHandler::new(
            task,
            ctx.clone(),
            store,
            consumer.wake(),
            Handle::current(),
            read_ahead.buffered_records,
        ));
        let token = ctx.stop.clone();
        threads.push(tokio::task::spawn_blocking(move || {
            consumer.run(handler, &token)
        }));
    }
    ctx.status.running();
    let status = ctx.status.clone();
    let stopping = stop.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        status.stopping();
    });
    ctx.events.record(Event::new(
        Level::Info,
        "tasks_started",
        format!(
            "lambda-sink running: connector {}, tasks {tasks:?}, group {}",
            ctx.config.connector_id,
            ctx.config.connector_id.group_id()
        ),
    ));
    for t in threads {
        if let Err(e) = t.await {
            ctx.fail(format!("a consumer task ended abnormally: {e}"));
        }
    }
    finish(&ctx, producer).await
}

/// How far each task reads ahead: the task's budget shared out over the
/// partitions it is expected to own when it starts (the subscribed topics'
/// partitions over `tasks.max`).
fn read_ahead(config: &Config, cluster: &ClusterView) -> ReadAhead {
    let subscribed = config
        .subscription
        .partitions(cluster.topics.iter().map(|(name, n)| (name.as_str(), *n)));
    let partitions = partitions_per_task(subscribed, config.tasks_max);
    let read_ahead = ReadAhead::for_partitions(
        partitions,
        config.max_buffered_per_partition,
        config.lambda.batch_size,
    );
    info!(
        partitions_per_task = partitions,
        prefetch_kbytes = read_ahead.prefetch_kbytes,
        prefetch_records = read_ahead.prefetch_records,
        buffered_records = read_ahead.buffered_records,
        "each partition's read-ahead"
    );
    read_ahead
}

/// What a started run has: the shared context, the outcome producer, and
/// the cluster as it was at the start.
type Started = (Arc<Context>, OutcomeProducer, ClusterView);

/// Connects to everything a run needs, checking it side by side
/// (credentials, registry, cluster and output topics); `None` when `stop`
/// is cancelled first.
pub(super) async fn start(
    config: Config,
    stop: CancellationToken,
    telemetry: Telemetry,
    producers: &Producers,
    tag: Option<(String, Vec<u8>)>,
) -> Result<Option<Started>, RunError> {
    let sdk = lambda::sdk_config(&config.aws, config.lambda.socket_timeout).await?;
    let invoker = lambda::invoker(&sdk, &config.aws, config.lambda.socket_timeout).await?;
    let producer = producers
        .get(&config.kafka.client_properties(ClientRole::Producer))
        .or_fault(Fault::Setup, "creating the Kafka producer")?;
    // The start-up checks are independent: run them side by side, so the
    // first invocation waits for the slowest, not for their sum.
    let (registry, cluster) = tokio::select! {
        biased;
        () = stop.cancelled() => return Ok(None),
        checked = async {
            tokio::try_join!(
                check_credentials(&invoker),
                check_registry(&config),
                async {
                    let cluster = kafka::await_cluster(&config.kafka).await?;
                    kafka::create_output_topics(&config, &cluster).await?;
                    Ok(cluster)
                },
            )
        } => {
            let (_, registry, cluster) = checked?;
            (registry, cluster)
        }
    };
    let parked = config.errors.park.as_ref().map(|p| {
        Arc::new(ParkedReader::new(&config.kafka, p.topic.name.as_str())) as Arc<dyn ParkedStore>
    });
    let mut outcomes: Arc<dyn Outcomes> = Arc::new(producer.clone());
    if let Some(header) = tag {
        outcomes = Arc::new(Tagged {
            inner: outcomes,
            header,
        });
    }
    let ctx = Arc::new(Context::new(
        config,
        Arc::new(invoker),
        outcomes,
        registry.map(|r| Arc::new(r) as Arc<dyn Schemas>),
        parked,
        stop,
        telemetry,
    ));
    Ok(Some((ctx, producer, cluster)))
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
/// on was acknowledged already; a shared producer goes on delivering
/// without this run); then the run's verdict.
pub(super) async fn finish(ctx: &Context, producer: OutcomeProducer) -> Result<(), RunError> {
    // librdkafka's flush blocks: off the runtime.
    let flushing = tokio::task::spawn_blocking(move || producer.finish(Duration::from_secs(5)));
    if let Err(e) = flushing.await {
        error!(error = %e, "the outcome producer's final flush did not run");
    }
    if let Some(reason) = ctx.failure() {
        return Err(RunError::Failed(reason));
    }
    if ctx.abandoned() {
        return Err(RunError::Abandoned);
    }
    Ok(())
}

/// The Schema Registry client, once the registry has answered.
async fn check_registry(config: &Config) -> Result<Option<crate::registry::Registry>, Error> {
    let Some(r) = &config.schema_registry else {
        return Ok(None);
    };
    let registry = crate::registry::Registry::new(r)?;
    registry.check().await.map_err(|e| {
        let fault = match e {
            crate::registry::RegistryError::Unavailable(_) => Fault::Unavailable,
            _ => Fault::Setup,
        };
        Error::new(
            fault,
            format!(
                "Schema Registry check failed; fix schema.registry.url ({}) or its credentials: {e}",
                r.urls.join(", ")
            ),
        )
    })?;
    Ok(Some(registry))
}

/// Resolves credentials once at start, so a missing or broken credential
/// source is a clear start-up error rather than retries later.
async fn check_credentials(invoker: &Invoker) -> Result<(), Error> {
    tokio::time::timeout(Duration::from_secs(30), invoker.credentials())
        .await
        .or_fault(Fault::Unavailable, "loading AWS credentials (30 s)")?
        .map_err(|e| {
            Error::setup(format!(
                "cannot load AWS credentials: set aws.access.key.id and aws.secret.access.key, \
                 or configure the AWS default credential chain (environment, profile, role): {e}"
            ))
        })
}
