//! The configuration of a `lambda-sink serve` worker ([`validate_worker`]):
//! the cluster id, the config and status topics, the REST listener and its
//! security, and connector defaults.
//!
//! Keys are Kafka Connect's where Connect has one (`group.id`,
//! `config.storage.topic`, `listeners`, `rest.advertised.host.name`, ...),
//! described in [`WORKER_PROPERTIES`] like the connector's properties (and
//! listed by `plugin describe`). Every other key must be a connector
//! property: it is a default under every hosted connector's own
//! configuration (typically the Kafka connection, the Schema Registry and
//! AWS credentials), so connector configs submitted through the API need
//! not repeat them. The stored configs stay exactly as submitted. Every
//! problem is reported at once, as for a connector.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::model::KafkaConfig;
use super::properties::{self, DefaultValue, Group, Importance, Key, Kind, Property, Required};
use super::reference::Resolver;
use super::secret::Secret;
use super::source::RawConfig;
use super::validate::validate_kafka;
use crate::Problem;

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
    /// `events.storage.topic`.
    pub events_topic: String,
    /// `events.storage.retention.ms`.
    pub events_retention: Duration,
    /// The `otel.*` properties given (OpenTelemetry's settings, as its
    /// Java autoconfigure names them).
    pub otel: BTreeMap<String, String>,
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
    /// `session.timeout.ms` of the task placement group.
    pub session_timeout: Duration,
    /// The worker's own Kafka connection (from the defaults).
    pub kafka: KafkaConfig,
    /// Connector defaults, as written.
    pub defaults: Vec<(String, String)>,
}

const fn worker(
    name: &'static str,
    kind: Kind,
    default: DefaultValue,
    importance: Importance,
    doc: &'static str,
) -> Property {
    Property {
        name,
        kind,
        default,
        required: Required::No,
        importance,
        group: Group::Worker,
        ext: false,
        doc,
    }
}

const REPLICATION: Kind = Kind::Int {
    min: -1,
    max: 32767,
};

