//! Event filtering as AWS's Kafka event source mapping does it
//! (`FilterCriteria`, `aws.lambda.filter.criteria`): EventBridge-style
//! patterns matched against each record's metadata and decoded `value`;
//! a record no pattern matches is resolved without an invocation.
//!
//! The grammar is Lambda's documented operator table (docs/esm.md lists the
//! sources): exact values (strings, numbers, `null`, `""`),
//! `equals-ignore-case`, `anything-but`, `numeric` (`=`, `<`, `<=`, `>`,
//! `>=`, one or two comparisons), `exists`, `prefix`, `suffix`, and `$or`;
//! keys are ANDed, the rules of a key and the patterns of the criteria are
//! ORed. As Lambda says, numbers match by their text (`300` is not `300.0`),
//! matching is exact (no case folding), and `exists` works on leaves.
//!
//! The event a pattern sees, as ESM builds it for Kafka: `topic`,
//! `partition`, `offset`, `timestamp`, `timestampType`, and `value` — the
//! record's value decoded as UTF-8, parsed as JSON when it is JSON, else the
//! plain string; left out when it is not UTF-8 (or a tombstone). Following
//! AWS's table, a JSON pattern on a plain-string value, or a plain-string
//! pattern on a JSON value, does not match. Operators outside Lambda's table
//! (`wildcard`, `cidr`, `anything-but` with `prefix`, …) are configuration
//! errors, as Lambda rejects them.

use crate::{Invalid, invalid};
use serde_json::{Map, Value};

use crate::record::{SourceRecord, TimestampType};

/// At most this many patterns (Lambda's quota can be raised to 10).
pub const MAX_FILTERS: usize = 10;
/// Longest pattern text Lambda accepts.
pub const MAX_PATTERN_CHARS: usize = 4096;

/// The configured patterns; a record passes when any matches.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterCriteria {
    patterns: Vec<Pattern>,
}

/// One pattern: every key must match.
#[derive(Clone, Debug, PartialEq)]
struct Pattern {
    fields: Vec<(String, Node)>,
    /// `$or`: one of these must match too.
    any_of: Vec<Vec<Pattern>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    /// A nested object of the event.
    Object(Pattern),
    /// A leaf: one of these rules must match.
    Rules(Vec<Rule>),
}

