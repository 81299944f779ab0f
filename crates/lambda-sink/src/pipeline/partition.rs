//! One partition's worker: builds its stages — the [`Decoder`], the
//! [`Invoker`] (which resolves through the [`Router`]), the [`Committer`]
//! and its commit loop — and runs the loop that takes the partition's
//! records in offset order, queues their payload elements and starts
//! batches.
//!
//! Which queued records may go next is the core's [`Scheduler`]
//! (`aws.lambda.ordering`): in `partition` mode one batch is in flight at a
//! time and batches, dead letters and their outcome records go in offset
//! order; in `key` and `none` mode up to
//! `aws.lambda.max.in.flight.per.partition` batches run at once, each on its
//! own tokio task. Batches are cut by `aws.lambda.batch.size`,
//! `aws.lambda.max.payload.bytes` and `aws.lambda.linger.ms`, and only once
//! they have a slot of the process-wide in-flight limit. The worker
//! queues at most that many batches' worth of records ahead
//! (`batch.size × max.in.flight.per.partition`), beyond the partition's
//! bounded channel.
//!
//! With `aws.lambda.on.key.failure=park` the loop also owns the partition's
//! parked keys ([`park`](super::park)): rebuilt from the parked topic
//! before the first batch, a key parked by a batch before the batch lets
//! its lane go, a parked key's queued records written to the parked topic,
//! and a parked key's releases started when due, as batches of their own.

use std::sync::Arc;

use lambda_sink_core::batch::{BatchLimits, Element, request_len};
use lambda_sink_core::config::PayloadFormat;
use lambda_sink_core::esm::Envelope;
use lambda_sink_core::park::{AfterRelease, Parked, Release};
use lambda_sink_core::record::{SourceRecord, TopicPartition};
use lambda_sink_core::schedule::{Lane, Plan, Scheduler, Taken};
use lambda_sink_core::transaction::Lease;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, info_span};

use super::commit::Committer;
use super::context::{Context, Halt};
use super::decode::{Decoder, Item};
use super::inbox::Inbox;
use super::invoke::Invoker;
use super::limit::Permit;
use super::park::{self, NewlyParked, ReleaseEnd};
use super::parking::{Order, Parking};
use super::ports::Offsets;
use super::route::{Mode, Router};
use crate::clock::Ticking;
use lambda_sink_core::journal::{Event, Level};

/// Whether the batch `plan` describes goes to the function (and so needs an
/// in-flight slot).
fn invokes(queue: &Scheduler<Queued>, plan: Plan) -> bool {
    plan.items > 0 && !plan.parked && queue.get(plan.first).is_some_and(|q| q.item.invokes())
}

/// A queued item and when it arrived (for `aws.lambda.linger.ms`).
struct Queued {
    item: Item,
    at: Instant,
}

impl Element for Queued {
    fn element_len(&self) -> Option<usize> {
        self.item.element_len()
    }
}

/// What a batch's task hands back: the lanes it held and how it ended.
type Finished = (Vec<Lane>, Result<Done, Halt>);

/// How a batch's task ended, as far as the scheduling loop must know.
enum Done {
    /// Its records are resolved, or parked; these keys are parked now.
    Resolved(Vec<NewlyParked>),
    /// A release of a parked key ended.
    Released(ReleaseEnd),
}

/// What came of a batch's task, as the scheduling loop sees it.
type Joined = Result<Finished, tokio::task::JoinError>;

/// One partition's worker, not yet running.
pub(super) struct Worker {
    tp: TopicPartition,
    /// Its hold on the partition, with which it stores offsets.
    lease: Lease,
    task: usize,
    ctx: Arc<Context>,
    store: Arc<dyn Offsets>,
    stop: CancellationToken,
}

impl Worker {
    pub(super) fn new(
        tp: TopicPartition,
        lease: Lease,
        task: usize,
        ctx: Arc<Context>,
        store: Arc<dyn Offsets>,
        stop: CancellationToken,
    ) -> Self {
        Self {
            tp,
            lease,
            task,
            ctx,
            store,
            stop,
        }
    }

