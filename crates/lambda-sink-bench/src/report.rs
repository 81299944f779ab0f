//! Samples, medians and the Markdown table of results.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{Value, json};

use crate::load::Dataset;
use crate::regime::{Cell, Regime};
use crate::sink::{Concurrent, Delivery, LatencyBound, Throttled};
use crate::stats::{Sample, median};

/// Every sample of every measurement, by measurement name.
#[derive(Debug, Default)]
pub struct Results {
    samples: BTreeMap<String, Vec<Sample>>,
}

impl Results {
    /// Adds a sample of `measurement`.
    pub fn add(&mut self, measurement: &str, sample: &Sample) {
        self.samples
            .entry(measurement.to_string())
            .or_default()
            .push(sample.clone());
    }

    /// The median of `figure` over the samples of `measurement`.
    pub fn median(&self, measurement: &str, figure: &str) -> f64 {
        let values: Vec<f64> = self
            .samples
            .get(measurement)
            .into_iter()
            .flatten()
            .filter_map(|s| s.get(figure).copied())
            .collect();
        median(&values)
    }

    /// `figure` of the latest sample of `measurement` (NaN if none).
    pub fn last(&self, measurement: &str, figure: &str) -> f64 {
        self.samples
            .get(measurement)
            .and_then(|s| s.last())
            .and_then(|s| s.get(figure).copied())
            .unwrap_or(f64::NAN)
    }

    /// Raw samples and medians, for the results file.
    pub fn json(&self) -> Value {
        let measurements: BTreeMap<&String, Value> = self
            .samples
            .iter()
            .map(|(name, samples)| {
                let figures: BTreeMap<&str, f64> = samples
                    .iter()
                    .flat_map(|s| s.keys().copied())
                    .map(|f| (f, self.median(name, f)))
                    .collect();
                (name, json!({ "median": figures, "samples": samples }))
            })
            .collect();
        json!(measurements)
    }
}

fn fmt_int(v: f64) -> String {
    if v.is_nan() {
        return "–".into();
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Markdown tables BENCHMARKS.md shows.
pub fn table(
    r: &Results,
    datasets: &[Dataset],
    bound: &LatencyBound,
    concurrent: &Concurrent,
    throttled: &Throttled,
) -> String {
    let mut out = throughput(r, datasets);
    out.push_str(&latency_bound(r, bound));
    out.push_str(&concurrency(r, bound, concurrent));
    out.push_str(&throttling(r, throttled));
    out.push_str(&latency(r));
    out
}

/// The throughput and CPU-per-record tables.
fn throughput(r: &Results, datasets: &[Dataset]) -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Throughput (zero-latency endpoint)\n\n\
         | records | batch | broker consume ceiling (rec/s) | endpoint ceiling (rec/s) | lambda-sink (rec/s) | ratio to min ceiling (target ≥ 0.80) | invocations/s | lambda-sink CPU s | peak RSS MB | first invocation ms (plain consumer's first record) |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    );
    let mut machine = format!(
        "\n### CPU per record ({cores} cores)\n\n\
         | records | batch | plain consumer µs | invoker alone µs (SDK's Invoke) | sum µs | **lambda-sink µs** | **lambda-sink / sum** (target ≤ 1.5) | broker µs (plain consumer / lambda-sink) | fake endpoint µs | shared-CPU bound (rec/s) | cores busy while lambda-sink drains | ratio to min(ceilings, shared-CPU bound) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for d in datasets {
        let consumer = format!("{}/consumer", d.name);
        for batch in [20, 100] {
            let sink = format!("{}/lambda-sink/{batch}", d.name);
            let endpoint = format!("{}/endpoint/{batch}", d.name);
            let sdk = format!("{}/sdk/{batch}", d.name);
            let records = format!("{} × ~{} B", fmt_int(d.records as f64), d.value_bytes);
            let _ = writeln!(
                out,
                "| {records} | {batch} | {} | {} | {} | {:.2} | {} | {:.1} | {:.0} | {:.0} ({:.0}) |",
                fmt_int(r.median(&consumer, "records_per_s")),
                fmt_int(r.median(&endpoint, "records_per_s")),
                fmt_int(r.median(&sink, "records_per_s")),
                r.median(&sink, "ratio"),
                fmt_int(r.median(&sink, "invocations_per_s")),
                r.median(&sink, "cpu_seconds"),
                r.median(&sink, "peak_rss_mb"),
                r.median(&sink, "first_invocation_ms"),
                r.median(&consumer, "first_record_ms"),
            );
            let _ = writeln!(
                machine,
                "| {records} | {batch} | {:.2} | {:.2} ({:.2}) | {:.2} | **{:.2}** | **{:.2}** | {:.2} / {:.2} | {:.2} | {} | {:.2} | {:.2} |",
                r.median(&consumer, "consumer_cpu_us_per_record"),
                r.median(&endpoint, "client_cpu_us_per_record"),
                r.median(&sdk, "client_cpu_us_per_record"),
                r.median(&sink, "clients_cpu_us_per_record"),
                r.median(&sink, "cpu_us_per_record"),
                r.median(&sink, "cpu_ratio_to_clients"),
                r.median(&consumer, "broker_cpu_us_per_record"),
                r.median(&sink, "broker_cpu_us_per_record"),
                r.median(&endpoint, "endpoint_cpu_us_per_record"),
                fmt_int(r.median(&sink, "shared_cpu_bound")),
                r.median(&sink, "cores_busy"),
                r.median(&sink, "ratio_to_shared"),
            );
        }
    }
    out.push_str(&machine);
    out
}

/// The latency-bound case.
fn latency_bound(r: &Results, bound: &LatencyBound) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Latency-bound (endpoint answers after {} ms)\n\n\
         | partitions | batch | records | theoretical P × B / L (rec/s) | lambda-sink (rec/s) | ratio (target ≥ 0.95) |\n\
         |---|---|---|---|---|---|\n\
         | {} | {} | {} | {} | {} | {:.3} |",
        bound.latency_ms,
        bound.partitions,
        bound.batch,
        fmt_int(bound.records() as f64),
        fmt_int(bound.theoretical()),
        fmt_int(r.median("bound/lambda-sink", "records_per_s")),
        r.median("bound/lambda-sink", "ratio"),
    );
    out
}

