//! The adaptive in-flight limit (`aws.lambda.adaptive.concurrency`): AIMD,
//! as TCP congestion control and Vector's adaptive request concurrency do.
//!
//! A throttled call (429, `TooManyRequestsException`) cuts the limit by
//! [`DECREASE`]; a call that succeeds while the limit was in full use raises
//! it by `1 / limit`, so about one per round of calls, up to
//! `aws.lambda.max.in.flight`. Calls started before the last cut carry an
//! older *epoch*, and their throttles do not cut again: one burst of 429s
//! answering one window of calls costs one decrease, not one per call.

/// The factor a throttle cuts the limit by.
pub const DECREASE: f64 = 0.75;

/// An AIMD concurrency limit between 1 and a maximum.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    max: f64,
    epoch: u64,
}

impl Aimd {
    /// A limit starting at `max` (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: max,
            max,
            epoch: 0,
        }
    }

    /// Calls that may be in flight now.
    pub fn limit(&self) -> usize {
        // The limit lies in 1..=max, so the cast is exact.
        self.limit.floor() as usize
    }

    /// Changes each time the limit is cut; a call records it when it starts.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// A call started at `epoch` succeeded (or failed in a way that says
    /// nothing about capacity); `saturated`: all of the limit was in use
    /// when it started, so more might have been used.
    pub fn succeeded(&mut self, saturated: bool) {
        if saturated {
            self.limit = (self.limit + 1.0 / self.limit).min(self.max);
        }
    }

    /// A call started at `epoch` was throttled. Returns whether the limit
    /// was cut (only the first throttle of an epoch cuts it).
    pub fn throttled(&mut self, epoch: u64) -> bool {
        if epoch != self.epoch {
            return false;
        }
        self.limit = (self.limit * DECREASE).max(1.0);
        self.epoch += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cut_per_epoch_and_never_below_one() {
        let mut a = Aimd::new(32);
        assert_eq!(a.limit(), 32);
        let e = a.epoch();
        assert!(a.throttled(e));
        assert_eq!(a.limit(), 24);
        assert!(!a.throttled(e), "a call of the same window");
        assert_eq!(a.limit(), 24);
        for _ in 0..40 {
            let e = a.epoch();
            a.throttled(e);
        }
        assert_eq!(a.limit(), 1);
    }

    #[test]
    fn grows_by_about_one_per_round_and_stops_at_max() {
        let mut a = Aimd::new(10);
        let e = a.epoch();
        a.throttled(e);
        assert_eq!(a.limit(), 7);
        for _ in 0..7 {
            a.succeeded(true);
        }
        assert_eq!(a.limit(), 8, "one round of 7 calls adds one");
        a.succeeded(false);
        assert_eq!(a.limit(), 8, "an unsaturated success says nothing");
        for _ in 0..1000 {
            a.succeeded(true);
        }
        assert_eq!(a.limit(), 10);
    }

    /// Against a function that throttles above `n` concurrent calls, the
    /// limit saws between `DECREASE × n` and `n`, and few calls are throttled.
    #[test]
    fn settles_near_the_capacity() {
        let n = 16;
        let mut a = Aimd::new(64);
        let (mut calls, mut throttled, mut sum) = (0u32, 0u32, 0usize);
        for round in 0..400 {
            // One round: `limit` calls in flight at once, started together.
            let limit = a.limit();
            let epoch = a.epoch();
            for i in 0..limit {
                calls += 1;
                if i >= n {
                    throttled += 1;
                    a.throttled(epoch);
                } else {
                    a.succeeded(true);
                }
            }
            if round >= 100 {
                sum += a.limit();
            }
        }
        let mean = sum as f64 / 300.0;
        assert!(
            (0.75 * n as f64..=n as f64 + 1.0).contains(&mean),
            "mean limit {mean}"
        );
        let share = f64::from(throttled) / f64::from(calls);
        assert!(share < 0.1, "{share} of calls throttled");
    }
}
