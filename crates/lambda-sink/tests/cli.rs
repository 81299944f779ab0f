//! The `lambda-sink` binary's commands, run as a user runs them: exit codes,
//! every problem listed, secrets never printed, live checks against the real
//! broker and Lambda emulator.

use std::path::Path;
use std::process::{Command, Output};

use lambda_sink_testkit::{Services, unique};

fn lambda_sink(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lambda-sink"))
        .args(args)
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .output()
        .expect("run lambda-sink")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write config");
    path.display().to_string()
}

const EXAMPLE: &str = include_str!("../../../examples/confluent-cloud-example.json");

#[test]
fn confluent_example_with_bootstrap_and_region_validates_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extended = EXAMPLE.trim_end().trim_end_matches('}').to_string()
        + ",\n  \"kafka.bootstrap.servers\": \"pkc-1.us-east-1.aws.confluent.cloud:9092\",\n  \"aws.lambda.region\": \"us-east-1\"\n}\n";
    let path = write(dir.path(), "example.json", &extended);
    let out = lambda_sink(&["validate", "--offline", "--config", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 warning: the configuration is valid"),
        "{}",
        text(&out)
    );
}

#[test]
fn typo_long_name_and_bad_enum_exit_2_listing_all_three() {
    let dir = tempfile::tempdir().expect("tempdir");
    let name = "n".repeat(65);
    let path = write(
        dir.path(),
        "bad.properties",
        &format!(
            "name={name}\ntopics=users\nkafka.bootstrap.servers=127.0.0.1:9092\n\
             aws.lambda.function.name=f\naws.lambda.region=us-east-1\n\
             aws.lambda.batchsize=10\naws.lambda.invocation.type=sometimes\n"
        ),
    );
    let out = lambda_sink(&["validate", "--offline", "--config", &path]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "error: aws.lambda.batchsize: unknown property; did you mean \"aws.lambda.batch.size\"?\n\
             error: aws.lambda.invocation.type: \"sometimes\" is not a valid value; valid values: sync, async\n\
             error: name: \"{name}\" has 65 characters; a name has 1 to 64 characters\n\
             3 errors: the configuration is not valid\n"
        )
    );
}

#[test]
fn unreadable_and_malformed_files_exit_2() {
    let out = lambda_sink(&["validate", "--offline", "--config", "/nonexistent/c.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error: cannot read /nonexistent/c.json: "),
        "{}",
        text(&out)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), "c.json", "{\"name\": ");
    let out = lambda_sink(&["run", "--config", &path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("is not valid JSON"), "{}", text(&out));
}

#[test]
fn no_region_anywhere_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(
        dir.path(),
        "c.json",
        r#"{"name": "s", "topics": "t", "kafka.bootstrap.servers": "127.0.0.1:9092", "aws.lambda.function.name": "f"}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-sink"))
        .args(["validate", "--offline", "--config", &path])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", dir.path().join("no-such-aws-config"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("error: aws.lambda.region: no AWS region found"),
        "{}",
        text(&out)
    );
}

#[test]
fn secrets_never_appear_in_validate_or_describe_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = [
        "kafka-secret-4f1c",
        "aws-secret-9a2b",
        "aws-session-77de",
        "registry-pass-31aa",
        "proxy-pass-c0fe",
        "sasl-pass-be11",
    ];
    // Every secret twice with different values (an error that quotes values),
    // plus an invalid pass-through secret librdkafka rejects.
    let mut props = String::from(
        "name=s\ntopics=t\nkafka.bootstrap.servers=127.0.0.1:9092\naws.lambda.function.name=f\n\
         aws.lambda.region=us-east-1\nkafka.api.key=K\naws.access.key.id=AKIA\n\
         input.data.format=AVRO\nschema.registry.url=http://r:8081\naws.lambda.proxy.url=http://p:3128\n",
    );
    for (key, secret) in [
        ("kafka.api.secret", secrets[0]),
        ("aws.secret.access.key", secrets[1]),
        ("aws.session.token", secrets[2]),
        ("schema.registry.basic.auth.user.info", secrets[3]),
        ("aws.lambda.proxy.password", secrets[4]),
        ("kafka.sasl.oauthbearer.client.secret", secrets[5]),
    ] {
        props.push_str(&format!("{key}={secret}\n{key}={secret}-other\n"));
    }
    let path = write(dir.path(), "secrets.properties", &props);
    let validate = lambda_sink(&["validate", "--offline", "--config", &path]);
    assert_eq!(validate.status.code(), Some(2), "{}", text(&validate));
    let run = lambda_sink(&["run", "--config", &path]);
    let describe = lambda_sink(&["plugin", "describe"]);
    let describe_json = lambda_sink(&["plugin", "describe", "--output", "json"]);
    for out in [&validate, &run, &describe, &describe_json] {
        let all = text(out);
        for s in secrets {
            assert!(!all.contains(s), "secret {s} printed:\n{all}");
        }
    }
    assert!(text(&validate).contains(
        "kafka.api.secret: set more than once with different values: ******** and ********"
    ));
}

