//! Confluent's sink transforms (`io.confluent.connect.transforms.*`):
//! Filter (JSON Path), Drop, TombstoneHandler, nested ReplaceField and
//! ExtractTopic. Their source is not public, so the semantics follow
//! Confluent's documentation (docs/transforms.md says where it is silent
//! and what lambda-sink chose).
//!
//! JSON Path is evaluated by `serde_json_path` (RFC 9535). Confluent's
//! Filter uses Jayway's engine, which differs in one way that matters
//! here: a filter `[?(...)]` applied to an object tests the object itself,
//! where RFC 9535 tests its members. So a condition ending in a filter is
//! split: the path before it selects nodes, and the filter tests each
//! node — an array's elements, or an object itself.

use crate::{Invalid, invalid};
use std::sync::Arc;

use serde_json::{Map, Value};
use serde_json_path::JsonPath;

use super::apache::FieldSelection;
use super::props::Props;
use super::record::Built;
use super::record::{Part, Record, Transform};

// ── Filter ─────────────────────────────────────────────────────────────

/// A JSON Path condition with Jayway's filter-on-object semantics.
#[derive(Debug)]
pub struct Condition {
    text: String,
    /// The whole path, when it does not end in a filter.
    whole: Option<JsonPath>,
    /// The path before a final filter, and that filter as `$[?...]`.
    split: Option<(JsonPath, JsonPath)>,
}

/// What a condition says of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// The condition holds.
    Yes,
    /// It does not.
    No,
    /// A field the condition uses is missing or null.
    Missing,
}

/// Where the final `[...]` of `text` opens, skipping quoted strings and
/// nested brackets.
fn final_bracket(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.last() != Some(&b']') {
        return None;
    }
    let (mut depth, mut quote): (usize, Option<u8>) = (0, None);
    let mut opens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => match b {
                b'\'' | b'"' => quote = Some(b),
                b'[' => {
                    if depth == 0 {
                        opens.push(i);
                    }
                    depth += 1;
                }
                b']' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        i += 1;
    }
    opens.last().copied()
}

impl Condition {
    /// Parses a condition.
    ///
    /// # Errors
    /// Not a valid JSON Path, with the parser's reason.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let text = text.trim();
        let bad =
            |e: serde_json_path::ParseError| invalid!("{text:?} is not a valid JSON Path: {e}");
        if let Some(at) = final_bracket(text)
            && text[at + 1..].trim_start().starts_with('?')
        {
            let prefix = JsonPath::parse(&text[..at]).map_err(bad)?;
            let filter = JsonPath::parse(&format!("${}", &text[at..])).map_err(bad)?;
            return Ok(Self {
                text: text.to_string(),
                whole: None,
                split: Some((prefix, filter)),
            });
        }
        Ok(Self {
            text: text.to_string(),
            whole: Some(JsonPath::parse(text).map_err(bad)?),
            split: None,
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates the condition on `value`.
    pub fn test(&self, value: &Value) -> Match {
        if let Some(path) = &self.whole {
            let nodes = path.query(value).all();
            return if nodes.is_empty() || nodes.iter().all(|n| n.is_null()) {
                Match::Missing
            } else {
                Match::Yes
            };
        }
        let Some((prefix, filter)) = &self.split else {
            return Match::No;
        };
        let nodes = prefix.query(value).all();
        if nodes.is_empty() || nodes.iter().all(|n| n.is_null()) {
            return Match::Missing;
        }
        let holds = nodes.iter().any(|node| match node {
            Value::Array(_) => !filter.query(node).is_empty(),
            // Jayway: a filter on an object tests the object.
            other => !filter
                .query(&Value::Array(vec![(*other).clone()]))
                .is_empty(),
        });
        if holds { Match::Yes } else { Match::No }
    }
}

#[derive(Debug)]
struct Filter {
    part: Part,
    condition: Condition,
    include: bool,
    /// `missing.or.null.behavior`: `None` fails, else keep or not.
    when_missing: Option<bool>,
}

pub(super) fn filter(p: &mut Props, part: Part) -> Built {
    let condition = p.required("filter.condition");
    let kind = p.choice("filter.type", &["include", "exclude"], None, true);
    let missing = p.choice(
        "missing.or.null.behavior",
        &["fail", "include", "exclude"],
        Some("fail"),
        true,
    );
    let condition = match Condition::parse(&condition?) {
        Ok(c) => c,
        Err(e) => {
            p.problem("filter.condition", e);
            return None;
        }
    };
    Some(Box::new(Filter {
        part,
        condition,
        include: kind?.eq_ignore_ascii_case("include"),
        when_missing: match missing?.to_ascii_lowercase().as_str() {
            "include" => Some(true),
            "exclude" => Some(false),
            _ => None,
        },
    }))
}

impl Transform for Filter {
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid> {
        let keep = match self.condition.test(self.part.get(&record)) {
            Match::Yes => self.include,
            Match::No => !self.include,
            Match::Missing => self.when_missing.ok_or_else(|| {
                invalid!(
                    "the record has no (or a null) field that filter.condition {:?} uses, and missing.or.null.behavior=fail",
                    self.condition.text()
                )
            })?,
        };
        Ok(keep.then_some(record))
    }
}

// ── Drop, TombstoneHandler ─────────────────────────────────────────────

#[derive(Debug)]
struct DropPart {
    part: Part,
}

pub(super) fn drop_part(p: &mut Props, part: Part) -> Built {
    // Only the schema is affected; records here carry none.
    p.choice(
        "schema.behavior",
        &["nullify", "retain", "validate", "force_optional"],
        Some("nullify"),
        true,
    )?;
    Some(Box::new(DropPart { part }))
}

impl Transform for DropPart {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        *self.part.get_mut(&mut record) = Value::Null;
        Ok(Some(record))
    }
}

#[derive(Debug)]
struct TombstoneHandler {
    fail: bool,
}

pub(super) fn tombstone_handler(p: &mut Props, _: Part) -> Built {
    let behavior = p.choice("behavior", &["warn", "ignore", "fail"], Some("warn"), true)?;
    Some(Box::new(TombstoneHandler {
        fail: behavior.eq_ignore_ascii_case("fail"),
    }))
}

impl Transform for TombstoneHandler {
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid> {
        if !record.value.is_null() {
            return Ok(Some(record));
        }
        if self.fail {
            return Err(invalid!(
                "tombstone at {}-{}@{} and behavior=fail",
                record.topic,
                record.partition,
                record.offset
            ));
        }
        // `warn` and `ignore` both drop it; it is counted as filtered.
        Ok(None)
    }
}

// ── ReplaceField (nested) ──────────────────────────────────────────────

#[derive(Debug)]
struct ReplaceField {
    part: Part,
    fields: FieldSelection,
}

pub(super) fn replace_field(p: &mut Props, part: Part) -> Built {
    let fields = FieldSelection::configure(p)?;
    Some(Box::new(ReplaceField { part, fields }))
}

impl ReplaceField {
    /// Kept: no `include`, or the path is included, under an included
    /// path, or on the way to one.
    fn included(&self, path: &str) -> bool {
        let include = &self.fields.include;
        include.is_empty()
            || include.iter().any(|i| {
                i == path
                    || path
                        .strip_prefix(i.as_str())
                        .is_some_and(|r| r.starts_with('.'))
                    || i.strip_prefix(path).is_some_and(|r| r.starts_with('.'))
            })
    }

