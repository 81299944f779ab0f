//! `/connectors/{c}/offsets` (KIP-875's sink shape: GET always, PATCH and
//! DELETE only once the connector is STOPPED on every worker) and
//! `/connectors/{c}/dlq/redrive`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lambda_sink_core::config::Config;
use lambda_sink_core::connect::infos::invalid_message;
use lambda_sink_core::connect::records::{ConnectorEntry, TargetState};
use lambda_sink_core::connect::status::State as Run;
use serde_json::{Value, json};

use super::connectors::{entry, not_found};
use super::{ApiError, ApiResult, parse_body};
use crate::worker::Worker;
use crate::worker::offsets::{self, GroupError, PartitionOffset};

type Shared = State<Arc<Worker>>;

pub(super) fn routes() -> Router<Arc<Worker>> {
    Router::new()
        .route(
            "/connectors/{name}/offsets",
            get(get_offsets).patch(alter_offsets).delete(reset_offsets),
        )
        .route(
            "/connectors/{name}/dlq/redrive",
            get(redrives).post(redrive),
        )
}

/// The connector's validated config, for its group and subscription.
async fn validated(w: &Worker, e: &ConnectorEntry) -> ApiResult<Config> {
    let v = w.validate(&e.config).await;
    v.config
        .ok_or_else(|| ApiError::bad_request(invalid_message(&v.errors)))
}

async fn get_offsets(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, not_found(&name))?;
    let config = validated(&w, &e).await?;
    let offsets = offsets::committed(&config.kafka, &config.connector_id, &config.subscription)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let list: Vec<Value> = offsets
        .iter()
        .map(|o| {
            json!({
                "partition": { "kafka_topic": o.topic, "kafka_partition": o.partition },
                "offset": { "kafka_offset": o.offset },
            })
        })
        .collect();
    Ok(axum::Json(json!({ "offsets": list })).into_response())
}

/// The connector, once it is STOPPED on every worker.
async fn stopped(w: &Worker, name: &str) -> ApiResult<Config> {
    let e = entry(w, name, not_found(name))?;
    let running = w
        .live_reports()
        .iter()
        .filter_map(|r| r.connectors.get(name))
        .any(|c| c.state != Run::Stopped);
    if e.target != TargetState::Stopped || running {
        return Err(ApiError::bad_request(format!(
            "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
        )));
    }
    validated(w, &e).await
}

fn group_error(e: GroupError) -> ApiError {
    match e {
        GroupError::Busy(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        GroupError::Other(e) => ApiError::internal(&e),
    }
}

/// One `{"partition": {...}, "offset": {...}}` of a PATCH body.
fn partition_offset(item: &Value) -> ApiResult<PartitionOffset> {
    let number = |v: &Value| -> Option<i64> {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    let p = &item["partition"];
    let topic = p["kafka_topic"].as_str().ok_or_else(|| {
        ApiError::bad_request(format!(
            "partition {p} has no kafka_topic string; a sink's partition is {{\"kafka_topic\": \"t\", \"kafka_partition\": 0}}"
        ))
    })?;
    let partition = number(&p["kafka_partition"])
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("partition {p} has no valid kafka_partition"))
        })?;
    if item["offset"].is_null() {
        return Err(ApiError::bad_request(format!(
            "offset null (resetting one partition) is not supported; give {{\"kafka_offset\": N}} for {topic}-{partition}, or DELETE /connectors/{{name}}/offsets to reset every partition"
        )));
    }
    let offset = number(&item["offset"]["kafka_offset"])
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "offset {} of {topic}-{partition} has no valid kafka_offset (a whole number, 0 or more)",
                item["offset"]
            ))
        })?;
    Ok(PartitionOffset {
        topic: topic.to_string(),
        partition,
        offset,
    })
}

async fn alter_offsets(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let request = parse_body(&body)?;
    let items = request["offsets"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "Partitions / offsets need to be provided for an alter offsets request",
            )
        })?;
    let wanted = items
        .iter()
        .map(partition_offset)
        .collect::<ApiResult<Vec<_>>>()?;
    let config = stopped(&w, &name).await?;
    if let Some(o) = wanted
        .iter()
        .find(|o| !config.subscription.includes(&o.topic))
    {
        return Err(ApiError::bad_request(format!(
            "topic {} is not one the connector consumes",
            o.topic
        )));
    }
    offsets::alter(&config.kafka, &config.connector_id, wanted)
        .await
        .map_err(group_error)?;
    Ok(axum::Json(
        json!({ "message": "The offsets for this connector have been altered successfully" }),
    )
    .into_response())
}

async fn reset_offsets(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let config = stopped(&w, &name).await?;
    offsets::delete_group(&config.kafka, &config.connector_id)
        .await
        .map_err(group_error)?;
    Ok(axum::Json(
        json!({ "message": "The offsets for this connector have been reset successfully" }),
    )
    .into_response())
}

/// What was redriven so far: the cursor per DLQ partition and the latest
/// redrives.
async fn redrives(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, not_found(&name))?;
    let record = e
        .redrives
        .unwrap_or_else(|| json!({ "cursor": {}, "history": [] }));
    Ok(axum::Json(record).into_response())
}

async fn redrive(State(w): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult<Response> {
    use crate::worker::redrive::{self, RedriveError, Request};
    let e = entry(&w, &name, not_found(&name))?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(&body)?
    };
    let request = Request::parse(&body).map_err(ApiError::bad_request)?;
    let config = validated(&w, &e).await?;
    // One redrive at a time on this worker: two would replay the same records.
    let _one = w.redriving.lock().await;
    let report = redrive::redrive(&w, &name, &e, config, request)
        .await
        .map_err(|err| match err {
            RedriveError::Refused(m) => ApiError::bad_request(m),
            RedriveError::Failed(e) => ApiError::internal(&e),
        })?;
    Ok(axum::Json(report).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_bodies() {
        let ok = partition_offset(&json!({
            "partition": {"kafka_topic": "t", "kafka_partition": "3"},
            "offset": {"kafka_offset": "1000"}
        }))
        .expect("strings are accepted for numbers");
        assert_eq!((ok.partition, ok.offset), (3, 1000));
        for bad in [
            json!({"partition": {"kafka_partition": 0}, "offset": {"kafka_offset": 1}}),
            json!({"partition": {"kafka_topic": "t", "kafka_partition": -1}, "offset": {"kafka_offset": 1}}),
            json!({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": null}),
            json!({"partition": {"kafka_topic": "t", "kafka_partition": 0}, "offset": {"kafka_offset": "x"}}),
        ] {
            assert!(partition_offset(&bad).is_err(), "{bad}");
        }
    }
}
