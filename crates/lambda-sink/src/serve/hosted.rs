//! The connectors hosted on this worker ([`Host`]): each one's desired
//! state, status and metrics, and this worker's report of them. Every
//! worker supervises every connector; it runs (and reports) only the
//! tasks placed on it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lambda_sink_core::connect::records::ConnectorEntry;
use lambda_sink_core::connect::status::{InstanceReport, State};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::Events;
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use crate::sync::lock;

/// One hosted connector.
pub(super) struct Hosted {
    pub(super) desired: watch::Sender<Option<ConnectorEntry>>,
    pub(super) status: Arc<Mutex<Arc<ServiceStatus>>>,
    pub(super) metrics: Arc<Metrics>,
    /// Its event log on this worker.
    pub(super) events: Arc<Events>,
    pub(super) join: JoinHandle<()>,
}

/// The connectors hosted here, by name.
#[derive(Default)]
pub struct Host {
    pub(super) hosted: Mutex<BTreeMap<String, Hosted>>,
    /// Bumped on every local status change, so the reporter writes at once.
    pub(super) changed: tokio::sync::Notify,
}

impl Host {
    /// This worker's report of every connector it holds tasks of (or
    /// has stopped, or failed to start).
    pub fn report(&self, worker_id: &str) -> InstanceReport {
        let hosted = lock(&self.hosted);
        InstanceReport {
            worker_id: worker_id.to_string(),
            connectors: hosted
                .iter()
                .map(|(name, h)| (name.clone(), lock(&h.status).report()))
                .filter(|(_, r)| !(r.tasks.is_empty() && r.state == State::Unassigned))
                .collect(),
        }
    }

    /// Connector `name`'s event log on this worker.
    pub(super) fn events(&self, name: &str) -> Option<Arc<Events>> {
        lock(&self.hosted).get(name).map(|h| h.events.clone())
    }

    /// Every hosted connector's metrics.
    pub fn metrics(&self) -> Vec<(String, Arc<Metrics>)> {
        lock(&self.hosted)
            .iter()
            .map(|(name, h)| (name.clone(), h.metrics.clone()))
            .collect()
    }
}
