//! What a payload element carries so a function can dedupe and trace: the
//! idempotency key (`aws.lambda.idempotency.key`) and a W3C `traceparent` —
//! the record's, or with OpenTelemetry tracing on the invocation's, written
//! into a slot the element keeps for it — and what the invocation request
//! carries of its trace ([`Carrier`]: `X-Amzn-Trace-Id` in X-Ray form, and
//! the client context).

use crate::record::SourceRecord;
use crate::{Invalid, invalid};

/// Where a record's idempotency key comes from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IdempotencyKey {
    /// No key.
    #[default]
    None,
    /// `<topic>/<partition>/<offset>`: unique per record, the same on every
    /// redelivery.
    Offset,
    /// The value of this header (records without it get none).
    Header(String),
    /// This top-level field of a JSON value (records without it get none).
    Field(String),
}

impl IdempotencyKey {
    /// Parses `none`, `offset`, `header:<name>` or `field:<name>`.
    ///
    /// # Errors
    /// Anything else, saying what is accepted.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let named = |prefix: &str| {
            text.strip_prefix(prefix)
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
        };
        match text.trim() {
            "none" => Ok(Self::None),
            "offset" => Ok(Self::Offset),
            _ => {
                if let Some(name) = named("header:") {
                    Ok(Self::Header(name))
                } else if let Some(name) = named("field:") {
                    Ok(Self::Field(name))
                } else {
                    Err(invalid!(
                        "{text:?} is not a key source; use none, offset (<topic>/<partition>/<offset>), header:<name> or field:<name>"
                    ))
                }
            }
        }
    }

    /// The key of `record`, whose value is `value` as JSON text when it is
    /// JSON.
    pub fn of(&self, record: &SourceRecord, value: Option<&[u8]>) -> Option<String> {
        match self {
            Self::None => None,
            Self::Offset => Some(format!(
                "{}/{}/{}",
                record.topic, record.partition, record.offset
            )),
            Self::Header(name) => record
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_deref())
                .map(|v| String::from_utf8_lossy(v).into_owned()),
            Self::Field(name) => {
                let value: serde_json::Value = serde_json::from_slice(value?).ok()?;
                match value.get(name)? {
                    serde_json::Value::String(s) => Some(s.clone()),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
            }
        }
    }
}

/// The record's W3C `traceparent` header, when it has a valid one
/// (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, ids not all
/// zero).
pub fn traceparent(record: &SourceRecord) -> Option<&str> {
    let (_, value) = record
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("traceparent"))?;
    let text = std::str::from_utf8(value.as_deref()?).ok()?.trim();
    // `vv-<32>-<16>-ff`: fixed positions, checked without allocating (this
    // runs for every record).
    let bytes = text.as_bytes();
    let hex = |range: std::ops::Range<usize>| {
        bytes[range]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let nonzero = |range: std::ops::Range<usize>| bytes[range].iter().any(|&b| b != b'0');
    let valid = bytes.len() == 55
        && [2, 35, 52].iter().all(|&i| bytes[i] == b'-')
        && hex(0..2)
        && &bytes[0..2] != b"ff"
        && hex(3..35)
        && nonzero(3..35)
        && hex(36..52)
        && nonzero(36..52)
        && hex(53..55);
    valid.then_some(text)
}

/// The X-Ray `X-Amzn-Trace-Id` of a valid `traceparent`: the same trace
/// (`Root=1-<first 8 hex>-<last 24 hex>`), its parent, and whether it is
/// sampled — the mapping AWS's OpenTelemetry propagators use.
pub fn xray_trace_id(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.split('-');
    let (_, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1;
    Some(format!(
        "Root=1-{}-{};Parent={parent};Sampled={sampled}",
        trace.get(..8)?,
        trace.get(8..)?
    ))
}

/// The `traceparent` an element is rendered with when the invocation's
/// context is filled in later ([`crate::batch::fill_trace_slots`]): a
/// placeholder of a real one's length, so batch sizes are exact.
pub const TRACEPARENT_SLOT: &str = "00-00000000000000000000000000000000-0000000000000000-00";

/// The record's `tracestate` header, when it has one that is text.
pub fn tracestate(record: &SourceRecord) -> Option<&str> {
    let (_, value) = record
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("tracestate"))?;
    std::str::from_utf8(value.as_deref()?)
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// What an invocation request carries of its trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carrier {
    /// The `X-Amzn-Trace-Id` header.
    pub xray: Option<String>,
    /// The `X-Amz-Client-Context` header: base64 of
    /// `{"custom":{"traceparent":…,"tracestate":…}}`, where OpenTelemetry's
    /// Lambda instrumentations look for a caller's context.
    pub client_context: Option<String>,
}

