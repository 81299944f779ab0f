//! Single Message Transforms and predicates, as Kafka Connect configures
//! them (`transforms=a,b`, `transforms.a.type=...`, `predicates=p`,
//! `predicates.p.type=...`, `transforms.a.predicate=p`,
//! `transforms.a.negate=true`), applied to each decoded record before its
//! payload element is rendered.
//!
//! * [`Record`] — what a transform sees: the record's coordinates, its key
//!   and value as decoded JSON, and its headers;
//! * [`Chain`] — the configured stages, built (and every problem reported)
//!   by [`Chain::configure`], applied by [`Chain::apply`];
//! * [`catalog`] — every supported class with its properties, for
//!   validation, `plugin describe` and the Connect API;
//! * [`apache`], [`predicates`], [`confluent`] — the transforms themselves.
//!
//! Records are schemaless here, whatever their input format: a JSON object
//! is Connect's `Map`, an integral number its `Long`, a decimal its
//! `Double`. Avro, JSON Schema and Protobuf records are transformed as the
//! JSON the function would receive, so a transform sees the same shapes
//! for every format.

pub mod apache;
pub mod catalog;
pub mod confluent;
pub mod predicates;
mod props;
mod timefmt;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::codec::schemaless;
use crate::config::{Problem, RecordConverter};
use crate::record::SourceRecord;

pub use props::Props;

/// Most transforms a connector may chain (Confluent Cloud's limit).
pub const MAX_TRANSFORMS: usize = 10;

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

/// One transform: the record changed, `None` to drop it, or why not.
pub trait Transform: Send + Sync + fmt::Debug {
    /// Transforms `record`.
    ///
    /// # Errors
    /// A message saying why this record cannot be transformed.
    fn apply(&self, record: Record) -> Result<Option<Record>, String>;
}

/// A condition on a record, deciding whether a transform applies.
pub trait Predicate: Send + Sync + fmt::Debug {
    /// Whether `record` satisfies the condition.
    fn test(&self, record: &Record) -> bool;
}

/// One configured transform with its optional predicate.
#[derive(Debug)]
struct Stage {
    alias: String,
    class: &'static str,
    transform: Box<dyn Transform>,
    /// The predicate and `negate`.
    predicate: Option<(Arc<dyn Predicate>, bool)>,
}

/// The configured chain of transforms, in `transforms` order.
#[derive(Debug, Default)]
pub struct Chain {
    stages: Vec<Stage>,
}

impl Chain {
    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// The aliases, in order.
    pub fn aliases(&self) -> Vec<&str> {
        self.stages.iter().map(|s| s.alias.as_str()).collect()
    }

    /// Applies every stage in order: a stage applies iff it has no
    /// predicate, or `negate XOR predicate.test(record)` (Connect's rule).
    /// `Ok(None)`: a transform dropped the record.
    ///
    /// # Errors
    /// The first transform that failed on the record.
    pub fn apply(&self, mut record: Record) -> Result<Option<Record>, TransformError> {
        for stage in &self.stages {
            if let Some((predicate, negate)) = &stage.predicate
                && *negate == predicate.test(&record)
            {
                continue;
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(message) => {
                    return Err(TransformError {
                        class: stage.class,
                        alias: stage.alias.clone(),
                        message,
                    });
                }
            }
        }
        Ok(Some(record))
    }

    /// Builds the chain from the `transforms*` and `predicates*` keys of a
    /// connector config (`keys`: key → value, nothing else in it).
    ///
    /// # Errors
    /// Every problem found, each naming the key to fix.
    pub fn configure(keys: &BTreeMap<String, String>) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let transforms = aliases(keys, "transforms", &mut problems);
        let predicate_aliases = aliases(keys, "predicates", &mut problems);
        if transforms.len() > MAX_TRANSFORMS {
            problems.push(Problem::new(
                "transforms",
                format!(
                    "{} transforms listed; at most {MAX_TRANSFORMS} per connector (Confluent Cloud's limit)",
                    transforms.len()
                ),
            ));
        }
        // Keys under an alias that is not listed are mistakes.
        for key in keys.keys() {
            for (root, listed) in [
                ("transforms", &transforms),
                ("predicates", &predicate_aliases),
            ] {
                if let Some(rest) = key.strip_prefix(root).and_then(|r| r.strip_prefix('.'))
                    && !listed.iter().any(|a| {
                        rest.strip_prefix(a.as_str())
                            .is_some_and(|r| r.starts_with('.'))
                    })
                {
                    let alias = rest.split('.').next().unwrap_or_default();
                    problems.push(Problem::new(
                        key,
                        format!("alias {alias:?} is not listed in `{root}`; add it there or remove this key"),
                    ));
                }
            }
        }
        let mut predicates: BTreeMap<&str, Arc<dyn Predicate>> = BTreeMap::new();
        for alias in &predicate_aliases {
            let mut props = Props::new("predicates", alias, keys);
            if let Some(p) = catalog::build_predicate(&mut props) {
                predicates.insert(alias, p);
            }
            problems.extend(props.finish());
        }
        let mut stages = Vec::new();
        for alias in &transforms {
            let mut props = Props::new("transforms", alias, keys);
            let predicate = props.take_raw("predicate");
            let negate = props.take_raw("negate");
            let negate = match negate.as_deref().map(str::trim) {
                None => false,
                Some(v) if v.eq_ignore_ascii_case("true") => true,
                Some(v) if v.eq_ignore_ascii_case("false") => false,
                Some(v) => {
                    props.problem(
                        "negate",
                        format!("{v:?} is not a boolean; valid values: true, false"),
                    );
                    false
                }
            };
            let predicate = match predicate.as_deref().map(str::trim) {
                None | Some("") => {
                    if props.was_set("negate") {
                        props.problem(
                            "negate",
                            format!("Config 'transforms.{alias}.negate' was provided but there is no config 'transforms.{alias}.predicate' defining a predicate to be negated."),
                        );
                    }
                    None
                }
                Some(name) => match predicates.get(name) {
                    Some(p) => Some((p.clone(), negate)),
                    None => {
                        if !predicate_aliases.iter().any(|a| a == name) {
                            props.problem(
                                "predicate",
                                format!("predicate {name:?} is not listed in `predicates`"),
                            );
                        }
                        // A listed predicate that failed to build was reported.
                        None
                    }
                },
            };
            let built = catalog::build_transform(&mut props);
            problems.extend(props.finish());
            if let Some((class, transform)) = built {
                stages.push(Stage {
                    alias: alias.clone(),
                    class,
                    transform,
                    predicate,
                });
            }
        }
        if problems.is_empty() {
            Ok(Self { stages })
        } else {
            Err(problems)
        }
    }
}

