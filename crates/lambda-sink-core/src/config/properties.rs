//! The property table: the one description of every configuration property.
//!
//! Parsing, defaults, validation messages and `lambda-sink plugin describe` all
//! read [`PROPERTIES`]; nothing else names a default or a valid value. A unit
//! test checks that every entry is consumed by the validator, so an entry
//! cannot be documented without being implemented.
//!
//! Besides the table this module owns the other key rules: aliases (other
//! editions' spellings), pass-through prefixes with their forbidden keys, and
//! properties of Kafka Connect or Confluent Platform that lambda-sink does not
//! take, each with the advice to give instead.

use super::enums::{
    AuthenticationMethod, AutoOffsetReset, BehaviorOnError, ConfigurationMode, ConnectorClass,
    ErrorsTolerance, EsmRecordFormat, InvocationType, KafkaAuthMode, OnFailure, OnKeyFailure,
    Ordering, PayloadFormat, ReporterValueFormat,
};
use crate::codec::{DataFormat, DecimalFormat, RecordConverter};

/// A property's value type, which decides how its text is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    String,
    /// Text that is never printed, logged or returned.
    Password,
    /// A whole number in `min..=max`.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// `true` or `false` (any case).
    Bool,
    /// Comma-separated items, each trimmed; empty items are dropped.
    List,
    /// One of `values` (matched ignoring case), or an alias of one.
    Enum {
        /// Canonical spellings.
        values: &'static [&'static str],
        /// Other accepted spellings, `(alias, canonical)`.
        aliases: &'static [(&'static str, &'static str)],
    },
}

impl Kind {
    /// The type's name as `plugin describe` shows it.
    pub fn type_name(self) -> &'static str {
        match self {
            Self::String | Self::Enum { .. } => "string",
            Self::Password => "password",
            Self::Int { .. } => "int",
            Self::Bool => "boolean",
            Self::List => "list",
        }
    }
}

/// What a property is when it is not set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultValue {
    /// Unset: no value.
    None,
    /// This text, parsed like a configured value.
    Value(&'static str),
    /// Computed from other properties, as described.
    Derived(&'static str),
}

/// Whether a property must be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Required {
    /// Optional.
    No,
    /// Always required.
    Yes,
    /// Required under the described condition.
    When(&'static str),
}

/// How much a user should care about a property (Kafka's ConfigDef levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Importance {
    /// Set it or understand why not.
    High,
    /// Usually worth a look.
    Medium,
    /// Tuning.
    Low,
}

impl Importance {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }
}

/// The group a property is listed under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    /// What to consume and how to decode it.
    Connector,
    /// The Kafka cluster.
    Kafka,
    /// The Confluent Schema Registry.
    SchemaRegistry,
    /// AWS credentials and region.
    Aws,
    /// The function and how it is invoked.
    Lambda,
    /// Result and error topics.
    Reporter,
    /// Records that cannot be processed.
    Errors,
    /// This process: HTTP endpoint, shutdown.
    Service,
    /// A `lambda-sink serve` worker's own properties (not a connector's;
    /// not in [`Group::ALL`]).
    Worker,
}

impl Group {
    /// Every group, in listing order.
    pub const ALL: [Group; 8] = [
        Self::Connector,
        Self::Kafka,
        Self::SchemaRegistry,
        Self::Aws,
        Self::Lambda,
        Self::Reporter,
        Self::Errors,
        Self::Service,
    ];

    /// Heading shown by `plugin describe`.
    pub fn title(self) -> &'static str {
        match self {
            Self::Connector => "Connector",
            Self::Kafka => "Kafka connection",
            Self::SchemaRegistry => "Schema Registry",
            Self::Aws => "AWS",
            Self::Lambda => "Lambda invocation",
            Self::Reporter => "Result and error topics",
            Self::Errors => "Dead letter queue",
            Self::Service => "Service",
            Self::Worker => "Worker (lambda-sink serve)",
        }
    }
}

/// One configuration property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property {
    /// The property's name, as Confluent spells it.
    pub name: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Value when unset.
    pub default: DefaultValue,
    /// Whether it must be set.
    pub required: Required,
    /// Importance.
    pub importance: Importance,
    /// Group.
    pub group: Group,
    /// A lambda-sink extension, not a Confluent property.
    pub ext: bool,
    /// What it means.
    pub doc: &'static str,
}

impl Property {
    /// Whether values of this property must be masked.
    pub fn is_secret(&self) -> bool {
        self.kind == Kind::Password
    }

    /// Text of the valid values, for documentation and error messages.
    pub fn valid_values(&self) -> Option<String> {
        match self.kind {
            Kind::Enum { values, .. } => Some(values.join(", ")),
            Kind::Int { min, max } if max == i64::MAX => Some(format!("[{min},...]")),
            Kind::Int { min, max } => Some(format!("[{min},...,{max}]")),
            Kind::Bool => Some("true, false".into()),
            _ => None,
        }
    }
}

const fn int(min: i64, max: i64) -> Kind {
    Kind::Int { min, max }
}

const fn one_of(values: &'static [&'static str]) -> Kind {
    Kind::Enum {
        values,
        aliases: &[],
    }
}

/// Upper bound for ints whose range Kafka's ConfigDef leaves open.
const INT_MAX: i64 = i32::MAX as i64;

macro_rules! prop {
    ($name:literal, $kind:expr, $default:expr, $required:expr, $importance:ident, $group:ident, $ext:literal, $doc:literal) => {
        Property {
            name: $name,
            kind: $kind,
            default: $default,
            required: $required,
            importance: Importance::$importance,
            group: Group::$group,
            ext: $ext,
            doc: $doc,
        }
    };
}

use DefaultValue::{Derived, Value};
use Required::{No, When, Yes};

