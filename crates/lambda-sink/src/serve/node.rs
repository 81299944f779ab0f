//! A running worker ([`Node`]): its configuration and identity, the
//! administration of the cluster's connectors, the topics it follows and
//! reports to, and the connectors it hosts.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::admin::Admin;
use super::cluster::{ConfigTopic, StatusTopic};
use super::console::series::Series;
use super::hosted::Host;
use super::journal::ClusterEvents;
use super::placement::Placement;
use crate::kafka::producer::Producers;
use lambda_sink_core::config::worker::WorkerConfig;

/// What every part of a running worker shares: the REST API, the console,
/// the supervisor loops.
pub struct Node {
    /// The worker's configuration.
    pub config: WorkerConfig,
    /// This worker's advertised `host:port`.
    pub worker_id: String,
    /// The Kafka cluster id (`GET /`).
    pub kafka_cluster_id: String,
    /// The connectors' administration: every change to the cluster goes
    /// through it.
    pub admin: Admin,
    /// The config topic, to follow the cluster state.
    pub configs: Arc<ConfigTopic>,
    /// The status topic, where this worker reports.
    pub statuses: Arc<StatusTopic>,
    /// The connectors hosted here.
    pub host: Host,
    /// Which of their tasks run here.
    pub(super) placement: Placement,
    /// Cancelled to stop the worker.
    pub shutdown: CancellationToken,
    /// The console's plot data.
    pub series: Series,
    /// The outcome producers its connectors share.
    pub producers: Producers,
    /// Every connector's events, from every worker.
    pub events: ClusterEvents,
}
