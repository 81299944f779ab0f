//! The zero-loss verifier: for one connector run, every offset produced to
//! the input topic is compared with what the Lambda function received (its
//! log) and with the outcome topics (`success-`, `error-`, `dlq-`).
//!
//! * **lost** — a record below the connector's committed offset that the
//!   function never received and that is not in the DLQ. Must be 0:
//!   at-least-once. Records at or above the committed offset are **pending**:
//!   the next consumer of the group receives them again, so they are not lost.
//! * **without outcome** — a produced record with no result, error or DLQ
//!   record. Must be 0 when every record should have one (sync mode,
//!   `behavior.on.error=log`).
//! * **duplicate invocations / outcomes** — allowed by at-least-once, counted.
//!   The outcome topics are read as a `read_committed` reader sees them, so
//!   with `reporter.exactly.once` duplicate outcomes must be 0.
//!
//! The evidence of invocation is the function's log when a function name is
//! given; otherwise (a fake endpoint) the outcome topics. With a real
//! function, a result in `success-` that echoes the record's value (the test
//! function's answer) is evidence too: the emulator has been seen to drop an
//! invocation's log lines although the function ran and answered. So is an
//! `error-` record of class `function` (the Invoke API said the function ran
//! with that batch and failed): the emulator loses the log lines of an
//! invocation it kills at the function's timeout. Such records are counted
//! as **missing from the log**, never silently.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::Services;

/// A record's position.
pub type Position = (i32, i64);

/// What a run did to every record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    /// Records produced to the input topic.
    pub produced: usize,
    /// Records the function received at least once.
    pub invoked: usize,
    /// Invocations of records beyond the first.
    pub duplicate_invocations: usize,
    /// Records in the DLQ.
    pub dead_lettered: usize,
    /// Records with at least one result, error or DLQ record.
    pub with_outcome: usize,
    /// Outcome records beyond the first per input record.
    pub duplicate_outcomes: usize,
    /// Produced, never invoked, not in the DLQ (the first few).
    pub lost: Vec<Position>,
    /// Count of lost records.
    pub lost_count: usize,
    /// Records at or above the committed offset (redelivered on restart).
    pub pending: usize,
    /// Records the function echoed in a result, or failed with a function
    /// error, whose invocation its log does not show (the emulator lost the
    /// log lines).
    pub missing_from_log: usize,
    /// Produced without any outcome record (the first few).
    pub without_outcome: Vec<Position>,
    /// Count of records without an outcome.
    pub without_outcome_count: usize,
    /// Whether the connector's committed offsets reached the end offsets.
    pub committed_to_end: bool,
}

impl Verdict {
    /// One line for logs and the fault suite's table.
    pub fn summary(&self) -> String {
        format!(
            "produced {} invoked {} dlq {} lost {} pending {} missing-from-log {} without-outcome {} duplicate-invocations {} duplicate-outcomes {} committed-to-end {}",
            self.produced,
            self.invoked,
            self.dead_lettered,
            self.lost_count,
            self.pending,
            self.missing_from_log,
            self.without_outcome_count,
            self.duplicate_invocations,
            self.duplicate_outcomes,
            self.committed_to_end
        )
    }
}

/// The run to verify.
#[derive(Clone, Debug)]
pub struct Run<'a> {
    /// Input topic.
    pub topic: &'a str,
    /// Its partitions.
    pub partitions: i32,
    /// The connector id (outcome topics `success-<id>`, ..., group `connect-<id>`).
    pub connector: &'a str,
    /// The function whose log is the evidence of invocation, if a real one.
    pub function: Option<&'a str>,
}

/// The `echo` of the test function's result in a success record (whose
/// value is Confluent's result document, as JSON text in a JSON string).
fn echo_of(r: &crate::kafka::Record) -> Option<serde_json::Value> {
    let value: serde_json::Value = serde_json::from_slice(r.value.as_deref()?).ok()?;
    let document: serde_json::Value = match value {
        serde_json::Value::String(text) => serde_json::from_str(&text).ok()?,
        other => other,
    };
    document.get("result")?.get("echo").cloned()
}

/// Counts of each position.
fn tally(positions: impl IntoIterator<Item = Position>) -> BTreeMap<Position, usize> {
    let mut counts = BTreeMap::new();
    for p in positions {
        *counts.entry(p).or_insert(0) += 1;
    }
    counts
}

