//! The event shape of AWS's Kafka event source mapping (ESM), for functions
//! written against it (`aws.lambda.payload.format=esm`), and its partial
//! batch response.
//!
//! The event, as AWS documents it for self-managed Kafka and MSK (the
//! sources are in docs/esm.md):
//!
//! ```json
//! {"eventSource": "SelfManagedKafka", "bootstrapServers": "b1:9092,b2:9092",
//!  "records": {"orders-0": [{"topic": "orders", "partition": 0, "offset": 15,
//!    "timestamp": 1545084650987, "timestampType": "CREATE_TIME",
//!    "key": "<base64>", "value": "<base64>",
//!    "headers": [{"name": [104, 105]}]}]}}
//! ```
//!
//! What AWS sends, not what `aws_lambda_events` writes: `timestamp` is a
//! number, a null `key` (or `value`) is left out rather than `null`, and
//! header bytes are *signed* (Java's `byte`), `-128..=127`. A batch holds
//! one partition's records, so the envelope around its elements is known
//! before the batch is cut and request sizes stay byte-exact.
//!
//! The partial batch response is `{"batchItemFailures": [{"itemIdentifier":
//! {"partition": "orders-0", "offset": 17}}]}`; [`item_failures`] reads it.

use std::io::Write;

use base64::Engine;
use serde_json::Value;

use crate::codec::DataFormat;
use crate::codec::schemaless::write_json_string;
use crate::codec::wire::SchemaRef;
use crate::payload::Extras;
use crate::record::{SourceRecord, TimestampType};

/// The envelope of one partition's event: the bytes before the records'
/// elements and after them (`records` holds one `"<topic>-<partition>"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `{"eventSource": ..., "records": {"<topic>-<partition>":[`.
    pub prefix: Vec<u8>,
    /// `]}}`.
    pub suffix: &'static [u8],
}

impl Envelope {
    /// The envelope for `topic`-`partition`: `aws:kafka` with
    /// `eventSourceArn` when an ARN is configured (MSK), `SelfManagedKafka`
    /// otherwise.
    pub fn new(
        event_source_arn: Option<&str>,
        bootstrap: &str,
        topic: &str,
        partition: i32,
    ) -> Self {
        let mut prefix = Vec::with_capacity(96 + bootstrap.len() + topic.len());
        match event_source_arn {
            Some(arn) => {
                prefix.extend_from_slice(b"{\"eventSource\":\"aws:kafka\",\"eventSourceArn\":");
                write_json_string(&mut prefix, arn);
            }
            None => prefix.extend_from_slice(b"{\"eventSource\":\"SelfManagedKafka\""),
        }
        prefix.extend_from_slice(b",\"bootstrapServers\":");
        write_json_string(&mut prefix, bootstrap);
        prefix.extend_from_slice(b",\"records\":{");
        write_json_string(&mut prefix, &partition_key(topic, partition));
        prefix.extend_from_slice(b":[");
        Self {
            prefix,
            suffix: b"]}}",
        }
    }

    /// Bytes the envelope adds to a request, beyond `[` and `]`.
    pub fn overhead(&self) -> usize {
        // request_len counts `[` and `]`; the envelope's own `[` and `]`
        // are those two.
        self.prefix.len() - 1 + self.suffix.len() - 1
    }

    /// The request body around `elements`.
    pub fn wrap<'a, I>(&self, elements: I) -> Vec<u8>
    where
        I: IntoIterator<Item = &'a [u8]>,
        I::IntoIter: Clone,
    {
        crate::batch::framed_body(&self.prefix, elements, self.suffix)
    }
}

