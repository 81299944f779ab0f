//! Apache Kafka's transforms (`org.apache.kafka.connect.transforms.*`),
//! with their schemaless semantics as Apache Kafka 3.9's sources have them
//! (`connect/transforms/src/main/java/org/apache/kafka/connect/transforms/`),
//! surprises included: MaskField and Cast add a missing field as null,
//! HoistField turns a tombstone into an object, ValueToKey and HeaderFrom
//! refuse a tombstone, Cast narrows numbers like Java does.
//!
//! Where Java builds a `HashMap` (whose order is arbitrary), fields keep
//! their order and new ones are appended.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use regex::Regex;
use serde_json::{Map, Number, Value};

use super::props::Props;
use super::record::{Part, Record, Transform, java_class, not_a_map, require_map};
use super::timefmt::DateFormat;

/// A transform built from its properties, or `None` after reporting why not.
pub(super) type Built = Option<Box<dyn Transform>>;

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

pub(super) fn insert_field(p: &mut Props, part: Part) -> Built {
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
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
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
pub(super) struct FieldSelection {
    /// `exclude` (or its deprecated alias `blacklist`).
    pub(super) exclude: BTreeSet<String>,
    /// `include` (or `whitelist`); empty keeps everything.
    pub(super) include: BTreeSet<String>,
    /// `renames`, old to new.
    pub(super) renames: BTreeMap<String, String>,
}

impl FieldSelection {
    /// Reads the ReplaceField properties, or `None` after reporting why not.
    pub(super) fn configure(p: &mut Props) -> Option<Self> {
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

pub(super) fn replace_field(p: &mut Props, part: Part) -> Built {
    let fields = FieldSelection::configure(p)?;
    Some(Box::new(ReplaceField { part, fields }))
}

impl Transform for ReplaceField {
    fn apply(&self, record: Record) -> Result<Option<Record>, String> {
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

pub(super) fn mask_field(p: &mut Props, part: Part) -> Built {
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
    fn masked(&self, value: &Value) -> Result<Value, String> {
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
                    format!("Unable to convert {r} ({}) to number", java_class(value))
                })
            }
            other => Err(format!(
                "Cannot mask value of type class {} with custom replacement.",
                java_class(other)
            )),
        }
    }
}

impl Transform for MaskField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
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

pub(super) fn value_to_key(p: &mut Props, _: Part) -> Built {
    let fields = p.required_list("fields");
    p.boolean("replace.null.with.default", true);
    Some(Box::new(ValueToKey { fields: fields? }))
}

impl Transform for ValueToKey {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
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
fn v2_path(text: &str) -> Result<Vec<String>, String> {
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
                return Err(format!("{text:?}: a backtick-quoted step is not closed"));
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
            Some(c) => return Err(format!("{text:?}: unexpected {c:?}")),
        }
    }
}

pub(super) fn extract_field(p: &mut Props, part: Part) -> Built {
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
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
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

pub(super) fn hoist_field(p: &mut Props, part: Part) -> Built {
    Some(Box::new(HoistField {
        part,
        field: p.required("field")?,
    }))
}

impl Transform for HoistField {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        // Even a tombstone: it becomes {"field": null}.
        let value = self.part.get_mut(&mut record);
        let inner = std::mem::take(value);
        let mut map = Map::with_capacity(1);
        map.insert(self.field.clone(), inner);
        *value = Value::Object(map);
        Ok(Some(record))
    }
}

// ── Cast ───────────────────────────────────────────────────────────────

/// A Connect primitive type Cast converts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CastType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
}

impl CastType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "int8" => Self::Int8,
            "int16" => Self::Int16,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "float32" => Self::Float32,
            "float64" => Self::Float64,
            "boolean" => Self::Boolean,
            "string" => Self::String,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Int16 => "int16",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::Boolean => "boolean",
            Self::String => "string",
        }
    }
}

#[derive(Debug)]
enum CastSpec {
    Whole(CastType),
    Fields(Vec<(String, CastType)>),
}

#[derive(Debug)]
struct Cast {
    part: Part,
    spec: CastSpec,
}

