//! `/health` and `/metrics`, served the same way by every process
//! ([`observability`] over what it reports, [`Observed`]), and the endpoint
//! of `run` on `http.listener`: those two, `GET /status` (Kafka Connect's
//! status JSON), `GET /events` (the connector's event log; [`events`]
//! answers it for `serve` too), `GET /parked` (its parked keys;
//! [`parked`], likewise) and `POST /parked/retry`, `/parked/skip` (an
//! operator's order for a parked key; [`ordered_places`] finds where it
//! is parked, for `serve` too). `serve` adds them to its REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::epoch_ms;
use crate::error::{Error, Fault, OrFault};
use crate::events::Events;
use crate::kafka::parked::ParkedReader;
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use lambda_sink_core::config::Config;
use lambda_sink_core::journal::{Event, Query as JournalQuery};
use lambda_sink_core::park_orders::KeyRequest;

use crate::pipeline::{Orders, Telemetry};

/// The media type of prometheus-client's exposition.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What a process's `/health` and `/metrics` report: one connector (`run`)
/// or a worker's many (`serve`).
pub trait Observed: Clone + Send + Sync + 'static {
    /// `Ok(body)` while healthy (200), `Err(body)` otherwise (503).
    ///
    /// # Errors
    /// The body of an unhealthy answer.
    fn health(&self) -> Result<Value, Value>;
    /// The metrics, as OpenMetrics text.
    fn metrics(&self) -> String;
}

/// `GET /health` and `GET /metrics` over `S`'s state.
pub fn observability<S: Observed>() -> Router<S> {
    Router::new()
        .route("/health", get(health::<S>))
        .route("/metrics", get(metrics::<S>))
}

async fn health<S: Observed>(State(s): State<S>) -> Response {
    match s.health() {
        Ok(body) => (StatusCode::OK, axum::Json(body)).into_response(),
        Err(body) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response(),
    }
}

async fn metrics<S: Observed>(State(s): State<S>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], s.metrics()).into_response()
}

#[derive(Clone)]
struct Shared {
    status: Arc<ServiceStatus>,
    metrics: Arc<Metrics>,
    events: Arc<Events>,
    parked: Option<ParkedReader>,
    orders: Orders,
}

/// What `run`'s endpoint shows besides its status: the connector's event
/// log and, when it parks keys, its parked topic; and where it takes the
/// operator's orders for parked keys.
pub struct Shown {
    /// The event log.
    pub events: Arc<Events>,
    /// The parked topic's reader (`aws.lambda.on.key.failure=park`).
    pub parked: Option<ParkedReader>,
    /// The pipeline's orders for parked keys.
    pub orders: Orders,
}

impl Shown {
    /// What `config`'s endpoint shows of its pipeline's `telemetry`.
    pub fn of(config: &Config, telemetry: &Telemetry) -> Self {
        Self {
            events: telemetry.events.clone(),
            parked: parked_reader(config),
            orders: telemetry.orders.clone(),
        }
    }
}

/// The reader of `config`'s parked topic, when it parks keys.
pub fn parked_reader(config: &Config) -> Option<ParkedReader> {
    config
        .errors
        .park
        .as_ref()
        .map(|p| ParkedReader::new(&config.kafka, p.topic.name.as_str()))
}

/// Binds `addr` and serves until `stop` is cancelled; returns the bound
/// address (port 0 picks a free one).
///
/// # Errors
/// When the address cannot be bound (in use, not local, no permission).
pub async fn serve(
    addr: SocketAddr,
    status: Arc<ServiceStatus>,
    metrics: Arc<Metrics>,
    shown: Shown,
    stop: CancellationToken,
) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind(addr).await.or_fault_with(Fault::Setup, || {
        format!("http.listener {addr} cannot be bound (in use?); choose another port, 0 for any free one, or none to disable the endpoint")
    })?;
    let bound = listener
        .local_addr()
        .or_fault(Fault::Internal, "reading the bound address")?;
    let app = observability()
        .route("/status", get(status_json))
        .route("/events", get(events_json))
        .route("/parked", get(parked_json))
        .route("/parked/retry", post(retry_key))
        .route("/parked/skip", post(skip_key))
        .with_state(Shared {
            status,
            metrics,
            events: shown.events,
            parked: shown.parked,
            orders: shown.orders,
        });
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "HTTP endpoint stopped");
        }
    });
    Ok(bound)
}

impl Observed for Shared {
    fn health(&self) -> Result<Value, Value> {
        if self.status.healthy() {
            Ok(serde_json::json!({ "status": "UP" }))
        } else {
            let state = self.status.to_json()["connector"]["state"].clone();
            Err(serde_json::json!({ "status": "DOWN", "state": state }))
        }
    }

    fn metrics(&self) -> String {
        self.metrics.encode()
    }
}

async fn status_json(State(s): State<Shared>) -> Response {
    axum::Json(s.status.to_json()).into_response()
}

