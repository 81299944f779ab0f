//! One partition's worker: records in offset order → decoded payload
//! elements → batches → one invocation at a time → outcome records → offsets.
//!
//! Two futures run side by side in one task: the worker, which invokes
//! batches, and the committer, which waits for each batch's outcome records
//! to be acknowledged and then stores the partition's committable offset
//! (the [`OffsetTracker`] never passes an unresolved record). The worker can
//! invoke batch N+1 while batch N's outcomes are still being acknowledged;
//! at most [`PENDING_BATCHES`] batches wait for acknowledgement.
//!
//! Ordering: one batch in flight per partition, batches and dead letters in
//! offset order, outcome records enqueued in that same order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::{FuturesOrdered, StreamExt};
use lambda_sink_core::batch::{self, BatchLimits, Element};
use lambda_sink_core::codec::schemaless;
use lambda_sink_core::config::{BehaviorOnError, DataFormat, InvocationType};
use lambda_sink_core::offsets::OffsetTracker;
use lambda_sink_core::outcome::{
    self, BatchError, CONNECT_EXCEPTION, DATA_EXCEPTION, DeadLetter, Disposition, ErrorClass,
    InvokeFailure, ResultValue, SINK_TASK_CLASS, Stage,
};
use lambda_sink_core::payload;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::retry::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::Shared;
use crate::kafka::consumer::OffsetStore;
use crate::kafka::producer::{OutcomeRecord, ProduceError};
use crate::lambda::invoke::Invoked;

/// Most batches whose outcomes may await acknowledgement at once, per partition.
const PENDING_BATCHES: usize = 4;

/// A record ready to be batched, or one that goes to the DLQ instead.
enum Item {
    Ready {
        record: SourceRecord,
        element: Vec<u8>,
    },
    Dead {
        record: SourceRecord,
        dead: DeadLetter,
    },
}

impl Element for Item {
    fn element_len(&self) -> Option<usize> {
        match self {
            Self::Ready { element, .. } => Some(element.len()),
            Self::Dead { .. } => None,
        }
    }
}

/// Records whose outcome is durable once `done` completes.
struct Pending {
    offsets: Vec<i64>,
    done: BoxFuture<'static, Result<(), ProduceError>>,
}

/// The worker stopped taking batches (stop requested or the connector failed).
struct Stopped;

/// What came of invoking a batch, retries included.
enum Attempt {
    Done(Invoked),
    Split,
    GaveUp(InvokeFailure),
    Stop(String),
    Cancelled,
}

/// One partition's worker.
pub(super) struct Worker {
    tp: TopicPartition,
    task: usize,
    shared: Arc<Shared>,
    store: OffsetStore,
    records: mpsc::UnboundedReceiver<SourceRecord>,
    buffered: Arc<AtomicUsize>,
    stop: CancellationToken,
    limits: BatchLimits,
}

impl Worker {
    pub(super) fn new(
        tp: TopicPartition,
        task: usize,
        shared: Arc<Shared>,
        store: OffsetStore,
        records: mpsc::UnboundedReceiver<SourceRecord>,
        buffered: Arc<AtomicUsize>,
        stop: CancellationToken,
    ) -> Self {
        let limits = BatchLimits {
            max_records: shared.config.lambda.batch_size,
            max_bytes: shared.config.lambda.max_payload_bytes,
        };
        Self {
            tp,
            task,
            shared,
            store,
            records,
            buffered,
            stop,
            limits,
        }
    }

    /// Runs until stopped; returns once every pending outcome is
    /// acknowledged and its offset stored.
    pub(super) async fn run(self) {
        let (pending_tx, pending_rx) = mpsc::channel(PENDING_BATCHES);
        let committer = commit_loop(
            self.tp.clone(),
            pending_rx,
            self.store.clone(),
            self.shared.clone(),
        );
        let span = info_span!("partition", topic = %self.tp.topic, partition = self.tp.partition);
        tokio::join!(
            self.work(pending_tx).instrument(span.clone()),
            committer.instrument(span)
        );
    }

