//! Test harness: starts the simulators and the local Spin-compatible runtime in-process,
//! on free loopback ports, with the real compiled components, a throwaway state
//! directory and a virtual clock; drives the app over HTTP like a client would.

pub mod browser;
pub mod redis_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use caas_runtime::{App, Clock, Config};
use caas_sim::{SimConfig, Sims};
use serde_json::Value;

pub use caas_runtime;
pub use caas_sim;

/// Tick secret the harness gives the app (and uses to fire ticks).
pub const TICK_SECRET: &str = "test-tick-secret";
pub const EMPLOYEE_EMAIL: &str = "employee@caas.test";
pub const EMPLOYEE_PASSWORD: &str = "employee-test-password";
pub const ADMIN_EMAIL: &str = "admin@caas.test";
pub const ADMIN_PASSWORD: &str = "admin-test-password";
pub const SUPPORT_EMAIL: &str = "support@caas.test";
pub const SUPPORT_PASSWORD: &str = "support-test-password";
pub const FACTORY_SECRET: &str = "test-factory-webhook-secret";
pub const PAYMENT_SECRET: &str = "test-payment-webhook-secret";

/// 2026-11-21T09:00:00Z: where every virtual clock starts.
pub fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_251_600)
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The app's manifest: every component the host tests run.
pub fn app_manifest() -> PathBuf {
    repo_root().join("spin.toml")
}

/// The local `.wasm` files a Spin manifest names — each component's `source` and any local
/// dependency (`path`/`source` under `[component.x.dependencies]`) — resolved against the
/// manifest's directory. Derived from the manifest, so a new component needs no test list.
pub fn manifest_wasm(manifest: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(manifest).unwrap_or_else(|e| panic!("read {}: {e}", manifest.display()));
    let doc: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", manifest.display()));
    let dir = manifest.parent().unwrap_or(Path::new("."));
    let mut files = Vec::new();
    fn collect(v: &toml::Value, key: &str, dir: &Path, files: &mut Vec<PathBuf>) {
        match v {
            toml::Value::String(s) if (key == "source" || key == "path") && s.ends_with(".wasm") => {
                let p = dir.join(s);
                if !files.contains(&p) {
                    files.push(p);
                }
            }
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| collect(v, k, dir, files)),
            _ => {}
        }
    }
    if let Some(components) = doc.get("component") {
        collect(components, "component", dir, &mut files);
    }
    assert!(!files.is_empty(), "{} names no component .wasm", manifest.display());
    files
}

