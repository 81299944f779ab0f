//! Pass 3, what is written and how the process runs: the result, error and
//! dead letter topics, exactly-once transactions, the service settings.

use std::net::SocketAddr;
use std::time::Duration;

use super::super::enums::{
    BehaviorOnError, ErrorsTolerance, InvocationType, OnKeyFailure, Ordering, ReporterValueFormat,
};
use super::super::model::{
    Dlq, ErrorsConfig, LambdaConfig, OutputTopic, Park, ReporterConfig, ReporterTopic,
    ServiceConfig, Transactions,
};
use super::super::names::{ConnectorId, TopicName};
use super::super::properties::PassThrough;
use super::super::secret::shown;
use super::values::{Report, Values, millis};

pub(super) fn outputs(
    v: &Values,
    id: Option<&ConnectorId>,
    lambda: Option<&LambdaConfig>,
    report: &mut Report,
) -> Option<(ReporterConfig, ErrorsConfig)> {
    let is_async = lambda.is_some_and(|l| l.invocation_type == InvocationType::Async);
    let logs_errors = lambda.is_some_and(|l| l.behavior_on_error == BehaviorOnError::Log);
    let mut ok = true;
    let mut reporter = |prefix: &'static str, used: bool, report: &mut Report| {
        let [name_p, parts_p, rf_p, format_p] = match prefix {
            "result" => [
                "reporter.result.topic.name",
                "reporter.result.topic.partitions",
                "reporter.result.topic.replication.factor",
                "reporter.result.topic.value.format",
            ],
            _ => [
                "reporter.error.topic.name",
                "reporter.error.topic.partitions",
                "reporter.error.topic.replication.factor",
                "reporter.error.topic.value.format",
            ],
        };
        let topic = output_topic(v, id, [name_p, parts_p, rf_p], report);
        let format = v.choice(format_p, ReporterValueFormat::from_canonical);
        if is_async && v.is_set(name_p) && topic.as_ref().is_some_and(Option::is_some) {
            report.warn(
                name_p,
                "is not used in async mode: Lambda does not return results to the caller",
            );
        }
        match (topic, format) {
            (Some(t), Some(value_format)) => t.filter(|_| used).map(|topic| ReporterTopic {
                topic,
                value_format,
            }),
            _ => {
                ok = false;
                None
            }
        }
    };
    let result = reporter("result", !is_async, report);
    let error = reporter("error", !is_async && logs_errors, report);

    let (tolerance, dlq) = dead_letter_queue(v, id, report);
    let transactions = transactions(v, report);
    let errors = ErrorsConfig {
        tolerance: tolerance?,
        dlq: dlq?,
        park: park(v, id, lambda, report)?,
    };
    ok.then_some((
        ReporterConfig {
            result,
            error,
            transactions: transactions?,
        },
        errors,
    ))
}

/// `errors.tolerance` and the dead letter queue it asks for.
#[allow(
    clippy::type_complexity,
    reason = "each part None when invalid, as the builder reads them"
)]
fn dead_letter_queue(
    v: &Values,
    id: Option<&ConnectorId>,
    report: &mut Report,
) -> (Option<ErrorsTolerance>, Option<Option<Dlq>>) {
    let tolerance = v.choice("errors.tolerance", ErrorsTolerance::from_canonical);
    let context_headers = v.bool("errors.deadletterqueue.context.headers.enable");
    let dlq_topic = output_topic(
        v,
        id,
        [
            "errors.deadletterqueue.topic.name",
            "",
            "errors.deadletterqueue.topic.replication.factor",
        ],
        report,
    );
    let dlq = match (tolerance, dlq_topic) {
        (Some(ErrorsTolerance::All), Some(None)) => {
            report.error(
                "errors.deadletterqueue.topic.name",
                "is blank while errors.tolerance=all: records that cannot be processed would be dropped; \
                 name a DLQ topic, or set errors.tolerance=none to stop on such records",
            );
            None
        }
        (Some(ErrorsTolerance::All), Some(Some(topic))) => Some(Some(Dlq {
            topic,
            context_headers,
        })),
        (Some(ErrorsTolerance::None), Some(_)) => Some(None),
        _ => None,
    };
    (tolerance, dlq)
}

/// The park settings read when `aws.lambda.on.key.failure=park`.
const PARK_SETTINGS: [&str; 7] = [
    "aws.lambda.park.topic.name",
    "aws.lambda.park.topic.replication.factor",
    "aws.lambda.park.retry.backoff.ms",
    "aws.lambda.park.retry.backoff.max.ms",
    "aws.lambda.park.max.attempts",
    "aws.lambda.park.max.keys",
    "aws.lambda.park.max.records",
];

