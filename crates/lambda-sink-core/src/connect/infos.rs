//! The property table in Kafka Connect's shapes: `ConfigKeyInfo` for
//! `GET /connector-plugins/{p}/config`, and `ConfigInfos` for
//! `PUT /connector-plugins/{p}/config/validate`, from the same table and
//! validator `plugin describe` and `validate` use.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::records::Props;
use crate::Problem;
use crate::config::properties::{self, DefaultValue, Group, Kind, PROPERTIES, Property, Required};
use crate::transform::catalog;

/// What a password value is shown as (Connect's `ConfigDef` rendering).
pub const HIDDEN: &str = "[hidden]";

fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::String | Kind::Enum { .. } => "STRING",
        Kind::Password => "PASSWORD",
        Kind::Int { max, .. } if max > i64::from(i32::MAX) => "LONG",
        Kind::Int { .. } => "INT",
        Kind::Bool => "BOOLEAN",
        Kind::List => "LIST",
    }
}

/// `ConfigKeyInfo` of one property; `order` is its place in its group.
fn key_info(p: &Property, order: usize) -> Value {
    let default = match p.default {
        DefaultValue::Value(v) => json!(v),
        DefaultValue::None | DefaultValue::Derived(_) => Value::Null,
    };
    json!({
        "name": p.name,
        "type": type_name(p.kind),
        "required": p.required == Required::Yes,
        "default_value": default,
        "importance": p.importance.as_str().to_ascii_uppercase(),
        "documentation": p.doc,
        "group": p.group.title(),
        "width": "NONE",
        "display_name": p.name,
        "dependents": [],
        "order": order,
    })
}

/// Every property with its order in its group, in table order.
fn numbered() -> impl Iterator<Item = (&'static Property, usize)> {
    let mut seen: BTreeMap<Group, usize> = BTreeMap::new();
    PROPERTIES.iter().map(move |p| {
        let n = seen.entry(p.group).or_insert(0);
        *n += 1;
        (p, *n)
    })
}

/// `GET /connector-plugins/{p}/config`: every property's `ConfigKeyInfo`.
pub fn config_key_infos() -> Vec<Value> {
    numbered().map(|(p, order)| key_info(p, order)).collect()
}

/// A submitted value as it may be shown: password values masked unless
/// they are `${provider:...}` references.
pub fn shown_value(key: &str, value: &Value) -> Value {
    match value.as_str() {
        Some(text) if properties::is_secret(key) && !is_reference(text) => json!(HIDDEN),
        _ => value.clone(),
    }
}

/// Whether `text` is a single `${provider:...}` reference (stored and
/// returned unresolved, so it is not itself a secret).
pub fn is_reference(text: &str) -> bool {
    text.starts_with("${") && text.ends_with('}') && text[2..].contains(':')
}

/// `config` with every secret value masked ([`shown_value`]).
pub fn masked(config: &Props) -> Props {
    config
        .iter()
        .map(|(k, v)| (k.clone(), shown_value(k, v)))
        .collect()
}

/// `ConfigInfos` for `submitted`, validated with `errors` found: one entry
/// per property of the table, then one per submitted key that is not a
/// table property (pass-through or unknown, `definition: null`), then one
/// per problem about anything else.
pub fn config_infos(class: &str, submitted: &Props, errors: &[Problem]) -> Value {
    let mut by_key: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in errors {
        by_key
            .entry(e.property.as_str())
            .or_default()
            .push(e.message.as_str());
    }
    let mut take = |key: &str| by_key.remove(key).unwrap_or_default();
    let value_info = |key: &str, recommended: Vec<&str>, errors: Vec<&str>| {
        json!({
            "name": key,
            "value": submitted.get(key).map_or(Value::Null, |v| shown_value(key, v)),
            "recommended_values": recommended,
            "errors": errors,
            "visible": true,
        })
    };
    let mut configs = Vec::new();
    for (p, order) in numbered() {
        let recommended = match p.kind {
            Kind::Enum { values, .. } => values.to_vec(),
            Kind::Bool => vec!["true", "false"],
            _ => Vec::new(),
        };
        let errors = take(p.name);
        configs.push(json!({
            "definition": key_info(p, order),
            "value": value_info(p.name, recommended, errors),
        }));
    }
    // Connect's `ConnectorConfig.enrich`: each listed transform and
    // predicate alias gets definitions in a group of its own.
    let mut groups: Vec<String> = Group::ALL.iter().map(|g| g.title().to_string()).collect();
    let mut defined = std::collections::BTreeSet::new();
    for (group, key_info) in transform_key_infos(submitted) {
        let name = key_info["name"].as_str().unwrap_or_default().to_string();
        let errors = take(&name);
        configs.push(json!({
            "definition": key_info,
            "value": value_info(&name, Vec::new(), errors),
        }));
        if !groups.contains(&group) {
            groups.push(group);
        }
        defined.insert(name);
    }
    for key in submitted.keys() {
        if properties::find(key).is_none() && !defined.contains(key) {
            let errors = take(key);
            configs
                .push(json!({ "definition": null, "value": value_info(key, Vec::new(), errors) }));
        }
    }
    for (key, errors) in std::mem::take(&mut by_key) {
        configs.push(json!({ "definition": null, "value": value_info(key, Vec::new(), errors) }));
    }
    json!({
        "name": class,
        "error_count": errors.len(),
        "groups": groups,
        "configs": configs,
    })
}

