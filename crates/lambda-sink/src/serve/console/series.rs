//! The console's live plots: each hosted connector's metrics sampled every
//! [`INTERVAL`] into a bounded ring in the worker's memory ([`KEPT`]
//! samples: the last ten minutes), so no monitoring stack is needed to
//! watch a connector. Samples come from the connector's own Prometheus
//! exposition, so a plot shows exactly what `/metrics` says.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::clock::epoch_ms;
use crate::metrics::Metrics;
use crate::sync::lock;

/// How often a sample is taken.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// Samples kept per connector (10 minutes).
pub const KEPT: usize = 300;

/// One sample: cumulative counters and current gauges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Milliseconds since the epoch.
    pub at: u64,
    /// Records consumed, all topics.
    pub consumed: f64,
    /// Records resolved, by outcome.
    pub resolved: BTreeMap<String, f64>,
    /// Consumer lag by `topic-partition`.
    pub lag: BTreeMap<String, f64>,
    /// Invocation latency histogram: cumulative count per bucket bound.
    pub latency: Vec<(f64, f64)>,
    /// Invocations in flight.
    pub in_flight: f64,
    /// The in-flight limit.
    pub limit: f64,
    /// Throttles (429) so far.
    pub throttles: f64,
    /// Retries so far, all reasons.
    pub retries: f64,
    /// Lag in time and stalls by `topic-partition`.
    pub partitions: BTreeMap<String, Behind>,
}

/// A partition's lag in time and stall, as its worker last set them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Behind {
    /// Age of its oldest record not yet resolved, in seconds.
    pub seconds: f64,
    /// How long its committable offset has stood still while records wait.
    pub stuck_seconds: f64,
    /// Whether it is stalled (`partition.stall.timeout.ms`).
    pub stalled: bool,
}

/// `topic-partition` of a sample's labels.
fn partition_key(labels: &BTreeMap<&str, String>) -> String {
    format!(
        "{}-{}",
        labels.get("topic").map_or("", String::as_str),
        labels.get("partition").map_or("", String::as_str)
    )
}

/// `name{labels} value` → (name, labels, value).
fn sample_line(line: &str) -> Option<(&str, BTreeMap<&str, String>, f64)> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match head.split_once('{') {
        Some((name, rest)) => (name, rest.strip_suffix('}')?),
        None => (head, ""),
    };
    let mut map = BTreeMap::new();
    // Our label values never hold `",` (topics, outcomes, numbers).
    for pair in labels.split("\",").filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once("=\"")?;
        map.insert(k, v.trim_end_matches('"').to_string());
    }
    Some((name, map, value))
}

/// A sample of one connector's exposition.
pub fn sample(text: &str, at: u64) -> Sample {
    let mut s = Sample {
        at,
        ..Sample::default()
    };
    let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, labels, value)) = sample_line(line) else {
            continue;
        };
        match name {
            "lambda_sink_records_consumed_total" => s.consumed += value,
            "lambda_sink_records_resolved_total" => {
                let outcome = labels.get("outcome").cloned().unwrap_or_default();
                *s.resolved.entry(outcome).or_insert(0.0) += value;
            }
            "lambda_sink_consumer_lag" => {
                s.lag.insert(partition_key(&labels), value);
            }
            "lambda_sink_partition_oldest_unresolved_age_seconds" => {
                s.partitions
                    .entry(partition_key(&labels))
                    .or_default()
                    .seconds = value;
            }
            "lambda_sink_partition_stuck_seconds" => {
                s.partitions
                    .entry(partition_key(&labels))
                    .or_default()
                    .stuck_seconds = value;
            }
            "lambda_sink_partition_stalled" => {
                s.partitions
                    .entry(partition_key(&labels))
                    .or_default()
                    .stalled = value >= 1.0;
            }
            "lambda_sink_invocation_duration_seconds_bucket" => {
                let le = labels.get("le").map_or("+Inf", String::as_str);
                let bound = le.parse::<f64>().unwrap_or(f64::INFINITY);
                // Sum the sync and async families bucket by bucket.
                let entry = buckets.entry(bound.to_bits()).or_insert((bound, 0.0));
                entry.1 += value;
            }
            "lambda_sink_in_flight_invocations" => s.in_flight = value,
            "lambda_sink_in_flight_limit" => s.limit = value,
            "lambda_sink_throttles_total" => s.throttles = value,
            "lambda_sink_retries_total" => s.retries += value,
            _ => {}
        }
    }
    let mut latency: Vec<(f64, f64)> = buckets.into_values().collect();
    latency.sort_by(|a, b| a.0.total_cmp(&b.0));
    s.latency = latency;
    s
}

