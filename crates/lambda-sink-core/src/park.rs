//! Parked keys (`aws.lambda.on.key.failure=park`): the rules of a
//! partition's parked set and the records of the parked topic that make it
//! durable.
//!
//! A key is *parked* when a record of it failed for good: that record and
//! every later record of the key are copied, in offset order, to the parked
//! topic and resolved there (so the input offset moves past them), while
//! the partition's other keys flow on. A parked key is retried with
//! exponential backoff ([`Parked::due`]); a *release* invokes its parked
//! records in offset order, a batch at a time, and the key flows again only
//! once none is left, so nothing of the key is ever invoked ahead of an
//! earlier record. After `aws.lambda.park.max.attempts` failed retries the
//! last release resolves the records as they would have been without
//! parking, and the key is released all the same.
//!
//! The parked topic is compacted and keyed by the input record's place
//! ([`entry_key`]: `<topic>/<partition>/<offset>`); a parked record's value
//! is the record itself ([`encode`]); a released record's is null. So the
//! topic holds exactly the records still parked, and a partition's next
//! owner rebuilds the set from it ([`Parked::rebuild`]); a record parked
//! twice (consumed again after a crash) is the same entry.
//!
//! Lanes are the scheduler's (a 64-bit hash of the key): a key that
//! collided with a parked one would be parked with it — delayed, never
//! reordered or lost.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::invalid::Invalid;
use crate::record::{SourceRecord, TimestampType, TopicPartition};
use crate::retry::Backoff;
use crate::schedule::Lane;

/// The parked topic's key for the input record at `offset` of `tp`.
pub fn entry_key(tp: &TopicPartition, offset: i64) -> Vec<u8> {
    format!("{}/{}/{offset}", tp.topic, tp.partition).into_bytes()
}

/// The input record a parked topic key names: its partition and offset.
///
/// # Errors
/// When the key is not `<topic>/<partition>/<offset>`.
pub fn parse_entry_key(key: &[u8]) -> Result<(TopicPartition, i64), Invalid> {
    let text = std::str::from_utf8(key).map_err(|_| Invalid::new("a parked key is not UTF-8"))?;
    let bad = || Invalid::new(format!("\"{text}\" is not <topic>/<partition>/<offset>"));
    let (rest, offset) = text.rsplit_once('/').ok_or_else(bad)?;
    let (topic, partition) = rest.rsplit_once('/').ok_or_else(bad)?;
    let tp = TopicPartition {
        topic: Arc::from(topic),
        partition: partition.parse().map_err(|_| bad())?,
    };
    Ok((tp, offset.parse().map_err(|_| bad())?))
}

/// A parked record as the parked topic holds it: the input record (bytes
/// in base64) and why its key was parked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: Option<i64>,
    log_append_time: bool,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
    reason: String,
    parked_at: i64,
    /// Failed retries of its key when written (0 when it was parked).
    #[serde(default, skip_serializing_if = "is_zero")]
    attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A record read back from the parked topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedRecord {
    /// The input record.
    pub record: SourceRecord,
    /// Why its key was parked.
    pub reason: String,
    /// When it was parked (epoch ms).
    pub parked_at: i64,
    /// Failed retries of its key when it was written (its `reason` is the
    /// last one's error).
    pub attempts: u32,
}

/// The parked topic's value for `record`, parked at `parked_at` because of
/// `reason`.
pub fn encode(record: &SourceRecord, reason: &str, parked_at: i64) -> Vec<u8> {
    encode_retried(record, reason, parked_at, 0)
}

/// The parked topic's value for `record` (the first of its key still
/// parked) after `attempts` failed retries, the last because of `reason`:
/// written over its entry, so that the key's retries outlive its
/// partition's owner and every worker lists them.
pub fn encode_retried(
    record: &SourceRecord,
    reason: &str,
    parked_at: i64,
    attempts: u32,
) -> Vec<u8> {
    let b64 = |b: &Option<Vec<u8>>| b.as_ref().map(|b| B64.encode(b));
    let stored = Stored {
        topic: record.topic.to_string(),
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        log_append_time: record.timestamp_type == TimestampType::LogAppendTime,
        key: b64(&record.key),
        value: b64(&record.value),
        headers: record
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), b64(v)))
            .collect(),
        reason: reason.to_string(),
        parked_at,
        attempts,
    };
    // A struct of strings and numbers always serializes.
    serde_json::to_vec(&stored).unwrap_or_default()
}

