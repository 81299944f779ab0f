//! The worker's own configuration (`lambda-sink serve --config F`): the
//! cluster id, the config and status topics, the REST listener and its
//! security, and connector defaults.
//!
//! Keys are Kafka Connect's where Connect has one (`group.id`,
//! `config.storage.topic`, `listeners`, `rest.advertised.host.name`, ...).
//! Every other key must be a connector property: it is a default under
//! every hosted connector's own configuration (typically the Kafka
//! connection, the Schema Registry and AWS credentials), so connector
//! configs submitted through the API need not repeat them. The stored
//! configs stay exactly as submitted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use lambda_sink_core::Problem;
use lambda_sink_core::config::properties::{self, Key};
use lambda_sink_core::config::{KafkaConfig, RawConfig, Resolver, Secret};

/// How REST requests must authenticate.
#[derive(Clone, Debug)]
pub enum Auth {
    /// HTTP basic auth with this user and password.
    Basic {
        /// User name.
        user: String,
        /// Password.
        password: Secret<String>,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(Secret<String>),
}

/// A certificate chain and its private key (PEM files) for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// A validated worker configuration.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// `group.id`: names this cluster of workers.
    pub group_id: String,
    /// `config.storage.topic`.
    pub config_topic: String,
    /// `status.storage.topic`.
    pub status_topic: String,
    /// `config.storage.replication.factor` / `status.storage.replication.factor`
    /// (-1: the broker's default).
    pub replication: (i32, i32),
    /// `listeners`.
    pub listener: SocketAddr,
    /// HTTPS when `listeners` is `https://...`.
    pub tls: Option<TlsFiles>,
    /// `rest.advertised.host.name` (default: the listener's host).
    pub advertised_host: Option<String>,
    /// `rest.advertised.port` (default: the bound port).
    pub advertised_port: Option<u16>,
    /// `rest.auth.*`.
    pub auth: Option<Auth>,
    /// `rest.request.max.bytes`.
    pub max_body: usize,
    /// `status.heartbeat.interval.ms`.
    pub heartbeat: Duration,
    /// The worker's own Kafka connection (from the defaults).
    pub kafka: KafkaConfig,
    /// Connector defaults, as written.
    pub defaults: Vec<(String, String)>,
}

/// Worker keys, with their defaults and meanings (for errors and docs).
pub const WORKER_KEYS: &[(&str, &str, &str)] = &[
    (
        "group.id",
        "lambda-sink",
        "Names the cluster: workers with the same group.id and topics host the same connectors.",
    ),
    (
        "config.storage.topic",
        "<group.id>-configs",
        "Single-partition compacted topic holding connector configs and target states.",
    ),
    (
        "config.storage.replication.factor",
        "-1",
        "Replication factor of the config topic when created (-1: the broker's default).",
    ),
    (
        "status.storage.topic",
        "<group.id>-status",
        "Compacted topic holding each worker's connector and task states.",
    ),
    (
        "status.storage.replication.factor",
        "-1",
        "Replication factor of the status topic when created.",
    ),
    (
        "offset.storage.topic",
        "unused",
        "Accepted for Connect compatibility; a sink's offsets are its consumer group's committed offsets.",
    ),
    (
        "listeners",
        "http://127.0.0.1:8083",
        "The REST listener: http://host:port or https://host:port (port 0: any free port).",
    ),
    (
        "rest.advertised.host.name",
        "the listener's host",
        "Host other tools see in worker_id.",
    ),
    (
        "rest.advertised.port",
        "the bound port",
        "Port other tools see in worker_id.",
    ),
    (
        "rest.auth.basic.user",
        "none",
        "Require HTTP basic auth with this user (and rest.auth.basic.password).",
    ),
    (
        "rest.auth.basic.password",
        "none",
        "Basic auth password; use ${env:NAME} or ${file:path:key}.",
    ),
    (
        "rest.auth.token",
        "none",
        "Require Authorization: Bearer <token>; use ${env:NAME} or ${file:path:key}.",
    ),
    (
        "rest.tls.cert.file",
        "none",
        "PEM certificate chain for an https:// listener.",
    ),
    (
        "rest.tls.key.file",
        "none",
        "PEM private key for an https:// listener.",
    ),
    (
        "rest.request.max.bytes",
        "1048576",
        "Largest request body accepted (413 above).",
    ),
    (
        "status.heartbeat.interval.ms",
        "5000",
        "How often a worker rewrites its status record; a worker silent for 3 intervals is gone.",
    ),
];

