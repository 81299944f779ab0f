//! The validated configuration: [`Config`] and the typed sections
//! validation builds it from (Kafka, AWS, Lambda, reporter, errors, service).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use regex::Regex;

use super::enums::*;
use super::names::{ConnectorId, FunctionRef, TopicName};
use super::secret::{MASK, Secret};
use crate::codec::{DataFormat, DecimalFormat, RecordConverter};

/// A validated connector configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// `name`.
    pub name: String,
    /// `connector.id`, or derived from `name`.
    pub connector_id: ConnectorId,
    /// `tasks.max`.
    pub tasks_max: usize,
    /// `topics` or `topics.regex`.
    pub subscription: Subscription,
    /// `input.key.format`.
    pub key_format: DataFormat,
    /// `input.data.format`.
    pub value_format: DataFormat,
    /// `max.poll.records`: records buffered per partition.
    pub max_buffered_per_partition: usize,
    /// Kafka connection.
    pub kafka: KafkaConfig,
    /// Schema Registry, when a format needs it.
    pub schema_registry: Option<SchemaRegistryConfig>,
    /// `value.converter.decimal.format`.
    pub decimal_format: DecimalFormat,
    /// AWS credentials, region and endpoint.
    pub aws: AwsConfig,
    /// The function(s) and how they are invoked.
    pub lambda: LambdaConfig,
    /// Where results and errors go (sync mode).
    pub reporter: ReporterConfig,
    /// What happens to records that cannot be processed.
    pub errors: ErrorsConfig,
    /// This process's HTTP endpoint and shutdown.
    pub service: ServiceConfig,
    /// `transforms` / `predicates`: applied to each decoded record.
    pub transforms: std::sync::Arc<crate::transform::Chain>,
}

impl Config {
    /// Every topic lambda-sink writes to, with what it is for.
    pub fn output_topics(&self) -> Vec<(&'static str, &OutputTopic)> {
        let mut out = Vec::new();
        if let Some(t) = &self.reporter.result {
            out.push(("result", &t.topic));
        }
        if let Some(t) = &self.reporter.error {
            out.push(("error", &t.topic));
        }
        if let Some(t) = &self.errors.dlq {
            out.push(("dead letter queue", &t.topic));
        }
        if let Some(p) = &self.errors.park {
            out.push(("parked records", &p.topic));
        }
        out
    }
}

/// What to consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// These topics.
    Topics(Vec<TopicName>),
    /// Every topic fully matching this regular expression.
    Pattern(String),
}

impl Subscription {
    /// Whether `topic` is (or would be) consumed.
    pub fn includes(&self, topic: &str) -> bool {
        match self {
            Self::Topics(topics) => topics.iter().any(|t| t.as_str() == topic),
            Self::Pattern(p) => full_match(p).is_ok_and(|re| re.is_match(topic)),
        }
    }

    /// The partitions subscribed to among `topics` (name, partition
    /// count). A listed topic that does not exist yet counts as one
    /// partition (what auto-creation gives by default).
    pub fn partitions<'a>(&self, topics: impl IntoIterator<Item = (&'a str, usize)>) -> usize {
        let existing: Vec<(&str, usize)> = topics.into_iter().collect();
        match self {
            Self::Topics(listed) => listed
                .iter()
                .map(|t| {
                    existing
                        .iter()
                        .find(|(name, _)| *name == t.as_str())
                        .map_or(1, |(_, n)| *n)
                })
                .sum(),
            Self::Pattern(_) => existing
                .iter()
                .filter(|(name, _)| self.includes(name))
                .map(|(_, n)| n)
                .sum(),
        }
    }
}

/// The regex anchored for a full match, as Kafka's `topics.regex` is applied.
pub(crate) fn full_match(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!("^(?:{pattern})$"))
}

/// A librdkafka property value from pass-through configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientValue {
    value: String,
    secret: bool,
}

impl ClientValue {
    /// A value; `secret` values are masked when printed.
    pub fn new(value: impl Into<String>, secret: bool) -> Self {
        Self {
            value: value.into(),
            secret,
        }
    }

    /// The value, to hand to librdkafka.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the value is masked when printed.
    pub fn is_secret(&self) -> bool {
        self.secret
    }
}

impl fmt::Debug for ClientValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.secret {
            f.write_str(MASK)
        } else {
            write!(f, "{:?}", self.value)
        }
    }
}

/// librdkafka properties by name.
pub type ClientProperties = BTreeMap<String, ClientValue>;

/// The Kafka connection.
#[derive(Clone, Debug)]
pub struct KafkaConfig {
    /// `kafka.bootstrap.servers`.
    pub bootstrap_servers: Vec<String>,
    /// Built-in authentication.
    pub auth: KafkaAuth,
    /// `kafka.*`: for every client.
    pub common: ClientProperties,
    /// `consumer.override.*` (without `auto.offset.reset`).
    pub consumer: ClientProperties,
    /// `producer.override.*`.
    pub producer: ClientProperties,
    /// `consumer.override.auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
}

