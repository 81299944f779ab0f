//! [`Problem`]: one thing wrong (or worth a warning) in a configuration.

use std::fmt;

/// A problem with one property: which property, and a message that names the
/// offending value (masked when secret) and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The property (or file) the problem is about.
    pub property: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl Problem {
    /// A problem with `property`.
    pub fn new(property: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            property: property.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.message)
    }
}