    /// Runs until stopped; returns once every batch in flight has finished
    /// and every pending outcome is acknowledged and its offset stored. A
    /// failure stops the connector.
    pub(super) async fn run(self, inbox: Inbox) {
        let Self {
            tp,
            lease,
            task,
            ctx,
            store,
            stop,
        } = self;
        let config = &ctx.config;
        let envelope = (config.lambda.payload_format == PayloadFormat::Esm).then(|| {
            Envelope::new(
                config.lambda.esm_event_source_arn.as_deref(),
                &config.kafka.bootstrap_servers.join(","),
                &tp.topic,
                tp.partition,
            )
        });
        // The envelope's bytes count against every request of the
        // partition, so a request stays within the limit byte for byte.
        let limits = BatchLimits {
            max_records: config.lambda.batch_size,
            max_bytes: config
                .lambda
                .max_payload_bytes
                .saturating_sub(envelope.as_ref().map_or(0, Envelope::overhead)),
        };
        let slots = config.lambda.max_in_flight_per_partition;
        let span = info_span!(
            "partition",
            connector = %config.name,
            topic = %tp.topic,
            partition = tp.partition
        );
        let (committer, committing) =
            Committer::start((tp.clone(), lease, task), &ctx, &stop, store, slots);
        let invoker = |mode| {
            let router = Router::new(ctx.clone(), tp.clone(), task, committer.clone(), mode);
            Arc::new(Invoker::new(
                ctx.clone(),
                tp.clone(),
                stop.clone(),
                envelope.clone(),
                router,
            ))
        };
        let (invoker, releaser) = (
            invoker(Mode::Commit),
            ctx.parking.is_some().then(|| invoker(Mode::Release)),
        );
        // The commit loop ends once every clone of the committer is gone:
        // the schedule holds the last.
        let schedule = Schedule {
            decoder: Decoder::new(ctx.clone(), stop.clone(), limits),
            invoker,
            releaser,
            committer,
            limits,
            tp: tp.clone(),
            ctx: ctx.clone(),
            stop: stop.clone(),
            clock: Ticking::start(),
        };
        tokio::join!(
            schedule.run(inbox).instrument(span.clone()),
            committing.instrument(span)
        );
    }
}

/// The scheduling loop of a running worker, owning its stages: when it
/// ends they are dropped, and the commit loop finishes what they handed
/// over.
struct Schedule {
    ctx: Arc<Context>,
    stop: CancellationToken,
    limits: BatchLimits,
    tp: TopicPartition,
    decoder: Decoder,
    invoker: Arc<Invoker>,
    /// Releases parked keys' records (`aws.lambda.on.key.failure=park`).
    releaser: Option<Arc<Invoker>>,
    committer: Committer,
    /// When parked keys are due.
    clock: Ticking,
}

impl Schedule {
    /// Runs the scheduling loop, with the partition's parked keys rebuilt
    /// first when keys are parked (and their count given back after).
    async fn run(self, inbox: Inbox) {
        let mut queue: Scheduler<Queued> = Scheduler::new(self.ctx.config.lambda.ordering);
        let Some(parking) = &self.ctx.parking else {
            self.schedule(inbox, queue, &mut Parked::default()).await;
            return;
        };
        // Exactly-once, the lease begins first: once the partition's
        // committed offset is read, the previous owner's last transaction
        // (its parked topic writes with it) is settled, and the parked
        // topic read next agrees with the offset consumed from.
        let rebuilt = match self.committer.begin().await {
            Ok(()) => park::rebuild(&self.ctx, parking, &self.tp, self.clock.now_ms()).await,
            Err(halt) => Err(halt),
        };
        let mut parked = match rebuilt {
            Ok(parked) => parked,
            Err(halt) => {
                self.halted(halt);
                return;
            }
        };
        for (lane, _) in parked.keys() {
            queue.park(*lane);
        }
        parking.oldest(&self.tp, parked.oldest());
        self.schedule(inbox, queue, &mut parked).await;
        parking.free(parked.keys().count(), parked.records());
        parking.oldest(&self.tp, None);
    }

