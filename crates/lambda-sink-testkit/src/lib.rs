//! Test support for lambda-sink's integration tests and tools.
//!
//! * [`registry`]: a minimal Confluent-compatible Schema Registry that can
//!   inject faults (outages, 5xx), for the tests that need them; the other
//!   tests use the real registry (Apicurio).
//! * [`broker`]: a private Apache Kafka broker, for tests that crash it.
//! * [`Services`]: where the real broker (and its authenticated listeners),
//!   Lambda emulator and registry are, read from environment variables with
//!   the scripts' defaults.
//! * [`world`]: one test's own topic, function and connector name, and the
//!   steps tests take in it; built on the helpers below: [`unique`] names,
//!   topic creation, deploying the test function under a fresh name, reading
//!   what the function logged, and [`wait_until`] (polling, never sleeping).
//! * [`connector`]: a lambda-sink process under test; [`verify`]: the
//!   zero-loss verifier.
//! * [`prometheus`]: a real Prometheus scraping lambda-sink and evaluating
//!   the shipped alert rules; [`jaeger`]: a real OpenTelemetry receiver;
//!   both run as a [`daemon`].

#![allow(
    clippy::too_many_lines,
    reason = "test support: the verifier and the readers read top to bottom, like the tests that use them"
)]
#![warn(clippy::unwrap_used)]

pub mod broker;
pub mod connector;
pub mod daemon;
pub mod fake_lambda;
pub mod jaeger;
pub mod kafka;
pub mod prometheus;
pub mod proxy;
pub mod registry;
pub mod verify;
pub mod world;

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_lambda::types::{FunctionCode, Runtime, State};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use serde_json::Value;

/// Addresses of the real services the scripts start.
#[derive(Clone, Debug)]
pub struct Services {
    /// Kafka bootstrap servers (`LAMBDA_SINK_TEST_BOOTSTRAP`).
    pub bootstrap: String,
    /// Lambda API endpoint (`LAMBDA_SINK_TEST_LAMBDA_ENDPOINT`).
    pub lambda_endpoint: String,
    /// Schema Registry URL (`LAMBDA_SINK_TEST_REGISTRY_URL`).
    pub registry_url: String,
    /// Zip of the test function (`LAMBDA_SINK_TEST_FUNCTION_ZIP`).
    pub function_zip: PathBuf,
    /// The broker's authenticated listeners.
    pub secure: SecureListeners,
}

/// The shared broker's SASL_SSL and mutual-TLS listeners and their test
/// credentials (`scripts/broker.sh`; TLS material from `scripts/install.sh`).
#[derive(Clone, Debug)]
pub struct SecureListeners {
    /// SASL_SSL with PLAIN and SCRAM-SHA-512 (`LAMBDA_SINK_TEST_SASL_SSL_BOOTSTRAP`).
    pub sasl_ssl_bootstrap: String,
    /// SSL requiring a client certificate (`LAMBDA_SINK_TEST_MTLS_BOOTSTRAP`).
    pub mtls_bootstrap: String,
    /// `ca.pem`, `client.pem`, `client.key` (`LAMBDA_SINK_TEST_TLS_DIR`).
    pub tls_dir: PathBuf,
    /// PLAIN user, as Confluent Cloud's API key (`LAMBDA_SINK_TEST_KAFKA_API_KEY`).
    pub api_key: String,
    /// Its password (`LAMBDA_SINK_TEST_KAFKA_API_SECRET`).
    pub api_secret: String,
    /// SCRAM-SHA-512 user (`LAMBDA_SINK_TEST_SCRAM_USER`).
    pub scram_user: String,
    /// Its password (`LAMBDA_SINK_TEST_SCRAM_PASSWORD`).
    pub scram_password: String,
}

impl SecureListeners {
    /// A file of the test TLS material, as a string path.
    pub fn tls_file(&self, name: &str) -> String {
        self.tls_dir.join(name).display().to_string()
    }
}

/// The region tests use against the emulator.
pub const REGION: &str = "us-east-1";

/// A connector's properties for parking failing keys (key ordering,
/// bisection, failures logged) with retries ten minutes apart, so only an
/// operator's order releases a parked key within a test.
pub const PARK_ON_ORDER: [(&str, &str); 6] = [
    ("aws.lambda.ordering", "key"),
    ("aws.lambda.on.key.failure", "park"),
    ("aws.lambda.bisect.on.function.error", "true"),
    ("aws.lambda.park.retry.backoff.ms", "600000"),
    ("aws.lambda.park.retry.backoff.max.ms", "600000"),
    ("behavior.on.error", "log"),
];

