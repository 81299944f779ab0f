//! Parked keys in a partition worker (`aws.lambda.on.key.failure=park`;
//! the rules are the core's [`park`](lambda_sink_core::park) module, what
//! the workers share is [`Parking`]): the parked set a partition's owner
//! rebuilds from the parked topic when it starts ([`rebuild`]), parking the
//! keys of records that failed for good ([`park_failed`]) and releasing a
//! parked key's records ([`release`]).
//!
//! The partition worker owns its [`Parked`] set and the scheduler's parked
//! lanes, and changes both only in its scheduling loop, so a key is parked
//! in the scheduler before the batch that failed it lets its lane go, and
//! flows again only once none of its records is parked.

use std::time::Duration;

use lambda_sink_core::config::Ordering;
use lambda_sink_core::failure::InvokeFailure;
use lambda_sink_core::journal::{Event, Level};
use lambda_sink_core::park::{Parked, Refused, Release};
use lambda_sink_core::record::{SourceRecord, TopicPartition, offset_range};
use lambda_sink_core::retry::Backoff;
use lambda_sink_core::route::{self, Finished, Resolution};
use lambda_sink_core::schedule::{self, Lane};
use tracing::warn;

use super::context::{Context, Halt};
use super::decode::Item;
use super::invoke::{Failed, Invoker};
use super::parking::Parking;
use super::route::{Router, log_resolved_error};
use crate::error::Fault;

/// The lane of a record's key (`None`: no key, never parked).
pub(super) fn lane_of(record: &SourceRecord) -> Option<Lane> {
    schedule::lane(Ordering::Key, record.key.as_deref())
}

