//! Healthy keys while some keys keep failing (`--parking-only`): the
//! records/s of the keys that do not fail when 1 % or 10 % of the keys
//! fail on every attempt, with `key` ordering parking the failing keys
//! (`aws.lambda.on.key.failure=park`) against `partition` ordering with
//! `behavior.on.error=fail` (the connector stops: everything stalls) and
//! `log` (it moves on past the failed records, so their keys' later
//! records overtake them); beside the same `key` run without failures.
//! The endpoint answers after 10 ms (a real function's latency) and fails
//! every request holding a poisoned record (the fake's `poison`).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use lambda_sink_testkit::{fake_lambda, unique};

use crate::env::Env;
use crate::load::{self, Dataset};
use crate::report::Results;
use crate::stats::Sample;

/// Share of keys failing, in percent (0: the reference without failures).
pub const POISONED_PERCENT: [usize; 3] = [0, 1, 10];
/// The endpoint's latency.
const LATENCY_MS: u64 = 10;
/// `aws.lambda.batch.size`.
const BATCH: usize = 20;
/// Keys on each partition.
const KEYS_PER_PARTITION: usize = 50;
/// Records in each topic.
const RECORDS: usize = 48_000;
/// The longest a run may take.
const PATIENCE: Duration = Duration::from_secs(120);

/// How a run handles a record that keeps failing.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// `aws.lambda.ordering`.
    pub ordering: &'static str,
    /// `behavior.on.error`.
    pub on_error: &'static str,
    /// `aws.lambda.on.key.failure=park`.
    pub park: bool,
    /// Share of keys failing, in percent.
    pub percent: usize,
}

impl Case {
    /// Every case, the reference first.
    pub fn all() -> Vec<Self> {
        let mut cases = Vec::new();
        for percent in POISONED_PERCENT {
            cases.push(Self {
                ordering: "key",
                on_error: "log",
                park: true,
                percent,
            });
            if percent == 0 {
                continue;
            }
            for on_error in ["fail", "log"] {
                cases.push(Self {
                    ordering: "partition",
                    on_error,
                    park: false,
                    percent,
                });
            }
        }
        cases
    }

    /// The measurement's name in the results.
    pub fn key(&self) -> String {
        let how = if self.park { "park" } else { self.on_error };
        format!("parking/{}/{how}/{}pct", self.ordering, self.percent)
    }

    /// What the row calls it.
    pub fn title(&self) -> String {
        if self.park {
            "`key`, `aws.lambda.on.key.failure=park`".into()
        } else {
            format!("`{}`, `behavior.on.error={}`", self.ordering, self.on_error)
        }
    }
}

/// The topics: one per share of failing keys.
pub struct Topics {
    by_percent: Vec<(usize, Dataset)>,
}

impl Topics {
    /// Preloads a topic for each share in [`POISONED_PERCENT`].
    pub async fn preload(env: &Env) -> anyhow::Result<Self> {
        let keys = KEYS_PER_PARTITION * usize::try_from(env.partitions)?;
        let mut by_percent = Vec::new();
        for percent in POISONED_PERCENT {
            let mut d = Dataset::new("parking", 100, RECORDS)
                .with_keys(keys)
                .with_topic(format!("bench-parking-{percent}pct"));
            if let Some(every) = 100usize.checked_div(percent) {
                d = d.with_poison_every(every);
            }
            eprintln!("preloading {RECORDS} records, {percent} % of {keys} keys failing");
            load::preload(env, &d).await?;
            by_percent.push((percent, d));
        }
        Ok(Self { by_percent })
    }

    fn get(&self, percent: usize) -> anyhow::Result<&Dataset> {
        self.by_percent
            .iter()
            .find(|(p, _)| *p == percent)
            .map(|(_, d)| d)
            .ok_or_else(|| anyhow::anyhow!("no parking topic for {percent} %"))
    }

    /// Every case once, into `results`.
    pub async fn measure(&self, env: &Env, results: &mut Results) -> anyhow::Result<()> {
        for case in Case::all() {
            let sample = run(env, self.get(case.percent)?, case).await?;
            results.add(&case.key(), &sample);
        }
        Ok(())
    }
}

/// One case: how many of the healthy keys' records the function answered,
/// and how fast, until all were or the connector stopped.
async fn run(env: &Env, d: &Dataset, case: Case) -> anyhow::Result<Sample> {
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique("bench-parking");
    let function = format!("slow{LATENCY_MS}-fixed-poison-parking");
    let mut extra = vec![
        ("aws.lambda.ordering", case.ordering),
        ("behavior.on.error", case.on_error),
        ("aws.lambda.bisect.on.function.error", "true"),
    ];
    if case.park {
        extra.push(("aws.lambda.on.key.failure", "park"));
    }
    let config = env.config(&name, &d.topic, &function, &fake.url(), BATCH, &extra);
    let mut c = env.start(&config)?;
    let healthy = u64::try_from(d.healthy_records())?;
    let deadline = Instant::now() + PATIENCE;
    let mut exited = false;
    while fake.stats.ok_records.load(Ordering::SeqCst) < healthy && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if c.exited() {
            exited = true;
            break;
        }
    }
    let ok = fake.stats.ok_records.load(Ordering::SeqCst);
    let seconds = fake.stats.active_ok().as_secs_f64();
    if !exited {
        c.stop().await;
    }
    anyhow::ensure!(
        ok >= healthy || exited,
        "{}: only {ok} of {healthy} healthy records answered in {} s; lambda-sink's log:\n{}",
        case.key(),
        PATIENCE.as_secs(),
        c.log()
    );
    let mut s = Sample::new();
    s.insert("healthy_records", healthy as f64);
    s.insert("healthy_answered", ok.min(healthy) as f64);
    s.insert(
        "healthy_per_second",
        ok.min(healthy) as f64 / seconds.max(1e-9),
    );
    s.insert("stopped", f64::from(u8::from(exited)));
    Ok(s)
}

/// The table: each case's healthy records/s against the reference.
pub fn table(results: &Results) -> String {
    let reference = results.median(&Case::all()[0].key(), "healthy_per_second");
    let mut out = format!(
        "### Healthy keys while some keys keep failing ({LATENCY_MS} ms endpoint, batch {BATCH}, \
         {KEYS_PER_PARTITION} keys a partition, defaults otherwise; medians)\n\n\
         | poisoned keys | ordering, on failure | healthy records/s | × no failures (`key`) | healthy records answered | connector |\n\
         |---|---|---|---|---|---|\n"
    );
    for case in Case::all() {
        let key = case.key();
        let rate = results.median(&key, "healthy_per_second");
        let answered = results.median(&key, "healthy_answered");
        let total = results.median(&key, "healthy_records");
        let stopped = results.median(&key, "stopped") > 0.5;
        out.push_str(&format!(
            "| {} % | {} | {:.0} | {:.2} | {:.0} of {:.0} ({:.1} %) | {} |\n",
            case.percent,
            case.title(),
            rate,
            rate / reference,
            answered,
            total,
            100.0 * answered / total,
            if stopped { "stopped" } else { "running" },
        ));
    }
    out
}