pub(super) fn cast(p: &mut Props, part: Part) -> Built {
    let entries = p.required_list("spec");
    p.boolean("replace.null.with.default", true);
    let entries = entries?;
    let bad_type = |t: &str| {
        format!(
            "Invalid type found in casting spec: {t:?}; valid types: int8, int16, int32, int64, float32, float64, boolean, string"
        )
    };
    let spec = if let [only] = entries.as_slice()
        && !only.contains(':')
    {
        match CastType::parse(only) {
            Some(t) => CastSpec::Whole(t),
            None => {
                p.problem("spec", bad_type(only));
                return None;
            }
        }
    } else {
        let mut fields = Vec::new();
        for entry in &entries {
            let Some((field, ty)) = entry.split_once(':') else {
                p.problem(
                    "spec",
                    format!("{entry:?}: a spec casting the whole value must be its only entry; otherwise each entry is field:type"),
                );
                return None;
            };
            match CastType::parse(ty) {
                Some(t) => fields.push((field.trim().to_string(), t)),
                None => {
                    p.problem("spec", bad_type(ty));
                    return None;
                }
            }
        }
        CastSpec::Fields(fields)
    };
    Some(Box::new(Cast { part, spec }))
}

/// A JSON number from an `f64` (finite; Java's float types cannot hold
/// what JSON cannot write either, so NaN and infinities fail the cast).
fn json_f64(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A JSON number written as `f32` prints (Java's `Float.toString` digits).
fn json_f32(f: f32) -> Value {
    serde_json::from_str::<Number>(&format!("{f:?}")).map_or(Value::Null, Value::Number)
}

/// Java's `Double.toString`: shortest digits, `.0` on integers, and
/// computerized scientific notation outside [10⁻³, 10⁷).
pub(super) fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let a = d.abs();
    if (1e-3..1e7).contains(&a) {
        let s = format!("{d}");
        if s.contains('.') { s } else { s + ".0" }
    } else {
        let s = format!("{d:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exponent}")
    }
}

/// Java's `Long.toString` / `Double.toString` of a JSON number.
fn number_text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        java_double(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Java's `Integer.parseInt`-style strict integer parse.
fn parse_java_int<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.parse::<T>()
        .map_err(|_| format!("For input string: \"{s}\""))
}

/// Java's `Double.parseDouble` (which trims whitespace).
fn parse_java_double(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("For input string: \"{s}\""))
}

/// Casts one value as `Cast` does: null stays null; numbers narrow like
/// Java's `byteValue()`/`intValue()` (wrapping from integers, saturating
/// from decimals); booleans become 1/0; strings parse strictly.
pub(super) fn cast_value(value: &Value, to: CastType) -> Result<Value, String> {
    enum In<'a> {
        Int(i64),
        Float(f64),
        Bool(bool),
        Text(&'a str),
    }
    let input = match value {
        Value::Null => return Ok(Value::Null),
        Value::Bool(b) => In::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => In::Int(i),
            None => In::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => In::Text(s),
        Value::Array(_) => {
            return Err("Cast transformation does not support casting to/from ARRAY".into());
        }
        Value::Object(_) => {
            return Err("Cast transformation does not support casting to/from MAP".into());
        }
    };
    // Java's (long) of a double saturates and maps NaN to 0, as Rust's `as`.
    let as_long = |i: &In<'_>| -> Result<i64, String> {
        Ok(match i {
            In::Int(i) => *i,
            #[allow(
                clippy::cast_possible_truncation,
                reason = "Java's narrowing, on purpose"
            )]
            In::Float(f) => *f as i64,
            In::Bool(b) => i64::from(*b),
            In::Text(_) => 0,
        })
    };
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "Cast narrows exactly as Java's primitive conversions do"
    )]
    let out = match (to, &input) {
        (CastType::Int8, In::Text(s)) => Value::from(parse_java_int::<i8>(s)?),
        (CastType::Int16, In::Text(s)) => Value::from(parse_java_int::<i16>(s)?),
        (CastType::Int32, In::Text(s)) => Value::from(parse_java_int::<i32>(s)?),
        (CastType::Int64, In::Text(s)) => Value::from(parse_java_int::<i64>(s)?),
        // From a double, Java goes through int for byte and short.
        (CastType::Int8, In::Float(f)) => Value::from((*f as i32) as i8),
        (CastType::Int16, In::Float(f)) => Value::from((*f as i32) as i16),
        (CastType::Int32, In::Float(f)) => Value::from(*f as i32),
        (CastType::Int8, i) => Value::from(as_long(i)? as i8),
        (CastType::Int16, i) => Value::from(as_long(i)? as i16),
        (CastType::Int32, i) => Value::from(as_long(i)? as i32),
        (CastType::Int64, i) => Value::from(as_long(i)?),
        (CastType::Float32, In::Text(s)) => json_f32(parse_java_double(s)? as f32),
        (CastType::Float32, In::Float(f)) => json_f32(*f as f32),
        (CastType::Float32, i) => json_f32(as_long(i)? as f32),
        (CastType::Float64, In::Text(s)) => json_f64(parse_java_double(s)?),
        (CastType::Float64, In::Float(f)) => json_f64(*f),
        (CastType::Float64, i) => json_f64(as_long(i)? as f64),
        (CastType::Boolean, In::Bool(b)) => Value::Bool(*b),
        (CastType::Boolean, In::Int(i)) => Value::Bool(*i != 0),
        (CastType::Boolean, In::Float(f)) => Value::Bool(*f != 0.0),
        (CastType::Boolean, In::Text(s)) => Value::Bool(s.eq_ignore_ascii_case("true")),
        (CastType::String, In::Text(s)) => Value::String((*s).to_string()),
        (CastType::String, In::Bool(b)) => Value::String(b.to_string()),
        (CastType::String, _) => match value {
            Value::Number(n) => Value::String(number_text(n)),
            _ => Value::Null,
        },
    };
    if out.is_null() {
        return Err(format!(
            "{} cannot be cast to {}: not a finite number",
            value,
            to.name()
        ));
    }
    Ok(out)
}