/// Every property lambda-sink knows, in documentation order within each group.
pub static PROPERTIES: &[Property] = &[
    // ── Connector ───────────────────────────────────────────────────────────
    prop!(
        "connector.class",
        Kind::Enum {
            values: ConnectorClass::NAMES,
            aliases: &[(
                "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector",
                "LambdaSink"
            )]
        },
        Value("LambdaSink"),
        No,
        High,
        Connector,
        false,
        "Identifies the connector. Confluent Cloud's `LambdaSink` and Confluent Platform's fully qualified class name are both accepted."
    ),
    prop!(
        "name",
        Kind::String,
        DefaultValue::None,
        Yes,
        High,
        Connector,
        false,
        "The connector's name, 1 to 64 characters."
    ),
    prop!(
        "connector.id",
        Kind::String,
        Derived("`name` with characters outside [A-Za-z0-9._-] replaced by `_`"),
        No,
        Medium,
        Connector,
        true,
        "Names the outcome topics (`success-<id>`, `error-<id>`, `dlq-<id>`) and the consumer group `connect-<id>`. Every copy started with the same id shares the work. When migrating from Confluent Cloud, set it to the connector's `lcc-...` id to reuse its committed offsets."
    ),
    prop!(
        "tasks.max",
        int(1, 1000),
        Value("1"),
        No,
        High,
        Connector,
        false,
        "Number of consumer tasks in this process. Each is a member of the consumer group; partitions are processed concurrently within each task as well."
    ),
    prop!(
        "topics",
        Kind::List,
        DefaultValue::None,
        When("unless `topics.regex` is set"),
        High,
        Connector,
        false,
        "Comma-separated topics to consume. Exactly one of `topics` and `topics.regex` must be set."
    ),
    prop!(
        "topics.regex",
        Kind::String,
        DefaultValue::None,
        When("unless `topics` is set"),
        High,
        Connector,
        false,
        "A regular expression; every matching topic is consumed, including topics created later. It must not match the result, error or DLQ topic."
    ),
    prop!(
        "input.data.format",
        one_of(DataFormat::NAMES),
        Derived("JSON; BYTES with `aws.lambda.payload.format=esm`"),
        No,
        High,
        Connector,
        false,
        "Format of record values. AVRO, JSON_SR and PROTOBUF need `schema.registry.url`. With `aws.lambda.payload.format=esm` the default is BYTES: any value is delivered, base64 in the event, as the event source mapping does."
    ),
    prop!(
        "input.key.format",
        one_of(DataFormat::NAMES),
        Value("BYTES"),
        No,
        High,
        Connector,
        false,
        "Format of record keys. AVRO, JSON_SR and PROTOBUF need `schema.registry.url`."
    ),
    prop!(
        "max.poll.records",
        int(1, INT_MAX),
        Value("500"),
        No,
        Low,
        Connector,
        false,
        "Most records buffered per partition ahead of the batch being invoked. With many partitions each buffers fewer: a task's partitions share 100,000 records between them (never fewer than one batch each). A partition whose buffer is full is not read until it drains, which bounds memory whatever the backlog."
    ),
    // ── Kafka ───────────────────────────────────────────────────────────────
    prop!(
        "kafka.bootstrap.servers",
        Kind::List,
        DefaultValue::None,
        Yes,
        High,
        Kafka,
        true,
        "Comma-separated host:port pairs of the Kafka cluster. Confluent Cloud knows its cluster; a standalone process must be told."
    ),
    prop!(
        "kafka.auth.mode",
        one_of(KafkaAuthMode::NAMES),
        Derived("KAFKA_API_KEY if `kafka.api.key` is set, otherwise NONE"),
        No,
        High,
        Kafka,
        false,
        "KAFKA_API_KEY connects with SASL_SSL and PLAIN using `kafka.api.key` and `kafka.api.secret` (the Confluent Cloud convention). NONE leaves security to `kafka.*` pass-through properties (SCRAM, mTLS, plaintext). SERVICE_ACCOUNT exists only inside Confluent Cloud and is rejected."
    ),
    prop!(
        "kafka.api.key",
        Kind::String,
        DefaultValue::None,
        When("when `kafka.auth.mode` is KAFKA_API_KEY"),
        High,
        Kafka,
        false,
        "API key (SASL username) for KAFKA_API_KEY authentication."
    ),
    prop!(
        "kafka.api.secret",
        Kind::Password,
        DefaultValue::None,
        When("when `kafka.auth.mode` is KAFKA_API_KEY"),
        High,
        Kafka,
        false,
        "API secret (SASL password) for KAFKA_API_KEY authentication."
    ),
    prop!(
        "kafka.service.account.id",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Kafka,
        false,
        "Confluent Cloud service account. Accepted only to explain that SERVICE_ACCOUNT authentication exists only inside Confluent Cloud."
    ),
    prop!(
        "kafka.region",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Kafka,
        false,
        "Region of the Kafka cluster; used as the AWS region when `aws.lambda.region` is not set."
    ),
    prop!(
        "consumer.override.auto.offset.reset",
        Kind::Enum {
            values: AutoOffsetReset::NAMES,
            aliases: &[
                ("smallest", "earliest"),
                ("beginning", "earliest"),
                ("largest", "latest"),
                ("end", "latest"),
                ("error", "none")
            ]
        },
        Value("earliest"),
        No,
        Medium,
        Kafka,
        false,
        "Where a consumer group with no committed offset starts: earliest, latest, or none (stop with an error)."
    ),
    // ── Schema Registry ─────────────────────────────────────────────────────
    prop!(
        "schema.registry.url",
        Kind::List,
        DefaultValue::None,
        When("when a format is AVRO, JSON_SR or PROTOBUF"),
        High,
        SchemaRegistry,
        true,
        "Comma-separated Schema Registry URLs, tried in turn."
    ),
    prop!(
        "schema.registry.basic.auth.user.info",
        Kind::Password,
        DefaultValue::None,
        No,
        Medium,
        SchemaRegistry,
        true,
        "`user:password` for the Schema Registry's HTTP basic authentication."
    ),
    prop!(
        "schema.context.name",
        Kind::String,
        Value("default"),
        No,
        Low,
        SchemaRegistry,
        false,
        "Schema context to read schemas from; `default` is the default context."
    ),
    prop!(
        "value.converter.decimal.format",
        one_of(DecimalFormat::NAMES),
        Value("BASE64"),
        No,
        Low,
        SchemaRegistry,
        false,
        "How decimals are rendered: BASE64 (the unscaled value's two's-complement bytes, Kafka Connect's default) or NUMERIC (a JSON number)."
    ),
    prop!(
        "key.converter.key.subject.name.strategy",
        Kind::String,
        Value("TopicNameStrategy"),
        No,
        Low,
        SchemaRegistry,
        false,
        "Accepted for compatibility with Confluent Cloud configs. It has no effect: records carry their schema id, which is all a reader needs."
    ),
    prop!(
        "value.converter.value.subject.name.strategy",
        Kind::String,
        Value("TopicNameStrategy"),
        No,
        Low,
        SchemaRegistry,
        false,
        "Accepted for compatibility with Confluent Cloud configs. It has no effect: records carry their schema id, which is all a reader needs."
    ),
    prop!(
        "value.converter.reference.subject.name.strategy",
        Kind::String,
        Value("DefaultReferenceSubjectNameStrategy"),
        No,
        Low,
        SchemaRegistry,
        false,
        "Accepted for compatibility with Confluent Cloud configs. It has no effect: references are resolved as the registry returns them."
    ),
    // ── AWS ─────────────────────────────────────────────────────────────────
    prop!(
        "authentication.method",
        one_of(AuthenticationMethod::NAMES),
        Value("Access Keys"),
        No,
        High,
        Aws,
        false,
        "`Access Keys`: the static keys below when set, otherwise the AWS default credential chain (environment, profile, web identity, container, instance metadata). `IAM Roles`: assume `aws.iam.role.arn` through STS, starting from those same credentials."
    ),
    prop!(
        "aws.access.key.id",
        Kind::Password,
        DefaultValue::None,
        No,
        High,
        Aws,
        false,
        "AWS access key id. Leave unset to use the AWS default credential chain."
    ),
    prop!(
        "aws.secret.access.key",
        Kind::Password,
        DefaultValue::None,
        When("when `aws.access.key.id` is set"),
        High,
        Aws,
        false,
        "AWS secret access key."
    ),
    prop!(
        "aws.session.token",
        Kind::Password,
        DefaultValue::None,
        No,
        Low,
        Aws,
        true,
        "Session token for temporary access keys."
    ),
    prop!(
        "aws.iam.role.arn",
        Kind::String,
        DefaultValue::None,
        When("when `authentication.method` is IAM Roles"),
        High,
        Aws,
        true,
        "Role to assume for invoking the function."
    ),
    prop!(
        "aws.iam.external.id",
        Kind::String,
        DefaultValue::None,
        No,
        Medium,
        Aws,
        true,
        "External id required by the role's trust policy, if any."
    ),
    prop!(
        "aws.iam.role.session.name",
        Kind::String,
        Derived("lambda-sink-<connector.id>"),
        No,
        Low,
        Aws,
        true,
        "Session name when assuming the role; appears in CloudTrail."
    ),
    prop!(
        "aws.lambda.region",
        Kind::String,
        Derived("`kafka.region`, then the AWS default region chain (AWS_REGION, profile)"),
        No,
        High,
        Aws,
        false,
        "AWS region of the function. Validation fails if no region can be found."
    ),
    prop!(
        "aws.lambda.endpoint",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Aws,
        true,
        "Endpoint override for the Lambda API (http:// or https:// URL): VPC endpoints, local emulators, tests."
    ),
    prop!(
        "aws.lambda.proxy.url",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Aws,
        false,
        "HTTPS proxy for AWS calls, as http://host:port."
    ),
    prop!(
        "aws.lambda.proxy.user",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Aws,
        false,
        "Proxy user name."
    ),
    prop!(
        "aws.lambda.proxy.password",
        Kind::Password,
        DefaultValue::None,
        No,
        Low,
        Aws,
        false,
        "Proxy password."
    ),
    // ── Lambda ──────────────────────────────────────────────────────────────
    prop!(
        "aws.lambda.configuration.mode",
        one_of(ConfigurationMode::NAMES),
        Value("single"),
        No,
        High,
        Lambda,
        false,
        "`single`: every topic goes to `aws.lambda.function.name`. `multiple`: each topic goes to its function in `aws.lambda.topic2function.map`."
    ),
    prop!(
        "aws.lambda.function.name",
        Kind::String,
        DefaultValue::None,
        When("in single mode"),
        High,
        Lambda,
        false,
        "Function to invoke: a name, partial ARN or full ARN, optionally with `:version` or `:alias`."
    ),
    prop!(
        "aws.lambda.topic2function.map",
        Kind::List,
        DefaultValue::None,
        When("in multiple mode"),
        High,
        Lambda,
        false,
        "Comma-separated `topic;function[:qualifier]` entries. Every subscribed topic needs one."
    ),
    prop!(
        "aws.lambda.invocation.type",
        one_of(InvocationType::NAMES),
        Value("sync"),
        No,
        High,
        Lambda,
        false,
        "`sync` invokes with RequestResponse and writes results and errors to Kafka; `async` invokes with Event (Lambda queues the batch; its own retries and destinations take over)."
    ),
    prop!(
        "aws.lambda.batch.size",
        int(1, INT_MAX),
        Value("20"),
        No,
        High,
        Lambda,
        false,
        "Most records per invocation. Batches never mix partitions."
    ),
    prop!(
        "aws.lambda.batch.linger.ms",
        int(0, 60_000),
        Value("0"),
        No,
        Low,
        Lambda,
        true,
        "How long to wait for more records to fill a batch before invoking."
    ),
    prop!(
        "aws.lambda.max.payload.bytes",
        int(1024, INT_MAX),
        Derived(
            "6291456 (6 MiB) in sync mode, 1048576 (1 MiB) in async mode: Lambda's request limits"
        ),
        No,
        Low,
        Lambda,
        true,
        "Largest request body. Batches are cut so the serialized request never exceeds it; a single record that does not fit goes to the DLQ."
    ),
    prop!(
        "aws.lambda.socket.timeout",
        int(1000, 900_000),
        Value("50000"),
        No,
        Medium,
        Lambda,
        false,
        "Milliseconds to wait for an invocation's response before treating it as a (retryable) timeout. Keep it above the function's own timeout."
    ),
    prop!(
        "aws.lambda.retry.timeout.ms",
        int(-1, INT_MAX),
        Value("300000"),
        No,
        Medium,
        Lambda,
        true,
        "How long retryable failures (throttling, 5xx, timeouts, connection errors) of one batch are retried before its records count as failed with `error_class=invocation`. -1 retries forever."
    ),
    prop!(
        "aws.lambda.retry.backoff.ms",
        int(1, INT_MAX),
        Value("100"),
        No,
        Low,
        Lambda,
        true,
        "First delay between retries; it doubles, with jitter, up to `aws.lambda.retry.backoff.max.ms`. A `Retry-After` from Lambda takes precedence."
    ),
    prop!(
        "aws.lambda.retry.backoff.max.ms",
        int(1, INT_MAX),
        Value("10000"),
        No,
        Low,
        Lambda,
        true,
        "Longest delay between retries."
    ),
    prop!(
        "aws.lambda.max.in.flight",
        int(1, 10_000),
        Value("32"),
        No,
        Medium,
        Lambda,
        true,
        "Most concurrent invocations in this process. Each holds at most one request and its response in memory."
    ),
    prop!(
        "aws.lambda.ordering",
        one_of(Ordering::NAMES),
        Value("partition"),
        No,
        Medium,
        Lambda,
        true,
        "Which records of a partition may be in flight together. `partition`: one batch per partition at a time, in offset order (Confluent's behaviour). `key`: up to `aws.lambda.max.in.flight.per.partition` batches of a partition at once, never two holding the same key, each key's records in offset order (records without a key are unordered). `none`: as many batches, in any order. Offsets are always committed only up to the first unresolved record."
    ),
    prop!(
        "aws.lambda.max.in.flight.per.partition",
        int(1, 1_000),
        Value("10"),
        No,
        Medium,
        Lambda,
        true,
        "Most batches of one partition in flight at once with `aws.lambda.ordering` `key` or `none` (`partition` always has one)."
    ),
    prop!(
        "aws.lambda.adaptive.concurrency",
        Kind::Bool,
        Value("true"),
        No,
        Low,
        Lambda,
        true,
        "Lower the in-flight limit when Lambda throttles (429) and raise it again, up to `aws.lambda.max.in.flight`, while calls succeed (AIMD). `false` keeps the limit at `aws.lambda.max.in.flight`."
    ),
    prop!(
        "aws.lambda.payload.format",
        one_of(PayloadFormat::NAMES),
        Value("confluent"),
        No,
        Medium,
        Lambda,
        true,
        "The request the function receives. `confluent`: Confluent's LambdaSink payload, a list of `{\"payload\": {...}}`. `esm`: the event of AWS's Kafka event source mapping (`{\"eventSource\", \"bootstrapServers\", \"records\": {\"<topic>-<partition>\": [...]}}`, base64 `key` and `value`, headers as signed bytes), so a function written for the event source mapping runs unchanged (docs/esm.md)."
    ),
    prop!(
        "aws.lambda.esm.event.source.arn",
        Kind::String,
        DefaultValue::None,
        No,
        Low,
        Lambda,
        true,
        "With `aws.lambda.payload.format=esm`: the MSK cluster ARN to send as `eventSourceArn`, which makes `eventSource` `aws:kafka` (as for Amazon MSK); unset, the event is `SelfManagedKafka`."
    ),
    prop!(
        "aws.lambda.esm.record.format",
        one_of(EsmRecordFormat::NAMES),
        Value("json"),
        No,
        Low,
        Lambda,
        true,
        "With `aws.lambda.payload.format=esm` and a Schema Registry format: ESM's `EventRecordFormat`. `json`: the key or value is the decoded record as JSON; `source`: the record's own bytes without the registry's wire-format header (magic byte and schema id; Protobuf message indexes stay). Both base64, with `keySchemaMetadata` / `valueSchemaMetadata`."
    ),
    prop!(
        "aws.lambda.batch.item.failures",
        Kind::Bool,
        Derived("`true` with `aws.lambda.payload.format=esm`, else `false`"),
        No,
        Medium,
        Lambda,
        true,
        "Read the function's answer as the event source mapping's partial batch response (`{\"batchItemFailures\": [{\"itemIdentifier\": {\"partition\": \"<topic>-<partition>\", \"offset\": n}}]}`): the lowest reported record and those after it in the batch fail (`behavior.on.error`), the ones before it succeed. No failures, an empty list or `null`: all succeeded. A malformed answer, or one naming a record not in the batch, fails the whole batch. Sync mode only."
    ),
    prop!(
        "aws.lambda.filter.criteria",
        Kind::String,
        DefaultValue::None,
        No,
        Medium,
        Lambda,
        true,
        "Only records matching one of these patterns are invoked; the others are committed without an invocation and counted as `filtered`. ESM's `FilterCriteria` as the AWS CLI and CloudFormation take it (`{\"Filters\": [{\"Pattern\": \"{\\\"value\\\": {\\\"status\\\": [\\\"live\\\"]}}\"}]}`), or one pattern object. Patterns use Lambda's operators (exact, `equals-ignore-case`, `anything-but`, `numeric`, `exists`, `prefix`, `suffix`, `$or`) on `topic`, `partition`, `offset`, `timestamp`, `timestampType` and `value` (the record's value as UTF-8, parsed as JSON when it is JSON; for a Schema Registry format, the decoded record). Up to 10 patterns."
    ),
    prop!(
        "aws.lambda.idempotency.key",
        Kind::String,
        Value("none"),
        No,
        Low,
        Lambda,
        true,
        "Adds `idempotencyKey` to each payload element (inside `payload`, or to the ESM record), so a function can dedupe redelivered records (Powertools' idempotency utility): `offset` (`<topic>/<partition>/<offset>`, the same on every redelivery), `header:<name>` (that header's value) or `field:<name>` (that top-level field of a JSON value); `none` adds nothing. A record's W3C `traceparent` header is always passed on: as the `traceparent` field of Confluent's element, and as the invocation's `X-Amzn-Trace-Id` (the first traced record of the batch) — with OpenTelemetry traces on, the invocation span's context instead (docs/operations.md, \"Traces\")."
    ),
    prop!(
        "aws.lambda.on.failure",
        one_of(OnFailure::NAMES),
        Value("error"),
        No,
        Medium,
        Lambda,
        true,
        "Where records go whose batch failed for good (a function error after `aws.lambda.function.error.max.retries`, an invocation that kept failing, a record older than `aws.lambda.max.record.age.ms`). `error`: `behavior.on.error` decides. `dlq`: the dead letter queue (`errors.tolerance=all`, the default), like ESM's on-failure destination, with its context as headers: `lambda.requestContext.condition` (`RetryAttemptsExhausted` or `RecordAgeExceeded`), `lambda.requestContext.approximateInvokeCount`, `lambda.requestContext.functionArn` (the function as configured), `lambda.responseContext.statusCode`, `lambda.responseContext.functionError`, the records that failed together (`lambda.kafkaBatchInfo.batchSize`, `.firstRecordOffset`, `.lastRecordOffset`) and, when the function named it, `lambda-sink.failedRecordOffset`, next to the `__connect.errors.*` headers."
    ),
    prop!(
        "aws.lambda.on.key.failure",
        one_of(OnKeyFailure::NAMES),
        Value("resolve"),
        No,
        Medium,
        Lambda,
        true,
        "With `aws.lambda.ordering=key`: what a record that failed for good (as `aws.lambda.on.failure` describes) does to its key. `resolve`: it is resolved as `aws.lambda.on.failure` and `behavior.on.error` say, and the key's next records flow. `park`: the key is parked — the record and every later record of its key are written, in offset order, to `aws.lambda.park.topic.name` and committed past, while every other key keeps flowing; the key is retried with backoff (`aws.lambda.park.retry.*`), and when it succeeds its parked records are invoked in order before its new ones; after `aws.lambda.park.max.attempts` they are resolved as `resolve` would have. Records without a key, and records older than `aws.lambda.max.record.age.ms`, are never parked. With `reporter.exactly.once`, parked-topic writes and a release's outcomes are part of the task's transactions (docs/guarantees.md, \"Parked keys\")."
    ),
    prop!(
        "aws.lambda.park.topic.name",
        Kind::String,
        Value("parked-${connector}"),
        No,
        Low,
        Lambda,
        true,
        "With `aws.lambda.on.key.failure=park`: the compacted topic holding parked records until their key is released (created with 1 partition and `cleanup.policy=compact`; an existing topic must be compacted). `${connector}` is replaced by the connector id. It must not be an input topic."
    ),
    prop!(
        "aws.lambda.park.topic.replication.factor",
        int(1, i16::MAX as i64),
        Derived("min(3, number of brokers)"),
        No,
        Low,
        Lambda,
        true,
        "Replication factor of the parked topic when lambda-sink creates it."
    ),
    prop!(
        "aws.lambda.park.retry.backoff.ms",
        int(1, INT_MAX),
        Value("30000"),
        No,
        Low,
        Lambda,
        true,
        "How long a parked key waits before its first automatic retry; each failed retry doubles the wait (with jitter), up to `aws.lambda.park.retry.backoff.max.ms`."
    ),
    prop!(
        "aws.lambda.park.retry.backoff.max.ms",
        int(1, INT_MAX),
        Value("900000"),
        No,
        Low,
        Lambda,
        true,
        "The longest wait between automatic retries of a parked key."
    ),
    prop!(
        "aws.lambda.park.max.attempts",
        int(-1, 1_000_000),
        Value("10"),
        No,
        Medium,
        Lambda,
        true,
        "Automatic retries of a parked key. If the last fails too, its parked records are resolved as `aws.lambda.on.key.failure=resolve` would have (the DLQ with `aws.lambda.on.failure=dlq`, else `behavior.on.error`) and the key is released; `-1` retries until it succeeds. Counted by the partition's current owner (a partition that moves starts counting again)."
    ),
    prop!(
        "aws.lambda.park.max.keys",
        int(1, 1_000_000),
        Value("1000"),
        No,
        Low,
        Lambda,
        true,
        "Most keys one task keeps parked. A key that fails for good beyond it is not parked: its record is resolved as `aws.lambda.on.key.failure=resolve` would have, and a `park_full` event says so."
    ),
    prop!(
        "aws.lambda.park.max.records",
        int(1, INT_MAX),
        Value("100000"),
        No,
        Low,
        Lambda,
        true,
        "Most records one task keeps parked. A record of a parked key beyond it cannot be parked, nor invoked ahead of the parked ones: the connector stops with an error naming this property, nothing of the record committed."
    ),
    prop!(
        "aws.lambda.function.error.max.retries",
        int(-1, 10_000),
        Value("0"),
        No,
        Medium,
        Lambda,
        true,
        "How many times a batch the function fails (a function error, or the records a partial batch response reports) is invoked again before `behavior.on.error` takes it, with backoff from `aws.lambda.retry.backoff.ms` to `aws.lambda.retry.backoff.max.ms`; `-1` retries until it succeeds. ESM's `MaximumRetryAttempts`. Sync mode only."
    ),
    prop!(
        "aws.lambda.bisect.on.function.error",
        Kind::Bool,
        Value("false"),
        No,
        Medium,
        Lambda,
        true,
        "When the function fails a batch of more than one record, split it in two and invoke each half, until the failing records are isolated; splitting does not use up a retry. ESM's `BisectBatchOnFunctionError`. Sync mode only."
    ),
    prop!(
        "aws.lambda.max.record.age.ms",
        int(-1, 604_800_000),
        Value("-1"),
        No,
        Medium,
        Lambda,
        true,
        "Records older than this (by their Kafka timestamp) are not invoked: they go to `behavior.on.error` as an `invocation_error` with `error_type` `RecordAgeExceeded` (in async mode, to the DLQ). `-1`: no limit. ESM's `MaximumRecordAgeInSeconds`, in milliseconds."
    ),
    prop!(
        "aws.lambda.payload.include.headers",
        Kind::Bool,
        Value("false"),
        No,
        Low,
        Lambda,
        true,
        "Add each record's Kafka headers to its payload as `headers: [{key, value}]`."
    ),
    prop!(
        "record.converter.class",
        Kind::Enum {
            values: RecordConverter::NAMES,
            aliases: &[
                (
                    "io.confluent.connect.aws.lambda.converter.JsonKeyValueConverter",
                    "JsonKeyValueConverter"
                ),
                (
                    "io.confluent.connect.aws.lambda.converter.EscapedJsonKeyValueConverter",
                    "EscapedJsonKeyValueConverter"
                ),
                (
                    "io.confluent.connect.aws.lambda.converter.NativeJsonKeyValueConverter",
                    "NativeJsonKeyValueConverter"
                ),
            ]
        },
        Value("JsonKeyValueConverter"),
        No,
        Medium,
        Lambda,
        false,
        "How schemaless JSON keys and values appear in the payload. JsonKeyValueConverter (Confluent's default): `{name=Kimberley Human}` text. EscapedJsonKeyValueConverter: the JSON as an escaped string. NativeJsonKeyValueConverter (ext, recommended for new functions): the JSON itself."
    ),
    prop!(
        "behavior.on.error",
        one_of(BehaviorOnError::NAMES),
        Value("log"),
        No,
        High,
        Lambda,
        false,
        "What a function error does in sync mode: `log` writes one record per input record to the error topic and continues; `ignore` continues after a warning; `fail` stops the connector without committing the batch."
    ),
    // ── Reporter ────────────────────────────────────────────────────────────
    prop!(
        "reporter.result.topic.name",
        Kind::String,
        Value("success-${connector}"),
        No,
        Medium,
        Reporter,
        false,
        "Topic for function results (sync mode). `${connector}` is replaced by the connector id. Blank disables result records."
    ),
    prop!(
        "reporter.result.topic.partitions",
        int(1, INT_MAX),
        Value("1"),
        No,
        Low,
        Reporter,
        false,
        "Partitions of the result topic when lambda-sink creates it."
    ),
    prop!(
        "reporter.result.topic.replication.factor",
        int(1, i16::MAX as i64),
        Derived("min(3, number of brokers)"),
        No,
        Low,
        Reporter,
        false,
        "Replication factor of the result topic when lambda-sink creates it."
    ),
    prop!(
        "reporter.result.topic.value.format",
        one_of(ReporterValueFormat::NAMES),
        Value("string"),
        No,
        Low,
        Reporter,
        false,
        "`string`: the result's JSON text written as a JSON string literal (Confluent's bytes). `json` (ext): the JSON itself."
    ),
    prop!(
        "reporter.error.topic.name",
        Kind::String,
        Value("error-${connector}"),
        No,
        Medium,
        Reporter,
        false,
        "Topic for function and invocation errors (sync mode, `behavior.on.error=log`). `${connector}` is replaced by the connector id. Blank disables error records."
    ),
    prop!(
        "reporter.error.topic.partitions",
        int(1, INT_MAX),
        Value("1"),
        No,
        Low,
        Reporter,
        false,
        "Partitions of the error topic when lambda-sink creates it."
    ),
    prop!(
        "reporter.error.topic.replication.factor",
        int(1, i16::MAX as i64),
        Derived("min(3, number of brokers)"),
        No,
        Low,
        Reporter,
        false,
        "Replication factor of the error topic when lambda-sink creates it."
    ),
    prop!(
        "reporter.error.topic.value.format",
        one_of(ReporterValueFormat::NAMES),
        Value("string"),
        No,
        Low,
        Reporter,
        false,
        "`string`: the error's JSON text written as a JSON string literal (Confluent's bytes). `json` (ext): the JSON itself."
    ),
    prop!(
        "reporter.exactly.once",
        Kind::Bool,
        Value("false"),
        No,
        Medium,
        Reporter,
        true,
        "Write outcome records (results, errors, dead letters) and the consumer offsets they resolve in one Kafka transaction per task (KIP-447 fencing), so a `read_committed` reader of the outcome topics sees each input record's outcome exactly once, whatever crashes or rebalances. Invocations stay at-least-once (Lambda is outside Kafka). Needs Kafka 2.5 or later and, with ACLs, WRITE and DESCRIBE on the transactional ids `lambda-sink-<connector.id>-*`. In async mode it covers the dead letters, the only outcomes there."
    ),
    prop!(
        "reporter.transaction.interval.ms",
        int(10, 60_000),
        Value("1000"),
        No,
        Low,
        Reporter,
        true,
        "With `reporter.exactly.once=true`: how long a transaction stays open before it is committed. Outcomes become visible to `read_committed` readers, and offsets are committed, about this much later. Each transaction costs a pause of the order of 100 ms, so shorter intervals cost throughput (BENCHMARKS.md: 100 ms runs at about 0.6 of at-least-once, 1000 ms at par)."
    ),
    prop!(
        "reporter.transaction.max.records",
        int(1, 1_000_000),
        Value("50000"),
        No,
        Low,
        Reporter,
        true,
        "With `reporter.exactly.once=true`: a transaction is committed early once it holds this many outcome records. It bounds the outcome records a task holds in memory until they commit (and what an aborted transaction writes again); too low a bound commits more often than the interval and costs throughput."
    ),
    // ── Errors ──────────────────────────────────────────────────────────────
    prop!(
        "errors.tolerance",
        one_of(ErrorsTolerance::NAMES),
        Value("all"),
        No,
        Medium,
        Errors,
        false,
        "`all`: a record that cannot be decoded, or is too large for any request, goes to the DLQ and processing continues. `none`: such a record stops the connector."
    ),
    prop!(
        "errors.deadletterqueue.topic.name",
        Kind::String,
        Value("dlq-${connector}"),
        No,
        Medium,
        Errors,
        false,
        "Dead letter queue topic. `${connector}` is replaced by the connector id. It must not be an input topic, and cannot be blank while `errors.tolerance=all` (that would drop records)."
    ),
    prop!(
        "errors.deadletterqueue.topic.replication.factor",
        int(1, i16::MAX as i64),
        Derived("min(3, number of brokers)"),
        No,
        Low,
        Errors,
        false,
        "Replication factor of the DLQ topic when lambda-sink creates it (with 1 partition)."
    ),
    prop!(
        "errors.deadletterqueue.context.headers.enable",
        Kind::Bool,
        Value("true"),
        No,
        Low,
        Errors,
        false,
        "Add `__connect.errors.*` headers (topic, partition, offset, stage, exception) to DLQ records."
    ),
    // ── Service ─────────────────────────────────────────────────────────────
    prop!(
        "http.listener",
        Kind::String,
        Value("127.0.0.1:8083"),
        No,
        Medium,
        Service,
        true,
        "Address of the HTTP endpoint serving /health, /status and /metrics, as ip:port (port 0 picks a free one), or `none` to disable it."
    ),
    prop!(
        "shutdown.timeout.ms",
        int(0, INT_MAX),
        Value("30000"),
        No,
        Low,
        Service,
        true,
        "On SIGINT/SIGTERM or rebalance, how long in-flight invocations may take to finish and be committed. Work still unfinished then is not committed and is redone after restart."
    ),
    prop!(
        "partition.stall.timeout.ms",
        int(1000, INT_MAX),
        Value("300000"),
        No,
        Low,
        Service,
        true,
        "How long a partition's committable offset may stand still while its records wait before the partition counts as stalled: `lambda_sink_partition_stalled` turns 1 and a warning is logged, until it moves again. Set it above the longest time one record may legitimately take, retries included."
    ),
];

