//! `--scale-only` (#29): how `serve` holds up with many connectors, and how
//! fast a cluster places tasks again when a worker dies.
//!
//! * One worker with 10, 50 and 100 connectors of one task each on a quiet
//!   topic: resident memory, threads, idle CPU, and the time from the
//!   worker's start to every connector RUNNING (the worker is restarted at
//!   each size, so it restores them all from the config topic).
//! * Three workers with 30 connectors: kill -9 one, and the time until
//!   every task runs again on the other two; then a rolling restart, one
//!   worker at a time, and the longest time a task was not shown RUNNING.
//!
//! Every connector reads the same quiet topic into the fake endpoint; the
//! figures are what hosting costs, not what records cost.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use lambda_sink_testkit::connector::{Connector, process_resources};
use lambda_sink_testkit::{fake_lambda, try_wait_until, unique};
use serde_json::{Value, json};

use crate::env::Env;

/// How long a level may take to come up before the run gives up.
const PATIENCE: Duration = Duration::from_secs(300);

/// One worker's REST API.
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn new(worker: &Connector) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: worker.api_url().await,
        }
    }

    /// Creates (or keeps) connector `name` with `config`.
    async fn put(&self, name: &str, config: &Value) -> anyhow::Result<()> {
        let r = self
            .http
            .put(format!("{}/connectors/{name}/config", self.url))
            .json(config)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "PUT {name}: {}", r.status());
        Ok(())
    }

    /// Every task shown RUNNING, by connector: `(connector, task, worker)`.
    async fn running(&self) -> Option<BTreeSet<(String, u64, String)>> {
        let r = self
            .http
            .get(format!("{}/connectors?expand=status", self.url))
            .send()
            .await
            .ok()?;
        let all: Value = r.json().await.ok()?;
        let mut running = BTreeSet::new();
        for (name, c) in all.as_object()? {
            for t in c["status"]["tasks"].as_array()? {
                if t["state"] == "RUNNING" {
                    running.insert((
                        name.clone(),
                        t["id"].as_u64()?,
                        t["worker_id"].as_str()?.to_string(),
                    ));
                }
            }
        }
        Some(running)
    }

    /// Waits until `n` tasks run, none on `not_on`; how long it took.
    async fn wait_running(&self, n: usize, not_on: Option<&str>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        try_wait_until(PATIENCE, || async {
            let running = self.running().await?;
            let elsewhere = running
                .iter()
                .all(|(_, _, w)| not_on.is_none_or(|gone| gone != w));
            (running.len() == n && elsewhere).then_some(())
        })
        .await
        .with_context(|| format!("{n} tasks not RUNNING within {PATIENCE:?}"))?;
        Ok(started.elapsed())
    }
}

/// Threads and resident memory (MB) of process `pid` now.
fn threads_and_rss(pid: u32) -> Option<(u64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some((field("Threads:")?, field("VmRSS:")? as f64 / 1024.0))
}

/// What the scale run needs around the broker.
struct Scale<'a> {
    env: &'a Env,
    group: String,
    topic: String,
    endpoint: String,
}

impl Scale<'_> {
    fn worker(&self) -> anyhow::Result<Connector> {
        let props = self.env.services.worker_properties(
            &self.group,
            &[
                ("aws.lambda.endpoint", &self.endpoint),
                ("session.timeout.ms", "6000"),
            ],
        );
        Connector::serve(&self.env.binary, &props, &[("RUST_LOG", "info")])
    }

    fn connector(&self, i: usize) -> Value {
        json!({
            "connector.class": "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector",
            "topics": self.topic,
            "aws.lambda.function.name": "fixed-scale",
            "tasks.max": "1",
            "reporter.result.topic.name": "",
            "reporter.error.topic.name": "",
            "consumer.override.session.timeout.ms": "6000",
            "connector.id": format!("scale-{i}"),
        })
    }
}

/// Measures both scenarios and prints their tables.
///
/// # Errors
/// When a worker does not start or connectors do not come up in time.
pub async fn measure(env: &Env) -> anyhow::Result<()> {
    let fake = fake_lambda::start_dedicated(1)?;
    let s = Scale {
        env,
        group: unique("scale"),
        topic: unique("scale-quiet"),
        endpoint: fake.url(),
    };
    env.services.create_topic(&s.topic, 1).await?;
    one_worker(&s).await?;
    let s = Scale {
        group: unique("scale-cluster"),
        ..s
    };
    cluster(&s).await
}

