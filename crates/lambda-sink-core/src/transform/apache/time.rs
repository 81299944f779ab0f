//! Apache's TimestampConverter.

use crate::{Invalid, invalid};
use serde_json::Value;

use super::super::props::Props;
use super::super::record::{Built, Part, Record, Transform, java_class, not_a_map};
use super::super::timefmt::DateFormat;

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

pub(crate) fn timestamp_converter(p: &mut Props, part: Part) -> Built {
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
    fn millis(&self, value: &Value) -> Result<i64, Invalid> {
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
                    return Err(Invalid::new(
                        "TimestampConverter requires format option to be specified when using string timestamps",
                    ));
                };
                format.parse_millis(s).map_err(|e| {
                    invalid!(
                        "Could not parse timestamp: value ({s}) does not match pattern ({}): {e}",
                        format.pattern()
                    )
                })
            }
            other => Err(invalid!(
                "TimestampConverter does not support class {} objects as timestamps",
                java_class(other)
            )),
        }
    }

    fn convert(&self, value: &Value) -> Result<Value, Invalid> {
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
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
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