    async fn work(mut self, pending: mpsc::Sender<Pending>) {
        let mut queue: VecDeque<Item> = VecDeque::new();
        let mut oldest: Option<Instant> = None;
        loop {
            if queue.is_empty() {
                // Priority: a stop request, then new records.
                let record = tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    r = self.records.recv() => r,
                };
                let Some(record) = record else { return };
                queue.push_back(self.prepare(record));
                oldest = Some(Instant::now());
            }
            self.top_up(&mut queue);
            let linger = self.shared.config.lambda.linger;
            if !linger.is_zero() && !batch::is_full(&queue, self.limits) {
                let deadline = oldest.unwrap_or_else(Instant::now) + linger;
                while !batch::is_full(&queue, self.limits) {
                    let record = tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return,
                        () = tokio::time::sleep_until(deadline) => break,
                        r = self.records.recv() => r,
                    };
                    let Some(record) = record else { break };
                    queue.push_back(self.prepare(record));
                }
            }
            while matches!(queue.front(), Some(Item::Dead { .. })) {
                if let Some(Item::Dead { record, dead }) = queue.pop_front()
                    && self
                        .dead_letter(vec![(record, dead)], &pending)
                        .await
                        .is_err()
                {
                    return;
                }
            }
            let taken = batch::take_batch(&mut queue, self.limits);
            if queue.is_empty() {
                oldest = None;
            }
            let batch: Vec<(SourceRecord, Vec<u8>)> = taken
                .into_iter()
                .filter_map(|item| match item {
                    Item::Ready { record, element } => Some((record, element)),
                    Item::Dead { .. } => None,
                })
                .collect();
            if !batch.is_empty() && self.process(batch, &pending).await.is_err() {
                return;
            }
        }
    }

    /// Moves already-delivered records into the queue, up to one batch.
    fn top_up(&mut self, queue: &mut VecDeque<Item>) {
        while queue.len() < self.limits.max_records {
            match self.records.try_recv() {
                Ok(record) => queue.push_back(self.prepare(record)),
                Err(_) => break,
            }
        }
    }

    /// Decodes a record into its payload element, or its dead letter.
    fn prepare(&self, record: SourceRecord) -> Item {
        self.buffered.fetch_sub(1, Ordering::SeqCst);
        let config = &self.shared.config;
        let converter = config.lambda.converter;
        let decode = |format: DataFormat, bytes: &Option<Vec<u8>>, stage: Stage| {
            bytes
                .as_ref()
                .map(|b| schemaless::render(format, converter, b))
                .transpose()
                .map_err(|e| DeadLetter {
                    stage,
                    class_name: outcome::converter_class(format).to_string(),
                    exception_class: DATA_EXCEPTION.to_string(),
                    message: format!(
                        "{} of {}@{} is not valid {format}: {e}",
                        if stage == Stage::KeyConverter {
                            "key"
                        } else {
                            "value"
                        },
                        self.tp,
                        record.offset
                    ),
                })
        };
        let decoded = decode(config.key_format, &record.key, Stage::KeyConverter).and_then(|k| {
            decode(config.value_format, &record.value, Stage::ValueConverter).map(|v| (k, v))
        });
        let (key, value) = match decoded {
            Ok(kv) => kv,
            Err(dead) => return Item::Dead { record, dead },
        };
        let element = payload::render_element(
            &record,
            key.as_deref(),
            value.as_deref(),
            config.lambda.include_headers,
        );
        if !self.limits.fits_alone(element.len()) {
            let dead = DeadLetter {
                stage: Stage::TaskPut,
                class_name: SINK_TASK_CLASS.to_string(),
                exception_class: CONNECT_EXCEPTION.to_string(),
                message: format!(
                    "record {}@{} renders to a {}-byte payload element, larger than aws.lambda.max.payload.bytes ({}) allows for one request",
                    self.tp,
                    record.offset,
                    element.len(),
                    self.limits.max_bytes
                ),
            };
            return Item::Dead { record, dead };
        }
        Item::Ready { record, element }
    }

    /// Invokes one batch (splitting it if Lambda says it is too large) and
    /// queues its outcome.
    async fn process(
        &self,
        batch: Vec<(SourceRecord, Vec<u8>)>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        let Some(function) = self
            .shared
            .config
            .lambda
            .routing
            .function_for(&self.tp.topic)
            .cloned()
        else {
            self.shared.fail(format!(
                "topic \"{}\" matches topics.regex but has no entry in aws.lambda.topic2function.map; add \"{};<function>\"",
                self.tp.topic, self.tp.topic
            ));
            return Err(Stopped);
        };
        // A stack keeps halves in order: the first half is processed first.
        let mut work = vec![batch];
        while let Some(batch) = work.pop() {
            let range = offsets_range(&batch);
            let body = batch::request_body(batch.iter().map(|(_, e)| e.as_slice()));
            debug!(offsets = %range, records = batch.len(), bytes = body.len(), "invoking");
            let records: Vec<SourceRecord> = match self.invoke_with_retry(&function, body).await {
                Attempt::Done(invoked) => {
                    let records = batch.into_iter().map(|(r, _)| r).collect();
                    self.handle_response(records, invoked, pending).await?;
                    continue;
                }
                Attempt::Split if batch.len() > 1 => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    debug!(offsets = %range, "request too large for Lambda: splitting the batch");
                    work.push(second);
                    work.push(first);
                    continue;
                }
                Attempt::Split => batch.into_iter().map(|(r, _)| r).collect(),
                Attempt::GaveUp(failure) => {
                    let records = batch.into_iter().map(|(r, _)| r).collect();
                    self.gave_up(records, &failure, pending).await?;
                    continue;
                }
                Attempt::Stop(reason) => {
                    self.shared.fail(format!(
                        "invoking {function} for {} offsets {range}: {reason}",
                        self.tp
                    ));
                    return Err(Stopped);
                }
                Attempt::Cancelled => return Err(Stopped),
            };
            // A single record Lambda still finds too large.
            let dead = records
                .into_iter()
                .map(|r| {
                    let dead = DeadLetter {
                        stage: Stage::TaskPut,
                        class_name: SINK_TASK_CLASS.to_string(),
                        exception_class: CONNECT_EXCEPTION.to_string(),
                        message: format!(
                            "Lambda rejected record {}@{} as too large for one request (RequestTooLargeException)",
                            self.tp, r.offset
                        ),
                    };
                    (r, dead)
                })
                .collect();
            self.dead_letter(dead, pending).await?;
        }
        Ok(())
    }

    /// Invokes with the one retry layer: backoff with jitter, `Retry-After`,
    /// up to `aws.lambda.retry.timeout.ms`. Cancellation-aware: a stop during
    /// a backoff abandons the batch (it was never delivered).
    async fn invoke_with_retry(
        &self,
        function: &lambda_sink_core::config::FunctionRef,
        body: Vec<u8>,
    ) -> Attempt {
        let lambda = &self.shared.config.lambda;
        let backoff = Backoff {
            initial: lambda.retry_backoff,
            max: lambda.retry_backoff_max,
            timeout: lambda.retry_timeout,
        };
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let permit = tokio::select! {
                biased;
                () = self.stop.cancelled() => return Attempt::Cancelled,
                p = self.shared.in_flight.acquire() => p,
            };
            let Ok(permit) = permit else {
                return Attempt::Cancelled;
            };
            let result = self
                .shared
                .invoker
                .invoke(function, lambda.invocation_type, body.clone())
                .await;
            drop(permit);
            let failure = match result {
                Ok(invoked) => return Attempt::Done(invoked),
                Err(f) => f,
            };
            let reason = match outcome::classify(&failure) {
                Disposition::Split => return Attempt::Split,
                Disposition::Stop(reason) => return Attempt::Stop(reason),
                Disposition::Retry(reason) => reason,
            };
            let Some(delay) = backoff.delay(
                attempt,
                started.elapsed(),
                failure.retry_after,
                rand::random::<f64>(),
            ) else {
                warn!(
                    reason = %reason.as_str(),
                    attempts = attempt + 1,
                    error = %failure.message,
                    "giving up after aws.lambda.retry.timeout.ms"
                );
                return Attempt::GaveUp(failure);
            };
            warn!(
                reason = %reason.as_str(),
                attempt = attempt + 1,
                retry_in_ms = delay.as_millis(),
                error_type = %failure.error_type(),
                error = %failure.message,
                "invocation failed; retrying"
            );
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Attempt::Cancelled,
                () = tokio::time::sleep(delay) => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }

    async fn handle_response(
        &self,
        records: Vec<SourceRecord>,
        invoked: Invoked,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        let config = &self.shared.config;
        if config.lambda.invocation_type == InvocationType::Async {
            // 202: Lambda has queued the batch; nothing to write.
            return self.resolve(&records, Vec::new(), pending).await;
        }
        if let Some(function_error) = invoked.function_error {
            let error = BatchError {
                class: ErrorClass::Function,
                error_type: function_error,
                status_code: invoked.status,
                body: ResultValue::from_body(&invoked.payload),
            };
            return self.batch_error(records, error, pending).await;
        }
        let Some(topic) = &config.reporter.result else {
            return self.resolve(&records, Vec::new(), pending).await;
        };
        let results = outcome::map_response(&invoked.payload, records.len());
        let outcomes = records
            .iter()
            .zip(results)
            .map(|(r, result)| OutcomeRecord {
                topic: Arc::from(topic.name.as_str()),
                key: None,
                value: Some(result.encode(topic.value_format)),
                headers: text_headers(outcome::input_record_headers(r)),
                timestamp: None,
            })
            .collect();
        self.resolve(&records, outcomes, pending).await
    }

    /// A function error, or an invocation error after retries (sync mode):
    /// `behavior.on.error` decides.
    async fn batch_error(
        &self,
        records: Vec<SourceRecord>,
        error: BatchError,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        let config = &self.shared.config;
        let range = offsets_range_of(&records);
        match config.lambda.behavior_on_error {
            BehaviorOnError::Fail => {
                self.shared.fail(format!(
                    "{} error on {} offsets {range} ({}, status {}): {}; behavior.on.error=fail stops the connector, and these records are not committed",
                    error.class.as_str(),
                    self.tp,
                    error.error_type,
                    error.status_code,
                    body_text(&error.body),
                ));
                Err(Stopped)
            }
            BehaviorOnError::Ignore => {
                warn!(
                    offsets = %range,
                    error_class = %error.class.as_str(),
                    error_type = %error.error_type,
                    "function error ignored (behavior.on.error=ignore)"
                );
                self.resolve(&records, Vec::new(), pending).await
            }
            BehaviorOnError::Log => {
                warn!(
                    offsets = %range,
                    error_class = %error.class.as_str(),
                    error_type = %error.error_type,
                    "function error written to the error topic"
                );
                let Some(topic) = &config.reporter.error else {
                    return self.resolve(&records, Vec::new(), pending).await;
                };
                let value = error.body.encode(topic.value_format);
                let outcomes = records
                    .iter()
                    .map(|r| OutcomeRecord {
                        topic: Arc::from(topic.name.as_str()),
                        key: None,
                        value: Some(value.clone()),
                        headers: text_headers(outcome::error_headers(r, &error)),
                        timestamp: None,
                    })
                    .collect();
                self.resolve(&records, outcomes, pending).await
            }
        }
    }

    /// Retries ran out: in sync mode an invocation error, in async mode the
    /// records could not be enqueued with Lambda and go to the DLQ.
    async fn gave_up(
        &self,
        records: Vec<SourceRecord>,
        failure: &InvokeFailure,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        match self.shared.config.lambda.invocation_type {
            InvocationType::Sync => {
                self.batch_error(records, BatchError::invocation(failure), pending)
                    .await
            }
            InvocationType::Async => {
                let dead = records
                    .into_iter()
                    .map(|r| {
                        let dead = DeadLetter {
                            stage: Stage::TaskPut,
                            class_name: SINK_TASK_CLASS.to_string(),
                            exception_class: CONNECT_EXCEPTION.to_string(),
                            message: format!(
                                "Lambda did not accept the event within aws.lambda.retry.timeout.ms: {}: {}",
                                failure.error_type(),
                                failure.message
                            ),
                        };
                        (r, dead)
                    })
                    .collect();
                self.dead_letter(dead, pending).await
            }
        }
    }

    /// Sends records to the DLQ (original key, value, headers, timestamp,
    /// plus `__connect.errors.*`), or stops the connector with
    /// `errors.tolerance=none`.
    async fn dead_letter(
        &self,
        dead: Vec<(SourceRecord, DeadLetter)>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        let config = &self.shared.config;
        let Some(dlq) = &config.errors.dlq else {
            if let Some((r, d)) = dead.first() {
                self.shared.fail(format!(
                    "record {}@{} cannot be processed ({}: {}) and errors.tolerance=none",
                    self.tp,
                    r.offset,
                    d.stage.as_str(),
                    d.message
                ));
            }
            return Err(Stopped);
        };
        let mut records = Vec::with_capacity(dead.len());
        let mut outcomes = Vec::with_capacity(dead.len());
        for (record, d) in dead {
            warn!(offset = record.offset, stage = %d.stage.as_str(), error = %d.message, "record sent to the dead letter queue");
            let mut headers = record.headers.clone();
            if dlq.context_headers {
                let connector = config.name.as_str();
                headers.extend(text_headers(outcome::dlq_headers(
                    &record, connector, self.task, &d,
                )));
            }
            outcomes.push(OutcomeRecord {
                topic: Arc::from(dlq.topic.name.as_str()),
                key: record.key.clone(),
                value: record.value.clone(),
                headers,
                timestamp: record.timestamp,
            });
            records.push(record);
        }
        self.resolve(&records, outcomes, pending).await
    }

    /// Enqueues the outcome records (in order) and hands the batch to the
    /// committer: its offsets are stored once all are acknowledged.
    async fn resolve(
        &self,
        records: &[SourceRecord],
        outcomes: Vec<OutcomeRecord>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        let deliveries: Vec<_> = outcomes
            .into_iter()
            .map(|o| self.shared.producer.send(o))
            .collect();
        let done = try_join_all(deliveries).map(|r| r.map(|_| ())).boxed();
        let offsets = records.iter().map(|r| r.offset).collect();
        pending
            .send(Pending { offsets, done })
            .await
            .map_err(|_| Stopped)
    }
}

