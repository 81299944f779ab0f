//! Pass 3, the function and how it is invoked: routing (`single` or by
//! topic), payload limits, retries, ordering and in-flight limits, the
//! event source mapping's behaviours.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::codec::RecordConverter;
use crate::event_filter::FilterCriteria;
use crate::trace::IdempotencyKey;

use super::super::enums::{
    BehaviorOnError, ConfigurationMode, EsmRecordFormat, InvocationType, OnFailure, Ordering,
    PayloadFormat,
};
use super::super::model::{LambdaConfig, Routing, Subscription};
use super::super::names::{FunctionRef, TopicName};
use super::super::secret::shown;
use super::values::{Report, Values, millis, usize_of};

/// Lambda's synchronous (RequestResponse) request limit.
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Lambda's asynchronous (Event) request limit.
pub const ASYNC_PAYLOAD_LIMIT: usize = 1024 * 1024;

/// `aws.lambda.*`: the function and how it is invoked.
pub(super) fn lambda(
    v: &Values,
    sub: Option<&Subscription>,
    report: &mut Report,
) -> Option<LambdaConfig> {
    let routing = routing(v, sub, report);
    let invocation_type = v.choice("aws.lambda.invocation.type", InvocationType::from_canonical);
    let max_payload_bytes = max_payload_bytes(v, invocation_type, report);
    let behavior_on_error = v.choice("behavior.on.error", BehaviorOnError::from_canonical);
    if invocation_type == Some(InvocationType::Async) && v.is_set("behavior.on.error") {
        report.warn(
            "behavior.on.error",
            "has no effect in async mode: Lambda's own retries and destinations handle function errors",
        );
    }
    let (retry_timeout, backoff, backoff_max) = retries(v, report);
    let (ordering, per_partition) = ordering(v, report);
    let esm = esm(v, invocation_type, report);
    let failures = function_failures(v, invocation_type, report);
    Some(LambdaConfig {
        routing: routing?,
        invocation_type: invocation_type?,
        batch_size: usize_of(v.int("aws.lambda.batch.size")?),
        linger: millis(v.int("aws.lambda.batch.linger.ms")?),
        max_payload_bytes,
        socket_timeout: millis(v.int("aws.lambda.socket.timeout")?),
        retry_timeout: retry_timeout?,
        retry_backoff: backoff?,
        retry_backoff_max: backoff_max?,
        max_in_flight: usize_of(v.int("aws.lambda.max.in.flight")?),
        ordering: ordering?,
        max_in_flight_per_partition: per_partition?,
        adaptive_concurrency: v.bool("aws.lambda.adaptive.concurrency"),
        include_headers: v.bool("aws.lambda.payload.include.headers"),
        payload_format: esm.payload_format?,
        esm_event_source_arn: esm.event_source_arn,
        esm_record_format: v.choice(
            "aws.lambda.esm.record.format",
            EsmRecordFormat::from_canonical,
        )?,
        batch_item_failures: esm.batch_item_failures,
        function_error_retries: failures.retries?,
        bisect_on_function_error: v.bool("aws.lambda.bisect.on.function.error"),
        max_record_age: failures.max_record_age?,
        filter: failures.filter?,
        idempotency_key: failures.idempotency_key?,
        on_failure: v.choice("aws.lambda.on.failure", OnFailure::from_canonical)?,
        converter: v.choice("record.converter.class", RecordConverter::from_canonical)?,
        behavior_on_error: behavior_on_error?,
    })
}

/// `aws.lambda.configuration.mode` with `aws.lambda.function.name` or
/// `aws.lambda.topic2function.map`.
fn routing(v: &Values, sub: Option<&Subscription>, report: &mut Report) -> Option<Routing> {
    let mode = v.choice(
        "aws.lambda.configuration.mode",
        ConfigurationMode::from_canonical,
    );
    let function = v.text("aws.lambda.function.name");
    let map = v.list("aws.lambda.topic2function.map");
    match mode? {
        ConfigurationMode::Single => {
            if !map.is_empty() {
                report.warn(
                    "aws.lambda.topic2function.map",
                    "is ignored in single mode; set aws.lambda.configuration.mode=multiple to route by topic",
                );
            }
            match function {
                Some(f) => FunctionRef::parse(&f)
                    .map(Routing::Single)
                    .map_err(|e| report.error("aws.lambda.function.name", e))
                    .ok(),
                None => {
                    if !v.is_invalid("aws.lambda.function.name") {
                        report.error(
                            "aws.lambda.function.name",
                            "is required in single mode (aws.lambda.configuration.mode=single): the function to invoke",
                        );
                    }
                    None
                }
            }
        }
        ConfigurationMode::Multiple => {
            if function.is_some() {
                report.warn(
                    "aws.lambda.function.name",
                    "is ignored in multiple mode; functions come from aws.lambda.topic2function.map",
                );
            }
            topic_map(&map, sub, report).map(Routing::ByTopic)
        }
    }
}

