//! Kafka Connect's REST API (Apache Kafka 3.9 level) on the worker's
//! listener: paths, JSON shapes, status codes and error bodies
//! (`{"error_code": N, "message": "..."}`) as Connect has them, so kcctl,
//! kafka-ui, Redpanda Console, AKHQ and Terraform work unchanged.
//!
//! This module owns the router, the error shape (every error, including
//! unknown paths, wrong methods and oversized bodies, is answered in it),
//! authentication (basic or bearer), the body bound and HTTPS. The
//! endpoints are in [`connectors`], [`offsets`] and [`plugins`].

mod connectors;
pub(crate) mod error;
mod offsets;
mod plugins;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use self::error::{ApiError, error_response};
use super::node::Node;
use crate::error::{Error, Fault, OrFault};
use lambda_sink_core::config::worker::{Auth, TlsFiles};

/// The API's routes.
pub fn router(worker: Arc<Node>) -> Router {
    let max_body = worker.config.max_body;
    let auth = worker.config.auth.clone();
    Router::new()
        .route("/", get(root))
        .merge(crate::http::observability())
        .merge(connectors::routes())
        .merge(offsets::routes())
        .merge(plugins::routes())
        .merge(super::console::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Limits { max_body },
            connect_errors,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(auth, authenticate))
        .with_state(worker)
}

async fn root(State(w): State<Arc<Node>>) -> Json<Value> {
    Json(json!({
        "version": lambda_sink_core::connect::CONNECT_API_VERSION,
        "commit": option_env!("LAMBDA_SINK_COMMIT").unwrap_or("unknown"),
        "kafka_cluster_id": w.kafka_cluster_id,
        "lambda_sink_version": env!("CARGO_PKG_VERSION"),
    }))
}

impl crate::http::Observed for Arc<Node> {
    fn health(&self) -> Result<Value, Value> {
        if self.shutdown.is_cancelled() {
            return Err(json!({
                "status": "unhealthy",
                "message": "Worker is shutting down: its connectors are draining.",
            }));
        }
        Ok(json!({
            "status": "healthy",
            "message": "Worker has completed startup and is ready to handle requests.",
        }))
    }

    fn metrics(&self) -> String {
        crate::metrics::encode_by_connector(&self.host.metrics())
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("HTTP 404 Not Found")
}

#[derive(Clone, Copy)]
struct Limits {
    max_body: usize,
}

/// Gives every error the framework answers by itself (wrong method, body
/// too large, an extractor's rejection) Connect's error shape.
async fn connect_errors(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than {} bytes (rest.request.max.bytes)",
            limits.max_body
        ),
        StatusCode::METHOD_NOT_ALLOWED => "HTTP 405 Method Not Allowed".to_string(),
        other => format!(
            "HTTP {} {}",
            other.as_u16(),
            other.canonical_reason().unwrap_or("")
        ),
    };
    let mut fixed = error_response(status, &message);
    if let Some(allow) = response.headers().get(header::ALLOW) {
        fixed.headers_mut().insert(header::ALLOW, allow.clone());
    }
    fixed
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Whether the `Authorization` header satisfies `auth`.
fn authorized(auth: &Auth, header: Option<&HeaderValue>) -> bool {
    let Some(given) = header.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    match auth {
        Auth::Bearer(token) => given
            .strip_prefix("Bearer ")
            .is_some_and(|t| same(t.trim().as_bytes(), token.expose().as_bytes())),
        Auth::Basic { user, password } => given
            .strip_prefix("Basic ")
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .is_some_and(|decoded| {
                let expected = format!("{user}:{}", password.expose());
                same(&decoded, expected.as_bytes())
            }),
    }
}

/// Requires `auth` on every path but `/health` and the console's static
/// shell (embedded page, script and style: no data, which the shell then
/// fetches with the credentials the user gives it).
async fn authenticate(State(auth): State<Option<Auth>>, request: Request, next: Next) -> Response {
    let Some(auth) = auth else {
        return next.run(request).await;
    };
    // Probes need no credentials, and the answer tells nothing.
    let path = request.uri().path();
    if path == "/health"
        || super::console::is_shell(path)
        || authorized(&auth, request.headers().get(header::AUTHORIZATION))
    {
        return next.run(request).await;
    }
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        "authentication required: send the credentials of rest.auth.* (HTTP basic or bearer)",
    );
    let challenge = match auth {
        Auth::Basic { .. } => "Basic realm=\"lambda-sink\"",
        Auth::Bearer(_) => "Bearer realm=\"lambda-sink\"",
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// Serves `app` on `listener` until `stop`, over TLS when configured.
///
/// # Errors
/// When the TLS files cannot be read.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<&TlsFiles>,
    stop: CancellationToken,
) -> Result<tokio::task::JoinHandle<()>, Error> {
    let Some(tls) = tls else {
        return Ok(tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
            if let Err(e) = serve.await {
                warn!(error = %e, "the REST listener stopped");
            }
        }));
    };
    let acceptor = tls_acceptor(tls)?;
    Ok(tokio::spawn(async move {
        let tls = TlsListener { listener, acceptor };
        let serve = axum::serve(tls, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            warn!(error = %e, "the REST listener stopped");
        }
    }))
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .or_fault_with(Fault::Setup, || {
            format!("reading rest.tls.cert.file {}", files.cert.display())
        })?
        .collect::<Result<_, _>>()
        .or_fault_with(Fault::Setup, || {
            format!(
                "rest.tls.cert.file {} is not PEM certificates",
                files.cert.display()
            )
        })?;
    if certs.is_empty() {
        return Err(Error::setup(format!(
            "rest.tls.cert.file {} holds no certificate",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).or_fault_with(Fault::Setup, || {
        format!(
            "rest.tls.key.file {} holds no readable PEM private key",
            files.key.display()
        )
    })?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .or_fault(Fault::Internal, "TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .or_fault(
        Fault::Setup,
        "the TLS certificate and key do not match or are not supported",
    )?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A TCP listener whose connections are TLS. A handshake that fails is
/// logged and skipped; each handshake is bounded so one slow client cannot
/// hold the accept loop for long.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (tcp, addr) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accepting a REST connection");
                    continue;
                }
            };
            let handshake = self.acceptor.accept(tcp);
            match tokio::time::timeout(std::time::Duration::from_secs(10), handshake).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => warn!(peer = %addr, error = %e, "TLS handshake failed"),
                Err(_) => warn!(peer = %addr, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sink_core::config::Secret;

    #[test]
    fn credentials_are_checked_exactly() {
        let basic = Auth::Basic {
            user: "admin".into(),
            password: Secret::new("pw".into()),
        };
        let header = |v: &str| HeaderValue::from_str(v).expect("header");
        let good = base64::engine::general_purpose::STANDARD.encode("admin:pw");
        let bad = base64::engine::general_purpose::STANDARD.encode("admin:px");
        assert!(authorized(&basic, Some(&header(&format!("Basic {good}")))));
        assert!(!authorized(&basic, Some(&header(&format!("Basic {bad}")))));
        assert!(!authorized(&basic, None));
        let bearer = Auth::Bearer(Secret::new("t0k".into()));
        assert!(authorized(&bearer, Some(&header("Bearer t0k"))));
        assert!(!authorized(&bearer, Some(&header("Bearer t0"))));
        assert!(!authorized(
            &bearer,
            Some(&header(&format!("Basic {good}")))
        ));
    }
}
