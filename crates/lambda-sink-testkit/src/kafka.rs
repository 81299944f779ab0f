//! Kafka helpers for tests: produce, read a topic from the start, offsets.
//! An independent rdkafka client, separate from lambda-sink's adapters.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::groups::GroupInfo;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::Services;

/// A record read back from a topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes.
    pub value: Option<Vec<u8>>,
    /// Headers (UTF-8 values; the last value of a repeated key).
    pub headers: BTreeMap<String, String>,
    /// Timestamp (ms).
    pub timestamp: Option<i64>,
}

impl Record {
    /// The value as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.value.as_deref().unwrap_or_default()).into_owned()
    }

    /// A header, or "" when absent.
    pub fn header(&self, key: &str) -> &str {
        self.headers.get(key).map_or("", String::as_str)
    }
}

/// Which records a reader sees (`isolation.level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// `read_committed`: records of committed transactions and
    /// non-transactional records.
    Committed,
    /// `read_uncommitted`: everything written, aborted records too.
    Uncommitted,
}

/// When a read stops.
enum Until {
    Count(usize),
    /// Every partition's position at or past these offsets.
    Positions(Vec<i64>),
}

/// A record to produce.
#[derive(Clone, Debug, Default)]
pub struct Produce {
    /// Partition (required: tests choose their distribution).
    pub partition: i32,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value (`None` = tombstone).
    pub value: Option<Vec<u8>>,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Timestamp (epoch ms); `None`: the producer's clock.
    pub timestamp: Option<i64>,
}