/// Concurrency inside a partition (`key` and `none` ordering).
fn concurrency(r: &Results, bound: &LatencyBound, concurrent: &Concurrent) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Concurrency inside a partition (endpoint answers after {} ms)\n\n\
         {} partitions, batch {}, {} distinct keys, aws.lambda.max.in.flight.per.partition {}: theoretical P × {} × B / L = {} rec/s; the endpoint's ceiling at batch {} = {} rec/s.\n\n\
         | aws.lambda.ordering | records | lambda-sink (rec/s) | × partition mode (target ≥ 10) | ratio to min(theoretical, endpoint ceiling) (target ≥ 0.8) | records per invocation | most requests in flight |\n\
         |---|---|---|---|---|---|---|\n\
         | partition | {} | {} | 1 | | | |",
        concurrent.latency_ms,
        concurrent.partitions,
        concurrent.batch,
        fmt_int(concurrent.keys as f64),
        concurrent.per_partition,
        concurrent.per_partition,
        fmt_int(concurrent.theoretical()),
        concurrent.batch,
        fmt_int(r.median("small/endpoint/20", "records_per_s")),
        fmt_int(bound.records() as f64),
        fmt_int(r.median("bound/lambda-sink", "records_per_s")),
    );
    for ordering in ["key", "none"] {
        let m = format!("concurrent/{ordering}");
        let _ = writeln!(
            out,
            "| {ordering} | {} | {} | **{:.1}** | **{:.2}** | {:.1} | {} |",
            fmt_int(concurrent.records() as f64),
            fmt_int(r.median(&m, "records_per_s")),
            r.median(&m, "to_partition_mode"),
            r.median(&m, "ratio_to_min"),
            r.median(&m, "records_per_invocation"),
            fmt_int(r.median(&m, "max_concurrent")),
        );
    }
    out
}

/// The throttled function, with and without the adaptive limit.
fn throttling(r: &Results, throttled: &Throttled) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Throttling (a function with {} concurrent executions, 429 above; {} ms; batch {}; aws.lambda.max.in.flight {})\n\n\
         | aws.lambda.adaptive.concurrency | calls throttled (target < 10 %) | settled in-flight limit (target ≈ {}) | lambda-sink (rec/s) | ratio to capacity × B / L = {} rec/s |\n\
         |---|---|---|---|---|",
        throttled.capacity,
        throttled.latency_ms,
        throttled.batch,
        throttled.max_in_flight,
        throttled.capacity,
        fmt_int(throttled.theoretical()),
    );
    for adaptive in [true, false] {
        let m = format!("throttled/{adaptive}");
        let _ = writeln!(
            out,
            "| {adaptive} | **{:.1} %** | **{:.1}** | {} | {:.2} |",
            r.median(&m, "throttled_share") * 100.0,
            r.median(&m, "settled_limit"),
            fmt_int(r.median(&m, "records_per_s")),
            r.median(&m, "ratio"),
        );
    }
    out
}

