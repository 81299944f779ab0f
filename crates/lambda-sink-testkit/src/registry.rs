//! A minimal Schema Registry speaking the subset of Confluent's REST API that
//! Confluent's serializers and lambda-sink use. Test support only: schemas
//! live in memory and compatibility is never checked.
//!
//! Contexts work as in Confluent's registry: a subject qualified as
//! `:.ctx:subject` lives in context `.ctx`, each context numbers its schemas
//! independently, and `GET /schemas/ids/{id}?subject=:.ctx:` looks an id up
//! in that context. Each schema also has a GUID (`GET /schemas/guids/{guid}`).
//!
//! Besides the Confluent endpoints it has two for tests:
//! `POST /_test/fail {"count": N, "status": 503}` makes the next N requests
//! fail with that status (a registry outage), and `GET /_test/stats` returns
//! how many requests each path received (to prove caching).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, Request, State};
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
    /// Context → schemas (id − 1 → schema).
    schemas: BTreeMap<String, Vec<Stored>>,
    /// Qualified subject → schema ids by version (version = index + 1).
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
        .route("/schemas/guids/{guid}", get(get_by_guid))
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

/// The context of a (possibly qualified) subject: `:.ctx:name` → `.ctx`.
fn context_of(subject: &str) -> String {
    subject
        .strip_prefix(':')
        .and_then(|rest| rest.split_once(':'))
        .map_or_else(|| ".".to_string(), |(ctx, _)| ctx.to_string())
}

/// A schema's GUID, derived from its context and id.
fn guid(context: &str, index: usize) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in context.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 12) & 0xfff,
        index + 1
    )
}

fn describe(context: &str, index: usize, s: &Stored) -> Value {
    let mut v = json!({ "id": index + 1, "guid": guid(context, index), "schema": s.schema });
    if s.schema_type != "AVRO" {
        v["schemaType"] = json!(s.schema_type);
    }
    if !s.references.is_empty() {
        v["references"] = json!(s.references);
    }
    v
}

fn with_version(mut body: Value, subject: &str, version: usize) -> Response {
    body["subject"] = json!(subject);
    body["version"] = json!(version);
    Json(body).into_response()
}

async fn register(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    Json(req): Json<SchemaRequest>,
) -> Response {
    let stored = req.stored();
    let context = context_of(&subject);
    let mut r = lock(&state);
    let schemas = r.schemas.entry(context.clone()).or_default();
    let index = match schemas.iter().position(|s| *s == stored) {
        Some(i) => i,
        None => {
            schemas.push(stored);
            schemas.len() - 1
        }
    };
    let body = describe(&context, index, &schemas[index]);
    let versions = r.subjects.entry(subject.clone()).or_default();
    if !versions.contains(&index) {
        versions.push(index);
    }
    let version = versions
        .iter()
        .position(|v| *v == index)
        .map_or(0, |p| p + 1);
    with_version(body, &subject, version)
}

async fn lookup(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    Json(req): Json<SchemaRequest>,
) -> Response {
    let stored = req.stored();
    let context = context_of(&subject);
    let r = lock(&state);
    let (Some(versions), Some(schemas)) = (r.subjects.get(&subject), r.schemas.get(&context))
    else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    match versions
        .iter()
        .enumerate()
        .find(|(_, i)| schemas[**i] == stored)
    {
        Some((v, i)) => with_version(describe(&context, *i, &schemas[*i]), &subject, v + 1),
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
    let context = context_of(&subject);
    let r = lock(&state);
    let (Some(versions), Some(schemas)) = (r.subjects.get(&subject), r.schemas.get(&context))
    else {
        return error(StatusCode::NOT_FOUND, 40401, "Subject not found");
    };
    let position = match version.as_str() {
        "latest" | "-1" => versions.len().checked_sub(1),
        v => v.parse::<usize>().ok().and_then(|v| v.checked_sub(1)),
    };
    match position.and_then(|p| versions.get(p).map(|i| (p, *i))) {
        Some((p, i)) => with_version(describe(&context, i, &schemas[i]), &subject, p + 1),
        None => error(StatusCode::NOT_FOUND, 40402, "Version not found"),
    }
}

#[derive(Deserialize)]
struct IdQuery {
    subject: Option<String>,
}

async fn get_by_id(
    State(state): State<Shared>,
    Path(id): Path<usize>,
    Query(q): Query<IdQuery>,
) -> Response {
    let context = q
        .subject
        .as_deref()
        .map_or_else(|| ".".to_string(), context_of);
    let r = lock(&state);
    let found = r.schemas.get(&context).and_then(|schemas| {
        id.checked_sub(1)
            .and_then(|i| schemas.get(i).map(|s| (i, s)))
    });
    match found {
        Some((i, s)) => Json(describe(&context, i, s)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            40403,
            &format!("Schema {id} not found"),
        ),
    }
}

async fn get_by_guid(State(state): State<Shared>, Path(wanted): Path<String>) -> Response {
    let r = lock(&state);
    for (context, schemas) in &r.schemas {
        if let Some((i, s)) = schemas
            .iter()
            .enumerate()
            .find(|(i, _)| guid(context, *i) == wanted)
        {
            return Json(describe(context, i, s)).into_response();
        }
    }
    error(
        StatusCode::NOT_FOUND,
        40403,
        &format!("Schema {wanted} not found"),
    )
}

async fn get_id_versions(State(state): State<Shared>, Path(id): Path<usize>) -> Response {
    let r = lock(&state);
    let found: Vec<Value> = r
        .subjects
        .iter()
        .filter(|(subject, _)| context_of(subject) == ".")
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

/// Starts a private registry on 127.0.0.1 at a free port, in the current
/// runtime (for tests that inject failures without disturbing others);
/// returns its URL.
///
/// # Errors
/// When no port can be bound.
pub async fn start() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router()).await;
    });
    Ok(url)
}
