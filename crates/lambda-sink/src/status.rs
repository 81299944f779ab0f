//! The connector's state as `/health` and `/status` report it, in Kafka
//! Connect's status shape: `name`, `connector.{state, worker_id, trace}`,
//! `tasks[].{id, state, worker_id, trace}`, `type: "sink"` (plus `id`, the
//! connector id, an extension `lambda-sink status` shows).

use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};

/// Kafka Connect's connector and task states (the subset lambda-sink uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Starting: not consuming yet.
    Unassigned,
    /// Consuming and invoking.
    Running,
    /// Stopped by a failure; `trace` says why.
    Failed,
}

impl State {
    /// Connect's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unassigned => "UNASSIGNED",
            Self::Running => "RUNNING",
            Self::Failed => "FAILED",
        }
    }
}

struct Inner {
    state: State,
    stopping: bool,
    trace: Option<String>,
    tasks: Vec<State>,
    worker_id: String,
}

/// Shared by the pipeline (which updates it) and the HTTP endpoint.
pub struct ServiceStatus {
    name: String,
    id: String,
    inner: Mutex<Inner>,
}

impl ServiceStatus {
    /// A connector with `tasks` tasks, starting.
    pub fn new(name: &str, id: &str, tasks: usize) -> Self {
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
                tasks: vec![State::Unassigned; tasks],
                worker_id: host,
            }),
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
            .tasks
            .iter()
            .enumerate()
            .map(|(id, state)| {
                let mut task =
                    json!({ "id": id, "state": state.as_str(), "worker_id": inner.worker_id });
                if let Value::String(t) = trace(*state) {
                    task["trace"] = json!(t);
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
}