/// `aws.lambda.on.key.failure` with `aws.lambda.park.*`: `Some(None)` when
/// keys are not parked.
fn park(
    v: &Values,
    id: Option<&ConnectorId>,
    lambda: Option<&LambdaConfig>,
    report: &mut Report,
) -> Option<Option<Park>> {
    const P: &str = "aws.lambda.on.key.failure";
    if v.choice(P, OnKeyFailure::from_canonical)? == OnKeyFailure::Resolve {
        for p in PARK_SETTINGS.into_iter().filter(|p| v.is_set(p)) {
            report.warn(p, "has no effect unless aws.lambda.on.key.failure=park");
        }
        return Some(None);
    }
    if lambda.is_some_and(|l| l.ordering != Ordering::Key) {
        report.error(
            P,
            "park needs aws.lambda.ordering=key: only keys invoked apart from each other can be parked apart; set aws.lambda.ordering=key",
        );
        return None;
    }
    let topic = output_topic(v, id, [PARK_SETTINGS[0], "", PARK_SETTINGS[1]], report)?;
    let Some(topic) = topic else {
        report.error(
            PARK_SETTINGS[0],
            "is blank while aws.lambda.on.key.failure=park: parked records need a topic; name one, or set aws.lambda.on.key.failure=resolve",
        );
        return None;
    };
    let backoff = millis(v.int(PARK_SETTINGS[2])?);
    let backoff_max = millis(v.int(PARK_SETTINGS[3])?);
    if backoff_max < backoff {
        report.error(
            PARK_SETTINGS[3],
            format!(
                "({} ms) is below aws.lambda.park.retry.backoff.ms ({} ms); the longest wait cannot be shorter than the first",
                backoff_max.as_millis(),
                backoff.as_millis()
            ),
        );
        return None;
    }
    let max_attempts = v.int(PARK_SETTINGS[4])?;
    if max_attempts == 0 {
        report.error(
            PARK_SETTINGS[4],
            "0 would never retry a parked key; use the retries to make (at least 1), or -1 to retry until it succeeds",
        );
        return None;
    }
    Some(Some(Park {
        topic: OutputTopic {
            compacted: true,
            ..topic
        },
        backoff,
        backoff_max,
        max_attempts: u32::try_from(max_attempts).ok(),
        max_keys: usize::try_from(v.int(PARK_SETTINGS[5])?).ok()?,
        max_records: usize::try_from(v.int(PARK_SETTINGS[6])?).ok()?,
    }))
}

/// `reporter.exactly.once` with `reporter.transaction.*`, checked against the producer's own
/// `transaction.timeout.ms` (a transaction must close well before the
/// coordinator aborts it).
pub(super) fn transactions(v: &Values, report: &mut Report) -> Option<Option<Transactions>> {
    let interval = millis(v.int("reporter.transaction.interval.ms")?);
    let max_records = usize::try_from(v.int("reporter.transaction.max.records")?).ok()?;
    if !v.bool("reporter.exactly.once") {
        return Some(None);
    }
    const TIMEOUT: &str = "producer.override.transaction.timeout.ms";
    let configured = [PassThrough::Producer, PassThrough::All]
        .into_iter()
        .find_map(|t| v.pass_through(t).get("transaction.timeout.ms").cloned());
    if let Some(timeout) = configured {
        match timeout.expose().trim().parse::<u64>() {
            Ok(ms) if Duration::from_millis(ms) > interval * 2 => {}
            _ => {
                report.error(
                    TIMEOUT,
                    format!(
                        "must be a number of milliseconds above twice reporter.transaction.interval.ms ({} ms), \
                         or the coordinator aborts transactions before lambda-sink commits them",
                        interval.as_millis()
                    ),
                );
                return None;
            }
        }
    }
    Some(Some(Transactions {
        interval,
        max_records,
    }))
}

/// Reads an output topic's name (with `${connector}` substituted), partitions
/// and replication factor. `Some(None)`: the name is blank (disabled).
/// An empty `partitions` property name means 1 partition.
pub(super) fn output_topic(
    v: &Values,
    id: Option<&ConnectorId>,
    [name_p, partitions_p, rf_p]: [&'static str; 3],
    report: &mut Report,
) -> Option<Option<OutputTopic>> {
    let raw = v.raw_text(name_p).unwrap_or_default();
    let partitions = if partitions_p.is_empty() {
        Some(1)
    } else {
        v.int(partitions_p).and_then(|n| i32::try_from(n).ok())
    };
    let replication_factor = v.int(rf_p).and_then(|n| i16::try_from(n).ok());
    if raw.trim().is_empty() {
        return Some(None);
    }
    let id = id?;
    match TopicName::parse(raw.trim().replace("${connector}", id.as_str()).as_str()) {
        Ok(name) => Some(Some(OutputTopic {
            name,
            partitions: partitions?,
            replication_factor,
            compacted: false,
        })),
        Err(e) => {
            report.error(name_p, e);
            None
        }
    }
}

pub(super) fn service(v: &Values, report: &mut Report) -> Option<ServiceConfig> {
    let listener = v.text("http.listener").unwrap_or_default();
    let http_listener = if listener.eq_ignore_ascii_case("none") {
        Some(None)
    } else {
        let normalized = listener
            .strip_prefix("localhost:")
            .map_or(listener.clone(), |port| format!("127.0.0.1:{port}"));
        match normalized.parse::<SocketAddr>() {
            Ok(addr) => Some(Some(addr)),
            Err(_) => {
                report.error(
                    "http.listener",
                    format!(
                        "{} is not ip:port (e.g. 127.0.0.1:8083, 0.0.0.0:0 for any free port) or none",
                        shown(&listener, false)
                    ),
                );
                None
            }
        }
    };
    Some(ServiceConfig {
        http_listener: http_listener?,
        shutdown_timeout: millis(v.int("shutdown.timeout.ms")?),
        stall_timeout: millis(v.int("partition.stall.timeout.ms")?),
    })
}
