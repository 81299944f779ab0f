//! `lambda-sink serve` against the real broker and Lambda emulator: the
//! Kafka Connect REST API (lifecycle, config updates, offsets, validation,
//! bad input, auth), state kept in Kafka, two workers sharing connectors,
//! the `connect` CLI and a real Connect client from PyPI.

use std::path::Path;
use std::time::Duration;

use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::jaeger::Jaeger;
use lambda_sink_testkit::kafka::{Isolation, Produce, Record};
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use lambda_sink_testkit::{PARK_ON_ORDER, Services, scrape, transactions, unique, wait_until};
use reqwest::Method;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

/// A worker's REST API.
struct Api {
    url: String,
    client: reqwest::Client,
    auth: Option<(String, String)>,
}

impl Api {
    fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            client: reqwest::Client::new(),
            auth: None,
        }
    }

    /// Status and JSON body (`Null` when empty).
    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut r = self.client.request(method, format!("{}{path}", self.url));
        if let Some((u, p)) = &self.auth {
            r = r.basic_auth(u, Some(p));
        }
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r).await
    }

    /// Sends a raw body.
    async fn raw(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(r).await
    }

    async fn send(&self, r: reqwest::RequestBuilder) -> (u16, Value) {
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, None).await
    }

    /// Waits until connector `name`'s latest move is done (a move waits
    /// for its group to empty; a consumer that was still joining when its
    /// task stopped holds it until Kafka drops the join, up to the
    /// session timeout: docs/connect-api.md); the move.
    async fn move_done(&self, name: &str) -> Value {
        wait_until(
            Duration::from_secs(120),
            &format!("{name} moved"),
            || async {
                let (_, m) = self.get(&format!("/connectors/{name}/offsets/move")).await;
                assert_ne!(m["state"], "failed", "{m}");
                (m["state"] == "done").then_some(m)
            },
        )
        .await
    }

    /// Waits until the connector's state (and every task's) is `state`.
    async fn wait_state(&self, name: &str, state: &str) -> Value {
        wait_until(MINUTE, &format!("{name} {state}"), || async {
            let (code, s) = self.get(&format!("/connectors/{name}/status")).await;
            let tasks_ok = s["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().all(|t| t["state"] == state));
            (code == 200 && s["connector"]["state"] == state && tasks_ok).then_some(s)
        })
        .await
    }
}

/// One test's world and its worker cluster (`group.id`).
struct Cluster {
    w: World,
    group: String,
}

impl std::ops::Deref for Cluster {
    type Target = World;
    fn deref(&self) -> &World {
        &self.w
    }
}

impl Cluster {
    async fn new(prefix: &str, partitions: i32) -> Self {
        let w = world!(prefix)
            .partitions(partitions)
            .function_timeout(10)
            .create()
            .await;
        Self {
            w,
            group: unique(&format!("{prefix}-cluster")),
        }
    }

    fn worker(&self, extra: &[(&str, &str)]) -> Connector {
        let props = self.s.worker_properties(&self.group, extra);
        Connector::serve(Path::new(BIN), &props, &[]).unwrap()
    }

    /// A connector config as a user submits it (the worker supplies Kafka
    /// and AWS).
    fn connector(&self, extra: &[(&str, &str)]) -> Value {
        let mut c = json!({
            "connector.class": "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector",
            "topics": self.topic,
            "aws.lambda.function.name": self.function,
            "tasks.max": "1",
        });
        for (k, v) in extra {
            c[*k] = json!(v);
        }
        c
    }

    /// Records `from..from + count`, round-robin over the partitions, key
    /// `k<i>`, value `{"i": i}`.
    async fn produce(&self, from: usize, count: usize) {
        self.w
            .produce_keyed(from..from + count, usize::MAX, |i| {
                json!({ "i": i }).to_string()
            })
            .await;
    }

