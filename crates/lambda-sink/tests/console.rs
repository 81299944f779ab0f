//! The web console in real headless Chromium: `tests/console/console.js`
//! (playwright-core driving Debian's chromium) against a `serve` worker on
//! the real broker and Lambda emulator. This test owns the world (topic,
//! function, worker) and produces records when the script asks for them;
//! the script signs in with the worker's bearer token, checks the form's
//! layout (essentials alone, required markers, rendered descriptions, the
//! id an odd name becomes, hidden outcome topics), creates the connector
//! through the form (an inline validation error first), watches it run, pauses and resumes it, reads
//! the DLQ (a planted `<script>` record shown as text) and redrives a
//! record after fixing the cause. Then this test checks the function got it.
//! `tests/console/stall.js` watches a partition whose function hangs show
//! as stalled, and clear.
//!
//! `LAMBDA_SINK_SCREENSHOTS=docs/console` keeps the screenshots there
//! (1280×800, one per page).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::Produce;
use lambda_sink_testkit::{PARK_ON_ORDER, Services, unique, wait_until};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
/// How long the test function sleeps for each batch of the good records.
const SLEEP_MS: u64 = 1000;

/// A browser script's run: `node tests/console/<script>` with playwright-core
/// on its path, and where its screenshots go (`LAMBDA_SINK_SCREENSHOTS`, or
/// a scratch directory kept as long as this).
struct Browser {
    shots: PathBuf,
    _scratch: tempfile::TempDir,
}

impl Browser {
    fn new() -> Self {
        let scratch = tempfile::tempdir().unwrap();
        let shots = std::env::var("LAMBDA_SINK_SCREENSHOTS")
            .map_or_else(|_| scratch.path().to_path_buf(), PathBuf::from);
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            shots,
            _scratch: scratch,
        }
    }

    /// `node` running `script` against the console at `url`.
    fn script(&self, script: &str, url: &str) -> tokio::process::Command {
        let node_path = std::env::var("LAMBDA_SINK_BROWSER_NODE_PATH")
            .expect("LAMBDA_SINK_BROWSER_NODE_PATH (scripts/services.sh env)");
        let mut node = tokio::process::Command::new("node");
        node.arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/console")
                .join(script),
        )
        .env("NODE_PATH", node_path)
        .env("CONSOLE_URL", url)
        .env("CONSOLE_SCREENSHOTS", &self.shots);
        node
    }

    /// Runs `script` against the console at `url` with `env` until it ends
    /// (within 3 minutes) and asserts it printed "done" last and exited 0,
    /// showing its transcript and `worker`'s log otherwise.
    async fn run_to_done(&self, script: &str, url: &str, env: &[(&str, &str)], worker: &Connector) {
        let mut command = self.script(script, url);
        command.envs(env.iter().copied()).kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(180), command.output())
            .await
            .expect("the browser test finished")
            .expect("node (the machine's Node.js)");
        let transcript = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && transcript.lines().last() == Some("done"),
            "the browser test failed:\n{transcript}\n{}\nworker log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            worker.log()
        );
    }

    /// The script took a real screenshot of `page`.
    fn assert_screenshot(&self, page: &str) {
        let file = self.shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&file).unwrap().len() > 10_000,
            "{} is a real screenshot",
            file.display()
        );
    }
}

