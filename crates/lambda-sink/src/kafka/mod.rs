//! Kafka adapters: librdkafka clients built from the validated configuration.
//!
//! librdkafka types stop here; the rest of the crate sees our own types.
//!
//! * [`consumer`]: a task's consumer, poll thread, pause/resume, rebalances;
//! * [`polled`]: a producer served by its own thread, without spinning;
//! * [`producer`]: outcome records, sent until acknowledged;
//! * [`transaction`]: outcome records and offsets in one transaction per
//!   task (`reporter.exactly.once`);
//! * [`parked`]: reading the parked topic (`aws.lambda.on.key.failure`);
//! * [`ranges`]: reading offset ranges of a topic (DLQ redrive and view,
//!   replay jobs);
//! * [`diagnostics`]: librdkafka's log lines and errors, folded, and the
//!   refusals (credentials, TLS) that retrying does not heal;
//! * here: client configs, property checks, the cluster probe and topic
//!   creation.

pub mod consumer;
pub mod diagnostics;
pub mod parked;
pub mod polled;
pub mod producer;
pub mod ranges;
pub mod transaction;

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_sink_core::Problem;
use lambda_sink_core::config::{ClientProperties, ClientRole, Config, KafkaAuth, KafkaConfig};
use lambda_sink_core::disposition::{Disposed, Disposition, RetryReason};
use lambda_sink_core::retry::Backoff;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, warn};

use crate::error::{Error, Fault, OrFault};
use diagnostics::{ClientFailure, KafkaContext};

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

/// Why the cluster could not be looked at.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The brokers refused this client (credentials, TLS): retrying will not
    /// help; the named property must be fixed.
    #[error("{0}")]
    Refused(Problem),
    /// No broker answered in time: retrying may.
    #[error("{0}")]
    Unreachable(String),
}

impl Disposed for ProbeError {
    fn disposition(&self) -> Disposition {
        match self {
            Self::Refused(problem) => Disposition::Stop(problem.to_string()),
            Self::Unreachable(_) => Disposition::Retry(RetryReason::Kafka),
        }
    }
}

/// Fetches cluster metadata with the admin client's properties, within
/// `timeout`. A refusal (the broker rejected the credentials, or the TLS
/// handshake failed) ends the attempt early with advice naming the
/// properties to fix; secrets never appear in it.
///
/// # Errors
/// [`ProbeError::Refused`] or [`ProbeError::Unreachable`].
pub async fn fetch_cluster(
    kafka: &KafkaConfig,
    timeout: Duration,
) -> Result<ClusterView, ProbeError> {
    let props = kafka.client_properties(ClientRole::Admin);
    let config = client_config(&props);
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        // A producer, not an admin client: its poll serves librdkafka's log
        // and error events, which is where a refusal is reported.
        let probe: BaseProducer<KafkaContext> = config
            .create_with_context(KafkaContext::new(&props))
            .map_err(|e| ProbeError::Unreachable(format!("creating a Kafka client: {e}")))?;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let attempt = probe
                .client()
                .fetch_metadata(None, left.min(Duration::from_millis(500)));
            probe.poll(Duration::ZERO);
            match attempt {
                Ok(metadata) => {
                    return Ok(ClusterView {
                        brokers: metadata.brokers().len(),
                        topics: metadata
                            .topics()
                            .iter()
                            .filter(|t| t.error().is_none())
                            .map(|t| (t.name().to_string(), t.partitions().len()))
                            .collect(),
                    });
                }
                Err(e) => {
                    if let Some(failure) = probe.context().events().failure() {
                        return Err(ProbeError::Refused(refusal(&kafka, &failure)));
                    }
                    if left.is_zero() {
                        return Err(ProbeError::Unreachable(
                            probe.context().events().mask(&e.to_string()),
                        ));
                    }
                }
            }
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err(ProbeError::Unreachable(format!(
            "the Kafka probe ended abnormally: {e}"
        )))
    })
}

