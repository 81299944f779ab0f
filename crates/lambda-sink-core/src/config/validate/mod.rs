//! Raw entries → validated [`Config`], reporting every problem at once.
//!
//! Three passes: (1) fold entries by canonical key, judging duplicates and
//! resolving `${...}` references; (2) classify each key (table property,
//! pass-through, unsupported, unknown) and parse table values by their
//! [`Kind`]; (3) build the typed [`Config`], checking cross-field rules. A
//! problem in one pass does not stop the others, so the user sees everything
//! wrong in one run.

mod aws;
mod kafka;
mod lambda;
mod outputs;
mod values;

use self::aws::aws;
use self::kafka::{kafka, schema_registry};
use self::lambda::lambda;
use self::outputs::{outputs, service};
use self::values::{Report, Values, classify, fold_entries, usize_of};
pub use lambda::{ASYNC_PAYLOAD_LIMIT, SYNC_PAYLOAD_LIMIT};

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::codec::{DataFormat, DecimalFormat};
use crate::transform::Chain;

use super::enums::{OnFailure, PayloadFormat};
use super::model::{Config, ErrorsConfig, KafkaConfig, ReporterConfig, Subscription, full_match};
use super::names::{ConnectorId, TopicName};
use super::properties::{self, Required};
use super::secret::shown;
use super::source::RawConfig;
use crate::Problem;

/// The outcome of validation: a config when there is no error, and every
/// error and warning found.
#[derive(Debug)]
pub struct Validation {
    /// The validated config, present exactly when `errors` is empty.
    pub config: Option<Config>,
    /// Problems that make the configuration unusable.
    pub errors: Vec<Problem>,
    /// Things that work but are probably not what the user meant.
    pub warnings: Vec<Problem>,
}

