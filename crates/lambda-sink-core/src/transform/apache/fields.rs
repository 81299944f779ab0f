//! Apache's field transforms: InsertField, ReplaceField, MaskField,
//! ValueToKey, ExtractField, HoistField and Flatten.

use crate::{Invalid, invalid};
use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::super::props::Props;
use super::super::record::{Built, Part, Record, Transform, java_class, not_a_map, require_map};
use super::cast::json_f64;

/// A field name with Connect's optional `!` (required) or `?` (optional)
/// suffix removed; the suffix only matters for schemas.
fn insertion_name(spec: String) -> String {
    match spec.strip_suffix(['!', '?']) {
        Some(name) => name.to_string(),
        None => spec,
    }
}

// ── InsertField ────────────────────────────────────────────────────────

#[derive(Debug)]
struct InsertField {
    part: Part,
    topic: Option<String>,
    partition: Option<String>,
    offset: Option<String>,
    timestamp: Option<String>,
    constant: Option<(String, String)>,
}

pub(crate) fn insert_field(p: &mut Props, part: Part) -> Built {
    let topic = p.string("topic.field").map(insertion_name);
    let partition = p.string("partition.field").map(insertion_name);
    let offset = p.string("offset.field").map(insertion_name);
    let timestamp = p.string("timestamp.field").map(insertion_name);
    let static_field = p.string("static.field").map(insertion_name);
    let static_value = p.verbatim("static.value");
    p.boolean("replace.null.with.default", true);
    let constant = match (static_field, static_value) {
        (Some(f), Some(v)) => Some((f, v)),
        (Some(_), None) => {
            p.problem(
                "static.value",
                "static.field is set but static.value is not",
            );
            return None;
        }
        (None, _) => None,
    };
    if topic.is_none()
        && partition.is_none()
        && offset.is_none()
        && timestamp.is_none()
        && constant.is_none()
    {
        p.problem(
            "topic.field",
            "InsertField needs at least one of topic.field, partition.field, offset.field, timestamp.field or static.field",
        );
        return None;
    }
    Some(Box::new(InsertField {
        part,
        topic,
        partition,
        offset,
        timestamp,
        constant,
    }))
}

impl Transform for InsertField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        let (topic, partition, offset, timestamp) = (
            record.topic.clone(),
            record.partition,
            record.offset,
            record.timestamp,
        );
        match self.part.get_mut(&mut record) {
            // A tombstone (or null key) passes unchanged.
            Value::Null => {}
            Value::Object(map) => {
                if let Some(f) = &self.topic {
                    map.insert(f.clone(), Value::String(topic.to_string()));
                }
                if let Some(f) = &self.partition {
                    map.insert(f.clone(), Value::from(partition));
                }
                if let Some(f) = &self.offset {
                    map.insert(f.clone(), Value::from(offset));
                }
                if let (Some(f), Some(ts)) = (&self.timestamp, timestamp) {
                    map.insert(f.clone(), Value::from(ts));
                }
                if let Some((f, v)) = &self.constant {
                    map.insert(f.clone(), Value::String(v.clone()));
                }
            }
            other => {
                return Err(not_a_map(other, "field insertion"));
            }
        }
        Ok(Some(record))
    }
}

// ── ReplaceField ───────────────────────────────────────────────────────

/// What a ReplaceField (Apache's or Confluent's nested one) keeps, drops
/// and renames.
#[derive(Debug)]
pub(crate) struct FieldSelection {
    /// `exclude` (or its deprecated alias `blacklist`).
    pub(crate) exclude: BTreeSet<String>,
    /// `include` (or `whitelist`); empty keeps everything.
    pub(crate) include: BTreeSet<String>,
    /// `renames`, old to new.
    pub(crate) renames: BTreeMap<String, String>,
}

impl FieldSelection {
    /// Reads the ReplaceField properties, or `None` after reporting why not.
    pub(crate) fn configure(p: &mut Props) -> Option<Self> {
        let mut exclude: BTreeSet<String> = p.list("exclude").into_iter().collect();
        exclude.extend(p.list("blacklist"));
        let mut include: BTreeSet<String> = p.list("include").into_iter().collect();
        include.extend(p.list("whitelist"));
        let renames = renames(p);
        p.boolean("replace.null.with.default", true);
        Some(Self {
            exclude,
            include,
            renames: renames?,
        })
    }
}