/// What to fix when the brokers refuse this client.
pub fn refusal(kafka: &KafkaConfig, failure: &ClientFailure) -> Problem {
    match failure {
        ClientFailure::Authentication(reason) => match kafka.auth {
            KafkaAuth::ApiKey { .. } => Problem::new(
                "kafka.api.secret",
                format!(
                    "Kafka refused the credentials ({reason}); check kafka.api.key and kafka.api.secret \
                     (an API key of this cluster and its secret)"
                ),
            ),
            KafkaAuth::None => Problem::new(
                "kafka.sasl.password",
                format!(
                    "Kafka refused the credentials ({reason}); check kafka.sasl.username, \
                     kafka.sasl.password and kafka.sasl.mechanism"
                ),
            ),
        },
        // An alert from the broker: it refused our certificate (or our lack of one).
        ClientFailure::Tls(reason)
            if reason.contains("alert bad certificate")
                || reason.contains("alert certificate required")
                || reason.contains("alert unknown ca") =>
        {
            Problem::new(
                "kafka.ssl.certificate.location",
                format!(
                    "the broker refused this client's TLS certificate ({reason}); set \
                     kafka.ssl.certificate.location and kafka.ssl.key.location to a certificate \
                     the brokers trust (mutual TLS)"
                ),
            )
        }
        ClientFailure::Tls(reason) => Problem::new(
            "kafka.ssl.ca.location",
            format!(
                "the TLS handshake with Kafka failed ({reason}); check kafka.ssl.ca.location (the CA \
                 that signed the brokers' certificates) and, for mutual TLS, \
                 kafka.ssl.certificate.location and kafka.ssl.key.location"
            ),
        ),
    }
}

/// Whether `topic` could be created: a `CreateTopics` dry run
/// (`validate_only`), which checks the authorization and the settings
/// without creating anything.
///
/// # Errors
/// Why the broker would refuse.
pub async fn can_create_topic(
    kafka: &KafkaConfig,
    topic: &lambda_sink_core::config::OutputTopic,
    brokers: usize,
) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&kafka.client_properties(ClientRole::Admin))
            .create()
            .or_fault(Fault::Setup, "creating the Kafka admin client")?;
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
        .await
        .map_err(|e| Error::new(fault_of(e.rdkafka_error_code()), e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(Error::new(fault_of(Some(code)), code)),
        }
    }
    Ok(())
}

/// Waits until the cluster answers and returns what it looks like: an
/// unreachable cluster is retried with backoff (a broker outage at start is
/// survived, not fatal); a refusal is not.
///
/// # Errors
/// When the brokers refuse this client (credentials, TLS), naming the
/// properties to fix.
pub async fn await_cluster(kafka: &KafkaConfig) -> Result<ClusterView, Error> {
    let backoff = Backoff::forever(Duration::from_millis(200), Duration::from_secs(10));
    let mut attempt = 0;
    loop {
        let error = match fetch_cluster(kafka, Duration::from_secs(10)).await {
            Ok(c) => return Ok(c),
            Err(e) => e,
        };
        if !matches!(error.disposition(), Disposition::Retry(_)) {
            return Err(Error::setup(error));
        }
        let delay = backoff.delay_forever(attempt, rand::random::<f64>());
        warn!(error = %error, retry_in_ms = delay.as_millis(), "cannot reach Kafka yet; retrying");
        tokio::time::sleep(delay).await;
        attempt = attempt.saturating_add(1);
    }
}

