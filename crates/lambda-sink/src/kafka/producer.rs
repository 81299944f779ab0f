//! Producing outcome records (results, errors, dead letters) until Kafka
//! acknowledges them.
//!
//! An outcome is never dropped: a failed delivery is sent again with backoff
//! until it is acknowledged, and only a failure that cannot heal (unknown
//! topic, record too large, authorization, a fatal producer error) ends the
//! attempt, which stops the connector without committing the record.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use super::polled::OutcomeRecord;
use super::polled::PolledProducer;
use lambda_sink_core::config::ClientProperties;
use lambda_sink_core::disposition::{Disposition, RetryReason};
use lambda_sink_core::retry::Backoff;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::Producer;

/// A delivery that will never succeed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to topic {topic}: {reason}")]
pub struct ProduceError {
    /// The topic.
    pub topic: Arc<str>,
    /// Why, and what to do.
    pub reason: String,
}

/// The producer of outcome records (shared by every partition).
#[derive(Clone)]
pub struct OutcomeProducer {
    inner: PolledProducer,
}

impl OutcomeProducer {
    /// Creates the producer.
    ///
    /// # Errors
    /// When librdkafka refuses the configuration.
    pub fn new(props: &ClientProperties) -> Result<Self, KafkaError> {
        Ok(Self {
            inner: PolledProducer::create(props)?,
        })
    }

    /// Sends `record`; the future resolves once Kafka has acknowledged it.
    /// The record is enqueued before this returns, so records sent in order
    /// are written in order.
    pub fn send(
        &self,
        record: OutcomeRecord,
    ) -> impl Future<Output = Result<(), ProduceError>> + Send + 'static {
        let producer = self.inner.clone();
        let first = producer.send(&record);
        async move {
            let mut delivery = first;
            let backoff = Backoff::forever(Duration::from_millis(100), Duration::from_secs(5));
            let mut attempt = 0;
            loop {
                let error = match delivery {
                    Ok(delivery) => match delivery.await {
                        Ok(_) => return Ok(()),
                        Err(e) => e,
                    },
                    Err(e) => e,
                };
                let permanent = match disposition(&producer, &error) {
                    Disposition::Retry(_) => None,
                    Disposition::Stop(reason) | Disposition::DeadLetter(reason) => Some(reason),
                    Disposition::Split => Some(error.to_string()),
                };
                if let Some(reason) = permanent {
                    return Err(ProduceError {
                        topic: record.topic.clone(),
                        reason,
                    });
                }
                // While Kafka is away every pending record says this: folded.
                producer.events().warn_folded(
                    "outcome producer",
                    &format!(
                        "an outcome record for {} was not acknowledged ({error}); sending it again with backoff",
                        record.topic
                    ),
                );
                tokio::time::sleep(backoff.delay_forever(attempt, rand::random::<f64>())).await;
                attempt = attempt.saturating_add(1);
                delivery = producer.send(&record);
            }
        }
    }

    /// Waits up to `timeout` for every enqueued record to be delivered.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.inner.producer().flush(timeout) {
            tracing::warn!(error = %e, "outcome producer flush incomplete");
        }
    }
}

/// Whether sending again may heal `error` (`Retry`), or why it will not (`Stop`).
fn disposition(producer: &PolledProducer, error: &KafkaError) -> Disposition {
    if let Some((code, reason)) = producer.producer().client().fatal_error() {
        return Disposition::Stop(format!("the producer failed fatally ({code:?}): {reason}"));
    }
    permanent_delivery_error(error)
        .map_or(Disposition::Retry(RetryReason::Kafka), Disposition::Stop)
}

/// Why sending `error`'s record again will never succeed, with what to do;
/// `None` when it may.
pub(super) fn permanent_delivery_error(error: &KafkaError) -> Option<String> {
    let advice = match error.rdkafka_error_code()? {
        RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize => {
            "the record is larger than the topic or broker allows; raise the topic's max.message.bytes \
             (and producer.override.message.max.bytes)"
        }
        RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic => {
            "the topic does not exist (it was deleted?); create it and restart"
        }
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            "not authorized to write to the topic; grant WRITE on it"
        }
        RDKafkaErrorCode::GroupAuthorizationFailed => {
            "not authorized to commit the group's offsets; grant READ on the group connect-<connector.id>"
        }
        RDKafkaErrorCode::Fatal => "the producer failed fatally",
        _ => return None,
    };
    Some(format!("{error}: {advice}"))
}
