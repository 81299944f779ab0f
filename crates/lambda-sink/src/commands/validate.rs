//! `lambda-sink validate`: every problem of a configuration, at once.
//!
//! Offline: the file's shape, every property rule, librdkafka's verdict on
//! pass-through properties, and a resolvable AWS region. Live (the default):
//! also the Kafka cluster is reachable, input topics exist, and every
//! configured function answers `GetFunction`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use lambda_sink_core::Problem;
use lambda_sink_core::config::{Config, Subscription};

use crate::config_file::plural;
use crate::lambda::{self, FunctionCheck, RegionSources};
use crate::{config_file, exit, kafka};

/// How long live checks wait for Kafka.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// Findings of the checks, printed as they are found.
struct Findings<W: Write> {
    out: W,
    errors: usize,
    warnings: usize,
}

impl<W: Write> Findings<W> {
    fn ok(&mut self, what: &str) -> std::io::Result<()> {
        writeln!(self.out, "ok: {what}")
    }
    fn error(&mut self, problem: &Problem) -> std::io::Result<()> {
        self.errors += 1;
        writeln!(self.out, "error: {problem}")
    }
    fn warning(&mut self, problem: &Problem) -> std::io::Result<()> {
        self.warnings += 1;
        writeln!(self.out, "warning: {problem}")
    }
}

/// Validates the file at `path`; exit code 0 when valid, 2 when not.
///
/// # Errors
/// When stdout cannot be written.
pub(super) async fn validate(path: &Path, offline: bool) -> anyhow::Result<u8> {
    let mut f = Findings {
        out: std::io::stdout().lock(),
        errors: 0,
        warnings: 0,
    };
    let validation = match config_file::load(path) {
        Ok(v) => v,
        Err(e) => {
            writeln!(f.out, "error: {e}")?;
            return Ok(exit::CONFIG);
        }
    };
    for e in &validation.errors {
        f.error(e)?;
    }
    for w in &validation.warnings {
        f.warning(w)?;
    }
    if let Some(config) = &validation.config {
        for p in kafka::check_pass_through(&config.kafka) {
            f.error(&p)?;
        }
        let sources = if offline {
            RegionSources::Local
        } else {
            RegionSources::All
        };
        let region = lambda::resolve_region(&config.aws, sources).await;
        if region.is_none() {
            f.error(&Problem::new("aws.lambda.region", lambda::NO_REGION))?;
        }
        if !offline && f.errors == 0 {
            live_checks(config, &mut f).await?;
        }
    }
    let verdict = if f.errors == 0 {
        "the configuration is valid"
    } else {
        "the configuration is not valid"
    };
    writeln!(
        f.out,
        "{}: {verdict}",
        config_file::counts(f.errors, f.warnings)
    )?;
    Ok(if f.errors == 0 {
        exit::OK
    } else {
        exit::CONFIG
    })
}

/// The checks that need the network: Kafka, the Schema Registry, Lambda.
async fn live_checks(config: &Config, f: &mut Findings<impl Write>) -> std::io::Result<()> {
    kafka_checks(config, f).await?;
    registry(config, f).await?;
    functions(config, f).await
}

/// The cluster, the input topics and the outcome topics.
async fn kafka_checks(config: &Config, f: &mut Findings<impl Write>) -> std::io::Result<()> {
    let servers = config.kafka.bootstrap_servers.join(",");
    match kafka::fetch_cluster(&config.kafka, KAFKA_TIMEOUT).await {
        Err(kafka::ProbeError::Refused(problem)) => f.error(&problem)?,
        Err(kafka::ProbeError::Unreachable(e)) => f.error(&Problem::new(
            "kafka.bootstrap.servers",
            format!("cannot reach Kafka at {servers}: {e}; check the address, the network and the authentication settings"),
        ))?,
        Ok(cluster) => {
            f.ok(&format!(
                "Kafka reachable at {servers} ({})",
                plural(cluster.brokers, "broker")
            ))?;
            subscription(config, &cluster, &servers, f)?;
            outputs(config, &cluster, f).await?;
        }
    }
    Ok(())
}

