//! A librdkafka producer served by a thread of its own
//! ([`PolledProducer`]): each record sent returns a [`Delivery`] that
//! resolves once Kafka acknowledged it (with its offset) or gave up on it.
//!
//! rust-rdkafka's `FutureProducer` does the same with a thread polling in
//! 100 ms rounds, and each of its rounds ends in up to a millisecond of
//! busy polling: the time left is handed to librdkafka in whole
//! milliseconds, so a round's last fraction of a millisecond becomes
//! `poll(0)` calls in a loop. That cost about 0.9 % of a core per producer,
//! idle or not — most of what a slow function added to lambda-sink's CPU per
//! record (docs/decisions.md, "A producer that does not spin"). A round
//! here lasts whole milliseconds plus [`ROUND_SLACK`], so when librdkafka's
//! wait ends the round is over and nothing spins; and a round is a second,
//! so an idle producer wakes once a second. Delivery reports still arrive
//! at once: librdkafka's wait returns on every event. (After an event the
//! round's last fraction of a millisecond is still polled busily — at most
//! a millisecond a second, and only while records are being written.)

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::oneshot;
use lambda_sink_core::config::ClientProperties;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::client_config;
use super::diagnostics::{ClientEvents, KafkaContext};

/// A record to write: an outcome record (result, error, dead letter) or a
/// state-topic record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeRecord {
    /// Target topic.
    pub topic: Arc<str>,
    /// Key (null for results and errors; the original key for dead letters).
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Timestamp (dead letters keep the original's).
    pub timestamp: Option<i64>,
}

/// How long one poll round lasts: long, so an idle producer rarely wakes.
const ROUND: Duration = Duration::from_secs(1);

/// Added to every round so that librdkafka's wait (whole milliseconds,
/// started a little after the round) always outlasts it: far less than the
/// time a thread takes to wake, far more than the time between reading the
/// clock and handing librdkafka the time left.
const ROUND_SLACK: Duration = Duration::from_micros(10);

/// Where a record's delivery report goes.
type Report = oneshot::Sender<Result<i64, KafkaError>>;

/// The producer's librdkafka context: events as every client's, delivery
/// reports to the record's [`Delivery`].
pub struct Delivering(KafkaContext);

impl ClientContext for Delivering {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.0.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason);
    }
}

impl ProducerContext for Delivering {
    type DeliveryOpaque = Box<Report>;

    fn delivery(&self, result: &DeliveryResult<'_>, report: Box<Report>) {
        let outcome = match result {
            Ok(message) => Ok(message.offset()),
            Err((e, _)) => Err(e.clone()),
        };
        // The sender may have stopped waiting: nothing to tell.
        let _ = report.send(outcome);
    }
}

/// A record's delivery: its offset once Kafka acknowledged it.
pub struct Delivery(oneshot::Receiver<Result<i64, KafkaError>>);

impl Future for Delivery {
    type Output = Result<i64, KafkaError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|report| report.unwrap_or(Err(KafkaError::Canceled)))
    }
}

/// A producer and the thread serving its events (cheap to clone; the
/// thread ends within a round of the last clone's drop).
#[derive(Clone)]
pub struct PolledProducer {
    shared: Arc<Shared>,
}

struct Shared {
    producer: Arc<BaseProducer<Delivering>>,
    stop: Arc<AtomicBool>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Not joined: a round may last a second, and the thread holds what
        // it needs until it ends.
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl PolledProducer {
    /// Creates a producer configured with `props` and starts its thread.
    ///
    /// # Errors
    /// When librdkafka refuses the configuration or no thread can start.
    pub fn create(props: &ClientProperties) -> Result<Self, KafkaError> {
        let producer: Arc<BaseProducer<Delivering>> = Arc::new(
            client_config(props).create_with_context(Delivering(KafkaContext::new(props)))?,
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (producer.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kafka-producer".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    p.poll(ROUND + ROUND_SLACK);
                }
            })
            .map_err(|e| KafkaError::ClientCreation(format!("starting its thread: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared { producer, stop }),
        })
    }

    /// Enqueues `r`; the [`Delivery`] resolves once Kafka acknowledged it.
    /// Records enqueued in order are written in order.
    ///
    /// # Errors
    /// When librdkafka does not take it (its queue is full, the producer
    /// failed fatally, …).
    pub fn send(&self, r: &OutcomeRecord) -> Result<Delivery, KafkaError> {
        let (report, delivery) = oneshot::channel();
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for (key, value) in &r.headers {
            headers = headers.insert(Header {
                key,
                value: value.as_deref(),
            });
        }
        let mut record: BaseRecord<'_, [u8], [u8], Box<Report>> =
            BaseRecord::with_opaque_to(&r.topic, Box::new(report)).headers(headers);
        if let Some(k) = &r.key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = &r.value {
            record = record.payload(v.as_slice());
        }
        if let Some(ts) = r.timestamp {
            record = record.timestamp(ts);
        }
        self.shared
            .producer
            .send(record)
            .map_err(|(e, _)| e)
            .map(|()| Delivery(delivery))
    }

    /// The librdkafka producer (transactions, flush, fatal errors).
    pub fn producer(&self) -> &BaseProducer<Delivering> {
        &self.shared.producer
    }

    /// Its librdkafka events (where repeated warnings fold).
    pub fn events(&self) -> &Arc<ClientEvents> {
        self.shared.producer.context().0.events()
    }

    /// A handle that does not keep the producer alive.
    pub fn downgrade(&self) -> WeakProducer {
        WeakProducer(Arc::downgrade(&self.shared))
    }
}

/// A [`PolledProducer`] that may have ended (its last clone dropped).
pub struct WeakProducer(Weak<Shared>);

impl WeakProducer {
    /// The producer, while any clone of it lives.
    pub fn upgrade(&self) -> Option<PolledProducer> {
        self.0.upgrade().map(|shared| PolledProducer { shared })
    }
}
