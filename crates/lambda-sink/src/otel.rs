//! OpenTelemetry traces: whether the settings ask for them (off by
//! default), the tracer provider exporting over OTLP/gRPC, and the spans of
//! a batch's invocation — one per attempt, linked to each record's producer
//! context — with the context an invocation carries.
//!
//! The settings are OpenTelemetry's own: the `OTEL_*` environment, and on
//! `serve` the worker file's `otel.*` properties (the names OpenTelemetry's
//! Java autoconfigure gives them), which win. `OTEL_TRACES_EXPORTER=otlp`
//! or an OTLP endpoint (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`) switches
//! traces on; `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` and
//! `…_TIMEOUT` are read by the SDK; `OTEL_SDK_DISABLED=true` switches them
//! off. Nothing here runs per record when traces are off.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use lambda_sink_core::config::FunctionRef;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::trace::{self, Carrier};
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

use crate::error::{Error, Fault, OrFault};

/// Most producer contexts one invocation span links to (the SDK's default
/// link limit, `OTEL_SPAN_LINK_COUNT_LIMIT`): a batch of more traced records
/// links its first 128 distinct ones and counts the rest in
/// `lambda_sink.links.dropped`.
pub const MAX_LINKS: usize = 128;

/// Whether `env` asks for traces: `Ok(true)` for OTLP, `Ok(false)` when off.
///
/// # Errors
/// An exporter or protocol lambda-sink does not speak, saying what to set.
pub fn wanted(env: impl Fn(&str) -> Option<String>) -> Result<bool, String> {
    let set = |name: &str| env(name).map(|v| v.trim().to_ascii_lowercase());
    if set("OTEL_SDK_DISABLED").as_deref() == Some("true") {
        return Ok(false);
    }
    let on = match set("OTEL_TRACES_EXPORTER").as_deref() {
        Some("otlp") => true,
        Some("none" | "") => return Ok(false),
        Some(other) => {
            return Err(format!(
                "OTEL_TRACES_EXPORTER={other} is not supported: lambda-sink exports traces with otlp, or not at all (none)"
            ));
        }
        None => {
            set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
                || set("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        }
    };
    let protocol =
        set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"));
    match protocol.as_deref() {
        _ if !on => Ok(false),
        None | Some("grpc") => Ok(true),
        Some(other) => Err(format!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported: lambda-sink exports OTLP over grpc (port 4317 by default); unset it or set grpc"
        )),
    }
}

/// A sampler, as `OTEL_TRACES_SAMPLER` names it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SamplerSpec {
    /// `always_on`.
    AlwaysOn,
    /// `always_off`.
    AlwaysOff,
    /// `traceidratio` with its ratio.
    Ratio(f64),
    /// `parentbased_always_on`, the SDK's default.
    ParentBasedOn,
    /// `parentbased_always_off`.
    ParentBasedOff,
    /// `parentbased_traceidratio` with its ratio.
    ParentBasedRatio(f64),
}

impl SamplerSpec {
    /// `name` with `arg` (the ratio of the ratio samplers, 1 when absent).
    ///
    /// # Errors
    /// An unknown name, or an argument that is not a ratio from 0 to 1.
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Self, String> {
        let ratio = || match arg {
            None => Ok(1.0),
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("otel.traces.sampler.arg={text} is not a ratio from 0 to 1")
                }),
        };
        Ok(match name.trim() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::Ratio(ratio()?),
            "parentbased_always_on" => Self::ParentBasedOn,
            "parentbased_always_off" => Self::ParentBasedOff,
            "parentbased_traceidratio" => Self::ParentBasedRatio(ratio()?),
            other => {
                return Err(format!(
                    "otel.traces.sampler={other} is not one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
                ));
            }
        })
    }

    fn sampler(self) -> Sampler {
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::Ratio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBasedOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            Self::ParentBasedOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            Self::ParentBasedRatio(r) => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
            }
        }
    }
}

/// How traces are exported, when they are on: what a worker file sets
/// beside what the SDK reads from the environment itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The receiver (else the SDK's: the environment's, or
    /// `http://localhost:4317`).
    pub endpoint: Option<String>,
    /// The service the spans belong to.
    pub service_name: String,
    /// The sampler (else the SDK's: the environment's, or
    /// `parentbased_always_on`).
    pub sampler: Option<SamplerSpec>,
}

