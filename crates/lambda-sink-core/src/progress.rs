//! How far behind a partition is in time, and whether it is stalled: the
//! age of its oldest record not yet resolved, the age of the next record
//! not yet taken, and how long its committable offset has not moved while
//! records waited. A partition with nothing waiting is never stalled,
//! however long ago it last moved.

use std::time::Duration;

/// A partition's progress as the commit loop sees it at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Seconds since the oldest record not yet resolved was written (its
    /// timestamp); 0 when nothing waits or it has no timestamp.
    pub oldest_unresolved_age: f64,
    /// How long the committable offset has not moved while records waited
    /// (zero while it moves or nothing waits).
    pub stuck_for: Duration,
    /// Whether `stuck_for` reached the stall threshold.
    pub stalled: bool,
}

/// The progress of a partition at `now_ms` (epoch ms), whose oldest
/// unresolved record has `oldest_timestamp` (epoch ms; `None`: nothing
/// waits, or no timestamp) and whose committable offset last moved — or
/// last had nothing waiting — `since_moved` ago; `waiting` records are
/// unresolved; `threshold` is `partition.stall.timeout.ms`.
pub fn progress(
    now_ms: i64,
    oldest_timestamp: Option<i64>,
    waiting: bool,
    since_moved: Duration,
    threshold: Duration,
) -> Progress {
    let age_ms = oldest_timestamp
        .filter(|_| waiting)
        .map_or(0, |ts| now_ms.saturating_sub(ts).max(0));
    #[allow(clippy::cast_precision_loss)] // milliseconds far below 2^52
    let oldest_unresolved_age = age_ms as f64 / 1000.0;
    let stuck_for = if waiting { since_moved } else { Duration::ZERO };
    Progress {
        oldest_unresolved_age,
        stuck_for,
        stalled: waiting && stuck_for >= threshold,
    }
}

/// Seconds the next record not yet taken has waited, at most: records
/// wait past the last one taken (`last_taken`: its offset and timestamp)
/// when the partition's end (`end`: the offset the next record written
/// gets, as of the consumer's last statistics) is beyond it, and the next
/// of them was written no earlier than it (timestamps in offset order); so
/// in a backlog this is about the next record's age. 0 when nothing waits
/// (as far as the statistics know), nothing was taken yet, or the last
/// taken record has no timestamp.
pub fn next_record_age(
    now_ms: i64,
    last_taken: Option<(i64, Option<i64>)>,
    end: Option<i64>,
) -> f64 {
    match (last_taken, end) {
        (Some((offset, Some(ts))), Some(end)) if end > offset + 1 => {
            #[allow(clippy::cast_precision_loss)] // milliseconds far below 2^52
            let age = now_ms.saturating_sub(ts).max(0) as f64 / 1000.0;
            age
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_record_waits_only_when_the_end_is_past_the_last_taken() {
        // (last taken, end) → seconds, at now = 10 s
        let cases = [
            ((Some((41, Some(4_000))), Some(100)), 6.0),
            // The end is the record after the last taken: nothing waits.
            ((Some((41, Some(4_000))), Some(42)), 0.0),
            // Statistics older than what was taken since.
            ((Some((41, Some(4_000))), Some(30)), 0.0),
            ((Some((41, None)), Some(100)), 0.0),
            ((None, Some(100)), 0.0),
            ((Some((41, Some(4_000))), None), 0.0),
            // A timestamp from a producer's clock ahead of ours.
            ((Some((41, Some(12_000))), Some(100)), 0.0),
        ];
        for ((last, end), want) in cases {
            assert_eq!(
                next_record_age(10_000, last, end),
                want,
                "{last:?} end {end:?}"
            );
        }
    }

    #[test]
    fn a_partition_is_stalled_only_while_records_wait_past_the_threshold() {
        let s = Duration::from_secs;
        // (oldest timestamp, waiting, since moved) → (age s, stuck for, stalled)
        let cases = [
            ((Some(9_000), true, s(1)), (1.0, s(1), false)),
            ((Some(9_000), true, s(5)), (1.0, s(5), true)),
            ((Some(9_000), true, s(7)), (1.0, s(7), true)),
            // Nothing waiting: neither behind nor stalled, whenever it moved.
            ((None, false, s(3_600)), (0.0, s(0), false)),
            ((Some(9_000), false, s(3_600)), (0.0, s(0), false)),
            // A record without a timestamp still counts as waiting.
            ((None, true, s(6)), (0.0, s(6), true)),
            // A timestamp in the future (producer clock skew) is not negative.
            ((Some(12_500), true, s(0)), (0.0, s(0), false)),
        ];
        for ((oldest, waiting, since), (age, stuck, stalled)) in cases {
            let p = progress(10_000, oldest, waiting, since, s(5));
            assert_eq!(
                (p.oldest_unresolved_age, p.stuck_for, p.stalled),
                (age, stuck, stalled),
                "{oldest:?} waiting={waiting} moved {since:?} ago"
            );
        }
    }
}
