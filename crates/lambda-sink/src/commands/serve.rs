//! `lambda-sink serve`: read the worker configuration, then run the worker
//! until `shutdown` is cancelled (SIGINT/SIGTERM).

use std::path::Path;

use lambda_sink_core::config::{self, RawConfig, RawEntry};
use tokio_util::sync::CancellationToken;

use lambda_sink_core::config::worker::validate_worker;

use crate::{config_file, exit, otel, serve};

/// Flags that override the worker file.
pub(super) struct Overrides {
    pub(super) bootstrap_servers: Option<String>,
    pub(super) listeners: Option<String>,
    pub(super) group_id: Option<String>,
    /// Only check the configuration.
    pub(super) check: bool,
}

/// Runs the worker. Exit code 0 after a requested stop with every
/// connector drained, 2 for a bad worker configuration.
///
/// # Errors
/// Start-up failures (Kafka, the topics, the listener).
pub(super) async fn serve(
    path: Option<&Path>,
    overrides: Overrides,
    shutdown: CancellationToken,
) -> anyhow::Result<u8> {
    let mut raw = match path {
        None => RawConfig::default(),
        Some(p) => match config::load(p) {
            Ok(raw) => raw,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::CONFIG);
            }
        },
    };
    for (key, value) in [
        ("kafka.bootstrap.servers", overrides.bootstrap_servers),
        ("listeners", overrides.listeners),
        ("group.id", overrides.group_id),
    ] {
        if let Some(value) = value {
            raw.entries.push(RawEntry {
                key: key.into(),
                value: Some(value),
            });
        }
    }
    let config = match validate_worker(&raw, &|name| std::env::var(name).ok()) {
        Ok(c) => c,
        Err(problems) => {
            config_file::print_problems(&mut std::io::stderr(), &problems, &[])?;
            eprintln!(
                "{}: the worker configuration is not valid",
                config_file::plural(problems.len(), "error")
            );
            return Ok(exit::CONFIG);
        }
    };
    // OpenTelemetry: the worker file's otel.* over the environment.
    if let Err(e) = otel::Settings::read(&config.otel, |name| std::env::var(name).ok()) {
        eprintln!("error: {e}");
        return Ok(exit::CONFIG);
    }
    if overrides.check {
        println!(
            "the worker configuration is valid: cluster {}, listener {}, {} connector default(s)",
            config.group_id,
            config.listener,
            config.defaults.len()
        );
        return Ok(exit::OK);
    }
    let traces = match otel::start(&config.otel) {
        Ok(traces) => traces,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::CONFIG);
        }
    };
    let served = serve::run(config, shutdown).await;
    // The last spans go out before the process does.
    otel::finish(traces).await;
    served?;
    Ok(exit::OK)
}
