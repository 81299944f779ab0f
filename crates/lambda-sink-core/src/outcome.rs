//! What is written for a record after an invocation (Confluent's result
//! and error records): mapping a response to per-record results, the error
//! of a failed batch, and their headers.

use serde_json::Value;

use crate::codec::schemaless::json_string;
use crate::config::ReporterValueFormat;
use crate::failure::InvokeFailure;
use crate::record::SourceRecord;

/// The result (or error) value written for a record.
#[derive(Clone, Debug, PartialEq)]
pub enum ResultValue {
    /// JSON.
    Json(Value),
    /// A body that is not JSON.
    Text(String),
}

impl ResultValue {
    /// Parses a body: JSON when it is JSON, text otherwise.
    pub fn from_body(body: &[u8]) -> Self {
        match serde_json::from_slice(body) {
            Ok(v) => Self::Json(v),
            Err(_) => Self::Text(String::from_utf8_lossy(body).into_owned()),
        }
    }

    /// The bytes written to an outcome topic. `string` (Confluent's bytes):
    /// the JSON text as a JSON string literal. `json`: the JSON itself (a
    /// non-JSON body becomes a JSON string, so the value is always JSON).
    pub fn encode(&self, format: ReporterValueFormat) -> Vec<u8> {
        match (self, format) {
            (Self::Json(v), ReporterValueFormat::String) => json_string(&v.to_string()),
            (Self::Json(v), ReporterValueFormat::Json) => v.to_string().into_bytes(),
            (Self::Text(t), _) => json_string(t),
        }
    }
}

/// Maps a successful response body to one result per record: an array with
/// one element per record gives element *i* to record *i* (its `payload`
/// member when it is an object that has one); any other body (object,
/// scalar, wrong length, not JSON) is the result of every record.
pub fn map_response(body: &[u8], records: usize) -> Vec<ResultValue> {
    match ResultValue::from_body(body) {
        ResultValue::Json(Value::Array(items)) if items.len() == records => items
            .into_iter()
            .map(|item| match item {
                Value::Object(mut map) if map.contains_key("payload") => {
                    ResultValue::Json(map.shift_remove("payload").unwrap_or(Value::Null))
                }
                other => ResultValue::Json(other),
            })
            .collect(),
        other => vec![other; records],
    }
}

/// Whether an error came from the function or from invoking it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The function ran and failed (`X-Amz-Function-Error`).
    Function,
    /// Lambda could not run it (retries exhausted).
    Invocation,
}

impl ErrorClass {
    /// Header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Function => "function",
            Self::Invocation => "invocation",
        }
    }
}

/// An error that applies to every record of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchError {
    /// Function or invocation.
    pub class: ErrorClass,
    /// `X-Amz-Function-Error` (e.g. `Unhandled`) or the AWS error code.
    pub error_type: String,
    /// HTTP status; 0 when no response arrived (timeout, connection).
    pub status_code: u16,
    /// The error body written as the error record's value.
    pub body: ResultValue,
}

impl BatchError {
    /// An invocation error after retries: the body is a JSON object with the
    /// AWS error code and message.
    pub fn invocation(failure: &InvokeFailure) -> Self {
        let error_type = failure.error_type();
        Self {
            class: ErrorClass::Invocation,
            body: ResultValue::Json(serde_json::json!({
                "errorType": error_type,
                "errorMessage": failure.message,
            })),
            error_type,
            status_code: failure.status.unwrap_or(0),
        }
    }
}

/// Headers of a result record: where the input record came from.
pub fn input_record_headers(record: &SourceRecord) -> Vec<(&'static str, String)> {
    vec![
        ("input_record_topic", record.topic.to_string()),
        ("input_record_partition", record.partition.to_string()),
        ("input_record_offset", record.offset.to_string()),
        (
            "input_record_timestamp",
            record.timestamp.map_or_else(String::new, |t| t.to_string()),
        ),
    ]
}

