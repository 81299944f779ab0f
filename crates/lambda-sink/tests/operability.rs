//! What operators rely on: `/health`, `/status` and `/metrics` of a running
//! instance (values that move), lag in time and stalled partitions (with
//! the shipped alert rules on a real Prometheus), traces in a real
//! OpenTelemetry receiver, `lambda-sink status`, an
//! assumed IAM role, an authenticating HTTPS proxy, and secrets that never
//! appear in logs or APIs. (Kafka authentication is in `auth.rs`.)

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::jaeger::Jaeger;
use lambda_sink_testkit::kafka::Produce;
use lambda_sink_testkit::prometheus::Prometheus;
use lambda_sink_testkit::world;
use lambda_sink_testkit::{Services, metric, proxy, unique, wait_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn records(n: usize, partitions: i32) -> Vec<Produce> {
    (0..n)
        .map(|i| {
            Produce::text(
                i32::try_from(i).unwrap() % partitions,
                "k",
                &json!({"i": i}).to_string(),
            )
        })
        .collect()
}

/// `n` records `{"i": i}` on partition `partition`.
fn on_partition(partition: i32, n: usize) -> Vec<Produce> {
    (0..n)
        .map(|i| Produce::text(partition, "k", &json!({ "i": i }).to_string()))
        .collect()
}

/// A record on partition 0 the test function sleeps `ms` on.
fn hanging(ms: u64) -> Produce {
    Produce::text(0, "slow", &json!({ "sleep_ms": ms }).to_string())
}

#[tokio::test]
async fn health_status_and_metrics_of_a_running_instance() {
    let s = Services::from_env();
    let w = world!("ops")
        .partitions(2)
        .function_timeout(10)
        .on(s.clone())
        .create()
        .await;
    let (topic, name, function) = (&w.topic, &w.name, &w.function);
    let config = s.connector_config(
        name,
        topic,
        function,
        &[
            ("http.listener", "127.0.0.1:0"),
            ("consumer.override.statistics.interval.ms", "200"),
        ],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let url = c.http_url().await;
    wait_until(MINUTE, "healthy", || async {
        (get(&format!("{url}/health")).await.0 == 200).then_some(())
    })
    .await;

    let (code, body) = get(&format!("{url}/status")).await;
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["name"], *name);
    assert_eq!(status["type"], "sink");
    assert_eq!(status["connector"]["state"], "RUNNING");
    assert_eq!(status["tasks"][0]["state"], "RUNNING");
    assert!(
        status["tasks"][0]["worker_id"]
            .as_str()
            .unwrap()
            .ends_with(&url.rsplit(':').next().unwrap().to_string())
    );

    s.produce(topic, &records(40, 2)).await.unwrap();
    let metrics = wait_until(
        MINUTE,
        "40 records resolved and lag 0 in /metrics",
        || async {
            let (_, text) = get(&format!("{url}/metrics")).await;
            let done = metric(
                &text,
                &format!("lambda_sink_records_consumed_total{{topic=\"{topic}\"}}"),
            ) == Some(40.0)
                && metric(
                    &text,
                    "lambda_sink_records_resolved_total{outcome=\"success\"}",
                ) == Some(40.0)
                && metric(
                    &text,
                    &format!("lambda_sink_consumer_lag{{topic=\"{topic}\",partition=\"0\"}}"),
                ) == Some(0.0)
                && metric(
                    &text,
                    &format!("lambda_sink_consumer_lag{{topic=\"{topic}\",partition=\"1\"}}"),
                ) == Some(0.0);
            done.then_some(text)
        },
    )
    .await;
    assert!(
        metric(
            &metrics,
            "lambda_sink_invocation_duration_seconds_count{type=\"sync\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        metric(
            &metrics,
            "lambda_sink_invocations_total{result=\"success\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert!(metric(&metrics, "lambda_sink_batch_records_count").unwrap() >= 2.0);
    assert_eq!(
        metric(&metrics, "lambda_sink_in_flight_invocations"),
        Some(0.0)
    );
    assert!(!metrics.contains("offset=\""), "no offset labels");

    // The event log: the run's start and its partitions, as JSON with
    // their fields; nothing above info in a clean run; a bad filter is a
    // 400 that names it.
    let events = |query: &'static str| {
        let url = url.clone();
        async move {
            let (code, body) = get(&format!("{url}/events{query}")).await;
            (code, serde_json::from_str::<Value>(&body).unwrap())
        }
    };
    let (code, log) = events("").await;
    assert_eq!(code, 200, "{log}");
    let started = &log["events"][0];
    assert_eq!(
        (&started["event"], &started["level"]),
        (&json!("tasks_started"), &json!("info")),
        "{log}"
    );
    assert!(started["at"].as_i64().unwrap() > 1_700_000_000_000);
    let assigned: Vec<&Value> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "partitions_assigned")
        .collect();
    assert_eq!(assigned.len(), 1, "{log}");
    assert_eq!(assigned[0]["task"], json!(0));
    assert!(
        assigned[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{topic}[0]")),
        "{log}"
    );
    assert_eq!(events("?level=warn").await.1, json!({"events": []}));
    let (code, bad) = events("?limit=0").await;
    assert_eq!(code, 400);
    assert!(bad["message"].as_str().unwrap().contains("limit"), "{bad}");

    let out = Command::new(BIN)
        .args(["status", "--url", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.starts_with("ID "), "{printed}");
    assert!(
        printed.contains(&format!("{name} | {name} | RUNNING | sink")),
        "{printed}"
    );
    assert!(printed.contains("task 0: RUNNING on "), "{printed}");
    c.stop_cleanly().await;

    let unreachable = Command::new(BIN)
        .args(["status", "--url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unreachable.stderr)
            .contains("cannot reach lambda-sink at http://127.0.0.1:1")
    );
}

/// A function that hangs on one partition stalls that partition alone: its
/// gauges say so (and a warning) while the other partition flows, and they
/// clear once the function answers.
#[tokio::test]
async fn a_hung_partition_is_reported_stalled_until_it_moves() {
    let w = world!("stall")
        .partitions(2)
        .function_timeout(30)
        .create()
        .await;
    let (s, topic) = (&w.s, &w.topic);
    let mut hung = vec![hanging(15_000)];
    hung.extend(on_partition(0, 4));
    s.produce(topic, &hung).await.unwrap();
    let mut c = w.start(&[
        ("http.listener", "127.0.0.1:0"),
        ("partition.stall.timeout.ms", "2000"),
        ("aws.lambda.batch.size", "1"),
    ]);
    let url = c.http_url().await;
    let scrape = || async { get(&format!("{url}/metrics")).await.1 };
    let gauge = |text: &str, name: &str, partition: i32| {
        metric(
            text,
            &format!("lambda_sink_{name}{{topic=\"{topic}\",partition=\"{partition}\"}}"),
        )
    };
    let stalled = wait_until(MINUTE, "partition 0 stalled", || async {
        let text = scrape().await;
        (gauge(&text, "partition_stalled", 0) == Some(1.0)).then_some(text)
    })
    .await;
    assert!(gauge(&stalled, "partition_stuck_seconds", 0) >= Some(2.0));
    let status = || async {
        let (_, body) = get(&format!("{url}/status")).await;
        serde_json::from_str::<Value>(&body).unwrap()
    };
    assert_eq!(
        status().await["tasks"][0]["stalled_partitions"],
        json!([format!("{topic}-0")]),
        "the status names the stalled partition"
    );
    assert!(gauge(&stalled, "partition_oldest_unresolved_age_seconds", 0) >= Some(2.0));
    // Behind the hung record (batch 1: the worker takes one record at a
    // time), the next four wait untaken: the age of the next one grows
    // too, once the consumer's statistics know the partition's end.
    wait_until(MINUTE, "partition 0's next record waiting", || async {
        let text = scrape().await;
        (gauge(&text, "partition_next_record_age_seconds", 0) >= Some(2.0)).then_some(())
    })
    .await;
    // The other partition flows meanwhile.
    s.produce(topic, &on_partition(1, 20)).await.unwrap();
    let meanwhile = wait_until(MINUTE, "partition 1's records resolved", || async {
        let text = scrape().await;
        let done = metric(
            &text,
            "lambda_sink_records_resolved_total{outcome=\"success\"}",
        ) >= Some(20.0);
        done.then_some(text)
    })
    .await;
    assert_eq!(
        gauge(&meanwhile, "partition_stalled", 0),
        Some(1.0),
        "partition 0 is still stalled while 1 flows"
    );
    assert_eq!(gauge(&meanwhile, "partition_stalled", 1), Some(0.0));
    // (As of the last look, once a second: a moment at most.)
    assert!(gauge(&meanwhile, "partition_stuck_seconds", 1).is_some_and(|s| s < 2.0));
    // Once the function answers, the stall clears (and, with nothing
    // waiting, so do the partition's lag in time and stuck time).
    wait_until(MINUTE, "every record resolved and no stall", || async {
        let text = scrape().await;
        let done = metric(
            &text,
            "lambda_sink_records_resolved_total{outcome=\"success\"}",
        ) == Some(25.0)
            && gauge(&text, "partition_stalled", 0) == Some(0.0)
            && gauge(&text, "partition_stuck_seconds", 0) == Some(0.0)
            && gauge(&text, "partition_oldest_unresolved_age_seconds", 0) == Some(0.0)
            && gauge(&text, "partition_next_record_age_seconds", 0) == Some(0.0);
        done.then_some(())
    })
    .await;
    assert!(
        status().await["tasks"][0]
            .get("stalled_partitions")
            .is_none()
    );
    c.stop_cleanly().await;
    let log = c.log();
    let warned: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warned.len(), 1, "one warning, the stall's:\n{log}");
    assert!(
        warned[0].contains("partition stalled") && warned[0].contains("partition=0"),
        "{log}"
    );
    assert!(log.contains("partition flows again"), "{log}");
}

#[tokio::test]
async fn a_failed_connector_reports_failed_with_a_trace() {
    let s = Services::from_env();
    let (bad_topic, slow_topic) = (unique("ops-bad"), unique("ops-slow"));
    s.create_topic(&bad_topic, 1).await.unwrap();
    s.create_topic(&slow_topic, 1).await.unwrap();
    let slow_fn = unique("ops-slow-fn");
    s.deploy_test_function(&slow_fn, 30, &[]).await.unwrap();
    // The slow topic keeps an invocation in flight while the other topic's
    // missing function stops the connector: the drain is observable.
    s.produce(
        &slow_topic,
        &[Produce::text(0, "k", r#"{"sleep_ms": 6000}"#)],
    )
    .await
    .unwrap();
    let name = unique("ops-fail-sink");
    let mut config = s.connector_config(
        &name,
        &format!("{bad_topic},{slow_topic}"),
        "unused",
        &[
            ("http.listener", "127.0.0.1:0"),
            ("aws.lambda.configuration.mode", "multiple"),
        ],
    );
    config
        .as_object_mut()
        .unwrap()
        .remove("aws.lambda.function.name");
    config["aws.lambda.topic2function.map"] = json!(format!(
        "{bad_topic};{},{slow_topic};{slow_fn}",
        unique("absent-fn")
    ));
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let url = c.http_url().await;
    c.wait_for_log("invoking", MINUTE).await;
    s.produce(&bad_topic, &[Produce::text(0, "k", r#"{"i": 1}"#)])
        .await
        .unwrap();
    let status: Value = wait_until(MINUTE, "FAILED in /status", || async {
        let (_, body) = get(&format!("{url}/status")).await;
        let v: Value = serde_json::from_str(&body).ok()?;
        (v["connector"]["state"] == "FAILED").then_some(v)
    })
    .await;
    assert!(
        status["connector"]["trace"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{status}"
    );
    assert_eq!(status["tasks"][0]["state"], "FAILED");
    assert_eq!(get(&format!("{url}/health")).await.0, 503);
    assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_start_up_error() {
    let s = Services::from_env();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = s.connector_config(
        &unique("ops-port"),
        "t",
        "f",
        &[("http.listener", &format!("127.0.0.1:{port}"))],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    assert_eq!(c.wait(MINUTE).await, Some(1));
    assert!(
        c.log().contains(&format!(
            "http.listener 127.0.0.1:{port} cannot be bound (in use?)"
        )),
        "{}",
        c.log()
    );
}

#[tokio::test]
async fn an_assumed_iam_role_invokes_the_function() {
    let s = Services::from_env();
    let w = world!("role")
        .partitions(1)
        .function_timeout(10)
        .on(s.clone())
        .create()
        .await;
    s.produce(&w.topic, &records(3, 1)).await.unwrap();
    let mut c = w.start(&[
        ("authentication.method", "IAM Roles"),
        (
            "aws.iam.role.arn",
            "arn:aws:iam::000000000000:role/lambda-sink-invoker",
        ),
        ("aws.iam.external.id", "ext-1"),
    ]);
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    assert_eq!(w.function_records().await.len(), 3);
}

#[tokio::test]
async fn aws_calls_go_through_an_authenticating_proxy() {
    let s = Services::from_env();
    let proxy = proxy::start(Some(("proxy-user", "proxy-pw-5e1a")))
        .await
        .unwrap();
    let w = world!("proxy")
        .partitions(1)
        .function_timeout(10)
        .on(s.clone())
        .create()
        .await;
    s.produce(&w.topic, &records(3, 1)).await.unwrap();
    let mut c = w.start(&[
        ("aws.lambda.proxy.url", &format!("http://{}", proxy.addr)),
        ("aws.lambda.proxy.user", "proxy-user"),
        ("aws.lambda.proxy.password", "proxy-pw-5e1a"),
        ("aws.lambda.batch.size", "1"),
    ]);
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    assert!(
        proxy.stats.forwarded.load(Ordering::SeqCst) >= 3,
        "every invocation went through the proxy"
    );
    assert_eq!(
        proxy.stats.refused.load(Ordering::SeqCst),
        0,
        "with the right credentials"
    );
    assert!(!c.log().contains("proxy-pw-5e1a"));
}

#[tokio::test]
async fn no_secret_appears_in_logs_or_apis_even_at_trace_level() {
    let s = Services::from_env();
    let registry = lambda_sink_testkit::registry::start().await.unwrap();
    let proxy = proxy::start(None).await.unwrap();
    let w = world!("secret")
        .partitions(1)
        .function_timeout(10)
        .on(s.clone())
        .create()
        .await;
    let (topic, name, function) = (&w.topic, &w.name, &w.function);
    // JSON_SR records, so the registry (and its basic auth) is used.
    let registered: Value = reqwest::Client::new()
        .post(format!("{registry}/subjects/{topic}-value/versions"))
        .json(&json!({"schemaType": "JSON", "schema": "{\"type\":\"object\"}"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = u32::try_from(registered["id"].as_u64().unwrap()).unwrap();
    let framed = |doc: &str| [vec![0], id.to_be_bytes().to_vec(), doc.as_bytes().to_vec()].concat();
    let produced = [
        Produce {
            value: Some(framed(r#"{"i": 1}"#)),
            ..Produce::text(0, "k", "")
        },
        Produce {
            value: Some(b"not framed: a dead letter".to_vec()),
            ..Produce::text(0, "k", "")
        },
        Produce {
            value: Some(framed(r#"{"i": 2}"#)),
            ..Produce::text(0, "k", "")
        },
    ];
    s.produce(topic, &produced).await.unwrap();
    let secrets = [
        "aws-secret-9f2c",
        "aws-token-4d1e",
        "registry-pw-77ab",
        "proxy-pw-0c3d",
        "sasl-pw-b6e0",
    ];
    let config = s.connector_config(
        name,
        topic,
        function,
        &[
            ("http.listener", "127.0.0.1:0"),
            ("aws.access.key.id", "AKIATEST"),
            ("aws.secret.access.key", secrets[0]),
            ("aws.session.token", secrets[1]),
            ("input.data.format", "JSON_SR"),
            ("schema.registry.url", &registry),
            (
                "schema.registry.basic.auth.user.info",
                &format!("reg-user:{}", secrets[2]),
            ),
            ("aws.lambda.proxy.url", &format!("http://{}", proxy.addr)),
            ("aws.lambda.proxy.user", "proxy-user"),
            ("aws.lambda.proxy.password", secrets[3]),
            ("kafka.sasl.password", secrets[4]),
        ],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[("RUST_LOG", "trace")]).unwrap();
    let url = c.http_url().await;
    let done = lambda_sink_testkit::try_wait_until(MINUTE, || async {
        (s.committed(&format!("connect-{name}"), topic, 1)
            .await
            .ok()?
            == vec![3])
        .then_some(())
    })
    .await;
    let log = c.log();
    assert!(
        done.is_some(),
        "not committed; log tail:\n{}",
        log.lines().rev().take(60).collect::<Vec<_>>().join("\n")
    );
    let (_, status) = get(&format!("{url}/status")).await;
    let (_, metrics) = get(&format!("{url}/metrics")).await;
    let (_, health) = get(&format!("{url}/health")).await;
    c.stop_cleanly().await;
    let log = c.log();
    assert!(log.contains(" TRACE "), "trace logging was on");
    assert_eq!(
        s.function_records(function).await.unwrap().len(),
        2,
        "the registry was used"
    );
    for secret in secrets {
        for (what, text) in [
            ("log", &log),
            ("/status", &status),
            ("/metrics", &metrics),
            ("/health", &health),
        ] {
            assert!(!text.contains(secret), "{secret} appeared in the {what}");
        }
    }
}

/// The shipped alert rules on a real Prometheus scraping a running
/// instance: a function hanging on one partition fires
/// `LambdaSinkPartitionStalled` for that partition alone while the other
/// flows, and the alert clears once the function answers.
#[tokio::test]
async fn prometheus_fires_the_stalled_partition_alert_while_it_lasts() {
    let w = world!("alert")
        .partitions(2)
        .function_timeout(40)
        .create()
        .await;
    let (s, topic) = (&w.s, &w.topic);
    s.produce(topic, &[hanging(20_000)]).await.unwrap();
    let mut c = w.start(&[
        ("http.listener", "127.0.0.1:0"),
        ("partition.stall.timeout.ms", "1000"),
        ("aws.lambda.batch.size", "1"),
    ]);
    let url = c.http_url().await;
    let rules = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/prometheus/lambda-sink-alerts.yml");
    let prometheus = Prometheus::start(&[url.trim_start_matches("http://")], &[&rules])
        .await
        .unwrap();
    let stalled = || async {
        prometheus
            .firing("LambdaSinkPartitionStalled")
            .await
            .unwrap()
    };
    let fired = wait_until(MINUTE, "the stalled-partition alert firing", || async {
        let firing = stalled().await;
        (!firing.is_empty()).then_some(firing)
    })
    .await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(
        (fired[0]["topic"].as_str(), fired[0]["partition"].as_str()),
        (topic.as_str(), "0")
    );
    // The other partition flows meanwhile, and does not fire.
    s.produce(topic, &on_partition(1, 10)).await.unwrap();
    wait_until(
        MINUTE,
        "partition 1's records resolved, as Prometheus sees",
        || async {
            let resolved = prometheus
                .query(r#"sum(lambda_sink_records_resolved_total{outcome="success"})"#)
                .await
                .unwrap();
            (resolved.first().map(|(_, v)| *v) == Some(10.0)).then_some(())
        },
    )
    .await;
    let firing = stalled().await;
    assert_eq!(firing.len(), 1, "only partition 0: {firing:?}");
    assert_eq!(firing[0]["partition"], "0");
    // Once the function answers, the alert clears.
    wait_until(MINUTE, "the alert cleared", || async {
        stalled().await.is_empty().then_some(())
    })
    .await;
    c.stop_cleanly().await;
}

/// Every query of the shipped Grafana dashboard (`deploy/grafana`), run on
/// a real Prometheus scraping an instance that has just drained records,
/// returns data. The one allowed exception is a query reading a metric
/// `/metrics` declares but has no series of yet (retries, when nothing was
/// retried); a misspelled metric is not declared, so it fails.
#[tokio::test]
async fn every_dashboard_query_returns_data_on_a_real_prometheus() {
    let w = world!("dash")
        .partitions(2)
        .function_timeout(10)
        .create()
        .await;
    let (s, topic) = (&w.s, &w.topic);
    let mut c = w.start(&[
        ("http.listener", "127.0.0.1:0"),
        ("consumer.override.statistics.interval.ms", "1000"),
    ]);
    let url = c.http_url().await;
    let prometheus = Prometheus::start(&[url.trim_start_matches("http://")], &[])
        .await
        .unwrap();
    s.produce(topic, &records(2_000, 2)).await.unwrap();
    wait_until(
        MINUTE,
        "2,000 records resolved, as Prometheus sees",
        || async {
            let resolved = prometheus
                .query("sum(lambda_sink_records_resolved_total)")
                .await
                .unwrap();
            (resolved.first().map(|(_, v)| *v) == Some(2_000.0)).then_some(())
        },
    )
    .await;
    // A rate needs samples: five scrapes of every series since it appeared.
    wait_until(MINUTE, "five scrapes of the records' series", || async {
        let scrapes = prometheus
            .query("min(count_over_time(lambda_sink_records_consumed_total[1m]))")
            .await
            .unwrap();
        (scrapes.first().map(|(_, v)| *v) >= Some(5.0)).then_some(())
    })
    .await;
    let (_, exposition) = get(&format!("{url}/metrics")).await;
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/grafana/lambda-sink-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$connector", ".*")
                .replace("$__rate_interval", "1m");
            let samples = prometheus.query(&expr).await.unwrap();
            if samples.is_empty() {
                // A metric of ours (declared in /metrics) with no series yet.
                let declared_but_empty = |metric: &str| {
                    let family = ["_total", "_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|suffix| metric.strip_suffix(suffix))
                        .unwrap_or(metric);
                    exposition.contains(&format!("# TYPE {family} "))
                        && !exposition.lines().any(|l| l.starts_with(metric))
                };
                let absent = expr
                    .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .filter(|word| word.starts_with("lambda_sink_"))
                    .any(declared_but_empty);
                assert!(
                    absent,
                    "{}: `{expr}` returned nothing, and reads no metric that /metrics declares without series",
                    panel["title"]
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 13, "every panel's every query");
    c.stop_cleanly().await;
}

/// A span of a Jaeger trace, as the test looks at it.
#[derive(Debug)]
struct Seen {
    service: String,
    name: String,
    span_id: String,
    /// (reference type, trace id, span id)
    references: Vec<(String, String, String)>,
    tags: Value,
}

/// Trace and span ids without leading zeros (Jaeger's query API trims them).
fn id(text: &str) -> String {
    text.trim_start_matches('0').to_string()
}

impl Seen {
    fn of(span: &Value) -> Self {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Self {
            service: text(&span["service"]),
            name: text(&span["operationName"]),
            span_id: id(&text(&span["spanID"])),
            references: span["references"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        text(&r["refType"]),
                        id(&text(&r["traceID"])),
                        id(&text(&r["spanID"])),
                    )
                })
                .collect(),
            tags: span["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| (text(&t["key"]), t["value"].clone()))
                .collect::<serde_json::Map<String, Value>>()
                .into(),
        }
    }
}

/// A traced producer's record and an untraced one, invoked in one batch
/// through a traced function, land in a real OpenTelemetry receiver
/// (Jaeger) as: the producer's trace; the invocation's span, linked to the
/// producer's span (and to nothing else); the function's span, the
/// invocation span's child, continued from the payload's `traceparent`;
/// and the outcome write, its child too. Nothing warns, and the stop
/// (which exports the last spans) exits 0.
#[tokio::test]
async fn a_traced_record_links_its_producer_to_the_invocation_the_function_continues() {
    let jaeger = Jaeger::start().await.unwrap();
    let endpoint = jaeger.otlp_endpoint();
    let function_env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let w = world!("traces")
        .partitions(1)
        .env(&function_env)
        .create()
        .await;
    let producer = jaeger.producer_span("orders-service").await.unwrap();
    let (producer_trace, producer_span) = (id(&producer[3..35]), id(&producer[36..52]));
    let mut traced = Produce::text(0, "k0", r#"{"n": 0}"#);
    traced
        .headers
        .push(("traceparent".into(), producer.as_bytes().to_vec()));
    let plain = Produce::text(0, "k1", r#"{"n": 1}"#);
    w.s.produce(&w.topic, &[traced, plain]).await.unwrap();
    let config = w.config(&[("aws.lambda.batch.size", "2")]);
    let mut c = Connector::start(
        &w.bin,
        &config,
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)],
    )
    .unwrap();
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    let log = c.log();
    assert!(!log.contains(" WARN "), "no warning:\n{log}");
    assert!(log.contains("OpenTelemetry traces on"), "{log}");
    // Every element carries its invocation span's context, the traced
    // record's not its producer's. (The two records usually share a
    // request; they may not, if the first was taken before the second
    // arrived.)
    let seen = w.function_records().await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    let context_of = |offset: i64| {
        let record = seen.iter().find(|r| r["offset"] == json!(offset)).unwrap();
        record["traceparent"].as_str().unwrap().to_string()
    };
    let traceparent = context_of(0);
    assert_ne!(
        traceparent, producer,
        "the invocation's context, not the producer's"
    );
    let together = context_of(1) == traceparent;
    let batched = if together { 2 } else { 1 };
    let (trace, invoke) = (id(&traceparent[3..35]), id(&traceparent[36..52]));
    let spans = wait_until(MINUTE, "the invocation's trace in Jaeger", || async {
        let spans = jaeger.spans(&trace).await.ok()?;
        (spans.len() >= 3).then_some(spans)
    })
    .await;
    let spans: Vec<Seen> = spans.iter().map(Seen::of).collect();
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let named = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no span {name}: {spans:#?}"))
    };
    let invocation = named(&format!("invoke {}", w.function));
    assert_eq!(invocation.service, "lambda-sink");
    assert_eq!(
        invocation.span_id, invoke,
        "the context the function got is the invocation span's"
    );
    assert_eq!(
        invocation.references,
        [(
            "FOLLOWS_FROM".to_string(),
            producer_trace.clone(),
            producer_span.clone()
        )],
        "linked to the traced record's producer, and only to it"
    );
    for (key, want) in [
        ("faas.invoked_name", json!(w.function)),
        ("messaging.destination.name", json!(w.topic)),
        ("messaging.batch.message_count", json!(batched)),
        ("lambda_sink.offset.first", json!(0)),
        ("lambda_sink.offset.last", json!(batched - 1)),
        ("lambda_sink.attempt", json!(0)),
        ("lambda_sink.result", json!("success")),
        ("span.kind", json!("client")),
    ] {
        assert_eq!(invocation.tags[key], want, "{key}: {invocation:#?}");
    }
    let child = |name: &str, service: &str| {
        let span = named(name);
        assert_eq!(span.service, service);
        assert_eq!(
            span.references,
            [("CHILD_OF".to_string(), trace.clone(), invoke.clone())],
            "{name} is the invocation span's child"
        );
    };
    child("handle batch", "test-function");
    child("write outcomes", "lambda-sink");
    // The producer's own trace is there, for the link to lead somewhere.
    let producer_spans = jaeger.spans(&producer_trace).await.unwrap();
    assert_eq!(producer_spans.len(), 1, "{producer_spans:?}");
    assert_eq!(producer_spans[0]["service"], json!("orders-service"));
}

/// JSON logs (`LAMBDA_SINK_LOG_FORMAT=json`) carry each event's fields as
/// keys, the same the event log serves.
#[tokio::test]
async fn json_logs_carry_the_event_fields() {
    let w = world!("jsonlog").partitions(1).create().await;
    w.s.produce(&w.topic, &on_partition(0, 2)).await.unwrap();
    let mut c = Connector::start(
        Path::new(BIN),
        &w.config(&[]),
        &[("LAMBDA_SINK_LOG_FORMAT", "json")],
    )
    .unwrap();
    w.drained(MINUTE, &[&c]).await;
    c.stop_cleanly().await;
    let lines: Vec<Value> = c
        .log()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let event = |kind: &str| {
        lines
            .iter()
            .find(|l| l["event"] == kind)
            .unwrap_or_else(|| panic!("no {kind} line in {lines:#?}"))
    };
    let assigned = event("partitions_assigned");
    assert_eq!(
        (&assigned["level"], &assigned["task"]),
        (&json!("INFO"), &json!(0)),
        "{assigned}"
    );
    assert!(
        assigned["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{}[0]", w.topic)),
        "{assigned}"
    );
    assert_eq!(event("tasks_stopped")["level"], json!("INFO"));
    assert!(
        lines
            .iter()
            .all(|l| l["level"] != "WARN" && l["level"] != "ERROR")
    );
}
