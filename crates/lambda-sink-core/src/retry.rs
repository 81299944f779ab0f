//! The one backoff: exponential with jitter, honouring `Retry-After`,
//! bounded by a timeout (`aws.lambda.retry.timeout.ms` for invocations) or
//! forever (waiting for the registry or for Kafka).
//!
//! Pure: the caller supplies elapsed time and a random fraction, so the
//! policy is tested without clocks.

use std::time::Duration;

/// The retry policy of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Give up once this much time has passed since the first attempt;
    /// `None` retries forever.
    pub timeout: Option<Duration>,
}

impl Backoff {
    /// Retries forever, from `initial` up to `max` between attempts.
    pub fn forever(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            timeout: None,
        }
    }

    /// The delay before retry number `attempt` of a wait without a timeout
    /// (see [`delay`](Self::delay)).
    pub fn delay_forever(&self, attempt: u32, jitter: f64) -> Duration {
        let forever = Self {
            timeout: None,
            ..*self
        };
        forever
            .delay(attempt, Duration::ZERO, None, jitter)
            .unwrap_or(self.max)
    }

    /// The delay before retry number `attempt` (0 = the first retry), or
    /// `None` to give up. `jitter` in `[0, 1)` spreads retries of many
    /// partitions ("equal jitter": half fixed, half random), and a
    /// `Retry-After` from Lambda is a floor.
    pub fn delay(
        &self,
        attempt: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let exp = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.max);
        let jittered = exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0);
        let delay = retry_after.map_or(jittered, |r| r.max(jittered));
        match self.timeout {
            Some(limit) if elapsed + delay > limit => None,
            _ => Some(delay),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy(timeout: Option<u64>) -> Backoff {
        Backoff {
            initial: MS * 100,
            max: MS * 1000,
            timeout: timeout.map(|t| MS * u32::try_from(t).unwrap()),
        }
    }

    #[test]
    fn forever_never_gives_up_and_stays_under_the_max() {
        let p = Backoff::forever(MS * 100, MS * 1000);
        assert_eq!(p.delay_forever(0, 0.0), MS * 50, "equal jitter: half fixed");
        assert_eq!(p.delay_forever(1, 0.999_999).as_millis(), 199);
        assert_eq!(p.delay_forever(100, 0.0), MS * 500);
        let bounded = policy(Some(10));
        assert!(bounded.delay(0, MS * 20, None, 0.0).is_none());
        assert_eq!(
            bounded.delay_forever(0, 0.0),
            MS * 50,
            "the timeout is ignored"
        );
    }

    #[test]
    fn grows_exponentially_with_jitter_up_to_the_max() {
        let b = policy(None);
        assert_eq!(b.delay(0, Duration::ZERO, None, 0.0), Some(MS * 50));
        assert_eq!(b.delay(0, Duration::ZERO, None, 1.0), Some(MS * 100));
        assert_eq!(b.delay(2, Duration::ZERO, None, 0.0), Some(MS * 200));
        assert_eq!(b.delay(10, Duration::ZERO, None, 1.0), Some(MS * 1000));
        assert_eq!(
            b.delay(u32::MAX, Duration::ZERO, None, 1.0),
            Some(MS * 1000)
        );
    }

    #[test]
    fn retry_after_is_a_floor() {
        let b = policy(None);
        assert_eq!(
            b.delay(0, Duration::ZERO, Some(MS * 3000), 0.5),
            Some(MS * 3000)
        );
        assert_eq!(
            b.delay(9, Duration::ZERO, Some(MS * 10), 1.0),
            Some(MS * 1000)
        );
    }

    #[test]
    fn gives_up_when_the_next_wait_would_pass_the_timeout() {
        let b = policy(Some(1000));
        assert_eq!(b.delay(0, MS * 900, None, 1.0), Some(MS * 100));
        assert_eq!(b.delay(0, MS * 901, None, 1.0), None);
        assert_eq!(b.delay(0, Duration::ZERO, Some(MS * 2000), 0.0), None);
        let zero = policy(Some(0));
        assert_eq!(
            zero.delay(0, Duration::ZERO, None, 0.0),
            None,
            "retry.timeout 0: never retry"
        );
    }
}
