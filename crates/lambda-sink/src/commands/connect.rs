//! `lambda-sink connect ...`: a worker's connectors managed from the
//! command line, with `confluent connect`'s commands and output, through
//! the same REST API any other tool uses.

use anyhow::Context;
use lambda_sink_core::config::{self, ConnectorId};
use lambda_sink_core::connect::moves;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::table::table;
use crate::cli::{
    ConnectCommand, ConnectDlq, ConnectOffsets, ConnectOutput, ConnectPlugin, ConnectReplay,
};
use crate::exit;

/// A worker's API at `url`.
struct Api {
    url: String,
    client: reqwest::Client,
}

impl Api {
    /// Calls the API; an error answer becomes its Connect `message`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let mut request = self.client.request(method.clone(), &url);
        if let Ok(token) = std::env::var("LAMBDA_SINK_TOKEN") {
            request = request.bearer_auth(token);
        } else if let (Ok(user), Ok(password)) = (
            std::env::var("LAMBDA_SINK_USER"),
            std::env::var("LAMBDA_SINK_PASSWORD"),
        ) {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(b) = body {
            request = request.json(b);
        }
        let response = request.send().await.with_context(|| {
            format!(
                "cannot reach the worker at {}; is `lambda-sink serve` running there? (--url)",
                self.url
            )
        })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        if status.is_success() {
            return Ok(value);
        }
        let message = value["message"]
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        anyhow::bail!("{message} (HTTP {} from {method} {path})", status.as_u16())
    }
}

/// Percent-encodes a connector name for a path.
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs a `connect` command against `url`.
///
/// # Errors
/// When the worker cannot be reached or refuses; the message is its own.
pub(super) async fn connect(
    url: &str,
    output: ConnectOutput,
    command: ConnectCommand,
) -> anyhow::Result<u8> {
    let api = Api {
        url: url.to_string(),
        client: reqwest::Client::new(),
    };
    let json = output == ConnectOutput::Json;
    match command {
        ConnectCommand::Plugin {
            command: ConnectPlugin::List,
        } => plugin_list(&api, json).await?,
        ConnectCommand::Plugin {
            command: ConnectPlugin::Describe { plugin },
        } => plugin_describe(&api, json, &plugin).await?,
        ConnectCommand::Create { config: path } => create(&api, json, &path).await?,
        ConnectCommand::List => list(&api, json).await?,
        ConnectCommand::Describe { name } => describe(&api, json, &name).await?,
        ConnectCommand::Pause { name } => {
            lifecycle(&api, Method::PUT, &name, "pause", "Paused").await?;
        }
        ConnectCommand::Resume { name } => {
            lifecycle(&api, Method::PUT, &name, "resume", "Resumed").await?;
        }
        ConnectCommand::Stop { name } => {
            lifecycle(&api, Method::PUT, &name, "stop", "Stopped").await?;
        }
        ConnectCommand::Restart { name, only_failed } => {
            let action = format!("restart?includeTasks=true&onlyFailed={only_failed}");
            lifecycle(&api, Method::POST, &name, &action, "Restarted").await?;
        }
        ConnectCommand::Delete { name } => {
            api.call(
                Method::DELETE,
                &format!("/connectors/{}", segment(&name)),
                None,
            )
            .await?;
            println!("Deleted connector \"{name}\".");
        }
        ConnectCommand::Offsets {
            command: ConnectOffsets::Get { name },
        } => offsets(&api, json, &name).await?,
        ConnectCommand::Offsets {
            command: ConnectOffsets::Reset { name },
        } => {
            let path = format!("/connectors/{}/offsets", segment(&name));
            let answer = api.call(Method::DELETE, &path, None).await?;
            println!("{}", text(&answer["message"]));
        }
        ConnectCommand::Offsets {
            command:
                ConnectOffsets::Move {
                    name,
                    to_time,
                    topic,
                    to_offset,
                },
        } => move_offsets(&api, json, &name, to_time.as_deref(), topic, &to_offset).await?,
        ConnectCommand::Dlq {
            command:
                ConnectDlq::Redrive {
                    name,
                    partition,
                    from_offset,
                    to_offset,
                },
        } => redrive(&api, json, &name, partition, from_offset, to_offset).await?,
        c @ ConnectCommand::Parked { .. } => parked_command(&api, json, c).await?,
        ConnectCommand::Replay { command } => replay(&api, json, command).await?,
        ConnectCommand::Dlq {
            command: ConnectDlq::History { name },
        } => {
            let path = format!("/connectors/{}/dlq/redrive", segment(&name));
            show(true, &api.call(Method::GET, &path, None).await?, |_| {
                String::new()
            });
        }
    }
    Ok(exit::OK)
}

