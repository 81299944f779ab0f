//! `reporter.exactly.once=true` against the real broker and the emulator:
//! outcome records and the offsets they resolve commit in one transaction,
//! so a `read_committed` reader of the outcome topics sees each input
//! record's outcome once; a zombie (a paused member whose partitions moved
//! on) cannot commit what it wrote; and a cluster that cannot run
//! transactions, or whose ACLs deny them, stops the start with what to fix.
//!
//! The fault-free run at full size and the crash, rebalance and
//! broker-restart scenarios with exactly-once on are in the fault suite
//! (`tests/faults.rs`).

use std::path::Path;
use std::time::Duration;

use lambda_sink_testkit::broker::PrivateBroker;
use lambda_sink_testkit::connector::Connector;
use lambda_sink_testkit::kafka::{Isolation, Produce, Record};
use lambda_sink_testkit::verify::Verdict;
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use lambda_sink_testkit::{Services, scrape, transactions, unique, wait_until};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);

/// Starts lambda-sink with exactly-once on, and `extra`.
fn start(w: &World, extra: &[(&str, &str)]) -> Connector {
    let mut config = vec![("reporter.exactly.once", "true")];
    config.extend_from_slice(extra);
    w.start(&config)
}

/// The verifier's verdict, asserted: nothing lost, and one outcome per
/// input record as a `read_committed` reader sees them.
async fn verified_once(w: &World) -> Verdict {
    let v = w.verify().await;
    assert_eq!(
        (v.lost_count, v.without_outcome_count, v.duplicate_outcomes),
        (0, 0, 0),
        "{}",
        v.summary()
    );
    v
}

/// Input offsets named by outcome records, by partition.
fn positions(records: &[Record]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = records
        .iter()
        .map(|r| {
            (
                r.header("input_record_partition").to_string(),
                r.header("input_record_offset").to_string(),
            )
        })
        .collect();
    p.sort();
    p
}

#[tokio::test]
async fn a_read_committed_reader_sees_each_outcome_once() {
    let w = world!("eos").partitions(3).create().await;
    // Results, function errors (`fail`) and undecodable records (DLQ), over
    // few keys so that key mode resolves batches out of order.
    let records: Vec<Produce> = (0..300)
        .map(|i| {
            let value = match i % 50 {
                7 => "not json".to_string(),
                13 => json!({ "i": i, "fail": true }).to_string(),
                _ => json!({ "i": i }).to_string(),
            };
            Produce::text(i % 3, &format!("k{}", i % 12), &value)
        })
        .collect();
    w.s.produce(&w.topic, &records).await.unwrap();
    let mut c = start(
        &w,
        &[
            ("aws.lambda.batch.size", "5"),
            ("aws.lambda.ordering", "key"),
            ("aws.lambda.max.in.flight.per.partition", "4"),
            ("http.listener", "127.0.0.1:0"),
        ],
    );
    w.drained(2 * MINUTE, &[&c]).await;
    let metrics = scrape(&c.http_url().await).await.unwrap();
    c.stop_cleanly().await;

    let v = verified_once(&w).await;
    assert_eq!(v.dead_lettered, 6, "{}", v.summary());
    assert!(v.committed_to_end, "{}", v.summary());
    let committed = transactions(&metrics, None, "committed");
    assert!(committed >= 1.0, "transactions committed: {committed}");
    // A clean run aborts nothing: what is written is what commits.
    let aborted = transactions(&metrics, None, "aborted");
    assert_eq!(aborted, 0.0, "transactions aborted in a clean run");
    for kind in ["success", "error"] {
        let read_committed = w.outcomes(kind, Isolation::Committed, 3 * MINUTE).await;
        let everything = w.outcomes(kind, Isolation::Uncommitted, 3 * MINUTE).await;
        assert_eq!(positions(&read_committed), positions(&everything), "{kind}");
    }
    let errors = w.outcomes("error", Isolation::Committed, 3 * MINUTE).await;
    assert!(
        !errors.is_empty(),
        "the failing batches wrote error records"
    );
}

