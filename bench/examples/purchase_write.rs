//! The purchase write path (issue 11), on its own: one customer with many cars
//! (`caas_bench::purchase`), one login, then `POST /api/services` under closed-loop load — one
//! new purchase of a one-time option per request — and the result checked by SQL (one service
//! per 2xx answer, each charged once) and against the payment gateway simulator.
//!
//! `cargo build --release -p caas-runtime -p caas-bench --bins --examples` first (the runtime runs
//! as its own process), then
//! `target/release/examples/purchase_write [--vehicles 5000] [--conns 8] [--secs 5] [OPTION…]`
//! (options default to `parking-assist`, no maintenance check, and `highway-autopilot`, which asks
//! VSS first; both on the same cars, so each purchase is new).
use anyhow::{Context, Result, ensure};
use caas_bench::app;
use caas_bench::load::{Figures, load};
use caas_bench::proc::{RuntimeOpts, RuntimeProc};
use caas_bench::purchase::{self, Seeded};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Parsed command line.
struct Args {
    vehicles: usize,
    conns: usize,
    secs: u64,
    options: Vec<String>,
}

fn args() -> Result<Args> {
    let mut a = Args { vehicles: 5000, conns: 8, secs: 5, options: Vec::new() };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut num = |name: &str| -> Result<u64> {
            let v = it.next().with_context(|| format!("{name} needs a value"))?;
            v.replace(['_', ','], "").parse().with_context(|| format!("{name} {v:?}: expected a number"))
        };
        match arg.as_str() {
            "--vehicles" => a.vehicles = num("--vehicles")? as usize,
            "--conns" => a.conns = num("--conns")? as usize,
            "--secs" => a.secs = num("--secs")?,
            code => a.options.push(code.to_string()),
        }
    }
    if a.options.is_empty() {
        a.options = vec![purchase::OPTION_NO_VSS.to_string(), purchase::OPTION_WITH_VSS.to_string()];
    }
    Ok(a)
}

/// One option's run.
struct OptionRun {
    code: String,
    /// What the first purchase answered (status, service state).
    first: (u16, String),
    f: Figures,
    cpu_us: f64,
    written: purchase::Written,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let a = args()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?.to_path_buf();
    let sims = app::start_sims().await?;
    let result = run(&root, &sims, &a).await;
    sims.shutdown().await;
    let (runs, seed_secs, login_ms) = result?;

    println!(
        "purchase write path: {} cars seeded in {seed_secs:.2} s; customer login {login_ms:.0} ms; {} connections, {} s per option",
        a.vehicles, a.conns, a.secs
    );
    for r in &runs {
        println!(
            "{:<18} {:>6} requests  {:>3} errors  {:>6.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms  runtime CPU {:>6.0} µs/req  \
             first answer {} {}; written {} services {:?}, {} ledger charges, {} minor units",
            r.code,
            r.f.requests,
            r.f.errors,
            r.f.rps(),
            r.f.p50_ms,
            r.f.p99_ms,
            r.cpu_us,
            r.first.0,
            r.first.1,
            r.written.services,
            r.written.states,
            r.written.ledger_charges,
            r.written.charged_minor,
        );
    }
    Ok(())
}

async fn run(root: &std::path::Path, sims: &caas_sim::Sims, a: &Args) -> Result<(Vec<OptionRun>, f64, f64)> {
    let state = tempfile::tempdir()?;
    // The bench's employee (as `make bench`): its login is the first request that opens, and so
    // migrates, the database.
    let variables = app::app_variables(sims, &app::employee_hash()?);
    let (r, s) = (root.to_path_buf(), state.path().to_path_buf());
    let rt = tokio::task::spawn_blocking(move || RuntimeProc::start(RuntimeOpts { root: &r, state_dir: &s, variables, runtime_config: None })).await??;
    let addr = rt.addr();
    app::login(addr, app::EMPLOYEE_EMAIL, app::EMPLOYEE_PASSWORD).await.context("employee login (migrates the database)")?;

    let db_path = state.path().join("sqlite_db.db");
    let (p, n) = (db_path.clone(), a.vehicles);
    let t = Instant::now();
    let seeded: Seeded = tokio::task::spawn_blocking(move || purchase::seed_customer_with_vehicles(&p, n)).await??;
    let seed_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let session = app::login(addr, &seeded.email, &seeded.password).await.context("customer login")?;
    let login_ms = t.elapsed().as_secs_f64() * 1000.0;
    ensure!(session["must_change_password"] == false, "the seeded customer got a restricted session: {session}");
    let token = Arc::new(session["token"].as_str().context("login token")?.to_string());

    let dur = Duration::from_secs(a.secs);
    let mut runs = Vec::new();
    for code in &a.options {
        eprintln!("POST /api/services {code}…");
        let make = purchase::purchase_request(token.clone(), &seeded, code);
        // The first purchase alone: what a purchase answers.
        let (status, body) = app::send(addr, make(0)).await?;
        ensure!((200..300).contains(&status), "the first purchase of {code} answered {status}: {body}");
        let first = (status, body["state"].as_str().unwrap_or("?").to_string());
        // Warm-up, then the measured run (as `make bench`'s `measured`).
        let warm = load(addr, a.conns, Duration::from_millis(700), make.clone()).await?;
        let cpu0 = rt.cpu_time();
        let f = load(addr, a.conns, dur, make).await?;
        let cpu_us = (rt.cpu_time() - cpu0).as_secs_f64() * 1e6 / f.requests.max(1) as f64;
        let sent = 1 + warm.requests + f.requests;
        ensure!(warm.errors == 0 && f.errors == 0, "{code}: {} + {} purchases were not 2xx", warm.errors, f.errors);
        ensure!(sent <= seeded.vins.len() as u64, "{code}: {sent} purchases for {} cars: seed more cars", seeded.vins.len());

        let (p, s, c) = (db_path.clone(), seeded.clone(), code.clone());
        let written = tokio::task::spawn_blocking(move || purchase::verify_purchases(&p, &s, &c, sent)).await??;
        // And at the gateway: one live payment per purchase, none voided.
        let amount = price(code).with_context(|| format!("no option {code} in the catalog"))?;
        let at_gateway: Vec<Value> = sims
            .payment()
            .payments()
            .into_iter()
            .filter(|p| p["kind"] == "service" && p["customer-id"] == seeded.customer_id.as_str() && p["amount-minor"] == amount)
            .collect();
        ensure!(
            at_gateway.len() as i64 == written.services && at_gateway.iter().all(|p| p["status"] == "pending"),
            "{code}: {} gateway payments ({} pending) for {} services",
            at_gateway.len(),
            at_gateway.iter().filter(|p| p["status"] == "pending").count(),
            written.services
        );
        runs.push(OptionRun { code: code.clone(), first, f, cpu_us, written });
    }
    drop(rt);
    Ok((runs, seed_secs, login_ms))
}

/// The option's catalog price in minor units (the example's options differ in price, so a
/// gateway payment tells which option it paid for).
fn price(code: &str) -> Option<i64> {
    caas_domain::services::catalog::seed_catalog().options.into_iter().find(|o| o.code == code).map(|o| o.price.amount_minor)
}
