//! Invoking a batch (SPEC §4.1): splitting it when Lambda finds it too
//! large, the one retry layer for invocation failures (backoff with jitter,
//! `Retry-After`, bounded by `aws.lambda.retry.timeout.ms`,
//! cancellation-aware), each attempt holding a slot of the process-wide
//! in-flight limit ([`limit`](super::limit)); and the event source
//! mapping's behaviours for function failures — partial batch responses,
//! bisection, retries, the maximum record age — and the request's trace.

use lambda_sink_core::batch;
use lambda_sink_core::config::Ordering;
use lambda_sink_core::config::{FunctionRef, InvocationType};
use lambda_sink_core::dead_letter::{DeadLetter, FailedBatch};
use lambda_sink_core::disposition::{Disposed, Disposition, RetryReason};
use lambda_sink_core::esm::{self, Envelope, ItemFailures};
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::record::{SourceRecord, TopicPartition, offset_range};
use lambda_sink_core::retry::Backoff;
use lambda_sink_core::route::{
    self, AfterFailure, Finished, FunctionFailure, Invoked, Resolution, Write,
    after_function_failure,
};
use lambda_sink_core::schedule::{self, Lane};
use lambda_sink_core::trace::Carrier;
use std::sync::Arc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::context::{Context, Halt};
use super::limit::Permit;
use super::route::{Router, log_resolved_error};
use crate::clock::epoch_ms;
use crate::metrics::{ResultLabel, TypeLabel};
use crate::otel::{AttemptSpan, BatchTrace};
use lambda_sink_core::journal::{Event, Level};

/// Records with their rendered payload elements.
type Rendered = Vec<(SourceRecord, Vec<u8>)>;

/// A batch still to invoke, and how many times its function error has
/// been retried.
struct Work {
    batch: Rendered,
    retries: u32,
}

/// Records that failed for good, handed back instead of resolved when the
/// connector parks keys (`aws.lambda.on.key.failure=park`): the worker
/// parks their keys, or resolves them as `resolution` says.
pub(super) struct Failed {
    /// The records, in offset order.
    pub(super) records: Vec<SourceRecord>,
    /// How they would be resolved without parking.
    pub(super) resolution: Resolution,
    /// Why they failed, for the operator.
    pub(super) reason: String,
    /// They were invoked; `false`: they were held back because an earlier
    /// record of their key failed in the same batch.
    pub(super) invoked: bool,
}

/// How the function failed (part of) an answered batch.
enum Failure {
    /// `X-Amz-Function-Error`: the whole batch.
    Error,
    /// A partial batch response.
    Items,
    /// A malformed partial batch response.
    Malformed(String),
}

impl Failure {
    fn kind(&self) -> FunctionFailure {
        match self {
            Self::Error => FunctionFailure::Error,
            Self::Items => FunctionFailure::Items,
            Self::Malformed(_) => FunctionFailure::Malformed,
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Error => "function error".into(),
            Self::Items => "the function reported failed records (batchItemFailures): they and the records after them in the batch fail".into(),
            Self::Malformed(reason) => format!("the function's partial batch response is invalid ({reason}): the whole batch failed"),
        }
    }
}

/// Splits off the records older than `max_age` (by their timestamp), each
/// part in offset order.
fn split_expired(batch: Rendered, max_age: std::time::Duration) -> (Rendered, Rendered) {
    let oldest = epoch_ms().saturating_sub(i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX));
    let expired = |r: &SourceRecord| r.timestamp.is_some_and(|t| t < oldest);
    // The usual case: nothing expired, the batch kept as it is.
    if !batch.iter().any(|(r, _)| expired(r)) {
        return (Vec::new(), batch);
    }
    batch.into_iter().partition(|(r, _)| expired(r))
}

