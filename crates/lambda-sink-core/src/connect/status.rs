//! Connector and task states, each instance's status record, and the
//! cluster-wide status Kafka Connect's REST API shows, aggregated from them.
//!
//! Connect's status topic holds one record per connector and per task,
//! written by the worker its leader assigned them to. lambda-sink writes
//! one record per worker instead, `worker-<worker_id>` → [`InstanceReport`],
//! on every change and as a heartbeat, listing the connectors it holds
//! tasks of and those tasks by id (placement decides which: see
//! [`super::placement`]); readers drop an instance whose heartbeat lapsed.
//! A connector's tasks are `0..tasks.max`, each shown once: where it runs,
//! or UNASSIGNED while no live instance reports it.

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
    /// Its id (`0..tasks.max`). Absent in reports of workers from before
    /// tasks were placed: those are numbered in `worker_id` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<usize>,
    /// State.
    pub state: State,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
    /// Its partitions (`topic-partition`) stalled now
    /// (`partition.stall.timeout.ms`); shown as `stalled_partitions`, an
    /// extension of Connect's task status.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stalled: Vec<String>,
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

/// Every task of `name` the `live` instances report, by id, each once:
/// when two instances report the same id (a task moving, or the report
/// of a worker that died not lapsed yet) a running one wins, then the
/// first in `worker_id` order. Reports without ids are numbered in
/// `worker_id` order.
pub fn cluster_tasks<'a>(name: &str, live: &'a [InstanceReport]) -> Vec<ClusterTask<'a>> {
    let mut hosts: Vec<&InstanceReport> = live
        .iter()
        .filter(|r| r.connectors.contains_key(name))
        .collect();
    hosts.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
    let mut unnumbered = 0..;
    let mut tasks: BTreeMap<usize, ClusterTask<'a>> = BTreeMap::new();
    for host in hosts {
        for report in &host.connectors[name].tasks {
            let id = report
                .id
                .unwrap_or_else(|| unnumbered.next().unwrap_or_default());
            let task = ClusterTask {
                id,
                worker_id: &host.worker_id,
                report,
            };
            match tasks.get(&id) {
                Some(held)
                    if held.report.state == State::Running || report.state != State::Running => {}
                _ => {
                    tasks.insert(id, task);
                }
            }
        }
    }
    tasks.into_values().collect()
}

/// Task `id` as the status shows it: where it runs, or UNASSIGNED on
/// `fallback_worker` when it is one of `tasks_max` but no live instance
/// reports it; `None` beyond `tasks_max` and unreported.
pub fn task_state(
    name: &str,
    id: usize,
    tasks_max: usize,
    live: &[InstanceReport],
    fallback_worker: &str,
) -> Option<Value> {
    match cluster_tasks(name, live).into_iter().find(|t| t.id == id) {
        Some(t) => Some(task_json(&t)),
        None => (id < tasks_max).then(|| unassigned(id, fallback_worker)),
    }
}