/// The parked record in a parked topic value.
///
/// # Errors
/// When the value is not one [`encode`] writes.
pub fn decode(value: &[u8]) -> Result<ParkedRecord, Invalid> {
    let s: Stored = serde_json::from_slice(value)
        .map_err(|e| Invalid::new(format!("not a parked record: {e}")))?;
    let bytes = |b: Option<String>| -> Result<Option<Vec<u8>>, Invalid> {
        b.map(|b| B64.decode(b))
            .transpose()
            .map_err(|e| Invalid::new(format!("a parked record's bytes are not base64: {e}")))
    };
    let mut headers = Vec::with_capacity(s.headers.len());
    for (k, v) in s.headers {
        headers.push((k, bytes(v)?));
    }
    Ok(ParkedRecord {
        record: SourceRecord {
            topic: Arc::from(s.topic),
            partition: s.partition,
            offset: s.offset,
            timestamp: s.timestamp,
            timestamp_type: if s.log_append_time {
                TimestampType::LogAppendTime
            } else {
                TimestampType::CreateTime
            },
            key: bytes(s.key)?,
            value: bytes(s.value)?,
            headers,
        },
        reason: s.reason,
        parked_at: s.parked_at,
        attempts: s.attempts,
    })
}

/// A parked key as an operator sees it: read from the parked topic, so
/// the same from every worker and across restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParkedKeyInfo {
    /// The input topic.
    pub topic: String,
    /// The input partition.
    pub partition: i32,
    /// The key as text, when it is UTF-8.
    pub key: Option<String>,
    /// The key's bytes in base64.
    pub key_base64: String,
    /// Its first parked record's offset.
    pub first_offset: i64,
    /// Its last parked record's offset.
    pub last_offset: i64,
    /// Its parked records.
    pub records: usize,
    /// When its first record was parked (epoch ms).
    pub parked_at: i64,
    /// Why it is parked: its last failure (the retry's, after one).
    pub reason: String,
    /// Its failed retries so far.
    pub attempts: u32,
}

/// The keys parked now, from the parked topic's entries of every partition
/// in the order read (a later entry of a place replaces an earlier one,
/// `None` being a release): oldest first.
pub fn summarize(
    entries: impl IntoIterator<Item = (TopicPartition, i64, Option<ParkedRecord>)>,
) -> Vec<ParkedKeyInfo> {
    let mut latest: BTreeMap<(TopicPartition, i64), Option<ParkedRecord>> = BTreeMap::new();
    for (tp, offset, entry) in entries {
        latest.insert((tp, offset), entry);
    }
    let mut keys: BTreeMap<(TopicPartition, Vec<u8>), ParkedKeyInfo> = BTreeMap::new();
    for ((tp, offset), p) in latest {
        let Some(p) = p else { continue };
        let key = p.record.key.clone().unwrap_or_default();
        keys.entry((tp.clone(), key.clone()))
            .and_modify(|k| {
                k.last_offset = offset;
                k.records += 1;
                k.parked_at = k.parked_at.min(p.parked_at);
                if p.attempts > k.attempts {
                    k.attempts = p.attempts;
                    k.reason.clone_from(&p.reason);
                }
            })
            .or_insert_with(|| ParkedKeyInfo {
                topic: tp.topic.to_string(),
                partition: tp.partition,
                key: String::from_utf8(key.clone()).ok(),
                key_base64: B64.encode(&key),
                first_offset: offset,
                last_offset: offset,
                records: 1,
                parked_at: p.parked_at,
                reason: p.reason.clone(),
                attempts: p.attempts,
            });
    }
    let mut out: Vec<ParkedKeyInfo> = keys.into_values().collect();
    out.sort_by(|a, b| {
        (a.parked_at, &a.topic, a.partition, a.first_offset).cmp(&(
            b.parked_at,
            &b.topic,
            b.partition,
            b.first_offset,
        ))
    });
    out
}

/// How parked keys are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the first retry, doubled after each failed one.
    pub backoff: Duration,
    /// The longest wait.
    pub backoff_max: Duration,
    /// Retries (releases) of a key; the last resolves records that fail
    /// again as failed. `None`: retried until they succeed.
    pub max_attempts: Option<u32>,
}

