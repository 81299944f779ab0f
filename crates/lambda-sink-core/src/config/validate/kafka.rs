//! Pass 3, the Kafka cluster and the Schema Registry: `kafka.*`, the
//! authentication modes and pass-through properties; `schema.registry.*`.

use crate::codec::DataFormat;

use super::super::enums::{AutoOffsetReset, KafkaAuthMode};
use super::super::model::{ClientProperties, KafkaAuth, KafkaConfig, SchemaRegistryConfig};
use super::super::properties::PassThrough;
use super::super::secret::Secret;
use super::values::{Report, Values, check_host_port, check_url};

/// The Kafka connection: servers, authentication, pass-through properties.
pub(super) fn kafka(v: &Values, report: &mut Report) -> Option<KafkaConfig> {
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
    let auth = auth(v, mode, key, secret, &common, report);
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

/// `kafka.auth.mode` with its keys (`KAFKA_API_KEY` owns the SASL
/// settings, so they may not be passed through as well).
fn auth(
    v: &Values,
    mode: KafkaAuthMode,
    key: Option<String>,
    secret: Option<Secret<String>>,
    common: &ClientProperties,
    report: &mut Report,
) -> Option<KafkaAuth> {
    match mode {
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
    }
}

pub(super) fn schema_registry(
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