/// The latency lambda-sink adds.
fn latency(r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### Latency (low load, linger 0)\n\n\
         | | p50 ms | p99 ms | max ms |\n|---|---|---|---|\n\
         | produce → a plain consumer's poll | {:.2} | {:.2} | |\n\
         | produce → the endpoint, through lambda-sink | {:.2} | {:.2} | |\n\
         | **added by lambda-sink**, record by record: its arrival at the endpoint − the plain consumer's poll of it (target p99 ≤ 5 ms) | **{:.2}** | **{:.2}** | {:.2} |",
        r.median("latency", "consumer_p50_ms"),
        r.median("latency", "consumer_p99_ms"),
        r.median("latency", "sink_p50_ms"),
        r.median("latency", "sink_p99_ms"),
        r.median("latency", "added_p50_ms"),
        r.median("latency", "added_p99_ms"),
        r.median("latency", "added_max_ms"),
    );
    out
}

/// This binary against `--baseline`, drained side by side in each round.
pub fn baseline(r: &Results, datasets: &[Dataset], bound: &LatencyBound) -> String {
    let mut out = String::from(
        "### Against the baseline (side by side, medians)\n\n\
         | records | batch | baseline rec/s (ratio to min ceiling) | this rec/s (ratio) | this ÷ baseline | baseline µs/rec (÷ clients) | this µs/rec (÷ clients) |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for d in datasets {
        for batch in [20, 100] {
            let (this, before) = (
                format!("{}/lambda-sink/{batch}", d.name),
                format!("{}/baseline/{batch}", d.name),
            );
            let _ = writeln!(
                out,
                "| {} × ~{} B | {batch} | {} ({:.2}) | {} ({:.2}) | **{:.2}** | {:.2} ({:.2}) | {:.2} ({:.2}) |",
                fmt_int(d.records as f64),
                d.value_bytes,
                fmt_int(r.median(&before, "records_per_s")),
                r.median(&before, "ratio"),
                fmt_int(r.median(&this, "records_per_s")),
                r.median(&this, "ratio"),
                r.median(&this, "records_per_s") / r.median(&before, "records_per_s"),
                r.median(&before, "cpu_us_per_record"),
                r.median(&before, "cpu_ratio_to_clients"),
                r.median(&this, "cpu_us_per_record"),
                r.median(&this, "cpu_ratio_to_clients"),
            );
        }
    }
    let _ = writeln!(
        out,
        "| latency-bound ({} ms), {} records | {} | {} ({:.3} of P × B / L) | {} ({:.3}) | **{:.2}** | | |",
        bound.latency_ms,
        fmt_int(bound.records() as f64),
        bound.batch,
        fmt_int(r.median("bound/baseline", "records_per_s")),
        r.median("bound/baseline", "ratio"),
        fmt_int(r.median("bound/lambda-sink", "records_per_s")),
        r.median("bound/lambda-sink", "ratio"),
        r.median("bound/lambda-sink", "records_per_s")
            / r.median("bound/baseline", "records_per_s"),
    );
    out
}

/// `--traces-only`: draining with OpenTelemetry traces off and on, side by
/// side.
pub fn traces(r: &Results, d: &Dataset) -> String {
    let mut out = format!(
        "### OpenTelemetry traces off and on ({} traced records × ~{} B, medians)\n\n\
         | batch | off rec/s | on rec/s | on ÷ off | off µs/rec | on µs/rec | on ÷ off | off peak MB | on peak MB |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        fmt_int(d.records as f64),
        d.value_bytes
    );
    for batch in [20, 100] {
        let (off, on) = (format!("traces/off/{batch}"), format!("traces/on/{batch}"));
        let _ = writeln!(
            out,
            "| {batch} | {} | {} | **{:.2}** | {:.2} | {:.2} | **{:.2}** | {:.0} | {:.0} |",
            fmt_int(r.median(&off, "records_per_s")),
            fmt_int(r.median(&on, "records_per_s")),
            r.median(&on, "records_per_s") / r.median(&off, "records_per_s"),
            r.median(&off, "cpu_us_per_record"),
            r.median(&on, "cpu_us_per_record"),
            r.median(&on, "cpu_us_per_record") / r.median(&off, "cpu_us_per_record"),
            r.median(&off, "peak_rss_mb"),
            r.median(&on, "peak_rss_mb"),
        );
    }
    out
}

