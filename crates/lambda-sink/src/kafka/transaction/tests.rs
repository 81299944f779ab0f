//! The transactor against a fake Kafka that keeps the transaction protocol
//! strictly (no record outside a begun transaction, no second begin, no
//! commit or abort without one, a fenced producer can do nothing) and fails
//! calls at random as librdkafka does: retriable, abortable, fatal before
//! or after the commit took effect. A random schedule releases records of
//! three partitions, late releases (a parked key's outcomes, of records
//! committed before), commits, revokes and loses partitions (their next
//! owner, the same task under a new lease, begins at the group's stable
//! committed offset and redoes the late releases that did not commit) and
//! hands over stale releases. Whatever the schedule:
//!
//! * every committed outcome is below the offset its transaction commits
//!   for its partition, and no committed offset moves backwards;
//! * no outcome commits twice, and in the end every record has one (and
//!   every parked record its late one);
//! * the protocol is never broken;
//! * with no fault and no rebalance, nothing is ever aborted.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_sink_core::config::Transactions as Bounds;
use lambda_sink_core::record::TopicPartition;
use lambda_sink_core::transaction::{Committed, Lease};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::port::{Class, Txn, TxnError};
use super::transactor::{NotCommitted, Transactions};
use crate::kafka::producer::OutcomeRecord;
use crate::metrics::{Metrics, ResultLabel};

const PARTITIONS: i32 = 3;
const RECORDS: i64 = 120;

fn tp(p: i32) -> TopicPartition {
    TopicPartition {
        topic: Arc::from("in"),
        partition: p,
    }
}

/// Every tenth record is parked: its outcome in the parked topic when its
/// offset commits, and a late one when its key is released.
fn parked(offset: i64) -> bool {
    offset % 10 == 7
}

/// An outcome record naming its input record in its key.
fn outcome(p: i32, offset: i64) -> OutcomeRecord {
    OutcomeRecord {
        topic: Arc::from("success-x"),
        key: Some(format!("{p}:{offset}").into_bytes()),
        value: None,
        headers: Vec::new(),
        timestamp: None,
    }
}

/// A parked record's late outcome (its release).
fn late(p: i32, offset: i64) -> OutcomeRecord {
    OutcomeRecord {
        topic: Arc::from("late-x"),
        ..outcome(p, offset)
    }
}

/// The input record an outcome names, and whether it is a late one.
fn named(record: &OutcomeRecord) -> (i32, i64, bool) {
    let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
    let (p, o) = key.split_once(':').unwrap();
    (
        p.parse().unwrap(),
        o.parse().unwrap(),
        &*record.topic == "late-x",
    )
}

/// Where the producer's transaction stands, as the broker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// The commit took effect but its answer was lost (a timeout): the
    /// next commit call returns success.
    CommittedUnacknowledged,
    /// The transaction must be aborted.
    AbortRequired,
}

#[derive(Default)]
struct Open {
    records: Vec<(i32, i64, bool)>,
    /// Offsets, each with its metadata.
    offsets: HashMap<i32, (i64, String)>,
}

/// The fake cluster: one transactional id, its producer epochs, the group's
/// committed offsets and the committed outcomes.
struct Cluster {
    rng: StdRng,
    /// Chance that a call fails.
    faults: f64,
    epoch: u64,
    /// The current epoch's producer failed fatally.
    fatal: bool,
    open: Option<(State, Open)>,
    committed_offsets: HashMap<i32, (i64, String)>,
    committed_outcomes: Vec<(i32, i64, bool)>,
    /// Partitions the consumer holds (offsets of others are refused).
    assigned: HashSet<i32>,
    /// Commits fail for good (a deleted topic, say).
    refuse_commits: bool,
    /// A `send_offsets` call timed out: until it is called again, every
    /// other transaction call conflicts (librdkafka's resumable calls;
    /// the adapter classifies the conflict as fatal).
    offsets_call_pending: bool,
    violations: Vec<String>,
}

impl Cluster {
    fn fault(&mut self) -> bool {
        self.faults > 0.0 && self.rng.random_bool(self.faults)
    }

    fn violation(&mut self, what: String) -> TxnError {
        self.violations.push(what.clone());
        TxnError::new(Class::Fatal, what)
    }

