//! Benchmark (not a test): requests/second and latency percentiles through the local runtime for
//!  1. a native hyper "hello" server (the floor: what the machine and the load generator can do),
//!  2. the trivial `/health` component (runtime overhead per request = 1/rps(2) - 1/rps(1)),
//!  3. the sale-registration route (`POST /api/sales`: one SQLite transaction; since issue 9 no
//!     password is hashed at the sale, the customer sets one through the e-mailed link).
//!  4. `GET /api/auth/me` (a session read from key-value storage) on one runtime with its stores in
//!     files, then on one and on two replicas sharing a Redis key-value store (Debian's
//!     `redis-server`, started here on a free port) and one SQLite file (Spin runtime configuration).
//! Results are written as a Markdown table (`--out`), as ratios to the native floor.
//! If `wrk` is installed, the /health figure is also measured with `wrk -t2 -c32` for comparison
//! with the figure for real Spin quoted in the README.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use tokio::net::{TcpListener, TcpStream};

struct Figures {
    requests: u64,
    errors: u64,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Figures {
    fn rps(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

type MakeReq = Arc<dyn Fn(u64) -> Request<Full<Bytes>> + Send + Sync>;

/// Closed-loop load: `conns` keep-alive connections, each sending the next request when the last answered.
async fn load(addr: SocketAddr, conns: usize, dur: Duration, make: MakeReq) -> Result<Figures> {
    let counter = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let make = make.clone();
        let counter = counter.clone();
        let errors = errors.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(100_000);
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            while start.elapsed() < dur {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                let resp = sender.send_request(make(n)).await?;
                let ok = resp.status().is_success();
                let _ = resp.into_body().collect().await?;
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                lat.push(t0.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0);
    Ok(Figures { requests: all.len() as u64, errors: errors.load(Ordering::Relaxed), secs, p50_ms: pct(0.50), p99_ms: pct(0.99) })
}

async fn native_hello() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}"))))
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(s), svc).await;
            });
        }
    });
    Ok(addr)
}

fn wrk(url: &str) -> Option<String> {
    let out = std::process::Command::new("wrk").args(["-t2", "-c32", "-d5s", "--latency", url]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).cloned();
    let secs: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dur = Duration::from_secs(secs);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();

    let sims = caas_sim::Sims::start(caas_sim::SimConfig {
        app_url: None,
        factory_webhook_secret: "b".into(),
        payment_webhook_secret: "b".into(),
        ports: None,
        auto_webhooks: false,
        clock: None,
    })
    .await?;
    let state = tempfile::tempdir()?;
    let mut cfg = caas_runtime::Config::new(root.join("spin.toml"));
    cfg.listen = "127.0.0.1:0".parse()?;
    cfg.state_dir = state.path().to_path_buf();
    cfg.log_requests = false;
    cfg.cache_dir = Some(root.join("target/caas-runtime-cache"));
    let emp = caas_domain::password::hash_password("bench-pass", &[1u8; 16]).map_err(|e| anyhow::anyhow!("{e}"))?;
    cfg.variables = BTreeMap::from([
        ("notify_url".to_string(), sims.notify_url()),
        // Development mode: the bench's staff account is seeded, development secrets accepted.
        ("dev_mode".to_string(), "true".to_string()),
        ("seed_employees".to_string(), format!("bench@caas.test:{emp}:employee")),
    ]);
    let app = caas_runtime::serve(cfg).await.context("start runtime")?;
    let addr = app.local_addr();

    let native = native_hello().await?;
    let get = |path: &'static str| -> MakeReq {
        Arc::new(move |_| Request::get(path).header("host", "127.0.0.1").body(Full::new(Bytes::new())).unwrap())
    };
    let conns = 32;
    eprintln!("native hello…");
    let f_native = load(native, conns, dur, get("/health")).await?;
    eprintln!("/health through the runtime…");
    let _warm = load(addr, conns, Duration::from_secs(1), get("/health")).await?;
    let f_health = load(addr, conns, dur, get("/health")).await?;

    // Log in once, then register distinct sales.
    let login = Request::post("/api/auth/login")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::from(r#"{"email":"bench@caas.test","password":"bench-pass"}"#)))?;
    let stream = TcpStream::connect(addr).await?;
    let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let body = s.send_request(login).await?.into_body().collect().await?.to_bytes();
    let token = serde_json::from_slice::<serde_json::Value>(&body)?["token"].as_str().context("login token")?.to_string();
    let token = Arc::new(token);
    let me_token = token.clone();
    let run = std::process::id();
    let sale: MakeReq = Arc::new(move |n| {
        let body = serde_json::json!({
            "customer": {"full_name": "Bench Customer", "email": format!("bench.{run}.{n}@example.com"), "phone": "+34600111222", "national_id": format!("B{n:07}")},
            "delivery_address": {"line1": "Calle 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
            "country": "ES", "model": "CAAS-SEDAN-24", "plan_options": [],
            "prices": {"vehicle_price_minor": 3_450_000, "deposit_minor": 150_000, "currency": "EUR"}
        });
        Request::post("/api/sales")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", format!("bench-{run}-{n}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    });
    eprintln!("POST /api/sales through the runtime…");
    let f_sales = load(addr, 4, dur, sale).await?;

    let me = |token: Arc<String>| -> MakeReq {
        Arc::new(move |_| {
            Request::get("/api/auth/me").header("host", "127.0.0.1").header("authorization", format!("Bearer {token}")).body(Full::new(Bytes::new())).unwrap()
        })
    };
    eprintln!("GET /api/auth/me through the runtime…");
    let f_me = load(addr, conns, dur, me(me_token)).await?;

    // One and two replicas over Redis + one SQLite file (skipped when redis-server is missing).
    let mut replica_rows = Vec::new();
    match replicas(&root, &sims, &emp, dur, conns, &me).await {
        Ok(rows) => replica_rows = rows,
        Err(e) => eprintln!("replicas skipped: {e:#}"),
    }

    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    // Closed loop with every core busy: CPU time per request = cores / (req/s).
    let overhead_us = (cores / f_health.rps() - cores / f_native.rps()) * 1e6;
    let mut md = String::new();
    md.push_str(&format!("# Benchmark ({}s per case, closed loop, loopback, {} cores)\n\n", secs, std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)));
    md.push_str("| case | conns | requests | errors | req/s | p50 ms | p99 ms | vs native |\n|---|---|---|---|---|---|---|---|\n");
    let mut rows: Vec<(String, usize, &Figures)> = vec![
        ("native hyper hello (floor)".into(), conns, &f_native),
        ("GET /health component".into(), conns, &f_health),
        ("POST /api/sales".into(), 4, &f_sales),
        ("GET /api/auth/me (session in a KV file)".into(), conns, &f_me),
    ];
    for (name, f) in &replica_rows {
        rows.push((name.clone(), conns, f));
    }
    for (name, c, f) in rows {
        md.push_str(&format!(
            "| {name} | {c} | {} | {} | {:.0} | {:.2} | {:.2} | {:.3} |\n",
            f.requests, f.errors, f.rps(), f.p50_ms, f.p99_ms, f.rps() / f_native.rps()
        ));
    }
    md.push_str(&format!(
        "\nRuntime cost per request over the native floor (fresh component instance + WASI HTTP), CPU time: {overhead_us:.1} µs.\n"
    ));
    if let Some(w) = wrk(&format!("http://{addr}/health")) {
        md.push_str("\n`wrk -t2 -c32 -d5s --latency /health` (same machine; the load generator shares the 2 cores):\n\n```\n");
        md.push_str(&w);
        md.push_str("```\n");
    }
    println!("{md}");
    if let Some(p) = out {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap())?;
        std::fs::write(&p, &md)?;
        eprintln!("wrote {}", p.display());
    }
    app.shutdown().await;
    sims.shutdown().await;
    Ok(())
}