/// `resolution` with the invoke count, the function and the failed
/// `records` (the one the function named, `named`, when it did) in ESM's
/// on-failure context, when it sends the records to the DLQ with one.
fn with_context(
    mut resolution: Resolution,
    function: &FunctionRef,
    invokes: u32,
    records: &[SourceRecord],
    named: Option<i64>,
) -> Resolution {
    if let Resolution::Resolved(_, Write::DeadLetters(dead)) = &mut resolution
        && let Some(context) = &mut dead.failure
    {
        context.approximate_invoke_count = invokes;
        context.function = function.to_string();
        context.batch = records
            .first()
            .zip(records.last())
            .map(|(first, last)| FailedBatch {
                size: records.len(),
                first_offset: first.offset,
                last_offset: last.offset,
                failed_offset: named,
            });
    }
    resolution
}

/// The record a function failure names: the first of a partial batch
/// response, or the only record of its batch; `None` when the function
/// failed several records as a whole.
fn named(records: &[SourceRecord], items: bool) -> Option<i64> {
    match records {
        [only] => Some(only.offset),
        [first, ..] if items => Some(first.offset),
        _ => None,
    }
}

/// An answered batch the function failed for good: the answer, how it
/// failed, and what came of the invocation.
struct Failing<'a> {
    invoked: &'a Invoked,
    failure: &'a Failure,
    finished: &'a Result<Invoked, InvokeFailure>,
}

/// `batch` without the records of keys that failed for good earlier in
/// the batch: those are added to `failed`, uninvoked, with their key's
/// resolution.
fn hold_back(batch: Rendered, failed: &mut Vec<Failed>) -> Rendered {
    let lane = |r: &SourceRecord| schedule::lane(Ordering::Key, r.key.as_deref());
    let failing: Vec<(Lane, Resolution)> = failed
        .iter()
        .flat_map(|f| {
            f.records
                .iter()
                .filter_map(lane)
                .map(|l| (l, f.resolution.clone()))
        })
        .collect();
    let mut kept = Vec::with_capacity(batch.len());
    for (record, element) in batch {
        let Some((_, resolution)) =
            lane(&record).and_then(|l| failing.iter().find(|(f, _)| *f == l))
        else {
            kept.push((record, element));
            continue;
        };
        failed.push(Failed {
            records: vec![record],
            resolution: resolution.clone(),
            reason: "an earlier record of its key failed".into(),
            invoked: false,
        });
    }
    kept
}

/// How a batch's invocation is traced.
enum Trace {
    /// Traces off: every attempt carries this (the first traced record's
    /// context as `X-Amzn-Trace-Id`).
    Records(Carrier),
    /// Traces on: a span per attempt, whose context the attempt carries.
    Spans(BatchTrace),
}

/// What came of one invocation attempt.
enum Once {
    /// No retry: this is how the batch's invocation ends.
    Over(Attempt),
    /// It failed in a way a retry may heal.
    Retry(InvokeFailure, RetryReason),
}

/// What came of invoking a batch, retries included.
enum Attempt {
    Done(Invoked),
    Split,
    GaveUp(InvokeFailure),
    Stop(String),
    Cancelled,
}

/// A partition's invoker: its batches through Lambda, resolved by the
/// [`Router`].
pub(super) struct Invoker {
    ctx: Arc<Context>,
    tp: TopicPartition,
    /// The partition's stop: retries and backoffs end on it.
    stop: CancellationToken,
    /// The event around the partition's records with
    /// `aws.lambda.payload.format=esm`.
    envelope: Option<Envelope>,
    router: Router,
    /// Records that fail for good are handed back ([`Failed`]) rather than
    /// resolved: the connector parks keys.
    hands_back: bool,
}

impl Invoker {
    pub(super) fn new(
        ctx: Arc<Context>,
        tp: TopicPartition,
        stop: CancellationToken,
        envelope: Option<Envelope>,
        router: Router,
    ) -> Self {
        Self {
            hands_back: ctx.parking.is_some(),
            ctx,
            tp,
            stop,
            envelope,
            router,
        }
    }

    /// Records an event of this partition's `offsets`.
    fn event(&self, level: Level, event: &'static str, offsets: &str, message: String) {
        self.ctx.events.record(
            Event::new(level, event, message)
                .partition(&self.tp.topic, self.tp.partition)
                .offsets(offsets),
        );
    }