/// The input topics (or what `topics.regex` matches) on the cluster.
fn subscription(
    config: &Config,
    cluster: &kafka::ClusterView,
    servers: &str,
    f: &mut Findings<impl Write>,
) -> std::io::Result<()> {
    match &config.subscription {
        Subscription::Topics(topics) => {
            for t in topics {
                match cluster.topics.get(t.as_str()) {
                    Some(n) => f.ok(&format!(
                        "topic \"{t}\" exists ({})",
                        plural(*n, "partition")
                    ))?,
                    None => f.error(&Problem::new(
                        "topics",
                        format!("topic \"{t}\" does not exist on the cluster at {servers}; create it or fix the name"),
                    ))?,
                }
            }
        }
        Subscription::Pattern(p) => {
            let matching: Vec<&String> = cluster
                .topics
                .keys()
                .filter(|t| config.subscription.includes(t))
                .collect();
            if matching.is_empty() {
                f.warning(&Problem::new(
                    "topics.regex",
                    format!("\"{p}\" matches no topic yet; the connector will consume matching topics once they exist"),
                ))?;
            } else {
                f.ok(&format!(
                    "topics.regex matches {}",
                    plural(matching.len(), "topic")
                ))?;
            }
        }
    }
    Ok(())
}

/// Each outcome topic exists, or can be created (a dry run).
async fn outputs(
    config: &Config,
    cluster: &kafka::ClusterView,
    f: &mut Findings<impl Write>,
) -> std::io::Result<()> {
    for (what, topic) in config.output_topics() {
        match cluster.topics.get(topic.name.as_str()) {
            Some(n) => f.ok(&format!(
                "{what} topic \"{}\" exists ({})",
                topic.name,
                plural(*n, "partition")
            ))?,
            None => match kafka::can_create_topic(&config.kafka, topic, cluster.brokers).await {
                Ok(()) => f.ok(&format!(
                    "{what} topic \"{}\" can be created ({}; checked with a dry run)",
                    topic.name,
                    plural(usize::try_from(topic.partitions).unwrap_or(1), "partition")
                ))?,
                Err(e) => f.error(&Problem::new(
                    "kafka.bootstrap.servers",
                    format!("the {what} topic \"{}\" does not exist and cannot be created: {e:#}; create it, or allow this principal to create topics", topic.name),
                ))?,
            },
        }
    }
    Ok(())
}

/// The Schema Registry answers, when one is configured.
async fn registry(config: &Config, f: &mut Findings<impl Write>) -> std::io::Result<()> {
    if let Some(r) = &config.schema_registry {
        let urls = r.urls.join(", ");
        match crate::registry::Registry::new(r) {
            Err(e) => f.error(&Problem::new("schema.registry.url", format!("{e:#}")))?,
            Ok(registry) => match registry.check().await {
                Ok(()) => f.ok(&format!("Schema Registry reachable at {urls}"))?,
                Err(e) => f.error(&Problem::new("schema.registry.url", format!("{e}")))?,
            },
        }
    }
    Ok(())
}

/// Each function exists, with a timeout the socket timeout outlasts.
async fn functions(config: &Config, f: &mut Findings<impl Write>) -> std::io::Result<()> {
    let sdk = match lambda::sdk_config(&config.aws, config.lambda.socket_timeout).await {
        Ok(sdk) => sdk,
        Err(e) => return f.error(&Problem::new("aws.lambda.region", format!("{e:#}"))),
    };
    let client = lambda::client(&sdk);
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let property = match config.lambda.routing {
        lambda_sink_core::config::Routing::Single(_) => "aws.lambda.function.name",
        lambda_sink_core::config::Routing::ByTopic(_) => "aws.lambda.topic2function.map",
    };
    for function in config.lambda.routing.functions() {
        match lambda::check_function(&client, function).await {
            FunctionCheck::Found { timeout } => {
                f.ok(&format!("function \"{function}\" found in {region}"))?;
                if let Some(t) = timeout.filter(|t| *t >= config.lambda.socket_timeout) {
                    f.warning(&Problem::new(
                        "aws.lambda.socket.timeout",
                        format!(
                            "{} ms is not longer than function \"{function}\"'s timeout ({} s): slow invocations would be cut off and retried while still running; raise it above {} ms",
                            config.lambda.socket_timeout.as_millis(),
                            t.as_secs(),
                            t.as_millis()
                        ),
                    ))?;
                }
            }
            FunctionCheck::NotFound(m) => f.error(&Problem::new(
                property,
                format!("function \"{function}\" was not found in {region} ({m}); check the name, qualifier and region"),
            ))?,
            FunctionCheck::AccessDenied(m) => f.warning(&Problem::new(
                property,
                format!("cannot check function \"{function}\": GetFunction was denied ({m}); invoke-only permissions are fine, but the function's existence is unverified"),
            ))?,
            FunctionCheck::Failed(m) => f.error(&Problem::new(
                property,
                format!("cannot check function \"{function}\" in {region}: {m}"),
            ))?,
        }
    }
    Ok(())
}
