//! The command line: subcommands and their arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Stream Kafka records into AWS Lambda.
///
/// A standalone, Confluent-compatible AWS Lambda Sink: the same configuration,
/// payloads and result topics as Confluent's connector, as one binary.
#[derive(Debug, Parser)]
#[command(name = "lambda-sink", version, propagate_version = true)]
pub struct Cli {
    /// Log line format (logs go to stderr; RUST_LOG sets the level, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "LAMBDA_SINK_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the connector in the foreground until SIGINT or SIGTERM.
    Run {
        /// Configuration file: flat JSON, {"name","config"} JSON, or .properties.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration and print every problem at once.
    ///
    /// Exits 0 when the configuration is valid, 2 when it is not. Unless
    /// --offline, also checks the live services: Kafka reachable, input
    /// topics present, every function found by GetFunction.
    Validate {
        /// Configuration file: flat JSON, {"name","config"} JSON, or .properties.
        #[arg(long, short)]
        config: PathBuf,
        /// Check the configuration only, without contacting Kafka or AWS.
        #[arg(long)]
        offline: bool,
    },
    /// Describe the connector plugin.
    Plugin {
        /// What to describe.
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Ask a running instance for its status (`ID | Name | Status | Type`,
    /// then one line per task).
    Status {
        /// The instance's HTTP endpoint (its http.listener).
        #[arg(long, default_value = "http://127.0.0.1:8083", env = "LAMBDA_SINK_URL")]
        url: String,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print the required properties, then every property with its type,
    /// default, valid values and meaning.
    Describe {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output: Output,
    },
}

/// Output format of `plugin describe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For programs.
    Json,
}