/// Fails with a clear message naming every `.wasm` of `manifest` that has not been built
/// (`make test` builds them all first; a missing one is an error, never a skipped test).
pub fn require_components(manifest: &Path) -> Result<()> {
    let missing: Vec<String> =
        manifest_wasm(manifest).into_iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
    if !missing.is_empty() {
        bail!(
            "components of {} are not built: {}\nrun `make build-wasm` (make test does it; the probe: `infra/build-wasm.sh`)",
            manifest.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// One process, many tests: the host tests are one binary whose tests run in parallel threads.

struct GateState {
    shared: usize,
    alone_waiting: usize,
    alone: bool,
}

static GATE: std::sync::Mutex<GateState> = std::sync::Mutex::new(GateState { shared: 0, alone_waiting: 0, alone: false });

fn gate_state() -> std::sync::MutexGuard<'static, GateState> {
    GATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// A test's place in the process: every running [`TestApp`] holds a shared one (tests that run
/// an app of their own take [`Gate::shared`]); a test that measures the whole process (resident
/// memory, latency) takes [`Gate::alone`] — through `Options { alone: true, .. }` — and runs
/// while no other test runs an app. Released when dropped.
pub struct Gate {
    alone: bool,
}

impl Gate {
    /// Waits while a test runs alone (or waits to), then enters alongside the others.
    pub async fn shared() -> Gate {
        loop {
            {
                let mut g = gate_state();
                if !g.alone && g.alone_waiting == 0 {
                    g.shared += 1;
                    return Gate { alone: false };
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Keeps new tests out, waits until the running ones are done, then has the process alone.
    pub async fn alone() -> Gate {
        /// Counts this test as waiting until it enters (or its future is dropped).
        struct Waiting;
        impl Drop for Waiting {
            fn drop(&mut self) {
                gate_state().alone_waiting -= 1;
            }
        }
        gate_state().alone_waiting += 1;
        let _waiting = Waiting;
        loop {
            {
                let mut g = gate_state();
                if !g.alone && g.shared == 0 {
                    g.alone = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Gate { alone: true }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let mut g = gate_state();
        if self.alone {
            g.alone = false;
        } else {
            g.shared -= 1;
        }
    }
}

/// The simulators on free ports with the harness's webhook secrets, on `clock`, sending no
/// webhooks on their own (tests trigger them).
pub async fn start_sims(clock: caas_sim::SimClock) -> Result<Sims> {
    Sims::start(SimConfig {
        app_url: None,
        factory_webhook_secret: FACTORY_SECRET.into(),
        payment_webhook_secret: PAYMENT_SECRET.into(),
        ports: None,
        auto_webhooks: false,
        clock: Some(clock),
    })
    .await
}

/// A response as a test sees it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {} {}", self.status, self.text))
    }
    pub fn is_problem(&self) -> bool {
        self.content_type.starts_with("application/problem+json")
    }
}

/// A running app + simulators + client, with its own state directory.
pub struct TestApp {
    pub app: Option<App>,
    pub sims: Sims,
    pub state: tempfile::TempDir,
    pub client: reqwest::Client,
    pub clock: Clock,
    manifest: PathBuf,
    variables: BTreeMap<String, String>,
    listen: Option<std::net::SocketAddr>,
    runtime_config: Option<PathBuf>,
    /// The app's SQLite file (the runtime configuration's, else the state dir's), read once.
    db_path: PathBuf,
    _gate: Gate,
}

pub struct Options {
    pub manifest: PathBuf,
    pub variables: BTreeMap<String, String>,
    /// Run while no other test of the process runs an app ([`Gate::alone`]).
    pub alone: bool,
    /// Listen here (default: a free port chosen at boot). Browser tests fix the port first so
    /// that `app_url` (the links in e-mails, the payment page's way back) names the app.
    pub listen: Option<std::net::SocketAddr>,
    /// Spin runtime configuration file (shared stores: Redis key-value, a SQLite file).
    pub runtime_config: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options { manifest: app_manifest(), variables: BTreeMap::new(), alone: false, listen: None, runtime_config: None }
    }
}

/// Seed string for the `seed_employees` variable with the harness's known accounts.
pub fn seed_employees() -> String {
    let e = caas_domain::password::hash_password(EMPLOYEE_PASSWORD, &[7u8; 16]).expect("hash");
    let a = caas_domain::password::hash_password(ADMIN_PASSWORD, &[9u8; 16]).expect("hash");
    let s = caas_domain::password::hash_password(SUPPORT_PASSWORD, &[11u8; 16]).expect("hash");
    format!("{EMPLOYEE_EMAIL}:{e}:employee;{ADMIN_EMAIL}:{a}:admin;{SUPPORT_EMAIL}:{s}:support")
}

/// The application variables the harness gives the CaaS app for simulators `sims` (development
/// mode, the test tick and webhook secrets, the simulators' URLs, short retries). `TestApp` adds
/// `seed_employees`; a test that runs `caas-runtime` as a process passes these as `--variable`.
pub fn app_variables(sims: &Sims) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::from([
        // Tests run in explicit development mode (demo staff, development link-code secret);
        // production-mode tests override it with `Options::variables`.
        ("dev_mode".to_string(), "true".to_string()),
        ("tick_secret".to_string(), TICK_SECRET.to_string()),
        ("retry_base_seconds".into(), "30".into()),
        ("retry_max_attempts".into(), "4".into()),
    ]);
    vars.extend(sims.app_variables());
    vars
}

impl TestApp {
    /// The CaaS app from the root spin.toml.
    pub async fn start() -> TestApp {
        Self::start_with(Options::default()).await.expect("start the app")
    }

    pub async fn start_with(opts: Options) -> Result<TestApp> {
        require_components(&opts.manifest)?;
        let gate = if opts.alone { Gate::alone().await } else { Gate::shared().await };
        // One virtual clock for the app and the simulators (webhook signatures carry its time).
        let clock = Clock::virtual_at(start_time());
        let sim_clock = clock.clone();
        let sims = start_sims(caas_sim::SimClock::new(move || sim_clock.now())).await.context("start simulators")?;
        let mut variables = app_variables(&sims);
        if opts.manifest == app_manifest() {
            variables.insert("seed_employees".into(), seed_employees());
        }
        variables.extend(opts.variables);
        let state = tempfile::tempdir()?;
        let configured = match &opts.runtime_config {
            Some(p) => caas_runtime::runtime_config::RuntimeConfig::load(p)?.sqlite_databases.get("default").cloned().flatten(),
            None => None,
        };
        let db_path = configured.unwrap_or_else(|| state.path().join("sqlite_db.db"));
        let mut t = TestApp {
            app: None,
            sims,
            state,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            clock,
            manifest: opts.manifest,
            variables,
            listen: opts.listen,
            runtime_config: opts.runtime_config,
            db_path,
            _gate: gate,
        };
        t.boot().await?;
        let url = t.url("");
        t.sims.set_app_url(&url);
        Ok(t)
    }

    fn config(&self, state_dir: &Path, listen: Option<std::net::SocketAddr>) -> Config {
        let mut cfg = Config::new(&self.manifest);
        cfg.listen = listen.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap());
        cfg.state_dir = state_dir.to_path_buf();
        cfg.variables = self.variables.clone();
        cfg.clock = self.clock.clone();
        cfg.schedules = None;
        cfg.cache_dir = Some(repo_root().join("target/caas-runtime-cache"));
        cfg.log_requests = true;
        cfg.runtime_config = self.runtime_config.clone();
        cfg
    }

    async fn boot(&mut self) -> Result<()> {
        let cfg = self.config(self.state.path(), self.listen);
        self.app = Some(caas_runtime::serve(cfg).await?);
        Ok(())
    }

    /// Another replica of the app: a second runtime with the same manifest, variables, clock and
    /// runtime configuration (so the same shared stores when it names them), its own state dir.
    pub async fn replica(&self, state_dir: &Path) -> Result<App> {
        caas_runtime::serve(self.config(state_dir, None)).await
    }

    /// Stops the runtime and starts it again on the same state directory (and clock).
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self.boot().await?;
        let url = self.url("");
        self.sims.set_app_url(&url);
        Ok(())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.app.as_ref().expect("app running").url(), path)
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let r = req.send().await.expect("request reaches the app");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = r.text().await.unwrap_or_default();
        Resp { status, content_type, headers, text }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>, idem: Option<&str>) -> Resp {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        self.send(req).await
    }

    /// Logs in and returns the bearer token (panics with the response on failure).
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post_json("/api/auth/login", &serde_json::json!({"email": email, "password": password}), None, None)
            .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        r.json()["token"].as_str().expect("token").to_string()
    }

    pub async fn employee_token(&self) -> String {
        self.login(EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD).await
    }

    /// Fires a tick the way the scheduler does and returns its JSON report.
    pub async fn tick(&self, name: &str) -> Value {
        let r = self
            .send(
                self.client
                    .post(self.url(&format!("/internal/ticks/{name}")))
                    .bearer_auth(TICK_SECRET),
            )
            .await;
        assert_eq!(r.status, 200, "tick {name}: {}", r.text);
        r.json()
    }

    /// Fires the retry tick until no notification due now is left in the outbox (one tick
    /// delivers a bounded batch).
    pub async fn deliver_notifications(&self) {
        for _ in 0..20 {
            self.tick("retry").await;
            let due = format!("SELECT COUNT(*) FROM jobs WHERE kind = 'notify' AND status = 'pending' AND next_attempt_at <= {}", self.now_ms());
            if self.count(&due) == 0 {
                return;
            }
        }
    }

    /// Checks the ledger invariants also as an operator sees them (the admin API), then stops.
    pub async fn stop_with_admin_ledger_check(self) {
        assert_ledger_invariants(&self);
        assert_ledger_invariants_via_admin(&self).await;
        self.stop().await;
    }

    /// Stops everything; for the CaaS app, first checks the ledger invariants over whatever the
    /// test did (so every host test is also a ledger test).
    pub async fn stop(mut self) {
        if self.manifest == app_manifest() {
            assert_ledger_invariants(&self);
        }
        if let Some(app) = self.app.take() {
            app.shutdown().await;
        }
        self.sims.shutdown().await;
    }
}

/// A valid sale registration body; `n` varies the customer.
pub fn sale_body(n: u32) -> Value {
    serde_json::json!({
        "customer": {
            "full_name": format!("Lucía Fernández {n}"),
            "email": format!("lucia.{n}@example.com"),
            "phone": "+34600111222",
            "national_id": format!("X{:07}L", n)
        },
        "delivery_address": {
            "line1": "Calle Mayor 1",
            "city": "Madrid",
            "postal_code": "28013",
            "country": "ES"
        },
        "country": "ES",
        "model": "CAAS-SEDAN-24",
        "plan_options": ["AUTOPILOT-HWY", "HEATED-SEATS"],
        "prices": {
            "vehicle_price_minor": 3_450_000,
            "deposit_minor": 150_000,
            "currency": "EUR"
        }
    })
}

// ------------------------------------------------------------------------------------------------
// Service lifecycle helpers (issue 4).

impl TestApp {
    /// A connection to the app's SQLite database (for assertions; the app keeps running).
    pub fn db(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.db_path).expect("open app database");
        c.busy_timeout(Duration::from_secs(10)).ok();
        c
    }

    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A technical support agent's session (issue 8).
    pub async fn support_token(&self) -> String {
        self.login(SUPPORT_EMAIL, SUPPORT_PASSWORD).await
    }
}

// ------------------------------------------------------------------------------------------------
// One method per endpoint / journey step, shared by the test modules.

/// A signed-in test customer and the sale that made them one.
pub struct Customer {
    pub email: String,
    pub token: String,
    pub order_id: String,
    pub customer_id: String,
}

impl TestApp {
    /// The virtual clock, in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
    }

    /// Moves the virtual clock forward to `ms` (never backwards).
    pub fn advance_to(&self, ms: i64) {
        let now = self.now_ms();
        assert!(ms >= now, "clock would go backwards");
        self.advance(Duration::from_millis((ms - now) as u64));
    }

    /// `SELECT COUNT(*) …` (any single-integer query) on the app's database.
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// POST /api/sales as the employee with `body` and Idempotency-Key `key` (201);
    /// returns (order id, customer id).
    pub async fn register_sale(&self, body: &Value, key: &str) -> (String, String) {
        let staff = self.employee_token().await;
        let r = self.post_json("/api/sales", body, Some(&staff), Some(key)).await;
        assert_eq!(r.status, 201, "sale {key}: {}", r.text);
        let v = r.json();
        (v["order_id"].as_str().unwrap().to_string(), v["customer_id"].as_str().unwrap().to_string())
    }

    /// Delivers the credentials e-mail (retry tick), follows its set-password link with
    /// `password` and signs the customer in; returns the token.
    pub async fn sign_in_from_credentials_email(&self, email: &str, password: &str) -> String {
        self.tick("retry").await;
        set_password_from_email(self, email, password).await;
        self.login(email, password).await
    }

    /// A fresh session of test customer `n` (sessions expire while the virtual clock runs).
    pub async fn customer_token(&self, n: u32) -> String {
        self.login(&format!("lucia.{n}@example.com"), CUSTOMER_NEW_PASSWORD).await
    }

    /// POST /api/services (buy option `code` for `vin`) with Idempotency-Key `key`.
    pub async fn buy_service(&self, token: &str, vin: &str, code: &str, key: &str) -> Resp {
        self.post_json("/api/services", &serde_json::json!({"vin": vin, "option_code": code}), Some(token), Some(key)).await
    }

    /// [`TestApp::buy_service`] that must be accepted (202); returns the service view.
    pub async fn bought_service(&self, token: &str, vin: &str, code: &str, key: &str) -> Value {
        let r = self.buy_service(token, vin, code, key).await;
        assert_eq!(r.status, 202, "{}", r.text);
        r.json()
    }

    /// GET /api/services/{id} (200).
    pub async fn service(&self, token: &str, id: &str) -> Value {
        let r = self.get(&format!("/api/services/{id}"), Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }

    /// POST /api/services/{id}/cancel: (status, body); never a 5xx, errors as problem JSON.
    pub async fn cancel_service(&self, token: &str, id: &str) -> (u16, Value) {
        let r = self.post_json(&format!("/api/services/{id}/cancel"), &serde_json::json!({}), Some(token), None).await;
        assert!(r.status < 500, "{}", r.text);
        if r.status >= 400 {
            assert!(r.is_problem(), "{}", r.text);
        }
        (r.status, r.json())
    }

    /// A service's lifecycle state in the database.
    pub fn service_state(&self, id: &str) -> String {
        self.db().query_row("SELECT state FROM services WHERE id = ?1", [id], |r| r.get(0)).unwrap()
    }

    /// The customer linked to `vin`: (id, e-mail).
    pub fn customer_of(&self, vin: &str) -> (String, String) {
        self.db()
            .query_row(
                "SELECT c.id, c.email FROM vehicle_links l JOIN customers c ON c.id = l.customer_id WHERE l.vin = ?1",
                [vin],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    /// GET /api/orders/{id} as the customer (200).
    pub async fn order(&self, c: &Customer) -> Value {
        let r = self.get(&format!("/api/orders/{}", c.order_id), Some(&c.token)).await;
        assert_eq!(r.status, 200, "order: {}", r.text);
        r.json()
    }

    /// POST /api/orders/{id}/{kind}-payment (`reservation` | `final`) as the customer (201);
    /// returns the gateway payment id.
    pub async fn start_payment(&self, c: &Customer, kind: &str) -> String {
        let r = self.post_json(&format!("/api/orders/{}/{kind}-payment", c.order_id), &serde_json::json!({}), Some(&c.token), None).await;
        assert_eq!(r.status, 201, "{kind} payment: {}", r.text);
        r.json()["payment_id"].as_str().expect("payment_id").to_string()
    }

    /// Starts a payment of `kind` and settles it through the gateway simulator's signed webhook.
    pub async fn pay_and_settle(&self, c: &Customer, kind: &str) -> String {
        let pid = self.start_payment(c, kind).await;
        assert_eq!(self.sims.payment().settle(&pid, true).await.unwrap(), 200, "{kind} settlement webhook");
        pid
    }

    /// The factory's whole status path by its signed webhooks: the vehicle ends at the dealership.
    pub async fn manufacture(&self, order_id: &str) {
        for s in FACTORY_STATUS_PATH {
            assert_eq!(self.sims.factory().send_status(order_id, s, Value::Null).await.unwrap(), 200, "factory {s}");
        }
    }

    /// POST /api/delivery/{order_id}/events as `staff`.
    pub async fn delivery_event(&self, staff: &str, order_id: &str, body: Value) -> Resp {
        self.post_json(&format!("/api/delivery/{order_id}/events"), &body, Some(staff), None).await
    }
}

/// Password a test customer switches to at the first sign-in.
pub const CUSTOMER_NEW_PASSWORD: &str = "Customer-Test-Passw0rd-2026";

/// VIN of the `n`-th test vehicle (17 characters, no I/O/Q).
pub fn test_vin(n: u32) -> String {
    format!("WCA{n:014}")
}

/// The token of the newest set-password link e-mailed to `email` (credentials or reset e-mail,
/// delivered by the retry tick): `<app_url>/set-password?token=<64 hex>`.
pub fn emailed_set_password_token(t: &TestApp, email: &str) -> String {
    let mails = t.sims.notify().messages_to(email);
    let body = mails
        .iter()
        .rev()
        .filter(|m| m["template"] == "credentials" || m["template"] == "password-reset")
        .find_map(|m| m["body"].as_str().filter(|b| b.contains("/set-password?token=")))
        .unwrap_or_else(|| panic!("no set-password link e-mailed to {email}: {mails:?}"));
    let at = body.find("/set-password?token=").unwrap() + "/set-password?token=".len();
    let token: String = body[at..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    assert_eq!(token.len(), 64, "link token in: {body}");
    token
}

/// Follows the set-password link e-mailed to `email` (as the web app does) with `new_password`.
pub async fn set_password_from_email(t: &TestApp, email: &str, new_password: &str) {
    let token = emailed_set_password_token(t, email);
    let r = t
        .post_json("/api/auth/set-password", &serde_json::json!({"token": token, "new_password": new_password}), None, None)
        .await;
    assert_eq!(r.status, 200, "set-password for {email}: {}", r.text);
}

/// Registers sale `n` through the real sales component, delivers the credentials e-mail through
/// the outbox (retry tick), follows its set-password link and signs the customer in.
/// Returns (customer token, order id, customer id).
pub async fn customer_with_sale(t: &TestApp, n: u32) -> (String, String, String) {
    customer_with_sale_of(t, n, &sale_body(n)).await
}

/// [`customer_with_sale`] with another sale body (its customer e-mail must be `lucia.<n>@example.com`).
pub async fn customer_with_sale_of(t: &TestApp, n: u32, body: &Value) -> (String, String, String) {
    let (order_id, customer_id) = t.register_sale(body, &format!("sale-{n}")).await;
    let token = t.sign_in_from_credentials_email(&format!("lucia.{n}@example.com"), CUSTOMER_NEW_PASSWORD).await;
    (token, order_id, customer_id)
}

/// spin.toml's default `link_code_secret` (the harness does not override it).
pub const DEFAULT_LINK_CODE_SECRET: &str = "dev-link-code-secret";

/// The factory's status path from order to dealership.
pub const FACTORY_STATUS_PATH: [&str; 6] =
    ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"];

/// An operational vehicle of a fresh customer `n`, through the real components: sale →
/// credentials → reservation payment settled (webhook) → factory webhooks → final payment
/// settled → registration (retry tick) → delivery (employee) → app link (customer, with the
/// code the car shows). The plan comercial services the link creates are activated (OTA tick)
/// and their notifications delivered (retry tick), so the vehicle starts quiet.
/// Returns (customer token, VIN).
///
pub async fn operational_vehicle(t: &TestApp, n: u32) -> (String, String) {
    operational_vehicle_of(t, n, &sale_body(n)).await
}

/// [`operational_vehicle`] from another sale body (e.g. another plan comercial).
pub async fn operational_vehicle_of(t: &TestApp, n: u32, body: &Value) -> (String, String) {
    let (token, order_id, customer_id) = customer_with_sale_of(t, n, body).await;
    let c = Customer { email: format!("lucia.{n}@example.com"), token, order_id, customer_id };
    t.pay_and_settle(&c, "reservation").await;
    t.manufacture(&c.order_id).await;
    t.pay_and_settle(&c, "final").await;
    t.tick("retry").await; // registration with the authority
    let o = t.order(&c).await;
    assert_eq!(o["status"], "matriculated", "{o}");
    let Customer { token, order_id, .. } = c;
    let vin = o["vin"].as_str().expect("vin").to_string();

    let staff = t.employee_token().await;
    let now_ms = t.now_ms();
    for body in [
        serde_json::json!({"event": "scheduled", "at": now_ms + 86_400_000}),
        serde_json::json!({"event": "delivered"}),
    ] {
        let r = t.delivery_event(&staff, &order_id, body.clone()).await;
        assert!(r.status == 200 || r.status == 201, "delivery {body}: {} {}", r.status, r.text);
    }
    let code = caas_domain::vehicle::link_code(DEFAULT_LINK_CODE_SECRET, &vin);
    let r = t.post_json("/api/vehicles/link", &serde_json::json!({"vin": vin, "link_code": code}), Some(&token), None).await;
    assert!(r.status == 200 || r.status == 201, "app link: {} {}", r.status, r.text);
    t.tick("ota").await;
    t.tick("retry").await;
    (token, vin)
}

impl TestApp {
    /// A fresh app with the [`operational_vehicle`] of customer `n`: (app, customer token, VIN).
    pub async fn with_operational_vehicle(n: u32) -> (TestApp, String, String) {
        let t = TestApp::start().await;
        let (token, vin) = operational_vehicle(&t, n).await;
        (t, token, vin)
    }
}

/// As [`operational_vehicle`], but the steps between sale and app link are recorded straight
/// into the database (order `operational`, vehicle row, app link; no plan services) — for
/// tests that do not need the journey.
pub async fn operational_vehicle_seeded(t: &TestApp, n: u32) -> (String, String) {
    let (token, order_id, customer_id) = customer_with_sale(t, n).await;
    let vin = test_vin(n);
    // Any component opening the database brings it to the latest schema.
    let r = t.get("/api/catalog", Some(&token)).await;
    assert_eq!(r.status, 200, "catalog: {}", r.text);
    let now = t.now_ms();
    let db = t.db();
    db.execute("UPDATE orders SET status = 'operational', vin = ?1, updated_at = ?2 WHERE id = ?3", rusqlite::params![vin, now, order_id])
        .expect("order operational");
    db.execute(
        "INSERT INTO vehicles(vin, model, status, order_id, created_at, updated_at) VALUES (?1, 'CAAS-SEDAN-24', 'operational', ?2, ?3, ?3)",
        rusqlite::params![vin, order_id, now],
    )
    .expect("vehicle row");
    db.execute(
        "INSERT INTO vehicle_links(vin, customer_id, order_id, linked_at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![vin, customer_id, order_id, now],
    )
    .expect("app link");
    (token, vin)
}

/// The ledger invariants of the service lifecycle over the whole database
/// (`caas_domain::services::ledger::check_invariants`): no charge without delivery, no double
/// charge, refunds never exceed charges. Service references count as delivered when the
/// service was delivered or is still on its way (pending activation).
/// The ledger invariants over every movement in the app's database (no charge without delivery
/// for services, no double charge, refunds never exceed charges). `TestApp::stop` runs it after
/// every test of the CaaS app.
pub fn assert_ledger_invariants(t: &TestApp) {
    assert_ledger_invariants_in(&t.db(), &t.sims);
}

/// [`assert_ledger_invariants`] over an app database `db` and the payment simulator of `sims`
/// (for tests that run the runtime as a separate process).
pub fn assert_ledger_invariants_in(db: &rusqlite::Connection, sims: &Sims) {
    use caas_domain::services::ledger::{EntryKind, LedgerEntry, check_invariants};
    use caas_domain::services::lifecycle::ServiceState;
    let has_ledger: bool = db
        .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger')", [], |r| r.get(0))
        .unwrap();
    if !has_ledger {
        return; // the test never reached the database
    }
    let mut stmt = db
        .prepare("SELECT kind, idempotency_key, COALESCE(reference, order_id, ''), amount_minor, currency FROM ledger")
        .unwrap();
    let entries: Vec<LedgerEntry> = stmt
        .query_map([], |r| {
            Ok(LedgerEntry {
                kind: EntryKind::parse(&r.get::<_, String>(0)?).unwrap_or(EntryKind::Charge),
                idempotency_key: r.get(1)?,
                reference: r.get(2)?,
                amount: caas_domain::wit::Money { amount_minor: r.get(3)?, currency: r.get(4)? },
            })
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut states = std::collections::BTreeMap::new();
    let mut stmt = db.prepare("SELECT id, state FROM services").unwrap();
    for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))).unwrap() {
        let (id, s) = row.unwrap();
        states.insert(id, ServiceState::parse(&s));
    }
    // A pending service counts as "on its way" only while its activation command is still
    // queued: a charge on a pending service that nothing will ever activate is a violation.
    let mut in_flight = std::collections::BTreeSet::new();
    let mut stmt = db.prepare("SELECT payload FROM jobs WHERE kind = 'ota' AND status = 'pending'").unwrap();
    for row in stmt.query_map([], |r| r.get::<_, String>(0)).unwrap() {
        if let Ok(caas_domain::wit::Job::Ota(cmd)) = caas_domain::wit::Job::from_payload(&row.unwrap()) {
            in_flight.insert(cmd.service_id);
        }
    }
    let delivered = |reference: &str| {
        let id = reference.split('/').next().unwrap_or(reference);
        if !id.starts_with("svc_") {
            // Vehicle payments (señal, final): the deposit is legitimately kept when the sale
            // falls through ("sin asignar"), so only the money rules apply to them.
            return true;
        }
        match states.get(id) {
            Some(Some(s)) if s.was_delivered() => true,
            Some(Some(ServiceState::PendingActivation | ServiceState::PendingPayment)) => in_flight.contains(id),
            _ => false,
        }
    };
    if let Err(v) = check_invariants(&entries, &delivered) {
        panic!("ledger invariants broken: {v:?}\nentries: {entries:?}");
    }
    assert_ledger_matches_gateway_in(db, sims, &entries);
}

/// The ledger against the payment gateway simulator's own records: for everything paid through
/// the gateway whose payments have all reached a final state, the money the gateway kept
/// (settled − refunded) equals what the books say was kept. Vehicle payments are booked under
/// the payment id, services and subscription periods under the reference the gateway carries.
pub fn assert_ledger_matches_gateway(t: &TestApp, entries: &[caas_domain::services::ledger::LedgerEntry]) {
    assert_ledger_matches_gateway_in(&t.db(), &t.sims, entries);
}

/// [`assert_ledger_matches_gateway`] over an app database and a payment simulator.
pub fn assert_ledger_matches_gateway_in(db: &rusqlite::Connection, sims: &Sims, entries: &[caas_domain::services::ledger::LedgerEntry]) {
    use caas_domain::reconciliation::{GatewayPayment, reconcile};
    use caas_domain::services::ledger::net_by_reference;
    // Known differences a person works on: payments parked as `mismatch` (escalated) and
    // charges the gateway did not collect that are with collections (money owed).
    let parked: std::collections::BTreeSet<String> = {
        let mut st = db
            .prepare("SELECT id FROM payments WHERE status = 'mismatch' UNION SELECT payment_id FROM collections WHERE status = 'open'")
            .unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    let gateway: Vec<GatewayPayment> = sims.payment().payments().iter().filter_map(GatewayPayment::from_json).collect();
    // The same comparison the admins' reconciliation screen makes.
    let net: BTreeMap<String, i64> = net_by_reference(entries).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    let r = reconcile(&gateway, &net, &parked);
    if !r.differences.is_empty() {
        let diffs: Vec<String> = r.differences.iter().map(|d| format!("{} (payments {:?}): {}", d.reference, d.payment_ids, d.explanation)).collect();
        panic!("ledger and payment gateway disagree:\n{}\nentries: {entries:?}", diffs.join("\n"));
    }
}

/// Net amount kept (charges − voids − refunds) for one reference.
pub fn ledger_net(t: &TestApp, reference: &str) -> i64 {
    t.db()
        .query_row(
            "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END), 0) FROM ledger WHERE reference = ?1",
            [reference],
            |r| r.get(0),
        )
        .unwrap()
}

/// The ledger invariants read through the admin API (`GET /api/admin/ledger`, paged), i.e. as an
/// operator sees them: `caas_domain::services::ledger::check_invariants` over every service
/// movement (no charge without delivery, no double charge, refunds never exceed charges). A
/// reference counts as delivered when its service was delivered or is still on its way.
/// Needs fn-admin built; returns the number of service ledger entries checked.
pub async fn assert_ledger_invariants_via_admin(t: &TestApp) -> usize {
    use caas_domain::services::ledger::{EntryKind, LedgerEntry, check_invariants};
    use caas_domain::services::lifecycle::ServiceState;
    let admin = t.admin_token().await;
    let mut entries: Vec<LedgerEntry> = Vec::new();
    let mut states: BTreeMap<String, Option<ServiceState>> = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/ledger?limit=100&cursor={c}"),
            None => "/api/admin/ledger?limit=100".to_string(),
        };
        let r = t.get(&path, Some(&admin)).await;
        assert_eq!(r.status, 200, "admin ledger: {}", r.text);
        let v = r.json();
        for e in v["items"].as_array().cloned().unwrap_or_default() {
            let reference = e["reference"].as_str().unwrap_or("").to_string();
            if !reference.starts_with("svc_") {
                continue;
            }
            let id = reference.split('/').next().unwrap_or("").to_string();
            states.insert(id, e["service_state"].as_str().and_then(ServiceState::parse));
            entries.push(LedgerEntry {
                kind: EntryKind::parse(e["kind"].as_str().unwrap_or("")).expect("ledger kind"),
                idempotency_key: e["idempotency_key"].as_str().unwrap_or("").to_string(),
                reference,
                amount: caas_domain::wit::Money {
                    amount_minor: e["amount_minor"].as_i64().unwrap_or(0),
                    currency: e["currency"].as_str().unwrap_or("").to_string(),
                },
            });
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let delivered = |reference: &str| {
        let id = reference.split('/').next().unwrap_or(reference);
        matches!(states.get(id), Some(Some(s)) if s.was_delivered() || matches!(s, ServiceState::PendingActivation | ServiceState::PendingPayment))
    };
    if let Err(v) = check_invariants(&entries, &delivered) {
        panic!("ledger invariants broken (admin view): {v:?}\nentries: {entries:?}");
    }
    entries.len()
}
