//! The pure heart of lambda-sink.
//!
//! Everything here is deterministic logic with no Kafka, AWS or network
//! dependency, so it can be unit- and property-tested quickly:
//!
//! * [`connect`] — Kafka Connect's management plane: config and status
//!   topic records, cluster-wide status, `ConfigInfos`.
//! * [`config`] — the property table, the three config file shapes, secret
//!   references, and validation of a raw property map into a typed [`config::Config`].
//! * [`transform`] — Single Message Transforms and predicates.
//! * [`trace`] — idempotency keys and `traceparent` for the function.
//! * [`transaction`] — what exactly-once transactions hold, under which
//!   partition lease, and the invariant every commit keeps.
//! * [`element`] — what a decoded record becomes: its payload element,
//!   filtered, or a dead letter;
//! * [`esm`] — the event shape of AWS's Kafka event source mapping and its
//!   partial batch response; [`event_filter`] — its event filtering.
//!
//! The adapters (librdkafka, the AWS SDK, HTTP) live in the `lambda-sink` crate
//! and depend on this one, never the other way round.

pub mod batch;
pub mod codec;
pub mod concurrency;
pub mod config;
pub mod connect;
pub mod element;
pub mod esm;
pub mod event_filter;
pub mod offsets;
pub mod outcome;
pub mod payload;
pub mod problem;
pub mod record;
pub mod retry;
pub mod route;
pub mod schedule;
mod spelled;
pub mod trace;
pub mod transaction;
pub mod transform;

pub use problem::Problem;
