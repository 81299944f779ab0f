//! The bookkeeping of exactly-once transactions (`reporter.exactly.once`):
//! what each partition has released into a task's transactions, under which
//! lease, and the invariant every commit keeps.
//!
//! A partition's worker *releases* the outcome records of the records below
//! its committable offset together with that offset ([`Release`]). A worker
//! holds its partition under a [`Lease`] from the moment it starts until the
//! task lets the partition go (revoked, lost, stopped); a release under a
//! lease that was let go is *stale* and never enters a transaction, so what
//! a drained or aborted worker hands over late cannot mix with the next
//! owner's offsets.
//!
//! A parked key's release (`aws.lambda.on.key.failure=park`) resolves
//! records whose offsets were committed when they were parked: its outcome
//! records go in *late* ([`Leases::admit_late`]), with the offset the
//! lease released last — or, before its first release, the group's
//! committed offset the lease began at ([`Leases::begin`]) — so the
//! transaction that writes them still commits the partition's offset and
//! is fenced by the group's generation like any other.
//!
//! The invariant, checked on every release ([`Leases::admit`]) and again
//! before a transaction's offsets are sent ([`Content::verify`]): every
//! outcome record in a transaction belongs to an input record below the
//! offset the transaction commits for its partition, that offset is past
//! the one the lease released before (it never moves backwards), and only
//! partitions still held are committed. A `read_committed` reader then sees
//! an input record's outcome exactly when the group's offset is past it.

use std::collections::HashMap;

use crate::record::TopicPartition;

/// One worker's hold on a partition; increasing within a task.
pub type Lease = u64;

/// Outcome records of one partition, each with its input record's offset,
/// and the committable offset after them.
#[derive(Debug)]
pub struct Release<R> {
    /// The partition.
    pub tp: TopicPartition,
    /// The lease of the worker that released them.
    pub lease: Lease,
    /// The next offset to consume: every record below it is resolved.
    pub next: i64,
    /// Outcome records, in input offset order.
    pub records: Vec<(i64, R)>,
}

/// A release or transaction that would break exactly-once: a bug upstream.
/// Nothing of it may commit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A lease released an offset not past one it released before.
    #[error("{tp}: offset {next} released after {after} (offsets only move forward)")]
    Backwards {
        /// The partition.
        tp: TopicPartition,
        /// The offset released.
        next: i64,
        /// The offset released before it.
        after: i64,
    },
    /// An outcome record released with an offset that does not cover it,
    /// or that an earlier release covered already.
    #[error("{tp}: the outcome of input offset {offset} released with offset {next}{}", .from.map(|f| format!(" (after {f})")).unwrap_or_default())]
    OutOfRange {
        /// The partition.
        tp: TopicPartition,
        /// The outcome's input offset.
        offset: i64,
        /// The offset released before, if any.
        from: Option<i64>,
        /// The offset released with it.
        next: i64,
    },
    /// A release under a newer lease while an older one still holds the
    /// partition (it was never let go).
    #[error("{tp}: released under lease {lease} while lease {held} still holds the partition")]
    Overlapping {
        /// The partition.
        tp: TopicPartition,
        /// The new lease.
        lease: Lease,
        /// The lease that holds it.
        held: Lease,
    },
    /// A transaction holds an outcome its offsets do not cover.
    #[error("{tp}: the transaction holds the outcome of input offset {offset} but commits {}", .next.map_or("no offset".to_string(), |n| format!("offset {n}")))]
    Uncovered {
        /// The partition.
        tp: TopicPartition,
        /// The outcome's input offset.
        offset: i64,
        /// The offset the transaction commits for the partition.
        next: Option<i64>,
    },
    /// A transaction would commit an offset behind the one committed.
    #[error("{tp}: the transaction commits offset {next}, behind {committed} committed before")]
    NotForward {
        /// The partition.
        tp: TopicPartition,
        /// The offset it would commit.
        next: i64,
        /// The offset committed before.
        committed: i64,
    },
    /// A transaction would commit a partition no lease holds.
    #[error("{tp}: the transaction commits offset {next} of a partition the task no longer holds")]
    NotHeld {
        /// The partition.
        tp: TopicPartition,
        /// The offset it would commit.
        next: i64,
    },
}

/// What to do with a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It goes into the transaction.
    Take,
    /// Its lease was let go: drop it (the partition's next owner redoes it).
    Stale,
}

