//! `/connectors/...`: create, list, config, status, tasks, lifecycle and
//! topics, with Connect's exact messages (offsets and the DLQ redrive are
//! in [`super::offsets`]).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use lambda_sink_core::connect::infos::masked;
use lambda_sink_core::connect::placement::tasks_max;
use lambda_sink_core::connect::records::{ConnectorEntry, TargetState};
use lambda_sink_core::connect::status::{
    State as Run, active_topics, connector_state_info, task_state,
};
use lambda_sink_core::park_orders::KeyRequest;
use serde_json::{Map, Value, json};

use super::error::{ApiError, ApiResult, parse_body};
use crate::serve::node::Node;

type Shared = State<Arc<Node>>;
type Params = Query<Vec<(String, String)>>;

pub(super) fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route("/connectors/", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(remove))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/events", get(events))
        .route("/connectors/{name}/parked", get(parked))
        .route("/connectors/{name}/parked/retry", post(retry_parked))
        .route("/connectors/{name}/parked/skip", post(skip_parked))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks-config", get(tasks_config))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(restart_task),
        )
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/restart", post(restart))
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset_topics))
}

fn status_json(w: &Node, name: &str, e: &ConnectorEntry) -> Value {
    connector_state_info(
        name,
        e.target,
        tasks_max(&e.config),
        &w.admin.live_reports(),
        &w.worker_id,
    )
}

/// The ids of a connector's tasks: `0..tasks.max`, none while STOPPED.
fn task_ids(e: &ConnectorEntry) -> std::ops::Range<usize> {
    if e.target == TargetState::Stopped {
        0..0
    } else {
        0..tasks_max(&e.config)
    }
}

/// Connect's `ConnectorInfo`.
fn info_json(name: &str, e: &ConnectorEntry) -> Value {
    let tasks: Vec<Value> = task_ids(e)
        .map(|task| json!({ "connector": name, "task": task }))
        .collect();
    json!({ "name": name, "config": masked(&e.config), "tasks": tasks, "type": "sink" })
}

async fn list(State(w): Shared, Query(params): Params) -> Response {
    let expand: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "expand")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    let state = w.admin.state();
    if expand.is_empty() {
        let names: Vec<&String> = state.connectors().keys().collect();
        return axum::Json(json!(names)).into_response();
    }
    let mut out = Map::new();
    for (name, e) in state.connectors() {
        let mut one = Map::new();
        for x in &expand {
            match *x {
                "status" => {
                    one.insert("status".into(), status_json(&w, name, e));
                }
                "info" => {
                    one.insert("info".into(), info_json(name, e));
                }
                "id" => {
                    let id = lambda_sink_core::config::ConnectorId::sanitize(
                        e.config
                            .get("connector.id")
                            .and_then(Value::as_str)
                            .unwrap_or(name),
                    )
                    .map(|i| i.to_string())
                    .unwrap_or_default();
                    one.insert("id".into(), json!({ "id": id, "id_type": "NAME" }));
                }
                _ => {}
            }
        }
        out.insert(name.clone(), Value::Object(one));
    }
    axum::Json(Value::Object(out)).into_response()
}

fn created(name: &str, body: Value) -> Response {
    let location = format!("/connectors/{}", percent(name));
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(body),
    )
        .into_response()
}

/// Percent-encodes a path segment.
fn percent(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `POST /connectors`: `{"name": ..., "config": {...}, "initial_state": ...}`.
async fn create(State(w): Shared, body: Bytes) -> ApiResult<Response> {
    let Value::Object(mut request) = parse_body(&body)? else {
        return Err(ApiError::bad_request(
            "the request must be a JSON object: {\"name\": ..., \"config\": {...}}",
        ));
    };
    if let Some(field) = request
        .keys()
        .find(|k| !["name", "config", "initial_state"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown field {field:?} in the request; it takes name, config and initial_state"
        )));
    }
    let name = match request.remove("name") {
        Some(Value::String(n)) => n,
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "name must be a string, not {other}"
            )));
        }
    };
    let initial = match request.remove("initial_state") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(TargetState::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "initial_state {s:?} is not one of RUNNING, PAUSED, STOPPED"
            ))
        })?),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "initial_state must be a string, not {other}"
            )));
        }
    };
    let config = request.remove("config").unwrap_or(json!({}));
    let e = w.admin.create(&name, config, initial).await?;
    let name = name.trim();
    Ok(created(name, info_json(name, &e)))
}

async fn info(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = w.admin.connector(&name)?;
    Ok(axum::Json(info_json(&name, &e)).into_response())
}

async fn config(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = w.admin.connector(&name)?;
    Ok(axum::Json(masked(&e.config)).into_response())
}

async fn put_config(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let (e, was_created) = w.admin.put_config(&name, parse_body(&body)?).await?;
    let body = info_json(&name, &e);
    Ok(if was_created {
        created(&name, body)
    } else {
        axum::Json(body).into_response()
    })
}