    /// Where records that are not invoked are resolved.
    pub(super) fn router(&self) -> &Router {
        &self.router
    }

    /// Invokes one batch and hands its resolution on: records older than
    /// `aws.lambda.max.record.age.ms` are not invoked, a batch Lambda finds
    /// too large is split, and a batch the function fails (wholly, or from
    /// the first record a partial batch response reports) is bisected and
    /// retried as configured before it is resolved as failed. `permit`, when
    /// given, is the in-flight slot its first invocation goes with.
    ///
    /// When the connector parks keys, records that fail for good are
    /// handed back instead, and so is every later record of their keys in
    /// the batch, uninvoked (a key's records never pass its failed one).
    pub(super) async fn process(
        &self,
        batch: Rendered,
        mut permit: Option<Permit>,
    ) -> Result<Vec<Failed>, Halt> {
        let Some(function) = self
            .ctx
            .config
            .lambda
            .routing
            .function_for(&self.tp.topic)
            .cloned()
        else {
            return Err(Halt::Failed(format!(
                "topic \"{}\" matches topics.regex but has no entry in aws.lambda.topic2function.map; add \"{};<function>\"",
                self.tp.topic, self.tp.topic
            )));
        };
        // A stack keeps halves in order: the first half is processed first.
        let mut work = vec![Work { batch, retries: 0 }];
        let mut failed = Vec::new();
        while let Some(mut next) = work.pop() {
            if !failed.is_empty() {
                next.batch = hold_back(next.batch, &mut failed);
                if next.batch.is_empty() {
                    continue;
                }
            }
            let then = self
                .step(&function, next, permit.take(), &mut failed)
                .await?;
            work.extend(then.into_iter().rev());
        }
        Ok(failed)
    }

    /// Resolves records that failed for good as `resolution` says, or hands
    /// them back when the connector parks keys.
    async fn failed_for_good(
        &self,
        records: Vec<SourceRecord>,
        resolution: Resolution,
        reason: String,
        outcome: &Result<Invoked, InvokeFailure>,
        failed: &mut Vec<Failed>,
    ) -> Result<(), Halt> {
        if self.hands_back {
            failed.push(Failed {
                records,
                resolution,
                reason,
                invoked: true,
            });
            return Ok(());
        }
        log_resolved_error(&records, &resolution, outcome);
        self.router.apply(records, resolution).await
    }

    /// One batch: what is too old resolved, the rest invoked and resolved;
    /// the work that follows from it, in order.
    async fn step(
        &self,
        function: &FunctionRef,
        work: Work,
        permit: Option<Permit>,
        failed: &mut Vec<Failed>,
    ) -> Result<Vec<Work>, Halt> {
        let Work { batch, retries } = work;
        let batch = self.drop_expired(function, batch).await?;
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let range = offset_range(batch.iter().map(|(r, _)| r));
        // Built for each attempt rather than kept: the connector takes the
        // body as an owned Vec, so one copy per attempt is the least there
        // is. With traces on, the attempt's context goes into the elements'
        // trace slots as they are copied.
        let elements = || batch.iter().map(|(_, e)| e.as_slice());
        let body = |traceparent: Option<&str>| match &self.envelope {
            Some(envelope) => envelope.wrap(elements()),
            None => {
                let mut body = batch::request_body(elements());
                if let Some(traceparent) = traceparent {
                    let lens = batch.iter().map(|(_, e)| e.len());
                    batch::fill_trace_slots(&mut body, 1, lens, traceparent);
                }
                body
            }
        };
        let bytes = batch::request_len(batch.len(), batch.iter().map(|(_, e)| e.len()).sum())
            + self.envelope.as_ref().map_or(0, Envelope::overhead);
        debug!(offsets = %range, records = batch.len(), bytes, "invoking");
        let metrics = &self.ctx.metrics;
        metrics.batch_records.observe(batch.len() as f64);
        metrics.batch_bytes.observe(bytes as f64);
        let records = batch.iter().map(|(r, _)| r);
        let mut trace = match &self.ctx.tracer {
            Some(tracer) => Trace::Spans(tracer.batch(function, &self.tp, records, bytes, retries)),
            // One trace per request: the first traced record's.
            None => Trace::Records(Carrier::of_records(records)),
        };
        let finished = match self
            .invoke_with_retry(function, &range, body, &mut trace, permit)
            .await
        {
            Attempt::Done(invoked) => Ok(invoked),
            Attempt::GaveUp(failure) => Err(failure),
            Attempt::Split => return self.split(batch, retries).await,
            Attempt::Stop(reason) => {
                return Err(Halt::Failed(format!(
                    "invoking {function} for {} offsets {range}: {reason}",
                    self.tp
                )));
            }
            Attempt::Cancelled => return Err(Halt::Stopped),
        };
        let _span = match &trace {
            Trace::Spans(spans) => Some(spans.after("write outcomes")),
            Trace::Records(_) => None,
        };
        self.after_answer(function, batch, retries, finished, failed)
            .await
    }

