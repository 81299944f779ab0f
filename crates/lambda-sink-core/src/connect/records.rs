//! The config topic's records, in Kafka Connect's own format, and the
//! cluster state folded from them.
//!
//! Keys and values are Connect's (`KafkaConfigBackingStore`, values as
//! schemaless JSON): `connector-<name>` → `{"properties": {...}}`,
//! `target-state-<name>` → `{"state": "STARTED"|"PAUSED", "state.v2": ...}`,
//! `restart-connector-<name>` → `{"include-tasks": b, "only-failed": b}`.
//! A tombstone of `connector-<name>` deletes the connector. lambda-sink
//! adds one key of its own, `topics-reset-<name>` (an empty object), and
//! ignores Connect's task, commit and session-key records, which a sink
//! with no coordinator does not need.

use super::moves::Move;
use super::replays::{Job, parse_jobs};
use crate::park_orders::KeyOrder;
use crate::{Invalid, invalid};
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// A connector's configuration exactly as submitted (string values, in
/// the order given).
pub type Props = Map<String, Value>;

/// What a connector should be doing (Connect's `TargetState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetState {
    /// Running (shown as RUNNING).
    Started,
    /// Paused: no records flow, offsets hold.
    Paused,
    /// Stopped: no tasks; offsets may be altered.
    Stopped,
}

impl TargetState {
    /// Connect's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Paused => "PAUSED",
            Self::Stopped => "STOPPED",
        }
    }

    /// Parses Connect's `initial_state` or a stored state (any case);
    /// `RUNNING` is accepted for `STARTED`, as in `initial_state`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "STARTED" | "RUNNING" => Some(Self::Started),
            "PAUSED" => Some(Self::Paused),
            "STOPPED" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// One record of the config topic.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigRecord {
    /// A connector's configuration; `None` deletes it.
    Connector {
        /// Connector name.
        name: String,
        /// The configuration, or `None` (tombstone).
        config: Option<Props>,
    },
    /// A connector's target state; `None` removes it.
    TargetState {
        /// Connector name.
        name: String,
        /// The state, or `None` (tombstone).
        state: Option<TargetState>,
    },
    /// A restart request (KIP-745).
    Restart {
        /// Connector name.
        name: String,
        /// Restart tasks too.
        include_tasks: bool,
        /// Only what failed.
        only_failed: bool,
        /// Only on this worker (a task restart; lambda-sink's own field
        /// `lambda.sink.worker.id`, which Connect ignores).
        worker: Option<String>,
    },
    /// Forget the connector's active topics (lambda-sink's own key).
    TopicsReset {
        /// Connector name.
        name: String,
    },
    /// What was redriven from the connector's DLQ (lambda-sink's own key):
    /// the cursor per DLQ partition and the latest redrives; `None`
    /// removes it.
    Redrives {
        /// Connector name.
        name: String,
        /// The record, as written.
        value: Option<Value>,
    },
    /// The connector's latest move in time (lambda-sink's own key,
    /// [`super::moves`]); `None` removes it.
    Move {
        /// Connector name.
        name: String,
        /// The move.
        value: Option<Move>,
    },
    /// The connector's replay jobs (lambda-sink's own key,
    /// [`super::replays`]); `None` removes them.
    Replays {
        /// Connector name.
        name: String,
        /// The jobs, oldest first.
        jobs: Option<Vec<Job>>,
    },
    /// The replay job asked to stop (lambda-sink's own key).
    ReplayCancel {
        /// Connector name.
        name: String,
        /// The job's id; `None` removes the request.
        id: Option<String>,
    },
    /// The latest operator order for one of the connector's parked keys
    /// (lambda-sink's own key, [`crate::park_orders`]).
    ParkOrder {
        /// Connector name.
        name: String,
        /// The order; `None` removes it.
        order: Option<KeyOrder>,
    },
    /// A record lambda-sink does not use (task configs, commits, session
    /// keys, exactly-once fencing, loggers) or a tombstone of one.
    Ignored,
}

const CONNECTOR: &str = "connector-";
const TARGET: &str = "target-state-";
const RESTART: &str = "restart-connector-";
const TOPICS_RESET: &str = "topics-reset-";
const WORKER: &str = "lambda.sink.worker.id";
const REDRIVES: &str = "redrives-";
const MOVE: &str = "move-";
const REPLAYS: &str = "replays-";
const REPLAY_CANCEL: &str = "replay-cancel-";
const PARK_ORDER: &str = "park-order-";