/// Validates `raw`, reading environment variables through `env`.
pub fn validate(raw: &RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Validation {
    validate_tracking_reads(raw, env).0
}

/// Validates the Kafka connection in `raw` only (`kafka.bootstrap.servers`,
/// `kafka.auth.mode` and its keys, `kafka.*` pass-through): what a
/// worker's own clients need. Other table properties are accepted and
/// ignored; unknown keys are errors.
///
/// # Errors
/// Every problem found.
pub fn validate_kafka(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KafkaConfig, Vec<Problem>> {
    let mut report = Report::default();
    let entries = fold_entries(raw, env, &mut report);
    let mut values = Values::default();
    for (key, entry) in &entries {
        classify(key, entry, &mut values, &mut report);
    }
    match kafka(&values, &mut report) {
        Some(kafka) if report.errors.is_empty() => Ok(kafka),
        _ => Err(report.errors),
    }
}

/// [`validate`], also returning the table properties the builder read.
fn validate_tracking_reads(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Validation, BTreeSet<&'static str>) {
    let mut report = Report::default();
    let entries = fold_entries(raw, env, &mut report);
    let mut values = Values::default();
    for (key, entry) in &entries {
        classify(key, entry, &mut values, &mut report);
    }
    let config = build(&values, &mut report);
    debug_assert!(config.is_some() || !report.errors.is_empty());
    let validation = Validation {
        config: config.filter(|_| report.errors.is_empty()),
        errors: report.errors,
        warnings: report.warnings,
    };
    (validation, values.read.into_inner())
}

/// Pass 3: the typed config and cross-field rules. Returns a config only when
/// every part could be built; the caller discards it if any error was reported.
fn build(v: &Values, report: &mut Report) -> Option<Config> {
    // First: the checks below may end the build early.
    let transforms = match Chain::configure(&v.transforms) {
        Ok(chain) => Some(Arc::new(chain)),
        Err(problems) => {
            report.errors.extend(problems);
            None
        }
    };
    for p in properties::PROPERTIES {
        if p.required == Required::Yes && !v.has_value(p.name) && !v.is_invalid(p.name) {
            report.error(p.name, format!("is required: {}", first_sentence(p.doc)));
        }
    }
    // connector.class is validated by parsing; its value has no further use.
    let _ = v.get("connector.class");
    for inert in [
        "key.converter.key.subject.name.strategy",
        "value.converter.value.subject.name.strategy",
        "value.converter.reference.subject.name.strategy",
    ] {
        let _ = v.get(inert);
    }

    let name = v.text("name");
    let connector_id = connector_id(v, name.as_deref(), report);

    let subscription = subscription(v, report);
    let key_format = v.choice("input.key.format", DataFormat::from_canonical);
    let value_format = value_format(v);
    let kafka = kafka(v, report);
    let schema_registry = schema_registry(v, [key_format, value_format], report);
    let aws = aws(v, connector_id.as_ref(), report);
    let lambda = lambda(v, subscription.as_ref(), report);
    let outputs = outputs(v, connector_id.as_ref(), lambda.as_ref(), report);
    let service = service(v, report);

    if let (Some(sub), Some(outputs)) = (&subscription, &outputs) {
        no_output_is_an_input(sub, outputs, report);
    }

    if let (Some(l), Some(chain)) = (&lambda, &transforms)
        && l.payload_format == PayloadFormat::Esm
        && !chain.is_empty()
    {
        report.error(
            "transforms",
            "cannot be combined with aws.lambda.payload.format=esm: the event carries the record's own bytes; transform in the function, or use the confluent format",
        );
        return None;
    }
    let (reporter, errors) = outputs?;
    if let Some(l) = &lambda
        && l.on_failure == OnFailure::Dlq
        && errors.dlq.is_none()
    {
        report.error(
            "aws.lambda.on.failure",
            "dlq needs the dead letter queue, which errors.tolerance=none turns off: set errors.tolerance=all (the default)",
        );
        return None;
    }
    Some(Config {
        name: name?,
        connector_id: connector_id?,
        tasks_max: usize_of(v.int("tasks.max")?),
        subscription: subscription?,
        key_format: key_format?,
        value_format: value_format?,
        max_buffered_per_partition: usize_of(v.int("max.poll.records")?),
        kafka: kafka?,
        schema_registry,
        decimal_format: v.choice(
            "value.converter.decimal.format",
            DecimalFormat::from_canonical,
        )?,
        aws: aws?,
        lambda: lambda?,
        reporter,
        errors,
        service: service?,
        transforms: transforms?,
    })
}

/// `input.data.format`, else its default for the payload format.
fn value_format(v: &Values) -> Option<DataFormat> {
    if v.is_set("input.data.format") {
        return v.choice("input.data.format", DataFormat::from_canonical);
    }
    Some(default_value_format(v.choice(
        "aws.lambda.payload.format",
        PayloadFormat::from_canonical,
    )))
}

/// JSON, except in the `esm` payload format: there any bytes are delivered
/// (base64 in the event), as AWS's event source mapping delivers them.
fn default_value_format(payload: Option<PayloadFormat>) -> DataFormat {
    if payload == Some(PayloadFormat::Esm) {
        DataFormat::Bytes
    } else {
        DataFormat::Json
    }
}

/// `name` (1 to 64 characters) and the connector id (`connector.id`, or
/// the name sanitized).
fn connector_id(v: &Values, name: Option<&str>, report: &mut Report) -> Option<ConnectorId> {
    if let Some(name) = name {
        let n = name.chars().count();
        if n > 64 {
            report.error(
                "name",
                format!(
                    "{} has {n} characters; a name has 1 to 64 characters",
                    shown(name, false)
                ),
            );
        }
    }
    match v.text("connector.id") {
        Some(id) => {
            let sanitized = ConnectorId::sanitize(&id);
            if sanitized.as_ref().is_some_and(|s| s.as_str() != id) {
                report.error(
                    "connector.id",
                    format!(
                        "{} contains characters that cannot appear in a topic name; use only letters, digits, '.', '_' and '-'",
                        shown(&id, false)
                    ),
                );
            }
            sanitized
        }
        None => name.and_then(ConnectorId::sanitize),
    }
}

/// No result, error or dead letter topic is one the connector consumes.
fn no_output_is_an_input(
    sub: &Subscription,
    (reporter, errors): &(ReporterConfig, ErrorsConfig),
    report: &mut Report,
) {
    let topics = reporter
        .result
        .iter()
        .map(|t| ("reporter.result.topic.name", &t.topic))
        .chain(
            reporter
                .error
                .iter()
                .map(|t| ("reporter.error.topic.name", &t.topic)),
        )
        .chain(
            errors
                .dlq
                .iter()
                .map(|d| ("errors.deadletterqueue.topic.name", &d.topic)),
        )
        .chain(
            errors
                .park
                .iter()
                .map(|p| ("aws.lambda.park.topic.name", &p.topic)),
        );
    for (property, topic) in topics {
        if sub.includes(topic.name.as_str()) {
            let how = match sub {
                Subscription::Topics(_) => "is also an input topic",
                Subscription::Pattern(_) => "matches topics.regex",
            };
            report.error(
                property,
                format!(
                    "\"{}\" {how}: the connector would consume its own output; choose another name",
                    topic.name
                ),
            );
        }
    }
}

fn first_sentence(doc: &str) -> String {
    doc.split_once(". ")
        .map_or_else(|| doc.to_string(), |(s, _)| format!("{s}."))
}

fn subscription(v: &Values, report: &mut Report) -> Option<Subscription> {
    let topics = v.list("topics");
    let regex = v.text("topics.regex");
    match (topics.is_empty(), regex) {
        (true, None) => {
            report.error(
                "topics",
                "one of topics (a comma-separated list) or topics.regex is required",
            );
            None
        }
        (false, Some(_)) => {
            report.error(
                "topics.regex",
                "topics and topics.regex are both set; set exactly one of them",
            );
            None
        }
        (false, None) => {
            let mut parsed = Vec::new();
            let mut ok = true;
            for t in &topics {
                match TopicName::parse(t) {
                    Ok(name) if !parsed.contains(&name) => parsed.push(name),
                    Ok(name) => report.warn("topics", format!("\"{name}\" is listed twice")),
                    Err(e) => {
                        ok = false;
                        report.error("topics", e);
                    }
                }
            }
            ok.then_some(Subscription::Topics(parsed))
        }
        (true, Some(pattern)) => match full_match(&pattern) {
            Ok(_) => Some(Subscription::Pattern(pattern)),
            Err(e) => {
                report.error(
                    "topics.regex",
                    format!(
                        "{} is not a valid regular expression: {e}",
                        shown(&pattern, false)
                    ),
                );
                None
            }
        },
    }
}

#[cfg(test)]
mod tests;