/// What to do with a late release (outcome records of records below the
/// offset its lease released: a parked key's release).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Late {
    /// It goes into the transaction, committing this offset (the one the
    /// lease released last) for its partition.
    Take(i64),
    /// Its lease was let go: drop it (the partition's next owner redoes it).
    Stale,
}

/// The leases of a task's partitions, and how far each released and
/// committed.
#[derive(Debug, Default)]
pub struct Leases {
    held: HashMap<TopicPartition, Held>,
    /// The newest lease of each partition that was let go.
    retired: HashMap<TopicPartition, Lease>,
}

#[derive(Clone, Copy, Debug)]
struct Held {
    lease: Lease,
    /// The last offset released (or, `begun`, the group's committed offset
    /// the lease began at).
    released: i64,
    /// The lease has released nothing yet: its first release may start
    /// anywhere, as a lease that did not begin (the consumer may have
    /// started elsewhere, after an offset reset).
    begun: bool,
    /// The last offset committed, if any.
    committed: Option<i64>,
}

impl Leases {
    /// Whether `release` may go into a transaction, recording how far its
    /// lease has released.
    ///
    /// # Errors
    /// The [`Violation`] it would cause.
    pub fn admit<R>(&mut self, release: &Release<R>) -> Result<Admission, Violation> {
        let Release {
            tp,
            lease,
            next,
            records,
        } = release;
        if self.retired.get(tp).is_some_and(|r| lease <= r) {
            return Ok(Admission::Stale);
        }
        let from = match self.held.get(tp) {
            Some(h) if *lease < h.lease => return Ok(Admission::Stale),
            Some(h) if *lease > h.lease => {
                return Err(Violation::Overlapping {
                    tp: tp.clone(),
                    lease: *lease,
                    held: h.lease,
                });
            }
            Some(h) if h.begun => None,
            Some(h) if *next <= h.released => {
                return Err(Violation::Backwards {
                    tp: tp.clone(),
                    next: *next,
                    after: h.released,
                });
            }
            Some(h) => Some(h.released),
            None => None,
        };
        if let Some((offset, _)) = records
            .iter()
            .find(|(o, _)| *o >= *next || from.is_some_and(|f| *o < f))
        {
            return Err(Violation::OutOfRange {
                tp: tp.clone(),
                offset: *offset,
                from,
                next: *next,
            });
        }
        self.held
            .entry(tp.clone())
            .and_modify(|h| {
                h.released = *next;
                h.begun = false;
            })
            .or_insert(Held {
                lease: *lease,
                released: *next,
                begun: false,
                committed: None,
            });
        Ok(Admission::Take)
    }

    /// Records that `lease` begins to hold `tp`, whose group had committed
    /// `committed` (read once no transaction was pending on it): the
    /// offset a late release commits with until the lease releases one.
    ///
    /// # Errors
    /// [`Violation::Overlapping`] while an older lease still holds `tp`.
    pub fn begin(
        &mut self,
        tp: &TopicPartition,
        lease: Lease,
        committed: Option<i64>,
    ) -> Result<Admission, Violation> {
        if self.retired.get(tp).is_some_and(|r| lease <= *r) {
            return Ok(Admission::Stale);
        }
        match self.held.get(tp) {
            Some(h) if lease < h.lease => Ok(Admission::Stale),
            Some(h) if lease > h.lease => Err(Violation::Overlapping {
                tp: tp.clone(),
                lease,
                held: h.lease,
            }),
            Some(_) => Ok(Admission::Take),
            None => {
                if let Some(c) = committed {
                    self.held.insert(
                        tp.clone(),
                        Held {
                            lease,
                            released: c,
                            begun: true,
                            committed: None,
                        },
                    );
                }
                Ok(Admission::Take)
            }
        }
    }

