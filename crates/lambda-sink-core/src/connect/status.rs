//! Connector and task states, each instance's status record, and the
//! cluster-wide status Kafka Connect's REST API shows, aggregated from them.
//!
//! Connect's status topic holds one record per connector and per task,
//! written by the worker its leader assigned them to. lambda-sink has no
//! leader: every instance hosts every connector and Kafka's consumer group
//! shares the partitions. So each instance writes one record of its own,
//! `worker-<worker_id>` → [`InstanceReport`], on every change and as a
//! heartbeat; readers drop an instance whose heartbeat lapsed. A
//! connector's tasks are the tasks of every live instance, numbered in
//! `worker_id` order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::records::TargetState;

/// Kafka Connect's six connector and task states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum State {
    /// Not running yet.
    Unassigned,
    /// Consuming and invoking.
    Running,
    /// Paused on request.
    Paused,
    /// Stopped by a failure; a trace says why.
    Failed,
    /// Restarting on request.
    Restarting,
    /// Stopped on request (connectors only; a stopped connector has no tasks).
    Stopped,
}

impl State {
    /// Connect's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unassigned => "UNASSIGNED",
            Self::Running => "RUNNING",
            Self::Paused => "PAUSED",
            Self::Failed => "FAILED",
            Self::Restarting => "RESTARTING",
            Self::Stopped => "STOPPED",
        }
    }
}

/// A task's state on one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReport {
    /// State.
    pub state: State,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// A connector's state on one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorReport {
    /// State.
    pub state: State,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Its tasks on this instance (`tasks.max` of them while it runs).
    #[serde(default)]
    pub tasks: Vec<TaskReport>,
    /// Topics its tasks consumed from since it started or was reset.
    #[serde(default)]
    pub topics: Vec<String>,
}

/// Everything one instance reports (the value of `worker-<worker_id>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceReport {
    /// The instance's advertised `host:port`.
    pub worker_id: String,
    /// Each connector it hosts.
    pub connectors: BTreeMap<String, ConnectorReport>,
}

/// The status topic key of an instance's report.
pub fn report_key(worker_id: &str) -> String {
    format!("worker-{worker_id}")
}

/// The worker id of a status topic key, when it is a report's.
pub fn report_worker(key: &str) -> Option<&str> {
    key.strip_prefix("worker-")
}

/// One task of a connector across the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterTask<'a> {
    /// Its cluster-wide id.
    pub id: usize,
    /// The instance running it.
    pub worker_id: &'a str,
    /// Its state there.
    pub report: &'a TaskReport,
}

/// Every task of `name` on the `live` instances, numbered in `worker_id`
/// order, then in the instance's own order.
pub fn cluster_tasks<'a>(name: &str, live: &'a [InstanceReport]) -> Vec<ClusterTask<'a>> {
    let mut hosts: Vec<&InstanceReport> = live
        .iter()
        .filter(|r| r.connectors.contains_key(name))
        .collect();
    hosts.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
    hosts
        .into_iter()
        .flat_map(|r| {
            r.connectors[name]
                .tasks
                .iter()
                .map(move |t| (r.worker_id.as_str(), t))
        })
        .enumerate()
        .map(|(id, (worker_id, report))| ClusterTask {
            id,
            worker_id,
            report,
        })
        .collect()
}

/// A failed state must carry a trace (tools read it without a null check).
fn trace_of(state: State, trace: Option<&String>) -> Option<String> {
    (state == State::Failed).then(|| {
        trace
            .cloned()
            .unwrap_or_else(|| "failed (no reason was reported)".into())
    })
}

fn state_json(state: State, worker_id: &str, trace: Option<String>) -> Value {
    let mut v = json!({ "state": state.as_str(), "worker_id": worker_id });
    if let Some(t) = trace {
        v["trace"] = json!(t);
    }
    v
}

/// A task's `{"id", "state", "worker_id"[, "trace"]}`.
pub fn task_json(task: &ClusterTask<'_>) -> Value {
    let mut v = json!({ "id": task.id });
    let state = state_json(
        task.report.state,
        task.worker_id,
        trace_of(task.report.state, task.report.trace.as_ref()),
    );
    if let (Some(v), Value::Object(state)) = (v.as_object_mut(), state) {
        v.extend(state);
    }
    v
}