/// Lambda's limit on the client context (base64 bytes).
const CLIENT_CONTEXT_MAX: usize = 3583;

impl Carrier {
    /// Tracing off: the X-Ray form of the first traced record's
    /// `traceparent`, nothing else.
    pub fn of_records<'a>(mut records: impl Iterator<Item = &'a SourceRecord>) -> Self {
        Self {
            xray: records.find_map(traceparent).and_then(xray_trace_id),
            client_context: None,
        }
    }

    /// Tracing on: the invocation span's context (`traceparent`, a valid
    /// one, and its `tracestate`) as X-Ray id and client context. A
    /// `tracestate` that would take the client context over Lambda's limit
    /// is left out.
    pub fn of_span(traceparent: &str, tracestate: Option<&str>) -> Self {
        use base64::Engine as _;
        let encode = |custom: serde_json::Value| {
            base64::engine::general_purpose::STANDARD
                .encode(serde_json::json!({ "custom": custom }).to_string())
        };
        let mut client_context = encode(serde_json::json!({ "traceparent": traceparent }));
        if let Some(state) = tracestate.filter(|s| !s.is_empty()) {
            let with_state =
                encode(serde_json::json!({ "traceparent": traceparent, "tracestate": state }));
            if with_state.len() <= CLIENT_CONTEXT_MAX {
                client_context = with_state;
            }
        }
        Self {
            xray: xray_trace_id(traceparent),
            client_context: Some(client_context),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn record(headers: Vec<(&str, &str)>) -> SourceRecord {
        SourceRecord {
            topic: Arc::from("orders"),
            partition: 2,
            offset: 41,
            timestamp: None,
            timestamp_type: crate::record::TimestampType::CreateTime,
            key: None,
            value: None,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .collect(),
        }
    }

    #[test]
    fn idempotency_keys() {
        let r = record(vec![("request-id", "r-9")]);
        let value = br#"{"orderId": "o-1", "n": 5}"#;
        let key = |spec: &str| IdempotencyKey::parse(spec).unwrap().of(&r, Some(value));
        assert_eq!(key("none"), None);
        assert_eq!(key("offset").as_deref(), Some("orders/2/41"));
        assert_eq!(key("header:request-id").as_deref(), Some("r-9"));
        assert_eq!(key("header:missing"), None);
        assert_eq!(key("field:orderId").as_deref(), Some("o-1"));
        assert_eq!(key("field:n").as_deref(), Some("5"));
        assert_eq!(
            IdempotencyKey::Field("orderId".into()).of(&r, Some(b"not json")),
            None
        );
        for bad in ["", "header:", "key", "field: "] {
            assert!(IdempotencyKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn traceparent_and_its_xray_form() {
        // The W3C spec's example.
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let r = record(vec![("Traceparent", tp)]);
        assert_eq!(traceparent(&r), Some(tp));
        assert_eq!(
            xray_trace_id(tp).as_deref(),
            Some("Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736x00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "not a traceparent",
        ] {
            assert_eq!(
                traceparent(&record(vec![("traceparent", bad)])),
                None,
                "{bad}"
            );
        }
        assert_eq!(traceparent(&record(vec![])), None);
    }

    #[test]
    fn what_an_invocation_carries() {
        use base64::Engine as _;
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let decoded = |carrier: &Carrier| -> serde_json::Value {
            let text = base64::engine::general_purpose::STANDARD
                .decode(carrier.client_context.as_deref().unwrap())
                .unwrap();
            serde_json::from_slice(&text).unwrap()
        };
        // Tracing off: the first traced record's context, no client context.
        let records = [record(vec![]), record(vec![("traceparent", tp)])];
        assert_eq!(
            Carrier::of_records(records.iter()),
            Carrier {
                xray: xray_trace_id(tp),
                client_context: None
            }
        );
        assert_eq!(
            Carrier::of_records([record(vec![])].iter()),
            Carrier::default()
        );
        // Tracing on: the span's context both ways, its tracestate when it fits.
        let on = Carrier::of_span(tp, Some("vendor=1"));
        assert_eq!(on.xray, xray_trace_id(tp));
        assert_eq!(
            decoded(&on),
            serde_json::json!({"custom": {"traceparent": tp, "tracestate": "vendor=1"}})
        );
        let long = format!("v={}", "x".repeat(3000));
        assert_eq!(
            decoded(&Carrier::of_span(tp, Some(&long))),
            serde_json::json!({"custom": {"traceparent": tp}})
        );
        assert_eq!(TRACEPARENT_SLOT.len(), tp.len());
        assert_eq!(
            tracestate(&record(vec![("TraceState", " a=1 ")])),
            Some("a=1")
        );
        assert_eq!(tracestate(&record(vec![("tracestate", "")])), None);
    }
}
