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

/// How a value appears in a message: quoted, shortened when long, and
/// replaced by the mask when it is secret.
pub(crate) fn shown(value: &str, secret: bool) -> String {
    const LONGEST: usize = 80;
    if secret {
        return super::secret::MASK.to_string();
    }
    if value.chars().count() > LONGEST {
        let head: String = value.chars().take(LONGEST).collect();
        format!("{head:?}…")
    } else {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_quotes_masks_and_shortens() {
        assert_eq!(shown("sync", false), "\"sync\"");
        assert_eq!(shown("hunter2", true), "********");
        let long = "x".repeat(100);
        assert_eq!(shown(&long, false), format!("\"{}\"…", "x".repeat(80)));
    }
}