impl Settings {
    /// Whether `file` (a worker file's `otel.*` properties) over `env` asks
    /// for traces, and how; `None`: off.
    ///
    /// # Errors
    /// An exporter, protocol or sampler lambda-sink does not know, saying
    /// which and what to set.
    pub fn read(
        file: &BTreeMap<String, String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, String> {
        // OTEL_TRACES_SAMPLER_ARG ↔ otel.traces.sampler.arg
        let dotted = |name: &str| name.to_ascii_lowercase().replace('_', ".");
        let setting = |name: &str| file.get(&dotted(name)).cloned().or_else(|| env(name));
        if !wanted(setting)? {
            return Ok(None);
        }
        let sampler = file
            .get("otel.traces.sampler")
            .map(|name| {
                SamplerSpec::parse(
                    name,
                    file.get("otel.traces.sampler.arg").map(String::as_str),
                )
            })
            .transpose()?;
        Ok(Some(Self {
            endpoint: file.get("otel.exporter.otlp.endpoint").cloned(),
            service_name: setting("OTEL_SERVICE_NAME").unwrap_or_else(|| "lambda-sink".into()),
            sampler,
        }))
    }
}

/// The process's tracer provider while traces are on.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The tracer provider, while it runs; shut it down to flush the last spans.
pub struct Traces(SdkTracerProvider);

/// Starts traces as `file` (a worker file's `otel.*` properties) and the
/// environment say, when they ask for them. Call inside the async runtime.
///
/// # Errors
/// Settings lambda-sink does not know, or an exporter that cannot be built
/// (a malformed endpoint).
pub fn start(file: &BTreeMap<String, String>) -> Result<Option<Traces>, Error> {
    match Settings::read(file, |name| std::env::var(name).ok()).map_err(Error::setup)? {
        Some(settings) => Traces::start(&settings).map(Some),
        None => Ok(None),
    }
}

/// Exports what is left of `traces` and stops them (off the runtime: the
/// SDK's shutdown blocks).
pub async fn finish(traces: Option<Traces>) {
    if let Some(traces) = traces {
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
}

impl Traces {
    /// Starts exporting traces as `settings` say.
    ///
    /// # Errors
    /// An exporter that cannot be built (a malformed endpoint).
    pub fn start(settings: &Settings) -> Result<Self, Error> {
        let mut exporter = opentelemetry_otlp::SpanExporter::builder().with_tonic();
        if let Some(endpoint) = &settings.endpoint {
            exporter = exporter.with_endpoint(endpoint);
        }
        let exporter = exporter.build().or_fault_with(Fault::Setup, || {
            "the OTLP trace exporter (otel.exporter.otlp.endpoint, OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT)".to_string()
        })?;
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let mut provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource);
        if let Some(sampler) = settings.sampler {
            provider = provider.with_sampler(sampler.sampler());
        }
        let provider = provider.build();
        let _ = PROVIDER.set(provider.clone());
        tracing::info!(
            service = %settings.service_name,
            "OpenTelemetry traces on: a span per invocation attempt, exported over OTLP/gRPC"
        );
        Ok(Self(provider))
    }

    /// Exports what is left and stops. Blocks up to the exporter's timeout.
    pub fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!("the last spans were not exported: {e}");
        }
    }
}

/// The tracer, while traces are on.
pub fn tracer() -> Option<Tracer> {
    PROVIDER.get().map(|p| Tracer(p.tracer("lambda-sink")))
}

/// Starts spans; clone freely.
#[derive(Clone, Debug)]
pub struct Tracer(SdkTracer);

impl Tracer {
    /// A tracer over `provider`'s (for tests with an in-memory exporter).
    pub fn of(provider: &SdkTracerProvider) -> Self {
        Self(provider.tracer("lambda-sink"))
    }

