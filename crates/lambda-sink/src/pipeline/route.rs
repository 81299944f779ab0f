//! Carrying out a batch's [`Resolution`] (decided by the core's
//! [`route`](lambda_sink_core::route)) with the [`Router`]: the result,
//! error and dead letter records Kafka receives, with Confluent's headers,
//! handed to the [`Committer`] with the records they resolve; or the
//! message the connector stops with. With `aws.lambda.on.key.failure=park`
//! it also writes parked records to the parked topic, and a releasing
//! router ([`Mode::Release`]) resolves parked records: their outcomes and
//! the parked topic's releases are delivered directly, their input offsets
//! having been committed when they were parked.

use std::sync::Arc;

use lambda_sink_core::dead_letter::{self, DeadLetter};
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::outcome::{self, ResultValue};
use lambda_sink_core::park;
use lambda_sink_core::record::{SourceRecord, TopicPartition, offset_range};
use lambda_sink_core::route::{self, Invoked, Outcome, Resolution, Stop, Write};
use tracing::warn;

use super::commit::{self, Committer};
use super::context::{Context, Halt};
use crate::clock::epoch_ms;
use crate::kafka::producer::OutcomeRecord;

/// What a router's resolved records are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Records taken from the partition: resolved into the committer.
    Commit,
    /// Parked records being released: their outcomes delivered, their
    /// parked entries released.
    Release,
}

/// A partition's router: what its resolved records become.
pub(super) struct Router {
    ctx: Arc<Context>,
    tp: TopicPartition,
    task: usize,
    committer: Committer,
    mode: Mode,
}

impl Router {
    /// The router of `tp` (of task `task`), resolving into `committer`.
    pub(super) fn new(
        ctx: Arc<Context>,
        tp: TopicPartition,
        task: usize,
        committer: Committer,
        mode: Mode,
    ) -> Self {
        Self {
            ctx,
            tp,
            task,
            committer,
            mode,
        }
    }

    /// Hands resolved `records` and their outcome records on: to the
    /// committer, or (releasing) delivered with the parked topic's release
    /// of each record.
    async fn resolve(
        &self,
        records: &[SourceRecord],
        outcome: Outcome,
        outcomes: Vec<OutcomeRecord>,
    ) -> Result<(), Halt> {
        match (self.mode, &self.ctx.parking) {
            (Mode::Release, Some(parking)) => {
                let mut outcomes = commit::tagged(records, outcomes);
                outcomes.extend(records.iter().map(|r| {
                    let tombstone = OutcomeRecord {
                        topic: parking.topic.clone(),
                        key: Some(park::entry_key(&self.tp, r.offset)),
                        value: None,
                        headers: Vec::new(),
                        timestamp: None,
                    };
                    (r.offset, tombstone)
                }));
                self.committer
                    .deliver(records.len(), outcome, outcomes)
                    .await
            }
            _ => self.committer.resolve(records, outcome, outcomes).await,
        }
    }

    /// Parks `records` (of keys that failed for good, or of parked keys)
    /// for `reason`: each is written to the parked topic and resolved as
    /// `parked`, so the input offset moves past it. `again`: records parked
    /// before (consumed again after a crash), only resolved.
    pub(super) async fn park(
        &self,
        records: &[SourceRecord],
        again: &[SourceRecord],
        reason: &str,
    ) -> Result<(), Halt> {
        let Some(parking) = &self.ctx.parking else {
            return Err(Halt::Failed("parking a key while parking is off".into()));
        };
        let now = epoch_ms();
        let outcomes = records
            .iter()
            .map(|r| OutcomeRecord {
                topic: parking.topic.clone(),
                key: Some(park::entry_key(&self.tp, r.offset)),
                value: Some(park::encode(r, reason, now)),
                headers: Vec::new(),
                timestamp: None,
            })
            .collect();
        self.committer
            .resolve(records, Outcome::Parked, outcomes)
            .await?;
        if again.is_empty() {
            return Ok(());
        }
        self.committer
            .resolve(again, Outcome::Parked, Vec::new())
            .await
    }

    /// Writes a parked key's failed retries over the entry of its first
    /// parked record (`attempts`, the last because of `reason`), once
    /// Kafka has it: its releases' later tombstones come after it.
    pub(super) async fn retried(
        &self,
        first: &SourceRecord,
        reason: &str,
        parked_at: i64,
        attempts: u32,
    ) -> Result<(), Halt> {
        let Some(parking) = &self.ctx.parking else {
            return Err(Halt::Failed("a parked key while parking is off".into()));
        };
        let entry = OutcomeRecord {
            topic: parking.topic.clone(),
            key: Some(park::entry_key(&self.tp, first.offset)),
            value: Some(park::encode_retried(first, reason, parked_at, attempts)),
            headers: Vec::new(),
            timestamp: None,
        };
        self.committer
            .deliver(0, Outcome::Parked, vec![(first.offset, entry)])
            .await
    }

