//! caas-runtime: a local Spin-compatible runtime on wasmtime.
//!
//! Serves a Spin manifest v2 app (spin.toml) like `spin up`: HTTP triggers routed with Spin
//! semantics, one fresh component instance per request, `wasi:http@0.3` (p3) handlers from
//! spin-sdk 7, WASI 0.2/0.3, the `spin:*` host interfaces (see [`spin_host`]), variables,
//! `allowed_outbound_hosts`, a virtual wall clock for tests, and timer ticks.
pub mod body;
pub mod clock;
pub mod dev_clock;
mod compose;
mod conn;
mod engine;
mod instances;
pub mod manifest;
pub mod outbound;
pub mod router;
pub mod runtime_config;
mod server;
pub mod spin_host;
mod state;
pub mod template;
pub mod ticks;

pub use clock::Clock;
pub use state::ReqState;

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// spin.toml; component `source` paths are relative to its directory.
    pub manifest: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Embedded storage files (like Spin's `.spin/`): KV + SQLite "default" live here.
    pub state_dir: PathBuf,
    /// Overrides of the app `[variables]`.
    pub variables: BTreeMap<String, String>,
    pub clock: Clock,
    /// infra/schedules.toml; `None` = no timer firing.
    pub schedules: Option<PathBuf>,
    /// Compiled-code cache directory (`None` = no disk cache).
    pub cache_dir: Option<PathBuf>,
    /// One stderr line per request.
    pub log_requests: bool,
    /// Per-request and per-connection resource bounds.
    pub limits: Limits,
    /// `--dev-clock FILE`: the development clock and its control API (`/_dev/clock`), refused
    /// unless the app's `dev_mode` variable is `true`; see [`dev_clock`].
    pub dev_clock: Option<PathBuf>,
    /// `--runtime-config-file`: Spin's runtime configuration (shared key-value store on Redis,
    /// the SQLite file); see [`runtime_config`].
    pub runtime_config: Option<PathBuf>,
}

/// Resource bounds of the server (defaults: [`Limits::default`]; CLI flags of `caas-runtime up`).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Wall-clock budget of one request's instance: handler, response body and any work after
    /// the response. Past it the instance is dropped (a guest spinning in a loop is interrupted
    /// by epoch interruption) and, if nothing was answered yet, the client gets a 503 problem.
    pub request_timeout: Duration,
    /// A connection must deliver a complete request head within this time after its first
    /// byte (or after connecting); otherwise it is closed (slow-loris).
    pub header_read_timeout: Duration,
    /// An idle keep-alive connection (no request in flight, no byte of a next one) is closed
    /// after this time.
    pub keep_alive_timeout: Duration,
    /// Most requests (and ticks) being handled at once; one more request is answered `503`
    /// with `Retry-After` at once instead of queueing.
    pub max_concurrent_requests: usize,
    /// Most linear memory (bytes, all memories of the instance together) one instance may
    /// have; growing past it traps and that request fails with a 500 problem.
    pub max_instance_memory: usize,
    /// Most requests one instance of a WASIp3 component serves before it is dropped (Spin 4's
    /// `--max-instance-reuse-count`, default 128); 1 gives every request a fresh instance.
    pub max_instance_reuse_count: usize,
    /// Most requests one instance serves at once (Spin 4's
    /// `--max-instance-concurrent-reuse-count`; default 1 here, 16 in Spin: see
    /// [`crate::instances`] for why).
    pub max_instance_concurrent_reuse_count: usize,
    /// An instance with no request and no background work is dropped after this time (Spin 4's
    /// `--idle-instance-timeout`, default 1 s).
    pub idle_instance_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(60),
            // Spin's default instance count (SPIN_MAX_INSTANCE_COUNT).
            max_concurrent_requests: 1000,
            max_instance_memory: 128 << 20,
            // Spin 4's trigger-http defaults for WASIp3 components, but one request at a time.
            max_instance_reuse_count: 128,
            max_instance_concurrent_reuse_count: 1,
            idle_instance_timeout: Duration::from_secs(1),
        }
    }
}