    /// Resolves the records older than `aws.lambda.max.record.age.ms`
    /// without invoking them; the rest.
    async fn drop_expired(
        &self,
        function: &FunctionRef,
        batch: Rendered,
    ) -> Result<Rendered, Halt> {
        let Some(max_age) = self.ctx.config.lambda.max_record_age else {
            return Ok(batch);
        };
        let (expired, fresh) = split_expired(batch, max_age);
        if !expired.is_empty() {
            let records: Vec<SourceRecord> = expired.into_iter().map(|(r, _)| r).collect();
            self.event(
                Level::Warn,
                "expired",
                &offset_range(records.iter()),
                format!(
                    "records older than aws.lambda.max.record.age.ms ({} ms) are not invoked",
                    max_age.as_millis()
                ),
            );
            let resolution =
                route::route(records.len(), Finished::Expired(max_age), &self.ctx.policy);
            let resolution = with_context(resolution, function, 0, &records, None);
            self.router.apply(records, resolution).await?;
        }
        Ok(fresh)
    }

    /// A batch Lambda found too large: its halves, or for a single record,
    /// a dead letter.
    async fn split(&self, mut batch: Rendered, retries: u32) -> Result<Vec<Work>, Halt> {
        if batch.len() > 1 {
            let second = batch.split_off(batch.len() / 2);
            debug!(offsets = %offset_range(batch.iter().map(|(r, _)| r)), "request too large for Lambda: splitting the batch");
            return Ok(vec![
                Work { batch, retries },
                Work {
                    batch: second,
                    retries,
                },
            ]);
        }
        for (record, _) in batch {
            let message = format!(
                "Lambda rejected record {}@{} as too large for one request (RequestTooLargeException)",
                self.tp, record.offset
            );
            self.router
                .dead_letter(record, DeadLetter::task_put(message))
                .await?;
        }
        Ok(Vec::new())
    }

