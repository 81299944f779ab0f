//! `lambda-sink serve`: a worker hosting any number of connectors, driven
//! through Kafka Connect's REST API, sharing its state through Kafka.
//!
//! * [`config`] — the worker's own properties;
//! * [`console`] — the web console and its live plots;
//! * [`store`] — a compacted topic as a replicated log (read to the end at
//!   start, read-your-writes);
//! * [`host`] — the connectors this worker runs: one supervisor each,
//!   following its config and target state, and the status reporter;
//! * [`offsets`] — a connector's consumer group: committed offsets, alter,
//!   reset, delete;
//! * [`redrive`] — replaying dead letters through their connector;
//! * [`rest`] — the HTTP API.
//!
//! There is no leader and no coordinator of our own. The config topic
//! orders every write; each worker folds it into the same
//! [`ClusterState`] and hosts every connector it lists, and each
//! connector's consumer group (`connect-<id>`) shares its partitions
//! among the workers hosting it.

pub mod config;
pub mod console;
pub mod host;
pub mod offsets;
pub mod redrive;
pub mod rest;
pub mod store;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_sink_core::Problem;
use lambda_sink_core::config::{RawConfig, RawEntry, Validation, validate};
use lambda_sink_core::connect::records::{ClusterState, ConfigRecord, Props};
use lambda_sink_core::connect::status::{InstanceReport, report_worker};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::lambda::{self, RegionSources};
use crate::sync::lock;
use config::WorkerConfig;
use store::TopicLog;

/// What every part of the worker shares.
pub struct Worker {
    /// The worker's configuration.
    pub config: WorkerConfig,
    /// This worker's advertised `host:port`.
    pub worker_id: String,
    /// The Kafka cluster id (`GET /`).
    pub kafka_cluster_id: String,
    /// The cluster state, as read from the config topic.
    pub cluster: watch::Receiver<ClusterState>,
    /// The config topic.
    pub configs: TopicLog,
    /// The status topic.
    pub statuses: TopicLog,
    /// Every worker's latest report and when it was read.
    reports: Arc<Mutex<BTreeMap<String, (InstanceReport, Instant)>>>,
    /// The connectors hosted here.
    pub host: host::Host,
    /// Cancelled to stop the worker.
    pub shutdown: CancellationToken,
    /// Held while a DLQ redrive runs on this worker.
    pub redriving: tokio::sync::Mutex<()>,
    /// The console's plot data.
    pub series: console::series::Series,
}

