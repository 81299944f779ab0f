//! What the console's create form needs beyond Kafka Connect's property
//! table: which properties a first-time user must look at (shown first and
//! alone), the condition under which a conditionally required property is
//! required, the connector id a name becomes, and which of the cluster's
//! topics are other connectors' outcome topics or internal ones (hidden from
//! the topic picker by default). Pure decisions; the handlers are in
//! [`super`].

use lambda_sink_core::config::ConnectorId;
use std::collections::BTreeSet;

use lambda_sink_core::config::properties::{DefaultValue, PROPERTIES, Required};
use serde_json::{Value, json};

/// The properties a new connector needs, in the order a user thinks of
/// them: its name and input, the function and how it is called, the
/// cluster, the region and how lambda-sink authenticates to AWS.
pub const ESSENTIAL: [&str; 9] = [
    "name",
    "topics",
    "topics.regex",
    "aws.lambda.function.name",
    "aws.lambda.invocation.type",
    "input.data.format",
    "kafka.bootstrap.servers",
    "aws.lambda.region",
    "authentication.method",
];

/// The form's layout: the essentials; for each property that is required
/// only under a condition, that condition (the Connect API's `required` is a
/// plain boolean, so it cannot say); for each property whose default is
/// derived from others, how (the Connect API's `default_value` is then null).
pub fn layout() -> Value {
    let mut conditions = serde_json::Map::new();
    let mut derived = serde_json::Map::new();
    for p in PROPERTIES {
        if let Required::When(condition) = p.required {
            conditions.insert(p.name.to_string(), json!(condition));
        }
        if let DefaultValue::Derived(how) = p.default {
            derived.insert(p.name.to_string(), json!(how));
        }
    }
    json!({ "essential": ESSENTIAL, "required_when": conditions, "derived_default": derived })
}

/// The connector id `name` becomes (the outcome topics' and the consumer
/// group's suffix), and whether it differs from the name.
pub fn id_of(name: &str) -> Value {
    let id = ConnectorId::sanitize(name);
    json!({
        "id": id.as_ref().map(ConnectorId::as_str),
        "differs": id.as_ref().is_some_and(|id| id.as_str() != name),
    })
}

/// What a topic of the cluster is, for the topic picker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopicKind {
    /// A topic a connector may read.
    Data,
    /// A connector's result, error or dead-letter topic by lambda-sink's
    /// default names (`success-`, `error-`, `dlq-`).
    Outcome,
    /// A topic of Kafka, Kafka Connect, Schema Registry or a worker
    /// (`_…`, `connect-configs|offsets|status`, this worker's own).
    Internal,
}

impl TopicKind {
    /// The name the page sees.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Outcome => "outcome",
            Self::Internal => "internal",
        }
    }
}

/// Kafka Connect's default internal topics.
const CONNECT_INTERNAL: [&str; 3] = ["connect-configs", "connect-offsets", "connect-status"];
/// lambda-sink's default outcome topic prefixes.
const OUTCOME_PREFIXES: [&str; 3] = ["success-", "error-", "dlq-"];

/// What `topic` is; `own` are this worker's internal topics, `all` every
/// topic of the cluster: a worker (lambda-sink's or Kafka Connect's) keeps
/// its configs and status in `<group>-configs` and `<group>-status`, so a
/// name with one of those suffixes is internal when its sibling exists too
/// (`orders-status` alone is data), and so is a task slot topic
/// `<group>-tasks-<id>` of such a group.
pub fn topic_kind(topic: &str, own: &[&str], all: &BTreeSet<&str>) -> TopicKind {
    let worker_group = |group: &str| {
        all.contains(format!("{group}-configs").as_str())
            && all.contains(format!("{group}-status").as_str())
    };
    let worker_pair = ["-configs", "-status", "-offsets"]
        .iter()
        .any(|suffix| topic.strip_suffix(suffix).is_some_and(worker_group));
    let slots = topic
        .match_indices("-tasks-")
        .any(|(at, _)| worker_group(&topic[..at]));
    if topic.starts_with('_')
        || CONNECT_INTERNAL.contains(&topic)
        || own.contains(&topic)
        || worker_pair
        || slots
    {
        TopicKind::Internal
    } else if OUTCOME_PREFIXES.iter().any(|p| topic.starts_with(p)) {
        TopicKind::Outcome
    } else {
        TopicKind::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_kinds() {
        let own = ["lambda-sink-configs", "lambda-sink-status"];
        let all: BTreeSet<&str> = [
            "orders",
            "orders-status",
            "w1-configs",
            "w1-status",
            "w1-offsets",
            "half-configs",
        ]
        .into_iter()
        .collect();
        let cases = [
            ("orders", TopicKind::Data),
            ("orders-status", TopicKind::Data),
            ("errors", TopicKind::Data),
            ("success-orders-sink", TopicKind::Outcome),
            ("error-orders-sink", TopicKind::Outcome),
            ("dlq-orders-sink", TopicKind::Outcome),
            ("_schemas", TopicKind::Internal),
            ("__consumer_offsets", TopicKind::Internal),
            ("connect-offsets", TopicKind::Internal),
            ("lambda-sink-configs", TopicKind::Internal),
            ("lambda-sink-status", TopicKind::Internal),
            ("w1-configs", TopicKind::Internal),
            ("w1-status", TopicKind::Internal),
            ("w1-offsets", TopicKind::Internal),
            ("half-configs", TopicKind::Data),
            ("w1-tasks-orders", TopicKind::Internal),
            ("w1-tasks-x-tasks-y", TopicKind::Internal),
            ("half-tasks-orders", TopicKind::Data),
            ("orders-tasks-2", TopicKind::Data),
        ];
        for (topic, kind) in cases {
            assert_eq!(topic_kind(topic, &own, &all), kind, "{topic}");
        }
    }

    #[test]
    fn ids_of_names() {
        let cases = [
            ("orders-sink", json!("orders-sink"), false),
            (
                "x<img src=x onerror=alert(1)>",
                json!("x_img_src_x_onerror_alert_1__"),
                true,
            ),
            ("a b", json!("a_b"), true),
            ("", Value::Null, false),
        ];
        for (name, id, differs) in cases {
            assert_eq!(
                id_of(name),
                json!({ "id": id, "differs": differs }),
                "{name}"
            );
        }
    }

    #[test]
    fn the_layout_names_real_properties_and_their_conditions() {
        let layout = layout();
        for name in ESSENTIAL {
            assert!(
                PROPERTIES.iter().any(|p| p.name == name),
                "{name} is in the property table"
            );
        }
        assert_eq!(
            layout["required_when"]["aws.lambda.function.name"],
            json!("in single mode")
        );
        assert!(
            layout["required_when"].get("name").is_none(),
            "name is always required"
        );
        assert!(
            layout["derived_default"]["input.data.format"]
                .as_str()
                .is_some_and(|d| d.contains("BYTES")),
            "{layout}"
        );
    }
}
