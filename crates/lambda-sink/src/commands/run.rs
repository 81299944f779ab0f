//! `lambda-sink run`: validate the configuration, then run the connector.

use std::path::Path;

use crate::config_file;
use crate::exit;

/// Runs the connector described by the file at `path`.
///
/// # Errors
/// Runtime failures.
pub(super) async fn run(path: &Path) -> anyhow::Result<u8> {
    let validation = match config_file::load(path) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::CONFIG);
        }
    };
    config_file::print_problems(
        &mut std::io::stderr(),
        &validation.errors,
        &validation.warnings,
    )?;
    let Some(_config) = validation.config else {
        eprintln!(
            "{}: the configuration is not valid",
            config_file::counts(validation.errors.len(), validation.warnings.len())
        );
        return Ok(exit::CONFIG);
    };
    eprintln!(
        "error: the configuration is valid, but the pipeline is not implemented yet in this build; \
         nothing was consumed"
    );
    Ok(exit::RUNTIME)
}
