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

use std::sync::Arc;

use lambda_sink_core::batch::{BatchLimits, Element};
use lambda_sink_core::config::PayloadFormat;
use lambda_sink_core::esm::Envelope;
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
use super::ports::Offsets;
use super::route::Router;

/// Whether the batch `plan` describes goes to the function (and so needs an
/// in-flight slot).
fn invokes(queue: &Scheduler<Queued>, plan: Plan) -> bool {
    plan.items > 0 && queue.get(plan.first).is_some_and(|q| q.item.invokes())
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
type Finished = (Vec<Lane>, Result<(), Halt>);

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
        let (committer, committing) = Committer::start(tp.clone(), lease, task, &ctx, store, slots);
        let router = Router::new(ctx.clone(), tp.clone(), task, committer.clone());
        let schedule = Schedule {
            decoder: Decoder::new(ctx.clone(), stop.clone(), limits),
            invoker: Arc::new(Invoker::new(
                ctx.clone(),
                tp,
                stop.clone(),
                envelope,
                router,
            )),
            committer,
            limits,
            ctx,
            stop,
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
    decoder: Decoder,
    invoker: Arc<Invoker>,
    committer: Committer,
}

impl Schedule {
    /// The scheduling loop: queue delivered records, start every batch the
    /// scheduler allows, and on a stop or failure (which stops the
    /// connector at once) wait for the batches in flight.
    async fn run(self, mut inbox: Inbox) {
        let lambda = &self.ctx.config.lambda;
        let (slots, linger) = (lambda.max_in_flight_per_partition, lambda.linger);
        let ahead = self.limits.max_records.saturating_mul(slots);
        let mut queue: Scheduler<Queued> = Scheduler::new(lambda.ordering);
        let mut running: JoinSet<Finished> = JoinSet::new();
        let mut open = true;
        let mut stopping = false;
        // An in-flight slot taken while a batch to invoke waited for one.
        let mut held = None;
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
                self.start(&mut running, taken, permit);
            }
            // A slot nothing could use now goes back to the others.
            drop(held.take());
            if running.is_empty() && (stopping || (!open && queue.is_empty())) {
                return;
            }
            let room = !stopping && open && queue.len() < ahead;
            tokio::select! {
                biased;
                () = self.stop.cancelled(), if !stopping => stopping = true,
                permit = self.ctx.in_flight.acquire(), if waiting => held = Some(permit),
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Err(halt) = self.finished(&mut queue, done) {
                        stopping |= self.halted(halt);
                    }
                }
                () = sleep_until(linger_until), if linger_until.is_some() => {}
                record = inbox.recv(), if room => match record {
                    Some(record) => {
                        // Records taken together arrived together: one clock read.
                        let now = Instant::now();
                        let mut next = Some(record);
                        while let Some(record) = next {
                            if let Err(halt) = self.enqueue(&mut queue, record, now).await {
                                stopping |= self.halted(halt);
                                break;
                            }
                            next = if queue.len() < ahead { inbox.try_recv() } else { None };
                        }
                    }
                    None => open = false,
                },
            }
        }
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

    /// Frees a finished batch's lanes; its halt, if it ended in one.
    fn finished(&self, queue: &mut Scheduler<Queued>, done: Joined) -> Result<(), Halt> {
        match done {
            Ok((lanes, result)) => {
                queue.release(&lanes);
                result
            }
            Err(e) => Err(Halt::Failed(format!("a batch ended abnormally: {e}"))),
        }
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
        let Taken { items, lanes } = taken;
        let job = async move {
            // The scheduler takes a dead letter or a filtered record alone.
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
                _ => invoker.process(batch, permit).await,
            };
            (lanes, result)
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
