//! A fake Lambda Invoke endpoint for fault injection and benchmarks — never
//! the only proof of a behaviour (the emulator runs real handler code).
//!
//! The function name in the request path chooses the behaviour, so one
//! endpoint serves every test. By default a request is answered 200 with the
//! request body (each record's result is then its own payload); `Event`
//! invocations get 202. Dash-separated tokens of the name change that:
//!
//! * `max<N>` — 413 `RequestTooLargeException` when the body exceeds N bytes;
//! * `status<code>-<ErrorType>` — that HTTP status with
//!   `x-amzn-ErrorType: <ErrorType>` and Lambda's error body;
//! * `slow<ms>` — answer after a delay of `ms` milliseconds (`slow0`: at
//!   once, not after a timer tick);
//! * `cap<N>` — a function with `N` concurrent executions: while `N`
//!   requests are being handled, another is answered 429
//!   `TooManyRequestsException` at once (reserved concurrency);
//! * `fixed` — answer `{"ok":true}` instead of the request body (one small
//!   result for every record, like most real functions);
//! * `timed` — record when each record arrived, next to the microsecond
//!   wall-clock time in its value's `sent_us` field (which identifies it);
//! * `tracked` — count every record's (partition, offset), so a test can
//!   tell a missing record from a duplicate;
//! * `poison` — a function error (`X-Amz-Function-Error: Unhandled`) for a
//!   request holding a record whose value has `"poison":true`: a record
//!   that fails however often it is retried.
//!
//! Counters of invocations and records, and the times of the first and last
//! request, are shared with the caller. [`start`] serves on the caller's
//! runtime; [`start_dedicated`] on threads of its own, whose CPU time a
//! benchmark can then tell apart from its own ([`FakeLambda::cpu_seconds`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Requests answered 429 by a `cap<N>` function.
    pub throttled: AtomicU64,
    /// Elements in the bodies of those requests (also in `records`).
    pub throttled_records: AtomicU64,
    /// Elements in all request bodies.
    pub records: AtomicU64,
    /// Elements of requests answered without an error or a function error.
    pub ok_records: AtomicU64,
    /// When the last of those was answered, in nanoseconds after
    /// `first_request`.
    pub last_ok_ns: AtomicU64,
    /// Requests answered with an error status.
    pub errors: AtomicU64,
    /// Requests being handled right now.
    pub concurrent: AtomicU64,
    /// The most requests handled at once.
    pub max_concurrent: AtomicU64,
    /// When the first request arrived.
    pub first_request: OnceLock<Instant>,
    /// When the last request arrived, in nanoseconds after `first_request`.
    pub last_request_ns: AtomicU64,
    /// `(sent_us, arrived_us)` of every record sent to `timed` functions.
    pub arrivals_us: Mutex<Vec<(u64, u64)>>,
    /// How often each (partition, offset) reached a `tracked` function.
    pub seen: Mutex<HashMap<(i32, i64), u32>>,
}

impl Stats {
    /// The time between the first and the last request.
    pub fn active(&self) -> Duration {
        Duration::from_nanos(self.last_request_ns.load(Ordering::SeqCst))
    }

    /// The time between the first request and the last successful answer.
    pub fn active_ok(&self) -> Duration {
        Duration::from_nanos(self.last_ok_ns.load(Ordering::SeqCst))
    }

