//! Avro keys and values (after the Confluent header), decoded with the writer
//! schema from the registry and rendered as SPEC §3 says:
//!
//! records → objects (schema field order); `[null, T]` and other unions → the
//! branch's value; enums → symbols; `bytes`/`fixed` → base64; `decimal` →
//! base64 of the minimal two's-complement unscaled value, or a JSON number
//! (`value.converter.decimal.format=NUMERIC`); `date` → days; `time-millis`,
//! `timestamp-millis` → milliseconds; `*-micros`, `*-nanos` and
//! `local-timestamp-*` → the long as is; `float` → the shortest text that
//! round-trips the 32-bit value; NaN/±Infinity → strings; maps → objects with
//! sorted keys (Avro maps carry no order).
//!
//! A datum that does not consume the payload exactly is reported as not
//! matching the schema rather than half-read.

use crate::{Invalid, invalid};
use std::collections::HashMap;

use apache_avro::schema::{Name, Schema};
use apache_avro::types::Value as Avro;
use base64::Engine;
use num_bigint::BigInt;
use serde_json::{Map, Number, Value};

use super::DecodeError;
use crate::codec::DecimalFormat;

/// Largest single allocation the Avro decoder may make for one value: a
/// corrupt length prefix fails instead of exhausting memory.
const MAX_ALLOCATION: usize = 64 * 1024 * 1024;

/// Deepest nesting of values accepted. apache-avro decodes recursively, and a
/// recursive schema lets data nest without limit (a couple of bytes per
/// level): without a bound, one bad record overflows the stack and, never
/// committed, crashes the process again after every restart.
pub const MAX_DEPTH: usize = 64;

/// A parsed writer schema, with the named types it references.
#[derive(Clone, Debug)]
pub struct AvroSchema {
    schema: Schema,
    schemata: Vec<Schema>,
}

impl AvroSchema {
    /// Parses `schema` (Avro JSON); `references` are the schemas of the named
    /// types it uses from other subjects.
    ///
    /// # Errors
    /// When a schema is not valid Avro.
    pub fn parse(schema: &str, references: &[&str]) -> Result<Self, Invalid> {
        // Set once per process; later calls are no-ops.
        let _ = apache_avro::util::max_allocation_bytes(MAX_ALLOCATION);
        let (schema, schemata) = Schema::parse_str_with_list(schema, references.iter().copied())
            .map_err(|e| invalid!("not a valid Avro schema: {e}"))?;
        Ok(Self { schema, schemata })
    }

    /// Decodes one datum and renders it as JSON.
    ///
    /// # Errors
    /// When the bytes are not a datum of this schema.
    pub fn decode(&self, payload: &[u8], decimal: DecimalFormat) -> Result<Value, DecodeError> {
        // apache-avro resolves names in order: referenced types first.
        let all: Vec<&Schema> = self
            .schemata
            .iter()
            .chain(std::iter::once(&self.schema))
            .collect();
        let names = names(&all);
        Guard::check(&self.schema, &names, payload).map_err(|e| {
            DecodeError::new(format!(
                "not valid Avro for the writer schema: {}",
                e.message
            ))
        })?;
        let mut reader: &[u8] = payload;
        let value = apache_avro::reader::datum::GenericDatumReader::builder(&self.schema)
            .writer_schemata(all.clone())
            .and_then(|b| b.build())
            .and_then(|r| r.read_value(&mut reader))
            .map_err(|e| DecodeError::new(format!("not valid Avro for the writer schema: {e}")))?;
        if !reader.is_empty() {
            return Err(DecodeError::new(format!(
                "{} bytes left after the Avro datum: the data does not match its schema",
                reader.len()
            )));
        }
        Ok(Render {
            names: &names,
            decimal,
        }
        .value(&value, &self.schema))
    }
}

/// A bounded pre-pass over the bytes by the schema, before apache-avro
/// decodes them: rejects nesting deeper than [`MAX_DEPTH`] and arrays or maps
/// claiming more items than the bytes could hold (zero-byte items such as
/// `null` would otherwise let a 3-byte count ask for billions).
struct Guard<'a> {
    names: &'a HashMap<String, &'a Schema>,
    /// Items still allowed; each array or map item and union branch costs one.
    budget: usize,
}

impl<'a> Guard<'a> {
    fn check(
        schema: &Schema,
        names: &'a HashMap<String, &'a Schema>,
        payload: &[u8],
    ) -> Result<(), DecodeError> {
        let budget = payload.len().saturating_mul(16).saturating_add(1024);
        let mut input = payload;
        Guard { names, budget }.skip(schema, &mut input, 0)
    }

