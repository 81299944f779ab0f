//! The latency regimes: lambda-sink draining through an endpoint that
//! answers after 0, 10, 50 or 200 ms, at batch 20 and 100, in `partition`
//! and `key` ordering with the connector's default concurrency — the
//! conditions real functions put it in. Each run's records/s against the
//! bound the settings allow, its CPU per record and per invocation, the
//! records per invocation and peak RSS; the zero-latency runs of the same
//! grid stand beside them in the same round.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use lambda_sink_testkit::fake_lambda;
use lambda_sink_testkit::unique;

use crate::env::{Env, cpu_seconds};
use crate::load::{self, Dataset};
use crate::sink::{received, stop_committed};
use crate::stats::Sample;

/// Endpoint latencies measured, in ms (0: the zero-latency reference).
pub const LATENCIES: [u64; 4] = [0, 10, 50, 200];
/// Batch sizes measured.
pub const BATCHES: [usize; 2] = [20, 100];
/// Orderings measured.
pub const ORDERINGS: [&str; 2] = ["partition", "key"];
/// Keys per partition in the regimes' data unless `--keys-per-partition`
/// says otherwise (the "many keys").
pub const KEYS_PER_PARTITION: usize = 50;

/// One cell of the grid.
#[derive(Clone, Copy, Debug)]
pub struct Regime {
    /// The endpoint's latency (0: answers at once).
    pub latency_ms: u64,
    /// `aws.lambda.batch.size`.
    pub batch: usize,
    /// `aws.lambda.ordering`.
    pub ordering: &'static str,
}

impl Regime {
    /// Every cell, zero latency first.
    pub fn grid() -> Vec<Self> {
        let mut cells = Vec::new();
        for latency_ms in LATENCIES {
            for batch in BATCHES {
                for ordering in ORDERINGS {
                    cells.push(Self {
                        latency_ms,
                        batch,
                        ordering,
                    });
                }
            }
        }
        cells
    }

    /// The measurement's name in the results.
    pub fn key(&self) -> String {
        format!(
            "regime/{}ms/{}/{}",
            self.latency_ms, self.batch, self.ordering
        )
    }

    /// Batches that may be in flight at once with the connector's default
    /// concurrency on `partitions` partitions: one per partition in
    /// `partition` ordering; `max.in.flight.per.partition` per partition,
    /// `max.in.flight` in all, in `key` ordering.
    pub fn slots(&self, partitions: usize, per_partition: usize, max_in_flight: usize) -> usize {
        if self.ordering == "partition" {
            partitions.min(max_in_flight)
        } else {
            (partitions * per_partition).min(max_in_flight)
        }
    }

    /// Records/s the settings allow: slots × B / L (none at zero latency).
    pub fn bound(&self, slots: usize) -> Option<f64> {
        (self.latency_ms > 0).then(|| (slots * self.batch) as f64 * 1000.0 / self.latency_ms as f64)
    }
}

/// The batches `env`'s connector config allows in flight in `regime`
/// (the defaults, or what `--set` changed).
pub fn configured_slots(env: &Env, regime: &Regime) -> anyhow::Result<usize> {
    let config = env.config(
        "bench-regime",
        "bench-regime",
        "regime",
        "http://127.0.0.1:1",
        regime.batch,
        &[("aws.lambda.ordering", regime.ordering)],
    );
    let lambda = env.validated(&config)?.lambda;
    Ok(regime.slots(
        usize::try_from(env.partitions)?,
        lambda.max_in_flight_per_partition,
        lambda.max_in_flight,
    ))
}

/// A cell as measured: its regime, the batches its settings allow in
/// flight, and the records it drains.
#[derive(Clone, Copy, Debug)]
pub struct Cell {
    /// What is measured.
    pub regime: Regime,
    /// Batches allowed in flight.
    pub slots: usize,
    /// Records drained.
    pub records: usize,
}

/// Records each run drains: about `seconds` at the bound (at zero latency,
/// as many as at 10 ms), in multiples of 8,000, at least 16,000 and at most
/// 400,000 (a CPU-bound run needs no more to be measured).
pub fn records_for(regime: &Regime, slots: usize, seconds: f64) -> usize {
    let at = Regime {
        latency_ms: regime.latency_ms.max(10),
        ..*regime
    };
    let wanted = at.bound(slots).unwrap_or(0.0) * seconds;
    let step = 8_000.0;
    ((wanted / step).ceil() * step).clamp(16_000.0, 400_000.0) as usize
}

/// The regimes' data: one topic per size, the same number of keys on each
/// partition, ~100 B values.
#[derive(Default)]
pub struct Topics {
    by_size: BTreeMap<usize, Dataset>,
}

