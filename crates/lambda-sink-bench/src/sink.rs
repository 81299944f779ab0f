//! lambda-sink itself, run as a separate process against the private broker
//! and the fake endpoint: draining a preloaded topic (with its CPU per
//! record), the latency-bound case, and the latency it adds to each record's
//! trip from the broker to the function.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::fake_lambda::{self, FakeLambda, now_us};
use lambda_sink_testkit::{try_wait_until, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureRecord;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::{Value, json};

use crate::env::{Env, cpu_seconds};
use crate::load::{self, Dataset};
use crate::stats::{Sample, median, percentile};

/// CPU seconds used while lambda-sink drained, from the first record's
/// arrival at the endpoint to the last.
pub(crate) struct Spent {
    pub(crate) broker: f64,
    pub(crate) endpoint: f64,
    pub(crate) sink: f64,
}

/// Waits until the fake has received `expected` records; returns the CPU
/// seconds of the broker, the fake endpoint and lambda-sink from the first
/// record's arrival to the last (read every 5 ms: a measurement, not a
/// synchronisation; lambda-sink's start-up is not counted).
pub(crate) async fn received(
    env: &Env,
    fake: &FakeLambda,
    expected: usize,
    c: &Connector,
) -> anyhow::Result<Spent> {
    let deadline = Instant::now() + env.patience(expected);
    let expected = u64::try_from(expected)?;
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    let mut at_first = None;
    loop {
        ticks.tick().await;
        let n = fake.stats.records.load(Ordering::SeqCst);
        let sink = || cpu_seconds(Some(c.pid()));
        if n > 0 && at_first.is_none() {
            at_first = Some((env.broker_cpu(), fake.cpu_seconds(), sink()));
        }
        if n >= expected {
            let (broker, endpoint, at) = at_first.unwrap_or((f64::NAN, f64::NAN, f64::NAN));
            return Ok(Spent {
                broker: env.broker_cpu() - broker,
                endpoint: fake.cpu_seconds() - endpoint,
                sink: sink() - at,
            });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {n} of {expected} records reached the endpoint; lambda-sink's log:\n{}",
            c.log()
        );
    }
}

/// Stops lambda-sink and checks it committed everything it was given.
pub(crate) async fn stop_committed(
    env: &Env,
    mut c: Connector,
    name: &str,
    topic: &str,
) -> anyhow::Result<()> {
    c.stop_cleanly().await;
    let group = format!("connect-{name}");
    let committed = env
        .services
        .committed(&group, topic, env.partitions)
        .await?;
    let end = env.services.end_offsets(topic, env.partitions).await?;
    anyhow::ensure!(
        committed == end,
        "{group} committed {committed:?}, the end is {end:?}"
    );
    Ok(())
}

/// lambda-sink drains `d` with `batch`: records/s and invocations/s from the
/// first invocation to the last, CPU seconds (and per record) and peak RSS
/// of the process, and the time from its start to the first invocation.
pub async fn drain(env: &Env, d: &Dataset, batch: usize) -> anyhow::Result<Sample> {
    drain_with(env, &env.binary, d, batch).await
}

/// [`drain`] with another lambda-sink binary (`--baseline`).
pub async fn drain_with(
    env: &Env,
    binary: &std::path::Path,
    d: &Dataset,
    batch: usize,
) -> anyhow::Result<Sample> {
    drain_in(env, binary, d, batch, &[]).await
}

/// [`drain_with`], the process's environment added to with `vars` (say,
/// `OTEL_EXPORTER_OTLP_ENDPOINT`).
pub async fn drain_in(
    env: &Env,
    binary: &std::path::Path,
    d: &Dataset,
    batch: usize,
    vars: &[(&str, &str)],
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique(&format!("bench-{}-{batch}", d.name));
    let config = env.config(&name, &d.topic, "fixed-drain", &fake.url(), batch, &[]);
    let started = Instant::now();
    let c = env.start_binary_in(binary, &config, vars)?;
    let spent = received(env, &fake, d.records, &c).await?;
    let (cpu, peak) = c.resources().context("reading /proc")?;
    let first = fake
        .stats
        .first_request
        .get()
        .context("no request arrived")?
        .duration_since(started);
    let seconds = fake.stats.active().as_secs_f64();
    let records = fake.stats.records.load(Ordering::SeqCst);
    let invocations = fake.stats.invocations.load(Ordering::SeqCst);
    stop_committed(env, c, &name, &d.topic).await?;
    Ok(Sample::from([
        ("records_per_s", d.records as f64 / seconds),
        ("invocations_per_s", invocations as f64 / seconds),
        ("duplicates", records as f64 - d.records as f64),
        // The whole process, start-up included.
        ("cpu_seconds", cpu),
        // While draining, per record.
        ("cpu_us_per_record", spent.sink / d.records as f64 * 1e6),
        ("broker_cpu_seconds", spent.broker),
        // Every process's CPU while draining, per second: how busy the
        // machine was.
        (
            "cores_busy",
            (spent.sink + spent.broker + spent.endpoint) / seconds,
        ),
        ("peak_rss_mb", peak as f64 / 1_048_576.0),
        ("first_invocation_ms", first.as_secs_f64() * 1000.0),
    ]))
}

/// How outcome records are delivered in an [`outcomes`] run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged before their offsets are stored (the default).
    AtLeastOnce,
    /// `reporter.exactly.once=true` with this `reporter.transaction.interval.ms`.
    ExactlyOnce(u64),
}