/// Waits for each batch's outcomes to be acknowledged, in order, and stores
/// the committable offset as it advances.
async fn commit_loop(
    tp: TopicPartition,
    mut pending: mpsc::Receiver<Pending>,
    store: OffsetStore,
    shared: Arc<Shared>,
) {
    let mut tracker = OffsetTracker::new();
    let mut waiting = FuturesOrdered::new();
    let mut open = true;
    loop {
        tokio::select! {
            biased;
            Some((offsets, result)) = waiting.next(), if !waiting.is_empty() => {
                let offsets: Vec<i64> = offsets;
                if let Err(e) = result {
                    // The outcome cannot be written: stop, and do not commit
                    // these records (or any after them).
                    shared.fail(format!("{e}"));
                    return;
                }
                let mut next = None;
                for o in offsets {
                    match tracker.resolve(o) {
                        Ok(Some(n)) => next = Some(n),
                        Ok(None) => {}
                        Err(e) => warn!(error = %e, "offset tracking"),
                    }
                }
                if let Some(next) = next
                    && let Err(e) = store.store(&tp, next)
                {
                    debug!(error = %e, next, "offset not stored (partition no longer assigned)");
                }
            }
            p = pending.recv(), if open => match p {
                Some(Pending { offsets, done }) => {
                    for o in &offsets {
                        if let Err(e) = tracker.track(*o) {
                            warn!(error = %e, "offset tracking");
                        }
                    }
                    waiting.push_back(done.map(move |r| (offsets, r)));
                }
                None => open = false,
            },
            else => return,
        }
    }
}

fn text_headers(headers: Vec<(&'static str, String)>) -> Vec<(String, Option<Vec<u8>>)> {
    headers
        .into_iter()
        .map(|(k, v)| (k.to_string(), Some(v.into_bytes())))
        .collect()
}

fn offsets_range(batch: &[(SourceRecord, Vec<u8>)]) -> String {
    match (batch.first(), batch.last()) {
        (Some((a, _)), Some((b, _))) => format!("{}..={}", a.offset, b.offset),
        _ => String::new(),
    }
}

fn offsets_range_of(records: &[SourceRecord]) -> String {
    match (records.first(), records.last()) {
        (Some(a), Some(b)) => format!("{}..={}", a.offset, b.offset),
        _ => String::new(),
    }
}

fn body_text(body: &ResultValue) -> String {
    match body {
        ResultValue::Json(v) => v.to_string(),
        ResultValue::Text(t) => t.clone(),
    }
}
