//! `lambda-sink-bench`: see the library's documentation and BENCHMARKS.md.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lambda_sink_testkit::broker::PrivateBroker;

use lambda_sink_bench::ceilings::Client;
use lambda_sink_bench::load::Dataset;
use lambda_sink_bench::regime::{Cell, Regime};
use lambda_sink_bench::report::{self, Results};
use lambda_sink_bench::sink::Delivery;
use lambda_sink_bench::stats::Sample;
use lambda_sink_bench::{ceilings, env, load, regime, sink};

/// Benchmarks lambda-sink against the broker's and the endpoint's ceilings.
#[derive(Debug, Parser)]
struct Args {
    /// The lambda-sink binary to measure (a release build).
    #[arg(long)]
    lambda_sink: PathBuf,
    /// Rounds; every figure is the median over them.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Records of ~100 B JSON in the small-record topic.
    #[arg(long, default_value_t = 1_000_000)]
    small: usize,
    /// Records of ~1 KB JSON in the large-record topic.
    #[arg(long, default_value_t = 200_000)]
    large: usize,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 8)]
    partitions: i32,
    /// Seconds of paced records in the added-latency measurement.
    #[arg(long, default_value_t = 10)]
    latency_seconds: u64,
    /// A connector property for every lambda-sink run, e.g.
    /// `--set consumer.override.queued.max.messages.kbytes=16384` (repeatable;
    /// the ceilings use lambda-sink's consumer settings, overrides included).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    overrides: Vec<(String, String)>,
    /// Another lambda-sink binary (say, the last release) to drain every
    /// topic right after this one in each round: its figures go to the
    /// results file beside this one's, and the table gets a comparison.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Measure `partition` mode's figures only — throughput and the
    /// latency bound, no concurrency, throttling or added-latency runs —
    /// for a quick comparison with `--baseline`.
    #[arg(long)]
    partition_mode_only: bool,
    /// Measure only the outcome-delivery comparison (at-least-once against
    /// exactly-once) on the small-record topic.
    #[arg(long)]
    outcomes_only: bool,
    /// Measure only the latency regimes (endpoint latency 0/10/50/200 ms ×
    /// batch 20/100 × ordering partition/key; with `--baseline`, both
    /// binaries side by side).
    #[arg(long)]
    regimes_only: bool,
    /// Measure only how `serve` scales: one worker with 10/50/100
    /// connectors, and a 3-worker cluster losing and restarting workers.
    #[arg(long)]
    scale_only: bool,
    /// Measure only what OpenTelemetry traces cost: the small-record topic
    /// drained with traces off and on (exported to a real Jaeger, every
    /// record traced by its producer), side by side in each round.
    #[arg(long)]
    traces_only: bool,
    /// Measure only the healthy keys' throughput while 1 % or 10 % of the
    /// keys keep failing: `key` ordering parking them, against `partition`
    /// ordering with `behavior.on.error=fail` and `log`.
    #[arg(long)]
    parking_only: bool,
    /// Seconds each latency-regime run lasts at its bound (sizes its data).
    #[arg(long, default_value_t = 4.0)]
    regime_seconds: f64,
    /// Only the latency regimes whose name contains this (e.g.
    /// `50ms/20/partition`; the zero-latency cells always run too).
    #[arg(long)]
    regime: Option<String>,
    /// Distinct keys on each partition in the latency regimes' data.
    #[arg(long, default_value_t = regime::KEYS_PER_PARTITION)]
    keys_per_partition: usize,
    /// Where the raw samples and medians are written.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.lambda_sink.is_file(),
        "--lambda-sink {}: no such binary (build it with cargo build --release -p lambda-sink)",
        args.lambda_sink.display()
    );
    let env = env::Env::new(
        PrivateBroker::start(&[]).await,
        args.lambda_sink.clone(),
        args.partitions,
        args.overrides.clone(),
    );
    let datasets = [
        Dataset::new("small", 100, args.small),
        Dataset::new("large", 1_000, args.large),
    ];
    if let Some(done) = one_measurement(&args, &env, &datasets[0]).await {
        return done;
    }
    for d in &datasets {
        eprintln!("preloading {} records of ~{} B", d.records, d.value_bytes);
        load::preload(&env, d).await?;
    }
    let bound = sink::LatencyBound::new(args.partitions);
    let bound_data = Dataset::new("bound", 100, bound.records());
    load::preload(&env, &bound_data).await?;
    let scenarios = if args.partition_mode_only {
        None
    } else {
        Some(Scenarios::preload(&env, &args).await?)
    };

    let mut results = Results::default();
    for round in 1..=args.runs {
        eprintln!("round {round} of {}", args.runs);
        for d in &datasets {
            throughput(&env, &args, d, &mut results).await?;
        }
        let bound_run = sink::latency_bound(&env, &env.binary, &bound_data, &bound).await?;
        results.add("bound/lambda-sink", &bound_run);
        if let Some(baseline) = &args.baseline {
            let before = sink::latency_bound(&env, baseline, &bound_data, &bound).await?;
            results.add("bound/baseline", &before);
        }
        if let Some(s) = &scenarios {
            concurrency(&env, s, &bound_run, &mut results).await?;
            let latency = sink::added_latency(&env, round, args.latency_seconds).await?;
            results.add("latency", &latency);
            measure_outcomes(&env, &datasets[0], &mut results).await?;
            s.grid
                .measure(&env, args.baseline.as_deref(), &mut results)
                .await?;
        }
    }
    if let Some(s) = &scenarios {
        let table = report::table(&results, &datasets, &bound, &s.concurrent, &s.throttle);
        println!("{table}");
        println!(
            "{}",
            report::outcomes(&results, &datasets[0], OUTCOME_BATCH, &DELIVERIES)
        );
        println!(
            "{}",
            report::regimes(
                &results,
                &s.grid.cells,
                args.keys_per_partition,
                args.baseline.is_some()
            )
        );
    }
    if args.baseline.is_some() {
        println!("{}", report::baseline(&results, &datasets, &bound));
    }
    write_results(&args.out, &results)
}

