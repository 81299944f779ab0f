//! Starting a worker ([`run`]): its topics, its listener, the state read to
//! the end, the connectors it hosts, the REST API; and stopping it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::admin::{Admin, Ports};
use super::cluster::{ConfigTopic, StatusTopic};
use super::console;
use super::console::series::Series;
use super::hosted::Host;
use super::journal::ClusterEvents;
use super::moves;
use super::node::Node;
use super::offsets::KafkaGroups;
use super::placement::Placement;
use super::redrive::DlqRedriver;
use super::replays;
use super::{host, rest, store};
use crate::error::{Error, Fault, OrFault};
use crate::kafka::producer::Producers;
use lambda_sink_core::config::worker::WorkerConfig;

/// Starts a worker: creates or checks its topics, binds the listener,
/// reads both topics to their end, starts hosting every connector, then
/// serves the API. Returns when `shutdown` is cancelled and every
/// connector has drained.
///
/// # Errors
/// Start-up failures: the topics, the listener, Kafka unreachable or
/// refusing.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> Result<(), Error> {
    let cluster_view = tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        c = crate::kafka::await_cluster(&config.kafka) => c?,
    };
    ensure_topics(&config).await?;
    let listener = bind(&config).await?;
    let bound = listener
        .local_addr()
        .or_fault(Fault::Internal, "reading the bound address")?;
    let worker_id = worker_id(&config, bound);
    let insecure = !bound.ip().is_loopback() && config.auth.is_none();
    let tls = config.tls.clone();
    // The state topics are read until this returns, however it does: after
    // every connector drained and the last status was written (not with
    // `shutdown`: the drain writes status records, which are read back).
    let reader = CancellationToken::new();
    let _reading = reader.clone().drop_guard();
    // A stop while the topics are read to their end is a clean stop.
    let worker = tokio::select! {
        biased;
        () = shutdown.cancelled() => return Ok(()),
        node = node(config, worker_id, &reader, &shutdown) => Arc::new(node?),
    };
    replays::interrupted(&worker).await;
    let sampler = tokio::spawn(sample(worker.clone()));
    let reconciling = tokio::spawn(host::reconcile(worker.clone()));
    let moving = tokio::spawn(moves::complete(worker.clone()));
    let (reported, done) = tokio::sync::oneshot::channel();
    let reporting = tokio::spawn(host::report(worker.clone(), done));
    let http_stop = CancellationToken::new();
    let serving = rest::serve(
        listener,
        rest::router(worker.clone()),
        tls.as_ref(),
        http_stop.clone(),
    )
    .await?;
    if insecure {
        warn!(address = %bound, "the REST API listens beyond loopback without authentication: anyone who can reach it can manage connectors; set rest.auth.basic.* or rest.auth.token");
    }
    tracing::info!(
        address = %bound,
        worker_id = %worker.worker_id,
        brokers = cluster_view.brokers,
        connectors = worker.admin.state().connectors().len(),
        "lambda-sink worker serving the Kafka Connect REST API"
    );
    // Every connector drains on shutdown (the API answers meanwhile);
    // then this worker leaves the placement group, its tasks stopped.
    let _ = reconciling.await;
    worker.placement.close().await;
    let _ = reported.send(());
    let _ = reporting.await;
    http_stop.cancel();
    let _ = serving.await;
    let _ = sampler.await;
    let _ = moving.await;
    tracing::info!("lambda-sink worker stopped: every connector drained");
    Ok(())
}

/// Creates the config and status topics, or checks their shape.
async fn ensure_topics(config: &WorkerConfig) -> Result<(), Error> {
    for (name, replication, purpose, retention) in [
        (
            &config.config_topic,
            config.replication.0,
            "config topic",
            None,
        ),
        (
            &config.status_topic,
            config.replication.1,
            "status topic",
            None,
        ),
        (
            &config.events_topic,
            config.replication.1,
            "events topic",
            Some(config.events_retention),
        ),
    ] {
        let spec = store::TopicSpec {
            name,
            replication,
            purpose,
            retention,
        };
        store::ensure_topic(&config.kafka, &spec).await?;
    }
    Ok(())
}

/// Binds the REST listener.
async fn bind(config: &WorkerConfig) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(config.listener)
        .await
        .or_fault_with(Fault::Setup, || {
            format!(
                "listeners {} cannot be bound (in use?); choose another port, or 0 for any free one",
                config.listener
            )
        })
}

/// This worker's advertised `host:port`.
fn worker_id(config: &WorkerConfig, bound: std::net::SocketAddr) -> String {
    let host = config.advertised_host.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            hostname::get()
                .map_or_else(|_| "localhost".into(), |h| h.to_string_lossy().into_owned())
        } else {
            bound.ip().to_string()
        }
    });
    format!("{host}:{}", config.advertised_port.unwrap_or(bound.port()))
}

/// The running worker: both topics read to their end (and followed until
/// `reader` is cancelled), the administration over them.
async fn node(
    config: WorkerConfig,
    worker_id: String,
    reader: &CancellationToken,
    shutdown: &CancellationToken,
) -> Result<Node, Error> {
    let kafka_cluster_id = cluster_id(&config).await.unwrap_or_default();
    let configs =
        Arc::new(ConfigTopic::open(&config.kafka, &config.config_topic, reader.clone()).await?);
    let statuses = Arc::new(
        StatusTopic::open(
            &config.kafka,
            &config.status_topic,
            config.heartbeat,
            reader.clone(),
        )
        .await?,
    );
    let events = ClusterEvents::open(&config.kafka, &config.events_topic, reader.clone()).await?;
    let producers = Producers::shared();
    let ports = Ports {
        log: configs.clone(),
        status: statuses.clone(),
        groups: Arc::new(KafkaGroups),
        redriver: Arc::new(DlqRedriver {
            shutdown: shutdown.clone(),
            worker_id: worker_id.clone(),
            producers: producers.clone(),
        }),
    };
    let admin = Admin::new(ports, config.defaults.clone());
    let placement = Placement::start(
        &config.kafka,
        &config.group_id,
        config.session_timeout,
        config.replication.0,
    )?;
    Ok(Node {
        config,
        worker_id,
        kafka_cluster_id,
        admin,
        configs,
        statuses,
        host: Host::default(),
        placement,
        shutdown: shutdown.clone(),
        series: Series::default(),
        producers,
        events,
    })
}

/// Samples the hosted connectors' metrics for the console's plots.
async fn sample(worker: Arc<Node>) {
    let mut tick = tokio::time::interval(console::series::INTERVAL);
    loop {
        tokio::select! {
            () = worker.shutdown.cancelled() => break,
            _ = tick.tick() => worker.series.record(&worker.host.metrics()),
        }
    }
}

/// The Kafka cluster id, for `GET /`.
async fn cluster_id(config: &WorkerConfig) -> Option<String> {
    use lambda_sink_core::config::ClientRole;
    use rdkafka::producer::{BaseProducer, Producer};
    let props = crate::kafka::client_config(&config.kafka.client_properties(ClientRole::Admin));
    tokio::task::spawn_blocking(move || {
        let client: BaseProducer = props.create().ok()?;
        client
            .client()
            .fetch_cluster_id(std::time::Duration::from_secs(10))
    })
    .await
    .ok()
    .flatten()
}