    /// Makes the open transaction's effects visible, checking the
    /// invariant a `read_committed` reader relies on.
    fn apply(&mut self, txn: &Open) {
        for (p, o, _) in &txn.records {
            if txn.offsets.get(p).is_none_or(|(next, _)| o >= next) {
                self.violations.push(format!(
                    "the outcome of {p}:{o} committed with offset {:?}",
                    txn.offsets.get(p)
                ));
            }
        }
        for (p, next) in &txn.offsets {
            if self.committed_offsets.get(p).is_some_and(|c| next.0 < c.0) {
                self.violations.push(format!(
                    "partition {p}'s offset moved backwards: {next:?} after {:?}",
                    self.committed_offsets.get(p)
                ));
            }
            self.committed_offsets.insert(*p, next.clone());
        }
        self.committed_outcomes.extend(&txn.records);
    }
}

/// One producer (epoch) of the fake cluster.
#[derive(Clone)]
struct FakeTxn {
    cluster: Arc<Mutex<Cluster>>,
    epoch: u64,
}

impl FakeTxn {
    /// The cluster, if this producer may still act.
    fn live(&self) -> Result<std::sync::MutexGuard<'_, Cluster>, TxnError> {
        let c = self.cluster.lock().unwrap();
        if c.epoch != self.epoch || c.fatal {
            return Err(TxnError::new(Class::Fatal, "fenced or failed"));
        }
        Ok(c)
    }

    /// [`Self::live`], for a transaction call other than `send_offsets`.
    fn callable(&self) -> Result<std::sync::MutexGuard<'_, Cluster>, TxnError> {
        let c = self.live()?;
        if c.offsets_call_pending {
            return Err(TxnError::new(
                Class::Fatal,
                "conflicting send_offsets_to_transaction call in progress",
            ));
        }
        Ok(c)
    }
}

impl Txn for FakeTxn {
    type Delivery = std::future::Ready<Result<(), TxnError>>;

    fn begin(&self) -> Result<(), TxnError> {
        let mut c = self.live()?;
        if c.open.is_some() {
            return Err(c.violation("begin while a transaction is open".into()));
        }
        c.open = Some((State::Open, Open::default()));
        Ok(())
    }

    fn send(&self, record: &OutcomeRecord) -> Result<Self::Delivery, TxnError> {
        let mut c = self.live()?;
        if c.fault() && c.rng.random_bool(0.5) {
            return Err(TxnError::new(Class::Full, "queue full"));
        }
        match &mut c.open {
            Some((State::Open, txn)) => {
                txn.records.push(named(record));
                Ok(std::future::ready(Ok(())))
            }
            other => {
                let state = other.as_ref().map(|(s, _)| *s);
                Err(c.violation(format!("a record produced in state {state:?}")))
            }
        }
    }

    fn send_offsets(
        &self,
        offsets: &HashMap<TopicPartition, i64>,
        tag: &str,
    ) -> Result<(), TxnError> {
        let mut c = self.live()?;
        if !matches!(c.open, Some((State::Open, _))) {
            return Err(c.violation("offsets sent without an open transaction".into()));
        }
        if let Some(tp) = offsets
            .keys()
            .find(|tp| !c.assigned.contains(&tp.partition))
        {
            return Err(TxnError::new(
                Class::Abortable,
                format!("partition {tp} is no longer assigned"),
            ));
        }
        c.offsets_call_pending = false;
        if c.fault() {
            return Err(match c.rng.random_range(0..3) {
                0 => {
                    c.offsets_call_pending = true;
                    TxnError::new(Class::Retriable, "timed out")
                }
                1 => {
                    c.open.as_mut().unwrap().0 = State::AbortRequired;
                    TxnError::new(Class::Abortable, "fenced by the group")
                }
                _ => {
                    c.fatal = true;
                    TxnError::new(Class::Fatal, "producer fenced")
                }
            });
        }
        let txn = &mut c.open.as_mut().unwrap().1;
        txn.offsets.extend(
            offsets
                .iter()
                .map(|(tp, n)| (tp.partition, (*n, tag.to_string()))),
        );
        Ok(())
    }

