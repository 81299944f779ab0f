//! A connector's consumer group `connect-<id>`, which holds a sink's
//! offsets (as in Kafka Connect): reading the committed offsets, altering
//! them, resetting them by deleting the group, deleting the group after
//! the connector is deleted, and finding the offsets for a time (a move).

use std::time::Duration;

use futures::future::BoxFuture;
use lambda_sink_core::config::{ClientRole, Config, ConnectorId, KafkaConfig, Subscription};
use lambda_sink_core::connect::moves::Found;
use lambda_sink_core::connect::offsets::PartitionOffset;
use lambda_sink_core::read_ahead::ReadAhead;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::admin::{AdminError, Groups};

use crate::error::{Error, Fault, OrFault};
use crate::kafka::client_config;
use crate::kafka::{failed, fault_of};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a change to a group's offsets was refused.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// Members are still in the group (a task has not stopped yet).
    #[error(
        "the connector's consumer group {0} still has members (its tasks are still stopping); retry in a moment"
    )]
    Busy(String),
    /// Anything else.
    #[error("{0}")]
    Other(#[from] Error),
}

fn consumer(kafka: &KafkaConfig, id: &ConnectorId) -> Result<BaseConsumer, Error> {
    let mut config =
        client_config(&kafka.client_properties(ClientRole::Consumer(id, ReadAhead::default())));
    config.set("enable.auto.commit", "false");
    config.create().map_err(failed(
        "creating a client of the connector's consumer group",
    ))
}

/// Every partition of the subscribed topics (a pattern: every matching
/// topic that exists now).
fn partitions(c: &BaseConsumer, subscription: &Subscription) -> Result<TopicPartitionList, Error> {
    let metadata = c
        .fetch_metadata(None, TIMEOUT)
        .map_err(failed("reading the cluster's topics"))?;
    let mut list = TopicPartitionList::new();
    for t in metadata.topics() {
        if t.error().is_none() && subscription.includes(t.name()) {
            for p in t.partitions() {
                list.add_partition(t.name(), p.id());
            }
        }
    }
    Ok(list)
}

/// The committed offsets of the connector's group, by topic and partition
/// (partitions without a committed offset are left out).
///
/// # Errors
/// When Kafka cannot be asked.
pub async fn committed(
    kafka: &KafkaConfig,
    id: &ConnectorId,
    subscription: &Subscription,
) -> Result<Vec<PartitionOffset>, Error> {
    let (kafka, id, subscription) = (kafka.clone(), id.clone(), subscription.clone());
    tokio::task::spawn_blocking(move || {
        let c = consumer(&kafka, &id)?;
        let list = partitions(&c, &subscription)?;
        let committed = c
            .committed_offsets(list, TIMEOUT)
            .map_err(failed("reading the committed offsets"))?;
        let mut out: Vec<PartitionOffset> = committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(PartitionOffset {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    offset: o,
                }),
                _ => None,
            })
            .collect();
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    })
    .await
    .or_fault(Fault::Internal, "the offsets reader ended abnormally")?
}

/// For each partition of the subscribed topics (only `topics`, when
/// given): the first offset at or after `timestamp`, and its end.
///
/// # Errors
/// When Kafka cannot be asked.
pub async fn at_time(
    kafka: &KafkaConfig,
    id: &ConnectorId,
    subscription: &Subscription,
    timestamp: i64,
    topics: Option<Vec<String>>,
) -> Result<Vec<Found>, Error> {
    let (kafka, id, subscription) = (kafka.clone(), id.clone(), subscription.clone());
    tokio::task::spawn_blocking(move || {
        let c = consumer(&kafka, &id)?;
        let all = partitions(&c, &subscription)?;
        let mut list = TopicPartitionList::new();
        for e in all.elements() {
            if topics
                .as_ref()
                .is_none_or(|t| t.iter().any(|t| t == e.topic()))
            {
                list.add_partition_offset(e.topic(), e.partition(), Offset::Offset(timestamp))
                    .map_err(failed("building the time lookup"))?;
            }
        }
        let times = c
            .offsets_for_times(list, TIMEOUT)
            .map_err(failed("looking up the offsets for the time"))?;
        times
            .elements()
            .iter()
            .map(|e| {
                let (_, end) = c
                    .fetch_watermarks(e.topic(), e.partition(), TIMEOUT)
                    .map_err(failed("reading a partition's end"))?;
                Ok(Found {
                    topic: e.topic().to_string(),
                    partition: e.partition(),
                    at: match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    },
                    end,
                })
            })
            .collect()
    })
    .await
    .or_fault(Fault::Internal, "the time lookup ended abnormally")?
}

