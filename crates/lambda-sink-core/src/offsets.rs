//! [`OffsetTracker`]: which offset of a partition may be committed.
//!
//! Records are tracked in the order they were consumed (offsets increase but
//! may have gaps: compaction, transaction markers). A record becomes resolved
//! when its outcome is durable. The committable position is the offset after
//! the last record of the longest resolved *prefix*: it never passes an
//! unresolved record, and it never moves backwards.

use std::collections::VecDeque;

/// Tracks one partition's consumed records until their offsets are committable.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    /// Consumed, not yet committable records: (offset, resolved,
    /// timestamp). The front one is never resolved.
    pending: VecDeque<(i64, bool, Option<i64>)>,
    /// Next offset to consume after the resolved prefix; `None` until the
    /// first record is resolved.
    committable: Option<i64>,
    /// The last record tracked: its offset and timestamp.
    last: Option<(i64, Option<i64>)>,
}

/// A tracker was given offsets out of order or unknown: a bug upstream.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrackError {
    /// An offset not above the last tracked one.
    #[error("offset {offset} tracked after {last}: offsets must increase")]
    NotIncreasing {
        /// The offending offset.
        offset: i64,
        /// The last tracked offset.
        last: i64,
    },
    /// An offset that is not pending.
    #[error("offset {0} resolved but not pending")]
    Unknown(i64),
}

impl OffsetTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts tracking a consumed record.
    ///
    /// # Errors
    /// When `offset` is not above the last tracked offset.
    pub fn track(&mut self, offset: i64) -> Result<(), TrackError> {
        self.track_at(offset, None)
    }

    /// Starts tracking a consumed record with its timestamp (epoch ms).
    ///
    /// # Errors
    /// When `offset` is not above the last tracked offset.
    pub fn track_at(&mut self, offset: i64, timestamp: Option<i64>) -> Result<(), TrackError> {
        let last = self
            .pending
            .back()
            .map(|(o, ..)| *o)
            .or(self.committable.map(|c| c - 1));
        match last {
            Some(last) if offset <= last => Err(TrackError::NotIncreasing { offset, last }),
            _ => {
                self.pending.push_back((offset, false, timestamp));
                self.last = Some((offset, timestamp));
                Ok(())
            }
        }
    }

    /// Marks a tracked record resolved; returns the new committable position
    /// if it advanced.
    ///
    /// # Errors
    /// When `offset` is not pending.
    pub fn resolve(&mut self, offset: i64) -> Result<Option<i64>, TrackError> {
        let index = self
            .pending
            .binary_search_by_key(&offset, |(o, ..)| *o)
            .map_err(|_| TrackError::Unknown(offset))?;
        self.pending[index].1 = true;
        let before = self.committable;
        while let Some(&(o, true, _)) = self.pending.front() {
            self.committable = Some(o + 1);
            self.pending.pop_front();
        }
        Ok((self.committable != before)
            .then_some(self.committable)
            .flatten())
    }

    /// The offset to commit (the next one to consume), if any record has been
    /// resolved.
    pub fn committable(&self) -> Option<i64> {
        self.committable
    }

    /// Records tracked and not yet part of the committable prefix.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The oldest record not yet resolved: its offset and timestamp.
    pub fn oldest_unresolved(&self) -> Option<(i64, Option<i64>)> {
        self.pending.front().map(|&(o, _, ts)| (o, ts))
    }

    /// The offset and timestamp of the last record tracked, resolved or
    /// not.
    pub fn last_tracked(&self) -> Option<(i64, Option<i64>)> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prefix_only() {
        let mut t = OffsetTracker::new();
        for o in [10, 11, 13, 14] {
            t.track(o).unwrap();
        }
        assert_eq!(t.resolve(11).unwrap(), None, "10 is unresolved");
        assert_eq!(t.committable(), None);
        assert_eq!(
            t.resolve(10).unwrap(),
            Some(12),
            "10 and 11 resolved: commit 12"
        );
        assert_eq!(
            t.resolve(14).unwrap(),
            None,
            "13 (after the gap) is unresolved"
        );
        assert_eq!(t.resolve(13).unwrap(), Some(15));
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn misuse_is_reported() {
        let mut t = OffsetTracker::new();
        t.track(5).unwrap();
        assert_eq!(
            t.track(5),
            Err(TrackError::NotIncreasing { offset: 5, last: 5 })
        );
        assert_eq!(t.resolve(6), Err(TrackError::Unknown(6)));
        t.resolve(5).unwrap();
        assert_eq!(
            t.track(4),
            Err(TrackError::NotIncreasing { offset: 4, last: 5 })
        );
        assert_eq!(
            t.resolve(5),
            Err(TrackError::Unknown(5)),
            "already committable"
        );
    }

    proptest! {
        /// Whatever the order of resolution, the committable position never
        /// passes an unresolved record, never moves backwards, and ends after
        /// the last record once everything is resolved.
        #[test]
        fn never_past_an_unresolved_record(
            gaps in prop::collection::vec(1i64..4, 1..60),
            order in prop::collection::vec(any::<prop::sample::Index>(), 1..60),
        ) {
            let offsets: Vec<i64> = gaps.iter().scan(100, |o, g| { *o += g; Some(*o) }).collect();
            let mut t = OffsetTracker::new();
            for o in &offsets { t.track_at(*o, Some(o * 10)).unwrap(); }
            let mut unresolved = offsets.clone();
            let mut last = None;
            for idx in order {
                if unresolved.is_empty() { break; }
                let o = unresolved.remove(idx.index(unresolved.len()));
                t.resolve(o).unwrap();
                let c = t.committable();
                prop_assert!(c >= last, "moved backwards");
                if let (Some(c), Some(min)) = (c, unresolved.iter().min()) {
                    prop_assert!(c <= *min, "committable {} passes unresolved {}", c, min);
                }
                // The oldest unresolved record is the lowest one left, with its timestamp.
                prop_assert_eq!(
                    t.oldest_unresolved(),
                    unresolved.iter().min().map(|&o| (o, Some(o * 10)))
                );
                last = c;
            }
            for o in unresolved.clone() { t.resolve(o).unwrap(); }
            prop_assert_eq!(t.committable(), Some(offsets[offsets.len() - 1] + 1));
        }
    }
}
