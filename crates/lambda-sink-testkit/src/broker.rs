//! A private Apache Kafka broker on free ports, for tests that crash or
//! restart the broker (the fault suite) and for benchmarks that must have a
//! broker to themselves, without disturbing the shared one the other tests
//! use.
//!
//! It is run by `scripts/broker.sh`, the same script `scripts/services.sh`
//! runs the shared broker with, so both have the same settings: one node in
//! KRaft combined mode on 127.0.0.1, data in a temporary directory.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::Services;

/// `scripts/broker.sh` (`LAMBDA_SINK_BROKER_SCRIPT`, set by
/// `scripts/services.sh env`; by default the repository's own).
pub fn script() -> PathBuf {
    std::env::var_os("LAMBDA_SINK_BROKER_SCRIPT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/broker.sh"),
        PathBuf::from,
    )
}

/// A running private broker; dropping it kills it and removes its data.
pub struct PrivateBroker {
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivateBroker {
    /// Formats and starts a broker, then creates `topics` as
    /// `(name, partitions)`.
    ///
    /// # Panics
    /// When the broker cannot be started or a topic created (a test failure).
    pub async fn start(topics: &[(&str, i32)]) -> Self {
        Self::start_with(topics, &[]).await
    }

    /// As [`Self::start`], with `properties` (`key=value` lines) added to
    /// the broker's configuration.
    ///
    /// # Panics
    /// When the broker cannot be started or a topic created (a test failure).
    pub async fn start_with(topics: &[(&str, i32)], properties: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let [port, controller] = crate::free_ports();
        let broker = Self { port, dir };
        let mut init = vec!["init".to_string(), port.to_string(), controller.to_string()];
        if !properties.is_empty() {
            // broker.sh's optional SASL/mTLS ports stay off.
            init.extend([String::new(), String::new(), properties.join("\n")]);
        }
        broker
            .script(&init.iter().map(String::as_str).collect::<Vec<_>>())
            .await;
        broker.script(&["start"]).await;
        let s = Services {
            bootstrap: broker.bootstrap(),
            ..Services::from_env()
        };
        for (topic, partitions) in topics {
            s.create_topic(topic, *partitions)
                .await
                .expect("creating a topic on the private broker");
        }
        broker
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    }

    /// Kills the broker (SIGKILL: a crash). Its data stays for [`Self::restart`].
    ///
    /// # Panics
    /// When the script fails.
    pub fn kill9(&mut self) {
        run(self.command(&["kill"])).expect("broker.sh kill");
    }

    /// Starts it again on the same ports and data (killing it first if it
    /// still runs), returning once it answers a Metadata request.
    ///
    /// # Panics
    /// When it does not come back.
    pub async fn restart(&mut self) {
        self.script(&["restart"]).await;
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(script());
        cmd.arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .stdin(Stdio::null());
        cmd
    }

    async fn script(&self, args: &[&str]) {
        let cmd = self.command(args);
        let what = format!("broker.sh {}", args.join(" "));
        tokio::task::spawn_blocking(move || run(cmd))
            .await
            .expect("broker.sh task")
            .unwrap_or_else(|e| panic!("{what}: {e:#}"));
    }
}

/// Runs `cmd`, failing with its output when it fails.
fn run(mut cmd: Command) -> anyhow::Result<()> {
    let out = cmd.output().context("running scripts/broker.sh")?;
    if !out.status.success() {
        bail!(
            "exit {:?}: {}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = run(self.command(&["kill"]));
    }
}