/// One round of dataset `d`: its consume and invoke ceilings, and
/// lambda-sink (and the baseline) draining it at each batch size, side by
/// side with the ceilings.
async fn throughput(
    env: &env::Env,
    args: &Args,
    d: &Dataset,
    results: &mut Results,
) -> anyhow::Result<()> {
    const SECONDS: Duration = Duration::from_secs(3);
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    let consumed = ceilings::consume(env, d).await?;
    results.add(&format!("{}/consumer", d.name), &consumed);
    for batch in [20, 100] {
        let endpoint = ceilings::invoke(env, d, batch, SECONDS, Client::Invoker, 0).await?;
        results.add(&format!("{}/endpoint/{batch}", d.name), &endpoint);
        let sdk = ceilings::invoke(env, d, batch, SECONDS, Client::Sdk, 0).await?;
        results.add(&format!("{}/sdk/{batch}", d.name), &sdk);
        let mut drained = sink::drain(env, d, batch).await?;
        // Side by side: this round's ceilings.
        let ceiling = consumed["records_per_s"].min(endpoint["records_per_s"]);
        drained.insert("ratio", drained["records_per_s"] / ceiling);
        // Each ceiling was measured with the whole machine to itself;
        // draining needs both at once. With the CPU each costs per
        // record, the machine's cores cannot carry more than this.
        let shared = cores / (consumed["cpu_us_per_record"] + endpoint["cpu_us_per_record"]) * 1e6;
        drained.insert("shared_cpu_bound", shared);
        drained.insert(
            "ratio_to_shared",
            drained["records_per_s"] / shared.min(ceiling),
        );
        // lambda-sink's own CPU per record against the work it cannot
        // avoid: consuming (the plain consumer) and invoking (its own
        // invoker), each measured alone.
        let clients = consumed["consumer_cpu_us_per_record"] + endpoint["client_cpu_us_per_record"];
        drained.insert("clients_cpu_us_per_record", clients);
        drained.insert(
            "cpu_ratio_to_clients",
            drained["cpu_us_per_record"] / clients,
        );
        drained.insert(
            "broker_cpu_us_per_record",
            drained["broker_cpu_seconds"] / d.records as f64 * 1e6,
        );
        results.add(&format!("{}/lambda-sink/{batch}", d.name), &drained);
        if let Some(baseline) = &args.baseline {
            let mut before = sink::drain_with(env, baseline, d, batch).await?;
            before.insert("ratio", before["records_per_s"] / ceiling);
            before.insert(
                "cpu_ratio_to_clients",
                before["cpu_us_per_record"] / clients,
            );
            results.add(&format!("{}/baseline/{batch}", d.name), &before);
        }
    }
    Ok(())
}

/// The key-ordered, unordered, throttled and latency-regime scenarios and
/// their data.
struct Scenarios {
    keyed: Dataset,
    concurrent: sink::Concurrent,
    throttle_data: Dataset,
    throttle: sink::Throttled,
    grid: Grid,
}

