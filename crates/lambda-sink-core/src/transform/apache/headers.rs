//! Apache's header transforms: InsertHeader, DropHeaders, HeaderFrom.

use crate::Invalid;
use std::collections::BTreeSet;

use serde_json::Value;

use super::super::props::Props;
use super::super::record::{Built, Part, Record, Transform, not_a_map};

// ── Headers ────────────────────────────────────────────────────────────

/// A header value from a field: text as its UTF-8 bytes, null as a null
/// header, anything else as its JSON text.
pub(crate) fn header_bytes(value: &Value) -> Option<Vec<u8>> {
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

pub(crate) fn insert_header(p: &mut Props, _: Part) -> Built {
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
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
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

pub(crate) fn drop_headers(p: &mut Props, _: Part) -> Built {
    Some(Box::new(DropHeaders {
        headers: p.required_list("headers")?.into_iter().collect(),
    }))
}

impl Transform for DropHeaders {
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
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

pub(crate) fn header_from(p: &mut Props, part: Part) -> Built {
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
    fn apply(&self, mut record: Record) -> Result<Option<Record>, Invalid> {
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
