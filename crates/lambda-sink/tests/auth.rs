//! Kafka authentication end to end, against the real broker's SASL_SSL
//! listener (PLAIN as Confluent Cloud's API keys, and SCRAM-SHA-512) and its
//! mutual-TLS listener: the pipeline runs through each, and wrong credentials
//! or certificates fail at start with a message that names the property to
//! fix and never the secret.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lambda_sink_testkit::kafka::Produce;
use lambda_sink_testkit::unique;
use lambda_sink_testkit::world;
use lambda_sink_testkit::world::World;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_lambda-sink");
const MINUTE: Duration = Duration::from_secs(60);
const RECORDS: usize = 6;

/// A test's world with records (written through the plaintext listener),
/// and a directory for the config files `validate` reads.
struct Auth {
    w: World,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Auth {
    type Target = World;
    fn deref(&self) -> &World {
        &self.w
    }
}

impl Auth {
    async fn new(prefix: &str) -> Self {
        let w = world!(prefix).function_timeout(10).create().await;
        let records: Vec<Produce> = (0..RECORDS)
            .map(|i| {
                Produce::text(
                    i32::try_from(i % 2).unwrap(),
                    "k",
                    &json!({ "i": i }).to_string(),
                )
            })
            .collect();
        w.s.produce(&w.topic, &records).await.unwrap();
        Self {
            w,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A connector config reaching Kafka at `bootstrap` with `auth`.
    fn config(&self, name: &str, bootstrap: &str, auth: &[(&str, &str)]) -> Value {
        let mut c = self
            .s
            .connector_config(name, &self.topic, &self.function, auth);
        c["kafka.bootstrap.servers"] = json!(bootstrap);
        c
    }

    fn write(&self, config: &Value) -> PathBuf {
        let path = self.dir.path().join(format!("{}.json", unique("c")));
        std::fs::write(&path, config.to_string()).unwrap();
        path
    }

    /// `lambda-sink validate`: exit code and output.
    fn validate(&self, config: &Value) -> (Option<i32>, String) {
        let out = Command::new(BIN)
            .args(["validate", "--config"])
            .arg(self.write(config))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Validates `config`, runs it until every record is committed, and
    /// checks that each record's result reached the success topic.
    async fn runs(&self, name: &str, config: &Value) {
        let (code, text) = self.validate(config);
        assert_eq!(code, Some(0), "{text}");
        assert!(
            text.contains(&format!(
                "ok: topic \"{}\" exists (2 partitions)",
                self.topic
            )),
            "{text}"
        );
        let mut c = self.start_with(config);
        self.s
            .wait_committed_to_end(&format!("connect-{name}"), &self.topic, 2, MINUTE)
            .await;
        c.stop_cleanly().await;
        let results = self
            .s
            .read_topic(&format!("success-{name}"), RECORDS, MINUTE)
            .await
            .unwrap();
        assert_eq!(results.len(), RECORDS, "one result per record");
    }

    /// `config` is refused at start: `validate` exits 2 and `run` exits 1,
    /// both naming `property` (with `message`), neither printing `secret`.
    async fn refused(&self, config: &Value, property: &str, message: &str, secret: &str) {
        let (code, text) = self.validate(config);
        assert_eq!(code, Some(2), "{text}");
        let expected = format!("error: {property}: {message}");
        assert!(text.contains(&expected), "{expected:?} in:\n{text}");
        assert!(!text.contains(secret), "the secret leaked:\n{text}");
        let mut c = self.start_with(config);
        assert_eq!(c.wait(MINUTE).await, Some(1), "{}", c.log());
        let log = c.log();
        assert!(
            log.contains(&format!("error: {property}: {message}")),
            "{log}"
        );
        assert!(!log.contains(secret), "the secret leaked:\n{log}");
    }
}

#[tokio::test]
async fn kafka_api_key_over_sasl_ssl_runs_the_pipeline() {
    let w = Auth::new("auth-key").await;
    let tls = &w.s.secure;
    let name = unique("auth-key-sink");
    let config = w.config(
        &name,
        &tls.sasl_ssl_bootstrap,
        &[
            ("kafka.auth.mode", "KAFKA_API_KEY"),
            ("kafka.api.key", &tls.api_key),
            ("kafka.api.secret", &tls.api_secret),
            ("kafka.ssl.ca.location", &tls.tls_file("ca.pem")),
        ],
    );
    w.runs(&name, &config).await;
}

#[tokio::test]
async fn a_wrong_api_secret_fails_at_start_naming_the_property() {
    let w = Auth::new("auth-badkey").await;
    let tls = &w.s.secure;
    let wrong = "not-the-secret-5e2b";
    let config = w.config(
        &unique("auth-badkey-sink"),
        &tls.sasl_ssl_bootstrap,
        &[
            ("kafka.auth.mode", "KAFKA_API_KEY"),
            ("kafka.api.key", &tls.api_key),
            ("kafka.api.secret", wrong),
            ("kafka.ssl.ca.location", &tls.tls_file("ca.pem")),
        ],
    );
    w.refused(
        &config,
        "kafka.api.secret",
        "Kafka refused the credentials (",
        wrong,
    )
    .await;
}

#[tokio::test]
async fn sasl_scram_through_kafka_properties_runs_and_a_wrong_password_is_named() {
    let w = Auth::new("auth-scram").await;
    let tls = &w.s.secure;
    let ca = tls.tls_file("ca.pem");
    let scram = |name: &str, password: &str| {
        w.config(
            name,
            &tls.sasl_ssl_bootstrap,
            &[
                ("kafka.security.protocol", "SASL_SSL"),
                ("kafka.sasl.mechanism", "SCRAM-SHA-512"),
                ("kafka.sasl.username", &tls.scram_user),
                ("kafka.sasl.password", password),
                ("kafka.ssl.ca.location", &ca),
            ],
        )
    };
    let name = unique("auth-scram-sink");
    w.runs(&name, &scram(&name, &tls.scram_password)).await;
    let wrong = "not-the-password-77a1";
    w.refused(
        &scram(&unique("auth-scram-bad"), wrong),
        "kafka.sasl.password",
        "Kafka refused the credentials (",
        wrong,
    )
    .await;
}

#[tokio::test]
async fn mutual_tls_through_kafka_properties_runs_and_a_missing_certificate_is_named() {
    let w = Auth::new("auth-mtls").await;
    let tls = &w.s.secure;
    let (ca, cert, key) = (
        tls.tls_file("ca.pem"),
        tls.tls_file("client.pem"),
        tls.tls_file("client.key"),
    );
    let name = unique("auth-mtls-sink");
    let config = w.config(
        &name,
        &tls.mtls_bootstrap,
        &[
            ("kafka.security.protocol", "SSL"),
            ("kafka.ssl.ca.location", &ca),
            ("kafka.ssl.certificate.location", &cert),
            ("kafka.ssl.key.location", &key),
        ],
    );
    w.runs(&name, &config).await;
    // Without a client certificate the broker ends the handshake.
    let config = w.config(
        &unique("auth-mtls-nocert"),
        &tls.mtls_bootstrap,
        &[
            ("kafka.security.protocol", "SSL"),
            ("kafka.ssl.ca.location", &ca),
        ],
    );
    w.refused(
        &config,
        "kafka.ssl.certificate.location",
        "the broker refused this client's TLS certificate (",
        "BEGIN PRIVATE KEY",
    )
    .await;
    // Without the test CA the broker's certificate is not trusted.
    let config = w.config(
        &unique("auth-mtls-noca"),
        &tls.mtls_bootstrap,
        &[
            ("kafka.security.protocol", "SSL"),
            ("kafka.ssl.certificate.location", &cert),
            ("kafka.ssl.key.location", &key),
        ],
    );
    w.refused(
        &config,
        "kafka.ssl.ca.location",
        "the TLS handshake with Kafka failed (",
        "BEGIN PRIVATE KEY",
    )
    .await;
}
