//! In-process tests of `caas_runtime::serve` with real spin-sdk components
//! (fn_health, and the probe test component when built). Build them first:
//! `infra/build-wasm.sh -p fn-health -p probe-component`.
use caas_runtime::{App, Clock, Config, serve};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn wasm(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/release")
        .join(name);
    if p.is_file() {
        Some(p.canonicalize().unwrap())
    } else {
        // A missing component is a failure, never a silent skip: `make test` builds them first.
        panic!("{} is not built: run infra/build-wasm.sh -p fn-health -p probe-component", p.display())
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let d = std::env::temp_dir().join(format!("caas-rt-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Minimal HTTP/1.1 client (Connection: close).
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> Resp {
    request_with(addr, method, path, "", body).await
}

/// [`request`] with extra header lines (`"name: value\r\n"` each).
async fn request_with(addr: SocketAddr, method: &str, path: &str, headers: &str, body: &str) -> Resp {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
        .await
        .expect("response timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A config serving `manifest_text` from a fresh dir on a free port (compile cache in `<dir>/cache`).
fn test_config(manifest_text: &str, tag: &str) -> (Config, PathBuf) {
    let dir = temp_dir(tag);
    std::fs::write(dir.join("spin.toml"), manifest_text).unwrap();
    let mut cfg = Config::new(dir.join("spin.toml"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.state_dir = dir.join(".spin");
    cfg.cache_dir = Some(dir.join("cache"));
    (cfg, dir)
}

async fn start(manifest_text: &str, tag: &str, clock: Clock) -> (App, PathBuf) {
    let (mut cfg, dir) = test_config(manifest_text, tag);
    cfg.clock = clock;
    let app = serve(cfg).await.expect("serve");
    (app, dir)
}

fn health_manifest(health: &Path) -> String {
    one_route_manifest("/health", "health", health, "")
}

/// A manifest with one component `id` at `route`, then `tables` (more TOML for the component).
fn one_route_manifest(route: &str, id: &str, source: &Path, tables: &str) -> String {
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n[component.{id}]\nsource = \"{}\"\n{tables}",
        source.display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_health_and_404() {
    let Some(h) = wasm("fn_health.wasm") else {
        return;
    };
    let (app, _dir) = start(&health_manifest(&h), "health", Clock::system()).await;
    assert!(app.url().starts_with("http://127.0.0.1:"));
    let r = request(app.local_addr(), "GET", "/health", "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, r#"{"status":"ok"}"#);
    assert_eq!(r.header("content-length"), Some("15"));
    let r = request(app.local_addr(), "GET", "/nothing/here", "").await;
    assert_eq!(r.status, 404);
    // Keep serving after many requests (fresh instance per request).
    for _ in 0..50 {
        assert_eq!(
            request(app.local_addr(), "GET", "/health", "").await.status,
            200
        );
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_apps_at_once() {
    let Some(h) = wasm("fn_health.wasm") else {
        return;
    };
    let (a, da) = start(&health_manifest(&h), "two-a", Clock::system()).await;
    let (b, db) = start(&health_manifest(&h), "two-b", Clock::system()).await;
    assert_ne!(a.local_addr(), b.local_addr());
    assert_ne!(da, db);
    let (ra, rb) = tokio::join!(
        request(a.local_addr(), "GET", "/health", ""),
        request(b.local_addr(), "GET", "/health", "")
    );
    assert_eq!((ra.status, rb.status), (200, 200));
    a.shutdown().await;
    // b still serves after a is gone.
    assert_eq!(
        request(b.local_addr(), "GET", "/health", "").await.status,
        200
    );
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_errors_are_clear() {
    let dir = temp_dir("errors");
    std::fs::write(
        dir.join("spin.toml"),
        "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/x\"\ncomponent = \"x\"\n[component.x]\nsource = \"missing.wasm\"\n",
    )
    .unwrap();
    let mut cfg = Config::new(dir.join("spin.toml"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let e = format!("{:#}", serve(cfg).await.err().expect("must fail"));
    assert!(
        e.contains("[component.x]") && e.contains("make build"),
        "{e}"
    );
}

fn probe_manifest(probe: &Path, allowed: &str) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "probe"
[variables]
allowed = {{ default = "{allowed}" }}
[[trigger.http]]
route = "/probe/..."
component = "probe"
[[trigger.http]]
route = "/items/:item_id/..."
component = "probe"
[component.probe]
source = "{}"
allowed_outbound_hosts = ["{{{{ allowed }}}}"]
key_value_stores = ["default"]
sqlite_databases = ["default"]
"#,
        probe.display()
    )
}

/// A one-route HTTP server for outbound tests: counts hits, answers "pong".
async fn pong_server() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong",
                    )
                    .await;
            });
        }
    });
    (addr, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_headers_virtual_clock_and_outbound_policy() {
    let Some(p) = wasm("probe_component.wasm") else {
        return;
    };
    let (pong, hits) = pong_server().await;
    let start_t = UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    let clock = Clock::virtual_at(start_t);
    let (app, _dir) = start(
        &probe_manifest(&p, &format!("http://{pong}")),
        "probe",
        clock.clone(),
    )
    .await;
    let addr = app.local_addr();

    // Spin request headers.
    let r = request(addr, "GET", "/probe/route?x=1", "").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = r.json();
    assert_eq!(h["spin-path-info"], "/route");
    assert_eq!(h["spin-matched-route"], "/probe/...");
    assert_eq!(h["spin-raw-component-route"], "/probe/...");
    assert_eq!(h["spin-component-route"], "/probe");
    assert_eq!(h["spin-base-path"], "/");
    assert_eq!(h["spin-full-url"], format!("http://{addr}/probe/route?x=1"));
    assert!(
        h["spin-client-addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    // Client-sent `spin-*` headers are kept and the runtime's own follow them (as in Spin 4.1):
    // the last value is the trustworthy one.
    let r = request_with(addr, "GET", "/probe/route", "spin-path-info: /spoof\r\nspin-client-addr: 10.9.9.9:1\r\n", "").await;
    let h = r.json();
    assert_eq!(h["spin-path-info"], serde_json::json!(["/spoof", "/route"]), "{h}");
    let addrs = h["spin-client-addr"].as_array().expect("both client addresses");
    assert_eq!(addrs[0], "10.9.9.9:1");
    assert!(addrs[1].as_str().unwrap().starts_with("127.0.0.1:"), "{h}");

    let r = request(addr, "GET", "/items/42/probe/route", "").await;
    let h = r.json();
    assert_eq!(h["spin-path-match-item-id"], "42", "{h}");
    assert_eq!(h["spin-path-info"], "/probe/route");
    assert_eq!(h["spin-matched-route"], "/items/:item_id/...");

    // Virtual wall clock through WASI.
    let t = |r: Resp| r.json()["unix_ms"].as_i64().unwrap();
    let ms0 = t(request(addr, "GET", "/probe/time", "").await);
    assert_eq!(ms0, 1_900_000_000_000);
    app.clock().advance(Duration::from_secs(3600));
    let ms1 = t(request(addr, "GET", "/probe/time", "").await);
    assert_eq!(ms1 - ms0, 3_600_000);
    clock.set(UNIX_EPOCH + Duration::from_secs(2_000_000_000));
    assert_eq!(
        t(request(addr, "GET", "/probe/time", "").await),
        2_000_000_000_000
    );
    let _ = SystemTime::now();

    // Outbound: allowed host works, others are denied with HttpRequestDenied.
    let r = request(addr, "POST", "/probe/fetch", &format!("http://{pong}/ping")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["body"], "pong");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let r = request(
        addr,
        "POST",
        "/probe/fetch",
        &format!("http://localhost:{}/ping", pong.port()),
    )
    .await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    let r = request(addr, "POST", "/probe/fetch", "http://127.0.0.1:1/ping").await;
    assert!(r.body.contains("HttpRequestDenied"), "{}", r.body);
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "denied requests never reach the network"
    );
    app.shutdown().await;
}

// ------------------------------------------------------------ component dependencies (spin.toml)

/// factory-webhook with the webhook verifier composed in, in Spin's dependency syntax.
fn webhook_manifest(webhook: &Path, dependency: &Path) -> String {
    let tables = format!(
        r#"sqlite_databases = ["default"]
[component.factory-webhook.variables]
config_guard = "dev_mode=true"
factory_webhook_secret = "test-secret"
final_payment_days = "15"
[component.factory-webhook.dependencies]
"caas:platform/webhook-signature@0.1.0" = {{ path = "{}" }}
"#,
        dependency.display()
    );
    one_route_manifest("/webhooks/factory", "factory-webhook", webhook, &tables)
}

/// `x-caas-signature` for `(ts, body)`: v1=hex(HMAC-SHA256(secret, "<ts>.<body>")).
fn signature(secret: &str, ts: i64, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut key = [0u8; 64];
    key[..secret.len()].copy_from_slice(secret.as_bytes());
    let pad = |b: u8| key.iter().map(|k| k ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(format!("{ts}.{body}")).finalize();
    format!("v1={}", hex::encode(Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize()))
}

async fn signed_post(addr: SocketAddr, ts: i64, sig: &str, body: &str) -> Resp {
    let headers = format!("content-type: application/json\r\nx-caas-timestamp: {ts}\r\nx-caas-signature: {sig}\r\n");
    request_with(addr, "POST", "/webhooks/factory", &headers, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composes_a_dependency_and_serves() {
    let (Some(webhook), Some(verifier)) = (wasm("fn_factory_webhook.wasm"), wasm("fn_webhook_verifier.wasm")) else {
        return;
    };
    let now = 1_800_000_000;
    let (app, dir) = start(&webhook_manifest(&webhook, &verifier), "deps", Clock::virtual_at(UNIX_EPOCH + Duration::from_secs(now as u64))).await;
    let addr = app.local_addr();
    // Every answer below comes from the composed verifier (factory-webhook imports the check).
    let r = request(addr, "POST", "/webhooks/factory", "{}").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["detail"].as_str().unwrap().contains("x-caas-timestamp header is missing"), "{}", r.body);
    let r = signed_post(addr, now, &signature("other-secret", now, "{}"), "{}").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("does not match"), "{}", r.body);
    let r = signed_post(addr, now - 301, &signature("test-secret", now - 301, "{}"), "{}").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.body.contains("301 s away from now"), "{}", r.body);
    // A good signature passes the verifier: the body is then parsed (and refused) by the webhook.
    let r = signed_post(addr, now, &signature("test-secret", now, "{}"), "{}").await;
    assert_eq!(r.status, 400, "{}", r.body);
    app.shutdown().await;
    // The composed component is compiled once and cached like any other.
    assert_eq!(std::fs::read_dir(dir.join("cache")).unwrap().count(), 1);
    let (again, _) = start(&webhook_manifest(&webhook, &verifier), "deps-again", Clock::virtual_at(UNIX_EPOCH + Duration::from_secs(now as u64))).await;
    assert_eq!(request(again.local_addr(), "POST", "/webhooks/factory", "{}").await.status, 401);
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependency_errors_fail_the_load() {
    let (Some(webhook), Some(health)) = (wasm("fn_factory_webhook.wasm"), wasm("fn_health.wasm")) else {
        return;
    };
    let load_error = |text: String, tag: &'static str| async move {
        match serve(test_config(&text, tag).0).await {
            Ok(_) => panic!("{tag}: served a manifest with a bad dependency"),
            Err(e) => format!("{e:#}"),
        }
    };
    let missing = Path::new("/nonexistent/fn_webhook_verifier.wasm");
    let e = load_error(webhook_manifest(&webhook, missing), "deps-missing").await;
    assert!(
        e.contains("[component.factory-webhook] dependencies.\"caas:platform/webhook-signature@0.1.0\"")
            && e.contains("/nonexistent/fn_webhook_verifier.wasm")
            && e.contains("not found"),
        "{e}"
    );
    // A component that does not export the import (health exports only the HTTP handler).
    let e = load_error(webhook_manifest(&webhook, &health), "deps-no-export").await;
    assert!(e.contains("does not export \"caas:platform/webhook-signature@0.1.0\""), "{e}");
    // A dependency that matches no import of its component.
    let e = load_error(webhook_manifest(&webhook, &health).replace("webhook-signature@0.1.0", "other@0.1.0"), "deps-unmatched").await;
    assert!(e.contains("matches no import of component 'factory-webhook'"), "{e}");
}