    fn answered_ok(&self, elements: u64) {
        self.ok_records.fetch_add(elements, Ordering::Relaxed);
        let first = *self.first_request.get_or_init(Instant::now);
        let ns = u64::try_from(first.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ok_ns.fetch_max(ns, Ordering::SeqCst);
    }

    fn arrived(&self) {
        let first = *self.first_request.get_or_init(Instant::now);
        let ns = u64::try_from(first.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_request_ns.fetch_max(ns, Ordering::SeqCst);
    }
}

/// Microseconds since the Unix epoch: the clock `timed` latencies use.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Counts the (partition, offset) of every element of a `tracked` body.
fn track(body: &[u8], stats: &Stats) {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(body) else {
        return;
    };
    if let Ok(mut seen) = stats.seen.lock() {
        for item in &items {
            let p = &item["payload"];
            if let (Some(partition), Some(offset)) = (p["partition"].as_i64(), p["offset"].as_i64())
                && let Ok(partition) = i32::try_from(partition)
            {
                *seen.entry((partition, offset)).or_default() += 1;
            }
        }
    }
}

/// Records when every element of a `timed` request body arrived.
fn record_arrivals(body: &[u8], stats: &Stats) {
    let now = now_us();
    let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(body) else {
        return;
    };
    let arrivals = items
        .iter()
        .filter_map(|item| item["payload"]["value"]["sent_us"].as_u64())
        .map(|sent| (sent, now));
    if let Ok(mut all) = stats.arrivals_us.lock() {
        all.extend(arrivals);
    }
}

/// Counts a request as in progress until dropped.
struct InProgress<'a>(&'a Stats);

impl<'a> InProgress<'a> {
    /// Counts a request; also returns how many are in progress with it.
    fn new(stats: &'a Stats) -> (Self, u64) {
        let now = stats.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_concurrent.fetch_max(now, Ordering::SeqCst);
        (Self(stats), now)
    }
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        self.0.concurrent.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The name of a dedicated fake's threads (15 characters at most: Linux
/// keeps no more of a thread's name).
const THREAD_NAME: &str = "fake-lambda";

/// A running fake endpoint.
pub struct FakeLambda {
    /// Its address; use `http://{addr}` as `aws.lambda.endpoint`.
    pub addr: SocketAddr,
    /// Shared counters.
    pub stats: Arc<Stats>,
    /// Ends a dedicated fake's runtime when dropped.
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl FakeLambda {
    /// The endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// CPU seconds the threads of dedicated fakes have used (user +
    /// system), from `/proc/self/task`; 0 for a fake on the caller's runtime.
    pub fn cpu_seconds(&self) -> f64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return f64::NAN;
        };
        let mut ticks = 0u64;
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !comm.trim_end().starts_with(THREAD_NAME) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // Fields after the command name: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat
                .rsplit_once(") ")
                .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
            for i in [11, 12] {
                ticks += fields
                    .get(i)
                    .and_then(|f| f.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        // Linux reports CPU time in clock ticks of 1/100 s.
        ticks as f64 / 100.0
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
    Ok(FakeLambda {
        addr,
        stats,
        _stop: None,
    })
}

/// Starts the fake on 127.0.0.1 at a free port, on a runtime of its own
/// (`threads` worker threads named `fake-lambda`), so its CPU time can be
/// told apart from the caller's. It stops when the [`FakeLambda`] is dropped.
///
/// # Errors
/// When no port can be bound or the runtime cannot be built.
pub fn start_dedicated(threads: usize) -> anyhow::Result<FakeLambda> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let stats = Arc::new(Stats::default());
    let app = router(stats.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(THREAD_NAME.into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
    Ok(FakeLambda {
        addr,
        stats,
        _stop: Some(stop),
    })
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

/// What a `poison` function fails on.
const POISON: &[u8] = br#""poison":true"#;

async fn invoke(
    State(stats): State<Arc<Stats>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (_in_progress, concurrent) = InProgress::new(&stats);
    stats.arrived();
    stats.invocations.fetch_add(1, Ordering::Relaxed);
    let elements = count_elements(&body);
    stats.records.fetch_add(elements, Ordering::Relaxed);
    let tokens: Vec<&str> = name.split('-').collect();
    let number = |prefix: &str| {
        tokens
            .iter()
            .find_map(|t| t.strip_prefix(prefix)?.parse::<u64>().ok())
    };
    if tokens.contains(&"timed") {
        record_arrivals(&body, &stats);
    }
    if tokens.contains(&"tracked") {
        track(&body, &stats);
    }
    if let Some(limit) = number("max")
        && u64::try_from(body.len()).unwrap_or(u64::MAX) > limit
    {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLargeException",
            &stats,
        );
    }
    if let Some(i) = tokens.iter().position(|t| {
        t.strip_prefix("status")
            .is_some_and(|n| n.parse::<u16>().is_ok())
    }) {
        let code = tokens[i]["status".len()..].parse::<u16>().unwrap_or(500);
        let error_type = tokens.get(i + 1).copied().unwrap_or("ServiceException");
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, error_type, &stats);
    }
    if number("cap").is_some_and(|cap| concurrent > cap) {
        stats.throttled.fetch_add(1, Ordering::Relaxed);
        stats
            .throttled_records
            .fetch_add(elements, Ordering::Relaxed);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            &stats,
        );
    }
    if let Some(ms) = number("slow").filter(|&ms| ms > 0) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if tokens.contains(&"poison") && body.windows(POISON.len()).any(|w| w == POISON) {
        return (
            StatusCode::OK,
            [("X-Amz-Function-Error", "Unhandled")],
            r#"{"errorMessage":"poisoned record"}"#,
        )
            .into_response();
    }
    let event = headers
        .get("x-amz-invocation-type")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"Event"));
    stats.answered_ok(elements);
    if event {
        return StatusCode::ACCEPTED.into_response();
    }
    let body = if tokens.contains(&"fixed") {
        Bytes::from_static(br#"{"ok":true}"#)
    } else {
        body
    };
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
