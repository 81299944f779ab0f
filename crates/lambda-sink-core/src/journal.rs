//! A connector's event log: structured, leveled events (started, paused,
//! partitions assigned, a throttling episode, a dead letter, an aborted
//! transaction, …) kept in a bounded ring — the newest [`Journal`]'s
//! capacity, the oldest dropped and counted — and the query the REST API
//! answers (by level, by time, newest last). Also when a throttling
//! episode begins and ends ([`Throttling`]), so a flood of 429s is two
//! events, not thousands.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{Invalid, invalid};

/// How much an event matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Something happened as it should (started, partitions assigned).
    Info,
    /// Something an operator may want to look at (a retry, a dead letter).
    Warn,
    /// Data at risk or action needed (the connector failed).
    Error,
}

impl Level {
    /// Parses `info`, `warn` (or `warning`) or `error`, any case.
    ///
    /// # Errors
    /// Anything else, saying what is accepted.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        match text.trim().to_ascii_lowercase().as_str() {
            "info" => Ok(Self::Info),
            "warn" | "warning" => Ok(Self::Warn),
            "error" => Ok(Self::Error),
            _ => Err(invalid!("level {text:?} is not one of info, warn, error")),
        }
    }
}

/// One event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Its number in the journal that holds it, from 1.
    #[serde(default)]
    pub seq: u64,
    /// When, in milliseconds since the epoch.
    pub at: i64,
    /// How much it matters.
    pub level: Level,
    /// What happened, one word (`tasks_started`, `partitions_assigned`,
    /// `throttling_started`, `dead_letter`, …; docs/operations.md lists
    /// them all).
    pub event: Cow<'static, str>,
    /// What happened, for people.
    pub message: String,
    /// The task it happened in, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<usize>,
    /// The topic it happened to, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The partition it happened to, when one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<i32>,
    /// The offsets it concerns (`first..=last`), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsets: Option<String>,
    /// The worker it happened on (`serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

impl Event {
    /// An event now-less (the journal's keeper stamps it) of no task or
    /// partition.
    pub fn new(level: Level, event: &'static str, message: impl Into<String>) -> Self {
        Self {
            seq: 0,
            at: 0,
            level,
            event: Cow::Borrowed(event),
            message: message.into(),
            task: None,
            topic: None,
            partition: None,
            offsets: None,
            worker: None,
        }
    }

    /// Of task `task`.
    #[must_use]
    pub fn task(mut self, task: usize) -> Self {
        self.task = Some(task);
        self
    }

    /// Of partition `partition` of `topic`.
    #[must_use]
    pub fn partition(mut self, topic: &str, partition: i32) -> Self {
        self.topic = Some(topic.to_string());
        self.partition = Some(partition);
        self
    }

    /// Concerning `offsets`.
    #[must_use]
    pub fn offsets(mut self, offsets: impl std::fmt::Display) -> Self {
        self.offsets = Some(offsets.to_string());
        self
    }
}

/// Which events a reader wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Events of this level or above.
    pub level: Level,
    /// Events at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Events before this time.
    pub until: Option<i64>,
    /// At most this many, the newest.
    pub limit: usize,
}

/// The most events one answer holds.
pub const MAX_LIMIT: usize = 1_000;

impl Default for Query {
    fn default() -> Self {
        Self {
            level: Level::Info,
            since: None,
            until: None,
            limit: MAX_LIMIT,
        }
    }
}

impl Query {
    /// A query from URL parameters: `level` (info, warn, error), `since`
    /// and `until` (ms since the epoch), `limit` (1 to 1,000).
    ///
    /// # Errors
    /// A value that does not parse, or an unknown parameter, saying which.
    pub fn parse<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, Invalid> {
        let mut query = Self::default();
        let time = |name: &str, value: &str| {
            value.trim().parse::<i64>().map_err(|_| {
                invalid!("{name}={value:?} is not a time in milliseconds since the epoch")
            })
        };
        for (name, value) in params {
            match name {
                "level" => query.level = Level::parse(value)?,
                "since" => query.since = Some(time(name, value)?),
                "until" => query.until = Some(time(name, value)?),
                "limit" => {
                    query.limit = value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            invalid!("limit={value:?} is not a number from 1 to {MAX_LIMIT}")
                        })?;
                }
                other => {
                    return Err(invalid!(
                        "unknown parameter {other:?}: use level, since, until or limit"
                    ));
                }
            }
        }
        Ok(query)
    }

    fn wants(&self, e: &Event) -> bool {
        e.level >= self.level
            && self.since.is_none_or(|t| e.at >= t)
            && self.until.is_none_or(|t| e.at < t)
    }
}

/// The newest events, at most `capacity`.
#[derive(Clone, Debug)]
pub struct Journal {
    events: VecDeque<Event>,
    capacity: usize,
    next: u64,
}

