//! Hosting the connectors: the supervisor loops.
//!
//! [`reconcile`] follows the cluster state: a connector that appears gets a
//! supervisor and its task slots a place in the workers' placement group,
//! one that disappears is told to go. Each [`supervise`] loop runs the
//! connector's tasks placed on this worker while the target state is
//! STARTED, stops them (draining and committing, as a SIGTERM would) when
//! the config, the target state, a restart request or the placement says
//! so, and starts them again as the new state says. A pipeline that fails
//! stays FAILED, with its reason as the trace, until a restart, a new
//! config or a new placement; it never affects another connector.
//! [`report`] writes this worker's status record on every change and at
//! each heartbeat.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_sink_core::config::{Config, ConnectorId, KafkaConfig};
use lambda_sink_core::connect::infos::invalid_message;
use lambda_sink_core::connect::placement::{
    Owned, SlotTopics, Slots, in_flight_share, slot_topic, tasks_max,
};
use lambda_sink_core::connect::records::{ClusterState, ConnectorEntry, Props, TargetState};
use lambda_sink_core::connect::status::{State, report_key};
use lambda_sink_core::journal::{Event, Level};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, info, warn};

use super::hosted::Hosted;
use super::node::Node;
use crate::events::Events;
use crate::metrics::Metrics;
use crate::pipeline::{self, Orders, RunError, Telemetry};
use crate::status::ServiceStatus;
use crate::sync::lock;
use lambda_sink_core::Invalid;

/// How soon placing the task slots is tried again after Kafka refused.
const PLACE_RETRY: Duration = Duration::from_secs(5);

/// The slot topics of every connector in `state`.
fn slot_topics(group: &str, state: &ClusterState) -> SlotTopics {
    state
        .connectors()
        .iter()
        .filter_map(|(name, entry)| {
            let id = ConnectorId::sanitize(name)?;
            let slots = Slots {
                connector: name.clone(),
                tasks: tasks_max(&entry.config),
            };
            Some((slot_topic(group, id.as_str()), slots))
        })
        .collect()
}

