//! The HTTP endpoint on `http.listener`: `GET /health` (200 while running,
//! 503 otherwise), `GET /status` (Kafka Connect's status JSON), `GET
//! /metrics` (Prometheus text).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Fault, OrFault};
use crate::metrics::Metrics;
use crate::status::ServiceStatus;

#[derive(Clone)]
struct Shared {
    status: Arc<ServiceStatus>,
    metrics: Arc<Metrics>,
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
    stop: CancellationToken,
) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind(addr).await.or_fault_with(Fault::Setup, || {
        format!("http.listener {addr} cannot be bound (in use?); choose another port, 0 for any free one, or none to disable the endpoint")
    })?;
    let bound = listener
        .local_addr()
        .or_fault(Fault::Internal, "reading the bound address")?;
    let app = Router::new()
        .route("/health", get(health))
        .route("/status", get(status_json))
        .route("/metrics", get(metrics_text))
        .with_state(Shared { status, metrics });
    tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "HTTP endpoint stopped");
        }
    });
    Ok(bound)
}

async fn health(State(s): State<Shared>) -> Response {
    if s.status.healthy() {
        (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "UP" })),
        )
            .into_response()
    } else {
        let state = s.status.to_json()["connector"]["state"].clone();
        let body = serde_json::json!({ "status": "DOWN", "state": state });
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn status_json(State(s): State<Shared>) -> Response {
    axum::Json(s.status.to_json()).into_response()
}

async fn metrics_text(State(s): State<Shared>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}
