//! [`Invalid`]: why a value given to lambda-sink cannot be used — a
//! property's value, a schema, a request body, a record's field — said for
//! whoever gave it. The fault is the value's: retrying the same value gives
//! the same answer.
//!
//! Where it ends decides what it becomes: a [`Problem`](crate::Problem)
//! naming the property, a record's dead letter, or a `400` from the REST
//! API. [`invalid!`](crate::invalid) builds one like `format!`.

/// Why a value cannot be used, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    reason: String,
}

impl Invalid {
    /// Why, said for whoever gave the value.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// The same reason, prefixed with what was being read (`"{what}: {reason}"`).
    #[must_use]
    pub fn within(self, what: impl std::fmt::Display) -> Self {
        Self::new(format!("{what}: {}", self.reason))
    }

    /// The reason, as text.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl From<Invalid> for String {
    /// The reason, for a [`Problem`](crate::Problem)'s or a dead letter's message.
    fn from(e: Invalid) -> Self {
        e.reason
    }
}

/// An [`Invalid`] from a `format!` argument list.
#[macro_export]
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::invalid::Invalid::new(format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_as_its_reason_with_what_was_being_read_in_front() {
        let e = crate::invalid!("{} is not a number", "x").within("field n");
        assert_eq!(e.to_string(), "field n: x is not a number");
        assert_eq!(e.reason(), "field n: x is not a number");
    }
}
