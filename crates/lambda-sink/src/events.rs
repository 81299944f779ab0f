//! A connector's event log at run time ([`Events`]): each event is kept in
//! the connector's bounded journal in this process (the newest [`KEPT`]),
//! logged with the same fields (`event`, `task`, `topic`, `partition`,
//! `offsets`; in JSON logs, as keys) and, on a `serve` worker, published to
//! the cluster's events topic. Throttles become episodes: one event when
//! Lambda starts throttling, one when it has stopped. The rules are the
//! core's [`journal`](lambda_sink_core::journal).

use std::sync::{Arc, Mutex};

use lambda_sink_core::journal::{Episode, Event, Journal, Level, Query, Throttling};

use tokio::time::Instant;

use crate::clock::epoch_ms;
use crate::sync::lock;

/// Events kept per connector.
pub const KEPT: usize = 1_000;

/// Where a connector's events go besides its journal (`serve`: the
/// cluster's events topic).
pub type Publish = Arc<dyn Fn(&Event) + Send + Sync>;

/// One connector's event log; share it (`Arc`) between its runs, so a
/// restart keeps what came before.
pub struct Events {
    journal: Mutex<Journal>,
    throttling: Mutex<Throttling>,
    /// The clock episodes are timed by (tokio's: virtual in tests).
    origin: Instant,
    publish: Option<Publish>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            journal: Mutex::new(Journal::new(KEPT)),
            throttling: Mutex::new(Throttling::default()),
            origin: Instant::now(),
            publish: None,
        }
    }
}

/// Logs `e` at `$level` with its fields.
macro_rules! log {
    ($level:ident, $e:expr) => {
        tracing::$level!(
            event = &*$e.event,
            task = $e.task,
            topic = $e.topic.as_deref(),
            partition = $e.partition,
            offsets = $e.offsets.as_deref(),
            "{}",
            $e.message
        )
    };
}

impl Events {
    /// A log whose events are also given to `publish`.
    pub fn published(publish: Publish) -> Self {
        Self {
            publish: Some(publish),
            ..Self::default()
        }
    }

    /// Records `event` now, logs it, and publishes it.
    pub fn record(&self, mut event: Event) {
        event.at = epoch_ms();
        match event.level {
            Level::Info => log!(info, event),
            Level::Warn => log!(warn, event),
            Level::Error => log!(error, event),
        }
        if let Some(publish) = &self.publish {
            publish(&event);
        }
        lock(&self.journal).push(event);
    }

    fn elapsed_ms(&self) -> i64 {
        i64::try_from(self.origin.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    /// The events `query` asks for, oldest first.
    pub fn query(&self, query: &Query) -> Vec<Event> {
        lock(&self.journal).query(query)
    }

    /// Lambda throttled an invocation; the in-flight limit is `limit`.
    pub fn throttled(&self, limit: usize) {
        let started = lock(&self.throttling).throttled(self.elapsed_ms(), limit);
        if started.is_some() {
            self.record(Event::new(
                Level::Warn,
                "throttling_started",
                format!("Lambda is throttling the function (429); the in-flight limit is {limit}"),
            ));
        }
    }

    /// The clock moved on (about once a second), the in-flight limit at
    /// `limit`: ends a throttling episode quiet long enough.
    pub fn tick(&self, limit: usize) {
        let ended = {
            let mut throttling = lock(&self.throttling);
            throttling.limit(limit);
            throttling.tick(self.elapsed_ms())
        };
        if let Some(Episode::Ended {
            lasted_ms,
            throttles,
            lowest_limit,
        }) = ended
        {
            self.record(Event::new(
                Level::Info,
                "throttling_ended",
                format!(
                    "Lambda stopped throttling: {throttles} throttled invocations over {:.1} s, the in-flight limit as low as {lowest_limit}",
                    lasted_ms as f64 / 1000.0
                ),
            ));
        }
    }
}
