//! What a transform sees and does: [`Record`] (a record's coordinates, its
//! key and value as decoded JSON, its headers), the [`Transform`] and
//! [`Predicate`] traits, the [`Part`] a `$Key` / `$Value` transform works
//! on, and Connect's `requireMap` with its messages.

use crate::{Invalid, invalid};
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::record::SourceRecord;

/// A record as transforms see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The topic the function is told (routers change it).
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp in epoch milliseconds.
    pub timestamp: Option<i64>,
    /// The decoded key (`Null` for a null key).
    pub key: Value,
    /// The decoded value (`Null` for a tombstone).
    pub value: Value,
    /// Headers in order; a header value may be null.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Record {
    /// `source`'s coordinates and headers with its decoded key and value.
    pub fn new(source: &SourceRecord, key: Value, value: Value) -> Self {
        Self {
            topic: source.topic.clone(),
            partition: source.partition,
            offset: source.offset,
            timestamp: source.timestamp,
            key,
            value,
            headers: source.headers.clone(),
        }
    }
}

/// Why a transform could not handle a record: the record goes to the DLQ
/// at stage `TRANSFORMATION` (or stops the connector with
/// `errors.tolerance=none`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformError {
    /// The transform's class, as configured.
    pub class: &'static str,
    /// The transform's alias.
    pub alias: String,
    /// What went wrong.
    pub message: String,
}

impl fmt::Display for TransformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "transform {} ({}): {}",
            self.alias, self.class, self.message
        )
    }
}

/// A transform built from its properties, or `None` after reporting why not.
pub(crate) type Built = Option<Box<dyn Transform>>;

/// One transform: the record changed, `None` to drop it, or why not.
pub trait Transform: Send + Sync + fmt::Debug {
    /// Transforms `record`.
    ///
    /// # Errors
    /// A message saying why this record cannot be transformed.
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid>;
}

/// A condition on a record, deciding whether a transform applies.
pub trait Predicate: Send + Sync + fmt::Debug {
    /// Whether `record` satisfies the condition.
    fn test(&self, record: &Record) -> bool;
}

/// Java's class name of a schemaless value, for messages that match
/// Connect's (`java.lang.String`, `java.util.HashMap`, ...).
pub(crate) fn java_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "java.lang.Boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "java.lang.Long",
        Value::Number(_) => "java.lang.Double",
        Value::String(_) => "java.lang.String",
        Value::Array(_) => "java.util.ArrayList",
        Value::Object(_) => "java.util.HashMap",
    }
}

/// Connect's `Requirements.requireMap`: the operating value as a map, or
/// its error message.
pub(crate) fn require_map<'v>(
    value: &'v Value,
    purpose: &str,
) -> Result<&'v serde_json::Map<String, Value>, Invalid> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(not_a_map(other, purpose)),
    }
}

/// `requireMap`'s message for a value that is not a map.
pub(crate) fn not_a_map(value: &Value, purpose: &str) -> Invalid {
    invalid!(
        "Only Map objects supported in absence of schema for [{purpose}], found: {}",
        java_class(value)
    )
}

/// Which part of the record a `$Key` / `$Value` transform works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The key (`$Key`).
    Key,
    /// The value (`$Value`).
    Value,
}

impl Part {
    /// The part of `record`.
    pub fn get(self, record: &Record) -> &Value {
        match self {
            Self::Key => &record.key,
            Self::Value => &record.value,
        }
    }

    /// The part of `record`, to change.
    pub fn get_mut(self, record: &mut Record) -> &mut Value {
        match self {
            Self::Key => &mut record.key,
            Self::Value => &mut record.value,
        }
    }

    /// Rebuilds the part's map with `rebuild`, as Connect's map transforms
    /// do: a null part (a tombstone) passes unchanged, anything else but a
    /// map is `requireMap`'s error for `purpose`.
    pub(crate) fn rebuild_map(
        self,
        mut record: Record,
        purpose: &str,
        rebuild: impl FnOnce(serde_json::Map<String, Value>) -> serde_json::Map<String, Value>,
    ) -> Result<Option<Record>, Invalid> {
        match self.get_mut(&mut record) {
            Value::Null => {}
            Value::Object(map) => {
                let old = std::mem::take(map);
                *map = rebuild(old);
            }
            other => return Err(not_a_map(other, purpose)),
        }
        Ok(Some(record))
    }
}