async fn patch_config(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    // An unknown connector is a 404 before the body is looked at.
    w.admin.connector(&name)?;
    let Value::Object(patch) = parse_body(&body)? else {
        return Err(ApiError::bad_request(
            "the patch must be a JSON object; a null value removes a key",
        ));
    };
    let e = w.admin.patch_config(&name, patch).await?;
    Ok(axum::Json(info_json(&name, &e)).into_response())
}

async fn remove(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    w.admin.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn status(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = w
        .admin
        .entry(&name, || format!("No status found for connector {name}"))?;
    Ok(axum::Json(status_json(&w, &name, &e)).into_response())
}

/// The connector's event log, every worker's (an extension):
/// `{"events": [...]}`, filtered by `level`, `since`, `until` and `limit`.
async fn events(
    State(w): Shared,
    Path(name): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    w.admin.connector(&name)?;
    let body = crate::http::events(&params, |query| w.events.query(&name, query))
        .map_err(ApiError::bad_request)?;
    Ok(axum::Json(body).into_response())
}

async fn parked(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    Ok(axum::Json(w.admin.parked(&name).await?).into_response())
}

async fn retry_parked(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    order_parked(&w, &name, &body, false).await
}

async fn skip_parked(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    order_parked(&w, &name, &body, true).await
}

/// An operator's order for a parked key: 202 once every worker can see it.
async fn order_parked(w: &Node, name: &str, body: &[u8], skip: bool) -> ApiResult<Response> {
    w.admin.connector(name)?;
    let request = KeyRequest::parse(&parse_body(body)?).map_err(ApiError::bad_request)?;
    let id = format!("{}-{}", crate::clock::epoch_ms(), w.worker_id);
    let answer = w.admin.order_parked(name, &request, skip, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

/// A task's config as Connect shows it: the connector's, plus the class.
fn task_config(e: &ConnectorEntry) -> Value {
    let mut config = masked(&e.config);
    config.insert(
        "task.class".into(),
        json!("io.confluent.connect.aws.lambda.AwsLambdaSinkTask"),
    );
    Value::Object(config)
}

async fn tasks(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = w.admin.connector(&name)?;
    let list: Vec<Value> = task_ids(&e)
        .map(|task| json!({ "id": { "connector": name, "task": task }, "config": task_config(&e) }))
        .collect();
    Ok(axum::Json(json!(list)).into_response())
}

async fn tasks_config(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = w.admin.connector(&name)?;
    let mut out = Map::new();
    for task in task_ids(&e) {
        out.insert(format!("{name}-{task}"), task_config(&e));
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

async fn task_status(
    State(w): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    let missing = || ApiError::not_found(format!("No status found for task {name}-{task}"));
    let id: usize = task.parse().map_err(|_| missing())?;
    let e = w.admin.connector(&name).map_err(|_| missing())?;
    let found = task_state(
        &name,
        id,
        task_ids(&e).end,
        &w.admin.live_reports(),
        &w.worker_id,
    )
    .ok_or_else(missing)?;
    Ok(axum::Json(found).into_response())
}

async fn restart_task(
    State(w): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    w.admin.restart_task(&name, &task).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    w.admin.set_target(&name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resume(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    w.admin.set_target(&name, TargetState::Started).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn stop(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    w.admin.set_target(&name, TargetState::Stopped).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn flag(params: &[(String, String)], name: &str) -> ApiResult<bool> {
    match params.iter().rev().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, v)) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some((_, v)) => Err(ApiError::bad_request(format!(
            "{name}={v} is not true or false"
        ))),
    }
}

async fn restart(
    State(w): Shared,
    Path(name): Path<String>,
    Query(params): Params,
) -> ApiResult<Response> {
    let include_tasks = flag(&params, "includeTasks")?;
    let only_failed = flag(&params, "onlyFailed")?;
    let e = w
        .admin
        .entry(&name, || format!("Unknown connector: {name}"))?;
    let mut shown = status_json(&w, &name, &e);
    w.admin.restart(&name, include_tasks, only_failed).await?;
    if !include_tasks && !only_failed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // What will restart, shown as RESTARTING (KIP-745).
    let restarting = |v: &mut Value| {
        if !only_failed || v["state"] == Run::Failed.as_str() {
            v["state"] = json!(Run::Restarting.as_str());
        }
    };
    restarting(&mut shown["connector"]);
    if include_tasks && let Some(tasks) = shown["tasks"].as_array_mut() {
        tasks.iter_mut().for_each(restarting);
    }
    Ok((StatusCode::ACCEPTED, axum::Json(shown)).into_response())
}

async fn topics(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    w.admin.connector(&name)?;
    let topics = active_topics(&name, &w.admin.live_reports());
    Ok(axum::Json(json!({ name: { "topics": topics } })).into_response())
}

async fn reset_topics(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    w.admin.reset_topics(&name).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(percent("a b/c"), "a%20b%2Fc");
        assert_eq!(percent("orders-1.v2_~"), "orders-1.v2_~");
    }
}
