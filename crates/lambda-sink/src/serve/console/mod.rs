//! The web console at `/console`: a page and a small script, embedded in
//! the binary (no Node.js at run time, no CDN), driving the same REST API
//! a script would, plus read-only helpers of its own under
//! `/console/api`: the cluster's topics (the form's topic picker, each
//! with its kind), the worker's connector defaults (shown in the form),
//! the form's layout and the id a name becomes ([`form`]), a connector's
//! live plot data ([`series`]) and its latest dead letters.
//!
//! Everything from records, headers and configs reaches the page as JSON
//! and is put into the page as text (`textContent`, never HTML); the
//! Content-Security-Policy allows only the embedded script, so even a
//! mistake there could not run a planted one. The listener's
//! authentication applies to all data; only the static shell is public.

pub mod form;
pub mod series;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use lambda_sink_core::config::ClientRole;
use lambda_sink_core::connect::infos::masked;
use lambda_sink_core::connect::records::Props;
use lambda_sink_core::dead_letter::{context, is_added_header};
use lambda_sink_core::record::SourceRecord;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

use super::node::Node;
use super::redrive::{Range, read_ranges, watermarks};
use super::rest::error::{ApiError, ApiResult};
use crate::error::{Error, Fault, OrFault};
use crate::kafka::client_config;
use crate::kafka::failed;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// Dead letters shown at most.
const DLQ_SHOWN: usize = 200;
/// Bytes of a key, value or header shown before truncating.
const SHOWN_BYTES: usize = 2048;

/// The embedded page, script and style: public (they hold no data), so a
/// browser can load the page and then ask for a bearer token.
const SHELL: [&str; 4] = [
    "/console",
    "/console/",
    "/console/app.js",
    "/console/app.css",
];

/// Whether `path` is the console's static shell, served without credentials.
pub fn is_shell(path: &str) -> bool {
    SHELL.contains(&path)
}

/// The console's routes.
pub fn routes() -> Router<Arc<Node>> {
    Router::new()
        .route(SHELL[0], get(page))
        .route(SHELL[1], get(page))
        .route(SHELL[2], get(script))
        .route(SHELL[3], get(style))
        .route("/console/api/topics", get(topics))
        .route("/console/api/defaults", get(defaults))
        .route("/console/api/form", get(layout))
        .route("/console/api/id", get(id))
        .route("/console/api/connectors/{name}/series", get(plot))
        .route("/console/api/connectors/{name}/dlq", get(dead_letters))
}

/// A page's security headers: only our own script and style, no framing.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// The form's layout: essentials first, conditions of required properties.
async fn layout() -> axum::Json<Value> {
    axum::Json(form::layout())
}

/// The connector id `?name=` becomes.
async fn id(Query(q): Query<std::collections::HashMap<String, String>>) -> axum::Json<Value> {
    axum::Json(form::id_of(q.get("name").map_or("", String::as_str)))
}

/// The cluster's topics but Kafka's own (`__...`), sorted, each with its
/// [`form::TopicKind`].
async fn topics(State(w): State<Arc<Node>>) -> ApiResult<axum::Json<Value>> {
    let props = client_config(&w.config.kafka.client_properties(ClientRole::Admin));
    let names = tokio::task::spawn_blocking(move || -> Result<Vec<String>, Error> {
        let c: BaseConsumer = props.create().map_err(failed("creating a Kafka client"))?;
        let metadata = c
            .fetch_metadata(None, Duration::from_secs(10))
            .map_err(failed("reading the cluster's topics"))?;
        let mut names: Vec<String> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none() && !t.name().starts_with("__"))
            .map(|t| t.name().to_string())
            .collect();
        names.sort();
        Ok(names)
    })
    .await
    .or_fault(Fault::Internal, "the topic lister ended abnormally")
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::internal(&e))?;
    let own = [
        w.config.config_topic.as_str(),
        w.config.status_topic.as_str(),
    ];
    let all = names.iter().map(String::as_str).collect();
    let topics: Vec<Value> = names
        .iter()
        .map(|t| json!({ "name": t, "kind": form::topic_kind(t, &own, &all).as_str() }))
        .collect();
    Ok(axum::Json(json!(topics)))
}

/// The connector defaults of this worker's file (secrets masked): the
/// form shows them, so a property the worker supplies is not "required".
async fn defaults(State(w): State<Arc<Node>>) -> axum::Json<Value> {
    let props: Props = w
        .config
        .defaults
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    axum::Json(Value::Object(masked(&props)))
}

