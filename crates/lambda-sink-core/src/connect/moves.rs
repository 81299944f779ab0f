//! Moving a running connector in time (`POST /connectors/{name}/offsets/move`,
//! lambda-sink's extension beside KIP-875): the request, the positions a
//! timestamp resolves to, the record that carries a move through the
//! config topic (`move-<name>`), and which worker completes it.
//!
//! A move needs no STOPPED state from the operator: while a move is
//! pending every worker stops the connector's tasks as a SIGTERM would
//! (in-flight work drained, resolved records committed), one worker then
//! commits the new positions for the connector's group, and the move
//! ends; the tasks start again from there, in the target state the
//! connector had. At-least-once holds across it: nothing unresolved is
//! ever committed, and moving back only re-delivers.

use serde_json::{Value, json};

use super::body;
use super::offsets::PartitionOffset;
use crate::{Invalid, invalid};

/// Where a move takes the connector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Each partition to its first record at or after this time (epoch
    /// milliseconds); a partition without one to its end.
    Timestamp(i64),
    /// These partitions to these offsets.
    Offsets(Vec<PartitionOffset>),
}

/// A move request: where to, and (for a timestamp) which topics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Where to.
    pub target: Target,
    /// For a timestamp: only these topics (default: every topic the
    /// connector consumes).
    pub topics: Option<Vec<String>>,
}

impl Request {
    /// Parses a request body: `{"timestamp": ms, "topics": [..]}` or
    /// `{"offsets": [KIP-875 items]}`.
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        let map = body::object(
            body,
            "the move request must be a JSON object",
            &["timestamp", "topics", "offsets"],
            "a move takes timestamp (with topics) or offsets",
        )?;
        let topics = match map.get("topics") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) if !items.is_empty() => Some(
                items
                    .iter()
                    .map(|t| {
                        t.as_str()
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .ok_or_else(|| invalid!("topic {t} is not a topic name"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => return Err(invalid!("topics must be a non-empty list, not {other}")),
        };
        match (map.get("timestamp"), map.get("offsets")) {
            (Some(t), None) => {
                let ms = t.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    invalid!(
                        "timestamp must be epoch milliseconds (a whole number, 0 or more), not {t}"
                    )
                })?;
                Ok(Self {
                    target: Target::Timestamp(ms),
                    topics,
                })
            }
            (None, Some(Value::Array(items))) if !items.is_empty() => {
                if topics.is_some() {
                    return Err(invalid!(
                        "topics goes with timestamp; offsets name their topics"
                    ));
                }
                let offsets = items
                    .iter()
                    .map(PartitionOffset::parse)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Self {
                    target: Target::Offsets(offsets),
                    topics: None,
                })
            }
            (None, Some(other)) => Err(invalid!(
                "offsets must be a non-empty list of {{\"partition\": {{\"kafka_topic\": \"t\", \"kafka_partition\": 0}}, \"offset\": {{\"kafka_offset\": 5}}}}, not {other}"
            )),
            (Some(_), Some(_)) => Err(invalid!("give timestamp or offsets, not both")),
            (None, None) => Err(invalid!(
                "a move needs timestamp (epoch milliseconds) or offsets"
            )),
        }
    }
}

/// A time as an operator writes it: epoch milliseconds, or RFC 3339
/// (`2026-12-07T01:00:00Z`).
///
/// # Errors
/// When it is neither.
pub fn parse_time(text: &str) -> Result<i64, Invalid> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return (ms >= 0)
            .then_some(ms)
            .ok_or_else(|| invalid!("time {text} is before 1970"));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            invalid!(
                "time {text:?} is neither epoch milliseconds nor RFC 3339 such as 2026-12-07T01:00:00Z ({e})"
            )
        })
}

/// A position as an operator writes it: `TOPIC:PARTITION=OFFSET`.
///
/// # Errors
/// When it is not.
pub fn parse_position(text: &str) -> Result<PartitionOffset, Invalid> {
    let wrong = || invalid!("position {text:?} is not TOPIC:PARTITION=OFFSET (orders:0=42)");
    let (at, offset) = text.rsplit_once('=').ok_or_else(wrong)?;
    let (topic, partition) = at.rsplit_once(':').ok_or_else(wrong)?;
    Ok(PartitionOffset {
        topic: (!topic.is_empty())
            .then(|| topic.to_string())
            .ok_or_else(wrong)?,
        partition: partition
            .trim()
            .parse()
            .ok()
            .filter(|p| *p >= 0)
            .ok_or_else(wrong)?,
        offset: offset
            .trim()
            .parse()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or_else(wrong)?,
    })
}

