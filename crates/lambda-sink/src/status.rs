//! The connector's state as `/health` and `/status` report it, in Kafka
//! Connect's status shape: `name`, `connector.{state, worker_id, trace}`,
//! `tasks[].{id, state, worker_id, trace}`, `type: "sink"` (plus `id`, the
//! connector id, an extension `lambda-sink status` shows).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use prometheus_client::metrics::gauge::Gauge;

pub use lambda_sink_core::connect::status::State;
use lambda_sink_core::connect::status::{ConnectorReport, TaskReport};
use serde_json::{Value, json};

struct Inner {
    state: State,
    stopping: bool,
    trace: Option<String>,
    /// The ids of the tasks this instance runs.
    ids: Vec<usize>,
    tasks: Vec<State>,
    worker_id: String,
    /// Topics a task was assigned a partition of.
    topics: BTreeSet<String>,
    /// Stalled partitions (`topic-partition`) by task id.
    stalled: BTreeMap<usize, BTreeSet<String>>,
}

/// Shared by the pipeline (which updates it) and the HTTP endpoint.
pub struct ServiceStatus {
    name: String,
    id: String,
    inner: Mutex<Inner>,
    /// 1 while FAILED (`lambda_sink_connector_failed`), when attached.
    failed_gauge: Option<Gauge>,
}

impl ServiceStatus {
    /// A connector with `tasks` tasks (ids `0..tasks`), starting.
    pub fn new(name: &str, id: &str, tasks: usize) -> Self {
        Self::of_tasks(name, id, (0..tasks).collect())
    }

