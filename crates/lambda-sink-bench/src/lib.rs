//! `lambda-sink-bench`: lambda-sink measured against the machine's ceilings,
//! side by side in one run (BENCHMARKS.md explains every figure).
//!
//! One private Apache Kafka broker (started by `scripts/broker.sh`, like the
//! tests') and an in-process fast fake Lambda endpoint (on threads of its
//! own, so its CPU is told apart) serve every measurement. Each round
//! measures, back to back:
//! the broker's consume ceiling, the endpoint's invoke ceiling, lambda-sink
//! draining the same topics (batch sizes 20 and 100), the latency-bound case
//! and the added latency; the latency regimes (`regime`) measure the same
//! drain behind an endpoint that answers after 10, 50 and 200 ms. Rounds repeat; the table shows medians.
//!
//! `--scale-only` measures `serve` with many connectors and a cluster of
//! workers instead (`scale`); `--parking-only` the healthy keys' throughput
//! while some keys keep failing (`parking`).
//!
//! Run it through `scripts/bench.sh`, which builds everything in release mode.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

pub mod ceilings;
pub mod env;
pub mod load;
pub mod parking;
pub mod regime;
pub mod report;
pub mod scale;
pub mod sink;
pub mod stats;
