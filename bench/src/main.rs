//! Benchmark (not a test): requests/second, latency percentiles, CPU time and memory of the
//! local runtime (`target/release/caas-runtime`, a child process) serving the app's components,
//! each data route beside a native baseline doing the same work (`caas_bench::native`):
//!  1. a native hyper "hello" server (the floor: what the machine and the load generator can do)
//!     and the trivial `/health` component;
//!  2. `GET /api/auth/me` (session in the key-value store, account in SQLite) and `GET /api/catalog`
//!     (session + catalog rows), native and through the runtime;
//!  3. the write path: `POST /api/sales` (one SQLite transaction; no password is hashed at the
//!     sale) and the cost of one Argon2id hash (login), stated separately;
//!  4. `GET /api/auth/me` on one and on two replicas sharing a Redis key-value store (Debian's
//!     `redis-server`, started here on a free port) and one SQLite file (Spin runtime configuration);
//!  5. the runtime's resident memory idle and under load;
//!  6. the billing tick over 1,000 / 10,000 / 100,000 subscriptions (`caas_bench::billing`).
//! Results are written as a Markdown table (`--out`). If `wrk` is installed, `/health` is also
//! measured with `wrk -t2 -c32` for comparison with the figure for real Spin in the README.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use caas_bench::app;
use caas_bench::load::{Figures, MakeReq, load};
use caas_bench::proc::{RuntimeOpts, RuntimeProc};

