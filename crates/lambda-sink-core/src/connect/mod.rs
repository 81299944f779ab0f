//! Kafka Connect's management plane, pure: what `lambda-sink serve` keeps
//! in Kafka and shows through Connect's REST API.
//!
//! * [`records`] — the config topic's records (Connect's format) and the
//!   [`records::ClusterState`] folded from them;
//! * [`status`] — connector and task states, each instance's status record
//!   and the cluster-wide `ConnectorStateInfo` aggregated from them;
//! * [`infos`] — the property table as `ConfigKeyInfo` / `ConfigInfos`,
//!   and secret masking;
//! * [`placement`] — where a connector's tasks run: slot topics, the
//!   tasks an assignment stands for, each worker's share of concurrency;
//! * [`offsets`], [`redrive`] — what the offsets and DLQ redrive
//!   endpoints take; [`moves`] — moving a running connector in time;
//!   [`replays`] — replay jobs beside a running connector;
//! * [`submit`] — the rules for a submitted connector config: string
//!   values, the name, merge patches, hidden secrets, identical configs.

pub(crate) mod body;
pub mod infos;
pub mod moves;
pub mod offsets;
pub mod placement;
pub mod records;
pub mod redrive;
pub mod replays;
pub mod status;
pub mod submit;

/// The class name Confluent Platform gives this connector.
pub const CONNECTOR_CLASS: &str = "io.confluent.connect.aws.lambda.AwsLambdaSinkConnector";

/// The Connect REST API level `GET /` reports (tools gate features on it).
pub const CONNECT_API_VERSION: &str = "3.9.0";

/// Whether a plugin name in a path or in `connector.class` names this
/// connector: the full class, its simple name with or without
/// `Connector`, or Confluent Cloud's `LambdaSink` (Connect's rule: the
/// normalized name must end with the normalized request name).
pub fn is_our_plugin(name: &str) -> bool {
    let normalized = |s: &str| {
        let s = s.trim();
        s.strip_suffix("Connector").unwrap_or(s).to_string()
    };
    let ours = normalized(CONNECTOR_CLASS);
    let given = normalized(name);
    !given.is_empty() && (ours.ends_with(&given) || given == "LambdaSink")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names() {
        for ok in [
            CONNECTOR_CLASS,
            "AwsLambdaSinkConnector",
            "AwsLambdaSink",
            "LambdaSink",
            "aws.lambda.AwsLambdaSinkConnector",
        ] {
            assert!(is_our_plugin(ok), "{ok}");
        }
        for bad in ["", "FileStreamSink", "Connector", "ambdaSinkX"] {
            assert!(!is_our_plugin(bad), "{bad}");
        }
    }
}