/// Headers of an error record: the input record's, plus the error's.
pub fn error_headers(record: &SourceRecord, error: &BatchError) -> Vec<(&'static str, String)> {
    let mut h = input_record_headers(record);
    h.push(("error_type", error.error_type.clone()));
    h.push(("error_class", error.class.as_str().to_string()));
    h.push(("status_code", error.status_code.to_string()));
    h
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::dead_letter::{DATA_EXCEPTION, DeadLetter, Stage, dlq_headers};
    use crate::failure::service;

    #[test]
    fn response_mapping_rules() {
        let confluent = br#"[{"payload": {"timestamp": 1, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}}},
                              {"other": 1}]"#;
        let mapped = map_response(confluent, 2);
        assert_eq!(
            mapped[0],
            ResultValue::Json(
                json!({"timestamp": 1, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}})
            )
        );
        assert_eq!(
            mapped[1],
            ResultValue::Json(json!({"other": 1})),
            "no payload member: the element"
        );
        // Wrong length, object, scalar, not JSON: the whole body for each record.
        assert_eq!(
            map_response(b"[1, 2, 3]", 2),
            vec![ResultValue::Json(json!([1, 2, 3])); 2]
        );
        assert_eq!(
            map_response(br#"{"ok": true}"#, 3),
            vec![ResultValue::Json(json!({"ok": true})); 3]
        );
        assert_eq!(map_response(b"7", 1), vec![ResultValue::Json(json!(7))]);
        assert_eq!(
            map_response(b"done!", 2),
            vec![ResultValue::Text("done!".into()); 2]
        );
        assert_eq!(map_response(b"[]", 0), vec![]);
    }

    #[test]
    fn result_values_in_both_formats_keep_order() {
        let v = map_response(
            br#"[{"payload": {"timestamp": 1598334450575, "offset": 0, "partition": 0, "topic": "add-topic", "result": {"sum": 2}}}]"#,
            1,
        );
        assert_eq!(
            String::from_utf8(v[0].encode(ReporterValueFormat::String)).unwrap(),
            r#""{\"timestamp\":1598334450575,\"offset\":0,\"partition\":0,\"topic\":\"add-topic\",\"result\":{\"sum\":2}}""#
        );
        assert_eq!(
            String::from_utf8(v[0].encode(ReporterValueFormat::Json)).unwrap(),
            r#"{"timestamp":1598334450575,"offset":0,"partition":0,"topic":"add-topic","result":{"sum":2}}"#
        );
        assert_eq!(
            ResultValue::Text("x".into()).encode(ReporterValueFormat::Json),
            br#""x""#
        );
    }

    #[test]
    fn outcome_headers() {
        let r = SourceRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset: 9,
            timestamp: Some(5),
            timestamp_type: crate::record::TimestampType::CreateTime,
            key: None,
            value: None,
            headers: vec![],
        };
        let e = BatchError::invocation(&service(429, "TooManyRequestsException"));
        assert_eq!(
            error_headers(&r, &e),
            vec![
                ("input_record_topic", "t".to_string()),
                ("input_record_partition", "2".into()),
                ("input_record_offset", "9".into()),
                ("input_record_timestamp", "5".into()),
                ("error_type", "TooManyRequestsException".into()),
                ("error_class", "invocation".into()),
                ("status_code", "429".into()),
            ]
        );
        assert_eq!(
            e.body,
            ResultValue::Json(
                json!({"errorType": "TooManyRequestsException", "errorMessage": "m"})
            )
        );
        let dead = DeadLetter {
            stage: Stage::ValueConverter,
            class_name: "org.apache.kafka.connect.json.JsonConverter".into(),
            exception_class: DATA_EXCEPTION.into(),
            message: "not valid JSON".into(),
            failure: None,
        };
        let h = dlq_headers(&r, "my-sink", 0, &dead);
        assert_eq!(
            h[5],
            ("__connect.errors.stage", "VALUE_CONVERTER".to_string())
        );
        assert_eq!(h.len(), 9);
    }
}