/// The `records` key (and a failure's `itemIdentifier.partition`) of a
/// topic-partition: `"<topic>-<partition>"`, as Java's `TopicPartition`
/// prints it.
pub fn partition_key(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// A key or value as the event carries it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Part<'a> {
    /// The bytes the function gets base64-encoded: the record's own, or for
    /// a Schema Registry format the decoded JSON text (ESM's
    /// `EventRecordFormat=JSON`); `None` leaves the field out.
    pub bytes: Option<&'a [u8]>,
    /// For a Schema Registry format: `dataFormat` (`AVRO`, `PROTOBUF`,
    /// `JSON`) and the writer schema, as `keySchemaMetadata` /
    /// `valueSchemaMetadata`.
    pub schema: Option<(&'static str, SchemaRef)>,
}

impl<'a> Part<'a> {
    /// The record's own bytes.
    pub fn own(bytes: Option<&'a [u8]>) -> Self {
        Self {
            bytes,
            schema: None,
        }
    }
}

/// ESM's `dataFormat` of a Schema Registry format.
pub fn data_format(format: DataFormat) -> Option<&'static str> {
    match format {
        DataFormat::Avro => Some("AVRO"),
        DataFormat::Protobuf => Some("PROTOBUF"),
        DataFormat::JsonSr => Some("JSON"),
        DataFormat::Json | DataFormat::String | DataFormat::Bytes => None,
    }
}

/// Renders one record of the event, with lambda-sink's `extras`.
pub fn render_record(
    record: &SourceRecord,
    key: Part<'_>,
    value: Part<'_>,
    extras: &Extras<'_>,
) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(
        160 + record.topic.len()
            + key.bytes.map_or(0, |k| k.len() * 4 / 3 + 4)
            + value.bytes.map_or(0, |v| v.len() * 4 / 3 + 4),
    );
    // Writing to a Vec cannot fail.
    out.extend_from_slice(b"{\"topic\":");
    write_json_string(&mut out, &record.topic);
    let (timestamp, kind) = match (record.timestamp, record.timestamp_type) {
        (Some(ts), TimestampType::CreateTime) => (ts, "CREATE_TIME"),
        (Some(ts), TimestampType::LogAppendTime) => (ts, "LOG_APPEND_TIME"),
        // Java's ConsumerRecord: -1 and NO_TIMESTAMP_TYPE.
        (None, _) => (-1, "NO_TIMESTAMP_TYPE"),
    };
    let _ = write!(
        out,
        ",\"partition\":{},\"offset\":{},\"timestamp\":{timestamp},\"timestampType\":\"{kind}\"",
        record.partition, record.offset
    );
    for (name, bytes) in [("key", key.bytes), ("value", value.bytes)] {
        if let Some(bytes) = bytes {
            let _ = write!(out, ",\"{name}\":\"");
            // Encoded straight into the element: no String per record.
            let start = out.len();
            out.resize(start + bytes.len().div_ceil(3) * 4, 0);
            let written = b64.encode_slice(bytes, &mut out[start..]).unwrap_or(0);
            out.truncate(start + written);
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"headers\":[");
    for (i, (name, value)) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        write_json_string(&mut out, name);
        out.extend_from_slice(b":[");
        for (j, byte) in value.as_deref().unwrap_or_default().iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            push_java_byte(&mut out, *byte);
        }
        out.extend_from_slice(b"]}");
    }
    out.push(b']');
    for (name, part) in [("keySchemaMetadata", key), ("valueSchemaMetadata", value)] {
        if let Some((format, schema)) = part.schema {
            let _ = write!(
                out,
                ",\"{name}\":{{\"dataFormat\":\"{format}\",\"schemaId\":"
            );
            write_json_string(&mut out, &schema.esm_id());
            out.push(b'}');
        }
    }
    extras.write(&mut out);
    out.push(b'}');
    out
}

/// Writes `byte` as Java's signed `byte` (`-128..=127`), without the
/// formatting machinery (this runs for every header byte).
fn push_java_byte(out: &mut Vec<u8>, byte: u8) {
    let signed = i16::from(i8::from_ne_bytes([byte]));
    if signed < 0 {
        out.push(b'-');
    }
    let n = signed.unsigned_abs();
    if n >= 100 {
        out.push(b'0' + u8::try_from(n / 100).unwrap_or(0));
    }
    if n >= 10 {
        out.push(b'0' + u8::try_from(n / 10 % 10).unwrap_or(0));
    }
    out.push(b'0' + u8::try_from(n % 10).unwrap_or(0));
}

/// What a function's answer says about a batch of one partition's records
/// with these `offsets` (in order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ItemFailures {
    /// Every record succeeded: no `batchItemFailures`, or an empty or null
    /// list.
    None,
    /// The records from this index on failed: the first reported failure
    /// and, to keep the partition's order, every record after it.
    From(usize),
    /// The answer is not a valid partial batch response: the whole batch
    /// failed, for this reason.
    Malformed(String),
}