async fn events_json(
    State(s): State<Shared>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    match events(&params, |query| s.events.query(query)) {
        Ok(body) => axum::Json(body).into_response(),
        Err(message) => (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({ "error_code": 400, "message": message })),
        )
            .into_response(),
    }
}

async fn parked_json(State(s): State<Shared>) -> Response {
    match parked(s.parked).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({ "error_code": 500, "message": e.to_string() })),
        )
            .into_response(),
    }
}

/// The answer to `GET …/parked`: `{"parking": true, "parked": [...]}`, each
/// parked key once (`topic`, `partition`, `key` as text when it is UTF-8,
/// `key_base64`, `first_offset`, `last_offset`, `records`, `parked_at`,
/// `age_ms`, `reason`), oldest first, as the parked topic holds them — the
/// same on every worker; `{"parking": false, "parked": []}` without
/// `reader` (the connector does not park keys).
///
/// # Errors
/// When the parked topic cannot be read.
pub async fn parked(reader: Option<ParkedReader>) -> Result<Value, Error> {
    let Some(reader) = reader else {
        return Ok(serde_json::json!({ "parking": false, "parked": [] }));
    };
    let now = epoch_ms();
    let keys: Vec<Value> = reader
        .keys()
        .await?
        .into_iter()
        .map(|k| {
            let age = now.saturating_sub(k.parked_at).max(0);
            let mut v = serde_json::to_value(k).unwrap_or_default();
            v["age_ms"] = age.into();
            v
        })
        .collect();
    Ok(serde_json::json!({ "parking": true, "parked": keys }))
}

async fn retry_key(State(s): State<Shared>, body: Bytes) -> Response {
    order_key(&s, &body, false).await
}

async fn skip_key(State(s): State<Shared>, body: Bytes) -> Response {
    order_key(&s, &body, true).await
}

/// `run`'s order for a parked key: 202 once handed to the partition's
/// worker.
async fn order_key(s: &Shared, body: &[u8], skip: bool) -> Response {
    let answer = |code: StatusCode, message: String| {
        (
            code,
            axum::Json(serde_json::json!({ "error_code": code.as_u16(), "message": message })),
        )
            .into_response()
    };
    let request = match serde_json::from_slice(body)
        .map_err(|e| format!("the body is not JSON: {e}"))
        .and_then(|v| KeyRequest::parse(&v).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(message) => return answer(StatusCode::BAD_REQUEST, message),
    };
    match ordered_places(s.parked.clone(), &request).await {
        Ok(places) => {
            for (topic, partition) in &places {
                s.orders.give(topic, *partition, request.key.clone(), skip);
            }
            (
                StatusCode::ACCEPTED,
                axum::Json(order_answer(&request, &places, skip)),
            )
                .into_response()
        }
        Err(e @ OrderError::NotParked(_)) => answer(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ OrderError::NotParking) => answer(StatusCode::BAD_REQUEST, e.to_string()),
        Err(OrderError::Unavailable(e)) => answer(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// Why an order for a parked key cannot be given.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The connector does not park keys.
    #[error("the connector does not park keys (aws.lambda.on.key.failure=resolve)")]
    NotParking,
    /// The key is not parked (where the request says).
    #[error("key {0} is not parked (GET .../parked lists the parked keys)")]
    NotParked(String),
    /// The parked topic cannot be read.
    #[error("{0}")]
    Unavailable(#[from] Error),
}

/// Where `request`'s key is parked, as the parked topic says now.
///
/// # Errors
/// [`OrderError`]: not parking, not parked, or the topic unreadable.
pub async fn ordered_places(
    reader: Option<ParkedReader>,
    request: &KeyRequest,
) -> Result<Vec<(String, i32)>, OrderError> {
    let Some(reader) = reader else {
        return Err(OrderError::NotParking);
    };
    let places = request.places(&reader.keys().await?);
    if places.is_empty() {
        return Err(OrderError::NotParked(request.shown()));
    }
    Ok(places)
}

/// The answer to an order: what was asked of which places.
pub fn order_answer(request: &KeyRequest, places: &[(String, i32)], skip: bool) -> Value {
    let what = if skip {
        "its parked records are resolved as failed, without an invocation"
    } else {
        "it is retried now"
    };
    serde_json::json!({
        "message": format!("key {} ordered: {what}", request.shown()),
        "places": places.iter().map(|(t, p)| serde_json::json!({ "topic": t, "partition": p })).collect::<Vec<_>>(),
    })
}

/// The answer to `GET …/events?level=&since=&until=&limit=`:
/// `{"events": [...]}` of what `read` finds for the query, oldest first;
/// or why the query is wrong.
///
/// # Errors
/// A parameter that does not parse, for the 400 answer.
pub fn events(
    params: &[(String, String)],
    read: impl FnOnce(&JournalQuery) -> Vec<Event>,
) -> Result<Value, String> {
    let query = JournalQuery::parse(params.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| e.to_string())?;
    Ok(serde_json::json!({ "events": read(&query) }))
}
