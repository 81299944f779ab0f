//! Unit tests of validation: every rule with a bad input and its exact message.

#![allow(
    clippy::too_many_lines,
    reason = "table tests: a table reads best whole"
)]

use super::*;
use std::time::Duration;

use crate::codec::RecordConverter;
use crate::config::{
    AutoOffsetReset, AwsCredentials, BehaviorOnError, FunctionRef, InvocationType, KafkaAuth, MASK,
    Ordering, ReporterValueFormat, Routing, Secret, parse,
};

fn no_env(_: &str) -> Option<String> {
    None
}

const BASE: [(&str, &str); 5] = [
    ("name", "orders-sink"),
    ("topics", "orders"),
    ("kafka.bootstrap.servers", "127.0.0.1:9092"),
    ("aws.lambda.function.name", "order-fn"),
    ("aws.lambda.region", "us-east-1"),
];

/// BASE with `changes` applied: a pair replaces the same key, a key with
/// value "<unset>" is removed, other pairs are appended.
fn with(changes: &[(&str, &str)]) -> RawConfig {
    let mut pairs: Vec<(&str, &str)> = BASE.to_vec();
    for (k, v) in changes {
        match pairs.iter().position(|(bk, _)| bk == k) {
            Some(i) if *v == "<unset>" => {
                pairs.remove(i);
            }
            Some(i) => pairs[i].1 = v,
            None => pairs.push((k, v)),
        }
    }
    RawConfig::from_pairs(pairs)
}

fn check(changes: &[(&str, &str)]) -> Validation {
    validate(&with(changes), &no_env)
}

fn config(changes: &[(&str, &str)]) -> Config {
    let v = check(changes);
    assert!(v.errors.is_empty(), "unexpected errors: {:?}", v.errors);
    v.config.expect("config")
}

fn errors(changes: &[(&str, &str)]) -> Vec<String> {
    let v = check(changes);
    assert!(v.config.is_none(), "a config was built despite errors");
    v.errors.iter().map(ToString::to_string).collect()
}