/// `aws.lambda.max.payload.bytes`, Lambda's limit for the invocation type
/// unless set (a larger value is warned about).
fn max_payload_bytes(
    v: &Values,
    invocation_type: Option<InvocationType>,
    report: &mut Report,
) -> usize {
    let limit = match invocation_type {
        Some(InvocationType::Async) => ASYNC_PAYLOAD_LIMIT,
        _ => SYNC_PAYLOAD_LIMIT,
    };
    let max_payload_bytes = v
        .int("aws.lambda.max.payload.bytes")
        .map_or(limit, usize_of);
    if let (Some(t), true) = (invocation_type, max_payload_bytes > limit) {
        report.warn(
            "aws.lambda.max.payload.bytes",
            format!(
                "{max_payload_bytes} is above Lambda's {limit}-byte limit for {t} invocations; \
                 AWS will reject larger requests (an emulator may not)"
            ),
        );
    }
    max_payload_bytes
}

/// Optional durations, each `None` when invalid.
type Retries = (Option<Option<Duration>>, Option<Duration>, Option<Duration>);

/// `aws.lambda.retry.*`: the timeout (`-1`: forever) and the backoff.
fn retries(v: &Values, report: &mut Report) -> Retries {
    let timeout = v
        .int("aws.lambda.retry.timeout.ms")
        .map(|n| (n >= 0).then(|| millis(n)));
    let backoff = v.int("aws.lambda.retry.backoff.ms").map(millis);
    let backoff_max = v.int("aws.lambda.retry.backoff.max.ms").map(millis);
    if let (Some(b), Some(m)) = (backoff, backoff_max)
        && b > m
    {
        report.error(
            "aws.lambda.retry.backoff.ms",
            format!(
                "{} is larger than aws.lambda.retry.backoff.max.ms ({}); the first delay cannot exceed the longest",
                b.as_millis(),
                m.as_millis()
            ),
        );
    }
    (timeout, backoff, backoff_max)
}

/// `aws.lambda.ordering` and the batches in flight per partition it allows.
fn ordering(v: &Values, report: &mut Report) -> (Option<Ordering>, Option<usize>) {
    let ordering = v.choice("aws.lambda.ordering", Ordering::from_canonical);
    if ordering == Some(Ordering::Partition) && v.is_set("aws.lambda.max.in.flight.per.partition") {
        report.warn(
            "aws.lambda.max.in.flight.per.partition",
            "has no effect with aws.lambda.ordering=partition (one batch per partition); set aws.lambda.ordering to key or none",
        );
    }
    let per_partition = match ordering {
        Some(Ordering::Partition) => Some(1),
        _ => v
            .int("aws.lambda.max.in.flight.per.partition")
            .map(usize_of),
    };
    (ordering, per_partition)
}

/// The event source mapping's payload and partial batch responses.
struct Esm {
    payload_format: Option<PayloadFormat>,
    event_source_arn: Option<String>,
    batch_item_failures: bool,
}

/// `aws.lambda.payload.format`, `aws.lambda.esm.*` and
/// `aws.lambda.batch.item.failures` (on by default in `esm` format).
fn esm(v: &Values, invocation_type: Option<InvocationType>, report: &mut Report) -> Esm {
    let payload_format = v.choice("aws.lambda.payload.format", PayloadFormat::from_canonical);
    let esm = payload_format == Some(PayloadFormat::Esm);
    let event_source_arn = v.text("aws.lambda.esm.event.source.arn");
    if let Some(arn) = &event_source_arn {
        if !esm {
            report.warn(
                "aws.lambda.esm.event.source.arn",
                "has no effect unless aws.lambda.payload.format=esm",
            );
        } else if !arn.starts_with("arn:aws") || !arn.contains(":kafka:") {
            report.error(
                "aws.lambda.esm.event.source.arn",
                format!("{arn:?} is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)"),
            );
        }
    }
    if !esm && v.is_set("aws.lambda.esm.record.format") {
        report.warn(
            "aws.lambda.esm.record.format",
            "has no effect unless aws.lambda.payload.format=esm",
        );
    }
    let batch_item_failures = if v.is_set("aws.lambda.batch.item.failures") {
        v.bool("aws.lambda.batch.item.failures")
    } else {
        esm
    };
    if batch_item_failures && invocation_type == Some(InvocationType::Async) {
        report.warn(
            "aws.lambda.batch.item.failures",
            "has no effect in async mode: the function's answer never reaches lambda-sink",
        );
    }
    Esm {
        payload_format,
        event_source_arn,
        batch_item_failures,
    }
}

