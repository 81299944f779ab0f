//! `/connectors/{c}/offsets` (KIP-875's sink shape: GET always, PATCH and
//! DELETE only once the connector is STOPPED on every worker),
//! `/connectors/{c}/offsets/move` (moving a running connector in time),
//! `/connectors/{c}/replays` (replay jobs beside it) and
//! `/connectors/{c}/dlq/redrive`: the requests' JSON to and from the
//! [`Admin`](crate::serve::admin::Admin), which owns the rules.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lambda_sink_core::connect::offsets::PartitionOffset;
use lambda_sink_core::connect::records::ClusterState;
use lambda_sink_core::connect::redrive::Request;
use lambda_sink_core::connect::{moves, replays};
use serde_json::{Value, json};
use std::time::Duration;

use crate::clock::epoch_ms;

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
            "/connectors/{name}/offsets/move",
            get(latest_move).post(move_offsets),
        )
        .route(
            "/connectors/{name}/replays",
            get(list_replays).post(start_replay),
        )
        .route(
            "/connectors/{name}/replays/{id}",
            get(one_replay).delete(cancel_replay),
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

/// How long a move request waits for the move to end before it answers
/// 202 (the move goes on; `GET` follows it).
const MOVE_WAIT: Duration = Duration::from_secs(30);

/// Moves the running connector: 200 with the move once it is done, 202
/// while its tasks still drain, the reason when it failed.
async fn move_offsets(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    w.admin.connector(&name)?;
    let request = moves::Request::parse(&parse_body(&body)?).map_err(ApiError::bad_request)?;
    let mut cluster = w.configs.watch();
    let asked = w
        .admin
        .request_move(&name, request, &w.worker_id, epoch_ms())
        .await?;
    let ended = |s: &ClusterState| {
        s.get(&name)
            .and_then(|e| e.moved.clone())
            .filter(|m| m.id == asked.id && !m.pending())
    };
    let waited = tokio::time::timeout(MOVE_WAIT, cluster.wait_for(|s| ended(s).is_some())).await;
    match waited.ok().and_then(Result::ok).and_then(|s| ended(&s)) {
        Some(m) if m.state == moves::State::Failed => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "move {} failed: {}; the connector continues from where it stopped",
                m.id,
                m.error.as_deref().unwrap_or("no reason given")
            ),
        )),
        Some(m) => Ok(axum::Json(m.to_json()).into_response()),
        None => Ok((StatusCode::ACCEPTED, axum::Json(asked.to_json())).into_response()),
    }
}

/// The connector's latest move.
async fn latest_move(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    match w.admin.connector(&name)?.moved {
        Some(m) => Ok(axum::Json(m.to_json()).into_response()),
        None => Err(ApiError::not_found(format!(
            "Connector {name} has not been moved"
        ))),
    }
}

/// Starts a replay job on this worker: 202 with the job.
async fn start_replay(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    w.admin.connector(&name)?;
    let request = replays::Request::parse(&parse_body(&body)?).map_err(ApiError::bad_request)?;
    let job = crate::serve::replays::start(&w, &name, request).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(job.to_json(true))).into_response())
}

/// The connector's latest replay jobs, oldest first.
async fn list_replays(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let jobs = w.admin.replays(&name)?;
    Ok(axum::Json(json!({ "replays": jobs })).into_response())
}

/// One replay job and its progress.
async fn one_replay(
    State(w): Shared,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    w.admin
        .replays(&name)?
        .into_iter()
        .find(|j| j["id"] == id.as_str())
        .map(|j| axum::Json(j).into_response())
        .ok_or_else(|| ApiError::not_found(format!("Replay job {id} of {name} not found")))
}

/// Asks a running replay job to stop: 202.
async fn cancel_replay(
    State(w): Shared,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    w.admin.cancel_replay(&name, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(json!({ "message": format!("replay job {id} is asked to stop") })),
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
