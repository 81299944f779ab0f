//! The wall clock as Kafka and our events count time: milliseconds since
//! the Unix epoch; and [`Ticking`], the same count moving with tokio's
//! clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now (0 before it, which does not
/// happen on a set clock).
pub(crate) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Epoch milliseconds that move with tokio's clock (paused in the component
/// tests): for deadlines a task sleeps towards with tokio's timers, so the
/// deadline and the sleep agree.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticking {
    start: tokio::time::Instant,
    epoch: i64,
}

impl Ticking {
    /// The clock, reading the wall clock's time now.
    pub(crate) fn start() -> Self {
        Self {
            start: tokio::time::Instant::now(),
            epoch: epoch_ms(),
        }
    }

    /// Milliseconds since the Unix epoch now.
    pub(crate) fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.start.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.epoch.saturating_add(elapsed)
    }

    /// The instant `ms` (epoch milliseconds) stands for.
    pub(crate) fn instant(&self, ms: i64) -> tokio::time::Instant {
        let after = u64::try_from(ms.saturating_sub(self.epoch)).unwrap_or(0);
        self.start + std::time::Duration::from_millis(after)
    }
}