    /// Resolves an answered (or given up) batch; when the function failed
    /// some of its records, what the core's [`after_function_failure`]
    /// says follows: bisect, retry after a backoff, or resolve as failed.
    async fn after_answer(
        &self,
        function: &FunctionRef,
        mut batch: Rendered,
        retries: u32,
        finished: Result<Invoked, InvokeFailure>,
        failed_records: &mut Vec<Failed>,
    ) -> Result<Vec<Work>, Halt> {
        let policy = &self.ctx.policy;
        let failure = match &finished {
            Ok(invoked) => self.function_failure(invoked, &batch),
            Err(_) => None,
        };
        let (Ok(invoked), Some((first, failure))) = (&finished, failure) else {
            let records: Vec<SourceRecord> = batch.into_iter().map(|(r, _)| r).collect();
            self.resolve_whole(function, records, retries, &finished, failed_records)
                .await?;
            return Ok(Vec::new());
        };
        // The records before the first failed one succeeded.
        let mut failed = batch.split_off(first);
        if !batch.is_empty() {
            let records: Vec<SourceRecord> = batch.into_iter().map(|(r, _)| r).collect();
            let ok = route::route(records.len(), Finished::Answered(invoked), policy);
            self.router.apply(records, ok).await?;
        }
        let failed_range = offset_range(failed.iter().map(|(r, _)| r));
        let lambda = &self.ctx.config.lambda;
        let metrics = &self.ctx.metrics;
        match after_function_failure(
            failure.kind(),
            failed.len(),
            retries,
            lambda.bisect_on_function_error,
            lambda.function_error_retries,
        ) {
            AfterFailure::Bisect => {
                // Splitting does not use up a retry, as in ESM.
                let second = failed.split_off(failed.len() / 2);
                self.event(
                    Level::Info,
                    "bisected",
                    &failed_range,
                    "function error: bisecting the batch".into(),
                );
                metrics.bisections.inc();
                Ok(vec![
                    Work {
                        batch: failed,
                        retries,
                    },
                    Work {
                        batch: second,
                        retries,
                    },
                ])
            }
            AfterFailure::Retry => {
                self.wait_to_retry(retries, &failed_range, &failure).await?;
                Ok(vec![Work {
                    batch: failed,
                    retries: retries.saturating_add(1),
                }])
            }
            AfterFailure::Resolve => {
                let records: Vec<SourceRecord> = failed.into_iter().map(|(r, _)| r).collect();
                let failing = Failing {
                    invoked,
                    failure: &failure,
                    finished: &finished,
                };
                self.resolve_failed(function, records, retries, failing, failed_records)
                    .await?;
                Ok(Vec::new())
            }
        }
    }

    /// Resolves a batch that succeeded, or whose invocation gave up (its
    /// retries ran out: failed for good).
    async fn resolve_whole(
        &self,
        function: &FunctionRef,
        records: Vec<SourceRecord>,
        retries: u32,
        finished: &Result<Invoked, InvokeFailure>,
        failed: &mut Vec<Failed>,
    ) -> Result<(), Halt> {
        let policy = &self.ctx.policy;
        let resolution = match finished {
            Ok(invoked) => route::route(records.len(), Finished::Answered(invoked), policy),
            Err(failure) => route::route(records.len(), Finished::GaveUp(failure), policy),
        };
        // An answer with a function error failed the records; an
        // invocation that never got one failed none of them.
        let culprit = finished.as_ref().ok().and_then(|_| named(&records, false));
        let resolution = with_context(resolution, function, retries + 1, &records, culprit);
        match finished {
            Err(failure) => {
                let reason = format!("{}: {}", failure.error_type(), failure.message);
                self.failed_for_good(records, resolution, reason, finished, failed)
                    .await
            }
            Ok(_) => {
                log_resolved_error(&records, &resolution, finished);
                self.router.apply(records, resolution).await
            }
        }
    }

    /// Waits before retrying the function's failure of `range` (retry
    /// `retries + 1`), said in the event log; a stop ends the wait.
    async fn wait_to_retry(
        &self,
        retries: u32,
        range: &str,
        failure: &Failure,
    ) -> Result<(), Halt> {
        let delay = self.retry_delay(retries);
        self.event(
            Level::Warn,
            "retrying",
            range,
            format!(
                "{}; retry {} in {} ms (aws.lambda.function.error.max.retries)",
                failure.describe(),
                retries + 1,
                delay.as_millis()
            ),
        );
        tokio::select! {
            biased;
            () = self.stop.cancelled() => Err(Halt::Stopped),
            () = tokio::time::sleep(delay) => Ok(()),
        }
    }

    /// The wait before function-error retry `retries + 1`
    /// (`aws.lambda.retry.backoff.ms` with jitter), counted.
    fn retry_delay(&self, retries: u32) -> std::time::Duration {
        let lambda = &self.ctx.config.lambda;
        let backoff = Backoff::forever(lambda.retry_backoff, lambda.retry_backoff_max);
        self.ctx.metrics.retried("function_error");
        backoff.delay_forever(retries, rand::random::<f64>())
    }

