//! A decoded record through the [`Chain`] to its payload element
//! ([`render`]): the transformed key and value written as the record
//! converter would, or why the record was dropped or failed.

use crate::{Invalid, invalid};
use serde_json::Value;

use super::chain::Chain;
use super::record::{Record, TransformError};
use crate::codec::RecordConverter;
use crate::codec::schemaless;
use crate::record::SourceRecord;

/// What [`render`] made of a record.
#[derive(Debug)]
pub enum Transformed {
    /// The payload element of the transformed record.
    Element(Vec<u8>),
    /// A transform dropped it.
    Dropped,
    /// A transform failed on it.
    Failed(TransformError),
}

/// How [`render`] writes the transformed key and value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rendering<'a> {
    /// `record.converter.class` when the key's input format is schemaless
    /// `JSON` (it renders the key, as it would without transforms); `None`:
    /// the key is written as its JSON.
    pub key: Option<RecordConverter>,
    /// The same for the value.
    pub value: Option<RecordConverter>,
    /// `aws.lambda.payload.include.headers`.
    pub include_headers: bool,
    /// lambda-sink's extra fields of the element.
    pub extras: crate::payload::Extras<'a>,
}

/// Applies `chain` to `source`, whose key and value are decoded to JSON
/// text (`None` = null; a schemaless `JSON` part as the JSON itself, not yet
/// converted), and renders the payload element of the result: its topic
/// (routers may change it), key, value and headers.
pub fn render(
    chain: &Chain,
    source: &SourceRecord,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    rendering: Rendering<'_>,
) -> Transformed {
    let parse = |json: Option<&[u8]>| -> Result<Value, Invalid> {
        json.map_or(Ok(Value::Null), |bytes| {
            serde_json::from_slice(bytes)
                .map_err(|e| invalid!("the decoded record is not JSON: {e}"))
        })
    };
    let decoded = parse(key).and_then(|k| Ok((k, parse(value)?)));
    let (key, value) = match decoded {
        Ok(kv) => kv,
        Err(message) => {
            return Transformed::Failed(TransformError {
                class: "lambda-sink",
                alias: String::new(),
                message: message.into(),
            });
        }
    };
    let record = match chain.apply(Record::new(source, key, value)) {
        Ok(Some(r)) => r,
        Ok(None) => return Transformed::Dropped,
        Err(e) => return Transformed::Failed(e),
    };
    let text = |v: &Value, converter: Option<RecordConverter>| {
        (!v.is_null()).then(|| match converter {
            Some(c) => schemaless::convert(c, v),
            None => v.to_string().into_bytes(),
        })
    };
    let key = text(&record.key, rendering.key);
    let value = text(&record.value, rendering.value);
    let shown = SourceRecord {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        timestamp_type: source.timestamp_type,
        key: None,
        value: None,
        headers: record.headers,
    };
    Transformed::Element(crate::payload::render_element_with(
        &shown,
        key.as_deref(),
        value.as_deref(),
        rendering.include_headers,
        &rendering.extras,
    ))
}
