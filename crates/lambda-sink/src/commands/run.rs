//! `lambda-sink run`: validate the configuration, then run the connector
//! until `shutdown` is cancelled (SIGINT/SIGTERM) or it fails.

use std::path::Path;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::kafka::producer::Producers;
use crate::lambda::{self, RegionSources};
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use crate::{config_file, exit, http, kafka, otel, pipeline};

/// Runs the connector described by the file at `path`.
///
/// Exit code 0: stopped on request with everything in flight resolved and
/// committed. 1: it failed, or the shutdown timeout abandoned work. 2: the
/// configuration is not valid.
///
/// # Errors
/// Start-up failures (credentials, Kafka client creation, topic creation).
pub(super) async fn run(path: &Path, shutdown: CancellationToken) -> anyhow::Result<u8> {
    let validation = match config_file::load(path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::CONFIG);
        }
    };
    let mut stderr = std::io::stderr();
    config_file::print_problems(&mut stderr, &validation.errors, &validation.warnings)?;
    let Some(config) = validation.config else {
        eprintln!(
            "{}: the configuration is not valid",
            config_file::counts(validation.errors.len(), validation.warnings.len())
        );
        return Ok(exit::CONFIG);
    };
    let mut problems = kafka::check_pass_through(&config.kafka);
    if lambda::resolve_region(&config.aws, RegionSources::All)
        .await
        .is_none()
    {
        problems.push(lambda_sink_core::Problem::new(
            "aws.lambda.region",
            lambda::NO_REGION,
        ));
    }
    if !problems.is_empty() {
        config_file::print_problems(&mut stderr, &problems, &[])?;
        return Ok(exit::CONFIG);
    }
    // OpenTelemetry: the environment's settings (`serve` adds its file's).
    let traces = match otel::start(&std::collections::BTreeMap::new()) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::CONFIG);
        }
    };
    let metrics = Arc::new(Metrics::new());
    let status = ServiceStatus::new(&config.name, config.connector_id.as_str(), config.tasks_max)
        .failures_to(metrics.connector_failed.clone());
    let telemetry = pipeline::Telemetry::of(metrics, Arc::new(status));
    let http_stop = CancellationToken::new();
    if let Some(addr) = config.service.http_listener {
        let bound = match http::serve(
            addr,
            telemetry.status.clone(),
            telemetry.metrics.clone(),
            http::Shown::of(&config, &telemetry),
            http_stop.clone(),
        )
        .await
        {
            Ok(bound) => bound,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(exit::RUNTIME);
            }
        };
        telemetry.status.set_http_port(bound.port());
        info!(address = %bound, "HTTP endpoint: /health /status /metrics /events /parked");
    }
    // `run` is one process running every task; several copies share the
    // partitions through the connector's consumer group.
    let tasks: Vec<usize> = (0..config.tasks_max).collect();
    let outcome = pipeline::run(config, &tasks, shutdown, telemetry, &Producers::Own).await;
    // The endpoint answered (503) during the drain; it ends with the run.
    http_stop.cancel();
    // The last spans go out before the process does.
    otel::finish(traces).await;
    // The run logged how it ended (its last event).
    match outcome {
        Ok(()) => Ok(exit::OK),
        Err(pipeline::RunError::Start(e)) => Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(exit::RUNTIME)
        }
    }
}