    /// (partition, offset) of every record `function` logged.
    async fn seen(&self, function: &str) -> Vec<(i64, i64)> {
        self.s
            .function_records(function)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partition"].as_i64().unwrap(),
                    r["offset"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn wait_seen(&self, function: &str, n: usize) -> Vec<(i64, i64)> {
        wait_until(MINUTE, &format!("{n} records at {function}"), || async {
            let seen = self.seen(function).await;
            (seen.len() >= n).then_some(seen)
        })
        .await
    }

    /// Waits until consumer group `group` has `n` members.
    async fn wait_members(&self, group: &str, n: usize) {
        wait_until(MINUTE, &format!("{n} members of {group}"), || async {
            (self.s.group_members(group).await.unwrap() == n).then_some(())
        })
        .await;
    }

    /// Waits until connector `name`'s group is stable with one partition
    /// on each of as many tasks as the topic has partitions. A move
    /// requested while a rebalance is still going can leave a joining
    /// consumer's pending member for Kafka to drop after its session, and
    /// another task's last commit refused meanwhile (docs/connect-api.md):
    /// what a test of that race would assert, not one of moves.
    async fn settled(&self, name: &str) {
        let group = format!("connect-{name}");
        let each = vec![1; usize::try_from(self.partitions).unwrap()];
        // Up to the consumers' session timeout (45 s) and then a rebalance.
        wait_until(
            Duration::from_secs(120),
            &format!("{group} settled"),
            || async {
                (self.s.group_assignment(&group).await.unwrap().as_ref() == Some(&each))
                    .then_some(())
            },
        )
        .await;
    }

    async fn committed_to_end(&self, name: &str) -> Vec<i64> {
        self.s
            .wait_committed_to_end(
                &format!("connect-{name}"),
                &self.topic,
                self.partitions,
                MINUTE,
            )
            .await
    }
}

#[tokio::test]
async fn lifecycle_through_the_connect_api() {
    let w = Cluster::new("serve-life", 2).await;
    let worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("life");

    let (code, root) = api.get("/").await;
    assert_eq!(code, 200);
    assert_eq!(
        root["version"], "3.9.0",
        "the Connect API level tools gate on"
    );
    assert!(root["lambda_sink_version"].is_string());
    assert!(!root["kafka_cluster_id"].as_str().unwrap().is_empty());

    // Create: 201 with Location and ConnectorInfo; the config as submitted.
    let submitted = w.connector(&[]);
    let body = json!({ "name": name, "config": submitted });
    let r = api
        .client
        .post(format!("{}/connectors", api.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(
        r.headers()["location"],
        format!("/connectors/{name}").as_str()
    );
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["name"], name);
    assert_eq!(info["type"], "sink");

    // Terraform's rule: GET config is what was submitted plus name.
    let mut expected = submitted.clone();
    expected["name"] = json!(name);
    assert_eq!(
        api.get(&format!("/connectors/{name}/config")).await.1,
        expected
    );

    let status = api.wait_state(&name, "RUNNING").await;
    assert_eq!(status["type"], "sink");
    assert_eq!(status["tasks"].as_array().unwrap().len(), 1);
    let worker_id = status["tasks"][0]["worker_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        api.url.ends_with(&worker_id),
        "worker_id {worker_id} is the advertised address"
    );

    // Both expand forms.
    let (_, names) = api.get("/connectors").await;
    assert!(names.as_array().unwrap().contains(&json!(name)));
    for query in ["expand=status&expand=info", "expand=status,info"] {
        let (code, all) = api.get(&format!("/connectors?{query}")).await;
        assert_eq!(code, 200);
        assert_eq!(
            all[&name]["status"]["connector"]["state"], "RUNNING",
            "{query}"
        );
        assert_eq!(all[&name]["info"]["config"]["topics"], w.topic, "{query}");
    }

    w.produce(0, 20).await;
    w.wait_seen(&w.function, 20).await;
    assert_eq!(w.committed_to_end(&name).await, vec![10, 10]);
    // Metrics are the worker's, each sample labelled with its connector.
    let r = api
        .client
        .get(format!("{}/metrics", api.url))
        .send()
        .await
        .unwrap();
    let metrics = r.text().await.unwrap();
    let resolved = format!(
        "lambda_sink_records_resolved_total{{connector=\"{name}\",outcome=\"success\"}} 20"
    );
    assert!(metrics.contains(&resolved), "{resolved} in\n{metrics}");
    let topics = json!({ &name: { "topics": [w.topic] } });
    wait_until(MINUTE, "the active topic", || async {
        (api.get(&format!("/connectors/{name}/topics")).await.1 == topics).then_some(())
    })
    .await;

    // Pause: the tasks leave the group, offsets hold, nothing is invoked.
    let path = |action: &str| format!("/connectors/{name}/{action}");
    assert_eq!(api.call(Method::PUT, &path("pause"), None).await.0, 202);
    api.wait_state(&name, "PAUSED").await;
    assert_eq!(
        w.s.group_members(&format!("connect-{name}")).await.unwrap(),
        0
    );
    w.produce(20, 10).await;
    assert_eq!(
        w.seen(&w.function).await.len(),
        20,
        "nothing invoked while paused"
    );
    assert_eq!(
        w.s.committed(&format!("connect-{name}"), &w.topic, 2)
            .await
            .unwrap(),
        vec![10, 10]
    );
    assert_eq!(api.call(Method::PUT, &path("resume"), None).await.0, 202);
    api.wait_state(&name, "RUNNING").await;
    w.wait_seen(&w.function, 30).await;
    assert_eq!(w.committed_to_end(&name).await, vec![15, 15]);

    // Offsets change once stopped (the rules are the Admin suite's).
    let patch = json!({"offsets": [{"partition": {"kafka_topic": w.topic, "kafka_partition": 0},
                                    "offset": {"kafka_offset": 5}}]});
    assert_eq!(api.call(Method::PUT, &path("stop"), None).await.0, 204);
    let stopped = api.wait_state(&name, "STOPPED").await;
    assert_eq!(stopped["tasks"], json!([]));
    assert_eq!(api.get(&path("tasks")).await.1, json!([]));
    let (_, offsets) = api.get(&path("offsets")).await;
    assert_eq!(
        offsets["offsets"][1],
        json!({"partition": {"kafka_topic": w.topic, "kafka_partition": 1}, "offset": {"kafka_offset": 15}})
    );
    let (code, done) = api
        .call(Method::PATCH, &path("offsets"), Some(&patch))
        .await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(
        done["message"],
        "The offsets for this connector have been altered successfully"
    );
    assert_eq!(
        api.get(&path("offsets")).await.1["offsets"][0]["offset"]["kafka_offset"],
        5
    );
    // Resumed: partition 0 is invoked again from offset 5.
    assert_eq!(api.call(Method::PUT, &path("resume"), None).await.0, 202);
    let seen = w.wait_seen(&w.function, 40).await;
    assert_eq!(
        seen.iter().filter(|(p, o)| *p == 0 && *o == 5).count(),
        2,
        "offset 5 re-invoked"
    );
    assert_eq!(w.committed_to_end(&name).await, vec![15, 15]);

    // Stop, reset every offset, resume: everything again from the start.
    assert_eq!(api.call(Method::PUT, &path("stop"), None).await.0, 204);
    api.wait_state(&name, "STOPPED").await;
    let (code, reset) = api.call(Method::DELETE, &path("offsets"), None).await;
    assert_eq!(
        (code, reset["message"].clone()),
        (
            200,
            json!("The offsets for this connector have been reset successfully")
        )
    );
    assert_eq!(api.get(&path("offsets")).await.1, json!({"offsets": []}));
    assert_eq!(api.call(Method::PUT, &path("resume"), None).await.0, 202);
    w.wait_seen(&w.function, 70).await;
    assert_eq!(w.committed_to_end(&name).await, vec![15, 15]);

    // Restart: plain (204) and with tasks (202, shown RESTARTING).
    assert_eq!(api.call(Method::POST, &path("restart"), None).await.0, 204);
    let (code, restarting) = api
        .call(
            Method::POST,
            &path("restart?includeTasks=true&onlyFailed=false"),
            None,
        )
        .await;
    assert_eq!(code, 202);
    assert_eq!(restarting["tasks"][0]["state"], "RESTARTING");
    api.wait_state(&name, "RUNNING").await;

    // A changed config restarts the tasks on it (here: another function).
    let mut same = submitted.clone();
    same["name"] = json!(name);
    let second = unique("serve-life-fn2");
    w.s.deploy_test_function(&second, 10, &[]).await.unwrap();
    let mut changed = same.clone();
    changed["aws.lambda.function.name"] = json!(second);
    let (code, updated) = api.call(Method::PUT, &path("config"), Some(&changed)).await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(api.get(&path("config")).await.1, changed);
    api.wait_state(&name, "RUNNING").await;
    w.produce(30, 4).await;
    w.wait_seen(&second, 4).await;
    assert_eq!(w.committed_to_end(&name).await, vec![17, 17]);

    // The connector's event log tells all this, in order, and nothing
    // above info. (Through the events topic: every worker reads every
    // worker's events back.)
    let story = [
        "tasks_placed",
        "tasks_started",
        "partitions_assigned",
        "partitions_revoked",
        "tasks_stopped",
        "paused",
        "resumed",
        "tasks_started",
        "stopped",
        "resumed",
        "restarting",
        "config_changed",
        "tasks_started",
    ];
    let tells = |events: &[Value]| {
        let mut told = story.iter().peekable();
        for e in events {
            if told.peek().is_some_and(|k| e["event"] == **k) {
                told.next();
            }
        }
        told.next().is_none()
    };
    let log = wait_until(MINUTE, "the whole story in the event log", || async {
        let (code, log) = api.get(&path("events")).await;
        assert_eq!(code, 200, "{log}");
        tells(log["events"].as_array().unwrap()).then_some(log)
    })
    .await;
    let events = log["events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["worker"] == json!(worker_id)),
        "{log}"
    );
    let changed = events
        .iter()
        .find(|e| e["event"] == "config_changed")
        .unwrap();
    assert!(
        changed["message"]
            .as_str()
            .unwrap()
            .contains("aws.lambda.function.name"),
        "{changed}"
    );
    let assigned = events
        .iter()
        .find(|e| e["event"] == "partitions_assigned")
        .unwrap();
    assert_eq!(
        (assigned["level"].clone(), assigned["task"].clone()),
        (json!("info"), json!(0))
    );
    assert_eq!(
        api.get(&path("events?level=warn")).await.1["events"],
        json!([])
    );
    let last = events.last().unwrap()["at"].as_i64().unwrap();
    let (_, recent) = api.get(&path(&format!("events?since={last}"))).await;
    assert!(
        recent["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["at"].as_i64().unwrap() >= last)
    );
    let (code, bad) = api.get(&path("events?level=debug")).await;
    assert_eq!(code, 400);
    assert!(bad["message"].as_str().unwrap().contains("level"), "{bad}");
    let (code, _) = api.get("/connectors/no-such-connector/events").await;
    assert_eq!(code, 404);

    // Delete: gone at once, the group follows, outcome topics stay.
    assert_eq!(
        api.call(Method::DELETE, &format!("/connectors/{name}"), None)
            .await
            .0,
        204
    );
    let (code, gone) = api.get(&format!("/connectors/{name}")).await;
    assert_eq!(
        (code, gone["message"].clone()),
        (404, json!(format!("Connector {name} not found")))
    );
    wait_until(MINUTE, "the group deleted", || async {
        let committed =
            w.s.committed(&format!("connect-{name}"), &w.topic, 2)
                .await
                .unwrap();
        (committed == vec![-1, -1]).then_some(())
    })
    .await;
    assert!(w.s.topic_exists(&format!("success-{name}")).await.unwrap());
    assert!(
        !api.get("/connectors")
            .await
            .1
            .as_array()
            .unwrap()
            .contains(&json!(name))
    );
    // Created again under the same name at once: it waits for its
    // predecessor to leave (and delete the group), then starts afresh.
    let (code, _) = api.call(Method::POST, "/connectors", Some(&body)).await;
    assert_eq!(code, 201);
    api.wait_state(&name, "RUNNING").await;
    assert_eq!(w.committed_to_end(&name).await, vec![17, 17]);
    let mut worker = worker;
    worker.stop_cleanly().await;
}

/// `ConfigInfos` entry of `key`.
fn config_info<'a>(infos: &'a Value, key: &str) -> &'a Value {
    infos["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"]["name"] == key)
        .unwrap_or_else(|| panic!("{key} in {infos}"))
}

#[tokio::test]
async fn validation_and_plugins_in_connects_shape() {
    let w = Cluster::new("serve-valid", 1).await;
    let worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);

    let (code, plugins) = api.get("/connector-plugins/").await;
    assert_eq!(code, 200);
    assert_eq!(
        plugins[0]["class"],
        "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector"
    );
    assert_eq!(plugins[0]["type"], "sink");
    let (code, keys) = api
        .get("/connector-plugins/AwsLambdaSinkConnector/config")
        .await;
    assert_eq!(code, 200);
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "aws.lambda.function.name")
    );
    let (code, unknown) = api.get("/connector-plugins/FileStreamSink/config").await;
    assert_eq!(
        (code, unknown["message"].clone()),
        (404, json!("Unknown plugin FileStreamSink."))
    );
    // Transforms and predicates, listed and described as Connect does.
    assert_eq!(
        plugins.as_array().unwrap().len(),
        1,
        "connectorsOnly by default"
    );
    let (_, all) = api.get("/connector-plugins?connectorsOnly=false").await;
    let of = |class: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|p| p["class"] == class)
            .map(|p| p["type"].clone())
    };
    assert_eq!(
        of("org.apache.kafka.connect.transforms.MaskField$Value"),
        Some(json!("transformation"))
    );
    assert_eq!(
        of("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"),
        Some(json!("predicate"))
    );
    let (code, mask) = api
        .get("/connector-plugins/org.apache.kafka.connect.transforms.MaskField%24Value/config")
        .await;
    assert_eq!(code, 200, "{mask}");
    assert!(
        mask.as_array()
            .unwrap()
            .iter()
            .any(|k| k["name"] == "fields" && k["required"] == true),
        "{mask}"
    );
    let (code, answer) = api
        .call(
            Method::PUT,
            "/connector-plugins/LambdaSink/config/validate",
            Some(&json!({
                "connector.class": "LambdaSink",
                "transforms": "mask",
                "transforms.mask.type": "org.apache.kafka.connect.transforms.MaskFeild$Value",
            })),
        )
        .await;
    assert_eq!(code, 200);
    let type_info = answer["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["value"]["name"] == "transforms.mask.type")
        .unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(type_info["definition"]["group"], "Transforms: mask");
    assert!(
        type_info["value"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("did you mean \"org.apache.kafka.connect.transforms.MaskField$Value\""),
        "{type_info}"
    );

    // Every problem at once, each next to its key; 200 even with errors.
    let bad = json!({
        "connector.class": "LambdaSink",
        "name": "v",
        "topics": w.topic,
        "aws.lambda.batch.size": "0",
        "aws.lambda.invocation.type": "sometimes",
        "aws.secret.access.key": "hunter2",
        "no.such.property": "x",
    });
    let (code, infos) = api
        .call(
            Method::PUT,
            "/connector-plugins/LambdaSink/config/validate",
            Some(&bad),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(infos["name"], "LambdaSink");
    for key in [
        "aws.lambda.batch.size",
        "aws.lambda.invocation.type",
        "aws.lambda.function.name",
        "no.such.property",
    ] {
        let errors = config_info(&infos, key)["value"]["errors"]
            .as_array()
            .unwrap();
        assert!(!errors.is_empty(), "{key} has its error");
    }
    assert!(config_info(&infos, "no.such.property")["definition"].is_null());
    assert!(infos["error_count"].as_u64().unwrap() >= 4);
    assert!(
        !infos.to_string().contains("hunter2"),
        "secrets are never returned"
    );
    let good = w.connector(&[("name", "v")]);
    let (_, ok) = api
        .call(
            Method::PUT,
            "/connector-plugins/AwsLambdaSinkConnector/config/validate",
            Some(&good),
        )
        .await;
    assert_eq!(ok["error_count"], 0, "{ok}");

    let (code, e) = api
        .call(
            Method::PUT,
            "/connector-plugins/LambdaSink/config/validate",
            Some(&json!({"topics": "t"})),
        )
        .await;
    assert_eq!(code, 400);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .ends_with("contains no connector type")
    );
    let (code, e) = api
        .call(
            Method::PUT,
            "/connector-plugins/LambdaSink/config/validate",
            Some(&json!({"connector.class": "FileStreamSink"})),
        )
        .await;
    assert_eq!(code, 500);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to find any class that implements Connector")
    );

    // Create with the same problems: 400 naming every one.
    let (code, e) = api
        .call(
            Method::POST,
            "/connectors",
            Some(&json!({"name": "v", "config": bad})),
        )
        .await;
    assert_eq!(code, 400);
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with("Connector configuration is invalid and contains the following"),
        "{message}"
    );
    for key in [
        "aws.lambda.batch.size",
        "aws.lambda.invocation.type",
        "no.such.property",
    ] {
        assert!(message.contains(key), "{key} in {message}");
    }
    assert!(!message.contains("hunter2"));
    assert_eq!(
        api.get("/connectors").await.1,
        json!([]),
        "nothing was created"
    );
}

