//! The cluster's event log (`events.storage.topic`): every worker publishes
//! its connectors' events to one topic, keyed by connector, and reads every
//! worker's back into a bounded journal per connector ([`ClusterEvents`]),
//! so any worker answers `GET /connectors/{name}/events` for the whole
//! cluster, and the events outlive the worker that wrote them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lambda_sink_core::config::KafkaConfig;
use lambda_sink_core::journal::{Event, Journal, Query};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::store::TopicLog;
use crate::error::Error;
use crate::events::{KEPT, Publish};
use crate::sync::lock;

type Journals = Arc<Mutex<HashMap<String, Journal>>>;

/// Events waiting to be written, at most: beyond, an event stays in this
/// worker's own log and its log line only (counted, and said once in a
/// while), so a storm of events cannot grow the worker's memory.
const OUTBOX: usize = 10_000;

/// Every connector's events, from every worker.
pub struct ClusterEvents {
    journals: Journals,
    /// Events to write, by connector.
    outbox: mpsc::Sender<(String, Vec<u8>)>,
    /// Events not written because the outbox was full.
    dropped: Arc<AtomicU64>,
}

/// Writes what the outbox holds, everything waiting at once (Kafka
/// acknowledges them together), until every publisher is gone.
async fn write(log: TopicLog, topic: String, mut outbox: mpsc::Receiver<(String, Vec<u8>)>) {
    let mut waiting = Vec::new();
    while outbox.recv_many(&mut waiting, OUTBOX).await > 0 {
        let writes = waiting
            .iter()
            .map(|(connector, value)| log.send(connector, Some(value)));
        let failed = futures::future::join_all(writes)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>();
        if let Some(e) = failed.first() {
            warn!(topic = %topic, events = failed.len(), error = %e, "events were not written to the events topic (they stay in this worker's log)");
        }
        waiting.clear();
    }
}

impl ClusterEvents {
    /// Reads `topic` from its start (what its retention kept; the worker
    /// does not wait for it) and follows it until `stop`; writes what
    /// [`Self::publisher`]s are given.
    ///
    /// # Errors
    /// When the topic cannot be read or its clients created.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
        stop: CancellationToken,
    ) -> Result<Self, Error> {
        let journals: Journals = Arc::default();
        let read = journals.clone();
        let (log, _) = TopicLog::follow(
            kafka,
            topic,
            move |connector, value| {
                let Some(event) = value.and_then(|v| serde_json::from_slice::<Event>(v).ok())
                else {
                    return;
                };
                lock(&read)
                    .entry(connector.to_string())
                    .or_insert_with(|| Journal::new(KEPT))
                    .push(event);
            },
            stop,
        )
        .await?;
        let (outbox, sending) = mpsc::channel::<(String, Vec<u8>)>(OUTBOX);
        tokio::spawn(write(log, topic.to_string(), sending));
        Ok(Self {
            journals,
            outbox,
            dropped: Arc::default(),
        })
    }

    /// What publishes the events of `connector` on worker `worker_id`.
    pub fn publisher(&self, connector: &str, worker_id: &str) -> Publish {
        let (outbox, dropped, connector, worker) = (
            self.outbox.clone(),
            self.dropped.clone(),
            connector.to_string(),
            worker_id.to_string(),
        );
        Arc::new(move |event: &Event| {
            let event = Event {
                worker: Some(worker.clone()),
                ..event.clone()
            };
            let Ok(value) = serde_json::to_vec(&event) else {
                return;
            };
            if outbox.try_send((connector.clone(), value)).is_err() {
                let n = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    warn!(
                        dropped = n,
                        "the events topic is not keeping up: events stay in this worker's log only"
                    );
                }
            }
        })
    }

    /// The events of `connector` that `query` asks for, oldest first.
    pub fn query(&self, connector: &str, query: &Query) -> Vec<Event> {
        lock(&self.journals)
            .get(connector)
            .map(|j| j.query(query))
            .unwrap_or_default()
    }
}