/// `ConfigKeyInfo`s of the transforms and predicates `submitted` lists,
/// each with its group (`Transforms: <alias>`): `type`, a transform's
/// `predicate` and `negate`, and the class's own properties when the
/// class is known.
pub fn transform_key_infos(submitted: &Props) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (root, title) in [("transforms", "Transforms"), ("predicates", "Predicates")] {
        let Some(list) = submitted.get(root).and_then(Value::as_str) else {
            continue;
        };
        for alias in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let group = format!("{title}: {alias}");
            let class = submitted
                .get(&format!("{root}.{alias}.type"))
                .and_then(Value::as_str)
                .and_then(|c| catalog::find(c).ok());
            let mut keys: Vec<(&str, &str, bool, Option<&str>, String)> = vec![(
                "type",
                "CLASS",
                true,
                None,
                format!("Class for the '{alias}' {}.", &root[..root.len() - 1]),
            )];
            if root == "transforms" {
                keys.push((
                    "predicate",
                    "STRING",
                    false,
                    Some(""),
                    "The alias of a predicate deciding whether this transform applies.".into(),
                ));
                keys.push((
                    "negate",
                    "BOOLEAN",
                    false,
                    Some("false"),
                    "Apply the transform when the predicate does not match.".into(),
                ));
            }
            for p in class.map_or(&[][..], |c| c.properties) {
                keys.push((p.name, p.kind, p.required, p.default, p.doc.to_string()));
            }
            for (order, (name, kind, required, default, doc)) in keys.into_iter().enumerate() {
                let full = format!("{root}.{alias}.{name}");
                let info = plugin_key_info(
                    &full,
                    kind,
                    required,
                    default,
                    &doc,
                    Some(&group),
                    order + 1,
                );
                out.push((group.clone(), info));
            }
        }
    }
    out
}

/// `GET /connector-plugins/{p}/config` of a transform or predicate: its
/// own properties' `ConfigKeyInfo`s.
pub fn plugin_key_infos(plugin: &catalog::Plugin) -> Vec<Value> {
    plugin
        .properties
        .iter()
        .enumerate()
        .map(|(i, p)| plugin_key_info(p.name, p.kind, p.required, p.default, p.doc, None, i + 1))
        .collect()
}

fn plugin_key_info(
    name: &str,
    kind: &str,
    required: bool,
    default: Option<&str>,
    doc: &str,
    group: Option<&str>,
    order: usize,
) -> Value {
    json!({
        "name": name,
        "type": kind,
        "required": required,
        "default_value": default,
        "importance": if required { "HIGH" } else { "MEDIUM" },
        "documentation": doc,
        "group": group,
        "width": "NONE",
        "display_name": name,
        "dependents": [],
        "order": order,
    })
}

