//! Loading a configuration file for a command and reporting its problems.

use std::io::Write;
use std::path::Path;

use lambda_sink_core::Problem;
use lambda_sink_core::config::{self, Validation};

/// Reads and validates `path`, resolving `${env:...}` from the process
/// environment.
///
/// # Errors
/// When the file cannot be read or has no accepted shape; the message says why.
pub fn load(path: &Path) -> Result<Validation, config::SourceError> {
    let raw = config::load(path)?;
    Ok(config::validate(&raw, &|name| std::env::var(name).ok()))
}

/// Prints errors then warnings, one line each, as `error: property: message`.
///
/// # Errors
/// When writing fails.
pub fn print_problems(
    out: &mut impl Write,
    errors: &[Problem],
    warnings: &[Problem],
) -> std::io::Result<()> {
    for e in errors {
        writeln!(out, "error: {e}")?;
    }
    for w in warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

/// `n word` with an `s` unless `n` is 1.
pub fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// "3 errors, 1 warning" style counts.
pub fn counts(errors: usize, warnings: usize) -> String {
    match (errors, warnings) {
        (0, 0) => "no problems".into(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}