/// The `q` quantile (0..1) of the invocations between two histogram
/// samples, interpolated linearly within the bucket it falls in, as
/// Prometheus' `histogram_quantile` does: the first bucket starts at 0, and
/// a quantile in the `+Inf` bucket is the highest finite bound (`None`: no
/// invocation in between).
fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let count = |h: &[(f64, f64)], bound: f64| {
        h.iter()
            .find(|(b, _)| {
                (*b - bound).abs() < f64::EPSILON || (b.is_infinite() && bound.is_infinite())
            })
            .map_or(0.0, |(_, c)| *c)
    };
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, c)| (*bound, c - count(before, *bound)))
        .collect();
    let total = deltas.last().map_or(0.0, |(_, c)| *c);
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let at = deltas.iter().position(|(_, c)| *c >= rank)?;
    let (upper, cumulative) = deltas[at];
    let (lower, below) = if at == 0 { (0.0, 0.0) } else { deltas[at - 1] };
    if upper.is_infinite() {
        return Some(lower).filter(|l| *l > 0.0);
    }
    let in_bucket = cumulative - below;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / in_bucket)
}

/// Per-second rates and gauges of a ring of samples, for the plots.
pub fn plot(samples: &VecDeque<Sample>) -> Value {
    let points: Vec<Value> = samples
        .iter()
        .zip(samples.iter().skip(1))
        .map(|(a, b)| {
            let seconds = ((b.at.saturating_sub(a.at)) as f64 / 1000.0).max(0.001);
            let rate = |x: f64, y: f64| ((y - x) / seconds).max(0.0);
            let resolved: BTreeMap<&String, f64> = b
                .resolved
                .iter()
                .map(|(k, v)| (k, rate(a.resolved.get(k).copied().unwrap_or(0.0), *v)))
                .collect();
            json!({
                "at": b.at,
                "consumed_per_s": rate(a.consumed, b.consumed),
                "resolved_per_s": resolved,
                "lag": b.lag,
                "latency_s": {
                    "p50": quantile(&a.latency, &b.latency, 0.5),
                    "p95": quantile(&a.latency, &b.latency, 0.95),
                    "p99": quantile(&a.latency, &b.latency, 0.99),
                },
                "in_flight": b.in_flight,
                "limit": b.limit,
                "throttles_per_s": rate(a.throttles, b.throttles),
                "retries_per_s": rate(a.retries, b.retries),
                "lag_seconds": lag_seconds(b),
            })
        })
        .collect();
    let totals = samples.back().map(|s| {
        let stalled: Vec<Value> = s
            .partitions
            .iter()
            .filter(|(_, b)| b.stalled)
            .map(|(partition, b)| {
                json!({
                    "partition": partition,
                    "stuck_seconds": b.stuck_seconds,
                    "lag_seconds": b.seconds,
                })
            })
            .collect();
        json!({
            "consumed": s.consumed,
            "resolved": s.resolved,
            "lag": s.lag.values().sum::<f64>(),
            "lag_seconds": lag_seconds(s),
            "stalled": stalled,
            "throttles": s.throttles,
            "retries": s.retries,
        })
    });
    json!({ "interval_ms": INTERVAL.as_millis(), "points": points, "totals": totals })
}