/// Prints `value` as JSON, or as `text` renders it.
fn show(json: bool, value: &Value, text: impl FnOnce(&Value) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        print!("{}", text(value));
    }
}

async fn plugin_list(api: &Api, json: bool) -> anyhow::Result<()> {
    let plugins = api.call(Method::GET, "/connector-plugins", None).await?;
    show(json, &plugins, |plugins| {
        let rows: Vec<Vec<String>> = plugins
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| vec![text(&p["class"]), text(&p["type"])])
            .collect();
        table(&["Plugin Name", "Type"], &rows)
    });
    Ok(())
}

async fn plugin_describe(api: &Api, json: bool, plugin: &str) -> anyhow::Result<()> {
    let body = json!({ "connector.class": plugin });
    let path = format!("/connector-plugins/{}/config/validate", segment(plugin));
    let infos = api.call(Method::PUT, &path, Some(&body)).await?;
    show(json, &infos, |infos| {
        // Required properties first, then by name.
        let mut rows: Vec<(bool, Vec<String>)> = infos["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["definition"].is_object())
            .map(|c| {
                let d = &c["definition"];
                let required = d["required"] == true;
                let row = vec![
                    text(&d["name"]),
                    text(&d["documentation"]),
                    required.to_string(),
                ];
                (required, row)
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
        let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
        table(&["Config", "Documentation", "Required"], &rows)
    });
    Ok(())
}

async fn create(api: &Api, json: bool, path: &std::path::Path) -> anyhow::Result<()> {
    let raw = config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut props = Map::new();
    for e in raw.entries {
        if let Some(v) = e.value {
            props.insert(e.key, Value::String(v));
        }
    }
    let name = props
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("{} has no name; add \"name\": \"...\"", path.display()))?;
    let body = json!({ "name": name, "config": props });
    let created = api.call(Method::POST, "/connectors", Some(&body)).await?;
    show(json, &created, |_| {
        format!("Created connector {name} {}\n", connector_id(&name, &props))
    });
    Ok(())
}

async fn list(api: &Api, json: bool) -> anyhow::Result<()> {
    let all = api
        .call(Method::GET, "/connectors?expand=status&expand=info", None)
        .await?;
    show(json, &all, |all| {
        let rows: Vec<Vec<String>> = all
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, c)| {
                let config = c["info"]["config"].as_object().cloned().unwrap_or_default();
                vec![
                    connector_id(name, &config),
                    name.clone(),
                    text(&c["status"]["connector"]["state"]),
                    text(&c["status"]["type"]),
                ]
            })
            .collect();
        table(&["ID", "Name", "Status", "Type"], &rows)
    });
    Ok(())
}

async fn describe(api: &Api, json: bool, name: &str) -> anyhow::Result<()> {
    let base = format!("/connectors/{}", segment(name));
    let status = api
        .call(Method::GET, &format!("{base}/status"), None)
        .await?;
    let config = api
        .call(Method::GET, &format!("{base}/config"), None)
        .await?;
    let both = json!({ "status": status, "config": config });
    show(json, &both, |_| {
        let props = config.as_object().cloned().unwrap_or_default();
        let mut out = table(
            &["ID", "Name", "Status", "Type", "Trace"],
            &[vec![
                connector_id(name, &props),
                name.to_string(),
                text(&status["connector"]["state"]),
                text(&status["type"]),
                text(&status["connector"]["trace"]),
            ]],
        );
        let tasks: Vec<Vec<String>> = status["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                vec![
                    t["id"].to_string(),
                    text(&t["state"]),
                    text(&t["worker_id"]),
                    text(&t["trace"]),
                ]
            })
            .collect();
        out.push_str("\nTask Level Details\n");
        out.push_str(&table(&["Task", "State", "Worker ID", "Trace"], &tasks));
        let configs: Vec<Vec<String>> = props
            .iter()
            .map(|(k, v)| vec![k.clone(), text(v)])
            .collect();
        out.push_str("\nConfiguration Details\n");
        out.push_str(&table(&["Config", "Value"], &configs));
        out
    });
    Ok(())
}

