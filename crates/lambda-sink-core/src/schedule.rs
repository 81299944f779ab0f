//! Which of a partition's queued records go into the next batch
//! (`aws.lambda.ordering`).
//!
//! Every record has a *lane*: in `partition` mode all records of the
//! partition share one; in `key` mode a record's lane is its key; in `none`
//! mode, and for records without a key in `key` mode, a record has no lane.
//! A batch holds the lanes of its records until it is resolved, and a record
//! whose lane is held waits. So in `partition` mode one batch is in flight
//! at a time, in offset order (lambda-sink's behaviour before orderings
//! existed); in `key` mode no two batches in flight share a key and the
//! records of one key are invoked in offset order; in `none` mode any
//! queued record may go.
//!
//! A batch takes eligible lanes whole, oldest first: every queued record of
//! the lane with the oldest eligible record, then of the next lane, within
//! the request limits ([`BatchLimits`]); its records are sent in offset
//! order. A lane's records are taken as a prefix — up to its first record
//! that does not fit or is not sent to Lambda (a dead letter,
//! [`Element::element_len`] `None`, which goes alone once it is the oldest
//! eligible record) — so a lane is never reordered, and with few keys per
//! partition one batch carries several records of a key rather than the
//! key's later records waiting for it.
//!
//! A lane may be *parked* ([`Scheduler::park`], `aws.lambda.on.key.failure`):
//! its queued records are never invoked, but taken whole, alone, as a batch
//! for the parked topic ([`Taken::parked`]) as soon as the lane is not held.
//!
//! Lanes are 64-bit hashes of the key bytes: two keys that collide share a
//! lane, which costs concurrency, never order. Memory is the queued records
//! plus one entry per lane held by a batch in flight or parked.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::batch::{BatchLimits, Element, request_len};
use crate::config::Ordering;

/// A lane: records sharing one are invoked one batch at a time, in order.
pub type Lane = u64;

/// The lane of a record with `key` under `ordering`; `None` = unordered.
pub fn lane(ordering: Ordering, key: Option<&[u8]>) -> Option<Lane> {
    match (ordering, key) {
        (Ordering::Partition, _) => Some(0),
        (Ordering::Key, Some(key)) => {
            // SipHash with fixed keys: the same key always maps to the same
            // lane, in every process.
            let mut h = DefaultHasher::new();
            key.hash(&mut h);
            Some(h.finish())
        }
        (Ordering::Key, None) | (Ordering::None, _) => None,
    }
}

/// A batch taken from the queue: its items in offset order and the lanes it
/// holds until [`Scheduler::release`].
#[derive(Debug)]
pub struct Taken<T> {
    /// The batch, in offset order.
    pub items: Vec<T>,
    /// The distinct lanes of `items`.
    pub lanes: Vec<Lane>,
    /// The records of a parked lane, for the parked topic.
    pub parked: bool,
}

/// What the next batch would be, without taking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Items it would hold (0: nothing is eligible).
    pub items: usize,
    /// Whether it can grow no more from records already queued *or* still
    /// to come: a limit is reached, or it ends at a record that is not
    /// batchable. A batch that is not full may be worth lingering for.
    pub full: bool,
    /// Queue position of its first item (the oldest eligible record).
    pub first: usize,
    /// It holds a parked lane's records, for the parked topic.
    pub parked: bool,
}

/// A partition's queued records, in offset order, and the lanes held by
/// batches in flight.
#[derive(Debug)]
pub struct Scheduler<T> {
    ordering: Ordering,
    queue: VecDeque<(Option<Lane>, T)>,
    held: HashSet<Lane>,
    parked: HashSet<Lane>,
}

impl<T: Element> Scheduler<T> {
    /// An empty scheduler.
    pub fn new(ordering: Ordering) -> Self {
        Self {
            ordering,
            queue: VecDeque::new(),
            held: HashSet::new(),
            parked: HashSet::new(),
        }
    }

    /// Parks `lane`: its records go to the parked topic from now on.
    pub fn park(&mut self, lane: Lane) {
        self.parked.insert(lane);
    }

    /// Lets a parked `lane` flow again.
    pub fn unpark(&mut self, lane: Lane) {
        self.parked.remove(&lane);
    }

    /// The lane of a record with `key`, for [`push`](Self::push).
    pub fn lane(&self, key: Option<&[u8]>) -> Option<Lane> {
        lane(self.ordering, key)
    }

    /// Queues the next record of the partition (offsets increase) in its
    /// [`lane`](Self::lane).
    pub fn push(&mut self, lane: Option<Lane>, item: T) {
        self.queue.push_back((lane, item));
    }

    /// Records queued, eligible or not.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The queued item at `index` (0 = oldest).
    pub fn get(&self, index: usize) -> Option<&T> {
        self.queue.get(index).map(|(_, item)| item)
    }

