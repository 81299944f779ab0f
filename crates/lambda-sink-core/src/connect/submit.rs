//! The rules for a connector configuration submitted to `serve` (Kafka
//! Connect's, where Connect has them): values as strings, the name as the
//! URL gives it ([`submitted`]), a patch merged into the stored config
//! ([`merge_patch`]), a masked secret sent back unchanged keeping the
//! stored value ([`keep_hidden`]), and an identical config changing
//! nothing ([`same`]).

use crate::{Invalid, invalid};
use serde_json::{Value, json};

use super::infos::HIDDEN;
use super::records::Props;

/// A submitted config map for connector `name`: string values (numbers
/// and booleans are kept as their text, as Connect coerces them), `name`
/// checked against the URL's and added when absent.
///
/// # Errors
/// What is wrong, in Connect's words where it has them.
pub fn submitted(value: Value, name: &str) -> Result<Props, Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::new(
            "the connector configuration must be a JSON object of string values",
        ));
    };
    let mut out = Props::new();
    let mut bad = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(_) => {
                out.insert(k, v);
            }
            Value::Number(n) => {
                out.insert(k, json!(n.to_string()));
            }
            Value::Bool(b) => {
                out.insert(k, json!(b.to_string()));
            }
            Value::Null => bad.push(format!(
                "{k}: Null value can not be supplied as the configuration value."
            )),
            other => bad.push(format!(
                "{k}: must be a string, not {}",
                if other.is_array() {
                    "an array"
                } else {
                    "an object"
                }
            )),
        }
    }
    if !bad.is_empty() {
        return Err(invalid!(
            "the connector configuration has {} value(s) that are not strings:\n{}",
            bad.len(),
            bad.join("\n")
        ));
    }
    match out.get("name").and_then(Value::as_str) {
        Some(given) if given != name => {
            return Err(invalid!(
                "Connector name configuration ({given}) doesn't match connector name in the URL ({name})"
            ));
        }
        Some(_) => {}
        None => {
            out.insert("name".into(), json!(name));
        }
    }
    Ok(out)
}

/// `stored` with `patch` merged in (JSON merge patch, RFC 7396, one
/// level): a key set replaces, a key set to null is removed.
pub fn merge_patch(stored: &Props, patch: Props) -> Value {
    let mut merged = stored.clone();
    for (k, v) in patch {
        if v.is_null() {
            merged.remove(&k);
        } else {
            merged.insert(k, v);
        }
    }
    Value::Object(merged)
}

/// A masked secret sent back unchanged (a client that read the config and
/// PUTs it again) keeps the stored value.
pub fn keep_hidden(new: &mut Props, stored: Option<&Props>) {
    let Some(stored) = stored else { return };
    for (k, v) in new.iter_mut() {
        if v.as_str() == Some(HIDDEN)
            && let Some(value) = stored.get(k)
        {
            *v = value.clone();
        }
    }
}

/// Whether two configs have the same keys and values, in any order.
pub fn same(a: &Props, b: &Props) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> Props {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn submitted_configs_are_strings_named_by_the_url() {
        // (submitted, URL name, result or the error's start)
        let cases: Vec<(Value, &str, Result<Value, &str>)> = vec![
            (
                json!({"tasks.max": 2, "flag": true, "topics": "t"}),
                "a",
                Ok(json!({"tasks.max": "2", "flag": "true", "topics": "t", "name": "a"})),
            ),
            (json!({"name": "a"}), "a", Ok(json!({"name": "a"}))),
            (
                json!({"name": "b"}),
                "a",
                Err("Connector name configuration (b) doesn't match connector name in the URL (a)"),
            ),
            (
                json!({"x": null, "y": [1]}),
                "a",
                Err(
                    "the connector configuration has 2 value(s) that are not strings:\nx: Null value",
                ),
            ),
            (
                json!([1]),
                "a",
                Err("the connector configuration must be a JSON object"),
            ),
        ];
        for (value, name, expected) in cases {
            let got = submitted(value.clone(), name);
            match (got, expected) {
                (Ok(p), Ok(e)) => assert_eq!(Value::Object(p), e, "{value}"),
                (Err(m), Err(e)) => assert!(m.reason().starts_with(e), "{value}: {m}"),
                (got, e) => panic!("{value}: {got:?}, expected {e:?}"),
            }
        }
    }

    #[test]
    fn a_patch_sets_and_removes_keys() {
        let stored = props(json!({"a": "1", "b": "2", "name": "c"}));
        let merged = merge_patch(&stored, props(json!({"a": "9", "b": null, "d": "4"})));
        assert_eq!(merged, json!({"a": "9", "d": "4", "name": "c"}));
    }

    #[test]
    fn hidden_secrets_round_trip_and_identical_configs_are_the_same() {
        let stored = props(json!({"aws.secret.access.key": "s3cr3t", "topics": "t"}));
        let mut sent = props(json!({"aws.secret.access.key": HIDDEN, "topics": "t"}));
        keep_hidden(&mut sent, Some(&stored));
        assert_eq!(sent["aws.secret.access.key"], "s3cr3t");
        assert!(same(&sent, &stored));
        let mut new = props(json!({"aws.secret.access.key": HIDDEN}));
        keep_hidden(&mut new, None);
        assert_eq!(
            new["aws.secret.access.key"], HIDDEN,
            "nothing stored to keep"
        );
        assert!(!same(&new, &stored));
        let reordered = props(json!({"topics": "t", "aws.secret.access.key": "s3cr3t"}));
        assert!(same(&reordered, &stored));
    }
}