fn warnings(changes: &[(&str, &str)]) -> Vec<String> {
    check(changes)
        .warnings
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn assert_error(changes: &[(&str, &str)], expected: &str) {
    let errs = errors(changes);
    assert!(
        errs.iter().any(|e| e == expected),
        "expected error\n  {expected}\ngot\n  {}",
        errs.join("\n  ")
    );
}

#[test]
fn minimal_config_gets_table_defaults() {
    let c = config(&[]);
    assert_eq!(c.name, "orders-sink");
    assert_eq!(c.connector_id.as_str(), "orders-sink");
    assert_eq!(c.connector_id.group_id(), "connect-orders-sink");
    assert_eq!(c.tasks_max, 1);
    assert_eq!(
        c.subscription,
        Subscription::Topics(vec![TopicName::parse("orders").unwrap()])
    );
    assert_eq!(c.value_format, DataFormat::Json);
    assert_eq!(c.key_format, DataFormat::Bytes);
    assert_eq!(c.max_buffered_per_partition, 500);
    assert_eq!(c.kafka.auth, KafkaAuth::None);
    assert_eq!(c.kafka.auto_offset_reset, AutoOffsetReset::Earliest);
    assert!(c.schema_registry.is_none());
    assert_eq!(c.decimal_format, DecimalFormat::Base64);
    assert!(matches!(c.aws.credentials, AwsCredentials::DefaultChain));
    assert_eq!(c.aws.region.as_deref(), Some("us-east-1"));
    let l = &c.lambda;
    assert_eq!(
        l.routing,
        Routing::Single(FunctionRef::parse("order-fn").unwrap())
    );
    assert_eq!(l.invocation_type, InvocationType::Sync);
    assert_eq!(l.batch_size, 20);
    assert_eq!(l.linger, Duration::ZERO);
    assert_eq!(l.max_payload_bytes, SYNC_PAYLOAD_LIMIT);
    assert_eq!(l.socket_timeout, Duration::from_millis(50_000));
    assert_eq!(l.retry_timeout, Some(Duration::from_millis(300_000)));
    assert_eq!(l.max_in_flight, 32);
    assert_eq!(l.ordering, Ordering::Partition);
    assert_eq!(l.max_in_flight_per_partition, 1, "partition ordering: one");
    assert!(l.adaptive_concurrency);
    assert!(!l.include_headers);
    assert_eq!(l.converter, RecordConverter::Json);
    assert_eq!(l.behavior_on_error, BehaviorOnError::Log);
    let result = c.reporter.result.as_ref().expect("result topic");
    assert_eq!(result.name.as_str(), "success-orders-sink");
    assert_eq!(result.partitions, 1);
    assert_eq!(result.replication_factor, None);
    assert_eq!(result.value_format, ReporterValueFormat::String);
    assert_eq!(
        c.reporter
            .error
            .as_ref()
            .expect("error topic")
            .name
            .as_str(),
        "error-orders-sink"
    );
    let dlq = c.errors.dlq.as_ref().expect("dlq");
    assert_eq!(dlq.topic.name.as_str(), "dlq-orders-sink");
    assert!(dlq.context_headers);
    assert_eq!(
        c.service.http_listener,
        Some("127.0.0.1:8083".parse().unwrap())
    );
    assert_eq!(c.service.shutdown_timeout, Duration::from_secs(30));
    assert_eq!(c.service.stall_timeout, Duration::from_secs(300));
}

#[test]
fn every_table_property_is_read_by_the_builder() {
    // Property-driven: a table entry the builder never reads would be
    // documented by `plugin describe` yet silently ignored.
    let (v, read) = validate_tracking_reads(&with(&[]), &no_env);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let unread: Vec<_> = properties::PROPERTIES
        .iter()
        .map(|p| p.name)
        .filter(|n| !read.contains(n))
        .collect();
    assert!(unread.is_empty(), "table properties never read: {unread:?}");
}

#[test]
fn confluent_documented_example_validates_with_bootstrap_and_region() {
    let text = include_str!("../../../../../examples/confluent-cloud-example.json");
    let mut raw = parse(text, "example.json").unwrap();
    raw.entries.extend(
        RawConfig::from_pairs([
            (
                "kafka.bootstrap.servers",
                "pkc-12345.us-east-1.aws.confluent.cloud:9092",
            ),
            ("aws.lambda.region", "us-east-1"),
        ])
        .entries,
    );
    let v = validate(&raw, &no_env);
    assert!(v.errors.is_empty(), "{:?}", v.errors);
    let c = v.config.unwrap();
    assert_eq!(c.name, "LambdaSinkConnector_0");
    assert!(matches!(c.kafka.auth, KafkaAuth::ApiKey { .. }));
    assert!(matches!(c.aws.credentials, AwsCredentials::Static { .. }));
    assert_eq!(c.lambda.behavior_on_error, BehaviorOnError::Fail);
    // The file repeats "connector.class" with the same value.
    assert_eq!(
        v.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["connector.class: set more than once, to the same value; the repetition is ignored"]
    );
    // behavior.on.error=fail: nothing is written to the error topic.
    assert!(c.reporter.error.is_none());
}

#[test]
fn issue_example_reports_all_three_problems() {
    let long_name = "n".repeat(65);
    let errs = errors(&[
        ("name", &long_name),
        ("aws.lambda.batchsize", "10"),
        ("aws.lambda.invocation.type", "sometimes"),
    ]);
    assert_eq!(
        errs,
        [
            "aws.lambda.batchsize: unknown property; did you mean \"aws.lambda.batch.size\"?".to_string(),
            "aws.lambda.invocation.type: \"sometimes\" is not a valid value; valid values: sync, async".to_string(),
            format!("name: \"{long_name}\" has 65 characters; a name has 1 to 64 characters"),
        ]
    );
}

#[test]
fn value_types() {
    assert_error(
        &[("tasks.max", "two")],
        "tasks.max: \"two\" is not an integer; valid values: [1,...,1000]",
    );
    assert_error(
        &[("tasks.max", "0")],
        "tasks.max: \"0\" is out of range; valid values: [1,...,1000]",
    );
    assert_error(
        &[("aws.lambda.socket.timeout", "999")],
        "aws.lambda.socket.timeout: \"999\" is out of range; valid values: [1000,...,900000]",
    );
    assert_error(
        &[("aws.lambda.payload.include.headers", "yes")],
        "aws.lambda.payload.include.headers: \"yes\" is not a boolean; valid values: true, false",
    );
    assert_error(
        &[("input.data.format", "XML")],
        "input.data.format: \"XML\" is not a valid value; valid values: AVRO, JSON_SR, PROTOBUF, JSON, BYTES, STRING",
    );
    // Numbers, booleans and enums are case- and type-lenient like Confluent's.
    let c = config(&[
        ("tasks.max", " 3 "),
        ("aws.lambda.payload.include.headers", "TRUE"),
        ("aws.lambda.invocation.type", "SYNC"),
        (
            "record.converter.class",
            "io.confluent.connect.aws.lambda.converter.EscapedJsonKeyValueConverter",
        ),
        (
            "connector.class",
            "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector",
        ),
        ("consumer.override.auto.offset.reset", "largest"),
    ]);
    assert_eq!(c.tasks_max, 3);
    assert!(c.lambda.include_headers);
    assert_eq!(c.lambda.converter, RecordConverter::EscapedJson);
    assert_eq!(c.kafka.auto_offset_reset, AutoOffsetReset::Latest);
    // Blank means "use the default" for non-text kinds.
    assert_eq!(
        config(&[("aws.lambda.batch.size", "")]).lambda.batch_size,
        20
    );
}

#[test]
fn connector_class_must_name_this_connector() {
    assert_error(
        &[("connector.class", "S3Sink")],
        "connector.class: \"S3Sink\" is not a valid value; valid values: LambdaSink",
    );
}

#[test]
fn required_properties() {
    assert_error(
        &[("name", "<unset>")],
        "name: is required: The connector's name, 1 to 64 characters.",
    );
    assert_error(
        &[("name", "  ")],
        "name: is required: The connector's name, 1 to 64 characters.",
    );
    assert_error(
        &[("kafka.bootstrap.servers", "<unset>")],
        "kafka.bootstrap.servers: is required: Comma-separated host:port pairs of the Kafka cluster.",
    );
    assert_error(
        &[("kafka.bootstrap.servers", "broker")],
        "kafka.bootstrap.servers: \"broker\" is not host:port (for example broker-1.example.com:9092)",
    );
    assert!(
        config(&[("kafka.bootstrap.servers", "SASL_SSL://a:9092, [::1]:9093")])
            .kafka
            .bootstrap_servers
            .len()
            == 2
    );
}

#[test]
fn name_and_connector_id() {
    assert!(config(&[("name", &"n".repeat(64))]).name.len() == 64);
    let c = config(&[("name", "My Sink #1")]);
    assert_eq!(c.connector_id.as_str(), "My_Sink__1");
    let c = config(&[("connector.id", "lcc-ix4dl")]);
    assert_eq!(c.connector_id.as_str(), "lcc-ix4dl");
    assert_eq!(
        c.reporter.result.unwrap().name.as_str(),
        "success-lcc-ix4dl"
    );
    assert_error(
        &[("connector.id", "lcc ix4dl")],
        "connector.id: \"lcc ix4dl\" contains characters that cannot appear in a topic name; use only letters, digits, '.', '_' and '-'",
    );
}

#[test]
fn topics_or_regex() {
    assert_error(
        &[("topics", "<unset>")],
        "topics: one of topics (a comma-separated list) or topics.regex is required",
    );
    assert_error(
        &[("topics.regex", "orders.*")],
        "topics.regex: topics and topics.regex are both set; set exactly one of them",
    );
    assert_error(
        &[("topics", "orders,bad topic")],
        "topics: topic name \"bad topic\" contains ' '; only letters, digits, '.', '_' and '-' are allowed",
    );
    let errs = errors(&[("topics", "<unset>"), ("topics.regex", "orders(")]);
    assert!(
        errs[0].starts_with("topics.regex: \"orders(\" is not a valid regular expression: "),
        "{errs:?}"
    );
    let c = config(&[("topics", "<unset>"), ("topics.regex", "orders\\..*")]);
    assert!(c.subscription.includes("orders.eu"));
    assert!(
        !c.subscription.includes("xorders.eu"),
        "the regex is matched in full"
    );
    assert_eq!(
        warnings(&[("topics", "a,b,a")]),
        ["topics: \"a\" is listed twice"]
    );
}

#[test]
fn ordering_and_per_partition_concurrency() {
    let c = config(&[("aws.lambda.ordering", "KEY")]);
    assert_eq!(c.lambda.ordering, Ordering::Key);
    assert_eq!(c.lambda.max_in_flight_per_partition, 10, "the default");
    let c = config(&[
        ("aws.lambda.ordering", "none"),
        ("aws.lambda.max.in.flight.per.partition", "50"),
        ("aws.lambda.adaptive.concurrency", "false"),
    ]);
    assert_eq!(c.lambda.max_in_flight_per_partition, 50);
    assert!(!c.lambda.adaptive_concurrency);
    assert_eq!(
        warnings(&[("aws.lambda.max.in.flight.per.partition", "5")]),
        [
            "aws.lambda.max.in.flight.per.partition: has no effect with aws.lambda.ordering=partition (one batch per partition); set aws.lambda.ordering to key or none"
        ]
    );
    let errs = errors(&[("aws.lambda.ordering", "keys")]);
    assert!(
        errs.iter()
            .any(|e| e.contains("aws.lambda.ordering") && e.contains("partition, key, none")),
        "{errs:?}"
    );
    let errs = errors(&[("aws.lambda.max.in.flight.per.partition", "0")]);
    assert!(
        errs.iter()
            .any(|e| e.contains("max.in.flight.per.partition")),
        "{errs:?}"
    );
}

#[test]
fn outcome_topics_must_not_be_inputs() {
    assert_error(
        &[("topics", "orders,success-orders-sink")],
        "reporter.result.topic.name: \"success-orders-sink\" is also an input topic: the connector would consume its own output; choose another name",
    );
    assert_error(
        &[("topics", "<unset>"), ("topics.regex", ".*")],
        "errors.deadletterqueue.topic.name: \"dlq-orders-sink\" matches topics.regex: the connector would consume its own output; choose another name",
    );
    assert_error(
        &[("reporter.error.topic.name", "orders")],
        "reporter.error.topic.name: \"orders\" is also an input topic: the connector would consume its own output; choose another name",
    );
    assert_error(
        &[("reporter.result.topic.name", "results for ${connector}")],
        "reporter.result.topic.name: topic name \"results for orders-sink\" contains ' '; only letters, digits, '.', '_' and '-' are allowed",
    );
}

#[test]
fn function_routing() {
    assert_error(
        &[("aws.lambda.function.name", "<unset>")],
        "aws.lambda.function.name: is required in single mode (aws.lambda.configuration.mode=single): the function to invoke",
    );
    let errs = errors(&[("aws.lambda.function.name", "my function")]);
    assert!(
        errs[0]
            .starts_with("aws.lambda.function.name: \"my function\" is not a valid function name"),
        "{errs:?}"
    );
    let f = config(&[("aws.lambda.function.name", "order-fn:prod")])
        .lambda
        .routing;
    assert_eq!(f.function_for("orders").unwrap().qualifier(), Some("prod"));

    let multi = [
        ("aws.lambda.configuration.mode", "multiple"),
        ("aws.lambda.function.name", "<unset>"),
    ];
    assert_error(
        &multi,
        "aws.lambda.topic2function.map: is required in multiple mode: comma-separated topic;function entries, e.g. orders;order-fn,users;user-fn:prod",
    );
    let with_map = |map: &'static str| {
        let mut c = multi.to_vec();
        c.push(("topics", "orders,users"));
        c.push(("aws.lambda.topic2function.map", map));
        c
    };
    assert_error(
        &with_map("orders;order-fn"),
        "aws.lambda.topic2function.map: has no entry for subscribed topic \"users\"; add \"users;<function>\"",
    );
    assert_error(
        &with_map("orders;order-fn,users"),
        "aws.lambda.topic2function.map: entry \"users\" must be topic;function[:qualifier]",
    );
    assert_error(
        &with_map("orders;a,orders;b,users;c"),
        "aws.lambda.topic2function.map: topic \"orders\" is mapped more than once",
    );
    let c = config(&with_map("orders;order-fn, users;user-fn:live, other;x"));
    assert_eq!(
        c.lambda.routing.function_for("users").unwrap().to_string(),
        "user-fn:live"
    );
    assert_eq!(c.lambda.routing.functions().len(), 3);
    assert!(check(&with_map("orders;order-fn, users;user-fn:live, other;x"))
        .warnings
        .iter()
        .any(|w| w.to_string() == "aws.lambda.topic2function.map: maps \"other\", which is not in topics; the entry is unused"));
    assert_eq!(
        warnings(&[("aws.lambda.topic2function.map", "orders;x")]),
        [
            "aws.lambda.topic2function.map: is ignored in single mode; set aws.lambda.configuration.mode=multiple to route by topic"
        ]
    );
}

