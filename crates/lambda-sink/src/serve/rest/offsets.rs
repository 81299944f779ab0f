//! `/connectors/{c}/offsets` (KIP-875's sink shape: GET always, PATCH and
//! DELETE only once the connector is STOPPED on every worker) and
//! `/connectors/{c}/dlq/redrive`: the requests' JSON to and from the
//! [`Admin`](crate::serve::admin::Admin), which owns the rules.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lambda_sink_core::connect::offsets::PartitionOffset;
use lambda_sink_core::connect::redrive::Request;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult, parse_body};
use crate::serve::node::Node;

type Shared = State<Arc<Node>>;

pub(super) fn routes() -> Router<Arc<Node>> {
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

async fn get_offsets(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let offsets = w.admin.offsets(&name).await?;
    let list: Vec<Value> = offsets.iter().map(PartitionOffset::to_json).collect();
    Ok(axum::Json(json!({ "offsets": list })).into_response())
}

async fn alter_offsets(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let request = parse_body(&body)?;
    let wanted = request["offsets"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(PartitionOffset::parse)
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(ApiError::bad_request)?
        .unwrap_or_default();
    w.admin.alter_offsets(&name, wanted).await?;
    Ok(axum::Json(
        json!({ "message": "The offsets for this connector have been altered successfully" }),
    )
    .into_response())
}

async fn reset_offsets(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    w.admin.reset_offsets(&name).await?;
    Ok(axum::Json(
        json!({ "message": "The offsets for this connector have been reset successfully" }),
    )
    .into_response())
}

/// What was redriven so far: the cursor per DLQ partition and the latest
/// redrives.
async fn redrives(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let record = w
        .admin
        .connector(&name)?
        .redrives
        .unwrap_or_else(|| json!({ "cursor": {}, "history": [] }));
    Ok(axum::Json(record).into_response())
}

async fn redrive(State(w): Shared, Path(name): Path<String>, body: Bytes) -> ApiResult<Response> {
    // Known before the body is looked at: an unknown connector is a 404.
    w.admin.connector(&name)?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        parse_body(&body)?
    };
    let request = Request::parse(&body).map_err(ApiError::bad_request)?;
    let report = w.admin.redrive(&name, request).await?;
    Ok(axum::Json(report).into_response())
}