async fn offsets(api: &Api, json: bool, name: &str) -> anyhow::Result<()> {
    let path = format!("/connectors/{}/offsets", segment(name));
    let offsets = api.call(Method::GET, &path, None).await?;
    show(json, &offsets, |offsets| {
        let rows: Vec<Vec<String>> = offsets["offsets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                vec![
                    text(&o["partition"]["kafka_topic"]),
                    o["partition"]["kafka_partition"].to_string(),
                    o["offset"]["kafka_offset"].to_string(),
                ]
            })
            .collect();
        table(&["Topic", "Partition", "Offset"], &rows)
    });
    Ok(())
}

async fn move_offsets(
    api: &Api,
    json: bool,
    name: &str,
    to_time: Option<&str>,
    topics: Vec<String>,
    to_offsets: &[String],
) -> anyhow::Result<()> {
    let body = match to_time {
        Some(t) => {
            let mut body = json!({ "timestamp": moves::parse_time(t)? });
            if !topics.is_empty() {
                body["topics"] = json!(topics);
            }
            body
        }
        None => {
            let offsets = to_offsets
                .iter()
                .map(|p| moves::parse_position(p).map(|o| o.to_json()))
                .collect::<Result<Vec<_>, _>>()?;
            json!({ "offsets": offsets })
        }
    };
    let path = format!("/connectors/{}/offsets/move", segment(name));
    let answer = api.call(Method::POST, &path, Some(&body)).await?;
    show(json, &answer, |m| {
        let to: Vec<String> = m["offsets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|o| {
                format!(
                    "{}-{} to {}",
                    text(&o["partition"]["kafka_topic"]),
                    o["partition"]["kafka_partition"],
                    o["offset"]["kafka_offset"]
                )
            })
            .collect();
        let how = if m["state"] == "done" {
            "Moved"
        } else {
            "Moving (its tasks are still draining; see GET .../offsets/move)"
        };
        format!("{how} connector \"{name}\": {}.\n", to.join(", "))
    });
    Ok(())
}

