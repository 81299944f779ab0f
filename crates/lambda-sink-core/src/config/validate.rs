//! Raw entries → validated [`Config`], reporting every problem at once.
//!
//! Three passes: (1) fold entries by canonical key, judging duplicates and
//! resolving `${...}` references; (2) classify each key (table property,
//! pass-through, unsupported, unknown) and parse table values by their
//! [`Kind`]; (3) build the typed [`Config`], checking cross-field rules. A
//! problem in one pass does not stop the others, so the user sees everything
//! wrong in one run.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::codec::{DataFormat, DecimalFormat, RecordConverter};
use crate::transform::Chain;

use super::enums::{
    AuthenticationMethod, AutoOffsetReset, BehaviorOnError, ConfigurationMode, ErrorsTolerance,
    EsmRecordFormat, InvocationType, KafkaAuthMode, OnFailure, Ordering, PayloadFormat,
    ReporterValueFormat,
};
use super::model::{
    AssumeRole, AwsConfig, AwsCredentials, ClientProperties, ClientValue, Config, Dlq,
    ErrorsConfig, KafkaAuth, KafkaConfig, LambdaConfig, OutputTopic, Proxy, ReporterConfig,
    ReporterTopic, Routing, SchemaRegistryConfig, ServiceConfig, Subscription, Transactions,
    full_match,
};
use super::names::{ConnectorId, FunctionRef, TopicName};
use super::properties::{self, Key, Kind, PassThrough, Property, Required};
use super::reference::Resolver;
use super::secret::Secret;
use super::secret::shown;
use super::source::RawConfig;
use crate::Problem;
use crate::event_filter::FilterCriteria;
use crate::trace::IdempotencyKey;

/// Lambda's synchronous (RequestResponse) request limit.
pub const SYNC_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// Lambda's asynchronous (Event) request limit.
pub const ASYNC_PAYLOAD_LIMIT: usize = 1024 * 1024;

/// The outcome of validation: a config when there is no error, and every
/// error and warning found.
#[derive(Debug)]
pub struct Validation {
    /// The validated config, present exactly when `errors` is empty.
    pub config: Option<Config>,
    /// Problems that make the configuration unusable.
    pub errors: Vec<Problem>,
    /// Things that work but are probably not what the user meant.
    pub warnings: Vec<Problem>,
}

/// Validates `raw`, reading environment variables through `env`.
pub fn validate(raw: &RawConfig, env: &dyn Fn(&str) -> Option<String>) -> Validation {
    validate_tracking_reads(raw, env).0
}

