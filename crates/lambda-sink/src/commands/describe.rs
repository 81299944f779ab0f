//! `lambda-sink plugin describe`: the property table, for people or programs.
//!
//! Everything printed comes from `lambda_sink_core::config::properties`, the
//! same table the validator uses, so the description cannot drift from the
//! behaviour.

use std::io::Write;

use lambda_sink_core::config::properties::{DefaultValue, Group, PROPERTIES, Property, Required};
use lambda_sink_core::transform;
use serde_json::json;

use crate::cli::Output;

/// Confluent's documented required list, and why lambda-sink differs.
const CONFLUENT_REQUIRED: &[(&str, &str)] = &[
    ("connector.class", "defaults to LambdaSink"),
    ("input.data.format", "defaults to JSON"),
    ("aws.lambda.invocation.type", "defaults to sync"),
    ("tasks.max", "defaults to 1"),
    (
        "kafka.auth.mode, kafka.api.key, kafka.api.secret",
        "optional: a self-managed cluster may need no authentication, or SASL/SCRAM or mTLS through kafka.* properties",
    ),
    (
        "aws.access.key.id, aws.secret.access.key",
        "optional: without them the AWS default credential chain is used (environment, profile, web identity, container or instance role), which is preferable where it exists",
    ),
];

/// Prints the description to stdout.
///
/// # Errors
/// When stdout cannot be written.
pub(super) fn describe(output: Output) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Text => write_text(&mut out)?,
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &as_json())?;
            writeln!(out)?;
        }
    }
    Ok(crate::exit::OK)
}

fn default_text(p: &Property) -> String {
    match p.default {
        DefaultValue::None => "none".into(),
        DefaultValue::Value("") => "\"\"".into(),
        DefaultValue::Value(v) => v.into(),
        DefaultValue::Derived(how) => how.into(),
    }
}

fn write_text(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Plugin: LambdaSink (lambda-sink {}), a standalone AWS Lambda Sink compatible with Confluent's\n",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "Required configs:")?;
    for p in PROPERTIES.iter().filter(|p| p.required == Required::Yes) {
        writeln!(
            out,
            "  {:<34} {}",
            p.name,
            p.doc.split(". ").next().unwrap_or(p.doc)
        )?;
    }
    writeln!(out, "\nRequired in some cases:")?;
    for p in PROPERTIES {
        if let Required::When(condition) = p.required {
            writeln!(out, "  {:<34} {condition}", p.name)?;
        }
    }
    writeln!(
        out,
        "\nConfluent's connector also requires the following; lambda-sink does not:"
    )?;
    for (names, why) in CONFLUENT_REQUIRED {
        writeln!(out, "  {names}: {why}")?;
    }
    writeln!(
        out,
        "\nPass-through: kafka.<p> (every Kafka client), consumer.override.<p>, producer.override.<p> \
         set librdkafka property <p>, except those at-least-once delivery depends on. \
         Values may be ${{env:NAME}} or ${{file:/path/to/file.properties:key}}. \
         (ext) marks lambda-sink extensions."
    )?;
    for group in Group::ALL {
        let title = group.title();
        writeln!(out, "\n{title}\n{}", "=".repeat(title.len()))?;
        for p in PROPERTIES.iter().filter(|p| p.group == group) {
            let ext = if p.ext { " (ext)" } else { "" };
            writeln!(out, "\n{}{ext}", p.name)?;
            for line in wrap(p.doc, 76) {
                writeln!(out, "    {line}")?;
            }
            write!(
                out,
                "    Type: {} | Default: {}",
                p.kind.type_name(),
                default_text(p)
            )?;
            if let Some(valid) = p.valid_values() {
                write!(out, " | Valid values: {valid}")?;
            }
            writeln!(out, " | Importance: {}", p.importance.as_str())?;
        }
    }
    write_transforms(out)
}