impl Journal {
    /// An empty journal keeping `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next: 1,
        }
    }

    /// Adds `event`, numbering it; drops the oldest beyond the capacity.
    pub fn push(&mut self, mut event: Event) {
        event.seq = self.next;
        self.next += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Events dropped to keep within the capacity.
    pub fn dropped(&self) -> u64 {
        self.next - 1 - self.events.len() as u64
    }

    /// The events `query` wants, oldest first (the newest `limit` of them).
    pub fn query(&self, query: &Query) -> Vec<Event> {
        let mut wanted: Vec<Event> = self
            .events
            .iter()
            .rev()
            .filter(|e| query.wants(e))
            .take(query.limit)
            .cloned()
            .collect();
        wanted.reverse();
        wanted
    }
}

/// How long without a throttle ends an episode.
pub const QUIET_MS: i64 = 30_000;

/// A throttling episode's beginning or end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Episode {
    /// The first throttle after a quiet time.
    Started,
    /// [`QUIET_MS`] without a throttle: how long it lasted (first to last
    /// throttle), how many throttles, and the lowest in-flight limit seen.
    Ended {
        /// First to last throttle, ms.
        lasted_ms: i64,
        /// Throttles in the episode.
        throttles: u64,
        /// The lowest in-flight limit while it lasted.
        lowest_limit: usize,
    },
}

/// Whether Lambda is throttling a connector now: episodes from throttles
/// and the clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttling {
    /// The open episode: its first and last throttle, count, lowest limit.
    open: Option<(i64, i64, u64, usize)>,
}

impl Throttling {
    /// A throttle at `now` with the in-flight limit at `limit`.
    pub fn throttled(&mut self, now: i64, limit: usize) -> Option<Episode> {
        match &mut self.open {
            Some((_, last, count, lowest)) => {
                *last = now.max(*last);
                *count += 1;
                *lowest = (*lowest).min(limit);
                None
            }
            None => {
                self.open = Some((now, now, 1, limit));
                Some(Episode::Started)
            }
        }
    }

    /// The in-flight limit at `limit` while an episode is open (it may
    /// fall after the throttle that lowered it).
    pub fn limit(&mut self, limit: usize) {
        if let Some((_, _, _, lowest)) = &mut self.open {
            *lowest = (*lowest).min(limit);
        }
    }

    /// The clock at `now`: ends an episode quiet for [`QUIET_MS`].
    pub fn tick(&mut self, now: i64) -> Option<Episode> {
        let (first, last, throttles, lowest_limit) = self.open?;
        if now - last < QUIET_MS {
            return None;
        }
        self.open = None;
        Some(Episode::Ended {
            lasted_ms: last - first,
            throttles,
            lowest_limit,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: i64, level: Level) -> Event {
        Event {
            at,
            ..Event::new(level, "test", format!("at {at}"))
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_and_numbers_every_event() {
        let mut j = Journal::new(3);
        for at in 1..=5 {
            j.push(event(at, Level::Info));
        }
        let all = j.query(&Query::default());
        let kept: Vec<(u64, i64)> = all.iter().map(|e| (e.seq, e.at)).collect();
        assert_eq!(kept, [(3, 3), (4, 4), (5, 5)]);
        assert_eq!(j.dropped(), 2);
    }

    #[test]
    fn queries_filter_by_level_time_and_limit() {
        let mut j = Journal::new(100);
        let levels = [
            Level::Info,
            Level::Warn,
            Level::Error,
            Level::Info,
            Level::Warn,
        ];
        for (at, level) in (10..).step_by(10).zip(levels) {
            j.push(event(at, level));
        }
        let at = |q: &str| -> Vec<i64> {
            let params = q
                .split('&')
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once('='));
            j.query(&Query::parse(params).unwrap())
                .iter()
                .map(|e| e.at)
                .collect()
        };
        let cases: [(&str, &[i64]); 7] = [
            ("", &[10, 20, 30, 40, 50]),
            ("level=warn", &[20, 30, 50]),
            ("level=ERROR", &[30]),
            ("since=30", &[30, 40, 50]),
            ("since=20&until=40", &[20, 30]),
            ("limit=2", &[40, 50]),
            ("level=warn&limit=2", &[30, 50]),
        ];
        for (q, want) in cases {
            assert_eq!(at(q), want, "{q}");
        }
        for bad in [
            "level=debug",
            "since=yesterday",
            "limit=0",
            "limit=1001",
            "order=asc",
        ] {
            let params = bad.split_once('=').into_iter();
            let e = Query::parse(params).unwrap_err().to_string();
            assert!(e.contains(bad.split('=').next().unwrap()), "{bad}: {e}");
        }
    }

    #[test]
    fn a_throttling_episode_is_two_events() {
        let mut t = Throttling::default();
        assert_eq!(t.tick(0), None, "nothing open");
        assert_eq!(t.throttled(1_000, 32), Some(Episode::Started));
        assert_eq!(t.throttled(2_000, 16), None);
        t.limit(8);
        assert_eq!(t.throttled(5_000, 12), None);
        assert_eq!(t.tick(5_000 + QUIET_MS - 1), None, "not quiet long enough");
        assert_eq!(
            t.tick(5_000 + QUIET_MS),
            Some(Episode::Ended {
                lasted_ms: 4_000,
                throttles: 3,
                lowest_limit: 8
            })
        );
        assert_eq!(t.tick(100_000), None, "ended once");
        assert_eq!(
            t.throttled(200_000, 20),
            Some(Episode::Started),
            "a new one"
        );
    }
}