    /// The trace of one batch invoked on `function` for `tp`'s `records`:
    /// what its spans say and link to.
    pub fn batch<'a>(
        &self,
        function: &FunctionRef,
        tp: &TopicPartition,
        records: impl Iterator<Item = &'a SourceRecord>,
        bytes: usize,
        retries: u32,
    ) -> BatchTrace {
        let mut links: Vec<Link> = Vec::new();
        // Distinct producer contexts: a set, as a batch may hold thousands
        // of records.
        let mut seen = HashSet::new();
        let mut dropped = 0_i64;
        let (mut count, mut first, mut last) = (0_i64, None, None);
        for record in records {
            count += 1;
            first = first.or(Some(record.offset));
            last = Some(record.offset);
            let Some(context) = producer_context(record) else {
                continue;
            };
            if !seen.insert((context.trace_id(), context.span_id())) {
                continue;
            }
            if links.len() < MAX_LINKS {
                links.push(Link::with_context(context));
            } else {
                dropped += 1;
            }
        }
        let mut attributes = vec![
            KeyValue::new("faas.invoked_name", function.function().to_string()),
            KeyValue::new("faas.invoked_provider", "aws"),
            KeyValue::new("rpc.system", "aws-api"),
            KeyValue::new("rpc.service", "Lambda"),
            KeyValue::new("rpc.method", "Invoke"),
            KeyValue::new("messaging.system", "kafka"),
            KeyValue::new("messaging.destination.name", tp.topic.to_string()),
            KeyValue::new(
                "messaging.destination.partition.id",
                tp.partition.to_string(),
            ),
            KeyValue::new("messaging.batch.message_count", count),
            KeyValue::new("lambda_sink.offset.first", first.unwrap_or(-1)),
            KeyValue::new("lambda_sink.offset.last", last.unwrap_or(-1)),
            KeyValue::new(
                "lambda_sink.request.bytes",
                i64::try_from(bytes).unwrap_or(i64::MAX),
            ),
            KeyValue::new("lambda_sink.function_error.retry", i64::from(retries)),
        ];
        if let Some(qualifier) = function.qualifier() {
            attributes.push(KeyValue::new(
                "lambda_sink.qualifier",
                qualifier.to_string(),
            ));
        }
        if dropped > 0 {
            attributes.push(KeyValue::new("lambda_sink.links.dropped", dropped));
        }
        BatchTrace {
            tracer: self.0.clone(),
            name: format!("invoke {function}").into(),
            links,
            attributes,
            last: None,
        }
    }
}

/// A record's producer context, from its `traceparent` and `tracestate`.
fn producer_context(record: &SourceRecord) -> Option<SpanContext> {
    // Valid, so `00-<32>-<16>-<2>` at fixed positions.
    let parent = trace::traceparent(record)?;
    let trace_id = TraceId::from_hex(parent.get(3..35)?).ok()?;
    let span_id = SpanId::from_hex(parent.get(36..52)?).ok()?;
    let flags = u8::from_str_radix(parent.get(53..55)?, 16).ok()?;
    let state = trace::tracestate(record)
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        state,
    ))
}

/// The spans of one batch's invocation.
pub struct BatchTrace {
    tracer: SdkTracer,
    name: Cow<'static, str>,
    links: Vec<Link>,
    attributes: Vec<KeyValue>,
    /// The last attempt's context: the parent of what follows the answer.
    last: Option<SpanContext>,
}

impl BatchTrace {
    /// The span of invocation attempt `attempt` (0 = the first), a client
    /// span in a trace of its own linked to the records' producers.
    pub fn attempt(&mut self, attempt: u32) -> AttemptSpan {
        let mut attributes = self.attributes.clone();
        attributes.push(KeyValue::new("lambda_sink.attempt", i64::from(attempt)));
        let span = self
            .tracer
            .span_builder(self.name.clone())
            .with_kind(SpanKind::Client)
            .with_links(self.links.clone())
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &Context::new());
        let context = span.span_context().clone();
        self.last = Some(context.clone());
        AttemptSpan {
            traceparent: format!(
                "00-{}-{}-{:02x}",
                context.trace_id(),
                context.span_id(),
                context.trace_flags().to_u8()
            ),
            tracestate: context.trace_state().header(),
            span,
        }
    }

    /// A span for `what` as a child of the last attempt (writing the
    /// outcomes of its answer); ends when dropped.
    pub fn after(&self, what: &'static str) -> opentelemetry_sdk::trace::Span {
        let parent = self
            .last
            .clone()
            .map_or_else(Context::new, |c| Context::new().with_remote_span_context(c));
        self.tracer
            .span_builder(what)
            .with_kind(SpanKind::Internal)
            .start_with_context(&self.tracer, &parent)
    }
}

/// One invocation attempt's span.
pub struct AttemptSpan {
    span: opentelemetry_sdk::trace::Span,
    traceparent: String,
    tracestate: String,
}

impl AttemptSpan {
    /// The span's W3C `traceparent`, for the elements' trace slots.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// What the request carries of the span's context.
    pub fn carrier(&self) -> Carrier {
        Carrier::of_span(&self.traceparent, Some(&self.tracestate))
    }