/// One partition as Kafka answered a time lookup: its first offset at or
/// after the time (`None`: no such record) and its end offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The first offset whose timestamp is at or after the time.
    pub at: Option<i64>,
    /// The partition's end (high watermark).
    pub end: i64,
}

/// The positions a timestamp move sets: the offset found, else the end
/// (nothing that old is left to read).
pub fn positions(found: &[Found]) -> Vec<PartitionOffset> {
    let mut out: Vec<PartitionOffset> = found
        .iter()
        .map(|f| PartitionOffset {
            topic: f.topic.clone(),
            partition: f.partition,
            offset: f.at.unwrap_or(f.end).min(f.end),
        })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

/// Where a move stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Written; the tasks are stopping, or the positions are being
    /// committed.
    Pending,
    /// The positions were committed; the tasks start from them.
    Done,
    /// The positions could not be committed (`error` says why); the
    /// tasks start from where they stopped.
    Failed,
}

impl State {
    /// The name in the record and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }
}

/// A connector's latest move, as the config topic holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// Its id (unique per connector: the request's time and worker).
    pub id: String,
    /// The worker that took the request (it completes the move while it
    /// lives).
    pub worker: String,
    /// When it was requested (epoch milliseconds).
    pub requested_at: i64,
    /// The timestamp asked for, if it was one.
    pub timestamp: Option<i64>,
    /// The positions to commit.
    pub offsets: Vec<PartitionOffset>,
    /// Where it stands.
    pub state: State,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Move {
    /// Whether the connector's tasks must stay stopped for it.
    pub fn pending(&self) -> bool {
        self.state == State::Pending
    }

    /// This move, ended as `state` at `at`.
    #[must_use]
    pub fn ended(&self, state: State, at: i64, error: Option<String>) -> Self {
        Self {
            state,
            finished_at: Some(at),
            error,
            ..self.clone()
        }
    }

    /// Its JSON, as stored and as the API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "worker_id": self.worker,
            "requested_at": self.requested_at,
            "timestamp": self.timestamp,
            "offsets": self.offsets.iter().map(PartitionOffset::to_json).collect::<Vec<_>>(),
            "state": self.state.as_str(),
            "finished_at": self.finished_at,
            "error": self.error,
        })
    }

    /// Reads a stored move.
    ///
    /// # Errors
    /// What is missing or wrong.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let text = |k: &str| {
            v[k].as_str()
                .map(String::from)
                .ok_or_else(|| invalid!("a move record has no {k}"))
        };
        let state = match v["state"].as_str() {
            Some("pending") => State::Pending,
            Some("done") => State::Done,
            Some("failed") => State::Failed,
            other => return Err(invalid!("a move record has no valid state ({other:?})")),
        };
        let offsets = v["offsets"]
            .as_array()
            .ok_or_else(|| invalid!("a move record has no offsets"))?
            .iter()
            .map(PartitionOffset::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            id: text("id")?,
            worker: text("worker_id")?,
            requested_at: v["requested_at"].as_i64().unwrap_or_default(),
            timestamp: v["timestamp"].as_i64(),
            offsets,
            state,
            finished_at: v["finished_at"].as_i64(),
            error: v["error"].as_str().map(String::from),
        })
    }
}

/// After how long a move still waiting for its group to empty is told
/// of, once.
pub const LONG_WAIT_MS: i64 = 15_000;

/// Whether a move requested at `requested_at` has waited long enough at
/// `now` for an operator to be told why.
pub fn waited_long(requested_at: i64, now: i64) -> bool {
    now.saturating_sub(requested_at) >= LONG_WAIT_MS
}

