//! lambda-sink: a standalone, Confluent-compatible AWS Lambda Sink.
//!
//! This crate holds the adapters and the commands; the pure logic
//! (configuration rules, rendering, batching, offsets) is in
//! `lambda_sink_core`.
//!
//! * [`cli`] — the command line (clap);
//! * [`commands`] — one module per subcommand;
//! * [`config_file`] — loading a config file and reporting its problems;
//! * [`error`] — the adapters' error: what failed and whose move it is;
//! * [`events`] — a connector's event log;
//! * [`kafka`] — librdkafka clients built from the validated config;
//! * [`lambda`] — the AWS SDK client, region resolution, invocation;
//! * [`pipeline`] — the connector at run time;
//! * [`registry`] — the Schema Registry client and schema cache;
//! * [`http`], [`status`], [`metrics`] — `/health`, `/status`, `/metrics`;
//! * [`telemetry`] — logging; [`otel`] — OpenTelemetry traces;
//! * `sync` — a mutex lock that survives poisoning; `clock` — epoch milliseconds;
//! * [`serve`] — `lambda-sink serve`: many connectors, the Kafka Connect REST API,
//!   state kept in Kafka.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

pub mod cli;
mod clock;
pub mod commands;
pub mod config_file;
pub mod error;
pub mod events;
pub mod http;
pub mod kafka;
pub mod lambda;
pub mod metrics;
pub mod otel;
pub mod pipeline;
pub mod registry;
pub mod serve;
pub mod status;
mod sync;
pub mod telemetry;

/// Process exit codes (SPEC §1).
pub mod exit {
    /// Clean stop, or a valid configuration.
    pub const OK: u8 = 0;
    /// Runtime failure (e.g. `behavior.on.error=fail` tripped, the broker refused).
    pub const RUNTIME: u8 = 1;
    /// Bad configuration.
    pub const CONFIG: u8 = 2;
}