    fn commit(&self) -> Result<(), TxnError> {
        // A commit takes a moment: releases arrive meanwhile.
        std::thread::sleep(Duration::from_micros(300));
        let mut c = self.callable()?;
        match c.open.as_ref().map(|(s, _)| *s) {
            Some(State::CommittedUnacknowledged) => {
                c.open = None;
                return Ok(());
            }
            Some(State::AbortRequired) => {
                return Err(TxnError::new(Class::Abortable, "must abort"));
            }
            Some(State::Open) => {}
            None => return Err(c.violation("commit without a transaction".into())),
        }
        if c.refuse_commits {
            c.open.as_mut().unwrap().0 = State::AbortRequired;
            return Err(TxnError::new(Class::Permanent, "the topic was deleted"));
        }
        if c.fault() {
            match c.rng.random_range(0..5) {
                0 => return Err(TxnError::new(Class::Retriable, "timed out, not committed")),
                1 => {
                    let (_, txn) = c.open.take().unwrap();
                    c.apply(&txn);
                    c.open = Some((State::CommittedUnacknowledged, Open::default()));
                    return Err(TxnError::new(
                        Class::Retriable,
                        "timed out after committing",
                    ));
                }
                2 => {
                    c.open.as_mut().unwrap().0 = State::AbortRequired;
                    return Err(TxnError::new(Class::Abortable, "a delivery failed"));
                }
                3 => {
                    c.fatal = true;
                    return Err(TxnError::new(Class::Fatal, "fatal before committing"));
                }
                _ => {
                    let (_, txn) = c.open.take().unwrap();
                    c.apply(&txn);
                    c.fatal = true;
                    return Err(TxnError::new(Class::Fatal, "fatal after committing"));
                }
            }
        }
        let (_, txn) = c.open.take().unwrap();
        c.apply(&txn);
        Ok(())
    }

    fn abort(&self) -> Result<(), TxnError> {
        let mut c = self.callable()?;
        match c.open.as_ref().map(|(s, _)| *s) {
            Some(State::Open | State::AbortRequired) => {}
            state => return Err(c.violation(format!("abort in state {state:?}"))),
        }
        if c.fault() {
            return Err(TxnError::new(Class::Retriable, "abort timed out"));
        }
        c.open = None;
        Ok(())
    }

    fn renew(&self) -> Result<Self, TxnError> {
        let mut c = self.cluster.lock().unwrap();
        if c.fault() {
            return Err(TxnError::new(Class::Retriable, "coordinator away"));
        }
        // The new producer's initialisation aborts what the old one left
        // open (a commit that took effect stays committed).
        c.open = None;
        c.offsets_call_pending = false;
        c.epoch += 1;
        c.fatal = false;
        Ok(Self {
            cluster: self.cluster.clone(),
            epoch: c.epoch,
        })
    }

    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, Committed>, TxnError> {
        let c = self.cluster.lock().unwrap();
        Ok(partitions
            .iter()
            .filter_map(|tp| {
                let (offset, metadata) = c.committed_offsets.get(&tp.partition)?.clone();
                Some((tp.clone(), Committed { offset, metadata }))
            })
            .collect())
    }
}

/// A partition as its (simulated) worker sees it.
struct Partition {
    lease: Lease,
    /// The next offset its worker releases from.
    released: i64,
    /// Leases let go, for stale releases.
    retired: Vec<Lease>,
    /// Parked records whose late outcome the transactor took under this
    /// lease, or had committed before it began.
    late: HashSet<i64>,
}

struct Run {
    cluster: Arc<Mutex<Cluster>>,
    transactions: Transactions,
    metrics: Arc<Metrics>,
    failures: Arc<Mutex<Vec<String>>>,
    partitions: Vec<Partition>,
    leases: Lease,
}

impl Run {
    fn new(seed: u64, faults: f64) -> Self {
        let cluster = Arc::new(Mutex::new(Cluster {
            rng: StdRng::seed_from_u64(seed),
            faults,
            epoch: 0,
            fatal: false,
            open: None,
            committed_offsets: HashMap::new(),
            committed_outcomes: Vec::new(),
            assigned: (0..PARTITIONS).collect(),
            refuse_commits: false,
            offsets_call_pending: false,
            violations: Vec::new(),
        }));
        let metrics = Arc::new(Metrics::new());
        let failures = Arc::new(Mutex::new(Vec::new()));
        let failed = failures.clone();
        let transactions = Transactions::start(
            FakeTxn {
                cluster: cluster.clone(),
                epoch: 0,
            },
            "test".into(),
            Bounds {
                interval: Duration::from_millis(50),
                max_records: 40,
            },
            (metrics.clone(), Arc::default()),
            Arc::new(move |reason| failed.lock().unwrap().push(reason)),
        );
        let partitions = (0..PARTITIONS)
            .map(|p| Partition {
                lease: u64::try_from(p).unwrap() + 1,
                released: 0,
                retired: Vec::new(),
                late: HashSet::new(),
            })
            .collect();
        Self {
            cluster,
            transactions,
            metrics,
            failures,
            partitions,
            leases: u64::try_from(PARTITIONS).unwrap(),
        }
    }