impl Services {
    /// Everything in `topic` a `read_committed` reader sees (all
    /// partitions, up to their end offsets).
    async fn read_all(&self, topic: &str) -> anyhow::Result<Vec<crate::kafka::Record>> {
        if !self.topic_exists(topic).await? {
            return Ok(Vec::new());
        }
        self.read_to_end(
            topic,
            crate::kafka::Isolation::Committed,
            Duration::from_secs(120),
        )
        .await
    }

    /// The records of `run`'s result and error topics with the input
    /// position each names, and the input positions its dead letters name,
    /// as a `read_committed` reader sees them.
    async fn outcome_records(
        &self,
        run: &Run<'_>,
    ) -> anyhow::Result<(
        Vec<(&'static str, crate::kafka::Record, Position)>,
        Vec<Position>,
    )> {
        let header_position = |r: &crate::kafka::Record, topic_h: &str, p_h: &str, o_h: &str| {
            (r.header(topic_h) == run.topic)
                .then(|| Some((r.header(p_h).parse().ok()?, r.header(o_h).parse().ok()?)))
                .flatten()
        };
        let mut records = Vec::new();
        for kind in ["success", "error"] {
            for r in self.read_all(&format!("{kind}-{}", run.connector)).await? {
                if let Some(position) = header_position(
                    &r,
                    "input_record_topic",
                    "input_record_partition",
                    "input_record_offset",
                ) {
                    records.push((kind, r, position));
                }
            }
        }
        let dead = self
            .read_all(&format!("dlq-{}", run.connector))
            .await?
            .iter()
            .filter_map(|r| {
                header_position(
                    r,
                    "__connect.errors.topic",
                    "__connect.errors.partition",
                    "__connect.errors.offset",
                )
            })
            .collect();
        Ok((records, dead))
    }

    /// Checks, while nothing of `run` is running (after a crash, say), that
    /// the group's committed offset of each partition is past every
    /// committed outcome of it (exactly-once: an outcome commits with the
    /// offset past its input record) and not behind `floor`, the offsets
    /// seen at the previous check, which it then raises.
    ///
    /// The outcomes are read first: a `read_committed` read does not pass a
    /// transaction the crashed process left open, and the offsets read
    /// after it (a stable fetch) can only be further on.
    ///
    /// # Errors
    /// What does not hold, or why it could not be read.
    pub async fn offsets_cover_outcomes(
        &self,
        run: &Run<'_>,
        floor: &mut Vec<i64>,
    ) -> anyhow::Result<()> {
        let (records, dead) = self.outcome_records(run).await?;
        let positions = records.iter().map(|(_, _, p)| *p).chain(dead);
        let partitions = usize::try_from(run.partitions)?;
        let mut highest = vec![-1i64; partitions];
        for (p, o) in positions {
            let slot = &mut highest[usize::try_from(p)?];
            *slot = (*slot).max(o);
        }
        let group = format!("connect-{}", run.connector);
        // A transaction the crashed process left holding offsets holds the
        // stable fetch until the coordinator aborts it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        let committed = loop {
            match self.committed(&group, run.topic, run.partitions).await {
                Ok(c) => break c,
                Err(e) if tokio::time::Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        };
        floor.resize(partitions, -1);
        let mut problems = Vec::new();
        for (p, (committed, highest)) in committed.iter().zip(&highest).enumerate() {
            if *highest >= (*committed).max(0) {
                problems.push(format!(
                    "partition {p}: committed offset {committed}, but the outcome of offset {highest} is committed"
                ));
            }
            if *committed < floor[p] {
                problems.push(format!(
                    "partition {p}: committed offset {committed} moved back from {}",
                    floor[p]
                ));
            }
            floor[p] = floor[p].max(*committed);
        }
        anyhow::ensure!(problems.is_empty(), "{}", problems.join("; "));
        Ok(())
    }

    /// Verifies a run (see the module documentation).
    ///
    /// # Errors
    /// When the broker, the outcome topics or the function's log cannot be read.
    pub async fn verify(&self, run: &Run<'_>) -> anyhow::Result<Verdict> {
        let end = self.end_offsets(run.topic, run.partitions).await?;
        let produced: Vec<Position> = (0..run.partitions)
            .flat_map(|p| (0..end[usize::try_from(p).unwrap_or(0)]).map(move |o| (p, o)))
            .collect();
        let (outcome_records, dead) = self.outcome_records(run).await?;
        let mut results = Vec::new();
        // Results whose `echo` is the record's value, by position.
        let mut echoes: Vec<(Position, serde_json::Value)> = Vec::new();
        // Records of a batch the Invoke API says the function ran and failed.
        let mut function_errors: Vec<Position> = Vec::new();
        for (kind, r, position) in outcome_records {
            results.push(position);
            if kind == "success"
                && let Some(echo) = echo_of(&r)
            {
                echoes.push((position, echo));
            }
            if kind == "error" && r.header("error_class") == "function" {
                function_errors.push(position);
            }
        }
        let invocations: Vec<Position> = match run.function {
            Some(f) => self
                .function_records(f)
                .await?
                .iter()
                .filter(|l| l["topic"] == run.topic)
                .filter_map(|l| {
                    Some((
                        i32::try_from(l["partition"].as_i64()?).ok()?,
                        l["offset"].as_i64()?,
                    ))
                })
                .collect(),
            None => results.clone(),
        };
        let mut invoked = tally(invocations);
        let mut missing_from_log = 0;
        if run.function.is_some() && echoes.iter().any(|(p, _)| !invoked.contains_key(p)) {
            let inputs: BTreeMap<Position, serde_json::Value> = self
                .read_all(run.topic)
                .await?
                .iter()
                .filter_map(|r| {
                    let value = serde_json::from_slice(r.value.as_deref()?).ok()?;
                    Some(((r.partition, r.offset), value))
                })
                .collect();
            for (position, echo) in echoes {
                if !invoked.contains_key(&position) && inputs.get(&position) == Some(&echo) {
                    invoked.insert(position, 1);
                    missing_from_log += 1;
                }
            }
        }
        if run.function.is_some() {
            for position in function_errors {
                if let std::collections::btree_map::Entry::Vacant(e) = invoked.entry(position) {
                    e.insert(1);
                    missing_from_log += 1;
                }
            }
        }
        let dlq = tally(dead.iter().copied());
        let outcomes = tally(results.into_iter().chain(dead));
        let committed = self
            .committed(
                &format!("connect-{}", run.connector),
                run.topic,
                run.partitions,
            )
            .await?;
        let committed_at = |p: i32| {
            usize::try_from(p)
                .ok()
                .and_then(|i| committed.get(i))
                .map_or(0, |c| (*c).max(0))
        };
        let (resolved, pending): (Vec<Position>, Vec<Position>) =
            produced.iter().partition(|(p, o)| *o < committed_at(*p));
        let lost: Vec<Position> = resolved
            .into_iter()
            .filter(|p| !invoked.contains_key(p) && !dlq.contains_key(p))
            .collect();
        let without: Vec<Position> = produced
            .iter()
            .filter(|p| !outcomes.contains_key(p))
            .copied()
            .collect();
        let committed_to_end = committed
            .iter()
            .zip(&end)
            .all(|(c, e)| c == e || (*c == -1 && *e == 0));
        Ok(Verdict {
            produced: produced.len(),
            invoked: invoked.len(),
            duplicate_invocations: invoked.values().map(|n| n - 1).sum(),
            dead_lettered: dlq.len(),
            with_outcome: outcomes.len(),
            duplicate_outcomes: outcomes.values().map(|n| n - 1).sum(),
            lost_count: lost.len(),
            lost: lost.into_iter().take(20).collect(),
            pending: pending.len(),
            missing_from_log,
            without_outcome_count: without.len(),
            without_outcome: without.into_iter().take(20).collect(),
            committed_to_end,
        })
    }

    /// The number of partitions of `topic`.
    ///
    /// # Errors
    /// When metadata cannot be fetched.
    pub async fn partition_count(&self, topic: &str) -> anyhow::Result<i32> {
        let config = self.kafka_config();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            use rdkafka::consumer::{BaseConsumer, Consumer};
            let consumer: BaseConsumer = config.create()?;
            let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
            let n = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            Ok(i32::try_from(n)?)
        })
        .await?
    }
}