#[tokio::test]
async fn bad_input_gets_connects_error_shape_and_the_worker_keeps_running() {
    let w = Cluster::new("serve-bad", 1).await;
    let worker = w.worker(&[("rest.request.max.bytes", "2048")]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("bad");
    let (code, _) = api
        .call(
            Method::POST,
            "/connectors",
            Some(&json!({"name": name, "config": w.connector(&[])})),
        )
        .await;
    assert_eq!(code, 201);

    let duplicate = json!({"name": name, "config": w.connector(&[])}).to_string();
    let big = format!(
        "{{\"name\":\"x\",\"config\":{{\"pad\":\"{}\"}}}}",
        "a".repeat(4096)
    );
    // What HTTP and JSON make of a request, and one answer per kind of
    // AdminError; every admin rule's own refusals are the in-process Admin
    // suite's (serve/admin/tests.rs).
    let cases: Vec<(Method, String, String, u16, &str)> = vec![
        (
            Method::POST,
            "/connectors".into(),
            "{\"name\": ".into(),
            400,
            "not valid JSON",
        ),
        (
            Method::POST,
            "/connectors".into(),
            String::new(),
            400,
            "empty",
        ),
        (
            Method::POST,
            "/connectors".into(),
            "[1,2]".into(),
            400,
            "JSON object",
        ),
        (
            Method::POST,
            "/connectors".into(),
            "{\"name\": 5, \"config\": {}}".into(),
            400,
            "name must be a string",
        ),
        (
            Method::POST,
            "/connectors".into(),
            "{\"name\": \"x\", \"config\": []}".into(),
            400,
            "JSON object",
        ),
        (
            Method::POST,
            "/connectors".into(),
            "{\"name\": \"x\", \"config\": {\"a\": {\"b\": 1}}}".into(),
            400,
            "must be a string",
        ),
        (
            Method::POST,
            "/connectors".into(),
            "{\"name\": \"x\", \"cnofig\": {}}".into(),
            400,
            "unknown field \"cnofig\"",
        ),
        (
            Method::POST,
            "/connectors".into(),
            big,
            413,
            "rest.request.max.bytes",
        ),
        (
            Method::POST,
            "/connectors".into(),
            duplicate,
            409,
            "already exists",
        ),
        (
            Method::GET,
            "/connectors/nobody".into(),
            String::new(),
            404,
            "Connector nobody not found",
        ),
        (
            Method::GET,
            "/connectors/nobody/status".into(),
            String::new(),
            404,
            "No status found for connector nobody",
        ),
        (
            Method::GET,
            format!("/connectors/{name}/tasks/7/status"),
            String::new(),
            404,
            "No status found for task",
        ),
        (
            Method::GET,
            "/no/such/path".into(),
            String::new(),
            404,
            "HTTP 404 Not Found",
        ),
        (
            Method::DELETE,
            "/connectors".into(),
            String::new(),
            405,
            "HTTP 405 Method Not Allowed",
        ),
    ];
    for (method, path, body, status, message) in cases {
        let (code, e) = api.raw(method.clone(), &path, &body).await;
        assert_eq!(code, status, "{method} {path}: {e}");
        assert_eq!(e["error_code"], json!(status), "{method} {path}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(message),
            "{method} {path}: {e} should say {message:?}"
        );
    }
    let (code, root) = api.get("/").await;
    assert_eq!(
        (code, root["version"].clone()),
        (200, json!("3.9.0")),
        "still serving"
    );
    api.wait_state(&name, "RUNNING").await;
}

#[tokio::test]
async fn auth_and_secrets() {
    let w = Cluster::new("serve-auth", 1).await;
    // The password comes from the worker's environment.
    let props = w.s.worker_properties(
        &w.group,
        &[
            ("rest.auth.basic.user", "admin"),
            ("rest.auth.basic.password", "${env:SERVE_TEST_PASSWORD}"),
        ],
    );
    let worker = Connector::serve(
        Path::new(BIN),
        &props,
        &[("SERVE_TEST_PASSWORD", "s3cr3t-pw")],
    )
    .unwrap();
    let mut api = Api::new(&worker.api_url().await);
    for path in [
        "/",
        "/connectors",
        "/connector-plugins",
        "/console/api/topics",
        "/console/api/connectors/x/series",
        "/console/api/connectors/x/dlq",
    ] {
        let (code, e) = api.get(path).await;
        assert_eq!((code, e["error_code"].clone()), (401, json!(401)), "{path}");
    }
    // The console's static shell holds no data: the browser loads it, and
    // its requests for data then carry the credentials.
    let (code, page) = api.get("/console").await;
    assert_eq!(code, 200);
    assert!(
        page.as_str().is_some_and(|p| p.contains("app.js")),
        "{page}"
    );
    assert_eq!(
        api.get("/health").await.1["status"],
        "healthy",
        "probes need no credentials"
    );
    api.auth = Some(("admin".into(), "wrong".into()));
    assert_eq!(api.get("/connectors").await.0, 401);
    api.auth = Some(("admin".into(), "s3cr3t-pw".into()));
    assert_eq!(api.get("/connectors").await.0, 200);
    let (code, topics) = api.get("/console/api/topics").await;
    assert_eq!(code, 200, "{topics}");
    assert!(topics.is_array(), "{topics}");

    // A password in clear is masked; a reference is returned unresolved.
    let name = unique("auth");
    let config = w.connector(&[
        ("aws.secret.access.key", "${env:SERVE_TEST_PASSWORD}"),
        ("kafka.ssl.key.password", "clear-text-secret"),
    ]);
    let (code, info) = api
        .call(
            Method::POST,
            "/connectors",
            Some(&json!({"name": name, "config": config})),
        )
        .await;
    assert_eq!(code, 201, "{info}");
    let (_, shown) = api.get(&format!("/connectors/{name}/config")).await;
    assert_eq!(shown["aws.secret.access.key"], "${env:SERVE_TEST_PASSWORD}");
    assert_eq!(shown["kafka.ssl.key.password"], "[hidden]");
    // PUT back what GET showed: the stored secret is kept, nothing changes.
    let (code, _) = api
        .call(
            Method::PUT,
            &format!("/connectors/{name}/config"),
            Some(&shown),
        )
        .await;
    assert_eq!(code, 200);
    let everything = [
        api.get("/connectors?expand=info&expand=status")
            .await
            .1
            .to_string(),
        api.get(&format!("/connectors/{name}/tasks"))
            .await
            .1
            .to_string(),
        worker.log(),
    ]
    .join("\n");
    assert!(!everything.contains("clear-text-secret"), "a secret leaked");
    assert!(
        !everything.contains("s3cr3t-pw"),
        "the resolved reference leaked"
    );
}

/// Worker properties under which a dead worker loses its tasks after the
/// placement group's shortest session the broker accepts.
const FAST_FAILOVER: [(&str, &str); 1] = [("session.timeout.ms", "6000")];

/// Creates connector `name` with `config` through `api` (201); its info.
async fn created(api: &Api, name: &str, config: &Value) -> Value {
    let (code, info) = api
        .call(
            Method::POST,
            "/connectors",
            Some(&json!({"name": name, "config": config})),
        )
        .await;
    assert_eq!(code, 201, "{info}");
    info
}

/// The tasks a worker's API shows of `name`: `(id, state, worker_id)`.
async fn shown_tasks(api: &Api, name: &str) -> Vec<(u64, String, String)> {
    let (_, s) = api.get(&format!("/connectors/{name}/status")).await;
    s["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
            (
                t["id"].as_u64().unwrap_or(u64::MAX),
                text("state"),
                text("worker_id"),
            )
        })
        .collect()
}

/// Waits until `api` shows tasks 0, 1, 2 of `name` RUNNING, each once, on
/// exactly the workers `on`; asserts at every look that no task is shown
/// twice.
async fn wait_placed(api: &Api, name: &str, on: &[&Connector], within: Duration) {
    let mut want = std::collections::BTreeSet::new();
    for w in on {
        want.insert(w.api_url().await.trim_start_matches("http://").to_string());
    }
    wait_until(within, &format!("3 tasks running on {want:?}"), || async {
        let tasks = shown_tasks(api, name).await;
        let ids: Vec<u64> = tasks.iter().map(|t| t.0).collect();
        assert!(
            ids.windows(2).all(|p| p[0] < p[1]),
            "a task shown twice: {tasks:?}"
        );
        let workers: std::collections::BTreeSet<String> =
            tasks.iter().map(|t| t.2.clone()).collect();
        let running = tasks.iter().all(|t| t.1 == "RUNNING");
        (ids == [0, 1, 2] && running && workers == want).then_some(())
    })
    .await;
}

