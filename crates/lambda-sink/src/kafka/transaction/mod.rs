//! Exactly-once outcome records (`reporter.exactly.once=true`): the
//! transactions of each task.
//!
//! A task's partition workers *release* outcome records together with the
//! committable offset that resolves them (a record's outcomes are released
//! only once every record before it is resolved), each under the lease its
//! worker holds the partition by. The [`Transactor`] writes what is
//! released into the open transaction, and commits it with the offsets
//! (`send_offsets_to_transaction` with the consumer's group metadata,
//! KIP-447) once it has been open `reporter.transaction.interval.ms` or
//! holds `reporter.transaction.max.records` outcome records, and whenever
//! the task gives partitions up. A reader with `isolation.level=
//! read_committed` sees an outcome exactly when the offsets past its input
//! record are committed: the core's [`transaction`](lambda_sink_core::transaction)
//! states that invariant and checks every release and every transaction
//! before its offsets go out; a violation (a bug) aborts the transaction
//! and stops the connector instead of committing it.
//!
//! Fencing is the group's: a member that lost its partitions (a paused or
//! partitioned zombie) carries an old generation, and the group coordinator
//! refuses its offsets, so its transaction can only abort; offsets of a
//! partition the consumer no longer holds are never sent at all. The
//! transactional id only has to be unique per producer:
//! `lambda-sink-<connector>-<task>-` and a random suffix per start. A
//! transaction a crashed process left open is aborted by the coordinator
//! after `transaction.timeout.ms` (10 s unless overridden); until then the
//! next owner of its partitions waits (KIP-447's stable offset fetch),
//! which is the price of not fencing by a fixed id.
//!
//! The lifecycle: `Idle` (nothing written) → `Open` (begun, everything held
//! written) → `Committing` (offsets sent) → `Idle`. What is released while
//! a commit is under way waits for the next transaction. A failure is
//! retried (retriable), aborted and written again (abortable), or the
//! producer is replaced by one with the same id (fatal; when that happens
//! mid-commit, the group's committed offsets tell whether the transaction
//! committed), or stops the connector (permanent). Until a transaction
//! commits, what it holds stays here; only what a partition that was let
//! go released is dropped ([`Transactions::forget`]), for its next owner
//! redoes it.
//!
//! * [`transactor`] — the transactions' lifecycle and the task's handle
//!   on them;
//! * [`port`] — what the transactor needs of Kafka (the [`port::Txn`]
//!   trait, which the component tests fake) and how a failure is handled;
//! * [`client`] — the Kafka side: librdkafka's transactional producer, the
//!   task's consumer, the start-up check.

mod client;
mod port;
#[cfg(test)]
mod tests;
mod transactor;

pub use client::Initialised;
pub use transactor::{Fail, NotCommitted, Transactions};
