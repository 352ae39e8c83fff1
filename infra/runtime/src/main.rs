//! `caas-runtime up [--manifest spin.toml] [--listen 127.0.0.1:3000] [--state-dir .spin]
//!                  [--schedules infra/schedules.toml] [--variable name=value]... [--cache-dir DIR]
//!                  [--no-cache] [--quiet] [--request-timeout 60s] [--header-read-timeout 10s]
//!                  [--keep-alive-timeout 60s] [--max-concurrent-requests 1000]
//!                  [--max-instance-memory 128MiB] [--max-instance-reuse-count 128]
//!                  [--max-instance-concurrent-reuse-count 16] [--idle-instance-timeout 1s]
//!                  [--start-time <unix seconds | RFC 3339>]`
//! (`--start-time`: business time starts there and flows with real time; resource limits: see
//! `caas_runtime::Limits` and the README).
//! Application variables may also be set with `SPIN_VARIABLE_<NAME>` (like Spin).
use anyhow::{Context, Result, bail};
use caas_runtime::{Clock, Config};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str =
    "usage: caas-runtime up [--manifest spin.toml] [--listen 127.0.0.1:3000] [--state-dir DIR]
                        [--schedules infra/schedules.toml] [--variable name=value]...
                        [--cache-dir DIR | --no-cache] [--quiet]
                        [--request-timeout 60s] [--header-read-timeout 10s]
                        [--keep-alive-timeout 60s] [--max-concurrent-requests 1000]
                        [--max-instance-memory 128MiB] [--max-instance-reuse-count 128]
                        [--max-instance-concurrent-reuse-count 16] [--idle-instance-timeout 1s]
                        [--start-time <unix seconds | RFC 3339>] [--dev-clock FILE]
                        [--runtime-config-file FILE]
Application variables can also be set with SPIN_VARIABLE_<NAME>=value.
Durations: 500ms, 30s, 2m (a bare number is seconds). Sizes: 64MiB, 1GiB (a bare number is bytes).
Instance reuse (as Spin 4 for WASIp3 components): an instance serves up to
--max-instance-reuse-count requests, --max-instance-concurrent-reuse-count of them at once, and is
dropped after --idle-instance-timeout with nothing to do; --max-instance-reuse-count 1: a fresh
instance per request.
--start-time: the wall clock components see starts at this time (1796094000 or
2026-12-01T03:00:00Z / 2026-12-01T04:00:00+01:00) and advances with real time from there
(default: the host clock).
--dev-clock FILE: development only (the app's dev_mode must be true): business time can be read,
set and advanced from outside at /_dev/clock (GET; POST ?advance=15d or ?set=<RFC 3339>); its
offset is kept in FILE, which caas-sim --clock-file reads.
--runtime-config-file FILE: Spin's runtime configuration: [key_value_store.default] type = redis
(url) or spin (path), [sqlite_database.default] type = spin (path): stores shared by replicas.";

/// `--start-time`: Unix seconds or RFC 3339 (see [`caas_runtime::dev_clock::parse_time`]).
fn parse_start_time(v: &str) -> Result<std::time::SystemTime> {
    caas_runtime::dev_clock::parse_time(v).map_err(|e| anyhow::anyhow!("--start-time: {e}"))
}

/// A whole number (`--max-concurrent-requests 1000`).
fn parse_count(flag: &str, v: &str) -> Result<usize> {
    v.trim().parse().with_context(|| format!("{flag}: expected a number, got {v:?}"))
}

/// `500ms`, `30s`, `2m`, `30` (seconds).
fn parse_duration(flag: &str, v: &str) -> Result<Duration> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, "s"),
    };
    let n: f64 = num
        .parse()
        .with_context(|| format!("{flag}: expected a duration like 30s, got {v:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" | "min" => n * 60.0,
        _ => bail!("{flag}: unknown unit {unit:?} (use ms, s or m)"),
    };
    if !(secs > 0.0 && secs.is_finite()) {
        bail!("{flag}: must be more than 0");
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `128MiB`, `1GiB`, `64M`, `1048576` (bytes).
fn parse_size(flag: &str, v: &str) -> Result<usize> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, ""),
    };
    let n: usize = num
        .parse()
        .with_context(|| format!("{flag}: expected a size like 128MiB, got {v:?}"))?;
    let mult: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => bail!("{flag}: unknown unit {unit:?} (use KiB, MiB or GiB)"),
    };
    n.checked_mul(mult)
        .with_context(|| format!("{flag}: too large"))
}