    /// Whether a late release of `tp` under `lease` — the outcome records
    /// of input records at `offsets`, resolved after their offsets were
    /// committed — may go into a transaction, and the offset it commits
    /// with.
    ///
    /// # Errors
    /// [`Violation::OutOfRange`] for a record not below the offset the
    /// lease released (it was not committed: its outcome must come with
    /// its own offset), [`Violation::Uncovered`] when the lease has no
    /// offset at all (it neither began at a committed one nor released
    /// one), [`Violation::Overlapping`] as [`Self::admit`].
    pub fn admit_late(
        &self,
        tp: &TopicPartition,
        lease: Lease,
        offsets: impl IntoIterator<Item = i64>,
    ) -> Result<Late, Violation> {
        if self.retired.get(tp).is_some_and(|r| lease <= *r) {
            return Ok(Late::Stale);
        }
        let mut offsets = offsets.into_iter();
        let Some(h) = self.held.get(tp) else {
            // Neither begun at a committed offset nor released one: nothing
            // of it is committed.
            return Err(Violation::Uncovered {
                tp: tp.clone(),
                offset: offsets.next().unwrap_or_default(),
                next: None,
            });
        };
        if lease < h.lease {
            return Ok(Late::Stale);
        }
        if lease > h.lease {
            return Err(Violation::Overlapping {
                tp: tp.clone(),
                lease,
                held: h.lease,
            });
        }
        match offsets.find(|o| *o >= h.released) {
            Some(offset) => Err(Violation::OutOfRange {
                tp: tp.clone(),
                offset,
                from: None,
                next: h.released,
            }),
            None => Ok(Late::Take(h.released)),
        }
    }

    /// Lets `lease` of `tp` go: releases under it (or an older one) are
    /// stale from now on. Whether it held the partition.
    pub fn retire(&mut self, tp: &TopicPartition, lease: Lease) -> bool {
        let held = self.held.get(tp).is_some_and(|h| h.lease <= lease);
        if held {
            self.held.remove(tp);
        }
        let retired = self.retired.entry(tp.clone()).or_insert(lease);
        *retired = (*retired).max(lease);
        held
    }

    /// Whether a lease holds `tp`.
    pub fn holds(&self, tp: &TopicPartition) -> bool {
        self.held.contains_key(tp)
    }

    /// Records that `offsets` committed.
    pub fn committed(&mut self, offsets: &HashMap<TopicPartition, i64>) {
        for (tp, next) in offsets {
            if let Some(h) = self.held.get_mut(tp) {
                h.committed = Some(*next);
            }
        }
    }
}

/// Outcome records (with their partition and input offset) and the offsets
/// of one transaction.
#[derive(Debug)]
pub struct Content<R> {
    records: Vec<(TopicPartition, i64, R)>,
    offsets: HashMap<TopicPartition, i64>,
}

impl<R> Default for Content<R> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            offsets: HashMap::new(),
        }
    }
}

impl<R> Content<R> {
    /// Adds an admitted release; the index of its first record.
    pub fn add(&mut self, release: Release<R>) -> usize {
        let start = self.records.len();
        let Release {
            tp, next, records, ..
        } = release;
        self.records
            .extend(records.into_iter().map(|(o, r)| (tp.clone(), o, r)));
        // A lease's offsets only grow: the later release's wins.
        self.offsets.insert(tp, next);
        start
    }

    /// Whether it holds neither records nor offsets.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.offsets.is_empty()
    }

    /// Its records: partition, input offset, record.
    pub fn records(&self) -> &[(TopicPartition, i64, R)] {
        &self.records
    }

    /// The offset it commits for each partition.
    pub fn offsets(&self) -> &HashMap<TopicPartition, i64> {
        &self.offsets
    }

    /// Appends what was released after it.
    pub fn append(&mut self, later: Self) {
        self.records.extend(later.records);
        self.offsets.extend(later.offsets);
    }

    /// Removes what `partitions` hold; whether there was any.
    pub fn remove(&mut self, partitions: &[TopicPartition]) -> bool {
        let before = (self.records.len(), self.offsets.len());
        self.records.retain(|(tp, _, _)| !partitions.contains(tp));
        self.offsets.retain(|tp, _| !partitions.contains(tp));
        before != (self.records.len(), self.offsets.len())
    }

    /// The invariant, before the transaction's offsets are sent: each
    /// record's input offset is below the offset committed for its
    /// partition, no offset is behind the one its lease committed (it is
    /// the same only for a transaction of late releases), and each
    /// partition is still held.
    ///
    /// # Errors
    /// The first [`Violation`].
    pub fn verify(&self, leases: &Leases) -> Result<(), Violation> {
        for (tp, next) in &self.offsets {
            let Some(held) = leases.held.get(tp) else {
                return Err(Violation::NotHeld {
                    tp: tp.clone(),
                    next: *next,
                });
            };
            if let Some(committed) = held.committed.filter(|c| next < c) {
                return Err(Violation::NotForward {
                    tp: tp.clone(),
                    next: *next,
                    committed,
                });
            }
        }
        for (tp, offset, _) in &self.records {
            let next = self.offsets.get(tp).copied();
            if next.is_none_or(|n| *offset >= n) {
                return Err(Violation::Uncovered {
                    tp: tp.clone(),
                    offset: *offset,
                    next,
                });
            }
        }
        Ok(())
    }
}