    /// Partition `p`'s worker releases up to `k` more records.
    async fn release(&mut self, p: i32, k: i64) {
        let part = &mut self.partitions[usize::try_from(p).unwrap()];
        let next = (part.released + k).min(RECORDS);
        if next == part.released {
            return;
        }
        let records = (part.released..next).map(|o| (o, outcome(p, o))).collect();
        let partition = tp(p);
        let release = self
            .transactions
            .release(&partition, part.lease, next, records);
        // Virtual time: a transactor that never takes it again is stuck.
        let taken = tokio::time::timeout(Duration::from_secs(600), release)
            .await
            .expect("the transactor took no release for 10 minutes: it is stuck");
        if taken.is_ok() {
            part.released = next;
        }
    }

    /// Partition `p`'s worker releases up to `k` parked keys: the late
    /// outcomes of parked records below the offset it released.
    async fn release_late(&mut self, p: i32, k: usize) {
        let part = &mut self.partitions[usize::try_from(p).unwrap()];
        let due: Vec<i64> = (0..part.released)
            .filter(|o| parked(*o) && !part.late.contains(o))
            .take(k)
            .collect();
        if due.is_empty() {
            return;
        }
        let records = due.iter().map(|o| (*o, late(p, *o))).collect();
        let partition = tp(p);
        let release = self
            .transactions
            .release_late(&partition, part.lease, records);
        let taken = tokio::time::timeout(Duration::from_secs(600), release)
            .await
            .expect("the transactor took no late release for 10 minutes: it is stuck");
        if taken.is_ok() {
            part.late.extend(due);
        }
    }

    /// A worker drained or aborted earlier hands something over late: it
    /// must be refused.
    async fn stale_release(&mut self, p: i32) {
        let part = &self.partitions[usize::try_from(p).unwrap()];
        let Some(&lease) = part.retired.last() else {
            return;
        };
        let next = part.released + 1;
        let refused = self
            .transactions
            .release(
                &tp(p),
                lease,
                next,
                vec![(part.released, outcome(p, part.released))],
            )
            .await;
        assert!(refused.is_err(), "a stale release was taken");
    }

