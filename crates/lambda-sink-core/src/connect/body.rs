//! Reading the JSON bodies of lambda-sink's own operator requests (DLQ
//! redrive, moves, replay jobs, orders for parked keys): an object of known
//! fields, and partition numbers, each wrong one named in the error.

use serde_json::{Map, Value};

use crate::{Invalid, invalid};

/// `body` as an object holding only `fields`; otherwise `not_object`, or
/// the unknown field followed by `takes` (what the request takes).
pub(crate) fn object<'a>(
    body: &'a Value,
    not_object: &str,
    fields: &[&str],
    takes: &str,
) -> Result<&'a Map<String, Value>, Invalid> {
    let map = body.as_object().ok_or_else(|| Invalid::new(not_object))?;
    match map.keys().find(|k| !fields.contains(&k.as_str())) {
        Some(k) => Err(invalid!("unknown field {k:?}; {takes}")),
        None => Ok(map),
    }
}

/// A partition number.
pub(crate) fn partition(p: &Value) -> Result<i32, Invalid> {
    p.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| invalid!("partition {p} is not a partition number"))
}

/// `map`'s list of partitions under `key` (absent or null: `None`; an
/// empty list is refused unless `empty_ok`).
pub(crate) fn partitions(
    map: &Map<String, Value>,
    key: &str,
    empty_ok: bool,
) -> Result<Option<Vec<i32>>, Invalid> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) if empty_ok || !items.is_empty() => items
            .iter()
            .map(partition)
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) if empty_ok => Err(invalid!("{key} must be a list, not {other}")),
        Some(other) => Err(invalid!("{key} must be a non-empty list, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_are_objects_of_known_fields_and_partitions_are_numbers() {
        let fields = ["a", "partitions"];
        assert!(object(&json!({"a": 1}), "not an object", &fields, "it takes a").is_ok());
        let e = |r: Result<&Map<String, Value>, Invalid>| r.expect_err("refused").to_string();
        assert_eq!(
            e(object(&json!([1]), "not an object", &fields, "it takes a")),
            "not an object"
        );
        assert_eq!(
            e(object(&json!({"b": 1}), "x", &fields, "it takes a")),
            "unknown field \"b\"; it takes a"
        );
        let map = |v: Value| v.as_object().cloned().expect("object");
        assert_eq!(partitions(&map(json!({})), "partitions", false), Ok(None));
        assert_eq!(
            partitions(&map(json!({"partitions": [0, 3]})), "partitions", false),
            Ok(Some(vec![0, 3]))
        );
        assert_eq!(
            partitions(&map(json!({"partitions": []})), "partitions", true),
            Ok(Some(vec![]))
        );
        for (body, empty_ok, wanted) in [
            (json!({"partitions": []}), false, "must be a non-empty list"),
            (json!({"partitions": 3}), true, "must be a list, not 3"),
            (
                json!({"partitions": [-1]}),
                true,
                "partition -1 is not a partition number",
            ),
            (
                json!({"partitions": ["x"]}),
                false,
                "partition \"x\" is not a partition number",
            ),
        ] {
            let got = partitions(&map(body.clone()), "partitions", empty_ok)
                .expect_err("refused")
                .to_string();
            assert!(got.contains(wanted), "{body}: {got}");
        }
    }
}
