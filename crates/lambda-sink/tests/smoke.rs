//! Smoke tests: each real service the scripts start answers as the other
//! tests assume. Run `scripts/services.sh start` first (scripts/test.sh does).

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use lambda_sink_testkit::{Services, unique, wait_until};
use serde_json::{Value, json};

#[tokio::test]
async fn broker_answers_metadata_for_a_new_topic() {
    let s = Services::from_env();
    let topic = unique("smoke");
    s.create_topic(&topic, 3).await.expect("create topic");
    let raw = lambda_sink_core::config::RawConfig::from_pairs([
        ("name", "smoke"),
        ("topics", topic.as_str()),
        ("kafka.bootstrap.servers", s.bootstrap.as_str()),
        ("aws.lambda.function.name", "f"),
    ]);
    let config = lambda_sink_core::config::validate(&raw, &|_| None)
        .config
        .expect("valid");
    // Through lambda-sink's own adapter, against the real broker.
    let cluster = lambda_sink::kafka::fetch_cluster(&config.kafka, Duration::from_secs(10))
        .await
        .expect("metadata");
    assert!(cluster.brokers >= 1);
    assert_eq!(cluster.topics.get(&topic), Some(&3));
}

#[tokio::test]
async fn lambda_emulator_runs_the_test_function() {
    let s = Services::from_env();
    let function = unique("smoke-fn");
    s.deploy_test_function(&function, 10, &[])
        .await
        .expect("deploy");
    let client = s.lambda().await;
    let batch = json!([
        {"payload": {"timestamp": 1, "topic": "t", "partition": 0, "offset": 7, "key": null, "value": {"a": 1, "b": 1}}},
        {"payload": {"timestamp": 2, "topic": "t", "partition": 0, "offset": 8, "key": null, "value": "hello"}}
    ]);
    let out = client
        .invoke()
        .function_name(&function)
        .payload(Blob::new(batch.to_string()))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    let body: Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json");
    assert_eq!(
        body,
        json!([
            {"payload": {"timestamp": 1, "offset": 7, "partition": 0, "topic": "t", "result": {"sum": 2}}},
            {"payload": {"timestamp": 2, "offset": 8, "partition": 0, "topic": "t", "result": {"echo": "hello"}}}
        ])
    );

    let failed = client
        .invoke()
        .function_name(&function)
        .payload(Blob::new(
            json!([{"payload": {"offset": 9, "value": {"fail": true}}}]).to_string(),
        ))
        .send()
        .await
        .expect("invoke");
    assert_eq!(failed.status_code(), 200);
    assert_eq!(failed.function_error(), Some("Unhandled"));

    // The function logged one line per record, readable through CloudWatch Logs.
    let records = wait_until(Duration::from_secs(10), "3 logged records", || async {
        let r = s.function_records(&function).await.ok()?;
        (r.len() == 3).then_some(r)
    })
    .await;
    let offsets: Vec<i64> = records
        .iter()
        .filter_map(|r| r["offset"].as_i64())
        .collect();
    assert_eq!(offsets, [7, 8, 9]);
}

