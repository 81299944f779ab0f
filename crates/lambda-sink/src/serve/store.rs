//! A compacted Kafka topic used as a replicated log of state: every worker
//! reads it from the beginning and applies each record in order, and a
//! write returns only once this worker has read it back (Connect's
//! "produce, then read to the end"), so a write to any worker is visible
//! on it at once and on every other worker as soon as it reads the topic.
//! Conflicting writes are ordered by the topic.

use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::config::{ClientRole, ClientValue, KafkaConfig};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::{Error, Fault, OrFault};
use crate::kafka::client_config;
use crate::kafka::polled::PolledProducer;
use crate::kafka::producer::OutcomeRecord;
use crate::kafka::{cleanup_policy, failed, fault_of, is_compacted};

/// How long a write waits for Kafka and for reading itself back.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a topic should look like when the worker creates it.
pub struct TopicSpec<'a> {
    /// Topic name.
    pub name: &'a str,
    /// Replication factor (-1: the broker's default).
    pub replication: i32,
    /// What it is for, in error messages.
    pub purpose: &'a str,
    /// `None`: compacted (state); `Some`: records deleted after this long
    /// (a log of events).
    pub retention: Option<Duration>,
}

impl TopicSpec<'_> {
    /// The cleanup policy it is created with and must have.
    fn policy(&self) -> &'static str {
        if self.retention.is_some() {
            "delete"
        } else {
            "compact"
        }
    }
}

/// Creates `spec` as a single-partition topic unless it exists: compacted
/// for state, deleting after its retention for events. An existing one
/// must have one partition (several would lose the order of writes) and,
/// for state, `cleanup.policy=compact` (a deleting topic would lose
/// connectors).
///
/// # Errors
/// When it cannot be created or is not shaped as required.
pub async fn ensure_topic(kafka: &KafkaConfig, spec: &TopicSpec<'_>) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&kafka.client_properties(ClientRole::Admin))
            .create()
            .map_err(failed("creating the Kafka admin client"))?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let retention = spec.retention.map(|r| r.as_millis().to_string());
    let mut topic = NewTopic::new(spec.name, 1, TopicReplication::Fixed(spec.replication))
        .set("cleanup.policy", spec.policy());
    if let Some(ms) = &retention {
        topic = topic.set("retention.ms", ms);
    }
    let created = admin
        .create_topics([&topic], &options)
        .await
        .map_err(failed(format!(
            "creating the {} {}",
            spec.purpose, spec.name
        )))?;
    match created.into_iter().next() {
        Some(Ok(_)) => info!(topic = spec.name, "created the {}", spec.purpose),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) | None => {}
        Some(Err((_, code))) => {
            return Err(Error::new(
                fault_of(Some(code)),
                format!(
                    "cannot create the {} {}: {code}; create it yourself (1 partition, cleanup.policy={}) or allow this principal to create topics",
                    spec.purpose,
                    spec.name,
                    spec.policy()
                ),
            ));
        }
    }
    // A topic just created can take a moment to show in the metadata.
    let mut partitions = 0;
    for attempt in 0..50_u32 {
        // librdkafka's metadata call blocks.
        let metadata = tokio::task::block_in_place(|| {
            admin
                .inner()
                .fetch_metadata(Some(spec.name), Duration::from_secs(10))
        })
        .map_err(failed(format!("reading the metadata of {}", spec.name)))?;
        partitions = metadata
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        if partitions > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20) * (attempt + 1).min(10)).await;
    }
    if partitions != 1 {
        return Err(Error::setup(format!(
            "the {} {} has {partitions} partitions; it must have exactly 1 (its records are a log whose order matters): point the worker at another topic",
            spec.purpose, spec.name
        )));
    }
    if spec.retention.is_some() {
        return Ok(());
    }
    check_compacted(&admin, &options, spec).await
}

/// A state topic must be compacted.
async fn check_compacted(
    admin: &AdminClient<DefaultClientContext>,
    options: &AdminOptions,
    spec: &TopicSpec<'_>,
) -> Result<(), Error> {
    let policy = cleanup_policy(admin, options, spec.name).await?;
    if !is_compacted(&policy) {
        return Err(Error::setup(format!(
            "the {} {} has cleanup.policy={policy}; it must be compact, or connectors would be lost when old records are deleted",
            spec.purpose, spec.name
        )));
    }
    Ok(())
}

/// One state topic, read by a background task and written through here.
pub struct TopicLog {
    topic: Arc<str>,
    producer: PolledProducer,
    /// The next offset this worker will read.
    position: watch::Receiver<i64>,
}