/// Validates the Kafka connection in `raw` only (`kafka.bootstrap.servers`,
/// `kafka.auth.mode` and its keys, `kafka.*` pass-through): what a
/// worker's own clients need. Other table properties are accepted and
/// ignored; unknown keys are errors.
///
/// # Errors
/// Every problem found.
pub fn validate_kafka(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KafkaConfig, Vec<Problem>> {
    let mut report = Report::default();
    let entries = fold_entries(raw, env, &mut report);
    let mut values = Values::default();
    for (key, entry) in &entries {
        classify(key, entry, &mut values, &mut report);
    }
    match kafka(&values, &mut report) {
        Some(kafka) if report.errors.is_empty() => Ok(kafka),
        _ => Err(report.errors),
    }
}

/// [`validate`], also returning the table properties the builder read.
fn validate_tracking_reads(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Validation, BTreeSet<&'static str>) {
    let mut report = Report::default();
    let entries = fold_entries(raw, env, &mut report);
    let mut values = Values::default();
    for (key, entry) in &entries {
        classify(key, entry, &mut values, &mut report);
    }
    let config = build(&values, &mut report);
    debug_assert!(config.is_some() || !report.errors.is_empty());
    let validation = Validation {
        config: config.filter(|_| report.errors.is_empty()),
        errors: report.errors,
        warnings: report.warnings,
    };
    (validation, values.read.into_inner())
}

#[derive(Default)]
struct Report {
    errors: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Report {
    fn error(&mut self, property: &str, message: impl Into<String>) {
        self.errors.push(Problem::new(property, message));
    }
    fn warn(&mut self, property: &str, message: impl Into<String>) {
        self.warnings.push(Problem::new(property, message));
    }
}

/// One key's value after folding duplicates and aliases.
struct Entry {
    /// The spelling the user wrote (an alias, or the key itself).
    written_as: String,
    /// `None` when a `${...}` reference in it could not be resolved (reported).
    value: Option<String>,
    secret: bool,
}

/// Pass 1: one value per canonical key, references resolved.
fn fold_entries(
    raw: &RawConfig,
    env: &dyn Fn(&str) -> Option<String>,
    report: &mut Report,
) -> BTreeMap<String, Entry> {
    let mut folded: BTreeMap<String, Entry> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for e in &raw.entries {
        let key = e.key.trim();
        let Some(value) = &e.value else { continue };
        let canonical = properties::canonical_name(key).unwrap_or(key).to_string();
        let secret = properties::is_secret(&canonical);
        match folded.get(&canonical) {
            Some(prev) if prev.value.as_ref() == Some(value) => report.warn(
                key,
                format!(
                    "set more than once{}, to the same value; the repetition is ignored",
                    also_as(&prev.written_as, key)
                ),
            ),
            Some(prev) => report.error(
                key,
                format!(
                    "set more than once with different values{}: {} and {}; keep one",
                    also_as(&prev.written_as, key),
                    shown(prev.value.as_deref().unwrap_or_default(), secret),
                    shown(value, secret)
                ),
            ),
            None => {
                order.push(canonical.clone());
                folded.insert(
                    canonical,
                    Entry {
                        written_as: key.to_string(),
                        value: Some(value.clone()),
                        secret,
                    },
                );
            }
        }
    }
    let mut resolver = Resolver::new(env);
    for entry in folded.values_mut() {
        let Some(value) = &entry.value else { continue };
        match resolver.resolve(value) {
            Ok(v) => entry.value = Some(v),
            Err(e) => {
                report.error(&entry.written_as, e);
                entry.value = None;
            }
        }
    }
    folded
}

fn also_as(first: &str, again: &str) -> String {
    if first == again {
        String::new()
    } else {
        format!(" (also as {first})")
    }
}

/// A parsed table value.
#[derive(Clone, Debug)]
enum Parsed {
    Text(String),
    Int(i64),
    Bool(bool),
    List(Vec<String>),
}

/// Pass 2 output: parsed table values and pass-through properties. Records
/// which table properties the builder read, so a test can prove the table has
/// no entry the code ignores.
#[derive(Default)]
struct Values {
    table: HashMap<&'static str, Parsed>,
    /// Table properties present but unparseable: already reported, and the
    /// builder must not report them again as missing.
    invalid: BTreeSet<&'static str>,
    pass_through: BTreeMap<PassThrough, ClientProperties>,
    /// `transforms*` and `predicates*` keys, for the transform chain.
    transforms: BTreeMap<String, String>,
    read: RefCell<BTreeSet<&'static str>>,
}

/// Pass 2 for one key.
fn classify(key: &str, entry: &Entry, values: &mut Values, report: &mut Report) {
    let shown_as = entry.written_as.as_str();
    if crate::transform::is_transform_key(key) {
        if let Some(value) = &entry.value {
            values.transforms.insert(key.to_string(), value.clone());
        }
        return;
    }
    let Some(value) = &entry.value else {
        if let Key::Property(p) = properties::classify(key) {
            values.invalid.insert(p.name);
        }
        return;
    };
    match properties::classify(key) {
        Key::Property(p) => match parse_value(p, value) {
            Ok(Some(v)) => {
                values.table.insert(p.name, v);
            }
            Ok(None) => {}
            Err(message) => {
                values.invalid.insert(p.name);
                report.error(shown_as, message);
            }
        },
        Key::PassThrough(target, client_key) => {
            if let Some(reason) = properties::forbidden_pass_through(target, client_key) {
                report.error(
                    shown_as,
                    format!("cannot be set through pass-through: {reason}"),
                );
            } else {
                values.pass_through.entry(target).or_default().insert(
                    client_key.to_string(),
                    ClientValue::new(value.trim(), entry.secret),
                );
            }
        }
        Key::Unsupported(advice) => report.error(shown_as, format!("not supported: {advice}")),
        Key::Unknown(Some(suggestion)) => report.error(
            shown_as,
            format!("unknown property; did you mean \"{suggestion}\"?"),
        ),
        Key::Unknown(None) => report.error(
            shown_as,
            "unknown property; `lambda-sink plugin describe` lists every property, and librdkafka \
             properties go under kafka., consumer.override. or producer.override.",
        ),
        // Aliases were folded into their canonical key in pass 1.
        Key::Alias(_) => {}
    }
}

/// Parses `text` by the property's kind. `Ok(None)`: blank, meaning unset,
/// for kinds where blank has no meaning of its own.
fn parse_value(p: &Property, text: &str) -> Result<Option<Parsed>, String> {
    let text = text.trim();
    let value = || shown(text, p.is_secret());
    let valid = || {
        p.valid_values()
            .map(|v| format!("; valid values: {v}"))
            .unwrap_or_default()
    };
    match p.kind {
        Kind::String | Kind::Password => Ok(Some(Parsed::Text(text.to_string()))),
        _ if text.is_empty() => Ok(None),
        Kind::Int { min, max } => match text.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(Parsed::Int(n))),
            Ok(_) => Err(format!("{} is out of range{}", value(), valid())),
            Err(_) => Err(format!("{} is not an integer{}", value(), valid())),
        },
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(Parsed::Bool(true))),
            "false" => Ok(Some(Parsed::Bool(false))),
            _ => Err(format!("{} is not a boolean{}", value(), valid())),
        },
        Kind::List => Ok(Some(Parsed::List(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ))),
        Kind::Enum { values, aliases } => values
            .iter()
            .copied()
            .find(|v| v.eq_ignore_ascii_case(text))
            .or_else(|| {
                aliases
                    .iter()
                    .find(|(a, _)| a.eq_ignore_ascii_case(text))
                    .map(|(_, c)| *c)
            })
            .map(|c| Some(Parsed::Text(c.to_string())))
            .ok_or_else(|| format!("{} is not a valid value{}", value(), valid())),
    }
}

