//! The librdkafka properties of each Kafka client, derived from [`KafkaConfig`].
//!
//! Order of precedence, lowest first: lambda-sink's tunable defaults, then
//! `kafka.*`, then `consumer.override.*` / `producer.override.*`, then the
//! settings at-least-once depends on, which nothing can override (validation
//! already rejects attempts, this order makes it structural).

use super::enums::AutoOffsetReset;

use super::model::{ClientProperties, ClientValue, KafkaAuth, KafkaConfig};

use super::names::ConnectorId;
use crate::read_ahead::ReadAhead;

/// Which client the properties are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRole<'a> {
    /// The consumer of the input topics, member of the connector's group,
    /// prefetching as far as its task reads ahead.
    Consumer(&'a ConnectorId, ReadAhead),
    /// The producer of result, error and DLQ records.
    Producer,
    /// The admin client (topic creation, metadata).
    Admin,
}

impl KafkaConfig {
    /// Every librdkafka property for `role`, secrets marked.
    pub fn client_properties(&self, role: ClientRole<'_>) -> ClientProperties {
        let mut p = ClientProperties::new();
        let set = |p: &mut ClientProperties, k: &str, v: &str| {
            p.insert(k.to_string(), ClientValue::new(v, false));
        };
        // Tunable defaults.
        set(&mut p, "client.id", "lambda-sink");
        match role {
            ClientRole::Consumer(_, read_ahead) => {
                // Cooperative rebalancing moves only the partitions that
                // change owner, so a rebalance does not drain every partition.
                set(
                    &mut p,
                    "partition.assignment.strategy",
                    "cooperative-sticky",
                );
                set(&mut p, "auto.commit.interval.ms", "1000");
                // Every partition has its own queue, so these bound each
                // partition's prefetch (record bytes and records, whichever
                // comes first; a fetch adds at most max.partition.fetch.bytes
                // beyond them), sized by the task's read-ahead so that the
                // task's total stays bounded however many partitions it owns
                // (librdkafka's defaults, 64 MiB and 100,000 records a
                // partition, are not). librdkafka also caps fetch.max.bytes
                // at the byte bound (but not below message.max.bytes).
                set(
                    &mut p,
                    "queued.max.messages.kbytes",
                    &read_ahead.prefetch_kbytes.to_string(),
                );
                set(
                    &mut p,
                    "queued.min.messages",
                    &read_ahead.prefetch_records.to_string(),
                );
                set(
                    &mut p,
                    "max.partition.fetch.bytes",
                    &read_ahead.fetch_partition_bytes().to_string(),
                );
                // One fetch is in flight per broker. When the partitions
                // with room are all caught up (others full, waiting on a
                // slow function), that fetch is a long poll, and the full
                // partitions cannot be refilled until it returns: bound it
                // (librdkafka's 500 ms starved a backlog to 0.4 of the rate
                // on Apache Kafka; BENCHMARKS.md).
                set(&mut p, "fetch.wait.max.ms", "100");
                // A partition whose queue is full is fetched again this soon
                // after it drains (librdkafka's default waits a whole second).
                set(&mut p, "fetch.queue.backoff.ms", "50");
                // Consumer lag and committed offsets for /metrics.
                set(&mut p, "statistics.interval.ms", "5000");
            }
            ClientRole::Producer => {
                set(&mut p, "linger.ms", "5");
                set(&mut p, "compression.type", "lz4");
            }
            ClientRole::Admin => {}
        }
        // User pass-through.
        p.extend(self.common.clone());
        match role {
            ClientRole::Consumer(..) => p.extend(self.consumer.clone()),
            ClientRole::Producer => p.extend(self.producer.clone()),
            ClientRole::Admin => {}
        }
        // Settings lambda-sink owns.
        set(
            &mut p,
            "bootstrap.servers",
            &self.bootstrap_servers.join(","),
        );
        if let KafkaAuth::ApiKey { key, secret } = &self.auth {
            set(&mut p, "security.protocol", "SASL_SSL");
            set(&mut p, "sasl.mechanisms", "PLAIN");
            set(&mut p, "sasl.username", key);
            p.insert(
                "sasl.password".into(),
                ClientValue::new(secret.expose().as_str(), true),
            );
        }
        match role {
            ClientRole::Consumer(id, _) => {
                set(&mut p, "group.id", &id.group_id());
                // librdkafka commits what we *store*, on a timer; we store an
                // offset only once every record before it is resolved.
                set(&mut p, "enable.auto.commit", "true");
                set(&mut p, "enable.auto.offset.store", "false");
                set(&mut p, "enable.partition.eof", "false");
                let reset = match self.auto_offset_reset {
                    AutoOffsetReset::Earliest => "earliest",
                    AutoOffsetReset::Latest => "latest",
                    AutoOffsetReset::None => "error",
                };
                set(&mut p, "auto.offset.reset", reset);
            }
            ClientRole::Producer => {
                set(&mut p, "acks", "all");
                set(&mut p, "enable.idempotence", "true");
            }
            ClientRole::Admin => {}
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RawConfig, validate};

    fn kafka(extra: &[(&str, &str)]) -> (KafkaConfig, ConnectorId) {
        let mut pairs = vec![
            ("name", "s"),
            ("topics", "t"),
            ("kafka.bootstrap.servers", "a:9092,b:9092"),
            ("aws.lambda.function.name", "f"),
        ];
        pairs.extend_from_slice(extra);
        let v = validate(&RawConfig::from_pairs(pairs), &|_| None);
        let c = v.config.unwrap_or_else(|| panic!("{:?}", v.errors));
        (c.kafka, c.connector_id)
    }

    fn get<'a>(p: &'a ClientProperties, k: &str) -> Option<&'a str> {
        p.get(k).map(ClientValue::expose)
    }

    #[test]
    fn the_long_poll_is_bounded_unless_overridden() {
        let (k, id) = kafka(&[]);
        let p = k.client_properties(ClientRole::Consumer(&id, ReadAhead::default()));
        assert_eq!(get(&p, "fetch.wait.max.ms"), Some("100"));
    }

    #[test]
    fn consumer_properties_guarantee_at_least_once() {
        let (k, id) = kafka(&[("consumer.override.fetch.wait.max.ms", "20")]);
        let p = k.client_properties(ClientRole::Consumer(&id, ReadAhead::default()));
        assert_eq!(get(&p, "bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(get(&p, "group.id"), Some("connect-s"));
        assert_eq!(get(&p, "enable.auto.commit"), Some("true"));
        assert_eq!(get(&p, "enable.auto.offset.store"), Some("false"));
        assert_eq!(get(&p, "auto.offset.reset"), Some("earliest"));
        assert_eq!(get(&p, "fetch.wait.max.ms"), Some("20"));
        assert_eq!(get(&p, "queued.max.messages.kbytes"), Some("2048"));
        assert_eq!(get(&p, "queued.min.messages"), Some("10000"));
        assert!(!p.contains_key("security.protocol"));
        let producer = k.client_properties(ClientRole::Producer);
        assert!(
            !producer.contains_key("fetch.wait.max.ms"),
            "consumer overrides stay on the consumer"
        );
        assert_eq!(get(&producer, "acks"), Some("all"));
        assert_eq!(get(&producer, "enable.idempotence"), Some("true"));
    }

    #[test]
    fn the_prefetch_follows_the_read_ahead_unless_overridden() {
        let many = ReadAhead::for_partitions(1_000, 500, 20);
        let (k, id) = kafka(&[]);
        let p = k.client_properties(ClientRole::Consumer(&id, many));
        assert_eq!(get(&p, "queued.max.messages.kbytes"), Some("32"));
        assert_eq!(get(&p, "queued.min.messages"), Some("100"));
        assert_eq!(get(&p, "max.partition.fetch.bytes"), Some("32768"));
        let (k, id) = kafka(&[
            ("consumer.override.queued.min.messages", "5000"),
            ("kafka.queued.max.messages.kbytes", "1024"),
        ]);
        let p = k.client_properties(ClientRole::Consumer(&id, many));
        assert_eq!(get(&p, "queued.max.messages.kbytes"), Some("1024"));
        assert_eq!(get(&p, "queued.min.messages"), Some("5000"));
    }

    #[test]
    fn api_key_mode_is_sasl_ssl_plain() {
        let (k, id) = kafka(&[("kafka.api.key", "KEY"), ("kafka.api.secret", "SECRET")]);
        for role in [
            ClientRole::Consumer(&id, ReadAhead::default()),
            ClientRole::Producer,
            ClientRole::Admin,
        ] {
            let p = k.client_properties(role);
            assert_eq!(get(&p, "security.protocol"), Some("SASL_SSL"));
            assert_eq!(get(&p, "sasl.mechanisms"), Some("PLAIN"));
            assert_eq!(get(&p, "sasl.username"), Some("KEY"));
            assert_eq!(get(&p, "sasl.password"), Some("SECRET"));
            assert!(p["sasl.password"].is_secret());
            assert!(!format!("{p:?}").contains("SECRET"));
        }
    }

    #[test]
    fn scram_and_mtls_pass_through_unchanged() {
        let (k, _) = kafka(&[
            ("kafka.security.protocol", "SASL_SSL"),
            ("kafka.sasl.mechanism", "SCRAM-SHA-512"),
            ("kafka.sasl.username", "u"),
            ("kafka.sasl.password", "pw"),
            ("kafka.ssl.ca.location", "/etc/ca.pem"),
            ("kafka.ssl.certificate.location", "/etc/client.pem"),
            ("kafka.ssl.key.location", "/etc/client.key"),
        ]);
        let p = k.client_properties(ClientRole::Producer);
        assert_eq!(get(&p, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get(&p, "ssl.ca.location"), Some("/etc/ca.pem"));
        assert!(p["sasl.password"].is_secret());
        assert!(!p["ssl.key.location"].is_secret(), "a path is not a secret");
    }
}