impl ConfigRecord {
    /// Parses a record read from the config topic.
    ///
    /// # Errors
    /// When a key lambda-sink uses has a value it cannot read; the message
    /// names the key.
    pub fn parse(key: &str, value: Option<&[u8]>) -> Result<Self, Invalid> {
        let json = match value {
            None => None,
            Some(bytes) => Some(
                serde_json::from_slice::<Value>(bytes)
                    .map_err(|e| invalid!("config record {key:?} is not JSON: {e}"))?,
            ),
        };
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
        if let Some(name) = key.strip_prefix(RESTART) {
            let flag = |f: &str| field(f).and_then(Value::as_bool).unwrap_or(false);
            return Ok(match json {
                None => Self::Ignored,
                Some(_) => Self::Restart {
                    name: name.into(),
                    include_tasks: flag("include-tasks"),
                    only_failed: flag("only-failed"),
                    worker: field(WORKER).and_then(Value::as_str).map(String::from),
                },
            });
        }
        if let Some(name) = key.strip_prefix(TARGET) {
            let state = match &json {
                None => None,
                Some(_) => {
                    let text = field("state.v2")
                        .or_else(|| field("state"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    Some(TargetState::parse(text).ok_or_else(|| {
                        invalid!("config record {key:?} has no valid target state")
                    })?)
                }
            };
            return Ok(Self::TargetState {
                name: name.into(),
                state,
            });
        }
        if let Some(own) = Self::parse_own(key, json.as_ref()) {
            return own;
        }
        if let Some(name) = key.strip_prefix(TOPICS_RESET) {
            return Ok(match json {
                None => Self::Ignored,
                Some(_) => Self::TopicsReset { name: name.into() },
            });
        }
        if let Some(name) = key.strip_prefix(CONNECTOR) {
            let config = match &json {
                None => None,
                Some(_) => Some(
                    field("properties")
                        .and_then(Value::as_object)
                        .cloned()
                        .ok_or_else(|| {
                            invalid!("config record {key:?} has no properties object")
                        })?,
                ),
            };
            return Ok(Self::Connector {
                name: name.into(),
                config,
            });
        }
        Ok(Self::Ignored)
    }

    /// A record of one of lambda-sink's own keys (redrives, moves, replay
    /// jobs), or `None` for any other key.
    fn parse_own(key: &str, json: Option<&Value>) -> Option<Result<Self, Invalid>> {
        if let Some(name) = key.strip_prefix(REDRIVES) {
            return Some(Ok(Self::Redrives {
                name: name.into(),
                value: json.cloned(),
            }));
        }
        if let Some(name) = key.strip_prefix(REPLAY_CANCEL) {
            return Some(Ok(Self::ReplayCancel {
                name: name.into(),
                id: json
                    .and_then(|j| j.get("id"))
                    .and_then(Value::as_str)
                    .map(String::from),
            }));
        }
        let read = |e: Invalid| invalid!("config record {key:?}: {e}");
        if let Some(name) = key.strip_prefix(PARK_ORDER) {
            return Some(
                json.map(KeyOrder::from_json)
                    .transpose()
                    .map_err(read)
                    .map(|order| Self::ParkOrder {
                        name: name.into(),
                        order,
                    }),
            );
        }
        if let Some(name) = key.strip_prefix(REPLAYS) {
            return Some(json.map(parse_jobs).transpose().map_err(read).map(|jobs| {
                Self::Replays {
                    name: name.into(),
                    jobs,
                }
            }));
        }
        if let Some(name) = key.strip_prefix(MOVE) {
            return Some(
                json.map(Move::from_json)
                    .transpose()
                    .map_err(read)
                    .map(|value| Self::Move {
                        name: name.into(),
                        value,
                    }),
            );
        }
        None
    }

    /// The record's key and value (`None`: a tombstone).
    pub fn encode(&self) -> (String, Option<Vec<u8>>) {
        let (key, value) = match self {
            Self::Connector { name, config } => (
                format!("{CONNECTOR}{name}"),
                config.as_ref().map(|c| json!({ "properties": c })),
            ),
            Self::TargetState { name, state } => (
                format!("{TARGET}{name}"),
                state.map(|s| {
                    // Connect writes STOPPED as PAUSED for workers that
                    // predate it.
                    let v1 = if s == TargetState::Started {
                        "STARTED"
                    } else {
                        "PAUSED"
                    };
                    json!({ "state": v1, "state.v2": s.as_str() })
                }),
            ),
            Self::Restart {
                name,
                include_tasks,
                only_failed,
                worker,
            } => {
                let mut v = json!({ "include-tasks": include_tasks, "only-failed": only_failed });
                if let Some(w) = worker {
                    v[WORKER] = json!(w);
                }
                (format!("{RESTART}{name}"), Some(v))
            }
            Self::TopicsReset { name } => (format!("{TOPICS_RESET}{name}"), Some(json!({}))),
            Self::Redrives { name, value } => (format!("{REDRIVES}{name}"), value.clone()),
            Self::Move { name, value } => {
                (format!("{MOVE}{name}"), value.as_ref().map(Move::to_json))
            }
            Self::Replays { name, jobs } => (
                format!("{REPLAYS}{name}"),
                jobs.as_ref().map(|jobs| {
                    json!({ "jobs": jobs.iter().map(|j| j.to_json(true)).collect::<Vec<_>>() })
                }),
            ),
            Self::ParkOrder { name, order } => (
                format!("{PARK_ORDER}{name}"),
                order.as_ref().map(KeyOrder::to_json),
            ),
            Self::ReplayCancel { name, id } => (
                format!("{REPLAY_CANCEL}{name}"),
                id.as_ref().map(|id| json!({ "id": id })),
            ),
            Self::Ignored => (String::new(), None),
        };
        (key, value.map(|v| v.to_string().into_bytes()))
    }
}

/// A restart request as the connector's hosts see it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Restart {
    /// How many restart requests were read so far (hosts act on a change).
    pub seq: u64,
    /// Tasks too (lambda-sink's tasks restart with their connector anyway).
    pub include_tasks: bool,
    /// Only when failed.
    pub only_failed: bool,
    /// Only on this worker.
    pub worker: Option<String>,
}

/// One connector as the config topic describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorEntry {
    /// Its configuration as submitted.
    pub config: Props,
    /// Its target state.
    pub target: TargetState,
    /// The latest restart request.
    pub restart: Restart,
    /// How many topic-tracking resets were read.
    pub topics_resets: u64,
    /// What was redriven from its DLQ.
    pub redrives: Option<Value>,
    /// Its latest move in time.
    pub moved: Option<Move>,
    /// Its latest replay jobs, oldest first.
    pub replays: Vec<Job>,
    /// The replay job asked to stop.
    pub cancel_replay: Option<String>,
    /// The latest operator order for one of its parked keys.
    pub park_order: Option<KeyOrder>,
}

