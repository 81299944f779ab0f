//! What librdkafka says, made calm and useful.
//!
//! librdkafka reports a broker it cannot reach, or that refuses it, on every
//! reconnect attempt — several lines a second for as long as the outage
//! lasts. [`ClientEvents`] receives every client's log lines and error
//! events and:
//!
//! * **folds repeats**: the first line of a kind is logged at once, with its
//!   full detail, as a `WARN` of lambda-sink's own; lines of the same kind
//!   (the same text, numbers aside) within the next [`FOLD_WINDOW`] are only
//!   counted, and the next one after it is logged with that count. librdkafka's
//!   notices and debug lines (`kafka.debug`) are logged at `DEBUG`, unfolded.
//! * **remembers why a connection was refused** ([`ClientFailure`]): a
//!   refused login or a failed TLS handshake never heals by retrying, so the
//!   start-up check reports it naming the properties to fix, instead of
//!   waiting for a broker that will never accept it.
//! * **masks secrets**: any configured secret value that appears in a line is
//!   replaced by `********` (librdkafka does not print them, but a line is
//!   only as safe as what it quotes).
//!
//! [`KafkaContext`] is the librdkafka context of the clients that need
//! nothing else (the outcome producer, the start-up probe); the consumer's
//! context delegates to its own [`ClientEvents`].

use crate::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_sink_core::config::ClientProperties;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, warn};

/// How long repeats of a line are counted before it is logged again.
pub const FOLD_WINDOW: Duration = Duration::from_secs(30);

/// Most kinds of line remembered; past it the oldest are forgotten (a
/// forgotten kind is logged in full again).
const MAX_KINDS: usize = 256;

/// A connection refusal that retrying does not heal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFailure {
    /// The broker refused the SASL credentials.
    Authentication(String),
    /// The TLS handshake failed (certificate, CA or protocol).
    Tls(String),
}

/// Counts repeats of each kind of line (see the module doc). Time is passed
/// in, so the rule is tested without waiting.
#[derive(Debug, Default)]
struct Folder {
    kinds: HashMap<String, Kind>,
}

#[derive(Debug)]
struct Kind {
    /// When it was last logged.
    logged: Instant,
    /// Repeats since then, not logged.
    repeats: u64,
}

impl Folder {
    /// Whether a line of kind `key` seen at `now` is logged: `Some(n)` with
    /// the number of repeats folded into it, `None` when it is only counted.
    fn note(&mut self, key: &str, now: Instant) -> Option<u64> {
        if let Some(kind) = self.kinds.get_mut(key) {
            if now.duration_since(kind.logged) < FOLD_WINDOW {
                kind.repeats += 1;
                return None;
            }
            let repeats = kind.repeats;
            *kind = Kind {
                logged: now,
                repeats: 0,
            };
            return Some(repeats);
        }
        if self.kinds.len() >= MAX_KINDS {
            let oldest = self
                .kinds
                .iter()
                .min_by_key(|(_, k)| k.logged)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.kinds.remove(&oldest);
            }
        }
        self.kinds.insert(
            key.to_string(),
            Kind {
                logged: now,
                repeats: 0,
            },
        );
        Some(0)
    }
}

/// The kind of a line: its text without librdkafka's thread prefix
/// (`[thrd:...]: `, which only log lines have, not the error event of the
/// same failure) and timing suffix (` (after 302ms in state CONNECT, 3
/// identical error(s) suppressed)`), with every run of digits as `#`.
fn kind_of(text: &str) -> String {
    let text = match text
        .strip_prefix("[thrd:")
        .and_then(|t| t.split_once("]: "))
    {
        Some((_, rest)) => rest,
        None => text,
    };
    let text = text.split_once(" (after ").map_or(text, |(head, _)| head);
    let mut key = String::with_capacity(text.len());
    let mut in_digits = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                key.push('#');
            }
            in_digits = true;
        } else {
            key.push(c);
            in_digits = false;
        }
    }
    key
}

/// One client's (or one connector's) librdkafka events; see the module doc.
#[derive(Debug)]
pub struct ClientEvents {
    folder: Mutex<Folder>,
    failure: Mutex<Option<ClientFailure>>,
    secrets: Vec<String>,
}

impl ClientEvents {
    /// Events of a client configured with `props` (whose secret values are
    /// masked wherever they would appear).
    pub fn new(props: &ClientProperties) -> Self {
        Self {
            folder: Mutex::default(),
            failure: Mutex::default(),
            secrets: props
                .values()
                .filter(|v| v.is_secret() && !v.expose().is_empty())
                .map(|v| v.expose().to_string())
                .collect(),
        }
    }

    /// The last refusal that retrying does not heal, if any was seen.
    pub fn failure(&self) -> Option<ClientFailure> {
        lock(&self.failure).clone()
    }

    /// Forgets the last refusal (a new connection attempt starts).
    pub fn clear_failure(&self) {
        *lock(&self.failure) = None;
    }

