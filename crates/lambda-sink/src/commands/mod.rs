//! One module per subcommand; [`dispatch`] runs the chosen one and returns
//! the process exit code.

mod connect;
mod describe;
mod run;
mod serve;
mod status;
mod table;
mod validate;

use tokio_util::sync::CancellationToken;

use crate::cli::{Command, PluginCommand};

/// Runs `command`. `Ok(code)` is the exit code; `Err` means a runtime
/// failure (exit code 1) and carries the reason. `shutdown` is cancelled by
/// the caller (the binary's signal handler) to stop `run`.
///
/// # Errors
/// Any failure the command could not turn into an exit code itself.
pub async fn dispatch(command: Command, shutdown: CancellationToken) -> anyhow::Result<u8> {
    match command {
        Command::Run { config } => run::run(&config, shutdown).await,
        Command::Serve {
            config,
            bootstrap_servers,
            listeners,
            group_id,
            check,
        } => {
            let overrides = serve::Overrides {
                bootstrap_servers,
                listeners,
                group_id,
                check,
            };
            serve::serve(config.as_deref(), overrides, shutdown).await
        }
        Command::Connect {
            url,
            output,
            command,
        } => connect::connect(&url, output, command).await,
        Command::Validate { config, offline } => validate::validate(&config, offline).await,
        Command::Plugin {
            command: PluginCommand::Describe { output },
        } => describe::describe(output),
        Command::Status { url } => status::status(&url).await,
        Command::Completions { shell } => {
            let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "lambda-sink", &mut std::io::stdout());
            Ok(crate::exit::OK)
        }
    }
}