#[test]
fn plugin_describe_lists_required_then_all_properties() {
    let out = lambda_sink(&["plugin", "describe"]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    let required = t.find("Required configs:").expect("required section");
    assert!(
        t[required..].starts_with("Required configs:\n  name "),
        "{t}"
    );
    assert!(t.contains("\nkafka.bootstrap.servers (ext)\n"));
    assert!(t.contains("Confluent's connector also requires the following; lambda-sink does not:"));
}

#[test]
fn version_and_help() {
    let out = lambda_sink(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("lambda-sink {}\n", env!("CARGO_PKG_VERSION"))
    );
    for args in [
        &["--help"][..],
        &["run", "--help"],
        &["validate", "--help"],
        &["plugin", "describe", "--help"],
    ] {
        let out = lambda_sink(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(text(&out).contains("Usage: lambda-sink"), "{args:?}");
    }
    assert_eq!(
        lambda_sink(&["frobnicate"]).status.code(),
        Some(2),
        "usage errors exit 2"
    );
}

/// A config for the live services, with `extra` lines appended.
fn live_config(dir: &Path, s: &Services, topic: &str, function: &str, extra: &str) -> String {
    write(
        dir,
        "live.properties",
        &format!(
            "name={}\ntopics={topic}\nkafka.bootstrap.servers={}\naws.lambda.function.name={function}\n\
             aws.lambda.region=us-east-1\naws.lambda.endpoint={}\naws.access.key.id=test\n\
             aws.secret.access.key=test\n{extra}",
            unique("validate"),
            s.bootstrap,
            s.lambda_endpoint
        ),
    )
}

#[tokio::test]
async fn live_validate_passes_on_a_correct_config() {
    let s = Services::from_env();
    let (topic, function) = (unique("live"), unique("live-fn"));
    s.create_topic(&topic, 2).await.expect("topic");
    s.deploy_test_function(&function, 10, &[])
        .await
        .expect("function");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = live_config(dir.path(), &s, &topic, &function, "");
    let out = lambda_sink(&["validate", "--config", &path]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains(&format!("ok: topic \"{topic}\" exists (2 partitions)")),
        "{t}"
    );
    assert!(
        t.contains(&format!("ok: function \"{function}\" found in us-east-1")),
        "{t}"
    );
}

#[tokio::test]
async fn live_validate_reports_missing_topic_and_function() {
    let s = Services::from_env();
    let (topic, function) = (unique("absent"), unique("absent-fn"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = live_config(dir.path(), &s, &topic, &function, "");
    let out = lambda_sink(&["validate", "--config", &path]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains(&format!(
        "error: topics: topic \"{topic}\" does not exist on the cluster at {}; create it or fix the name",
        s.bootstrap
    )), "{t}");
    assert!(t.contains(&format!("error: aws.lambda.function.name: function \"{function}\" was not found in us-east-1 (ResourceNotFoundException")), "{t}");
}

#[test]
fn live_validate_reports_an_unreachable_broker() {
    let s = Services::from_env();
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: nothing listens there.
    let path = write(
        dir.path(),
        "c.properties",
        &format!(
            "name=s\ntopics=t\nkafka.bootstrap.servers=127.0.0.1:1\naws.lambda.function.name=f\n\
             aws.lambda.region=us-east-1\naws.lambda.endpoint={}\naws.access.key.id=test\naws.secret.access.key=test\n",
            s.lambda_endpoint
        ),
    );
    let out = lambda_sink(&["validate", "--config", &path]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("error: kafka.bootstrap.servers: cannot reach Kafka at 127.0.0.1:1: "),
        "{t}"
    );
}

#[test]
fn the_kubernetes_example_config_validates() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = repo.join("deploy/kubernetes/connector.json");
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-sink"))
        .args([
            "validate",
            "--offline",
            "--config",
            config.to_str().unwrap(),
        ])
        .env("SCHEMA_REGISTRY_URL", "https://registry.example.com")
        .env("SCHEMA_REGISTRY_USER_INFO", "key:secret")
        .env("KAFKA_BOOTSTRAP_SERVERS", "broker.example.com:9092")
        .env("KAFKA_API_KEY", "key")
        .env("KAFKA_API_SECRET", "secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The manifest embeds the same config.
    let manifest =
        std::fs::read_to_string(repo.join("deploy/kubernetes/lambda-sink.yaml")).unwrap();
    let embedded: serde_json::Value = serde_json::from_str(
        &manifest
            .split("connector.json: |")
            .nth(1)
            .unwrap()
            .split("---")
            .next()
            .unwrap()
            .lines()
            .map(str::trim)
            .collect::<String>(),
    )
    .unwrap();
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(embedded, file);
}

#[test]
fn the_kubernetes_serve_example_parses() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let file = repo.join("deploy/kubernetes/worker.properties");
    let check = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-sink"));
        cmd.args(["serve", "--check", "--config", file.to_str().unwrap()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let env = [
        ("POD_IP", "10.0.0.5"),
        ("REST_PASSWORD", "pw"),
        ("KAFKA_BOOTSTRAP_SERVERS", "broker.example.com:9092"),
        ("KAFKA_API_KEY", "key"),
        ("KAFKA_API_SECRET", "secret"),
        ("SCHEMA_REGISTRY_URL", "https://registry.example.com"),
        ("SCHEMA_REGISTRY_USER_INFO", "key:secret"),
    ];
    let out = check(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("cluster lambda-sink-prod"),
        "{}",
        text(&out)
    );
    // Without its environment it names what is missing, and exits 2.
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("REST_PASSWORD"), "{}", text(&out));
    // The manifest embeds the same file.
    let manifest = std::fs::read_to_string(repo.join("deploy/kubernetes/serve.yaml")).unwrap();
    let embedded: Vec<String> = manifest
        .split("worker.properties: |")
        .nth(1)
        .unwrap()
        .split("---")
        .next()
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(embedded, lines);
}

/// OpenTelemetry settings lambda-sink does not know stop the start with
/// exit 2 and say what to set: a worker file's sampler (`serve --check`
/// reads them too) and the environment's exporter for `run`.
#[test]
fn unknown_opentelemetry_settings_exit_2_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let worker = write(
        dir.path(),
        "worker.properties",
        "kafka.bootstrap.servers=127.0.0.1:9092\notel.exporter.otlp.endpoint=http://127.0.0.1:4317\notel.traces.sampler=sometimes\n",
    );
    let out = lambda_sink(&["serve", "--check", "--config", &worker]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("otel.traces.sampler=sometimes is not one of always_on"),
        "{}",
        text(&out)
    );
    let good = write(
        dir.path(),
        "good.properties",
        "kafka.bootstrap.servers=127.0.0.1:9092\notel.traces.sampler=traceidratio\notel.traces.sampler.arg=0.1\n",
    );
    let out = lambda_sink(&["serve", "--check", "--config", &good]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let connector = write(
        dir.path(),
        "c.json",
        r#"{"name": "c", "topics": "t", "kafka.bootstrap.servers": "127.0.0.1:1",
            "aws.lambda.function.name": "f", "aws.lambda.region": "us-east-1"}"#,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-sink"))
        .args(["run", "--config", &connector])
        .env("OTEL_TRACES_EXPORTER", "zipkin")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("OTEL_TRACES_EXPORTER=zipkin is not supported"),
        "{}",
        text(&out)
    );
}