    /// A librdkafka log line.
    pub fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => self.warn_folded("librdkafka", message),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
                debug!(target: "librdkafka", facility, "{}", self.mask(message));
            }
        }
    }

    /// A librdkafka error event (a client-wide error, not a record's).
    pub fn error(&self, error: &KafkaError, reason: &str) {
        let failure = match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed) => {
                Some(ClientFailure::Authentication(self.mask(reason)))
            }
            Some(RDKafkaErrorCode::SSL) => Some(ClientFailure::Tls(self.mask(reason))),
            // A broker that rejects the client's certificate (or none) sends
            // a TLS alert, which librdkafka reports as a transport failure
            // quoting OpenSSL ("error:0A000412:SSL routines::...").
            Some(RDKafkaErrorCode::BrokerTransportFailure)
                if reason.contains("SSL routines") || reason.contains("SSL handshake failed") =>
            {
                Some(ClientFailure::Tls(self.mask(reason)))
            }
            _ => None,
        };
        if let Some(f) = failure {
            *lock(&self.failure) = Some(f);
        }
        // The same failure usually arrives as a log line too: folded with it.
        self.warn_folded("librdkafka", &format!("{reason} ({error})"));
    }

    /// Logs `message` as a WARN from `source`, folding repeats.
    pub fn warn_folded(&self, source: &'static str, message: &str) {
        let Some(repeats) = lock(&self.folder).note(&kind_of(message), Instant::now()) else {
            return;
        };
        let message = self.mask(message);
        if repeats == 0 {
            warn!(source, "{message}");
        } else {
            warn!(
                source,
                repeats,
                "{message} (and {repeats} more like it in the last {} s)",
                FOLD_WINDOW.as_secs()
            );
        }
    }

    /// `text` with every configured secret value masked.
    pub fn mask(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "********"))
    }
}

/// The librdkafka context of clients that need only [`ClientEvents`].
#[derive(Debug)]
pub struct KafkaContext {
    events: Arc<ClientEvents>,
}

impl KafkaContext {
    /// A context for a client configured with `props`.
    pub fn new(props: &ClientProperties) -> Self {
        Self {
            events: Arc::new(ClientEvents::new(props)),
        }
    }

    /// The client's events (shared with whatever wraps this context).
    pub fn events(&self) -> &Arc<ClientEvents> {
        &self.events
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.events.log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.events.error(&error, reason);
    }
}

/// The start-up probe is a producer that sends nothing.
impl rdkafka::producer::ProducerContext for KafkaContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, (): ()) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_sink_core::config::ClientValue;

    #[test]
    fn repeats_are_counted_and_logged_once_a_window() {
        let mut f = Folder::default();
        let t0 = Instant::now();
        let key = kind_of("127.0.0.1:9092/bootstrap: Connect failed (after 3ms in state CONNECT)");
        assert_eq!(f.note(&key, t0), Some(0), "the first is logged");
        for i in 1..=5 {
            assert_eq!(f.note(&key, t0 + Duration::from_secs(i)), None);
        }
        assert_eq!(
            f.note(&key, t0 + FOLD_WINDOW + Duration::from_secs(1)),
            Some(5),
            "after the window: logged with the count"
        );
        assert_eq!(
            f.note(&key, t0 + FOLD_WINDOW + Duration::from_secs(2)),
            None
        );
        assert_eq!(f.note("another kind", t0), Some(0));
    }

    #[test]
    fn timings_counts_and_thread_prefixes_do_not_make_a_new_kind() {
        let log_line = "[thrd:ssl://127.0.0.1:9095/bootstrap]: ssl://127.0.0.1:9095/bootstrap: \
                        Receive failed: SSL alert number 42 (after 0ms in state APIVERSION_QUERY)";
        let error_event = "ssl://127.0.0.1:9095/bootstrap: Receive failed: SSL alert number 42 \
                           (after 5ms in state APIVERSION_QUERY, 1 identical error(s) suppressed) \
                           (Global error: BrokerTransportFailure)";
        assert_eq!(kind_of(log_line), kind_of(error_event));
        assert_eq!(
            kind_of("1/1 brokers are down"),
            kind_of("2/2 brokers are down")
        );
        assert_ne!(kind_of("Connect failed"), kind_of("SSL handshake failed"));
    }

    #[test]
    fn the_kinds_remembered_are_bounded() {
        let mut f = Folder::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KINDS + 10) {
            let at = t0 + Duration::from_millis(u64::try_from(i).unwrap_or(0));
            assert_eq!(f.note(&format!("kind {}", "x".repeat(i)), at), Some(0));
        }
        assert_eq!(f.kinds.len(), MAX_KINDS);
    }

    #[test]
    fn secrets_are_masked_and_refusals_remembered() {
        let mut props = ClientProperties::new();
        props.insert("sasl.password".into(), ClientValue::new("hunter2", true));
        props.insert("sasl.username".into(), ClientValue::new("alice", false));
        let events = ClientEvents::new(&props);
        assert_eq!(
            events.mask("user alice, password hunter2"),
            "user alice, password ********"
        );
        assert_eq!(events.failure(), None);
        events.error(
            &KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed: hunter2",
        );
        assert_eq!(
            events.failure(),
            Some(ClientFailure::Authentication(
                "SASL authentication error: Authentication failed: ********".into()
            ))
        );
        events.clear_failure();
        events.error(
            &KafkaError::Global(RDKafkaErrorCode::BrokerTransportFailure),
            "Connection refused",
        );
        assert_eq!(
            events.failure(),
            None,
            "a transport failure heals by retrying"
        );
    }
}