/// A partition's committed offset as the group holds it, with the metadata
/// it was committed with (a transaction's [tag](did_commit)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The next offset to consume.
    pub offset: i64,
    /// The commit's metadata.
    pub metadata: String,
}

/// Whether a transaction whose commit's outcome is unknown (its producer
/// failed fatally while committing) committed, from the group's committed
/// offsets read after its successor initialised (which completes or aborts
/// it). Every transaction commits its offsets with a metadata `tag` of its
/// own: it committed if a partition still held carries that tag
/// (transactions are atomic, and only this task commits a partition it
/// holds). The tag, not the offset, decides: a transaction of late
/// releases commits offsets committed before.
pub fn did_commit(
    sent: &HashMap<TopicPartition, i64>,
    committed: &HashMap<TopicPartition, Committed>,
    leases: &Leases,
    tag: &str,
) -> bool {
    sent.iter().any(|(tp, next)| {
        leases.holds(tp)
            && committed
                .get(tp)
                .is_some_and(|c| c.offset == *next && c.metadata == tag)
    })
}

#[cfg(test)]
#[allow(
    clippy::too_many_lines,
    reason = "table tests: a table reads best whole"
)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition {
            topic: Arc::from("t"),
            partition: p,
        }
    }

    fn release(p: i32, lease: Lease, next: i64, offsets: &[i64]) -> Release<()> {
        Release {
            tp: tp(p),
            lease,
            next,
            records: offsets.iter().map(|o| (*o, ())).collect(),
        }
    }

    #[test]
    fn admission() {
        use Admission::{Stale, Take};
        // (releases admitted before, retired (partition, lease), the
        // release, what it gets)
        type Case = (
            &'static str,
            Vec<Release<()>>,
            Option<(i32, Lease)>,
            Release<()>,
            Result<Admission, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "first release",
                vec![],
                None,
                release(0, 1, 5, &[3, 4]),
                Ok(Take),
            ),
            (
                "the next one",
                vec![release(0, 1, 5, &[4])],
                None,
                release(0, 1, 9, &[5, 8]),
                Ok(Take),
            ),
            (
                "no outcome, offset moves on",
                vec![release(0, 1, 5, &[4])],
                None,
                release(0, 1, 6, &[]),
                Ok(Take),
            ),
            (
                "an outcome at its offset",
                vec![],
                None,
                release(0, 1, 5, &[5]),
                Err("OutOfRange"),
            ),
            (
                "an outcome released before",
                vec![release(0, 1, 5, &[4])],
                None,
                release(0, 1, 9, &[4, 5]),
                Err("OutOfRange"),
            ),
            (
                "the same offset again",
                vec![release(0, 1, 5, &[4])],
                None,
                release(0, 1, 5, &[]),
                Err("Backwards"),
            ),
            (
                "an earlier offset",
                vec![release(0, 1, 1058, &[])],
                None,
                release(0, 1, 62, &[61]),
                Err("Backwards"),
            ),
            (
                "a retired lease",
                vec![release(0, 1, 5, &[4])],
                Some((0, 1)),
                release(0, 1, 9, &[5]),
                Ok(Stale),
            ),
            (
                "an older lease after a retirement",
                vec![],
                Some((0, 3)),
                release(0, 2, 9, &[5]),
                Ok(Stale),
            ),
            (
                "a new lease after a retirement, from an earlier offset",
                vec![release(0, 1, 1058, &[])],
                Some((0, 1)),
                release(0, 2, 62, &[61]),
                Ok(Take),
            ),
            (
                "an older lease while a newer holds",
                vec![release(0, 2, 5, &[4])],
                None,
                release(0, 1, 9, &[5]),
                Ok(Stale),
            ),
            (
                "a newer lease while an older holds",
                vec![release(0, 1, 5, &[4])],
                None,
                release(0, 2, 9, &[5]),
                Err("Overlapping"),
            ),
            (
                "another partition",
                vec![release(0, 1, 1058, &[])],
                None,
                release(1, 1, 3, &[0, 1, 2]),
                Ok(Take),
            ),
        ];
        for (name, before, retired, r, expected) in cases {
            let mut leases = Leases::default();
            for b in &before {
                assert_eq!(leases.admit(b), Ok(Admission::Take), "{name}: setup");
            }
            if let Some((p, lease)) = retired {
                leases.retire(&tp(p), lease);
            }
            let got = leases.admit(&r).map_err(|v| match v {
                Violation::Backwards { .. } => "Backwards",
                Violation::OutOfRange { .. } => "OutOfRange",
                Violation::Overlapping { .. } => "Overlapping",
                _ => "other",
            });
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn verify_before_sending_offsets() {
        let mut leases = Leases::default();
        let mut content = Content::default();
        for r in [release(0, 1, 5, &[3, 4]), release(1, 1, 2, &[0, 1])] {
            leases.admit(&r).unwrap();
            content.add(r);
        }
        assert_eq!(content.verify(&leases), Ok(()));

        // An outcome its offsets do not cover (as if written by hand).
        let mut uncovered = Content::default();
        uncovered.records.push((tp(0), 7, ()));
        uncovered.offsets.insert(tp(0), 5);
        assert!(matches!(
            uncovered.verify(&leases),
            Err(Violation::Uncovered {
                offset: 7,
                next: Some(5),
                ..
            })
        ));
        let mut no_offset = Content::default();
        no_offset.records.push((tp(0), 3, ()));
        assert!(matches!(
            no_offset.verify(&leases),
            Err(Violation::Uncovered { next: None, .. })
        ));

        // Committed: the same offsets again are fine (a transaction of late
        // releases), an earlier one is not.
        leases.committed(content.offsets());
        assert_eq!(content.verify(&leases), Ok(()));
        let mut behind: Content<()> = Content::default();
        behind.offsets.insert(tp(0), 4);
        assert!(matches!(
            behind.verify(&leases),
            Err(Violation::NotForward {
                next: 4,
                committed: 5,
                ..
            })
        ));

        // A partition let go is not committed.
        leases.retire(&tp(1), 1);
        let mut later: Content<()> = Content::default();
        later.offsets.insert(tp(1), 9);
        assert!(matches!(
            later.verify(&leases),
            Err(Violation::NotHeld { next: 9, .. })
        ));
    }

    #[test]
    fn late_releases_commit_with_the_offset_released_or_begun_at() {
        use Late::{Stale, Take};
        // (what happened before, the late release's partition, lease and
        // offsets, what it gets)
        type Case = (
            &'static str,
            fn(&mut Leases),
            (i32, Lease, &'static [i64]),
            Result<Late, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "after a release: its offset",
                |l| {
                    l.admit(&release(0, 1, 9, &[8])).unwrap();
                },
                (0, 1, &[3, 4]),
                Ok(Take(9)),
            ),
            (
                "before any release: the committed offset begun at",
                |l| {
                    l.begin(&tp(0), 1, Some(7)).unwrap();
                },
                (0, 1, &[2]),
                Ok(Take(7)),
            ),
            (
                "begun without a committed offset, nothing released",
                |l| {
                    l.begin(&tp(0), 1, None).unwrap();
                },
                (0, 1, &[2]),
                Err("Uncovered"),
            ),
            ("never begun", |_| {}, (0, 1, &[2]), Err("Uncovered")),
            (
                "a record not committed yet",
                |l| {
                    l.begin(&tp(0), 1, Some(7)).unwrap();
                },
                (0, 1, &[6, 7]),
                Err("OutOfRange"),
            ),
            (
                "a retired lease",
                |l| {
                    l.begin(&tp(0), 1, Some(7)).unwrap();
                    l.retire(&tp(0), 1);
                },
                (0, 1, &[2]),
                Ok(Stale),
            ),
            (
                "an older lease while a newer holds",
                |l| {
                    l.begin(&tp(0), 2, Some(7)).unwrap();
                },
                (0, 1, &[2]),
                Ok(Stale),
            ),
            (
                "a newer lease while an older holds",
                |l| {
                    l.begin(&tp(0), 1, Some(7)).unwrap();
                },
                (0, 2, &[2]),
                Err("Overlapping"),
            ),
            (
                "another partition's lease",
                |l| {
                    l.begin(&tp(1), 1, Some(7)).unwrap();
                },
                (0, 1, &[2]),
                Err("Uncovered"),
            ),
        ];
        for (name, before, (p, lease, offsets), expected) in cases {
            let mut leases = Leases::default();
            before(&mut leases);
            let got = leases
                .admit_late(&tp(p), lease, offsets.iter().copied())
                .map_err(|v| match v {
                    Violation::OutOfRange { .. } => "OutOfRange",
                    Violation::Overlapping { .. } => "Overlapping",
                    Violation::Uncovered { .. } => "Uncovered",
                    _ => "other",
                });
            assert_eq!(got, expected, "{name}");
        }
    }

    #[test]
    fn a_lease_begun_at_a_committed_offset_releases_past_it() {
        let mut leases = Leases::default();
        assert_eq!(leases.begin(&tp(0), 1, Some(7)), Ok(Admission::Take));
        assert_eq!(
            leases.begin(&tp(0), 1, Some(7)),
            Ok(Admission::Take),
            "again: nothing changes"
        );
        assert!(matches!(
            leases.begin(&tp(0), 2, Some(7)),
            Err(Violation::Overlapping { .. })
        ));
        // Its first release starts where the consumer did, as a lease that
        // did not begin (an offset reset may have moved it); then offsets
        // only move forward again.
        assert_eq!(
            leases.admit(&release(0, 1, 5, &[3, 4])),
            Ok(Admission::Take)
        );
        assert_eq!(leases.admit_late(&tp(0), 1, [2]), Ok(Late::Take(5)));
        assert!(matches!(
            leases.admit(&release(0, 1, 5, &[])),
            Err(Violation::Backwards { .. })
        ));
        assert!(matches!(
            leases.admit(&release(0, 1, 9, &[4])),
            Err(Violation::OutOfRange { .. })
        ));
        assert_eq!(
            leases.admit(&release(0, 1, 9, &[5, 8])),
            Ok(Admission::Take)
        );
        leases.retire(&tp(0), 1);
        assert_eq!(leases.begin(&tp(0), 1, Some(9)), Ok(Admission::Stale));
        assert_eq!(leases.begin(&tp(0), 2, Some(9)), Ok(Admission::Take));
        assert_eq!(
            leases.admit_late(&tp(0), 2, [8]),
            Ok(Late::Take(9)),
            "the next lease begins where the last committed"
        );
    }

    #[test]
    fn content_keeps_the_latest_offset_and_forgets_by_partition() {
        let mut a = Content::default();
        a.add(release(0, 1, 5, &[4]));
        let mut b = Content::default();
        b.add(release(0, 1, 9, &[]));
        b.add(release(1, 1, 3, &[2]));
        a.append(b);
        assert_eq!(a.offsets().get(&tp(0)), Some(&9));
        assert_eq!(a.records().len(), 2);
        assert!(a.remove(&[tp(1)]));
        assert!(!a.remove(&[tp(1)]), "nothing of it left");
        assert_eq!((a.records().len(), a.offsets().len()), (1, 1));
    }

    #[test]
    fn an_unknown_commit_is_judged_by_its_tag_on_the_held_partitions() {
        let mut leases = Leases::default();
        leases.admit(&release(0, 1, 5, &[])).unwrap();
        leases.admit(&release(1, 1, 7, &[])).unwrap();
        let sent: HashMap<_, _> = [(tp(0), 5), (tp(1), 7)].into();
        let map = |v: &[(i32, i64, &str)]| {
            v.iter()
                .map(|(p, o, m)| {
                    let c = Committed {
                        offset: *o,
                        metadata: (*m).to_string(),
                    };
                    (tp(*p), c)
                })
                .collect()
        };
        // (committed offsets read back, whether it committed)
        let cases = [
            (vec![(0, 5, "t2"), (1, 7, "t2")], true),
            (vec![(0, 2, "t1"), (1, 3, "t1")], false),
            (vec![], false),
            // The same offsets committed before, by another transaction
            // (this one held late releases only): it did not commit.
            (vec![(0, 5, "t1"), (1, 7, "t1")], false),
            // Another member moved partition 1 on (it was lost): judged by
            // the other.
            (vec![(0, 5, "t2"), (1, 9, "x")], true),
            (vec![(0, 9, "x"), (1, 3, "t1")], false),
        ];
        for (committed, expected) in cases {
            assert_eq!(
                did_commit(&sent, &map(&committed), &leases, "t2"),
                expected,
                "{committed:?}"
            );
        }
        // Partition 1 let go: judged by partition 0 alone.
        leases.retire(&tp(1), 1);
        assert!(did_commit(&sent, &map(&[(0, 5, "t2")]), &leases, "t2"));
        leases.retire(&tp(0), 1);
        assert!(
            !did_commit(&sent, &map(&[(0, 5, "t2")]), &leases, "t2"),
            "nothing held: nothing to keep"
        );
    }
}
