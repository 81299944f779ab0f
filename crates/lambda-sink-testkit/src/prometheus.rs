//! A real Prometheus server for tests (Debian's package, installed by
//! `scripts/install.sh`): it scrapes the given targets and evaluates the
//! given rule files every second, and is read through its HTTP API
//! (instant queries, alerts). Stopped when dropped.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

use crate::daemon::Daemon;

/// A running Prometheus.
pub struct Prometheus {
    daemon: Daemon,
    url: String,
    client: reqwest::Client,
}

/// A sample's labels.
pub type Labels = BTreeMap<String, String>;

impl Prometheus {
    /// Starts Prometheus scraping `targets` (`host:port`, job
    /// `lambda-sink`) and evaluating `rule_files`, both every second; waits
    /// until it is ready.
    ///
    /// # Errors
    /// When it cannot start or is not ready within a minute.
    pub async fn start(targets: &[&str], rule_files: &[&Path]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let rules: Vec<String> = rule_files
            .iter()
            .map(|p| format!("  - {:?}", p.display().to_string()))
            .collect();
        let targets: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\n\
             scrape_configs:\n  - job_name: lambda-sink\n    static_configs:\n      - targets: [{}]\n",
            rules.join("\n"),
            targets.join(", ")
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let [port] = crate::free_ports();
        let binary = std::env::var("LAMBDA_SINK_PROMETHEUS")
            .unwrap_or_else(|_| "/usr/bin/prometheus".into());
        let args = [
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.level=warn".to_string(),
        ];
        let prometheus = Self {
            daemon: Daemon::spawn(
                "prometheus",
                &binary,
                &args,
                dir,
                "scripts/install.sh installs it",
            )?,
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        prometheus
            .daemon
            .wait_ready(|| async {
                prometheus
                    .client
                    .get(format!("{}/-/ready", prometheus.url))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            })
            .await?;
        Ok(prometheus)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let body: Value = self
            .client
            .get(format!("{}{path}", self.url))
            .query(query)
            .send()
            .await?
            .json()
            .await?;
        anyhow::ensure!(body["status"] == "success", "{path}: {body}");
        Ok(body["data"].clone())
    }

    /// An instant query's samples: their labels and values.
    ///
    /// # Errors
    /// When Prometheus does not answer or refuses the query.
    pub async fn query(&self, expr: &str) -> anyhow::Result<Vec<(Labels, f64)>> {
        let data = self.api("/api/v1/query", &[("query", expr)]).await?;
        let samples = data["result"].as_array().cloned().unwrap_or_default();
        Ok(samples
            .iter()
            .filter_map(|s| {
                let labels = serde_json::from_value(s["metric"].clone()).ok()?;
                let value = s["value"][1].as_str()?.parse().ok()?;
                Some((labels, value))
            })
            .collect())
    }

    /// The labels of every alert named `name` that is firing now.
    ///
    /// # Errors
    /// When Prometheus does not answer.
    pub async fn firing(&self, name: &str) -> anyhow::Result<Vec<Labels>> {
        let data = self.api("/api/v1/alerts", &[]).await?;
        let alerts = data["alerts"].as_array().cloned().unwrap_or_default();
        Ok(alerts
            .iter()
            .filter(|a| a["state"] == "firing" && a["labels"]["alertname"] == name)
            .filter_map(|a| serde_json::from_value(a["labels"].clone()).ok())
            .collect())
    }
}