    /// Resolves records the function failed for good (after the retries
    /// and bisection the configuration allows).
    async fn resolve_failed(
        &self,
        function: &FunctionRef,
        records: Vec<SourceRecord>,
        retries: u32,
        failing: Failing<'_>,
        failed: &mut Vec<Failed>,
    ) -> Result<(), Halt> {
        let Failing {
            invoked,
            failure,
            finished,
        } = failing;
        let how = match failure {
            Failure::Error => Finished::Answered(invoked),
            Failure::Items => Finished::ItemsFailed(invoked),
            Failure::Malformed(reason) => Finished::BadItemFailures(invoked, reason),
        };
        if !matches!(failure, Failure::Error) {
            self.event(
                Level::Warn,
                "function_failed",
                &offset_range(records.iter()),
                format!("{} (after {retries} retries)", failure.describe()),
            );
        }
        let culprit = match failure {
            Failure::Error => named(&records, false),
            Failure::Items => named(&records, true),
            Failure::Malformed(_) => None,
        };
        let resolution = with_context(
            route::route(records.len(), how, &self.ctx.policy),
            function,
            retries + 1,
            &records,
            culprit,
        );
        let reason = format!("{} (after {retries} retries)", failure.describe());
        self.failed_for_good(records, resolution, reason, finished, failed)
            .await
    }

    /// Whether the function failed records of an answered batch, and from
    /// which index on: a function error fails them all; with
    /// `aws.lambda.batch.item.failures`, a partial batch response fails the
    /// first reported record and those after it, and a malformed one all.
    fn function_failure(
        &self,
        invoked: &Invoked,
        batch: &[(SourceRecord, Vec<u8>)],
    ) -> Option<(usize, Failure)> {
        let lambda = &self.ctx.config.lambda;
        if lambda.invocation_type != InvocationType::Sync {
            return None;
        }
        if invoked.function_error.is_some() {
            return Some((0, Failure::Error));
        }
        if !lambda.batch_item_failures {
            return None;
        }
        let offsets: Vec<i64> = batch.iter().map(|(r, _)| r.offset).collect();
        let key = esm::partition_key(&self.tp.topic, self.tp.partition);
        match esm::item_failures(&invoked.payload, &key, &offsets) {
            ItemFailures::None => None,
            ItemFailures::From(first) => Some((first, Failure::Items)),
            ItemFailures::Malformed(reason) => Some((0, Failure::Malformed(reason))),
        }
    }