#[derive(Debug)]
struct ReplaceField {
    part: Part,
    fields: FieldSelection,
}

/// `renames`: `old:new` pairs.
fn renames(p: &mut Props) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut ok = true;
    for pair in p.list("renames") {
        let parts: Vec<&str> = pair.split(':').collect();
        if let [from, to] = parts.as_slice() {
            out.insert((*from).to_string(), (*to).to_string());
        } else {
            p.problem(
                "renames",
                format!("Invalid rename mapping: {pair:?}; each entry is old:new"),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

pub(crate) fn replace_field(p: &mut Props, part: Part) -> Built {
    let fields = FieldSelection::configure(p)?;
    Some(Box::new(ReplaceField { part, fields }))
}

impl Transform for ReplaceField {
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid> {
        self.part.rebuild_map(record, "field replacement", |old| {
            old.into_iter()
                .filter(|(k, _)| {
                    !self.fields.exclude.contains(k)
                        && (self.fields.include.is_empty() || self.fields.include.contains(k))
                })
                .map(|(k, v)| match self.fields.renames.get(&k) {
                    Some(to) => (to.clone(), v),
                    None => (k, v),
                })
                .collect()
        })
    }
}

// ── MaskField ──────────────────────────────────────────────────────────

#[derive(Debug)]
struct MaskField {
    part: Part,
    fields: Vec<String>,
    replacement: Option<String>,
}

pub(crate) fn mask_field(p: &mut Props, part: Part) -> Built {
    let fields = p.required_list("fields");
    let replacement = p.verbatim("replacement");
    p.boolean("replace.null.with.default", true);
    if replacement.as_deref() == Some("") {
        p.problem("replacement", "must not be empty when set");
        return None;
    }
    Some(Box::new(MaskField {
        part,
        fields: fields?,
        replacement,
    }))
}

impl MaskField {
    fn masked(&self, value: &Value) -> Result<Value, Invalid> {
        let Some(r) = &self.replacement else {
            return Ok(match value {
                Value::Null => Value::Null,
                Value::Bool(_) => Value::Bool(false),
                Value::Number(n) if n.is_i64() || n.is_u64() => Value::from(0),
                Value::Number(_) => json_f64(0.0),
                Value::String(_) => Value::String(String::new()),
                Value::Array(_) => Value::Array(Vec::new()),
                Value::Object(_) => Value::Object(Map::new()),
            });
        };
        match value {
            Value::Null => Ok(Value::Null),
            Value::String(_) => Ok(Value::String(r.clone())),
            Value::Number(n) => {
                let integral = n.is_i64() || n.is_u64();
                let parsed = if integral {
                    r.trim().parse::<i64>().ok().map(Value::from)
                } else {
                    r.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(json_f64)
                };
                parsed.ok_or_else(|| {
                    invalid!("Unable to convert {r} ({}) to number", java_class(value))
                })
            }
            other => Err(invalid!(
                "Cannot mask value of type class {} with custom replacement.",
                java_class(other)
            )),
        }
    }
}

impl Transform for MaskField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        // No tombstone guard in Apache's MaskField: a null value fails.
        let value = self.part.get_mut(&mut record);
        let Value::Object(map) = value else {
            return Err(not_a_map(value, "mask fields"));
        };
        for field in &self.fields {
            // A missing field is added, masked from null: as null.
            let masked = self.masked(map.get(field).unwrap_or(&Value::Null))?;
            map.insert(field.clone(), masked);
        }
        Ok(Some(record))
    }
}

// ── ValueToKey ─────────────────────────────────────────────────────────

#[derive(Debug)]
struct ValueToKey {
    fields: Vec<String>,
}

pub(crate) fn value_to_key(p: &mut Props, _: Part) -> Built {
    let fields = p.required_list("fields");
    p.boolean("replace.null.with.default", true);
    Some(Box::new(ValueToKey { fields: fields? }))
}

impl Transform for ValueToKey {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        let map = require_map(&record.value, "copying fields from value to key")?;
        record.key = Value::Object(
            self.fields
                .iter()
                .map(|f| (f.clone(), map.get(f).cloned().unwrap_or(Value::Null)))
                .collect(),
        );
        Ok(Some(record))
    }
}

