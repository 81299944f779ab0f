//! The process-wide in-flight limit (`aws.lambda.max.in.flight`), adaptive
//! on throttling (`aws.lambda.adaptive.concurrency`, the core's [`Aimd`]).
//!
//! Every invocation attempt holds a [`Permit`] while its request is out;
//! the permit keeps the `in_flight_invocations` gauge and, when the attempt
//! ends, tells the limit how it went. `in_flight_limit` shows the limit.

use std::sync::{Arc, Mutex};

use lambda_sink_core::concurrency::Aimd;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::Notify;

use crate::sync::lock;

/// Invocations in flight and how many may be.
pub(crate) struct Limiter {
    state: Mutex<State>,
    /// Woken once per freed slot (a woken waiter that has gone away passes
    /// the wake-up on, so none is lost).
    room: Notify,
    adaptive: bool,
    in_flight: Gauge,
    limit_gauge: Gauge,
}

struct State {
    aimd: Aimd,
    in_use: usize,
}

/// One invocation attempt's slot.
pub(crate) struct Permit {
    limiter: Arc<Limiter>,
    epoch: u64,
    saturated: bool,
}

impl Limiter {
    pub(crate) fn new(max: usize, adaptive: bool, in_flight: Gauge, limit_gauge: Gauge) -> Self {
        let aimd = Aimd::new(max);
        limit_gauge.set(gauge_value(aimd.limit()));
        Self {
            state: Mutex::new(State { aimd, in_use: 0 }),
            room: Notify::new(),
            adaptive,
            in_flight,
            limit_gauge,
        }
    }

    /// Waits for a slot under the current limit. Cancel-safe: a wake-up
    /// taken by a waiter that goes away passes to the next.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            room.await;
        }
    }

    /// A slot, if one is free under the current limit.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut s = lock(&self.state);
        let limit = s.aimd.limit();
        if s.in_use >= limit {
            return None;
        }
        s.in_use += 1;
        self.in_flight.inc();
        Some(Permit {
            limiter: self.clone(),
            epoch: s.aimd.epoch(),
            saturated: s.in_use >= limit,
        })
    }

    /// The limit now.
    pub(crate) fn limit(&self) -> usize {
        lock(&self.state).aimd.limit()
    }

    fn adapt(&self, change: impl FnOnce(&mut Aimd)) {
        if !self.adaptive {
            return;
        }
        let mut s = lock(&self.state);
        let before = s.aimd.limit();
        change(&mut s.aimd);
        let after = s.aimd.limit();
        drop(s);
        if after != before {
            self.limit_gauge.set(gauge_value(after));
            for _ in before..after {
                self.room.notify_one();
            }
        }
    }
}

impl Permit {
    /// Lambda answered (any answer but a throttle).
    pub(crate) fn answered(&self) {
        let saturated = self.saturated;
        self.limiter.adapt(|a| a.succeeded(saturated));
    }

    /// Lambda throttled the call (429).
    pub(crate) fn throttled(&self) {
        let epoch = self.epoch;
        self.limiter.adapt(|a| {
            a.throttled(epoch);
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        lock(&self.limiter.state).in_use -= 1;
        self.limiter.in_flight.dec();
        self.limiter.room.notify_one();
    }
}

fn gauge_value(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