/// A task no live instance reports.
fn unassigned(id: usize, worker_id: &str) -> Value {
    json!({ "id": id, "state": State::Unassigned.as_str(), "worker_id": worker_id })
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

/// A task's `{"id", "state", "worker_id"[, "trace"][, "stalled_partitions"]}`.
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
    if !task.report.stalled.is_empty() {
        v["stalled_partitions"] = json!(task.report.stalled);
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
    tasks_max: usize,
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
        let mut placed = cluster_tasks(name, live).into_iter().peekable();
        let mut tasks = Vec::new();
        // 0..tasks.max, each once; a task reported beyond it (tasks.max
        // just lowered) is shown until its worker stops it.
        for id in 0.. {
            match placed.next_if(|t| t.id == id) {
                Some(t) => tasks.push(task_json(&t)),
                None if id < tasks_max => tasks.push(unassigned(id, fallback_worker)),
                None if placed.peek().is_none() => break,
                None => {}
            }
        }
        tasks
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

    /// A report of tasks `(id, state)`.
    fn report(worker: &str, state: State, tasks: &[(usize, State)]) -> InstanceReport {
        let tasks = tasks
            .iter()
            .map(|&(id, s)| TaskReport {
                id: Some(id),
                state: s,
                trace: (s == State::Failed).then(|| format!("boom on {worker}")),
                stalled: Vec::new(),
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
    fn a_task_shows_its_stalled_partitions_only_when_it_has_some() {
        let mut live = [report("a:1", State::Running, &[(0, State::Running)])];
        let shown = |live: &[InstanceReport]| task_state("c", 0, 1, live, "x:0").expect("task 0");
        assert!(shown(&live).get("stalled_partitions").is_none());
        if let Some(c) = live[0].connectors.get_mut("c") {
            c.tasks[0].stalled = vec!["t-3".into()];
        }
        assert_eq!(shown(&live)["stalled_partitions"], json!(["t-3"]));
        // Through the status topic and back.
        let text = serde_json::to_string(&live[0]).expect("encoded");
        let back: InstanceReport = serde_json::from_str(&text).expect("decoded");
        assert_eq!(
            back.connectors["c"].tasks[0].stalled,
            vec!["t-3".to_string()]
        );
        let quiet = serde_json::to_string(&report("b:2", State::Running, &[(0, State::Running)]))
            .expect("encoded");
        assert!(!quiet.contains("stalled"), "{quiet}");
    }

    #[test]
    fn each_task_is_shown_once_where_it_runs() {
        use State::{Failed, Running, Unassigned};
        let live = [
            report("b:2", State::Running, &[(2, Failed), (0, Running)]),
            report("a:1", State::Running, &[(3, Running)]),
        ];
        let s = connector_state_info("c", TargetState::Started, 4, &live, "x:0");
        assert_eq!(s["type"], "sink");
        assert_eq!(s["connector"]["state"], "RUNNING");
        assert_eq!(s["connector"]["worker_id"], "a:1");
        assert!(s["connector"].get("trace").is_none());
        let shown: Vec<(u64, &str, &str)> = s["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| {
                (
                    t["id"].as_u64().expect("id"),
                    t["state"].as_str().expect("state"),
                    t["worker_id"].as_str().expect("worker"),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (0, "RUNNING", "b:2"),
                (1, Unassigned.as_str(), "x:0"),
                (2, "FAILED", "b:2"),
                (3, "RUNNING", "a:1"),
            ]
        );
        assert_eq!(s["tasks"][2]["trace"], "boom on b:2");
        assert_eq!(active_topics("c", &live), ["shared", "t-a:1", "t-b:2"]);
        // tasks.max lowered: a task beyond it shows until it stops.
        let s = connector_state_info("c", TargetState::Started, 1, &live, "x:0");
        let ids: Vec<&Value> = s["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| &t["id"])
            .collect();
        assert_eq!(ids, [&json!(0), &json!(2), &json!(3)]);
    }

    #[test]
    fn a_task_reported_twice_shows_where_it_runs() {
        use State::{Failed, Restarting, Running};
        type Tasks<'a> = &'a [(usize, State)];
        let cases: [(Tasks<'_>, Tasks<'_>, &str, State); 4] = [
            // The old owner's report has not lapsed yet.
            (&[(0, Running)], &[(0, Running)], "a:1", Running),
            (&[(0, Restarting)], &[(0, Running)], "b:1", Running),
            (&[(0, Running)], &[(0, Failed)], "a:1", Running),
            (&[(0, Failed)], &[(0, Restarting)], "a:1", Failed),
        ];
        for (a, b, worker, state) in cases {
            let live = [
                report("b:1", State::Running, b),
                report("a:1", State::Running, a),
            ];
            let tasks = cluster_tasks("c", &live);
            assert_eq!(tasks.len(), 1, "{a:?} {b:?}");
            assert_eq!(
                (tasks[0].worker_id, tasks[0].report.state),
                (worker, state),
                "{a:?} {b:?}"
            );
        }
    }

    #[test]
    fn reports_without_ids_are_numbered_in_worker_order() {
        let mut live = [
            report(
                "b:2",
                State::Running,
                &[(9, State::Running), (9, State::Failed)],
            ),
            report("a:1", State::Running, &[(9, State::Running)]),
        ];
        for r in &mut live {
            for t in &mut r.connectors.get_mut("c").expect("c").tasks {
                t.id = None;
            }
        }
        let tasks = cluster_tasks("c", &live);
        let shown: Vec<(usize, &str)> = tasks.iter().map(|t| (t.id, t.worker_id)).collect();
        assert_eq!(shown, [(0, "a:1"), (1, "b:2"), (2, "b:2")]);
        let old: TaskReport = serde_json::from_str(r#"{"state":"RUNNING"}"#).expect("old report");
        assert_eq!(old.id, None);
    }

    #[test]
    fn one_tasks_status() {
        let live = [report("a:1", State::Running, &[(1, State::Running)])];
        let one = |id| task_state("c", id, 2, &live, "me:1");
        assert_eq!(one(1).expect("placed")["worker_id"], "a:1");
        let unplaced = one(0).expect("one of tasks.max");
        assert_eq!(
            (unplaced["state"].as_str(), unplaced["worker_id"].as_str()),
            (Some("UNASSIGNED"), Some("me:1"))
        );
        assert_eq!(one(2), None);
    }

    #[test]
    fn the_connector_state_summarises_its_instances() {
        let state = |target, live: &[InstanceReport]| {
            connector_state_info("c", target, 1, live, "me:1")["connector"]["state"].clone()
        };
        assert_eq!(state(TargetState::Started, &[]), "UNASSIGNED");
        assert_eq!(
            connector_state_info("c", TargetState::Started, 1, &[], "me:1")["connector"]["worker_id"],
            "me:1"
        );
        let paused = report("a:1", State::Paused, &[(0, State::Paused)]);
        let running = report("b:1", State::Running, &[(0, State::Running)]);
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
        let s = connector_state_info("c", TargetState::Stopped, 1, &[stopped], "me:1");
        assert_eq!(s["connector"]["state"], "STOPPED");
        assert_eq!(s["tasks"], json!([]));
        let mut failed = report("b:1", State::Failed, &[(0, State::Failed)]);
        failed.connectors.get_mut("c").expect("c").trace = None;
        let s = connector_state_info("c", TargetState::Started, 1, &[paused, failed], "me:1");
        assert_eq!(s["connector"]["state"], "FAILED");
        assert_eq!(s["connector"]["worker_id"], "b:1");
        assert!(
            s["connector"]["trace"].is_string(),
            "FAILED always has a trace"
        );
    }

    #[test]
    fn reports_round_trip() {
        let r = report("a:1", State::Failed, &[(0, State::Failed)]);
        let text = serde_json::to_string(&r).expect("json");
        assert!(text.contains("\"FAILED\""));
        assert_eq!(
            serde_json::from_str::<InstanceReport>(&text).expect("parse"),
            r
        );
        assert_eq!(report_worker(&report_key("h:8083")), Some("h:8083"));
    }
}
