//! The cluster's state as Kafka keeps it: the config topic folded into a
//! [`ClusterState`] ([`ConfigTopic`], the administration's [`ConfigLog`])
//! and the status topic's worker reports ([`StatusTopic`], its
//! [`StatusView`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lambda_sink_core::config::KafkaConfig;
use lambda_sink_core::connect::records::{ClusterState, ConfigRecord};
use lambda_sink_core::connect::status::{InstanceReport, report_worker};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::admin::{AdminError, ConfigLog, StatusView};
use super::store::TopicLog;
use crate::error::Error;
use crate::sync::lock;

/// The config topic, read to the end and followed.
pub struct ConfigTopic {
    log: TopicLog,
    state: watch::Receiver<ClusterState>,
}

impl ConfigTopic {
    /// Opens `topic`, reads it to the end and follows it until `stop`.
    ///
    /// # Errors
    /// When Kafka cannot be read.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let (tx, state) = watch::channel(ClusterState::default());
        let log = TopicLog::open(kafka, topic, move |k, v| apply_config(&tx, k, v), stop).await?;
        Ok(Self { log, state })
    }

    /// The cluster state, to watch for changes.
    pub fn watch(&self) -> watch::Receiver<ClusterState> {
        self.state.clone()
    }
}

impl ConfigLog for ConfigTopic {
    fn state(&self) -> ClusterState {
        self.state.borrow().clone()
    }

    fn write(&self, record: ConfigRecord) -> BoxFuture<'_, Result<(), AdminError>> {
        Box::pin(async move {
            let (key, value) = record.encode();
            self.log
                .write(&key, value.as_deref())
                .await
                .map_err(|e| AdminError::Unavailable(format!("{e:#}")))
        })
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

/// Every worker's latest report and when it was read.
type Reports = Arc<Mutex<BTreeMap<String, (InstanceReport, Instant)>>>;

/// The status topic, read to the end and followed.
pub struct StatusTopic {
    log: TopicLog,
    reports: Reports,
    /// `status.heartbeat.interval.ms`: a worker not heard from within three
    /// is gone.
    heartbeat: Duration,
}

impl StatusTopic {
    /// Opens `topic`, reads it to the end and follows it until `stop`.
    ///
    /// # Errors
    /// When Kafka cannot be read.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
        heartbeat: Duration,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let reports: Reports = Arc::default();
        let sink = reports.clone();
        let log = TopicLog::open(kafka, topic, move |k, v| apply_status(&sink, k, v), stop).await?;
        Ok(Self {
            log,
            reports,
            heartbeat,
        })
    }

    /// Writes this worker's report (`None`: it left) and returns once
    /// this worker has read it back.
    ///
    /// # Errors
    /// When Kafka does not take it in time.
    pub async fn write(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        self.log.write(key, value).await
    }

    /// Sends a report without waiting to read it back (on the way out).
    ///
    /// # Errors
    /// When Kafka does not take it.
    pub async fn send(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        self.log.send(key, value).await
    }
}

impl StatusView for StatusTopic {
    fn live_reports(&self) -> Vec<InstanceReport> {
        let horizon = self.heartbeat * 3;
        lock(&self.reports)
            .values()
            .filter(|(_, seen)| seen.elapsed() <= horizon)
            .map(|(r, _)| r.clone())
            .collect()
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