/// Connect's message for a create or update refused by validation.
pub fn invalid_message(errors: &[Problem]) -> String {
    let mut text = format!(
        "Connector configuration is invalid and contains the following {} error(s):",
        errors.len()
    );
    for e in errors {
        text.push('\n');
        text.push_str(&e.to_string());
    }
    text.push_str("\nYou can also find the above list of errors at the endpoint `/connector-plugins/{connectorType}/config/validate`");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_infos_use_connects_vocabulary() {
        let infos = config_key_infos();
        assert_eq!(infos.len(), PROPERTIES.len());
        for info in &infos {
            let ty = info["type"].as_str().expect("type");
            assert!(
                ["STRING", "INT", "LONG", "BOOLEAN", "LIST", "PASSWORD"].contains(&ty),
                "{ty}"
            );
            assert!(["HIGH", "MEDIUM", "LOW"].contains(&info["importance"].as_str().expect("i")));
            if info["required"] == true {
                assert!(info["default_value"].is_null(), "{info}");
            }
        }
        let name = infos.iter().find(|i| i["name"] == "name").expect("name");
        assert_eq!(name["required"], true);
        assert_eq!(name["order"], 2);
        let secret = infos
            .iter()
            .find(|i| i["name"] == "aws.secret.access.key")
            .expect("secret");
        assert_eq!(secret["type"], "PASSWORD");
    }

    #[test]
    fn config_infos_define_the_listed_transforms() {
        let submitted: Props = serde_json::from_value(json!({
            "transforms": "mask",
            "transforms.mask.type": "MaskField$Value",
            "transforms.mask.fieldz": "card",
        }))
        .expect("props");
        let errors = [
            Problem::new("transforms.mask.fields", "Missing required configuration"),
            Problem::new("transforms.mask.fieldz", "unknown property"),
        ];
        let infos = config_infos("LambdaSink", &submitted, &errors);
        assert!(
            infos["groups"]
                .as_array()
                .expect("groups")
                .contains(&json!("Transforms: mask"))
        );
        let find = |name: &str| {
            infos["configs"]
                .as_array()
                .expect("configs")
                .iter()
                .find(|c| c["value"]["name"] == name)
                .cloned()
                .expect(name)
        };
        let fields = find("transforms.mask.fields");
        assert_eq!(fields["definition"]["required"], true);
        assert_eq!(fields["definition"]["group"], "Transforms: mask");
        assert_eq!(
            fields["value"]["errors"][0],
            "Missing required configuration"
        );
        assert_eq!(
            find("transforms.mask.type")["value"]["value"],
            "MaskField$Value"
        );
        let typo = find("transforms.mask.fieldz");
        assert!(typo["definition"].is_null());
        assert_eq!(typo["value"]["errors"][0], "unknown property");
    }

    #[test]
    fn config_infos_report_every_problem_next_to_its_key() {
        let submitted: Props = serde_json::from_value(json!({
            "name": "c",
            "aws.secret.access.key": "s3cr3t",
            "aws.lambda.batch.size": "0",
            "no.such.key": "x",
        }))
        .expect("props");
        let errors = [
            Problem::new("aws.lambda.batch.size", "must be at least 1"),
            Problem::new("no.such.key", "unknown property"),
            Problem::new("topics", "set topics or topics.regex"),
        ];
        let infos = config_infos("LambdaSink", &submitted, &errors);
        assert_eq!(infos["error_count"], 3);
        let find = |name: &str| {
            infos["configs"]
                .as_array()
                .expect("configs")
                .iter()
                .find(|c| c["value"]["name"] == name)
                .cloned()
                .expect(name)
        };
        assert_eq!(
            find("aws.lambda.batch.size")["value"]["errors"],
            json!(["must be at least 1"])
        );
        assert_eq!(find("no.such.key")["definition"], Value::Null);
        assert_eq!(find("topics")["value"]["value"], Value::Null);
        assert_eq!(find("aws.secret.access.key")["value"]["value"], HIDDEN);
        assert!(!infos.to_string().contains("s3cr3t"));
        assert_eq!(
            find("aws.lambda.invocation.type")["value"]["recommended_values"],
            json!(["sync", "async"])
        );
    }

    #[test]
    fn references_are_shown_and_secrets_are_not() {
        let config: Props = serde_json::from_value(json!({
            "aws.secret.access.key": "${env:SECRET}",
            "aws.lambda.function.name": "f",
            "kafka.sasl.password": "pw",
            "kafka.api.secret": "x",
        }))
        .expect("props");
        let m = masked(&config);
        assert_eq!(m["aws.secret.access.key"], "${env:SECRET}");
        assert_eq!(m["aws.lambda.function.name"], "f");
        assert_eq!(m["kafka.sasl.password"], HIDDEN);
        assert_eq!(m["kafka.api.secret"], HIDDEN);
        let message = invalid_message(&[Problem::new("topics", "missing")]);
        assert!(message.starts_with(
            "Connector configuration is invalid and contains the following 1 error(s):\ntopics: missing\n"
        ));
    }
}