impl Produce {
    /// A record with a text key and value on `partition`.
    pub fn text(partition: i32, key: &str, value: &str) -> Self {
        Self {
            partition,
            key: Some(key.as_bytes().to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
            timestamp: None,
        }
    }
}

impl Services {
    /// Produces `records` to `topic` with acks=all, in order; returns
    /// (partition, offset) of each.
    ///
    /// # Errors
    /// When a record is not acknowledged.
    pub async fn produce(
        &self,
        topic: &str,
        records: &[Produce],
    ) -> anyhow::Result<Vec<(i32, i64)>> {
        let producer: FutureProducer = self
            .kafka_config()
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .create()
            .context("creating producer")?;
        let mut deliveries = Vec::with_capacity(records.len());
        for r in records {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v),
                });
            }
            let mut fr: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .partition(r.partition)
                .headers(headers);
            if let Some(k) = &r.key {
                fr = fr.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                fr = fr.payload(v.as_slice());
            }
            if let Some(t) = r.timestamp {
                fr = fr.timestamp(t);
            }
            let delivery = producer
                .send_result(fr)
                .map_err(|(e, _)| anyhow::anyhow!("enqueue: {e}"))?;
            deliveries.push(delivery);
        }
        let mut positions = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            match d.await {
                Ok(Ok(delivery)) => positions.push((delivery.partition, delivery.offset)),
                Ok(Err((e, _))) => bail!("delivery failed: {e}"),
                Err(_) => bail!("delivery canceled"),
            }
        }
        Ok(positions)
    }

    /// Reads `topic` from the beginning until `expected` records arrived or
    /// `timeout` passed, and returns what it read (a caller asserting the
    /// count sees a shortfall, never a hang). A topic that does not exist
    /// within the timeout reads as empty.
    ///
    /// # Errors
    /// When the consumer cannot be created.
    pub async fn read_topic(
        &self,
        topic: &str,
        expected: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Record>> {
        self.read(topic, Until::Count(expected), Isolation::Committed, timeout)
            .await
    }

    /// Reads all of `topic` as a reader with `isolation` sees it: until its
    /// position reaches the end offsets it had when the read began (a
    /// `read_committed` reader also waits for transactions open then to
    /// end; transaction markers and aborted records are never delivered to
    /// it, so a count of records would not do), or `timeout` passed.
    ///
    /// # Errors
    /// When the consumer cannot be created or the read times out.
    pub async fn read_to_end(
        &self,
        topic: &str,
        isolation: Isolation,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Record>> {
        let partitions = self.partition_count(topic).await?;
        let end = self
            .watermarks(topic, partitions, Isolation::Uncommitted)
            .await?;
        self.read(topic, Until::Positions(end), isolation, timeout)
            .await
    }

    async fn read(
        &self,
        topic: &str,
        until: Until,
        isolation: Isolation,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Record>> {
        let config = self.kafka_config();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config
                .clone()
                .set("group.id", crate::unique("test-reader"))
                .set("enable.auto.commit", "false")
                .set(
                    "isolation.level",
                    match isolation {
                        Isolation::Committed => "read_committed",
                        Isolation::Uncommitted => "read_uncommitted",
                    },
                )
                .create()
                .context("creating consumer")?;
            let deadline = Instant::now() + timeout;
            // The topic may not exist yet (lambda-sink creates outcome topics
            // at start): wait for it within the same timeout.
            let partitions = loop {
                let metadata = consumer
                    .fetch_metadata(None, Duration::from_secs(10))
                    .context("metadata")?;
                let found = metadata
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map_or(0, |t| t.partitions().len());
                if found > 0 || Instant::now() >= deadline {
                    break found;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let mut records = Vec::new();
            if partitions == 0 {
                return Ok(records);
            }
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition_offset(&topic, i32::try_from(p)?, Offset::Beginning)?;
            }
            consumer.assign(&tpl).context("assign")?;
            let done = |records: &Vec<Record>| match &until {
                Until::Count(n) => records.len() >= *n,
                Until::Positions(end) => consumer.position().is_ok_and(|at| {
                    end.iter().enumerate().all(|(p, e)| {
                        *e == 0
                            || i32::try_from(p).ok().and_then(|p| at.find_partition(&topic, p)).is_some_and(
                                |e2| matches!(e2.offset(), Offset::Offset(o) if o >= *e),
                            )
                    })
                }),
            };
            while !done(&records) {
                if Instant::now() >= deadline {
                    if let Until::Positions(end) = &until {
                        bail!(
                            "reading {topic} to its end offsets {end:?} did not finish in {timeout:?} (read {})",
                            records.len()
                        );
                    }
                    break;
                }
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => records.push(Record {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter()
                                    .map(|h| {
                                        (
                                            h.key.to_string(),
                                            String::from_utf8_lossy(h.value.unwrap_or_default())
                                                .into_owned(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                        timestamp: m.timestamp().to_millis(),
                    }),
                    // librdkafka reconnects by itself; the deadline bounds it.
                    Some(Err(e)) if transient(&e) => {}
                    Some(Err(e)) => bail!("reading {topic}: {e}"),
                    None => {}
                }
            }
            Ok(records)
        })
        .await?
    }

    /// Whether `topic` exists.
    ///
    /// # Errors
    /// When metadata cannot be fetched.
    pub async fn topic_exists(&self, topic: &str) -> anyhow::Result<bool> {
        let config = self.kafka_config();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create()?;
            let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
            Ok(metadata.topics().iter().any(|t| t.name() == topic))
        })
        .await?
    }

    /// Committed offsets of `group` on `topic`'s `partitions` (-1 = none).
    ///
    /// # Errors
    /// When the broker cannot answer.
    pub async fn committed(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
    ) -> anyhow::Result<Vec<i64>> {
        let config = self.kafka_config();
        let (group, topic) = (group.to_string(), topic.to_string());
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.clone().set("group.id", &group).create()?;
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition(&topic, p);
            }
            let committed = consumer.committed_offsets(tpl, Duration::from_secs(10))?;
            Ok((0..partitions)
                .map(
                    |p| match committed.find_partition(&topic, p).map(|e| e.offset()) {
                        Some(Offset::Offset(n)) => n,
                        _ => -1,
                    },
                )
                .collect())
        })
        .await?
    }

    /// How many partitions each member of `group` holds, once the group is
    /// `Stable` (a rebalance finished); `None` while it rebalances, is empty
    /// or unknown. A cooperative rebalance is two rounds, so a test that
    /// needs the final assignment also checks the counts.
    ///
    /// # Errors
    /// When the broker cannot answer or an assignment is not the consumer
    /// protocol's.
    pub async fn group_assignment(&self, group: &str) -> anyhow::Result<Option<Vec<usize>>> {
        self.with_group(group, |g| {
            let Some(g) = g.filter(|g| g.state() == "Stable" && !g.members().is_empty()) else {
                return Ok(None);
            };
            let mut counts = g
                .members()
                .iter()
                .map(|m| assigned_partitions(m.assignment().unwrap_or_default()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            counts.sort_unstable();
            Ok(Some(counts))
        })
        .await
    }

    /// How many members `group` has now (0 when it is empty or unknown).
    ///
    /// # Errors
    /// When the broker cannot answer.
    pub async fn group_members(&self, group: &str) -> anyhow::Result<usize> {
        self.with_group(group, |g| Ok(g.map_or(0, |g| g.members().len())))
            .await
    }

    /// `read` of what the broker says of `group` now (`None` when it does
    /// not know the group), on a blocking thread.
    async fn with_group<T: Send + 'static>(
        &self,
        group: &str,
        read: impl FnOnce(Option<&GroupInfo>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let config = self.kafka_config();
        let group = group.to_string();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create()?;
            let list = consumer.fetch_group_list(Some(&group), Duration::from_secs(10))?;
            read(list.groups().iter().find(|g| g.name() == group))
        })
        .await?
    }

    /// End offsets of `topic`'s `partitions`, as a `read_committed` reader
    /// sees them (the high watermarks unless a transaction is open).
    ///
    /// # Errors
    /// When the broker cannot answer.
    pub async fn end_offsets(&self, topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
        self.watermarks(topic, partitions, Isolation::Committed)
            .await
    }

    /// The end offsets a reader with `isolation` sees: the last stable
    /// offset (`read_committed`; before the first open transaction) or the
    /// high watermark.
    async fn watermarks(
        &self,
        topic: &str,
        partitions: i32,
        isolation: Isolation,
    ) -> anyhow::Result<Vec<i64>> {
        let mut config = self.kafka_config();
        if isolation == Isolation::Uncommitted {
            config.set("isolation.level", "read_uncommitted");
        }
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = config.create()?;
            (0..partitions)
                .map(|p| {
                    consumer
                        .fetch_watermarks(&topic, p, Duration::from_secs(10))
                        .map(|(_, high)| high)
                        .map_err(Into::into)
                })
                .collect()
        })
        .await?
    }

    /// Waits until `group`'s committed offsets equal the end offsets of
    /// `topic`, and returns them.
    ///
    /// # Panics
    /// After `timeout` (a test failure naming the offsets seen).
    pub async fn wait_committed_to_end(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
        timeout: Duration,
    ) -> Vec<i64> {
        match self
            .try_wait_committed_to_end(group, topic, partitions, timeout)
            .await
        {
            Ok(committed) => committed,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Self::wait_committed_to_end`], returning the failure instead of
    /// panicking (so the caller can add, say, the connector's log).
    ///
    /// # Errors
    /// After `timeout`, naming the offsets seen.
    pub async fn try_wait_committed_to_end(
        &self,
        group: &str,
        topic: &str,
        partitions: i32,
        timeout: Duration,
    ) -> anyhow::Result<Vec<i64>> {
        let deadline = Instant::now() + timeout;
        loop {
            // Either read may fail for a moment (a broker just restarted
            // answers "not leader" until it has loaded its partitions).
            let end = self.end_offsets(topic, partitions).await;
            let mut committed = self
                .committed(group, topic, partitions)
                .await
                .unwrap_or_default();
            if let Ok(end) = &end {
                // Nothing is ever committed for an empty partition: it is caught up.
                for (c, e) in committed.iter_mut().zip(end) {
                    if *c == -1 && *e == 0 {
                        *c = 0;
                    }
                }
                if committed == *end {
                    return Ok(committed);
                }
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "committed offsets {committed:?} never reached end offsets {end:?} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A consumer error librdkafka recovers from on its own (a connection to
/// the broker dropped and is being made again).
fn transient(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure)
    )
}

/// How many partitions a consumer protocol assignment lists (version,
/// then each topic's name and partitions; the user data after is ignored).
fn assigned_partitions(bytes: &[u8]) -> anyhow::Result<usize> {
    fn truncated() -> anyhow::Error {
        anyhow::anyhow!("a truncated consumer assignment")
    }
    fn skip(b: &[u8], n: usize) -> anyhow::Result<&[u8]> {
        b.get(n..).ok_or_else(truncated)
    }
    fn take<const N: usize>(b: &mut &[u8]) -> anyhow::Result<[u8; N]> {
        let (head, rest) = b.split_first_chunk::<N>().ok_or_else(truncated)?;
        *b = rest;
        Ok(*head)
    }
    if bytes.is_empty() {
        return Ok(0);
    }
    let mut b = skip(bytes, 2)?;
    let topics = i32::from_be_bytes(take::<4>(&mut b)?);
    let mut total = 0;
    for _ in 0..topics.max(0) {
        let name = usize::try_from(i16::from_be_bytes(take::<2>(&mut b)?).max(0))?;
        b = skip(b, name)?;
        let partitions = usize::try_from(i32::from_be_bytes(take::<4>(&mut b)?).max(0))?;
        b = skip(b, partitions * 4)?;
        total += partitions;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::assigned_partitions;

    #[test]
    fn assignments() {
        // Version 1, topic "ab" with partitions 0 and 3, topic "c" with none,
        // then user data.
        let mut a = vec![0, 1, 0, 0, 0, 2, 0, 2, b'a', b'b', 0, 0, 0, 2];
        a.extend([0, 0, 0, 0, 0, 0, 0, 3, 0, 1, b'c', 0, 0, 0, 0, 0xff, 0xff]);
        assert_eq!(assigned_partitions(&a).unwrap(), 2);
        assert_eq!(assigned_partitions(&[]).unwrap(), 0);
        assert!(assigned_partitions(&a[..9]).is_err());
    }
}