    fn skip(
        &mut self,
        schema: &Schema,
        input: &mut &[u8],
        depth: usize,
    ) -> Result<(), DecodeError> {
        use apache_avro::schema::{InnerDecimalSchema, UuidSchema};
        if depth > MAX_DEPTH {
            return Err(DecodeError::new(format!(
                "Avro values nested deeper than {MAX_DEPTH} levels"
            )));
        }
        match schema {
            Schema::Null => Ok(()),
            Schema::Boolean => take(input, 1),
            Schema::Int
            | Schema::Long
            | Schema::Enum(_)
            | Schema::Date
            | Schema::TimeMillis
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => varint(input).map(drop),
            Schema::Float => take(input, 4),
            Schema::Double => take(input, 8),
            Schema::Bytes | Schema::String | Schema::BigDecimal => length_prefixed(input),
            Schema::Uuid(UuidSchema::Fixed(f)) | Schema::Fixed(f) | Schema::Duration(f) => {
                take(input, f.size)
            }
            Schema::Uuid(_) => length_prefixed(input),
            Schema::Decimal(d) => match &d.inner {
                InnerDecimalSchema::Fixed(f) => take(input, f.size),
                InnerDecimalSchema::Bytes => length_prefixed(input),
            },
            Schema::Array(a) => self.blocks(input, |g, input| g.skip(&a.items, input, depth + 1)),
            Schema::Map(m) => self.blocks(input, |g, input| {
                length_prefixed(input)?;
                g.skip(&m.types, input, depth + 1)
            }),
            Schema::Union(u) => {
                self.spend()?;
                let index = varint(input)?;
                let branch = usize::try_from(index)
                    .ok()
                    .and_then(|i| u.variants().get(i))
                    .ok_or_else(|| {
                        DecodeError::new(format!("union branch {index} does not exist"))
                    })?;
                self.skip(branch, input, depth + 1)
            }
            Schema::Record(r) => {
                for f in &r.fields {
                    self.skip(&f.schema, input, depth + 1)?;
                }
                Ok(())
            }
            Schema::Ref { name } => match self.names.get(&name.fullname(None)) {
                Some(s) => self.skip(s, input, depth),
                None => Err(DecodeError::new(format!(
                    "unresolved Avro reference {}",
                    name.fullname(None)
                ))),
            },
        }
    }

    /// Array and map blocks: a count (negative when a byte size follows),
    /// repeated until a count of 0.
    fn blocks(
        &mut self,
        input: &mut &[u8],
        mut item: impl FnMut(&mut Self, &mut &[u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        loop {
            let count = varint(input)?;
            if count == 0 {
                return Ok(());
            }
            if count < 0 {
                varint(input)?;
            }
            for _ in 0..count.unsigned_abs() {
                self.spend()?;
                item(self, input)?;
            }
        }
    }

    fn spend(&mut self) -> Result<(), DecodeError> {
        self.budget = self.budget.checked_sub(1).ok_or_else(|| {
            DecodeError::new("more Avro array or map items than the bytes can hold")
        })?;
        Ok(())
    }
}

fn take(input: &mut &[u8], n: usize) -> Result<(), DecodeError> {
    if input.len() < n {
        return Err(DecodeError::new("truncated Avro data"));
    }
    *input = &input[n..];
    Ok(())
}

fn length_prefixed(input: &mut &[u8]) -> Result<(), DecodeError> {
    let n = varint(input)?;
    let n = usize::try_from(n).map_err(|_| DecodeError::new("negative Avro length"))?;
    take(input, n)
}

/// A zigzag-encoded Avro long.
fn varint(input: &mut &[u8]) -> Result<i64, DecodeError> {
    let mut value: u64 = 0;
    for (i, b) in input.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *input = &input[i + 1..];
            return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    Err(DecodeError::new("truncated or overlong Avro varint"))
}

/// Every named type (record, enum, fixed) by full name, for `Schema::Ref`.
fn names<'a>(schemata: &[&'a Schema]) -> HashMap<String, &'a Schema> {
    fn walk<'a>(s: &'a Schema, ns: Option<&str>, out: &mut HashMap<String, &'a Schema>) {
        let mut named = |name: &Name| {
            let full = name.fullname(ns);
            let inner_ns = full.rsplit_once('.').map(|(n, _)| n.to_string());
            out.insert(full, s);
            inner_ns
        };
        match s {
            Schema::Record(r) => {
                let inner_ns = named(&r.name);
                for f in &r.fields {
                    walk(&f.schema, inner_ns.as_deref(), out);
                }
            }
            Schema::Enum(e) => {
                named(&e.name);
            }
            Schema::Fixed(f) => {
                named(&f.name);
            }
            Schema::Array(a) => walk(&a.items, ns, out),
            Schema::Map(m) => walk(&m.types, ns, out),
            Schema::Union(u) => {
                for v in u.variants() {
                    walk(v, ns, out);
                }
            }
            _ => {}
        }
    }
    let mut out = HashMap::new();
    for s in schemata {
        walk(s, None, &mut out);
    }
    out
}

