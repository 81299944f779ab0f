//! A minimal Schema Registry speaking the subset of Confluent's REST API that
//! Confluent's serializers and lambda-sink use. Test support only: schemas
//! live in memory and compatibility is never checked.
//!
//! Besides the Confluent endpoints it has two for tests:
//! `POST /_test/fail {"count": N, "status": 503}` makes the next N requests
//! fail with that status (a registry outage), and `GET /_test/stats` returns
//! how many requests each path received (to prove caching).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A reference from one schema to another (Protobuf imports, Avro named types).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Import name.
    pub name: String,
    /// Subject of the referenced schema.
    pub subject: String,
    /// Version of the referenced schema.
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stored {
    schema_type: String,
    schema: String,
    references: Vec<Reference>,
}

#[derive(Default)]
struct Registry {
    /// Schema id − 1 → schema.
    schemas: Vec<Stored>,
    /// Subject → schema ids by version (version = index + 1).
    subjects: BTreeMap<String, Vec<usize>>,
    fail: Option<(u32, u16)>,
    requests: BTreeMap<String, u64>,
}

type Shared = Arc<Mutex<Registry>>;

fn lock(state: &Shared) -> MutexGuard<'_, Registry> {
    // A panic while holding the lock leaves consistent data (every update is
    // a single push/insert), so a poisoned lock can be used.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The registry's HTTP routes.
pub fn router() -> Router {
    let state: Shared = Arc::default();
    Router::new()
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route("/subjects/{subject}/versions/{version}", get(get_version))
        .route("/schemas/ids/{id}", get(get_by_id))
        .route("/schemas/ids/{id}/versions", get(get_id_versions))
        .route(
            "/schemas/types",
            get(|| async { Json(json!(["AVRO", "JSON", "PROTOBUF"])) }),
        )
        .route("/config", get(config).put(config))
        .route("/config/{subject}", get(config).put(config))
        .route("/_test/fail", post(set_fail))
        .route("/_test/stats", get(stats))
        .layer(middleware::from_fn_with_state(state.clone(), faults))
        .with_state(state)
}

async fn faults(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if !path.starts_with("/_test/") {
        let mut r = lock(&state);
        *r.requests.entry(path).or_default() += 1;
        if let Some((count, status)) = r.fail {
            r.fail = (count > 1).then_some((count - 1, status));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return error(status, 50003, "injected failure");
        }
    }
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/vnd.schemaregistry.v1+json"),
    );
    response
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct SchemaRequest {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

impl SchemaRequest {
    fn stored(self) -> Stored {
        Stored {
            schema_type: self.schema_type.unwrap_or_else(|| "AVRO".into()),
            schema: self.schema,
            references: self.references,
        }
    }
}

fn describe(id: usize, s: &Stored) -> Value {
    let mut v = json!({ "id": id + 1, "schema": s.schema });
    if s.schema_type != "AVRO" {
        v["schemaType"] = json!(s.schema_type);
    }
    if !s.references.is_empty() {
        v["references"] = json!(s.references);
    }
    v
}

async fn register(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    Json(req): Json<SchemaRequest>,
) -> Response {
    let stored = req.stored();
    let mut r = lock(&state);
    let id = match r.schemas.iter().position(|s| *s == stored) {
        Some(id) => id,
        None => {
            r.schemas.push(stored);
            r.schemas.len() - 1
        }
    };
    let versions = r.subjects.entry(subject.clone()).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    let version = versions.iter().position(|v| *v == id).map_or(0, |p| p + 1);
    let mut body = describe(id, &r.schemas[id]);
    body["subject"] = json!(subject);
    body["version"] = json!(version);
    Json(body).into_response()
}

async fn lookup(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    Json(req): Json<SchemaRequest>,
) -> Response {
    let stored = req.stored();
    let r = lock(&state);
    let Some(versions) = r.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    match versions
        .iter()
        .enumerate()
        .find(|(_, id)| r.schemas[**id] == stored)
    {
        Some((i, id)) => {
            let mut body = describe(*id, &r.schemas[*id]);
            body["subject"] = json!(subject);
            body["version"] = json!(i + 1);
            Json(body).into_response()
        }
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found"),
    }
}

async fn list_subjects(State(state): State<Shared>) -> Response {
    Json(lock(&state).subjects.keys().cloned().collect::<Vec<_>>()).into_response()
}

async fn list_versions(State(state): State<Shared>, Path(subject): Path<String>) -> Response {
    match lock(&state).subjects.get(&subject) {
        Some(v) => Json((1..=v.len()).collect::<Vec<_>>()).into_response(),
        None => error(StatusCode::NOT_FOUND, 40401, "Subject not found"),
    }
}

async fn get_version(
    State(state): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
) -> Response {
    let r = lock(&state);
    let Some(versions) = r.subjects.get(&subject) else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    let index = match version.as_str() {
        "latest" | "-1" => versions.len().checked_sub(1),
        v => v.parse::<usize>().ok().and_then(|v| v.checked_sub(1)),
    };
    match index.and_then(|i| versions.get(i).map(|id| (i, *id))) {
        Some((i, id)) => {
            let mut body = describe(id, &r.schemas[id]);
            body["subject"] = json!(subject);
            body["version"] = json!(i + 1);
            Json(body).into_response()
        }
        None => error(StatusCode::NOT_FOUND, 40402, "Version not found"),
    }
}

async fn get_by_id(State(state): State<Shared>, Path(id): Path<usize>) -> Response {
    let r = lock(&state);
    match id
        .checked_sub(1)
        .and_then(|i| r.schemas.get(i).map(|s| (i, s)))
    {
        Some((i, s)) => Json(describe(i, s)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            40403,
            &format!("Schema {id} not found"),
        ),
    }
}

async fn get_id_versions(State(state): State<Shared>, Path(id): Path<usize>) -> Response {
    let r = lock(&state);
    let found: Vec<Value> = r
        .subjects
        .iter()
        .flat_map(|(subject, ids)| {
            ids.iter()
                .enumerate()
                .filter(|(_, i)| **i + 1 == id)
                .map(move |(v, _)| json!({ "subject": subject, "version": v + 1 }))
        })
        .collect();
    if found.is_empty() {
        error(
            StatusCode::NOT_FOUND,
            40403,
            &format!("Schema {id} not found"),
        )
    } else {
        Json(found).into_response()
    }
}

async fn config() -> Response {
    Json(json!({ "compatibilityLevel": "NONE" })).into_response()
}

#[derive(Deserialize)]
struct Fail {
    count: u32,
    #[serde(default = "default_fail_status")]
    status: u16,
}

fn default_fail_status() -> u16 {
    503
}

async fn set_fail(State(state): State<Shared>, Json(fail): Json<Fail>) -> Response {
    lock(&state).fail = (fail.count > 0).then_some((fail.count, fail.status));
    StatusCode::NO_CONTENT.into_response()
}

async fn stats(State(state): State<Shared>) -> Response {
    Json(json!({ "requests": lock(&state).requests })).into_response()
}
