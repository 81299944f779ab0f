//! The benchmark's data: topics of JSON records of a chosen size, preloaded
//! before any measurement so every reader sees the same bytes.
//!
//! Records are produced as an ordinary producer writes them: batched
//! (`linger.ms` 5, librdkafka's batch size), uncompressed so that no reader
//! pays for decompression the others might not, acknowledged by all
//! replicas, idempotent.

use std::time::Duration;

use anyhow::Context;
use futures::future::try_join_all;
use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::env::Env;

/// One topic of uniform records.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Short name (`small`, `large`, `bound`).
    pub name: &'static str,
    /// The topic.
    pub topic: String,
    /// Approximate value size in bytes.
    pub value_bytes: usize,
    /// Records in the topic.
    pub records: usize,
    /// Distinct keys (`None`: every record its own), each always in the
    /// same partition, as Kafka's partitioner would place it.
    pub keys: Option<usize>,
    /// Every this many keys, one whose records carry `"poison":true` (the
    /// fake endpoint's `poison` function fails them on every attempt).
    pub poison_every: Option<usize>,
}

impl Dataset {
    /// The dataset `name` of `records` values of about `value_bytes`.
    pub fn new(name: &'static str, value_bytes: usize, records: usize) -> Self {
        Self {
            name,
            topic: format!("bench-{name}"),
            value_bytes,
            records,
            keys: None,
            poison_every: None,
        }
    }

    /// The same, with every `n`-th key's records poisoned.
    pub fn with_poison_every(mut self, n: usize) -> Self {
        self.poison_every = Some(n.max(1));
        self
    }

    /// Whether record `i`'s key is poisoned.
    pub fn poisoned(&self, i: usize) -> bool {
        let key = self.keys.map_or(i, |k| i % k.max(1));
        self.poison_every.is_some_and(|n| key.is_multiple_of(n))
    }

    /// Records whose key is not poisoned.
    pub fn healthy_records(&self) -> usize {
        (0..self.records).filter(|&i| !self.poisoned(i)).count()
    }

    /// The same, in `topic`.
    pub fn with_topic(mut self, topic: String) -> Self {
        self.topic = topic;
        self
    }

    /// The same, with `keys` distinct keys (a multiple of the partitions).
    pub fn with_keys(mut self, keys: usize) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The value of record `i`: a JSON object of about `value_bytes`.
    pub fn value(&self, i: usize) -> String {
        let poison = if self.poisoned(i) {
            r#""poison":true,"#
        } else {
            ""
        };
        let head = format!(r#"{{{poison}"id":{i},"name":"user-{i}","active":true,"pad":""#);
        let pad = self.value_bytes.saturating_sub(head.len() + 2);
        format!("{head}{}\"}}", "x".repeat(pad))
    }

    /// The key of record `i`.
    pub fn key(&self, i: usize) -> String {
        format!("k{}", self.keys.map_or(i, |k| i % k.max(1)))
    }
}

/// A producer that batches for up to `linger_ms` (0: every record at once,
/// for latency measurements).
pub fn producer(bootstrap: &str, linger_ms: u32) -> anyhow::Result<FutureProducer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", linger_ms.to_string())
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", "none")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .context("creating the producer")
}

/// Creates the dataset's topic and fills it, spreading records round-robin
/// over the partitions.
pub async fn preload(env: &Env, d: &Dataset) -> anyhow::Result<()> {
    preload_traced(env, d, |_| None).await
}

/// [`preload`], record `i` with the `traceparent` header `traceparent(i)`
/// when it gives one.
pub async fn preload_traced(
    env: &Env,
    d: &Dataset,
    traceparent: impl Fn(usize) -> Option<String>,
) -> anyhow::Result<()> {
    env.services.create_topic(&d.topic, env.partitions).await?;
    let producer = producer(&env.services.bootstrap, 5)?;
    let partitions = usize::try_from(env.partitions)?;
    for chunk in (0..d.records).collect::<Vec<_>>().chunks(50_000) {
        let deliveries = chunk.iter().map(|&i| {
            let key = d.key(i);
            let value = d.value(i);
            let partition = i32::try_from(i % partitions).unwrap_or(0);
            let producer = &producer;
            let topic = &d.topic;
            let traceparent = traceparent(i);
            async move {
                let mut record = FutureRecord::to(topic)
                    .partition(partition)
                    .key(&key)
                    .payload(&value);
                if let Some(traceparent) = &traceparent {
                    record = record.headers(OwnedHeaders::new().insert(Header {
                        key: "traceparent",
                        value: Some(traceparent),
                    }));
                }
                producer
                    .send(record, Duration::from_secs(60))
                    .await
                    .map_err(|(e, _)| anyhow::anyhow!("producing to {topic}: {e}"))
            }
        });
        try_join_all(deliveries).await?;
    }
    Ok(())
}