    /// Lets `p` go (after a flush, for a revocation), then gives it a new
    /// lease that starts, as a new owner's consumer does, from the group's
    /// stable committed offset.
    async fn reassign(&mut self, p: i32, lost: bool) {
        if lost {
            self.cluster.lock().unwrap().assigned.remove(&p);
        } else {
            let _ = self.transactions.commit().await;
        }
        let i = usize::try_from(p).unwrap();
        let old = self.partitions[i].lease;
        self.transactions.forget(vec![(tp(p), old)]).await;
        self.cluster.lock().unwrap().assigned.remove(&p);
        // A transaction holding offsets of it must complete first (KIP-447).
        let start = loop {
            {
                let c = self.cluster.lock().unwrap();
                let pending = c
                    .open
                    .as_ref()
                    .is_some_and(|(_, txn)| txn.offsets.contains_key(&p));
                if !pending {
                    break c.committed_offsets.get(&p).map_or(0, |(o, _)| *o);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        self.cluster.lock().unwrap().assigned.insert(p);
        self.leases += 1;
        let lease = self.leases;
        loop {
            match self.transactions.begin(&tp(p), lease).await {
                Ok(begun) => {
                    assert_eq!(begun.unwrap_or(0), start, "begun where the consumer starts");
                    break;
                }
                Err(NotCommitted::Failed { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("a new lease did not begin: {e}"),
            }
        }
        // The new owner's parked keys: those whose late outcome did not
        // commit (the parked topic, read once the lease began).
        let late = self
            .cluster
            .lock()
            .unwrap()
            .committed_outcomes
            .iter()
            .filter(|(q, _, late)| *q == p && *late)
            .map(|(_, o, _)| *o)
            .collect();
        let part = &mut self.partitions[i];
        part.retired.push(old);
        part.lease = lease;
        part.released = start;
        part.late = late;
    }

    /// Releases everything left and commits until it sticks.
    async fn finish(&mut self) {
        for p in 0..PARTITIONS {
            self.release(p, RECORDS).await;
            let parked = (0..RECORDS).filter(|o| parked(*o)).count();
            self.release_late(p, parked).await;
        }
        for _ in 0..1_000 {
            if self.transactions.commit().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the final commit never succeeded: {:?} {:?}",
            self.cluster.lock().unwrap().violations,
            self.failures.lock().unwrap()
        );
    }

    fn aborted(&self) -> u64 {
        self.metrics
            .transactions
            .get_or_create(&ResultLabel { result: "aborted" })
            .get()
    }

    /// The exactly-once promise, checked against what the cluster holds.
    fn verify(&self, seed: u64) {
        let c = self.cluster.lock().unwrap();
        assert_eq!(c.violations, Vec::<String>::new(), "seed {seed}");
        assert_eq!(
            *self.failures.lock().unwrap(),
            Vec::<String>::new(),
            "seed {seed}"
        );
        let mut seen = HashSet::new();
        for outcome in &c.committed_outcomes {
            assert!(
                seen.insert(*outcome),
                "seed {seed}: {outcome:?} committed twice"
            );
        }
        for p in 0..PARTITIONS {
            assert_eq!(
                c.committed_offsets.get(&p).map(|(o, _)| *o),
                Some(RECORDS),
                "seed {seed}"
            );
            for o in 0..RECORDS {
                assert!(
                    seen.contains(&(p, o, false)),
                    "seed {seed}: no outcome for {p}:{o}"
                );
                assert_eq!(
                    seen.contains(&(p, o, true)),
                    parked(o),
                    "seed {seed}: the late outcome of {p}:{o}"
                );
            }
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn random_failures_revocations_and_losses_commit_each_outcome_once() {
    for seed in 0..48 {
        runtime().block_on(async {
            let mut run = Run::new(seed, 0.15);
            let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
            for _ in 0..150 {
                let p = rng.random_range(0..PARTITIONS);
                match rng.random_range(0..100) {
                    0..52 => run.release(p, rng.random_range(1..6)).await,
                    52..60 => run.release_late(p, rng.random_range(1..3)).await,
                    60..70 => {
                        let _ = run.transactions.commit().await;
                    }
                    70..76 => run.reassign(p, false).await,
                    76..82 => run.reassign(p, true).await,
                    82..86 => run.stale_release(p).await,
                    _ => tokio::time::sleep(Duration::from_millis(rng.random_range(1..80))).await,
                }
            }
            run.finish().await;
            run.verify(seed);
        });
    }
}

#[test]
fn a_fault_free_run_aborts_nothing() {
    for seed in 0..8 {
        runtime().block_on(async {
            let mut run = Run::new(seed, 0.0);
            let mut rng = StdRng::seed_from_u64(seed);
            while run.partitions.iter().any(|p| p.released < RECORDS) {
                let p = rng.random_range(0..PARTITIONS);
                run.release(p, rng.random_range(1..6)).await;
                if rng.random_bool(0.2) {
                    run.release_late(p, 1).await;
                }
                if rng.random_bool(0.2) {
                    tokio::time::sleep(Duration::from_millis(rng.random_range(1..80))).await;
                }
            }
            run.finish().await;
            run.verify(seed);
            let committed = run
                .metrics
                .transactions
                .get_or_create(&ResultLabel {
                    result: "committed",
                })
                .get();
            assert!(committed >= 3, "seed {seed}: {committed} transactions");
            assert_eq!(run.aborted(), 0, "seed {seed}");
            assert_eq!(
                run.cluster.lock().unwrap().epoch,
                0,
                "seed {seed}: never replaced"
            );
        });
    }
}

#[test]
fn a_permanent_failure_stops_the_connector_and_answers_every_caller() {
    runtime().block_on(async {
        let mut run = Run::new(0, 0.0);
        run.cluster.lock().unwrap().refuse_commits = true;
        run.release(0, 5).await;
        let minute = Duration::from_secs(60);
        let committed = tokio::time::timeout(minute, run.transactions.commit())
            .await
            .unwrap();
        let refused = committed.unwrap_err();
        assert!(
            matches!(&refused, NotCommitted::Stopped(Some(why)) if why.contains("the topic was deleted")),
            "{refused:?}"
        );
        assert_eq!(
            run.failures.lock().unwrap().len(),
            1,
            "the connector stops once"
        );
        // Nothing hangs after the stop: a release is refused, a commit answered.
        let other = tp(1);
        let late = run
            .transactions
            .release(&other, 2, 1, vec![(0, outcome(1, 0))]);
        assert!(tokio::time::timeout(minute, late).await.unwrap().is_err());
        let again = tokio::time::timeout(minute, run.transactions.commit());
        assert!(again.await.unwrap().is_err());
        let c = run.cluster.lock().unwrap();
        assert!(c.open.is_none(), "its transaction was aborted");
        assert!(c.committed_outcomes.is_empty());
        assert_eq!(c.violations, Vec::<String>::new());
    });
}