async fn plot(
    State(w): State<Arc<Node>>,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    if w.admin.state().get(&name).is_none() {
        return Err(ApiError::not_found(format!("Connector {name} not found")));
    }
    Ok(axum::Json(w.series.plot(&name)))
}

/// Bytes as the page may show them: UTF-8 text or base64, truncated.
fn shown(bytes: Option<&[u8]>) -> Value {
    let Some(bytes) = bytes else {
        return Value::Null;
    };
    let cut = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let (encoding, text) = match std::str::from_utf8(cut) {
        Ok(t) => ("utf-8", t.to_string()),
        // A cut through a character: keep the whole characters.
        Err(e) if e.error_len().is_none() && std::str::from_utf8(bytes).is_ok() => (
            "utf-8",
            String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned(),
        ),
        Err(_) => (
            "base64",
            base64::engine::general_purpose::STANDARD.encode(cut),
        ),
    };
    json!({
        "encoding": encoding,
        "text": text,
        "bytes": bytes.len(),
        "truncated": bytes.len() > SHOWN_BYTES,
    })
}

/// A dead letter as the DLQ view shows it: its `__connect.errors.*`
/// headers decoded, its bytes made safe to show.
fn dead_letter(r: &SourceRecord) -> Value {
    let header = |name: &str| {
        r.headers
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let error = |field: &str| header(&format!("__connect.errors.{field}"));
    json!({
        "partition": r.partition,
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": shown(r.key.as_deref()),
        "value": shown(r.value.as_deref()),
        // The record's own headers: what lambda-sink added is decoded below.
        "headers": r
            .headers
            .iter()
            .filter(|(k, _)| !is_added_header(k))
            .map(|(k, v)| json!({"key": k, "value": shown(v.as_deref())}))
            .collect::<Vec<_>>(),
        "error": {
            "stage": error("stage"),
            "class": error("class.name"),
            "exception": error("exception.class.name"),
            "message": error("exception.message"),
            "topic": error("topic"),
            "partition": error("partition"),
            "offset": error("offset"),
        },
        // A batch failure's ESM context, when it went to the DLQ with one.
        "failure": {
            "condition": header(context::CONDITION),
            "invokes": header(context::INVOKE_COUNT),
            "batch_size": header(context::BATCH_SIZE),
            "first_offset": header(context::FIRST_OFFSET),
            "last_offset": header(context::LAST_OFFSET),
            "failed_offset": header(context::FAILED_OFFSET),
        },
    })
}

async fn dead_letters(
    State(w): State<Arc<Node>>,
    Path(name): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<axum::Json<Value>> {
    let entry = w
        .admin
        .state()
        .get(&name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("Connector {name} not found")))?;
    let limit = params
        .iter()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, DLQ_SHOWN);
    let v = w.admin.validate(&entry.config).await;
    let config = v.config.ok_or_else(|| {
        ApiError::bad_request(lambda_sink_core::connect::infos::invalid_message(&v.errors))
    })?;
    let Some(dlq) = config.errors.dlq.as_ref() else {
        return Ok(axum::Json(json!({ "dlq_topic": null, "records": [] })));
    };
    let topic = dlq.topic.name.as_str().to_string();
    let marks = watermarks(&config, &topic)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let total: i64 = marks.iter().map(|(_, low, high)| high - low).sum();
    let per_partition = i64::try_from(limit).unwrap_or(50);
    let ranges: Vec<Range> = marks
        .iter()
        .map(|&(partition, low, high)| Range {
            partition,
            from: (high - per_partition).max(low),
            to: high,
        })
        .collect();
    let (mut records, _) = read_ranges(&config, &topic, ranges, limit * marks.len().max(1))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    // Newest first.
    records.sort_by_key(|r| std::cmp::Reverse((r.timestamp, r.offset)));
    records.truncate(limit);
    Ok(axum::Json(json!({
        "dlq_topic": topic,
        "total": total,
        "records": records.iter().map(dead_letter).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_shown_safely() {
        assert_eq!(shown(None), Value::Null);
        let text = shown(Some(b"<script>alert(1)</script>"));
        assert_eq!(text["encoding"], "utf-8");
        assert_eq!(
            text["text"], "<script>alert(1)</script>",
            "escaped by the page, not altered"
        );
        let binary = shown(Some(&[0xff, 0x00, 0x41]));
        assert_eq!(
            (binary["encoding"].clone(), binary["text"].clone()),
            (json!("base64"), json!("/wBB"))
        );
        let long = "é".repeat(SHOWN_BYTES);
        let cut = shown(Some(long.as_bytes()));
        assert_eq!(cut["encoding"], "utf-8");
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["text"].as_str().map(str::len), Some(SHOWN_BYTES));
    }
}