impl Worker {
    /// The reports of the workers heard from within 3 heartbeats.
    pub fn live_reports(&self) -> Vec<InstanceReport> {
        let horizon = self.config.heartbeat * 3;
        lock(&self.reports)
            .values()
            .filter(|(_, seen)| seen.elapsed() <= horizon)
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// A snapshot of the cluster state.
    pub fn state(&self) -> ClusterState {
        self.cluster.borrow().clone()
    }

    /// Writes a config record and returns once this worker applied it.
    ///
    /// # Errors
    /// When Kafka does not take it in time.
    pub async fn write(&self, record: &ConfigRecord) -> anyhow::Result<()> {
        let (key, value) = record.encode();
        self.configs.write(&key, value.as_deref()).await
    }

    /// `submitted` over the worker's connector defaults, as the validator
    /// reads them; a value that is not text is reported.
    pub fn effective(&self, submitted: &Props) -> (RawConfig, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut entries: Vec<RawEntry> = self
            .config
            .defaults
            .iter()
            .filter(|(k, _)| !submitted.contains_key(k))
            .map(|(k, v)| RawEntry {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect();
        for (key, value) in submitted {
            let value = match value {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Null => {
                    problems.push(Problem::new(
                        key,
                        "Null value can not be supplied as the configuration value.",
                    ));
                    continue;
                }
                other => {
                    problems.push(Problem::new(
                        key,
                        format!("must be a JSON string, not {other}"),
                    ));
                    continue;
                }
            };
            if key == "http.listener" {
                problems.push(Problem::new(
                    key,
                    "is a `lambda-sink run` setting; under serve the worker's listener serves every connector (remove it)",
                ));
                continue;
            }
            entries.push(RawEntry {
                key: key.clone(),
                value,
            });
        }
        (RawConfig { entries }, problems)
    }

    /// Validates a submitted connector configuration as this worker would
    /// run it: the validator, librdkafka's judgement of pass-through
    /// properties, and the AWS region (without network lookups).
    pub async fn validate(&self, submitted: &Props) -> Validation {
        let (raw, extra) = self.effective(submitted);
        let mut v = validate(&raw, &|name| std::env::var(name).ok());
        v.errors.extend(extra);
        if let Some(config) = &v.config {
            v.errors
                .extend(crate::kafka::check_pass_through(&config.kafka));
            if lambda::resolve_region(&config.aws, RegionSources::Local)
                .await
                .is_none()
            {
                v.errors
                    .push(Problem::new("aws.lambda.region", lambda::NO_REGION));
            }
        }
        if !v.errors.is_empty() {
            v.config = None;
        }
        v
    }
}

/// Folds a status topic record into `reports`.
fn apply_status(
    reports: &Mutex<BTreeMap<String, (InstanceReport, Instant)>>,
    key: &str,
    value: Option<&[u8]>,
) {
    let Some(worker) = report_worker(key) else {
        return;
    };
    let mut reports = lock(reports);
    match value.map(serde_json::from_slice::<InstanceReport>) {
        None => {
            reports.remove(worker);
        }
        Some(Ok(report)) => {
            reports.insert(worker.to_string(), (report, Instant::now()));
        }
        Some(Err(e)) => warn!(key, error = %e, "ignoring an unreadable status record"),
    }
}

/// Folds a config topic record into the cluster state.
fn apply_config(cluster: &watch::Sender<ClusterState>, key: &str, value: Option<&[u8]>) {
    match ConfigRecord::parse(key, value) {
        Ok(record) => {
            cluster.send_modify(|s| s.apply(record));
        }
        Err(e) => warn!(error = %e, "ignoring an unreadable config record"),
    }
}

/// Starts a worker: creates or checks its topics, binds the listener,
/// reads both topics to their end, starts hosting every connector, then
/// serves the API. Returns when `shutdown` is cancelled and every
/// connector has drained.
///
/// # Errors
/// Start-up failures: the topics, the listener, Kafka unreachable or
/// refusing.
pub async fn run(config: WorkerConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    use anyhow::Context;
    let cluster_view = tokio::select! {
        () = shutdown.cancelled() => return Ok(()),
        c = crate::kafka::await_cluster(&config.kafka) => c?,
    };
    for (name, replication, purpose) in [
        (&config.config_topic, config.replication.0, "config topic"),
        (&config.status_topic, config.replication.1, "status topic"),
    ] {
        store::ensure_topic(
            &config.kafka,
            &store::TopicSpec {
                name,
                replication,
                purpose,
            },
        )
        .await?;
    }
    let listener = tokio::net::TcpListener::bind(config.listener)
        .await
        .with_context(|| {
            format!(
                "listeners {} cannot be bound (in use?); choose another port, or 0 for any free one",
                config.listener
            )
        })?;
    let bound = listener.local_addr()?;
    let host = config.advertised_host.clone().unwrap_or_else(|| {
        if bound.ip().is_unspecified() {
            hostname::get()
                .map_or_else(|_| "localhost".into(), |h| h.to_string_lossy().into_owned())
        } else {
            bound.ip().to_string()
        }
    });
    let worker_id = format!("{host}:{}", config.advertised_port.unwrap_or(bound.port()));
    let kafka_cluster_id = cluster_id(&config).await.unwrap_or_default();

    let (cluster_tx, cluster) = watch::channel(ClusterState::default());
    let reader = shutdown.child_token();
    let configs = TopicLog::open(
        &config.kafka,
        &config.config_topic,
        move |k, v| apply_config(&cluster_tx, k, v),
        reader.clone(),
    )
    .await?;
    let reports = Arc::new(Mutex::new(BTreeMap::new()));
    let sink = reports.clone();
    let statuses = TopicLog::open(
        &config.kafka,
        &config.status_topic,
        move |k, v| apply_status(&sink, k, v),
        reader.clone(),
    )
    .await?;
    let insecure = !bound.ip().is_loopback() && config.auth.is_none();
    let tls = config.tls.clone();
    let worker = Arc::new(Worker {
        config,
        worker_id,
        kafka_cluster_id,
        cluster,
        configs,
        statuses,
        reports,
        host: host::Host::default(),
        shutdown: shutdown.clone(),
        redriving: tokio::sync::Mutex::new(()),
        series: console::series::Series::default(),
    });
    let sampler = {
        let worker = worker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(console::series::INTERVAL);
            loop {
                tokio::select! {
                    () = worker.shutdown.cancelled() => break,
                    _ = tick.tick() => worker.series.record(&worker.host.metrics()),
                }
            }
        })
    };
    let reconciling = tokio::spawn(host::reconcile(worker.clone()));
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
        connectors = worker.state().connectors().len(),
        "lambda-sink worker serving the Kafka Connect REST API"
    );
    // Every connector drains on shutdown (the API answers meanwhile).
    let _ = reconciling.await;
    let _ = reported.send(());
    let _ = reporting.await;
    reader.cancel();
    http_stop.cancel();
    let _ = serving.await;
    let _ = sampler.await;
    tracing::info!("lambda-sink worker stopped: every connector drained");
    Ok(())
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
