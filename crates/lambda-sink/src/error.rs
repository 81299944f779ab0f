//! The adapters' error for what an operator reads: [`Error`] says what was
//! being done, what went wrong, and whose move it is ([`Fault`]) — a
//! setting, credential or permission to fix (the same attempt fails again),
//! a service that did not answer (retrying may help), or lambda-sink itself.
//!
//! Record-level failures have their own, finer vocabulary in the core
//! ([`Disposition`](lambda_sink_core::disposition::Disposition): retry,
//! split, dead letter, stop), and a value that cannot be used is the core's
//! [`Invalid`](lambda_sink_core::Invalid).

use std::fmt::Display;

/// Whose move it is after an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The configuration, a credential, a permission or a resource (a topic,
    /// a port) is wrong or missing: fix it; retrying as is fails again.
    Setup,
    /// Kafka, the Schema Registry or AWS did not answer, or answered that it
    /// cannot now: retrying may help.
    Unavailable,
    /// lambda-sink itself (a task that panicked, a state it should never
    /// reach): report it.
    Internal,
}

impl Fault {
    /// Whether retrying the same thing may succeed.
    pub fn retryable(self) -> bool {
        self == Self::Unavailable
    }
}

/// What failed, why, and whose move it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    fault: Fault,
    message: String,
}

impl Error {
    /// An error with `fault`, said as `message`.
    pub fn new(fault: Fault, message: impl Display) -> Self {
        Self {
            fault,
            message: message.to_string(),
        }
    }

    /// A setting, credential, permission or resource to fix.
    pub fn setup(message: impl Display) -> Self {
        Self::new(Fault::Setup, message)
    }

    /// A service that did not answer; retrying may help.
    pub fn unavailable(message: impl Display) -> Self {
        Self::new(Fault::Unavailable, message)
    }

    /// lambda-sink's own failure.
    pub fn internal(message: impl Display) -> Self {
        Self::new(Fault::Internal, message)
    }

    /// Whose move it is.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The same error, with what was being done in front (`"{what}: {message}"`).
    #[must_use]
    pub fn within(self, what: impl Display) -> Self {
        Self::new(self.fault, format!("{what}: {}", self.message))
    }
}

/// Turns any displayable error into an [`Error`] with its fault and what
/// was being done: `result.or_fault(Fault::Setup, "reading the TLS key")`.
pub trait OrFault<T> {
    /// `Err(e)` becomes `"{what}: {e}"` with `fault`.
    ///
    /// # Errors
    /// The original error, classified.
    fn or_fault(self, fault: Fault, what: impl Display) -> Result<T, Error>;

    /// As [`or_fault`](OrFault::or_fault), with `what` built only on error.
    ///
    /// # Errors
    /// The original error, classified.
    fn or_fault_with<D: Display>(self, fault: Fault, what: impl FnOnce() -> D) -> Result<T, Error>;
}

impl<T, E: Display> OrFault<T> for Result<T, E> {
    fn or_fault(self, fault: Fault, what: impl Display) -> Result<T, Error> {
        self.map_err(|e| Error::new(fault, format!("{what}: {e}")))
    }

    fn or_fault_with<D: Display>(self, fault: Fault, what: impl FnOnce() -> D) -> Result<T, Error> {
        self.map_err(|e| Error::new(fault, format!("{}: {e}", what())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_was_being_done_and_whose_move_it_is() {
        let refused: Result<(), &str> = Err("address in use");
        let e = refused
            .or_fault(Fault::Setup, "binding 127.0.0.1:8083")
            .unwrap_err();
        assert_eq!(e.to_string(), "binding 127.0.0.1:8083: address in use");
        assert_eq!(e.fault(), Fault::Setup);
        assert!(!e.fault().retryable());
        let e = Error::unavailable("no broker answered").within("creating topic t");
        assert_eq!(e.to_string(), "creating topic t: no broker answered");
        assert!(e.fault().retryable());
    }
}
