//! Circuit breakers for the external systems the spec names (architecture.md, "Circuit Breaker
//! Patterns"): the factory API, the payment gateway, the IoT API and VSS.
//!
//! One breaker per system, shared by every component and replica (the adapter keeps the state in
//! the key-value store). Closed: calls go out and consecutive failures are counted; at
//! `failure_threshold` the breaker opens. Open: calls are not made for `cooldown_ms`; the caller
//! takes the system's fallback at once (payment: refuse now, "try again"; factory and IoT: the
//! retry queue; VSS: assume maintenance current). Half-open, once the cool-down is over: calls go
//! out as probes; the first success closes the breaker, a failure opens it for another cool-down.
//!
//! A failure is what says the system is unwell — a transport error, a timeout, a 5xx or a 429 —
//! never a 4xx answer about the request itself. The state is plain data; time and the stored state
//! are inputs (no I/O here). Concurrent writers may lose a count (the store has no compare-and-set);
//! the breaker then opens one failure later, which is harmless.
use serde::{Deserialize, Serialize};

/// The guarded external systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    Factory,
    Payment,
    Iot,
    Vss,
}

impl Dependency {
    pub const ALL: [Dependency; 4] = [Dependency::Factory, Dependency::Payment, Dependency::Iot, Dependency::Vss];

    /// Stable name (key-value key suffix, admin API).
    pub fn name(self) -> &'static str {
        match self {
            Dependency::Factory => "factory",
            Dependency::Payment => "payment",
            Dependency::Iot => "iot",
            Dependency::Vss => "vss",
        }
    }

    /// Human name for messages and the back office.
    pub fn label(self) -> &'static str {
        match self {
            Dependency::Factory => "factory API",
            Dependency::Payment => "payment gateway",
            Dependency::Iot => "IoT API",
            Dependency::Vss => "VSS (workshop maintenance records)",
        }
    }

    /// What the app does while the breaker is open (the spec's fallback per system).
    pub fn fallback(self) -> &'static str {
        match self {
            Dependency::Factory => "orders are queued and placed when the factory answers again",
            Dependency::Payment => "payments are refused at once with \"try again later\"; nothing is charged",
            Dependency::Iot => "activations wait in the retry queue (escalated to support after the last try, never charged)",
            Dependency::Vss => "services are sold assuming maintenance is current",
        }
    }

    pub fn parse(s: &str) -> Option<Dependency> {
        Dependency::ALL.into_iter().find(|d| d.name() == s)
    }
}

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long an open breaker skips calls.
    pub cooldown_ms: i64,
}

impl BreakerPolicy {
    pub const DEFAULT_FAILURES: u64 = 5;
    pub const DEFAULT_COOLDOWN_SECONDS: u64 = 30;

    /// From configuration (Spin variables); zero values are raised to the smallest sensible ones.
    pub fn from_config(failures: u64, cooldown_seconds: u64) -> BreakerPolicy {
        BreakerPolicy {
            failure_threshold: failures.clamp(1, u32::MAX as u64) as u32,
            cooldown_ms: cooldown_seconds.clamp(1, 86_400).saturating_mul(1000) as i64,
        }
    }
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy::from_config(Self::DEFAULT_FAILURES, Self::DEFAULT_COOLDOWN_SECONDS)
    }
}

/// The stored state of one breaker. `Default` is a closed breaker that never failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerState {
    /// Failures since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
    /// Set while open or half-open: calls are skipped until then.
    #[serde(default)]
    pub open_until: Option<i64>,
    /// When it last opened (for the back office).
    #[serde(default)]
    pub opened_at: Option<i64>,
    /// How many times it opened since it was last closed by a success.
    #[serde(default)]
    pub times_opened: u32,
    #[serde(default)]
    pub last_failure_at: Option<i64>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub last_success_at: Option<i64>,
}

/// The breaker's position at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Closed,
    /// Calls skipped until the instant (unix ms).
    Open { until: i64 },
    /// Cool-down over: calls go out as probes.
    HalfOpen,
}

impl Position {
    pub fn name(self) -> &'static str {
        match self {
            Position::Closed => "closed",
            Position::Open { .. } => "open",
            Position::HalfOpen => "half-open",
        }
    }
}