impl Delivery {
    /// The results file's name for it.
    pub fn key(self) -> String {
        match self {
            Self::AtLeastOnce => "at-least-once".into(),
            Self::ExactlyOnce(ms) => format!("exactly-once-{ms}ms"),
        }
    }
}

/// lambda-sink drains `d` with batch `batch` and a result record per input
/// record (the result topic on), delivered as `delivery` says: records/s
/// from the first invocation until every offset is committed — with
/// exactly-once the moment the last outcome is visible to a
/// `read_committed` reader —, CPU per record and peak RSS. (Committed
/// offsets are read every 20 ms: a measurement, not a synchronisation.)
pub async fn outcomes(
    env: &Env,
    d: &Dataset,
    batch: usize,
    delivery: Delivery,
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique(&format!("bench-outcomes-{}", delivery.key()));
    let interval;
    let mut extra = vec![("reporter.result.topic.name", "success-${connector}")];
    if let Delivery::ExactlyOnce(ms) = delivery {
        interval = ms.to_string();
        extra.push(("reporter.exactly.once", "true"));
        extra.push(("reporter.transaction.interval.ms", &interval));
    }
    let config = env.config(&name, &d.topic, "fixed-drain", &fake.url(), batch, &extra);
    let c = env.start(&config)?;
    let spent = received(env, &fake, d.records, &c).await?;
    let group = format!("connect-{name}");
    let end = env.services.end_offsets(&d.topic, env.partitions).await?;
    let deadline = Instant::now() + env.patience(d.records);
    while env
        .services
        .committed(&group, &d.topic, env.partitions)
        .await?
        != end
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{group} never committed to the end; lambda-sink's log:\n{}",
            c.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = Instant::now();
    let (cpu, peak) = c.resources().context("reading /proc")?;
    let first = *fake
        .stats
        .first_request
        .get()
        .context("no request arrived")?;
    let last = first + fake.stats.active();
    stop_committed(env, c, &name, &d.topic).await?;
    let seconds = done.duration_since(first).as_secs_f64();
    Ok(Sample::from([
        ("records_per_s", d.records as f64 / seconds),
        (
            "invoked_per_s",
            d.records as f64 / fake.stats.active().as_secs_f64(),
        ),
        // From the last invocation until its offset (and outcome) committed.
        (
            "commit_lag_ms",
            done.duration_since(last).as_secs_f64() * 1000.0,
        ),
        ("cpu_seconds", cpu),
        ("cpu_us_per_record", spent.sink / d.records as f64 * 1e6),
        (
            "broker_cpu_us_per_record",
            spent.broker / d.records as f64 * 1e6,
        ),
        ("peak_rss_mb", peak as f64 / 1_048_576.0),
    ]))
}