impl Scenarios {
    async fn preload(env: &env::Env, args: &Args) -> anyhow::Result<Self> {
        let concurrent = sink::Concurrent::new(args.partitions);
        let keyed = Dataset::new("keyed", 100, concurrent.records()).with_keys(concurrent.keys);
        let throttle = sink::Throttled::new();
        let throttle_data = Dataset::new("throttled", 100, throttle.records);
        eprintln!(
            "preloading {} records with {} keys",
            keyed.records, concurrent.keys
        );
        load::preload(env, &keyed).await?;
        load::preload(env, &throttle_data).await?;
        let grid = Grid::preload(env, args).await?;
        Ok(Self {
            keyed,
            concurrent,
            throttle_data,
            throttle,
            grid,
        })
    }
}

/// One round of the concurrency scenarios: `key` and `none` ordering
/// against this round's partition-mode figure, and throttling with and
/// without the adaptive limit.
async fn concurrency(
    env: &env::Env,
    s: &Scenarios,
    bound_run: &Sample,
    results: &mut Results,
) -> anyhow::Result<()> {
    for ordering in ["key", "none"] {
        let mut run = sink::concurrent(env, &s.keyed, &s.concurrent, ordering).await?;
        // Side by side: this round's partition-mode figure and the
        // endpoint's ceiling for the same request size.
        run.insert(
            "to_partition_mode",
            run["records_per_s"] / bound_run["records_per_s"],
        );
        let ceiling = results.last("small/endpoint/20", "records_per_s");
        run.insert(
            "ratio_to_min",
            run["records_per_s"] / s.concurrent.theoretical().min(ceiling),
        );
        results.add(&format!("concurrent/{ordering}"), &run);
    }
    for adaptive in [true, false] {
        let run = sink::throttled(env, &s.throttle_data, &s.throttle, adaptive).await?;
        results.add(&format!("throttled/{adaptive}"), &run);
    }
    Ok(())
}

/// The latency regimes: every cell with its slots and its topic.
struct Grid {
    cells: Vec<Cell>,
    topics: regime::Topics,
}

impl Grid {
    /// Sizes every cell's data to `--regime-seconds` at its bound and
    /// preloads it.
    async fn preload(env: &env::Env, args: &Args) -> anyhow::Result<Self> {
        let seconds = args.regime_seconds;
        let mut cells = Vec::new();
        let chosen = |r: &Regime| {
            r.latency_ms == 0
                || args
                    .regime
                    .as_ref()
                    .is_none_or(|only| r.key().contains(only))
        };
        for regime in Regime::grid().into_iter().filter(chosen) {
            let slots = regime::configured_slots(env, &regime)?;
            let records = regime::records_for(&regime, slots, seconds);
            cells.push(Cell {
                regime,
                slots,
                records,
            });
        }
        let topics = regime::Topics::preload(
            env,
            cells.iter().map(|c| c.records),
            args.keys_per_partition,
        )
        .await?;
        Ok(Self { cells, topics })
    }

    /// One round: every cell, the baseline right after this binary.
    async fn measure(
        &self,
        env: &env::Env,
        baseline: Option<&std::path::Path>,
        results: &mut Results,
    ) -> anyhow::Result<()> {
        for cell in &self.cells {
            let d = self.topics.get(cell.records)?;
            let run = regime::run(env, &env.binary, d, cell).await?;
            results.add(&cell.regime.key(), &run);
            if cell.regime.ordering == "partition" {
                // The invoker alone, one request in flight per partition as
                // in partition ordering: what an invocation costs at this
                // latency without Kafka or the pipeline.
                let seconds = if cell.regime.latency_ms == 0 { 3 } else { 8 };
                let alone = ceilings::invoke(
                    env,
                    d,
                    cell.regime.batch,
                    Duration::from_secs(seconds),
                    Client::Invoker,
                    cell.regime.latency_ms,
                )
                .await?;
                results.add(&format!("{}/invoker", cell.regime.key()), &alone);
            }
            if let Some(baseline) = baseline {
                let before = regime::run(env, baseline, d, cell).await?;
                results.add(&format!("{}/baseline", cell.regime.key()), &before);
            }
        }
        Ok(())
    }
}

fn key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// The outcome-delivery comparison's batch size and deliveries: the
/// default transaction interval and shorter ones (the trade-off).
const OUTCOME_BATCH: usize = 20;
const DELIVERIES: [Delivery; 4] = [
    Delivery::AtLeastOnce,
    Delivery::ExactlyOnce(1_000),
    Delivery::ExactlyOnce(300),
    Delivery::ExactlyOnce(100),
];

