//! The circuit breakers' shared state (rules in `caas_domain::breaker`): one key per external
//! system in the key-value store (`breaker:<system>`), so every component and every replica sees
//! the same breaker. Bookkeeping never blocks a call: an unreadable store admits the call, a
//! failed write is logged and forgotten.
use caas_domain::breaker::{Admission, BreakerPolicy, BreakerState, CallResult, Dependency};
use spin_sdk::key_value::Store;

fn key(dep: Dependency) -> String {
    format!("breaker:{}", dep.name())
}

/// The configured policy (`breaker_failures`, `breaker_cooldown_seconds` variables).
pub async fn policy() -> BreakerPolicy {
    BreakerPolicy::from_config(
        crate::vars::u64_or("breaker_failures", BreakerPolicy::DEFAULT_FAILURES).await,
        crate::vars::u64_or("breaker_cooldown_seconds", BreakerPolicy::DEFAULT_COOLDOWN_SECONDS).await,
    )
}

/// The stored state (closed when absent or unreadable).
pub async fn state(dep: Dependency) -> BreakerState {
    let Ok(store) = Store::open_default().await else { return BreakerState::default() };
    match store.get(&key(dep)).await {
        Ok(Some(bytes)) => BreakerState::decode(&bytes),
        Ok(None) => BreakerState::default(),
        Err(e) => {
            eprintln!("breaker {}: state unreadable: {e:?}", dep.name());
            BreakerState::default()
        }
    }
}

/// May a call to `dep` go out now? Returns the state read, for [`record`].
pub async fn admit(dep: Dependency, now: i64) -> (Admission, BreakerState) {
    let s = state(dep).await;
    (s.admit(now), s)
}

/// Record how a call went (writes only when the state changes).
pub async fn record(dep: Dependency, before: &BreakerState, result: CallResult, error: Option<&str>, now: i64) {
    let Some(next) = before.after(result, error, now, &policy().await) else { return };
    if next.open_until != before.open_until && next.open_until.is_some_and(|u| u > now) {
        eprintln!("breaker {}: open for {} ms after {} failure(s): {}", dep.name(), next.open_until.unwrap_or(now) - now, next.consecutive_failures, error.unwrap_or(""));
    }
    let write = async {
        let store = Store::open_default().await.map_err(|e| format!("{e:?}"))?;
        store.set(&key(dep), &next.encode()).await.map_err(|e| format!("{e:?}"))
    };
    if let Err(e) = write.await {
        eprintln!("breaker {}: state not written: {e}", dep.name());
    }
}

/// Every breaker's state (for the back office).
pub async fn all() -> Vec<(Dependency, BreakerState)> {
    let mut out = Vec::new();
    for dep in Dependency::ALL {
        out.push((dep, state(dep).await));
    }
    out
}