/// What to do with a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Make the call.
    Call,
    /// Make the call as a probe of a half-open breaker.
    Probe,
    /// Do not call; take the fallback. The breaker lets calls through again at `until`.
    Skip { until: i64 },
}

/// How a call went, as far as the breaker is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallResult {
    /// The system answered (2xx, 3xx, or a 4xx about the request).
    Healthy,
    /// Transport error, timeout, 5xx or 429.
    Unwell,
}

impl CallResult {
    /// Classify an HTTP status code.
    pub fn of_status(status: u16) -> CallResult {
        if status >= 500 || status == 429 { CallResult::Unwell } else { CallResult::Healthy }
    }

    /// Classify an answer of `dep`. The IoT API answers 503 "Vehicle offline" about one car that
    /// is out of reach: the platform itself answered, so that counts as healthy (a few parked
    /// cars must not cut every other car off).
    pub fn of_answer(dep: Dependency, status: u16, body: &str) -> CallResult {
        if dep == Dependency::Iot && status == 503 && mentions_vehicle_offline(body) {
            return CallResult::Healthy;
        }
        CallResult::of_status(status)
    }
}

/// Whether a text (an IoT answer, or an error that quotes one) says the car is out of reach.
pub fn mentions_vehicle_offline(text: &str) -> bool {
    text.to_ascii_lowercase().contains("vehicle offline")
}

/// The words every "call skipped by an open breaker" error carries (readers recognise it by them).
pub const SKIPPED_MARK: &str = "circuit breaker is open";

/// Longest error text kept in the state.
const MAX_ERROR_CHARS: usize = 300;

impl BreakerState {
    pub fn position(&self, now: i64) -> Position {
        match self.open_until {
            Some(until) if now < until => Position::Open { until },
            Some(_) => Position::HalfOpen,
            None => Position::Closed,
        }
    }

    pub fn admit(&self, now: i64) -> Admission {
        match self.position(now) {
            Position::Closed => Admission::Call,
            Position::HalfOpen => Admission::Probe,
            Position::Open { until } => Admission::Skip { until },
        }
    }

    /// The state after a call made at `now` ended with `result` (`error` describes an unwell one).
    /// Returns None when nothing changed (nothing to write).
    pub fn after(&self, result: CallResult, error: Option<&str>, now: i64, policy: &BreakerPolicy) -> Option<BreakerState> {
        let mut next = self.clone();
        match result {
            CallResult::Healthy => {
                if self.consecutive_failures == 0 && self.open_until.is_none() {
                    return None; // the common case: closed and well, no write
                }
                next.consecutive_failures = 0;
                next.open_until = None;
                next.times_opened = 0;
                next.last_success_at = Some(now);
            }
            CallResult::Unwell => {
                next.consecutive_failures = self.consecutive_failures.saturating_add(1);
                next.last_failure_at = Some(now);
                next.last_error = error.map(|e| e.chars().take(MAX_ERROR_CHARS).collect());
                let position = self.position(now);
                let probe_failed = position == Position::HalfOpen;
                let reached = next.consecutive_failures >= policy.failure_threshold;
                let already_open = matches!(position, Position::Open { .. });
                if probe_failed || (reached && !already_open) {
                    next.open_until = Some(now.saturating_add(policy.cooldown_ms));
                    next.opened_at = Some(now);
                    next.times_opened = self.times_opened.saturating_add(1);
                }
            }
        }
        Some(next)
    }