    /// Invokes with the one retry layer: backoff with jitter, `Retry-After`,
    /// up to `aws.lambda.retry.timeout.ms`. Cancellation-aware: a stop during
    /// a backoff abandons the batch (it was never delivered).
    async fn invoke_with_retry(
        &self,
        function: &FunctionRef,
        range: &str,
        body: impl Fn(Option<&str>) -> Vec<u8>,
        trace: &mut Trace,
        mut permit: Option<Permit>,
    ) -> Attempt {
        let lambda = &self.ctx.config.lambda;
        let backoff = Backoff {
            initial: lambda.retry_backoff,
            max: lambda.retry_backoff_max,
            timeout: lambda.retry_timeout,
        };
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let once = match trace {
                Trace::Records(carrier) => {
                    self.invoke_once(function, body(None), carrier, permit.take(), None)
                        .await
                }
                Trace::Spans(spans) => {
                    let span = spans.attempt(attempt);
                    let body = body(Some(span.traceparent()));
                    let carrier = span.carrier();
                    self.invoke_once(function, body, &carrier, permit.take(), Some(span))
                        .await
                }
            };
            let (failure, reason) = match once {
                Once::Over(over) => return over,
                Once::Retry(failure, reason) => (failure, reason),
            };
            let Some(delay) = backoff.delay(
                attempt,
                started.elapsed(),
                failure.retry_after,
                rand::random::<f64>(),
            ) else {
                self.event(
                    Level::Warn,
                    "gave_up",
                    range,
                    format!(
                        "giving up after aws.lambda.retry.timeout.ms: {} attempts, the last {} ({})",
                        attempt + 1,
                        reason.as_str(),
                        failure.message
                    ),
                );
                return Attempt::GaveUp(failure);
            };
            self.ctx.metrics.retried(reason.as_str());
            if reason == RetryReason::Throttled {
                // An episode of throttling is two events (its start and
                // end); each throttled call is a line of the log only.
                warn!(
                    reason = %reason.as_str(),
                    attempt = attempt + 1,
                    retry_in_ms = delay.as_millis(),
                    error = %failure.message,
                    "invocation failed; retrying"
                );
            } else {
                self.event(
                    Level::Warn,
                    "retrying",
                    range,
                    format!(
                        "invocation failed ({}, {}: {}); retry {} in {} ms",
                        reason.as_str(),
                        failure.error_type(),
                        failure.message,
                        attempt + 1,
                        delay.as_millis()
                    ),
                );
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Attempt::Cancelled,
                () = tokio::time::sleep(delay) => {}
            }
            attempt = attempt.saturating_add(1);
        }
    }

    /// One invocation attempt, holding a slot of the in-flight limit while
    /// its request is out (`permit`, or one it waits for), with its metrics.
    async fn invoke_once(
        &self,
        function: &FunctionRef,
        body: Vec<u8>,
        trace: &Carrier,
        permit: Option<Permit>,
        span: Option<AttemptSpan>,
    ) -> Once {
        let permit = match permit {
            Some(p) => p,
            None => tokio::select! {
                biased;
                () = self.stop.cancelled() => return Once::Over(Attempt::Cancelled),
                p = self.ctx.in_flight.acquire() => p,
            },
        };
        let (lambda, metrics) = (&self.ctx.config.lambda, &self.ctx.metrics);
        let started = std::time::Instant::now();
        let result = self
            .ctx
            .lambda
            .invoke(function, lambda.invocation_type, body, trace)
            .await;
        metrics
            .invocation_duration
            .get_or_create(&TypeLabel {
                r#type: lambda.invocation_type.as_str(),
            })
            .observe(started.elapsed().as_secs_f64());
        let ended = |result: &'static str, invoked: Option<&Invoked>, failure: Option<&str>| {
            metrics
                .invocations
                .get_or_create(&ResultLabel { result })
                .inc();
            if let Some(span) = span {
                let function_error = invoked.and_then(|i| i.function_error.as_deref());
                span.end(result, function_error, failure);
            }
        };
        let failure = match result {
            Ok(invoked) => {
                permit.answered();
                let result = if invoked.function_error.is_some() {
                    "function_error"
                } else {
                    "success"
                };
                ended(result, Some(&invoked), None);
                return Once::Over(Attempt::Done(invoked));
            }
            Err(f) => f,
        };
        let counted = |result| ended(result, None, Some(&failure.message));
        match failure.disposition() {
            Disposition::Split => {
                counted("too_large");
                Once::Over(Attempt::Split)
            }
            // Lambda never dead-letters a whole batch; were it to,
            // stopping is the answer that loses nothing.
            Disposition::Stop(reason) | Disposition::DeadLetter(reason) => {
                counted("config_error");
                Once::Over(Attempt::Stop(reason))
            }
            Disposition::Retry(reason) => {
                counted("retryable_error");
                if reason == RetryReason::Throttled {
                    metrics.throttles.inc();
                    permit.throttled();
                    self.ctx.events.throttled(self.ctx.in_flight.limit());
                }
                // Other failures say nothing about the function's capacity.
                Once::Retry(failure, reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(offsets: &[i64]) -> Vec<SourceRecord> {
        offsets
            .iter()
            .map(|&offset| SourceRecord {
                topic: "t".into(),
                partition: 0,
                offset,
                timestamp: None,
                timestamp_type: lambda_sink_core::record::TimestampType::CreateTime,
                key: None,
                value: None,
                headers: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn the_record_a_function_failure_names() {
        let cases: [(&[i64], bool, Option<i64>); 5] = [
            (&[7], false, Some(7)),
            (&[7], true, Some(7)),
            (&[3, 4, 5], true, Some(3)),
            (&[3, 4, 5], false, None),
            (&[], true, None),
        ];
        for (offsets, items, want) in cases {
            assert_eq!(
                named(&records(offsets), items),
                want,
                "{offsets:?} items {items}"
            );
        }
    }
}