#[test]
fn schema_registry_rules() {
    assert_error(
        &[("input.data.format", "AVRO")],
        "schema.registry.url: is required because input.data.format is AVRO",
    );
    assert_error(
        &[
            ("input.key.format", "PROTOBUF"),
            ("schema.registry.url", "registry:8081"),
        ],
        "schema.registry.url: \"registry:8081\" is not an http:// or https:// URL",
    );
    assert_error(
        &[
            ("input.data.format", "JSON_SR"),
            ("schema.registry.url", "http://r:8081"),
            ("schema.registry.basic.auth.user.info", "nocolon"),
        ],
        "schema.registry.basic.auth.user.info: must be user:password (the value is masked)",
    );
    let c = config(&[
        ("input.data.format", "AVRO"),
        (
            "value.converter.schema.registry.url",
            "http://a:8081, http://b:8081",
        ),
        ("schema.registry.basic.auth.user.info", "u:p"),
    ]);
    let r = c.schema_registry.unwrap();
    assert_eq!(r.urls, ["http://a:8081", "http://b:8081"]);
    assert_eq!(r.context, "default");
    assert_eq!(
        warnings(&[("schema.registry.url", "http://r:8081")]),
        [
            "schema.registry.url: is set but no format uses a Schema Registry (AVRO, JSON_SR, PROTOBUF); it is ignored"
        ]
    );
}

