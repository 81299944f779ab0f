//! Running a replay job on this worker: the records of its offset ranges
//! read a chunk at a time by a consumer of its own side group
//! (`connect-<id>-replay-<job>`, never the connector's), the keys that
//! match invoked through the connector's pipeline with every outcome
//! record tagged ([`replays::HEADER`]), the progress committed to the side
//! group and recorded in the config topic after each chunk, until every
//! range is read, a cancel request arrives or something fails. The rules
//! (what may start, what is recorded) are the [`Admin`]'s.
//!
//! [`Admin`]: super::admin::Admin

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_sink_core::config::{ClientRole, Config};
use lambda_sink_core::connect::replays::{self, Job, KeyFilter, Range, State};
use lambda_sink_core::record::SourceRecord;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::admin::AdminError;
use super::node::Node;
use super::offsets::delete_named_group;
use crate::clock::epoch_ms;
use crate::error::{Error, Fault, OrFault};
use crate::kafka::consumer::owned;
use crate::kafka::{client_config, failed};
use crate::metrics::Metrics;
use crate::pipeline::{self, Telemetry};
use crate::status::ServiceStatus;

/// Records read and invoked per chunk: progress is recorded, and a cancel
/// noticed, between chunks.
const CHUNK: usize = 500;

/// How long a read may go without a record before the job fails.
const QUIET: Duration = Duration::from_secs(30);

/// Starts replay `request` of connector `name` on this worker; the job as
/// it starts (it runs on in the background).
///
/// # Errors
/// As [`super::admin::Admin::begin_replay`].
pub(crate) async fn start(
    worker: &Arc<Node>,
    name: &str,
    request: replays::Request,
) -> Result<Job, AdminError> {
    let (job, config) = worker
        .admin
        .begin_replay(name, request, &worker.worker_id, epoch_ms())
        .await?;
    info!(connector = %name, job = %job.id, records = job.total(), "replay job started");
    tokio::spawn(run(worker.clone(), name.to_string(), job.clone(), config));
    Ok(job)
}

/// Runs `job` to its end and records how it ended.
async fn run(worker: Arc<Node>, name: String, mut job: Job, config: Config) {
    let cancel = worker.shutdown.child_token();
    let watcher = tokio::spawn(watch_cancel(
        worker.clone(),
        name.clone(),
        job.id.clone(),
        cancel.clone(),
    ));
    let group = format!("{}-replay-{}", config.connector_id.group_id(), job.id);
    let result = replay(&worker, &name, &mut job, &config, &group, &cancel).await;
    watcher.abort();
    let (state, error) = match result {
        Ok(()) if job.finished_reading() => (State::Done, None),
        _ if worker.shutdown.is_cancelled() => (State::Interrupted, None),
        Ok(()) | Err(_) if cancel.is_cancelled() => (State::Cancelled, None),
        Ok(()) => (State::Failed, Some("stopped before the end".to_string())),
        Err(e) => (State::Failed, Some(format!("{e:#}"))),
    };
    job.state = state;
    job.error = error;
    job.finished_at = Some(epoch_ms());
    if let Err(e) = worker.admin.record_replay(&name, &job).await {
        warn!(connector = %name, job = %job.id, error = %e, "cannot record how the replay job ended");
    }
    if let Err(e) = delete_named_group(&config.kafka, group).await {
        warn!(connector = %name, job = %job.id, error = %e, "cannot delete the replay job's side group");
    }
    info!(connector = %name, job = %job.id, state = ?job.state, read = job.read, "replay job ended");
}

/// Ends the jobs this worker was running when it last stopped without
/// recording them (killed): none of them runs now.
pub(super) async fn interrupted(worker: &Node) {
    let state = worker.admin.state();
    for (name, entry) in state.connectors() {
        for job in entry
            .replays
            .iter()
            .filter(|j| j.state == State::Running && j.worker == worker.worker_id)
        {
            let mut ended = job.clone();
            ended.state = State::Interrupted;
            ended.finished_at = Some(epoch_ms());
            if let Err(e) = worker.admin.record_replay(name, &ended).await {
                warn!(connector = %name, job = %job.id, error = %e, "cannot record a replay job this worker left unfinished");
            }
        }
    }
}

/// Cancels `cancel` once the config topic asks job `id` of `name` to stop.
async fn watch_cancel(worker: Arc<Node>, name: String, id: String, cancel: CancellationToken) {
    let mut cluster = worker.configs.watch();
    loop {
        let asked = cluster
            .borrow_and_update()
            .get(&name)
            .is_none_or(|e| e.cancel_replay.as_deref() == Some(id.as_str()));
        if asked {
            cancel.cancel();
            return;
        }
        if cluster.changed().await.is_err() {
            return;
        }
    }
}