/// The latency-bound case: the endpoint answers after `latency_ms`, so the
/// best possible rate is one batch per partition per latency.
#[derive(Clone, Debug)]
pub struct LatencyBound {
    /// Partitions (one invocation in flight each).
    pub partitions: i32,
    /// `aws.lambda.batch.size`.
    pub batch: usize,
    /// The endpoint's latency.
    pub latency_ms: u64,
    /// Invocations per partition.
    pub rounds: usize,
}

impl LatencyBound {
    /// 50 ms, batch 20, 200 invocations per partition (about 10 s).
    pub fn new(partitions: i32) -> Self {
        Self {
            partitions,
            batch: 20,
            latency_ms: 50,
            rounds: 200,
        }
    }

    /// Records in the topic.
    pub fn records(&self) -> usize {
        usize::try_from(self.partitions).unwrap_or(0) * self.batch * self.rounds
    }

    /// P × B / L in records/s.
    pub fn theoretical(&self) -> f64 {
        f64::from(self.partitions) * self.batch as f64 * 1000.0 / self.latency_ms as f64
    }
}

/// lambda-sink drains `d` through an endpoint that takes `bound.latency_ms`
/// per invocation: records/s until the last response, and its ratio to P × B / L.
pub async fn latency_bound(
    env: &Env,
    binary: &std::path::Path,
    d: &Dataset,
    bound: &LatencyBound,
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique("bench-bound");
    let function = format!("slow{}-fixed-bound", bound.latency_ms);
    let config = env.config(&name, &d.topic, &function, &fake.url(), bound.batch, &[]);
    let c = env.start_binary(binary, &config)?;
    received(env, &fake, d.records, &c).await?;
    // The last request arrived at `active`; its response took the latency.
    let seconds = fake.stats.active().as_secs_f64() + bound.latency_ms as f64 / 1000.0;
    stop_committed(env, c, &name, &d.topic).await?;
    let rate = d.records as f64 / seconds;
    Ok(Sample::from([
        ("records_per_s", rate),
        ("ratio", rate / bound.theoretical()),
    ]))
}

/// Concurrency inside a partition (`aws.lambda.ordering` `key` / `none`):
/// the endpoint answers after `latency_ms`, so the best possible rate is
/// `per_partition` batches per partition per latency.
#[derive(Clone, Debug)]
pub struct Concurrent {
    /// Partitions.
    pub partitions: i32,
    /// `aws.lambda.batch.size`.
    pub batch: usize,
    /// The endpoint's latency.
    pub latency_ms: u64,
    /// `aws.lambda.max.in.flight.per.partition`.
    pub per_partition: usize,
    /// Distinct keys in the topic.
    pub keys: usize,
    /// Invocations per partition, were each full.
    pub rounds: usize,
}

impl Concurrent {
    /// 50 ms, batch 20, 16 batches in flight per partition, 1,000 keys,
    /// 3,200 invocations per partition (about 10 s at the bound).
    pub fn new(partitions: i32) -> Self {
        Self {
            partitions,
            batch: 20,
            latency_ms: 50,
            per_partition: 16,
            keys: 1_000,
            rounds: 3_200,
        }
    }

    /// Records in the topic.
    pub fn records(&self) -> usize {
        usize::try_from(self.partitions).unwrap_or(0) * self.batch * self.rounds
    }

    /// P × max-in-flight-per-partition × B / L in records/s.
    pub fn theoretical(&self) -> f64 {
        f64::from(self.partitions) * (self.per_partition * self.batch) as f64 * 1000.0
            / self.latency_ms as f64
    }
}

