//! Replay jobs (`/connectors/{name}/replays`, lambda-sink's extension):
//! "re-invoke the records of topic T between t1 and t2 (optionally only
//! keys matching a pattern) through this connector's function", beside
//! the connector's own flow, which they never disturb. What a request
//! takes, the offset ranges its times resolve to, and the jobs as the
//! config topic keeps them (`replays-<name>`: the latest jobs with their
//! progress; `replay-cancel-<name>`: the job asked to stop).

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Value, json};

use super::body;
use super::moves::{Found, parse_time};
use crate::{Invalid, invalid};

/// Jobs remembered per connector.
pub const HISTORY: usize = 20;

/// The header every outcome record of a replay carries: the job's id.
pub const HEADER: &str = "lambda-sink.replay";

/// What to replay.
#[derive(Clone, Debug)]
pub struct Request {
    /// The topic (default: the connector's only topic).
    pub topic: Option<String>,
    /// From this time (epoch milliseconds, inclusive).
    pub from: i64,
    /// To this time (exclusive; default: when the request came).
    pub to: Option<i64>,
    /// Only these partitions (default: all).
    pub partitions: Option<Vec<i32>>,
    /// Only records whose key (as UTF-8 text) matches this.
    pub key_pattern: Option<String>,
}

impl Request {
    /// Parses a request body: `{"from": t1, "to": t2, "topic": "t",
    /// "partitions": [0], "key_pattern": "^customer-42$"}`; times are epoch
    /// milliseconds or RFC 3339 text.
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        const FIELDS: [&str; 5] = ["topic", "from", "to", "partitions", "key_pattern"];
        let map = body::object(
            body,
            "the replay request must be a JSON object",
            &FIELDS,
            &format!("a replay takes {}", FIELDS.join(", ")),
        )?;
        let time = |k: &str| -> Result<Option<i64>, Invalid> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => parse_time(s).map(Some),
                Some(v) => v.as_i64().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
                    invalid!("{k} must be epoch milliseconds or RFC 3339 text, not {v}")
                }),
            }
        };
        let from = time("from")?
            .ok_or_else(|| invalid!("a replay needs from (epoch milliseconds or RFC 3339 text)"))?;
        let to = time("to")?;
        if let Some(t) = to
            && t <= from
        {
            return Err(invalid!("to ({t}) must be after from ({from})"));
        }
        let topic = match map.get("topic") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
            Some(other) => return Err(invalid!("topic must be a topic name, not {other}")),
        };
        let partitions = body::partitions(map, "partitions", false)?;
        let key_pattern = match map.get("key_pattern") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => {
                Regex::new(p)
                    .map_err(|e| invalid!("key_pattern is not a regular expression: {e}"))?;
                Some(p.clone())
            }
            Some(other) => return Err(invalid!("key_pattern must be text, not {other}")),
        };
        Ok(Self {
            topic,
            from,
            to,
            partitions,
            key_pattern,
        })
    }
}

/// Which keys a replay takes: those whose key (as UTF-8 text) matches
/// its pattern, or every record without one.
#[derive(Clone, Debug, Default)]
pub struct KeyFilter(Option<Regex>);

impl KeyFilter {
    /// The filter of `pattern`.
    ///
    /// # Errors
    /// When it is not a regular expression.
    pub fn new(pattern: Option<&str>) -> Result<Self, Invalid> {
        pattern
            .map(Regex::new)
            .transpose()
            .map(Self)
            .map_err(|e| invalid!("key_pattern is not a regular expression: {e}"))
    }

    /// Whether a record with `key` is replayed (a null or non-UTF-8 key
    /// never matches a pattern).
    pub fn matches(&self, key: Option<&[u8]>) -> bool {
        match &self.0 {
            None => true,
            Some(p) => key
                .and_then(|k| std::str::from_utf8(k).ok())
                .is_some_and(|k| p.is_match(k)),
        }
    }
}

/// One partition's part of a job: `from..to`, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Partition.
    pub partition: i32,
    /// First offset.
    pub from: i64,
    /// Offset to stop before.
    pub to: i64,
    /// The next offset to read.
    pub next: i64,
}

/// The ranges between two time lookups of one topic (`starts` at the
/// first time, `ends` at the second; a partition without a record at or
/// after a time is at its end), only `partitions` when given.
///
/// # Errors
/// A partition asked for that the topic does not have.
pub fn ranges(
    starts: &[Found],
    ends: &[Found],
    partitions: Option<&[i32]>,
) -> Result<Vec<Range>, Invalid> {
    if let Some(p) = partitions
        .into_iter()
        .flatten()
        .find(|p| !starts.iter().any(|s| s.partition == **p))
    {
        return Err(invalid!("the topic has no partition {p}"));
    }
    let end_of = |f: &Found| f.at.unwrap_or(f.end).min(f.end);
    let mut out: Vec<Range> = starts
        .iter()
        .filter(|s| partitions.is_none_or(|p| p.contains(&s.partition)))
        .map(|s| {
            let from = end_of(s);
            let to = ends
                .iter()
                .find(|e| e.partition == s.partition)
                .map_or(from, end_of)
                .max(from);
            Range {
                partition: s.partition,
                from,
                to,
                next: from,
            }
        })
        .collect();
    out.sort_by_key(|r| r.partition);
    Ok(out)
}