/// Connect's `ConnectorStateInfo` of `name`: the connector is FAILED when
/// it failed on any instance, STOPPED or PAUSED as its target state says
/// once every instance got there, RUNNING when it runs on any, otherwise
/// UNASSIGNED (shown on `fallback_worker`, the instance answering, until
/// one reports).
pub fn connector_state_info(
    name: &str,
    target: TargetState,
    live: &[InstanceReport],
    fallback_worker: &str,
) -> Value {
    let mut hosts: Vec<(&str, &ConnectorReport)> = live
        .iter()
        .filter_map(|r| r.connectors.get(name).map(|c| (r.worker_id.as_str(), c)))
        .collect();
    hosts.sort_by(|a, b| a.0.cmp(b.0));
    let failed = hosts.iter().find(|(_, c)| c.state == State::Failed);
    let all = |s: State| !hosts.is_empty() && hosts.iter().all(|(_, c)| c.state == s);
    let (state, worker) = if let Some((w, _)) = failed {
        (State::Failed, *w)
    } else if target == TargetState::Stopped && (hosts.is_empty() || all(State::Stopped)) {
        (
            State::Stopped,
            hosts.first().map_or(fallback_worker, |h| h.0),
        )
    } else if target == TargetState::Paused && all(State::Paused) {
        (State::Paused, hosts[0].0)
    } else if let Some((w, _)) = hosts.iter().find(|(_, c)| c.state == State::Running) {
        (State::Running, *w)
    } else if let Some((w, c)) = hosts.first() {
        (c.state, *w)
    } else {
        (State::Unassigned, fallback_worker)
    };
    let trace = trace_of(state, failed.and_then(|(_, c)| c.trace.as_ref()));
    let tasks: Vec<Value> = if state == State::Stopped {
        Vec::new()
    } else {
        cluster_tasks(name, live).iter().map(task_json).collect()
    };
    json!({
        "name": name,
        "connector": state_json(state, worker, trace),
        "tasks": tasks,
        "type": "sink",
    })
}

/// The topics `name` consumed from on any live instance, sorted.
pub fn active_topics(name: &str, live: &[InstanceReport]) -> Vec<String> {
    let mut topics: Vec<String> = live
        .iter()
        .filter_map(|r| r.connectors.get(name))
        .flat_map(|c| c.topics.iter().cloned())
        .collect();
    topics.sort();
    topics.dedup();
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(worker: &str, state: State, tasks: &[State]) -> InstanceReport {
        let tasks = tasks
            .iter()
            .map(|&s| TaskReport {
                state: s,
                trace: (s == State::Failed).then(|| format!("boom on {worker}")),
            })
            .collect();
        InstanceReport {
            worker_id: worker.into(),
            connectors: [(
                "c".to_string(),
                ConnectorReport {
                    state,
                    trace: None,
                    tasks,
                    topics: vec![format!("t-{worker}"), "shared".into()],
                },
            )]
            .into(),
        }
    }

    #[test]
    fn tasks_of_every_instance_are_numbered_in_worker_order() {
        let live = [
            report("b:2", State::Running, &[State::Running, State::Failed]),
            report("a:1", State::Running, &[State::Running]),
        ];
        let s = connector_state_info("c", TargetState::Started, &live, "x:0");
        assert_eq!(s["type"], "sink");
        assert_eq!(s["connector"]["state"], "RUNNING");
        assert_eq!(s["connector"]["worker_id"], "a:1");
        assert!(s["connector"].get("trace").is_none());
        let tasks = s["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 3);
        assert_eq!(tasks[0]["worker_id"], "a:1");
        assert_eq!(tasks[2]["id"], 2);
        assert_eq!(tasks[2]["state"], "FAILED");
        assert_eq!(tasks[2]["trace"], "boom on b:2");
        assert_eq!(active_topics("c", &live), ["shared", "t-a:1", "t-b:2"]);
    }

    #[test]
    fn the_connector_state_summarises_its_instances() {
        let state = |target, live: &[InstanceReport]| {
            connector_state_info("c", target, live, "me:1")["connector"]["state"].clone()
        };
        assert_eq!(state(TargetState::Started, &[]), "UNASSIGNED");
        assert_eq!(
            connector_state_info("c", TargetState::Started, &[], "me:1")["connector"]["worker_id"],
            "me:1"
        );
        let paused = report("a:1", State::Paused, &[State::Paused]);
        let running = report("b:1", State::Running, &[State::Running]);
        assert_eq!(
            state(TargetState::Paused, &[paused.clone(), running.clone()]),
            "RUNNING",
            "PAUSED only once every instance paused"
        );
        assert_eq!(
            state(TargetState::Paused, std::slice::from_ref(&paused)),
            "PAUSED"
        );
        let stopped = report("a:1", State::Stopped, &[]);
        let s = connector_state_info("c", TargetState::Stopped, &[stopped], "me:1");
        assert_eq!(s["connector"]["state"], "STOPPED");
        assert_eq!(s["tasks"], json!([]));
        let mut failed = report("b:1", State::Failed, &[State::Failed]);
        failed.connectors.get_mut("c").expect("c").trace = None;
        let s = connector_state_info("c", TargetState::Started, &[paused, failed], "me:1");
        assert_eq!(s["connector"]["state"], "FAILED");
        assert_eq!(s["connector"]["worker_id"], "b:1");
        assert!(
            s["connector"]["trace"].is_string(),
            "FAILED always has a trace"
        );
    }

    #[test]
    fn reports_round_trip() {
        let r = report("a:1", State::Failed, &[State::Failed]);
        let text = serde_json::to_string(&r).expect("json");
        assert!(text.contains("\"FAILED\""));
        assert_eq!(
            serde_json::from_str::<InstanceReport>(&text).expect("parse"),
            r
        );
        assert_eq!(report_worker(&report_key("h:8083")), Some("h:8083"));
    }
}