struct Render<'a> {
    names: &'a HashMap<String, &'a Schema>,
    decimal: DecimalFormat,
}

impl Render<'_> {
    /// Follows references to the schema that describes `value`.
    fn resolve<'s>(&'s self, schema: &'s Schema) -> &'s Schema {
        match schema {
            Schema::Ref { name } => self
                .names
                .get(&name.fullname(None))
                .copied()
                .unwrap_or(schema),
            other => other,
        }
    }

    #[allow(
        clippy::too_many_lines,
        reason = "one match arm per Avro type, each a few lines: splitting it would scatter the mapping"
    )]
    fn value(&self, value: &Avro, schema: &Schema) -> Value {
        let schema = self.resolve(schema);
        match value {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => Value::Bool(*b),
            Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => Value::from(*n),
            Avro::Long(n)
            | Avro::TimeMicros(n)
            | Avro::TimestampMillis(n)
            | Avro::TimestampMicros(n)
            | Avro::TimestampNanos(n)
            | Avro::LocalTimestampMillis(n)
            | Avro::LocalTimestampMicros(n)
            | Avro::LocalTimestampNanos(n) => Value::from(*n),
            // f32's Display is the shortest text that round-trips the f32.
            Avro::Float(f) => float(f.is_nan(), f.is_infinite(), *f < 0.0, &f.to_string()),
            Avro::Double(f) => float(f.is_nan(), f.is_infinite(), *f < 0.0, &f.to_string()),
            Avro::Bytes(b) | Avro::Fixed(_, b) => base64(b),
            Avro::String(s) => Value::String(s.clone()),
            Avro::Uuid(u) => Value::String(u.to_string()),
            Avro::Enum(_, symbol) => Value::String(symbol.clone()),
            Avro::Union(index, inner) => {
                let branch = match schema {
                    Schema::Union(u) => u
                        .variants()
                        .get(usize::try_from(*index).unwrap_or(usize::MAX))
                        .unwrap_or(schema),
                    other => other,
                };
                self.value(inner, branch)
            }
            Avro::Array(items) => {
                let item_schema = match schema {
                    Schema::Array(a) => &*a.items,
                    other => other,
                };
                Value::Array(items.iter().map(|v| self.value(v, item_schema)).collect())
            }
            Avro::Map(entries) => {
                let value_schema = match schema {
                    Schema::Map(m) => &*m.types,
                    other => other,
                };
                let mut keys: Vec<&String> = entries.keys().collect();
                keys.sort();
                let map: Map<String, Value> = keys
                    .into_iter()
                    .map(|k| (k.clone(), self.value(&entries[k], value_schema)))
                    .collect();
                Value::Object(map)
            }
            Avro::Record(fields) => {
                let field_schemas: Vec<&Schema> = match schema {
                    Schema::Record(r) => r.fields.iter().map(|f| &f.schema).collect(),
                    _ => Vec::new(),
                };
                let map: Map<String, Value> = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (name, v))| {
                        let s = field_schemas.get(i).copied().unwrap_or(schema);
                        (name.clone(), self.value(v, s))
                    })
                    .collect();
                Value::Object(map)
            }
            Avro::Decimal(d) => {
                let scale = match schema {
                    Schema::Decimal(ds) => ds.scale,
                    _ => 0,
                };
                let bytes = Vec::<u8>::try_from(d).unwrap_or_default();
                self.decimal_value(&minimal_twos_complement(&bytes), scale)
            }
            Avro::BigDecimal(d) => match self.decimal {
                DecimalFormat::Numeric => number(&d.to_string()),
                DecimalFormat::Base64 => Value::String(d.to_string()),
            },
            Avro::Duration(d) => serde_json::json!({
                "months": u32::from(d.months()),
                "days": u32::from(d.days()),
                "milliseconds": u32::from(d.millis()),
            }),
        }
    }

    fn decimal_value(&self, unscaled: &[u8], scale: usize) -> Value {
        match self.decimal {
            DecimalFormat::Base64 => base64(unscaled),
            DecimalFormat::Numeric => number(&decimal_text(
                &BigInt::from_signed_bytes_be(unscaled),
                scale,
            )),
        }
    }
}

