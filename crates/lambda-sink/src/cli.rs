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
    /// Run a worker hosting any number of connectors, managed through
    /// Kafka Connect's REST API, with configs and status kept in Kafka.
    ///
    /// Every worker with the same group.id and topics hosts the same
    /// connectors and shares their partitions.
    Serve {
        /// Worker file (.properties or JSON): group.id, listeners, the
        /// storage topics, REST auth, and connector defaults such as
        /// kafka.bootstrap.servers.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// kafka.bootstrap.servers (overrides the file).
        #[arg(long, env = "LAMBDA_SINK_BOOTSTRAP_SERVERS")]
        bootstrap_servers: Option<String>,
        /// listeners, e.g. http://127.0.0.1:8083 (overrides the file).
        #[arg(long, env = "LAMBDA_SINK_LISTENERS")]
        listeners: Option<String>,
        /// group.id: the cluster of workers (overrides the file).
        #[arg(long, env = "LAMBDA_SINK_GROUP_ID")]
        group_id: Option<String>,
        /// Check the worker configuration, print every problem, and exit
        /// (0 valid, 2 not) without contacting Kafka.
        #[arg(long)]
        check: bool,
    },
    /// Manage the connectors of a worker (`serve`), like `confluent connect`.
    Connect {
        /// The worker's REST API.
        #[arg(
            long,
            global = true,
            default_value = "http://127.0.0.1:8083",
            env = "LAMBDA_SINK_URL"
        )]
        url: String,
        /// Output format.
        #[arg(long, short, global = true, value_enum, default_value_t = ConnectOutput::Human)]
        output: ConnectOutput,
        /// What to do.
        #[command(subcommand)]
        command: ConnectCommand,
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

/// `connect` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectCommand {
    /// The worker's plugins.
    Plugin {
        /// What to show.
        #[command(subcommand)]
        command: ConnectPlugin,
    },
    /// Create a connector from a file: flat JSON, {"name","config"} JSON,
    /// or .properties (the file `confluent connect create --config` takes).
    Create {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Every connector: ID | Name | Status | Type.
    List,
    /// A connector's state, tasks and configuration.
    Describe {
        /// Connector name.
        name: String,
    },
    /// Pause a connector: records stop flowing, offsets hold.
    Pause {
        /// Connector name.
        name: String,
    },
    /// Resume a paused or stopped connector.
    Resume {
        /// Connector name.
        name: String,
    },
    /// Stop a connector: no tasks; its offsets may then be reset.
    Stop {
        /// Connector name.
        name: String,
    },
    /// Restart a connector (on every worker).
    Restart {
        /// Connector name.
        name: String,
        /// Only if it failed.
        #[arg(long)]
        only_failed: bool,
    },
    /// Delete a connector (its outcome topics are kept).
    Delete {
        /// Connector name.
        name: String,
    },
    /// A connector's dead letter queue.
    Dlq {
        /// What to do.
        #[command(subcommand)]
        command: ConnectDlq,
    },
    /// A connector's committed offsets.
    Offsets {
        /// What to do.
        #[command(subcommand)]
        command: ConnectOffsets,
    },
    /// Replay jobs: re-invoke a time range of a topic through a running
    /// connector's function, beside its own flow.
    Replay {
        /// What to do.
        #[command(subcommand)]
        command: ConnectReplay,
    },
    /// A connector's parked keys (`aws.lambda.on.key.failure=park`): Topic |
    /// Partition | Key | Records | First Offset | Parked For | Retries |
    /// Reason (its last failure); or, with --retry or --skip, an order for
    /// one of them.
    Parked {
        /// Connector name.
        name: String,
        /// Retry this parked key now (its text; --base64 for bytes).
        #[arg(long, value_name = "KEY", conflicts_with = "skip")]
        retry: Option<String>,
        /// Skip this parked key: its parked records are resolved as failed
        /// (DLQ, or as behavior.on.error says) without an invocation.
        #[arg(long, value_name = "KEY")]
        skip: Option<String>,
        /// The key is given in base64.
        #[arg(long)]
        base64: bool,
        /// Only where the key is parked in this topic.
        #[arg(long)]
        topic: Option<String>,
        /// Only where the key is parked in this partition.
        #[arg(long)]
        partition: Option<i32>,
    },
}

/// `connect replay` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectReplay {
    /// Start a replay job; prints its id and how many records it covers.
    Start {
        /// Connector name.
        name: String,
        /// From this time (epoch milliseconds or RFC 3339), inclusive.
        #[arg(long)]
        from: String,
        /// To this time, exclusive (default: now).
        #[arg(long)]
        to: Option<String>,
        /// The topic (default: the connector's only topic).
        #[arg(long)]
        topic: Option<String>,
        /// Only this partition (repeatable).
        #[arg(long)]
        partition: Vec<i32>,
        /// Only keys (as text) matching this regular expression.
        #[arg(long)]
        key_pattern: Option<String>,
    },
    /// The connector's latest replay jobs: Id | State | Topic | Read |
    /// Total | Skipped | Outcomes.
    List {
        /// Connector name.
        name: String,
    },
    /// Stop a running replay job.
    Cancel {
        /// Connector name.
        name: String,
        /// The job's id.
        id: String,
    },
}

/// `connect plugin` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectPlugin {
    /// The plugins: Plugin Name | Type.
    List,
    /// Every property: Config | Documentation | Required.
    Describe {
        /// Plugin name (LambdaSink or the class name).
        #[arg(default_value = "LambdaSink")]
        plugin: String,
    },
}

/// `connect dlq` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectDlq {
    /// Replay dead letters through the connector (by default every one not
    /// redriven yet); prints what came of them.
    Redrive {
        /// Connector name.
        name: String,
        /// Only this DLQ partition (repeatable).
        #[arg(long)]
        partition: Vec<i32>,
        /// First DLQ offset (default: after the last redrive).
        #[arg(long)]
        from_offset: Option<i64>,
        /// DLQ offset to stop before (default: the end).
        #[arg(long)]
        to_offset: Option<i64>,
    },
    /// What was redriven so far.
    History {
        /// Connector name.
        name: String,
    },
}

/// `connect offsets` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConnectOffsets {
    /// Print the committed offsets (a body `PATCH .../offsets` accepts).
    Get {
        /// Connector name.
        name: String,
    },
    /// Reset every offset (the connector must be stopped).
    Reset {
        /// Connector name.
        name: String,
    },
    /// Move the connector in time while it runs (no stop needed): its
    /// tasks drain and commit, the new positions are committed, and they
    /// continue from there.
    Move {
        /// Connector name.
        name: String,
        /// Each partition to its first record at or after this time
        /// (epoch milliseconds or RFC 3339, 2026-12-07T01:00:00Z).
        #[arg(
            long,
            required_unless_present = "to_offset",
            conflicts_with = "to_offset"
        )]
        to_time: Option<String>,
        /// With --to-time: only this topic (repeatable; default: all).
        #[arg(long, requires = "to_time")]
        topic: Vec<String>,
        /// A partition to this offset, as TOPIC:PARTITION=OFFSET
        /// (repeatable).
        #[arg(long, value_name = "TOPIC:PARTITION=OFFSET")]
        to_offset: Vec<String>,
    },
}

/// Output of `connect` commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ConnectOutput {
    /// Tables and sentences.
    Human,
    /// The API's JSON.
    Json,
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
    /// The property reference, as docs/properties.md holds it.
    Markdown,
}
