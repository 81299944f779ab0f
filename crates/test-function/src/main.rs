//! The Lambda function lambda-sink's tests and demo deploy (runtime
//! `provided.al2023`, built with `lambda_runtime`).
//!
//! It receives lambda-sink's request — a JSON array of `{"payload": {...}}` —
//! and:
//! * logs one JSON line per record to stdout (CloudWatch Logs), so a test can
//!   see exactly which records arrived, in which order:
//!   `{"lambda_sink_test":"record","topic":..,"partition":..,"offset":..,"key":..,"value":..,"headers":..}`;
//! * answers in Confluent's response shape, one element per record:
//!   `{"payload": {"timestamp", "offset", "partition", "topic", "result"}}` where
//!   `result` is `{"sum": a + b}` when the value has numbers `a` and `b` (the
//!   reference function of Confluent's documentation), else `{"echo": value}`;
//! * fails the invocation (an `Unhandled` function error) when any record's
//!   value has `"fail": true`, or `"fail_until"` (epoch milliseconds) still
//!   in the future — a record that fails for a while, then recovers — and
//!   sleeps `sleep_ms` milliseconds when a value asks for it (the longest
//!   request in the batch wins).
//!
//! Values are read as JSON objects, or as strings holding JSON (escaped JSON
//! converter) or `{fail=true}` text (Confluent's default converter).
//!
//! The environment variable `RESPONSE_SHAPE` changes the answer for
//! response-mapping tests: `object` returns one object for the whole batch,
//! `short` returns one element fewer than there are records.
//!
//! With `OTEL_EXPORTER_OTLP_ENDPOINT` in its environment it exports a span
//! per invocation, the child of the first record's `traceparent`
//! ([`traced`]).
//!
//! An event of AWS's Kafka event source mapping (an object with
//! `eventSource`) goes to [`esm::handle`] instead.

#![warn(clippy::unwrap_used, clippy::too_many_lines)]

mod esm;
mod traced;

use std::time::Duration;

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    if event.payload.get("eventSource").is_some() {
        return esm::handle(event.payload, &event.context.request_id);
    }
    let records: Vec<Value> = match event.payload {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut fail = false;
    let mut sleep_ms = 0u64;
    let mut results = Vec::with_capacity(records.len());
    let mut log = Log::default();
    for element in &records {
        let payload = element.get("payload").unwrap_or(element);
        let value = payload.get("value").cloned().unwrap_or(Value::Null);
        log.line(&json!({
                "lambda_sink_test": "record",
                "topic": payload.get("topic"),
                "partition": payload.get("partition"),
                "offset": payload.get("offset"),
                "key": payload.get("key"),
                "value": value,
                "headers": payload.get("headers"),
                "idempotency_key": payload.get("idempotencyKey"),
                "traceparent": payload.get("traceparent"),
                "request_id": event.context.request_id,
        }));
        let controls = controls(&value);
        fail |= controls.fail;
        sleep_ms = sleep_ms.max(controls.sleep_ms);
        let result = match controls.sum {
            Some(sum) => json!({ "sum": sum }),
            None => json!({ "echo": value }),
        };
        results.push(json!({
            "payload": {
                "timestamp": payload.get("timestamp"),
                "offset": payload.get("offset"),
                "partition": payload.get("partition"),
                "topic": payload.get("topic"),
                "result": result,
            }
        }));
    }
    log.write();
    traced::span(&records, &event.context.request_id).await;
    if sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
    }
    if fail {
        return Err(Diagnostic {
            error_type: "RequestedFailure".into(),
            error_message: "a record asked this function to fail".into(),
        });
    }
    Ok(match std::env::var("RESPONSE_SHAPE").as_deref() {
        Ok("object") => json!({ "status": "ok", "records": records.len() }),
        Ok("short") => {
            results.pop();
            Value::Array(results)
        }
        _ => Value::Array(results),
    })
}

/// The invocation's log lines, written to stdout in one write: the
/// emulator reads a runtime's output line by line and stops at a short idle
/// gap, so lines printed one by one from a descheduled process can miss
/// their invocation's log.
#[derive(Default)]
pub(crate) struct Log(String);

impl Log {
    /// Adds one JSON line.
    pub(crate) fn line(&mut self, value: &Value) {
        self.0.push_str(&value.to_string());
        self.0.push('\n');
    }

    /// Writes every line at once.
    pub(crate) fn write(&self) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        // A log line that cannot be written is not the function's failure.
        let _ = out.write_all(self.0.as_bytes());
        let _ = out.flush();
    }
}

#[derive(Default)]
struct Controls {
    fail: bool,
    sleep_ms: u64,
    sum: Option<Value>,
}

/// Reads the test controls from a record value in any of the renderings.
fn controls(value: &Value) -> Controls {
    let object = match value {
        Value::Object(_) => Some(value.clone()),
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object),
        _ => None,
    };
    let Some(object) = object else {
        // Confluent's default converter renders {"fail": true} as "{fail=true}".
        let text = value.as_str().unwrap_or_default();
        return Controls {
            fail: text.contains("fail=true"),
            ..Controls::default()
        };
    };
    let sum = match (object.get("a"), object.get("b")) {
        (Some(Value::Number(a)), Some(Value::Number(b))) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => Some(json!(a + b)),
            _ => a.as_f64().zip(b.as_f64()).map(|(a, b)| json!(a + b)),
        },
        _ => None,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let failing_still = object
        .get("fail_until")
        .and_then(Value::as_u64)
        .is_some_and(|until| now_ms < until);
    Controls {
        fail: object.get("fail").and_then(Value::as_bool).unwrap_or(false) || failing_still,
        sleep_ms: object.get("sleep_ms").and_then(Value::as_u64).unwrap_or(0),
        sum,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_in_every_rendering() {
        assert!(controls(&json!({"fail": true})).fail);
        assert!(controls(&json!("{\"fail\":true}")).fail);
        assert!(controls(&json!("{fail=true}")).fail);
        assert!(!controls(&json!("plain")).fail);
        assert_eq!(controls(&json!({"sleep_ms": 250})).sleep_ms, 250);
        assert!(controls(&json!({"fail_until": u64::MAX})).fail);
        assert!(!controls(&json!({"fail_until": 1})).fail);
        assert_eq!(controls(&json!({"a": 1, "b": 1})).sum, Some(json!(2)));
        assert_eq!(controls(&json!({"a": 1.5, "b": 1})).sum, Some(json!(2.5)));
        assert_eq!(controls(&json!({"a": "1", "b": 1})).sum, None);
    }
}
