//! Kafka adapters: librdkafka clients built from the validated configuration.
//!
//! librdkafka types stop here; the rest of the crate sees our own types.

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_sink_core::config::{ClientProperties, ClientRole, KafkaConfig, Problem};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

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