/// The table entry for `name`, if it is a table property.
pub fn find(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// Other spellings of table properties (Confluent Platform converter
/// settings, Kafka consumer names): `(alias, canonical)`. A value under an
/// alias is treated as if written under the canonical name; the two set to
/// different values is an error.
pub static ALIASES: &[(&str, &str)] = &[
    ("key.converter.schema.registry.url", "schema.registry.url"),
    ("value.converter.schema.registry.url", "schema.registry.url"),
    (
        "key.converter.basic.auth.user.info",
        "schema.registry.basic.auth.user.info",
    ),
    (
        "value.converter.basic.auth.user.info",
        "schema.registry.basic.auth.user.info",
    ),
    ("key.converter.schema.context.name", "schema.context.name"),
    ("value.converter.schema.context.name", "schema.context.name"),
    (
        "max.poll.interval.ms",
        "consumer.override.max.poll.interval.ms",
    ),
];

/// The canonical name for `key` if it is an alias.
pub fn canonical_name(key: &str) -> Option<&'static str> {
    ALIASES.iter().find(|(a, _)| *a == key).map(|(_, c)| *c)
}

/// Whether values of `key` (as written, alias or not) are secret: a
/// password property, or a pass-through client property that names a
/// credential.
pub fn is_secret(key: &str) -> bool {
    match classify(canonical_name(key).unwrap_or(key)) {
        Key::Property(p) => p.is_secret(),
        Key::PassThrough(_, client_key) => is_secret_pass_through(client_key),
        _ => false,
    }
}

