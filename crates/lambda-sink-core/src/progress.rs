//! How far behind a partition is in time, and whether it is stalled: the
//! age of its oldest record not yet resolved, and how long its committable
//! offset has not moved while records waited. A partition with nothing
//! waiting is never stalled, however long ago it last moved.

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

#[cfg(test)]
mod tests {
    use super::*;

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
