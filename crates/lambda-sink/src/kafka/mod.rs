//! Kafka adapters: librdkafka clients built from the validated configuration.
//!
//! librdkafka types stop here; the rest of the crate sees our own types.
//!
//! * [`consumer`]: a task's consumer, poll thread, pause/resume, rebalances;
//! * [`producer`]: outcome records, sent until acknowledged;
//! * here: client configs, property checks, metadata and topic creation.

pub mod consumer;
pub mod producer;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use lambda_sink_core::config::{ClientProperties, ClientRole, Config, KafkaConfig, Problem};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, warn};

/// A librdkafka config holding exactly `props`.
pub fn client_config(props: &ClientProperties) -> ClientConfig {
    let mut c = ClientConfig::new();
    for (k, v) in props {
        c.set(k, v.expose());
    }
    c
}

/// Asks librdkafka itself whether each pass-through property exists and
/// accepts its value, so a typo in `kafka.*` is reported by `validate`
/// rather than at start-up. Secret values never appear in the messages.
pub fn check_pass_through(kafka: &KafkaConfig) -> Vec<Problem> {
    let groups = [
        ("kafka.", &kafka.common),
        ("consumer.override.", &kafka.consumer),
        ("producer.override.", &kafka.producer),
    ];
    let mut problems = Vec::new();
    for (prefix, props) in groups {
        for (key, value) in props {
            let mut one = ClientConfig::new();
            one.set(key, value.expose());
            if let Err(e) = one.create_native_config() {
                let message = if value.is_secret() {
                    "librdkafka rejects this property or its value (the value is masked)"
                        .to_string()
                } else {
                    format!("librdkafka rejects it: {e}")
                };
                problems.push(Problem::new(format!("{prefix}{key}"), message));
            }
        }
    }
    problems
}

/// What the cluster looks like, from one metadata request.
#[derive(Clone, Debug)]
pub struct ClusterView {
    /// Number of brokers.
    pub brokers: usize,
    /// Topic → number of partitions.
    pub topics: BTreeMap<String, usize>,
}

/// Fetches cluster metadata with the admin client's properties.
///
/// # Errors
/// When the cluster cannot be reached within `timeout`, or refuses the client.
pub async fn fetch_cluster(kafka: &KafkaConfig, timeout: Duration) -> anyhow::Result<ClusterView> {
    let config = client_config(&kafka.client_properties(ClientRole::Admin));
    tokio::task::spawn_blocking(move || {
        let admin: AdminClient<DefaultClientContext> = config.create()?;
        let metadata = admin.inner().fetch_metadata(None, timeout)?;
        Ok(ClusterView {
            brokers: metadata.brokers().len(),
            topics: metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_string(), t.partitions().len()))
                .collect(),
        })
    })
    .await?
}

/// Whether `topic` could be created: a `CreateTopics` dry run
/// (`validate_only`), which checks the authorization and the settings.
/// (Tansu 0.6 ignores the dry-run flag and creates the topic.)
///
/// # Errors
/// Why the broker would refuse.
pub async fn can_create_topic(
    kafka: &KafkaConfig,
    topic: &lambda_sink_core::config::OutputTopic,
    brokers: usize,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&kafka.client_properties(ClientRole::Admin)).create()?;
    let rf = topic.replication_factor.map_or_else(
        || i32::try_from(brokers.clamp(1, 3)).unwrap_or(1),
        i32::from,
    );
    let results = admin
        .create_topics(
            &[NewTopic::new(
                topic.name.as_str(),
                topic.partitions,
                TopicReplication::Fixed(rf),
            )],
            &AdminOptions::new()
                .validate_only(true)
                .operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => anyhow::bail!("{code}"),
        }
    }
    Ok(())
}

/// Creates the result, error and DLQ topics that do not exist yet, with
/// their configured partitions and replication factor (default min(3,
/// brokers)). Existing topics are used as they are. While the cluster cannot
/// be reached it keeps trying (a broker outage is survived, not fatal).
///
/// # Errors
/// When the cluster refuses to create a topic (e.g. not authorized).
pub async fn create_output_topics(config: &Config) -> anyhow::Result<()> {
    let wanted = config.output_topics();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut delay = Duration::from_millis(200);
    let cluster = loop {
        match fetch_cluster(&config.kafka, Duration::from_secs(10)).await {
            Ok(c) => break c,
            Err(e) => {
                warn!(error = %format!("{e:#}"), retry_in_ms = delay.as_millis(), "cannot reach Kafka yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let missing: Vec<NewTopic<'_>> = wanted
        .iter()
        .filter(|(_, t)| !cluster.topics.contains_key(t.name.as_str()))
        .map(|(_, t)| {
            let rf = t.replication_factor.map_or_else(
                || i32::try_from(cluster.brokers.clamp(1, 3)).unwrap_or(1),
                i32::from,
            );
            NewTopic::new(t.name.as_str(), t.partitions, TopicReplication::Fixed(rf))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(&config.kafka.client_properties(ClientRole::Admin))
            .create()
            .context("creating the Kafka admin client")?;
    let results = admin
        .create_topics(
            &missing,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .context("creating output topics")?;
    for result in results {
        match result {
            Ok(topic) => info!(topic = %topic, "created output topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                info!(topic = %topic, "output topic already exists");
            }
            Err((topic, code)) => anyhow::bail!(
                "cannot create output topic {topic}: {code}; create it yourself or allow this principal to create topics"
            ),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sink_core::config::{RawConfig, validate};

    #[test]
    fn librdkafka_judges_pass_through() {
        let raw = RawConfig::from_pairs([
            ("name", "s"),
            ("topics", "t"),
            ("kafka.bootstrap.servers", "a:1"),
            ("aws.lambda.function.name", "f"),
            ("kafka.securty.protocol", "SASL_SSL"),
            ("consumer.override.fetch.wait.max.ms", "soon"),
            ("kafka.ssl.key.password", "hunter2"),
            ("kafka.ssl.keystore.password", "hunter2"),
            ("producer.override.linger.ms", "5"),
        ]);
        let c = validate(&raw, &|_| None).config.unwrap();
        let problems: Vec<String> = check_pass_through(&c.kafka)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            problems.iter().any(|p| p
                .starts_with("kafka.securty.protocol: librdkafka rejects it: ")
                && p.contains("No such configuration property")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p
                    .starts_with("consumer.override.fetch.wait.max.ms: librdkafka rejects it: ")),
            "{problems:?}"
        );
        assert!(!problems.iter().any(|p| p.contains("linger.ms")));
        assert!(!problems.join("\n").contains("hunter2"));
    }
}
