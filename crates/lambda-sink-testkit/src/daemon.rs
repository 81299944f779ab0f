//! A server process a test starts (Prometheus, Jaeger): run in a scratch
//! directory with its output in a log file there, waited for until a probe
//! says it is ready, and killed when dropped.

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::try_wait_until;

/// A running server and its scratch directory.
pub struct Daemon {
    name: &'static str,
    child: Child,
    dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts `binary` with `args` in `dir`, its output to `<name>.log`
    /// there; `install` says how to get it when it does not start.
    ///
    /// # Errors
    /// When the process cannot start.
    pub fn spawn(
        name: &'static str,
        binary: &str,
        args: &[String],
        dir: tempfile::TempDir,
        install: &str,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log")))?;
        let child = Command::new(binary)
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {binary} ({install})"))?;
        Ok(Self { name, child, dir })
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{}.log", self.name)))
            .unwrap_or_default()
    }

    /// Waits up to a minute for `ready` to say so.
    ///
    /// # Errors
    /// When it does not within a minute, with the log.
    pub async fn wait_ready<F, Fut>(&self, ready: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let mut ready = ready;
        let waited = try_wait_until(Duration::from_secs(60), || {
            let probe = ready();
            async move { probe.await.then_some(()) }
        })
        .await;
        anyhow::ensure!(
            waited.is_some(),
            "{} was not ready within a minute:\n{}",
            self.name,
            self.log()
        );
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
