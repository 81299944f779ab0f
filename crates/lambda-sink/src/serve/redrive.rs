//! DLQ redrive: records from a connector's dead letter queue replayed
//! through its pipeline, as the original records (topic, partition, offset
//! and headers from the `__connect.errors.*` context headers; those and
//! ESM's `lambda.*` failure context, which described the old failure, are
//! dropped), so an operator who fixed the function or the data recovers
//! without a script. Outcomes go where the connector sends them; a record
//! that fails again is dead-lettered again.
//!
//! What was redriven is kept in the config topic (`redrives-<name>`): a
//! cursor per DLQ partition, so a redrive without a range takes what came
//! after the last one, and the latest redrives with their counts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::connect::records::ConnectorEntry;
use lambda_sink_core::record::SourceRecord;
use lambda_sink_core::route::Outcome;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::admin::{Admin, AdminError, Redriver};
use crate::clock::epoch_ms;
use crate::error::{Error, Fault, OrFault};
use crate::kafka::client_config;
use crate::kafka::failed;
use crate::kafka::producer::Producers;
use crate::kafka::ranges::{RangeReader, Span};
use crate::metrics::{Metrics, OutcomeLabel};
use crate::pipeline::{self, Telemetry};
use crate::status::ServiceStatus;
use lambda_sink_core::connect::redrive::Request;

/// Redrives remembered in `redrives-<name>`.
const HISTORY: usize = 20;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a redrive could not run.
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    /// The request cannot be served as asked (400).
    #[error("{0}")]
    Refused(String),
    /// Kafka or the pipeline failed (500).
    #[error("{0}")]
    Failed(#[from] Error),
}

/// One DLQ partition's range: `from..to`.
pub struct Range {
    /// Partition.
    pub partition: i32,
    /// First offset.
    pub from: i64,
    /// Offset to stop before.
    pub to: i64,
}