async fn replay(api: &Api, json: bool, command: ConnectReplay) -> anyhow::Result<()> {
    match command {
        ConnectReplay::Start {
            name,
            from,
            to,
            topic,
            partition,
            key_pattern,
        } => {
            let mut body = json!({ "from": moves::parse_time(&from)? });
            if let Some(t) = to {
                body["to"] = json!(moves::parse_time(&t)?);
            }
            if let Some(t) = topic {
                body["topic"] = json!(t);
            }
            if !partition.is_empty() {
                body["partitions"] = json!(partition);
            }
            if let Some(p) = key_pattern {
                body["key_pattern"] = json!(p);
            }
            let path = format!("/connectors/{}/replays", segment(&name));
            let job = api.call(Method::POST, &path, Some(&body)).await?;
            show(json, &job, |job| {
                format!(
                    "Started replay job {} of connector \"{name}\": {} record(s) of {}.\n",
                    text(&job["id"]),
                    job["total"],
                    text(&job["topic"])
                )
            });
        }
        ConnectReplay::List { name } => {
            let path = format!("/connectors/{}/replays", segment(&name));
            let jobs = api.call(Method::GET, &path, None).await?;
            show(json, &jobs, |jobs| {
                let rows: Vec<Vec<String>> = jobs["replays"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|j| {
                        vec![
                            text(&j["id"]),
                            text(&j["state"]),
                            text(&j["topic"]),
                            j["read"].to_string(),
                            j["total"].to_string(),
                            j["skipped"].to_string(),
                            outcomes(&j["outcomes"]),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "Id", "State", "Topic", "Read", "Total", "Skipped", "Outcomes",
                    ],
                    &rows,
                )
            });
        }
        ConnectReplay::Cancel { name, id } => {
            let path = format!("/connectors/{}/replays/{}", segment(&name), segment(&id));
            let answer = api.call(Method::DELETE, &path, None).await?;
            println!("{}", text(&answer["message"]));
        }
    }
    Ok(())
}

/// `connect parked NAME [--retry KEY | --skip KEY]`.
async fn parked_command(api: &Api, json: bool, command: ConnectCommand) -> anyhow::Result<()> {
    let ConnectCommand::Parked {
        name,
        retry,
        skip,
        base64,
        topic,
        partition,
    } = command
    else {
        return Ok(());
    };
    match (retry, skip) {
        (Some(key), None) => {
            order_parked(api, &name, "retry", &key, base64, topic, partition).await
        }
        (None, Some(key)) => order_parked(api, &name, "skip", &key, base64, topic, partition).await,
        _ => parked(api, json, &name).await,
    }
}

async fn order_parked(
    api: &Api,
    name: &str,
    what: &str,
    key: &str,
    base64: bool,
    topic: Option<String>,
    partition: Option<i32>,
) -> anyhow::Result<()> {
    let mut body = if base64 {
        json!({ "key_base64": key })
    } else {
        json!({ "key": key })
    };
    if let Some(t) = topic {
        body["topic"] = json!(t);
    }
    if let Some(p) = partition {
        body["partition"] = json!(p);
    }
    let path = format!("/connectors/{}/parked/{what}", segment(name));
    let answer = api.call(Method::POST, &path, Some(&body)).await?;
    println!("{}", text(&answer["message"]));
    Ok(())
}

async fn parked(api: &Api, json: bool, name: &str) -> anyhow::Result<()> {
    let path = format!("/connectors/{}/parked", segment(name));
    let parked = api.call(Method::GET, &path, None).await?;
    show(json, &parked, |parked| {
        if parked["parking"] == json!(false) {
            return format!(
                "Connector \"{name}\" does not park keys (aws.lambda.on.key.failure=resolve)."
            );
        }
        let rows: Vec<Vec<String>> = parked["parked"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                let key = k["key"].as_str().map_or_else(
                    || format!("base64:{}", text(&k["key_base64"])),
                    str::to_string,
                );
                vec![
                    text(&k["topic"]),
                    k["partition"].to_string(),
                    key,
                    k["records"].to_string(),
                    k["first_offset"].to_string(),
                    format!("{} s", k["age_ms"].as_i64().unwrap_or(0) / 1000),
                    k["attempts"].to_string(),
                    text(&k["reason"]),
                ]
            })
            .collect();
        table(
            &[
                "Topic",
                "Partition",
                "Key",
                "Records",
                "First Offset",
                "Parked For",
                "Retries",
                "Reason",
            ],
            &rows,
        )
    });
    Ok(())
}

async fn redrive(
    api: &Api,
    json: bool,
    name: &str,
    partitions: Vec<i32>,
    from_offset: Option<i64>,
    to_offset: Option<i64>,
) -> anyhow::Result<()> {
    let mut body = json!({});
    if !partitions.is_empty() {
        body["partitions"] = json!(partitions);
    }
    if let Some(f) = from_offset {
        body["from_offset"] = json!(f);
    }
    if let Some(t) = to_offset {
        body["to_offset"] = json!(t);
    }
    let path = format!("/connectors/{}/dlq/redrive", segment(name));
    let report = api.call(Method::POST, &path, Some(&body)).await?;
    show(json, &report, |report| {
        let outcomes = outcomes(&report["outcomes"]);
        format!(
            "Redrove {} record(s) of {} from {} ({}).\n",
            report["redriven"],
            text(&report["read"]),
            text(&report["dlq_topic"]),
            if outcomes.is_empty() {
                "nothing to redrive"
            } else {
                &outcomes
            }
        )
    });
    Ok(())
}

async fn lifecycle(
    api: &Api,
    method: Method,
    name: &str,
    action: &str,
    done: &str,
) -> anyhow::Result<()> {
    api.call(
        method,
        &format!("/connectors/{}/{action}", segment(name)),
        None,
    )
    .await?;
    println!("{done} connector \"{name}\".");
    Ok(())
}

/// Outcome counts (`{"success": 5, "dlq": 1}`) as `success 5, dlq 1`.
fn outcomes(counts: &Value) -> String {
    counts
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A JSON value as table text (`""` for null).
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The connector id: `connector.id`, or the name made topic-safe.
fn connector_id(name: &str, config: &Map<String, Value>) -> String {
    let raw = config
        .get("connector.id")
        .and_then(Value::as_str)
        .unwrap_or(name);
    ConnectorId::sanitize(raw)
        .map(|i| i.to_string())
        .unwrap_or_default()
}