impl Services {
    /// Reads the addresses from the environment, with the scripts' defaults.
    pub fn from_env() -> Self {
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
        let default_zip = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-function/function.zip");
        let default_tls = PathBuf::from(std::env::var("HOME").unwrap_or_default())
            .join(".cache/lambda-sink/tls-v1");
        Self {
            bootstrap: var("LAMBDA_SINK_TEST_BOOTSTRAP", "127.0.0.1:9092"),
            lambda_endpoint: var("LAMBDA_SINK_TEST_LAMBDA_ENDPOINT", "http://127.0.0.1:4566"),
            registry_url: var(
                "LAMBDA_SINK_TEST_REGISTRY_URL",
                "http://127.0.0.1:8081/apis/ccompat/v7",
            ),
            function_zip: std::env::var_os("LAMBDA_SINK_TEST_FUNCTION_ZIP")
                .map_or(default_zip, PathBuf::from),
            secure: SecureListeners {
                sasl_ssl_bootstrap: var("LAMBDA_SINK_TEST_SASL_SSL_BOOTSTRAP", "127.0.0.1:9094"),
                mtls_bootstrap: var("LAMBDA_SINK_TEST_MTLS_BOOTSTRAP", "127.0.0.1:9095"),
                tls_dir: std::env::var_os("LAMBDA_SINK_TEST_TLS_DIR")
                    .map_or(default_tls, PathBuf::from),
                api_key: var("LAMBDA_SINK_TEST_KAFKA_API_KEY", "lambda-sink-test-key"),
                api_secret: var(
                    "LAMBDA_SINK_TEST_KAFKA_API_SECRET",
                    "lambda-sink-test-secret-4d1f",
                ),
                scram_user: var("LAMBDA_SINK_TEST_SCRAM_USER", "lambda-sink-scram"),
                scram_password: var(
                    "LAMBDA_SINK_TEST_SCRAM_PASSWORD",
                    "lambda-sink-scram-pw-93c7",
                ),
            },
        }
    }