#[tokio::test]
async fn tasks_max_is_the_connectors_total_across_workers() {
    let w = Cluster::new("serve-tasks", 6).await;
    let worker = FAST_FAILOVER;
    let a = w.worker(&worker);
    let mut b = w.worker(&worker);
    let (api_a, api_b) = (Api::new(&a.api_url().await), Api::new(&b.api_url().await));
    let name = unique("tasks");
    let group = format!("connect-{name}");
    let config = w.connector(&[
        ("tasks.max", "3"),
        ("consumer.override.session.timeout.ms", "6000"),
        ("aws.lambda.batch.size", "5"),
    ]);
    let info = created(&api_a, &name, &config).await;
    assert_eq!(info["tasks"].as_array().map(Vec::len), Some(3), "{info}");

    // Created on A: tasks 0, 1, 2, each on one of the two workers, and
    // B's API says the same as A's.
    wait_placed(&api_b, &name, &[&a, &b], MINUTE).await;
    assert_eq!(
        shown_tasks(&api_a, &name).await,
        shown_tasks(&api_b, &name).await
    );
    let (_, listed) = api_b.get(&format!("/connectors/{name}/tasks")).await;
    let listed: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["id"]["task"])
        .collect();
    assert_eq!(listed, [&json!(0), &json!(1), &json!(2)]);
    // Three consumers share the data topic, not three per worker.
    w.wait_members(&group, 3).await;

    // A third worker: tasks move to it, they do not multiply.
    let c = w.worker(&worker);
    let mut ran_tasks = vec![a.api_url().await, b.api_url().await, c.api_url().await];
    wait_placed(&api_a, &name, &[&a, &b, &c], MINUTE).await;
    w.wait_members(&group, 3).await;

    // Kill B mid-stream: its task runs elsewhere within the placement
    // session (6 s) plus a start, and no record is lost.
    w.produce(0, 400).await;
    w.wait_seen(&w.function, 100).await;
    b.kill9();
    wait_placed(&api_a, &name, &[&a, &c], Duration::from_secs(30)).await;
    w.produce(400, 200).await;
    w.s.wait_committed_to_end(&group, &w.topic, 6, Duration::from_secs(120))
        .await;
    let verdict =
        w.s.verify(&lambda_sink_testkit::verify::Run {
            topic: &w.topic,
            partitions: 6,
            connector: &name,
            function: Some(&w.function),
        })
        .await
        .unwrap();
    assert_eq!(verdict.lost_count, 0, "{}", verdict.summary());
    assert_eq!(verdict.produced, 600);

    // Paused, then every worker restarted: the connector comes back
    // paused, from the topics alone, with its three tasks.
    assert_eq!(
        api_a
            .call(Method::PUT, &format!("/connectors/{name}/pause"), None)
            .await
            .0,
        202
    );
    api_a.wait_state(&name, "PAUSED").await;
    for mut gone in [a, c] {
        gone.stop_cleanly().await;
    }
    let a2 = w.worker(&worker);
    let b2 = w.worker(&worker);
    let (api_a2, api_b2) = (Api::new(&a2.api_url().await), Api::new(&b2.api_url().await));
    assert_eq!(api_b2.get("/connectors").await.1, json!([name]));
    assert_eq!(
        api_a2.get(&format!("/connectors/{name}/config")).await.1["aws.lambda.batch.size"],
        "5"
    );
    let paused = api_a2.wait_state(&name, "PAUSED").await;
    let states: Vec<&Value> = paused["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["state"])
        .collect();
    assert_eq!(states.len(), 3, "{paused}");
    assert_eq!(
        api_b2
            .call(Method::PUT, &format!("/connectors/{name}/resume"), None)
            .await
            .0,
        202
    );
    wait_placed(&api_a2, &name, &[&a2, &b2], MINUTE).await;
    w.produce(600, 12).await;
    w.s.wait_committed_to_end(&group, &w.topic, 6, MINUTE).await;

    // The event log outlives the workers that wrote it, and any worker
    // answers for all of them: what A, B (killed) and C told before they
    // went, and what A2 and B2 told since.
    ran_tasks.extend([a2.api_url().await, b2.api_url().await]);
    let ran_tasks: Vec<String> = ran_tasks
        .iter()
        .map(|url| url.trim_start_matches("http://").to_string())
        .collect();
    wait_until(MINUTE, "every worker's tasks_started on B2", || async {
        let (_, log) = api_b2
            .get(&format!("/connectors/{name}/events?limit=1000"))
            .await;
        let started: Vec<&str> = log["events"]
            .as_array()?
            .iter()
            .filter(|e| e["event"] == "tasks_started")
            .filter_map(|e| e["worker"].as_str())
            .collect();
        ran_tasks
            .iter()
            .all(|w| started.contains(&w.as_str()))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn exactly_once_holds_when_a_task_moves_off_a_dead_worker() {
    let w = Cluster::new("serve-eos", 4).await;
    let worker = FAST_FAILOVER;
    let a = w.worker(&worker);
    let mut b = w.worker(&worker);
    let api = Api::new(&a.api_url().await);
    let name = unique("eos");
    let group = format!("connect-{name}");
    let config = w.connector(&[
        ("tasks.max", "2"),
        ("reporter.exactly.once", "true"),
        ("consumer.override.session.timeout.ms", "6000"),
        ("aws.lambda.batch.size", "5"),
    ]);
    created(&api, &name, &config).await;
    // One task on each worker.
    let b_id = b.api_url().await.trim_start_matches("http://").to_string();
    wait_until(MINUTE, "a task on each worker", || async {
        let tasks = shown_tasks(&api, &name).await;
        let on_b = tasks.iter().filter(|t| t.2 == b_id).count();
        (tasks.len() == 2 && on_b == 1 && tasks.iter().all(|t| t.1 == "RUNNING")).then_some(())
    })
    .await;
    // Both tasks' consumers hold partitions of the data topic.
    w.wait_members(&group, 2).await;

    // B dies mid-stream, its transaction open: A takes its task (same
    // id, same transactional id), which fences B's and aborts what it
    // had not committed.
    w.produce(0, 300).await;
    w.wait_seen(&w.function, 60).await;
    b.kill9();
    w.produce(300, 100).await;
    w.s.wait_committed_to_end(&group, &w.topic, 4, Duration::from_secs(120))
        .await;
    wait_until(Duration::from_secs(30), "both tasks on A", || async {
        let tasks = shown_tasks(&api, &name).await;
        let on_a = tasks.iter().all(|t| t.2 != b_id && t.1 == "RUNNING");
        (tasks.len() == 2 && on_a).then_some(())
    })
    .await;
    let v =
        w.s.verify(&lambda_sink_testkit::verify::Run {
            topic: &w.topic,
            partitions: 4,
            connector: &name,
            function: Some(&w.function),
        })
        .await
        .unwrap();
    assert_eq!(
        (v.lost_count, v.without_outcome_count, v.duplicate_outcomes),
        (0, 0, 0),
        "{}",
        v.summary()
    );
    assert_eq!(v.produced, 400);
    let mut a = a;
    a.stop_cleanly().await;
}

/// Runs a program; its exit code and stdout (stderr shown on failure).
fn run(program: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

#[tokio::test]
async fn the_connect_cli_mirrors_confluents() {
    let w = Cluster::new("serve-cli", 1).await;
    let worker = w.worker(&[]);
    let url = worker.api_url().await;
    let bin = Path::new(BIN);
    let cli = |args: &[&str]| {
        let mut all = vec!["connect", "--url", url.as_str()];
        all.extend_from_slice(args);
        run(bin, &all, &[])
    };
    let name = unique("cli");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("connector.json");
    let mut config = w.connector(&[]);
    config["name"] = json!(name);
    std::fs::write(&file, config.to_string()).unwrap();

    let (code, out) = cli(&["create", "--config", file.to_str().unwrap()]);
    assert_eq!(
        (code, out.trim()),
        (0, format!("Created connector {name} {name}").as_str())
    );
    wait_until(MINUTE, "RUNNING in connect list", || async {
        let (_, out) = cli(&["list"]);
        out.lines()
            .any(|l| {
                l.split(" | ")
                    .map(str::trim)
                    .eq([name.as_str(), name.as_str(), "RUNNING", "sink"])
            })
            .then_some(())
    })
    .await;
    let (_, list) = cli(&["list"]);
    assert!(list.starts_with("ID"), "{list}");
    assert_eq!(
        list.lines()
            .next()
            .unwrap()
            .split(" | ")
            .map(str::trim)
            .collect::<Vec<_>>(),
        ["ID", "Name", "Status", "Type"]
    );
    let (code, described) = cli(&["describe", &name]);
    assert_eq!(code, 0);
    assert!(
        described.contains("Task Level Details") && described.contains(&w.topic),
        "{described}"
    );
    let (code, json_out) = cli(&["describe", &name, "--output", "json"]);
    assert_eq!(code, 0);
    let parsed: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(parsed["config"]["topics"], w.topic);

    assert_eq!(
        cli(&["pause", &name]).1.trim(),
        format!("Paused connector \"{name}\".")
    );
    Api::new(&url).wait_state(&name, "PAUSED").await;
    assert_eq!(
        cli(&["resume", &name]).1.trim(),
        format!("Resumed connector \"{name}\".")
    );
    assert_eq!(cli(&["restart", &name]).0, 0);
    assert_eq!(
        cli(&["stop", &name]).1.trim(),
        format!("Stopped connector \"{name}\".")
    );
    Api::new(&url).wait_state(&name, "STOPPED").await;
    let (code, offsets) = cli(&["offsets", "get", &name]);
    assert_eq!(code, 0);
    assert!(offsets.starts_with("Topic"), "{offsets}");
    let (code, reset) = cli(&["offsets", "reset", &name]);
    assert_eq!(
        (code, reset.trim()),
        (
            0,
            "The offsets for this connector have been reset successfully"
        )
    );

    let (code, plugins) = cli(&["plugin", "list"]);
    assert_eq!(code, 0);
    assert!(
        plugins.contains("io.confluent.connect.aws.lambda.AwsLambdaSinkConnector | sink"),
        "{plugins}"
    );
    let (code, describe) = cli(&["plugin", "describe"]);
    assert_eq!(code, 0);
    let second = describe.lines().nth(1).unwrap();
    assert!(
        second.trim_end().ends_with("| true"),
        "required first: {second}"
    );

    assert_eq!(
        cli(&["delete", &name]).1.trim(),
        format!("Deleted connector \"{name}\".")
    );
    let (code, missing) = cli(&["describe", &name]);
    assert_eq!(code, 1);
    assert!(
        missing.contains(&format!("No status found for connector {name}")),
        "{missing}"
    );
    let (code, unreachable) = run(
        bin,
        &["connect", "--url", "http://127.0.0.1:1", "list"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        unreachable.contains("cannot reach the worker"),
        "{unreachable}"
    );
}

#[tokio::test]
async fn a_connect_client_from_pypi_drives_the_worker() {
    // kafka-connect-py's `kc`, installed by scripts/install.sh.
    let python =
        std::env::var("LAMBDA_SINK_PYTHON").expect("LAMBDA_SINK_PYTHON (scripts/services.sh env)");
    let kc = Path::new(&python).with_file_name("kc");
    let w = Cluster::new("serve-kc", 1).await;
    let worker = w.worker(&[]);
    let url = worker.api_url().await;
    let kc = |args: &[&str]| {
        let (code, out) = run(&kc, args, &[("KAFKA_CONNECT_URL", url.as_str())]);
        assert_eq!(code, 0, "kc {args:?}: {out}");
        out
    };
    let info: Value = serde_json::from_str(&kc(&["info"])).unwrap();
    assert_eq!(info["version"], "3.9.0");
    let name = unique("kc");
    let request = json!({ "name": name, "config": w.connector(&[]) }).to_string();
    let created: Value = serde_json::from_str(&kc(&["create", "--config-data", &request])).unwrap();
    assert_eq!(created["name"], name);
    wait_until(MINUTE, "RUNNING through kc", || async {
        let status: Value = serde_json::from_str(&kc(&["status", &name])).ok()?;
        (status["connector"]["state"] == "RUNNING").then_some(())
    })
    .await;
    let listed: Value = serde_json::from_str(&kc(&["list", "--expand", "status"])).unwrap();
    assert_eq!(listed[&name]["status"]["connector"]["state"], "RUNNING");
    kc(&["pause", &name]);
    let api = Api::new(&url);
    api.wait_state(&name, "PAUSED").await;
    kc(&["resume", &name]);
    api.wait_state(&name, "RUNNING").await;
    let tasks: Value = serde_json::from_str(&kc(&["list-tasks", &name])).unwrap();
    assert_eq!(tasks[0]["id"], json!({"connector": name, "task": 0}));
    kc(&["restart", &name, "--include-tasks"]);
    api.wait_state(&name, "RUNNING").await;
    let plugins: Value = serde_json::from_str(&kc(&["list-plugins"])).unwrap();
    assert_eq!(plugins[0]["type"], "sink");
    kc(&["delete", &name]);
    assert_eq!(api.get(&format!("/connectors/{name}")).await.0, 404);
}

#[tokio::test]
async fn dlq_redrive_replays_dead_letters_once_the_cause_is_fixed() {
    let w = Cluster::new("serve-dlq", 1).await;
    let worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("dlq");
    // Values are text, but the connector was told JSON: the bad ones go to
    // the DLQ.
    let mut config = w.connector(&[("input.data.format", "JSON"), ("errors.tolerance", "all")]);
    let (code, _) = api
        .call(
            Method::POST,
            "/connectors",
            Some(&json!({"name": name, "config": config})),
        )
        .await;
    assert_eq!(code, 201);
    let records: Vec<Produce> = (0..10)
        .map(|i| {
            let value = if i % 2 == 0 {
                json!({"i": i}).to_string()
            } else {
                format!("plain text {i}")
            };
            Produce::text(0, &format!("k{i}"), &value)
        })
        .collect();
    w.s.produce(&w.topic, &records).await.unwrap();
    let dead =
        w.s.read_topic(&format!("dlq-{name}"), 5, MINUTE)
            .await
            .unwrap();
    assert_eq!(dead.len(), 5);
    w.committed_to_end(&name).await;
    assert_eq!(w.seen(&w.function).await.len(), 5);

    // Nothing fixed yet: redriven records fail again and go back to the DLQ.
    let path = format!("/connectors/{name}/dlq/redrive");
    let (code, first) = api
        .call(Method::POST, &path, Some(&json!({"to_offset": 2})))
        .await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(
        (first["redriven"].clone(), first["outcomes"]["dlq"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        w.s.end_offsets(&format!("dlq-{name}"), 1).await.unwrap(),
        vec![7]
    );

    // Fixed (the values are STRING): the rest are invoked as the original
    // records, at their original offsets.
    config["input.data.format"] = json!("STRING");
    config["name"] = json!(name);
    assert_eq!(
        api.call(
            Method::PUT,
            &format!("/connectors/{name}/config"),
            Some(&config)
        )
        .await
        .0,
        200
    );
    let (code, fixed) = api.call(Method::POST, &path, None).await;
    assert_eq!(code, 200, "{fixed}");
    // From the cursor (offset 2) to the end (7): offsets 2..5 of the first
    // dead letters, and the 2 dead-lettered again (the same records as 0 and 1).
    assert_eq!(fixed["read"], 5);
    assert_eq!(fixed["redriven"], 5, "{fixed}");
    assert_eq!(fixed["outcomes"]["success"], 5, "{fixed}");
    let seen = w.wait_seen(&w.function, 10).await;
    let mut odd: Vec<i64> = seen
        .iter()
        .filter(|(_, o)| o % 2 == 1)
        .map(|(_, o)| *o)
        .collect();
    odd.sort_unstable();
    assert_eq!(
        odd,
        vec![1, 3, 5, 7, 9],
        "every dead letter invoked once, as its original record"
    );
    // Recorded: the cursor is at the end, a redrive without range has nothing.
    let (_, history) = api.get(&path).await;
    assert_eq!(history["cursor"]["0"], 7);
    assert_eq!(history["history"].as_array().unwrap().len(), 2);
    let (_, nothing) = api.call(Method::POST, &path, Some(&json!({}))).await;
    assert_eq!(nothing["redriven"], 0);
    let (code, e) = api
        .call(Method::POST, &path, Some(&json!({"partitions": [3]})))
        .await;
    assert_eq!(
        (code, e["message"].clone()),
        (400, json!(format!("the DLQ dlq-{name} has no partition 3")))
    );
    // The CLI says the same.
    let (code, out) = run(
        Path::new(BIN),
        &[
            "connect",
            "--url",
            &api.url,
            "dlq",
            "redrive",
            &name,
            "--from-offset",
            "0",
            "--to-offset",
            "1",
        ],
        &[],
    );
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("Redrove 1 record(s) of 1 from dlq-{name} (success 1).").as_str()
        )
    );
}

#[tokio::test]
async fn https_listener_with_a_bearer_token() {
    let s = Services::from_env();
    let group = unique("serve-tls-cluster");
    let props = s.worker_properties(
        &group,
        &[
            ("listeners", "https://127.0.0.1:0"),
            ("rest.tls.cert.file", &s.secure.tls_file("broker.crt")),
            ("rest.tls.key.file", &s.secure.tls_file("broker.key")),
            ("rest.auth.token", "${env:SERVE_TEST_TOKEN}"),
        ],
    );
    let worker =
        Connector::serve(Path::new(BIN), &props, &[("SERVE_TEST_TOKEN", "t0k3n")]).unwrap();
    let address = worker.api_url().await.replace("http://", "https://");
    let ca = std::fs::read(s.secure.tls_file("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let r = client
        .get(format!("{address}/"))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let root: Value = r.json().await.unwrap();
    assert_eq!(root["version"], "3.9.0");
    let r = client
        .get(format!("{address}/connectors"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"lambda-sink\""
    );
    let r = client
        .get(format!("{address}/console/api/topics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        401,
        "the console's data needs the token"
    );
    // Plain HTTP to the TLS port gets no answer, and the worker carries on.
    let plain = address.replace("https://", "http://");
    assert!(reqwest::get(format!("{plain}/")).await.is_err());
    let r = client
        .get(format!("{address}/connectors"))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(!worker.log().contains("t0k3n"), "the token is never logged");
}

/// `lambda_sink_connector_failed` of connector `name` in the worker's
/// `/metrics` at `url`.
async fn failed_gauge(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    lambda_sink_testkit::metric(
        &text,
        &format!("lambda_sink_connector_failed{{connector=\"{name}\"}}"),
    )
}

#[tokio::test]
async fn a_failing_connector_never_stops_the_others() {
    let w = Cluster::new("serve-iso", 1).await;
    let worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let (broken, healthy) = (unique("broken"), unique("healthy"));
    let missing = unique("no-such-fn");
    let mut broken_config = w.connector(&[("aws.lambda.function.name", &missing)]);
    for (name, config) in [(&broken, &broken_config), (&healthy, &w.connector(&[]))] {
        let body = json!({"name": name, "config": config});
        assert_eq!(
            api.call(Method::POST, "/connectors", Some(&body)).await.0,
            201
        );
    }
    w.produce(0, 10).await;
    let failed = wait_until(MINUTE, "the broken connector FAILED", || async {
        let (_, s) = api.get(&format!("/connectors/{broken}/status")).await;
        (s["connector"]["state"] == "FAILED").then_some(s)
    })
    .await;
    assert!(
        failed["connector"]["trace"]
            .as_str()
            .unwrap()
            .contains(&missing),
        "{failed}"
    );
    assert_eq!(failed["tasks"][0]["state"], "FAILED");
    assert!(
        failed["tasks"][0]["trace"].is_string(),
        "a FAILED task carries its trace"
    );
    let (code, task) = api
        .get(&format!("/connectors/{broken}/tasks/0/status"))
        .await;
    assert_eq!((code, task["state"].clone()), (200, json!("FAILED")));
    let metrics = format!("{}/metrics", worker.api_url().await);
    assert_eq!(
        failed_gauge(&metrics, &broken).await,
        Some(1.0),
        "the failure in /metrics"
    );
    // The other one carried on.
    w.wait_seen(&w.function, 10).await;
    w.committed_to_end(&healthy).await;
    assert_eq!(
        api.get(&format!("/connectors/{healthy}/status")).await.1["connector"]["state"],
        "RUNNING"
    );
    // Restarting only what failed leaves the healthy one alone; fixing the
    // config brings the broken one back, from where it stopped.
    let (code, shown) = api
        .call(
            Method::POST,
            &format!("/connectors/{healthy}/restart?onlyFailed=true&includeTasks=true"),
            None,
        )
        .await;
    assert_eq!(
        (code, shown["tasks"][0]["state"].clone()),
        (202, json!("RUNNING"))
    );
    broken_config["aws.lambda.function.name"] = json!(w.function);
    broken_config["name"] = json!(broken);
    let (code, _) = api
        .call(
            Method::PUT,
            &format!("/connectors/{broken}/config"),
            Some(&broken_config),
        )
        .await;
    assert_eq!(code, 200);
    api.wait_state(&broken, "RUNNING").await;
    w.wait_seen(&w.function, 20).await;
    w.committed_to_end(&broken).await;
    assert_eq!(
        failed_gauge(&metrics, &broken).await,
        Some(0.0),
        "cleared once it runs"
    );
    assert_eq!(failed_gauge(&metrics, &healthy).await, Some(0.0));
}

#[tokio::test]
async fn beyond_loopback_without_auth_is_warned_about() {
    let s = Services::from_env();
    let props = s.worker_properties(&unique("serve-open"), &[("listeners", "http://0.0.0.0:0")]);
    let worker = Connector::serve(Path::new(BIN), &props, &[]).unwrap();
    worker.api_url().await;
    assert!(
        worker.log().contains("without authentication"),
        "{}",
        worker.log()
    );
}

/// The threads of process `pid` named `name`.
fn threads_named(pid: u32, name: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

#[tokio::test]
async fn connectors_on_a_worker_share_one_outcome_producer() {
    let w = Cluster::new("serve-share", 1).await;
    let mut worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let producers = || threads_named(worker.pid(), "kafka-producer");
    // The worker's own (its config and status topics).
    let own = producers();
    let names: Vec<String> = (0..3).map(|_| unique("shared")).collect();
    for name in &names {
        created(&api, name, &w.connector(&[])).await;
        api.wait_state(name, "RUNNING").await;
    }
    w.produce(0, 10).await;
    for name in &names {
        let results =
            w.s.read_topic(&format!("success-{name}"), 10, MINUTE)
                .await
                .unwrap();
        assert_eq!(results.len(), 10, "every connector's results in its topic");
    }
    assert_eq!(
        producers(),
        own + 1,
        "three connectors with the same producer settings, one outcome producer"
    );
    // One stopping leaves the shared producer working for the others.
    let (code, _) = api
        .call(Method::DELETE, &format!("/connectors/{}", names[0]), None)
        .await;
    assert_eq!(code, 204);
    w.produce(10, 10).await;
    for name in &names[1..] {
        let results =
            w.s.read_topic(&format!("success-{name}"), 20, MINUTE)
                .await
                .unwrap();
        assert_eq!(results.len(), 20, "results after another connector left");
        w.committed_to_end(name).await;
    }
    // With no connector left, the producer goes too.
    for name in &names[1..] {
        let (code, _) = api
            .call(Method::DELETE, &format!("/connectors/{name}"), None)
            .await;
        assert_eq!(code, 204);
    }
    wait_until(MINUTE, "the outcome producer ended", || async {
        (producers() == own).then_some(())
    })
    .await;
    worker.stop_cleanly().await;
}

/// A worker file's OpenTelemetry settings (the names OpenTelemetry's Java
/// autoconfigure gives them) send its connectors' invocation spans to the
/// receiver it names, under the service it names — a real Jaeger here.
#[tokio::test]
async fn a_worker_file_sends_its_connectors_spans_where_it_says() {
    let jaeger = Jaeger::start().await.unwrap();
    let w = Cluster::new("serve-traces", 1).await;
    let service = unique("orders-sink");
    let endpoint = jaeger.otlp_endpoint();
    let mut worker = w.worker(&[
        ("otel.exporter.otlp.endpoint", &endpoint),
        ("otel.service.name", &service),
    ]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("traced");
    created(&api, &name, &w.connector(&[])).await;
    api.wait_state(&name, "RUNNING").await;
    w.produce(0, 3).await;
    w.wait_seen(&w.function, 3).await;
    let invoke = format!("invoke {}", w.function);
    wait_until(
        MINUTE,
        "the connector's spans under the file's service",
        || async {
            let spans = jaeger.spans_of_service(&service).await.ok()?;
            spans
                .iter()
                .any(|s| s["operationName"] == invoke && s["service"] == json!(service))
                .then_some(())
        },
    )
    .await;
    worker.stop_cleanly().await;
}

/// 40 records of keys k0–k3 in turn; k1's fail for good.
async fn produce_k1_failing(c: &Cluster) {
    c.w.produce_keyed(0..40, 4, |i| {
        if i % 4 == 1 {
            json!({ "i": i, "fail": true }).to_string()
        } else {
            json!({ "i": i }).to_string()
        }
    })
    .await;
}

/// The keys connector `name` has parked, with their record counts, as
/// `api` lists them.
async fn parked_keys(api: &Api, name: &str) -> Option<Vec<(Value, Value)>> {
    let (_, view) = api.get(&format!("/connectors/{name}/parked")).await;
    let keys = view["parked"].as_array()?;
    Some(
        keys.iter()
            .map(|k| (k["key"].clone(), k["records"].clone()))
            .collect(),
    )
}

/// Produces three records of key k9 that fail for two seconds, waits until
/// k9 is the one key parked (all three records), then until the function
/// would take them.
async fn k9_parked_then_recovered(c: &Cluster, api: &Api, name: &str) {
    let until = now_ms() + 2_000;
    let k9: Vec<Produce> = (0..3)
        .map(|i| {
            Produce::text(
                0,
                "k9",
                &json!({ "i": 100 + i, "fail_until": until }).to_string(),
            )
        })
        .collect();
    c.s.produce(&c.topic, &k9).await.unwrap();
    wait_until(MINUTE, "only k9 parked", || async {
        (parked_keys(api, name).await? == [(json!("k9"), json!(3))]).then_some(())
    })
    .await;
    wait_until(MINUTE, "k9's failures over", || async {
        (now_ms() > until).then_some(())
    })
    .await;
}

/// Orders (`skip` or `retry`) connector `name`'s parked key `key` through
/// `api`, which accepts (202), and waits until no key is parked; the answer.
async fn ordered_until_none_parked(api: &Api, name: &str, order: &str, key: &str) -> Value {
    let (code, answer) = api
        .call(
            Method::POST,
            &format!("/connectors/{name}/parked/{order}"),
            Some(&json!({ "key": key })),
        )
        .await;
    assert_eq!(code, 202, "{answer}");
    wait_until(MINUTE, &format!("{key} no longer parked"), || async {
        parked_keys(api, name).await?.is_empty().then_some(())
    })
    .await;
    answer
}

/// How many distinct input records `records` are outcomes of.
fn distinct_inputs(records: &[Record]) -> usize {
    let mut inputs: Vec<&str> = records
        .iter()
        .map(|r| r.header("input_record_offset"))
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    inputs.len()
}

/// `GET /connectors/{name}/parked` answers from the parked topic, the same
/// on every worker: a key whose records always fail, parked with all its
/// records while the others were committed; 404 for an unknown connector,
/// `"parking": false` for a connector that does not park keys.
#[tokio::test]
async fn any_worker_lists_a_connectors_parked_keys() {
    let c = Cluster::new("serve-parked", 2).await;
    let mut first = c.worker(&[]);
    let mut second = c.worker(&[]);
    let (api, other) = (
        Api::new(&first.api_url().await),
        Api::new(&second.api_url().await),
    );
    produce_k1_failing(&c).await;
    let name = unique("parks");
    created(&api, &name, &c.connector(&PARK_ON_ORDER)).await;
    for a in [&api, &other] {
        let view = wait_until(MINUTE, "k1 listed with its 10 records", || async {
            let (code, view) = a.get(&format!("/connectors/{name}/parked")).await;
            assert_eq!(code, 200, "{view}");
            let keys = view["parked"].as_array()?;
            (keys.len() == 1 && keys[0]["records"] == json!(10)).then_some(view)
        })
        .await;
        let key = &view["parked"][0];
        assert_eq!(
            (
                view["parking"].clone(),
                key["key"].clone(),
                key["key_base64"].clone()
            ),
            (json!(true), json!("k1"), json!("azE="))
        );
    }
    // The CLI's table of them.
    let url = first.api_url().await;
    let (code, out) = run(
        Path::new(BIN),
        &["connect", "--url", url.as_str(), "parked", name.as_str()],
        &[],
    );
    assert_eq!(code, 0, "{out}");
    let row: Vec<&str> = out
        .lines()
        .find(|l| l.contains(" k1 "))
        .unwrap_or_else(|| panic!("no row of k1:\n{out}"))
        .split(" | ")
        .map(str::trim)
        .collect();
    assert_eq!(
        (row[1], row[2], row[3], row[6]),
        ("1", "k1", "10", "0"),
        "{out}"
    );
    assert!(row[7].contains("function error"), "{out}");
    let plain = unique("plain");
    created(&api, &plain, &c.connector(&[])).await;
    let (code, out) = run(
        Path::new(BIN),
        &["connect", "--url", url.as_str(), "parked", plain.as_str()],
        &[],
    );
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!(
                "Connector \"{plain}\" does not park keys (aws.lambda.on.key.failure=resolve)."
            )
            .as_str()
        )
    );
    assert_eq!(
        api.get(&format!("/connectors/{plain}/parked")).await,
        (200, json!({ "parking": false, "parked": [] }))
    );
    assert_eq!(api.get("/connectors/no-such-connector/parked").await.0, 404);

    // Skipped by the CLI, through the other worker: k1's 10 records are
    // resolved as failed (the error topic, behavior.on.error=log) and it
    // is no longer parked.
    let other_url = second.api_url().await;
    let (code, out) = run(
        Path::new(BIN),
        &[
            "connect", "--url", &other_url, "parked", &name, "--skip", "k1",
        ],
        &[],
    );
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "key k1 ordered: its parked records are resolved as failed, without an invocation"
        ),
        "{out}"
    );
    let errors =
        c.s.read_topic(&format!("error-{name}"), 10, MINUTE)
            .await
            .unwrap();
    assert_eq!(errors.len(), 10);
    // Retried now: key k9 fails until a moment from now, is parked, and is
    // released on request once the function would take it — ten minutes
    // before its retry was due.
    k9_parked_then_recovered(&c, &api, &name).await;
    let answer = ordered_until_none_parked(&api, &name, "retry", "k9").await;
    assert_eq!(
        answer["places"],
        json!([{ "topic": c.topic, "partition": 0 }]),
        "{answer}"
    );
    let retry = format!("/connectors/{name}/parked/retry");
    // Wrong orders are said so.
    let (code, e) = api
        .call(Method::POST, &retry, Some(&json!({ "key": "k9" })))
        .await;
    assert_eq!(
        (code, e["message"].clone()),
        (
            404,
            json!("key k9 is not parked (GET .../parked lists the parked keys)")
        )
    );
    let (code, e) = api
        .call(Method::POST, &retry, Some(&json!({ "offset": 1 })))
        .await;
    assert_eq!(code, 400, "{e}");
    let (code, _) = api
        .call(
            Method::POST,
            &format!("/connectors/{plain}/parked/skip"),
            Some(&json!({ "key": "k1" })),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(second.stop().await, Some(0), "{}", second.log());
    assert_eq!(first.stop().await, Some(0), "{}", first.log());
}

#[tokio::test]
async fn an_exactly_once_connectors_parked_keys_are_skipped_and_retried_once() {
    let c = Cluster::new("serve-parked-eos", 1).await;
    let mut worker = c.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    // k1 fails for good; k9 (below) until a moment after it is parked.
    produce_k1_failing(&c).await;
    let name = unique("parks-eos");
    let mut props = vec![("reporter.exactly.once", "true")];
    props.extend(PARK_ON_ORDER);
    created(&api, &name, &c.connector(&props)).await;
    wait_until(MINUTE, "k1 listed with its 10 records", || async {
        (parked_keys(&api, &name).await? == [(json!("k1"), json!(10))]).then_some(())
    })
    .await;
    // Skipped: its 10 records are resolved as failed, once each, in a
    // transaction (the error topic as a read_committed reader sees it).
    ordered_until_none_parked(&api, &name, "skip", "k1").await;
    let error_topic = format!("error-{name}");
    let errors =
        c.s.read_to_end(&error_topic, Isolation::Committed, MINUTE)
            .await
            .unwrap();
    assert_eq!((errors.len(), distinct_inputs(&errors)), (10, 10));
    // Retried on request once the function takes it: k9's 3 records
    // succeed once each, after every other record's single outcome.
    k9_parked_then_recovered(&c, &api, &name).await;
    ordered_until_none_parked(&api, &name, "retry", "k9").await;
    let success_topic = format!("success-{name}");
    let successes = wait_until(MINUTE, "33 outcomes committed", || async {
        let read =
            c.s.read_to_end(&success_topic, Isolation::Committed, MINUTE)
                .await
                .ok()?;
        (read.len() >= 33).then_some(read)
    })
    .await;
    assert_eq!(
        (successes.len(), distinct_inputs(&successes)),
        (33, 33),
        "one outcome each"
    );
    // Nothing went wrong in the transactions: none aborted.
    let metrics = scrape(&api.url).await.unwrap();
    let count = |result| transactions(&metrics, Some(&name), result);
    assert!(count("committed") >= 1.0, "{metrics}");
    assert_eq!(count("aborted"), 0.0, "{metrics}");
    assert_eq!(worker.stop().await, Some(0), "{}", worker.log());
}

#[tokio::test]
async fn a_running_connector_moves_to_a_time_without_being_stopped() {
    let c = Cluster::new("serve-move", 2).await;
    let mut first = c.worker(&[]);
    let mut second = c.worker(&[]);
    let api = Api::new(&first.api_url().await);
    // 8 old records at t0 and 6 newer ones at t1, over both partitions.
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let (t0, t1) = (now - 120_000, now - 60_000);
    let records: Vec<Produce> = (0..14_i32)
        .map(|i| Produce {
            timestamp: Some(if i < 8 { t0 } else { t1 }),
            ..Produce::text(i % 2, &format!("k{i}"), &json!({ "i": i }).to_string())
        })
        .collect();
    let name = unique("moves");
    created(&api, &name, &c.connector(&[("tasks.max", "2")])).await;
    c.s.produce(&c.topic, &records).await.unwrap();
    c.wait_seen(&c.function, 14).await;
    c.committed_to_end(&name).await;
    c.settled(&name).await;
    // Rebalances while the tasks settled may have invoked some twice
    // (at-least-once): what the moves add is counted from here.
    let before = c.seen(&c.function).await;

    // Back to t1 while it runs: each partition to its first newer record.
    let path = format!("/connectors/{name}/offsets/move");
    let (code, moved) = api
        .call(Method::POST, &path, Some(&json!({ "timestamp": t1 })))
        .await;
    // Done at once (200), or still waiting for the group to empty (202).
    assert!(
        matches!(
            (code, moved["state"].as_str()),
            (200, Some("done")) | (202, Some("pending"))
        ),
        "{code} {moved}"
    );
    let moved = api.move_done(&name).await;
    let positions: Vec<(i64, i64)> = moved["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["partition"]["kafka_partition"].as_i64().unwrap(),
                o["offset"]["kafka_offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(positions, vec![(0, 4), (1, 4)], "{moved}");
    // The newer records again, the older ones not; everything committed.
    let again = |seen: &[(i64, i64)], before: &[(i64, i64)], at: (i64, i64)| {
        let n = |list: &[(i64, i64)]| list.iter().filter(|s| **s == at).count();
        n(seen) - n(before)
    };
    let newer: Vec<(i64, i64)> = (0..2).flat_map(|p| (4..7).map(move |o| (p, o))).collect();
    let seen = wait_until(MINUTE, "the newer records invoked again", || async {
        let seen = c.seen(&c.function).await;
        newer
            .iter()
            .all(|at| again(&seen, &before, *at) >= 1)
            .then_some(seen)
    })
    .await;
    c.committed_to_end(&name).await;
    for p in 0..2 {
        for o in 0..4 {
            assert_eq!(
                again(&seen, &before, (p, o)),
                0,
                "{p}-{o} is before the move: {seen:?}"
            );
        }
    }
    api.wait_state(&name, "RUNNING").await;
    let (_, latest) = api.get(&path).await;
    assert_eq!(latest, moved);
    // Its story: moving and moved, never stopped.
    let log = wait_until(MINUTE, "the move in the event log", || async {
        let (_, log) = api.get(&format!("/connectors/{name}/events")).await;
        let events: Vec<String> = log["events"]
            .as_array()?
            .iter()
            .filter_map(|e| e["event"].as_str().map(String::from))
            .collect();
        (events.iter().any(|e| e == "moving") && events.iter().any(|e| e == "moved"))
            .then_some(events)
    })
    .await;
    assert!(
        !log.iter().any(|e| e == "stopped" || e == "move_failed"),
        "{log:?}"
    );

    // The CLI: one partition back to its start, once the tasks that
    // restarted after the move have settled.
    c.settled(&name).await;
    let url = first.api_url().await;
    let to = format!("{}:1=0", c.topic);
    let (code, out) = run(
        Path::new(BIN),
        &[
            "connect",
            "--url",
            &url,
            "offsets",
            "move",
            &name,
            "--to-offset",
            &to,
        ],
        &[],
    );
    let to_zero = format!("connector \"{name}\": {}-1 to 0.", c.topic);
    assert!(
        code == 0
            && (out.trim() == format!("Moved {to_zero}")
                || out.trim()
                    == format!(
                        "Moving (its tasks are still draining; see GET .../offsets/move) {to_zero}"
                    )),
        "{out}"
    );
    api.move_done(&name).await;
    wait_until(MINUTE, "partition 1 invoked again from 0", || async {
        let now = c.seen(&c.function).await;
        (0..7)
            .all(|o| again(&now, &seen, (1, o)) >= 1)
            .then_some(())
    })
    .await;
    c.committed_to_end(&name).await;

    // What is wrong is said.
    for (body, wanted) in [
        (json!({}), "a move needs timestamp"),
        (
            json!({ "timestamp": t1, "topics": ["elsewhere"] }),
            "topic elsewhere is not one the connector consumes",
        ),
    ] {
        let (code, e) = api.call(Method::POST, &path, Some(&body)).await;
        assert_eq!(code, 400, "{e}");
        assert!(e["message"].as_str().unwrap().contains(wanted), "{e}");
    }
    assert_eq!(
        api.call(
            Method::POST,
            "/connectors/nobody/offsets/move",
            Some(&json!({"timestamp": 1}))
        )
        .await
        .0,
        404
    );
    assert_eq!(second.stop().await, Some(0), "{}", second.log());
    assert_eq!(first.stop().await, Some(0), "{}", first.log());
    for log in [first.log(), second.log()] {
        assert!(!log.contains(" WARN "), "no warning:\n{log}");
    }
}

/// Epoch milliseconds now.
fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_replay_job_reinvokes_a_time_range_beside_the_running_connector() {
    let c = Cluster::new("serve-replay", 2).await;
    let mut worker = c.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let url = worker.api_url().await;
    // 10 records at each of t0, t1 and t2; keys k0..k9.
    let now = now_ms();
    let (t0, t1, t2) = (now - 180_000, now - 120_000, now - 60_000);
    let records: Vec<Produce> = (0..30_i32)
        .map(|i| Produce {
            timestamp: Some([t0, t1, t2][usize::try_from(i / 10).unwrap()]),
            ..Produce::text(
                i % 2,
                &format!("k{}", i % 10),
                &json!({ "i": i }).to_string(),
            )
        })
        .collect();
    c.s.produce(&c.topic, &records).await.unwrap();
    let name = unique("replays");
    created(&api, &name, &c.connector(&[("aws.lambda.batch.size", "1")])).await;
    c.wait_seen(&c.function, 30).await;
    let committed = c.committed_to_end(&name).await;

    // Keys k0..k4 of [t1, t2): records 10..14, on a side group.
    let path = format!("/connectors/{name}/replays");
    let (code, job) = api
        .call(
            Method::POST,
            &path,
            Some(&json!({ "from": t1, "to": t2, "key_pattern": "^k[0-4]$" })),
        )
        .await;
    assert_eq!(
        (code, job["state"].clone(), job["total"].clone()),
        (202, json!("running"), json!(10)),
        "{job}"
    );
    let id = job["id"].as_str().unwrap().to_string();
    let done = wait_until(MINUTE, "the replay job done", || async {
        let (code, job) = api.get(&format!("{path}/{id}")).await;
        assert_eq!(code, 200, "{job}");
        (job["state"] != "running").then_some(job)
    })
    .await;
    assert_eq!(
        (
            done["state"].clone(),
            done["read"].clone(),
            done["skipped"].clone(),
            done["outcomes"].clone()
        ),
        (json!("done"), json!(10), json!(5), json!({ "success": 5 })),
        "{done}"
    );
    // Records i = 10..14 (partition i % 2, offset i / 2) invoked again.
    let seen = c.wait_seen(&c.function, 35).await;
    for i in 0..30_i64 {
        let n = seen.iter().filter(|s| **s == (i % 2, i / 2)).count();
        assert_eq!(
            n,
            if (10..15).contains(&i) { 2 } else { 1 },
            "record {i}: {seen:?}"
        );
    }
    // Their results carry the job's id; the connector's own do not.
    let results =
        c.s.read_topic(&format!("success-{name}"), 35, MINUTE)
            .await
            .unwrap();
    let tagged = results
        .iter()
        .filter(|r| r.header("lambda-sink.replay") == id)
        .count();
    assert_eq!((results.len(), tagged), (35, 5));
    // The connector's group never moved, and its flow goes on.
    assert_eq!(c.committed_to_end(&name).await, committed);
    c.produce(30, 2).await;
    c.wait_seen(&c.function, 37).await;

    // A cancelled job: slow records the stopped connector leaves alone.
    assert_eq!(
        api.call(Method::PUT, &format!("/connectors/{name}/stop"), None)
            .await
            .0,
        204
    );
    api.wait_state(&name, "STOPPED").await;
    let t3 = now_ms();
    let slow: Vec<Produce> = (0..20)
        .map(|i| Produce {
            timestamp: Some(t3),
            ..Produce::text(
                0,
                "slow",
                &json!({ "i": 100 + i, "sleep_ms": 1000 }).to_string(),
            )
        })
        .collect();
    c.s.produce(&c.topic, &slow).await.unwrap();
    let (code, job) = api
        .call(
            Method::POST,
            &path,
            Some(&json!({ "from": t3, "partitions": [0] })),
        )
        .await;
    assert_eq!((code, job["total"].clone()), (202, json!(20)), "{job}");
    let slow_id = job["id"].as_str().unwrap().to_string();
    // One job at a time.
    let (code, e) = api
        .call(Method::POST, &path, Some(&json!({ "from": t3 })))
        .await;
    assert_eq!(code, 409, "{e}");
    let (code, out) = run(
        Path::new(BIN),
        &[
            "connect", "--url", &url, "replay", "cancel", &name, &slow_id,
        ],
        &[],
    );
    assert_eq!(
        (code, out.trim()),
        (0, format!("replay job {slow_id} is asked to stop").as_str())
    );
    let cancelled = wait_until(MINUTE, "the slow job cancelled", || async {
        let (_, job) = api.get(&format!("{path}/{slow_id}")).await;
        (job["state"] != "running").then_some(job)
    })
    .await;
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let replayed = cancelled["outcomes"]["success"].as_u64().unwrap_or(0);
    assert!(replayed < 20, "{cancelled}");
    let (_, out) = run(
        Path::new(BIN),
        &["connect", "--url", &url, "replay", "list", &name],
        &[],
    );
    let row = |id: &str| {
        out.lines()
            .find(|l| l.contains(id))
            .unwrap_or_else(|| panic!("no row of {id}:\n{out}"))
            .split(" | ")
            .map(|c| c.trim().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        &row(&id)[1..6],
        ["done", c.topic.as_str(), "10", "10", "5"],
        "{out}"
    );
    assert_eq!(row(&slow_id)[1], "cancelled", "{out}");
    // Said what is wrong.
    for (body, wanted) in [
        (json!({}), "needs from"),
        (
            json!({ "from": t0, "topic": "elsewhere" }),
            "not one the connector consumes",
        ),
        (
            json!({ "from": t0, "partitions": [7] }),
            "has no partition 7",
        ),
    ] {
        let (code, e) = api.call(Method::POST, &path, Some(&body)).await;
        assert_eq!(code, 400, "{body}: {e}");
        assert!(e["message"].as_str().unwrap().contains(wanted), "{e}");
    }
    assert_eq!(api.get(&format!("{path}/nope")).await.0, 404);
    assert_eq!(worker.stop().await, Some(0), "{}", worker.log());
    let log = worker.log();
    assert!(!log.contains(" WARN "), "no warning:\n{log}");
}

#[tokio::test]
async fn a_replay_job_a_killed_worker_left_running_is_interrupted_when_it_comes_back() {
    let c = Cluster::new("serve-replay-kill", 1).await;
    // The same address again: the worker comes back under the same id.
    let [port] = lambda_sink_testkit::free_ports();
    let listener = format!("http://127.0.0.1:{port}");
    let mut worker = c.worker(&[("listeners", &listener)]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("interrupted");
    created(&api, &name, &c.connector(&[("aws.lambda.batch.size", "1")])).await;
    let t = now_ms();
    let slow: Vec<Produce> = (0..30)
        .map(|i| Produce {
            timestamp: Some(t),
            ..Produce::text(0, "slow", &json!({ "i": i, "sleep_ms": 1000 }).to_string())
        })
        .collect();
    c.s.produce(&c.topic, &slow).await.unwrap();
    let path = format!("/connectors/{name}/replays");
    let (code, job) = api
        .call(Method::POST, &path, Some(&json!({ "from": t })))
        .await;
    assert_eq!(
        (code, job["state"].clone()),
        (202, json!("running")),
        "{job}"
    );
    let id = job["id"].as_str().unwrap().to_string();
    worker.kill9();
    let mut again = c.worker(&[("listeners", &listener)]);
    let api = Api::new(&again.api_url().await);
    // Live again under the same id, so not inferred from its absence: the
    // worker recorded at start that it no longer runs the job.
    let (code, job) = api.get(&format!("{path}/{id}")).await;
    assert_eq!(
        (code, job["state"].clone()),
        (200, json!("interrupted")),
        "{job}"
    );
    let (code, next) = api
        .call(Method::POST, &path, Some(&json!({ "from": t })))
        .await;
    assert_eq!(code, 202, "a new job may start: {next}");
    assert_eq!(again.stop().await, Some(0), "{}", again.log());
}

#[tokio::test]
async fn an_exactly_once_connectors_dead_letters_are_shown_and_redriven() {
    // Its DLQ is written in transactions: the topic ends in a commit
    // marker, which no reader is ever given.
    let w = Cluster::new("serve-eos-dlq", 1).await;
    let mut worker = w.worker(&[]);
    let api = Api::new(&worker.api_url().await);
    let name = unique("eosdlq");
    let config = w.connector(&[
        ("input.data.format", "JSON"),
        ("errors.tolerance", "all"),
        ("reporter.exactly.once", "true"),
    ]);
    created(&api, &name, &config).await;
    let records: Vec<Produce> = (0..4)
        .map(|i| Produce::text(0, &format!("k{i}"), &format!("plain text {i}")))
        .collect();
    w.s.produce(&w.topic, &records).await.unwrap();
    w.committed_to_end(&name).await;
    let dlq = format!("dlq-{name}");
    assert_eq!(
        w.s.read_to_end(
            &dlq,
            lambda_sink_testkit::kafka::Isolation::Committed,
            MINUTE
        )
        .await
        .unwrap()
        .len(),
        4
    );
    // The console's view reads the dead letters to the topic's end.
    let (code, view) = api
        .get(&format!("/console/api/connectors/{name}/dlq?limit=10"))
        .await;
    assert_eq!(
        (code, view["records"].as_array().map(Vec::len)),
        (200, Some(4)),
        "{view}"
    );
    // And a redrive reads them all (failing again, back to the DLQ).
    let (code, report) = api
        .call(
            Method::POST,
            &format!("/connectors/{name}/dlq/redrive"),
            Some(&json!({})),
        )
        .await;
    assert_eq!(
        (
            code,
            report["read"].clone(),
            report["outcomes"]["dlq"].clone()
        ),
        (200, json!(4), json!(4)),
        "{report}"
    );
    assert_eq!(worker.stop().await, Some(0), "{}", worker.log());
}