impl Transform for Cast {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        let value = self.part.get_mut(&mut record);
        if value.is_null() {
            return Ok(Some(record));
        }
        match &self.spec {
            CastSpec::Whole(to) => *value = cast_value(value, *to)?,
            CastSpec::Fields(fields) => {
                let Value::Object(map) = value else {
                    return Err(not_a_map(value, "cast types"));
                };
                for (field, to) in fields {
                    let cast = cast_value(map.get(field).unwrap_or(&Value::Null), *to)?;
                    map.insert(field.clone(), cast);
                }
            }
        }
        Ok(Some(record))
    }
}

// ── TimestampConverter ─────────────────────────────────────────────────

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Text,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug)]
struct TimestampConverter {
    part: Part,
    field: Option<String>,
    target: Target,
    format: Option<DateFormat>,
    /// Units of a second in a unix timestamp: 1, 10³, 10⁶ or 10⁹.
    per_second: i64,
}

pub(super) fn timestamp_converter(p: &mut Props, part: Part) -> Built {
    let field = p.string("field");
    let target = p.choice(
        "target.type",
        &["string", "unix", "Date", "Time", "Timestamp"],
        None,
        false,
    );
    let format = p.string("format");
    let precision = p.choice(
        "unix.precision",
        &["milliseconds", "seconds", "microseconds", "nanoseconds"],
        Some("milliseconds"),
        false,
    );
    p.boolean("replace.null.with.default", true);
    let target = match target? {
        "string" => Target::Text,
        "unix" => Target::Unix,
        "Date" => Target::Date,
        "Time" => Target::Time,
        _ => Target::Timestamp,
    };
    let format = match format.map(|f| DateFormat::parse(&f)) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => {
            p.problem("format", e);
            return None;
        }
        None => None,
    };
    if target == Target::Text && format.is_none() {
        p.problem(
            "format",
            "TimestampConverter requires format option to be specified when using string timestamps",
        );
        return None;
    }
    let per_second = match precision? {
        "seconds" => 1,
        "microseconds" => 1_000_000,
        "nanoseconds" => 1_000_000_000,
        _ => 1000,
    };
    Some(Box::new(TimestampConverter {
        part,
        field,
        target,
        format,
        per_second,
    }))
}

