//! Reading a configuration file into an ordered list of raw `key = value` entries.
//!
//! Three shapes are accepted, detected from the content:
//! 1. a flat JSON object (what `confluent connect create --config` takes);
//! 2. `{"name": "...", "config": {...}}` (the Kafka Connect REST shape);
//! 3. a Java `.properties` file (Kafka Connect standalone).
//!
//! Duplicate keys are kept, in file order, so that validation can tell the
//! user about them (same value: warning; different values: error) instead of
//! silently keeping the last one as most JSON parsers do.

use crate::{Invalid, invalid};
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One `key = value` as written. `value` is `None` for a JSON `null`, which
/// means "use the default".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// The key as written.
    pub key: String,
    /// The value as text (`20` and `"20"` both become `"20"`).
    pub value: Option<String>,
}

/// The entries of a configuration file, in file order, duplicates included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawConfig {
    /// Entries in file order.
    pub entries: Vec<RawEntry>,
}

impl RawConfig {
    /// Builds a raw config from `(key, value)` pairs (tests, programmatic use).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            entries: pairs
                .into_iter()
                .map(|(k, v)| RawEntry {
                    key: k.to_string(),
                    value: Some(v.to_string()),
                })
                .collect(),
        }
    }
}

/// Why a configuration file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid JSON (it starts with `{`).
    #[error("{path} is not valid JSON: {message}")]
    Json {
        /// The file.
        path: String,
        /// serde_json's message, with line and column.
        message: String,
    },
    /// The file is not a valid `.properties` file.
    #[error("{path} is not a valid .properties file: {message}")]
    Properties {
        /// The file.
        path: String,
        /// What is wrong, with the line number.
        message: String,
    },
    /// The content has the wrong shape.
    #[error("{path}: {message}")]
    Shape {
        /// The file.
        path: String,
        /// What is wrong and which shapes are accepted.
        message: String,
    },
}

const SHAPES: &str = "expected a JSON object of properties, {\"name\": ..., \"config\": {...}}, \
                      or a .properties file of key=value lines";

/// Reads and parses the configuration file at `path`.
///
/// # Errors
/// [`SourceError`] when the file cannot be read or has no accepted shape.
pub fn load(path: &Path) -> Result<RawConfig, SourceError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SourceError::Io {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// Parses configuration text; `origin` names it in error messages.
///
/// # Errors
/// [`SourceError`] when the text has no accepted shape.
pub fn parse(text: &str, origin: &str) -> Result<RawConfig, SourceError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.is_empty() {
        return Err(SourceError::Shape {
            path: origin.into(),
            message: format!("the file is empty; {SHAPES}"),
        });
    }
    if trimmed.starts_with('{') {
        parse_json(trimmed, origin)
    } else if trimmed.starts_with('[') {
        Err(SourceError::Shape {
            path: origin.into(),
            message: format!("a JSON array is not a configuration; {SHAPES}"),
        })
    } else {
        parse_properties(text, origin)
    }
}

fn parse_json(text: &str, origin: &str) -> Result<RawConfig, SourceError> {
    let shape_error = |message: Invalid| SourceError::Shape {
        path: origin.into(),
        message: message.into(),
    };
    let top: Node = serde_json::from_str(text).map_err(|e| SourceError::Json {
        path: origin.into(),
        message: e.to_string(),
    })?;
    let Node::Object(top) = top else {
        return Err(shape_error(invalid!(
            "the top level is not an object; {SHAPES}"
        )));
    };
    let config = top.iter().find_map(|(k, v)| match v {
        Node::Object(inner) if k == "config" => Some(inner),
        _ => None,
    });
    let mut entries = Vec::new();
    match config {
        None => flatten_scalars(&top, "", &mut entries).map_err(shape_error)?,
        Some(inner) => {
            // Kafka Connect REST shape. `tasks` and `type` appear in the
            // output of GET /connectors/<name>, which users save and reuse.
            for (key, value) in &top {
                match key.as_str() {
                    "config" | "tasks" | "type" => {}
                    "name" => entries.push(RawEntry {
                        key: "name".into(),
                        value: scalar(value).map_err(|kind| {
                            shape_error(invalid!("\"name\" must be a string, not {kind}"))
                        })?,
                    }),
                    other => {
                        return Err(shape_error(invalid!(
                            "unexpected top-level key \"{other}\" next to \"config\"; \
                             the Kafka Connect shape has only \"name\" and \"config\""
                        )));
                    }
                }
            }
            flatten_scalars(inner, "config.", &mut entries).map_err(shape_error)?;
        }
    }
    Ok(RawConfig { entries })
}