fn wrk(url: &str) -> Option<String> {
    let out = std::process::Command::new("wrk").args(["-t2", "-c32", "-d5s", "--latency", url]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// One row of the results table.
struct Row {
    case: String,
    conns: usize,
    f: Figures,
    /// The native figure this case is compared with (req/s), if any.
    native_rps: Option<f64>,
    /// Runtime CPU time per request, µs (None for native cases).
    cpu_us: Option<f64>,
}

/// Runs `make` against the runtime process, also returning its CPU time per request.
async fn measured(rt: &RuntimeProc, conns: usize, dur: Duration, make: MakeReq) -> Result<(Figures, f64)> {
    let _warm = load(rt.addr(), conns, Duration::from_millis(700), make.clone()).await?;
    let cpu0 = rt.cpu_time();
    let f = load(rt.addr(), conns, dur, make).await?;
    let cpu = (rt.cpu_time() - cpu0).as_secs_f64() * 1e6 / f.requests.max(1) as f64;
    Ok((f, cpu))
}

fn get(path: &'static str, token: Option<Arc<String>>) -> MakeReq {
    Arc::new(move |_| {
        let mut r = Request::get(path).header("host", "127.0.0.1");
        if let Some(t) = &token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.body(Full::new(Bytes::new())).unwrap()
    })
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.iter().position(|a| a == "--out").and_then(|i| args.get(i + 1)).cloned();
    let secs: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let dur = Duration::from_secs(secs);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);

    let sims = app::start_sims().await?;
    let state = tempfile::tempdir()?;
    let t_argon = Instant::now();
    let emp = app::employee_hash()?;
    let argon_native_ms = t_argon.elapsed().as_secs_f64() * 1000.0;
    let vars = app::app_variables(&sims, &emp);
    let t_start = Instant::now();
    let rt = RuntimeProc::start(RuntimeOpts { root: &root, state_dir: state.path(), variables: vars.clone(), runtime_config: None })?;
    let start_secs = t_start.elapsed().as_secs_f64();
    let addr = rt.addr();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = rt.rss_mib();

    let conns = 32;
    let mut rows: Vec<Row> = Vec::new();
    eprintln!("native hello…");
    let native_hello = caas_bench::native::hello().await?;
    let f_native = load(native_hello, conns, dur, get("/health", None)).await?;
    let hello_rps = f_native.rps();
    rows.push(Row { case: "native hyper hello (floor)".into(), conns, f: f_native, native_rps: None, cpu_us: None });

    rt.reset_peak();
    eprintln!("/health through the runtime…");
    let (f, cpu) = measured(&rt, conns, dur, get("/health", None)).await?;
    rows.push(Row { case: "GET /health component".into(), conns, f, native_rps: Some(hello_rps), cpu_us: Some(cpu) });

    // The bench's employee (seeded in development mode at the first login).
    let t_login = Instant::now();
    let token = Arc::new(app::login_token(addr, app::EMPLOYEE_EMAIL, app::EMPLOYEE_PASSWORD).await?);
    let login_ms = t_login.elapsed().as_secs_f64() * 1000.0;
    // The catalog is seeded by its first reader; the native baseline reads the same rows.
    let _ = load(addr, 1, Duration::from_millis(200), get("/api/catalog", Some(token.clone()))).await?;

    let native = caas_bench::native::serve(state.path()).await?;
    let mut me_native_rps = 0.0;
    for (path, name) in [("/api/auth/me", "GET /api/auth/me (session in KV + account in SQLite)"), ("/api/catalog", "GET /api/catalog (session + SQLite read)")] {
        eprintln!("{path}: native baseline…");
        let _warm = load(native, conns, Duration::from_millis(700), get(path, Some(token.clone()))).await?;
        let fnat = load(native, conns, dur, get(path, Some(token.clone()))).await?;
        anyhow::ensure!(fnat.errors == 0, "the native baseline failed {path} {} times", fnat.errors);
        let native_rps = fnat.rps();
        if path == "/api/auth/me" {
            me_native_rps = native_rps;
        }
        rows.push(Row { case: format!("native {path} (hyper + rusqlite)"), conns, f: fnat, native_rps: None, cpu_us: None });
        eprintln!("{path} through the runtime…");
        let (f, cpu) = measured(&rt, conns, dur, get(path, Some(token.clone()))).await?;
        rows.push(Row { case: name.into(), conns, f, native_rps: Some(native_rps), cpu_us: Some(cpu) });
    }
    let rss_load = rt.peak_rss_mib();

    // The same reads with a fresh instance per request (`--max-instance-reuse-count 1`: how this
    // runtime ran before it reused instances as Spin 4 does), on the same files.
    {
        let opts = RuntimeOpts { root: &root, state_dir: state.path(), variables: vars.clone(), runtime_config: None };
        let fresh = RuntimeProc::start_with_args(opts, &["--max-instance-reuse-count".to_string(), "1".to_string()])?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (path, auth, native_rps) in [("/health", None, hello_rps), ("/api/auth/me", Some(token.clone()), me_native_rps)] {
            eprintln!("{path}, a fresh instance per request…");
            let (f, cpu) = measured(&fresh, conns, dur, get(path, auth)).await?;
            rows.push(Row { case: format!("GET {path}, a fresh instance per request (--max-instance-reuse-count 1)"), conns, f, native_rps: Some(native_rps), cpu_us: Some(cpu) });
        }
    }

    let run = std::process::id();
    let sale_token = token.clone();
    let sale: MakeReq = Arc::new(move |n| {
        let body = serde_json::json!({
            "customer": {"full_name": "Bench Customer", "email": format!("bench.{run}.{n}@example.com"), "phone": "+34600111222", "national_id": format!("B{n:07}")},
            "delivery_address": {"line1": "Calle 1", "city": "Madrid", "postal_code": "28013", "country": "ES"},
            "country": "ES", "model": "CAAS-SEDAN-24", "plan_options": [],
            "prices": {"vehicle_price_minor": 3_450_000, "deposit_minor": 150_000, "currency": "EUR"}
        });
        Request::post("/api/sales")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {sale_token}"))
            .header("idempotency-key", format!("bench-{run}-{n}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap()
    });
    eprintln!("POST /api/sales through the runtime…");
    let (f, cpu) = measured(&rt, 8, dur, sale).await?;
    rows.push(Row { case: "POST /api/sales (one SQLite transaction + outbox e-mail)".into(), conns: 8, f, native_rps: None, cpu_us: Some(cpu) });

    // A purchase (one customer owning many operational cars: each request buys the option for
    // another car): the gateway payment, the service, the ledger row and the OTA job, checked by
    // SQL afterwards (one service and one ledger charge per 2xx answer, none twice).
    use caas_bench::purchase;
    let db_path = state.path().join("sqlite_db.db");
    let seeded = purchase::seed_customer_with_vehicles(&db_path, 8000)?;
    let customer = Arc::new(app::login_token(addr, &seeded.email, &seeded.password).await?);
    let buy = purchase::purchase_request(customer, &seeded, purchase::OPTION_NO_VSS);
    eprintln!("purchases through the runtime…");
    let warm = load(addr, 8, Duration::from_millis(700), buy.clone()).await?;
    let cpu0 = rt.cpu_time();
    let f = load(addr, 8, dur, buy).await?;
    let cpu = (rt.cpu_time() - cpu0).as_secs_f64() * 1e6 / f.requests.max(1) as f64;
    let answered = warm.requests - warm.errors + f.requests - f.errors;
    let written = purchase::verify_purchases(&db_path, &seeded, purchase::OPTION_NO_VSS, answered)?;
    rows.push(Row {
        case: format!(
            "POST /api/services (a purchase: gateway payment, service, ledger row, OTA job; {} services and {} ledger charges checked)",
            written.services, written.ledger_charges
        ),
        conns: 8,
        f,
        native_rps: None,
        cpu_us: Some(cpu),
    });

    // One and two replicas over Redis + one SQLite file (skipped when redis-server is missing).
    match replicas(&root, &vars, dur, conns).await {
        Ok(r) => rows.extend(r),
        Err(e) => eprintln!("replicas skipped: {e:#}"),
    }

    let mut md = String::new();
    md.push_str(&format!("# Benchmark ({secs}s per case, closed loop, loopback, {cores} cores, release-lto build)\n\n"));
    md.push_str(
        "Each component case is compared with its native counterpart (`vs native`: the component's req/s over the \
         native server's doing the same work on the same files; `/health` over the native hello floor). \
         `runtime CPU` is the runtime process's CPU time per request (user + system).\n\n",
    );
    md.push_str("| case | conns | requests | errors | req/s | p50 ms | p99 ms | vs native | runtime CPU µs/req |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |\n",
            r.case,
            r.conns,
            r.f.requests,
            r.f.errors,
            r.f.rps(),
            r.f.p50_ms,
            r.f.p99_ms,
            r.native_rps.map(|n| format!("{:.2}", r.f.rps() / n)).unwrap_or_else(|| "—".into()),
            r.cpu_us.map(|c| format!("{c:.0}")).unwrap_or_else(|| "—".into()),
        ));
    }
    md.push_str(&format!(
        "\nPassword hashing (Argon2id, the app's parameters): {argon_native_ms:.0} ms natively for one hash; \
         the first `POST /api/auth/login` through the runtime (hash check in Wasm, plus seeding the staff account) took {login_ms:.0} ms. \
         Since issue 9 a sale hashes no password (the customer sets one through the e-mailed link), so `POST /api/sales` above carries no Argon2 cost.\n"
    ));
    md.push_str(&format!(
        "\nRuntime process: started and listening in {start_secs:.2} s (compiled components from the cache); resident memory idle {rss_idle:.0} MiB, \
         peak under the 32-connection loads above {rss_load:.0} MiB.\n"
    ));
    if let Some(w) = wrk(&format!("http://{addr}/health")) {
        md.push_str("\n`wrk -t2 -c32 -d5s --latency /health` (same machine; the load generator shares the 2 cores):\n\n```\n");
        md.push_str(&w);
        md.push_str("```\n");
    }
    drop(rt);

    // Billing at scale, each size on its own runtime (BENCH_BILLING_SIZES=1000,10000 for a short run).
    let sizes: Vec<usize> = std::env::var("BENCH_BILLING_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    if !sizes.is_empty() {
        md.push('\n');
        md.push_str(&caas_bench::billing::billing_scale(&root, &sizes).await.context("billing run")?);
    }
    println!("{md}");
    if let Some(p) = out {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap())?;
        std::fs::write(&p, &md)?;
        eprintln!("wrote {}", p.display());
    }
    sims.shutdown().await;
    Ok(())
}