    /// An `aws-sdk-lambda` client for the emulator.
    pub async fn lambda(&self) -> aws_sdk_lambda::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&self.lambda_endpoint)
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "test",
                "test",
                None,
                None,
                "lambda-sink-tests",
            ))
            .load()
            .await;
        aws_sdk_lambda::Client::new(&config)
    }

    /// A librdkafka config pointing at the broker's plaintext listener.
    pub fn kafka_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap)
            .set("socket.timeout.ms", "10000");
        c
    }

    /// Creates a topic with `partitions` partitions (replication factor 1).
    ///
    /// # Errors
    /// When the broker refuses.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let admin: AdminClient<DefaultClientContext> = self
            .kafka_config()
            .create()
            .context("creating admin client")?;
        let results = admin
            .create_topics(
                &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .context("create_topics")?;
        for r in results {
            if let Err((topic, code)) = r {
                bail!("creating topic {topic}: {code}");
            }
        }
        Ok(())
    }

    /// Deploys the test function as `name` and waits until it is Active.
    /// `env` sets environment variables (e.g. `RESPONSE_SHAPE`).
    ///
    /// # Errors
    /// When the zip is missing or the emulator refuses.
    pub async fn deploy_test_function(
        &self,
        name: &str,
        timeout_secs: i32,
        env: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let zip = std::fs::read(&self.function_zip).with_context(|| {
            format!(
                "reading {} (built by scripts/install.sh)",
                self.function_zip.display()
            )
        })?;
        let client = self.lambda().await;
        let mut environment = aws_sdk_lambda::types::Environment::builder();
        for (k, v) in env {
            environment = environment.variables(*k, *v);
        }
        client
            .create_function()
            .function_name(name)
            .runtime(Runtime::Providedal2023)
            .handler("bootstrap")
            .role("arn:aws:iam::000000000000:role/lambda-sink-test")
            .timeout(timeout_secs)
            .environment(environment.build())
            .code(FunctionCode::builder().zip_file(zip.into()).build())
            .send()
            .await
            .with_context(|| format!("creating function {name}"))?;
        wait_until(
            Duration::from_secs(30),
            &format!("function {name} Active"),
            || async {
                let f = client
                    .get_function()
                    .function_name(name)
                    .send()
                    .await
                    .ok()?;
                (f.configuration()?.state() == Some(&State::Active)).then_some(())
            },
        )
        .await;
        Ok(())
    }

    /// Every record the test function logged, in log order (by timestamp;
    /// ties keep each stream's order): the JSON lines
    /// `{"lambda_sink_test":"record",...}` (see the test-function crate).
    ///
    /// Reads with DescribeLogStreams and GetLogEvents, both paginated:
    /// FilterLogEvents is capped at 10,000 events per call (and the emulator
    /// returns no `nextToken` for it).
    ///
    /// # Errors
    /// When the emulator's CloudWatch Logs API fails.
    pub async fn function_records(&self, function: &str) -> anyhow::Result<Vec<Value>> {
        let group = format!("/aws/lambda/{function}");
        let mut streams = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = serde_json::json!({ "logGroupName": group });
            if let Some(t) = &token {
                body["nextToken"] = Value::String(t.clone());
            }
            let page = self.logs("DescribeLogStreams", &body).await?;
            if page.get("__type").is_some() {
                // No log group yet: the function has not logged anything.
                return Ok(Vec::new());
            }
            streams.extend(
                page["logStreams"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["logStreamName"].as_str().map(str::to_string)),
            );
            token = page["nextToken"].as_str().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        let mut events: Vec<(i64, i64, Value)> = Vec::new();
        for stream in streams {
            let mut token: Option<String> = None;
            loop {
                let mut body = serde_json::json!({
                    "logGroupName": group,
                    "logStreamName": stream,
                    "startFromHead": true,
                });
                if let Some(t) = &token {
                    body["nextToken"] = Value::String(t.clone());
                }
                let page = self.logs("GetLogEvents", &body).await?;
                anyhow::ensure!(page.get("__type").is_none(), "GetLogEvents: {page}");
                let page_events = page["events"].as_array().map_or(&[][..], Vec::as_slice);
                events.extend(page_events.iter().filter_map(|e| {
                    let line: Value = serde_json::from_str(e["message"].as_str()?).ok()?;
                    (line["lambda_sink_test"] == "record").then(|| {
                        (
                            e["timestamp"].as_i64().unwrap_or(0),
                            e["ingestionTime"].as_i64().unwrap_or(0),
                            line,
                        )
                    })
                }));
                let next = page["nextForwardToken"].as_str().map(str::to_string);
                if page_events.is_empty() || next.is_none() || next == token {
                    break;
                }
                token = next;
            }
        }
        // Stable: ties keep stream order, like FilterLogEvents' merge.
        events.sort_by_key(|(timestamp, ingested, _)| (*timestamp, *ingested));
        Ok(events.into_iter().map(|(_, _, line)| line).collect())
    }

    /// One CloudWatch Logs API call to the emulator.
    async fn logs(&self, action: &str, body: &Value) -> anyhow::Result<Value> {
        reqwest::Client::new()
            .post(&self.lambda_endpoint)
            .header("X-Amz-Target", format!("Logs_20140328.{action}"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .body(body.to_string())
            .send()
            .await
            .with_context(|| action.to_string())?
            .json()
            .await
            .with_context(|| format!("{action} response"))
    }

    /// Sets the function's reserved concurrency (`None` removes the limit);
    /// 0 makes every invocation fail with 429 `TooManyRequestsException`.
    ///
    /// # Errors
    /// When the emulator refuses.
    pub async fn set_concurrency(
        &self,
        function: &str,
        reserved: Option<i32>,
    ) -> anyhow::Result<()> {
        let client = self.lambda().await;
        match reserved {
            Some(n) => {
                client
                    .put_function_concurrency()
                    .function_name(function)
                    .reserved_concurrent_executions(n)
                    .send()
                    .await
                    .context("put_function_concurrency")?;
            }
            None => {
                client
                    .delete_function_concurrency()
                    .function_name(function)
                    .send()
                    .await
                    .context("delete_function_concurrency")?;
            }
        }
        Ok(())
    }
}

/// Compiles `.proto` files under `include` with protox and returns the
/// serialized `FileDescriptorSet` (imports included): what Python needs to
/// build message classes for Confluent's Protobuf serializer.
///
/// # Errors
/// When the files do not compile.
pub fn proto_descriptor_set(include: &std::path::Path, files: &[&str]) -> anyhow::Result<Vec<u8>> {
    let set = protox::compile(files, [include]).context("compiling .proto files")?;
    Ok(prost::Message::encode_to_vec(&set))
}

/// The value of the first line of Prometheus text `text` that starts with
/// `prefix` (a metric name, with labels when they matter), if any.
pub fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// `lambda_sink_transactions_total` with `result` (`committed`, `aborted`)
/// in Prometheus text `text`: a `run`'s, or connector `connector`'s on a
/// `serve` worker. 0 when the counter is absent (nothing counted yet).
pub fn transactions(text: &str, connector: Option<&str>, result: &str) -> f64 {
    let labels = match connector {
        Some(name) => format!("connector=\"{name}\",result=\"{result}\""),
        None => format!("result=\"{result}\""),
    };
    metric(text, &format!("lambda_sink_transactions_total{{{labels}}}")).unwrap_or(0.0)
}

/// The Prometheus text an instance serves at `<url>/metrics`.
///
/// # Errors
/// When the endpoint cannot be reached or answers no text.
pub async fn scrape(url: &str) -> anyhow::Result<String> {
    let response = reqwest::get(format!("{url}/metrics"))
        .await
        .context("GET /metrics")?;
    response.text().await.context("reading /metrics")
}

/// A name no other test uses: `prefix-<16 hex digits>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// Polls `probe` until it returns `Some`, backing off from 10 ms to 500 ms.
///
/// # Panics
/// When `timeout` passes first, naming `what` was awaited — a test failure.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    match try_wait_until(timeout, probe).await {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Polls `probe` until it returns `Some` (backing off from 10 ms to 500 ms),
/// or returns `None` once `timeout` has passed.
pub async fn try_wait_until<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(10);
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// `N` distinct free ports on the loopback (all held while the next is
/// chosen, so they differ), for a server started right after.
///
/// # Panics
/// When the loopback has no free port.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a bound address").port())
}