/// Creates connector `name` reading `topic` into `function` through the
/// worker API at `url`, with `extra` properties.
async fn create(url: &str, name: &str, topic: &str, function: &str, extra: &[(&str, &str)]) {
    let mut config = json!({
        "connector.class": "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector",
        "topics": topic,
        "aws.lambda.function.name": function,
    });
    for (k, v) in extra {
        config[*k] = json!(v);
    }
    let created = reqwest::Client::new()
        .post(format!("{url}/connectors"))
        .json(&json!({ "name": name, "config": config }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
}

/// What the script asks for: good records, bad ones, and a planted one.
fn records() -> Vec<Produce> {
    // The function answers each batch after SLEEP_MS (plus the emulator's
    // own tens of milliseconds): the latency plot must read that within
    // 10 % (the test compares with the mean lambda-sink measured).
    let mut out: Vec<Produce> = (0..40)
        .map(|i| {
            let value = json!({ "i": i, "sleep_ms": SLEEP_MS });
            Produce::text(0, &format!("k{i}"), &value.to_string())
        })
        .collect();
    for i in 0..3 {
        out.push(Produce::text(
            0,
            &format!("bad{i}"),
            &format!("not json {i}"),
        ));
    }
    let mut planted = Produce::text(
        0,
        "<b>key</b>",
        "<script>window.__xss = 1</script><b>bold</b>",
    );
    planted.headers.push((
        "evil".into(),
        b"<img src=x onerror=window.__xss=2>".to_vec(),
    ));
    out.push(planted);
    // A long bad value, folded in the DLQ view.
    out.push(Produce::text(0, "long", &"word ".repeat(120)));
    // One the function fails: its batch goes to the DLQ with ESM's context.
    out.push(Produce::text(0, "failing", r#"{"i": 99, "fail": true}"#));
    out
}

/// The mean invocation latency of connector `name` so far, in ms, from
/// the worker's `/metrics`: the function's latency as lambda-sink sees it
/// (its sleep plus the emulator's own share, which varies by tens of ms).
async fn mean_latency_ms(url: &str, token: &str, name: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let connector = format!("connector=\"{name}\"");
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series) && l.contains(&connector))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {series} of {name} in /metrics"))
    };
    let (sum, count) = (
        value("lambda_sink_invocation_duration_seconds_sum"),
        value("lambda_sink_invocation_duration_seconds_count"),
    );
    assert!(count > 0.0, "no invocation measured yet");
    sum / count * 1000.0
}

#[tokio::test]
async fn the_console_in_headless_chromium() {
    let s = Services::from_env();
    let (topic, function, name) = (
        unique("console"),
        unique("console-fn"),
        unique("console-sink"),
    );
    s.create_topic(&topic, 1).await.unwrap();
    // Another connector's outcome topic, which the topic picker hides.
    let outcome = unique("success-console-other");
    s.create_topic(&outcome, 1).await.unwrap();
    s.deploy_test_function(&function, 10, &[]).await.unwrap();
    // The console obeys the listener's auth: the script signs in first.
    let token = unique("console-token");
    let props = s.worker_properties(
        &unique("console-cluster"),
        &[("rest.auth.token", "${env:CONSOLE_TEST_TOKEN}")],
    );
    let worker =
        Connector::serve(Path::new(BIN), &props, &[("CONSOLE_TEST_TOKEN", &token)]).unwrap();
    let url = worker.api_url().await;

    let browser = Browser::new();
    let mut child = browser
        .script("console.js", &url)
        .env("CONSOLE_TOPIC", &topic)
        .env("CONSOLE_SLEEP_MS", SLEEP_MS.to_string())
        .env("CONSOLE_OUTCOME_TOPIC", &outcome)
        .env("CONSOLE_FUNCTION", &function)
        .env("CONSOLE_NAME", &name)
        .env("CONSOLE_TOKEN", &token)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (the machine's Node.js)");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut transcript = Vec::new();
    let mut redriven = None;
    let run = async {
        while let Some(line) = out.next_line().await.unwrap() {
            transcript.push(line.clone());
            if line == "need records" {
                s.produce(&topic, &records()).await.unwrap();
                stdin.write_all(b"ok\n").await.unwrap();
            } else if line == "need latency" {
                let ms = mean_latency_ms(&url, &token, &name).await;
                stdin.write_all(format!("{ms}\n").as_bytes()).await.unwrap();
            } else if let Some(o) = line.strip_prefix("redriven dlq-offset ") {
                redriven = Some(o.to_string());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .unwrap_or_else(|_| panic!("the browser test timed out:\n{}", transcript.join("\n")));
    let status = child.wait_with_output().await.unwrap();
    assert!(
        status.status.success() && transcript.last().map(String::as_str) == Some("done"),
        "the browser test failed:\n{}\n{}\nworker log:\n{}",
        transcript.join("\n"),
        String::from_utf8_lossy(&status.stderr),
        worker.log()
    );
    assert!(redriven.is_some(), "{}", transcript.join("\n"));

    // The planted record (offset 43 of the input) reached the function
    // once redriven, with its value intact.
    let value = wait_until(
        Duration::from_secs(60),
        "the redriven record at the function",
        || async {
            let seen = s.function_records(&function).await.unwrap();
            seen.iter()
                .find(|r| r["offset"] == 43)
                .map(|r| r["value"].clone())
        },
    )
    .await;
    assert_eq!(value, json!("<script>window.__xss = 1</script><b>bold</b>"));
    for page in [
        "console-new",
        "console-invalid",
        "console-connector",
        "console-connectors",
        "console-dlq",
        "console-edit",
    ] {
        browser.assert_screenshot(page);
    }
}

/// A partition whose function hangs shows as stalled in the console (the
/// connectors page and the connector's page), and clears when it answers:
/// `tests/console/stall.js` in real headless Chromium.
#[tokio::test]
async fn a_stalled_partition_shows_in_the_console() {
    let s = Services::from_env();
    let (topic, function, name) = (
        unique("console-stall"),
        unique("console-stall-fn"),
        unique("console-stalled"),
    );
    s.create_topic(&topic, 1).await.unwrap();
    s.deploy_test_function(&function, 30, &[]).await.unwrap();
    let props = s.worker_properties(&unique("console-stall-cluster"), &[]);
    let worker = Connector::serve(Path::new(BIN), &props, &[]).unwrap();
    let url = worker.api_url().await;
    create(
        &url,
        &name,
        &topic,
        &function,
        &[
            ("aws.lambda.batch.size", "1"),
            ("partition.stall.timeout.ms", "1000"),
        ],
    )
    .await;
    // The function hangs on the first record for 15 s; two more wait behind it.
    let mut hung = vec![Produce::text(
        0,
        "slow",
        &json!({ "sleep_ms": 15_000 }).to_string(),
    )];
    hung.extend((0..2).map(|i| Produce::text(0, "k", &json!({ "i": i }).to_string())));
    s.produce(&topic, &hung).await.unwrap();
    // The cluster's status names the stalled partition on its task.
    wait_until(
        Duration::from_secs(60),
        "the status names the stall",
        || async {
            let status: serde_json::Value = reqwest::get(format!("{url}/connectors/{name}/status"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (status["tasks"][0]["stalled_partitions"] == json!([format!("{topic}-0")]))
                .then_some(())
        },
    )
    .await;

    let browser = Browser::new();
    let env = [("CONSOLE_NAME", name.as_str()), ("CONSOLE_TOPIC", &topic)];
    browser.run_to_done("stall.js", &url, &env, &worker).await;
    browser.assert_screenshot("console-stalled");
}

/// A connector's parked keys on its page (`aws.lambda.on.key.failure=park`):
/// `tests/console/parked.js` in real headless Chromium.
#[tokio::test]
async fn parked_keys_show_on_the_connectors_page() {
    let s = Services::from_env();
    let (topic, function, name, plain) = (
        unique("console-parked"),
        unique("console-parked-fn"),
        unique("console-parks"),
        unique("console-plain"),
    );
    s.create_topic(&topic, 1).await.unwrap();
    s.deploy_test_function(&function, 30, &[]).await.unwrap();
    let props = s.worker_properties(&unique("console-parked-cluster"), &[]);
    let mut worker = Connector::serve(Path::new(BIN), &props, &[]).unwrap();
    let url = worker.api_url().await;
    create(&url, &name, &topic, &function, &PARK_ON_ORDER).await;
    create(
        &url,
        &plain,
        &topic,
        &function,
        &[("behavior.on.error", "log")],
    )
    .await;
    // Key "poisoned" always fails; key "k" does not.
    let mut records: Vec<Produce> = (0..3)
        .map(|i| Produce::text(0, "poisoned", &json!({ "i": i, "fail": true }).to_string()))
        .collect();
    records.extend((0..2).map(|i| Produce::text(0, "k", &json!({ "i": i }).to_string())));
    s.produce(&topic, &records).await.unwrap();
    wait_until(Duration::from_secs(60), "the key parked", || async {
        let parked: serde_json::Value = reqwest::get(format!("{url}/connectors/{name}/parked"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (parked["parked"][0]["records"] == json!(3)).then_some(())
    })
    .await;

    let browser = Browser::new();
    let env = [
        ("CONSOLE_NAME", name.as_str()),
        ("CONSOLE_PLAIN", &plain),
        ("CONSOLE_TOPIC", &topic),
    ];
    browser.run_to_done("parked.js", &url, &env, &worker).await;
    browser.assert_screenshot("console-parked");
    // The skip resolved its three records as failed: the error topic.
    let errors = s
        .read_topic(&format!("error-{name}"), 3, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(errors.len(), 3);
    assert_eq!(worker.stop().await, Some(0), "{}", worker.log());
}

#[tokio::test]
async fn a_connector_is_moved_and_replayed_from_its_page() {
    let s = Services::from_env();
    let (topic, function, name) = (
        unique("console-travel"),
        unique("console-travel-fn"),
        unique("console-travels"),
    );
    s.create_topic(&topic, 1).await.unwrap();
    s.deploy_test_function(&function, 30, &[]).await.unwrap();
    let props = s.worker_properties(&unique("console-travel-cluster"), &[]);
    let mut worker = Connector::serve(Path::new(BIN), &props, &[]).unwrap();
    let url = worker.api_url().await;
    create(&url, &name, &topic, &function, &[]).await;
    // Offsets 0..2 two minutes ago, 3..4 one minute ago (whole seconds:
    // the page's time inputs have a second's resolution).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (t0, t1) = (
        i64::try_from(now - 120).unwrap() * 1000,
        i64::try_from(now - 60).unwrap() * 1000,
    );
    let records: Vec<Produce> = (0..5)
        .map(|i| Produce {
            timestamp: Some(if i < 3 { t0 } else { t1 }),
            ..Produce::text(0, &format!("k{i}"), &json!({ "i": i }).to_string())
        })
        .collect();
    s.produce(&topic, &records).await.unwrap();
    let seen = |n: usize| {
        let (s, function) = (&s, &function);
        async move {
            wait_until(
                Duration::from_secs(60),
                &format!("{n} invocations"),
                || async {
                    let records = s.function_records(function).await.ok()?;
                    let offsets: Vec<i64> = records
                        .iter()
                        .filter_map(|r| r["offset"].as_i64())
                        .collect();
                    (offsets.len() >= n).then_some(offsets)
                },
            )
            .await
        }
    };
    seen(5).await;

    let browser = Browser::new();
    let (from, to) = (t0.to_string(), t1.to_string());
    let env = [
        ("CONSOLE_NAME", name.as_str()),
        ("CONSOLE_TOPIC", &topic),
        ("CONSOLE_FROM", &from),
        ("CONSOLE_MOVE", &to),
    ];
    browser.run_to_done("travel.js", &url, &env, &worker).await;
    browser.assert_screenshot("console-time-travel");
    // Each record once, once more by the replay, and 3..4 once more by
    // the move.
    let offsets = seen(12).await;
    for o in 0..5 {
        let n = offsets.iter().filter(|x| **x == o).count();
        assert_eq!(n, if o < 3 { 2 } else { 3 }, "offset {o}: {offsets:?}");
    }
    assert_eq!(worker.stop().await, Some(0), "{}", worker.log());
}