/// One worker with 10, 50 and 100 connectors.
async fn one_worker(s: &Scale<'_>) -> anyhow::Result<()> {
    println!("\n| connectors | start → all RUNNING | RSS | threads | idle CPU |");
    println!("|---|---|---|---|---|");
    let mut worker = s.worker()?;
    let mut created = 0;
    for level in [10, 50, 100] {
        let api = Api::new(&worker).await;
        for i in created..level {
            api.put(&format!("scale-{i}"), &s.connector(i)).await?;
        }
        created = level;
        api.wait_running(level, None).await?;
        worker.stop_cleanly().await;
        let started = Instant::now();
        worker = s.worker()?;
        let api = Api::new(&worker).await;
        api.wait_running(level, None).await?;
        let up = started.elapsed();
        let pid = worker.pid();
        let (cpu_before, _) = process_resources(pid).context("reading /proc")?;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let (cpu_after, _) = process_resources(pid).context("reading /proc")?;
        let (threads, rss) = threads_and_rss(pid).context("reading /proc")?;
        println!(
            "| {level} | {:.1} s | {rss:.0} MB | {threads} | {:.1} % of a core |",
            up.as_secs_f64(),
            (cpu_after - cpu_before) * 10.0
        );
    }
    worker.stop_cleanly().await;
    Ok(())
}

/// Three workers with 30 connectors: kill -9 one, then a rolling restart.
async fn cluster(s: &Scale<'_>) -> anyhow::Result<()> {
    const CONNECTORS: usize = 30;
    let mut workers = vec![s.worker()?, s.worker()?, s.worker()?];
    let api = Api::new(&workers[0]).await;
    for i in 0..CONNECTORS {
        api.put(&format!("scale-{i}"), &s.connector(i)).await?;
    }
    api.wait_running(CONNECTORS, None).await?;
    let placed = spread(&api).await;
    println!("\n| 3 workers, {CONNECTORS} connectors | figure |");
    println!("|---|---|");
    println!("| tasks per worker | {placed:?} |");
    let victim = workers.remove(2);
    let gone = victim
        .api_url()
        .await
        .trim_start_matches("http://")
        .to_string();
    let mut victim = victim;
    victim.kill9();
    let moved = api.wait_running(CONNECTORS, Some(&gone)).await?;
    println!(
        "| kill -9 of one worker → every task RUNNING on the others | {:.1} s |",
        moved.as_secs_f64()
    );
    workers.push(s.worker()?);
    Api::new(&workers[2]).await;
    api.wait_running(CONNECTORS, None).await?;
    let mut longest = Duration::ZERO;
    for i in 0..workers.len() {
        let mut old = workers.remove(i);
        let gone = old
            .api_url()
            .await
            .trim_start_matches("http://")
            .to_string();
        let watch = Api::new(&workers[0]).await;
        let started = Instant::now();
        old.stop_cleanly().await;
        watch.wait_running(CONNECTORS, Some(&gone)).await?;
        longest = longest.max(started.elapsed());
        let new = s.worker()?;
        // Serving: it has read the topics and joined the placement.
        new.api_url().await;
        workers.insert(i, new);
        balanced(&watch, CONNECTORS).await?;
    }
    println!(
        "| rolling restart: longest stop → every task RUNNING elsewhere | {:.1} s |",
        longest.as_secs_f64()
    );
    let api = Api::new(&workers[0]).await;
    println!(
        "| tasks per worker after it | {:?} |",
        balanced(&api, CONNECTORS).await?
    );
    for mut w in workers {
        w.stop_cleanly().await;
    }
    Ok(())
}

/// Waits until `tasks` tasks run spread over three workers; how many each.
async fn balanced(api: &Api, tasks: usize) -> anyhow::Result<Vec<usize>> {
    try_wait_until(PATIENCE, || async {
        let per = spread(api).await;
        (per.len() == 3 && per.iter().sum::<usize>() == tasks).then_some(per)
    })
    .await
    .with_context(|| format!("{tasks} tasks not spread over 3 workers within {PATIENCE:?}"))
}

/// How many tasks each worker runs, sorted.
async fn spread(api: &Api) -> Vec<usize> {
    let running = api.running().await.unwrap_or_default();
    let mut per: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (_, _, w) in running {
        *per.entry(w).or_default() += 1;
    }
    let mut counts: Vec<usize> = per.into_values().collect();
    counts.sort_unstable();
    counts
}