    /// A connector running the tasks `ids` here, starting.
    pub fn of_tasks(name: &str, id: &str, ids: Vec<usize>) -> Self {
        let host = hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "localhost".into());
        Self {
            name: name.to_string(),
            id: id.to_string(),
            inner: Mutex::new(Inner {
                state: State::Unassigned,
                stopping: false,
                trace: None,
                tasks: vec![State::Unassigned; ids.len()],
                ids,
                worker_id: host,
                topics: BTreeSet::new(),
                stalled: BTreeMap::new(),
            }),
            failed_gauge: None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worker id becomes `host:port` of the HTTP endpoint.
    pub fn set_http_port(&self, port: u16) {
        let mut inner = self.lock();
        inner.worker_id = format!("{}:{port}", inner.worker_id);
    }

    /// The connector's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The worker id is `id` (`serve`: the worker's advertised address).
    pub fn set_worker_id(&self, id: &str) {
        self.lock().worker_id = id.to_string();
    }

    /// Every task is consuming.
    pub fn running(&self) {
        let mut inner = self.lock();
        if inner.state != State::Failed {
            inner.state = State::Running;
            inner.tasks.fill(State::Running);
        }
    }

    /// The connector stopped itself because of `trace`.
    pub fn failed(&self, trace: &str) {
        let mut inner = self.lock();
        inner.state = State::Failed;
        inner.trace = Some(trace.to_string());
        inner.tasks.fill(State::Failed);
        self.gauge(State::Failed);
    }

    /// Reports whether the connector is FAILED to `gauge` (1 or 0) from now.
    #[must_use]
    pub fn failures_to(mut self, gauge: Gauge) -> Self {
        gauge.set(i64::from(self.lock().state == State::Failed));
        self.failed_gauge = Some(gauge);
        self
    }

    fn gauge(&self, state: State) {
        if let Some(g) = &self.failed_gauge {
            g.set(i64::from(state == State::Failed));
        }
    }

    /// A state set from outside the pipeline (`serve`: paused, stopped,
    /// restarting, unassigned); clears a failure.
    pub fn set(&self, state: State) {
        let mut inner = self.lock();
        inner.state = state;
        inner.trace = None;
        inner.stopping = false;
        inner.tasks.fill(state);
        self.gauge(state);
    }

    /// A task was assigned a partition of `topic`.
    pub fn topic_seen(&self, topic: &str) {
        let mut inner = self.lock();
        if !inner.topics.contains(topic) {
            inner.topics.insert(topic.to_string());
        }
    }

    /// Forgets the topics seen (`PUT /connectors/{c}/topics/reset`).
    pub fn reset_topics(&self) {
        self.lock().topics.clear();
    }

    /// What this instance reports of the connector to the status topic.
    pub fn report(&self) -> ConnectorReport {
        let inner = self.lock();
        let trace = |state: State| {
            (state == State::Failed)
                .then(|| inner.trace.clone())
                .flatten()
        };
        let tasks = if inner.state == State::Stopped {
            Vec::new()
        } else {
            inner
                .ids
                .iter()
                .zip(&inner.tasks)
                .map(|(&id, &state)| TaskReport {
                    id: Some(id),
                    state,
                    trace: trace(state),
                    stalled: stalled_of(&inner, id),
                })
                .collect()
        };
        ConnectorReport {
            state: inner.state,
            trace: trace(inner.state),
            tasks,
            topics: inner.topics.iter().cloned().collect(),
        }
    }

    /// Partition `partition` (`topic-partition`) of task `task` stalled,
    /// or moves again.
    pub fn stall(&self, task: usize, partition: &str, stalled: bool) {
        let mut inner = self.lock();
        let of_task = inner.stalled.entry(task).or_default();
        if stalled {
            of_task.insert(partition.to_string());
        } else {
            of_task.remove(partition);
        }
    }

    /// A stop was requested: work is draining.
    pub fn stopping(&self) {
        self.lock().stopping = true;
    }

    /// Whether `/health` answers 200: running and not stopping.
    pub fn healthy(&self) -> bool {
        let inner = self.lock();
        inner.state == State::Running && !inner.stopping
    }

    /// The status document.
    pub fn to_json(&self) -> Value {
        let inner = self.lock();
        let trace = |state: State| match (state, &inner.trace) {
            (State::Failed, Some(t)) => json!(t),
            _ => Value::Null,
        };
        let mut connector = json!({ "state": inner.state.as_str(), "worker_id": inner.worker_id });
        if let Value::String(t) = trace(inner.state) {
            connector["trace"] = json!(t);
        }
        let tasks: Vec<Value> = inner
            .ids
            .iter()
            .zip(&inner.tasks)
            .map(|(id, state)| {
                let mut task =
                    json!({ "id": id, "state": state.as_str(), "worker_id": inner.worker_id });
                if let Value::String(t) = trace(*state) {
                    task["trace"] = json!(t);
                }
                let stalled = stalled_of(&inner, *id);
                if !stalled.is_empty() {
                    task["stalled_partitions"] = json!(stalled);
                }
                task
            })
            .collect();
        json!({
            "name": self.name,
            "id": self.id,
            "connector": connector,
            "tasks": tasks,
            "type": "sink",
        })
    }
}

/// Task `task`'s stalled partitions, in order.
fn stalled_of(inner: &Inner, task: usize) -> Vec<String> {
    inner
        .stalled
        .get(&task)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_shape() {
        let s = ServiceStatus::new("orders", "lcc-1", 2);
        assert!(!s.healthy());
        assert_eq!(s.to_json()["connector"]["state"], "UNASSIGNED");
        s.running();
        assert!(s.healthy());
        let j = s.to_json();
        assert_eq!(j["type"], "sink");
        assert_eq!(j["tasks"][1]["state"], "RUNNING");
        assert!(j["connector"].get("trace").is_none());
        s.stopping();
        assert!(!s.healthy(), "draining is not healthy");
        s.failed("function not found");
        let j = s.to_json();
        assert_eq!(j["connector"]["state"], "FAILED");
        assert_eq!(j["tasks"][0]["trace"], "function not found");
    }

    #[test]
    fn tasks_keep_their_ids() {
        let s = ServiceStatus::of_tasks("orders", "orders", vec![1, 4]);
        s.running();
        let ids: Vec<Option<usize>> = s.report().tasks.iter().map(|t| t.id).collect();
        assert_eq!(ids, [Some(1), Some(4)]);
        assert_eq!(s.to_json()["tasks"][1]["id"], 4);
        s.set(State::Stopped);
        assert!(
            s.report().tasks.is_empty(),
            "a stopped connector has no tasks"
        );
    }

    #[test]
    fn stalled_partitions_show_on_their_task_until_they_move() {
        let s = ServiceStatus::of_tasks("orders", "orders", vec![3, 5]);
        s.running();
        s.stall(5, "t-0", true);
        s.stall(5, "t-2", true);
        let shown = s.to_json();
        assert!(shown["tasks"][0].get("stalled_partitions").is_none());
        assert_eq!(
            shown["tasks"][1]["stalled_partitions"],
            json!(["t-0", "t-2"])
        );
        assert_eq!(s.report().tasks[1].stalled, vec!["t-0", "t-2"]);
        s.stall(5, "t-0", false);
        s.stall(5, "t-2", false);
        assert!(s.to_json()["tasks"][1].get("stalled_partitions").is_none());
        assert!(s.report().tasks[1].stalled.is_empty());
    }

    #[test]
    fn an_attached_gauge_follows_failure() {
        let gauge = Gauge::default();
        let s = ServiceStatus::new("orders", "orders", 1).failures_to(gauge.clone());
        assert_eq!(gauge.get(), 0);
        s.running();
        assert_eq!(gauge.get(), 0);
        s.failed("boom");
        assert_eq!(gauge.get(), 1);
        s.set(State::Restarting);
        assert_eq!(gauge.get(), 0);
    }
}