/// Reads `body` (the function's answer) as a partial batch response for
/// the records of `partition_key` at `offsets`. An answer that is not a
/// JSON object with `batchItemFailures` reports no failure, so a function
/// that returns results keeps working.
pub fn item_failures(body: &[u8], partition_key: &str, offsets: &[i64]) -> ItemFailures {
    let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(body) else {
        return ItemFailures::None;
    };
    let items = match answer.get("batchItemFailures") {
        None | Some(Value::Null) => return ItemFailures::None,
        Some(Value::Array(items)) => items,
        Some(other) => {
            return ItemFailures::Malformed(format!(
                "batchItemFailures must be a list, not {other}"
            ));
        }
    };
    let mut first: Option<usize> = None;
    for item in items {
        let identifier = item.get("itemIdentifier");
        let (Some(partition), Some(offset)) = (
            identifier
                .and_then(|i| i.get("partition"))
                .and_then(Value::as_str),
            identifier
                .and_then(|i| i.get("offset"))
                .and_then(Value::as_i64),
        ) else {
            return ItemFailures::Malformed(format!(
                "{item} is not {{\"itemIdentifier\": {{\"partition\": \"<topic>-<partition>\", \"offset\": <number>}}}}"
            ));
        };
        let index = (partition == partition_key)
            .then(|| offsets.iter().position(|o| *o == offset))
            .flatten();
        let Some(index) = index else {
            return ItemFailures::Malformed(format!(
                "batchItemFailures names {partition} offset {offset}, which is not in the batch"
            ));
        };
        first = Some(first.map_or(index, |f| f.min(index)));
    }
    first.map_or(ItemFailures::None, ItemFailures::From)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn record() -> SourceRecord {
        SourceRecord {
            topic: Arc::from("my-topic"),
            partition: 3,
            offset: 15,
            timestamp: Some(1_545_084_650_987),
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k1".to_vec()),
            value: Some(b"Hello, this is a test.".to_vec()),
            headers: vec![
                ("headerKey".into(), Some(b"headerValue".to_vec())),
                ("accent".into(), Some("\u{eb}".as_bytes().to_vec())),
                ("empty".into(), None),
            ],
        }
    }

    #[test]
    fn the_event_is_what_aws_documents() {
        let r = record();
        let element = render_record(
            &r,
            Part::own(r.key.as_deref()),
            Part::own(r.value.as_deref()),
            &Extras::default(),
        );
        let envelope = Envelope::new(None, "b-1:9092,b-2:9092", "my-topic", 3);
        let body = envelope.wrap([element.as_slice(), element.as_slice()]);
        assert_eq!(
            body.len(),
            crate::batch::request_len(2, 2 * element.len()) + envelope.overhead()
        );
        let event: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            event,
            json!({
                "eventSource": "SelfManagedKafka",
                "bootstrapServers": "b-1:9092,b-2:9092",
                "records": {"my-topic-3": [{
                    "topic": "my-topic", "partition": 3, "offset": 15,
                    "timestamp": 1_545_084_650_987_i64, "timestampType": "CREATE_TIME",
                    "key": "azE=",
                    // The value of AWS's documented example.
                    "value": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
                    "headers": [
                        // AWS's documented header bytes.
                        {"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]},
                        // ë, as Powertools issue #6862 shows AWS sends it.
                        {"accent": [-61, -85]},
                        {"empty": []},
                    ],
                }, event["records"]["my-topic-3"][1].clone()]},
            })
        );
        let msk = Envelope::new(
            Some("arn:aws:kafka:us-east-1:1:cluster/c/u"),
            "b:9092",
            "t",
            0,
        );
        let event: Value = serde_json::from_slice(&msk.wrap([])).unwrap();
        assert_eq!(event["eventSource"], "aws:kafka");
        assert_eq!(
            event["eventSourceArn"],
            "arn:aws:kafka:us-east-1:1:cluster/c/u"
        );
        assert_eq!(event["records"]["t-0"], json!([]));
    }

    #[test]
    fn null_key_and_value_are_left_out_and_no_timestamp_is_java_s() {
        let mut r = record();
        r.key = None;
        r.value = None;
        r.timestamp = None;
        r.headers.clear();
        let none = Part::default();
        let v: Value =
            serde_json::from_slice(&render_record(&r, none, none, &Extras::default())).unwrap();
        let o = v.as_object().unwrap();
        assert!(!o.contains_key("key") && !o.contains_key("value"), "{v}");
        assert_eq!(
            (&v["timestamp"], &v["timestampType"]),
            (&json!(-1), &json!("NO_TIMESTAMP_TYPE"))
        );
        assert_eq!(v["headers"], json!([]));
        r.timestamp = Some(5);
        r.timestamp_type = TimestampType::LogAppendTime;
        let v: Value =
            serde_json::from_slice(&render_record(&r, none, none, &Extras::default())).unwrap();
        assert_eq!(v["timestampType"], "LOG_APPEND_TIME");
    }

    #[test]
    fn every_byte_is_written_as_java_s_signed_byte() {
        for byte in 0..=255u8 {
            let mut out = Vec::new();
            push_java_byte(&mut out, byte);
            let expected = i8::from_ne_bytes([byte]).to_string();
            assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn extras_are_fields_of_the_record() {
        let extras = Extras {
            idempotency_key: Some("my-topic/3/15"),
            traceparent: None,
        };
        let none = Part::default();
        let v: Value =
            serde_json::from_slice(&render_record(&record(), none, none, &extras)).unwrap();
        assert_eq!(v["idempotencyKey"], "my-topic/3/15");
        assert!(v.get("traceparent").is_none());
    }

    #[test]
    fn a_schema_registry_record_carries_its_schema_metadata() {
        let r = record();
        let decoded = br#"{"name":"Powertools","age":5}"#;
        let key = Part {
            bytes: Some(b"1"),
            schema: Some(("AVRO", SchemaRef::Id(1234))),
        };
        let value = Part {
            bytes: Some(decoded),
            schema: Some(("PROTOBUF", SchemaRef::Guid([0xab; 16]))),
        };
        let v: Value =
            serde_json::from_slice(&render_record(&r, key, value, &Extras::default())).unwrap();
        assert_eq!(
            v["keySchemaMetadata"],
            json!({"dataFormat": "AVRO", "schemaId": "1234"})
        );
        assert_eq!(
            v["valueSchemaMetadata"],
            json!({"dataFormat": "PROTOBUF", "schemaId": "abababab-abab-abab-abab-abababababab"})
        );
        // The value is the decoded JSON, base64 (EventRecordFormat=JSON).
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(b64.decode(v["value"].as_str().unwrap()).unwrap(), decoded);
    }

    #[test]
    fn partial_batch_responses() {
        let offsets = [10, 11, 12, 13];
        let f = |body: &str| item_failures(body.as_bytes(), "t-0", &offsets);
        let failure = |p: &str, o: i64| json!({"itemIdentifier": {"partition": p, "offset": o}});
        // Success: AWS's rules (empty JSON, null, empty or null list), and
        // an answer that is no partial batch response at all.
        for ok in [
            "",
            "null",
            "{}",
            r#"{"batchItemFailures":[]}"#,
            r#"{"batchItemFailures":null}"#,
            "[1,2]",
            "\"done\"",
        ] {
            assert_eq!(f(ok), ItemFailures::None, "{ok}");
        }
        // The lowest reported offset and everything after it fail.
        let two = json!({"batchItemFailures": [failure("t-0", 13), failure("t-0", 11)]});
        assert_eq!(f(&two.to_string()), ItemFailures::From(1));
        // Whole-batch failures: not in the event, bad shapes.
        for bad in [
            json!({"batchItemFailures": [failure("t-1", 11)]}),
            json!({"batchItemFailures": [failure("t-0", 99)]}),
            json!({"batchItemFailures": [{"itemIdentifier": "t-0:11"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": "11"}}]}),
            json!({"batchItemFailures": [{}]}),
            json!({"batchItemFailures": "t-0"}),
        ] {
            assert!(
                matches!(f(&bad.to_string()), ItemFailures::Malformed(_)),
                "{bad}"
            );
        }
    }
}