/// One parked key of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedKey {
    /// The key.
    pub key: Vec<u8>,
    /// Its parked records by offset.
    pub records: BTreeMap<i64, SourceRecord>,
    /// Failed retries so far (by this owner of the partition).
    pub attempts: u32,
    /// When it was parked (epoch ms).
    pub parked_at: i64,
    /// When it is retried next (epoch ms).
    pub due_at: i64,
    /// Why it was parked, or why its last retry failed.
    pub last_error: String,
    /// A release of it is in flight.
    pub releasing: bool,
    /// An operator asked to skip it: its next release resolves the records
    /// as failed without invoking them.
    pub skip: bool,
}

/// What parking records of a key did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parking {
    /// The key is parked now.
    New,
    /// The key was parked already; the records are added to it.
    Added,
}

/// Why records cannot be parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A new key would exceed `aws.lambda.park.max.keys`.
    TooManyKeys,
    /// The records would exceed `aws.lambda.park.max.records`.
    TooManyRecords,
}

/// Whether `adding` records (of a key not parked yet, when `new_key`) may
/// be parked while `keys` keys and `records` records are (of at most
/// `max_keys` and `max_records`).
///
/// # Errors
/// The bound that parking them would exceed.
pub fn admit(
    new_key: bool,
    adding: usize,
    (keys, max_keys): (usize, usize),
    (records, max_records): (usize, usize),
) -> Result<(), Refused> {
    if new_key && keys >= max_keys {
        return Err(Refused::TooManyKeys);
    }
    if records.saturating_add(adding) > max_records {
        return Err(Refused::TooManyRecords);
    }
    Ok(())
}

/// A release to run: the key's lane, its first parked records (offset
/// order), and whether it is the last (after it, failed records are
/// resolved as failed and the key released).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// The key's lane.
    pub lane: Lane,
    /// The records to invoke, in offset order.
    pub records: Vec<SourceRecord>,
    /// Failing, they are resolved as failed (retries used up, or skipped).
    pub last: bool,
    /// Skipped by an operator: resolved as failed without an invocation.
    pub skip: bool,
    /// The key's failed retries before this release.
    pub attempts: u32,
    /// When the key was parked (epoch ms).
    pub parked_at: i64,
}

/// What follows a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRelease {
    /// More of the key's records are parked: the next release is due now.
    More,
    /// None is left: the key flows again.
    Unparked,
    /// They failed; the key is retried at this time (epoch ms).
    RetryAt(i64),
}

/// A partition's parked keys.
#[derive(Clone, Debug, Default)]
pub struct Parked {
    keys: HashMap<Lane, ParkedKey>,
}

impl Parked {
    /// The parked set of a partition from its entries in the parked topic,
    /// in the order read (a later entry of a place replaces an earlier one,
    /// `None` being a release), every key due `now`. `lane` gives a key's
    /// lane.
    pub fn rebuild(
        entries: impl IntoIterator<Item = (i64, Option<ParkedRecord>)>,
        lane: impl Fn(&[u8]) -> Option<Lane>,
        now: i64,
    ) -> Self {
        let mut latest: BTreeMap<i64, Option<ParkedRecord>> = BTreeMap::new();
        for (offset, entry) in entries {
            latest.insert(offset, entry);
        }
        let mut parked = Self::default();
        for p in latest.into_values().flatten() {
            let Some(key) = p.record.key.clone() else {
                continue;
            };
            let Some(l) = lane(&key) else { continue };
            let k = parked.keys.entry(l).or_insert_with(|| ParkedKey {
                key,
                records: BTreeMap::new(),
                attempts: 0,
                parked_at: p.parked_at,
                due_at: now,
                last_error: p.reason.clone(),
                releasing: false,
                skip: false,
            });
            k.parked_at = k.parked_at.min(p.parked_at);
            // Retries counted by earlier owners go on counting.
            if p.attempts > k.attempts {
                k.attempts = p.attempts;
                k.last_error.clone_from(&p.reason);
            }
            k.records.insert(p.record.offset, p.record);
        }
        parked
    }

    /// Whether the key of `lane` is parked.
    pub fn contains(&self, lane: Lane) -> bool {
        self.keys.contains_key(&lane)
    }

    /// The parked keys.
    pub fn keys(&self) -> impl Iterator<Item = (&Lane, &ParkedKey)> {
        self.keys.iter()
    }

    /// The parked key of `lane`.
    pub fn get(&self, lane: Lane) -> Option<&ParkedKey> {
        self.keys.get(&lane)
    }

