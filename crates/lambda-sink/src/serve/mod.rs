//! `lambda-sink serve`: a worker hosting any number of connectors, driven
//! through Kafka Connect's REST API, sharing its state through Kafka.
//!
//! * [`admin`] — the connectors' administration: every rule behind the
//!   REST API that changes the cluster;
//! * `cluster` — the config and status topics as the administration sees
//!   them;
//! * [`console`] — the web console and its live plots;
//! * [`store`] — a compacted topic as a replicated log (read to the end at
//!   start, read-your-writes);
//! * `journal` — every connector's events from every worker, through the
//!   events topic;
//! * `hosted` — the connectors this worker runs; `host` — one supervisor
//!   each, following its config and target state, and the status reporter;
//! * `placement` — where this worker's tasks run: the workers' consumer
//!   group over the connectors' task slot topics;
//! * `node` — what a running worker shares; `start` — starting and
//!   stopping it;
//! * [`offsets`] — a connector's consumer group: committed offsets, alter,
//!   reset, delete, offsets for a time; `moves` — completing moves of
//!   running connectors;
//! * [`redrive`] — replaying dead letters through their connector;
//!   `replays` — running replay jobs beside a running connector;
//! * [`rest`] — the HTTP API.
//!
//! There is no leader and no coordinator of our own (a move in time is
//! completed by the worker that took it, else by the least live one). The config topic
//! orders every write; each worker folds it into the same
//! `ClusterState` and supervises every connector it lists. Kafka's group
//! protocol places the `tasks.max` tasks of each connector over the live
//! workers (`placement`), and each connector's consumer group
//! (`connect-<id>`) shares its partitions among its tasks wherever they
//! run.

pub mod admin;
mod cluster;
pub mod console;
mod host;
mod hosted;
mod journal;
mod moves;
pub(crate) mod node;
pub mod offsets;
mod placement;
pub mod redrive;
pub(crate) mod replays;
pub mod rest;
mod start;
pub mod store;

pub use node::Node;
pub use start::run;
