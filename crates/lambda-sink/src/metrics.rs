//! Prometheus metrics (SPEC §7), served at `/metrics`.
//!
//! Labels stay low-cardinality: outcome, reason and invocation-type enums,
//! and topic/partition only where Kafka exporters use them (lag, committed
//! offsets, lag in time and stalls) — never offsets, keys or error
//! messages.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Metric, Registry};

/// `{topic}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    /// Input topic.
    pub topic: String,
}

/// `{topic, partition}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    /// Input topic.
    pub topic: String,
    /// Partition number.
    pub partition: String,
}

/// `{outcome}` of a resolved record.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `success`, `function_error`, `invocation_error`, `ignored`, `dlq`, `accepted`.
    pub outcome: &'static str,
}

/// `{result}` of one invocation attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `success`, `function_error`, `retryable_error`, `too_large`, `config_error`.
    pub result: &'static str,
}

/// `{reason}` of a retry.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// A `RetryReason`, or `registry` for Schema Registry outages.
    pub reason: &'static str,
}

/// `{type}` of invocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// `sync` or `async`.
    pub r#type: &'static str,
}

/// A registered clone of one of [`Metrics`]' metrics.
#[derive(Debug)]
struct Shared(Box<dyn Metric>);

impl EncodeMetric for Shared {
    fn encode(&self, encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// Every metric lambda-sink exports.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Records consumed from Kafka.
    pub records_consumed: Family<TopicLabel, Counter>,
    /// Records whose outcome was decided.
    pub records_resolved: Family<OutcomeLabel, Counter>,
    /// Invocation attempts.
    pub invocations: Family<ResultLabel, Counter>,
    /// Invocation attempt latency.
    pub invocation_duration: Family<TypeLabel, Histogram>,
    /// Records per batch.
    pub batch_records: Histogram,
    /// Request bytes per batch.
    pub batch_bytes: Histogram,
    /// Retries by reason.
    pub retries: Family<ReasonLabel, Counter>,
    /// 429 responses from Lambda.
    pub throttles: Counter,
    /// Failed batches split in two (`aws.lambda.bisect.on.function.error`).
    pub bisections: Counter,
    /// Exactly-once transactions, by result (`committed`, `aborted`).
    pub transactions: Family<ResultLabel, Counter>,
    /// Invocations in flight now.
    pub in_flight: Gauge,
    /// The in-flight limit now (`aws.lambda.max.in.flight`, lowered while
    /// Lambda throttles when `aws.lambda.adaptive.concurrency` is on).
    pub in_flight_limit: Gauge,
    /// Partitions held back because their buffer is full.
    pub full_partitions: Gauge,
    /// 1 while the connector is FAILED on this instance.
    pub connector_failed: Gauge,
    /// Keys parked by this instance (`aws.lambda.on.key.failure=park`).
    pub parked_keys: Gauge,
    /// Records parked by this instance.
    pub parked_records: Gauge,
    /// When this instance's longest-parked key was parked (epoch
    /// seconds; 0 when none is).
    pub parked_oldest_timestamp: Gauge,
    /// Releases of parked keys' records, by result (`released`, `failed`,
    /// `gave_up`).
    pub park_releases: Family<ResultLabel, Counter>,
    /// Consumer lag per partition (librdkafka statistics).
    pub consumer_lag: Family<PartitionLabels, Gauge>,
    /// Committed offset per partition (librdkafka statistics).
    pub committed_offset: Family<PartitionLabels, Gauge>,
    /// Age of each partition's oldest record not yet resolved.
    pub oldest_unresolved_age: Family<PartitionLabels, Gauge<f64, AtomicU64>>,
    /// Seconds the next record of each partition not yet taken has waited.
    pub next_record_age: Family<PartitionLabels, Gauge<f64, AtomicU64>>,
    /// Each partition's high watermark as of the last statistics (not
    /// exposed: what [`Self::partition_end`] reads).
    pub end_offset: Family<PartitionLabels, Gauge>,
    /// How long each partition's committable offset has not moved while
    /// records waited.
    pub stuck_seconds: Family<PartitionLabels, Gauge<f64, AtomicU64>>,
    /// 1 while a partition is stalled (`partition.stall.timeout.ms`).
    pub stalled: Family<PartitionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Counts a retry for `reason` (a `RetryReason`'s label, or
    /// `function_error`).
    pub fn retried(&self, reason: &'static str) {
        self.retries.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("lambda_sink");
        let m = Self {
            records_consumed: Family::default(),
            records_resolved: Family::default(),
            invocations: Family::default(),
            invocation_duration: Family::new_with_constructor(|| {
                // 1 ms … ~880 s (Lambda's 15 minutes), a fourth of an
                // octave apart: interpolated, a fixed latency reads within
                // 10 % (docs/decisions.md, "Latency buckets").
                Histogram::new(exponential_buckets(0.001, 2f64.powf(0.25), 80))
            }),
            batch_records: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            batch_bytes: Histogram::new(exponential_buckets(256.0, 4.0, 10)),
            retries: Family::default(),
            throttles: Counter::default(),
            bisections: Counter::default(),
            transactions: Family::default(),
            in_flight: Gauge::default(),
            in_flight_limit: Gauge::default(),
            full_partitions: Gauge::default(),
            connector_failed: Gauge::default(),
            parked_keys: Gauge::default(),
            parked_records: Gauge::default(),
            parked_oldest_timestamp: Gauge::default(),
            park_releases: Family::default(),
            consumer_lag: Family::default(),
            committed_offset: Family::default(),
            oldest_unresolved_age: Family::default(),
            next_record_age: Family::default(),
            end_offset: Family::default(),
            stuck_seconds: Family::default(),
            stalled: Family::default(),
            registry: Mutex::new(Registry::default()),
        };
        for (name, help, metric) in m.table() {
            r.register(name, help, Shared(metric));
        }
        *m.registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = r;
        m
    }

    /// Every metric with its name and help, in exposition order (clones
    /// share the values).
    fn table(&self) -> Vec<(&'static str, &'static str, Box<dyn Metric>)> {
        let mut table: Vec<(&'static str, &'static str, Box<dyn Metric>)> = vec![
            (
                "records_consumed",
                "Records consumed from Kafka",
                Box::new(self.records_consumed.clone()),
            ),
            (
                "records_resolved",
                "Records whose outcome is decided, by outcome (success, function_error, invocation_error, ignored, dlq, accepted, filtered, parked)",
                Box::new(self.records_resolved.clone()),
            ),
            (
                "invocations",
                "Lambda invocation attempts, by result",
                Box::new(self.invocations.clone()),
            ),
            (
                "invocation_duration_seconds",
                "Latency of one invocation attempt",
                Box::new(self.invocation_duration.clone()),
            ),
            (
                "batch_records",
                "Records per invocation",
                Box::new(self.batch_records.clone()),
            ),
            (
                "batch_bytes",
                "Request bytes per invocation",
                Box::new(self.batch_bytes.clone()),
            ),
            (
                "retries",
                "Invocation retries, by reason",
                Box::new(self.retries.clone()),
            ),
            (
                "throttles",
                "Throttling responses (429) from Lambda",
                Box::new(self.throttles.clone()),
            ),
            (
                "bisections",
                "Batches split in two after a function error (aws.lambda.bisect.on.function.error)",
                Box::new(self.bisections.clone()),
            ),
            (
                "transactions",
                "Exactly-once transactions of outcome records and offsets (reporter.exactly.once), by result (committed, aborted)",
                Box::new(self.transactions.clone()),
            ),
            (
                "in_flight_invocations",
                "Invocations in flight",
                Box::new(self.in_flight.clone()),
            ),
            (
                "in_flight_limit",
                "Most invocations allowed in flight now: aws.lambda.max.in.flight, lowered while Lambda throttles (aws.lambda.adaptive.concurrency)",
                Box::new(self.in_flight_limit.clone()),
            ),
            (
                "connector_failed",
                "1 while the connector is FAILED on this instance (its trace is in the status)",
                Box::new(self.connector_failed.clone()),
            ),
            (
                "full_partitions",
                "Partitions held back because max.poll.records of their records wait for Lambda",
                Box::new(self.full_partitions.clone()),
            ),
        ];
        table.extend(self.park_table());
        table.extend(self.partition_table());
        table
    }

    /// The metrics of parked keys (`aws.lambda.on.key.failure=park`).
    fn park_table(&self) -> Vec<(&'static str, &'static str, Box<dyn Metric>)> {
        vec![
            (
                "parked_keys",
                "Keys parked after a record of theirs failed for good (aws.lambda.on.key.failure=park), on this instance",
                Box::new(self.parked_keys.clone()),
            ),
            (
                "parked_records",
                "Records of parked keys waiting in the parked topic, on this instance",
                Box::new(self.parked_records.clone()),
            ),
            (
                "parked_oldest_timestamp_seconds",
                "When the longest-parked key on this instance was parked, in seconds since the epoch (0 when none is): alert on time() minus it",
                Box::new(self.parked_oldest_timestamp.clone()),
            ),
            (
                "park_releases",
                "Releases of a parked key's records, by result: released (invoked and resolved), failed (failed again, still parked), gave_up (resolved as failed after aws.lambda.park.max.attempts)",
                Box::new(self.park_releases.clone()),
            ),
        ]
    }

    /// The metrics labelled by partition.
    fn partition_table(&self) -> Vec<(&'static str, &'static str, Box<dyn Metric>)> {
        vec![
            (
                "consumer_lag",
                "Records between the consumer's position and the end of the partition",
                Box::new(self.consumer_lag.clone()),
            ),
            (
                "committed_offset",
                "Committed offset of the connector's group, per partition",
                Box::new(self.committed_offset.clone()),
            ),
            (
                "partition_oldest_unresolved_age_seconds",
                "Lag in time: seconds since the partition's oldest record not yet resolved was written (its timestamp); 0 when nothing waits",
                Box::new(self.oldest_unresolved_age.clone()),
            ),
            (
                "partition_next_record_age_seconds",
                "Seconds the partition's next record not yet taken has waited since it was written, at most (the last taken record's age while the partition's high watermark, as of the last consumer statistics, is past it); 0 when nothing waits",
                Box::new(self.next_record_age.clone()),
            ),
            (
                "partition_stuck_seconds",
                "Seconds the partition's committable offset has not moved while its records wait; 0 while it moves or nothing waits",
                Box::new(self.stuck_seconds.clone()),
            ),
            (
                "partition_stalled",
                "1 while the partition is stalled: stuck for partition.stall.timeout.ms or longer",
                Box::new(self.stalled.clone()),
            ),
        ]
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Counts `n` records resolved with `outcome`.
    pub fn resolved(&self, outcome: lambda_sink_core::route::Outcome, n: usize) {
        self.records_resolved
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// Forgets a partition's gauges (after it is revoked).
    pub fn forget_partition(&self, topic: &str, partition: i32) {
        let labels = PartitionLabels {
            topic: topic.to_string(),
            partition: partition.to_string(),
        };
        self.consumer_lag.remove(&labels);
        self.committed_offset.remove(&labels);
        self.end_offset.remove(&labels);
        self.forget_progress(&labels);
    }

    /// Sets a partition's progress gauges.
    pub fn progress(
        &self,
        labels: &PartitionLabels,
        p: &lambda_sink_core::progress::Progress,
        next_record_age: f64,
    ) {
        self.oldest_unresolved_age
            .get_or_create(labels)
            .set(p.oldest_unresolved_age);
        self.next_record_age
            .get_or_create(labels)
            .set(next_record_age);
        self.stuck_seconds
            .get_or_create(labels)
            .set(p.stuck_for.as_secs_f64());
        self.stalled.get_or_create(labels).set(i64::from(p.stalled));
    }

    /// The offset a partition's next written record gets (its high
    /// watermark) as of the consumer's last statistics; `None` before any.
    pub fn partition_end(&self, labels: &PartitionLabels) -> Option<i64> {
        Some(self.end_offset.get(labels)?.get())
    }

    /// Forgets a partition's progress gauges (its worker ended).
    pub fn forget_progress(&self, labels: &PartitionLabels) {
        self.oldest_unresolved_age.remove(labels);
        self.next_record_age.remove(labels);
        self.stuck_seconds.remove(labels);
        self.stalled.remove(labels);
    }
}

/// The Prometheus text of several connectors' metrics (`serve`), every
/// sample labelled with its `connector`, each family's HELP and TYPE
/// once.
pub fn encode_by_connector(connectors: &[(String, std::sync::Arc<Metrics>)]) -> String {
    use std::borrow::Cow;
    // family → (header lines, sample lines), in first-seen order.
    let mut families: Vec<(String, Vec<String>, Vec<String>)> = Vec::new();
    for (name, metrics) in connectors {
        // prometheus_client writes label values as given: escape them.
        let value = name
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let mut r = Registry::with_prefix_and_labels(
            "lambda_sink",
            std::iter::once((Cow::Borrowed("connector"), Cow::Owned(value))),
        );
        for (metric, help, m) in metrics.table() {
            r.register(metric, help, Shared(m));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &r);
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if line == "# EOF" {
                continue;
            }
            if let Some(rest) = line.strip_prefix("# ") {
                let family = rest.split_whitespace().nth(1).unwrap_or_default();
                let at = match families.iter().position(|f| f.0 == family) {
                    Some(at) => at,
                    None => {
                        families.push((family.to_string(), Vec::new(), Vec::new()));
                        families.len() - 1
                    }
                };
                if !families[at].1.iter().any(|h| h == line) {
                    families[at].1.push(line.to_string());
                }
                current = Some(at);
            } else if let Some(at) = current {
                families[at].2.push(line.to_string());
            }
        }
    }
    let mut out = String::new();
    for (_, headers, samples) in families {
        for line in headers.iter().chain(&samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn exposition_has_every_metric_with_help() {
        let m = Arc::new(Metrics::new());
        m.resolved(lambda_sink_core::route::Outcome::Success, 3);
        m.invocation_duration
            .get_or_create(&TypeLabel { r#type: "sync" })
            .observe(0.02);
        m.consumer_lag
            .get_or_create(&PartitionLabels {
                topic: "t".into(),
                partition: "0".into(),
            })
            .set(5);
        let text = m.encode();
        for name in [
            "lambda_sink_records_resolved_total{outcome=\"success\"} 3",
            "lambda_sink_invocation_duration_seconds_count{type=\"sync\"} 1",
            "lambda_sink_consumer_lag{topic=\"t\",partition=\"0\"} 5",
            "# HELP lambda_sink_throttles Throttling responses (429) from Lambda.",
            "lambda_sink_in_flight_invocations 0",
            "lambda_sink_in_flight_limit 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        let other = Arc::new(Metrics::new());
        other.throttles.inc();
        let both = encode_by_connector(&[("a\"b".into(), m.clone()), ("c".into(), other)]);
        assert_eq!(
            both.matches("# HELP lambda_sink_throttles ").count(),
            1,
            "{both}"
        );
        assert!(
            both.contains("lambda_sink_throttles_total{connector=\"c\"} 1"),
            "{both}"
        );
        assert!(
            both.contains(
                "lambda_sink_records_resolved_total{connector=\"a\\\"b\",outcome=\"success\"} 3"
            ),
            "{both}"
        );
        assert!(both.ends_with("# EOF\n"));
        m.forget_partition("t", 0);
        assert!(!m.encode().contains("lambda_sink_consumer_lag{"));
    }
}
