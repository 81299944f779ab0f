//! The Lambda request element of one record (SPEC §3):
//! `{"payload": {"timestamp", "topic", "partition", "offset", "key", "value"[, "headers"]}}`.
//!
//! Elements are rendered once, straight to bytes, so a batch's request size
//! is known exactly before the request is built.

use std::io::Write;

use base64::Engine;

use crate::codec::schemaless::write_json_string;
use crate::record::SourceRecord;

/// Renders the element of `record`, whose key and value have already been
/// decoded to JSON text (`None` = null). Written straight into one buffer:
/// no temporary per number or string (this runs for every record).
pub fn render_element(
    record: &SourceRecord,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    include_headers: bool,
) -> Vec<u8> {
    render_element_with(record, key, value, include_headers, &Extras::default())
}

/// [`render_element`] with lambda-sink's extra fields in `payload`.
pub fn render_element_with(
    record: &SourceRecord,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    include_headers: bool,
    extras: &Extras<'_>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        96 + record.topic.len() + key.map_or(4, <[u8]>::len) + value.map_or(4, <[u8]>::len),
    );
    // Writing to a Vec cannot fail.
    out.extend_from_slice(b"{\"payload\":{\"timestamp\":");
    match record.timestamp {
        Some(ts) => {
            let _ = write!(out, "{ts}");
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"topic\":");
    write_json_string(&mut out, &record.topic);
    let _ = write!(
        out,
        ",\"partition\":{},\"offset\":{}",
        record.partition, record.offset
    );
    out.extend_from_slice(b",\"key\":");
    out.extend_from_slice(key.unwrap_or(b"null"));
    out.extend_from_slice(b",\"value\":");
    out.extend_from_slice(value.unwrap_or(b"null"));
    if include_headers {
        out.extend_from_slice(b",\"headers\":[");
        for (i, (k, v)) in record.headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"key\":");
            write_json_string(&mut out, k);
            out.extend_from_slice(b",\"value\":");
            match v {
                None => out.extend_from_slice(b"null"),
                Some(bytes) => match std::str::from_utf8(bytes) {
                    Ok(text) => write_json_string(&mut out, text),
                    Err(_) => write_json_string(
                        &mut out,
                        &base64::engine::general_purpose::STANDARD.encode(bytes),
                    ),
                },
            }
            out.push(b'}');
        }
        out.push(b']');
    }
    extras.write(&mut out);
    out.extend_from_slice(b"}}");
    out
}

/// Fields lambda-sink adds to an element (ext) so a function can dedupe
/// and trace: `idempotencyKey` (`aws.lambda.idempotency.key`) and the
/// record's W3C `traceparent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extras<'a> {
    /// The record's idempotency key.
    pub idempotency_key: Option<&'a str>,
    /// The record's `traceparent` header.
    pub traceparent: Option<&'a str>,
}

impl Extras<'_> {
    /// Writes the fields as `,"name":"value"` members of the object being
    /// rendered into `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        for (name, value) in [
            ("idempotencyKey", self.idempotency_key),
            ("traceparent", self.traceparent),
        ] {
            if let Some(value) = value {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b"\":");
                write_json_string(out, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Arc;

    fn record() -> SourceRecord {
        SourceRecord {
            topic: Arc::from("my\"topic"),
            partition: 1,
            offset: 43822,
            timestamp: Some(1_562_844_607_000),
            timestamp_type: crate::record::TimestampType::CreateTime,
            key: Some(b"mykey".to_vec()),
            value: Some(b"{}".to_vec()),
            headers: vec![
                ("trace".into(), Some(b"abc".to_vec())),
                ("bin".into(), Some(vec![0xff, 0x00])),
                ("none".into(), None),
            ],
        }
    }

    #[test]
    fn confluent_shape() {
        let e = render_element(
            &record(),
            Some(br#""bXlrZXk=""#),
            Some(br#"{"a":1,"b":1}"#),
            false,
        );
        let v: Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(
            v,
            json!({"payload": {"timestamp": 1_562_844_607_000_i64, "topic": "my\"topic", "partition": 1,
                               "offset": 43822, "key": "bXlrZXk=", "value": {"a": 1, "b": 1}}})
        );
    }

    #[test]
    fn nulls_and_headers() {
        let mut r = record();
        r.timestamp = None;
        let e = render_element(&r, None, None, true);
        let v: Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["payload"]["timestamp"], Value::Null);
        assert_eq!(v["payload"]["key"], Value::Null);
        assert_eq!(v["payload"]["value"], Value::Null);
        assert_eq!(
            v["payload"]["headers"],
            json!([{"key": "trace", "value": "abc"}, {"key": "bin", "value": "/wA="}, {"key": "none", "value": null}])
        );
    }

    #[test]
    fn extras_go_inside_payload() {
        let extras = Extras {
            idempotency_key: Some("my\"topic/1/43822"),
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        };
        let e = render_element_with(&record(), None, Some(b"1"), false, &extras);
        let v: Value = serde_json::from_slice(&e).unwrap();
        assert_eq!(v["payload"]["idempotencyKey"], "my\"topic/1/43822");
        assert_eq!(
            v["payload"]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(
            render_element_with(&record(), None, Some(b"1"), false, &Extras::default()),
            render_element(&record(), None, Some(b"1"), false),
            "no extras, no fields"
        );
    }
}
