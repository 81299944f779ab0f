//! The pure heart of lambda-sink.
//!
//! Everything here is deterministic logic with no Kafka, AWS or network
//! dependency, so it can be unit- and property-tested quickly. The adapters
//! (librdkafka, the AWS SDK, HTTP) live in the `lambda-sink` crate and depend
//! on this one, never the other way round.
//!
//! Configuration:
//! * [`config`] — the property table, the config file shapes, secret
//!   references, and validation of a raw property map into a typed
//!   [`config::Config`]; [`Problem`] is one thing wrong in it, [`Invalid`]
//!   why a value (a property's, a schema, a request's) cannot be used.
//! * [`connect`] — Kafka Connect's management plane: config and status topic
//!   records, cluster-wide status, `ConfigInfos`, offsets and redrive requests.
//!
//! A record's way through, in order:
//! * [`record`] — a Kafka record as lambda-sink owns it; [`read_ahead`] —
//!   how many records and bytes a task buffers ahead of its function.
//! * [`codec`] — decoding keys and values into JSON; [`transform`] — Single
//!   Message Transforms and predicates; [`event_filter`] — ESM's filtering.
//! * [`element`] — what a decoded record becomes: its payload element
//!   ([`payload`] or the [`esm`] event shape), filtered, or a dead letter.
//! * [`schedule`] — which queued records go into the next batch
//!   (`aws.lambda.ordering`); [`batch`] — cutting them into requests;
//!   [`concurrency`] — the adaptive in-flight limit.
//! * [`trace`] — idempotency keys and `traceparent` for the function.
//! * [`failure`] — how an invocation failed and what that means;
//!   [`retry`] — the one backoff; [`disposition`] — the adapters' one error
//!   vocabulary.
//! * [`route`] — which outcome a batch gets; [`outcome`] — the result and
//!   error records written for it; [`dead_letter`] — records that cannot be
//!   processed; [`park`] — parked keys (`aws.lambda.on.key.failure=park`)
//!   and the parked topic's records; [`park_orders`] — an operator's
//!   retry-now and skip of a parked key.
//! * [`offsets`] — which offset of a partition may be committed;
//!   [`progress`] — how far behind in time a partition is, and whether it
//!   is stalled;
//!   [`transaction`] — what exactly-once transactions hold and the invariant
//!   every commit keeps.
//! * [`journal`] — a connector's event log: its bounded ring, queries, and
//!   throttling episodes.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

pub mod batch;
pub mod codec;
pub mod concurrency;
pub mod config;
pub mod connect;
pub mod dead_letter;
pub mod disposition;
pub mod element;
pub mod esm;
pub mod event_filter;
pub mod failure;
pub mod invalid;
pub mod journal;
pub mod offsets;
pub mod outcome;
pub mod park;
pub mod park_orders;
pub mod payload;
pub mod problem;
pub mod progress;
pub mod read_ahead;
pub mod record;
pub mod retry;
pub mod route;
pub mod schedule;
mod spelled;
pub mod trace;
pub mod transaction;
pub mod transform;

pub use invalid::Invalid;
pub use problem::Problem;