/// Commits `offsets` for the connector's group, which must be empty.
///
/// # Errors
/// [`GroupError::Busy`] while a member remains; otherwise what Kafka said.
pub async fn alter(
    kafka: &KafkaConfig,
    id: &ConnectorId,
    offsets: Vec<PartitionOffset>,
) -> Result<(), GroupError> {
    let (kafka, id) = (kafka.clone(), id.clone());
    tokio::task::spawn_blocking(move || {
        let c = consumer(&kafka, &id)?;
        let mut list = TopicPartitionList::new();
        for o in &offsets {
            list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
                .map_err(failed("building the offsets"))?;
        }
        match c.commit(&list, CommitMode::Sync) {
            Ok(()) => Ok(()),
            Err(e) => match e.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::UnknownMemberId
                    | RDKafkaErrorCode::IllegalGeneration
                    | RDKafkaErrorCode::RebalanceInProgress,
                ) => Err(GroupError::Busy(id.group_id())),
                _ => Err(failed("committing the new offsets")(e).into()),
            },
        }
    })
    .await
    .or_fault(Fault::Internal, "the offsets writer ended abnormally")?
}

/// Deletes the connector's group (its offsets). A group that does not
/// exist is already reset.
///
/// # Errors
/// [`GroupError::Busy`] while a member remains; otherwise what Kafka said.
pub async fn delete_group(kafka: &KafkaConfig, id: &ConnectorId) -> Result<(), GroupError> {
    delete_named_group(kafka, id.group_id()).await
}

/// Deletes consumer group `group` (a group that does not exist is
/// already deleted).
///
/// # Errors
/// [`GroupError::Busy`] while a member remains; otherwise what Kafka said.
pub async fn delete_named_group(kafka: &KafkaConfig, group: String) -> Result<(), GroupError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&kafka.client_properties(ClientRole::Admin))
            .create()
            .map_err(failed("creating the Kafka admin client"))?;
    let results = admin
        .delete_groups(
            &[group.as_str()],
            &AdminOptions::new().operation_timeout(Some(TIMEOUT)),
        )
        .await
        .map_err(failed("deleting the consumer group"))?;
    match results.into_iter().next() {
        Some(Ok(_)) | None | Some(Err((_, RDKafkaErrorCode::GroupIdNotFound))) => Ok(()),
        Some(Err((_, RDKafkaErrorCode::NonEmptyGroup))) => Err(GroupError::Busy(group)),
        Some(Err((_, code))) => Err(Error::new(
            fault_of(Some(code)),
            format!("deleting consumer group {group}: {code}"),
        )
        .into()),
    }
}

/// After a delete: removes the group once the last member left. Every
/// worker hosting the connector tries after its own tasks stopped, so the
/// last one out succeeds; a few retries cover members still leaving.
pub async fn delete_group_when_empty(kafka: &KafkaConfig, id: &ConnectorId) {
    for attempt in 0..5_u32 {
        match delete_group(kafka, id).await {
            Ok(()) => {
                info!(group = %id.group_id(), "deleted the consumer group of a deleted connector");
                return;
            }
            Err(GroupError::Busy(_)) => {
                // Another worker's tasks are still leaving; it will try too.
                tokio::time::sleep(Duration::from_millis(500) * (attempt + 1)).await;
            }
            Err(e) => {
                warn!(group = %id.group_id(), error = %e, "cannot delete the consumer group of a deleted connector");
                return;
            }
        }
    }
}

/// The connectors' consumer groups in Kafka.
pub(crate) struct KafkaGroups;

fn group_error(e: GroupError) -> AdminError {
    match e {
        GroupError::Busy(_) => AdminError::Conflict(e.to_string()),
        GroupError::Other(e) => AdminError::Unavailable(format!("{e:#}")),
    }
}

impl Groups for KafkaGroups {
    fn committed<'a>(
        &'a self,
        config: &'a Config,
    ) -> BoxFuture<'a, Result<Vec<PartitionOffset>, AdminError>> {
        Box::pin(async move {
            committed(&config.kafka, &config.connector_id, &config.subscription)
                .await
                .map_err(|e| AdminError::Unavailable(format!("{e:#}")))
        })
    }

    fn alter<'a>(
        &'a self,
        config: &'a Config,
        offsets: Vec<PartitionOffset>,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        Box::pin(async move {
            alter(&config.kafka, &config.connector_id, offsets)
                .await
                .map_err(group_error)
        })
    }

    fn at_time<'a>(
        &'a self,
        config: &'a Config,
        timestamp: i64,
        topics: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<Vec<Found>, AdminError>> {
        Box::pin(async move {
            at_time(
                &config.kafka,
                &config.connector_id,
                &config.subscription,
                timestamp,
                topics,
            )
            .await
            .map_err(|e| AdminError::Unavailable(format!("{e:#}")))
        })
    }

    fn reset<'a>(&'a self, config: &'a Config) -> BoxFuture<'a, Result<(), AdminError>> {
        Box::pin(async move {
            delete_group(&config.kafka, &config.connector_id)
                .await
                .map_err(group_error)
        })
    }
}