/// What [`render`] made of a record.
#[derive(Debug)]
pub enum Transformed {
    /// The payload element of the transformed record.
    Element(Vec<u8>),
    /// A transform dropped it.
    Dropped,
    /// A transform failed on it.
    Failed(TransformError),
}

/// How [`render`] writes the transformed key and value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rendering<'a> {
    /// `record.converter.class` when the key's input format is schemaless
    /// `JSON` (it renders the key, as it would without transforms); `None`:
    /// the key is written as its JSON.
    pub key: Option<RecordConverter>,
    /// The same for the value.
    pub value: Option<RecordConverter>,
    /// `aws.lambda.payload.include.headers`.
    pub include_headers: bool,
    /// lambda-sink's extra fields of the element.
    pub extras: crate::payload::Extras<'a>,
}

/// Applies `chain` to `source`, whose key and value are decoded to JSON
/// text (`None` = null; a schemaless `JSON` part as the JSON itself, not yet
/// converted), and renders the payload element of the result: its topic
/// (routers may change it), key, value and headers.
pub fn render(
    chain: &Chain,
    source: &SourceRecord,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    rendering: Rendering<'_>,
) -> Transformed {
    let parse = |json: Option<&[u8]>| -> Result<Value, String> {
        json.map_or(Ok(Value::Null), |bytes| {
            serde_json::from_slice(bytes)
                .map_err(|e| format!("the decoded record is not JSON: {e}"))
        })
    };
    let decoded = parse(key).and_then(|k| Ok((k, parse(value)?)));
    let (key, value) = match decoded {
        Ok(kv) => kv,
        Err(message) => {
            return Transformed::Failed(TransformError {
                class: "lambda-sink",
                alias: String::new(),
                message,
            });
        }
    };
    let record = match chain.apply(Record::new(source, key, value)) {
        Ok(Some(r)) => r,
        Ok(None) => return Transformed::Dropped,
        Err(e) => return Transformed::Failed(e),
    };
    let text = |v: &Value, converter: Option<RecordConverter>| {
        (!v.is_null()).then(|| match converter {
            Some(c) => schemaless::convert(c, v),
            None => v.to_string().into_bytes(),
        })
    };
    let key = text(&record.key, rendering.key);
    let value = text(&record.value, rendering.value);
    let shown = SourceRecord {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        timestamp_type: source.timestamp_type,
        key: None,
        value: None,
        headers: record.headers,
    };
    Transformed::Element(crate::payload::render_element_with(
        &shown,
        key.as_deref(),
        value.as_deref(),
        rendering.include_headers,
        &rendering.extras,
    ))
}

/// The aliases listed under `root` (`transforms` or `predicates`): trimmed,
/// non-empty, each once.
fn aliases(
    keys: &BTreeMap<String, String>,
    root: &str,
    problems: &mut Vec<Problem>,
) -> Vec<String> {
    let Some(list) = keys.get(root) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for alias in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if out.iter().any(|a| a == alias) {
            problems.push(Problem::new(
                root,
                format!(
                    "alias {alias:?} is listed twice; each alias names one {}",
                    &root[..root.len() - 1]
                ),
            ));
        } else if alias.contains('.') {
            problems.push(Problem::new(
                root,
                format!("alias {alias:?} contains a '.'; aliases are simple names"),
            ));
        } else {
            out.push(alias.to_string());
        }
    }
    out
}

/// Whether `key` belongs to the transforms or predicates configuration.
pub fn is_transform_key(key: &str) -> bool {
    ["transforms", "predicates"].iter().any(|root| {
        key == *root
            || key
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('.'))
    })
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
) -> Result<&'v serde_json::Map<String, Value>, String> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(not_a_map(other, purpose)),
    }
}

/// `requireMap`'s message for a value that is not a map.
pub(crate) fn not_a_map(value: &Value, purpose: &str) -> String {
    format!(
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
    ) -> Result<Option<Record>, String> {
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

#[cfg(test)]
mod tests;
