//! # caas-sim — simulators of the CaaS external systems
//!
//! Six small HTTP servers, each on its own listener (127.0.0.1 only):
//! factory order API, payment gateway, IoT/OTA API, VSS maintenance API, per-country
//! administrative registration, notification sink. Every one has a control API under
//! `/_control/` (faults, received-calls log, reset, plus system specific endpoints) and a
//! typed in-process handle with the same powers. See `infra/simulators/API.md`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use caas_sim::{SimConfig, Sims, System};
//! let sims = Sims::start(SimConfig::default()).await?;
//! sims.faults(System::Iot).fail_next(2, 503);
//! let _ = sims.notify().messages();
//! sims.shutdown().await;
//! # Ok(()) }
//! ```

mod checkout;
mod factory;
mod http;
mod iot;
mod notify;
mod payment;
mod registry;
pub mod signing;
mod util;
mod vss;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};

pub use factory::FactoryHandle;
pub use iot::IotHandle;
pub use notify::NotifyHandle;
pub use payment::PaymentHandle;
pub use registry::RegistryHandle;
pub use vss::VssHandle;

use crate::http::{Core, Req, Resp};

/// Default webhook secrets (the spin.toml defaults).
pub const DEV_FACTORY_WEBHOOK_SECRET: &str = "dev-factory-webhook-secret";
pub const DEV_PAYMENT_WEBHOOK_SECRET: &str = "dev-payment-webhook-secret";

/// How to start the simulators.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Base URL of the CaaS app, for webhooks back (factory status, payment settlement).
    pub app_url: Option<String>,
    /// HMAC key signing the factory webhooks.
    pub factory_webhook_secret: String,
    /// HMAC key signing the payment webhooks.
    pub payment_webhook_secret: String,
    /// `None`: free ports on 127.0.0.1 (tests). `Some`: fixed ports (make up: 4101..4106).
    pub ports: Option<SimPorts>,
    /// Factory/payment send their webhooks by themselves after a short delay (make up);
    /// tests leave it off and drive them explicitly.
    pub auto_webhooks: bool,
    /// The clock webhook signatures are stamped with. `None`: the real clock. Tests pass the
    /// app's virtual clock so that a webhook sent after the test advanced time is still fresh
    /// for the app (signatures carry a timestamp checked with a tolerance window).
    pub clock: Option<SimClock>,
}

/// A wall clock shared with the app under test.
#[derive(Clone)]
pub struct SimClock(Arc<dyn Fn() -> std::time::SystemTime + Send + Sync>);

impl SimClock {
    pub fn new(now: impl Fn() -> std::time::SystemTime + Send + Sync + 'static) -> SimClock {
        SimClock(Arc::new(now))
    }
    pub fn now(&self) -> std::time::SystemTime {
        (self.0)()
    }
}

impl std::fmt::Debug for SimClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimClock({:?})", self.now())
    }
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            app_url: None,
            factory_webhook_secret: DEV_FACTORY_WEBHOOK_SECRET.into(),
            payment_webhook_secret: DEV_PAYMENT_WEBHOOK_SECRET.into(),
            ports: None,
            auto_webhooks: false,
            clock: None,
        }
    }
}

/// Fixed ports, one per system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimPorts {
    pub factory: u16,
    pub payment: u16,
    pub iot: u16,
    pub vss: u16,
    pub registry: u16,
    pub notify: u16,
}

impl SimPorts {
    /// factory = base, payment = base+1, iot = base+2, vss = base+3, registry = base+4, notify = base+5.
    pub fn from_base(base: u16) -> SimPorts {
        SimPorts { factory: base, payment: base + 1, iot: base + 2, vss: base + 3, registry: base + 4, notify: base + 5 }
    }
}

impl Default for SimPorts {
    /// The `make up` ports 4101..4106 (the spin.toml defaults).
    fn default() -> SimPorts {
        SimPorts::from_base(4101)
    }
}

/// The six simulated systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum System {
    Factory,
    Payment,
    Iot,
    Vss,
    Registry,
    Notify,
}