    /// The scheduling loop: queue delivered records, start every batch the
    /// scheduler allows and every release of a parked key that is due, and
    /// on a stop or failure (which stops the connector at once) wait for
    /// the batches in flight.
    #[allow(
        clippy::too_many_lines,
        reason = "one select over every source of work (records, finished batches, lingering, releases due, slots, orders); its arms are easier to check side by side"
    )]
    async fn schedule(&self, mut inbox: Inbox, mut queue: Scheduler<Queued>, parked: &mut Parked) {
        let lambda = &self.ctx.config.lambda;
        let (slots, linger) = (lambda.max_in_flight_per_partition, lambda.linger);
        let ahead = self.limits.max_records.saturating_mul(slots);
        let mut running: JoinSet<Finished> = JoinSet::new();
        let mut open = true;
        let mut stopping = false;
        // An in-flight slot taken while a batch to invoke waited for one.
        let mut held = None;
        let mut orders = self.ctx.orders.follow();
        let parking = self.ctx.parking.is_some();
        loop {
            let mut linger_until = None;
            let mut waiting = false;
            while !stopping && running.len() < slots && !queue.is_empty() {
                // The next batch's plan, when lingering needs it; asked
                // for at most once per batch.
                let plan = (open && !linger.is_zero()).then(|| queue.plan(self.limits));
                if let Some(plan) = plan {
                    let due = queue.get(plan.first).map_or_else(Instant::now, |q| q.at) + linger;
                    if plan.items > 0 && !plan.full && due > Instant::now() {
                        linger_until = Some(due);
                        break;
                    }
                }
                // A batch to invoke is cut only once it has an in-flight
                // slot: while it waits it holds no key, and when it goes it
                // takes every record that became eligible meanwhile.
                let permit = held.take().or_else(|| self.ctx.in_flight.try_acquire());
                if permit.is_none()
                    && invokes(&queue, plan.unwrap_or_else(|| queue.plan(self.limits)))
                {
                    waiting = true;
                    break;
                }
                let taken = queue.take(self.limits);
                if taken.items.is_empty() {
                    held = permit;
                    break;
                }
                if taken.parked {
                    held = permit;
                    if let Err(halt) = self.start_parked(&mut running, taken, parked) {
                        stopping |= self.halted(halt);
                    }
                    continue;
                }
                self.start(&mut running, taken, permit);
            }
            // A slot nothing could use now goes back to the others.
            drop(held.take());
            let release_at = match stopping {
                true => None,
                false => match self.start_due_releases(&mut running, parked, slots).await {
                    Ok(at) => at,
                    Err(halt) => {
                        stopping |= self.halted(halt);
                        None
                    }
                },
            };
            if running.is_empty() && (stopping || (!open && queue.is_empty())) {
                return;
            }
            let room = !stopping && open && queue.len() < ahead;
            tokio::select! {
                biased;
                () = self.stop.cancelled(), if !stopping => stopping = true,
                permit = self.ctx.in_flight.acquire(), if waiting => held = Some(permit),
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Err(halt) = self.finished(&mut queue, parked, done) {
                        stopping |= self.halted(halt);
                    }
                }
                () = sleep_until(linger_until), if linger_until.is_some() => {}
                () = sleep_until(release_at), if release_at.is_some() => {}
                () = orders.changed(), if parking && !stopping => {
                    self.carry_out(&orders.new_orders(), &queue, parked);
                }
                record = inbox.recv(), if room => match record {
                    Some(record) => {
                        if let Err(halt) = self.take_in(&mut queue, record, &mut inbox, ahead).await {
                            stopping |= self.halted(halt);
                        }
                    }
                    None => open = false,
                },
            }
        }
    }

    /// Carries out the operator's `orders` for keys parked in this
    /// partition: each such key is due now (a skip resolves its records
    /// as failed, without an invocation); the loop starts its release.
    fn carry_out(&self, orders: &[Order], queue: &Scheduler<Queued>, parked: &mut Parked) {
        let now = self.clock.now_ms();
        for order in orders {
            if order.topic != *self.tp.topic || order.partition != self.tp.partition {
                continue;
            }
            let Some(lane) = queue.lane(Some(&order.key)) else {
                continue;
            };
            if parked.expedite(lane, now, order.skip) {
                let (event, what) = if order.skip {
                    (
                        "key_skip_ordered",
                        "skipped on request: its parked records are resolved as failed now, without an invocation",
                    )
                } else {
                    ("key_retry_ordered", "retried now on request")
                };
                self.ctx.events.record(
                    Event::new(
                        Level::Info,
                        event,
                        format!("key {} {what}", park::key_text(Some(&order.key))),
                    )
                    .partition(&self.tp.topic, self.tp.partition),
                );
            }
        }
    }

    /// Queues `record` and the records that arrived with it, while the
    /// queue holds fewer than `ahead`.
    async fn take_in(
        &self,
        queue: &mut Scheduler<Queued>,
        record: SourceRecord,
        inbox: &mut Inbox,
        ahead: usize,
    ) -> Result<(), Halt> {
        // Records taken together arrived together: one clock read.
        let now = Instant::now();
        let mut next = Some(record);
        while let Some(record) = next {
            self.enqueue(queue, record, now).await?;
            next = if queue.len() < ahead {
                inbox.try_recv()
            } else {
                None
            };
        }
        Ok(())
    }

    /// Decodes a record and queues it in its lane, tracking its offset.
    async fn enqueue(
        &self,
        queue: &mut Scheduler<Queued>,
        record: SourceRecord,
        at: Instant,
    ) -> Result<(), Halt> {
        self.committer.track(record.offset, record.timestamp);
        let lane = queue.lane(record.key.as_deref());
        let item = self.decoder.prepare(record).await?;
        queue.push(lane, Queued { item, at });
        Ok(())
    }

    /// Takes in a finished batch — parks the keys it parked, or what a
    /// release did — then frees its lanes; its halt, if it ended in one.
    fn finished(
        &self,
        queue: &mut Scheduler<Queued>,
        parked: &mut Parked,
        done: Joined,
    ) -> Result<(), Halt> {
        let (lanes, result) =
            done.map_err(|e| Halt::Failed(format!("a batch ended abnormally: {e}")))?;
        let result = match (result, &self.ctx.parking) {
            (Ok(Done::Resolved(newly)), Some(parking)) => {
                let parking_more = !newly.is_empty();
                for n in newly {
                    // Parked before the batch lets the lane go: the key's
                    // next records can only go to the parked topic.
                    let now = self.clock.now_ms();
                    parked.park(n.lane, n.records, &n.reason, now, &parking.policy);
                    queue.park(n.lane);
                }
                if parking_more {
                    parking.oldest(&self.tp, parked.oldest());
                }
                Ok(())
            }
            (Ok(Done::Released(end)), Some(parking)) => {
                self.released(queue, parked, parking, end);
                parking.oldest(&self.tp, parked.oldest());
                Ok(())
            }
            (Ok(_), None) => Ok(()),
            (Err(halt), _) => Err(halt),
        };
        queue.release(&lanes);
        result
    }

    /// Takes in how a release of a parked key ended: the key flows again
    /// once none of its records is parked, or waits for its next retry.
    fn released(
        &self,
        queue: &mut Scheduler<Queued>,
        parked: &mut Parked,
        parking: &Parking,
        end: ReleaseEnd,
    ) {
        let key = park::key_text(parked.get(end.lane).map(|k| k.key.as_slice()));
        let failed = end.failed.clone();
        let after = parked.finish_release(
            end.lane,
            &end.resolved,
            end.failed,
            end.last,
            self.clock.now_ms(),
            &parking.policy,
            rand::random::<f64>(),
        );
        parking.free(
            usize::from(after == AfterRelease::Unparked),
            end.resolved.len(),
        );
        let event = |level, name, message: String| {
            self.ctx.events.record(
                Event::new(level, name, message).partition(&self.tp.topic, self.tp.partition),
            );
        };
        match (after, failed) {
            (AfterRelease::Unparked, _) => {
                queue.unpark(end.lane);
                event(
                    Level::Info,
                    "key_released",
                    format!(
                        "key {key} released: its parked records are resolved, in order; it flows again"
                    ),
                );
            }
            (AfterRelease::RetryAt(at), Some(reason)) => event(
                Level::Warn,
                "key_retry_failed",
                format!(
                    "key {key} failed again and stays parked ({reason}); next retry in {} ms",
                    at.saturating_sub(self.clock.now_ms()).max(0)
                ),
            ),
            (AfterRelease::More, Some(reason)) => event(
                Level::Warn,
                "key_gave_up",
                format!(
                    "key {key} failed its last retry (aws.lambda.park.max.attempts): its parked records are resolved as failed ({reason})"
                ),
            ),
            _ => {}
        }
    }

    /// Writes a parked key's queued records (`taken`) to the parked topic,
    /// behind its earlier parked records, on a task of its own.
    fn start_parked(
        &self,
        running: &mut JoinSet<Finished>,
        taken: Taken<Queued>,
        parked: &mut Parked,
    ) -> Result<(), Halt> {
        let Some(parking) = &self.ctx.parking else {
            return Err(Halt::Failed("a parked key while parking is off".into()));
        };
        let Taken { items, lanes, .. } = taken;
        let Some(&lane) = lanes.first() else {
            return Ok(());
        };
        let (again, new): (Vec<SourceRecord>, Vec<SourceRecord>) = items
            .into_iter()
            .map(|q| q.item.into_record())
            .partition(|r| parked.holds(lane, r.offset));
        park::admit_more(parking, &self.tp, &new)?;
        let reason = parked
            .get(lane)
            .map(|k| k.last_error.clone())
            .unwrap_or_default();
        parked.park(
            lane,
            new.clone(),
            &reason,
            self.clock.now_ms(),
            &parking.policy,
        );
        let invoker = self.invoker.clone();
        let job = async move {
            let result = invoker.router().park(&new, &again, &reason).await;
            (lanes, result.map(|()| Done::Resolved(Vec::new())))
        };
        running.spawn(job.instrument(Span::current()));
        Ok(())
    }

    /// Starts the releases of parked keys that are due, within the
    /// partition's `slots`; when the next one is due, if none can start now.
    async fn start_due_releases(
        &self,
        running: &mut JoinSet<Finished>,
        parked: &mut Parked,
        slots: usize,
    ) -> Result<Option<Instant>, Halt> {
        let Some(parking) = &self.ctx.parking else {
            return Ok(None);
        };
        while running.len() < slots {
            let now = self.clock.now_ms();
            let Some(release) = parked.start_release(now, self.limits.max_records, &parking.policy)
            else {
                return Ok(parked.next_due().map(|due| self.clock.instant(due)));
            };
            self.start_release(running, release, parked).await?;
        }
        Ok(None)
    }

    /// Starts `release` of a parked key's records on a task of its own
    /// (decoded again: the worker decodes in its loop).
    async fn start_release(
        &self,
        running: &mut JoinSet<Finished>,
        mut release: Release,
        parked: &Parked,
    ) -> Result<(), Halt> {
        let Some(releaser) = self.releaser.clone() else {
            return Err(Halt::Failed("a release while parking is off".into()));
        };
        let mut items = Vec::with_capacity(release.records.len());
        if !release.skip {
            // Decoded into the items the release invokes; a skip resolves
            // the records themselves.
            let records = std::mem::take(&mut release.records);
            let mut bytes = 0;
            for record in records {
                let item = self.decoder.prepare(record).await?;
                // Within the request limit, as any batch: the records that
                // do not fit stay parked for the release right after.
                if let Some(len) = item.element_len() {
                    if !items.is_empty()
                        && request_len(items.len() + 1, bytes + len) > self.limits.max_bytes
                    {
                        break;
                    }
                    bytes += len;
                }
                items.push(item);
            }
        }
        let last_error = parked
            .get(release.lane)
            .map(|k| k.last_error.clone())
            .unwrap_or_default();
        let ctx = self.ctx.clone();
        let job = async move {
            let end = park::release(&ctx, &releaser, release, items, last_error).await;
            (Vec::new(), end.map(Done::Released))
        };
        running.spawn(job.instrument(Span::current()));
        Ok(())
    }

    /// Takes in a halt; returns `true` (the loop stops). A failure stops the
    /// connector at once, so the other batches in flight stop retrying too.
    fn halted(&self, halt: Halt) -> bool {
        if let Halt::Failed(reason) = halt {
            self.ctx.fail(reason);
        }
        true
    }

    /// Starts a batch (or a dead letter) on its own task; a batch's first
    /// invocation goes with `permit`.
    fn start(&self, running: &mut JoinSet<Finished>, taken: Taken<Queued>, permit: Option<Permit>) {
        let invoker = self.invoker.clone();
        let (ctx, tp) = (self.ctx.clone(), self.tp.clone());
        let Taken { items, lanes, .. } = taken;
        let job = async move {
            // The scheduler takes a dead letter or a filtered record alone.
            let mut parked_now = Vec::new();
            let mut batch = Vec::with_capacity(items.len());
            let mut alone = None;
            for q in items {
                match q.item {
                    Item::Ready { record, element } => batch.push((record, element)),
                    single => alone = Some(single),
                }
            }
            let result = match alone {
                Some(Item::Dead { record, dead }) => {
                    drop(permit);
                    invoker.router().dead_letter(record, *dead).await
                }
                Some(Item::Filtered { record }) => {
                    drop(permit);
                    invoker.router().filtered(record).await
                }
                _ => match invoker.process(batch, permit).await {
                    Ok(failed) if failed.is_empty() => Ok(()),
                    Ok(failed) => park::park_failed(&ctx, invoker.router(), &tp, failed)
                        .await
                        .map(|newly| {
                            parked_now = newly;
                        }),
                    Err(halt) => Err(halt),
                },
            };
            (lanes, result.map(|()| Done::Resolved(parked_now)))
        };
        running.spawn(job.instrument(Span::current()));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