#[tokio::test]
async fn registry_serves_what_confluents_serializer_registered() {
    let s = Services::from_env();
    let subject_topic = unique("smoke-avro");
    // Confluent's own Avro serializer registers the schema and writes the
    // wire format; the registry must satisfy it.
    let python = std::env::var("LAMBDA_SINK_PYTHON")
        .expect("LAMBDA_SINK_PYTHON (set by scripts/services.sh env) names the venv's python");
    let script = r#"
import sys
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import SerializationContext, MessageField
url, topic = sys.argv[1], sys.argv[2]
schema = '{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}'
ser = AvroSerializer(SchemaRegistryClient({"url": url}), schema)
data = ser({"name": "Kimberley Human"}, SerializationContext(topic, MessageField.VALUE))
sys.stdout.write(data.hex())
"#;
    // Bounded: a registry that stops answering fails the test with the
    // reason instead of holding the suite forever (seen once: the registry
    // took the registration's request and never answered it).
    let run = tokio::process::Command::new(python)
        .args(["-c", script, &s.registry_url, &subject_topic])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the registry answered Confluent's serializer within 60 s")
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = hex(&String::from_utf8(out.stdout).expect("utf8"));
    assert_eq!(bytes[0], 0, "magic byte");
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);

    let http = reqwest::Client::new();
    let by_id: Value = http
        .get(format!("{}/schemas/ids/{id}", s.registry_url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        by_id["schema"]
            .as_str()
            .expect("schema")
            .contains("\"User\"")
    );
    let latest: Value = http
        .get(format!(
            "{}/subjects/{subject_topic}-value/versions/latest",
            s.registry_url
        ))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(latest["id"], id);
    assert_eq!(latest["version"], 1);
    let missing = http
        .get(format!("{}/schemas/ids/999999", s.registry_url))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The broker serves transactions as exactly-once result topics will use
/// them: a transactional producer writes records and the consumer offsets
/// they resolve in one transaction (`send_offsets_to_transaction` with the
/// group's metadata); a committed transaction is visible to a
/// `read_committed` reader and moves the group's offsets, an aborted one is
/// neither. An independent rdkafka client, not lambda-sink's adapters.
#[tokio::test]
async fn the_broker_commits_and_aborts_transactions_with_consumer_offsets() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    use rdkafka::{Offset, TopicPartitionList};

    let s = Services::from_env();
    let (input, output, group) = (unique("txn-in"), unique("txn-out"), unique("txn-group"));
    s.create_topic(&input, 1).await.unwrap();
    s.create_topic(&output, 1).await.unwrap();
    let t = Duration::from_secs(30);
    let (s2, input2, output2, group2) = (s.clone(), input.clone(), output.clone(), group.clone());
    tokio::task::spawn_blocking(move || {
        // The group whose offsets the transactions commit.
        let consumer: BaseConsumer = s2
            .kafka_config()
            .set("group.id", &group2)
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(&input2, 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&assignment).unwrap();
        let producer: ThreadedProducer<DefaultProducerContext> = s2
            .kafka_config()
            .set("transactional.id", unique("txn-id"))
            .create()
            .unwrap();
        producer.init_transactions(t).unwrap();
        let offsets = |next: i64| {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&input2, 0, Offset::Offset(next))
                .unwrap();
            tpl
        };
        let group_metadata = consumer.group_metadata().unwrap();
        for (payload, next, commit) in [("committed", 10, true), ("aborted", 20, false)] {
            producer.begin_transaction().unwrap();
            for _ in 0..3 {
                producer
                    .send(BaseRecord::<(), str>::to(&output2).payload(payload))
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
            producer
                .send_offsets_to_transaction(&offsets(next), &group_metadata, t)
                .unwrap();
            if commit {
                producer.commit_transaction(t).unwrap();
            } else {
                producer.abort_transaction(t).unwrap();
            }
        }
    })
    .await
    .unwrap();

    let read = |isolation: &'static str, expected: usize| {
        let (s, output) = (s.clone(), output.clone());
        tokio::task::spawn_blocking(move || {
            let reader: BaseConsumer = s
                .kafka_config()
                .set("group.id", unique("txn-reader"))
                .set("isolation.level", isolation)
                .set("enable.auto.commit", "false")
                .create()
                .unwrap();
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&output, 0, Offset::Beginning)
                .unwrap();
            reader.assign(&tpl).unwrap();
            let mut payloads = Vec::new();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            // Past the aborted transaction's end: its control record is the
            // last offset, so the reader has seen everything once its
            // position reaches the end.
            let (_, end) = reader
                .fetch_watermarks(&output, 0, Duration::from_secs(10))
                .unwrap();
            while std::time::Instant::now() < deadline {
                if let Some(m) = reader.poll(Duration::from_millis(200)) {
                    let m = m.unwrap();
                    use rdkafka::Message;
                    payloads.push(String::from_utf8_lossy(m.payload().unwrap()).into_owned());
                }
                let at_end = reader
                    .position()
                    .unwrap()
                    .find_partition(&output, 0)
                    .and_then(|e| e.offset().to_raw())
                    .is_some_and(|p| p >= end);
                if at_end && payloads.len() >= expected {
                    break;
                }
            }
            payloads
        })
    };
    let committed_only = read("read_committed", 3).await.unwrap();
    assert_eq!(committed_only, vec!["committed"; 3], "read_committed");
    let everything = read("read_uncommitted", 6).await.unwrap();
    assert_eq!(
        everything,
        [vec!["committed"; 3], vec!["aborted"; 3]].concat(),
        "the aborted records were written, then aborted"
    );
    assert_eq!(
        s.committed(&group, &input, 1).await.unwrap(),
        vec![10],
        "only the committed transaction moved the group's offset"
    );
}