#[test]
fn kafka_authentication() {
    assert_error(
        &[
            ("kafka.auth.mode", "SERVICE_ACCOUNT"),
            ("kafka.service.account.id", "sa-123"),
        ],
        "kafka.auth.mode: SERVICE_ACCOUNT authentication exists only inside Confluent Cloud; use KAFKA_API_KEY with kafka.api.key and kafka.api.secret (an API key owned by that service account), or NONE with kafka.* security properties",
    );
    assert_error(
        &[("kafka.auth.mode", "KAFKA_API_KEY"), ("kafka.api.key", "K")],
        "kafka.api.secret: is required when kafka.auth.mode is KAFKA_API_KEY",
    );
    assert_error(
        &[
            ("kafka.api.key", "K"),
            ("kafka.api.secret", "S"),
            ("kafka.security.protocol", "SASL_PLAINTEXT"),
        ],
        "kafka.security.protocol: conflicts with kafka.auth.mode=KAFKA_API_KEY, which sets it; remove it, or set kafka.auth.mode=NONE to configure security yourself",
    );
    assert_error(
        &[("kafka.auth.mode", "NONE"), ("kafka.api.key", "K")],
        "kafka.auth.mode: is NONE but kafka.api.key/kafka.api.secret are set; use KAFKA_API_KEY or remove the key",
    );
    let c = config(&[("kafka.api.key", "K"), ("kafka.api.secret", "S")]);
    assert_eq!(
        c.kafka.auth,
        KafkaAuth::ApiKey {
            key: "K".into(),
            secret: Secret::new("S".into())
        }
    );
    assert_eq!(
        warnings(&[("kafka.service.account.id", "sa-1")]),
        [
            "kafka.service.account.id: is ignored: it only applies to SERVICE_ACCOUNT authentication, which exists only inside Confluent Cloud"
        ]
    );
}