    /// Ends the span with what came of the attempt: `result` as the
    /// invocation metric's label, the function's error, and for a failure
    /// its message.
    pub fn end(
        mut self,
        result: &'static str,
        function_error: Option<&str>,
        failure: Option<&str>,
    ) {
        self.span
            .set_attribute(KeyValue::new("lambda_sink.result", result));
        if let Some(error) = function_error {
            self.span.set_attribute(KeyValue::new(
                "lambda_sink.function_error",
                error.to_string(),
            ));
            self.span
                .set_status(Status::error(format!("function error: {error}")));
        } else if let Some(message) = failure {
            self.span.set_status(Status::error(message.to_string()));
        }
        self.span.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_environment_asks_for() {
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: [(Vars<'_>, Result<bool, &str>); 10] = [
            (&[], Ok(false)),
            (&[("OTEL_TRACES_EXPORTER", "otlp")], Ok(true)),
            (&[("OTEL_TRACES_EXPORTER", "none")], Ok(false)),
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")],
                Ok(true),
            ),
            (
                &[(
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://127.0.0.1:4317",
                )],
                Ok(true),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                    ("OTEL_TRACES_EXPORTER", "none"),
                ],
                Ok(false),
            ),
            (
                &[
                    ("OTEL_TRACES_EXPORTER", "otlp"),
                    ("OTEL_SDK_DISABLED", "TRUE"),
                ],
                Ok(false),
            ),
            (
                &[("OTEL_TRACES_EXPORTER", "zipkin")],
                Err("OTEL_TRACES_EXPORTER=zipkin"),
            ),
            (
                &[
                    ("OTEL_TRACES_EXPORTER", "otlp"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ],
                Err("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"),
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
                    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ],
                Ok(true),
            ),
        ];
        for (vars, want) in cases {
            let got = wanted(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_string())
            });
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{vars:?}"),
                (Err(got), Err(want)) => assert!(got.starts_with(want), "{vars:?}: {got}"),
                (got, want) => panic!("{vars:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_worker_file_s_settings_win_over_the_environment() {
        let file = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        };
        let env = |name: &str| match name {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://env:4317".to_string()),
            "OTEL_SERVICE_NAME" => Some("from-env".to_string()),
            _ => None,
        };
        let none = |_: &str| None;
        let on = |endpoint: Option<&str>, service: &str, sampler| {
            Ok(Some(Settings {
                endpoint: endpoint.map(str::to_string),
                service_name: service.to_string(),
                sampler,
            }))
        };
        type Case = (
            BTreeMap<String, String>,
            bool,
            Result<Option<Settings>, String>,
        );
        let cases: [Case; 6] = [
            (file(&[]), false, Ok(None)),
            // The environment alone: the SDK reads its endpoint itself.
            (file(&[]), true, on(None, "from-env", None)),
            (
                file(&[("otel.exporter.otlp.endpoint", "http://file:4317")]),
                false,
                on(Some("http://file:4317"), "lambda-sink", None),
            ),
            (
                file(&[
                    ("otel.service.name", "orders"),
                    ("otel.traces.sampler", "traceidratio"),
                    ("otel.traces.sampler.arg", "0.25"),
                ]),
                true,
                on(None, "orders", Some(SamplerSpec::Ratio(0.25))),
            ),
            (file(&[("otel.traces.exporter", "none")]), true, Ok(None)),
            (
                file(&[
                    ("otel.traces.exporter", "otlp"),
                    ("otel.traces.sampler", "sometimes"),
                ]),
                false,
                Err("otel.traces.sampler=sometimes is not one of".into()),
            ),
        ];
        for (given, with_env, want) in cases {
            let got = if with_env {
                Settings::read(&given, env)
            } else {
                Settings::read(&given, none)
            };
            match (&got, &want) {
                (Err(got), Err(want)) => {
                    assert!(got.starts_with(want.as_str()), "{given:?}: {got}")
                }
                _ => assert_eq!(got, want, "{given:?} env {with_env}"),
            }
        }
        let ratio = |arg| SamplerSpec::parse("parentbased_traceidratio", arg);
        assert_eq!(ratio(None), Ok(SamplerSpec::ParentBasedRatio(1.0)));
        assert_eq!(ratio(Some(" 0.5 ")), Ok(SamplerSpec::ParentBasedRatio(0.5)));
        assert!(
            ratio(Some("2"))
                .unwrap_err()
                .contains("not a ratio from 0 to 1")
        );
    }
}
