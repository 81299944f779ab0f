//! The component cases: what the pipeline stores and writes for each thing
//! Lambda, Kafka or the registry can do.

use std::sync::Arc;
use std::time::Duration;

use lambda_sink_core::codec::schema::{Compiled, SchemaType};
use lambda_sink_core::route::Invoked;
use tokio::sync::watch;

use super::*;
use crate::metrics::ReasonLabel;

const MS: Duration = Duration::from_millis(1);

/// A sync function that answers every record with `r<offset>` after 10 ms.
fn echo(_: usize, call: &Call) -> Answer {
    let results: Vec<String> = call
        .offsets
        .iter()
        .map(|o| format!(r#"{{"payload":"r{o}"}}"#))
        .collect();
    Answer::After(10 * MS, ok(&format!("[{}]", results.join(","))))
}

/// A harness whose function answers `{}` to every call once the returned
/// gate opens.
fn gated(extra: &[(&str, &str)]) -> (watch::Sender<bool>, Harness) {
    let (open, gate) = watch::channel(false);
    let h = Setup::new(extra, move |_, _: &Call| {
        Answer::Gated(gate.clone(), ok("{}"))
    })
    .start();
    (open, h)
}

fn offsets_of(records: &[OutcomeRecord]) -> Vec<i64> {
    records
        .iter()
        .map(|r| {
            header(r, "input_record_offset")
                .or_else(|| header(r, "__connect.errors.offset"))
                .expect("an offset header")
                .parse()
                .expect("a numeric offset")
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn results_are_written_in_order_then_offsets_stored() {
    let h = Setup::new(&[("aws.lambda.batch.size", "2")], echo).start();
    h.deliver((0..5).map(|o| record(0, o, "{}")));
    h.stored(0, 5).await;
    assert_eq!(h.calls(), vec![vec![0, 1], vec![2, 3], vec![4]]);
    let results = h.sent("success-component");
    assert_eq!(offsets_of(&results), vec![0, 1, 2, 3, 4]);
    let value = String::from_utf8(results[3].value.clone().unwrap_or_default()).unwrap();
    assert!(value.contains("r3"), "{value}");
    assert_eq!(h.failure(), None);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_batch_stores_nothing_until_lambda_accepts_it() {
    let (open, gate) = watch::channel(false);
    let h = Setup::new(&[], move |n, _| match n {
        0 => Answer::After(MS, failure(429, "TooManyRequestsException")),
        _ => Answer::Gated(gate.clone(), ok("{}")),
    })
    .start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.calls_reach(2).await;
    assert_eq!(h.offset(0), None, "stored while the retry is in flight");
    open.send_replace(true);
    h.stored(0, 3).await;
    assert_eq!(h.calls(), vec![vec![0, 1, 2], vec![0, 1, 2]]);
    assert_eq!(h.ctx.metrics.throttles.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_too_large_batch_splits_down_to_the_record_lambda_refuses() {
    let h = Setup::new(&[], |_, call: &Call| {
        if call.offsets.len() > 1 || call.offsets == [2] {
            Answer::After(MS, failure(413, "RequestTooLargeException"))
        } else {
            echo(0, call)
        }
    })
    .start();
    h.deliver((0..4).map(|o| record(0, o, "{}")));
    h.stored(0, 4).await;
    assert_eq!(
        h.calls(),
        vec![
            vec![0, 1, 2, 3],
            vec![0, 1],
            vec![0],
            vec![1],
            vec![2, 3],
            vec![2],
            vec![3]
        ]
    );
    assert_eq!(offsets_of(&h.sent("success-component")), vec![0, 1, 3]);
    let dead = h.sent("dlq-component");
    assert_eq!(offsets_of(&dead), vec![2]);
    assert_eq!(
        header(&dead[0], "__connect.errors.stage").as_deref(),
        Some("TASK_PUT")
    );
    assert_eq!(dead[0].key.as_deref(), Some(&b"k2"[..]), "the original key");
}

/// A sync function that fails every batch.
fn unhandled(_: usize, _: &Call) -> Answer {
    Answer::After(MS, boom())
}

#[tokio::test(start_paused = true)]
async fn behavior_on_error_fail_stops_the_connector_with_nothing_stored() {
    let h = Setup::new(&[("behavior.on.error", "fail")], unhandled).start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    let why = h.failed().await;
    assert!(why.contains("behavior.on.error=fail"), "{why}");
    assert!(why.contains("offsets 0..=2"), "{why}");
    h.drain(Release::Shutdown).await;
    assert_eq!(h.offset(0), None);
    assert!(lock(&h.outcomes.sent).is_empty());
}

#[tokio::test(start_paused = true)]
async fn behavior_on_error_log_writes_one_error_record_per_input_record() {
    let h = Setup::new(&[("behavior.on.error", "log")], unhandled).start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.stored(0, 3).await;
    let errors = h.sent("error-component");
    assert_eq!(offsets_of(&errors), vec![0, 1, 2]);
    assert_eq!(
        header(&errors[0], "error_type").as_deref(),
        Some("Unhandled")
    );
    assert_eq!(
        header(&errors[0], "error_class").as_deref(),
        Some("function")
    );
    assert!(h.sent("success-component").is_empty());
}

#[tokio::test(start_paused = true)]
async fn behavior_on_error_ignore_writes_nothing_and_moves_on() {
    let h = Setup::new(&[("behavior.on.error", "ignore")], unhandled).start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.stored(0, 3).await;
    assert!(lock(&h.outcomes.sent).is_empty());
}

#[tokio::test(start_paused = true)]
async fn async_mode_writes_no_results_and_dead_letters_what_lambda_never_accepts() {
    let extra = [
        ("aws.lambda.invocation.type", "async"),
        ("aws.lambda.batch.size", "1"),
        ("aws.lambda.retry.timeout.ms", "2000"),
    ];
    let h = Setup::new(&extra, |_, call: &Call| {
        if call.offsets == [1] {
            Answer::After(MS, failure(503, "ServiceException"))
        } else {
            Answer::After(
                MS,
                Ok(Invoked {
                    status: 202,
                    function_error: None,
                    payload: Vec::new(),
                }),
            )
        }
    })
    .start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.stored(0, 3).await;
    assert!(h.sent("success-component").is_empty());
    let dead = h.sent("dlq-component");
    assert_eq!(offsets_of(&dead), vec![1]);
    let message = header(&dead[0], "__connect.errors.exception.message").unwrap_or_default();
    assert!(message.contains("ServiceException"), "{message}");
    assert!(
        h.calls().iter().filter(|c| **c == [1]).count() > 1,
        "retried first"
    );
}

#[tokio::test(start_paused = true)]
async fn an_outcome_that_cannot_be_written_stops_the_connector_with_nothing_stored() {
    let mut setup = Setup::new(&[], echo);
    setup.refuse = vec!["success-component".into()];
    let h = setup.start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    let why = h.failed().await;
    assert!(
        why.contains("cannot write to topic success-component"),
        "{why}"
    );
    h.drain(Release::Shutdown).await;
    assert_eq!(h.offset(0), None);
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_backoff_abandons_the_batch_uncommitted() {
    let h = Setup::new(&[], |_, _: &Call| {
        Answer::After(MS, failure(429, "TooManyRequestsException"))
    })
    .start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.calls_reach(2).await;
    h.stop.cancel();
    h.drain(Release::Shutdown).await;
    assert_eq!(h.calls().len(), 2, "no call after the stop");
    assert_eq!(h.offset(0), None);
    assert_eq!(h.failure(), None, "a requested stop is no failure");
    assert!(lock(&h.outcomes.sent).is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_registry_outage_delays_records_and_never_dead_letters_them() {
    let extra = [
        ("input.data.format", "AVRO"),
        ("schema.registry.url", "http://127.0.0.1:1"),
    ];
    let mut setup = Setup::new(&extra, echo);
    let schema = Compiled::compile(SchemaType::Avro, r#""int""#, &[]).expect("an Avro schema");
    setup.schemas = Some(Arc::new(FakeSchemas {
        outage: 3,
        lookups: Mutex::new(0),
        schema: Arc::new(schema),
    }));
    let h = setup.start();
    // Confluent's framing: magic 0, schema id 1, then Avro's zigzag 1.
    let mut r = record(0, 0, "");
    r.value = Some(vec![0, 0, 0, 0, 1, 2]);
    h.deliver([r]);
    h.stored(0, 1).await;
    assert_eq!(h.calls(), vec![vec![0]]);
    assert!(h.sent("dlq-component").is_empty());
    let retries = h
        .ctx
        .metrics
        .retries
        .get_or_create(&ReasonLabel { reason: "registry" })
        .get();
    assert_eq!(retries, 3);
}

#[tokio::test(start_paused = true)]
async fn a_rebalance_mid_batch_finishes_the_batch_and_stores_its_offsets() {
    let (open, h) = gated(&[]);
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.calls_reach(1).await;
    let drain = drain_on_thread(h.handler.clone(), h.handler.partitions(), Release::Revoked);
    open.send_replace(true);
    drain.await.expect("drain ran");
    assert_eq!(h.offset(0), Some(3), "stored before the drain returned");
    assert!(h.handler.partitions().is_empty());
    assert!(!h.ctx.abandoned());
}

#[tokio::test(start_paused = true)]
async fn lost_partitions_drop_in_flight_work_at_once() {
    let (_open, h) = gated(&[]);
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.calls_reach(1).await;
    h.drain(Release::Lost).await;
    assert!(h.handler.partitions().is_empty());
    assert_eq!(h.offset(0), None);
}

#[tokio::test(start_paused = true)]
async fn partitions_progress_independently() {
    let (_open, gate) = watch::channel(false);
    let h = Setup::new(&[], move |_, call: &Call| {
        if call.offsets.first() == Some(&100) {
            Answer::Gated(gate.clone(), ok("{}"))
        } else {
            echo(0, call)
        }
    })
    .start();
    h.deliver([record(1, 100, "{}")]);
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.stored(0, 3).await;
    assert_eq!(
        h.offset(1),
        None,
        "partition 1 waits for its own function call"
    );
}

#[tokio::test(start_paused = true)]
async fn the_bounded_channel_counts_what_the_worker_has_not_taken() {
    let (open, h) = gated(&[("max.poll.records", "10"), ("aws.lambda.batch.size", "2")]);
    let reported: Vec<usize> = (0..10)
        .map(|o| h.handler.deliver(record(0, o, "{}")))
        .collect();
    assert_eq!(
        reported.last(),
        Some(&10),
        "the tenth record fills the buffer"
    );
    h.calls_reach(1).await;
    h.idle().await;
    let tp = TopicPartition {
        topic: Arc::from(TOPIC),
        partition: 0,
    };
    assert_eq!(
        h.handler.buffered(&tp),
        6,
        "the worker took one batch and queued the next, no more"
    );
    open.send_replace(true);
    h.stored(0, 10).await;
    assert_eq!(h.handler.buffered(&tp), 0);
}

/// Calls that overlapped in time and share a key, for the assertion below.
pub(super) fn shared_keys_in_flight(spans: &[fakes::Span]) -> Vec<(Vec<i64>, Vec<i64>)> {
    let mut clashes = Vec::new();
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let overlap = a.started < b.ended && b.started < a.ended;
            let ctx = a
                .call
                .keys
                .iter()
                .flatten()
                .any(|k| b.call.keys.contains(&Some(k.clone())));
            if overlap && ctx {
                clashes.push((a.call.offsets.clone(), b.call.offsets.clone()));
            }
        }
    }
    clashes
}

#[tokio::test(start_paused = true)]
async fn key_mode_runs_batches_of_one_partition_at_once() {
    let (open, h) = gated(&[
        ("aws.lambda.ordering", "key"),
        ("aws.lambda.max.in.flight.per.partition", "4"),
        ("aws.lambda.batch.size", "2"),
    ]);
    h.deliver((0..12).map(|o| record(0, o, "{}")));
    h.calls_reach(4).await;
    h.idle().await;
    assert_eq!(
        h.calls(),
        vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]],
        "four batches of distinct keys in flight, the fifth waits for a slot"
    );
    assert_eq!(h.offset(0), None, "nothing is resolved yet");
    open.send_replace(true);
    h.stored(0, 12).await;
    assert_eq!(
        offsets_of(&h.sent("success-component")).len(),
        12,
        "one result per record"
    );
}

#[tokio::test(start_paused = true)]
async fn key_mode_holds_a_key_back_until_its_batch_resolves() {
    let (open, h) = gated(&[
        ("aws.lambda.ordering", "key"),
        ("aws.lambda.max.in.flight.per.partition", "4"),
        ("aws.lambda.batch.size", "2"),
    ]);
    let keys = ["a", "a", "b", "a", "c"];
    h.deliver(
        keys.iter()
            .enumerate()
            .map(|(o, k)| keyed(0, o as i64, Some(k), "{}")),
    );
    h.calls_reach(2).await;
    h.idle().await;
    assert_eq!(
        h.calls(),
        vec![vec![0, 1], vec![2, 4]],
        "3 (key a) waits for the batch holding a; 4 (key c) passes it"
    );
    open.send_replace(true);
    h.stored(0, 5).await;
    assert_eq!(h.calls()[2], vec![3]);
    assert!(shared_keys_in_flight(&lock(&h.lambda.spans)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn none_mode_runs_one_key_concurrently() {
    let (open, h) = gated(&[
        ("aws.lambda.ordering", "none"),
        ("aws.lambda.max.in.flight.per.partition", "3"),
        ("aws.lambda.batch.size", "1"),
    ]);
    h.deliver((0..3).map(|o| keyed(0, o, Some("same"), "{}")));
    h.calls_reach(3).await;
    open.send_replace(true);
    h.stored(0, 3).await;
}

#[tokio::test(start_paused = true)]
async fn the_watermark_waits_for_the_slowest_earlier_batch() {
    // Calls answer in reverse order: 0 after 30 ms, 1 after 20, 2 after 10.
    let h = Setup::new(
        &[
            ("aws.lambda.ordering", "key"),
            ("aws.lambda.batch.size", "1"),
        ],
        |n, _: &Call| Answer::After(MS * (30 - 10 * n as u32), ok("{}")),
    )
    .start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    h.sent_reach(2).await;
    // Their acknowledgements reach the committer, which must store nothing.
    h.idle().await;
    assert_eq!(
        offsets_of(&h.sent("success-component")),
        vec![2, 1],
        "the later batches resolved first"
    );
    assert_eq!(h.offset(0), None, "offset 0 is unresolved: nothing stored");
    h.stored(0, 3).await;
}

#[tokio::test(start_paused = true)]
async fn a_failure_in_key_mode_stores_nothing_past_it() {
    // behavior.on.error=fail: the first batch fails after the second resolved.
    let h = Setup::new(
        &[
            ("aws.lambda.ordering", "key"),
            ("aws.lambda.batch.size", "1"),
            ("behavior.on.error", "fail"),
        ],
        |n, _: &Call| match n {
            0 => Answer::After(30 * MS, boom()),
            _ => Answer::After(10 * MS, ok("{}")),
        },
    )
    .start();
    h.deliver((0..3).map(|o| record(0, o, "{}")));
    let reason = h.failed().await;
    assert!(reason.contains("offsets 0..=0"), "{reason}");
    h.drain(Release::Shutdown).await;
    assert_eq!(h.offset(0), None, "1 and 2 resolved, but 0 did not");
}

/// A function with 8 concurrent executions, called by one partition that
/// may run 32 batches at once: the adaptive limit finds the capacity.
async fn against_capacity(adaptive: &str) -> (usize, usize, usize) {
    let h = Setup::new(
        &[
            ("aws.lambda.ordering", "none"),
            ("aws.lambda.max.in.flight.per.partition", "32"),
            ("aws.lambda.max.in.flight", "32"),
            ("aws.lambda.adaptive.concurrency", adaptive),
            ("aws.lambda.batch.size", "1"),
            ("aws.lambda.retry.backoff.ms", "5"),
            ("aws.lambda.retry.backoff.max.ms", "20"),
            ("max.poll.records", "1000"),
        ],
        |_, _: &Call| Answer::Capacity {
            limit: 8,
            latency: 20 * MS,
        },
    )
    .start();
    h.deliver((0..800).map(|o| record(0, o, "{}")));
    h.stored(0, 800).await;
    let calls = h.calls().len();
    let throttled = h.lambda.throttled.load(std::sync::atomic::Ordering::SeqCst);
    (calls, throttled, h.ctx.in_flight.limit())
}

#[tokio::test(start_paused = true)]
async fn throttling_lowers_the_limit_to_the_functions_capacity() {
    let (calls, throttled, limit) = against_capacity("true").await;
    let share = throttled as f64 / calls as f64;
    assert!(share < 0.1, "{throttled} of {calls} calls throttled");
    assert!((6..=9).contains(&limit), "limit {limit}, capacity 8");
    let (calls, throttled, limit) = against_capacity("false").await;
    assert_eq!(limit, 32, "not adaptive: the limit stays");
    assert!(
        throttled as f64 / calls as f64 > 0.3,
        "without adaptation most calls are throttled: {throttled} of {calls}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_records_traceparent_becomes_the_requests_x_ray_trace_id() {
    let h = Setup::new(&[("aws.lambda.batch.size", "2")], echo).start();
    let mut traced = record(0, 1, "{}");
    traced.headers.push((
        "traceparent".into(),
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_vec()),
    ));
    h.deliver([record(0, 0, "{}"), traced, record(0, 2, "{}")]);
    h.stored(0, 3).await;
    let traces: Vec<Option<String>> = h
        .lambda
        .calls
        .borrow()
        .iter()
        .map(|c| c.trace.xray.clone())
        .collect();
    assert_eq!(
        traces,
        [
            Some(
                "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1".into()
            ),
            None
        ]
    );
}

/// More batches of a partition may run than the process-wide limit allows:
/// a batch waiting for a slot holds no key, so the batch cut when a slot
/// frees is full. (Cutting batches before they had a slot left the keys
/// they held ineligible, and the batches after them went out short.)
#[tokio::test(start_paused = true)]
async fn key_mode_cuts_full_batches_when_the_in_flight_limit_binds() {
    let h = Setup::new(
        &[
            ("aws.lambda.ordering", "key"),
            ("aws.lambda.max.in.flight.per.partition", "10"),
            ("aws.lambda.max.in.flight", "2"),
            ("aws.lambda.batch.size", "5"),
            ("max.poll.records", "1000"),
        ],
        |_, _: &Call| Answer::After(10 * MS, ok("{}")),
    )
    .start();
    let keys: Vec<String> = (0..20).map(|k| format!("k{k}")).collect();
    h.deliver((0..400).map(|o| keyed(0, o, Some(&keys[o as usize % 20]), "{}")));
    h.stored(0, 400).await;
    let sizes: Vec<usize> = h.calls().iter().map(Vec::len).collect();
    // The stream's last records may go in short batches, one per slot.
    let (body, tail) = sizes.split_at(sizes.len().saturating_sub(2));
    assert!(
        body.iter().all(|&n| n == 5),
        "short batches before the end: {sizes:?} (tail {tail:?})"
    );
    assert!(shared_keys_in_flight(&lock(&h.lambda.spans)).is_empty());
}

/// With traces on, each attempt is a client span linked to the batch's
/// traced records' producers, its context in every element's
/// `traceparent` and in the request's X-Ray header and client context; the
/// outcome write is the last attempt's child.
#[tokio::test(start_paused = true)]
async fn each_attempt_is_a_span_whose_context_the_request_carries() {
    use lambda_sink_core::trace::Carrier;
    use opentelemetry::trace::SpanKind;
    use opentelemetry_sdk::trace::{InMemorySpanExporterBuilder, SdkTracerProvider};
    let exporter = InMemorySpanExporterBuilder::new().build();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let mut setup = Setup::new(
        &[("aws.lambda.batch.size", "3")],
        |n, call: &Call| match n {
            0 => Answer::After(MS, failure(429, "TooManyRequestsException")),
            _ => echo(n, call),
        },
    );
    setup.tracer = Some(crate::otel::Tracer::of(&provider));
    let h = setup.start();
    let producer = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut traced = record(0, 1, "{}");
    traced
        .headers
        .push(("traceparent".into(), Some(producer.as_bytes().to_vec())));
    h.deliver([record(0, 0, "{}"), traced, record(0, 2, "{}")]);
    h.stored(0, 3).await;
    let spans = exporter.get_finished_spans().unwrap();
    let attempts: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("invoke "))
        .collect();
    let calls = h.lambda.calls.borrow().clone();
    assert_eq!((attempts.len(), calls.len()), (2, 2), "{spans:#?}");
    for (n, (span, call)) in attempts.iter().zip(&calls).enumerate() {
        let context = &span.span_context;
        let traceparent = format!("00-{}-{}-01", context.trace_id(), context.span_id());
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_eq!(
            call.traceparents,
            vec![Some(traceparent.clone()); 3],
            "attempt {n}: every element carries the attempt's context"
        );
        assert_eq!(call.trace, Carrier::of_span(&traceparent, Some("")));
        let links: Vec<String> = span
            .links
            .iter()
            .map(|l| format!("{}-{}", l.span_context.trace_id(), l.span_context.span_id()))
            .collect();
        assert_eq!(links, ["4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"]);
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attribute("lambda_sink.attempt"), Some(n.to_string()));
        assert_eq!(
            attribute("messaging.batch.message_count").as_deref(),
            Some("3")
        );
        let result = if n == 0 { "retryable_error" } else { "success" };
        assert_eq!(attribute("lambda_sink.result").as_deref(), Some(result));
    }
    assert_ne!(
        attempts[0].span_context.trace_id(),
        attempts[1].span_context.trace_id(),
        "each attempt begins a trace of its own, linked to the producers"
    );
    let outcomes: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "write outcomes")
        .collect();
    assert_eq!(outcomes.len(), 1, "{spans:#?}");
    assert_eq!(
        outcomes[0].parent_span_id,
        attempts[1].span_context.span_id()
    );
    assert_eq!(
        outcomes[0].span_context.trace_id(),
        attempts[1].span_context.trace_id()
    );
}

/// The event log tells what happened without a line per throttled call: a
/// throttling episode is an event when it starts and one when it has been
/// quiet long enough, with what it came to; a dead letter names its task,
/// partition and offset.
#[tokio::test(start_paused = true)]
async fn the_event_log_tells_a_throttling_episode_and_a_dead_letter() {
    use lambda_sink_core::journal::{Level, QUIET_MS, Query};
    let h = Setup::new(&[], |n, call: &Call| {
        if n == 0 {
            Answer::After(MS, failure(429, "TooManyRequestsException"))
        } else if call.offsets.len() > 1 || call.offsets == [2] {
            Answer::After(MS, failure(413, "RequestTooLargeException"))
        } else {
            echo(n, call)
        }
    })
    .start();
    h.deliver((0..4).map(|o| record(0, o, "{}")));
    h.stored(0, 4).await;
    let events = |level| {
        h.ctx.events.query(&Query {
            level,
            ..Query::default()
        })
    };
    let warned = events(Level::Warn);
    let kinds: Vec<&str> = warned.iter().map(|e| e.event.as_ref()).collect();
    assert_eq!(kinds, ["throttling_started", "dead_letter"], "{warned:#?}");
    let dead = &warned[1];
    assert_eq!(
        (
            dead.task,
            dead.topic.as_deref(),
            dead.partition,
            dead.offsets.as_deref()
        ),
        (Some(0), Some(TOPIC), Some(0), Some("2"))
    );
    assert!(
        !events(Level::Info)
            .iter()
            .any(|e| e.event == "throttling_ended"),
        "not over while recent"
    );
    // The quiet time passes (the paused clock moves on).
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(QUIET_MS).unwrap() + 1_000,
    ))
    .await;
    let ended: Vec<_> = events(Level::Info)
        .into_iter()
        .filter(|e| e.event == "throttling_ended")
        .collect();
    assert_eq!(ended.len(), 1, "{ended:#?}");
    assert!(
        ended[0].message.contains("1 throttled invocations"),
        "{}",
        ended[0].message
    );
}