/// lambda-sink drains `d` with `ordering` through an endpoint that takes
/// `c.latency_ms`: records/s until the last response, its ratio to
/// P × max-in-flight-per-partition × B / L, and the most requests in flight.
pub async fn concurrent(
    env: &Env,
    d: &Dataset,
    c: &Concurrent,
    ordering: &str,
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique(&format!("bench-{ordering}"));
    let function = format!("slow{}-fixed-{ordering}", c.latency_ms);
    let per_partition = c.per_partition.to_string();
    let total = (usize::try_from(c.partitions)? * c.per_partition).to_string();
    let config = env.config(
        &name,
        &d.topic,
        &function,
        &fake.url(),
        c.batch,
        &[
            ("aws.lambda.ordering", ordering),
            ("aws.lambda.max.in.flight.per.partition", &per_partition),
            ("aws.lambda.max.in.flight", &total),
        ],
    );
    let sink = env.start(&config)?;
    received(env, &fake, d.records, &sink).await?;
    let seconds = fake.stats.active().as_secs_f64() + c.latency_ms as f64 / 1000.0;
    let invocations = fake.stats.invocations.load(Ordering::SeqCst);
    stop_committed(env, sink, &name, &d.topic).await?;
    let rate = d.records as f64 / seconds;
    Ok(Sample::from([
        ("records_per_s", rate),
        ("ratio", rate / c.theoretical()),
        (
            "records_per_invocation",
            d.records as f64 / invocations as f64,
        ),
        (
            "max_concurrent",
            fake.stats.max_concurrent.load(Ordering::SeqCst) as f64,
        ),
    ]))
}

/// A throttled function: `capacity` concurrent executions (429 above),
/// answering after `latency_ms`, called by more batches than that.
#[derive(Clone, Debug)]
pub struct Throttled {
    /// The function's concurrency.
    pub capacity: usize,
    /// `aws.lambda.max.in.flight` (more than `capacity`).
    pub max_in_flight: usize,
    /// The endpoint's latency.
    pub latency_ms: u64,
    /// `aws.lambda.batch.size`.
    pub batch: usize,
    /// Records in the topic.
    pub records: usize,
}

impl Throttled {
    /// 16 executions, 64 allowed in flight, 50 ms, batch 20, ~20 s of records.
    pub fn new() -> Self {
        Self {
            capacity: 16,
            max_in_flight: 64,
            latency_ms: 50,
            batch: 20,
            records: 128_000,
        }
    }

    /// The function's ceiling, capacity × B / L in records/s.
    pub fn theoretical(&self) -> f64 {
        (self.capacity * self.batch) as f64 * 1000.0 / self.latency_ms as f64
    }
}

impl Default for Throttled {
    fn default() -> Self {
        Self::new()
    }
}

/// lambda-sink drains `d` into a function that throttles above
/// `t.capacity` concurrent calls, with `aws.lambda.adaptive.concurrency`
/// `adaptive`: the share of calls throttled, the in-flight limit it settles
/// at (median of `/metrics` samples over the second half of the run) and
/// records/s against the function's ceiling.
pub async fn throttled(
    env: &Env,
    d: &Dataset,
    t: &Throttled,
    adaptive: bool,
) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique("bench-throttled");
    let function = format!("slow{}-fixed-cap{}", t.latency_ms, t.capacity);
    let max = t.max_in_flight.to_string();
    let config = env.config(
        &name,
        &d.topic,
        &function,
        &fake.url(),
        t.batch,
        &[
            ("aws.lambda.ordering", "none"),
            ("aws.lambda.max.in.flight.per.partition", &max),
            ("aws.lambda.max.in.flight", &max),
            (
                "aws.lambda.adaptive.concurrency",
                if adaptive { "true" } else { "false" },
            ),
            // Unbounded retries: nothing may be given up on while measuring.
            ("aws.lambda.retry.timeout.ms", "-1"),
            ("http.listener", "127.0.0.1:0"),
        ],
    );
    let sink = env.start(&config)?;
    let limits = watch_limit(env, &sink, &fake, d.records).await?;
    let seconds = fake.stats.active().as_secs_f64() + t.latency_ms as f64 / 1000.0;
    let invocations = fake.stats.invocations.load(Ordering::SeqCst);
    let throttled = fake.stats.throttled.load(Ordering::SeqCst);
    stop_committed(env, sink, &name, &d.topic).await?;
    let rate = d.records as f64 / seconds;
    Ok(Sample::from([
        ("throttled_share", throttled as f64 / invocations as f64),
        (
            "settled_limit",
            // The second half of the run: after the limit found the capacity.
            median(&limits[limits.len() / 2..]),
        ),
        ("records_per_s", rate),
        ("ratio", rate / t.theoretical()),
    ]))
}