/// Follows the cluster state until shutdown, then stops every connector
/// and waits for their drains.
pub(super) async fn reconcile(worker: Arc<Node>) {
    let mut cluster = worker.configs.watch();
    // Supervisors of deleted connectors, still draining and deleting the
    // group: a connector created again under the name waits for its
    // predecessor.
    let mut leaving: BTreeMap<String, JoinHandle<()>> = BTreeMap::new();
    let mut placed = true;
    loop {
        let state = cluster.borrow_and_update().clone();
        leaving.retain(|_, j| !j.is_finished());
        let slots = slot_topics(&worker.config.group_id, &state);
        placed = match worker.placement.want(slots).await {
            Ok(()) => true,
            Err(e) => {
                if placed {
                    warn!(error = %e, "cannot place the connectors' tasks; retrying every {PLACE_RETRY:?}");
                }
                false
            }
        };
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
        let retry = async {
            if placed {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(PLACE_RETRY).await;
        };
        tokio::select! {
            () = worker.shutdown.cancelled() => break,
            changed = cluster.changed() => if changed.is_err() { break },
            () = retry => {}
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
    // Its event log, kept across its runs here and published to the
    // cluster's events topic.
    let events = Arc::new(Events::published(
        worker.events.publisher(name, &worker.worker_id),
    ));
    let orders = Orders::default();
    let (w, n, s) = (worker.clone(), name.to_string(), status.clone());
    let (m, e) = (metrics.clone(), events.clone());
    let join = tokio::spawn(async move {
        if let Some(p) = predecessor {
            let _ = p.await;
        }
        supervise(w, n, rx, s, (m, e, orders)).await;
    });
    Hosted {
        desired,
        status,
        metrics,
        events,
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
        || new.moving() != old.moving()
        || (r.seq != old.restart.seq
            && (failed || !r.only_failed)
            && r.worker.as_deref().is_none_or(|w| w == worker_id))
}

/// What the tasks stopping for a change to `current` have seen: the move
/// they stop for, so that its end (which may come before their drain
/// does) starts them again. The other changes are picked up after the
/// run, by [`needs_restart`].
fn stopping_for(seen: &mut ConnectorEntry, current: Option<&ConnectorEntry>) {
    if let Some(next) = current {
        seen.moved.clone_from(&next.moved);
    }
}

/// The tasks of `name` placed on this worker, marking them seen.
fn placed_here(placed: &mut watch::Receiver<Owned>, name: &str) -> BTreeSet<usize> {
    placed
        .borrow_and_update()
        .get(name)
        .cloned()
        .unwrap_or_default()
}

/// Whether the tasks of `name` placed here are no longer `tasks`.
fn moved(placed: &watch::Receiver<Owned>, name: &str, tasks: &BTreeSet<usize>) -> bool {
    placed
        .borrow()
        .get(name)
        .map_or(!tasks.is_empty(), |now| now != tasks)
}

/// One connector on this worker: what it should run now, and the
/// changes that need a new run.
struct Supervised {
    worker: Arc<Node>,
    name: String,
    desired: watch::Receiver<Option<ConnectorEntry>>,
    placed: watch::Receiver<Owned>,
    slot: Arc<Mutex<Arc<ServiceStatus>>>,
    metrics: Arc<Metrics>,
    events: Arc<Events>,
    orders: Orders,
}

impl Supervised {
    fn publish(&self, status: Arc<ServiceStatus>) {
        *lock(&self.slot) = status;
        self.worker.host.changed.notify_one();
    }

    /// A status of `tasks` on this worker.
    fn status(&self, id: &str, tasks: &BTreeSet<usize>) -> ServiceStatus {
        let status = ServiceStatus::of_tasks(&self.name, id, tasks.iter().copied().collect())
            .failures_to(self.metrics.connector_failed.clone());
        status.set_worker_id(&self.worker.worker_id);
        status
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one connector's state machine (run, stop, fail, restart, move) as one loop; its states are easier to check side by side"
)]
async fn supervise(
    worker: Arc<Node>,
    name: String,
    desired: watch::Receiver<Option<ConnectorEntry>>,
    slot: Arc<Mutex<Arc<ServiceStatus>>>,
    (metrics, events, orders): (Arc<Metrics>, Arc<Events>, Orders),
) {
    let placed = worker.placement.owned();
    let mut s = Supervised {
        worker,
        name,
        desired,
        placed,
        slot,
        metrics,
        events,
        orders,
    };
    let mut last: Option<(TargetState, BTreeSet<usize>)> = None;
    // The group to delete when the connector is deleted.
    let mut group: Option<(KafkaConfig, ConnectorId)> =
        ConnectorId::sanitize(&s.name).map(|id| (s.worker.config.kafka.clone(), id));
    let Some(mut seen) = s.desired.borrow_and_update().clone() else {
        return;
    };
    loop {
        let mut failed = false;
        let tasks = placed_here(&mut s.placed, &s.name);
        lifecycle(&s.events, last.as_ref(), seen.target, &tasks);
        last = Some((seen.target, tasks.clone()));
        match seen.target {
            _ if tasks.is_empty() => s.publish(Arc::new(s.status(&s.name, &tasks))),
            // Stopped (drained and committed) until the move ends.
            _ if seen.moving() => {
                let status = s.status(&s.name, &tasks);
                status.set(State::Restarting);
                s.publish(Arc::new(status));
            }
            TargetState::Paused | TargetState::Stopped => {
                let status = s.status(&s.name, &tasks);
                status.set(if seen.target == TargetState::Paused {
                    State::Paused
                } else {
                    State::Stopped
                });
                s.publish(Arc::new(status));
            }
            TargetState::Started => match config_of(&s.worker, &seen).await {
                Err(trace) => {
                    s.events.record(Event::new(
                        Level::Error,
                        "failed",
                        format!("the configuration cannot run: {}", trace.reason()),
                    ));
                    let status = s.status(&s.name, &tasks);
                    status.failed(trace.reason());
                    s.publish(Arc::new(status));
                    failed = true;
                }
                Ok(mut config) => {
                    group = Some((config.kafka.clone(), config.connector_id.clone()));
                    config.lambda.max_in_flight =
                        in_flight_share(config.lambda.max_in_flight, config.tasks_max, tasks.len());
                    let status = Arc::new(s.status(config.connector_id.as_str(), &tasks));
                    s.publish(status.clone());
                    s.worker.placement.running(&s.name, &tasks);
                    failed = run(&mut s, config, &tasks, &mut seen, status).await;
                    s.worker.placement.running(&s.name, &BTreeSet::new());
                    s.worker.host.changed.notify_one();
                }
            },
        }
        if s.worker.shutdown.is_cancelled() {
            return;
        }
        // Wait for a change that needs a new run.
        loop {
            if moved(&s.placed, &s.name, &tasks) {
                break;
            }
            let current = s.desired.borrow_and_update().clone();
            if needs_restart(&seen, current.as_ref(), failed, &s.worker.worker_id) {
                match current {
                    Some(next) => {
                        seen = next;
                        break;
                    }
                    None => {
                        deleted(&s.worker, &s.name, group.as_ref()).await;
                        return;
                    }
                }
            }
            if let Some(next) = current {
                if next.topics_resets != seen.topics_resets {
                    lock(&s.slot).reset_topics();
                    s.worker.host.changed.notify_one();
                }
                seen = next;
            }
            tokio::select! {
                () = s.worker.shutdown.cancelled() => return,
                changed = s.desired.changed() => if changed.is_err() { return },
                changed = s.placed.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// Runs the pipeline of `tasks` until it ends or a change needs it
/// restarted (the desired state, or the tasks placed here); whether it
/// failed. `seen` follows the changes that need no restart.
async fn run(
    s: &mut Supervised,
    config: Config,
    tasks: &BTreeSet<usize>,
    seen: &mut ConnectorEntry,
    status: Arc<ServiceStatus>,
) -> bool {
    let worker = s.worker.clone();
    let stop = worker.shutdown.child_token();
    let telemetry = Telemetry {
        metrics: s.metrics.clone(),
        status: status.clone(),
        tracer: crate::otel::tracer(),
        events: s.events.clone(),
        orders: s.orders.clone(),
    };
    let span = tracing::info_span!("connector", name = %status.name());
    let ids: Vec<usize> = tasks.iter().copied().collect();
    let pipeline =
        pipeline::run(config, &ids, stop.clone(), telemetry, &worker.producers).instrument(span);
    tokio::pin!(pipeline);
    let restart = |status: &ServiceStatus| {
        status.set(State::Restarting);
        worker.host.changed.notify_one();
        stop.cancel();
    };
    let result = loop {
        tokio::select! {
            r = &mut pipeline => break r,
            changed = s.desired.changed() => {
                let current = s.desired.borrow().clone();
                if changed.is_err() || needs_restart(seen, current.as_ref(), false, &worker.worker_id) {
                    if let Some(next) = current.as_ref().filter(|n| n.config != seen.config) {
                        s.events.record(Event::new(
                            Level::Info,
                            "config_changed",
                            format!("the configuration changed ({}): restarting", changed_keys(&seen.config, &next.config)),
                        ));
                    } else if let Some(m) = current.as_ref().and_then(|n| n.moved.as_ref()).filter(|m| m.pending()) {
                        s.events.record(Event::new(
                            Level::Info,
                            "moving",
                            format!("moving to new offsets (move {}): its tasks drain, commit and stop until the positions are set", m.id),
                        ));
                    } else if current.as_ref().is_some_and(|n| n.restart.seq != seen.restart.seq) {
                        s.events.record(Event::new(Level::Info, "restarting", "a restart was requested"));
                    }
                    stopping_for(seen, current.as_ref());
                    restart(&status);
                    break pipeline.await;
                }
                if let Some(next) = current {
                    if next.topics_resets != seen.topics_resets {
                        status.reset_topics();
                        worker.host.changed.notify_one();
                    }
                    if next.park_order != seen.park_order
                        && let Some(order) = &next.park_order
                    {
                        for (topic, partition) in &order.places {
                            s.orders.give(topic, *partition, order.key.clone(), order.skip);
                        }
                    }
                    *seen = next;
                }
            }
            changed = s.placed.changed() => {
                if changed.is_err() || moved(&s.placed, &s.name, tasks) {
                    info!(connector = %status.name(), "the tasks placed on this worker changed: restarting its tasks");
                    restart(&status);
                    break pipeline.await;
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

/// Records what changed between runs: the target state (paused, stopped,
/// resumed) and the tasks placed on this worker.
fn lifecycle(
    events: &Events,
    last: Option<&(TargetState, BTreeSet<usize>)>,
    target: TargetState,
    tasks: &BTreeSet<usize>,
) {
    let (was, had) = match last {
        Some((was, had)) => (Some(*was), Some(had)),
        None => (None, None),
    };
    if had != Some(tasks) {
        events.record(Event::new(
            Level::Info,
            "tasks_placed",
            format!("tasks placed on this worker: {tasks:?}"),
        ));
    }
    let change = match (was, target) {
        (Some(w), t) if w == t => None,
        (_, TargetState::Paused) => Some(("paused", "paused: its tasks stop consuming")),
        (_, TargetState::Stopped) => Some(("stopped", "stopped: its tasks are shut down")),
        (Some(_), TargetState::Started) => Some(("resumed", "resumed")),
        (None, TargetState::Started) => None,
    };
    if let Some((event, message)) = change {
        events.record(Event::new(Level::Info, event, message));
    }
}

/// The keys whose values differ between `old` and `new`, for the event
/// log (names only: values may be secrets).
fn changed_keys(old: &Props, new: &Props) -> String {
    let keys: Vec<&str> = old
        .keys()
        .chain(new.keys())
        .filter(|k| old.get(*k) != new.get(*k))
        .map(String::as_str)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    keys.join(", ")
}

/// A deleted connector: this worker left its group; the last one out
/// deletes the group. Its slot topic goes too, unless a connector of the
/// same name was created meanwhile.
async fn deleted(worker: &Node, name: &str, group: Option<&(KafkaConfig, ConnectorId)>) {
    info!(connector = %name, "connector deleted");
    if let Some((kafka, id)) = group {
        super::offsets::delete_group_when_empty(kafka, id).await;
        if worker.admin.state().get(name).is_none() {
            worker
                .placement
                .delete(&slot_topic(&worker.config.group_id, id.as_str()))
                .await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sink_core::connect::moves::{Move, State as MoveState};

    fn entry(target: TargetState, moved: Option<MoveState>) -> ConnectorEntry {
        ConnectorEntry {
            config: Props::new(),
            target,
            restart: lambda_sink_core::connect::records::Restart::default(),
            topics_resets: 0,
            redrives: None,
            moved: moved.map(|state| Move {
                id: "1-w".into(),
                worker: "w".into(),
                requested_at: 1,
                timestamp: None,
                offsets: Vec::new(),
                state,
                finished_at: None,
                error: None,
            }),
            replays: Vec::new(),
            cancel_replay: None,
            park_order: None,
        }
    }

    #[test]
    fn a_move_stops_the_tasks_and_its_end_starts_them_even_when_it_ends_during_the_drain() {
        let running = entry(TargetState::Started, None);
        let pending = entry(TargetState::Started, Some(MoveState::Pending));
        let done = entry(TargetState::Started, Some(MoveState::Done));
        let rows = [
            (&running, &pending, true),
            (&pending, &done, true),
            (&pending, &pending, false),
            (&running, &running, false),
        ];
        for (old, new, wanted) in rows {
            assert_eq!(
                needs_restart(old, Some(new), false, "w"),
                wanted,
                "{old:?} -> {new:?}"
            );
        }
        // Stopped for the move, which ended before the drain did: what the
        // run saw must still differ from the ended move.
        let mut seen = running.clone();
        stopping_for(&mut seen, Some(&pending));
        assert!(needs_restart(&seen, Some(&done), false, "w"));
        assert!(
            !needs_restart(&running, Some(&done), false, "w"),
            "the case that stalled"
        );
        // Other changes still restart after the run.
        let mut seen = running.clone();
        let paused = entry(TargetState::Paused, None);
        stopping_for(&mut seen, Some(&paused));
        assert!(needs_restart(&seen, Some(&paused), false, "w"));
    }
}