/// The parked set of `tp` as the parked topic holds it, read again while
/// Kafka is unavailable (a stop ends the wait); counted against the
/// bounds. A topic that holds what cannot be a parked record stops the
/// connector.
pub(super) async fn rebuild(
    ctx: &Context,
    parking: &Parking,
    tp: &TopicPartition,
    now: i64,
) -> Result<Parked, Halt> {
    let backoff = Backoff::forever(Duration::from_secs(1), Duration::from_secs(30));
    let mut attempt = 0;
    let entries = loop {
        match parking.store.load(tp).await {
            Ok(entries) => break entries,
            // A record lambda-sink did not write, or cannot read: nothing
            // of the partition may run past what it does not know.
            Err(e) if e.fault() == Fault::Setup => {
                return Err(Halt::Failed(format!(
                    "{tp}: its parked keys cannot be rebuilt: {e}"
                )));
            }
            Err(e) => {
                let delay = backoff.delay_forever(attempt, rand::random::<f64>());
                warn!(partition = %tp, error = %e, retry_in_ms = delay.as_millis(), "cannot read the parked topic yet; retrying");
                attempt += 1;
                tokio::select! {
                    biased;
                    () = ctx.stop.cancelled() => return Err(Halt::Stopped),
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    };
    let parked = Parked::rebuild(entries, |key| schedule::lane(Ordering::Key, Some(key)), now);
    let keys = parked.keys().count();
    if keys > 0 {
        parking.add(keys, parked.records());
        ctx.events.record(
            Event::new(
                Level::Info,
                "keys_parked",
                format!(
                    "{keys} keys of this partition are parked ({} records in {}); retrying them now",
                    parked.records(),
                    parking.topic
                ),
            )
            .partition(&tp.topic, tp.partition),
        );
    }
    Ok(parked)
}

/// A key parked by a batch: the worker parks its lane before the batch
/// lets it go.
pub(super) struct NewlyParked {
    pub(super) lane: Lane,
    pub(super) records: Vec<SourceRecord>,
    pub(super) reason: String,
}

/// A key's records that failed for good, with how they would be resolved
/// without parking and why they failed.
type KeyFailure = (Vec<SourceRecord>, Resolution, String);

/// Parks the keys of records a batch failed for good (`failed`), each
/// key's records in offset order; records without a key, and keys beyond
/// `aws.lambda.park.max.keys`, are resolved as they would be without
/// parking.
///
/// # Errors
/// When parking would exceed `aws.lambda.park.max.records`, or writing
/// fails.
pub(super) async fn park_failed(
    ctx: &Context,
    router: &Router,
    tp: &TopicPartition,
    failed: Vec<Failed>,
) -> Result<Vec<NewlyParked>, Halt> {
    let Some(parking) = &ctx.parking else {
        return Ok(Vec::new());
    };
    // Each key's records, with the first failure's resolution and reason,
    // keys in the order they failed (the first to fail is parked first
    // when the bound leaves room for few).
    let mut keys: Vec<(Lane, KeyFailure)> = Vec::new();
    for f in failed {
        let mut unkeyed = Vec::new();
        for r in f.records {
            let Some(lane) = lane_of(&r) else {
                unkeyed.push(r);
                continue;
            };
            match keys.iter_mut().find(|(l, _)| *l == lane) {
                Some((_, (records, _, _))) => records.push(r),
                None => keys.push((lane, (vec![r], f.resolution.clone(), f.reason.clone()))),
            }
        }
        if !unkeyed.is_empty() {
            router.apply(unkeyed, f.resolution).await?;
        }
    }
    let mut parked = Vec::with_capacity(keys.len());
    for (lane, (mut records, resolution, reason)) in keys {
        records.sort_by_key(|r| r.offset);
        let range = offset_range(records.iter());
        match parking.admit(true, records.len()) {
            Ok(()) => {
                router.park(&records, &[], &reason).await?;
                ctx.events.record(
                    Event::new(
                        Level::Warn,
                        "key_parked",
                        format!(
                            "key {} parked ({reason}): its records go to {} until it succeeds; the partition's other keys flow on",
                            key_text(records.first().and_then(|r| r.key.as_deref())),
                            parking.topic
                        ),
                    )
                    .partition(&tp.topic, tp.partition)
                    .offsets(&range),
                );
                parked.push(NewlyParked {
                    lane,
                    records,
                    reason,
                });
            }
            Err(Refused::TooManyKeys) => {
                ctx.events.record(
                    Event::new(
                        Level::Warn,
                        "park_full",
                        format!(
                            "key {} not parked: aws.lambda.park.max.keys ({}) keys are parked; its records are resolved as without parking ({reason})",
                            key_text(records.first().and_then(|r| r.key.as_deref())),
                            parking.max.0
                        ),
                    )
                    .partition(&tp.topic, tp.partition)
                    .offsets(&range),
                );
                router.apply(records, resolution).await?;
            }
            Err(Refused::TooManyRecords) => return Err(too_many_records(parking, tp, &range)),
        }
    }
    Ok(parked)
}

/// Parks records of a parked key that reached the front of its lane:
/// written to the parked topic behind the key's earlier records.
///
/// # Errors
/// When parking would exceed `aws.lambda.park.max.records`.
pub(super) fn admit_more(
    parking: &Parking,
    tp: &TopicPartition,
    records: &[SourceRecord],
) -> Result<(), Halt> {
    parking
        .admit(false, records.len())
        .map_err(|_| too_many_records(parking, tp, &offset_range(records.iter())))
}

fn too_many_records(parking: &Parking, tp: &TopicPartition, range: &str) -> Halt {
    Halt::Failed(format!(
        "{tp} offsets {range}: their key is parked, but aws.lambda.park.max.records ({}) records are parked already; they can neither be parked nor invoked ahead of their key's parked records. Raise aws.lambda.park.max.records, or fix the function so parked keys are released",
        parking.max.1
    ))
}

/// A key for messages: UTF-8 text quoted, other bytes in hex.
pub(super) fn key_text(key: Option<&[u8]>) -> String {
    let Some(key) = key else {
        return "(null)".into();
    };
    match std::str::from_utf8(key) {
        Ok(text) if !text.chars().any(char::is_control) => format!("\"{text}\""),
        _ => format!(
            "0x{}",
            key.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ),
    }
}

/// How a release ended: the offsets resolved, and why the rest failed
/// again (`None`: none failed).
pub(super) struct ReleaseEnd {
    pub(super) lane: Lane,
    pub(super) resolved: Vec<i64>,
    pub(super) failed: Option<String>,
    pub(super) last: bool,
}

/// Releases a parked key's first records (`release`, decoded as `items`):
/// invoked in offset order through the releasing `invoker` — their
/// outcomes written and their parked entries released — up to the first
/// that fails again, which stays parked with those after it; on the last
/// release it is resolved as failed instead. A skipped key's records are
/// resolved as failed without an invocation.
pub(super) async fn release(
    ctx: &Context,
    invoker: &Invoker,
    release: Release,
    items: Vec<Item>,
    last_error: String,
) -> Result<ReleaseEnd, Halt> {
    let Some(parking) = &ctx.parking else {
        return Err(Halt::Failed("releasing a key while parking is off".into()));
    };
    let mut end = ReleaseEnd {
        lane: release.lane,
        resolved: Vec::new(),
        failed: None,
        last: release.last,
    };
    if release.skip {
        end.resolved = release.records.iter().map(|r| r.offset).collect();
        give_up(ctx, invoker.router(), release.records, &last_error).await?;
        parking.released("gave_up");
        return Ok(end);
    }
    let mut segment = Vec::new();
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.next() {
        let alone = match item {
            Item::Ready { record, element } => {
                segment.push((record, element));
                None
            }
            other => Some(other),
        };
        // A run of records to invoke ends at one that is not, or at the end.
        let ends = alone.is_some() || items.peek().is_none_or(|i| !i.invokes());
        if ends && !segment.is_empty() {
            let offsets: Vec<i64> = segment.iter().map(|(r, _)| r.offset).collect();
            let failed = invoker.process(std::mem::take(&mut segment), None).await?;
            let outcome = settle(invoker.router(), failed, release.last).await?;
            end.resolved
                .extend(offsets.into_iter().filter(|o| !outcome.parked.contains(o)));
            if let Some(reason) = outcome.reason {
                if !release.last
                    && let Some(first) = &outcome.first
                {
                    // Counted where every owner and every worker reads it.
                    let attempts = release.attempts.saturating_add(1);
                    invoker
                        .router()
                        .retried(first, &reason, release.parked_at, attempts)
                        .await?;
                }
                end.failed = Some(reason);
                break;
            }
        }
        match alone {
            Some(Item::Dead { record, dead }) => {
                let offset = record.offset;
                invoker.router().dead_letter(record, *dead).await?;
                end.resolved.push(offset);
            }
            Some(Item::Filtered { record }) => {
                let offset = record.offset;
                invoker.router().filtered(record).await?;
                end.resolved.push(offset);
            }
            _ => {}
        }
    }
    parking.released(match (&end.failed, release.last) {
        (None, _) => "released",
        (Some(_), false) => "failed",
        (Some(_), true) => "gave_up",
    });
    Ok(end)
}

/// What a released run of records left: the offsets still parked (the
/// first of them, whose parked entry counts the key's failed retries), and
/// why they failed.
struct Settled {
    parked: Vec<i64>,
    first: Option<SourceRecord>,
    reason: Option<String>,
}

/// Settles what failed in a release: on the last release the records that
/// were invoked and failed are resolved as failed (those held back behind
/// them stay parked, for the give-up that follows); otherwise everything
/// that failed stays parked.
async fn settle(router: &Router, failed: Vec<Failed>, last: bool) -> Result<Settled, Halt> {
    let mut settled = Settled {
        parked: Vec::new(),
        first: None,
        reason: None,
    };
    for f in failed {
        if settled.reason.is_none() {
            settled.reason = Some(f.reason.clone());
        }
        if last && f.invoked {
            router.apply(f.records, f.resolution).await?;
        } else {
            settled.parked.extend(f.records.iter().map(|r| r.offset));
            if let Some(r) = f.records.first()
                && settled
                    .first
                    .as_ref()
                    .is_none_or(|first| r.offset < first.offset)
            {
                settled.first = Some(r.clone());
            }
        }
    }
    Ok(settled)
}

/// Resolves a given-up key's records as failed, without an invocation: as
/// a batch whose retries ran out (`behavior.on.error`, or the DLQ with
/// `aws.lambda.on.failure=dlq`).
async fn give_up(
    ctx: &Context,
    router: &Router,
    records: Vec<SourceRecord>,
    last_error: &str,
) -> Result<(), Halt> {
    let failure = InvokeFailure {
        status: None,
        code: Some("ParkedKeyGaveUp".into()),
        message: format!(
            "the key was parked and its retries ran out (aws.lambda.park.max.attempts): {last_error}"
        ),
        retry_after: None,
        transport: None,
    };
    let resolution = route::route(records.len(), Finished::GaveUp(&failure), &ctx.policy);
    log_resolved_error(&records, &resolution, &Err(failure));
    router.apply(records, resolution).await
}