#[test]
fn pass_through_properties() {
    let c = config(&[
        ("kafka.security.protocol", "SASL_SSL"),
        ("kafka.sasl.password", "pw"),
        ("consumer.override.fetch.wait.max.ms", "20"),
        ("max.poll.interval.ms", "60000"),
        ("producer.override.linger.ms", "5"),
    ]);
    assert_eq!(c.kafka.common["security.protocol"].expose(), "SASL_SSL");
    assert!(c.kafka.common["sasl.password"].is_secret());
    assert_eq!(format!("{:?}", c.kafka.common["sasl.password"]), MASK);
    assert_eq!(c.kafka.consumer["fetch.wait.max.ms"].expose(), "20");
    assert_eq!(c.kafka.consumer["max.poll.interval.ms"].expose(), "60000");
    assert_eq!(c.kafka.producer["linger.ms"].expose(), "5");
    for (key, reason) in [
        (
            "kafka.group.id",
            "the consumer group is always connect-<connector.id>; set connector.id instead",
        ),
        (
            "consumer.override.enable.auto.commit",
            "lambda-sink stores and commits offsets itself, only for records whose outcome is resolved (at-least-once)",
        ),
        (
            "consumer.override.enable.auto.offset.store",
            "lambda-sink stores and commits offsets itself, only for records whose outcome is resolved (at-least-once)",
        ),
        (
            "producer.override.acks",
            "outcome records are always produced with acks=all and idempotence, so none is lost or reordered",
        ),
        (
            "producer.override.enable.idempotence",
            "outcome records are always produced with acks=all and idempotence, so none is lost or reordered",
        ),
        (
            "kafka.auto.offset.reset",
            "use consumer.override.auto.offset.reset",
        ),
        ("kafka.bootstrap.servers.extra", ""),
    ] {
        if reason.is_empty() {
            continue;
        }
        assert_error(
            &[(key, "x")],
            &format!("{key}: cannot be set through pass-through: {reason}"),
        );
    }
}

#[test]
fn unknown_and_unsupported_properties() {
    assert_error(
        &[("aws.lambda.funtion.name", "x")],
        "aws.lambda.funtion.name: unknown property; did you mean \"aws.lambda.function.name\"?",
    );
    assert_error(
        &[("bootstrap.servers", "x:1")],
        "bootstrap.servers: unknown property; did you mean \"kafka.bootstrap.servers\"?",
    );
    assert_error(
        &[("something.else.entirely", "x")],
        "something.else.entirely: unknown property; `lambda-sink plugin describe` lists every property, and librdkafka properties go under kafka., consumer.override. or producer.override.",
    );
    assert_error(
        &[("value.converter", "io.confluent.connect.avro.AvroConverter")],
        "value.converter: not supported: Kafka Connect converters are not used; set input.data.format instead (AvroConverter → AVRO, JsonSchemaConverter → JSON_SR, ProtobufConverter → PROTOBUF, JsonConverter → JSON, StringConverter → STRING, ByteArrayConverter → BYTES)",
    );
    // Transforms are supported: an alias without its type says what is missing.
    assert_error(
        &[("transforms", "mask")],
        "transforms.mask.type: Missing required configuration \"transforms.mask.type\" which has no default value.",
    );
}

#[test]
fn duplicates_and_aliases() {
    assert_eq!(
        warnings(&[("topics", "orders"), ("extra", "<unset>")]).len(),
        0,
        "replacing a BASE key is not a duplicate"
    );
    let raw = RawConfig::from_pairs(
        BASE.iter()
            .copied()
            .chain([("tasks.max", "1"), ("tasks.max", "2")]),
    );
    let v = validate(&raw, &no_env);
    assert_eq!(
        v.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["tasks.max: set more than once with different values: \"1\" and \"2\"; keep one"]
    );
    let raw = RawConfig::from_pairs(BASE.iter().copied().chain([
        ("input.data.format", "AVRO"),
        ("schema.registry.url", "http://a:8081"),
        ("value.converter.schema.registry.url", "http://b:8081"),
    ]));
    let v = validate(&raw, &no_env);
    assert_eq!(
        v.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "value.converter.schema.registry.url: set more than once with different values (also as schema.registry.url): \"http://a:8081\" and \"http://b:8081\"; keep one"
        ]
    );
}

#[test]
fn secrets_are_masked_in_every_message() {
    let raw = RawConfig::from_pairs(BASE.iter().copied().chain([
        ("kafka.api.key", "KEY"),
        ("kafka.api.secret", "first-secret-value"),
        ("kafka.api.secret", "second-secret-value"),
        ("aws.secret.access.key", "aws-secret-value"),
        ("kafka.sasl.password", "sasl-secret-value"),
        ("kafka.sasl.password", "sasl-secret-value-2"),
        ("aws.lambda.proxy.password", "proxy-secret-value"),
        (
            "schema.registry.basic.auth.user.info",
            "registry-secret-value",
        ),
    ]));
    let v = validate(&raw, &no_env);
    let everything = format!("{v:?}");
    assert!(everything.contains(MASK));
    for secret in [
        "first-secret",
        "second-secret",
        "aws-secret",
        "sasl-secret",
        "proxy-secret",
        "registry-secret",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked: {everything}"
        );
    }
    assert!(v.errors.iter().any(|e| e.to_string()
        == "kafka.api.secret: set more than once with different values: ******** and ********; keep one"));
}

#[test]
fn references_resolve_and_report() {
    let env = |name: &str| (name == "FN").then(|| "from-env".to_string());
    let v = validate(&with(&[("aws.lambda.function.name", "${env:FN}")]), &env);
    assert_eq!(
        v.config.unwrap().lambda.routing.functions()[0].to_string(),
        "from-env"
    );
    let v = validate(
        &with(&[
            ("kafka.api.key", "K"),
            ("kafka.api.secret", "${env:MISSING}"),
        ]),
        &env,
    );
    assert_eq!(
        v.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "kafka.api.secret: ${env:MISSING} refers to environment variable MISSING, which is not set"
        ]
    );
}

