//! Replaying records that were already consumed (a DLQ redrive, a replay
//! job) through the same partition workers as a run: decode, batch,
//! invoke, outcome topics, and the DLQ again for a record that fails
//! again. Nothing is committed: the records' input offsets were committed
//! already (a redrive's when they were dead-lettered; a replay job keeps
//! its own progress). Keys are never parked here
//! (`aws.lambda.on.key.failure`).

use std::collections::BTreeMap;
use std::sync::Arc;

use lambda_sink_core::config::Config;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::transaction::Lease;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connector::{RunError, finish, start};
use super::context::Telemetry;
use super::inbox::Inbox;
use super::partition::Worker;
use super::ports::{NotStored, Offsets};
use crate::kafka::consumer::Wake;
use crate::kafka::producer::{OutcomeRecord, Producers};
use futures::future::BoxFuture;

/// The offset store of a replay: nothing to commit.
struct NoCommit;

impl Offsets for NoCommit {
    fn store(
        &self,
        _: &TopicPartition,
        _: Lease,
        _: i64,
        _: Vec<(i64, OutcomeRecord)>,
    ) -> BoxFuture<'_, Result<(), NotStored>> {
        Box::pin(async { Ok(()) })
    }
}

/// Replays `records` through `config`'s pipeline (its outcome producer
/// from `producers`; `tag`: a header every outcome record carries) and
/// returns once every one has an outcome (or the replay failed). Records
/// of one partition must be in increasing offset order.
///
/// # Errors
/// As [`super::run`]: it could not start, or it failed (for example
/// `behavior.on.error=fail` tripped again).
pub async fn replay(
    mut config: Config,
    records: Vec<SourceRecord>,
    stop: CancellationToken,
    telemetry: Telemetry,
    producers: &Producers,
    tag: Option<(String, Vec<u8>)>,
) -> Result<(), RunError> {
    let stop = stop.child_token();
    // A replayed record that fails again is resolved (to the DLQ again),
    // never parked: a parked key belongs to the partition's running owner.
    config.errors.park = None;
    let Some((ctx, producer, _)) = start(config, stop.clone(), telemetry, producers, tag).await?
    else {
        return Ok(());
    };
    let mut by_partition: BTreeMap<TopicPartition, Vec<SourceRecord>> = BTreeMap::new();
    for r in records {
        by_partition
            .entry(TopicPartition::of(&r))
            .or_default()
            .push(r);
    }
    let store: Arc<dyn Offsets> = Arc::new(NoCommit);
    let mut workers = Vec::new();
    for (tp, records) in by_partition {
        let (tx, rx) = mpsc::channel(records.len().max(1));
        for r in records {
            // The channel holds them all: this cannot wait.
            if tx.try_send(r).is_err() {
                break;
            }
        }
        // Closed: the worker ends once every record has an outcome.
        drop(tx);
        let inbox = Inbox::new(rx, Arc::new(Wake::default()));
        let worker = Worker::new(tp, 0, 0, ctx.clone(), store.clone(), stop.child_token());
        workers.push(tokio::spawn(worker.run(inbox)));
    }
    ctx.status.running();
    for w in workers {
        if let Err(e) = w.await {
            ctx.fail(format!("a replay worker ended abnormally: {e}"));
        }
    }
    finish(&ctx, producer).await
}