/// Built-in Kafka authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaAuth {
    /// Whatever the `kafka.*` pass-through properties say.
    None,
    /// SASL_SSL + PLAIN with an API key and secret.
    ApiKey {
        /// `kafka.api.key`.
        key: String,
        /// `kafka.api.secret`.
        secret: Secret<String>,
    },
}

/// The Confluent Schema Registry.
#[derive(Clone, Debug)]
pub struct SchemaRegistryConfig {
    /// URLs, tried in turn.
    pub urls: Vec<String>,
    /// `user:password` for basic authentication.
    pub basic_auth: Option<Secret<String>>,
    /// `schema.context.name`.
    pub context: String,
}

/// AWS access.
#[derive(Clone, Debug)]
pub struct AwsConfig {
    /// Where credentials come from.
    pub credentials: AwsCredentials,
    /// A role to assume with those credentials.
    pub assume_role: Option<AssumeRole>,
    /// `aws.lambda.region`, else `kafka.region`; `None` means the AWS default chain.
    pub region: Option<String>,
    /// `aws.lambda.endpoint`.
    pub endpoint: Option<String>,
    /// `aws.lambda.proxy.*`.
    pub proxy: Option<Proxy>,
}

/// Source of AWS credentials.
#[derive(Clone, Debug)]
pub enum AwsCredentials {
    /// The AWS default credential chain.
    DefaultChain,
    /// Static keys.
    Static {
        /// `aws.access.key.id`.
        access_key_id: Secret<String>,
        /// `aws.secret.access.key`.
        secret_access_key: Secret<String>,
        /// `aws.session.token`.
        session_token: Option<Secret<String>>,
    },
}

/// `authentication.method=IAM Roles`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRole {
    /// `aws.iam.role.arn`.
    pub role_arn: String,
    /// `aws.iam.external.id`.
    pub external_id: Option<String>,
    /// `aws.iam.role.session.name`.
    pub session_name: String,
}

/// An HTTPS proxy for AWS calls.
#[derive(Clone, Debug)]
pub struct Proxy {
    /// `aws.lambda.proxy.url`.
    pub url: String,
    /// `aws.lambda.proxy.user`.
    pub user: Option<String>,
    /// `aws.lambda.proxy.password`.
    pub password: Option<Secret<String>>,
}

/// Which function a topic's records go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// Every topic to one function.
    Single(FunctionRef),
    /// Each topic to its own function.
    ByTopic(BTreeMap<TopicName, FunctionRef>),
}

impl Routing {
    /// The function for `topic`, if it has one.
    pub fn function_for(&self, topic: &str) -> Option<&FunctionRef> {
        match self {
            Self::Single(f) => Some(f),
            Self::ByTopic(map) => map
                .iter()
                .find(|(t, _)| t.as_str() == topic)
                .map(|(_, f)| f),
        }
    }

    /// Every distinct function.
    pub fn functions(&self) -> Vec<&FunctionRef> {
        let mut all: Vec<&FunctionRef> = match self {
            Self::Single(f) => vec![f],
            Self::ByTopic(map) => map.values().collect(),
        };
        all.sort_by_key(|f| f.to_string());
        all.dedup();
        all
    }
}

/// Invocation settings.
#[derive(Clone, Debug)]
pub struct LambdaConfig {
    /// Function routing.
    pub routing: Routing,
    /// `aws.lambda.invocation.type`.
    pub invocation_type: InvocationType,
    /// `aws.lambda.batch.size`.
    pub batch_size: usize,
    /// `aws.lambda.batch.linger.ms`.
    pub linger: Duration,
    /// `aws.lambda.max.payload.bytes`.
    pub max_payload_bytes: usize,
    /// `aws.lambda.socket.timeout`.
    pub socket_timeout: Duration,
    /// `aws.lambda.retry.timeout.ms`; `None` retries forever.
    pub retry_timeout: Option<Duration>,
    /// `aws.lambda.retry.backoff.ms`.
    pub retry_backoff: Duration,
    /// `aws.lambda.retry.backoff.max.ms`.
    pub retry_backoff_max: Duration,
    /// `aws.lambda.max.in.flight`.
    pub max_in_flight: usize,
    /// `aws.lambda.ordering`.
    pub ordering: Ordering,
    /// `aws.lambda.max.in.flight.per.partition` (1 in `partition` ordering).
    pub max_in_flight_per_partition: usize,
    /// `aws.lambda.adaptive.concurrency`.
    pub adaptive_concurrency: bool,
    /// `aws.lambda.payload.include.headers`.
    pub include_headers: bool,
    /// `aws.lambda.payload.format`.
    pub payload_format: PayloadFormat,
    /// `aws.lambda.esm.event.source.arn` (the ESM event's `eventSourceArn`).
    pub esm_event_source_arn: Option<String>,
    /// `aws.lambda.esm.record.format`.
    pub esm_record_format: EsmRecordFormat,
    /// `aws.lambda.batch.item.failures`: read partial batch responses.
    pub batch_item_failures: bool,
    /// `aws.lambda.function.error.max.retries`; `None` retries forever.
    pub function_error_retries: Option<u32>,
    /// `aws.lambda.bisect.on.function.error`.
    pub bisect_on_function_error: bool,
    /// `aws.lambda.max.record.age.ms`; `None`: no limit.
    pub max_record_age: Option<Duration>,
    /// `aws.lambda.filter.criteria` (empty: every record is invoked).
    pub filter: crate::event_filter::FilterCriteria,
    /// `aws.lambda.idempotency.key`.
    pub idempotency_key: crate::trace::IdempotencyKey,
    /// `aws.lambda.on.failure`.
    pub on_failure: OnFailure,
    /// `record.converter.class`.
    pub converter: RecordConverter,
    /// `behavior.on.error`.
    pub behavior_on_error: BehaviorOnError,
}

