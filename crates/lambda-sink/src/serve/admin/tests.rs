//! The administration in process: the real [`Admin`] over an in-memory
//! config log (the cluster state folded from the records it is given, as
//! the config topic's readers fold them), a scripted status view, consumer
//! groups and redriver. Every operation's success and error paths, without
//! a broker, in well under a second.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lambda_sink_core::config::Config;
use lambda_sink_core::connect::infos::HIDDEN;
use lambda_sink_core::connect::moves::{self, Found, State as MoveState, Target};
use lambda_sink_core::connect::offsets::PartitionOffset;
use lambda_sink_core::connect::records::{ClusterState, ConfigRecord, ConnectorEntry, TargetState};
use lambda_sink_core::connect::redrive::Request;
use lambda_sink_core::connect::replays;
use lambda_sink_core::connect::status::{ConnectorReport, InstanceReport, State, TaskReport};
use serde_json::{Value, json};

use super::{Admin, AdminError, ConfigLog, Groups, MoveProgress, Ports, Redriver, StatusView};
use crate::sync::lock;

/// The config log: what was written, and the state folded from it.
#[derive(Default)]
struct Log {
    state: Mutex<ClusterState>,
    written: Mutex<Vec<ConfigRecord>>,
    /// Kafka refuses writes.
    down: Mutex<bool>,
}

impl ConfigLog for Log {
    fn state(&self) -> ClusterState {
        lock(&self.state).clone()
    }

    fn write(&self, record: ConfigRecord) -> BoxFuture<'_, Result<(), AdminError>> {
        let result = if *lock(&self.down) {
            Err(AdminError::Unavailable("Kafka is away (test)".into()))
        } else {
            // Encoded and parsed back, as a reader of the topic sees it.
            let (key, value) = record.encode();
            let read = ConfigRecord::parse(&key, value.as_deref()).unwrap();
            lock(&self.state).apply(read);
            lock(&self.written).push(record);
            Ok(())
        };
        Box::pin(async move { result })
    }
}

#[derive(Default)]
struct Reports(Mutex<Vec<InstanceReport>>);

impl StatusView for Reports {
    fn live_reports(&self) -> Vec<InstanceReport> {
        lock(&self.0).clone()
    }
}

/// Consumer groups: their offsets, and whether members remain.
#[derive(Default)]
struct FakeGroups {
    offsets: Mutex<Vec<PartitionOffset>>,
    busy: Mutex<bool>,
    reset: Mutex<usize>,
    /// What a time lookup finds, and the lookups asked for.
    found: Mutex<Vec<Found>>,
    looked_up: Mutex<Vec<(i64, Option<Vec<String>>)>>,
}

impl Groups for FakeGroups {
    fn committed<'a>(
        &'a self,
        _config: &'a Config,
    ) -> BoxFuture<'a, Result<Vec<PartitionOffset>, AdminError>> {
        let offsets = lock(&self.offsets).clone();
        Box::pin(async move { Ok(offsets) })
    }

    fn alter<'a>(
        &'a self,
        _config: &'a Config,
        offsets: Vec<PartitionOffset>,
    ) -> BoxFuture<'a, Result<(), AdminError>> {
        let result = if *lock(&self.busy) {
            Err(AdminError::Conflict("members remain (test)".into()))
        } else {
            *lock(&self.offsets) = offsets;
            Ok(())
        };
        Box::pin(async move { result })
    }

    fn at_time<'a>(
        &'a self,
        _config: &'a Config,
        timestamp: i64,
        topics: Option<Vec<String>>,
    ) -> BoxFuture<'a, Result<Vec<Found>, AdminError>> {
        lock(&self.looked_up).push((timestamp, topics));
        let found = lock(&self.found).clone();
        Box::pin(async move { Ok(found) })
    }

    fn reset<'a>(&'a self, _config: &'a Config) -> BoxFuture<'a, Result<(), AdminError>> {
        *lock(&self.reset) += 1;
        lock(&self.offsets).clear();
        Box::pin(async { Ok(()) })
    }
}

