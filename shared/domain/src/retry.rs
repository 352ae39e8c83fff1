//! Retry policy of the one retry queue: exponential backoff with full jitter, capped;
//! escalation after `max_attempts`. Deterministic: the adapter supplies the jitter.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Base delay (attempt 1 waits up to `base_ms`).
    pub base_ms: u64,
    /// Upper bound of any single delay.
    pub cap_ms: u64,
    /// Attempts allowed in total; the failure of the last one escalates.
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try again at `next_attempt_at` (unix ms).
    Retry { delay_ms: u64, next_attempt_at: i64 },
    /// Give up: record an escalation for manual handling.
    Escalate,
}

impl RetryPolicy {
    /// Default cap: 1 hour.
    pub const DEFAULT_CAP_MS: u64 = 3_600_000;

    pub fn from_config(base_seconds: u64, max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            base_ms: base_seconds.saturating_mul(1000).max(1),
            cap_ms: Self::DEFAULT_CAP_MS.max(base_seconds.saturating_mul(1000)),
            max_attempts: max_attempts.max(1),
        }
    }

    /// The exponential ceiling for the `attempt`-th failure (1-based): min(cap, base·2^(attempt-1)).
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(63);
        let exp = 1u64.checked_shl(shift).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(exp).min(self.cap_ms)
    }

    /// Floor of any delay, so a failed job is never immediately due again (no hot loop).
    pub const MIN_DELAY_MS: u64 = 1_000;

    /// Full jitter: a delay in [0, ceiling) chosen by `jitter` ∈ [0,1) (clamped), floored at
    /// min(MIN_DELAY_MS, ceiling/2) (so it stays below the ceiling).
    pub fn delay_ms(&self, attempt: u32, jitter: f64) -> u64 {
        let j = if jitter.is_finite() { jitter.clamp(0.0, 0.999_999_999) } else { 0.0 };
        let ceiling = self.ceiling_ms(attempt);
        // Integer math on a 2^32 fixed point to stay exact and deterministic.
        let fixed = (j * 4_294_967_296.0) as u64; // < 2^32
        let d = ((ceiling as u128 * fixed as u128) >> 32) as u64;
        d.max(Self::MIN_DELAY_MS.min(ceiling / 2))
    }

    /// Decide after the `attempts`-th failed attempt (attempts counts this one, 1-based).
    pub fn on_failure(&self, attempts: u32, now_ms: i64, jitter: f64) -> RetryDecision {
        if attempts >= self.max_attempts {
            return RetryDecision::Escalate;
        }
        let delay_ms = self.delay_ms(attempts, jitter);
        RetryDecision::Retry { delay_ms, next_attempt_at: now_ms.saturating_add(delay_ms as i64) }
    }
}

/// Jitter in [0,1) from 8 random bytes (the adapter's randomness).
pub fn jitter_from_bytes(b: [u8; 8]) -> f64 {
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> RetryPolicy {
        RetryPolicy { base_ms: 30_000, cap_ms: 3_600_000, max_attempts: 6 }
    }

    #[test]
    fn exponential_ceiling_is_capped() {
        let p = p();
        assert_eq!(p.ceiling_ms(1), 30_000);
        assert_eq!(p.ceiling_ms(2), 60_000);
        assert_eq!(p.ceiling_ms(5), 480_000);
        assert_eq!(p.ceiling_ms(10), 3_600_000);
        assert_eq!(p.ceiling_ms(200), 3_600_000);
    }

    #[test]
    fn full_jitter_is_deterministic_and_bounded() {
        let p = p();
        assert_eq!(p.delay_ms(3, 0.0), 1_000);
        assert_eq!(p.delay_ms(3, 0.5), 60_000);
        assert!(p.delay_ms(3, 0.999_999) < 120_000);
        assert_eq!(p.delay_ms(3, 0.25), p.delay_ms(3, 0.25));
        assert_eq!(p.delay_ms(3, f64::NAN), 1_000);
        assert!(p.delay_ms(3, 7.0) < 120_000);
        assert_eq!(p.delay_ms(3, -1.0), 1_000);
        let tiny = RetryPolicy { base_ms: 10, cap_ms: 10, max_attempts: 3 };
        assert_eq!(tiny.delay_ms(1, 0.0), 5);
    }

    #[test]
    fn escalates_after_max_attempts() {
        let p = p();
        match p.on_failure(1, 1_000, 0.5) {
            RetryDecision::Retry { delay_ms, next_attempt_at } => {
                assert_eq!(delay_ms, 15_000);
                assert_eq!(next_attempt_at, 16_000);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.on_failure(5, 0, 0.1), RetryDecision::Retry { .. }));
        assert_eq!(p.on_failure(6, 0, 0.1), RetryDecision::Escalate);
        assert_eq!(p.on_failure(7, 0, 0.1), RetryDecision::Escalate);
    }

    #[test]
    fn config_and_jitter_bytes() {
        let p = RetryPolicy::from_config(30, 0);
        assert_eq!(p.max_attempts, 1);
        assert_eq!(p.base_ms, 30_000);
        let j = jitter_from_bytes([0xff; 8]);
        assert!((0.0..1.0).contains(&j));
        assert_eq!(jitter_from_bytes([0; 8]), 0.0);
    }
}
