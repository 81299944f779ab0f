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
use lambda_sink_core::connect::infos::{HIDDEN, invalid_message, masked};
use lambda_sink_core::connect::records::{ConfigRecord, ConnectorEntry, Props, TargetState};
use lambda_sink_core::connect::status::{
    State as Run, active_topics, cluster_tasks, connector_state_info, task_json,
};
use serde_json::{Map, Value, json};

use super::{ApiError, ApiResult, parse_body};
use crate::worker::Worker;

type Shared = State<Arc<Worker>>;
type Params = Query<Vec<(String, String)>>;

pub(super) fn routes() -> Router<Arc<Worker>> {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route("/connectors/", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(remove))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
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

pub(super) fn entry(
    w: &Worker,
    name: &str,
    missing: impl FnOnce() -> String,
) -> ApiResult<ConnectorEntry> {
    w.state()
        .get(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(missing()))
}

pub(super) fn not_found(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("Connector {name} not found")
}

fn unknown(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("Unknown connector {name}")
}

fn status_json(w: &Worker, name: &str, e: &ConnectorEntry) -> Value {
    connector_state_info(name, e.target, &w.live_reports(), &w.worker_id)
}

/// Connect's `ConnectorInfo`.
fn info_json(w: &Worker, name: &str, e: &ConnectorEntry) -> Value {
    let tasks: Vec<Value> = if e.target == TargetState::Stopped {
        Vec::new()
    } else {
        cluster_tasks(name, &w.live_reports())
            .iter()
            .map(|t| json!({ "connector": name, "task": t.id }))
            .collect()
    };
    json!({ "name": name, "config": masked(&e.config), "tasks": tasks, "type": "sink" })
}

async fn list(State(w): Shared, Query(params): Params) -> Response {
    let expand: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "expand")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .collect();
    let state = w.state();
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
                    one.insert("info".into(), info_json(&w, name, e));
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

/// A submitted config map: string values (numbers and booleans are kept
/// as their text, as Connect coerces them), `name` checked against
/// `name` and added when absent.
fn config_map(value: Value, name: &str) -> ApiResult<Props> {
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            "the connector configuration must be a JSON object of string values",
        ));
    };
    let mut out = Props::new();
    let mut bad = Vec::new();
    for (k, v) in map {
        match v {
            Value::String(_) => {
                out.insert(k, v);
            }
            Value::Number(n) => {
                out.insert(k, json!(n.to_string()));
            }
            Value::Bool(b) => {
                out.insert(k, json!(b.to_string()));
            }
            Value::Null => bad.push(format!(
                "{k}: Null value can not be supplied as the configuration value."
            )),
            other => bad.push(format!(
                "{k}: must be a string, not {}",
                if other.is_array() {
                    "an array"
                } else {
                    "an object"
                }
            )),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "the connector configuration has {} value(s) that are not strings:\n{}",
            bad.len(),
            bad.join("\n")
        )));
    }
    match out.get("name").and_then(Value::as_str) {
        Some(given) if given != name => {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({given}) doesn't match connector name in the URL ({name})"
            )));
        }
        Some(_) => {}
        None => {
            out.insert("name".into(), json!(name));
        }
    }
    Ok(out)
}

/// Validates `config` and answers Connect's 400 when it is invalid.
async fn check(w: &Worker, config: &Props) -> ApiResult<()> {
    let v = w.validate(config).await;
    if v.errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::bad_request(invalid_message(&v.errors)))
    }
}

async fn write(w: &Worker, record: ConfigRecord) -> ApiResult<()> {
    w.write(&record).await.map_err(|e| ApiError::internal(&e))
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
        Some(Value::String(n)) => n.trim().to_string(),
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
    let config = config_map(request.remove("config").unwrap_or(json!({})), &name)?;
    if name.is_empty() {
        return Err(ApiError::bad_request(invalid_message(&[
            lambda_sink_core::Problem::new("name", "is required: the connector's name"),
        ])));
    }
    if w.state().get(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("Connector {name} already exists"),
        ));
    }
    check(&w, &config).await?;
    if let Some(state) = initial {
        write(
            &w,
            ConfigRecord::TargetState {
                name: name.clone(),
                state: Some(state),
            },
        )
        .await?;
    }
    write(
        &w,
        ConfigRecord::Connector {
            name: name.clone(),
            config: Some(config),
        },
    )
    .await?;
    let e = entry(&w, &name, not_found(&name))?;
    Ok(created(&name, info_json(&w, &name, &e)))
}

async fn info(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, not_found(&name))?;
    Ok(axum::Json(info_json(&w, &name, &e)).into_response())
}

async fn config(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, not_found(&name))?;
    Ok(axum::Json(masked(&e.config)).into_response())
}

/// A masked secret sent back unchanged (a client that read the config and
/// PUTs it again) keeps the stored value.
fn keep_hidden(new: &mut Props, old: Option<&ConnectorEntry>) {
    let Some(old) = old else { return };
    for (k, v) in new.iter_mut() {
        if v.as_str() == Some(HIDDEN)
            && let Some(stored) = old.config.get(k)
        {
            *v = stored.clone();
        }
    }
}

/// Same keys and values, in any order.
fn same_config(a: &Props, b: &Props) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

async fn put_config(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut config = config_map(parse_body(&body)?, &name)?;
    let existing = w.state().get(&name).cloned();
    keep_hidden(&mut config, existing.as_ref());
    if let Some(e) = &existing
        && same_config(&e.config, &config)
    {
        // Identical: nothing to write, nothing restarts.
        return Ok(axum::Json(info_json(&w, &name, e)).into_response());
    }
    check(&w, &config).await?;
    write(
        &w,
        ConfigRecord::Connector {
            name: name.clone(),
            config: Some(config),
        },
    )
    .await?;
    let e = entry(&w, &name, not_found(&name))?;
    let body = info_json(&w, &name, &e);
    Ok(if existing.is_some() {
        axum::Json(body).into_response()
    } else {
        created(&name, body)
    })
}