#[test]
fn aws_credentials() {
    assert_error(
        &[("aws.access.key.id", "AKIA")],
        "aws.secret.access.key: is required when aws.access.key.id is set (or remove both to use the AWS default credential chain)",
    );
    assert_error(
        &[("aws.secret.access.key", "s")],
        "aws.access.key.id: is required when aws.secret.access.key is set (or remove both to use the AWS default credential chain)",
    );
    assert_error(
        &[("aws.session.token", "t")],
        "aws.session.token: is set without aws.access.key.id and aws.secret.access.key; set all three or none",
    );
    assert_error(
        &[("authentication.method", "IAM Roles")],
        "aws.iam.role.arn: is required when authentication.method is IAM Roles",
    );
    assert_error(
        &[
            ("authentication.method", "IAM Roles"),
            ("aws.iam.role.arn", "my-role"),
        ],
        "aws.iam.role.arn: \"my-role\" is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
    );
    assert_error(
        &[("aws.iam.role.arn", "arn:aws:iam::123456789012:role/x")],
        "authentication.method: is Access Keys but aws.iam.role.arn/aws.iam.external.id are set; set authentication.method=IAM Roles to assume the role",
    );
    let c = config(&[
        ("authentication.method", "iam roles"),
        ("aws.iam.role.arn", "arn:aws:iam::123456789012:role/invoker"),
        ("aws.iam.external.id", "ext"),
    ]);
    let role = c.aws.assume_role.unwrap();
    assert_eq!(role.session_name, "lambda-sink-orders-sink");
    assert_eq!(role.external_id.as_deref(), Some("ext"));
    assert_error(
        &[("aws.lambda.proxy.user", "u")],
        "aws.lambda.proxy.url: is required when aws.lambda.proxy.user or aws.lambda.proxy.password is set",
    );
    assert_error(
        &[("aws.lambda.endpoint", "localhost:4566")],
        "aws.lambda.endpoint: \"localhost:4566\" is not an http:// or https:// URL",
    );
    assert_eq!(
        config(&[
            ("aws.lambda.region", "<unset>"),
            ("kafka.region", "eu-west-1")
        ])
        .aws
        .region
        .as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(config(&[("aws.lambda.region", "<unset>")]).aws.region, None);
}

#[test]
fn invocation_modes_decide_outcome_topics() {
    let c = config(&[("aws.lambda.invocation.type", "async")]);
    assert_eq!(c.lambda.max_payload_bytes, ASYNC_PAYLOAD_LIMIT);
    assert!(c.reporter.result.is_none() && c.reporter.error.is_none());
    assert!(c.errors.dlq.is_some(), "the DLQ is used in async mode too");
    assert_eq!(
        warnings(&[
            ("aws.lambda.invocation.type", "async"),
            ("behavior.on.error", "fail")
        ]),
        [
            "behavior.on.error: has no effect in async mode: Lambda's own retries and destinations handle function errors"
        ]
    );
    assert_eq!(
        warnings(&[
            ("aws.lambda.invocation.type", "async"),
            ("reporter.result.topic.name", "r")
        ]),
        [
            "reporter.result.topic.name: is not used in async mode: Lambda does not return results to the caller"
        ]
    );
    assert!(
        config(&[("behavior.on.error", "ignore")])
            .reporter
            .error
            .is_none()
    );
    assert!(
        config(&[("reporter.result.topic.name", " ")])
            .reporter
            .result
            .is_none()
    );
    let c = config(&[
        ("reporter.result.topic.value.format", "json"),
        ("reporter.result.topic.partitions", "3"),
        ("reporter.result.topic.replication.factor", "1"),
    ]);
    let r = c.reporter.result.unwrap();
    assert_eq!(
        (r.value_format, r.partitions, r.replication_factor),
        (ReporterValueFormat::Json, 3, Some(1))
    );
    assert_eq!(
        warnings(&[("aws.lambda.max.payload.bytes", "7000000")]),
        [
            "aws.lambda.max.payload.bytes: 7000000 is above Lambda's 6291456-byte limit for sync invocations; AWS will reject larger requests (an emulator may not)"
        ]
    );
    assert_error(
        &[
            ("aws.lambda.retry.backoff.ms", "5000"),
            ("aws.lambda.retry.backoff.max.ms", "1000"),
        ],
        "aws.lambda.retry.backoff.ms: 5000 is larger than aws.lambda.retry.backoff.max.ms (1000); the first delay cannot exceed the longest",
    );
    assert_eq!(
        config(&[("aws.lambda.retry.timeout.ms", "-1")])
            .lambda
            .retry_timeout,
        None
    );
}

#[test]
fn dead_letter_queue() {
    assert_error(
        &[("errors.deadletterqueue.topic.name", "")],
        "errors.deadletterqueue.topic.name: is blank while errors.tolerance=all: records that cannot be processed would be dropped; name a DLQ topic, or set errors.tolerance=none to stop on such records",
    );
    let c = config(&[
        ("errors.tolerance", "none"),
        ("errors.deadletterqueue.topic.name", ""),
    ]);
    assert!(c.errors.dlq.is_none());
    let c = config(&[
        ("errors.deadletterqueue.topic.name", "bad-${connector}"),
        ("errors.deadletterqueue.context.headers.enable", "false"),
    ]);
    let dlq = c.errors.dlq.unwrap();
    assert_eq!(dlq.topic.name.as_str(), "bad-orders-sink");
    assert!(!dlq.context_headers);
}

#[test]
fn parking_keys() {
    const PARK: (&str, &str) = ("aws.lambda.on.key.failure", "park");
    const KEY: (&str, &str) = ("aws.lambda.ordering", "key");
    assert_eq!(config(&[]).errors.park, None);
    let c = config(&[PARK, KEY]);
    let park = c.errors.park.clone().expect("parking");
    assert_eq!(park.topic.name.as_str(), "parked-orders-sink");
    assert!(park.topic.compacted);
    assert_eq!(park.topic.partitions, 1);
    assert_eq!(park.backoff, std::time::Duration::from_secs(30));
    assert_eq!(park.backoff_max, std::time::Duration::from_secs(900));
    assert_eq!(park.max_attempts, Some(10));
    assert_eq!((park.max_keys, park.max_records), (1000, 100_000));
    assert!(
        c.output_topics()
            .iter()
            .any(|(what, t)| *what == "parked records" && t.name.as_str() == "parked-orders-sink")
    );
    let forever = config(&[PARK, KEY, ("aws.lambda.park.max.attempts", "-1")]);
    assert_eq!(forever.errors.park.unwrap().max_attempts, None);
    assert_error(
        &[PARK],
        "aws.lambda.on.key.failure: park needs aws.lambda.ordering=key: only keys invoked apart from each other can be parked apart; set aws.lambda.ordering=key",
    );
    let exactly_once = config(&[PARK, KEY, ("reporter.exactly.once", "true")]);
    assert!(exactly_once.errors.park.is_some() && exactly_once.reporter.transactions.is_some());
    assert_error(
        &[PARK, KEY, ("aws.lambda.park.topic.name", " ")],
        "aws.lambda.park.topic.name: is blank while aws.lambda.on.key.failure=park: parked records need a topic; name one, or set aws.lambda.on.key.failure=resolve",
    );
    assert_error(
        &[PARK, KEY, ("aws.lambda.park.topic.name", "orders")],
        "aws.lambda.park.topic.name: \"orders\" is also an input topic: the connector would consume its own output; choose another name",
    );
    assert_error(
        &[
            PARK,
            KEY,
            ("aws.lambda.park.retry.backoff.ms", "5000"),
            ("aws.lambda.park.retry.backoff.max.ms", "1000"),
        ],
        "aws.lambda.park.retry.backoff.max.ms: (1000 ms) is below aws.lambda.park.retry.backoff.ms (5000 ms); the longest wait cannot be shorter than the first",
    );
    assert_error(
        &[PARK, KEY, ("aws.lambda.park.max.attempts", "0")],
        "aws.lambda.park.max.attempts: 0 would never retry a parked key; use the retries to make (at least 1), or -1 to retry until it succeeds",
    );
    assert!(
        warnings(&[("aws.lambda.park.max.keys", "5")])
            .iter()
            .any(|w| w
                == "aws.lambda.park.max.keys: has no effect unless aws.lambda.on.key.failure=park")
    );
}

#[test]
fn http_listener() {
    assert_eq!(
        config(&[("http.listener", "none")]).service.http_listener,
        None
    );
    assert_eq!(
        config(&[("http.listener", "localhost:0")])
            .service
            .http_listener,
        Some("127.0.0.1:0".parse().unwrap())
    );
    assert_error(
        &[("http.listener", "eight-oh-eight-three")],
        "http.listener: \"eight-oh-eight-three\" is not ip:port (e.g. 127.0.0.1:8083, 0.0.0.0:0 for any free port) or none",
    );
}

#[test]
fn rest_and_properties_shapes_validate_alike() {
    let rest = r#"{"name": "orders-sink", "config": {"topics": "orders",
        "kafka.bootstrap.servers": "127.0.0.1:9092", "aws.lambda.function.name": "order-fn",
        "aws.lambda.region": "us-east-1", "aws.lambda.batch.size": 50}}"#;
    let props = "name=orders-sink\ntopics=orders\nkafka.bootstrap.servers=127.0.0.1:9092\n\
                 aws.lambda.function.name=order-fn\naws.lambda.region=us-east-1\naws.lambda.batch.size=50\n";
    for (text, origin) in [(rest, "c.json"), (props, "c.properties")] {
        let v = validate(&parse(text, origin).unwrap(), &no_env);
        assert!(v.errors.is_empty(), "{origin}: {:?}", v.errors);
        assert_eq!(v.config.unwrap().lambda.batch_size, 50, "{origin}");
    }
}