    /// What [`take`](Self::take) would take now.
    pub fn plan(&self, limits: BatchLimits) -> Plan {
        self.select(limits).1
    }

    /// Takes the next batch (possibly empty) and holds its lanes.
    pub fn take(&mut self, limits: BatchLimits) -> Taken<T> {
        let (chosen, plan) = self.select(limits);
        let mut taken = Taken {
            items: Vec::with_capacity(plan.items),
            lanes: Vec::new(),
            parked: plan.parked,
        };
        if plan.items == 0 {
            return taken;
        }
        let mut kept = VecDeque::with_capacity(self.queue.len() - plan.items);
        // Drained in offset order, so the batch is too: the function sees
        // each key's records in order, and the batch in the partition's.
        for (index, (lane, item)) in self.queue.drain(..).enumerate() {
            if chosen.binary_search(&index).is_err() {
                kept.push_back((lane, item));
                continue;
            }
            if let Some(l) = lane
                && !taken.lanes.contains(&l)
            {
                taken.lanes.push(l);
            }
            taken.items.push(item);
        }
        self.queue = kept;
        self.held.extend(taken.lanes.iter().copied());
        taken
    }

    /// The queue positions of the next batch (sorted) and its plan.
    ///
    /// Lanes are taken whole, in the order of their oldest eligible record:
    /// a batch holds every queued record of a lane it starts (up to the
    /// limits, and up to the lane's next record that is not batchable)
    /// before it starts another lane. With few keys per partition this packs
    /// several records of a key into one batch instead of leaving the key's
    /// later records to wait for it.
    fn select(&self, limits: BatchLimits) -> (Vec<usize>, Plan) {
        let mut plan = Plan {
            items: 0,
            full: false,
            first: 0,
            parked: false,
        };
        // Eligible records grouped by lane, lanes in order of first sight;
        // an unordered record is a group of its own.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of: HashMap<Lane, usize> = HashMap::new();
        for (index, (lane, _)) in self.queue.iter().enumerate() {
            match lane {
                Some(l) if self.held.contains(l) => {}
                Some(l) => {
                    let g = *group_of.entry(*l).or_insert_with(|| {
                        groups.push(Vec::new());
                        groups.len() - 1
                    });
                    groups[g].push(index);
                }
                None => groups.push(vec![index]),
            }
        }
        let mut chosen = Vec::new();
        let mut bytes = 0;
        'groups: for indices in &groups {
            let parked = indices
                .first()
                .and_then(|&i| self.queue[i].0)
                .is_some_and(|l| self.parked.contains(&l));
            if parked {
                if chosen.is_empty() {
                    // A parked lane's records go alone, all of them.
                    chosen.clone_from(indices);
                    plan.parked = true;
                    plan.full = true;
                    break 'groups;
                }
                continue 'groups;
            }
            for &index in indices {
                let Some(len) = self.queue[index].1.element_len() else {
                    if chosen.is_empty() {
                        // Not for Lambda: it goes alone.
                        chosen.push(index);
                        plan.full = true;
                        break 'groups;
                    }
                    // The lane's later records wait behind it; in
                    // `partition` mode that is every record to come.
                    plan.full |= self.ordering == Ordering::Partition;
                    continue 'groups;
                };
                if chosen.len() == limits.max_records
                    || request_len(chosen.len() + 1, bytes + len) > limits.max_bytes
                {
                    plan.full = true;
                    break 'groups;
                }
                chosen.push(index);
                bytes += len;
            }
        }
        plan.items = chosen.len();
        plan.first = chosen.iter().copied().min().unwrap_or(0);
        plan.full = plan.full
            || plan.items >= limits.max_records
            // Nothing more of even the smallest size (1 byte) would fit.
            || request_len(plan.items + 1, bytes + 1) > limits.max_bytes;
        chosen.sort_unstable();
        (chosen, plan)
    }

    /// Frees the lanes of a resolved batch: their next records may go.
    pub fn release(&mut self, lanes: &[Lane]) {
        for l in lanes {
            self.held.remove(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// A queued record: its offset, key and whether it is batchable.
    #[derive(Debug, Clone, PartialEq)]
    struct Rec {
        offset: i64,
        key: Option<u8>,
        dead: bool,
    }

    impl Element for Rec {
        fn element_len(&self) -> Option<usize> {
            (!self.dead).then_some(10)
        }
    }

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 3,
        max_bytes: 1 << 20,
    };

    fn scheduler(ordering: Ordering, keys: &[Option<u8>]) -> Scheduler<Rec> {
        let mut s = Scheduler::new(ordering);
        for (i, k) in keys.iter().enumerate() {
            let key = k.map(|k| [k]);
            s.push(
                s.lane(key.as_ref().map(|k| k.as_slice())),
                Rec {
                    offset: i as i64,
                    key: *k,
                    dead: false,
                },
            );
        }
        s
    }

    fn offsets(t: &Taken<Rec>) -> Vec<i64> {
        t.items.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn partition_mode_is_one_batch_at_a_time_in_order() {
        let mut s = scheduler(Ordering::Partition, &[Some(1), Some(2), None, Some(3)]);
        let first = s.take(LIMITS);
        assert_eq!(offsets(&first), [0, 1, 2]);
        assert_eq!(s.plan(LIMITS).items, 0, "the partition's lane is held");
        assert!(s.take(LIMITS).items.is_empty());
        s.release(&first.lanes);
        assert_eq!(offsets(&s.take(LIMITS)), [3]);
    }

    #[test]
    fn a_parked_key_is_taken_alone_for_the_parked_topic_and_never_invoked() {
        let key = |k: u8| Some(lane(Ordering::Key, Some(&[k])).unwrap());
        // Keys: a b a b a c, batch size 3.
        let mut s = scheduler(
            Ordering::Key,
            &[
                Some(b'a'),
                Some(b'b'),
                Some(b'a'),
                Some(b'b'),
                Some(b'a'),
                Some(b'c'),
            ],
        );
        let first = s.take(LIMITS);
        assert_eq!(offsets(&first), [0, 2, 4]);
        assert!(!first.parked);
        // `a` failed for good and is parked before its batch lets it go.
        s.park(key(b'a').unwrap());
        s.release(&first.lanes);
        s.push(
            key(b'a'),
            Rec {
                offset: 6,
                key: Some(b'a'),
                dead: false,
            },
        );
        s.push(
            key(b'a'),
            Rec {
                offset: 7,
                key: Some(b'a'),
                dead: true,
            },
        );
        // The oldest eligible record is b's: an ordinary batch, a's records
        // passed over rather than mixed in.
        let plan = s.plan(LIMITS);
        assert!(!plan.parked);
        let b = s.take(LIMITS);
        assert_eq!(offsets(&b), [1, 3, 5]);
        // Then a's queued records, all of them (a dead letter too), alone.
        let plan = s.plan(LIMITS);
        assert!(plan.parked && plan.full);
        let parked = s.take(LIMITS);
        assert_eq!(offsets(&parked), [6, 7]);
        assert!(parked.parked);
        assert_eq!(parked.lanes, vec![key(b'a').unwrap()]);
        // Held while written: a's next record waits for it.
        s.push(
            key(b'a'),
            Rec {
                offset: 8,
                key: Some(b'a'),
                dead: false,
            },
        );
        assert_eq!(s.plan(LIMITS).items, 0);
        s.release(&parked.lanes);
        s.unpark(key(b'a').unwrap());
        let flows = s.take(LIMITS);
        assert_eq!((offsets(&flows), flows.parked), (vec![8], false));
    }

    #[test]
    fn key_mode_takes_lanes_whole_and_passes_over_held_keys() {
        // Keys: a a b a c b a, batch size 3.
        let mut s = scheduler(
            Ordering::Key,
            &[
                Some(b'a'),
                Some(b'a'),
                Some(b'b'),
                Some(b'a'),
                Some(b'c'),
                Some(b'b'),
                Some(b'a'),
            ],
        );
        let first = s.take(LIMITS);
        assert_eq!(offsets(&first), [0, 1, 3], "the oldest lane, a, whole");
        let second = s.take(LIMITS);
        assert_eq!(offsets(&second), [2, 4, 5], "then b, c, b; 6 waits for a");
        assert!(s.take(LIMITS).items.is_empty());
        s.release(&first.lanes);
        assert_eq!(offsets(&s.take(LIMITS)), [6]);
    }

    #[test]
    fn null_keys_and_none_mode_are_unordered() {
        let mut s = scheduler(Ordering::Key, &[None, None, None, None]);
        assert_eq!(offsets(&s.take(LIMITS)), [0, 1, 2]);
        assert_eq!(offsets(&s.take(LIMITS)), [3], "null keys hold no lane");
        let mut s = scheduler(Ordering::None, &[Some(1), Some(1), Some(1), Some(1)]);
        assert_eq!(offsets(&s.take(LIMITS)), [0, 1, 2]);
        assert_eq!(offsets(&s.take(LIMITS)), [3]);
    }

    #[test]
    fn a_dead_letter_goes_alone_and_in_its_lanes_order() {
        let mut s = scheduler(Ordering::Key, &[Some(1), Some(2)]);
        s.push(
            s.lane(Some(&[1])),
            Rec {
                offset: 2,
                key: Some(1),
                dead: true,
            },
        );
        s.push(
            s.lane(Some(&[3])),
            Rec {
                offset: 3,
                key: Some(3),
                dead: true,
            },
        );
        let plan = s.plan(LIMITS);
        assert_eq!(
            (plan.items, plan.full),
            (2, false),
            "lane 1 ends before its dead letter; records of other lanes may still come"
        );
        let first = s.take(LIMITS);
        assert_eq!(offsets(&first), [0, 1]);
        let dead = s.take(LIMITS);
        assert_eq!(offsets(&dead), [3], "2 waits for key 1; 3 goes alone");
        s.release(&first.lanes);
        assert_eq!(offsets(&s.take(LIMITS)), [2]);
    }

    #[test]
    fn plan_reports_whether_lingering_can_help() {
        let s = scheduler(Ordering::Key, &[Some(1), Some(2)]);
        let plan = s.plan(LIMITS);
        assert_eq!((plan.items, plan.full, plan.first), (2, false, 0));
        let s = scheduler(Ordering::Key, &[Some(1), Some(2), Some(3), Some(4)]);
        assert!(s.plan(LIMITS).full);
        let tight = BatchLimits {
            max_records: 10,
            max_bytes: request_len(2, 20),
        };
        assert!(s.plan(tight).full, "a third 10-byte element would not fit");
        assert_eq!(s.plan(tight).items, 2);
    }

    proptest! {
        /// Random keys, batch sizes, concurrency and completion orders: no
        /// two batches in flight share a key, each key's records are invoked
        /// in offset order, nothing is lost or invoked twice, and the offset
        /// committed at the contiguous watermark never passes a record that
        /// is not resolved. In `partition` mode one batch is in flight and
        /// the whole partition is in order.
        #[test]
        fn ordering_holds_whatever_completes_first(
            keys in prop::collection::vec(prop::option::weighted(0.9, 0u8..12), 1..120),
            batch in 1usize..6,
            slots in 1usize..8,
            picks in prop::collection::vec(any::<prop::sample::Index>(), 0..400),
            failures in prop::collection::vec(any::<bool>(), 0..400),
            mode in prop::sample::select(vec![Ordering::Partition, Ordering::Key, Ordering::None]),
        ) {
            let limits = BatchLimits { max_records: batch, max_bytes: 1 << 20 };
            let mut s = scheduler(mode, &keys);
            let mut tracker = crate::offsets::OffsetTracker::new();
            for o in 0..keys.len() as i64 { tracker.track(o).unwrap(); }
            let mut in_flight: Vec<Taken<Rec>> = Vec::new();
            let mut invoked: BTreeMap<Option<u8>, Vec<i64>> = BTreeMap::new();
            let mut all_invoked: Vec<i64> = Vec::new();
            let mut resolved: Vec<i64> = Vec::new();
            let mut picks = picks.into_iter();
            let mut failures = failures.into_iter();
            loop {
                while in_flight.len() < slots {
                    let t = s.take(limits);
                    if t.items.is_empty() { break; }
                    for r in &t.items {
                        if mode == Ordering::Key && let Some(k) = r.key {
                            let busy = in_flight.iter().any(|f| f.items.iter().any(|o| o.key == Some(k)));
                            prop_assert!(!busy, "key {} in two batches in flight", k);
                        }
                        invoked.entry(r.key).or_default().push(r.offset);
                        all_invoked.push(r.offset);
                    }
                    in_flight.push(t);
                }
                if mode == Ordering::Partition {
                    prop_assert!(in_flight.len() <= 1);
                }
                if in_flight.is_empty() { break; }
                let i = picks.next().map_or(0, |p| p.index(in_flight.len()));
                let done = in_flight.swap_remove(i);
                // A failed batch (the connector stops) leaves its records
                // unresolved; the rest of the run goes on to show that the
                // watermark still holds before them.
                let failed = failures.next().unwrap_or(false);
                for r in &done.items {
                    if !failed {
                        tracker.resolve(r.offset).unwrap();
                        resolved.push(r.offset);
                    }
                }
                if let Some(c) = tracker.committable() {
                    prop_assert!((0..c).all(|o| resolved.contains(&o)),
                        "committed {} past an unresolved record", c);
                }
                s.release(&done.lanes);
            }
            prop_assert!(s.is_empty(), "records left queued");
            if mode == Ordering::Partition {
                prop_assert!(all_invoked.windows(2).all(|w| w[0] < w[1]), "partition out of order: {:?}", all_invoked);
            }
            all_invoked.sort_unstable();
            prop_assert_eq!(all_invoked, (0..keys.len() as i64).collect::<Vec<_>>());
            if mode == Ordering::Key {
                for (key, offs) in invoked.iter().filter(|(k, _)| k.is_some()) {
                    prop_assert!(offs.windows(2).all(|w| w[0] < w[1]), "key {:?} out of order: {:?}", key, offs);
                }
            }
        }
    }
}
