//! Timer ticks from infra/schedules.toml, fired through the router on the runtime's clock.
use crate::server::Runtime;
use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How often (real time) the scheduler looks at the clock.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tick {
    pub name: String,
    pub route: String,
    pub every_seconds: u64,
}

#[derive(Debug, Deserialize)]
struct Schedules {
    #[serde(default)]
    tick: Vec<Tick>,
}

pub fn parse_schedules(text: &str) -> Result<Vec<Tick>> {
    let s: Schedules = toml::from_str(text).context("TOML parse error")?;
    for (i, t) in s.tick.iter().enumerate() {
        if t.every_seconds == 0 {
            bail!(
                "[[tick]] #{} ({}): every_seconds must be > 0",
                i + 1,
                t.name
            );
        }
        if !t.route.starts_with('/') {
            bail!(
                "[[tick]] #{} ({}): route must start with '/'",
                i + 1,
                t.name
            );
        }
    }
    Ok(s.tick)
}

pub fn load_schedules(path: &Path) -> Result<Vec<Tick>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read schedules {}", path.display()))?;
    parse_schedules(&text).with_context(|| format!("invalid schedules {}", path.display()))
}

/// Decides which ticks are due. `last[i]` is the clock time tick i last fired (or started).
/// A tick fires at most once per check, however far the clock jumped; a clock that went
/// backwards restarts the period.
pub(crate) fn due(ticks: &[Tick], last: &mut [SystemTime], now: SystemTime) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, t) in ticks.iter().enumerate() {
        match now.duration_since(last[i]) {
            Err(_) => last[i] = now,
            Ok(d) if d >= Duration::from_secs(t.every_seconds) => {
                last[i] = now;
                out.push(i);
            }
            Ok(_) => {}
        }
    }
    out
}

pub(crate) async fn fire(rt: &Arc<Runtime>, tick: &Tick, secret: &str) -> u16 {
    let req = http::Request::builder()
        .method(http::Method::POST)
        .uri(tick.route.as_str())
        .header(http::header::HOST, rt.local_addr.to_string())
        .header(http::header::AUTHORIZATION, format!("Bearer {secret}"))
        .header(http::header::CONTENT_LENGTH, "0")
        .header("x-caas-tick", tick.name.as_str())
        .body(Empty::<Bytes>::new().map_err(|n| match n {}).boxed_unsync())
        .expect("valid tick request");
    let client: SocketAddr = ([127, 0, 0, 1], 0).into();
    let resp = rt.dispatch(req, client).await;
    let status = resp.status().as_u16();
    // Drain the body so a streamed response completes.
    let _ = resp.into_body().collect().await;
    status
}

pub(crate) async fn run(
    rt: Arc<Runtime>,
    ticks: Vec<Tick>,
    secret: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = vec![rt.clock.now(); ticks.len()];
    let mut iv = tokio::time::interval(CHECK_EVERY);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = iv.tick() => {}
            _ = shutdown.changed() => break,
        }
        for i in due(&ticks, &mut last, rt.clock.now()) {
            let t = &ticks[i];
            let status = fire(&rt, t, &secret).await;
            crate::log_line(&format!("tick {} POST {} -> {status}\n", t.name, t.route));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn parses_schedules() {
        let t = parse_schedules(
            "[[tick]]\nname = \"retry\"\nroute = \"/internal/ticks/retry\"\nevery_seconds = 15\n",
        )
        .unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].name.as_str(), t[0].every_seconds), ("retry", 15));
        assert!(
            parse_schedules("[[tick]]\nname = \"x\"\nroute = \"/x\"\nevery_seconds = 0\n").is_err()
        );
        assert!(
            parse_schedules("[[tick]]\nname = \"x\"\nroute = \"x\"\nevery_seconds = 1\n").is_err()
        );
        assert!(parse_schedules("").unwrap().is_empty());
    }

    #[test]
    fn fires_once_when_clock_jumps_and_never_bursts() {
        let ticks = vec![
            Tick {
                name: "a".into(),
                route: "/a".into(),
                every_seconds: 15,
            },
            Tick {
                name: "b".into(),
                route: "/b".into(),
                every_seconds: 60,
            },
        ];
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut last = vec![t0; 2];
        assert!(due(&ticks, &mut last, t0 + Duration::from_secs(14)).is_empty());
        assert_eq!(
            due(&ticks, &mut last, t0 + Duration::from_secs(15)),
            vec![0]
        );
        assert!(due(&ticks, &mut last, t0 + Duration::from_secs(16)).is_empty());
        // Jump one hour: each fires once, not 240 times.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(due(&ticks, &mut last, later), vec![0, 1]);
        assert!(due(&ticks, &mut last, later).is_empty());
        // Clock set backwards: period restarts.
        let back = t0;
        assert!(due(&ticks, &mut last, back).is_empty());
        assert_eq!(
            due(&ticks, &mut last, back + Duration::from_secs(15)),
            vec![0]
        );
    }
}