/// Each partition of `topic` with its low and high watermarks.
///
/// # Errors
/// When Kafka cannot be asked.
pub async fn watermarks(config: &Config, topic: &str) -> Result<Vec<(i32, i64, i64)>, Error> {
    let (config, topic) = (config.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || -> Result<Vec<(i32, i64, i64)>, Error> {
        let props = client_config(&config.kafka.client_properties(ClientRole::Admin));
        let c: BaseConsumer = props.create().map_err(failed("creating the DLQ reader"))?;
        let metadata = c
            .fetch_metadata(Some(&topic), TIMEOUT)
            .map_err(failed("reading the DLQ's partitions"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        partitions
            .into_iter()
            .map(|p| {
                let (low, high) = c
                    .fetch_watermarks(&topic, p, TIMEOUT)
                    .map_err(failed("reading the DLQ's offsets"))?;
                Ok((p, low, high))
            })
            .collect()
    })
    .await
    .or_fault(Fault::Internal, "the DLQ reader ended abnormally")?
}

/// The records of `ranges` (at most `max`) as read, headers and all, with
/// the DLQ offset after the last one read per partition.
///
/// # Errors
/// When Kafka cannot be read in time.
pub async fn read_ranges(
    config: &Config,
    topic: &str,
    ranges: Vec<Range>,
    max: usize,
) -> Result<Read, Error> {
    let (config, topic) = (config.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || read(&config, &topic, &ranges, max))
        .await
        .or_fault(Fault::Internal, "the DLQ reader ended abnormally")?
}

/// Dead letters as read (their headers still on, and their DLQ position
/// in `partition`/`offset`) and, per DLQ partition, the offset after the
/// last one read.
pub type Read = (Vec<SourceRecord>, BTreeMap<i32, i64>);

/// The records of `ranges`, at most `max`.
fn read(config: &Config, topic: &str, ranges: &[Range], max: usize) -> Result<Read, Error> {
    let mut spans: Vec<Span> = ranges
        .iter()
        .map(|r| Span {
            partition: r.partition,
            next: r.from,
            to: r.to,
        })
        .collect();
    let reader = RangeReader::new(&config.kafka, "lambda-sink-redrive", topic, &spans)?;
    let records = reader.read(&mut spans, max)?;
    Ok((
        records,
        spans.iter().map(|s| (s.partition, s.next)).collect(),
    ))
}

/// The original record of a dead letter (from its context headers, which
/// are dropped); `None` without them.
fn original(mut record: SourceRecord) -> Option<SourceRecord> {
    let header = |name: &str| {
        record
            .headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::to_string)
    };
    let topic = header("__connect.errors.topic")?;
    let partition = header("__connect.errors.partition")?.parse().ok()?;
    let offset = header("__connect.errors.offset")?.parse().ok()?;
    record
        .headers
        .retain(|(k, _)| !lambda_sink_core::dead_letter::is_added_header(k));
    record.topic = Arc::from(topic.as_str());
    record.partition = partition;
    record.offset = offset;
    Some(record)
}

/// Redrives `request` of `name`'s DLQ through `config`'s pipeline and
/// records it; the report.
///
/// # Errors
/// [`RedriveError::Refused`] without a DLQ or for partitions it does not
/// have; otherwise what failed.
async fn redrive(
    worker: &DlqRedriver,
    admin: &Admin,
    name: &str,
    entry: &ConnectorEntry,
    config: Config,
    request: Request,
) -> Result<Value, RedriveError> {
    let Some(dlq) = config.errors.dlq.as_ref() else {
        return Err(RedriveError::Refused(
            "the connector has no dead letter queue (errors.tolerance=all with errors.deadletterqueue.topic.name)".into(),
        ));
    };
    let topic = dlq.topic.name.as_str().to_string();
    let ranges = ranges(&config, &topic, entry, &request).await?;
    let (reader_config, reader_topic, max) = (config.clone(), topic.clone(), request.max_records);
    let (dead, next) =
        tokio::task::spawn_blocking(move || read(&reader_config, &reader_topic, &ranges, max))
            .await
            .or_fault(Fault::Internal, "the DLQ reader ended abnormally")??;
    let read_count = dead.len();
    let (records, skipped) = originals(dead);
    let redriven = records.len();
    let metrics = Arc::new(Metrics::new());
    let telemetry = Telemetry::of(
        metrics.clone(),
        Arc::new(ServiceStatus::new(name, config.connector_id.as_str(), 0)),
    );
    if !records.is_empty() {
        pipeline::replay(
            config,
            records,
            worker.shutdown.clone(),
            telemetry,
            &worker.producers,
            None,
        )
        .await
        .map_err(|e| Error::unavailable(format!("the redrive stopped: {e}")))?;
    }
    let report = json!({
        "dlq_topic": topic,
        "at": epoch_ms(),
        "worker_id": worker.worker_id,
        "read": read_count,
        "redriven": redriven,
        "skipped_without_context_headers": skipped,
        "duplicates": read_count - redriven - skipped,
        "ranges": next
            .iter()
            .map(|(p, to)| json!({ "partition": p, "to_offset": to }))
            .collect::<Vec<_>>(),
        "outcomes": outcomes(&metrics),
    });
    admin
        .record_redrives(name, remembered(entry, &next, &report))
        .await
        .map_err(|e| Error::unavailable(format!("recording the redrive: {e}")))?;
    Ok(report)
}

/// The DLQ ranges `request` asks for: from its offset, else after the last
/// redrive, else the start; to its offset, else the end now.
async fn ranges(
    config: &Config,
    topic: &str,
    entry: &ConnectorEntry,
    request: &Request,
) -> Result<Vec<Range>, RedriveError> {
    let cursor = |p: i32| {
        entry
            .redrives
            .as_ref()
            .and_then(|r| r["cursor"][p.to_string()].as_i64())
    };
    let watermarks = watermarks(config, topic).await?;
    if let Some(wanted) = &request.partitions
        && let Some(p) = wanted
            .iter()
            .find(|p| !watermarks.iter().any(|w| w.0 == **p))
    {
        return Err(RedriveError::Refused(format!(
            "the DLQ {topic} has no partition {p}"
        )));
    }
    Ok(watermarks
        .iter()
        .filter(|(p, _, _)| request.partitions.as_ref().is_none_or(|w| w.contains(p)))
        .map(|&(partition, low, high)| Range {
            partition,
            from: request
                .from_offset
                .or_else(|| cursor(partition))
                .unwrap_or(low)
                .max(low),
            to: request.to_offset.unwrap_or(high).min(high),
        })
        .collect())
}

/// The latest dead letter of each original record, in offset order, and
/// how many dead letters had no context headers to find it by.
fn originals(dead: Vec<SourceRecord>) -> (Vec<SourceRecord>, usize) {
    let mut originals: BTreeMap<(String, i32, i64), SourceRecord> = BTreeMap::new();
    let mut skipped = 0;
    for record in dead {
        match original(record) {
            Some(r) => {
                originals.insert((r.topic.to_string(), r.partition, r.offset), r);
            }
            None => skipped += 1,
        }
    }
    (originals.into_values().collect(), skipped)
}

/// How many redriven records got each outcome.
pub(super) fn outcomes(metrics: &Metrics) -> serde_json::Map<String, Value> {
    let mut outcomes = serde_json::Map::new();
    for o in [
        Outcome::Success,
        Outcome::Accepted,
        Outcome::Ignored,
        Outcome::FunctionError,
        Outcome::InvocationError,
        Outcome::DeadLetter,
        Outcome::Filtered,
    ] {
        let n = metrics
            .records_resolved
            .get_or_create(&OutcomeLabel {
                outcome: o.as_str(),
            })
            .get();
        if n > 0 {
            outcomes.insert(o.as_str().into(), json!(n));
        }
    }
    outcomes
}

/// The connector's redrive record with this redrive in it: the cursor
/// moves past what was read, the report joins the history.
fn remembered(entry: &ConnectorEntry, next: &BTreeMap<i32, i64>, report: &Value) -> Value {
    let mut record = entry.redrives.clone().unwrap_or_else(|| json!({}));
    for (p, to) in next {
        record["cursor"][p.to_string()] = json!(to);
    }
    let mut history: Vec<Value> = record["history"].as_array().cloned().unwrap_or_default();
    history.push(report.clone());
    let keep = history.len().saturating_sub(HISTORY);
    record["history"] = json!(history.split_off(keep));
    record
}

/// Redrives through this worker's pipeline.
pub(crate) struct DlqRedriver {
    /// The worker's stop: a redrive in progress stops with it.
    pub(crate) shutdown: CancellationToken,
    /// This worker's id, in the report.
    pub(crate) worker_id: String,
    /// The worker's outcome producers.
    pub(crate) producers: Producers,
}

impl Redriver for DlqRedriver {
    fn redrive<'a>(
        &'a self,
        admin: &'a Admin,
        name: &'a str,
        entry: &'a ConnectorEntry,
        config: Config,
        request: Request,
    ) -> BoxFuture<'a, Result<Value, AdminError>> {
        Box::pin(async move {
            redrive(self, admin, name, entry, config, request)
                .await
                .map_err(|e| match e {
                    RedriveError::Refused(m) => AdminError::Invalid(m),
                    RedriveError::Failed(e) => AdminError::Unavailable(format!("{e:#}")),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_record_comes_from_the_context_headers() {
        let text = |k: &str, v: &str| (k.to_string(), Some(v.as_bytes().to_vec()));
        let dead = SourceRecord {
            topic: Arc::from("dlq-c"),
            partition: 0,
            offset: 0,
            timestamp: Some(5),
            timestamp_type: lambda_sink_core::record::TimestampType::CreateTime,
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![
                text("own", "1"),
                text("__connect.errors.topic", "orders"),
                text("__connect.errors.partition", "3"),
                text("__connect.errors.offset", "42"),
                text("__connect.errors.stage", "VALUE_CONVERTER"),
                text("lambda.requestContext.condition", "RetryAttemptsExhausted"),
                text("lambda-sink.failedRecordOffset", "42"),
            ],
        };
        let r = original(dead.clone()).expect("has context");
        assert_eq!((&*r.topic, r.partition, r.offset), ("orders", 3, 42));
        assert_eq!(r.headers, vec![text("own", "1")]);
        let mut bare = dead;
        bare.headers.truncate(1);
        assert!(original(bare).is_none());
    }
}