fn flatten_scalars(
    object: &[(String, Node)],
    context: &str,
    out: &mut Vec<RawEntry>,
) -> Result<(), Invalid> {
    for (key, value) in object {
        let value = scalar(value).map_err(|kind| {
            invalid!(
                "\"{context}{key}\" is {kind}; property values must be strings, numbers or booleans"
            )
        })?;
        out.push(RawEntry {
            key: key.clone(),
            value,
        });
    }
    Ok(())
}

fn scalar(node: &Node) -> Result<Option<String>, &'static str> {
    match node {
        Node::Scalar(v) => Ok(v.clone()),
        Node::Object(_) => Err("an object"),
        Node::Array => Err("an array"),
    }
}

/// A JSON value that keeps objects as ordered lists of entries, duplicates included.
enum Node {
    Scalar(Option<String>),
    Object(Vec<(String, Node)>),
    Array,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(Some(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Node::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Node>()? {
            entries.push((k, v));
        }
        Ok(Node::Object(entries))
    }
}

fn parse_properties(text: &str, origin: &str) -> Result<RawConfig, SourceError> {
    let mut entries = Vec::new();
    for line in java_properties::PropertiesIter::new(text.as_bytes()) {
        let line = line.map_err(|e| SourceError::Properties {
            path: origin.into(),
            message: e.to_string(),
        })?;
        if let java_properties::LineContent::KVPair(key, value) = line.consume_content() {
            entries.push(RawEntry {
                key,
                value: Some(value),
            });
        }
    }
    if entries.is_empty() {
        return Err(SourceError::Shape {
            path: origin.into(),
            message: format!("no properties found; {SHAPES}"),
        });
    }
    Ok(RawConfig { entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(raw: &RawConfig) -> Vec<(&str, Option<&str>)> {
        raw.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_deref()))
            .collect()
    }

    #[test]
    fn flat_json_with_strings_numbers_booleans_null_and_duplicates() {
        let raw = parse(
            r#"{"name": "s", "tasks.max": 2, "aws.lambda.payload.include.headers": true,
                "x": null, "name": "t"}"#,
            "f.json",
        )
        .unwrap();
        assert_eq!(
            pairs(&raw),
            [
                ("name", Some("s")),
                ("tasks.max", Some("2")),
                ("aws.lambda.payload.include.headers", Some("true")),
                ("x", None),
                ("name", Some("t")),
            ]
        );
    }

    #[test]
    fn rest_shape_puts_name_first_and_keeps_config_order() {
        let raw = parse(
            r#"{"name": "s", "config": {"topics": "a", "tasks.max": "1"}, "tasks": [], "type": "sink"}"#,
            "f.json",
        )
        .unwrap();
        assert_eq!(
            pairs(&raw),
            [
                ("name", Some("s")),
                ("topics", Some("a")),
                ("tasks.max", Some("1"))
            ]
        );
    }

    #[test]
    fn properties_file_with_comments_continuations_and_escapes() {
        let raw = parse(
            "# a comment\n! another\nname = s\ntopics: a,\\\n  b\naws.lambda.endpoint=http\\://x\n",
            "f.properties",
        )
        .unwrap();
        assert_eq!(
            pairs(&raw),
            [
                ("name", Some("s")),
                ("topics", Some("a,b")),
                ("aws.lambda.endpoint", Some("http://x")),
            ]
        );
    }

    #[test]
    fn shape_errors_are_explained() {
        let err = |text: &str| parse(text, "f").unwrap_err().to_string();
        assert_eq!(
            err(""),
            "f: the file is empty; expected a JSON object of properties, {\"name\": ..., \"config\": {...}}, or a .properties file of key=value lines"
        );
        assert!(err("[1]").contains("a JSON array is not a configuration"));
        assert!(err("{\"a\": ").starts_with("f is not valid JSON: EOF while parsing"));
        assert_eq!(
            err("{\"topics\": [\"a\"]}"),
            "f: \"topics\" is an array; property values must be strings, numbers or booleans"
        );
        assert_eq!(
            err("{\"config\": {\"x\": {}}}"),
            "f: \"config.x\" is an object; property values must be strings, numbers or booleans"
        );
        assert!(
            err("{\"name\": \"a\", \"config\": {}, \"extra\": 1}")
                .contains("unexpected top-level key \"extra\"")
        );
        assert!(err("# only a comment\n").contains("no properties found"));
    }

    #[test]
    fn load_reports_missing_file() {
        let err = load(Path::new("/nonexistent/lambda-sink.json")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/lambda-sink.json: ")
        );
    }
}