impl ConnectorEntry {
    /// Applies one of lambda-sink's own records of this connector.
    fn apply_own(&mut self, record: ConfigRecord) {
        match record {
            ConfigRecord::Redrives { value, .. } => self.redrives = value,
            ConfigRecord::Replays { jobs, .. } => self.replays = jobs.unwrap_or_default(),
            ConfigRecord::ParkOrder { order, .. } => self.park_order = order,
            ConfigRecord::ReplayCancel { id, .. } => self.cancel_replay = id,
            ConfigRecord::Move { value, .. } => self.moved = value,
            ConfigRecord::TopicsReset { .. } => self.topics_resets += 1,
            _ => {}
        }
    }

    /// Whether a move is pending: its tasks stay stopped until it ends.
    pub fn moving(&self) -> bool {
        self.moved.as_ref().is_some_and(Move::pending)
    }
}

/// Every connector of the cluster, folded from the config topic in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterState {
    connectors: BTreeMap<String, ConnectorEntry>,
    /// Target states written before (or without) their connector.
    targets: BTreeMap<String, TargetState>,
}

impl ClusterState {
    /// Applies one record.
    pub fn apply(&mut self, record: ConfigRecord) {
        match record {
            ConfigRecord::Connector { name, config: None } => {
                self.connectors.remove(&name);
            }
            ConfigRecord::Connector {
                name,
                config: Some(config),
            } => {
                let target = self
                    .targets
                    .get(&name)
                    .copied()
                    .unwrap_or(TargetState::Started);
                self.connectors
                    .entry(name)
                    .and_modify(|e| e.config = config.clone())
                    .or_insert(ConnectorEntry {
                        config,
                        target,
                        restart: Restart::default(),
                        topics_resets: 0,
                        redrives: None,
                        moved: None,
                        replays: Vec::new(),
                        cancel_replay: None,
                        park_order: None,
                    });
            }
            ConfigRecord::TargetState { name, state } => {
                let state = state.unwrap_or(TargetState::Started);
                if let Some(e) = self.connectors.get_mut(&name) {
                    e.target = state;
                }
                self.targets.insert(name, state);
            }
            ConfigRecord::Restart {
                name,
                include_tasks,
                only_failed,
                worker,
            } => {
                if let Some(e) = self.connectors.get_mut(&name) {
                    e.restart = Restart {
                        seq: e.restart.seq + 1,
                        include_tasks,
                        only_failed,
                        worker,
                    };
                }
            }
            ConfigRecord::Redrives { ref name, .. }
            | ConfigRecord::Replays { ref name, .. }
            | ConfigRecord::ParkOrder { ref name, .. }
            | ConfigRecord::ReplayCancel { ref name, .. }
            | ConfigRecord::Move { ref name, .. }
            | ConfigRecord::TopicsReset { ref name } => {
                if let Some(e) = self.connectors.get_mut(name) {
                    e.apply_own(record);
                }
            }
            ConfigRecord::Ignored => {}
        }
    }