/// The worker's own properties.
pub static WORKER_PROPERTIES: &[Property] = &[
    worker(
        "group.id",
        Kind::String,
        DefaultValue::Value("lambda-sink"),
        Importance::High,
        "Names the cluster: workers with the same group.id and topics host the same connectors.",
    ),
    worker(
        "config.storage.topic",
        Kind::String,
        DefaultValue::Derived("<group.id>-configs"),
        Importance::High,
        "Single-partition compacted topic holding connector configs and target states.",
    ),
    worker(
        "config.storage.replication.factor",
        REPLICATION,
        DefaultValue::Value("-1"),
        Importance::Low,
        "Replication factor of the config topic when created (-1: the broker's default).",
    ),
    worker(
        "status.storage.topic",
        Kind::String,
        DefaultValue::Derived("<group.id>-status"),
        Importance::High,
        "Compacted topic holding each worker's connector and task states.",
    ),
    worker(
        "status.storage.replication.factor",
        REPLICATION,
        DefaultValue::Value("-1"),
        Importance::Low,
        "Replication factor of the status topic when created.",
    ),
    worker(
        "events.storage.topic",
        Kind::String,
        DefaultValue::Derived("<group.id>-events"),
        Importance::Low,
        "Single-partition topic every worker writes its connectors' events to and reads: any worker answers GET /connectors/{name}/events for the whole cluster, and events survive restarts.",
    ),
    worker(
        "events.storage.retention.ms",
        Kind::Int {
            min: 60_000,
            max: i64::MAX,
        },
        DefaultValue::Value("604800000"),
        Importance::Low,
        "How long the events topic keeps events (retention.ms when the worker creates it).",
    ),
    worker(
        "otel.traces.exporter",
        Kind::String,
        DefaultValue::None,
        Importance::Low,
        "As OTEL_TRACES_EXPORTER (the file wins over the environment): otlp exports a span per invocation attempt, none keeps traces off (docs/operations.md, Traces).",
    ),
    worker(
        "otel.exporter.otlp.endpoint",
        Kind::String,
        DefaultValue::None,
        Importance::Low,
        "As OTEL_EXPORTER_OTLP_ENDPOINT: the OTLP/gRPC receiver, e.g. http://127.0.0.1:4317; setting it switches traces on.",
    ),
    worker(
        "otel.service.name",
        Kind::String,
        DefaultValue::Value("lambda-sink"),
        Importance::Low,
        "As OTEL_SERVICE_NAME: the service the spans belong to.",
    ),
    worker(
        "otel.traces.sampler",
        Kind::String,
        DefaultValue::Value("parentbased_always_on"),
        Importance::Low,
        "As OTEL_TRACES_SAMPLER: always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio.",
    ),
    worker(
        "otel.traces.sampler.arg",
        Kind::String,
        DefaultValue::None,
        Importance::Low,
        "As OTEL_TRACES_SAMPLER_ARG: the ratio (0 to 1) of the traceidratio samplers.",
    ),
    worker(
        "offset.storage.topic",
        Kind::String,
        DefaultValue::None,
        Importance::Low,
        "Accepted for Connect compatibility and unused: a sink's offsets are its consumer group's committed offsets.",
    ),
    worker(
        "listeners",
        Kind::String,
        DefaultValue::Value("http://127.0.0.1:8083"),
        Importance::High,
        "The REST listener: http://host:port or https://host:port (port 0: any free port).",
    ),
    worker(
        "rest.advertised.host.name",
        Kind::String,
        DefaultValue::Derived("the listener's host"),
        Importance::Low,
        "Host other tools see in worker_id.",
    ),
    worker(
        "rest.advertised.port",
        Kind::Int { min: 1, max: 65535 },
        DefaultValue::Derived("the bound port"),
        Importance::Low,
        "Port other tools see in worker_id.",
    ),
    worker(
        "rest.auth.basic.user",
        Kind::String,
        DefaultValue::None,
        Importance::High,
        "Require HTTP basic auth with this user (and rest.auth.basic.password).",
    ),
    worker(
        "rest.auth.basic.password",
        Kind::Password,
        DefaultValue::None,
        Importance::High,
        "Basic auth password; use ${env:NAME} or ${file:path:key}.",
    ),
    worker(
        "rest.auth.token",
        Kind::Password,
        DefaultValue::None,
        Importance::High,
        "Require Authorization: Bearer <token>; use ${env:NAME} or ${file:path:key}.",
    ),
    worker(
        "rest.tls.cert.file",
        Kind::String,
        DefaultValue::None,
        Importance::Medium,
        "PEM certificate chain for an https:// listener.",
    ),
    worker(
        "rest.tls.key.file",
        Kind::String,
        DefaultValue::None,
        Importance::Medium,
        "PEM private key for an https:// listener.",
    ),
    worker(
        "rest.request.max.bytes",
        Kind::Int {
            min: 1024,
            max: 64 << 20,
        },
        DefaultValue::Value("1048576"),
        Importance::Low,
        "Largest request body accepted (413 above).",
    ),
    worker(
        "status.heartbeat.interval.ms",
        Kind::Int {
            min: 100,
            max: 600_000,
        },
        DefaultValue::Value("5000"),
        Importance::Low,
        "How often a worker rewrites its status record; a worker silent for 3 intervals is gone.",
    ),
    worker(
        "session.timeout.ms",
        Kind::Int {
            min: 6000,
            max: 1_800_000,
        },
        DefaultValue::Value("10000"),
        Importance::Medium,
        "Session timeout of the workers' task placement group: a worker not heard from for this long loses its tasks to the others. Brokers accept 6 s to 30 min by default (group.min/max.session.timeout.ms).",
    ),
];

fn worker_property(key: &str) -> Option<&'static Property> {
    WORKER_PROPERTIES.iter().find(|p| p.name == key)
}

/// The worker's own entries, resolved (`${env:}`, `${file:}`), with every
/// problem found reading them.
struct Entries<'a> {
    entries: Vec<(String, String)>,
    resolver: Resolver<'a>,
    problems: Vec<Problem>,
}

