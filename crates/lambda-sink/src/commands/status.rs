//! `lambda-sink status`: a running instance's `/status`, printed like
//! `confluent connect list` (`ID | Name | Status | Type`), then its tasks.

use anyhow::Context;
use serde_json::Value;

use crate::exit;

/// Prints the status served at `url`.
///
/// # Errors
/// When the instance cannot be reached or answers something else.
pub(super) async fn status(url: &str) -> anyhow::Result<u8> {
    let endpoint = format!("{}/status", url.trim_end_matches('/'));
    let body: Value = reqwest::get(&endpoint)
        .await
        .with_context(|| format!("cannot reach lambda-sink at {url}; is it running, with http.listener set to that address?"))?
        .error_for_status()
        .with_context(|| format!("{endpoint} answered with an error"))?
        .json()
        .await
        .with_context(|| format!("{endpoint} did not answer with a status document"))?;
    print!("{}", render(&body));
    Ok(exit::OK)
}

/// The table for a `/status` document.
fn render(status: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let row = [
        text(&status["id"]),
        text(&status["name"]),
        text(&status["connector"]["state"]),
        text(&status["type"]),
    ];
    let mut out = super::table::table(&["ID", "Name", "Status", "Type"], &[row.to_vec()]);
    if let Some(trace) = status["connector"]["trace"].as_str() {
        out.push_str(&format!("  trace: {trace}\n"));
    }
    for task in status["tasks"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  task {}: {} on {}\n",
            task["id"],
            text(&task["state"]),
            text(&task["worker_id"])
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_like_confluent_connect_list() {
        let status = json!({
            "name": "LambdaSinkConnector_0", "id": "lcc-ix4dl", "type": "sink",
            "connector": {"state": "RUNNING", "worker_id": "h:8083"},
            "tasks": [{"id": 0, "state": "RUNNING", "worker_id": "h:8083"}],
        });
        assert_eq!(
            render(&status),
            "ID        | Name                  | Status  | Type\n\
             lcc-ix4dl | LambdaSinkConnector_0 | RUNNING | sink\n  task 0: RUNNING on h:8083\n"
        );
    }
}
