//! `/health` and `/metrics`, served the same way by every process
//! ([`observability`] over what it reports, [`Observed`]), and the endpoint
//! of `run` on `http.listener`: those two, `GET /status` (Kafka Connect's
//! status JSON) and `GET /events` (the connector's event log; [`events`]
//! answers it for `serve` too). `serve` adds them to its REST API.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Fault, OrFault};
use crate::events::Events;
use crate::metrics::Metrics;
use crate::status::ServiceStatus;
use lambda_sink_core::journal::{Event, Query as JournalQuery};

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
    events: Arc<Events>,
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
        .with_state(Shared {
            status,
            metrics,
            events,
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
