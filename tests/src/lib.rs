//! Test harness: starts the simulators and the local Spin-compatible runtime in-process,
//! on free loopback ports, with the real compiled components, a throwaway state
//! directory and a virtual clock; drives the app over HTTP like a client would.

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
pub const FACTORY_SECRET: &str = "test-factory-webhook-secret";
pub const PAYMENT_SECRET: &str = "test-payment-webhook-secret";

/// 2026-11-21T09:00:00Z: where every virtual clock starts.
pub fn start_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_251_600)
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Fails with a clear message when the components have not been built.
pub fn require_wasm(files: &[&str]) -> Result<()> {
    for f in files {
        let p = repo_root().join("target/wasm32-wasip2/release").join(f);
        if !p.exists() {
            bail!("{} is missing: run `make build-wasm` (make test does it)", p.display());
        }
    }
    Ok(())
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
}

pub struct Options {
    pub manifest: PathBuf,
    pub variables: BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Options { manifest: repo_root().join("spin.toml"), variables: BTreeMap::new() }
    }
}

/// Seed string for the `seed_employees` variable with the harness's known accounts.
pub fn seed_employees() -> String {
    let e = caas_domain::password::hash_password(EMPLOYEE_PASSWORD, &[7u8; 16]).expect("hash");
    let a = caas_domain::password::hash_password(ADMIN_PASSWORD, &[9u8; 16]).expect("hash");
    format!("{EMPLOYEE_EMAIL}:{e}:employee;{ADMIN_EMAIL}:{a}:admin")
}

impl TestApp {
    /// The CaaS app from the root spin.toml.
    pub async fn start() -> TestApp {
        Self::start_with(Options::default()).await.expect("start the app")
    }

    pub async fn start_with(opts: Options) -> Result<TestApp> {
        let sims = Sims::start(SimConfig {
            app_url: None,
            factory_webhook_secret: FACTORY_SECRET.into(),
            payment_webhook_secret: PAYMENT_SECRET.into(),
            ports: None,
            auto_webhooks: false,
        })
        .await
        .context("start simulators")?;
        let mut variables = BTreeMap::from([
            ("tick_secret".to_string(), TICK_SECRET.to_string()),
            ("factory_url".into(), sims.factory_url()),
            ("payment_url".into(), sims.payment_url()),
            ("iot_url".into(), sims.iot_url()),
            ("vss_url".into(), sims.vss_url()),
            ("registry_url".into(), sims.registry_url()),
            ("notify_url".into(), sims.notify_url()),
            ("factory_webhook_secret".into(), FACTORY_SECRET.into()),
            ("payment_webhook_secret".into(), PAYMENT_SECRET.into()),
            ("retry_base_seconds".into(), "30".into()),
            ("retry_max_attempts".into(), "4".into()),
        ]);
        if opts.manifest == repo_root().join("spin.toml") {
            variables.insert("seed_employees".into(), seed_employees());
        }
        variables.extend(opts.variables);
        let state = tempfile::tempdir()?;
        let clock = Clock::virtual_at(start_time());
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
        };
        t.boot().await?;
        let url = t.url("");
        t.sims.set_app_url(&url);
        Ok(t)
    }

    async fn boot(&mut self) -> Result<()> {
        let mut cfg = Config::new(&self.manifest);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.state_dir = self.state.path().to_path_buf();
        cfg.variables = self.variables.clone();
        cfg.clock = self.clock.clone();
        cfg.schedules = None;
        cfg.cache_dir = Some(repo_root().join("target/caas-runtime-cache"));
        cfg.log_requests = true;
        self.app = Some(caas_runtime::serve(cfg).await?);
        Ok(())
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

    pub async fn stop(mut self) {
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