impl Config {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        let manifest = manifest.into();
        let dir = match manifest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            state_dir: dir.join(".spin"),
            variables: BTreeMap::new(),
            clock: Clock::system(),
            schedules: None,
            cache_dir: Some(dir.join("target").join("caas-runtime-cache")),
            log_requests: true,
            limits: Limits::default(),
            dev_clock: None,
            runtime_config: None,
            manifest,
        }
    }
}

static LOG_BUF: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
static LOG_FLUSHER: std::sync::Once = std::sync::Once::new();

/// Queues one preformatted line for stderr. Lines are written in batches (every 50 ms, or at
/// 64 KiB) by a background thread, so the request path never blocks on a stderr write.
pub(crate) fn log_line(line: &str) {
    LOG_FLUSHER.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("caas-runtime-log".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    flush_log();
                }
            });
    });
    let full = {
        let mut b = LOG_BUF.lock().unwrap_or_else(|e| e.into_inner());
        b.push_str(line);
        b.len() >= 64 << 10
    };
    if full {
        flush_log();
    }
}

/// Writes queued log lines to stderr now.
pub fn flush_log() {
    let pending = {
        let mut b = LOG_BUF.lock().unwrap_or_else(|e| e.into_inner());
        if b.is_empty() {
            return;
        }
        std::mem::take(&mut *b)
    };
    let stderr = std::io::stderr();
    let mut l = stderr.lock();
    let _ = l.write_all(pending.as_bytes());
}

/// A running application.
pub struct App {
    addr: SocketAddr,
    clock: Clock,
    shutdown_tx: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    conns_rx: Option<mpsc::Receiver<()>>,
}

impl App {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Stops accepting, lets open connections finish their current request (up to 5 s), stops ticks.
    pub async fn shutdown(mut self) {
        _ = self.shutdown_tx.send(true);
        for t in self.tasks.drain(..) {
            _ = t.await;
        }
        if let Some(mut rx) = self.conns_rx.take() {
            // Every connection task holds a sender; recv() yields None once all are gone.
            _ = tokio::time::timeout(Duration::from_secs(6), rx.recv()).await;
        }
        flush_log();
    }
}

impl Drop for App {
    fn drop(&mut self) {
        _ = self.shutdown_tx.send(true);
    }
}

