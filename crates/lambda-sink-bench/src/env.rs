//! What every measurement shares ([`Env`]): the private broker, the
//! lambda-sink binary and the connector config around them; and the CPU
//! seconds of a process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use lambda_sink_core::config::{ClientRole, Config, parse, validate};
use lambda_sink_core::read_ahead::ReadAhead;
use lambda_sink_testkit::Services;
use lambda_sink_testkit::broker::PrivateBroker;
use lambda_sink_testkit::connector::{Connector, process_resources};
use rdkafka::ClientConfig;
use serde_json::{Value, json};

/// What every measurement shares.
pub struct Env {
    /// The private broker (Apache Kafka, like every test's).
    pub broker: PrivateBroker,
    /// Its address (and, unused, the test services' other addresses).
    pub services: Services,
    /// The lambda-sink binary.
    pub binary: PathBuf,
    /// Partitions of every topic.
    pub partitions: i32,
    /// Connector properties every lambda-sink run gets on top (`--set`).
    pub overrides: Vec<(String, String)>,
}

impl Env {
    /// The environment around `broker`.
    pub fn new(
        broker: PrivateBroker,
        binary: PathBuf,
        partitions: i32,
        overrides: Vec<(String, String)>,
    ) -> Self {
        Self {
            overrides,
            services: Services {
                bootstrap: broker.bootstrap(),
                ..Services::from_env()
            },
            broker,
            binary,
            partitions,
        }
    }

    /// A connector config reading `topic` into `function` at the fake
    /// endpoint `url`, with lambda-sink's defaults but for outcome topics off
    /// (nothing but the invoke path is measured).
    pub fn config(
        &self,
        name: &str,
        topic: &str,
        function: &str,
        url: &str,
        batch: usize,
        extra: &[(&str, &str)],
    ) -> Value {
        let batch = batch.to_string();
        let mut config = self.services.connector_config(
            name,
            topic,
            function,
            &[
                ("aws.lambda.endpoint", url),
                ("aws.lambda.batch.size", &batch),
                ("reporter.result.topic.name", ""),
                ("reporter.error.topic.name", ""),
            ],
        );
        for (k, v) in extra {
            config[*k] = json!(v);
        }
        for (k, v) in &self.overrides {
            config[k.as_str()] = json!(v);
        }
        config
    }

    /// `config` validated exactly as `lambda-sink run` validates it.
    pub fn validated(&self, config: &Value) -> anyhow::Result<Config> {
        let raw = parse(&config.to_string(), "the benchmark config")?;
        let v = validate(&raw, &|name| std::env::var(name).ok());
        v.config
            .with_context(|| format!("invalid benchmark config: {:?}", v.errors))
    }

    /// The librdkafka settings lambda-sink's consumer would use for `config`.
    pub fn consumer_config(&self, config: &Value) -> anyhow::Result<ClientConfig> {
        let config = self.validated(config)?;
        let mut client = ClientConfig::new();
        for (k, v) in &config.kafka.client_properties(ClientRole::Consumer(
            &config.connector_id,
            ReadAhead::for_partitions(
                usize::try_from(self.partitions).unwrap_or(1),
                config.max_buffered_per_partition,
                config.lambda.batch_size,
            ),
        )) {
            client.set(k, v.expose());
        }
        Ok(client)
    }

    /// How long reading `records` may take before the run is a failure.
    pub fn patience(&self, records: usize) -> Duration {
        Duration::from_secs(60 + u64::try_from(records / 2_000).unwrap_or(0))
    }

    /// The broker's CPU seconds so far.
    pub fn broker_cpu(&self) -> f64 {
        cpu_seconds(self.broker.pid())
    }

    pub(crate) fn start(&self, config: &Value) -> anyhow::Result<Connector> {
        self.start_binary(&self.binary, config)
    }

    pub(crate) fn start_binary(
        &self,
        binary: &std::path::Path,
        config: &Value,
    ) -> anyhow::Result<Connector> {
        self.start_binary_in(binary, config, &[])
    }

    /// [`Self::start_binary`] with `vars` added to its environment.
    pub(crate) fn start_binary_in(
        &self,
        binary: &std::path::Path,
        config: &Value,
        vars: &[(&str, &str)],
    ) -> anyhow::Result<Connector> {
        // Info, the default level: per-batch debug lines would be measured too.
        let mut all = vec![("RUST_LOG", "info")];
        all.extend_from_slice(vars);
        Connector::start(binary, config, &all)
    }
}

/// The CPU seconds of this process (the harness and its fake endpoint).
pub fn own_cpu() -> f64 {
    cpu_seconds(Some(std::process::id()))
}

/// The CPU seconds of process `pid` so far.
pub fn cpu_seconds(pid: Option<u32>) -> f64 {
    pid.and_then(process_resources)
        .map_or(f64::NAN, |(cpu, _)| cpu)
}