async fn patch_config(
    State(w): Shared,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let existing = entry(&w, &name, not_found(&name))?;
    let Value::Object(patch) = parse_body(&body)? else {
        return Err(ApiError::bad_request(
            "the patch must be a JSON object; a null value removes a key",
        ));
    };
    let mut merged = Value::Object(existing.config.clone());
    for (k, v) in patch {
        if v.is_null() {
            if let Some(m) = merged.as_object_mut() {
                m.remove(&k);
            }
        } else {
            merged[k] = v;
        }
    }
    let mut config = config_map(merged, &name)?;
    keep_hidden(&mut config, Some(&existing));
    if !same_config(&existing.config, &config) {
        check(&w, &config).await?;
        write(
            &w,
            ConfigRecord::Connector {
                name: name.clone(),
                config: Some(config),
            },
        )
        .await?;
    }
    let e = entry(&w, &name, not_found(&name))?;
    Ok(axum::Json(info_json(&w, &name, &e)).into_response())
}

async fn remove(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let e = entry(&w, &name, not_found(&name))?;
    if e.redrives.is_some() {
        let name = name.clone();
        write(&w, ConfigRecord::Redrives { name, value: None }).await?;
    }
    write(
        &w,
        ConfigRecord::Connector {
            name: name.clone(),
            config: None,
        },
    )
    .await?;
    write(&w, ConfigRecord::TargetState { name, state: None }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn status(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, || {
        format!("No status found for connector {name}")
    })?;
    Ok(axum::Json(status_json(&w, &name, &e)).into_response())
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
    let e = entry(&w, &name, not_found(&name))?;
    if e.target == TargetState::Stopped {
        return Ok(axum::Json(json!([])).into_response());
    }
    let list: Vec<Value> = cluster_tasks(&name, &w.live_reports())
        .iter()
        .map(|t| json!({ "id": { "connector": name, "task": t.id }, "config": task_config(&e) }))
        .collect();
    Ok(axum::Json(json!(list)).into_response())
}

async fn tasks_config(State(w): Shared, Path(name): Path<String>) -> ApiResult<Response> {
    let e = entry(&w, &name, not_found(&name))?;
    let mut out = Map::new();
    if e.target != TargetState::Stopped {
        for t in cluster_tasks(&name, &w.live_reports()) {
            out.insert(format!("{name}-{}", t.id), task_config(&e));
        }
    }
    Ok(axum::Json(Value::Object(out)).into_response())
}

async fn task_status(
    State(w): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<Response> {
    let missing = || ApiError::not_found(format!("No status found for task {name}-{task}"));
    let id: usize = task.parse().map_err(|_| missing())?;
    let live = w.live_reports();
    let found = cluster_tasks(&name, &live)
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(missing)?;
    Ok(axum::Json(task_json(&found)).into_response())
}

async fn restart_task(
    State(w): Shared,
    Path((name, task)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    entry(&w, &name, || format!("Unknown connector: {name}"))?;
    let missing = || ApiError::not_found(format!("Unknown task: {name}-{task}"));
    let id: usize = task.parse().map_err(|_| missing())?;
    let live = w.live_reports();
    let worker = cluster_tasks(&name, &live)
        .into_iter()
        .find(|t| t.id == id)
        .map(|t| t.worker_id.to_string())
        .ok_or_else(missing)?;
    write(
        &w,
        ConfigRecord::Restart {
            name,
            include_tasks: true,
            only_failed: false,
            worker: Some(worker),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_target(w: &Worker, name: String, state: TargetState) -> ApiResult<()> {
    entry(w, &name, unknown(&name))?;
    write(
        w,
        ConfigRecord::TargetState {
            name,
            state: Some(state),
        },
    )
    .await
}

async fn pause(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    set_target(&w, name, TargetState::Paused).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn resume(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    set_target(&w, name, TargetState::Started).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn stop(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    set_target(&w, name, TargetState::Stopped).await?;
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
    let e = entry(&w, &name, || format!("Unknown connector: {name}"))?;
    let mut shown = status_json(&w, &name, &e);
    write(
        &w,
        ConfigRecord::Restart {
            name,
            include_tasks,
            only_failed,
            worker: None,
        },
    )
    .await?;
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
    entry(&w, &name, not_found(&name))?;
    let topics = active_topics(&name, &w.live_reports());
    Ok(axum::Json(json!({ name: { "topics": topics } })).into_response())
}

async fn reset_topics(State(w): Shared, Path(name): Path<String>) -> ApiResult<StatusCode> {
    entry(&w, &name, not_found(&name))?;
    write(&w, ConfigRecord::TopicsReset { name }).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitted_configs_are_strings_named_by_the_url() {
        let c = config_map(json!({"tasks.max": 2, "flag": true, "topics": "t"}), "a").expect("ok");
        assert_eq!(c["tasks.max"], "2");
        assert_eq!(c["flag"], "true");
        assert_eq!(c["name"], "a");
        let e = config_map(json!({"name": "b"}), "a").expect_err("mismatch");
        assert_eq!(
            e.message,
            "Connector name configuration (b) doesn't match connector name in the URL (a)"
        );
        let e = config_map(json!({"x": null, "y": [1]}), "a").expect_err("not strings");
        assert!(e.message.contains("x: Null value") && e.message.contains("y: must be a string"));
        assert!(config_map(json!([1]), "a").is_err());
        assert_eq!(percent("a b/c"), "a%20b%2Fc");
    }
}