/// `GET /api/auth/me` on one replica, then on two replicas (round-robin: half the connections
/// each) sharing a Redis key-value store and one SQLite file; the session is made once, on the
/// first replica. Returns the table rows (the two-replica figure sums both).
async fn replicas(
    root: &std::path::Path,
    sims: &caas_sim::Sims,
    emp_hash: &str,
    dur: Duration,
    conns: usize,
    me: &dyn Fn(Arc<String>) -> MakeReq,
) -> Result<Vec<(String, Figures)>> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut redis = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("redis-server (make redis installs it)")?;
    let result = async {
        let config = dir.path().join("runtime-config.toml");
        std::fs::write(
            &config,
            format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n[sqlite_database.default]\ntype = \"spin\"\npath = \"app.db\"\n"),
        )?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut apps = Vec::new();
        for i in 0..2 {
            let mut cfg = caas_runtime::Config::new(root.join("spin.toml"));
            cfg.listen = "127.0.0.1:0".parse()?;
            cfg.state_dir = dir.path().join(format!("replica-{i}"));
            cfg.log_requests = false;
            cfg.cache_dir = Some(root.join("target/caas-runtime-cache"));
            cfg.runtime_config = Some(config.clone());
            cfg.variables = BTreeMap::from([
                ("notify_url".to_string(), sims.notify_url()),
                ("dev_mode".to_string(), "true".to_string()),
                ("seed_employees".to_string(), format!("bench@caas.test:{emp_hash}:employee")),
            ]);
            apps.push(caas_runtime::serve(cfg).await.context("start replica")?);
        }
        let (a, b) = (apps[0].local_addr(), apps[1].local_addr());
        let stream = TcpStream::connect(a).await?;
        let (mut s, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        let login = Request::post("/api/auth/login")
            .header("host", "127.0.0.1")
            .body(Full::new(Bytes::from(r#"{"email":"bench@caas.test","password":"bench-pass"}"#)))?;
        let body = s.send_request(login).await?.into_body().collect().await?.to_bytes();
        let token = Arc::new(serde_json::from_slice::<serde_json::Value>(&body)?["token"].as_str().context("login token")?.to_string());
        eprintln!("GET /api/auth/me, one replica over redis…");
        let one = load(a, conns, dur, me(token.clone())).await?;
        eprintln!("GET /api/auth/me, two replicas over redis…");
        let (fa, fb) = tokio::join!(load(a, conns / 2, dur, me(token.clone())), load(b, conns / 2, dur, me(token.clone())));
        let (fa, fb) = (fa?, fb?);
        let two = Figures {
            requests: fa.requests + fb.requests,
            errors: fa.errors + fb.errors,
            secs: fa.secs.max(fb.secs),
            p50_ms: fa.p50_ms.max(fb.p50_ms),
            p99_ms: fa.p99_ms.max(fb.p99_ms),
        };
        for app in apps {
            app.shutdown().await;
        }
        Ok::<_, anyhow::Error>(vec![
            ("GET /api/auth/me, 1 replica (Redis KV + shared SQLite)".to_string(), one),
            ("GET /api/auth/me, 2 replicas round-robin (same stores; p50/p99 the worse)".to_string(), two),
        ])
    }
    .await;
    let _ = redis.kill();
    let _ = redis.wait();
    result
}