/// The worker that completes a pending move taken by `requested_by`:
/// that worker while it is live, else the live worker with the least id
/// (so exactly one worker acts, and a move outlives the worker that took
/// it). `None` when no worker is live.
pub fn coordinator<'a>(requested_by: &'a str, live: &[&'a str]) -> Option<&'a str> {
    if live.contains(&requested_by) {
        return Some(requested_by);
    }
    live.iter().min().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offset(topic: &str, partition: i32, offset: i64) -> PartitionOffset {
        PartitionOffset {
            topic: topic.into(),
            partition,
            offset,
        }
    }

    #[test]
    fn requests_parse_or_say_what_is_wrong() {
        let ok = |body: Value| Request::parse(&body).expect("valid");
        let err = |body: Value| Request::parse(&body).expect_err("invalid").to_string();
        assert_eq!(
            ok(json!({"timestamp": 1_700_000_000_000_i64})),
            Request {
                target: Target::Timestamp(1_700_000_000_000),
                topics: None
            }
        );
        assert_eq!(
            ok(json!({"timestamp": 5, "topics": ["a"]})).topics,
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            ok(json!({"offsets": [{"partition": {"kafka_topic": "a", "kafka_partition": 1}, "offset": {"kafka_offset": 7}}]})).target,
            Target::Offsets(vec![offset("a", 1, 7)])
        );
        let rows: [(Value, &str); 9] = [
            (json!([]), "JSON object"),
            (json!({}), "needs timestamp"),
            (json!({"timestamp": -1}), "epoch milliseconds"),
            (json!({"timestamp": "yesterday"}), "epoch milliseconds"),
            (json!({"timestamp": 1, "offsets": []}), "not both"),
            (json!({"offsets": []}), "non-empty list"),
            (json!({"timestamp": 1, "topics": []}), "non-empty list"),
            (json!({"timestamp": 1, "when": 2}), "unknown field \"when\""),
            (
                json!({"offsets": [{"partition": {"kafka_topic": "a", "kafka_partition": 0}, "offset": {"kafka_offset": 1}}], "topics": ["a"]}),
                "topics goes with timestamp",
            ),
        ];
        for (body, wanted) in rows {
            let e = err(body.clone());
            assert!(e.contains(wanted), "{body}: {e}");
        }
    }

    #[test]
    fn times_and_positions_as_operators_write_them() {
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert_eq!(parse_time("2026-12-07T01:00:00Z"), Ok(1_796_605_200_000));
        assert_eq!(
            parse_time("2026-12-07T02:00:00+01:00"),
            Ok(1_796_605_200_000)
        );
        for bad in ["-5", "yesterday", "2026-12-07"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_position("a:b:3=42"), Ok(offset("a:b", 3, 42)));
        for bad in [
            "orders:0",
            "orders=1",
            ":0=1",
            "orders:x=1",
            "orders:0=-1",
            "orders:-1=0",
        ] {
            let e = parse_position(bad).expect_err(bad).to_string();
            assert!(e.contains("TOPIC:PARTITION=OFFSET"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_timestamp_resolves_to_the_first_record_at_or_after_it_else_the_end() {
        let found = |topic: &str, partition, at, end| Found {
            topic: String::from(topic),
            partition,
            at,
            end,
        };
        assert_eq!(
            positions(&[
                found("b", 0, Some(3), 10),
                found("a", 1, None, 8),
                found("a", 0, Some(0), 0),
            ]),
            vec![offset("a", 0, 0), offset("a", 1, 8), offset("b", 0, 3)]
        );
    }

    #[test]
    fn a_move_round_trips_and_ends() {
        let m = Move {
            id: "1-w".into(),
            worker: "w:1".into(),
            requested_at: 1,
            timestamp: Some(5),
            offsets: vec![offset("a", 0, 3)],
            state: State::Pending,
            finished_at: None,
            error: None,
        };
        assert!(m.pending());
        assert_eq!(Move::from_json(&m.to_json()), Ok(m.clone()));
        let done = m.ended(State::Failed, 9, Some("no".into()));
        assert!(!done.pending());
        assert_eq!(Move::from_json(&done.to_json()), Ok(done));
        assert!(Move::from_json(&json!({"id": "x"})).is_err());
    }

    #[test]
    fn a_move_waiting_over_fifteen_seconds_is_told_of() {
        for (now, wanted) in [
            (1_000, false),
            (15_999, false),
            (16_000, true),
            (90_000, true),
            (0, false),
        ] {
            assert_eq!(waited_long(1_000, now), wanted, "{now}");
        }
    }

    #[test]
    fn the_requester_completes_a_move_while_it_lives_else_the_least_live_worker() {
        let rows: [(&str, &[&str], Option<&str>); 4] = [
            ("b", &["a", "b"], Some("b")),
            ("c", &["b", "a"], Some("a")),
            ("c", &["c"], Some("c")),
            ("c", &[], None),
        ];
        for (by, live, wanted) in rows {
            assert_eq!(coordinator(by, live), wanted, "{by} {live:?}");
        }
    }
}
