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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, try_join_all};
use futures::stream::{FuturesOrdered, StreamExt};
use lambda_sink_core::batch::{self, BatchLimits, Element};
use lambda_sink_core::codec::schema::Compiled;
use lambda_sink_core::codec::schemaless;
use lambda_sink_core::codec::wire::{self, SchemaRef};
use lambda_sink_core::config::{BehaviorOnError, DataFormat, InvocationType};
use lambda_sink_core::offsets::OffsetTracker;
use lambda_sink_core::outcome::{
    self, BatchError, DeadLetter, Disposition, ErrorClass, InvokeFailure, ResultValue, RetryReason,
    Stage,
};
use lambda_sink_core::payload;
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::retry::Backoff;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use super::{Buffered, Shared};
use crate::kafka::consumer::OffsetStore;
use crate::kafka::producer::{OutcomeRecord, ProduceError};
use crate::lambda::invoke::Invoked;
use crate::metrics::{ReasonLabel, ResultLabel, TypeLabel};
use crate::registry::RegistryError;

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

/// A decoded key or value (borrowing the record's bytes where they are the
/// JSON itself), or why the record goes to the DLQ.
enum Decoded<'r> {
    Json(Option<Cow<'r, [u8]>>),
    Dead(DeadLetter),
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
    buffered: Buffered,
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
        buffered: Buffered,
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
        let mut queue: VecDeque<Item> = VecDeque::with_capacity(self.limits.max_records);
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
                let Ok(item) = self.prepare(record).await else {
                    return;
                };
                queue.push_back(item);
                oldest = Some(Instant::now());
            }
            if self.top_up(&mut queue).await.is_err() {
                return;
            }
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
                    let Ok(item) = self.prepare(record).await else {
                        return;
                    };
                    queue.push_back(item);
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
    async fn top_up(&mut self, queue: &mut VecDeque<Item>) -> Result<(), Stopped> {
        while queue.len() < self.limits.max_records {
            match self.records.try_recv() {
                Ok(record) => queue.push_back(self.prepare(record).await?),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Decodes a record into its payload element, or its dead letter.
    /// `Err(Stopped)` when asked to stop while waiting for the registry.
    async fn prepare(&self, record: SourceRecord) -> Result<Item, Stopped> {
        self.buffered.taken();
        let config = &self.shared.config;
        let key = match self
            .decode(
                config.key_format,
                record.key.as_deref(),
                Stage::KeyConverter,
                &record,
            )
            .await?
        {
            Decoded::Json(json) => json,
            Decoded::Dead(dead) => return Ok(Item::Dead { record, dead }),
        };
        let value = match self
            .decode(
                config.value_format,
                record.value.as_deref(),
                Stage::ValueConverter,
                &record,
            )
            .await?
        {
            Decoded::Json(json) => json,
            Decoded::Dead(dead) => return Ok(Item::Dead { record, dead }),
        };
        let element = payload::render_element(
            &record,
            key.as_deref(),
            value.as_deref(),
            config.lambda.include_headers,
        );
        if !self.limits.fits_alone(element.len()) {
            let dead = DeadLetter::task_put(format!(
                "record {}@{} renders to a {}-byte payload element, larger than aws.lambda.max.payload.bytes ({}) allows for one request",
                self.tp,
                record.offset,
                element.len(),
                self.limits.max_bytes
            ));
            return Ok(Item::Dead { record, dead });
        }
        Ok(Item::Ready { record, element })
    }

    /// Decodes a key or value (`None` = null) by its input format.
    async fn decode<'r>(
        &self,
        format: DataFormat,
        bytes: Option<&'r [u8]>,
        stage: Stage,
        record: &SourceRecord,
    ) -> Result<Decoded<'r>, Stopped> {
        let Some(bytes) = bytes else {
            return Ok(Decoded::Json(None));
        };
        let dead = |reason: &str| {
            let what = if stage == Stage::KeyConverter {
                "key"
            } else {
                "value"
            };
            let message = format!(
                "{what} of {}@{} is not valid {format}: {reason}",
                self.tp, record.offset
            );
            Decoded::Dead(DeadLetter::converter(stage, format, message))
        };
        let config = &self.shared.config;
        if !format.needs_registry() {
            return Ok(
                match schemaless::render(format, config.lambda.converter, bytes) {
                    Ok(json) => Decoded::Json(Some(json)),
                    Err(e) => dead(&e.message),
                },
            );
        }
        // A record written by Apicurio's serializer in its headers mode may
        // even parse as a Confluent header; whatever fails, say so.
        let dead = |reason: &str| match wire::apicurio_headers_hint(
            &record.headers,
            stage == Stage::KeyConverter,
        ) {
            Some(hint) => dead(&format!("{reason}; {hint}")),
            None => dead(reason),
        };
        let framed = match wire::parse(bytes) {
            Ok(f) => f,
            Err(e) => return Ok(dead(&e.message)),
        };
        let compiled = match self.schema(framed.schema).await? {
            Ok(c) => c,
            Err(reason) => return Ok(dead(&reason)),
        };
        let actual = compiled.schema_type().format();
        if actual != format {
            return Ok(dead(&format!(
                "schema {} is a {actual} schema",
                framed.schema
            )));
        }
        Ok(
            match compiled.decode(framed.payload, config.decimal_format) {
                Ok(json) => Decoded::Json(Some(Cow::Owned(json))),
                Err(e) => dead(&e.message),
            },
        )
    }

    /// The writer schema, waiting (with backoff) while the registry cannot
    /// be reached: a registry outage delays records, it never dead-letters
    /// them. `Ok(Err(reason))`: the schema does not exist or cannot be used.
    async fn schema(&self, schema: SchemaRef) -> Result<Result<Arc<Compiled>, String>, Stopped> {
        let Some(registry) = &self.shared.registry else {
            self.shared
                .fail("a Schema Registry format is configured without schema.registry.url".into());
            return Err(Stopped);
        };
        let mut delay = Duration::from_millis(100);
        loop {
            match registry.schema(schema).await {
                Ok(compiled) => return Ok(Ok(compiled)),
                Err(RegistryError::NotFound(m) | RegistryError::Invalid(m)) => return Ok(Err(m)),
                Err(RegistryError::Unauthorized(m)) => {
                    self.shared.fail(m);
                    return Err(Stopped);
                }
                Err(RegistryError::Unavailable(m)) => {
                    self.shared
                        .metrics
                        .retries
                        .get_or_create(&ReasonLabel { reason: "registry" })
                        .inc();
                    warn!(schema = %schema, retry_in_ms = delay.as_millis(), error = %m, "Schema Registry unavailable; the record waits and is retried");
                    tokio::select! {
                        biased;
                        () = self.stop.cancelled() => return Err(Stopped),
                        () = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
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
            let range = offsets_range(batch.iter().map(|(r, _)| r));
            // Built for each attempt rather than cloned: most succeed at once.
            let body = || batch::request_body(batch.iter().map(|(_, e)| e.as_slice()));
            let bytes = batch::request_len(batch.len(), batch.iter().map(|(_, e)| e.len()).sum());
            debug!(offsets = %range, records = batch.len(), bytes, "invoking");
            let metrics = &self.shared.metrics;
            metrics.batch_records.observe(batch.len() as f64);
            metrics.batch_bytes.observe(bytes as f64);
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
                    let message = format!(
                        "Lambda rejected record {}@{} as too large for one request (RequestTooLargeException)",
                        self.tp, r.offset
                    );
                    (r, DeadLetter::task_put(message))
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
        body: impl Fn() -> Vec<u8>,
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
            let metrics = &self.shared.metrics;
            metrics.in_flight.inc();
            let started_attempt = std::time::Instant::now();
            let result = self
                .shared
                .invoker
                .invoke(function, lambda.invocation_type, body())
                .await;
            metrics.in_flight.dec();
            drop(permit);
            metrics
                .invocation_duration
                .get_or_create(&TypeLabel {
                    r#type: lambda.invocation_type.as_str(),
                })
                .observe(started_attempt.elapsed().as_secs_f64());
            let attempt_result = |result: &'static str| {
                metrics
                    .invocations
                    .get_or_create(&ResultLabel { result })
                    .inc();
            };
            let failure = match result {
                Ok(invoked) => {
                    attempt_result(if invoked.function_error.is_some() {
                        "function_error"
                    } else {
                        "success"
                    });
                    return Attempt::Done(invoked);
                }
                Err(f) => f,
            };
            let reason = match outcome::classify(&failure) {
                Disposition::Split => {
                    attempt_result("too_large");
                    return Attempt::Split;
                }
                Disposition::Stop(reason) => {
                    attempt_result("config_error");
                    return Attempt::Stop(reason);
                }
                Disposition::Retry(reason) => {
                    attempt_result("retryable_error");
                    if reason == RetryReason::Throttled {
                        metrics.throttles.inc();
                    }
                    reason
                }
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
            metrics
                .retries
                .get_or_create(&ReasonLabel {
                    reason: reason.as_str(),
                })
                .inc();
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
            return self
                .resolve(&records, "accepted", Vec::new(), pending)
                .await;
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
            return self.resolve(&records, "success", Vec::new(), pending).await;
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
        self.resolve(&records, "success", outcomes, pending).await
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
        let range = offsets_range(records.iter());
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
                self.resolve(&records, "ignored", Vec::new(), pending).await
            }
            BehaviorOnError::Log => {
                warn!(
                    offsets = %range,
                    error_class = %error.class.as_str(),
                    error_type = %error.error_type,
                    "function error written to the error topic"
                );
                let outcome = match error.class {
                    ErrorClass::Function => "function_error",
                    ErrorClass::Invocation => "invocation_error",
                };
                let Some(topic) = &config.reporter.error else {
                    return self.resolve(&records, outcome, Vec::new(), pending).await;
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
                self.resolve(&records, outcome, outcomes, pending).await
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
                let message = format!(
                    "Lambda did not accept the event within aws.lambda.retry.timeout.ms: {}: {}",
                    failure.error_type(),
                    failure.message
                );
                let dead = records
                    .into_iter()
                    .map(|r| (r, DeadLetter::task_put(message.clone())))
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
        self.resolve(&records, "dlq", outcomes, pending).await
    }

    /// Enqueues the outcome records (in order) and hands the batch to the
    /// committer: its offsets are stored once all are acknowledged.
    async fn resolve(
        &self,
        records: &[SourceRecord],
        outcome: &'static str,
        outcomes: Vec<OutcomeRecord>,
        pending: &mpsc::Sender<Pending>,
    ) -> Result<(), Stopped> {
        self.shared.metrics.resolved(outcome, records.len());
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

/// `first..=last` of records in offset order, for logs and messages.
fn offsets_range<'a>(mut records: impl DoubleEndedIterator<Item = &'a SourceRecord>) -> String {
    match (records.next(), records.next_back()) {
        (Some(a), Some(b)) => format!("{}..={}", a.offset, b.offset),
        (Some(a), None) => format!("{}..={}", a.offset, a.offset),
        _ => String::new(),
    }
}

fn body_text(body: &ResultValue) -> String {
    match body {
        ResultValue::Json(v) => v.to_string(),
        ResultValue::Text(t) => t.clone(),
    }
}