    /// Parked records, all keys.
    pub fn records(&self) -> usize {
        self.keys.values().map(|k| k.records.len()).sum()
    }

    /// When its longest-parked key was parked (epoch ms), if any is.
    pub fn oldest(&self) -> Option<i64> {
        self.keys.values().map(|k| k.parked_at).min()
    }

    /// Whether a record at `offset` of `lane` is parked already (it was
    /// consumed again after a crash).
    pub fn holds(&self, lane: Lane, offset: i64) -> bool {
        self.keys
            .get(&lane)
            .is_some_and(|k| k.records.contains_key(&offset))
    }

    /// Parks `records` (of one key, `lane`) because of `reason`, at `now`
    /// (records parked already are passed over). A newly parked key is
    /// first retried after `policy.backoff`.
    pub fn park(
        &mut self,
        lane: Lane,
        records: Vec<SourceRecord>,
        reason: &str,
        now: i64,
        policy: &RetryPolicy,
    ) -> Parking {
        let exists = self.keys.contains_key(&lane);
        let k = self.keys.entry(lane).or_insert_with(|| ParkedKey {
            key: records
                .first()
                .and_then(|r| r.key.clone())
                .unwrap_or_default(),
            records: BTreeMap::new(),
            attempts: 0,
            parked_at: now,
            due_at: now.saturating_add(millis(policy.backoff)),
            last_error: reason.to_string(),
            releasing: false,
            skip: false,
        });
        for r in records {
            k.records.entry(r.offset).or_insert(r);
        }
        if exists { Parking::Added } else { Parking::New }
    }

    /// When the next release is due (epoch ms), if any key waits for one.
    pub fn next_due(&self) -> Option<i64> {
        self.keys
            .values()
            .filter(|k| !k.releasing)
            .map(|k| k.due_at)
            .min()
    }

    /// Starts the release of the key due earliest at `now` (at most `max`
    /// records), if one is due.
    pub fn start_release(&mut self, now: i64, max: usize, policy: &RetryPolicy) -> Option<Release> {
        let (&lane, k) = self
            .keys
            .iter_mut()
            .filter(|(_, k)| !k.releasing && k.due_at <= now)
            .min_by_key(|(l, k)| (k.due_at, **l))?;
        k.releasing = true;
        let last = k.skip
            || policy
                .max_attempts
                .is_some_and(|m| k.attempts.saturating_add(1) >= m);
        Some(Release {
            lane,
            records: k.records.values().take(max.max(1)).cloned().collect(),
            last,
            skip: k.skip,
            attempts: k.attempts,
            parked_at: k.parked_at,
        })
    }