impl Entries<'_> {
    /// The value of `key`, if set.
    fn text(&mut self, key: &str) -> Option<String> {
        let value = self
            .entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())?;
        match self.resolver.resolve(&value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problems.push(Problem::new(key, e));
                None
            }
        }
    }

    /// The value of `key` or its default text.
    fn text_or_default(&mut self, key: &str) -> Option<String> {
        self.text(key)
            .or_else(|| match worker_property(key)?.default {
                DefaultValue::Value(v) => Some(v.to_string()),
                _ => None,
            })
    }

    /// A whole number in the range the table gives `key`.
    fn number(&mut self, key: &str) -> Option<i64> {
        let text = self.text_or_default(key)?;
        let Some(Property {
            kind: Kind::Int { min, max },
            ..
        }) = worker_property(key)
        else {
            return None;
        };
        match text.trim().parse::<i64>() {
            Ok(n) if (*min..=*max).contains(&n) => Some(n),
            _ => {
                self.problems.push(Problem::new(
                    key,
                    format!("{text:?} is not a whole number in [{min},...,{max}]"),
                ));
                None
            }
        }
    }
}

/// Validates a worker configuration; every problem is reported at once.
///
/// # Errors
/// The problems, each naming its key.
pub fn validate_worker(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WorkerConfig, Vec<Problem>> {
    let (entries, defaults) = split(raw);
    let mut problems = check_defaults(&defaults);
    let mut w = Entries {
        entries,
        resolver: Resolver::new(env),
        problems: Vec::new(),
    };
    let group_id = w.text_or_default("group.id").unwrap_or_default();
    let config_topic = w
        .text("config.storage.topic")
        .unwrap_or_else(|| format!("{group_id}-configs"));
    let status_topic = w
        .text("status.storage.topic")
        .unwrap_or_else(|| format!("{group_id}-status"));
    let events_topic = w
        .text("events.storage.topic")
        .unwrap_or_else(|| format!("{group_id}-events"));
    let events_retention = w
        .number("events.storage.retention.ms")
        .unwrap_or(604_800_000);
    let otel: BTreeMap<String, String> = OTEL
        .iter()
        .filter_map(|key| Some((key.to_string(), w.text(key)?)))
        .collect();
    let replication = (
        w.number("config.storage.replication.factor").unwrap_or(-1),
        w.number("status.storage.replication.factor").unwrap_or(-1),
    );
    let max_body = w.number("rest.request.max.bytes").unwrap_or(1 << 20);
    let heartbeat = w.number("status.heartbeat.interval.ms").unwrap_or(5000);
    let session_timeout = w.number("session.timeout.ms").unwrap_or(10_000);
    let advertised_port = w.number("rest.advertised.port");
    let advertised_host = w.text("rest.advertised.host.name");
    let (listener, https) = listener(&mut w);
    let tls = tls(&mut w, https);
    let auth = auth(&mut w);
    problems.append(&mut w.problems);
    let kafka = kafka(&defaults, env, &mut problems);
    match kafka {
        Some(kafka) if problems.is_empty() => Ok(WorkerConfig {
            group_id,
            config_topic,
            status_topic,
            events_topic,
            events_retention: Duration::from_millis(events_retention.unsigned_abs()),
            otel,
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
            session_timeout: Duration::from_millis(session_timeout.unsigned_abs()),
            kafka,
            defaults,
        }),
        _ => Err(problems),
    }
}

/// The OpenTelemetry settings a worker file may hold.
const OTEL: [&str; 5] = [
    "otel.traces.exporter",
    "otel.exporter.otlp.endpoint",
    "otel.service.name",
    "otel.traces.sampler",
    "otel.traces.sampler.arg",
];

/// Keys and values, in file order.
type Pairs = Vec<(String, String)>;

/// The worker's own entries and the connector defaults (the last value of
/// a key wins).
fn split(raw: &RawConfig) -> (Pairs, Pairs) {
    let mut worker = Vec::new();
    let mut defaults = Vec::new();
    for e in &raw.entries {
        let key = e.key.trim().to_string();
        let Some(value) = e.value.clone() else {
            continue;
        };
        let target = if worker_property(&key).is_some() {
            &mut worker
        } else {
            &mut defaults
        };
        target.retain(|(k, _): &(String, String)| *k != key);
        target.push((key, value));
    }
    (worker, defaults)
}

/// Connector defaults that are not connector properties (or that `run`
/// alone has).
fn check_defaults(defaults: &[(String, String)]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (key, _) in defaults {
        match properties::classify(properties::canonical_name(key).unwrap_or(key)) {
            Key::Property(p) if p.name == "http.listener" => problems.push(Problem::new(
                key,
                "is a `lambda-sink run` setting; under serve the worker's `listeners` serves every connector",
            )),
            Key::Property(_) | Key::PassThrough(..) => {}
            _ => problems.push(Problem::new(
                key,
                format!(
                    "is neither a worker property nor a connector property; worker properties are: {}",
                    WORKER_PROPERTIES
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    problems
}

/// `listeners`: the address, and whether it is `https://`.
fn listener(w: &mut Entries<'_>) -> (SocketAddr, bool) {
    let fallback = SocketAddr::from(([127, 0, 0, 1], 8083));
    let listeners = w.text_or_default("listeners").unwrap_or_default();
    let (https, address) = match listeners.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        Some((scheme, _)) => {
            w.problems.push(Problem::new(
                "listeners",
                format!("scheme {scheme:?} is not http or https"),
            ));
            return (fallback, false);
        }
        None => (false, listeners.as_str()),
    };
    match address.trim_end_matches('/').parse::<SocketAddr>() {
        Ok(a) => (a, https),
        Err(_) => {
            w.problems.push(Problem::new(
                "listeners",
                format!("{listeners:?} is not http://IP:port or https://IP:port (e.g. http://127.0.0.1:8083)"),
            ));
            (fallback, https)
        }
    }
}

/// `rest.tls.*`, which an `https://` listener needs and no other may have.
fn tls(w: &mut Entries<'_>, https: bool) -> Option<TlsFiles> {
    let (cert, key) = (w.text("rest.tls.cert.file"), w.text("rest.tls.key.file"));
    match (https, cert, key) {
        (true, Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        }),
        (true, _, _) => {
            w.problems.push(Problem::new(
                "listeners",
                "is https:// but rest.tls.cert.file and rest.tls.key.file are not both set",
            ));
            None
        }
        (false, None, None) => None,
        (false, _, _) => {
            w.problems.push(Problem::new(
                "rest.tls.cert.file",
                "is set but listeners is not https://; use https://host:port or remove the TLS files",
            ));
            None
        }
    }
}

/// `rest.auth.*`: basic, a bearer token, or none.
fn auth(w: &mut Entries<'_>) -> Option<Auth> {
    let user = w.text("rest.auth.basic.user");
    let password = w.text("rest.auth.basic.password");
    let token = w.text("rest.auth.token");
    match (user, password, token) {
        (None, None, None) => None,
        (Some(user), Some(password), None) if !user.is_empty() && !password.is_empty() => {
            Some(Auth::Basic {
                user,
                password: Secret::new(password),
            })
        }
        (None, None, Some(token)) if !token.is_empty() => Some(Auth::Bearer(Secret::new(token))),
        (_, _, Some(_)) => {
            w.problems.push(Problem::new(
                "rest.auth.token",
                "cannot be combined with rest.auth.basic.*; choose one (and none may be empty)",
            ));
            None
        }
        _ => {
            w.problems.push(Problem::new(
                "rest.auth.basic.user",
                "rest.auth.basic.user and rest.auth.basic.password must both be set and non-empty",
            ));
            None
        }
    }
}

/// The worker's own Kafka connection, from the connector defaults.
fn kafka(
    defaults: &[(String, String)],
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Option<KafkaConfig> {
    let known = |k: &str| {
        matches!(
            properties::classify(properties::canonical_name(k).unwrap_or(k)),
            Key::Property(_) | Key::PassThrough(..)
        )
    };
    let raw = RawConfig::from_pairs(
        defaults
            .iter()
            .filter(|(k, _)| known(k))
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let kafka = match validate_kafka(&raw, env) {
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
    kafka
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_pairs(pairs: &[(&str, &str)]) -> Result<WorkerConfig, Vec<Problem>> {
        validate_worker(&RawConfig::from_pairs(pairs.iter().copied()), &|name| {
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
        assert_eq!(w.events_topic, "lambda-sink-events");
        assert_eq!(w.events_retention, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(w.listener.to_string(), "127.0.0.1:8083");
        assert_eq!((w.replication, w.max_body), ((-1, -1), 1 << 20));
        assert_eq!(w.heartbeat, Duration::from_secs(5));
        assert_eq!(w.session_timeout, Duration::from_secs(10));
        assert!(w.auth.is_none() && w.tls.is_none());
        assert_eq!(w.defaults.len(), 2);
        assert_eq!(w.kafka.bootstrap_servers, ["localhost:9092"]);
        assert!(w.otel.is_empty(), "only the otel.* properties given");
    }

    #[test]
    fn opentelemetry_settings_are_the_worker_s_own() {
        let w = parse_pairs(&[
            ("kafka.bootstrap.servers", "localhost:9092"),
            ("otel.exporter.otlp.endpoint", "http://127.0.0.1:4317"),
            ("otel.service.name", "orders-sink"),
        ])
        .expect("valid");
        assert_eq!(
            w.otel.into_iter().collect::<Vec<_>>(),
            [
                (
                    "otel.exporter.otlp.endpoint".to_string(),
                    "http://127.0.0.1:4317".to_string()
                ),
                ("otel.service.name".to_string(), "orders-sink".to_string()),
            ]
        );
        assert!(
            w.defaults.iter().all(|(k, _)| !k.starts_with("otel.")),
            "not connector defaults: {:?}",
            w.defaults
        );
    }

    #[test]
    fn every_problem_at_once() {
        let problems = parse_pairs(&[
            ("listeners", "ftp://x"),
            ("rest.auth.basic.user", "admin"),
            ("no.such.thing", "1"),
            ("http.listener", "127.0.0.1:0"),
            ("rest.request.max.bytes", "12"),
            ("rest.advertised.port", "0"),
            ("session.timeout.ms", "1000"),
        ])
        .expect_err("invalid");
        let keys: Vec<&str> = problems.iter().map(|p| p.property.as_str()).collect();
        for k in [
            "listeners",
            "rest.auth.basic.user",
            "no.such.thing",
            "http.listener",
            "rest.request.max.bytes",
            "rest.advertised.port",
            "session.timeout.ms",
            "kafka.bootstrap.servers",
        ] {
            assert!(keys.contains(&k), "{k} missing from {keys:?}");
        }
        let max = problems
            .iter()
            .find(|p| p.property == "rest.request.max.bytes")
            .unwrap();
        assert_eq!(
            max.message, "\"12\" is not a whole number in [1024,...,67108864]",
            "the range is the table's"
        );
    }

    #[test]
    fn bearer_token_from_a_reference_and_https() {
        let w = parse_pairs(&[
            ("kafka.bootstrap.servers", "localhost:9092"),
            ("rest.auth.token", "${env:TOKEN}"),
            ("listeners", "https://0.0.0.0:0"),
            ("rest.tls.cert.file", "/c.pem"),
            ("rest.tls.key.file", "/k.pem"),
            ("group.id", "blue"),
        ])
        .expect("valid");
        match w.auth {
            Some(Auth::Bearer(t)) => assert_eq!(t.expose(), "t0k3n"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.config_topic, "blue-configs");
        assert!(w.tls.is_some());
        let problems = parse_pairs(&[
            ("kafka.bootstrap.servers", "localhost:9092"),
            ("listeners", "https://127.0.0.1:0"),
        ])
        .expect_err("https without TLS files");
        assert_eq!(problems[0].property, "listeners");
    }

    #[test]
    fn the_table_is_the_worker_s_vocabulary() {
        for p in WORKER_PROPERTIES {
            assert_eq!(p.group, Group::Worker, "{}", p.name);
            assert!(
                !matches!(properties::classify(p.name), Key::Property(_)),
                "{} is also a connector property",
                p.name
            );
        }
    }
}