fn is_worker_key(key: &str) -> bool {
    WORKER_KEYS.iter().any(|(k, _, _)| *k == key)
}

/// Parses the worker configuration; every problem is reported at once.
///
/// # Errors
/// The problems, each naming its key.
pub fn parse(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WorkerConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut worker: Vec<(String, String)> = Vec::new();
    let mut defaults: Vec<(String, String)> = Vec::new();
    for e in &raw.entries {
        let key = e.key.trim().to_string();
        let Some(value) = e.value.clone() else {
            continue;
        };
        let target = if is_worker_key(&key) {
            &mut worker
        } else {
            &mut defaults
        };
        target.retain(|(k, _)| *k != key);
        target.push((key, value));
    }
    let mut unknown = Vec::new();
    for (key, _) in &defaults {
        match properties::classify(properties::canonical_name(key).unwrap_or(key)) {
            Key::Property(p) if p.name == "http.listener" => problems.push(Problem::new(
                key,
                "is a `lambda-sink run` setting; under serve the worker's `listeners` serves every connector",
            )),
            Key::Property(_) | Key::PassThrough(..) => {}
            _ => {
                unknown.push(key.clone());
                problems.push(Problem::new(
                    key,
                    "is neither a worker property nor a connector property; worker properties are: "
                        .to_string()
                        + &WORKER_KEYS
                            .iter()
                            .map(|(k, _, _)| *k)
                            .collect::<Vec<_>>()
                            .join(", "),
                ));
            }
        }
    }
    let mut resolver = Resolver::new(env);
    let mut get = |key: &str| -> Option<String> {
        let value = worker
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())?;
        match resolver.resolve(&value) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(Problem::new(key, e));
                None
            }
        }
    };
    let group_id = get("group.id").unwrap_or_else(|| "lambda-sink".into());
    let config_topic = get("config.storage.topic").unwrap_or_else(|| format!("{group_id}-configs"));
    let status_topic = get("status.storage.topic").unwrap_or_else(|| format!("{group_id}-status"));
    let listeners = get("listeners").unwrap_or_else(|| "http://127.0.0.1:8083".into());
    let cert = get("rest.tls.cert.file");
    let key = get("rest.tls.key.file");
    let user = get("rest.auth.basic.user");
    let password = get("rest.auth.basic.password");
    let token = get("rest.auth.token");
    let advertised_host = get("rest.advertised.host.name");
    let advertised_port = get("rest.advertised.port");
    let replication = (
        get("config.storage.replication.factor"),
        get("status.storage.replication.factor"),
    );
    let max_body = get("rest.request.max.bytes");
    let heartbeat = get("status.heartbeat.interval.ms");

    let mut number = |key: &str, text: Option<String>, min: i64, max: i64, default: i64| {
        let Some(text) = text else { return default };
        match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                problems.push(Problem::new(
                    key,
                    format!("{text:?} is not a whole number in [{min},...,{max}]"),
                ));
                default
            }
        }
    };
    let replication = (
        number(
            "config.storage.replication.factor",
            replication.0,
            -1,
            32767,
            -1,
        ),
        number(
            "status.storage.replication.factor",
            replication.1,
            -1,
            32767,
            -1,
        ),
    );
    let max_body = number("rest.request.max.bytes", max_body, 1024, 64 << 20, 1 << 20);
    let heartbeat = number(
        "status.heartbeat.interval.ms",
        heartbeat,
        100,
        600_000,
        5000,
    );
    let advertised_port =
        advertised_port.map(|p| number("rest.advertised.port", Some(p), 1, 65535, 8083));

    let (https, address) = match listeners.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        Some((scheme, _)) => {
            problems.push(Problem::new(
                "listeners",
                format!("scheme {scheme:?} is not http or https"),
            ));
            (false, "127.0.0.1:8083")
        }
        None => (false, listeners.as_str()),
    };
    let listener = match address.trim_end_matches('/').parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => {
            problems.push(Problem::new(
                "listeners",
                format!("{listeners:?} is not http://IP:port or https://IP:port (e.g. http://127.0.0.1:8083)"),
            ));
            SocketAddr::from(([127, 0, 0, 1], 8083))
        }
    };
    let tls = match (https, cert, key) {
        (true, Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }),
        (true, _, _) => {
            problems.push(Problem::new(
                "listeners",
                "is https:// but rest.tls.cert.file and rest.tls.key.file are not both set",
            ));
            None
        }
        (false, None, None) => None,
        (false, _, _) => {
            problems.push(Problem::new(
                "rest.tls.cert.file",
                "is set but listeners is not https://; use https://host:port or remove the TLS files",
            ));
            None
        }
    };
    let auth = match (user, password, token) {
        (None, None, None) => None,
        (Some(user), Some(password), None) if !user.is_empty() && !password.is_empty() => {
            Some(Auth::Basic {
                user,
                password: Secret::new(password),
            })
        }
        (None, None, Some(token)) if !token.is_empty() => Some(Auth::Bearer(Secret::new(token))),
        (_, _, Some(_)) => {
            problems.push(Problem::new(
                "rest.auth.token",
                "cannot be combined with rest.auth.basic.*; choose one (and none may be empty)",
            ));
            None
        }
        _ => {
            problems.push(Problem::new(
                "rest.auth.basic.user",
                "rest.auth.basic.user and rest.auth.basic.password must both be set and non-empty",
            ));
            None
        }
    };
    let kafka_raw = RawConfig::from_pairs(
        defaults
            .iter()
            .filter(|(k, _)| !unknown.contains(k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let kafka = match lambda_sink_core::config::validate_kafka(&kafka_raw, env) {
        Ok(k) if !k.bootstrap_servers.is_empty() => Some(k),
        Ok(_) => None,
        Err(e) => {
            problems.extend(e);
            None
        }
    };
    if kafka.is_none()
        && !problems
            .iter()
            .any(|p| p.property == "kafka.bootstrap.servers")
    {
        problems.push(Problem::new(
            "kafka.bootstrap.servers",
            "is required: the worker's Kafka cluster, also the default of every connector",
        ));
    }
    match kafka {
        Some(kafka) if problems.is_empty() => Ok(WorkerConfig {
            group_id,
            config_topic,
            status_topic,
            replication: (
                i32::try_from(replication.0).unwrap_or(-1),
                i32::try_from(replication.1).unwrap_or(-1),
            ),
            listener,
            tls,
            advertised_host,
            advertised_port: advertised_port.and_then(|p| u16::try_from(p).ok()),
            auth,
            max_body: usize::try_from(max_body).unwrap_or(1 << 20),
            heartbeat: Duration::from_millis(heartbeat.unsigned_abs()),
            kafka,
            defaults,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<WorkerConfig, Vec<Problem>> {
        parse(&RawConfig::from_pairs(pairs.iter().copied()), &|name| {
            (name == "TOKEN").then(|| "t0k3n".to_string())
        })
    }

    #[test]
    fn defaults_and_connector_defaults() {
        let w = parse_pairs(&[
            ("kafka.bootstrap.servers", "localhost:9092"),
            ("aws.lambda.region", "eu-west-1"),
        ])
        .expect("valid");
        assert_eq!(w.group_id, "lambda-sink");
        assert_eq!(w.config_topic, "lambda-sink-configs");
        assert_eq!(w.status_topic, "lambda-sink-status");
        assert_eq!(w.listener.to_string(), "127.0.0.1:8083");
        assert!(w.auth.is_none() && w.tls.is_none());
        assert_eq!(w.defaults.len(), 2);
        assert_eq!(w.kafka.bootstrap_servers, ["localhost:9092"]);
    }

    #[test]
    fn every_problem_at_once() {
        let problems = parse_pairs(&[
            ("listeners", "ftp://x"),
            ("rest.auth.basic.user", "admin"),
            ("no.such.thing", "1"),
            ("http.listener", "127.0.0.1:0"),
            ("rest.request.max.bytes", "12"),
        ])
        .expect_err("invalid");
        let keys: Vec<&str> = problems.iter().map(|p| p.property.as_str()).collect();
        for k in [
            "listeners",
            "rest.auth.basic.user",
            "no.such.thing",
            "http.listener",
            "rest.request.max.bytes",
            "kafka.bootstrap.servers",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn bearer_token_from_a_reference() {
        let w = parse_pairs(&[
            ("kafka.bootstrap.servers", "localhost:9092"),
            ("rest.auth.token", "${env:TOKEN}"),
            ("listeners", "http://0.0.0.0:0"),
            ("group.id", "blue"),
        ])
        .expect("valid");
        match w.auth {
            Some(Auth::Bearer(t)) => assert_eq!(t.expose(), "t0k3n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.config_topic, "blue-configs");
    }
}