    /// Decode a stored state; an unreadable one counts as closed (a breaker must never block
    /// calls because of its own bookkeeping).
    pub fn decode(bytes: &[u8]) -> BreakerState {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The answer a customer gets while a breaker refuses calls: seconds to wait, at least 1.
pub fn retry_after_seconds(until: i64, now: i64) -> u64 {
    let ms = until.saturating_sub(now).max(0) as u64;
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BreakerPolicy {
        BreakerPolicy::from_config(3, 30)
    }

    fn fail(s: &BreakerState, now: i64) -> BreakerState {
        s.after(CallResult::Unwell, Some("timed out after 5000 ms"), now, &policy()).expect("a failure always changes the state")
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures_and_skips_calls_for_the_cooldown() {
        let mut s = BreakerState::default();
        for t in 0..2 {
            s = fail(&s, t);
            assert_eq!(s.admit(t), Admission::Call, "still closed after {} failures", t + 1);
        }
        s = fail(&s, 10);
        assert_eq!(s.position(10), Position::Open { until: 30_010 });
        assert_eq!(s.admit(30_009), Admission::Skip { until: 30_010 });
        assert_eq!(s.times_opened, 1);
        assert_eq!(s.last_error.as_deref(), Some("timed out after 5000 ms"));
    }

    #[test]
    fn a_success_in_between_resets_the_count() {
        let s = fail(&fail(&BreakerState::default(), 0), 1);
        let s = s.after(CallResult::Healthy, None, 2, &policy()).unwrap();
        assert_eq!(s.consecutive_failures, 0);
        let s = fail(&fail(&s, 3), 4);
        assert_eq!(s.position(5), Position::Closed, "two failures after a success do not open it");
    }

    #[test]
    fn half_open_after_the_cooldown_a_probe_success_closes_and_a_probe_failure_reopens() {
        let mut s = BreakerState::default();
        for t in 0..3 {
            s = fail(&s, t);
        }
        assert_eq!(s.admit(30_002), Admission::Probe);
        let closed = s.after(CallResult::Healthy, None, 30_002, &policy()).unwrap();
        assert_eq!(closed.position(30_003), Position::Closed);
        assert_eq!(closed.times_opened, 0);
        assert_eq!(closed.last_success_at, Some(30_002));

        let reopened = fail(&s, 30_002);
        assert_eq!(reopened.position(30_003), Position::Open { until: 60_002 });
        assert_eq!(reopened.times_opened, 2);
    }

    #[test]
    fn failures_reported_while_open_do_not_extend_the_cooldown() {
        let mut s = BreakerState::default();
        for t in 0..3 {
            s = fail(&s, t);
        }
        // A call that started before the breaker opened fails late.
        let late = fail(&s, 5_000);
        assert_eq!(late.open_until, s.open_until);
        assert_eq!(late.times_opened, 1);
    }

    #[test]
    fn a_healthy_call_on_a_closed_breaker_writes_nothing() {
        assert_eq!(BreakerState::default().after(CallResult::Healthy, None, 1, &policy()), None);
    }

    #[test]
    fn classifies_statuses_as_the_system_being_unwell_or_not() {
        for s in [500, 502, 503, 504, 429] {
            assert_eq!(CallResult::of_status(s), CallResult::Unwell, "{s}");
        }
        for s in [200, 201, 204, 400, 402, 404, 409, 422] {
            assert_eq!(CallResult::of_status(s), CallResult::Healthy, "{s}");
        }
        let offline = r#"{"title":"Vehicle offline","status":503,"detail":"vehicle VIN1 is not reachable"}"#;
        assert_eq!(CallResult::of_answer(Dependency::Iot, 503, offline), CallResult::Healthy, "one car out of reach");
        assert_eq!(CallResult::of_answer(Dependency::Iot, 503, "upstream down"), CallResult::Unwell);
        assert_eq!(CallResult::of_answer(Dependency::Payment, 503, offline), CallResult::Unwell);
    }

    #[test]
    fn state_round_trips_and_garbage_reads_as_closed() {
        let s = fail(&BreakerState::default(), 7);
        assert_eq!(BreakerState::decode(&s.encode()), s);
        assert_eq!(BreakerState::decode(b"not json"), BreakerState::default());
        assert_eq!(BreakerState::decode(b"{}"), BreakerState::default());
    }

    #[test]
    fn policy_from_configuration_raises_zeroes_and_names_round_trip() {
        let p = BreakerPolicy::from_config(0, 0);
        assert_eq!((p.failure_threshold, p.cooldown_ms), (1, 1000));
        assert_eq!(BreakerPolicy::default().failure_threshold, 5);
        for d in Dependency::ALL {
            assert_eq!(Dependency::parse(d.name()), Some(d));
        }
        assert_eq!(Dependency::parse("bank"), None);
        assert_eq!(retry_after_seconds(10_001, 0), 11);
        assert_eq!(retry_after_seconds(0, 5), 1);
    }
}
