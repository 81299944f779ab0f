//! Running a replay job on this worker: the records of its offset ranges
//! read a chunk at a time ([`RangeReader`]) by a consumer of its own side
//! group
//! (`connect-<id>-replay-<job>`, never the connector's), the keys that
//! match invoked through the connector's pipeline with every outcome
//! record tagged ([`replays::HEADER`]), the progress committed to the side
//! group and recorded in the config topic after each chunk, until every
//! range is read, a cancel request arrives or something fails. The rules
//! (what may start, what is recorded) are the [`Admin`]'s.
//!
//! [`Admin`]: super::admin::Admin

use std::sync::Arc;

use lambda_sink_core::config::Config;
use lambda_sink_core::connect::replays::{self, Job, KeyFilter, Range, State};
use lambda_sink_core::record::SourceRecord;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::admin::AdminError;
use super::node::Node;
use super::offsets::delete_named_group;
use crate::clock::epoch_ms;
use crate::error::{Error, Fault, OrFault};
use crate::kafka::ranges::{RangeReader, Span};
use crate::metrics::Metrics;
use crate::pipeline::{self, Telemetry};
use crate::status::ServiceStatus;

/// Records read and invoked per chunk: progress is recorded, and a cancel
/// noticed, between chunks.
const CHUNK: usize = 500;

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
    let asked = cluster
        .wait_for(|c| {
            c.get(&name)
                .is_none_or(|e| e.cancel_replay.as_deref() == Some(id.as_str()))
        })
        .await;
    if asked.is_ok() {
        cancel.cancel();
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
    let reader = Arc::new(RangeReader::new(
        &config.kafka,
        group,
        &job.topic,
        &spans(&job.ranges),
    )?);
    let metrics = Arc::new(Metrics::new());
    let telemetry = Telemetry::of(
        metrics.clone(),
        Arc::new(ServiceStatus::new(name, config.connector_id.as_str(), 0)),
    );
    let tag = (replays::HEADER.to_string(), job.id.clone().into_bytes());
    while !job.finished_reading() && !cancel.is_cancelled() {
        let (r, mut read_to) = (reader.clone(), spans(&job.ranges));
        let (records, read_to) = tokio::task::spawn_blocking(move || {
            r.read(&mut read_to, CHUNK)
                .map(|records| (records, read_to))
        })
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
        for (range, span) in job.ranges.iter_mut().zip(&read_to) {
            range.next = span.next;
        }
        job.read += read as u64;
        job.skipped += skipped as u64;
        let r = reader.clone();
        tokio::task::spawn_blocking(move || r.commit(&read_to))
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

/// A job's ranges as the reader takes them.
fn spans(ranges: &[Range]) -> Vec<Span> {
    ranges
        .iter()
        .map(|r| Span {
            partition: r.partition,
            next: r.next,
            to: r.to,
        })
        .collect()
}