#[test]
fn esm_format_and_failure_settings() {
    let c = config(&[]);
    assert_eq!(c.lambda.payload_format, PayloadFormat::Confluent);
    assert!(!c.lambda.batch_item_failures);
    assert_eq!(
        (
            c.lambda.function_error_retries,
            c.lambda.bisect_on_function_error,
            c.lambda.max_record_age
        ),
        (Some(0), false, None)
    );
    let esm = config(&[("aws.lambda.payload.format", "esm")]);
    assert!(esm.lambda.batch_item_failures, "on by default in esm mode");
    assert!(
        !config(&[
            ("aws.lambda.payload.format", "esm"),
            ("aws.lambda.batch.item.failures", "false")
        ])
        .lambda
        .batch_item_failures
    );
    let tuned = config(&[
        ("aws.lambda.function.error.max.retries", "-1"),
        ("aws.lambda.max.record.age.ms", "60000"),
    ]);
    assert_eq!(
        tuned.lambda.function_error_retries, None,
        "-1 retries forever"
    );
    assert_eq!(tuned.lambda.max_record_age, Some(Duration::from_secs(60)));
    assert_error(
        &[("aws.lambda.max.record.age.ms", "0")],
        "aws.lambda.max.record.age.ms: 0 would skip every record; use -1 for no limit, or the age in milliseconds",
    );
    assert_error(
        &[
            ("aws.lambda.payload.format", "esm"),
            ("aws.lambda.esm.event.source.arn", "my-cluster"),
        ],
        "aws.lambda.esm.event.source.arn: \"my-cluster\" is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)",
    );
    assert_error(
        &[
            ("aws.lambda.payload.format", "esm"),
            ("transforms", "m"),
            ("transforms.m.type", "MaskField$Value"),
            ("transforms.m.fields", "card"),
        ],
        "transforms: cannot be combined with aws.lambda.payload.format=esm: the event carries the record's own bytes; transform in the function, or use the confluent format",
    );
    assert_error(
        &[(
            "aws.lambda.filter.criteria",
            r#"{"value": {"ip": [{"cidr": "10.0.0.0/8"}]}}"#,
        )],
        "aws.lambda.filter.criteria: Filters[0].value.ip: \"cidr\" is not an operator Lambda's event filtering supports; supported: prefix, suffix, equals-ignore-case, anything-but, numeric, exists",
    );
    assert_error(
        &[
            ("aws.lambda.on.failure", "dlq"),
            ("errors.tolerance", "none"),
        ],
        "aws.lambda.on.failure: dlq needs the dead letter queue, which errors.tolerance=none turns off: set errors.tolerance=all (the default)",
    );
    assert_eq!(
        config(&[
            ("aws.lambda.on.failure", "dlq"),
            ("errors.tolerance", "all")
        ])
        .lambda
        .on_failure,
        OnFailure::Dlq
    );
    assert!(
        warnings(&[("aws.lambda.esm.record.format", "source")])
            .iter()
            .any(|w| w.contains("has no effect unless aws.lambda.payload.format=esm"))
    );
    let filtered = config(&[("aws.lambda.filter.criteria", r#"{"value": {"a": [1]}}"#)]);
    let record = crate::record::SourceRecord {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        timestamp: None,
        timestamp_type: crate::record::TimestampType::CreateTime,
        key: None,
        value: None,
        headers: vec![],
    };
    assert!(filtered.lambda.filter.passes(&record, Some(br#"{"a": 1}"#)));
    assert!(!filtered.lambda.filter.passes(&record, Some(br#"{"a": 2}"#)));
    assert!(
        warnings(&[(
            "aws.lambda.esm.event.source.arn",
            "arn:aws:kafka:us-east-1:1:cluster/c/u"
        )])
        .iter()
        .any(|w| w.contains("has no effect unless aws.lambda.payload.format=esm"))
    );
}

#[test]
fn exactly_once_is_off_by_default_and_bounded_when_on() {
    assert_eq!(config(&[]).reporter.transactions, None);
    let on = config(&[("reporter.exactly.once", "true")]);
    assert_eq!(
        on.reporter.transactions,
        Some(crate::config::Transactions {
            interval: std::time::Duration::from_millis(1000),
            max_records: 50_000,
        })
    );
    // The coordinator would abort transactions before they commit.
    assert_error(
        &[
            ("reporter.exactly.once", "true"),
            ("reporter.transaction.interval.ms", "5000"),
            ("producer.override.transaction.timeout.ms", "8000"),
        ],
        "producer.override.transaction.timeout.ms: must be a number of milliseconds above twice \
         reporter.transaction.interval.ms (5000 ms), or the coordinator aborts transactions before \
         lambda-sink commits them",
    );
    assert!(
        check(&[
            ("reporter.exactly.once", "true"),
            ("producer.override.transaction.timeout.ms", "60000"),
        ])
        .errors
        .is_empty()
    );
    assert_error(
        &[("producer.override.transactional.id", "mine")],
        "producer.override.transactional.id: cannot be set through pass-through: \
         lambda-sink derives transactional ids itself (reporter.exactly.once=true)",
    );
}

#[test]
fn the_value_format_defaults_to_bytes_in_esm_format_only() {
    let cases: [(&[(&str, &str)], DataFormat); 5] = [
        (&[], DataFormat::Json),
        (
            &[("aws.lambda.payload.format", "confluent")],
            DataFormat::Json,
        ),
        (&[("aws.lambda.payload.format", "esm")], DataFormat::Bytes),
        (
            &[
                ("aws.lambda.payload.format", "esm"),
                ("input.data.format", "JSON"),
            ],
            DataFormat::Json,
        ),
        (
            &[
                ("aws.lambda.payload.format", "esm"),
                ("input.data.format", "STRING"),
            ],
            DataFormat::String,
        ),
    ];
    for (changes, format) in cases {
        assert_eq!(config(changes).value_format, format, "{changes:?}");
    }
}
