//! A fake Lambda Invoke endpoint for fault injection and benchmarks — never
//! the only proof of a behaviour (the emulator runs real handler code).
//!
//! The function name in the request path chooses the behaviour, so one
//! endpoint serves every test:
//!
//! * `echo...` — 200 with the request body as the response (each record's
//!   result is then its own payload); `Event` invocations get 202.
//! * `max<N>-...` — 413 `RequestTooLargeException` when the body exceeds N
//!   bytes, otherwise echo.
//! * `status<code>-<ErrorType>-...` — that HTTP status with
//!   `x-amzn-ErrorType: <ErrorType>` and Lambda's error body.
//! * `slow<ms>-...` — echo after a delay of `ms` milliseconds.
//!
//! Counters of invocations and records are shared with the test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

/// What the fake has received.
#[derive(Debug, Default)]
pub struct Stats {
    /// Invoke requests.
    pub invocations: AtomicU64,
    /// Elements in all request bodies.
    pub records: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
    /// Requests being handled right now.
    pub concurrent: AtomicU64,
    /// The most requests handled at once.
    pub max_concurrent: AtomicU64,
}

/// Counts a request as in progress until dropped.
struct InProgress<'a>(&'a Stats);

impl<'a> InProgress<'a> {
    fn new(stats: &'a Stats) -> Self {
        let now = stats.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_concurrent.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.concurrent.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running fake endpoint.
pub struct FakeLambda {
    /// Its address; use `http://{addr}` as `aws.lambda.endpoint`.
    pub addr: SocketAddr,
    /// Shared counters.
    pub stats: Arc<Stats>,
}

impl FakeLambda {
    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The fake's routes (for a standalone server).
pub fn router(stats: Arc<Stats>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/{name}/invocations", post(invoke))
        .with_state(stats)
}

/// Starts the fake on 127.0.0.1 at a free port, in the current runtime.
///
/// # Errors
/// When no port can be bound.
pub async fn start() -> anyhow::Result<FakeLambda> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(Stats::default());
    let app = router(stats.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(FakeLambda { addr, stats })
}

fn count_elements(body: &[u8]) -> u64 {
    // Top-level commas outside strings + 1; cheap enough for benchmarks and
    // exact for lambda-sink's compact requests.
    if body.len() <= 2 {
        return 0;
    }
    let (mut depth, mut in_string, mut escaped, mut count) = (0i32, false, false, 1u64);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => depth += 1,
            b']' | b'}' => depth -= 1,
            b',' if depth == 1 => count += 1,
            _ => {}
        }
    }
    count
}

fn error(status: StatusCode, error_type: &str, stats: &Stats) -> Response {
    stats.errors.fetch_add(1, Ordering::Relaxed);
    (
        status,
        [("x-amzn-ErrorType", error_type.to_string())],
        format!(r#"{{"Type":"User","message":"injected {error_type}"}}"#),
    )
        .into_response()
}

async fn invoke(
    State(stats): State<Arc<Stats>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_progress = InProgress::new(&stats);
    stats.invocations.fetch_add(1, Ordering::Relaxed);
    stats
        .records
        .fetch_add(count_elements(&body), Ordering::Relaxed);
    let lead = name.split('-').next().unwrap_or_default();
    if let Some(limit) = lead
        .strip_prefix("max")
        .and_then(|n| n.parse::<usize>().ok())
        && body.len() > limit
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &stats,
        );
    }
    if let Some(code) = lead
        .strip_prefix("status")
        .and_then(|n| n.parse::<u16>().ok())
    {
        let error_type = name.split('-').nth(1).unwrap_or("ServiceException");
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, error_type, &stats);
    }
    if let Some(ms) = lead
        .strip_prefix("slow")
        .and_then(|n| n.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let event = headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Event"));
    if event {
        return StatusCode::ACCEPTED.into_response();
    }
    (
        StatusCode::OK,
        [("X-Amz-Executed-Version", "$LATEST")],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::count_elements;

    #[test]
    fn counts_top_level_elements() {
        assert_eq!(count_elements(b"[]"), 0);
        assert_eq!(
            count_elements(br#"[{"payload":{"a":[1,2],"s":"x,\"y"}}]"#),
            1
        );
        assert_eq!(
            count_elements(br#"[{"p":1},{"p":{"q":[1,2]}},{"p":"]"}]"#),
            3
        );
    }
}