/// Which client a pass-through property is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PassThrough {
    /// `kafka.<p>`: consumer, producer and admin client.
    All,
    /// `consumer.override.<p>`: the consumer only.
    Consumer,
    /// `producer.override.<p>`: the producer only.
    Producer,
}

impl PassThrough {
    /// Every prefix and its target.
    pub const PREFIXES: [(&'static str, PassThrough); 3] = [
        ("kafka.", Self::All),
        ("consumer.override.", Self::Consumer),
        ("producer.override.", Self::Producer),
    ];

    /// Splits `key` into its pass-through target and the librdkafka property.
    pub fn split(key: &str) -> Option<(PassThrough, &str)> {
        Self::PREFIXES.iter().find_map(|(prefix, target)| {
            key.strip_prefix(prefix)
                .filter(|rest| !rest.is_empty())
                .map(|rest| (*target, rest))
        })
    }
}

/// librdkafka properties that pass-through may not set, with the reason and
/// what to do instead. They would break at-least-once delivery or fight
/// settings lambda-sink owns.
pub fn forbidden_pass_through(target: PassThrough, client_key: &str) -> Option<&'static str> {
    let reason = match client_key {
        "group.id" => {
            "the consumer group is always connect-<connector.id>; set connector.id instead"
        }
        "enable.auto.commit" | "auto.commit.enable" | "enable.auto.offset.store" => {
            "lambda-sink stores and commits offsets itself, only for records whose outcome is resolved (at-least-once)"
        }
        "bootstrap.servers" | "metadata.broker.list" => "use kafka.bootstrap.servers",
        "enable.idempotence" | "acks" | "request.required.acks" => {
            "outcome records are always produced with acks=all and idempotence, so none is lost or reordered"
        }
        "transactional.id" => {
            "lambda-sink derives transactional ids itself (reporter.exactly.once=true)"
        }
        "enable.partition.eof" => "lambda-sink manages end-of-partition events itself",
        "auto.offset.reset" if target != PassThrough::Consumer => {
            "use consumer.override.auto.offset.reset"
        }
        _ => return None,
    };
    Some(reason)
}