fn base64(bytes: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A JSON number with exactly this text (serde_json's arbitrary precision).
fn number(text: &str) -> Value {
    text.parse::<Number>()
        .map_or_else(|_| Value::String(text.to_string()), Value::Number)
}

fn float(nan: bool, infinite: bool, negative: bool, text: &str) -> Value {
    match (nan, infinite, negative) {
        (true, _, _) => Value::String("NaN".into()),
        (_, true, false) => Value::String("Infinity".into()),
        (_, true, true) => Value::String("-Infinity".into()),
        _ => number(text),
    }
}

/// The shortest two's-complement big-endian form of the same integer, as
/// Java's `BigInteger.toByteArray` gives it.
pub fn minimal_twos_complement(bytes: &[u8]) -> Vec<u8> {
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    if bytes.is_empty() {
        vec![0]
    } else {
        bytes[start..].to_vec()
    }
}

/// The decimal text of `unscaled × 10^-scale`.
fn decimal_text(unscaled: &BigInt, scale: usize) -> String {
    let digits = unscaled.magnitude().to_string();
    let sign = if unscaled.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_twos_complement_like_java() {
        assert_eq!(
            minimal_twos_complement(&[0x00, 0x00, 0x30, 0x39]),
            vec![0x30, 0x39]
        );
        assert_eq!(minimal_twos_complement(&[0xff, 0xff, 0x9c]), vec![0x9c]);
        assert_eq!(
            minimal_twos_complement(&[0x00, 0x80]),
            vec![0x00, 0x80],
            "keeps the sign byte"
        );
        assert_eq!(minimal_twos_complement(&[0xff, 0x7f]), vec![0xff, 0x7f]);
        assert_eq!(minimal_twos_complement(&[0x00]), vec![0x00]);
        assert_eq!(minimal_twos_complement(&[]), vec![0x00]);
    }

    #[test]
    fn decimal_texts() {
        let t = |n: i64, s| decimal_text(&BigInt::from(n), s);
        assert_eq!(t(12345, 2), "123.45");
        assert_eq!(t(-100, 2), "-1.00");
        assert_eq!(t(5, 3), "0.005");
        assert_eq!(t(-5, 3), "-0.005");
        assert_eq!(t(7, 0), "7");
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let s = AvroSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}"#,
            &[],
        )
        .unwrap();
        assert_eq!(
            s.decode(&[0x04], DecimalFormat::Base64).unwrap(),
            serde_json::json!({"a": 2})
        );
        assert!(
            s.decode(&[], DecimalFormat::Base64)
                .unwrap_err()
                .message
                .contains("not valid Avro")
        );
        assert!(
            s.decode(&[0x04, 0x00], DecimalFormat::Base64)
                .unwrap_err()
                .message
                .contains("1 bytes left")
        );
    }

    /// Regression (found by the `avro` fuzz target): a recursive schema with
    /// data nested a hundred thousand levels deep overflowed the stack inside
    /// apache-avro and aborted the process.
    #[test]
    fn deeply_nested_recursive_data_is_an_error_not_a_stack_overflow() {
        let s = AvroSchema::parse(
            r#"{"type":"record","name":"Nested","fields":[{"name":"x","type":"string"},{"name":"kids","type":{"type":"array","items":"Nested"}}]}"#,
            &[],
        )
        .unwrap();
        // Each level: x = "" (0x00), kids = one item (0x02), then the child.
        let mut bytes = [0x00, 0x02].repeat(100_000);
        bytes.extend(std::iter::repeat_n(0x00, 100_002));
        let err = s.decode(&bytes, DecimalFormat::Base64).unwrap_err();
        assert!(
            err.message.contains("nested deeper than 64 levels"),
            "{err}"
        );
        // Shallow nesting still decodes.
        let ok = [0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(
            s.decode(&ok, DecimalFormat::Base64).unwrap(),
            serde_json::json!({"x": "", "kids": [{"x": "", "kids": [{"x": "", "kids": []}]}]})
        );
    }

    #[test]
    fn a_huge_count_of_zero_byte_items_is_an_error() {
        let s = AvroSchema::parse(r#"{"type":"array","items":"null"}"#, &[]).unwrap();
        // A count of 2^39 nulls in 6 bytes.
        let err = s
            .decode(
                &[0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00],
                DecimalFormat::Base64,
            )
            .unwrap_err();
        assert!(
            err.message.contains("more Avro array or map items"),
            "{err}"
        );
        assert_eq!(
            s.decode(&[0x06, 0x00], DecimalFormat::Base64).unwrap(),
            serde_json::json!([null, null, null])
        );
    }

    #[test]
    fn bad_schemas_are_reported() {
        assert!(
            AvroSchema::parse("{\"type\":\"nope\"}", &[])
                .unwrap_err()
                .reason()
                .starts_with("not a valid Avro schema")
        );
    }
}