    /// Takes in how a release of `lane` ended, at `now`: the records at
    /// `resolved` are resolved (invoked, or given up); `failed`, the reason
    /// the rest failed again and stay parked. After a failed *last*
    /// release the key is given up: its remaining records are resolved as
    /// failed, without an invocation, by the releases that follow at once.
    /// `jitter` in `[0, 1)` spreads the retries.
    #[allow(
        clippy::too_many_arguments,
        reason = "a release's end, its time and the policy"
    )]
    pub fn finish_release(
        &mut self,
        lane: Lane,
        resolved: &[i64],
        failed: Option<String>,
        last: bool,
        now: i64,
        policy: &RetryPolicy,
        jitter: f64,
    ) -> AfterRelease {
        let Some(k) = self.keys.get_mut(&lane) else {
            return AfterRelease::Unparked;
        };
        k.releasing = false;
        for o in resolved {
            k.records.remove(o);
        }
        if k.records.is_empty() {
            self.keys.remove(&lane);
            return AfterRelease::Unparked;
        }
        match failed {
            Some(reason) if !last => {
                let delay = Backoff::forever(policy.backoff, policy.backoff_max)
                    .delay_forever(k.attempts, jitter);
                k.attempts = k.attempts.saturating_add(1);
                k.last_error = reason;
                k.due_at = now.saturating_add(millis(delay));
                AfterRelease::RetryAt(k.due_at)
            }
            Some(reason) => {
                k.attempts = k.attempts.saturating_add(1);
                k.last_error = reason;
                k.skip = true;
                k.due_at = now;
                AfterRelease::More
            }
            None => {
                k.due_at = now;
                AfterRelease::More
            }
        }
    }

    /// Makes the key of `lane` due `now` (an operator's retry); with
    /// `skip`, its records are resolved as failed without an invocation.
    /// Whether the key is parked.
    pub fn expedite(&mut self, lane: Lane, now: i64, skip: bool) -> bool {
        let Some(k) = self.keys.get_mut(&lane) else {
            return false;
        };
        k.due_at = now;
        k.skip |= skip;
        true
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy {
        backoff: Duration::from_secs(10),
        backoff_max: Duration::from_secs(60),
        max_attempts: Some(2),
    };

    fn tp() -> TopicPartition {
        TopicPartition {
            topic: Arc::from("orders.eu"),
            partition: 3,
        }
    }

    fn rec(offset: i64, key: &str) -> SourceRecord {
        SourceRecord {
            topic: Arc::from("orders.eu"),
            partition: 3,
            offset,
            timestamp: Some(1_700_000_000_000 + offset),
            timestamp_type: TimestampType::CreateTime,
            key: Some(key.as_bytes().to_vec()),
            value: Some(format!("{{\"n\":{offset}}}").into_bytes()),
            headers: vec![("h".into(), Some(vec![0, 255])), ("null".into(), None)],
        }
    }

    fn lane(key: &[u8]) -> Option<Lane> {
        Some(u64::from(key[0]))
    }

    #[test]
    fn entry_keys_name_the_input_record() {
        let key = entry_key(&tp(), 42);
        assert_eq!(key, b"orders.eu/3/42");
        assert_eq!(parse_entry_key(&key).unwrap(), (tp(), 42));
        for bad in [
            &b"orders"[..],
            b"orders/x/1",
            b"orders/1/x",
            b"/1",
            &[0xff, b'/', b'1'],
        ] {
            assert!(parse_entry_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_parked_record_reads_back_as_it_was() {
        let mut tombstone = rec(7, "k");
        tombstone.value = None;
        tombstone.timestamp_type = TimestampType::LogAppendTime;
        for r in [rec(5, "k"), tombstone] {
            let back = decode(&encode(&r, "function error: boom", 99)).unwrap();
            assert_eq!(back.record, r);
            assert_eq!(
                (back.reason.as_str(), back.parked_at, back.attempts),
                ("function error: boom", 99, 0)
            );
            let retried = decode(&encode_retried(&r, "timeout", 99, 2)).unwrap();
            assert_eq!(
                (retried.record, retried.reason.as_str(), retried.attempts),
                (r, "timeout", 2)
            );
        }
        assert!(decode(b"{}").is_err());
        assert!(decode(b"not json").is_err());
    }

    #[test]
    fn parking_adds_a_key_or_its_records() {
        let mut p = Parked::default();
        let a = lane(b"a").unwrap();
        assert_eq!(
            p.park(a, vec![rec(1, "a")], "boom", 100, &POLICY),
            Parking::New
        );
        // A record parked again (consumed again after a crash) is one entry.
        assert_eq!(
            p.park(a, vec![rec(1, "a"), rec(4, "a")], "later", 200, &POLICY),
            Parking::Added
        );
        let k = p.get(a).unwrap();
        assert_eq!(k.records.keys().copied().collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(
            (k.parked_at, k.due_at, k.key.as_slice()),
            (100, 10_100, &b"a"[..])
        );
        assert_eq!(k.last_error, "boom");
        assert_eq!(p.records(), 2);
        assert!(p.holds(a, 4) && !p.holds(a, 9));
    }

    #[test]
    fn the_bounds_admit_records_or_say_which_they_exceed() {
        // new key, adding, (keys, max), (records, max), expected.
        let rows = [
            (true, 1, (0, 1), (0, 10), Ok(())),
            (true, 1, (1, 1), (0, 10), Err(Refused::TooManyKeys)),
            (false, 1, (1, 1), (9, 10), Ok(())),
            (false, 2, (1, 1), (9, 10), Err(Refused::TooManyRecords)),
            (true, 11, (0, 5), (0, 10), Err(Refused::TooManyRecords)),
            (false, 0, (5, 5), (10, 10), Ok(())),
        ];
        for (new_key, adding, keys, records, expected) in rows {
            assert_eq!(
                admit(new_key, adding, keys, records),
                expected,
                "{new_key} {adding} {keys:?} {records:?}"
            );
        }
    }

    #[test]
    fn a_key_is_released_in_order_a_batch_at_a_time_after_its_backoff() {
        let mut p = Parked::default();
        let a = lane(b"a").unwrap();
        p.park(
            a,
            vec![rec(1, "a"), rec(3, "a"), rec(6, "a")],
            "boom",
            0,
            &POLICY,
        );
        assert_eq!(p.next_due(), Some(10_000));
        assert_eq!(p.start_release(9_999, 2, &POLICY), None);
        let r = p.start_release(10_000, 2, &POLICY).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert!(!r.last && !r.skip);
        // In flight: not due again, not started twice.
        assert_eq!(
            (p.next_due(), p.start_release(20_000, 2, &POLICY)),
            (None, None)
        );
        // A record of the key parked meanwhile joins the queue behind.
        p.park(a, vec![rec(8, "a")], "parked", 10_001, &POLICY);
        assert_eq!(
            p.finish_release(a, &[1, 3], None, false, 10_002, &POLICY, 0.0),
            AfterRelease::More
        );
        let r = p.start_release(10_002, 2, &POLICY).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![6, 8]
        );
        assert_eq!(
            p.finish_release(a, &[6, 8], None, false, 10_003, &POLICY, 0.0),
            AfterRelease::Unparked
        );
        assert!(!p.contains(a));
        assert_eq!(p.next_due(), None);
    }

    #[test]
    fn failed_retries_back_off_until_the_last_attempt() {
        let mut p = Parked::default();
        let a = lane(b"a").unwrap();
        p.park(a, vec![rec(1, "a")], "boom", 0, &POLICY);
        // jitter 0 waits half the exponential delay: 5 s after the first.
        let now = 10_000;
        let r = p.start_release(now, 10, &POLICY).unwrap();
        assert!(!r.last);
        let after = p.finish_release(a, &[], Some("again".into()), r.last, now, &POLICY, 0.0);
        assert_eq!(after, AfterRelease::RetryAt(15_000));
        let k = p.get(a).unwrap();
        assert_eq!((k.attempts, k.last_error.as_str()), (1, "again"));
        // Two attempts: the second release is the last.
        let now = 15_000;
        assert!(p.start_release(now, 10, &POLICY).unwrap().last);
        assert_eq!(
            p.finish_release(a, &[1], None, true, now, &POLICY, 0.0),
            AfterRelease::Unparked
        );
        let forever = RetryPolicy {
            max_attempts: None,
            ..POLICY
        };
        p.park(a, vec![rec(2, "a")], "boom", 0, &forever);
        for _ in 0..50 {
            let r = p.start_release(i64::MAX, 10, &forever).unwrap();
            assert!(!r.last);
            p.finish_release(a, &[], Some("x".into()), r.last, 0, &forever, 0.5);
        }
        // The wait stops growing at the maximum: 60 s, of which jitter 0.5
        // waits three quarters.
        assert_eq!(p.get(a).unwrap().due_at, 45_000);
    }

    #[test]
    fn a_failed_last_release_gives_the_key_up() {
        let mut p = Parked::default();
        let a = lane(b"a").unwrap();
        let once = RetryPolicy {
            max_attempts: Some(1),
            ..POLICY
        };
        p.park(
            a,
            vec![rec(1, "a"), rec(2, "a"), rec(3, "a")],
            "boom",
            0,
            &once,
        );
        let r = p.start_release(10_000, 2, &once).unwrap();
        assert!(r.last && !r.skip);
        // The first record failed again and was resolved as failed; the
        // second was not invoked.
        assert_eq!(
            p.finish_release(a, &[1], Some("again".into()), true, 10_000, &once, 0.0),
            AfterRelease::More
        );
        // The rest goes at once, resolved without an invocation.
        let r = p.start_release(10_000, 5, &once).unwrap();
        assert_eq!(
            r.records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert!(r.last && r.skip);
        assert_eq!(
            p.finish_release(a, &[2, 3], None, true, 10_001, &once, 0.0),
            AfterRelease::Unparked
        );
    }

    #[test]
    fn an_operator_retries_or_skips_a_key_now() {
        let mut p = Parked::default();
        let (a, b) = (lane(b"a").unwrap(), lane(b"b").unwrap());
        p.park(a, vec![rec(1, "a")], "boom", 0, &POLICY);
        p.park(b, vec![rec(2, "b")], "boom", 0, &POLICY);
        assert!(!p.expedite(lane(b"c").unwrap(), 5, false));
        assert!(p.expedite(b, 5, true));
        let r = p.start_release(5, 10, &POLICY).unwrap();
        assert_eq!((r.lane, r.last, r.skip), (b, true, true));
        assert!(p.expedite(a, 6, false));
        let r = p.start_release(6, 10, &POLICY).unwrap();
        assert_eq!((r.lane, r.last, r.skip), (a, false, false));
    }

    #[test]
    fn an_operator_sees_each_parked_key_once_oldest_first() {
        let parked = |r: SourceRecord, at| {
            let tp = TopicPartition::of(&r);
            let offset = r.offset;
            (
                tp,
                offset,
                Some(ParkedRecord {
                    record: r,
                    reason: format!("boom {at}"),
                    parked_at: at,
                    attempts: 0,
                }),
            )
        };
        let mut binary = rec(9, "x");
        binary.key = Some(vec![0xff, 0x00]);
        let mut other = rec(2, "a");
        other.partition = 4;
        let entries = vec![
            parked(rec(5, "b"), 70),
            parked(rec(1, "a"), 50),
            parked(rec(3, "a"), 60),
            parked(rec(7, "a"), 80),
            (tp(), 7, None),
            parked(binary, 90),
            parked(other, 40),
            parked(rec(8, "c"), 95),
            (tp(), 8, None),
        ];
        let summary = summarize(entries);
        let rows: Vec<_> = summary
            .iter()
            .map(|k| {
                (
                    k.partition,
                    k.key.as_deref(),
                    k.key_base64.as_str(),
                    k.first_offset,
                    k.last_offset,
                    k.records,
                    k.parked_at,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (4, Some("a"), "YQ==", 2, 2, 1, 40),
                (3, Some("a"), "YQ==", 1, 3, 2, 50),
                (3, Some("b"), "Yg==", 5, 5, 1, 70),
                (3, None, "/wA=", 9, 9, 1, 90),
            ]
        );
        assert_eq!(
            (summary[1].reason.as_str(), summary[1].attempts),
            ("boom 50", 0)
        );
        // A key's failed retries, as written over its first entry: the
        // count and the last error.
        let mut retried = parked(rec(1, "a"), 50);
        if let Some(p) = retried.2.as_mut() {
            p.attempts = 3;
            p.reason = "timeout".into();
        }
        let again = summarize(vec![
            parked(rec(1, "a"), 50),
            parked(rec(3, "a"), 60),
            retried,
        ]);
        assert_eq!(
            (
                again[0].reason.as_str(),
                again[0].attempts,
                again[0].records
            ),
            ("timeout", 3, 2)
        );
    }

    #[test]
    fn the_parked_set_is_rebuilt_from_the_topic() {
        let parked = |r: SourceRecord, at| {
            (
                r.offset,
                Some(ParkedRecord {
                    record: r,
                    reason: "boom".into(),
                    parked_at: at,
                    attempts: 0,
                }),
            )
        };
        let entries = vec![
            parked(rec(1, "a"), 50),
            parked(rec(2, "b"), 60),
            parked(rec(4, "a"), 70),
            // Released.
            (2, None),
            // Parked again after a crash: one entry.
            parked(rec(4, "a"), 80),
            parked(rec(6, "c"), 90),
            (6, None),
            (6, None),
        ];
        let p = Parked::rebuild(entries, lane, 1_000);
        let a = p.get(lane(b"a").unwrap()).unwrap();
        assert_eq!(a.records.keys().copied().collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!((a.parked_at, a.due_at, a.attempts), (50, 1_000, 0));
        assert!(!p.contains(lane(b"b").unwrap()) && !p.contains(lane(b"c").unwrap()));
        assert_eq!(p.records(), 2);
        // Retries an earlier owner counted (written over the key's first
        // entry) go on counting.
        let retried = ParkedRecord {
            record: rec(1, "a"),
            reason: "timeout".into(),
            parked_at: 50,
            attempts: 4,
        };
        let p = Parked::rebuild(
            vec![
                parked(rec(1, "a"), 50),
                parked(rec(4, "a"), 70),
                (1, Some(retried)),
            ],
            lane,
            1_000,
        );
        let a = p.get(lane(b"a").unwrap()).unwrap();
        assert_eq!(
            (a.attempts, a.last_error.as_str(), a.records.len()),
            (4, "timeout", 2)
        );
    }
}