/// A redriver that records what it was asked and records a report.
#[derive(Default)]
struct FakeRedriver {
    asked: Mutex<Vec<(String, Request)>>,
}

impl Redriver for FakeRedriver {
    fn redrive<'a>(
        &'a self,
        admin: &'a Admin,
        name: &'a str,
        _entry: &'a ConnectorEntry,
        _config: Config,
        request: Request,
    ) -> BoxFuture<'a, Result<Value, AdminError>> {
        lock(&self.asked).push((name.to_string(), request));
        Box::pin(async move {
            let report = json!({ "redriven": 2 });
            admin
                .record_redrives(name, json!({ "history": [report] }))
                .await?;
            Ok(report)
        })
    }
}

struct World {
    admin: Admin,
    log: Arc<Log>,
    reports: Arc<Reports>,
    groups: Arc<FakeGroups>,
    redriver: Arc<FakeRedriver>,
}

impl World {
    fn new() -> Self {
        let log = Arc::new(Log::default());
        let reports = Arc::new(Reports::default());
        let groups = Arc::new(FakeGroups::default());
        let redriver = Arc::new(FakeRedriver::default());
        let ports = Ports {
            log: log.clone(),
            status: reports.clone(),
            groups: groups.clone(),
            redriver: redriver.clone(),
        };
        // The worker's defaults: the connection every connector shares.
        let defaults = vec![
            ("kafka.bootstrap.servers".into(), "127.0.0.1:9092".into()),
            ("aws.lambda.region".into(), "us-east-1".into()),
        ];
        Self {
            admin: Admin::new(ports, defaults),
            log,
            reports,
            groups,
            redriver,
        }
    }

    fn writes(&self) -> usize {
        lock(&self.log.written).len()
    }

    /// Worker `worker` reports `name` in `state` with tasks `tasks`.
    fn report(&self, worker: &str, name: &str, state: State, tasks: &[usize]) {
        let mut connectors = BTreeMap::new();
        connectors.insert(
            name.to_string(),
            ConnectorReport {
                state,
                trace: None,
                tasks: tasks
                    .iter()
                    .map(|&id| TaskReport {
                        id: Some(id),
                        state,
                        trace: None,
                        stalled: Vec::new(),
                    })
                    .collect(),
                topics: Vec::new(),
            },
        );
        lock(&self.reports.0).push(InstanceReport {
            worker_id: worker.to_string(),
            connectors,
        });
    }

    async fn created(&self, name: &str) -> ConnectorEntry {
        self.admin.create(name, valid(), None).await.unwrap()
    }
}

/// A config the validator accepts (with the worker's defaults).
fn valid() -> Value {
    json!({
        "topics": "orders",
        "aws.lambda.function.name": "fn",
        "aws.access.key.id": "AKIA",
        "aws.secret.access.key": "s3cr3t",
        "tasks.max": 2,
    })
}