/// Loads and validates the manifest, compiles every component, binds, and starts serving.
/// Returns once the listener is bound.
pub async fn serve(config: Config) -> Result<App> {
    let manifest_path = config.manifest.clone();
    let variables = config.variables.clone();
    let app = tokio::task::spawn_blocking(move || manifest::load(&manifest_path, &variables, true))
        .await
        .map_err(|e| anyhow!("manifest loader panicked: {e}"))??;

    let ticks = match &config.schedules {
        None => Vec::new(),
        Some(p) => {
            let ticks = ticks::load_schedules(p)?;
            for t in &ticks {
                if app.router.route(&t.route).is_none() {
                    bail!(
                        "schedules {}: tick '{}' route {} matches no [[trigger.http]] route in {}",
                        p.display(),
                        t.name,
                        t.route,
                        config.manifest.display()
                    );
                }
            }
            ticks
        }
    };
    let tick_secret = if ticks.is_empty() {
        String::new()
    } else {
        app.variables
            .get("tick_secret")
            .cloned()
            .ok_or_else(|| anyhow!("schedules need the application variable `tick_secret`"))?
    };

    // The development clock: only in development mode; it replaces the configured clock
    // (starting where `--start-time` put it, else where its file says business time was).
    let mut config = config;
    let dev_clock = match &config.dev_clock {
        None => None,
        Some(file) => {
            if app.variables.get("dev_mode").map(String::as_str) != Some("true") {
                bail!("--dev-clock is for development only: the app's `dev_mode` variable is not `true`");
            }
            let start = config.clock.is_virtual().then(|| config.clock.now());
            let dc = dev_clock::DevClock::open(file, start)
                .with_context(|| format!("--dev-clock {}", file.display()))?;
            config.clock = dc.clock();
            Some(Arc::new(dc))
        }
    };

    let l = &config.limits;
    if l.max_concurrent_requests == 0 || l.max_concurrent_requests > tokio::sync::Semaphore::MAX_PERMITS {
        bail!("max_concurrent_requests must be at least 1");
    }
    for (name, d) in [
        ("request_timeout", l.request_timeout),
        ("header_read_timeout", l.header_read_timeout),
        ("keep_alive_timeout", l.keep_alive_timeout),
        ("idle_instance_timeout", l.idle_instance_timeout),
    ] {
        if d.is_zero() {
            bail!("{name} must be more than 0");
        }
    }
    if l.max_instance_reuse_count == 0 || l.max_instance_concurrent_reuse_count == 0 {
        bail!("max_instance_reuse_count and max_instance_concurrent_reuse_count must be at least 1");
    }
    if l.max_instance_memory < 1 << 20 {
        bail!("max_instance_memory must be at least 1 MiB");
    }

    std::fs::create_dir_all(&config.state_dir)
        .with_context(|| format!("cannot create state dir {}", config.state_dir.display()))?;
    let stores = match &config.runtime_config {
        Some(p) => runtime_config::RuntimeConfig::load(p)?,
        None => runtime_config::RuntimeConfig::default(),
    };
    let spin_shared = spin_host::SpinHostShared::with_config(&config.state_dir, &stores)?;

    // Compile (or load precompiled) components off the async threads.
    let cache_dir = config.cache_dir.clone();
    let app2 = app.clone();
    let (clock2, shared2, limits2) = (config.clock.clone(), spin_shared.clone(), config.limits.clone());
    let (_engine, components) = tokio::task::spawn_blocking(move || -> Result<_> {
        let engine = engine::engine()?;
        let linker = engine::base_linker(&engine)?;
        let mut out = Vec::new();
        for c in &app2.components {
            let started = std::time::Instant::now();
            let component = engine::load_app_component(&engine, c, cache_dir.as_deref())
                .with_context(|| format!("[component.{}]", c.id))?;
            let mut l = linker.clone();
            // Imports the runtime doesn't provide trap when called instead of failing startup.
            let ty = l.substituted_component_type(&component);
            if ty.is_err() {
                l.define_unknown_imports_as_traps(&component).map_err(|e| anyhow!("{e:#}"))?;
                log_line(&format!(
                    "caas-runtime: warning: component '{}' imports interfaces this runtime does not provide; calls to them trap\n",
                    c.id
                ));
            }
            let pre = l
                .instantiate_pre(&component)
                .map_err(|e| anyhow!("{e:#}"))
                .with_context(|| format!("[component.{}]: cannot link", c.id))?;
            let pre = wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)
                .map_err(|e| anyhow!("{e:#}"))
                .with_context(|| {
                    format!("[component.{}]: not an HTTP component (must export wasi:http/handler@0.3.0)", c.id)
                })?;
            let _ = started;
            let handler = wasmtime_wasi_http::handler::ProxyHandler::new(instances::ComponentInstances {
                engine: engine.clone(),
                pre,
                resolved: c.clone(),
                id: c.id.as_str().into(),
                clock: clock2.clone(),
                spin_shared: shared2.clone(),
                limits: limits2.clone(),
            });
            out.push(Arc::new(server::CompiledComponent { handler }));
        }
        Ok((engine, out))
    })
    .await
    .map_err(|e| anyhow!("compiler task panicked: {e}"))??;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;

    let rt = Arc::new(server::Runtime {
        app,
        components,
        clock: config.clock.clone(),
        log_requests: config.log_requests,
        local_addr: addr,
        limits: config.limits.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.limits.max_concurrent_requests)),
        dev_clock,
    });

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (conns_tx, conns_rx) = mpsc::channel(1);
    let mut tasks = vec![tokio::spawn(server::serve_listener(
        rt.clone(),
        listener,
        shutdown_rx.clone(),
        conns_tx,
    ))];
    if !ticks.is_empty() {
        tasks.push(tokio::spawn(ticks::run(
            rt.clone(),
            ticks,
            tick_secret,
            shutdown_rx,
        )));
    }
    if config.log_requests {
        log_line(&format!(
            "caas-runtime: serving '{}' on http://{addr} ({} routes)\n",
            rt.app.name,
            rt.app.router.routes().count()
        ));
        flush_log();
    }
    Ok(App {
        addr,
        clock: config.clock,
        shutdown_tx,
        tasks,
        conns_rx: Some(conns_rx),
    })
}
