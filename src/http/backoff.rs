//! Exponential backoff with full jitter.
//!
//! Attempt `n` (0-based) sleeps a uniformly random time in `[0, min(max, base * 2^n)]`
//! ("full jitter"): many clients retrying the same overloaded endpoint spread out instead of
//! hammering it in lock-step. The random source is `fastrand` (a small, dependency-free PRNG:
//! jitter needs no cryptographic quality).

use std::time::Duration;

/// Computes retry delays: exponential growth from `base`, capped at `max`, fully jittered.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff starting at `base` and never exceeding `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// A backoff whose jitter is reproducible (tests).
    pub fn with_seed(base: Duration, max: Duration, seed: u64) -> Backoff {
        Backoff {
            rng: fastrand::Rng::with_seed(seed),
            ..Backoff::new(base, max)
        }
    }

    /// The upper bound of the delay before retry number `attempt` (0-based), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next retry; each call moves to the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// How many delays were handed out.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_within_the_exponential_ceiling() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        let mut backoff = Backoff::with_seed(base, max, 7);
        for attempt in 0..12u32 {
            let ceiling = backoff.ceiling(attempt);
            assert_eq!(
                ceiling,
                (base * 2u32.pow(attempt)).min(max),
                "attempt {attempt}"
            );
            let delay = backoff.next_delay();
            assert!(
                delay <= ceiling,
                "attempt {attempt}: {delay:?} > {ceiling:?}"
            );
        }
        assert_eq!(backoff.attempts(), 12);
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_range() {
        let base = Duration::from_secs(1);
        let mut low = 0;
        let mut high = 0;
        for seed in 0..200 {
            let delay = Backoff::with_seed(base, base, seed).next_delay();
            if delay < base / 4 {
                low += 1;
            }
            if delay > base * 3 / 4 {
                high += 1;
            }
        }
        assert!(low > 20 && high > 20, "low {low}, high {high}");
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(30));
        assert_eq!(backoff.ceiling(10_000), Duration::from_secs(30));
    }
}
