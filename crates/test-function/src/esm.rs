//! The handler for AWS's Kafka event source mapping event, written as an
//! ESM user writes one: the event deserialised into `aws_lambda_events`'
//! `KafkaEvent` (a field it cannot read fails the invocation), base64
//! values decoded, and a partial batch response for the records whose
//! value asks to fail (`"fail_item": true`). Each record is logged like the
//! Confluent handler logs it, with its decoded key, value and headers, and
//! the schema metadata ESM adds for a Schema Registry format (which the
//! crate keeps in its catch-all `other` fields).

use aws_lambda_events::event::kafka::KafkaEvent;
use base64::Engine;
use lambda_runtime::Diagnostic;
use serde_json::{Value, json};

/// Handles one event; `Err` when it is not an event `KafkaEvent` reads.
pub(crate) fn handle(event: Value, request_id: &str) -> Result<Value, Diagnostic> {
    let event: KafkaEvent = serde_json::from_value(event).map_err(|e| Diagnostic {
        error_type: "EventShape".into(),
        error_message: format!(
            "the event does not deserialise into aws_lambda_events' KafkaEvent: {e}"
        ),
    })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |text: &Option<String>| -> Result<Option<String>, Diagnostic> {
        text.as_ref()
            .map(|t| {
                let bytes = b64.decode(t).map_err(|e| Diagnostic {
                    error_type: "EventShape".into(),
                    error_message: format!("{t:?} is not base64: {e}"),
                })?;
                Ok(String::from_utf8_lossy(&bytes).into_owned())
            })
            .transpose()
    };
    let mut failures = Vec::new();
    let mut log = crate::Log::default();
    // Partitions in a stable order (the map's is random).
    let mut partitions: Vec<_> = event.records.iter().collect();
    partitions.sort_by(|a, b| a.0.cmp(b.0));
    for (partition_key, records) in partitions {
        for record in records {
            let value = decode(&record.value)?;
            let parsed = value
                .as_deref()
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
                .unwrap_or_else(|| value.clone().map_or(Value::Null, Value::String));
            let headers: Vec<Value> = record
                .headers
                .iter()
                .flat_map(|h| h.iter())
                .map(|(name, bytes)| {
                    let bytes: Vec<u8> = bytes.iter().map(|b| b.to_ne_bytes()[0]).collect();
                    json!({"key": name, "value": String::from_utf8_lossy(&bytes)})
                })
                .collect();
            log.line(&json!({
                "lambda_sink_test": "record",
                "shape": "esm",
                "event_source": event.event_source,
                "partition_key": partition_key,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp.0.timestamp_millis(),
                "timestamp_type": record.timestamp_type,
                "key": decode(&record.key)?,
                "value": parsed,
                "headers": headers,
                "key_schema_metadata": record.other.get("keySchemaMetadata"),
                "value_schema_metadata": record.other.get("valueSchemaMetadata"),
                "idempotency_key": record.other.get("idempotencyKey"),
                "value_base64": record.value,
                "request_id": request_id,
            }));
            if parsed.get("fail_item") == Some(&Value::Bool(true)) {
                failures.push(json!({
                    "itemIdentifier": {"partition": partition_key, "offset": record.offset}
                }));
            }
        }
    }
    log.write();
    Ok(json!({ "batchItemFailures": failures }))
}
