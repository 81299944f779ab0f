//! [`Secret`]: a value that must never be printed, logged or returned by an API.

use std::fmt;

/// What every secret prints as, whatever its value.
pub const MASK: &str = "********";

/// A secret value (password, API secret, access key).
///
/// `Debug` and `Display` print [`MASK`]; the only way to read the value is
/// [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value itself. Call this only where the value is handed to
    /// the library that needs it (librdkafka, the AWS SDK, an HTTP header).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// How a value appears in a message: quoted, shortened when long, and
/// replaced by the mask when it is secret.
pub(crate) fn shown(value: &str, secret: bool) -> String {
    const LONGEST: usize = 80;
    if secret {
        return MASK.to_string();
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
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), MASK);
        assert_eq!(format!("{:?}", Some(&s)), format!("Some({MASK})"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn shown_quotes_masks_and_shortens() {
        assert_eq!(shown("sync", false), "\"sync\"");
        assert_eq!(shown("hunter2", true), "********");
        let long = "x".repeat(100);
        assert_eq!(shown(&long, false), format!("\"{}\"…", "x".repeat(80)));
    }
}
