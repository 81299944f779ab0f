//! A DLQ redrive request (`POST /connectors/{name}/dlq/redrive`):
//! which dead letters to replay through the connector.

use super::body;
use crate::{Invalid, invalid};
use serde_json::Value;

/// The most records one request may redrive.
pub const MAX_RECORDS: usize = 100_000;

/// What to redrive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// DLQ partitions (default: all).
    pub partitions: Option<Vec<i32>>,
    /// First DLQ offset (default: after the last redrive, else the start).
    pub from_offset: Option<i64>,
    /// DLQ offset to stop before (default: the end when the request came).
    pub to_offset: Option<i64>,
    /// At most this many records (default and cap [`MAX_RECORDS`]).
    pub max_records: usize,
}

impl Request {
    /// Parses a request body; `{}` redrives everything not redriven yet.
    ///
    /// # Errors
    /// A message naming the field that is wrong.
    pub fn parse(body: &Value) -> Result<Self, Invalid> {
        const FIELDS: [&str; 4] = ["partitions", "from_offset", "to_offset", "max_records"];
        let map = body::object(
            body,
            "the redrive request must be a JSON object",
            &FIELDS,
            &format!("a redrive takes {}", FIELDS.join(", ")),
        )?;
        let offset = |k: &str| -> Result<Option<i64>, Invalid> {
            match map.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .map(Some)
                    .ok_or_else(|| invalid!("{k} must be a whole number, 0 or more")),
            }
        };
        let partitions = body::partitions(map, "partitions", true)?;
        let max_records = match map.get("max_records") {
            None | Some(Value::Null) => MAX_RECORDS,
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| (1..=MAX_RECORDS).contains(n))
                .ok_or_else(|| invalid!("max_records must be in [1,...,{MAX_RECORDS}]"))?,
        };
        let (from_offset, to_offset) = (offset("from_offset")?, offset("to_offset")?);
        if let (Some(f), Some(t)) = (from_offset, to_offset)
            && t < f
        {
            return Err(invalid!("to_offset {t} is before from_offset {f}"));
        }
        Ok(Self {
            partitions,
            from_offset,
            to_offset,
            max_records,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn requests() {
        assert_eq!(
            Request::parse(&json!({})),
            Ok(Request {
                max_records: MAX_RECORDS,
                ..Request::default()
            })
        );
        let r = Request::parse(
            &json!({"partitions": [0], "from_offset": 3, "to_offset": 9, "max_records": 5}),
        )
        .expect("valid");
        assert_eq!(
            (r.from_offset, r.to_offset, r.max_records),
            (Some(3), Some(9), 5)
        );
        for bad in [
            json!([]),
            json!({"from": 1}),
            json!({"from_offset": -1}),
            json!({"from_offset": 5, "to_offset": 2}),
            json!({"partitions": 0}),
            json!({"max_records": 0}),
        ] {
            assert!(Request::parse(&bad).is_err(), "{bad}");
        }
    }
}