/// A topic lambda-sink writes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputTopic {
    /// The topic.
    pub name: TopicName,
    /// Partitions when created.
    pub partitions: i32,
    /// Replication factor when created; `None` = min(3, brokers).
    pub replication_factor: Option<i16>,
    /// Created with `cleanup.policy=compact` (and must have it).
    pub compacted: bool,
}

/// A result or error topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReporterTopic {
    /// The topic.
    pub topic: OutputTopic,
    /// How values are written.
    pub value_format: ReporterValueFormat,
}

impl std::ops::Deref for ReporterTopic {
    type Target = OutputTopic;
    fn deref(&self) -> &OutputTopic {
        &self.topic
    }
}

/// Result and error topics. Each is `None` when nothing is ever written to it:
/// disabled by a blank name, async mode, or (errors) `behavior.on.error` other
/// than `log`.
#[derive(Clone, Debug)]
pub struct ReporterConfig {
    /// Results of successful invocations.
    pub result: Option<ReporterTopic>,
    /// Function and invocation errors.
    pub error: Option<ReporterTopic>,
    /// `reporter.exactly.once=true`: outcome records and offsets are
    /// committed in Kafka transactions bounded by these.
    pub transactions: Option<Transactions>,
}

/// The bounds of one exactly-once transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transactions {
    /// `reporter.transaction.interval.ms`: longest a transaction stays open.
    pub interval: Duration,
    /// `reporter.transaction.max.records`: outcome records that commit a
    /// transaction early.
    pub max_records: usize,
}

/// Records that cannot be processed.
#[derive(Clone, Debug)]
pub struct ErrorsConfig {
    /// `errors.tolerance`.
    pub tolerance: ErrorsTolerance,
    /// The DLQ; present exactly when the tolerance is `all`.
    pub dlq: Option<Dlq>,
    /// Parked keys (`aws.lambda.on.key.failure=park`).
    pub park: Option<Park>,
}

/// Parking keys whose records failed for good
/// (`aws.lambda.on.key.failure=park`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Park {
    /// `aws.lambda.park.topic.name` (compacted).
    pub topic: OutputTopic,
    /// `aws.lambda.park.retry.backoff.ms`.
    pub backoff: Duration,
    /// `aws.lambda.park.retry.backoff.max.ms`.
    pub backoff_max: Duration,
    /// `aws.lambda.park.max.attempts`; `None` retries until it succeeds.
    pub max_attempts: Option<u32>,
    /// `aws.lambda.park.max.keys` (per task).
    pub max_keys: usize,
    /// `aws.lambda.park.max.records` (per task).
    pub max_records: usize,
}

/// The dead letter queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dlq {
    /// The topic.
    pub topic: OutputTopic,
    /// `errors.deadletterqueue.context.headers.enable`.
    pub context_headers: bool,
}

/// This process.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// `http.listener`; `None` disables the HTTP endpoint.
    pub http_listener: Option<SocketAddr>,
    /// `shutdown.timeout.ms`.
    pub shutdown_timeout: Duration,
    /// `partition.stall.timeout.ms`.
    pub stall_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> Subscription {
        Subscription::Topics(
            names
                .iter()
                .map(|n| TopicName::parse(n).expect("a topic name"))
                .collect(),
        )
    }

    #[test]
    fn the_subscribed_partitions_are_counted_from_the_cluster() {
        let cluster = [("a", 12), ("b", 1000), ("a-dlq", 3), ("c", 5)];
        let cases = [
            (topics(&["a"]), 12),
            (topics(&["a", "b"]), 1012),
            (topics(&["missing"]), 1),
            (topics(&["a", "missing"]), 13),
            (Subscription::Pattern("a|c".into()), 17),
            (Subscription::Pattern("a.*".into()), 15),
            (Subscription::Pattern("none".into()), 0),
        ];
        for (subscription, want) in cases {
            assert_eq!(subscription.partitions(cluster), want, "{subscription:?}");
        }
    }
}
