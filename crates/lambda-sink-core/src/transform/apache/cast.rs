//! Apache's Cast, with Java's number narrowing and `toString` digits.

use crate::{Invalid, invalid};
use serde_json::{Number, Value};

use super::super::props::Props;
use super::super::record::{Built, Part, Record, Transform, not_a_map};

// ── Cast ───────────────────────────────────────────────────────────────

/// A Connect primitive type Cast converts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CastType {
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

pub(crate) fn cast(p: &mut Props, part: Part) -> Built {
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
pub(crate) fn json_f64(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A JSON number written as `f32` prints (Java's `Float.toString` digits).
fn json_f32(f: f32) -> Value {
    serde_json::from_str::<Number>(&format!("{f:?}")).map_or(Value::Null, Value::Number)
}

/// Java's `Double.toString`: shortest digits, `.0` on integers, and
/// computerized scientific notation outside [10⁻³, 10⁷).
pub(crate) fn java_double(d: f64) -> String {
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
fn parse_java_int<T: std::str::FromStr>(s: &str) -> Result<T, Invalid> {
    s.parse::<T>()
        .map_err(|_| invalid!("For input string: \"{s}\""))
}

/// Java's `Double.parseDouble` (which trims whitespace).
fn parse_java_double(s: &str) -> Result<f64, Invalid> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| invalid!("For input string: \"{s}\""))
}

/// Casts one value as `Cast` does: null stays null; numbers narrow like
/// Java's `byteValue()`/`intValue()` (wrapping from integers, saturating
/// from decimals); booleans become 1/0; strings parse strictly.
pub(crate) fn cast_value(value: &Value, to: CastType) -> Result<Value, Invalid> {
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
            return Err(Invalid::new(
                "Cast transformation does not support casting to/from ARRAY",
            ));
        }
        Value::Object(_) => {
            return Err(Invalid::new(
                "Cast transformation does not support casting to/from MAP",
            ));
        }
    };
    // Java's (long) of a double saturates and maps NaN to 0, as Rust's `as`.
    let as_long = |i: &In<'_>| -> Result<i64, Invalid> {
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
        return Err(invalid!(
            "{} cannot be cast to {}: not a finite number",
            value,
            to.name()
        ));
    }
    Ok(out)
}

impl Transform for Cast {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
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