    /// One connector.
    pub fn get(&self, name: &str) -> Option<&ConnectorEntry> {
        self.connectors.get(name)
    }

    /// Every connector, by name.
    pub fn connectors(&self) -> &BTreeMap<String, ConnectorEntry> {
        &self.connectors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Props {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect()
    }

    fn round_trip(record: &ConfigRecord) -> ConfigRecord {
        let (key, value) = record.encode();
        ConfigRecord::parse(&key, value.as_deref()).expect("parses")
    }

    #[test]
    fn records_round_trip_in_connects_format() {
        let config = ConfigRecord::Connector {
            name: "orders".into(),
            config: Some(props(&[("topics", "t"), ("tasks.max", "2")])),
        };
        assert_eq!(round_trip(&config), config);
        let (key, value) = config.encode();
        assert_eq!(key, "connector-orders");
        let value: Value = serde_json::from_slice(&value.expect("value")).expect("json");
        assert_eq!(
            value,
            json!({"properties": {"topics": "t", "tasks.max": "2"}})
        );

        let stopped = ConfigRecord::TargetState {
            name: "orders".into(),
            state: Some(TargetState::Stopped),
        };
        assert_eq!(round_trip(&stopped), stopped);
        let value: Value = serde_json::from_slice(&stopped.encode().1.expect("v")).expect("json");
        assert_eq!(value, json!({"state": "PAUSED", "state.v2": "STOPPED"}));

        let restart = ConfigRecord::Restart {
            name: "orders".into(),
            include_tasks: true,
            only_failed: false,
            worker: Some("h:1".into()),
        };
        assert_eq!(round_trip(&restart), restart);
        let reset = ConfigRecord::TopicsReset {
            name: "orders".into(),
        };
        assert_eq!(round_trip(&reset), reset);
        let redrives = ConfigRecord::Redrives {
            name: "orders".into(),
            value: Some(json!({"cursor": {"0": 5}})),
        };
        assert_eq!(round_trip(&redrives), redrives);
    }

    #[test]
    fn records_written_by_apache_connect_are_read() {
        // An old worker's target state has no state.v2.
        let r = ConfigRecord::parse("target-state-a", Some(br#"{"state":"PAUSED"}"#));
        assert_eq!(
            r,
            Ok(ConfigRecord::TargetState {
                name: "a".into(),
                state: Some(TargetState::Paused)
            })
        );
        for key in ["task-a-0", "commit-a", "session-key", "tasks-fencing-a"] {
            assert_eq!(
                ConfigRecord::parse(key, Some(b"{}")),
                Ok(ConfigRecord::Ignored)
            );
        }
        let bad = ConfigRecord::parse("connector-a", Some(b"{\"x\":1}"));
        assert!(
            bad.expect_err("no properties")
                .reason()
                .contains("connector-a")
        );
        assert!(ConfigRecord::parse("connector-a", Some(b"nope")).is_err());
    }

    #[test]
    fn state_follows_the_topic_in_order() {
        let mut s = ClusterState::default();
        // Connect writes the initial target state before the config.
        s.apply(ConfigRecord::TargetState {
            name: "a".into(),
            state: Some(TargetState::Paused),
        });
        s.apply(ConfigRecord::Connector {
            name: "a".into(),
            config: Some(props(&[("k", "1")])),
        });
        assert_eq!(s.get("a").map(|e| e.target), Some(TargetState::Paused));
        s.apply(ConfigRecord::Connector {
            name: "a".into(),
            config: Some(props(&[("k", "2")])),
        });
        let e = s.get("a").expect("a");
        assert_eq!(e.config["k"], "2");
        assert_eq!(e.target, TargetState::Paused, "an update keeps the state");
        s.apply(ConfigRecord::Restart {
            name: "a".into(),
            include_tasks: false,
            only_failed: true,
            worker: None,
        });
        s.apply(ConfigRecord::Restart {
            name: "nobody".into(),
            include_tasks: false,
            only_failed: false,
            worker: None,
        });
        assert_eq!(s.get("a").map(|e| e.restart.seq), Some(1));
        s.apply(ConfigRecord::Connector {
            name: "a".into(),
            config: None,
        });
        s.apply(ConfigRecord::TargetState {
            name: "a".into(),
            state: None,
        });
        assert!(s.get("a").is_none());
        // Re-created after a delete: running again.
        s.apply(ConfigRecord::Connector {
            name: "a".into(),
            config: Some(props(&[])),
        });
        assert_eq!(s.get("a").map(|e| e.target), Some(TargetState::Started));
        assert!(s.connectors().contains_key("a"));
    }
}
