//! The wall clock components see: the real system clock, or a virtual one that tests move.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A shared handle on the runtime's wall clock.
///
/// `Clock::system()` follows the host clock. `Clock::virtual_at(t)` is frozen at `t` and only
/// moves through [`Clock::advance`] / [`Clock::set`] (deterministic for tests).
/// `Clock::starting_at(t)` reads `t` at creation and then flows with real (monotonic) time, like
/// the system clock shifted to another date (`caas-runtime up --start-time`). Every clone sees
/// the same time. Components read it through WASI `wall-clock` (p2 and p3); their monotonic clock
/// stays real.
#[derive(Clone)]
pub struct Clock(Arc<Inner>);

enum Inner {
    System,
    Virtual(Mutex<SystemTime>),
    /// (time at `origin`, origin): now = base + origin.elapsed().
    Flowing(Mutex<(SystemTime, Instant)>),
}

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(Inner::System))
    }

    pub fn virtual_at(start: SystemTime) -> Self {
        Clock(Arc::new(Inner::Virtual(Mutex::new(start))))
    }

    /// A clock that reads `start` now and advances with real time from there.
    pub fn starting_at(start: SystemTime) -> Self {
        Clock(Arc::new(Inner::Flowing(Mutex::new((
            start,
            Instant::now(),
        )))))
    }

    /// True for clocks that do not follow the host's wall clock (frozen or shifted).
    pub fn is_virtual(&self) -> bool {
        !matches!(*self.0, Inner::System)
    }

    pub fn now(&self) -> SystemTime {
        match &*self.0 {
            Inner::System => SystemTime::now(),
            Inner::Virtual(t) => *t.lock().unwrap(),
            Inner::Flowing(t) => {
                let (base, origin) = *t.lock().unwrap();
                base + origin.elapsed()
            }
        }
    }

    /// Moves a virtual clock forward by `d`. On the system clock this is a no-op (logged).
    pub fn advance(&self, d: Duration) {
        match &*self.0 {
            Inner::System => eprintln!("caas-runtime: Clock::advance ignored on the system clock"),
            Inner::Virtual(t) => {
                let mut t = t.lock().unwrap();
                *t += d;
            }
            Inner::Flowing(t) => t.lock().unwrap().0 += d,
        }
    }

    /// Sets a virtual clock to `t` (may go backwards). On the system clock this is a no-op (logged).
    pub fn set(&self, new: SystemTime) {
        match &*self.0 {
            Inner::System => eprintln!("caas-runtime: Clock::set ignored on the system clock"),
            Inner::Virtual(t) => *t.lock().unwrap() = new,
            Inner::Flowing(t) => *t.lock().unwrap() = (new, Instant::now()),
        }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Inner::System => write!(f, "Clock::system"),
            Inner::Virtual(t) => write!(f, "Clock::virtual({:?})", *t.lock().unwrap()),
            Inner::Flowing(_) => write!(f, "Clock::starting_at(now {:?})", self.now()),
        }
    }
}

/// Adapter giving a [`Clock`] to wasmtime-wasi as the guest's wall clock.
pub(crate) struct WasiWallClock(pub Clock);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        // WASI wall clock is Unix time; clamp pre-epoch times to the epoch.
        self.0
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime_wasi::HostWallClock;

    #[test]
    fn virtual_clock_is_frozen_and_shared() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = Clock::virtual_at(start);
        let c2 = c.clone();
        assert_eq!(c.now(), start);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), start, "virtual clock does not flow with real time");
        c.advance(Duration::from_secs(15));
        assert_eq!(c2.now(), start + Duration::from_secs(15));
        c2.set(start);
        assert_eq!(c.now(), start);
        assert!(c.is_virtual());
    }

    #[test]
    fn clock_starting_at_flows_with_real_time() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let c = Clock::starting_at(start);
        let c2 = c.clone();
        let a = c.now();
        assert!(a >= start && a < start + Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
        let b = c2.now();
        assert!(b >= a + Duration::from_millis(20), "flows: {a:?} -> {b:?}");
        c.advance(Duration::from_secs(3600));
        assert!(c2.now() >= start + Duration::from_secs(3600));
        c.set(start);
        assert!(c.now() < start + Duration::from_secs(5));
        assert!(c.is_virtual());
    }

    #[test]
    fn system_clock_follows_host() {
        let c = Clock::system();
        let before = SystemTime::now();
        let n = c.now();
        assert!(n >= before);
        c.advance(Duration::from_secs(100)); // ignored
        assert!(c.now() < SystemTime::now() + Duration::from_secs(50));
        assert!(!c.is_virtual());
    }

    #[test]
    fn wasi_adapter_reports_unix_time() {
        let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let w = WasiWallClock(Clock::virtual_at(start));
        assert_eq!(w.now(), Duration::from_secs(1_700_000_000));
        let pre = WasiWallClock(Clock::virtual_at(UNIX_EPOCH - Duration::from_secs(5)));
        assert_eq!(pre.now(), Duration::ZERO);
    }
}
