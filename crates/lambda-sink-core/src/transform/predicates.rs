//! Apache Kafka's predicates
//! (`org.apache.kafka.connect.transforms.predicates.*`): whether a
//! transform applies to a record.

use std::sync::Arc;

use regex::Regex;

use super::record::{Predicate, Record};

use super::props::Props;

/// A predicate built from its properties, or `None` after reporting why not.
pub(super) type Built = Option<Arc<dyn Predicate>>;

/// `TopicNameMatches`: the topic fully matches `pattern`.
#[derive(Debug)]
struct TopicNameMatches(Regex);

pub(super) fn topic_name_matches(p: &mut Props) -> Built {
    Some(Arc::new(TopicNameMatches(p.full_match_regex("pattern")?)))
}

impl Predicate for TopicNameMatches {
    fn test(&self, record: &Record) -> bool {
        self.0.is_match(&record.topic)
    }
}

/// `HasHeaderKey`: at least one header is called `name`.
#[derive(Debug)]
struct HasHeaderKey(String);

pub(super) fn has_header_key(p: &mut Props) -> Built {
    Some(Arc::new(HasHeaderKey(p.required("name")?)))
}

impl Predicate for HasHeaderKey {
    fn test(&self, record: &Record) -> bool {
        record.headers.iter().any(|(k, _)| *k == self.0)
    }
}

/// `RecordIsTombstone`: the value is null, whatever the key.
#[derive(Debug)]
struct RecordIsTombstone;

pub(super) fn record_is_tombstone(_: &mut Props) -> Built {
    Some(Arc::new(RecordIsTombstone))
}

impl Predicate for RecordIsTombstone {
    fn test(&self, record: &Record) -> bool {
        record.value.is_null()
    }
}