/// How far behind in time the connector's furthest-behind partition is.
fn lag_seconds(s: &Sample) -> f64 {
    s.partitions.values().map(|b| b.seconds).fold(0.0, f64::max)
}

/// Every hosted connector's ring.
#[derive(Default)]
pub struct Series {
    rings: Mutex<BTreeMap<String, VecDeque<Sample>>>,
}

impl Series {
    /// Takes one sample of each connector; forgets connectors not listed.
    pub fn record(&self, connectors: &[(String, Arc<Metrics>)]) {
        let at = epoch_ms().unsigned_abs();
        let mut rings = lock(&self.rings);
        rings.retain(|name, _| connectors.iter().any(|(n, _)| n == name));
        for (name, metrics) in connectors {
            let ring = rings.entry(name.clone()).or_default();
            if ring.len() == KEPT {
                ring.pop_front();
            }
            ring.push_back(sample(&metrics.encode(), at));
        }
    }

    /// The plot data of `name` (empty points when not sampled yet).
    pub fn plot(&self, name: &str) -> Value {
        let rings = lock(&self.rings);
        rings.get(name).map_or_else(|| plot(&VecDeque::new()), plot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{OutcomeLabel, PartitionLabels, TypeLabel};
    use lambda_sink_core::progress::Progress;

    fn take(m: &Metrics, at: u64) -> Sample {
        sample(&m.encode(), at)
    }

    #[test]
    fn samples_and_rates_come_from_the_exposition() {
        let m = Metrics::new();
        let first = take(&m, 1_000);
        m.records_resolved
            .get_or_create(&OutcomeLabel { outcome: "success" })
            .inc_by(40);
        m.records_consumed
            .get_or_create(&crate::metrics::TopicLabel { topic: "t".into() })
            .inc_by(50);
        m.consumer_lag
            .get_or_create(&PartitionLabels {
                topic: "t".into(),
                partition: "3".into(),
            })
            .set(7);
        m.in_flight_limit.set(16);
        for _ in 0..99 {
            m.invocation_duration
                .get_or_create(&TypeLabel { r#type: "sync" })
                .observe(0.007);
        }
        m.invocation_duration
            .get_or_create(&TypeLabel { r#type: "sync" })
            .observe(2.0);
        let second = take(&m, 3_000);
        assert_eq!(second.consumed, 50.0);
        assert_eq!(second.lag["t-3"], 7.0);
        let ring: VecDeque<Sample> = [first, second].into_iter().collect();
        let p = plot(&ring);
        let point = &p["points"][0];
        assert_eq!(point["consumed_per_s"], 25.0);
        assert_eq!(point["resolved_per_s"]["success"], 20.0);
        assert_eq!(point["limit"], 16.0);
        // 99 observations of 7 ms and one of 2 s: p50 and p99 fall in the
        // bucket holding 7 ms, interpolated within it.
        let bucket = bucket_of(0.007);
        for q in ["p50", "p99"] {
            let v = point["latency_s"][q].as_f64().unwrap();
            assert!(bucket.0 < v && v <= bucket.1, "{q} {v} in {bucket:?}");
        }
        assert_eq!(p["totals"]["lag"], 7.0);
        assert!(quantile(&[], &[], 0.5).is_none());
        assert_eq!(p["totals"]["stalled"], json!([]));
        assert_eq!(p["totals"]["lag_seconds"], 0.0);
    }

    #[test]
    fn lag_in_time_and_stalled_partitions_come_from_the_exposition() {
        let m = Metrics::new();
        let labels = |p: &str| PartitionLabels {
            topic: "t".into(),
            partition: p.into(),
        };
        let progress = |seconds: f64, stuck: u64, stalled: bool| Progress {
            oldest_unresolved_age: seconds,
            stuck_for: Duration::from_secs(stuck),
            stalled,
        };
        m.progress(&labels("0"), &progress(42.5, 30, true), 0.0);
        m.progress(&labels("1"), &progress(3.0, 0, false), 0.0);
        let ring: VecDeque<Sample> = [take(&m, 1_000), take(&m, 3_000)].into_iter().collect();
        let p = plot(&ring);
        assert_eq!(p["points"][0]["lag_seconds"], 42.5);
        assert_eq!(p["totals"]["lag_seconds"], 42.5);
        assert_eq!(
            p["totals"]["stalled"],
            json!([{ "partition": "t-0", "stuck_seconds": 30.0, "lag_seconds": 42.5 }])
        );
        // A partition that moves again is no longer listed.
        m.progress(&labels("0"), &progress(0.0, 0, false), 0.0);
        let ring: VecDeque<Sample> = [take(&m, 5_000)].into_iter().collect();
        assert_eq!(plot(&ring)["totals"]["stalled"], json!([]));
    }

    /// The bounds of the invocation-duration bucket `seconds` falls in.
    fn bucket_of(seconds: f64) -> (f64, f64) {
        let m = Metrics::new();
        m.invocation_duration
            .get_or_create(&TypeLabel { r#type: "sync" })
            .observe(seconds);
        let s = take(&m, 1_000);
        let at = s.latency.iter().position(|(_, c)| *c > 0.0).unwrap();
        (
            if at == 0 { 0.0 } else { s.latency[at - 1].0 },
            s.latency[at].0,
        )
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        const INF: f64 = f64::INFINITY;
        let before = [(0.1, 0.0), (0.2, 0.0), (INF, 0.0)];
        let second = [(0.1, 0.0), (0.2, 10.0), (INF, 10.0)];
        type Buckets<'a> = &'a [(f64, f64)];
        let cases: [(Buckets, f64, Option<f64>); 5] = [
            // All in (0.1, 0.2]: p50 at its middle, p100 at its bound.
            (&second, 0.5, Some(0.15)),
            (&second, 1.0, Some(0.2)),
            // The first bucket starts at 0.
            (&[(0.1, 4.0), (0.2, 4.0), (INF, 4.0)], 0.5, Some(0.05)),
            // In +Inf: the highest finite bound.
            (&[(0.1, 0.0), (0.2, 0.0), (INF, 3.0)], 0.5, Some(0.2)),
            // Nothing observed in between.
            (&before, 0.5, None),
        ];
        for (after, q, want) in cases {
            let got = quantile(&before, after, q);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{after:?} q{q}: {g} ≠ {w}"),
                _ => assert_eq!(got, want, "{after:?} q{q}"),
            }
        }
    }

    #[test]
    fn a_fixed_latency_is_resolved_within_ten_per_cent() {
        // Buckets a fourth of an octave wide: a function answering in a
        // fixed time anywhere from 2 ms to 10 min has its p50 within 10 %.
        for ms in [2.0, 7.0, 51.0, 150.0, 160.0, 999.0, 12_345.0, 600_000.0] {
            let m = Metrics::new();
            let first = take(&m, 0);
            for _ in 0..50 {
                m.invocation_duration
                    .get_or_create(&TypeLabel { r#type: "sync" })
                    .observe(ms / 1000.0);
            }
            let second = take(&m, 2_000);
            let p50 = quantile(&first.latency, &second.latency, 0.5).unwrap() * 1000.0;
            assert!((p50 - ms).abs() / ms <= 0.10, "{ms} ms read as {p50} ms");
        }
    }

    #[test]
    fn rings_are_bounded_and_follow_the_hosted_connectors() {
        let series = Series::default();
        let m = Arc::new(Metrics::new());
        for _ in 0..KEPT + 5 {
            series.record(&[("a".into(), m.clone())]);
        }
        assert_eq!(lock(&series.rings)["a"].len(), KEPT);
        series.record(&[("b".into(), m)]);
        assert!(!lock(&series.rings).contains_key("a"));
        assert_eq!(series.plot("nobody")["points"], json!([]));
    }
}