/// The in-flight limit lambda-sink reports, sampled every 100 ms until
/// all `records` were answered (not throttled) by the endpoint.
async fn watch_limit(
    env: &Env,
    sink: &Connector,
    fake: &FakeLambda,
    records: usize,
) -> anyhow::Result<Vec<f64>> {
    let metrics = format!("{}/metrics", sink.http_url().await);
    let client = reqwest::Client::new();
    let expected = u64::try_from(records)?;
    let deadline = Instant::now() + env.patience(records);
    let mut limits = Vec::new();
    // A measurement taken every 100 ms, not a synchronisation.
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticks.tick().await;
        let text = client.get(&metrics).send().await?.text().await?;
        let limit = text
            .lines()
            .find_map(|l| l.strip_prefix("lambda_sink_in_flight_limit "))
            .and_then(|v| v.trim().parse::<f64>().ok());
        let arrived = fake.stats.records.load(Ordering::SeqCst);
        if let Some(limit) = limit
            && arrived > 0
        {
            limits.push(limit);
        }
        // Throttled requests carry records too: count those answered.
        let throttled_records = fake.stats.throttled_records.load(Ordering::SeqCst);
        if arrived.saturating_sub(throttled_records) >= expected {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {arrived} records reached the endpoint; lambda-sink's log:\n{}",
            sink.log()
        );
    }
    Ok(limits)
}

/// Records per second in the added-latency measurement: low load.
const PACED_RATE: u64 = 100;