/// Where a job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Replaying (or its worker is gone: shown as `interrupted`).
    Running,
    /// Every record of its ranges was read and has an outcome.
    Done,
    /// Stopped on request.
    Cancelled,
    /// Stopped by an error (`error` says which).
    Failed,
    /// Its worker stopped, restarted or died before the end (a new job
    /// can take the rest, from its ranges' `next_offset`).
    Interrupted,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Cancelled => "cancelled",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Done,
            Self::Cancelled,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A replay job and its progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Its id (unique per connector).
    pub id: String,
    /// The worker that runs it.
    pub worker: String,
    /// The topic replayed.
    pub topic: String,
    /// From this time.
    pub from: i64,
    /// To this time.
    pub to: i64,
    /// Only keys matching this.
    pub key_pattern: Option<String>,
    /// The offset ranges, with their progress.
    pub ranges: Vec<Range>,
    /// Where it stands.
    pub state: State,
    /// Records read.
    pub read: u64,
    /// Records whose key did not match (read, not invoked).
    pub skipped: u64,
    /// The replayed records' outcomes (`success`, `dlq`, …) and counts.
    pub outcomes: BTreeMap<String, u64>,
    /// When it started.
    pub started_at: i64,
    /// When it ended.
    pub finished_at: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Job {
    /// The records its ranges hold.
    pub fn total(&self) -> u64 {
        self.ranges
            .iter()
            .map(|r| u64::try_from(r.to - r.from).unwrap_or(0))
            .sum()
    }

    /// Whether every range was read.
    pub fn finished_reading(&self) -> bool {
        self.ranges.iter().all(|r| r.next >= r.to)
    }

    /// Its JSON as stored; `live`: whether its worker is live (a running
    /// job whose worker is gone is shown `interrupted`).
    pub fn to_json(&self, live: bool) -> Value {
        let state = if self.state == State::Running && !live {
            State::Interrupted
        } else {
            self.state
        }
        .as_str();
        json!({
            "id": self.id,
            "worker_id": self.worker,
            "topic": self.topic,
            "from": self.from,
            "to": self.to,
            "key_pattern": self.key_pattern,
            "ranges": self.ranges.iter().map(|r| json!({
                "partition": r.partition, "from_offset": r.from, "to_offset": r.to, "next_offset": r.next,
            })).collect::<Vec<_>>(),
            "state": state,
            "total": self.total(),
            "read": self.read,
            "skipped": self.skipped,
            "outcomes": self.outcomes,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        })
    }

    /// Reads a stored job.
    ///
    /// # Errors
    /// What is missing or wrong.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let text = |k: &str| {
            v[k].as_str()
                .map(String::from)
                .ok_or_else(|| invalid!("a replay job has no {k}"))
        };
        let number = |r: &Value, k: &str| {
            r[k].as_i64()
                .ok_or_else(|| invalid!("a replay job's range has no {k}"))
        };
        let ranges = v["ranges"]
            .as_array()
            .ok_or_else(|| invalid!("a replay job has no ranges"))?
            .iter()
            .map(|r| {
                Ok(Range {
                    partition: i32::try_from(number(r, "partition")?)
                        .map_err(|_| invalid!("a replay job's range has no valid partition"))?,
                    from: number(r, "from_offset")?,
                    to: number(r, "to_offset")?,
                    next: number(r, "next_offset")?,
                })
            })
            .collect::<Result<Vec<_>, Invalid>>()?;
        let state = v["state"]
            .as_str()
            .and_then(State::parse)
            .ok_or_else(|| invalid!("a replay job has no valid state"))?;
        let outcomes = v["outcomes"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, n)| n.as_u64().map(|n| (k.clone(), n)))
            .collect();
        Ok(Self {
            id: text("id")?,
            worker: text("worker_id")?,
            topic: text("topic")?,
            from: v["from"].as_i64().unwrap_or_default(),
            to: v["to"].as_i64().unwrap_or_default(),
            key_pattern: v["key_pattern"].as_str().map(String::from),
            ranges,
            state,
            read: v["read"].as_u64().unwrap_or_default(),
            skipped: v["skipped"].as_u64().unwrap_or_default(),
            outcomes,
            started_at: v["started_at"].as_i64().unwrap_or_default(),
            finished_at: v["finished_at"].as_i64(),
            error: v["error"].as_str().map(String::from),
        })
    }
}

