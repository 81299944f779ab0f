//! Reading the parked topic (`aws.lambda.on.key.failure=park`): a
//! partition's entries, from the beginning of every partition of the
//! compacted topic to its end, for the partition's new owner to rebuild its
//! parked keys from. The entries are written by the outcome producer like
//! any outcome record; the rules are the core's [`park`] module.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientProperties, ClientRole, KafkaConfig};
use lambda_sink_core::park::{self, ParkedKeyInfo, ParkedRecord};
use lambda_sink_core::record::TopicPartition;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::{client_config, failed, fault_of};
use crate::error::{Error, Fault, OrFault};

/// How long reading the parked topic to its end may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The parked topic's entries of a partition, by input offset: `Some` a
/// parked record, `None` a release.
pub type Entries = Vec<(i64, Option<ParkedRecord>)>;

/// The parked topic's entries of every input partition.
pub type AllEntries = Vec<(TopicPartition, i64, Option<ParkedRecord>)>;

/// Reads a connector's parked topic.
#[derive(Clone)]
pub struct ParkedReader {
    props: ClientProperties,
    topic: String,
}

impl ParkedReader {
    /// The reader of `topic` on the cluster of `kafka`.
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Self {
        Self {
            props: kafka.client_properties(ClientRole::Admin),
            topic: topic.to_string(),
        }
    }

    /// The entries of input partition `tp`, in the order written. Blocks:
    /// call it off the runtime.
    ///
    /// # Errors
    /// When the topic cannot be read to its end in time, or holds an entry
    /// that is not a parked record (nothing of it may be guessed).
    pub fn read(&self, tp: &TopicPartition) -> Result<Entries, Error> {
        Ok(self
            .scan(|of| of == tp)?
            .into_iter()
            .map(|(_, offset, entry)| (offset, entry))
            .collect())
    }

    /// The keys parked now, as every worker lists them
    /// ([`park::summarize`]), read off the runtime.
    ///
    /// # Errors
    /// As [`Self::read`].
    pub async fn keys(self) -> Result<Vec<ParkedKeyInfo>, Error> {
        tokio::task::spawn_blocking(move || self.read_all().map(park::summarize))
            .await
            .or_fault(Fault::Internal, "reading the parked topic")?
    }

    /// Every entry, in the order written (see [`Self::read`]).
    ///
    /// # Errors
    /// As [`Self::read`].
    pub fn read_all(&self) -> Result<AllEntries, Error> {
        self.scan(|_| true)
    }

    /// The entries of the input partitions `wanted` keeps.
    fn scan(&self, wanted: impl Fn(&TopicPartition) -> bool) -> Result<AllEntries, Error> {
        let topic = self.topic.as_str();
        let mut props = client_config(&self.props);
        props
            .set("group.id", format!("lambda-sink-parked-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true");
        let consumer: BaseConsumer = props
            .create()
            .map_err(failed(format!("creating the reader of {topic}")))?;
        let mut open = assign_all(&consumer, topic)?;
        let mut entries = Vec::new();
        let deadline = Instant::now() + TIMEOUT;
        while !open.is_empty() {
            if Instant::now() >= deadline {
                return Err(Error::unavailable(format!(
                    "reading the parked topic {topic} to its end took over {} s",
                    TIMEOUT.as_secs()
                )));
            }
            let m = match consumer.poll(Duration::from_millis(200)) {
                None => continue,
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                    continue;
                }
                Some(m) => m.map_err(failed(format!("reading {topic}")))?,
            };
            let Some(key) = m.key() else { continue };
            let (of, offset) = park::parse_entry_key(key).map_err(|e| {
                Error::new(
                    Fault::Setup,
                    format!(
                        "the parked topic {topic} holds a record (partition {}, offset {}) lambda-sink did not write: {}",
                        m.partition(),
                        m.offset(),
                        e.reason()
                    ),
                )
            })?;
            if !wanted(&of) {
                continue;
            }
            let entry = match m.payload() {
                None => None,
                Some(value) => Some(park::decode(value).map_err(|e| {
                    Error::new(
                        Fault::Setup,
                        format!(
                            "the parked topic {topic} holds an entry for {of} offset {offset} that cannot be read: {}",
                            e.reason()
                        ),
                    )
                })?),
            };
            entries.push((of, offset, entry));
        }
        Ok(entries)
    }
}

/// Assigns `consumer` every partition of `topic` that holds records, from
/// its beginning; those partitions.
fn assign_all(consumer: &BaseConsumer, topic: &str) -> Result<BTreeSet<i32>, Error> {
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(failed(format!("reading the partitions of {topic}")))?;
    let mut assignment = TopicPartitionList::new();
    let mut open = BTreeSet::new();
    for p in metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
    {
        let (low, high) = watermarks(consumer, topic, p)?;
        if high > low {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .map_err(failed(format!("assigning {topic}")))?;
            open.insert(p);
        }
    }
    if !open.is_empty() {
        consumer
            .assign(&assignment)
            .map_err(failed(format!("reading {topic}")))?;
    }
    Ok(open)
}

/// How soon a partition without a leader yet is asked again.
const LEADERLESS: Duration = Duration::from_millis(200);

/// `topic`-`p`'s low and high watermarks, asked again while Kafka says it
/// cannot answer yet (a topic just created has no leader for a moment).
fn watermarks(consumer: &BaseConsumer, topic: &str, p: i32) -> Result<(i64, i64), Error> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match consumer.fetch_watermarks(topic, p, TIMEOUT) {
            Ok(marks) => return Ok(marks),
            Err(e)
                if fault_of(e.rdkafka_error_code()) == Fault::Unavailable
                    && Instant::now() + LEADERLESS < deadline =>
            {
                std::thread::sleep(LEADERLESS);
            }
            Err(e) => return Err(failed(format!("reading the end of {topic}"))(e)),
        }
    }
}