/// What happens to failing and filtered records, each `None` when invalid.
struct Failures {
    retries: Option<Option<u32>>,
    max_record_age: Option<Option<Duration>>,
    filter: Option<FilterCriteria>,
    idempotency_key: Option<IdempotencyKey>,
}

/// ESM's retries and record age, `aws.lambda.filter.criteria` and
/// `aws.lambda.idempotency.key`.
fn function_failures(
    v: &Values,
    invocation_type: Option<InvocationType>,
    report: &mut Report,
) -> Failures {
    if invocation_type == Some(InvocationType::Async) {
        for p in [
            "aws.lambda.function.error.max.retries",
            "aws.lambda.bisect.on.function.error",
        ] {
            if v.is_set(p) {
                report.warn(
                    p,
                    "has no effect in async mode: lambda-sink never sees the function's errors",
                );
            }
        }
    }
    let retries = v
        .int("aws.lambda.function.error.max.retries")
        .map(|n| u32::try_from(n).ok());
    let max_record_age = v
        .int("aws.lambda.max.record.age.ms")
        .map(|n| (n >= 0).then(|| millis(n)));
    if max_record_age == Some(Some(Duration::ZERO)) {
        report.error(
            "aws.lambda.max.record.age.ms",
            "0 would skip every record; use -1 for no limit, or the age in milliseconds",
        );
    }
    let filter = match v.text("aws.lambda.filter.criteria") {
        None => Some(FilterCriteria::default()),
        Some(text) => FilterCriteria::parse(&text)
            .map_err(|e| report.error("aws.lambda.filter.criteria", e))
            .ok(),
    };
    let idempotency_key =
        v.text("aws.lambda.idempotency.key")
            .map_or(Some(IdempotencyKey::None), |text| {
                IdempotencyKey::parse(&text)
                    .map_err(|e| report.error("aws.lambda.idempotency.key", e))
                    .ok()
            });
    Failures {
        retries,
        max_record_age,
        filter,
        idempotency_key,
    }
}

pub(super) fn topic_map(
    entries: &[String],
    sub: Option<&Subscription>,
    report: &mut Report,
) -> Option<BTreeMap<TopicName, FunctionRef>> {
    const P: &str = "aws.lambda.topic2function.map";
    if entries.is_empty() {
        report.error(
            P,
            "is required in multiple mode: comma-separated topic;function entries, e.g. orders;order-fn,users;user-fn:prod",
        );
        return None;
    }
    let mut map = BTreeMap::new();
    let mut ok = true;
    for entry in entries {
        let Some((topic, function)) = entry.split_once(';') else {
            report.error(
                P,
                format!(
                    "entry {} must be topic;function[:qualifier]",
                    shown(entry, false)
                ),
            );
            ok = false;
            continue;
        };
        let topic = TopicName::parse(topic.trim());
        let function = FunctionRef::parse(function);
        match (topic, function) {
            (Ok(t), Ok(f)) => {
                if map.insert(t.clone(), f).is_some() {
                    report.error(P, format!("topic \"{t}\" is mapped more than once"));
                    ok = false;
                }
            }
            (t, f) => {
                for e in [t.err(), f.err()].into_iter().flatten() {
                    report.error(P, format!("entry {}: {e}", shown(entry, false)));
                }
                ok = false;
            }
        }
    }
    match sub {
        Some(Subscription::Topics(topics)) => {
            for t in topics {
                if !map.contains_key(t) {
                    report.error(
                        P,
                        format!(
                            "has no entry for subscribed topic \"{t}\"; add \"{t};<function>\""
                        ),
                    );
                    ok = false;
                }
            }
            for t in map.keys().filter(|t| !topics.contains(t)) {
                report.warn(
                    P,
                    format!("maps \"{t}\", which is not in topics; the entry is unused"),
                );
            }
        }
        Some(sub @ Subscription::Pattern(_)) => {
            for t in map.keys().filter(|t| !sub.includes(t.as_str())) {
                report.warn(
                    P,
                    format!("maps \"{t}\", which does not match topics.regex; the entry is unused"),
                );
            }
        }
        None => {}
    }
    ok.then_some(map)
}