impl TimestampConverter {
    /// Milliseconds since the epoch of `value` (an integral number in
    /// `unix.precision`, or text in `format`).
    fn millis(&self, value: &Value) -> Result<i64, String> {
        match value {
            Value::Number(n) if n.as_i64().is_some() => {
                let v = n.as_i64().unwrap_or_default();
                Ok(match self.per_second {
                    1 => v.saturating_mul(1000),
                    1000 => v,
                    units => v / (units / 1000),
                })
            }
            Value::String(s) => {
                let Some(format) = &self.format else {
                    return Err("TimestampConverter requires format option to be specified when using string timestamps".into());
                };
                format.parse_millis(s).map_err(|e| {
                    format!(
                        "Could not parse timestamp: value ({s}) does not match pattern ({}): {e}",
                        format.pattern()
                    )
                })
            }
            other => Err(format!(
                "TimestampConverter does not support class {} objects as timestamps",
                java_class(other)
            )),
        }
    }

    fn convert(&self, value: &Value) -> Result<Value, String> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let ms = self.millis(value)?;
        const DAY: i64 = 86_400_000;
        // Date, Time and Timestamp are java.util.Date objects: epoch millis.
        Ok(match self.target {
            Target::Timestamp => Value::from(ms),
            Target::Date => Value::from(ms.div_euclid(DAY) * DAY),
            Target::Time => Value::from(ms.rem_euclid(DAY)),
            Target::Unix => Value::from(match self.per_second {
                1 => ms / 1000,
                1000 => ms,
                units => ms.saturating_mul(units / 1000),
            }),
            Target::Text => Value::String(
                self.format
                    .as_ref()
                    .map(|f| f.format_millis(ms))
                    .unwrap_or_default(),
            ),
        })
    }
}

impl Transform for TimestampConverter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        let value = self.part.get_mut(&mut record);
        match &self.field {
            None => *value = self.convert(value)?,
            Some(field) => match value {
                Value::Null => {}
                Value::Object(map) => {
                    let converted = self.convert(map.get(field).unwrap_or(&Value::Null))?;
                    map.insert(field.clone(), converted);
                }
                other => {
                    return Err(not_a_map(other, "converting timestamp formats"));
                }
            },
        }
        Ok(Some(record))
    }
}

// ── Flatten ────────────────────────────────────────────────────────────

#[derive(Debug)]
struct Flatten {
    part: Part,
    delimiter: String,
}

pub(super) fn flatten(p: &mut Props, part: Part) -> Built {
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
    fn apply(&self, record: Record) -> Result<Option<Record>, String> {
        self.part.rebuild_map(record, "flattening", |old| {
            let mut out = Map::with_capacity(old.len());
            self.walk(None, old, &mut out);
            out
        })
    }
}

// ── Headers ────────────────────────────────────────────────────────────

/// A header value from a field: text as its UTF-8 bytes, null as a null
/// header, anything else as its JSON text.
pub(super) fn header_bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.as_bytes().to_vec()),
        other => Some(other.to_string().into_bytes()),
    }
}

#[derive(Debug)]
struct InsertHeader {
    header: String,
    value: Option<Vec<u8>>,
}

pub(super) fn insert_header(p: &mut Props, _: Part) -> Built {
    let header = p.required("header");
    let literal = p.verbatim("value.literal");
    if literal.is_none() {
        p.required("value.literal");
    }
    Some(Box::new(InsertHeader {
        header: header?,
        // Connect parses the literal (`null` is a null header); other
        // literals are sent as written.
        value: literal
            .filter(|l| l.trim() != "null")
            .map(String::into_bytes),
    }))
}

impl Transform for InsertHeader {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        record
            .headers
            .push((self.header.clone(), self.value.clone()));
        Ok(Some(record))
    }
}

#[derive(Debug)]
struct DropHeaders {
    headers: BTreeSet<String>,
}

pub(super) fn drop_headers(p: &mut Props, _: Part) -> Built {
    Some(Box::new(DropHeaders {
        headers: p.required_list("headers")?.into_iter().collect(),
    }))
}

impl Transform for DropHeaders {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        record.headers.retain(|(k, _)| !self.headers.contains(k));
        Ok(Some(record))
    }
}

