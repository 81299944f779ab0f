//! A private Tansu broker on a free port: with SQLite storage for tests that
//! must stop the broker or require authentication without disturbing the
//! shared one the other tests use; in memory for benchmarks (fast, but
//! Tansu 0.6.0 loses records when a fetch starts inside a stored batch — see
//! [`PrivateBroker::memory`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait_until;

/// The Tansu binary the scripts installed (`LAMBDA_SINK_TANSU`).
pub fn tansu() -> PathBuf {
    std::env::var_os("LAMBDA_SINK_TANSU").map_or_else(
        || {
            PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(".cache/lambda-sink/tansu-0.6.0/bin/tansu")
        },
        PathBuf::from,
    )
}

/// A running private broker.
pub struct PrivateBroker {
    child: Option<Child>,
    port: u16,
    authenticate: bool,
    storage: &'static str,
    dir: tempfile::TempDir,
}

impl PrivateBroker {
    /// Starts a broker; with `user`, SASL/SCRAM-SHA-512 is required and that
    /// user exists. `topics` are created first, as `(name, partitions)`.
    ///
    /// # Panics
    /// When Tansu cannot be started (a test failure).
    pub async fn start(user: Option<(&str, &str)>, topics: &[(&str, i32)]) -> Self {
        Self::with_storage("sqlite://tansu.db", user, topics).await
    }

    /// Starts a broker that keeps everything in memory (~2M records/s each
    /// way). Only for reading a topic once from the beginning with a fresh
    /// group, and only when every stored batch holds one record: Tansu 0.6.0
    /// skips the rest of a batch when a fetch starts inside it (a resume
    /// after pause, a restart, a rebalance).
    ///
    /// # Panics
    /// When Tansu cannot be started.
    pub async fn memory(topics: &[(&str, i32)]) -> Self {
        Self::with_storage("memory://tansu/", None, topics).await
    }

    async fn with_storage(
        storage: &'static str,
        user: Option<(&str, &str)>,
        topics: &[(&str, i32)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut broker = Self {
            child: None,
            port,
            authenticate: false,
            storage,
            dir,
        };
        // Users and topics are created while the broker is still open.
        broker.launch().await;
        let url = format!("tcp://{}", broker.bootstrap());
        if let Some((name, password)) = user {
            run(&["user", "create", "--broker", &url, name, password]);
        }
        for (topic, partitions) in topics {
            run(&[
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
                "--broker",
                &url,
            ]);
        }
        if user.is_some() {
            broker.kill9();
            broker.authenticate = true;
            broker.launch().await;
        }
        broker
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the broker (SIGKILL: a crash, the clean way to simulate an outage).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and database.
    pub async fn restart(&mut self) {
        self.kill9();
        self.launch().await;
    }

    async fn launch(&mut self) {
        let url = format!("tcp://{}", self.bootstrap());
        let mut args = vec!["broker"];
        if self.authenticate {
            args.push("--authentication");
        }
        args.extend([
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            self.storage,
        ]);
        self.child = Some(
            Command::new(tansu())
                .args(&args)
                .current_dir(self.dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start tansu"),
        );
        let bootstrap = self.bootstrap();
        wait_until(Duration::from_secs(60), "private Tansu listening", || {
            let up = std::net::TcpStream::connect(&bootstrap).is_ok();
            async move { up.then_some(()) }
        })
        .await;
        if !self.authenticate {
            // Listening is not yet serving: wait for a metadata answer.
            wait_until(Duration::from_secs(60), "private Tansu ready", || {
                let ok = Command::new(tansu())
                    .args(["topic", "list", "--broker", &url])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                async move { ok.then_some(()) }
            })
            .await;
            if self.storage.starts_with("sqlite") {
                index_headers(self.dir.path());
            }
        }
    }
}

fn run(args: &[&str]) {
    let ok = Command::new(tansu())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "tansu {args:?} failed");
}

/// The header index TESTING.md recommends (Tansu's schema lacks it).
fn index_headers(dir: &Path) {
    if let Ok(python) = std::env::var("LAMBDA_SINK_PYTHON") {
        let _ = Command::new(python)
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=30); c.execute('create index if not exists header_topition_offset on header (topition, offset_id)'); c.commit()",
                &dir.join("tansu.db").display().to_string(),
            ])
            .status();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill9();
    }
}
