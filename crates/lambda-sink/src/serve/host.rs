//! Hosting the connectors: the supervisor loops.
//!
//! [`reconcile`] follows the cluster state: a connector that appears gets a
//! supervisor, one that disappears is told to go. Each [`supervise`] loop
//! runs its connector's pipeline while the target state is STARTED, stops
//! it (draining and committing, as a SIGTERM would) when the config, the
//! target state or a restart request says so, and starts it again as the
//! new state says. A pipeline that fails stays FAILED, with its reason as
//! the trace, until a restart or a new config; it never affects another
//! connector. [`report`] writes this worker's status record on every
//! change and at each heartbeat.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lambda_sink_core::config::{Config, ConnectorId, KafkaConfig};
use lambda_sink_core::connect::infos::invalid_message;
use lambda_sink_core::connect::records::{ConnectorEntry, TargetState};
use lambda_sink_core::connect::status::{State, report_key};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};

use super::hosted::Hosted;
use super::node::Node;
use crate::metrics::Metrics;
use crate::pipeline::{self, RunError, Telemetry};
use crate::status::ServiceStatus;
use crate::sync::lock;
use lambda_sink_core::Invalid;

/// Follows the cluster state until shutdown, then stops every connector
/// and waits for their drains.
pub(super) async fn reconcile(worker: Arc<Node>) {
    let mut cluster = worker.configs.watch();
    // Supervisors of deleted connectors, still draining and deleting the
    // group: a connector created again under the name waits for its
    // predecessor.
    let mut leaving: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
    loop {
        let state = cluster.borrow_and_update().clone();
        leaving.retain(|_, j| !j.is_finished());
        {
            let mut hosted = lock(&worker.host.hosted);
            let deleted: Vec<String> = hosted
                .keys()
                .filter(|name| state.get(name).is_none())
                .cloned()
                .collect();
            for name in deleted {
                if let Some(h) = hosted.remove(&name) {
                    h.desired.send_replace(None);
                    leaving.insert(name, h.join);
                }
            }
            for (name, entry) in state.connectors() {
                match hosted.get(name) {
                    Some(h) => {
                        h.desired.send_if_modified(|d| {
                            let changed = d.as_ref() != Some(entry);
                            *d = Some(entry.clone());
                            changed
                        });
                    }
                    None => {
                        let h = start(&worker, name, entry.clone(), leaving.remove(name));
                        hosted.insert(name.clone(), h);
                    }
                }
            }
        }
        tokio::select! {
            () = worker.shutdown.cancelled() => break,
            changed = cluster.changed() => if changed.is_err() { break },
        }
    }
    let joins: Vec<JoinHandle<()>> = {
        let mut hosted = lock(&worker.host.hosted);
        std::mem::take(&mut *hosted)
            .into_values()
            .map(|h| h.join)
            .chain(leaving.into_values())
            .collect()
    };
    for j in joins {
        let _ = j.await;
    }
}

fn start(
    worker: &Arc<Node>,
    name: &str,
    entry: ConnectorEntry,
    predecessor: Option<JoinHandle<()>>,
) -> Hosted {
    let (desired, rx) = watch::channel(Some(entry));
    let status = Arc::new(Mutex::new(Arc::new(ServiceStatus::new(name, name, 0))));
    let metrics = Arc::new(Metrics::new());
    let (w, n, s) = (worker.clone(), name.to_string(), status.clone());
    let m = metrics.clone();
    let join = tokio::spawn(async move {
        if let Some(p) = predecessor {
            let _ = p.await;
        }
        supervise(w, n, rx, s, m).await;
    });
    Hosted {
        desired,
        status,
        metrics,
        join,
    }
}

/// Whether moving from `old` to `new` needs the pipeline on `worker_id`
/// restarted, given whether it has `failed`.
fn needs_restart(
    old: &ConnectorEntry,
    new: Option<&ConnectorEntry>,
    failed: bool,
    worker_id: &str,
) -> bool {
    let Some(new) = new else { return true };
    let r = &new.restart;
    new.config != old.config
        || new.target != old.target
        || (r.seq != old.restart.seq
            && (failed || !r.only_failed)
            && r.worker.as_deref().is_none_or(|w| w == worker_id))
}