/// A connector's jobs as stored: `{"jobs": [...]}`, oldest first.
///
/// # Errors
/// A job that cannot be read.
pub fn parse_jobs(v: &Value) -> Result<Vec<Job>, Invalid> {
    v["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Job::from_json)
        .collect()
}

/// `jobs` with `job` in it (replacing the one of its id, else appended),
/// the oldest dropped beyond [`HISTORY`].
pub fn with_job(jobs: &[Job], job: &Job) -> Vec<Job> {
    let mut list: Vec<Job> = jobs.iter().filter(|j| j.id != job.id).cloned().collect();
    let at = jobs
        .iter()
        .position(|j| j.id == job.id)
        .unwrap_or(list.len());
    list.insert(at.min(list.len()), job.clone());
    let keep = list.len().saturating_sub(HISTORY);
    list.split_off(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_or_say_what_is_wrong() {
        let r = Request::parse(&json!({
            "from": "2026-12-07T01:00:00Z", "to": 1_796_605_260_000_i64,
            "topic": "orders", "partitions": [1], "key_pattern": "^k[0-4]$"
        }))
        .expect("valid");
        assert_eq!(
            (
                r.from,
                r.to,
                r.topic.as_deref(),
                r.partitions,
                r.key_pattern.as_deref()
            ),
            (
                1_796_605_200_000,
                Some(1_796_605_260_000),
                Some("orders"),
                Some(vec![1]),
                Some("^k[0-4]$")
            )
        );
        let rows: [(Value, &str); 8] = [
            (json!("x"), "JSON object"),
            (json!({}), "needs from"),
            (json!({"from": 5, "to": 5}), "must be after from"),
            (json!({"from": -1}), "epoch milliseconds"),
            (json!({"from": "noon"}), "RFC 3339"),
            (
                json!({"from": 1, "key_pattern": "("}),
                "not a regular expression",
            ),
            (
                json!({"from": 1, "partitions": [-1]}),
                "not a partition number",
            ),
            (json!({"from": 1, "until": 2}), "unknown field \"until\""),
        ];
        for (body, wanted) in rows {
            let e = Request::parse(&body).expect_err("invalid").to_string();
            assert!(e.contains(wanted), "{body}: {e}");
        }
    }

    #[test]
    fn keys_match_as_text_and_null_keys_never_match_a_pattern() {
        let all = KeyFilter::new(None).expect("no pattern");
        let some = KeyFilter::new(Some("^k[0-4]$")).expect("regex");
        let rows: [(&KeyFilter, Option<&[u8]>, bool); 6] = [
            (&all, None, true),
            (&all, Some(b"x"), true),
            (&some, Some(b"k3"), true),
            (&some, Some(b"k7"), false),
            (&some, None, false),
            (&some, Some(&[0xff, 0xfe]), false),
        ];
        for (filter, key, wanted) in rows {
            assert_eq!(filter.matches(key), wanted, "{key:?}");
        }
    }

    fn found(partition: i32, at: Option<i64>, end: i64) -> Found {
        Found {
            topic: "t".into(),
            partition,
            at,
            end,
        }
    }

    #[test]
    fn times_resolve_to_ranges_between_them() {
        let starts = [
            found(1, Some(4), 10),
            found(0, None, 6),
            found(2, Some(2), 9),
        ];
        let ends = [found(0, None, 6), found(1, Some(7), 10), found(2, None, 9)];
        let range = |partition, from, to| Range {
            partition,
            from,
            to,
            next: from,
        };
        assert_eq!(
            ranges(&starts, &ends, None),
            Ok(vec![range(0, 6, 6), range(1, 4, 7), range(2, 2, 9)])
        );
        assert_eq!(ranges(&starts, &ends, Some(&[2])), Ok(vec![range(2, 2, 9)]));
        assert!(ranges(&starts, &ends, Some(&[3])).is_err());
    }

    #[test]
    fn jobs_round_trip_show_interrupted_and_keep_the_latest() {
        let job = |id: &str| Job {
            id: id.into(),
            worker: "w:1".into(),
            topic: "t".into(),
            from: 1,
            to: 2,
            key_pattern: Some("^k".into()),
            ranges: vec![Range {
                partition: 0,
                from: 3,
                to: 8,
                next: 5,
            }],
            state: State::Running,
            read: 2,
            skipped: 1,
            outcomes: BTreeMap::from([("success".to_string(), 1)]),
            started_at: 7,
            finished_at: None,
            error: None,
        };
        let j = job("a");
        assert_eq!((j.total(), j.finished_reading()), (5, false));
        assert_eq!(Job::from_json(&j.to_json(true)), Ok(j.clone()));
        assert_eq!(
            j.to_json(false)["state"],
            "interrupted",
            "its worker is gone"
        );
        let mut stopped = j.clone();
        stopped.state = State::Interrupted;
        assert_eq!(Job::from_json(&stopped.to_json(true)), Ok(stopped));
        let stored = json!({ "jobs": [j.to_json(true)] });
        let mut stored = parse_jobs(&stored).expect("jobs");
        let mut moved = j.clone();
        moved.read = 5;
        stored = with_job(&stored, &job("b"));
        stored = with_job(&stored, &moved);
        assert_eq!(stored, vec![moved, job("b")]);
        for i in 0..HISTORY + 3 {
            stored = with_job(&stored, &job(&format!("j{i}")));
        }
        assert_eq!(stored.len(), HISTORY);
        assert_eq!(stored[HISTORY - 1].id, format!("j{}", HISTORY + 2));
        assert!(Job::from_json(&json!({"id": "x"})).is_err());
    }
}