impl Topics {
    /// Preloads a topic of every size `sizes` holds (once each), with
    /// `keys_per_partition` keys on each partition.
    pub async fn preload(
        env: &Env,
        sizes: impl IntoIterator<Item = usize>,
        keys_per_partition: usize,
    ) -> anyhow::Result<Self> {
        let partitions = usize::try_from(env.partitions)?;
        let mut by_size = BTreeMap::new();
        for records in sizes {
            if by_size.contains_key(&records) {
                continue;
            }
            let keys = keys_per_partition * partitions;
            let d = Dataset::new("regime", 100, records)
                .with_keys(keys)
                .with_topic(format!("bench-regime-{records}-{keys}"));
            eprintln!("preloading {records} records with {keys} keys");
            load::preload(env, &d).await?;
            by_size.insert(records, d);
        }
        Ok(Self { by_size })
    }

    /// The topic of `records` records.
    pub fn get(&self, records: usize) -> anyhow::Result<&Dataset> {
        self.by_size
            .get(&records)
            .ok_or_else(|| anyhow::anyhow!("no regime topic of {records} records was preloaded"))
    }
}

/// `binary` drains `d` in `cell`'s regime with the connector's defaults
/// otherwise.
pub async fn run(
    env: &Env,
    binary: &std::path::Path,
    d: &Dataset,
    cell: &Cell,
) -> anyhow::Result<Sample> {
    let regime = &cell.regime;
    let fake = fake_lambda::start_dedicated(2)?;
    let name = unique(&format!("bench-regime-{}", regime.latency_ms));
    let function = format!("slow{}-fixed-regime", regime.latency_ms);
    let config = env.config(
        &name,
        &d.topic,
        &function,
        &fake.url(),
        regime.batch,
        &[("aws.lambda.ordering", regime.ordering)],
    );
    let c = env.start_binary(binary, &config)?;
    let spent = received(env, &fake, d.records, &c).await?;
    let (_, peak) = c
        .resources()
        .ok_or_else(|| anyhow::anyhow!("reading /proc"))?;
    // The last request arrived at `active`; its response took the latency.
    let seconds = fake.stats.active().as_secs_f64() + regime.latency_ms as f64 / 1000.0;
    let invocations = fake.stats.invocations.load(Ordering::SeqCst) as f64;
    // Caught up, at zero latency: what the process costs doing nothing.
    let idle = if regime.latency_ms == 0 {
        Some(idle_cpu(&c).await)
    } else {
        None
    };
    stop_committed(env, c, &name, &d.topic).await?;
    let records = d.records as f64;
    let rate = records / seconds;
    let mut sample = Sample::from([
        ("records_per_s", rate),
        ("cpu_us_per_record", spent.sink / records * 1e6),
        ("cpu_us_per_invocation", spent.sink / invocations * 1e6),
        ("records_per_invocation", records / invocations),
        ("peak_rss_mb", peak as f64 / 1_048_576.0),
    ]);
    if let Some(idle) = idle {
        sample.insert("idle_cpu_ms_per_s", idle);
    }
    if let Some(bound) = regime.bound(cell.slots) {
        sample.insert("bound", bound);
        sample.insert("ratio_to_bound", rate / bound);
    }
    Ok(sample)
}

/// Seconds the idle CPU is measured over (ticks are 10 ms).
const IDLE_SECONDS: u64 = 5;

/// CPU ms per second of `c` over [`IDLE_SECONDS`] once it has drained (a
/// measurement window, not a synchronisation).
async fn idle_cpu(c: &lambda_sink_testkit::connector::Connector) -> f64 {
    // Let the drain's last responses and commits settle first.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let before = cpu_seconds(Some(c.pid()));
    tokio::time::sleep(std::time::Duration::from_secs(IDLE_SECONDS)).await;
    (cpu_seconds(Some(c.pid())) - before) * 1000.0 / IDLE_SECONDS as f64
}

#[cfg(test)]
mod tests {
    use super::{Regime, records_for};

    #[test]
    fn bounds_and_sizes() {
        let key = |latency_ms, batch| Regime {
            latency_ms,
            batch,
            ordering: "key",
        };
        let partition = Regime {
            ordering: "partition",
            ..key(50, 20)
        };
        // Defaults: 10 per partition, 32 in all; 8 partitions.
        assert_eq!(partition.slots(8, 10, 32), 8);
        assert_eq!(key(50, 20).slots(8, 10, 32), 32);
        assert_eq!(key(50, 20).slots(2, 10, 32), 20);
        assert_eq!(partition.bound(8), Some(3_200.0));
        assert_eq!(key(50, 20).bound(32), Some(12_800.0));
        assert_eq!(key(0, 20).bound(32), None);
        // 4 s at the bound, rounded up; zero latency sized as 10 ms.
        assert_eq!(records_for(&partition, 8, 4.0), 16_000);
        assert_eq!(records_for(&key(50, 20), 32, 4.0), 56_000);
        assert_eq!(records_for(&key(0, 100), 32, 4.0), 400_000);
        assert_eq!(records_for(&key(200, 20), 32, 4.0), 16_000);
    }
}