/// Creates the result, error, DLQ and parked topics that `cluster` does
/// not have yet, with their configured partitions and replication factor
/// (default min(3, brokers)), compacted where they must be. Existing topics
/// are used as they are, but one that must be compacted and is not is an
/// error: records would be deleted while still needed.
///
/// # Errors
/// When the cluster refuses to create a topic (e.g. not authorized), or an
/// existing topic that must be compacted is not.
pub async fn create_output_topics(config: &Config, cluster: &ClusterView) -> Result<(), Error> {
    let wanted = config.output_topics();
    let missing: Vec<NewTopic<'_>> = wanted
        .iter()
        .filter(|(_, t)| !cluster.topics.contains_key(t.name.as_str()))
        .map(|(_, t)| {
            let rf = t.replication_factor.map_or_else(
                || i32::try_from(cluster.brokers.clamp(1, 3)).unwrap_or(1),
                i32::from,
            );
            let topic = NewTopic::new(t.name.as_str(), t.partitions, TopicReplication::Fixed(rf));
            if t.compacted {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
        })
        .collect();
    let compacted: Vec<_> = wanted
        .iter()
        .filter(|(_, t)| t.compacted && cluster.topics.contains_key(t.name.as_str()))
        .collect();
    if missing.is_empty() && compacted.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        client_config(&config.kafka.client_properties(ClientRole::Admin))
            .create()
            .or_fault(Fault::Setup, "creating the Kafka admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for (what, t) in compacted {
        let policy = cleanup_policy(&admin, &options, t.name.as_str()).await?;
        if !is_compacted(&policy) {
            return Err(Error::setup(format!(
                "the {what} topic {} has cleanup.policy={policy}; it must be compact, or records would be deleted while still needed",
                t.name
            )));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let results = admin
        .create_topics(&missing, &options)
        .await
        .map_err(failed("creating output topics"))?;
    for result in results {
        match result {
            Ok(topic) => info!(topic = %topic, "created output topic"),
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                info!(topic = %topic, "output topic already exists");
            }
            Err((topic, code)) => {
                return Err(Error::new(
                    fault_of(Some(code)),
                    format!(
                        "cannot create output topic {topic}: {code}; create it yourself or allow this principal to create topics"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `cleanup.policy` of `topic` (empty if Kafka does not say).
///
/// # Errors
/// When its configuration cannot be read.
pub(crate) async fn cleanup_policy(
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
    topic: &str,
) -> Result<String, Error> {
    let configs = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], options)
        .await
        .map_err(failed(format!("reading the configuration of {topic}")))?;
    Ok(match configs.into_iter().next() {
        Some(Ok(resource)) => resource
            .get("cleanup.policy")
            .and_then(|e| e.value.clone())
            .unwrap_or_default(),
        _ => String::new(),
    })
}

/// Whether a `cleanup.policy` keeps every key's latest record forever.
pub(crate) fn is_compacted(policy: &str) -> bool {
    policy.contains("compact") && !policy.contains("delete")
}

/// Turns a failed Kafka call into an [`Error`] saying what was being done,
/// its fault decided by Kafka's answer: `.map_err(failed("reading t"))`.
pub(crate) fn failed(
    what: impl std::fmt::Display,
) -> impl FnOnce(rdkafka::error::KafkaError) -> Error {
    move |e| Error::new(fault_of(e.rdkafka_error_code()), format!("{what}: {e}"))
}

/// Whose move it is after Kafka answered `code`: a broker that is away or
/// busy may answer later; anything else (authorization, a bad setting, a
/// topic that cannot exist) needs a fix.
pub(crate) fn fault_of(code: Option<RDKafkaErrorCode>) -> Fault {
    use RDKafkaErrorCode as C;
    match code {
        Some(
            C::BrokerTransportFailure
            | C::AllBrokersDown
            | C::RequestTimedOut
            | C::OperationTimedOut
            | C::MessageTimedOut
            | C::NotCoordinator
            | C::CoordinatorNotAvailable
            | C::CoordinatorLoadInProgress
            | C::NotController
            | C::LeaderNotAvailable
            | C::NotLeaderForPartition
            | C::NetworkException
            | C::BrokerNotAvailable
            | C::ReplicaNotAvailable
            | C::NotEnoughReplicas
            | C::NotEnoughReplicasAfterAppend
            | C::ThrottlingQuotaExceeded,
        ) => Fault::Unavailable,
        _ => Fault::Setup,
    }
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