#[tokio::test]
async fn a_zombie_cannot_commit_its_outcomes() {
    let w = world!("eos-zombie").partitions(2).create().await;
    let records: Vec<Produce> = (0..200)
        .map(|i| Produce::text(i % 2, &format!("k{i}"), &json!({ "i": i }).to_string()))
        .collect();
    w.s.produce(&w.topic, &records).await.unwrap();
    // The zombie-to-be keeps its transaction open (a minute, with a
    // coordinator timeout beyond the test) so that it holds outcome records
    // written and not committed when it freezes.
    let session = [
        ("aws.lambda.batch.size", "10"),
        ("consumer.override.session.timeout.ms", "6000"),
        ("consumer.override.heartbeat.interval.ms", "1000"),
    ];
    let mut zombie_config = session.to_vec();
    zombie_config.extend([
        ("reporter.transaction.interval.ms", "60000"),
        ("reporter.transaction.max.records", "1000000"),
        ("producer.override.transaction.timeout.ms", "300000"),
    ]);
    let mut zombie = start(&w, &zombie_config);
    let success = format!("success-{}", w.name);
    wait_until(MINUTE, "the zombie writes uncommitted outcomes", || async {
        let written =
            w.s.read_to_end(&success, Isolation::Uncommitted, MINUTE)
                .await
                .ok()?;
        (written.len() >= 20).then_some(())
    })
    .await;
    zombie.pause().unwrap();
    let written_by_zombie = positions(
        &w.outcomes("success", Isolation::Uncommitted, 3 * MINUTE)
            .await,
    );

    // Its session expires; the new member takes both partitions over from
    // the committed offsets (none) and commits everything.
    let mut successor = start(&w, &session);
    w.drained(2 * MINUTE, &[&successor]).await;

    // The zombie wakes and stops: its final commit carries the old
    // generation, or its consumer learns first that the partitions are
    // gone; either way its transaction aborts.
    zombie.resume().unwrap();
    zombie.terminate().unwrap();
    let code = zombie.wait(MINUTE).await;
    successor.stop_cleanly().await;
    let zombie_log = zombie.log();
    assert!(
        zombie_log.contains("partitions lost") || zombie_log.contains("did not commit"),
        "the zombie never noticed it was fenced (exit {code:?}):\n{zombie_log}"
    );

    verified_once(&w).await;
    // The zombie's records are in the log, but only the successor's commit.
    let everything = positions(
        &w.outcomes("success", Isolation::Uncommitted, 3 * MINUTE)
            .await,
    );
    let committed = positions(
        &w.outcomes("success", Isolation::Committed, 3 * MINUTE)
            .await,
    );
    assert_eq!(committed.len(), 200);
    assert!(written_by_zombie.len() >= 20);
    // (It may have written more: records in flight when it froze, and
    // its aborted transaction written again before it gave up.)
    assert!(
        everything.len() >= committed.len() + written_by_zombie.len(),
        "every record the zombie wrote is in the log ({} of them, {} in all), and none of it committed",
        written_by_zombie.len(),
        everything.len()
    );
}

/// A connector with exactly-once on, started against a private broker with
/// `properties` (and `prepare` run on it first) holding one record, that
/// must refuse to start: exit 1, before its consumer joined the group (so
/// nothing was invoked). Its name and log.
async fn refused_start(
    prefix: &str,
    properties: &[&str],
    prepare: impl FnOnce(&Services),
) -> (String, String) {
    let topic = unique(prefix);
    let broker = PrivateBroker::start_with(&[(&topic, 1)], properties).await;
    let s = Services {
        bootstrap: broker.bootstrap(),
        ..Services::from_env()
    };
    prepare(&s);
    s.produce(&topic, &[Produce::text(0, "k", r#"{"i":0}"#)])
        .await
        .unwrap();
    let function = unique(&format!("{prefix}-fn"));
    s.deploy_test_function(&function, 30, &[]).await.unwrap();
    let name = unique(&format!("{prefix}-sink"));
    let config = s.connector_config(
        &name,
        &topic,
        &function,
        &[("reporter.exactly.once", "true")],
    );
    let mut c = Connector::start(Path::new(BIN), &config, &[]).unwrap();
    let code = c.wait(2 * MINUTE).await;
    let log = c.log();
    assert_eq!(code, Some(1), "{log}");
    assert!(!log.contains("partitions assigned"), "{log}");
    (name, log)
}

#[tokio::test]
async fn a_cluster_without_transactions_stops_the_start_with_advice() {
    // The transaction state log cannot be created on one broker with three
    // replicas: no transaction coordinator ever becomes available.
    let (_, log) = refused_start(
        "eos-none",
        &["transaction.state.log.replication.factor=3"],
        |_| {},
    )
    .await;
    assert!(
        log.contains("cannot initialise transactions")
            && log.contains("transaction.state.log.replication.factor")
            && log.contains("reporter.exactly.once=false"),
        "{log}"
    );
}

#[tokio::test]
async fn transactional_ids_denied_by_acls_stop_the_start_with_the_grant_to_add() {
    // Kafka's own authorizer, allowing what no ACL names, and one ACL
    // denying lambda-sink's transactional ids to the (PLAINTEXT) principal.
    let deny = |s: &Services| {
        let python = std::env::var("LAMBDA_SINK_PYTHON")
            .expect("LAMBDA_SINK_PYTHON (set by scripts/services.sh env) names the venv's python");
        let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/tools/kafka_tool.py");
        let denied = std::process::Command::new(python)
            .arg(tool)
            .args(["deny-transactional-ids", "lambda-sink-", "User:ANONYMOUS"])
            .env("KAFKA_BOOTSTRAP", &s.bootstrap)
            .output()
            .unwrap();
        assert!(denied.status.success(), "{denied:?}");
    };
    let (name, log) = refused_start(
        "eos-acl",
        &[
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=true",
        ],
        deny,
    )
    .await;
    assert!(
        log.contains(&format!(
            "not authorized to use transactional id lambda-sink-{name}-0-"
        )) && log.contains(&format!("--transactional-id lambda-sink-{name}-"))
            && log.contains(
                "--allow-principal User:<principal> --operation Write --operation Describe"
            ),
        "{log}"
    );
}
