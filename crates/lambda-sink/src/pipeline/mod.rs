//! The connector at run time: Kafka → decode → batch → Lambda → outcome
//! topics → offsets.
//!
//! [`run`] starts one consumer per task (`tasks.max`), each polled on its own
//! blocking thread (`kafka::consumer`). Every partition a task holds gets a
//! worker ([`partition`]) that decodes its records, invokes its batches as
//! `aws.lambda.ordering` allows (one at a time in offset order by default;
//! several at once, never two holding one key, in `key` mode), hands the
//! outcome records to the producer and, once Kafka acknowledges them, stores
//! the partition's committable offset (the contiguous watermark). With
//! `reporter.exactly.once` the outcome records go instead, with that offset,
//! into the task's transaction (`kafka::transaction`).
//!
//! [`replay`] runs the same partition workers over records that were
//! already consumed (a DLQ redrive), committing nothing.
//!
//! Stopping — a signal, a fatal error, or a rebalance taking partitions away —
//! always takes the same path: no new batches, in-flight ones finish (bounded
//! by `shutdown.timeout.ms`), their outcomes are acknowledged, offsets are
//! stored and committed, then the partitions are released.
//!
//! Memory is bounded per partition by the task's read-ahead (records
//! buffered, at most `max.poll.records`, and librdkafka's prefetch: a
//! task's budget shared out over its partitions, `lambda_sink_core::read_ahead`;
//! the consumer hands a partition more only while it has room), the
//! worker's look-ahead (`aws.lambda.batch.size ×
//! aws.lambda.max.in.flight.per.partition` decoded records, one batch in
//! `partition` mode), and overall by `aws.lambda.max.in.flight` requests.
//!
//! Each partition's commit loop also watches its progress ([`watch`]): lag
//! in time, and stalls.
//!
//! With `aws.lambda.on.key.failure=park` a key whose record failed for good
//! is parked ([`park`]): its records go to the parked topic while the
//! partition's other keys flow, and come back, in order, once a retry
//! succeeds.

mod commit;
mod connector;
mod context;
mod decode;
mod inbox;
mod invoke;
mod limit;
mod park;
mod parking;
mod partition;
mod ports;
mod replay;
mod route;
mod task;
#[cfg(test)]
mod tests;
mod watch;

pub use connector::{RunError, run};
pub use context::Telemetry;
pub use parking::Orders;
pub use replay::replay;
