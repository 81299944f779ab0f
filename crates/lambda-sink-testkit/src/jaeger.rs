//! A real OpenTelemetry receiver for tests: Jaeger v2 (the OpenTelemetry
//! Collector with Jaeger's storage and query, built from its Go module by
//! `scripts/install.sh`), receiving OTLP/gRPC into memory and read through
//! its query API. And a producer's span exported to it, as a traced
//! producer would. Stopped when dropped.

use anyhow::Context as _;
use opentelemetry::trace::{Span as _, SpanKind, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

use crate::daemon::Daemon;

/// A running Jaeger.
pub struct Jaeger {
    daemon: Daemon,
    otlp_port: u16,
    query: String,
    client: reqwest::Client,
}

impl Jaeger {
    /// Starts Jaeger with an OTLP/gRPC receiver and in-memory storage on
    /// free loopback ports; waits until its query API answers.
    ///
    /// # Errors
    /// When it cannot start or is not ready within a minute.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let [otlp_port, query_port, grpc_port] = crate::free_ports();
        let config = format!(
            "service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_storage:
    backends:
      memory:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memory
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{grpc_port}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_port}
exporters:
  jaeger_storage_exporter:
    trace_storage: memory
"
        );
        let config_path = dir.path().join("jaeger.yaml");
        std::fs::write(&config_path, config)?;
        let binary = std::env::var("LAMBDA_SINK_JAEGER")
            .context("LAMBDA_SINK_JAEGER is not set: run the tests through scripts/test.sh, or eval \"$(scripts/services.sh env)\"")?;
        let args = ["--config".to_string(), config_path.display().to_string()];
        let jaeger = Self {
            daemon: Daemon::spawn(
                "jaeger",
                &binary,
                &args,
                dir,
                "scripts/install.sh builds it",
            )?,
            otlp_port,
            query: format!("http://127.0.0.1:{query_port}"),
            client: reqwest::Client::new(),
        };
        jaeger
            .daemon
            .wait_ready(|| async {
                let answers = jaeger
                    .client
                    .get(format!("{}/api/services", jaeger.query))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                answers && std::net::TcpStream::connect(("127.0.0.1", jaeger.otlp_port)).is_ok()
            })
            .await?;
        Ok(jaeger)
    }

    /// The OTLP/gRPC endpoint, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn otlp_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.otlp_port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The spans Jaeger holds of trace `trace_id` (32 hex digits), in its
    /// query API's JSON (`spanID`, `operationName`, `references`, `tags`,
    /// and `service` added from the trace's processes); empty when it holds
    /// none.
    ///
    /// # Errors
    /// When Jaeger does not answer.
    pub async fn spans(&self, trace_id: &str) -> anyhow::Result<Vec<Value>> {
        let response = self
            .client
            .get(format!("{}/api/traces/{trace_id}", self.query))
            .send()
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        let body: Value = response.error_for_status()?.json().await?;
        Ok(body["data"].get(0).map(spans_of).unwrap_or_default())
    }

    /// The spans of the (up to 100) latest traces of service `service`, as
    /// [`Self::spans`] gives them.
    ///
    /// # Errors
    /// When Jaeger does not answer.
    pub async fn spans_of_service(&self, service: &str) -> anyhow::Result<Vec<Value>> {
        let body: Value = self
            .client
            .get(format!("{}/api/traces", self.query))
            .query(&[("service", service), ("limit", "100")])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(spans_of)
            .collect())
    }

    /// The services Jaeger has spans of.
    ///
    /// # Errors
    /// When Jaeger does not answer.
    pub async fn services(&self) -> anyhow::Result<Vec<String>> {
        let body: Value = self
            .client
            .get(format!("{}/api/services", self.query))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(serde_json::from_value(body["data"].clone()).unwrap_or_default())
    }

    /// Exports a producer span of service `service` to this Jaeger, as a
    /// traced producer does before it sends a record; its W3C
    /// `traceparent`, for the record's header.
    ///
    /// # Errors
    /// When the span cannot be exported.
    pub async fn producer_span(&self, service: &str) -> anyhow::Result<String> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(self.otlp_endpoint())
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(service.to_string())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("lambda-sink-testkit");
        let mut span = tracer
            .span_builder("send orders")
            .with_kind(SpanKind::Producer)
            .start(&tracer);
        let context = span.span_context().clone();
        let traceparent = format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        );
        // The simple processor exports as the span ends, blocking.
        tokio::task::spawn_blocking(move || {
            span.end();
            provider.shutdown()
        })
        .await??;
        Ok(traceparent)
    }
}

/// A trace's spans, each with its process's `service` added.
fn spans_of(trace: &Value) -> Vec<Value> {
    let spans = trace["spans"].as_array().cloned().unwrap_or_default();
    spans
        .into_iter()
        .map(|mut span| {
            let process = span["processID"].as_str().unwrap_or_default().to_string();
            span["service"] = trace["processes"][&process]["serviceName"].clone();
            span
        })
        .collect()
}