impl TopicLog {
    /// Starts reading `topic` (one partition) from the beginning, calling
    /// `apply` for each record in order, and returns once every record
    /// that existed at the start was applied.
    ///
    /// # Errors
    /// When the clients cannot be created or the topic cannot be read.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
        apply: impl FnMut(&str, Option<&[u8]>) + Send + 'static,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let (log, end) = Self::follow(kafka, topic, apply, stop).await?;
        log.read_to(end).await.map_err(|e| {
            e.within(format!(
                "reading {topic} to its end at start (offset {end})"
            ))
        })?;
        Ok(log)
    }

    /// [`Self::open`] without waiting to have read what existed at the
    /// start (a log nothing at start depends on); with the offset that
    /// would have been waited for.
    ///
    /// # Errors
    /// When the clients cannot be created or the topic cannot be read.
    pub async fn follow(
        kafka: &KafkaConfig,
        topic: &str,
        mut apply: impl FnMut(&str, Option<&[u8]>) + Send + 'static,
        stop: CancellationToken,
    ) -> Result<(Self, i64), Error> {
        let mut props = client_config(&kafka.client_properties(ClientRole::Admin));
        props
            .set("group.id", format!("lambda-sink-reader-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "50");
        let consumer: StreamConsumer = props
            .create()
            .map_err(failed(format!("creating the reader of {topic}")))?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, 0, Offset::Beginning)
            .map_err(failed("assigning the state topic"))?;
        consumer
            .assign(&assignment)
            .map_err(failed(format!("reading {topic}")))?;
        let mut producer_props = kafka.client_properties(ClientRole::Producer);
        producer_props.insert("linger.ms".into(), ClientValue::new("0", false));
        let producer = PolledProducer::create(&producer_props)
            .map_err(failed("creating the state producer"))?;
        let end = {
            let topic = topic.to_string();
            let reader = props.clone();
            tokio::task::spawn_blocking(move || -> Result<i64, Error> {
                let probe: rdkafka::consumer::BaseConsumer = reader
                    .create()
                    .map_err(failed("creating the reader of the state topic"))?;
                let (_, high) = probe
                    .fetch_watermarks(&topic, 0, Duration::from_secs(30))
                    .map_err(failed(format!("reading the end of {topic}")))?;
                Ok(high)
            })
            .await
            .or_fault(Fault::Internal, "reading the end of the state topic")??
        };
        let (positions, position) = watch::channel(0_i64);
        let name = topic.to_string();
        tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    () = stop.cancelled() => break,
                    m = consumer.recv() => m,
                };
                match message {
                    Ok(m) => {
                        let key = m.key().map(String::from_utf8_lossy).unwrap_or_default();
                        apply(&key, m.payload());
                        positions.send_replace(m.offset() + 1);
                    }
                    Err(e) => warn!(topic = %name, error = %e, "reading a state topic; retrying"),
                }
            }
        });
        let log = Self {
            topic: Arc::from(topic),
            producer,
            position,
        };
        Ok((log, end))
    }

    /// Waits until every record before `offset` was applied.
    async fn read_to(&self, offset: i64) -> Result<(), Error> {
        let mut position = self.position.clone();
        tokio::time::timeout(WRITE_TIMEOUT, position.wait_for(|p| *p >= offset))
            .await
            .or_fault(Fault::Unavailable, "timed out")?
            .or_fault(Fault::Internal, "the reader stopped")?;
        Ok(())
    }

    /// Writes one record (`None`: a tombstone) and returns once this worker
    /// has applied it.
    ///
    /// # Errors
    /// When Kafka does not take it or it is not read back within 30 s.
    pub async fn write(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        let offset = self.send_record(key, value).await?;
        self.read_to(offset + 1).await
    }

    /// Writes without waiting to read it back (status heartbeats).
    ///
    /// # Errors
    /// When Kafka does not take it.
    pub async fn send(&self, key: &str, value: Option<&[u8]>) -> Result<(), Error> {
        self.send_record(key, value).await.map(|_| ())
    }

    /// Writes one record; its offset once Kafka acknowledged it.
    async fn send_record(&self, key: &str, value: Option<&[u8]>) -> Result<i64, Error> {
        let record = OutcomeRecord {
            topic: self.topic.clone(),
            key: Some(key.as_bytes().to_vec()),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
            timestamp: None,
        };
        let writing = || failed(format!("writing to {}", self.topic));
        let delivery = self.producer.send(&record).map_err(writing())?;
        tokio::time::timeout(WRITE_TIMEOUT, delivery)
            .await
            .or_fault(
                Fault::Unavailable,
                format!("writing to {}: timed out", self.topic),
            )?
            .map_err(writing())
    }
}
