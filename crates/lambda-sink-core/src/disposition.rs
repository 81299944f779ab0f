//! The one error vocabulary of the adapters: what happens to a record
//! when something fails ([`Disposition`]: retry, split, dead letter, stop),
//! why a retry happens ([`RetryReason`]), and the trait every adapter error
//! implements ([`Disposed`]).

/// Why a retry happens (a metric label: low cardinality).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RetryReason {
    /// 429: concurrency or rate limits.
    Throttled,
    /// 5xx from Lambda.
    ServerError,
    /// The function is being updated or is not ready (409, 502 not-ready).
    NotReady,
    /// No response within the socket timeout (or 408).
    Timeout,
    /// Connection refused, reset or broken.
    Connection,
    /// Credentials expired or could not be loaded.
    Credentials,
    /// The Schema Registry cannot be reached.
    Registry,
    /// Kafka cannot be reached (or did not acknowledge a record yet).
    Kafka,
}

impl RetryReason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Throttled => "throttled",
            Self::ServerError => "server_error",
            Self::NotReady => "not_ready",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::Credentials => "credentials",
            Self::Registry => "registry",
            Self::Kafka => "kafka",
        }
    }
}

/// What happens to the record after a failure: the one answer every
/// adapter's error gives ([`Disposed`]) — Lambda's invocations, the Schema
/// Registry, the outcome producer, the consumer and the start-up probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Transient: retry after a backoff (the core's [`Backoff`](crate::retry::Backoff);
    /// at least `Retry-After` when given).
    Retry(RetryReason),
    /// The request is too large: split the batch in halves.
    Split,
    /// The record itself cannot be processed (e.g. its schema does not
    /// exist): it goes to the DLQ, or stops the connector under
    /// `errors.tolerance=none`.
    DeadLetter(String),
    /// A configuration or permission problem: stop the connector, commit
    /// nothing for the work concerned, and tell the operator what to fix.
    Stop(String),
}

/// An error that knows what happens to the record it concerns.
pub trait Disposed {
    /// The disposition of this error.
    fn disposition(&self) -> Disposition;
}