    /// Writes what `resolution` says for `records` and hands them to the
    /// committer, or stops the connector.
    pub(super) async fn apply(
        &self,
        records: Vec<SourceRecord>,
        resolution: Resolution,
    ) -> Result<(), Halt> {
        let (outcome, write) = match resolution {
            Resolution::Resolved(outcome, write) => (outcome, write),
            Resolution::Stop(stop) => return Err(Halt::Failed(self.stop_message(&records, &stop))),
        };
        let reporter = &self.ctx.config.reporter;
        let outcomes = match (write, &reporter.result, &reporter.error) {
            (Write::Results(results), Some(topic), _) => {
                // One topic name per batch, shared by its records.
                let name: Arc<str> = Arc::from(topic.name.as_str());
                records
                    .iter()
                    .zip(results)
                    .map(|(r, result)| OutcomeRecord {
                        topic: name.clone(),
                        key: None,
                        value: Some(result.encode(topic.value_format)),
                        headers: text_headers(outcome::input_record_headers(r)),
                        timestamp: None,
                    })
                    .collect()
            }
            (Write::Errors(error), _, Some(topic)) => {
                let name: Arc<str> = Arc::from(topic.name.as_str());
                let value = error.body.encode(topic.value_format);
                records
                    .iter()
                    .map(|r| OutcomeRecord {
                        topic: name.clone(),
                        key: None,
                        value: Some(value.clone()),
                        headers: text_headers(outcome::error_headers(r, &error)),
                        timestamp: None,
                    })
                    .collect()
            }
            (Write::DeadLetters(dead), _, _) => {
                return self.write_dead_letters(records, &dead).await;
            }
            _ => Vec::new(),
        };
        self.resolve(&records, outcome, outcomes).await
    }

    /// Sends records to the DLQ (original key, value, headers, timestamp,
    /// plus `__connect.errors.*` saying why).
    async fn write_dead_letters(
        &self,
        records: Vec<SourceRecord>,
        dead: &DeadLetter,
    ) -> Result<(), Halt> {
        let config = &self.ctx.config;
        let Some(dlq) = &config.errors.dlq else {
            let stop = Stop::Intolerable(dead.clone());
            return Err(Halt::Failed(self.stop_message(&records, &stop)));
        };
        let name: Arc<str> = Arc::from(dlq.topic.name.as_str());
        let mut outcomes = Vec::with_capacity(records.len());
        for record in &records {
            self.ctx.events.record(
                Event::new(
                    Level::Warn,
                    "dead_letter",
                    format!(
                        "record sent to the dead letter queue {} ({}): {}",
                        dlq.topic.name,
                        dead.stage.as_str(),
                        dead.message
                    ),
                )
                .task(self.task)
                .partition(&self.tp.topic, self.tp.partition)
                .offsets(record.offset),
            );
            let mut headers = record.headers.clone();
            if dlq.context_headers {
                let connector = config.name.as_str();
                headers.extend(text_headers(dead_letter::dlq_headers(
                    record, connector, self.task, dead,
                )));
            }
            outcomes.push(OutcomeRecord {
                topic: name.clone(),
                key: record.key.clone(),
                value: record.value.clone(),
                headers,
                timestamp: record.timestamp,
            });
        }
        self.resolve(&records, Outcome::DeadLetter, outcomes).await
    }

    /// A record that cannot be processed: to the DLQ, or stop without one.
    pub(super) async fn dead_letter(
        &self,
        record: SourceRecord,
        dead: DeadLetter,
    ) -> Result<(), Halt> {
        let resolution = route::dead_letter(dead, &self.ctx.policy);
        self.apply(vec![record], resolution).await
    }

    /// Resolves a record a transform dropped: committed, never invoked.
    pub(super) async fn filtered(&self, record: SourceRecord) -> Result<(), Halt> {
        let resolution = Resolution::Resolved(Outcome::Filtered, Write::Nothing);
        self.apply(vec![record], resolution).await
    }

    /// Why the connector stops, for the operator: what failed, where, and
    /// that the records are not committed.
    fn stop_message(&self, records: &[SourceRecord], stop: &Stop) -> String {
        match stop {
            Stop::Failed(error) => format!(
                "{} error on {} offsets {} ({}, status {}): {}; behavior.on.error=fail stops the connector, and these records are not committed",
                error.class.as_str(),
                self.tp,
                offset_range(records.iter()),
                error.error_type,
                error.status_code,
                body_text(&error.body),
            ),
            Stop::Intolerable(d) => format!(
                "record {}@{} cannot be processed ({}: {}) and errors.tolerance=none",
                self.tp,
                records.first().map_or(-1, |r| r.offset),
                d.stage.as_str(),
                d.message
            ),
        }
    }
}

/// Logs a failed batch that `behavior.on.error` resolves (`ignore`, `log`).
pub(super) fn log_resolved_error(
    records: &[SourceRecord],
    resolution: &Resolution,
    finished: &Result<Invoked, InvokeFailure>,
) {
    let Resolution::Resolved(
        outcome @ (Outcome::Ignored | Outcome::FunctionError | Outcome::InvocationError),
        _,
    ) = resolution
    else {
        return;
    };
    let (class, error_type) = match finished {
        Ok(invoked) => (
            "function",
            invoked.function_error.clone().unwrap_or_default(),
        ),
        Err(failure) => ("invocation", failure.error_type()),
    };
    let message = match outcome {
        Outcome::Ignored => "function error ignored (behavior.on.error=ignore)",
        _ => "function error written to the error topic",
    };
    warn!(
        offsets = %offset_range(records.iter()),
        error_class = class,
        error_type = %error_type,
        "{message}"
    );
}

fn text_headers(headers: Vec<(&'static str, String)>) -> Vec<(String, Option<Vec<u8>>)> {
    headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v.into_bytes())))
        .collect()
}

fn body_text(body: &ResultValue) -> String {
    match body {
        ResultValue::Json(v) => v.to_string(),
        ResultValue::Text(t) => t.clone(),
    }
}