fn parse_args(args: Vec<String>) -> Result<Config> {
    let mut it = args.into_iter();
    match it.next().as_deref() {
        Some("up") => {}
        Some("-h") | Some("--help") | Some("help") | None => {
            println!("{USAGE}");
            std::process::exit(0);
        }
        Some(other) => bail!("unknown command {other:?}\n{USAGE}"),
    }
    let mut manifest = PathBuf::from("spin.toml");
    let mut listen = None;
    let mut state_dir = None;
    let mut schedules = None;
    let mut cache_dir: Option<Option<PathBuf>> = None;
    let mut quiet = false;
    let mut limits = caas_runtime::Limits::default();
    let mut vars = BTreeMap::new();
    let mut start_time = None;
    let mut dev_clock = None;
    let mut runtime_config = None;
    // Env first; --variable overrides.
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("SPIN_VARIABLE_") {
            vars.insert(name.to_ascii_lowercase(), v);
        }
    }
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "--manifest" | "-f" | "--from" => manifest = PathBuf::from(value(&flag)?),
            "--listen" => {
                listen = Some(
                    value(&flag)?
                        .parse()
                        .context("--listen: expected host:port")?,
                )
            }
            "--state-dir" => state_dir = Some(PathBuf::from(value(&flag)?)),
            "--schedules" => schedules = Some(PathBuf::from(value(&flag)?)),
            "--cache-dir" => cache_dir = Some(Some(PathBuf::from(value(&flag)?))),
            "--no-cache" => cache_dir = Some(None),
            "--quiet" | "-q" => quiet = true,
            "--request-timeout" => limits.request_timeout = parse_duration(&flag, &value(&flag)?)?,
            "--header-read-timeout" => {
                limits.header_read_timeout = parse_duration(&flag, &value(&flag)?)?
            }
            "--keep-alive-timeout" => {
                limits.keep_alive_timeout = parse_duration(&flag, &value(&flag)?)?
            }
            "--max-concurrent-requests" => limits.max_concurrent_requests = parse_count(&flag, &value(&flag)?)?,
            "--max-instance-memory" => {
                limits.max_instance_memory = parse_size(&flag, &value(&flag)?)?
            }
            "--max-instance-reuse-count" => limits.max_instance_reuse_count = parse_count(&flag, &value(&flag)?)?,
            "--max-instance-concurrent-reuse-count" => limits.max_instance_concurrent_reuse_count = parse_count(&flag, &value(&flag)?)?,
            "--idle-instance-timeout" => {
                limits.idle_instance_timeout = parse_duration(&flag, &value(&flag)?)?
            }
            "--start-time" => start_time = Some(parse_start_time(&value(&flag)?)?),
            "--dev-clock" => dev_clock = Some(PathBuf::from(value(&flag)?)),
            "--runtime-config-file" => runtime_config = Some(PathBuf::from(value(&flag)?)),
            "--variable" | "--var" => {
                let kv = value(&flag)?;
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("--variable expects name=value, got {kv:?}")
                };
                vars.insert(k.trim().to_string(), v.to_string());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    let mut cfg = Config::new(manifest);
    if let Some(l) = listen {
        cfg.listen = l;
    }
    if let Some(s) = state_dir {
        cfg.state_dir = s;
    }
    if let Some(c) = cache_dir {
        cfg.cache_dir = c;
    }
    cfg.schedules = schedules;
    cfg.variables = vars;
    cfg.clock = match start_time {
        Some(t) => Clock::starting_at(t),
        None => Clock::system(),
    };
    cfg.log_requests = !quiet;
    cfg.limits = limits;
    cfg.dev_clock = dev_clock;
    cfg.runtime_config = runtime_config;
    Ok(cfg)
}