/// The latency lambda-sink adds to each record, at low load with
/// `aws.lambda.batch.linger.ms=0`: its arrival at the endpoint minus the
/// moment it became available to a consumer — when a plain consumer with the
/// same settings, reading the same records at the same time, polled it. The
/// distribution of that difference, record by record (p50, p99, max), and
/// for context both trips from the producer (p50, p99).
#[allow(
    clippy::too_many_lines,
    reason = "one measurement in the order it happens (warm-up, paced load, both readers, the differences)"
)]
pub async fn added_latency(env: &Env, round: usize, seconds: u64) -> anyhow::Result<Sample> {
    let topic = format!("bench-latency-{round}");
    env.services.create_topic(&topic, env.partitions).await?;
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique("bench-latency");
    let config = env.config(&name, &topic, "timed-fixed-latency", &fake.url(), 20, &[]);
    let mut plain = env.consumer_config(&config)?;
    plain.set("group.id", unique("bench-latency-plain"));
    let c = env.start(&config)?;

    let warmup = usize::try_from(env.partitions)?;
    let paced = usize::try_from(PACED_RATE * seconds)?;
    let total = warmup + paced;
    let seen = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let baseline = {
        let (topic, partitions, seen, stop) =
            (topic.clone(), env.partitions, seen.clone(), stop.clone());
        tokio::task::spawn_blocking(move || {
            plain_arrivals(&plain, &topic, partitions, &seen, &stop)
        })
    };
    let producer = load::producer(&env.services.bootstrap, 0)?;
    let pad = "x".repeat(60);
    // Warm-up: one record per partition, until both readers have them.
    for p in 0..env.partitions {
        let value = json!({ "warmup": true, "pad": pad }).to_string();
        producer
            .send(
                FutureRecord::<str, str>::to(&topic)
                    .partition(p)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
    }
    let both_have = |n: usize| {
        let (fake, seen) = (&fake, &seen);
        async move {
            (fake.stats.records.load(Ordering::SeqCst) >= u64::try_from(n).ok()?
                && seen.load(Ordering::SeqCst) >= n)
                .then_some(())
        }
    };
    try_wait_until(Duration::from_secs(60), || both_have(warmup))
        .await
        .with_context(|| {
            format!(
                "the warm-up records did not arrive; lambda-sink's log:\n{}",
                c.log()
            )
        })?;

    // Paced records, round-robin over the partitions, each carrying the
    // microsecond it was handed to the producer (which also identifies it).
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / PACED_RATE));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut deliveries = Vec::with_capacity(paced);
    for i in 0..paced {
        ticks.tick().await;
        let partition = i32::try_from(i)? % env.partitions;
        let value = json!({ "sent_us": now_us(), "pad": pad }).to_string();
        deliveries.push(
            producer
                .send_result(
                    FutureRecord::<str, str>::to(&topic)
                        .partition(partition)
                        .payload(&value),
                )
                .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?,
        );
    }
    for d in deliveries {
        d.await?
            .map_err(|(e, _)| anyhow::anyhow!("producing: {e}"))?;
    }
    let arrived = try_wait_until(Duration::from_secs(60), || both_have(total)).await;
    stop.store(true, Ordering::SeqCst);
    let polled = baseline.await??;
    arrived.with_context(|| {
        format!(
            "not every paced record arrived; lambda-sink's log:\n{}",
            c.log()
        )
    })?;
    stop_committed(env, c, &name, &topic).await?;
    let at_endpoint: HashMap<u64, u64> = fake
        .stats
        .arrivals_us
        .lock()
        .map_err(|_| anyhow::anyhow!("arrival samples poisoned"))?
        .iter()
        .copied()
        .collect();
    anyhow::ensure!(
        at_endpoint.len() == paced && polled.len() == paced,
        "{} and {} latency samples of {paced}",
        at_endpoint.len(),
        polled.len()
    );
    let mut added = Vec::with_capacity(paced);
    let (mut to_poll, mut to_endpoint) = (Vec::new(), Vec::new());
    for (sent, polled_at) in &polled {
        let arrived_at = at_endpoint
            .get(sent)
            .with_context(|| format!("the record sent at {sent} µs never reached the endpoint"))?;
        // Signed: the plain consumer may be the later of the two.
        added.push(i64::try_from(*arrived_at)? - i64::try_from(*polled_at)?);
        to_poll.push(polled_at.saturating_sub(*sent));
        to_endpoint.push(arrived_at.saturating_sub(*sent));
    }
    let ms = |us: f64| us / 1000.0;
    Ok(Sample::from([
        ("consumer_p50_ms", ms(percentile(&to_poll, 50.0))),
        ("consumer_p99_ms", ms(percentile(&to_poll, 99.0))),
        ("sink_p50_ms", ms(percentile(&to_endpoint, 50.0))),
        ("sink_p99_ms", ms(percentile(&to_endpoint, 99.0))),
        ("added_p50_ms", ms(percentile(&added, 50.0))),
        ("added_p99_ms", ms(percentile(&added, 99.0))),
        ("added_max_ms", ms(percentile(&added, 100.0))),
    ]))
}

/// A plain consumer's `(sent_us, polled_us)` for every record carrying
/// `sent_us`, until `stop`; `seen` counts every record read.
fn plain_arrivals(
    client: &ClientConfig,
    topic: &str,
    partitions: i32,
    seen: &AtomicUsize,
    stop: &AtomicBool,
) -> anyhow::Result<Vec<(u64, u64)>> {
    let consumer: BaseConsumer = client.create().context("creating the plain consumer")?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut arrivals = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let now = now_us();
        let message = message.context("consuming")?;
        let sent = message
            .payload()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
            .and_then(|v| v["sent_us"].as_u64());
        if let Some(sent) = sent {
            arrivals.push((sent, now));
        }
        seen.fetch_add(1, Ordering::SeqCst);
    }
    Ok(arrivals)
}