/// Replays `job`'s ranges chunk by chunk, updating its progress.
async fn replay(
    worker: &Arc<Node>,
    name: &str,
    job: &mut Job,
    config: &Config,
    group: &str,
    cancel: &CancellationToken,
) -> Result<(), Error> {
    let keys = KeyFilter::new(job.key_pattern.as_deref())
        .map_err(|e| Error::new(Fault::Setup, e.to_string()))?;
    let reader = Arc::new(Reader::new(config, group, &job.topic, &job.ranges)?);
    let metrics = Arc::new(Metrics::new());
    let telemetry = Telemetry::of(
        metrics.clone(),
        Arc::new(ServiceStatus::new(name, config.connector_id.as_str(), 0)),
    );
    let tag = (replays::HEADER.to_string(), job.id.clone().into_bytes());
    while !job.finished_reading() && !cancel.is_cancelled() {
        let (r, ranges) = (reader.clone(), job.ranges.clone());
        let (records, ranges) = tokio::task::spawn_blocking(move || r.chunk(ranges))
            .await
            .or_fault(Fault::Internal, "the replay reader ended abnormally")??;
        let read = records.len();
        let matching: Vec<SourceRecord> = records
            .into_iter()
            .filter(|r| keys.matches(r.key.as_deref()))
            .collect();
        let skipped = read - matching.len();
        if !matching.is_empty() {
            pipeline::replay(
                config.clone(),
                matching,
                cancel.clone(),
                telemetry.clone(),
                &worker.producers,
                Some(tag.clone()),
            )
            .await
            .map_err(|e| Error::unavailable(format!("the replay stopped: {e}")))?;
        }
        // What was invoked counts even when a cancel cut the chunk short.
        job.outcomes = super::redrive::outcomes(&metrics)
            .into_iter()
            .filter_map(|(k, v)| v.as_u64().map(|n| (k, n)))
            .collect();
        if cancel.is_cancelled() {
            break;
        }
        job.ranges = ranges;
        job.read += read as u64;
        job.skipped += skipped as u64;
        let (r, ranges) = (reader.clone(), job.ranges.clone());
        tokio::task::spawn_blocking(move || r.commit(&ranges))
            .await
            .or_fault(Fault::Internal, "the replay reader ended abnormally")??;
        worker
            .admin
            .record_replay(name, job)
            .await
            .map_err(|e| Error::unavailable(format!("recording the replay's progress: {e}")))?;
    }
    Ok(())
}

/// A consumer of the job's side group, assigned its ranges.
struct Reader {
    consumer: BaseConsumer,
    topic: String,
}

impl Reader {
    fn new(config: &Config, group: &str, topic: &str, ranges: &[Range]) -> Result<Self, Error> {
        let mut props = client_config(&config.kafka.client_properties(ClientRole::Admin));
        props
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer = props
            .create()
            .map_err(failed("creating the replay reader"))?;
        let mut assignment = TopicPartitionList::new();
        for r in ranges.iter().filter(|r| r.next < r.to) {
            assignment
                .add_partition_offset(topic, r.partition, Offset::Offset(r.next))
                .map_err(failed("assigning the replay's partitions"))?;
        }
        consumer
            .assign(&assignment)
            .map_err(failed("assigning the replay's partitions"))?;
        Ok(Self {
            consumer,
            topic: topic.to_string(),
        })
    }

    /// Pauses partition `p` (its range is read).
    fn pause(&self, p: i32) -> Result<(), Error> {
        let mut l = TopicPartitionList::new();
        l.add_partition(&self.topic, p);
        self.consumer
            .pause(&l)
            .map_err(failed("pausing a finished replay partition"))
    }

    /// The next records of `ranges` (at most [`CHUNK`]), and the ranges
    /// moved past them.
    fn chunk(&self, mut ranges: Vec<Range>) -> Result<(Vec<SourceRecord>, Vec<Range>), Error> {
        let mut out = Vec::new();
        let mut topics = HashMap::new();
        let mut quiet_since = Instant::now();
        while out.len() < CHUNK && ranges.iter().any(|r| r.next < r.to) {
            if quiet_since.elapsed() >= QUIET {
                return Err(Error::unavailable(format!(
                    "reading {} for the replay: no record for {QUIET:?}",
                    self.topic
                )));
            }
            let Some(m) = self.consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            quiet_since = Instant::now();
            let (p, next) = match m {
                Ok(m) => (m.partition(), Some(owned(&mut topics, &m))),
                // The end of a partition before its range's end: the rest
                // were not records (transaction markers).
                Err(KafkaError::PartitionEOF(p)) => (p, None),
                Err(e) => return Err(failed("reading the topic for the replay")(e)),
            };
            let Some(range) = ranges.iter_mut().find(|r| r.partition == p) else {
                continue;
            };
            match next {
                Some(record) if record.offset < range.to => {
                    range.next = record.offset + 1;
                    out.push(record);
                }
                _ => range.next = range.to,
            }
            if range.next >= range.to {
                self.pause(p)?;
            }
        }
        Ok((out, ranges))
    }

    /// Commits how far `ranges` got to the side group.
    fn commit(&self, ranges: &[Range]) -> Result<(), Error> {
        let mut list = TopicPartitionList::new();
        for r in ranges {
            list.add_partition_offset(&self.topic, r.partition, Offset::Offset(r.next))
                .map_err(failed("building the replay's progress"))?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(failed("committing the replay's progress"))
    }
}