/// The transforms and predicates (`transforms=`, `predicates=`).
fn write_transforms(out: &mut impl Write) -> std::io::Result<()> {
    let title = "Transforms and predicates";
    writeln!(
        out,
        "
{title}
{}",
        "=".repeat(title.len())
    )?;
    writeln!(
        out,
        "
transforms=a,b (at most {}) with transforms.<a>.type=<class> (full or simple name) and its \
         properties as transforms.<a>.<key>; predicates=p with predicates.<p>.type=<class>; \
         transforms.<a>.predicate=<p> and transforms.<a>.negate=true|false apply a transform conditionally. \
         Semantics and differences: docs/transforms.md.",
        transform::MAX_TRANSFORMS
    )?;
    for plugin in transform::catalog::PLUGINS {
        writeln!(
            out,
            "
{} ({})",
            plugin.class,
            plugin.kind().as_str()
        )?;
        writeln!(out, "    {}", plugin.doc)?;
        for p in plugin.properties {
            let default = match (p.required, p.default) {
                (true, _) => "required".to_string(),
                (false, Some("")) => "default \"\"".to_string(),
                (false, Some(d)) => format!("default {d}"),
                (false, None) => "optional".to_string(),
            };
            writeln!(out, "    {} ({}, {default}): {}", p.name, p.kind, p.doc)?;
        }
    }
    Ok(())
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn as_json() -> serde_json::Value {
    let properties: Vec<_> = PROPERTIES
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "type": p.kind.type_name(),
                "default": match p.default {
                    DefaultValue::None => serde_json::Value::Null,
                    DefaultValue::Value(v) => json!(v),
                    DefaultValue::Derived(how) => json!({ "derived": how }),
                },
                "required": match p.required {
                    Required::No => json!(false),
                    Required::Yes => json!(true),
                    Required::When(condition) => json!({ "when": condition }),
                },
                "valid_values": p.valid_values(),
                "importance": p.importance.as_str(),
                "group": p.group.title(),
                "extension": p.ext,
                "secret": p.is_secret(),
                "doc": p.doc,
            })
        })
        .collect();
    let transforms: Vec<_> = transform::catalog::PLUGINS
        .iter()
        .map(|plugin| {
            json!({
                "class": plugin.class,
                "type": plugin.kind().as_str(),
                "doc": plugin.doc,
                "properties": plugin.properties.iter().map(|p| json!({
                    "name": p.name,
                    "type": p.kind,
                    "required": p.required,
                    "default": p.default,
                    "doc": p.doc,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "plugin": "LambdaSink",
        "version": env!("CARGO_PKG_VERSION"),
        "properties": properties,
        "transforms": transforms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_required_first_then_every_property() {
        let mut out = Vec::new();
        write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let required = text.find("Required configs:").unwrap();
        let name = text.find("  name ").unwrap();
        let all = text.find("\nConnector\n=========").unwrap();
        assert!(required < name && name < all);
        for p in PROPERTIES {
            assert!(
                text.contains(&format!("\n{}", p.name)),
                "{} missing",
                p.name
            );
        }
        assert!(text.contains(
            "\naws.lambda.batch.size\n    Most records per invocation. Batches never mix partitions.\n    Type: int | Default: 20 | Valid values: [1,...,2147483647] | Importance: high\n"
        ));
    }

    #[test]
    fn every_transform_and_predicate_is_described() {
        let mut out = Vec::new();
        write_text(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for plugin in transform::catalog::PLUGINS {
            assert!(
                text.contains(&format!("\n{} (", plugin.class)),
                "{}",
                plugin.class
            );
        }
        assert!(text.contains(
            "\n    fields (LIST, required): Fields to mask (a missing one is added as null).\n"
        ));
        let v = as_json();
        assert_eq!(
            v["transforms"].as_array().unwrap().len(),
            transform::catalog::PLUGINS.len()
        );
    }

    #[test]
    fn json_has_every_property() {
        let v = as_json();
        assert_eq!(v["properties"].as_array().unwrap().len(), PROPERTIES.len());
        let secret = v["properties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "kafka.api.secret")
            .unwrap();
        assert_eq!(secret["secret"], true);
        assert_eq!(secret["type"], "password");
    }
}
