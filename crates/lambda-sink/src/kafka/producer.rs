//! Producing outcome records (results, errors, dead letters) until Kafka
//! acknowledges them.
//!
//! An outcome is never dropped: a failed delivery is sent again with backoff
//! until it is acknowledged, and only a failure that cannot heal (unknown
//! topic, record too large, authorization, a fatal producer error) ends the
//! attempt, which stops the connector without committing the record.
//!
//! Where a run's producer comes from is [`Producers`]: `run` gives its one
//! connector its own; a `serve` worker shares one among its connectors per
//! distinct producer configuration (a librdkafka producer is a main thread,
//! a thread per broker and our poll thread: a hundred connectors each with
//! its own were half of a worker's threads).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use super::polled::OutcomeRecord;
use super::polled::{PolledProducer, WeakProducer};
use crate::sync::lock;
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

/// Where runs get their outcome producers.
#[derive(Clone)]
pub enum Producers {
    /// Every run creates its own, and flushes it when it ends.
    Own,
    /// Runs with the same producer configuration share one, which lives
    /// while any of them runs (a run ending leaves what it enqueued to it).
    Shared(Arc<Mutex<Vec<(ClientProperties, WeakProducer)>>>),
}

impl Producers {
    /// A pool of producers shared by the runs that take from it.
    pub fn shared() -> Self {
        Self::Shared(Arc::default())
    }

    /// The producer for `props`: with [`Producers::Shared`], the one
    /// already serving this configuration unless it failed fatally (a run
    /// starting after that failure gets a new one).
    ///
    /// # Errors
    /// When librdkafka refuses the configuration.
    pub fn get(&self, props: &ClientProperties) -> Result<OutcomeProducer, KafkaError> {
        let Self::Shared(pool) = self else {
            return Ok(OutcomeProducer {
                inner: PolledProducer::create(props)?,
                shared: false,
            });
        };
        let mut pool = lock(pool);
        pool.retain(|(_, p)| p.upgrade().is_some_and(|p| !failed(&p)));
        let live = pool
            .iter()
            .find(|(config, _)| config == props)
            .and_then(|(_, p)| p.upgrade());
        let inner = match live {
            Some(p) => p,
            None => {
                let p = PolledProducer::create(props)?;
                pool.push((props.clone(), p.downgrade()));
                p
            }
        };
        Ok(OutcomeProducer {
            inner,
            shared: true,
        })
    }
}

fn failed(p: &PolledProducer) -> bool {
    p.producer().client().fatal_error().is_some()
}

/// The producer of outcome records (shared by every partition).
#[derive(Clone)]
pub struct OutcomeProducer {
    inner: PolledProducer,
    /// Whether other runs use it too.
    shared: bool,
}

impl OutcomeProducer {
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

    /// At a run's end: waits up to `timeout` for every enqueued record to
    /// be delivered, unless other runs share the producer (it goes on
    /// delivering for them, and waiting for their records would hold this
    /// stop up).
    pub fn finish(&self, timeout: Duration) {
        if self.shared {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sink_core::config::ClientValue;

    fn props(servers: &str) -> ClientProperties {
        [
            ("bootstrap.servers", servers),
            ("message.timeout.ms", "1000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ClientValue::new(v, false)))
        .collect()
    }

    fn same(a: &OutcomeProducer, b: &OutcomeProducer) -> bool {
        std::ptr::eq(a.inner.producer(), b.inner.producer())
    }

    #[test]
    fn a_shared_pool_gives_one_producer_per_configuration_while_it_is_used() {
        let pool = Producers::shared();
        let a = pool.get(&props("127.0.0.1:1")).expect("a producer");
        let again = pool.get(&props("127.0.0.1:1")).expect("a producer");
        let other = pool.get(&props("127.0.0.1:2")).expect("a producer");
        assert!(same(&a, &again));
        assert!(!same(&a, &other));
        assert!(a.shared && other.shared);
        drop((a, again));
        // Nobody uses the first any more: the pool let it go.
        let Producers::Shared(held) = &pool else {
            unreachable!("a shared pool")
        };
        let _ = pool.get(&props("127.0.0.1:2")).expect("a producer");
        assert_eq!(
            lock(held).len(),
            1,
            "only the producer still in use is held"
        );
    }

    #[test]
    fn own_producers_are_never_shared() {
        let a = Producers::Own
            .get(&props("127.0.0.1:1"))
            .expect("a producer");
        let b = Producers::Own
            .get(&props("127.0.0.1:1"))
            .expect("a producer");
        assert!(!same(&a, &b));
        assert!(!a.shared && !b.shared);
    }
}