#[derive(Debug)]
struct HeaderFrom {
    part: Part,
    pairs: Vec<(String, String)>,
    moving: bool,
}

pub(super) fn header_from(p: &mut Props, part: Part) -> Built {
    let fields = p.required_list("fields");
    let headers = p.required_list("headers");
    let operation = p.choice("operation", &["move", "copy"], None, false);
    p.boolean("replace.null.with.default", true);
    let (fields, headers, operation) = (fields?, headers?, operation?);
    if fields.len() != headers.len() {
        p.problem(
            "headers",
            "'fields' config must have the same number of elements as 'headers' config.",
        );
        return None;
    }
    Some(Box::new(HeaderFrom {
        part,
        pairs: fields.into_iter().zip(headers).collect(),
        moving: operation == "move",
    }))
}

impl Transform for HeaderFrom {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        let purpose = if self.moving {
            "header move"
        } else {
            "header copy"
        };
        let mut added = Vec::with_capacity(self.pairs.len());
        let value = self.part.get_mut(&mut record);
        let Value::Object(map) = value else {
            return Err(not_a_map(value, purpose));
        };
        for (field, header) in &self.pairs {
            let v = if self.moving {
                map.shift_remove(field)
            } else {
                map.get(field).cloned()
            };
            added.push((header.clone(), header_bytes(&v.unwrap_or(Value::Null))));
        }
        record.headers.extend(added);
        Ok(Some(record))
    }
}

// ── Filter and the routers ─────────────────────────────────────────────

#[derive(Debug)]
struct Filter;

pub(super) fn filter(_: &mut Props, _: Part) -> Built {
    Some(Box::new(Filter))
}

impl Transform for Filter {
    fn apply(&self, _: Record) -> Result<Option<Record>, String> {
        Ok(None)
    }
}

/// A Java `Matcher.replaceFirst` replacement (`$1`, `${name}`, `\$`) in
/// the `regex` crate's syntax.
pub(super) fn java_replacement(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 4);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err(format!("{text:?} ends with a lone backslash")),
            },
            '$' => match chars.peek() {
                Some('{') => {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut digits = String::new();
                    while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        digits.push(*d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{digits}}}"));
                }
                _ => {
                    return Err(format!(
                        "{text:?}: '$' must be followed by a group number or {{name}} (write \\$ for a literal one)"
                    ));
                }
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

#[derive(Debug)]
struct RegexRouter {
    regex: Regex,
    replacement: String,
}

pub(super) fn regex_router(p: &mut Props, _: Part) -> Built {
    let regex = p.full_match_regex("regex");
    let replacement = p.verbatim("replacement");
    let Some(replacement) = replacement else {
        p.required("replacement");
        return None;
    };
    let replacement = match java_replacement(&replacement) {
        Ok(r) => r,
        Err(e) => {
            p.problem("replacement", e);
            return None;
        }
    };
    Some(Box::new(RegexRouter {
        regex: regex?,
        replacement,
    }))
}

impl Transform for RegexRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        if self.regex.is_match(&record.topic) {
            let topic = self
                .regex
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
            record.topic = Arc::from(topic);
        }
        Ok(Some(record))
    }
}

#[derive(Debug)]
struct TimestampRouter {
    topic_format: String,
    timestamp_format: DateFormat,
}

pub(super) fn timestamp_router(p: &mut Props, _: Part) -> Built {
    let topic_format = p
        .verbatim("topic.format")
        .unwrap_or_else(|| "${topic}-${timestamp}".into());
    let pattern = p
        .verbatim("timestamp.format")
        .unwrap_or_else(|| "yyyyMMdd".into());
    match DateFormat::parse(&pattern) {
        Ok(timestamp_format) => Some(Box::new(TimestampRouter {
            topic_format,
            timestamp_format,
        })),
        Err(e) => {
            p.problem("timestamp.format", e);
            None
        }
    }
}

impl Transform for TimestampRouter {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, String> {
        let Some(ts) = record.timestamp else {
            return Err(format!(
                "Timestamp missing on record: {}-{}@{}",
                record.topic, record.partition, record.offset
            ));
        };
        let topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &self.timestamp_format.format_millis(ts));
        record.topic = Arc::from(topic);
        Ok(Some(record))
    }
}
