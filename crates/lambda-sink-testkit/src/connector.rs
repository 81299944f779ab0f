//! A lambda-sink process under test — `run` from a JSON config, or a
//! `serve` worker from a worker file — stopped by SIGTERM or killed with
//! SIGKILL, its log kept in a file.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::{Services, try_wait_until};

/// How many of its last log lines a process shows when a test fails.
const LOG_TAIL: usize = 300;

/// A running `lambda-sink run`.
pub struct Connector {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Connector {
    /// Starts `binary run --config <config>`; `env` adds environment variables.
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn start(binary: &Path, config: &Value, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let text = serde_json::to_string_pretty(config)?;
        Self::spawn(binary, "run", "connector.json", &text, env)
    }

    /// Starts `binary serve --config <worker.properties>` with `properties`
    /// as the worker file.
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn serve(binary: &Path, properties: &str, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::spawn(binary, "serve", "worker.properties", properties, env)
    }

    fn spawn(
        binary: &Path,
        command: &str,
        file: &str,
        contents: &str,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join(file);
        std::fs::write(&config_path, contents)?;
        let log = dir.path().join("lambda-sink.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(binary);
        cmd.args([command, "--config"])
            .arg(&config_path)
            .env("RUST_LOG", "info,lambda_sink=debug")
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            child,
            log,
            _dir: dir,
        })
    }

    /// The process id (for CPU and memory readings from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds used so far and peak resident memory in bytes.
    pub fn resources(&self) -> Option<(f64, u64)> {
        process_resources(self.pid())
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (graceful stop).
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal("-TERM")
    }

    /// Freezes the process (SIGSTOP): it neither heartbeats nor commits, as
    /// a process stalled by the OS or a long pause would (a zombie once its
    /// group session expires).
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    /// Lets a paused process run again (SIGCONT).
    ///
    /// # Errors
    /// When `kill` cannot be run.
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill {signal} failed");
        Ok(())
    }

    /// SIGTERM, then waits (up to a minute) for the exit code.
    ///
    /// # Panics
    /// When the signal cannot be sent.
    pub async fn stop(&mut self) -> Option<i32> {
        self.terminate().expect("SIGTERM");
        self.wait(Duration::from_secs(60)).await
    }

    /// Stops gracefully and asserts the clean exit (code 0), showing the log
    /// otherwise.
    ///
    /// # Panics
    /// When the exit code is not 0.
    pub async fn stop_cleanly(&mut self) {
        let code = self.stop().await;
        assert_eq!(
            code,
            Some(0),
            "a graceful stop must exit 0:\n{}",
            self.log()
        );
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited (without waiting or killing it).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Waits for the process to exit; its exit code (`None`: killed by a
    /// signal, or still running after `timeout`, which also kills it).
    pub async fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let exited = try_wait_until(timeout, || {
            let status = self.child.try_wait().ok().flatten();
            async move { status }
        })
        .await;
        match exited {
            Some(status) => status.code(),
            None => {
                self.kill9();
                None
            }
        }
    }

    /// The HTTP endpoint's address (`http.listener` with port 0 picks one;
    /// the process logs it at start).
    ///
    /// # Panics
    /// When the endpoint does not start within a minute.
    pub async fn http_url(&self) -> String {
        self.logged_url("HTTP endpoint").await
    }

    /// A `serve` worker's REST API address (`listeners` with port 0 picks
    /// one; the worker logs it once it serves).
    ///
    /// # Panics
    /// When the worker does not serve within a minute.
    pub async fn api_url(&self) -> String {
        self.logged_url("serving the Kafka Connect REST API").await
    }

    async fn logged_url(&self, needle: &str) -> String {
        self.wait_for_log(needle, Duration::from_secs(60)).await;
        let log = self.log();
        let line = log.lines().find(|l| l.contains(needle)).unwrap_or_default();
        let address = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("address="))
            .unwrap_or_default();
        format!("http://{address}")
    }

    /// Waits until the log contains `needle`.
    ///
    /// # Panics
    /// After `timeout`, showing the log.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let found = try_wait_until(timeout, || {
            let hit = self.log().contains(needle).then_some(());
            async move { hit }
        })
        .await;
        assert!(
            found.is_some(),
            "log never contained {needle:?} within {timeout:?}:\n{}",
            self.log()
        );
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // A test that fails midway must not leave the process running, and
        // its failure shows what the process logged (the last lines: a
        // timed-out wait says what it waited for, the log says why).
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill9();
        }
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL)..];
            eprintln!(
                "--- the last {} lines of pid {}'s log ---\n{}",
                tail.len(),
                self.child.id(),
                tail.join("\n")
            );
        }
    }
}

impl Services {
    /// A worker file for this test: its own cluster (`group.id`, hence
    /// its own config and status topics), a free port, and the local
    /// services as connector defaults; `extra` lines are appended.
    pub fn worker_properties(&self, group: &str, extra: &[(&str, &str)]) -> String {
        let mut lines = vec![
            format!("group.id={group}"),
            "listeners=http://127.0.0.1:0".to_string(),
            format!("kafka.bootstrap.servers={}", self.bootstrap),
            format!("aws.lambda.region={}", crate::REGION),
            format!("aws.lambda.endpoint={}", self.lambda_endpoint),
            "aws.access.key.id=test".to_string(),
            "aws.secret.access.key=test".to_string(),
            "record.converter.class=NativeJsonKeyValueConverter".to_string(),
            "input.key.format=STRING".to_string(),
            "shutdown.timeout.ms=20000".to_string(),
            "status.heartbeat.interval.ms=1000".to_string(),
        ];
        lines.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
        lines.join("\n") + "\n"
    }

    /// The base config of a connector under test: this test's topic,
    /// function and name (= group) and the local services, with lambda-sink's
    /// own defaults otherwise. `extra` entries are added or replace base ones.
    pub fn connector_config(
        &self,
        name: &str,
        topics: &str,
        function: &str,
        extra: &[(&str, &str)],
    ) -> Value {
        let mut config = serde_json::json!({
            "name": name,
            "topics": topics,
            "kafka.bootstrap.servers": self.bootstrap,
            "aws.lambda.function.name": function,
            "aws.lambda.region": crate::REGION,
            "aws.lambda.endpoint": self.lambda_endpoint,
            "aws.access.key.id": "test",
            "aws.secret.access.key": "test",
            "record.converter.class": "NativeJsonKeyValueConverter",
            "input.key.format": "STRING",
            "http.listener": "none",
            "shutdown.timeout.ms": "20000",
        });
        for (k, v) in extra {
            config[*k] = Value::String((*v).to_string());
        }
        config
    }
}

/// CPU seconds a process has used so far (user + system) and its peak
/// resident memory in bytes, from `/proc/<pid>`.
pub fn process_resources(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces).
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    // Linux reports CPU time in clock ticks of 1/100 s.
    Some((ticks / 100.0, hwm_kb * 1024))
}