/// Whether a pass-through property's value is a secret (masked like a password).
pub fn is_secret_pass_through(client_key: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "password",
        "secret",
        "jaas",
        "key.pem",
        "token",
        "credentials",
        "private",
    ];
    MARKERS.iter().any(|m| client_key.contains(m))
}

/// Properties of Kafka Connect, Confluent Platform or Confluent Cloud that
/// lambda-sink does not take, matched by exact name or by prefix (ending in
/// `.`), with what to do instead.
pub fn unsupported(key: &str) -> Option<String> {
    const EXACT: &[(&str, &str)] = &[
        (
            "header.converter",
            "Kafka headers are passed to the function as UTF-8 (or base64) strings; remove this property",
        ),
        (
            "provider.integration.id",
            "Confluent Provider Integration exists only inside Confluent Cloud; use authentication.method=IAM Roles with aws.iam.role.arn",
        ),
        (
            "aws.credentials.provider.class",
            "Java credential providers cannot be loaded; set aws.access.key.id and aws.secret.access.key, or leave them unset to use the AWS default credential chain",
        ),
        (
            "reporter.bootstrap.servers",
            "result and error records are written to the cluster in kafka.bootstrap.servers; remove this property",
        ),
        (
            "confluent.license",
            "lambda-sink needs no license; remove this property",
        ),
        (
            "errors.log.enable",
            "records sent to the DLQ are always logged (without their contents); remove this property",
        ),
        (
            "errors.log.include.messages",
            "record contents are never logged; remove this property",
        ),
        (
            "errors.retry.timeout",
            "invocation retries are bounded by aws.lambda.retry.timeout.ms; remove this property",
        ),
        (
            "errors.retry.delay.max.ms",
            "use aws.lambda.retry.backoff.max.ms",
        ),
    ];
    const PREFIXES: &[(&str, &str)] = &[
        (
            "reporter.admin.",
            "use kafka.* (all clients) or producer.override.* instead",
        ),
        ("reporter.producer.", "use producer.override.* instead"),
        (
            "confluent.topic.",
            "lambda-sink needs no license topic; remove this property",
        ),
        (
            "key.converter.",
            "converter settings are not used: lambda-sink decodes keys by input.key.format with schema.registry.* settings",
        ),
        (
            "value.converter.",
            "converter settings are not used: lambda-sink decodes values by input.data.format with schema.registry.* settings",
        ),
    ];
    if let Some(format_advice) = converter_class_advice(key) {
        return Some(format_advice);
    }
    EXACT
        .iter()
        .find(|(name, _)| *name == key)
        .or_else(|| PREFIXES.iter().find(|(prefix, _)| key.starts_with(prefix)))
        .map(|(_, advice)| (*advice).to_string())
}