impl Values {
    fn property(&self, name: &'static str) -> &'static Property {
        self.read.borrow_mut().insert(name);
        properties::find(name)
            .unwrap_or_else(|| panic!("BUG: property {name} is read but not in the table"))
    }

    /// The configured value, else the table's default (parsed like a value).
    fn get(&self, name: &'static str) -> Option<Parsed> {
        let p = self.property(name);
        self.table.get(name).cloned().or_else(|| match p.default {
            properties::DefaultValue::Value(d) => parse_value(p, d).ok().flatten(),
            _ => None,
        })
    }

    /// Whether the property has a non-blank value (configured or default).
    fn has_value(&self, name: &'static str) -> bool {
        match self.get(name) {
            Some(Parsed::Text(s)) => !s.is_empty(),
            Some(Parsed::List(items)) => !items.is_empty(),
            Some(_) => true,
            None => false,
        }
    }

    fn is_set(&self, name: &'static str) -> bool {
        self.property(name);
        self.table.contains_key(name)
    }

    fn is_invalid(&self, name: &'static str) -> bool {
        self.invalid.contains(name)
    }

    /// Text value; blank counts as unset.
    fn text(&self, name: &'static str) -> Option<String> {
        match self.get(name) {
            Some(Parsed::Text(s)) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// Text value where blank is meaningful (`Some("")`).
    fn raw_text(&self, name: &'static str) -> Option<String> {
        match self.get(name) {
            Some(Parsed::Text(s)) => Some(s),
            _ => None,
        }
    }

    fn secret(&self, name: &'static str) -> Option<Secret<String>> {
        debug_assert!(self.property(name).is_secret());
        self.text(name).map(Secret::new)
    }

    fn int(&self, name: &'static str) -> Option<i64> {
        match self.get(name) {
            Some(Parsed::Int(n)) => Some(n),
            _ => None,
        }
    }

    fn bool(&self, name: &'static str) -> bool {
        matches!(self.get(name), Some(Parsed::Bool(true)))
    }

    fn list(&self, name: &'static str) -> Vec<String> {
        match self.get(name) {
            Some(Parsed::List(items)) => items,
            _ => Vec::new(),
        }
    }

    fn choice<E>(&self, name: &'static str, from: fn(&str) -> Option<E>) -> Option<E> {
        self.text(name).and_then(|t| from(&t))
    }

    fn pass_through(&self, target: PassThrough) -> ClientProperties {
        self.pass_through.get(&target).cloned().unwrap_or_default()
    }
}

fn millis(n: i64) -> Duration {
    Duration::from_millis(u64::try_from(n).unwrap_or(0))
}

fn usize_of(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Pass 3: the typed config and cross-field rules. Returns a config only when
/// every part could be built; the caller discards it if any error was reported.
fn build(v: &Values, report: &mut Report) -> Option<Config> {
    // First: the checks below may end the build early.
    let transforms = match Chain::configure(&v.transforms) {
        Ok(chain) => Some(Arc::new(chain)),
        Err(problems) => {
            report.errors.extend(problems);
            None
        }
    };
    for p in properties::PROPERTIES {
        if p.required == Required::Yes && !v.has_value(p.name) && !v.is_invalid(p.name) {
            report.error(p.name, format!("is required: {}", first_sentence(p.doc)));
        }
    }
    // connector.class is validated by parsing; its value has no further use.
    let _ = v.get("connector.class");
    for inert in [
        "key.converter.key.subject.name.strategy",
        "value.converter.value.subject.name.strategy",
        "value.converter.reference.subject.name.strategy",
    ] {
        let _ = v.get(inert);
    }

    let name = v.text("name");
    if let Some(name) = &name {
        let n = name.chars().count();
        if n > 64 {
            report.error(
                "name",
                format!(
                    "{} has {n} characters; a name has 1 to 64 characters",
                    shown(name, false)
                ),
            );
        }
    }
    let connector_id = match v.text("connector.id") {
        Some(id) => {
            let sanitized = ConnectorId::sanitize(&id);
            if sanitized.as_ref().is_some_and(|s| s.as_str() != id) {
                report.error(
                    "connector.id",
                    format!(
                        "{} contains characters that cannot appear in a topic name; use only letters, digits, '.', '_' and '-'",
                        shown(&id, false)
                    ),
                );
            }
            sanitized
        }
        None => name.as_deref().and_then(ConnectorId::sanitize),
    };

    let subscription = subscription(v, report);
    let key_format = v.choice("input.key.format", DataFormat::from_canonical);
    let value_format = v.choice("input.data.format", DataFormat::from_canonical);
    let kafka = kafka(v, report);
    let schema_registry = schema_registry(v, [key_format, value_format], report);
    let aws = aws(v, connector_id.as_ref(), report);
    let lambda = lambda(v, subscription.as_ref(), report);
    let outputs = outputs(v, connector_id.as_ref(), lambda.as_ref(), report);
    let service = service(v, report);

    if let (Some(sub), Some((reporter, errors))) = (&subscription, &outputs) {
        let topics = reporter
            .result
            .iter()
            .map(|t| ("reporter.result.topic.name", &t.topic))
            .chain(
                reporter
                    .error
                    .iter()
                    .map(|t| ("reporter.error.topic.name", &t.topic)),
            )
            .chain(
                errors
                    .dlq
                    .iter()
                    .map(|d| ("errors.deadletterqueue.topic.name", &d.topic)),
            );
        for (property, topic) in topics {
            if sub.includes(topic.name.as_str()) {
                let how = match sub {
                    Subscription::Topics(_) => "is also an input topic",
                    Subscription::Pattern(_) => "matches topics.regex",
                };
                report.error(
                    property,
                    format!(
                        "\"{}\" {how}: the connector would consume its own output; choose another name",
                        topic.name
                    ),
                );
            }
        }
    }

    if let (Some(l), Some(chain)) = (&lambda, &transforms)
        && l.payload_format == PayloadFormat::Esm
        && !chain.is_empty()
    {
        report.error(
            "transforms",
            "cannot be combined with aws.lambda.payload.format=esm: the event carries the record's own bytes; transform in the function, or use the confluent format",
        );
        return None;
    }
    let (reporter, errors) = outputs?;
    if let Some(l) = &lambda
        && l.on_failure == OnFailure::Dlq
        && errors.dlq.is_none()
    {
        report.error(
            "aws.lambda.on.failure",
            "dlq needs the dead letter queue, which errors.tolerance=none turns off: set errors.tolerance=all (the default)",
        );
        return None;
    }
    Some(Config {
        name: name?,
        connector_id: connector_id?,
        tasks_max: usize_of(v.int("tasks.max")?),
        subscription: subscription?,
        key_format: key_format?,
        value_format: value_format?,
        max_buffered_per_partition: usize_of(v.int("max.poll.records")?),
        kafka: kafka?,
        schema_registry,
        decimal_format: v.choice(
            "value.converter.decimal.format",
            DecimalFormat::from_canonical,
        )?,
        aws: aws?,
        lambda: lambda?,
        reporter,
        errors,
        service: service?,
        transforms: transforms?,
    })
}

fn first_sentence(doc: &str) -> String {
    doc.split_once(". ")
        .map_or_else(|| doc.to_string(), |(s, _)| format!("{s}."))
}

fn subscription(v: &Values, report: &mut Report) -> Option<Subscription> {
    let topics = v.list("topics");
    let regex = v.text("topics.regex");
    match (topics.is_empty(), regex) {
        (true, None) => {
            report.error(
                "topics",
                "one of topics (a comma-separated list) or topics.regex is required",
            );
            None
        }
        (false, Some(_)) => {
            report.error(
                "topics.regex",
                "topics and topics.regex are both set; set exactly one of them",
            );
            None
        }
        (false, None) => {
            let mut parsed = Vec::new();
            let mut ok = true;
            for t in &topics {
                match TopicName::parse(t) {
                    Ok(name) if !parsed.contains(&name) => parsed.push(name),
                    Ok(name) => report.warn("topics", format!("\"{name}\" is listed twice")),
                    Err(e) => {
                        ok = false;
                        report.error("topics", e);
                    }
                }
            }
            ok.then_some(Subscription::Topics(parsed))
        }
        (true, Some(pattern)) => match full_match(&pattern) {
            Ok(_) => Some(Subscription::Pattern(pattern)),
            Err(e) => {
                report.error(
                    "topics.regex",
                    format!(
                        "{} is not a valid regular expression: {e}",
                        shown(&pattern, false)
                    ),
                );
                None
            }
        },
    }
}

fn kafka(v: &Values, report: &mut Report) -> Option<KafkaConfig> {
    let servers = v.list("kafka.bootstrap.servers");
    let mut ok = true;
    for s in &servers {
        if let Err(e) = check_host_port(s) {
            ok = false;
            report.error("kafka.bootstrap.servers", e);
        }
    }
    let common = v.pass_through(PassThrough::All);
    let mode = v
        .choice("kafka.auth.mode", KafkaAuthMode::from_canonical)
        .unwrap_or(if v.text("kafka.api.key").is_some() {
            KafkaAuthMode::KafkaApiKey
        } else {
            KafkaAuthMode::None
        });
    let key = v.text("kafka.api.key");
    let secret = v.secret("kafka.api.secret");
    if v.text("kafka.service.account.id").is_some() && mode != KafkaAuthMode::ServiceAccount {
        report.warn(
            "kafka.service.account.id",
            "is ignored: it only applies to SERVICE_ACCOUNT authentication, which exists only inside Confluent Cloud",
        );
    }
    let _ = v.get("kafka.region"); // read by aws()
    let auth = match mode {
        KafkaAuthMode::ServiceAccount => {
            report.error(
                "kafka.auth.mode",
                "SERVICE_ACCOUNT authentication exists only inside Confluent Cloud; \
                 use KAFKA_API_KEY with kafka.api.key and kafka.api.secret (an API key owned by \
                 that service account), or NONE with kafka.* security properties",
            );
            None
        }
        KafkaAuthMode::KafkaApiKey => {
            for (name, missing) in [
                ("kafka.api.key", key.is_none()),
                ("kafka.api.secret", secret.is_none()),
            ] {
                if missing && !v.is_invalid(name) {
                    report.error(name, "is required when kafka.auth.mode is KAFKA_API_KEY");
                }
            }
            for owned in [
                "security.protocol",
                "sasl.mechanism",
                "sasl.mechanisms",
                "sasl.username",
                "sasl.password",
            ] {
                if common.contains_key(owned) {
                    report.error(
                        &format!("kafka.{owned}"),
                        "conflicts with kafka.auth.mode=KAFKA_API_KEY, which sets it; \
                         remove it, or set kafka.auth.mode=NONE to configure security yourself",
                    );
                }
            }
            key.zip(secret)
                .map(|(key, secret)| KafkaAuth::ApiKey { key, secret })
        }
        KafkaAuthMode::None => {
            if key.is_some() || secret.is_some() {
                report.error(
                    "kafka.auth.mode",
                    "is NONE but kafka.api.key/kafka.api.secret are set; \
                     use KAFKA_API_KEY or remove the key",
                );
            }
            Some(KafkaAuth::None)
        }
    };
    let auto_offset_reset = v.choice(
        "consumer.override.auto.offset.reset",
        AutoOffsetReset::from_canonical,
    );
    Some(KafkaConfig {
        bootstrap_servers: servers,
        auth: auth?,
        common,
        consumer: v.pass_through(PassThrough::Consumer),
        producer: v.pass_through(PassThrough::Producer),
        auto_offset_reset: auto_offset_reset?,
    })
    .filter(|k| ok && !k.bootstrap_servers.is_empty())
}

/// Checks a `host:port` (optionally `PROTOCOL://host:port`, IPv6 in brackets).
fn check_host_port(s: &str) -> Result<(), String> {
    let hostport = s.split_once("://").map_or(s, |(_, rest)| rest);
    let port = if let Some(rest) = hostport.strip_prefix('[') {
        rest.split_once("]:").map(|(_, p)| p)
    } else {
        hostport.rsplit_once(':').map(|(_, p)| p)
    };
    let host_ok =
        !hostport.is_empty() && !hostport.starts_with(':') && !s.contains(char::is_whitespace);
    match port {
        Some(p) if host_ok && p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(format!(
            "{} is not host:port (for example broker-1.example.com:9092)",
            shown(s, false)
        )),
    }
}

fn check_url(property: &str, url: &str, report: &mut Report) -> bool {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && url
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty())
        && !url.contains(char::is_whitespace);
    if !ok {
        report.error(
            property,
            format!("{} is not an http:// or https:// URL", shown(url, false)),
        );
    }
    ok
}

fn schema_registry(
    v: &Values,
    formats: [Option<DataFormat>; 2],
    report: &mut Report,
) -> Option<SchemaRegistryConfig> {
    let urls = v.list("schema.registry.url");
    let basic_auth = v.secret("schema.registry.basic.auth.user.info");
    let context = v.text("schema.context.name").unwrap_or_default();
    if basic_auth
        .as_ref()
        .is_some_and(|s| !s.expose().contains(':'))
    {
        report.error(
            "schema.registry.basic.auth.user.info",
            "must be user:password (the value is masked)",
        );
    }
    let needed: Vec<(&str, DataFormat)> = ["input.key.format", "input.data.format"]
        .into_iter()
        .zip(formats)
        .filter_map(|(p, f)| f.filter(|f| f.needs_registry()).map(|f| (p, f)))
        .collect();
    if urls.is_empty() {
        for (property, format) in &needed {
            if !v.is_invalid("schema.registry.url") {
                report.error(
                    "schema.registry.url",
                    format!("is required because {property} is {format}"),
                );
            }
        }
        return None;
    }
    // Check every URL (no short-circuit): each bad one is reported.
    let mut all_ok = true;
    for u in &urls {
        all_ok &= check_url("schema.registry.url", u, report);
    }
    if needed.is_empty() {
        report.warn(
            "schema.registry.url",
            "is set but no format uses a Schema Registry (AVRO, JSON_SR, PROTOBUF); it is ignored",
        );
        return None;
    }
    all_ok.then_some(SchemaRegistryConfig {
        urls,
        basic_auth,
        context,
    })
}

fn aws(v: &Values, id: Option<&ConnectorId>, report: &mut Report) -> Option<AwsConfig> {
    let method = v.choice(
        "authentication.method",
        AuthenticationMethod::from_canonical,
    );
    let key_id = v.secret("aws.access.key.id");
    let secret_key = v.secret("aws.secret.access.key");
    let token = v.secret("aws.session.token");
    let credentials = match (key_id, secret_key) {
        (Some(access_key_id), Some(secret_access_key)) => Some(AwsCredentials::Static {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        (None, None) => {
            if token.is_some() {
                report.error(
                    "aws.session.token",
                    "is set without aws.access.key.id and aws.secret.access.key; set all three or none",
                );
            }
            Some(AwsCredentials::DefaultChain)
        }
        (Some(_), None) => {
            report.error(
                "aws.secret.access.key",
                "is required when aws.access.key.id is set (or remove both to use the AWS default credential chain)",
            );
            None
        }
        (None, Some(_)) => {
            report.error(
                "aws.access.key.id",
                "is required when aws.secret.access.key is set (or remove both to use the AWS default credential chain)",
            );
            None
        }
    };
    let role_arn = v.text("aws.iam.role.arn");
    let external_id = v.text("aws.iam.external.id");
    let session_name = v.text("aws.iam.role.session.name").unwrap_or_else(|| {
        format!(
            "lambda-sink-{}",
            id.map(ConnectorId::as_str).unwrap_or("connector")
        )
    });
    let assume_role = match (method?, role_arn) {
        (AuthenticationMethod::IamRoles, Some(role_arn)) => {
            if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
                report.error(
                    "aws.iam.role.arn",
                    format!(
                        "{} is not an IAM role ARN (arn:aws:iam::123456789012:role/name)",
                        shown(&role_arn, false)
                    ),
                );
            }
            Some(AssumeRole {
                role_arn,
                external_id,
                session_name,
            })
        }
        (AuthenticationMethod::IamRoles, None) => {
            report.error(
                "aws.iam.role.arn",
                "is required when authentication.method is IAM Roles",
            );
            None
        }
        (AuthenticationMethod::AccessKeys, role) => {
            if role.is_some() || external_id.is_some() {
                report.error(
                    "authentication.method",
                    "is Access Keys but aws.iam.role.arn/aws.iam.external.id are set; \
                     set authentication.method=IAM Roles to assume the role",
                );
            }
            None
        }
    };
    let region = v
        .text("aws.lambda.region")
        .or_else(|| v.text("kafka.region"));
    let endpoint = v.text("aws.lambda.endpoint");
    let endpoint_ok = endpoint
        .as_deref()
        .is_none_or(|e| check_url("aws.lambda.endpoint", e, report));
    let proxy_url = v.text("aws.lambda.proxy.url");
    let proxy_user = v.text("aws.lambda.proxy.user");
    let proxy_password = v.secret("aws.lambda.proxy.password");
    let proxy = match proxy_url {
        Some(url) => check_url("aws.lambda.proxy.url", &url, report).then_some(Proxy {
            url,
            user: proxy_user,
            password: proxy_password,
        }),
        None => {
            if proxy_user.is_some() || proxy_password.is_some() {
                report.error(
                    "aws.lambda.proxy.url",
                    "is required when aws.lambda.proxy.user or aws.lambda.proxy.password is set",
                );
            }
            None
        }
    };
    endpoint_ok.then_some(())?;
    Some(AwsConfig {
        credentials: credentials?,
        assume_role,
        region,
        endpoint,
        proxy,
    })
}

fn lambda(v: &Values, sub: Option<&Subscription>, report: &mut Report) -> Option<LambdaConfig> {
    let mode = v.choice(
        "aws.lambda.configuration.mode",
        ConfigurationMode::from_canonical,
    );
    let function = v.text("aws.lambda.function.name");
    let map = v.list("aws.lambda.topic2function.map");
    let routing = match mode? {
        ConfigurationMode::Single => {
            if !map.is_empty() {
                report.warn(
                    "aws.lambda.topic2function.map",
                    "is ignored in single mode; set aws.lambda.configuration.mode=multiple to route by topic",
                );
            }
            match function {
                Some(f) => match FunctionRef::parse(&f) {
                    Ok(f) => Some(Routing::Single(f)),
                    Err(e) => {
                        report.error("aws.lambda.function.name", e);
                        None
                    }
                },
                None => {
                    if !v.is_invalid("aws.lambda.function.name") {
                        report.error(
                            "aws.lambda.function.name",
                            "is required in single mode (aws.lambda.configuration.mode=single): the function to invoke",
                        );
                    }
                    None
                }
            }
        }
        ConfigurationMode::Multiple => {
            if function.is_some() {
                report.warn(
                    "aws.lambda.function.name",
                    "is ignored in multiple mode; functions come from aws.lambda.topic2function.map",
                );
            }
            topic_map(&map, sub, report).map(Routing::ByTopic)
        }
    };

    let invocation_type = v.choice("aws.lambda.invocation.type", InvocationType::from_canonical);
    let limit = match invocation_type {
        Some(InvocationType::Async) => ASYNC_PAYLOAD_LIMIT,
        _ => SYNC_PAYLOAD_LIMIT,
    };
    let max_payload_bytes = v
        .int("aws.lambda.max.payload.bytes")
        .map_or(limit, usize_of);
    if let (Some(t), true) = (invocation_type, max_payload_bytes > limit) {
        report.warn(
            "aws.lambda.max.payload.bytes",
            format!(
                "{max_payload_bytes} is above Lambda's {limit}-byte limit for {t} invocations; \
                 AWS will reject larger requests (an emulator may not)"
            ),
        );
    }
    let behavior_on_error = v.choice("behavior.on.error", BehaviorOnError::from_canonical);
    if invocation_type == Some(InvocationType::Async) && v.is_set("behavior.on.error") {
        report.warn(
            "behavior.on.error",
            "has no effect in async mode: Lambda's own retries and destinations handle function errors",
        );
    }
    let retry_timeout = v
        .int("aws.lambda.retry.timeout.ms")
        .map(|n| (n >= 0).then(|| millis(n)));
    let backoff = v.int("aws.lambda.retry.backoff.ms").map(millis);
    let backoff_max = v.int("aws.lambda.retry.backoff.max.ms").map(millis);
    if let (Some(b), Some(m)) = (backoff, backoff_max)
        && b > m
    {
        report.error(
            "aws.lambda.retry.backoff.ms",
            format!(
                "{} is larger than aws.lambda.retry.backoff.max.ms ({}); the first delay cannot exceed the longest",
                b.as_millis(),
                m.as_millis()
            ),
        );
    }
    let ordering = v.choice("aws.lambda.ordering", Ordering::from_canonical);
    if ordering == Some(Ordering::Partition) && v.is_set("aws.lambda.max.in.flight.per.partition") {
        report.warn(
            "aws.lambda.max.in.flight.per.partition",
            "has no effect with aws.lambda.ordering=partition (one batch per partition); set aws.lambda.ordering to key or none",
        );
    }
    let per_partition = match ordering {
        Some(Ordering::Partition) => Some(1),
        _ => v
            .int("aws.lambda.max.in.flight.per.partition")
            .map(usize_of),
    };
    let payload_format = v.choice("aws.lambda.payload.format", PayloadFormat::from_canonical);
    let esm = payload_format == Some(PayloadFormat::Esm);
    let esm_event_source_arn = v.text("aws.lambda.esm.event.source.arn");
    if let Some(arn) = &esm_event_source_arn {
        if !esm {
            report.warn(
                "aws.lambda.esm.event.source.arn",
                "has no effect unless aws.lambda.payload.format=esm",
            );
        } else if !arn.starts_with("arn:aws") || !arn.contains(":kafka:") {
            report.error(
                "aws.lambda.esm.event.source.arn",
                format!("{arn:?} is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)"),
            );
        }
    }
    if !esm && v.is_set("aws.lambda.esm.record.format") {
        report.warn(
            "aws.lambda.esm.record.format",
            "has no effect unless aws.lambda.payload.format=esm",
        );
    }
    let batch_item_failures = if v.is_set("aws.lambda.batch.item.failures") {
        v.bool("aws.lambda.batch.item.failures")
    } else {
        esm
    };
    if batch_item_failures && invocation_type == Some(InvocationType::Async) {
        report.warn(
            "aws.lambda.batch.item.failures",
            "has no effect in async mode: the function's answer never reaches lambda-sink",
        );
    }
    if invocation_type == Some(InvocationType::Async) {
        for p in [
            "aws.lambda.function.error.max.retries",
            "aws.lambda.bisect.on.function.error",
        ] {
            if v.is_set(p) {
                report.warn(
                    p,
                    "has no effect in async mode: lambda-sink never sees the function's errors",
                );
            }
        }
    }
    let function_error_retries = v
        .int("aws.lambda.function.error.max.retries")
        .map(|n| u32::try_from(n).ok());
    let max_record_age = v
        .int("aws.lambda.max.record.age.ms")
        .map(|n| (n >= 0).then(|| millis(n)));
    if max_record_age == Some(Some(Duration::ZERO)) {
        report.error(
            "aws.lambda.max.record.age.ms",
            "0 would skip every record; use -1 for no limit, or the age in milliseconds",
        );
    }
    let filter = match v.text("aws.lambda.filter.criteria") {
        None => Some(FilterCriteria::default()),
        Some(text) => FilterCriteria::parse(&text)
            .map_err(|e| report.error("aws.lambda.filter.criteria", e))
            .ok(),
    };
    let idempotency_key =
        v.text("aws.lambda.idempotency.key")
            .map_or(Some(IdempotencyKey::None), |text| {
                IdempotencyKey::parse(&text)
                    .map_err(|e| report.error("aws.lambda.idempotency.key", e))
                    .ok()
            });
    Some(LambdaConfig {
        routing: routing?,
        invocation_type: invocation_type?,
        batch_size: usize_of(v.int("aws.lambda.batch.size")?),
        linger: millis(v.int("aws.lambda.batch.linger.ms")?),
        max_payload_bytes,
        socket_timeout: millis(v.int("aws.lambda.socket.timeout")?),
        retry_timeout: retry_timeout?,
        retry_backoff: backoff?,
        retry_backoff_max: backoff_max?,
        max_in_flight: usize_of(v.int("aws.lambda.max.in.flight")?),
        ordering: ordering?,
        max_in_flight_per_partition: per_partition?,
        adaptive_concurrency: v.bool("aws.lambda.adaptive.concurrency"),
        include_headers: v.bool("aws.lambda.payload.include.headers"),
        payload_format: payload_format?,
        esm_event_source_arn,
        esm_record_format: v.choice(
            "aws.lambda.esm.record.format",
            EsmRecordFormat::from_canonical,
        )?,
        batch_item_failures,
        function_error_retries: function_error_retries?,
        bisect_on_function_error: v.bool("aws.lambda.bisect.on.function.error"),
        max_record_age: max_record_age?,
        filter: filter?,
        idempotency_key: idempotency_key?,
        on_failure: v.choice("aws.lambda.on.failure", OnFailure::from_canonical)?,
        converter: v.choice("record.converter.class", RecordConverter::from_canonical)?,
        behavior_on_error: behavior_on_error?,
    })
}

fn topic_map(
    entries: &[String],
    sub: Option<&Subscription>,
    report: &mut Report,
) -> Option<BTreeMap<TopicName, FunctionRef>> {
    const P: &str = "aws.lambda.topic2function.map";
    if entries.is_empty() {
        report.error(
            P,
            "is required in multiple mode: comma-separated topic;function entries, e.g. orders;order-fn,users;user-fn:prod",
        );
        return None;
    }
    let mut map = BTreeMap::new();
    let mut ok = true;
    for entry in entries {
        let Some((topic, function)) = entry.split_once(';') else {
            report.error(
                P,
                format!(
                    "entry {} must be topic;function[:qualifier]",
                    shown(entry, false)
                ),
            );
            ok = false;
            continue;
        };
        let topic = TopicName::parse(topic.trim());
        let function = FunctionRef::parse(function);
        match (topic, function) {
            (Ok(t), Ok(f)) => {
                if map.insert(t.clone(), f).is_some() {
                    report.error(P, format!("topic \"{t}\" is mapped more than once"));
                    ok = false;
                }
            }
            (t, f) => {
                for e in [t.err(), f.err()].into_iter().flatten() {
                    report.error(P, format!("entry {}: {e}", shown(entry, false)));
                }
                ok = false;
            }
        }
    }
    match sub {
        Some(Subscription::Topics(topics)) => {
            for t in topics {
                if !map.contains_key(t) {
                    report.error(
                        P,
                        format!(
                            "has no entry for subscribed topic \"{t}\"; add \"{t};<function>\""
                        ),
                    );
                    ok = false;
                }
            }
            for t in map.keys().filter(|t| !topics.contains(t)) {
                report.warn(
                    P,
                    format!("maps \"{t}\", which is not in topics; the entry is unused"),
                );
            }
        }
        Some(sub @ Subscription::Pattern(_)) => {
            for t in map.keys().filter(|t| !sub.includes(t.as_str())) {
                report.warn(
                    P,
                    format!("maps \"{t}\", which does not match topics.regex; the entry is unused"),
                );
            }
        }
        None => {}
    }
    ok.then_some(map)
}

fn outputs(
    v: &Values,
    id: Option<&ConnectorId>,
    lambda: Option<&LambdaConfig>,
    report: &mut Report,
) -> Option<(ReporterConfig, ErrorsConfig)> {
    let is_async = lambda.is_some_and(|l| l.invocation_type == InvocationType::Async);
    let logs_errors = lambda.is_some_and(|l| l.behavior_on_error == BehaviorOnError::Log);
    let mut ok = true;
    let mut reporter = |prefix: &'static str, used: bool, report: &mut Report| {
        let [name_p, parts_p, rf_p, format_p] = match prefix {
            "result" => [
                "reporter.result.topic.name",
                "reporter.result.topic.partitions",
                "reporter.result.topic.replication.factor",
                "reporter.result.topic.value.format",
            ],
            _ => [
                "reporter.error.topic.name",
                "reporter.error.topic.partitions",
                "reporter.error.topic.replication.factor",
                "reporter.error.topic.value.format",
            ],
        };
        let topic = output_topic(v, id, [name_p, parts_p, rf_p], report);
        let format = v.choice(format_p, ReporterValueFormat::from_canonical);
        if is_async && v.is_set(name_p) && topic.as_ref().is_some_and(Option::is_some) {
            report.warn(
                name_p,
                "is not used in async mode: Lambda does not return results to the caller",
            );
        }
        match (topic, format) {
            (Some(t), Some(value_format)) => t.filter(|_| used).map(|topic| ReporterTopic {
                topic,
                value_format,
            }),
            _ => {
                ok = false;
                None
            }
        }
    };
    let result = reporter("result", !is_async, report);
    let error = reporter("error", !is_async && logs_errors, report);

    let tolerance = v.choice("errors.tolerance", ErrorsTolerance::from_canonical);
    let context_headers = v.bool("errors.deadletterqueue.context.headers.enable");
    let dlq_topic = output_topic(
        v,
        id,
        [
            "errors.deadletterqueue.topic.name",
            "",
            "errors.deadletterqueue.topic.replication.factor",
        ],
        report,
    );
    let dlq = match (tolerance, dlq_topic) {
        (Some(ErrorsTolerance::All), Some(None)) => {
            report.error(
                "errors.deadletterqueue.topic.name",
                "is blank while errors.tolerance=all: records that cannot be processed would be dropped; \
                 name a DLQ topic, or set errors.tolerance=none to stop on such records",
            );
            None
        }
        (Some(ErrorsTolerance::All), Some(Some(topic))) => Some(Some(Dlq {
            topic,
            context_headers,
        })),
        (Some(ErrorsTolerance::None), Some(_)) => Some(None),
        _ => None,
    };
    let errors = ErrorsConfig {
        tolerance: tolerance?,
        dlq: dlq?,
    };
    let transactions = transactions(v, report);
    ok.then_some((
        ReporterConfig {
            result,
            error,
            transactions: transactions?,
        },
        errors,
    ))
}

/// `reporter.exactly.once` with `reporter.transaction.*`, checked against the producer's own
/// `transaction.timeout.ms` (a transaction must close well before the
/// coordinator aborts it).
fn transactions(v: &Values, report: &mut Report) -> Option<Option<Transactions>> {
    let interval = millis(v.int("reporter.transaction.interval.ms")?);
    let max_records = usize::try_from(v.int("reporter.transaction.max.records")?).ok()?;
    if !v.bool("reporter.exactly.once") {
        return Some(None);
    }
    const TIMEOUT: &str = "producer.override.transaction.timeout.ms";
    let configured = [PassThrough::Producer, PassThrough::All]
        .into_iter()
        .find_map(|t| v.pass_through(t).get("transaction.timeout.ms").cloned());
    if let Some(timeout) = configured {
        match timeout.expose().trim().parse::<u64>() {
            Ok(ms) if Duration::from_millis(ms) > interval * 2 => {}
            _ => {
                report.error(
                    TIMEOUT,
                    format!(
                        "must be a number of milliseconds above twice reporter.transaction.interval.ms ({} ms), \
                         or the coordinator aborts transactions before lambda-sink commits them",
                        interval.as_millis()
                    ),
                );
                return None;
            }
        }
    }
    Some(Some(Transactions {
        interval,
        max_records,
    }))
}

/// Reads an output topic's name (with `${connector}` substituted), partitions
/// and replication factor. `Some(None)`: the name is blank (disabled).
/// An empty `partitions` property name means 1 partition.
fn output_topic(
    v: &Values,
    id: Option<&ConnectorId>,
    [name_p, partitions_p, rf_p]: [&'static str; 3],
    report: &mut Report,
) -> Option<Option<OutputTopic>> {
    let raw = v.raw_text(name_p).unwrap_or_default();
    let partitions = if partitions_p.is_empty() {
        Some(1)
    } else {
        v.int(partitions_p).and_then(|n| i32::try_from(n).ok())
    };
    let replication_factor = v.int(rf_p).and_then(|n| i16::try_from(n).ok());
    if raw.trim().is_empty() {
        return Some(None);
    }
    let id = id?;
    match TopicName::parse(raw.trim().replace("${connector}", id.as_str()).as_str()) {
        Ok(name) => Some(Some(OutputTopic {
            name,
            partitions: partitions?,
            replication_factor,
        })),
        Err(e) => {
            report.error(name_p, e);
            None
        }
    }
}

fn service(v: &Values, report: &mut Report) -> Option<ServiceConfig> {
    let listener = v.text("http.listener").unwrap_or_default();
    let http_listener = if listener.eq_ignore_ascii_case("none") {
        Some(None)
    } else {
        let normalized = listener
            .strip_prefix("localhost:")
            .map_or(listener.clone(), |port| format!("127.0.0.1:{port}"));
        match normalized.parse::<SocketAddr>() {
            Ok(addr) => Some(Some(addr)),
            Err(_) => {
                report.error(
                    "http.listener",
                    format!(
                        "{} is not ip:port (e.g. 127.0.0.1:8083, 0.0.0.0:0 for any free port) or none",
                        shown(&listener, false)
                    ),
                );
                None
            }
        }
    };
    Some(ServiceConfig {
        http_listener: http_listener?,
        shutdown_timeout: millis(v.int("shutdown.timeout.ms")?),
    })
}

#[cfg(test)]
mod tests;