impl System {
    pub const ALL: [System; 6] = [System::Factory, System::Payment, System::Iot, System::Vss, System::Registry, System::Notify];
    pub fn name(self) -> &'static str {
        match self {
            System::Factory => "factory",
            System::Payment => "payment",
            System::Iot => "iot",
            System::Vss => "vss",
            System::Registry => "registry",
            System::Notify => "notify",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

// ----------------------------------------------------------------------------- shared context

/// What the systems share: the app URL for webhooks, secrets, background tasks.
pub(crate) struct Ctx {
    app_url: RwLock<Option<String>>,
    pub factory_secret: String,
    pub payment_secret: String,
    pub auto_webhooks: bool,
    /// Per-start tag making ids/VINs/plates unique across runs.
    pub tag: String,
    clock: Option<SimClock>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Ctx {
    pub fn app_url(&self) -> Option<String> {
        self.app_url.read().unwrap().clone()
    }
    /// Seconds since the epoch on the configured clock (the real one by default).
    pub fn unix_now(&self) -> u64 {
        match &self.clock {
            Some(c) => c.now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            None => util::unix_now(),
        }
    }
    /// Runs a background task that is aborted on shutdown.
    pub fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let h = tokio::spawn(fut);
        let mut t = self.tasks.lock().unwrap();
        t.retain(|a| !a.is_finished());
        t.push(h.abort_handle());
    }
    /// POSTs a signed JSON webhook to `{app_url}{path}`; returns the app's HTTP status.
    pub async fn send_webhook(&self, path: &str, secret: &str, payload: &Value) -> anyhow::Result<u16> {
        let base = self.app_url().ok_or_else(|| anyhow::anyhow!("no app_url configured: call Sims::set_app_url first"))?;
        let url = format!("{}{}", base.trim_end_matches('/'), path);
        let body = serde_json::to_vec(payload)?;
        let headers = signing::headers_at(secret, self.unix_now(), &body);
        let (status, _) = http::post(&url, &headers, body).await?;
        Ok(status)
    }
    /// Like [`Ctx::send_webhook`] but retried with back-off on connection errors and 5xx
    /// (used by the automatic webhooks). Returns the final outcome as JSON for the log.
    pub async fn deliver(&self, path: &str, secret: &str, payload: &Value) -> Value {
        let mut delay = std::time::Duration::from_millis(500);
        let mut last = Value::Null;
        for attempt in 1..=6 {
            match self.send_webhook(path, secret, payload).await {
                Ok(s) if s < 500 => return serde_json::json!({"app-status": s, "attempts": attempt}),
                Ok(s) => last = serde_json::json!({"app-status": s, "attempts": attempt}),
                Err(e) => last = serde_json::json!({"error": e.to_string(), "attempts": attempt}),
            }
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        last
    }
}

// ----------------------------------------------------------------------------- dispatch

pub(crate) enum Sys {
    Factory(Arc<factory::Factory>),
    Payment(Arc<payment::Payment>),
    Iot(Arc<iot::Iot>),
    Vss(Arc<vss::Vss>),
    Registry(Arc<registry::Registry>),
    Notify(Arc<notify::Notify>),
}

impl Sys {
    pub(crate) async fn handle(&self, req: &Req) -> Resp {
        match self {
            Sys::Factory(s) => s.handle(req).await,
            Sys::Payment(s) => s.handle(req).await,
            Sys::Iot(s) => s.handle(req),
            Sys::Vss(s) => s.handle(req),
            Sys::Registry(s) => s.handle(req),
            Sys::Notify(s) => s.handle(req),
        }
    }
    pub(crate) fn reset(&self) {
        match self {
            Sys::Factory(s) => s.reset(),
            Sys::Payment(s) => s.reset(),
            Sys::Iot(s) => s.reset(),
            Sys::Vss(s) => s.reset(),
            Sys::Registry(s) => s.reset(),
            Sys::Notify(s) => s.reset(),
        }
    }
}

// ----------------------------------------------------------------------------- Sims

/// The running simulators. Dropping it (or [`Sims::shutdown`]) stops every listener and task.
pub struct Sims {
    ctx: Arc<Ctx>,
    addrs: [SocketAddr; 6],
    cores: [Arc<Core>; 6],
    factory: Arc<factory::Factory>,
    payment: Arc<payment::Payment>,
    iot: Arc<iot::Iot>,
    vss: Arc<vss::Vss>,
    registry: Arc<registry::Registry>,
    notify: Arc<notify::Notify>,
    servers: Vec<JoinHandle<()>>,
}

impl Sims {
    /// Binds the six listeners on 127.0.0.1 and starts serving.
    pub async fn start(cfg: SimConfig) -> anyhow::Result<Sims> {
        let ctx = Arc::new(Ctx {
            app_url: RwLock::new(cfg.app_url.clone()),
            factory_secret: cfg.factory_webhook_secret.clone(),
            payment_secret: cfg.payment_webhook_secret.clone(),
            auto_webhooks: cfg.auto_webhooks,
            tag: util::start_tag(),
            clock: cfg.clock.clone(),
            tasks: Mutex::default(),
        });
        let factory = Arc::new(factory::Factory::new(ctx.clone()));
        let payment = Arc::new(payment::Payment::new(ctx.clone()));
        let iot = Arc::new(iot::Iot::new(ctx.clone()));
        let vss = Arc::new(vss::Vss::new(ctx.clone()));
        let registry = Arc::new(registry::Registry::new(ctx.clone()));
        let notify = Arc::new(notify::Notify::new(ctx.clone()));
        let ports = cfg.ports.map(|p| [p.factory, p.payment, p.iot, p.vss, p.registry, p.notify]).unwrap_or([0; 6]);

        let mut listeners = Vec::new();
        for (i, sys) in System::ALL.iter().enumerate() {
            let l = TcpListener::bind(("127.0.0.1", ports[i]))
                .await
                .map_err(|e| anyhow::anyhow!("{} simulator: cannot bind 127.0.0.1:{}: {e}", sys.name(), ports[i]))?;
            listeners.push(l);
        }
        let cores: [Arc<Core>; 6] = System::ALL.map(|s| Arc::new(Core::new(s.name())));
        let systems = [
            Sys::Factory(factory.clone()),
            Sys::Payment(payment.clone()),
            Sys::Iot(iot.clone()),
            Sys::Vss(vss.clone()),
            Sys::Registry(registry.clone()),
            Sys::Notify(notify.clone()),
        ];
        payment.set_base_url(&format!("http://{}", listeners[System::Payment.index()].local_addr()?));
        let mut addrs = Vec::new();
        let mut servers = Vec::new();
        for ((l, core), sys) in listeners.into_iter().zip(cores.iter()).zip(systems) {
            addrs.push(l.local_addr()?);
            servers.push(http::spawn_server(l, core.clone(), Arc::new(sys)));
        }
        Ok(Sims {
            ctx,
            addrs: addrs.try_into().expect("six listeners"),
            cores,
            factory,
            payment,
            iot,
            vss,
            registry,
            notify,
            servers,
        })
    }

    /// Base URL (`http://127.0.0.1:<port>`, no trailing slash) of a system.
    pub fn url(&self, system: System) -> String {
        format!("http://{}", self.addrs[system.index()])
    }
    pub fn addr(&self, system: System) -> SocketAddr {
        self.addrs[system.index()]
    }
    pub fn factory_url(&self) -> String {
        self.url(System::Factory)
    }
    pub fn payment_url(&self) -> String {
        self.url(System::Payment)
    }
    pub fn iot_url(&self) -> String {
        self.url(System::Iot)
    }
    pub fn vss_url(&self) -> String {
        self.url(System::Vss)
    }
    pub fn registry_url(&self) -> String {
        self.url(System::Registry)
    }
    pub fn notify_url(&self) -> String {
        self.url(System::Notify)
    }

    /// The app's Spin variables that point it at these simulators: each system's URL
    /// (`factory_url` … `notify_url`) and the secrets the simulators sign their webhooks with
    /// (`factory_webhook_secret`, `payment_webhook_secret`). The host tests and the bench both
    /// start the app with these plus their own.
    pub fn app_variables(&self) -> Vec<(String, String)> {
        vec![
            ("factory_url".into(), self.factory_url()),
            ("payment_url".into(), self.payment_url()),
            ("iot_url".into(), self.iot_url()),
            ("vss_url".into(), self.vss_url()),
            ("registry_url".into(), self.registry_url()),
            ("notify_url".into(), self.notify_url()),
            ("factory_webhook_secret".into(), self.ctx.factory_secret.clone()),
            ("payment_webhook_secret".into(), self.ctx.payment_secret.clone()),
        ]
    }

    /// Where webhooks go (the app usually starts after the sims).
    pub fn set_app_url(&self, url: &str) {
        *self.ctx.app_url.write().unwrap() = Some(url.trim_end_matches('/').to_string());
    }
    pub fn app_url(&self) -> Option<String> {
        self.ctx.app_url()
    }

    pub fn notify(&self) -> NotifyHandle {
        NotifyHandle(self.notify.clone())
    }
    pub fn factory(&self) -> FactoryHandle {
        FactoryHandle(self.factory.clone())
    }
    pub fn payment(&self) -> PaymentHandle {
        PaymentHandle(self.payment.clone())
    }
    pub fn iot(&self) -> IotHandle {
        IotHandle(self.iot.clone())
    }
    pub fn vss(&self) -> VssHandle {
        VssHandle(self.vss.clone())
    }
    pub fn registry(&self) -> RegistryHandle {
        RegistryHandle(self.registry.clone())
    }
    /// Fault injection and received-calls log of one system.
    pub fn faults(&self, system: System) -> FaultHandle {
        FaultHandle(self.cores[system.index()].clone())
    }

    /// Everything back to the initial state: faults, call logs and recorded data of every system
    /// (ids keep counting up, so ids never repeat within one `Sims`).
    pub fn reset_all(&self) {
        for c in &self.cores {
            c.reset_faults();
            c.clear_calls();
        }
        self.factory.reset();
        self.payment.reset();
        self.iot.reset();
        self.vss.reset();
        self.registry.reset();
        self.notify.reset();
    }

    /// Stops every listener, open connection and background task (ports are free on return).
    pub async fn shutdown(mut self) {
        self.abort_all();
        for s in std::mem::take(&mut self.servers) {
            let _ = s.await;
        }
    }

    fn abort_all(&mut self) {
        for s in &self.servers {
            s.abort();
        }
        for t in self.ctx.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Sims {
    fn drop(&mut self) {
        self.abort_all();
    }
}

/// Fault injection for one system (same powers as `POST /_control/faults`). Faults apply to the
/// business endpoints only, never to `/_control/`.
#[derive(Clone)]
pub struct FaultHandle(Arc<Core>);

impl FaultHandle {
    /// The next `n` calls get `status` (problem+json) without any effect.
    pub fn fail_next(&self, n: u64, status: u16) {
        self.0.fail_next(n, status);
    }
    /// Each call fails with probability `p` (0.0..=1.0), with 503 (or the status set by
    /// [`FaultHandle::fail_rate_with`] / `{"fail_rate": p, "status": s}`). 0.0 turns it off.
    pub fn fail_rate(&self, p: f64) {
        self.0.fail_rate(p, None);
    }
    /// As [`FaultHandle::fail_rate`], failing with `status`.
    pub fn fail_rate_with(&self, p: f64, status: u16) {
        self.0.fail_rate(p, Some(status));
    }
    /// Every call is delayed by `ms` before it is handled (0 = off). The call still takes effect,
    /// even when the caller hangs up before the answer (as at a real server).
    pub fn slow(&self, ms: u64) {
        self.0.slow(ms);
    }
    /// Down: the connection is closed without any response (the call has no effect).
    pub fn down(&self, down: bool) {
        self.0.down(down);
    }
    /// Clears every fault (the call log and counter are kept: see [`FaultHandle::clear_calls`]).
    pub fn reset(&self) {
        self.0.reset_faults();
    }
    /// Business calls received since start/reset (failed, slowed and dropped ones included).
    pub fn calls(&self) -> u64 {
        self.0.calls()
    }
    /// The received business calls: [{seq, at, method, path, query, headers, body}].
    pub fn requests(&self) -> Vec<Value> {
        self.0.requests()
    }
    pub fn clear_calls(&self) {
        self.0.clear_calls();
    }
    /// Current settings as JSON (as `GET /_control/faults`).
    pub fn state(&self) -> Value {
        self.0.faults_json()
    }
}
