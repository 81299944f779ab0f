//! The function's own span, when its environment names an OTLP endpoint
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`): a server span per invocation whose
//! parent is the first record's `traceparent` — with lambda-sink's traces
//! on, the invocation span's context — exported before the handler returns,
//! as a traced Lambda function does.

use std::sync::OnceLock;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

static PROVIDER: OnceLock<Option<SdkTracerProvider>> = OnceLock::new();

fn provider() -> Option<&'static SdkTracerProvider> {
    PROVIDER
        .get_or_init(|| {
            std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT")?;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .build()
                .ok()?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        Resource::builder()
                            .with_service_name("test-function")
                            .build(),
                    )
                    .build(),
            )
        })
        .as_ref()
}

/// The W3C `traceparent` as a remote parent context.
fn parent(traceparent: &str) -> Option<Context> {
    let mut parts = traceparent.split('-').skip(1);
    let trace_id = TraceId::from_hex(parts.next()?).ok()?;
    let span_id = SpanId::from_hex(parts.next()?).ok()?;
    let flags = u8::from_str_radix(parts.next()?, 16).ok()?;
    let context = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::default(),
    );
    Some(Context::new().with_remote_span_context(context))
}

/// Records the invocation's span (when traced) and exports it.
pub(crate) async fn span(records: &[Value], request_id: &str) {
    let Some(provider) = provider() else {
        return;
    };
    let Some(parent) = records
        .first()
        .and_then(|e| e.get("payload").unwrap_or(e).get("traceparent"))
        .and_then(Value::as_str)
        .and_then(parent)
    else {
        return;
    };
    let tracer = provider.tracer("test-function");
    let mut span = tracer
        .span_builder("handle batch")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("faas.invocation_id", request_id.to_string()),
            KeyValue::new("lambda_sink_test.records", records.len() as i64),
        ])
        .start_with_context(&tracer, &parent);
    span.end();
    // Exported before the invocation ends: the sandbox may freeze after.
    let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
}