// ── ExtractField ───────────────────────────────────────────────────────

#[derive(Debug)]
struct ExtractField {
    part: Part,
    /// V1: one field name; V2: the dotted path's steps.
    path: Vec<String>,
}

/// KIP-821's V2 field syntax: dots separate steps; a step in backticks may
/// hold dots (`` `a.b`.c ``); `\` escapes a backtick inside one.
fn v2_path(text: &str) -> Result<Vec<String>, Invalid> {
    let mut steps = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut step = String::new();
        if chars.peek() == Some(&'`') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'`') => {
                        chars.next();
                        step.push('`');
                    }
                    '`' if matches!(chars.peek(), None | Some('.')) => {
                        closed = true;
                        break;
                    }
                    c => step.push(c),
                }
            }
            if !closed {
                return Err(invalid!("{text:?}: a backtick-quoted step is not closed"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                step.push(c);
                chars.next();
            }
        }
        steps.push(step);
        match chars.next() {
            Some('.') => {}
            None => return Ok(steps),
            Some(c) => return Err(invalid!("{text:?}: unexpected {c:?}")),
        }
    }
}

pub(crate) fn extract_field(p: &mut Props, part: Part) -> Built {
    let field = p.required("field");
    let syntax = p.choice("field.syntax.version", &["V1", "V2"], Some("V1"), true);
    p.boolean("replace.null.with.default", true);
    let field = field?;
    let path = if syntax? == "V2" {
        match v2_path(&field) {
            Ok(steps) => steps,
            Err(e) => {
                p.problem("field", e);
                return None;
            }
        }
    } else {
        vec![field]
    };
    Some(Box::new(ExtractField { part, path }))
}

impl Transform for ExtractField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        let value = self.part.get_mut(&mut record);
        if value.is_null() {
            return Ok(Some(record));
        }
        require_map(value, "field extraction")?;
        let mut current = std::mem::take(value);
        for step in &self.path {
            current = match current {
                Value::Object(mut map) => map.shift_remove(step).unwrap_or(Value::Null),
                Value::Null => Value::Null,
                other => {
                    return Err(not_a_map(&other, "field extraction"));
                }
            };
        }
        *value = current;
        Ok(Some(record))
    }
}

// ── HoistField ─────────────────────────────────────────────────────────

#[derive(Debug)]
struct HoistField {
    part: Part,
    field: String,
}

pub(crate) fn hoist_field(p: &mut Props, part: Part) -> Built {
    Some(Box::new(HoistField {
        part,
        field: p.required("field")?,
    }))
}

impl Transform for HoistField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
        // Even a tombstone: it becomes {"field": null}.
        let value = self.part.get_mut(&mut record);
        let inner = std::mem::take(value);
        let mut map = Map::with_capacity(1);
        map.insert(self.field.clone(), inner);
        *value = Value::Object(map);
        Ok(Some(record))
    }
}

// ── Flatten ────────────────────────────────────────────────────────────

#[derive(Debug)]
struct Flatten {
    part: Part,
    delimiter: String,
}

pub(crate) fn flatten(p: &mut Props, part: Part) -> Built {
    let delimiter = p.verbatim("delimiter").unwrap_or_else(|| ".".into());
    Some(Box::new(Flatten { part, delimiter }))
}

impl Flatten {
    fn walk(&self, prefix: Option<&str>, map: Map<String, Value>, out: &mut Map<String, Value>) {
        for (k, v) in map {
            let name = match prefix {
                Some(p) => format!("{p}{}{k}", self.delimiter),
                None => k,
            };
            match v {
                // Nested maps are flattened; an empty one leaves nothing.
                Value::Object(inner) => self.walk(Some(&name), inner, out),
                // Lists are copied whole, null kept.
                other => {
                    out.insert(name, other);
                }
            }
        }
    }
}

impl Transform for Flatten {
    fn apply(&self, record: Record) -> Result<Option<Record>, Invalid> {
        self.part.rebuild_map(record, "flattening", |old| {
            let mut out = Map::with_capacity(old.len());
            self.walk(None, old, &mut out);
            out
        })
    }
}
