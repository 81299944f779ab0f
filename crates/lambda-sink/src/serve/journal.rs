//! The cluster's event log (`events.storage.topic`): every worker publishes
//! its connectors' events to one topic, keyed by connector, and reads every
//! worker's back into a bounded journal per connector ([`ClusterEvents`]),
//! so any worker answers `GET /connectors/{name}/events` for the whole
//! cluster, and the events outlive the worker that wrote them.

use std::collections::HashMap;
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

/// Every connector's events, from every worker.
pub struct ClusterEvents {
    journals: Journals,
    /// Events to write, by connector.
    outbox: mpsc::UnboundedSender<(String, Vec<u8>)>,
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
        let (outbox, mut sending) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
        let name = topic.to_string();
        tokio::spawn(async move {
            while let Some((connector, value)) = sending.recv().await {
                if let Err(e) = log.send(&connector, Some(&value)).await {
                    warn!(topic = %name, connector = %connector, error = %e, "an event was not written to the events topic (it stays in this worker's log)");
                }
            }
        });
        Ok(Self { journals, outbox })
    }

    /// What publishes the events of `connector` on worker `worker_id`.
    pub fn publisher(&self, connector: &str, worker_id: &str) -> Publish {
        let (outbox, connector, worker) = (
            self.outbox.clone(),
            connector.to_string(),
            worker_id.to_string(),
        );
        Arc::new(move |event: &Event| {
            let event = Event {
                worker: Some(worker.clone()),
                ..event.clone()
            };
            if let Ok(value) = serde_json::to_vec(&event) {
                // The writer stops only with the worker.
                let _ = outbox.send((connector.clone(), value));
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