#[allow(
    clippy::too_many_lines,
    reason = "one connector's state machine (run, stop, fail, restart) as one loop; its states are easier to check side by side"
)]
async fn supervise(
    worker: Arc<Node>,
    name: String,
    mut desired: watch::Receiver<Option<ConnectorEntry>>,
    slot: Arc<Mutex<Arc<ServiceStatus>>>,
    metrics: Arc<Metrics>,
) {
    let publish = |status: Arc<ServiceStatus>| {
        *lock(&slot) = status;
        worker.host.changed.notify_one();
    };
    // The group to delete when the connector is deleted.
    let mut group: Option<(KafkaConfig, ConnectorId)> =
        ConnectorId::sanitize(&name).map(|id| (worker.config.kafka.clone(), id));
    let Some(mut seen) = desired.borrow_and_update().clone() else {
        return;
    };
    loop {
        let mut failed = false;
        match seen.target {
            TargetState::Paused | TargetState::Stopped => {
                let tasks = seen
                    .config
                    .get("tasks.max")
                    .and_then(|v| v.as_str()?.trim().parse().ok())
                    .unwrap_or(1);
                let status = ServiceStatus::new(&name, &name, tasks);
                status.set_worker_id(&worker.worker_id);
                status.set(if seen.target == TargetState::Paused {
                    State::Paused
                } else {
                    State::Stopped
                });
                publish(Arc::new(status));
            }
            TargetState::Started => match config_of(&worker, &seen).await {
                Err(trace) => {
                    let status = ServiceStatus::new(&name, &name, 1);
                    status.set_worker_id(&worker.worker_id);
                    status.failed(trace.reason());
                    publish(Arc::new(status));
                    failed = true;
                }
                Ok(config) => {
                    group = Some((config.kafka.clone(), config.connector_id.clone()));
                    let status = Arc::new(ServiceStatus::new(
                        &name,
                        config.connector_id.as_str(),
                        config.tasks_max,
                    ));
                    status.set_worker_id(&worker.worker_id);
                    publish(status.clone());
                    failed = run(&worker, config, &mut desired, &mut seen, status, &metrics).await;
                    worker.host.changed.notify_one();
                }
            },
        }
        if worker.shutdown.is_cancelled() {
            return;
        }
        // Wait for a change that needs a new run.
        loop {
            let current = desired.borrow_and_update().clone();
            if needs_restart(&seen, current.as_ref(), failed, &worker.worker_id) {
                match current {
                    Some(next) => {
                        seen = next;
                        break;
                    }
                    None => {
                        deleted(&worker, &name, group.as_ref()).await;
                        return;
                    }
                }
            }
            if let Some(next) = current {
                if next.topics_resets != seen.topics_resets {
                    lock(&slot).reset_topics();
                    worker.host.changed.notify_one();
                }
                seen = next;
            }
            tokio::select! {
                () = worker.shutdown.cancelled() => return,
                changed = desired.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Runs the pipeline until it ends or `desired` needs it restarted;
/// whether it failed. `seen` follows the changes that need no restart.
async fn run(
    worker: &Node,
    config: Config,
    desired: &mut watch::Receiver<Option<ConnectorEntry>>,
    seen: &mut ConnectorEntry,
    status: Arc<ServiceStatus>,
    metrics: &Arc<Metrics>,
) -> bool {
    let stop = worker.shutdown.child_token();
    let telemetry = Telemetry {
        metrics: metrics.clone(),
        status: status.clone(),
    };
    let span = tracing::info_span!("connector", name = %status.name());
    let pipeline = pipeline::run(config, stop.clone(), telemetry).instrument(span);
    tokio::pin!(pipeline);
    let result = loop {
        tokio::select! {
            r = &mut pipeline => break r,
            changed = desired.changed() => {
                let current = desired.borrow().clone();
                if changed.is_err() || needs_restart(seen, current.as_ref(), false, &worker.worker_id) {
                    status.set(State::Restarting);
                    worker.host.changed.notify_one();
                    stop.cancel();
                    break pipeline.await;
                }
                if let Some(next) = current {
                    if next.topics_resets != seen.topics_resets {
                        status.reset_topics();
                        worker.host.changed.notify_one();
                    }
                    *seen = next;
                }
            }
        }
    };
    match result {
        Ok(()) => false,
        Err(_) if stop.is_cancelled() && worker.shutdown.is_cancelled() => false,
        Err(RunError::Abandoned) if stop.is_cancelled() => false,
        Err(e) => {
            warn!(connector = %status.name(), error = %e, "connector failed");
            status.failed(&e.to_string());
            true
        }
    }
}

/// A deleted connector: this worker left its group; the last one out
/// deletes the group.
async fn deleted(worker: &Node, name: &str, group: Option<&(KafkaConfig, ConnectorId)>) {
    info!(connector = %name, "connector deleted");
    if let Some((kafka, id)) = group {
        super::offsets::delete_group_when_empty(kafka, id).await;
    }
    worker.host.changed.notify_one();
}

/// The validated configuration of `entry`, or why it cannot run.
async fn config_of(worker: &Node, entry: &ConnectorEntry) -> Result<Config, Invalid> {
    let v = worker.admin.validate(&entry.config).await;
    v.config
        .ok_or_else(|| Invalid::new(invalid_message(&v.errors)))
}

/// Writes this worker's status record on every change (noticed at once
/// for state changes, within 250 ms for the topics a task meets) and at
/// every heartbeat; on shutdown, once every connector stopped, a
/// tombstone.
pub(super) async fn report(worker: Arc<Node>, done: tokio::sync::oneshot::Receiver<()>) {
    let key = report_key(&worker.worker_id);
    let mut last = String::new();
    let mut written = tokio::time::Instant::now();
    let mut check = tokio::time::interval(std::time::Duration::from_millis(250));
    tokio::pin!(done);
    loop {
        tokio::select! {
            _ = &mut done => break,
            _ = check.tick() => {}
            () = worker.host.changed.notified() => {}
        }
        let text = match serde_json::to_string(&worker.host.report(&worker.worker_id)) {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "cannot encode the status record");
                continue;
            }
        };
        if text == last && written.elapsed() < worker.config.heartbeat {
            continue;
        }
        if let Err(e) = worker.statuses.write(&key, Some(text.as_bytes())).await {
            warn!(error = %e, "cannot write this worker's status; retrying");
            continue;
        }
        last = text;
        written = tokio::time::Instant::now();
    }
    if let Err(e) = worker.statuses.send(&key, None).await {
        warn!(error = %e, "cannot remove this worker's status record; it lapses after 3 heartbeats");
    }
}