/// The outcome-delivery comparison (`sink::outcomes`): at-least-once and
/// exactly-once side by side, medians.
pub fn outcomes(r: &Results, d: &Dataset, batch: usize, deliveries: &[Delivery]) -> String {
    let base = format!("outcomes/{}", Delivery::AtLeastOnce.key());
    let mut out = format!(
        "### Outcome records at-least-once and exactly-once ({} × ~{} B, batch {batch}, a result record each, side by side, medians)\n\n\
         | delivery | rec/s to committed | ÷ at-least-once | invoked rec/s | last invocation → committed ms | lambda-sink CPU µs/rec | broker CPU µs/rec | peak RSS MB |\n\
         |---|---|---|---|---|---|---|---|\n",
        fmt_int(d.records as f64),
        d.value_bytes,
    );
    for delivery in deliveries {
        let key = format!("outcomes/{}", delivery.key());
        let label = match delivery {
            Delivery::AtLeastOnce => "at-least-once".to_string(),
            Delivery::ExactlyOnce(ms) => format!("exactly-once, interval {ms} ms"),
        };
        let _ = writeln!(
            out,
            "| {label} | {} | **{:.2}** | {} | {:.0} | {:.2} | {:.2} | {:.0} |",
            fmt_int(r.median(&key, "records_per_s")),
            r.median(&key, "records_per_s") / r.median(&base, "records_per_s"),
            fmt_int(r.median(&key, "invoked_per_s")),
            r.median(&key, "commit_lag_ms"),
            r.median(&key, "cpu_us_per_record"),
            r.median(&key, "broker_cpu_us_per_record"),
            r.median(&key, "peak_rss_mb"),
        );
    }
    out
}

/// The latency regimes (`regime`): each cell against its bound, and its CPU
/// per record against the zero-latency cell of the same batch and ordering
/// (same round, medians); with a baseline, its figures beside.
pub fn regimes(r: &Results, cells: &[Cell], keys_per_partition: usize, baseline: bool) -> String {
    let mut out = format!(
        "### Latency regimes ({keys_per_partition} keys a partition, ~100 B, default concurrency; medians)\n\n\
         | endpoint latency | batch | ordering | slots | records | bound rec/s | lambda-sink rec/s | ratio to bound | records/invocation | CPU µs/record | × zero-latency | CPU µs/invocation | invoker alone µs/invocation (× zero-latency) | peak RSS MB |",
    );
    out.push_str(if baseline {
        " baseline rec/s | baseline CPU µs/record | baseline × zero-latency |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    for cell in cells {
        let g = cell.regime;
        let key = g.key();
        let zero = Regime { latency_ms: 0, ..g }.key();
        let cpu = r.median(&key, "cpu_us_per_record");
        let alone = |k: &str| r.median(&format!("{k}/invoker"), "client_cpu_us_per_invocation");
        let invoker = if g.ordering == "partition" {
            format!("{:.0} ({:.2})", alone(&key), alone(&key) / alone(&zero))
        } else {
            "–".to_string()
        };
        let _ = write!(
            out,
            "| {} ms | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.2} | **{:.2}** | {:.0} | {invoker} | {:.0} |",
            g.latency_ms,
            g.batch,
            g.ordering,
            cell.slots,
            fmt_int(cell.records as f64),
            fmt_int(r.median(&key, "bound")),
            fmt_int(r.median(&key, "records_per_s")),
            r.median(&key, "ratio_to_bound"),
            r.median(&key, "records_per_invocation"),
            cpu,
            cpu / r.median(&zero, "cpu_us_per_record"),
            r.median(&key, "cpu_us_per_invocation"),
            r.median(&key, "peak_rss_mb"),
        );
        if baseline {
            let (before, zero_before) = (format!("{key}/baseline"), format!("{zero}/baseline"));
            let _ = write!(
                out,
                " {} | {:.2} | {:.2} |",
                fmt_int(r.median(&before, "records_per_s")),
                r.median(&before, "cpu_us_per_record"),
                r.median(&before, "cpu_us_per_record")
                    / r.median(&zero_before, "cpu_us_per_record"),
            );
        }
        out.push('\n');
    }
    let zero = Regime {
        latency_ms: 0,
        batch: 20,
        ordering: "partition",
    }
    .key();
    let idle = |suffix: &str| r.median(&format!("{zero}{suffix}"), "idle_cpu_ms_per_s");
    let _ = write!(
        out,
        "\nIdle (caught up, after the 0 ms / batch 20 / partition drain): lambda-sink {:.1} ms of CPU per second",
        idle("")
    );
    if baseline {
        let _ = write!(out, ", baseline {:.1}", idle("/baseline"));
    }
    out.push_str(".\n");
    out
}