/// `GET /api/auth/me` on one replica, then on two replicas (round-robin: half the connections
/// each) sharing a Redis key-value store and one SQLite file; the session is made once, on the
/// first replica. Returns the table rows (the two-replica figure sums both).
async fn replicas(root: &std::path::Path, vars: &[(String, String)], dur: Duration, conns: usize) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let redis = caas_bench::proc::Redis::start()?;
    let config = dir.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n[sqlite_database.default]\ntype = \"spin\"\npath = \"app.db\"\n", redis.url()),
    )?;
    let mut apps = Vec::new();
    for i in 0..2 {
        let state_dir = dir.path().join(format!("replica-{i}"));
        apps.push(RuntimeProc::start(RuntimeOpts { root, state_dir: &state_dir, variables: vars.to_vec(), runtime_config: Some(&config) })?);
    }
    let (a, b) = (&apps[0], &apps[1]);
    let token = Arc::new(app::login_token(a.addr(), app::EMPLOYEE_EMAIL, app::EMPLOYEE_PASSWORD).await?);
    let me = || get("/api/auth/me", Some(token.clone()));
    eprintln!("GET /api/auth/me, one replica over redis…");
    let (one, cpu) = measured(a, conns, dur, me()).await?;
    eprintln!("GET /api/auth/me, two replicas over redis…");
    let (fa, fb) = tokio::join!(load(a.addr(), conns / 2, dur, me()), load(b.addr(), conns / 2, dur, me()));
    let (fa, fb) = (fa?, fb?);
    let two = Figures {
        requests: fa.requests + fb.requests,
        errors: fa.errors + fb.errors,
        secs: fa.secs.max(fb.secs),
        p50_ms: fa.p50_ms.max(fb.p50_ms),
        p99_ms: fa.p99_ms.max(fb.p99_ms),
    };
    Ok(vec![
        Row { case: "GET /api/auth/me, 1 replica (Redis KV + shared SQLite)".into(), conns, f: one, native_rps: None, cpu_us: Some(cpu) },
        Row { case: "GET /api/auth/me, 2 replicas round-robin (same stores; p50/p99 the worse)".into(), conns, f: two, native_rps: None, cpu_us: None },
    ])
}