    /// Filters and renames `map` (at `prefix`, dotted original names).
    fn rebuild(&self, prefix: &str, map: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::with_capacity(map.len());
        for (k, v) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if self.fields.exclude.contains(&path) || !self.included(&path) {
                continue;
            }
            let v = match v {
                Value::Object(inner) => Value::Object(self.rebuild(&path, inner)),
                other => other,
            };
            let name = self.fields.renames.get(&path).cloned().unwrap_or(k);
            out.insert(name, v);
        }
        out
    }
}

impl Transform for ReplaceField {
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid> {
        self.part
            .rebuild_map(record, "field replacement", |old| self.rebuild("", old))
    }
}

// ── ExtractTopic ───────────────────────────────────────────────────────

/// Where ExtractTopic reads the topic from.
#[derive(Debug)]
enum Source {
    /// The whole key or value.
    Whole(Part),
    /// A top-level field.
    Field(Part, String),
    /// A JSON Path into the key or value.
    Path(Part, JsonPath, String),
    /// A header's value.
    Header(String),
}

#[derive(Debug)]
struct ExtractTopic {
    source: Source,
    skip_missing: bool,
}

fn extract_topic_with(p: &mut Props, part: Option<Part>) -> Built {
    let field = p.string("field");
    let format = p.choice("field.format", &["plain", "JSON_PATH"], Some("plain"), true);
    let skip_missing = p.boolean("skip.missing.or.null", false);
    let json_path = format?.eq_ignore_ascii_case("JSON_PATH");
    let source = match (part, field) {
        (None, Some(name)) => Source::Header(name),
        (None, None) => {
            p.required("field");
            return None;
        }
        (Some(part), None) => Source::Whole(part),
        (Some(part), Some(f)) if json_path => {
            let text = if f.starts_with('$') {
                f
            } else {
                format!("${f}")
            };
            match JsonPath::parse(&text) {
                Ok(path) => Source::Path(part, path, text),
                Err(e) => {
                    p.problem("field", format!("{text:?} is not a valid JSON Path: {e}"));
                    return None;
                }
            }
        }
        (Some(part), Some(f)) => Source::Field(part, f),
    };
    Some(Box::new(ExtractTopic {
        source,
        skip_missing,
    }))
}

pub(super) fn extract_topic(p: &mut Props, part: Part) -> Built {
    extract_topic_with(p, Some(part))
}

pub(super) fn extract_topic_header(p: &mut Props, _: Part) -> Built {
    extract_topic_with(p, None)
}

impl Transform for ExtractTopic {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        let (found, what): (Option<Value>, String) = match &self.source {
            Source::Whole(part) => (
                Some(part.get(&record).clone()),
                "the whole record part".into(),
            ),
            Source::Field(part, f) => (
                part.get(&record)
                    .as_object()
                    .and_then(|m| m.get(f))
                    .cloned(),
                format!("field {f:?}"),
            ),
            Source::Path(part, path, text) => (
                path.query(part.get(&record)).first().cloned(),
                format!("JSON Path {text:?}"),
            ),
            Source::Header(name) => (
                record
                    .headers
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| match v {
                        Some(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
                        None => Value::Null,
                    }),
                format!("header {name:?}"),
            ),
        };
        let topic = match found {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(Value::Null) | None => {
                if self.skip_missing {
                    return Ok(Some(record));
                }
                return Err(invalid!(
                    "{what} is missing or null; set skip.missing.or.null=true to keep the topic"
                ));
            }
            Some(Value::String(_)) => return Err(invalid!("{what} is empty: not a topic name")),
            Some(other) => other.to_string(),
        };
        record.topic = Arc::from(topic);
        Ok(Some(record))
    }
}