fn invalid(e: AdminError) -> String {
    match e {
        AdminError::Invalid(m) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn create_writes_the_config_and_its_initial_state() {
    let w = World::new();
    let e = w.created("orders-sink").await;
    assert_eq!(e.config["name"], "orders-sink", "the name is added");
    assert_eq!(e.config["tasks.max"], "2", "numbers are kept as text");
    assert_eq!(e.target, TargetState::Started);
    let paused = w
        .admin
        .create(" other ", valid(), Some(TargetState::Paused))
        .await
        .unwrap();
    assert_eq!(
        paused.target,
        TargetState::Paused,
        "name trimmed, state written first"
    );
    assert!(w.admin.state().get("other").is_some());
}

#[tokio::test]
async fn a_new_name_cannot_take_another_connectors_id() {
    let w = World::new();
    w.created("a_b").await;
    let writes = w.writes();
    let refused = [
        w.admin.create("a b", valid(), None).await.map(|_| ()),
        w.admin.put_config("a/b", valid()).await.map(|_| ()),
    ];
    for taken in refused {
        match taken {
            Err(AdminError::Conflict(m)) => {
                assert!(m.contains("the id a_b of connector a_b"), "{m}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(w.writes(), writes, "nothing refused is written");
    // The connector itself can still be updated under its name.
    let mut changed = valid();
    changed["aws.lambda.batch.size"] = json!("7");
    assert!(w.admin.put_config("a_b", changed).await.is_ok());
}

#[tokio::test]
async fn create_refuses_a_duplicate_a_missing_name_and_an_invalid_config() {
    let w = World::new();
    w.created("a").await;
    let writes = w.writes();
    assert_eq!(
        w.admin.create("a", valid(), None).await,
        Err(AdminError::Conflict("Connector a already exists".into()))
    );
    let m = invalid(w.admin.create("", valid(), None).await.unwrap_err());
    assert!(m.contains("name: is required"), "{m}");

    let mut bad = valid();
    bad["aws.lambda.invocation.type"] = json!("sometimes");
    let m = invalid(w.admin.create("b", bad, None).await.unwrap_err());
    assert!(
        m.starts_with("Connector configuration is invalid and contains the following 1 error(s):")
            && m.contains("aws.lambda.invocation.type"),
        "{m}"
    );
    let m = invalid(
        w.admin
            .create("c", json!({"name": "d"}), None)
            .await
            .unwrap_err(),
    );
    assert!(
        m.contains("doesn't match connector name in the URL (c)"),
        "{m}"
    );
    let m = invalid(
        w.admin
            .create("e", json!({"x": null}), None)
            .await
            .unwrap_err(),
    );
    assert!(m.contains("Null value"), "{m}");
    let mut listener = valid();
    listener["http.listener"] = json!("127.0.0.1:0");
    let m = invalid(w.admin.create("f", listener, None).await.unwrap_err());
    assert!(m.contains("is a `lambda-sink run` setting"), "{m}");
    assert_eq!(w.writes(), writes, "nothing refused is written");
}

#[tokio::test]
async fn put_creates_replaces_keeps_hidden_secrets_and_skips_identical_configs() {
    let w = World::new();
    let (e, created) = w.admin.put_config("p", valid()).await.unwrap();
    assert!(created);
    assert_eq!(e.config["aws.secret.access.key"], "s3cr3t");
    // A client that read the (masked) config and PUTs it back.
    let mut read_back = valid();
    read_back["aws.secret.access.key"] = json!(HIDDEN);
    let writes = w.writes();
    let (e, created) = w.admin.put_config("p", read_back).await.unwrap();
    assert!(!created);
    assert_eq!(e.config["aws.secret.access.key"], "s3cr3t");
    assert_eq!(
        w.writes(),
        writes,
        "identical: nothing written, nothing restarts"
    );
    let mut changed = valid();
    changed["tasks.max"] = json!("3");
    let (e, created) = w.admin.put_config("p", changed).await.unwrap();
    assert!(!created);
    assert_eq!(e.config["tasks.max"], "3");
    assert_eq!(w.writes(), writes + 1);
    let m = invalid(w.admin.put_config("p", json!([1])).await.unwrap_err());
    assert!(m.contains("must be a JSON object"), "{m}");
}

#[tokio::test]
async fn patch_merges_removes_and_refuses_what_is_invalid() {
    let w = World::new();
    w.created("q").await;
    let patch = |v: Value| match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let e = w
        .admin
        .patch_config(
            "q",
            patch(
                json!({"tasks.max": "4", "aws.access.key.id": null, "aws.secret.access.key": null}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(e.config["tasks.max"], "4");
    assert!(
        !e.config.contains_key("aws.access.key.id"),
        "null removes a key"
    );
    let writes = w.writes();
    let same = w
        .admin
        .patch_config("q", patch(json!({"tasks.max": "4"})))
        .await
        .unwrap();
    assert_eq!(same.config["tasks.max"], "4");
    assert_eq!(w.writes(), writes, "an unchanged config writes nothing");
    let m = invalid(
        w.admin
            .patch_config("q", patch(json!({"aws.lambda.function.name": null})))
            .await
            .unwrap_err(),
    );
    assert!(m.contains("aws.lambda.function.name"), "{m}");
    assert_eq!(
        w.admin.patch_config("nope", patch(json!({}))).await,
        Err(AdminError::NotFound("Connector nope not found".into()))
    );
}

#[tokio::test]
async fn delete_removes_the_connector_its_state_and_its_redrives() {
    let w = World::new();
    w.created("r").await;
    w.admin.redrive("r", Request::default()).await.unwrap();
    assert!(w.admin.connector("r").unwrap().redrives.is_some());
    w.admin.delete("r").await.unwrap();
    assert!(w.admin.state().get("r").is_none());
    let last: Vec<String> = lock(&w.log.written)
        .iter()
        .rev()
        .take(3)
        .map(|r| r.encode().0)
        .collect();
    assert!(
        last.iter().any(|k| k.contains("redrives")),
        "the redrive record is removed too: {last:?}"
    );
    assert_eq!(
        w.admin.delete("r").await,
        Err(AdminError::NotFound("Connector r not found".into()))
    );
}

#[tokio::test]
async fn pause_resume_stop_restart_and_topics_reset() {
    let w = World::new();
    w.created("s").await;
    for state in [
        TargetState::Paused,
        TargetState::Started,
        TargetState::Stopped,
    ] {
        w.admin.set_target("s", state).await.unwrap();
        assert_eq!(w.admin.connector("s").unwrap().target, state);
    }
    assert_eq!(
        w.admin.set_target("x", TargetState::Paused).await,
        Err(AdminError::NotFound("Unknown connector x".into()))
    );
    w.admin.restart("s", true, true).await.unwrap();
    let restart = w.admin.connector("s").unwrap().restart;
    assert!(restart.include_tasks && restart.only_failed && restart.worker.is_none());
    assert_eq!(
        w.admin.restart("x", false, false).await,
        Err(AdminError::NotFound("Unknown connector: x".into()))
    );
    w.admin.reset_topics("s").await.unwrap();
    assert_eq!(
        w.admin.reset_topics("x").await,
        Err(AdminError::NotFound("Connector x not found".into()))
    );
}

#[tokio::test]
async fn a_task_restarts_on_the_worker_that_runs_it() {
    let w = World::new();
    w.created("t").await;
    w.report("w1:8083", "t", State::Running, &[0]);
    w.report("w2:8083", "t", State::Running, &[1]);
    w.admin.restart_task("t", "1").await.unwrap();
    let restart = w.admin.connector("t").unwrap().restart;
    assert_eq!(restart.worker.as_deref(), Some("w2:8083"));
    assert_eq!(
        w.admin.restart_task("t", "7").await,
        Err(AdminError::NotFound("Unknown task: t-7".into()))
    );
    assert_eq!(
        w.admin.restart_task("t", "one").await,
        Err(AdminError::NotFound("Unknown task: t-one".into()))
    );
    assert_eq!(
        w.admin.restart_task("x", "0").await,
        Err(AdminError::NotFound("Unknown connector: x".into()))
    );
}

#[tokio::test]
async fn offsets_are_read_any_time_and_changed_only_once_stopped_everywhere() {
    let w = World::new();
    w.created("u").await;
    let offset = |topic: &str, offset| PartitionOffset {
        topic: topic.into(),
        partition: 0,
        offset,
    };
    *lock(&w.groups.offsets) = vec![offset("orders", 5)];
    assert_eq!(
        w.admin.offsets("u").await.unwrap(),
        vec![offset("orders", 5)]
    );
    let not_stopped = invalid(
        w.admin
            .alter_offsets("u", vec![offset("orders", 9)])
            .await
            .unwrap_err(),
    );
    assert!(
        not_stopped.starts_with("Connectors must be in the STOPPED state"),
        "{not_stopped}"
    );
    w.admin.set_target("u", TargetState::Stopped).await.unwrap();
    // Stopped in the config, but a worker still runs it.
    w.report("w1:8083", "u", State::Running, &[0]);
    assert!(w.admin.reset_offsets("u").await.is_err());
    lock(&w.reports.0).clear();
    w.report("w1:8083", "u", State::Stopped, &[]);
    let m = invalid(w.admin.alter_offsets("u", Vec::new()).await.unwrap_err());
    assert!(
        m.starts_with("Partitions / offsets need to be provided"),
        "{m}"
    );
    let m = invalid(
        w.admin
            .alter_offsets("u", vec![offset("payments", 1)])
            .await
            .unwrap_err(),
    );
    assert_eq!(m, "topic payments is not one the connector consumes");
    w.admin
        .alter_offsets("u", vec![offset("orders", 9)])
        .await
        .unwrap();
    assert_eq!(
        w.admin.offsets("u").await.unwrap(),
        vec![offset("orders", 9)]
    );
    *lock(&w.groups.busy) = true;
    assert!(matches!(
        w.admin.alter_offsets("u", vec![offset("orders", 1)]).await,
        Err(AdminError::Conflict(_))
    ));
    w.admin.reset_offsets("u").await.unwrap();
    assert_eq!(*lock(&w.groups.reset), 1);
    assert_eq!(
        w.admin.offsets("x").await,
        Err(AdminError::NotFound("Connector x not found".into()))
    );
}

#[tokio::test]
async fn a_running_connector_moves_once_its_tasks_left_the_group() {
    let w = World::new();
    w.created("u").await;
    *lock(&w.groups.found) = vec![
        Found {
            topic: "orders".into(),
            partition: 1,
            at: None,
            end: 40,
        },
        Found {
            topic: "orders".into(),
            partition: 0,
            at: Some(7),
            end: 9,
        },
    ];
    let to_time = |topics: Option<Vec<String>>| moves::Request {
        target: Target::Timestamp(1_000),
        topics,
    };
    // Not stopped, and no STOPPED needed.
    let m = w
        .admin
        .request_move("u", to_time(Some(vec!["orders".into()])), "w1:8083", 5)
        .await
        .unwrap();
    assert_eq!(
        *lock(&w.groups.looked_up),
        vec![(1_000, Some(vec!["orders".to_string()]))]
    );
    let wanted = vec![
        PartitionOffset {
            topic: "orders".into(),
            partition: 0,
            offset: 7,
        },
        PartitionOffset {
            topic: "orders".into(),
            partition: 1,
            offset: 40,
        },
    ];
    assert_eq!(
        (m.id.as_str(), m.timestamp, &m.offsets, m.state),
        ("5-w1:8083", Some(1_000), &wanted, MoveState::Pending)
    );
    assert!(w.admin.connector("u").unwrap().moving());
    // One move at a time.
    assert!(matches!(
        w.admin.request_move("u", to_time(None), "w1:8083", 6).await,
        Err(AdminError::Conflict(_))
    ));
    // Only the worker that took it completes it while it lives.
    w.report("w1:8083", "u", State::Restarting, &[0]);
    w.report("w2:8083", "u", State::Restarting, &[1]);
    assert_eq!(
        w.admin.complete_move("u", "w2:8083", 9).await,
        Ok(MoveProgress::Waiting)
    );
    // Its tasks still in the group: later.
    *lock(&w.groups.busy) = true;
    assert!(matches!(
        w.admin.complete_move("u", "w1:8083", 9).await,
        Ok(MoveProgress::Busy(m)) if m.pending()
    ));
    assert!(lock(&w.groups.offsets).is_empty());
    *lock(&w.groups.busy) = false;
    let Ok(MoveProgress::Ended(ended)) = w.admin.complete_move("u", "w1:8083", 10).await else {
        panic!("the move ends");
    };
    assert_eq!(*lock(&w.groups.offsets), wanted);
    let done = w.admin.connector("u").unwrap().moved.unwrap();
    assert_eq!(ended, done);
    assert_eq!(
        (done.state, done.finished_at, done.offsets),
        (MoveState::Done, Some(10), wanted)
    );
    // Nothing pending: nothing to do.
    assert_eq!(
        w.admin.complete_move("u", "w1:8083", 11).await,
        Ok(MoveProgress::Nothing)
    );
}

#[tokio::test]
async fn a_move_outlives_the_worker_that_took_it() {
    let w = World::new();
    w.created("u").await;
    let to_time = || moves::Request {
        target: Target::Offsets(vec![PartitionOffset {
            topic: "orders".into(),
            partition: 0,
            offset: 3,
        }]),
        topics: None,
    };
    w.report("w1:8083", "u", State::Restarting, &[0]);
    w.report("w2:8083", "u", State::Restarting, &[1]);
    // The least live worker ends it.
    w.admin
        .request_move("u", to_time(), "gone:8083", 12)
        .await
        .unwrap();
    assert_eq!(
        w.admin.complete_move("u", "w2:8083", 13).await,
        Ok(MoveProgress::Waiting)
    );
    assert!(matches!(
        w.admin.complete_move("u", "w1:8083", 13).await,
        Ok(MoveProgress::Ended(_))
    ));
    assert!(!w.admin.connector("u").unwrap().moving());
}

#[tokio::test]
async fn a_move_is_refused_for_topics_it_does_not_consume_or_without_partitions() {
    let w = World::new();
    w.created("u").await;
    let to_time = |topics: Option<Vec<String>>| moves::Request {
        target: Target::Timestamp(1_000),
        topics,
    };
    let offsets = moves::Request {
        target: Target::Offsets(vec![PartitionOffset {
            topic: "payments".into(),
            partition: 0,
            offset: 1,
        }]),
        topics: None,
    };
    let m = invalid(
        w.admin
            .request_move("u", offsets, "w1:8083", 14)
            .await
            .unwrap_err(),
    );
    assert_eq!(m, "topic payments is not one the connector consumes");
    let m = invalid(
        w.admin
            .request_move("u", to_time(Some(vec!["payments".into()])), "w1:8083", 14)
            .await
            .unwrap_err(),
    );
    assert_eq!(m, "topic payments is not one the connector consumes");
    lock(&w.groups.found).clear();
    let m = invalid(
        w.admin
            .request_move("u", to_time(None), "w1:8083", 14)
            .await
            .unwrap_err(),
    );
    assert!(m.contains("no partition to move"), "{m}");
    assert!(matches!(
        w.admin
            .request_move("x", to_time(None), "w1:8083", 14)
            .await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_redrive_runs_for_a_valid_connector_and_is_recorded() {
    let w = World::new();
    w.created("v").await;
    let request = Request {
        from_offset: Some(3),
        ..Request::default()
    };
    let report = w.admin.redrive("v", request.clone()).await.unwrap();
    assert_eq!(report["redriven"], 2);
    assert_eq!(*lock(&w.redriver.asked), vec![("v".to_string(), request)]);
    assert_eq!(
        w.admin.connector("v").unwrap().redrives,
        Some(json!({ "history": [{ "redriven": 2 }] }))
    );
    assert_eq!(
        w.admin.redrive("x", Request::default()).await,
        Err(AdminError::NotFound("Connector x not found".into()))
    );
}

#[tokio::test]
async fn kafka_away_is_unavailable_and_changes_nothing() {
    let w = World::new();
    w.created("z").await;
    *lock(&w.log.down) = true;
    let e = w.admin.set_target("z", TargetState::Paused).await;
    assert!(matches!(e, Err(AdminError::Unavailable(_))), "{e:?}");
    assert_eq!(w.admin.connector("z").unwrap().target, TargetState::Started);
    let e = w.admin.create("y", valid(), None).await;
    assert!(matches!(e, Err(AdminError::Unavailable(_))), "{e:?}");
    assert!(w.admin.state().get("y").is_none());
}

/// Connector "u" on one partition of "orders", whose time lookups find
/// offset 10 of 50.
async fn replaying() -> World {
    let w = World::new();
    w.created("u").await;
    *lock(&w.groups.found) = vec![Found {
        topic: "orders".into(),
        partition: 0,
        at: Some(10),
        end: 50,
    }];
    w
}

#[tokio::test]
async fn a_replay_job_starts_once_per_connector_and_is_cancelled_while_it_runs() {
    let w = replaying().await;
    let request = |body: Value| replays::Request::parse(&body).unwrap();
    w.report("w1:8083", "u", State::Running, &[0]);
    let (job, _) = w
        .admin
        .begin_replay("u", request(json!({"from": 1_000})), "w1:8083", 2_000)
        .await
        .unwrap();
    // Both times looked up on the only topic; `to` is the request's time.
    assert_eq!(
        *lock(&w.groups.looked_up),
        vec![
            (1_000, Some(vec!["orders".to_string()])),
            (2_000, Some(vec!["orders".to_string()]))
        ]
    );
    assert_eq!(
        (job.id.as_str(), job.topic.as_str(), job.to, job.total()),
        ("2000-w1_8083", "orders", 2_000, 0)
    );
    assert_eq!(w.admin.replays("u").unwrap()[0]["state"], "running");
    // One at a time while its worker lives.
    assert!(matches!(
        w.admin
            .begin_replay("u", request(json!({"from": 1})), "w1:8083", 3_000)
            .await,
        Err(AdminError::Conflict(_))
    ));
    w.admin.cancel_replay("u", &job.id).await.unwrap();
    assert_eq!(
        w.admin.connector("u").unwrap().cancel_replay.as_deref(),
        Some(job.id.as_str())
    );
    assert!(matches!(
        w.admin.cancel_replay("u", "nope").await,
        Err(AdminError::NotFound(_))
    ));
    // Its worker gone: shown interrupted, not cancellable, a new one may start.
    lock(&w.reports.0).clear();
    w.report("w2:8083", "u", State::Running, &[0]);
    assert_eq!(w.admin.replays("u").unwrap()[0]["state"], "interrupted");
    assert!(matches!(
        w.admin.cancel_replay("u", &job.id).await,
        Err(AdminError::Conflict(_))
    ));
    let mut done = w
        .admin
        .begin_replay("u", request(json!({"from": 1})), "w2:8083", 4_000)
        .await
        .unwrap()
        .0;
    done.state = replays::State::Done;
    w.admin.record_replay("u", &done).await.unwrap();
    let shown: Vec<Value> = w.admin.replays("u").unwrap();
    assert_eq!(
        shown.iter().map(|j| j["state"].clone()).collect::<Vec<_>>(),
        vec![json!("interrupted"), json!("done")]
    );
    // Deleted: its jobs and its cancel request go too.
    w.admin.delete("u").await.unwrap();
    let last: Vec<String> = lock(&w.log.written)
        .iter()
        .rev()
        .take(4)
        .map(|r| r.encode().0)
        .collect();
    for key in ["replays-u", "replay-cancel-u"] {
        assert!(last.iter().any(|k| k == key), "{key} removed: {last:?}");
    }
}

#[tokio::test]
async fn a_replay_job_is_refused_for_what_the_connector_cannot_replay() {
    let w = replaying().await;
    let request = |body: Value| replays::Request::parse(&body).unwrap();
    // Refused: a topic it does not consume, a partition it lacks, a window
    // that ends before it starts.
    for (body, wanted) in [
        (
            json!({"from": 1, "topic": "payments"}),
            "topic payments is not one the connector consumes",
        ),
        (
            json!({"from": 1, "partitions": [3]}),
            "the topic has no partition 3",
        ),
        (
            json!({"from": 9_000}),
            "from (9000) is not before to (5000)",
        ),
    ] {
        let m = invalid(
            w.admin
                .begin_replay("u", request(body.clone()), "w2:8083", 5_000)
                .await
                .unwrap_err(),
        );
        assert_eq!(m, wanted, "{body}");
    }
    lock(&w.groups.found).clear();
    let m = invalid(
        w.admin
            .begin_replay("u", request(json!({"from": 1})), "w2:8083", 5_000)
            .await
            .unwrap_err(),
    );
    assert!(m.contains("has no partitions"), "{m}");
}