/// `key.converter` / `value.converter` name a Java class; say which format to use.
fn converter_class_advice(key: &str) -> Option<String> {
    let target = match key {
        "key.converter" => "input.key.format",
        "value.converter" => "input.data.format",
        _ => return None,
    };
    Some(format!(
        "Kafka Connect converters are not used; set {target} instead \
         (AvroConverter → AVRO, JsonSchemaConverter → JSON_SR, ProtobufConverter → PROTOBUF, \
         JsonConverter → JSON, StringConverter → STRING, ByteArrayConverter → BYTES)"
    ))
}

/// What a configuration key is, decided in one fixed order: a table property,
/// an alias of one, a pass-through property, a property lambda-sink does not
/// take, or unknown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// A table property.
    Property(&'static Property),
    /// Another spelling of the named property or pass-through key.
    Alias(&'static str),
    /// A librdkafka property for the given client(s).
    PassThrough(PassThrough, &'a str),
    /// Not taken, with what to do instead.
    Unsupported(String),
    /// Unknown, with the closest known name if there is a likely one.
    Unknown(Option<&'static str>),
}

/// Classifies `key`; see [`Key`].
pub fn classify(key: &str) -> Key<'_> {
    if let Some(p) = find(key) {
        Key::Property(p)
    } else if let Some(canonical) = canonical_name(key) {
        Key::Alias(canonical)
    } else if let Some((target, client_key)) = PassThrough::split(key) {
        Key::PassThrough(target, client_key)
    } else if let Some(advice) = unsupported(key) {
        Key::Unsupported(advice)
    } else {
        Key::Unknown(suggest(key))
    }
}

/// The known name closest to an unknown `key`, if one is close enough to be a
/// likely typo.
pub fn suggest(key: &str) -> Option<&'static str> {
    let prefixed = format!("kafka.{key}");
    if let Some(p) = find(&prefixed) {
        return Some(p.name);
    }
    let candidates = PROPERTIES
        .iter()
        .map(|p| p.name)
        .chain(ALIASES.iter().map(|(a, _)| *a));
    let (best, distance) = candidates
        .map(|name| (name, strsim::levenshtein(key, name)))
        .min_by_key(|(_, d)| *d)?;
    let close = distance <= 3 || strsim::jaro_winkler(key, best) >= 0.93;
    close.then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_not_aliases_or_pass_through() {
        let mut seen = HashSet::new();
        for p in PROPERTIES {
            assert!(seen.insert(p.name), "duplicate property {}", p.name);
            assert!(
                canonical_name(p.name).is_none(),
                "{} is also an alias",
                p.name
            );
            assert!(
                matches!(classify(p.name), Key::Property(_)),
                "{} shadowed",
                p.name
            );
            assert!(!p.doc.is_empty(), "{} has no doc", p.name);
        }
        for (alias, canonical) in ALIASES {
            assert!(find(alias).is_none(), "{alias} is also a property");
            assert!(
                find(canonical).is_some() || PassThrough::split(canonical).is_some(),
                "alias {alias} points at unknown {canonical}"
            );
        }
    }

    #[test]
    fn enum_defaults_and_aliases_are_valid_values() {
        for p in PROPERTIES {
            if let Kind::Enum { values, aliases } = p.kind {
                if let DefaultValue::Value(d) = p.default {
                    assert!(values.contains(&d), "{}: default {d} not valid", p.name);
                }
                for (_, canonical) in aliases {
                    assert!(
                        values.contains(canonical),
                        "{}: alias target {canonical}",
                        p.name
                    );
                }
            }
            if let (Kind::Int { min, max }, DefaultValue::Value(d)) = (p.kind, p.default) {
                let d: i64 = d.parse().expect("int default parses");
                assert!(
                    (min..=max).contains(&d),
                    "{}: default {d} out of range",
                    p.name
                );
            }
        }
    }

    #[test]
    fn suggestions_catch_typos() {
        assert_eq!(
            suggest("aws.lambda.batchsize"),
            Some("aws.lambda.batch.size")
        );
        assert_eq!(
            suggest("aws.lamda.function.name"),
            Some("aws.lambda.function.name")
        );
        assert_eq!(
            suggest("bootstrap.servers"),
            Some("kafka.bootstrap.servers")
        );
        assert_eq!(suggest("topic"), Some("topics"));
        assert_eq!(suggest("completely.unrelated.thing.here"), None);
    }

    #[test]
    fn pass_through_split_and_forbidden_keys() {
        assert_eq!(
            PassThrough::split("kafka.security.protocol"),
            Some((PassThrough::All, "security.protocol"))
        );
        assert_eq!(
            PassThrough::split("consumer.override.fetch.wait.max.ms"),
            Some((PassThrough::Consumer, "fetch.wait.max.ms"))
        );
        assert_eq!(PassThrough::split("kafka."), None);
        assert!(forbidden_pass_through(PassThrough::Consumer, "group.id").is_some());
        assert!(forbidden_pass_through(PassThrough::All, "enable.auto.commit").is_some());
        assert!(forbidden_pass_through(PassThrough::Producer, "acks").is_some());
        assert!(forbidden_pass_through(PassThrough::All, "auto.offset.reset").is_some());
        assert!(forbidden_pass_through(PassThrough::Consumer, "auto.offset.reset").is_none());
        assert!(forbidden_pass_through(PassThrough::All, "security.protocol").is_none());
        assert!(is_secret_pass_through("sasl.password"));
        assert!(is_secret_pass_through("ssl.key.pem"));
        assert!(!is_secret_pass_through("security.protocol"));
    }

    #[test]
    fn unsupported_properties_say_what_to_do() {
        assert!(
            unsupported("value.converter")
                .unwrap()
                .contains("input.data.format")
        );
        // Transforms are the chain's (crate::transform), not unsupported.
        assert!(unsupported("transforms.mask.type").is_none());
        assert!(
            unsupported("provider.integration.id")
                .unwrap()
                .contains("aws.iam.role.arn")
        );
        assert!(unsupported("aws.lambda.batch.size").is_none());
        assert_eq!(
            classify("value.converter.decimal.format"),
            Key::Property(find("value.converter.decimal.format").unwrap())
        );
        assert!(matches!(
            classify("value.converter.schemas.enable"),
            Key::Unsupported(_)
        ));
        assert_eq!(
            classify("value.converter.schema.registry.url"),
            Key::Alias("schema.registry.url")
        );
    }
}
