//! How far a task reads ahead of its function: the bounds of librdkafka's
//! prefetch and of the pipeline's buffer, per partition, sized so that a
//! task's total stays bounded however many partitions it owns.
//!
//! Both buffers are per partition (every partition has its own librdkafka
//! queue and its own inbox, so one slow partition never holds up another),
//! which makes their sum grow with the partitions: at 1,000 partitions the
//! few-partition bounds let one task hold a whole backlog (measured: 1.7 GB
//! behind a 50 ms function, BENCHMARKS.md). So each bound is a task's budget
//! shared out over the partitions the task is expected to own, never more
//! than the few-partition bound and never less than a floor that keeps a
//! partition fed.

/// librdkafka's prefetch per partition with few partitions: 2 MiB of record
/// bytes (`queued.max.messages.kbytes`) …
pub const MAX_PREFETCH_KBYTES: usize = 2048;
/// … and 10,000 records (`queued.min.messages`), whichever comes first
/// (librdkafka keeps ~100 bytes of its own per record, so the count is what
/// bounds small records).
pub const MAX_PREFETCH_RECORDS: usize = 10_000;
/// A task's librdkafka prefetch, in KiB of record bytes, shared out over its
/// partitions.
pub const TASK_PREFETCH_KBYTES: usize = 32 * 1024;
/// A task's librdkafka prefetch, in records, shared out over its partitions.
pub const TASK_PREFETCH_RECORDS: usize = 100_000;
/// The records a task's partitions buffer ahead of their batches, together
/// (each partition at most `max.poll.records`).
pub const TASK_BUFFERED_RECORDS: usize = 100_000;
/// The least prefetch a partition gets: 16 KiB …
const MIN_PREFETCH_KBYTES: usize = 16;
/// … or 100 records.
const MIN_PREFETCH_RECORDS: usize = 100;

/// What a fetch asks of one partition by default
/// (`max.partition.fetch.bytes`, Kafka's and librdkafka's 1 MiB).
const FETCH_PARTITION_BYTES: usize = 1024 * 1024;

/// A task's read-ahead bounds, per partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadAhead {
    /// librdkafka's `queued.max.messages.kbytes` (each partition has its
    /// own queue, so it applies per partition).
    pub prefetch_kbytes: usize,
    /// librdkafka's `queued.min.messages`.
    pub prefetch_records: usize,
    /// Records a partition's inbox holds ahead of its batches.
    pub buffered_records: usize,
}

impl ReadAhead {
    /// The bounds for a task expected to own `partitions` partitions, with
    /// `max.poll.records` as the inbox's ceiling and `batch_size` as its
    /// floor (a partition can always fill one batch).
    pub fn for_partitions(partitions: usize, max_poll_records: usize, batch_size: usize) -> Self {
        let partitions = partitions.max(1);
        let ceiling = max_poll_records.max(1);
        let floor = batch_size.clamp(1, ceiling);
        Self {
            prefetch_kbytes: (TASK_PREFETCH_KBYTES / partitions)
                .clamp(MIN_PREFETCH_KBYTES, MAX_PREFETCH_KBYTES),
            prefetch_records: (TASK_PREFETCH_RECORDS / partitions)
                .clamp(MIN_PREFETCH_RECORDS, MAX_PREFETCH_RECORDS),
            buffered_records: (TASK_BUFFERED_RECORDS / partitions).clamp(floor, ceiling),
        }
    }
}

impl ReadAhead {
    /// `max.partition.fetch.bytes`: what one fetch asks of a partition.
    /// The prefetch bounds only decide *whether* a partition is fetched; a
    /// fetch then brings up to this much of it, so it is kept within the
    /// byte bound (else 1,000 partitions × 1 MiB is what a backlog costs).
    /// The broker still returns a first batch larger than this, and
    /// librdkafka grows it for a larger record, so nothing gets stuck.
    pub fn fetch_partition_bytes(&self) -> usize {
        (self.prefetch_kbytes * 1024).min(FETCH_PARTITION_BYTES)
    }
}

impl Default for ReadAhead {
    /// The few-partition bounds (a client that reads no records, or a task
    /// of one partition with the default `max.poll.records`).
    fn default() -> Self {
        Self::for_partitions(1, 500, 1)
    }
}

/// How many partitions each of `tasks` tasks is expected to own when
/// `partitions` are subscribed to: shared out evenly, rounded up; at least
/// one.
pub fn partitions_per_task(partitions: usize, tasks: usize) -> usize {
    partitions.div_ceil(tasks.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_shrink_with_the_partitions_between_a_floor_and_the_few_partition_bounds() {
        // (partitions, max.poll.records, batch.size) → (KiB, records, buffered)
        let cases = [
            ((1, 500, 20), (2048, 10_000, 500)),
            ((8, 500, 20), (2048, 10_000, 500)),
            ((16, 500, 20), (2048, 6_250, 500)),
            ((64, 500, 20), (512, 1_562, 500)),
            ((1_000, 500, 20), (32, 100, 100)),
            ((10_000, 500, 20), (16, 100, 20)),
            // The floor is one batch, but never above max.poll.records.
            ((10_000, 500, 400), (16, 100, 400)),
            ((10_000, 50, 400), (16, 100, 50)),
            // Nothing owned yet counts as one partition.
            ((0, 500, 20), (2048, 10_000, 500)),
        ];
        for ((partitions, max_poll, batch), (kbytes, records, buffered)) in cases {
            let r = ReadAhead::for_partitions(partitions, max_poll, batch);
            assert_eq!(
                (r.prefetch_kbytes, r.prefetch_records, r.buffered_records),
                (kbytes, records, buffered),
                "{partitions} partitions, max.poll.records {max_poll}, batch {batch}"
            );
        }
    }

    #[test]
    fn a_fetch_asks_a_partition_for_no_more_than_its_byte_bound() {
        let cases = [
            (1, 1024 * 1024),
            (8, 1024 * 1024),
            (64, 512 * 1024),
            (1_000, 32 * 1024),
        ];
        for (partitions, bytes) in cases {
            let r = ReadAhead::for_partitions(partitions, 500, 20);
            assert_eq!(r.fetch_partition_bytes(), bytes, "{partitions} partitions");
        }
    }

    #[test]
    fn a_task_at_1000_partitions_holds_about_what_one_at_8_does() {
        let few = ReadAhead::for_partitions(8, 500, 20);
        let many = ReadAhead::for_partitions(1_000, 500, 20);
        assert!(1_000 * many.buffered_records <= 25 * 8 * few.buffered_records);
        assert!(1_000 * many.prefetch_records <= 2 * 8 * few.prefetch_records);
    }

    #[test]
    fn partitions_are_shared_out_over_the_tasks() {
        // (partitions, tasks) → each task's
        let cases = [
            ((12, 1), 12),
            ((12, 5), 3),
            ((1012, 4), 253),
            ((0, 2), 1),
            ((12, 100), 1),
            ((12, 0), 12),
        ];
        for ((partitions, tasks), want) in cases {
            assert_eq!(
                partitions_per_task(partitions, tasks),
                want,
                "{partitions} over {tasks}"
            );
        }
    }
}