/// One round of the outcome-delivery comparison, the deliveries side by side.
async fn measure_outcomes(
    env: &env::Env,
    d: &Dataset,
    results: &mut Results,
) -> anyhow::Result<()> {
    for delivery in DELIVERIES {
        let run = sink::outcomes(env, d, OUTCOME_BATCH, delivery).await?;
        results.add(&format!("outcomes/{}", delivery.key()), &run);
    }
    Ok(())
}

/// `--outcomes-only`: preloads `d` and runs only the outcome-delivery comparison.
async fn outcomes_only(args: &Args, env: &env::Env, d: &Dataset) -> anyhow::Result<()> {
    eprintln!("preloading {} records of ~{} B", d.records, d.value_bytes);
    load::preload(env, d).await?;
    let mut results = Results::default();
    for round in 1..=args.runs {
        eprintln!("round {round} of {}", args.runs);
        measure_outcomes(env, d, &mut results).await?;
    }
    println!(
        "{}",
        report::outcomes(&results, d, OUTCOME_BATCH, &DELIVERIES)
    );
    write_results(&args.out, &results)
}

/// `--outcomes-only`, `--regimes-only`, `--scale-only`, `--traces-only`:
/// that measurement alone (`small`: the small-record dataset); `None`
/// for the full run.
async fn one_measurement(
    args: &Args,
    env: &env::Env,
    small: &Dataset,
) -> Option<anyhow::Result<()>> {
    Some(if args.outcomes_only {
        outcomes_only(args, env, small).await
    } else if args.regimes_only {
        regimes_only(args, env).await
    } else if args.scale_only {
        lambda_sink_bench::scale::measure(env).await
    } else if args.traces_only {
        traces_only(args, env, small).await
    } else if args.parking_only {
        parking_only(args, env).await
    } else {
        return None;
    })
}

/// `--traces-only`: drains `d` (every record with a producer's
/// `traceparent`) with traces off and on, side by side in each round.
async fn traces_only(args: &Args, env: &env::Env, d: &Dataset) -> anyhow::Result<()> {
    let jaeger = lambda_sink_testkit::jaeger::Jaeger::start().await?;
    // Every record its own producer span (the producer's trace, a span
    // each): a batch links to all of its records.
    let producer = jaeger.producer_span("bench-producer").await?;
    let trace = &producer[3..35];
    eprintln!(
        "preloading {} traced records of ~{} B",
        d.records, d.value_bytes
    );
    load::preload_traced(env, d, |i| Some(format!("00-{trace}-{:016x}-01", i + 1))).await?;
    let endpoint = jaeger.otlp_endpoint();
    let traced = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_SERVICE_NAME", "lambda-sink-bench"),
    ];
    let mut results = Results::default();
    for round in 1..=args.runs {
        eprintln!("round {round} of {}", args.runs);
        for batch in [20, 100] {
            let off = sink::drain_in(env, &env.binary, d, batch, &[]).await?;
            results.add(&format!("traces/off/{batch}"), &off);
            let on = sink::drain_in(env, &env.binary, d, batch, &traced).await?;
            results.add(&format!("traces/on/{batch}"), &on);
        }
    }
    anyhow::ensure!(
        jaeger
            .services()
            .await?
            .iter()
            .any(|s| s == "lambda-sink-bench"),
        "no span of the traced runs reached Jaeger:\n{}",
        jaeger.log()
    );
    println!("{}", report::traces(&results, d));
    write_results(&args.out, &results)
}

/// `--parking-only`: preloads the parking topics and measures every case
/// in each round.
async fn parking_only(args: &Args, env: &env::Env) -> anyhow::Result<()> {
    let topics = lambda_sink_bench::parking::Topics::preload(env).await?;
    let mut results = Results::default();
    for round in 1..=args.runs {
        eprintln!("round {round} of {}", args.runs);
        topics.measure(env, &mut results).await?;
    }
    println!("{}", lambda_sink_bench::parking::table(&results));
    write_results(&args.out, &results)
}

/// `--regimes-only`: preloads the regimes' data and measures only them.
async fn regimes_only(args: &Args, env: &env::Env) -> anyhow::Result<()> {
    let grid = Grid::preload(env, args).await?;
    let mut results = Results::default();
    for round in 1..=args.runs {
        eprintln!("round {round} of {}", args.runs);
        grid.measure(env, args.baseline.as_deref(), &mut results)
            .await?;
    }
    println!(
        "{}",
        report::regimes(
            &results,
            &grid.cells,
            args.keys_per_partition,
            args.baseline.is_some()
        )
    );
    write_results(&args.out, &results)
}

fn write_results(out: &std::path::Path, results: &Results) -> anyhow::Result<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, serde_json::to_vec_pretty(&results.json())?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!("raw samples and medians: {}", out.display());
    Ok(())
}