#[derive(Clone, Debug, PartialEq)]
enum Rule {
    /// An exact JSON value (strings, numbers by their text, booleans, null).
    Exact(Value),
    /// Lowercased.
    EqualsIgnoreCase(String),
    AnythingBut(Vec<Value>),
    Numeric(Vec<(Cmp, f64)>),
    Exists(bool),
    Prefix(String),
    Suffix(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl FilterCriteria {
    /// Parses `aws.lambda.filter.criteria`: ESM's own
    /// `{"Filters": [{"Pattern": "<pattern JSON>"}]}` (as the CLI and
    /// CloudFormation take it), or one pattern object.
    ///
    /// # Errors
    /// What is wrong, naming the filter and the key.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let root: Value = serde_json::from_str(text).map_err(|e| invalid!("is not JSON: {e}"))?;
        let texts: Vec<Value> = match root {
            Value::Object(ref o) if o.contains_key("Filters") => {
                let Some(Value::Array(filters)) = o.get("Filters") else {
                    return Err(Invalid::new(
                        "Filters must be a list of {\"Pattern\": \"...\"}",
                    ));
                };
                if o.len() > 1 {
                    return Err(Invalid::new("only Filters is expected at the top level"));
                }
                filters
                    .iter()
                    .enumerate()
                    .map(|(i, f)| match f.get("Pattern") {
                        Some(Value::String(p)) => {
                            if p.chars().count() > MAX_PATTERN_CHARS {
                                return Err(invalid!(
                                    "Filters[{i}].Pattern is longer than {MAX_PATTERN_CHARS} characters"
                                ));
                            }
                            serde_json::from_str(p)
                                .map_err(|e| invalid!("Filters[{i}].Pattern is not JSON: {e}"))
                        }
                        _ => Err(invalid!(
                            "Filters[{i}] must be {{\"Pattern\": \"<pattern as a JSON string>\"}}"
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            pattern @ Value::Object(_) => vec![pattern],
            _ => {
                return Err(Invalid::new(
                    "must be {\"Filters\": [{\"Pattern\": \"...\"}]} or one pattern object",
                ));
            }
        };
        if texts.is_empty() {
            return Err(Invalid::new(
                "Filters is empty: set at least one pattern, or remove the property",
            ));
        }
        if texts.len() > MAX_FILTERS {
            return Err(invalid!(
                "has {} filters; at most {MAX_FILTERS}",
                texts.len()
            ));
        }
        let patterns = texts
            .iter()
            .enumerate()
            .map(|(i, p)| pattern(p, &format!("Filters[{i}]")))
            .collect::<Result<_, _>>()?;
        Ok(Self { patterns })
    }

    /// Whether any pattern is configured.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `record` passes: no patterns, or one matches its event.
    pub fn passes(&self, record: &SourceRecord, value: Option<&[u8]>) -> bool {
        if self.patterns.is_empty() {
            return true;
        }
        let event = event(record, value);
        self.patterns.iter().any(|p| p.matches(&event))
    }
}

/// The event a pattern is matched against (see the module documentation).
fn event(record: &SourceRecord, value: Option<&[u8]>) -> Map<String, Value> {
    let mut event = Map::new();
    event.insert("topic".into(), Value::from(&*record.topic));
    event.insert("partition".into(), Value::from(record.partition));
    event.insert("offset".into(), Value::from(record.offset));
    if let Some(ts) = record.timestamp {
        event.insert("timestamp".into(), Value::from(ts));
        let kind = match record.timestamp_type {
            TimestampType::CreateTime => "CREATE_TIME",
            TimestampType::LogAppendTime => "LOG_APPEND_TIME",
        };
        event.insert("timestampType".into(), Value::from(kind));
    }
    if let Some(text) = value.and_then(|v| std::str::from_utf8(v).ok()) {
        let decoded = serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
        event.insert("value".into(), decoded);
    }
    event
}

fn pattern(p: &Value, at: &str) -> Result<Pattern, Invalid> {
    let Value::Object(map) = p else {
        return Err(invalid!("{at}: a pattern is a JSON object, not {p}"));
    };
    let mut fields = Vec::new();
    let mut any_of = Vec::new();
    for (key, node) in map {
        let here = format!("{at}.{key}");
        if key == "$or" {
            let Value::Array(alternatives) = node else {
                return Err(invalid!("{here}: $or takes a list of patterns"));
            };
            if alternatives.len() < 2 {
                return Err(invalid!("{here}: $or needs at least two patterns"));
            }
            any_of.push(
                alternatives
                    .iter()
                    .enumerate()
                    .map(|(i, a)| pattern(a, &format!("{here}[{i}]")))
                    .collect::<Result<_, _>>()?,
            );
            continue;
        }
        let node = match node {
            Value::Object(_) => Node::Object(pattern(node, &here)?),
            Value::Array(rules) => {
                if rules.is_empty() {
                    return Err(invalid!("{here}: an empty list matches nothing"));
                }
                Node::Rules(
                    rules
                        .iter()
                        .map(|r| rule(r, &here))
                        .collect::<Result<_, _>>()?,
                )
            }
            other => {
                return Err(invalid!(
                    "{here}: match values go in a list, e.g. [{other}]"
                ));
            }
        };
        fields.push((key.clone(), node));
    }
    Ok(Pattern { fields, any_of })
}

fn rule(r: &Value, at: &str) -> Result<Rule, Invalid> {
    let Value::Object(op) = r else {
        return match r {
            Value::Array(_) => Err(invalid!("{at}: a list inside a list is not a rule")),
            exact => Ok(Rule::Exact(exact.clone())),
        };
    };
    let (name, arg) = match op.iter().next() {
        Some(one) if op.len() == 1 => one,
        _ => {
            return Err(invalid!(
                "{at}: a rule object has exactly one operator, not {r}"
            ));
        }
    };
    let text = |what: &str| match arg {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid!("{at}: {what} takes a string, not {other}")),
    };
    Ok(match name.as_str() {
        "prefix" => Rule::Prefix(text("prefix")?),
        "suffix" => Rule::Suffix(text("suffix")?),
        // Folded once here, not for every record.
        "equals-ignore-case" => Rule::EqualsIgnoreCase(text("equals-ignore-case")?.to_lowercase()),
        "exists" => match arg {
            Value::Bool(b) => Rule::Exists(*b),
            other => return Err(invalid!("{at}: exists takes true or false, not {other}")),
        },
        "anything-but" => match arg {
            Value::Array(values) if values.iter().all(|v| v.is_string() || v.is_number()) => {
                Rule::AnythingBut(values.clone())
            }
            v @ (Value::String(_) | Value::Number(_)) => Rule::AnythingBut(vec![v.clone()]),
            other => {
                return Err(invalid!(
                    "{at}: anything-but takes a string, a number or a list of them (Lambda does not support {other})"
                ));
            }
        },
        "numeric" => Rule::Numeric(numeric(arg, at)?),
        other => {
            return Err(invalid!(
                "{at}: {other:?} is not an operator Lambda's event filtering supports; supported: prefix, suffix, equals-ignore-case, anything-but, numeric, exists"
            ));
        }
    })
}

fn numeric(arg: &Value, at: &str) -> Result<Vec<(Cmp, f64)>, Invalid> {
    let bad = || {
        invalid!(
            "{at}: numeric takes [op, number] or [op, number, op, number] with op one of =, <, <=, >, >=, not {arg}"
        )
    };
    let Value::Array(items) = arg else {
        return Err(bad());
    };
    if !(items.len() == 2 || items.len() == 4) {
        return Err(bad());
    }
    items
        .chunks(2)
        .map(|pair| {
            let cmp = match pair[0].as_str() {
                Some("=") => Cmp::Eq,
                Some("<") => Cmp::Lt,
                Some("<=") => Cmp::Le,
                Some(">") => Cmp::Gt,
                Some(">=") => Cmp::Ge,
                _ => return Err(bad()),
            };
            let n = pair[1].as_f64().ok_or_else(bad)?;
            Ok((cmp, n))
        })
        .collect()
}

impl Pattern {
    fn matches(&self, event: &Map<String, Value>) -> bool {
        self.fields.iter().all(|(key, node)| match node {
            Node::Object(inner) => match event.get(key) {
                Some(Value::Object(nested)) => inner.matches(nested),
                _ => false,
            },
            Node::Rules(rules) => rules.iter().any(|r| r.matches(event.get(key))),
        }) && self
            .any_of
            .iter()
            .all(|alternatives| alternatives.iter().any(|p| p.matches(event)))
    }
}

impl Rule {
    /// Whether the rule holds for the event's `field` (`None`: absent).
    fn matches(&self, field: Option<&Value>) -> bool {
        match (self, field) {
            (Self::Exists(wanted), f) => {
                // Leaves only: an object is not a leaf.
                let exists = f.is_some_and(|v| !v.is_object());
                exists == *wanted
            }
            // A list in the event matches when one of its elements does.
            (rule, Some(Value::Array(items))) => items.iter().any(|i| rule.matches(Some(i))),
            (_, None | Some(Value::Object(_))) => false,
            (Self::Exact(want), Some(have)) => exact(want, have),
            (Self::EqualsIgnoreCase(folded), Some(Value::String(have))) => {
                have.to_lowercase() == *folded
            }
            (Self::Prefix(p), Some(Value::String(have))) => have.starts_with(p.as_str()),
            (Self::Suffix(s), Some(Value::String(have))) => have.ends_with(s.as_str()),
            (Self::AnythingBut(excluded), Some(have)) => {
                (have.is_string() || have.is_number()) && !excluded.iter().any(|e| exact(e, have))
            }
            (Self::Numeric(conditions), Some(Value::Number(n))) => n.as_f64().is_some_and(|n| {
                conditions.iter().all(|(cmp, bound)| match cmp {
                    Cmp::Eq => n == *bound,
                    Cmp::Lt => n < *bound,
                    Cmp::Le => n <= *bound,
                    Cmp::Gt => n > *bound,
                    Cmp::Ge => n >= *bound,
                })
            }),
            _ => false,
        }
    }
}

/// Exact equality, numbers by their text as Lambda compares them: with the
/// workspace's `arbitrary_precision` a JSON number is its text, so `==` is
/// that comparison (`300` is not `300.0`; tested below).
fn exact(want: &Value, have: &Value) -> bool {
    want == have
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn record() -> SourceRecord {
        SourceRecord {
            topic: Arc::from("orders"),
            partition: 0,
            offset: 7,
            timestamp: Some(1_700_000_000_000),
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: None,
            headers: vec![],
        }
    }

    /// Whether `pattern` (one filter) lets a record with `value` through.
    fn passes(pattern: Value, value: &str) -> bool {
        FilterCriteria::parse(&pattern.to_string())
            .unwrap()
            .passes(&record(), Some(value.as_bytes()))
    }

    /// One operator, from Lambda's table (invocation-eventfiltering.html):
    /// the rule under `value.<field>`, a value that matches and one that
    /// does not.
    fn operator(field: &str, rule: Value, yes: Value, no: Value) {
        let p = json!({ "value": { field: rule } });
        assert!(
            passes(p.clone(), &json!({ field: yes }).to_string()),
            "{p} on {yes}"
        );
        assert!(
            !passes(p.clone(), &json!({ field: no }).to_string()),
            "{p} on {no}"
        );
    }

    #[test]
    fn every_operator_of_lambdas_table() {
        // Null.
        operator("UserID", json!([null]), json!(null), json!("u-1"));
        // Empty.
        operator("LastName", json!([""]), json!(""), json!("Doe"));
        // Equals.
        operator("Name", json!(["Alice"]), json!("Alice"), json!("alice"));
        // Equals (ignore case).
        operator(
            "Name",
            json!([{"equals-ignore-case": "alice"}]),
            json!("ALICE"),
            json!("Bob"),
        );
        // Or.
        operator(
            "PaymentType",
            json!(["Credit", "Debit"]),
            json!("Debit"),
            json!("Cash"),
        );
        // Not.
        operator(
            "Weather",
            json!([{"anything-but": ["Raining"]}]),
            json!("Sunny"),
            json!("Raining"),
        );
        // Numeric (equals).
        operator(
            "Price",
            json!([{"numeric": ["=", 100]}]),
            json!(100),
            json!(101),
        );
        // Numeric (range).
        operator(
            "Price",
            json!([{"numeric": [">", 10, "<=", 20]}]),
            json!(20),
            json!(10),
        );
        // Begins with.
        operator(
            "Region",
            json!([{"prefix": "us-"}]),
            json!("us-east-1"),
            json!("eu-west-1"),
        );
        // Ends with.
        operator(
            "FileName",
            json!([{"suffix": ".png"}]),
            json!("cat.png"),
            json!("cat.jpg"),
        );
        // Exists / does not exist.
        let exists = json!({"value": {"ProductName": [{"exists": true}]}});
        assert!(passes(exists.clone(), r#"{"ProductName": "x"}"#));
        assert!(!passes(exists, r#"{"Other": "x"}"#));
        let absent = json!({"value": {"ProductName": [{"exists": false}]}});
        assert!(passes(absent.clone(), r#"{"Other": "x"}"#));
        assert!(!passes(absent, r#"{"ProductName": "x"}"#));
        // And.
        let and = json!({"value": {"Location": ["New York"], "Day": ["Monday"]}});
        assert!(passes(
            and.clone(),
            r#"{"Location": "New York", "Day": "Monday"}"#
        ));
        assert!(!passes(
            and,
            r#"{"Location": "New York", "Day": "Tuesday"}"#
        ));
        // Or (multiple fields).
        let or = json!({"value": {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}});
        assert!(passes(
            or.clone(),
            r#"{"Location": "Boston", "Day": "Monday"}"#
        ));
        assert!(!passes(or, r#"{"Location": "Boston", "Day": "Tuesday"}"#));
    }

    #[test]
    fn lambdas_notes_on_numbers_strings_and_kafka_values() {
        // "300, 300.0, and 3.0e2 are not considered equal."
        operator(
            "n",
            json!([300]),
            json!(300),
            serde_json::from_str("300.0").unwrap(),
        );
        // AWS's plain-string patterns on a plain-string value
        // (kafka-filtering.html): anything-but and prefix on `value`.
        let not_error = json!({"value": [{"anything-but": ["error"]}]});
        assert!(passes(not_error.clone(), "all good"));
        assert!(!passes(not_error, "error"));
        let order = json!({"value": [{"prefix": "OrderNumber"}]});
        assert!(passes(order.clone(), "OrderNumber 42"));
        // A plain-string pattern on a JSON value, and a JSON pattern on a
        // plain string: "filters on the other metadata properties only",
        // so a pattern on `value` does not match.
        assert!(!passes(order, r#"{"OrderNumber": 42}"#));
        assert!(!passes(json!({"value": {"a": [1]}}), "not json"));
        // Metadata, as AWS's sample filters on the topic with the value.
        let topic = json!({"topic": [{"prefix": "ord"}], "value": {"a": [1]}});
        assert!(passes(topic.clone(), r#"{"a": 1}"#));
        assert!(!passes(json!({"topic": ["payments"]}), r#"{"a": 1}"#));
        // A list in the value matches when an element does.
        operator(
            "tags",
            json!(["red"]),
            json!(["blue", "red"]),
            json!(["blue"]),
        );
        // Not UTF-8 (or a tombstone): no `value` to match.
        let c = FilterCriteria::parse(r#"{"value": [{"exists": true}]}"#).unwrap();
        assert!(!c.passes(&record(), Some(&[0xff, 0xfe])));
        assert!(!c.passes(&record(), None));
    }

    #[test]
    fn criteria_are_esms_shape_or_one_pattern_ored() {
        let criteria = json!({"Filters": [
            {"Pattern": json!({"value": {"a": [1]}}).to_string()},
            {"Pattern": json!({"value": {"b": [2]}}).to_string()},
        ]});
        let c = FilterCriteria::parse(&criteria.to_string()).unwrap();
        assert!(c.passes(&record(), Some(br#"{"b": 2}"#)));
        assert!(!c.passes(&record(), Some(br#"{"c": 3}"#)));
        for (bad, says) in [
            ("[1]", "must be"),
            (r#"{"Filters": []}"#, "Filters is empty"),
            (
                r#"{"Filters": [{"Pattern": "{"}]}"#,
                "Filters[0].Pattern is not JSON",
            ),
            (
                r#"{"value": {"ip": [{"cidr": "10.0.0.0/24"}]}}"#,
                "\"cidr\" is not an operator",
            ),
            (
                r#"{"value": {"a": [{"anything-but": {"prefix": "x"}}]}}"#,
                "Lambda does not support",
            ),
            (
                r#"{"value": {"n": [{"numeric": ["~", 1]}]}}"#,
                "numeric takes",
            ),
            (r#"{"value": {"a": "x"}}"#, "match values go in a list"),
            (r#"{"value": {"a": []}}"#, "an empty list matches nothing"),
        ] {
            let e = FilterCriteria::parse(bad).unwrap_err();
            assert!(e.reason().contains(says), "{bad}: {e}");
        }
    }
}