#[path = "../../exit_with_parent.rs"]
mod exit_with_parent;
use exit_with_parent::exit_with_parent;

fn main() {
    exit_with_parent();
    let cfg = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("caas-runtime: {e:#}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        let app = match caas_runtime::serve(cfg).await {
            Ok(a) => a,
            Err(e) => {
                caas_runtime::flush_log();
                eprintln!("caas-runtime: {e:#}");
                return 1;
            }
        };
        eprintln!("caas-runtime: listening on {} (Ctrl-C to stop)", app.url());
        let stop = async {
            #[cfg(unix)]
            {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("SIGTERM handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            {
                _ = tokio::signal::ctrl_c().await;
            }
        };
        stop.await;
        eprintln!("caas-runtime: shutting down");
        app.shutdown().await;
        0
    });
    caas_runtime::flush_log();
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn start_time_accepts_unix_seconds_and_rfc3339() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        // 2026-12-01T03:00:00Z
        assert_eq!(parse_start_time("1796094000").unwrap(), t(1_796_094_000));
        assert_eq!(
            parse_start_time("2026-12-01T03:00:00Z").unwrap(),
            t(1_796_094_000)
        );
        assert_eq!(
            parse_start_time("2026-12-01t03:00:00z").unwrap(),
            t(1_796_094_000)
        );
        assert_eq!(
            parse_start_time("2026-12-01 04:00:00+01:00").unwrap(),
            t(1_796_094_000)
        );
        assert_eq!(
            parse_start_time("2026-11-30T22:30:00-04:30").unwrap(),
            t(1_796_094_000)
        );
        assert_eq!(
            parse_start_time("2026-12-01T03:00:00.25Z").unwrap(),
            t(1_796_094_000) + Duration::from_millis(250)
        );
        assert_eq!(
            parse_start_time("1970-01-01T00:00:00Z").unwrap(),
            UNIX_EPOCH
        );
        assert_eq!(
            parse_start_time("2028-02-29T00:00:00Z").unwrap(),
            t(1_835_395_200)
        );
        assert_eq!(
            parse_start_time("2026-11-21T09:00:00Z").unwrap(),
            t(1_795_251_600)
        );
        for bad in [
            "",
            "tomorrow",
            "-5",
            "12.5",
            "2026-12-01",
            "2026-12-01T03:00:00",
            "2026-13-01T00:00:00Z",
            "2027-02-29T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T03:00:00+1:00",
            "2026-12-01T03:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2026-12-01T03:00:00Zjunk",
        ] {
            assert!(parse_start_time(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn start_time_flag_gives_a_clock_that_starts_there_and_flows() {
        let cfg = parse_args(args(&["up", "--start-time", "2026-12-01T03:00:00Z"])).unwrap();
        let start = UNIX_EPOCH + Duration::from_secs(1_796_094_000);
        let now = cfg.clock.now();
        assert!(
            now >= start && now < start + Duration::from_secs(60),
            "{now:?}"
        );
        std::thread::sleep(Duration::from_millis(15));
        assert!(
            cfg.clock.now() >= now + Duration::from_millis(15),
            "advances with real time"
        );
        let cfg = parse_args(args(&["up", "--start-time=1796094000"])).unwrap();
        assert!(cfg.clock.now() >= start && cfg.clock.is_virtual());
        let cfg = parse_args(args(&["up"])).unwrap();
        assert!(!cfg.clock.is_virtual(), "the host clock by default");
        assert!(parse_args(args(&["up", "--start-time", "soon"])).is_err());
        assert!(parse_args(args(&["up", "--start-time"])).is_err());
    }
}
