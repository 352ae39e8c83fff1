//! Billing at scale (issue 11): N active monthly subscriptions billed by the billing tick
//! (`POST /internal/ticks/billing`, component `functions/billing-tick`) in bounded runs of at most
//! 1000 gateway charges per request, repeated until the report says `more: false`.
//!
//! Per size: fresh simulators, a fresh state directory and a fresh `caas-runtime up` process (so
//! that its resident memory and CPU time are the run's alone) on a fixed business date,
//! 2026-12-01T03:00Z. The first tick migrates the empty database; then N customers, orders,
//! vehicles, app links and subscription services are written straight into its SQLite file in one
//! transaction — rows shaped like the ones the sale, the app link, the purchase component and the
//! OTA activation write — each subscription activated on some day of November, so that exactly
//! one period (November, pro rata from the activation) is due. Then the ticks are timed, and the
//! result is checked by SQL and against the payment gateway simulator: exactly N charged periods,
//! N ledger charges with the expected total, N gateway payments. A run that bills wrongly fails
//! instead of reporting a figure.
use crate::proc::{RuntimeOpts, RuntimeProc};
use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use caas_domain::credentials::NO_PASSWORD;
use caas_domain::ids::{IdKind, make_id};
use caas_domain::order::OrderStatus;
use caas_domain::services::billing::{Period, SubscriptionTerms, charges_due};
use caas_domain::services::calendar::midnight_ms;
use caas_domain::services::catalog::{self, AvailabilityContext, MaintenanceStatus, OptionKind, OptionStatus, ServiceOption};
use caas_domain::services::lifecycle::ServiceEvent;
use caas_domain::services::ota::{OtaAction, command_id};
use caas_domain::vehicle::VehicleStatus;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// The bench's tick secret (given to the runtime as `tick_secret`).
const TICK_SECRET: &str = "bench-tick-secret";
/// Gateway charges per tick request (`billing-tick`'s `MAX_CHARGES_PER_TICK`): only used to
/// bound the number of requests a run may take before it is declared stuck.
const CHARGES_PER_TICK: usize = 1000;
const MS_PER_HOUR: i64 = 3_600_000;

/// Business time when the runtime starts: 2026-12-01T03:00:00Z, November complete and due.
fn business_start_ms() -> i64 {
    midnight_ms(2026, 12, 1) + 3 * MS_PER_HOUR
}

/// The period every seeded subscription owes.
fn billed_period() -> Period {
    Period::new(2026, 11).expect("valid period")
}

/// What one size measured.
struct SizeRun {
    subscriptions: usize,
    /// Tick requests of the timed run (the last one answers `more: false`).
    ticks: usize,
    /// Wall time of each tick request, seconds.
    tick_secs: Vec<f64>,
    /// Runtime resident memory after each tick request, MiB: memory that grows with the work
    /// done so far rises through the run; caches warming up level off.
    tick_rss_mib: Vec<f64>,
    /// Wall time from the first tick request to the last answer.
    secs: f64,
    /// Ledger charge rows of the billed period after the run (checked to be exactly N).
    ledger_charges: i64,
    /// Runtime resident memory before the run and its peak during it, MiB.
    rss_before_mib: f64,
    peak_rss_mib: f64,
    /// Runtime CPU time (user + system) during the run.
    cpu_secs: f64,
    /// CPU time of this process during the run: the payment gateway simulator (and the client).
    sim_cpu_secs: f64,
    seed_secs: f64,
}

/// Bills `sizes` subscriptions (each on its own fresh runtime) and returns the Markdown section:
/// one table row per size, then the cost per 1000 subscriptions of each size (linear cost) and
/// the runtime's peak resident memory (flat memory).
pub async fn billing_scale(root: &Path, sizes: &[usize]) -> Result<String> {
    ensure!(!sizes.is_empty(), "no sizes to bill");
    let mut runs = Vec::new();
    for &n in sizes {
        ensure!(n > 0, "a size must be at least one subscription");
        eprintln!("billing {n} subscriptions…");
        let run = bill_one_size(root, n).await.with_context(|| format!("billing run of {n} subscriptions"))?;
        eprintln!(
            "  {n}: {} tick requests, {:.2} s, peak RSS {:.1} MiB, runtime CPU {:.2} s",
            run.ticks, run.secs, run.peak_rss_mib, run.cpu_secs
        );
        runs.push(run);
    }
    Ok(markdown(&runs))
}

/// One size, end to end: simulators + runtime up, migrate, seed, timed ticks, verification.
async fn bill_one_size(root: &Path, n: usize) -> Result<SizeRun> {
    let start_ms = business_start_ms();
    let origin = Instant::now();
    let business_start = UNIX_EPOCH + Duration::from_millis(start_ms as u64);
    // The simulators stamp what they record on the same business clock as the runtime.
    let sims = crate::app::start_sims_on(Some(caas_sim::SimClock::new(move || business_start + origin.elapsed())))
        .await
        .context("start the simulators")?;
    let result = async {
        let state = tempfile::tempdir()?;
        let rt = start_runtime(root, state.path(), &sims, start_ms).await?;
        let addr = rt.addr();

        // Any request that opens the database migrates it; the tick on the empty database does.
        let first = post_tick(addr).await.context("first billing tick (migrates the database)")?;
        ensure!(first["billed"] == 0 && first["more"] == false, "the empty database billed something: {first}");

        let db_path = state.path().join("sqlite_db.db");
        let t_seed = Instant::now();
        let expected = tokio::task::spawn_blocking(move || seed(&db_path, n)).await??;
        let seed_secs = t_seed.elapsed().as_secs_f64();

        rt.reset_peak();
        let rss_before_mib = rt.rss_mib();
        let cpu0 = rt.cpu_time();
        let own_cpu0 = crate::proc::cpu_time(std::process::id());
        let t0 = Instant::now();
        let (mut tick_secs, mut tick_rss_mib) = (Vec::new(), Vec::new());
        let mut billed = 0u64;
        loop {
            // Bounded work per request: a run needing more requests than this is stuck.
            ensure!(tick_secs.len() <= n / CHARGES_PER_TICK + 5, "still `more: true` after {} tick requests", tick_secs.len());
            let t = Instant::now();
            let r = post_tick(addr).await?;
            tick_secs.push(t.elapsed().as_secs_f64());
            tick_rss_mib.push(rt.rss_mib());
            let count = |k: &str| r[k].as_u64().with_context(|| format!("tick report without {k}: {r}"));
            ensure!(count("failed")? == 0 && count("cancelled")? == 0, "charges failed at the gateway: {r}");
            billed += count("billed")?;
            if r["more"] == false {
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu_secs = rt.cpu_time().saturating_sub(cpu0).as_secs_f64();
        let sim_cpu_secs = crate::proc::cpu_time(std::process::id()).saturating_sub(own_cpu0).as_secs_f64();
        // VmHWM is brought up to date lazily: never below what was sampled.
        let peak_rss_mib = tick_rss_mib.iter().copied().fold(rt.peak_rss_mib(), f64::max);
        ensure!(billed == n as u64, "the ticks reported {billed} charges billed, expected {n}");

        let db_path = state.path().join("sqlite_db.db");
        let ledger_charges = tokio::task::spawn_blocking(move || verify(&db_path, n, expected)).await??;
        let gateway: Vec<i64> =
            sims.payment().payments().iter().filter(|p| p["kind"] == "subscription").map(|p| p["amount-minor"].as_i64().unwrap_or(0)).collect();
        let gateway_total: i64 = gateway.iter().sum();
        ensure!(
            gateway.len() == n && gateway_total == expected.total_minor,
            "the payment gateway holds {} subscription payments for {gateway_total} minor units, expected {n} for {}",
            gateway.len(),
            expected.total_minor
        );
        drop(rt);
        Ok(SizeRun {
            subscriptions: n,
            ticks: tick_secs.len(),
            tick_secs,
            tick_rss_mib,
            secs,
            ledger_charges,
            rss_before_mib,
            peak_rss_mib,
            cpu_secs,
            sim_cpu_secs,
            seed_secs,
        })
    }
    .await;
    sims.shutdown().await;
    result
}

/// `target/release/caas-runtime up` on `state`, its business clock at `start_ms`, wired to `sims`
/// with every variable the host tests give the app (`tests/src/lib.rs`, `app_variables`).
async fn start_runtime(root: &Path, state: &Path, sims: &caas_sim::Sims, start_ms: i64) -> Result<RuntimeProc> {
    let mut variables = crate::app::app_variables(sims, &crate::app::employee_hash()?);
    variables.push(("tick_secret".into(), TICK_SECRET.into()));
    let (root, state): (PathBuf, PathBuf) = (root.to_path_buf(), state.to_path_buf());
    let args = vec!["--start-time".to_string(), (start_ms / 1000).to_string()];
    // Waits for the "listening on" line: blocking, off the async workers.
    tokio::task::spawn_blocking(move || {
        RuntimeProc::start_with_args(RuntimeOpts { root: &root, state_dir: &state, variables, runtime_config: None }, &args)
    })
    .await?
}

/// `POST /internal/ticks/billing` with the tick secret; the JSON report
/// `{billed, skipped, failed, cancelled, more}`.
async fn post_tick(addr: SocketAddr) -> Result<Value> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::post("/internal/ticks/billing")
        .header("host", "127.0.0.1")
        .header("authorization", format!("Bearer {TICK_SECRET}"))
        .body(Full::new(Bytes::new()))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("billing tick answered {status}: {}", String::from_utf8_lossy(&body));
    }
    serde_json::from_slice(&body).with_context(|| format!("billing tick report: {}", String::from_utf8_lossy(&body)))
}

// ------------------------------------------------------------------------------------ seeding

/// What the seeded subscriptions owe for [`billed_period`].
#[derive(Debug, Clone, Copy)]
struct Expected {
    /// Sum of the (pro rata) charges.
    total_minor: i64,
}

/// splitmix64: deterministic, well-spread id bytes (real ids are random: rows land all over the
/// primary-key B-trees, as they do in production).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `i`-th id of `kind`: deterministic (a rerun seeds the same rows), shaped like a real one.
pub(crate) fn id(kind: IdKind, i: usize) -> String {
    let a = mix(((kind as u64) << 40) ^ i as u64);
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&a.to_be_bytes());
    b[8..].copy_from_slice(&mix(a).to_be_bytes());
    make_id(kind, &b)
}

/// The catalog rows as `caas_platform::services::load_catalog` seeds them on first read
/// (`insert_option`: the kind stored as its JSON), from the same `data/catalog.json`.
pub(crate) fn seed_catalog(tx: &rusqlite::Transaction<'_>, options: &[ServiceOption], now: i64) -> Result<()> {
    let mut st = tx.prepare(
        "INSERT INTO catalog_options(code, position, feature, name, description, price_minor, currency, kind,
           requires_maintenance, status, created_at, updated_at, billed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(code) DO NOTHING",
    )?;
    for (i, o) in options.iter().enumerate() {
        st.execute(rusqlite::params![
            o.code,
            i as i64,
            o.feature,
            o.name,
            o.description,
            o.price.amount_minor,
            o.price.currency,
            serde_json::to_string(&o.kind)?,
            o.requires_maintenance,
            if o.status == OptionStatus::Retired { "retired" } else { "active" },
            now,
            now,
            o.billed_by.map(|m| m.as_str()),
        ])?;
    }
    Ok(())
}

/// A customer account as [`SoldCars::customer`] writes it.
pub(crate) struct Customer<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub full_name: &'a str,
    pub national_id: &'a str,
    /// An Argon2 PHC string (`caas_domain::password::hash_password`), or `NO_PASSWORD` for an
    /// account nobody logs in to.
    pub password_hash: &'a str,
    pub created_at: i64,
}

/// Prepared inserts of the rows a sale, its delivery and the app link leave behind — the customer
/// account, the order made operational by the link, the assigned vehicle and the link — so that
/// the benchmarks that need customers with cars (billing, purchase) write them the same way.
pub(crate) struct SoldCars<'t> {
    customer: rusqlite::Statement<'t>,
    order: rusqlite::Statement<'t>,
    vehicle: rusqlite::Statement<'t>,
    link: rusqlite::Statement<'t>,
}

impl<'t> SoldCars<'t> {
    pub(crate) fn prepare(tx: &'t rusqlite::Transaction<'_>) -> Result<Self> {
        Ok(Self {
            customer: tx.prepare(
                "INSERT INTO customers(id, email, full_name, phone, national_id, address_line1, address_line2, address_city,
                   address_postal_code, address_country, country, password_hash, must_change_password, created_at, language)
                 VALUES (?, ?, ?, '+34600111222', ?, 'Calle Mayor 1', NULL, 'Madrid', '28013', 'ES', 'ES', ?, 0, ?, 'es')",
            )?,
            order: tx.prepare(
                "INSERT INTO orders(id, customer_id, employee_id, status, model, country, currency, vehicle_price_minor,
                   deposit_minor, list_price_minor, discount_minor, created_at, updated_at, vin, plate)
                 VALUES (?, ?, 'emp_bench', ?, 'CAAS-SEDAN-24', 'ES', 'EUR', 3450000, 150000, 3450000, 0, ?, ?, ?, ?)",
            )?,
            vehicle: tx.prepare(
                "INSERT INTO vehicles(vin, model, status, order_id, plate, country, created_at, updated_at)
                 VALUES (?, 'CAAS-SEDAN-24', ?, ?, ?, 'ES', ?, ?)",
            )?,
            link: tx.prepare("INSERT INTO vehicle_links(vin, customer_id, order_id, linked_at) VALUES (?, ?, ?, ?)")?,
        })
    }

    /// The account, with `must_change_password` cleared: a login gets a full session, not the
    /// restricted one of an account still on its set-password link.
    pub(crate) fn customer(&mut self, c: &Customer<'_>) -> Result<()> {
        self.customer.execute(rusqlite::params![c.id, c.email, c.full_name, c.national_id, c.password_hash, c.created_at])?;
        Ok(())
    }

    /// One delivered car of `customer_id`, sold at `sold_at` and app-linked at `linked_at`: the
    /// order `operational`, the vehicle `assigned` to it, the link naming both.
    pub(crate) fn car(&mut self, customer_id: &str, order_id: &str, vin: &str, plate: &str, sold_at: i64, linked_at: i64) -> Result<()> {
        self.order.execute(rusqlite::params![order_id, customer_id, OrderStatus::Operational.as_str(), sold_at, linked_at, vin, plate])?;
        self.vehicle.execute(rusqlite::params![vin, VehicleStatus::Assigned.as_str(), order_id, plate, sold_at, linked_at])?;
        self.link.execute(rusqlite::params![vin, customer_id, order_id, linked_at])?;
        Ok(())
    }
}

/// Writes `n` customers with a delivered, app-linked car and one active subscription each (the
/// flat-priced subscription options of the catalog, in turn), activated on day `1 + i % 30` of
/// November; returns what they owe for November.
fn seed(db_path: &Path, n: usize) -> Result<Expected> {
    let mut db = rusqlite::Connection::open(db_path).with_context(|| format!("open {}", db_path.display()))?;
    db.busy_timeout(Duration::from_secs(30))?;
    // As the runtime's connections: a seeded row that breaks a reference fails here, not later.
    db.execute_batch("PRAGMA foreign_keys = ON")?;
    let cat = catalog::seed_catalog();
    let subscriptions: Vec<&ServiceOption> =
        cat.offered().filter(|o| matches!(o.kind, OptionKind::Subscription) && o.billed_by.is_none()).collect();
    ensure!(!subscriptions.is_empty(), "the seed catalog has no flat-priced subscription");
    // The purchase's own rule gives the snapshot, the initial state and the maintenance decision.
    let plans = subscriptions
        .iter()
        .map(|o| {
            let ctx = AvailabilityContext { owned_by_customer: true, vehicle_operational: true, maintenance: MaintenanceStatus::Unknown, existing: &[] };
            let plan = catalog::plan_purchase(o, &ctx).map_err(|r| anyhow::anyhow!("{} cannot be bought: {r:?}", o.code))?;
            let active = plan.initial_state.transition(ServiceEvent::ActivationSucceeded).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Stored as the purchase stores it: `serde_json::to_string(&plan.snapshot)`.
            let snapshot = serde_json::to_string(&plan.snapshot)?;
            Ok((plan, snapshot, active.as_str()))
        })
        .collect::<Result<Vec<_>>>()?;

    let now = business_start_ms();
    let sold_at = midnight_ms(2026, 9, 1) + 10 * MS_PER_HOUR;
    let tx = db.transaction()?;
    if tx.query_row("SELECT COUNT(*) FROM catalog_options", [], |r| r.get::<_, i64>(0))? == 0 {
        seed_catalog(&tx, &cat.options, sold_at)?;
    }
    let mut cars = SoldCars::prepare(&tx)?;
    let mut service = tx.prepare(
        "INSERT INTO services(id, order_id, customer_id, vin, option_code, feature, kind, source, state, command_id,
           activated_at, ends_at, created_at, updated_at, snapshot, price_minor, currency, purchased_at,
           billing_ends_at, payment_id, payment_status, command_generation, maintenance_decision, last_error)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'purchase', ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0, ?, NULL)",
    )?;
    let mut total_minor = 0i64;
    for i in 0..n {
        let (customer_id, order_id, service_id) = (id(IdKind::Customer, i), id(IdKind::Order, i), id(IdKind::Service, i));
        let vin = format!("WCB{i:014}");
        let plate = format!("{:04}BCD", i % 10_000);
        let linked_at = midnight_ms(2026, 10, 15) + 12 * MS_PER_HOUR;
        let customer = Customer {
            id: &customer_id,
            email: &format!("billing.bench.{i}@example.com"),
            full_name: &format!("Bench Customer {i}"),
            national_id: &format!("B{i:08}"),
            password_hash: NO_PASSWORD,
            created_at: sold_at,
        };
        cars.customer(&customer)?;
        cars.car(&customer_id, &order_id, &vin, &plate, sold_at, linked_at)?;

        let (plan, snapshot, active) = &plans[i % plans.len()];
        let o = &plan.snapshot;
        // Bought some morning in November, switched on by the OTA engine 90 s later.
        let purchased_at = midnight_ms(2026, 11, 1 + (i % 30) as u32) + 9 * MS_PER_HOUR + (i % 3600) as i64 * 1000;
        let activated_at = purchased_at + 90_000;
        let due = charges_due(
            &SubscriptionTerms { subscription_id: &service_id, price: &o.price, activated_at, billing_ends_at: None, last_billed: None },
            now,
        );
        ensure!(due.len() == 1 && due[0].period == billed_period(), "subscription {i} would owe {due:?}, not one November");
        total_minor += due[0].amount.amount_minor;
        service.execute(rusqlite::params![
            service_id,
            order_id,
            customer_id,
            vin,
            o.code,
            o.feature,
            o.kind.as_str(),
            active,
            command_id(&service_id, OtaAction::Activate, 0),
            activated_at,
            purchased_at,
            activated_at,
            snapshot,
            o.price.amount_minor,
            o.price.currency,
            purchased_at,
            plan.maintenance.as_str(),
        ])?;
    }
    drop((cars, service));
    tx.commit()?;
    Ok(Expected { total_minor })
}

// ------------------------------------------------------------------------------------ checks

/// Rows of `table` matching `filter` (with `?1` = `period`): how many, how many distinct `key`s,
/// and the sum of their `amount_minor`.
fn count_distinct_sum(db: &rusqlite::Connection, table: &str, key: &str, filter: &str, period: &str) -> Result<(i64, i64, i64)> {
    let sql = format!("SELECT COUNT(*), COUNT(DISTINCT {key}), COALESCE(SUM(amount_minor), 0) FROM {table} WHERE {filter}");
    Ok(db.query_row(&sql, [period], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?)
}

/// After the run: every subscription billed exactly once for November, in the app's rows and in
/// the ledger, with the expected total. Returns the ledger's charge rows for the period.
fn verify(db_path: &Path, n: usize, expected: Expected) -> Result<i64> {
    let db = rusqlite::Connection::open(db_path)?;
    db.busy_timeout(Duration::from_secs(30))?;
    let period = billed_period().key();
    let n = n as i64;
    let (rows, distinct, sum) = count_distinct_sum(&db, "subscription_charges", "subscription_id", "status = 'charged' AND period = ?1", &period)?;
    ensure!(
        (rows, distinct, sum) == (n, n, expected.total_minor),
        "subscription_charges: {rows} charged rows for {distinct} subscriptions, {sum} minor units; expected {n}, {n}, {}",
        expected.total_minor
    );
    let other: i64 = db.query_row("SELECT COUNT(*) FROM subscription_charges WHERE status <> 'charged'", [], |r| r.get(0))?;
    ensure!(other == 0, "{other} subscription charges are not `charged`");
    let (ledger, refs, ledger_sum) = count_distinct_sum(&db, "ledger", "reference", "kind = 'charge' AND reference LIKE '%/' || ?1", &period)?;
    ensure!(
        (ledger, refs, ledger_sum) == (n, n, expected.total_minor),
        "ledger: {ledger} charges for {refs} references, {ledger_sum} minor units; expected {n}, {n}, {}",
        expected.total_minor
    );
    let reversed: i64 = db.query_row("SELECT COUNT(*) FROM ledger WHERE kind <> 'charge'", [], |r| r.get(0))?;
    ensure!(reversed == 0, "{reversed} ledger refunds/voids after a clean billing run");
    let payments: i64 = db.query_row("SELECT COUNT(*) FROM payments WHERE kind = 'subscription'", [], |r| r.get(0))?;
    ensure!(payments == n, "{payments} gateway payments recorded, expected {n}");
    let watermarks: i64 = db.query_row("SELECT COUNT(*) FROM services WHERE billed_through = ?1", [&period], |r| r.get(0))?;
    ensure!(watermarks == n, "{watermarks} services billed through {period}, expected {n}");
    Ok(ledger)
}

// ------------------------------------------------------------------------------------ report

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn markdown(runs: &[SizeRun]) -> String {
    let sizes: Vec<String> = runs.iter().map(|r| thousands(r.subscriptions)).collect();
    let mut md = format!("## Billing run: {} subscriptions\n\n", sizes.join(" / "));
    md.push_str(&format!(
        "Each size on a fresh runtime process (`caas-runtime up`, release-lto build) and a fresh database, business time \
         2026-12-01T03:00Z: one active monthly subscription per customer, activated during November, so that exactly \
         November (pro rata) is due. `POST /internal/ticks/billing` is repeated until it answers `more: false` (at most \
         {CHARGES_PER_TICK} gateway charges per request); the payment gateway simulator runs in the benchmark process. \
         Checked after each run: N charged periods, N ledger charges with the expected total, N gateway payments.\n\n"
    ));
    md.push_str("| subscriptions | tick requests | seconds | subscriptions/s | charges in ledger | runtime peak RSS MiB | runtime CPU s |\n");
    md.push_str("|---|---|---|---|---|---|---|\n");
    for r in runs {
        md.push_str(&format!(
            "| {} | {} | {:.2} | {:.0} | {} | {:.1} | {:.2} |\n",
            thousands(r.subscriptions),
            r.ticks,
            r.secs,
            r.subscriptions as f64 / r.secs,
            thousands(r.ledger_charges as usize),
            r.peak_rss_mib,
            r.cpu_secs,
        ));
    }

    // Linear cost: the same seconds (and runtime CPU seconds) per 1000 subscriptions at every size.
    let per_1k = |r: &SizeRun, x: f64| x / r.subscriptions as f64 * 1000.0;
    let each = runs
        .iter()
        .map(|r| format!("{:.2} s ({:.2} s CPU) at {}", per_1k(r, r.secs), per_1k(r, r.cpu_secs), thousands(r.subscriptions)))
        .collect::<Vec<_>>()
        .join(", ");
    let (small, large) = (&runs[0], &runs[runs.len() - 1]);
    let growth = per_1k(large, large.secs) / per_1k(small, small.secs);
    // Whole percent, without a "-0".
    let pct = ((growth - 1.0) * 100.0).round() + 0.0;
    let linear = if runs.len() < 2 {
        String::new()
    } else if (growth - 1.0).abs() <= 0.15 {
        format!(" — linear: {pct:+} % per subscription from {} to {}", sizes[0], sizes[sizes.len() - 1])
    } else {
        format!(
            " — not quite linear: {pct:+} % per subscription from {} to {} (see the tick durations below)",
            sizes[0],
            sizes[sizes.len() - 1]
        )
    };
    // Flat memory: the largest run's resident memory after each tick request. Caches and worker
    // threads warming up raise it early on; memory that grows with the work done keeps rising
    // through the second half of the run too.
    let rss = &large.tick_rss_mib;
    let (first, mid) = (rss[0], rss[rss.len() / 2]);
    let late_max = rss[rss.len() / 2..].iter().copied().fold(mid, f64::max);
    let flat = if late_max - mid <= (mid * 0.05).max(3.0) { "flat (it levels off)" } else { "still rising in the second half of the run" };
    md.push_str(&format!(
        "\nSeconds per 1,000 subscriptions: {each}{linear}. Runtime peak resident memory {:.1} MiB at {} and {:.1} MiB at {}; \
         through the {} run it was {first:.1} MiB after the first tick request, {mid:.1} MiB half-way and at most \
         {late_max:.1} MiB after that: {flat}.\n",
        small.peak_rss_mib,
        sizes[0],
        large.peak_rss_mib,
        sizes[sizes.len() - 1],
        sizes[sizes.len() - 1],
    ));

    // Where the time goes: the tick requests one by one (a tick that reads more rows as the run
    // goes on is slower at the end), memory through the run, the simulator's share of the CPU.
    md.push_str(
        "\n| subscriptions | first tick s | median tick s | last full tick s | RSS before run MiB | RSS after first tick MiB | RSS after last tick MiB | benchmark process CPU s (gateway simulator) | seeding s |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        // The last request bills nothing (it answers `more: false`) unless it is the only one.
        let full = &r.tick_secs[..r.tick_secs.len().saturating_sub(1).max(1)];
        let mut sorted = full.to_vec();
        sorted.sort_by(f64::total_cmp);
        md.push_str(&format!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} |\n",
            thousands(r.subscriptions),
            full[0],
            sorted[sorted.len() / 2],
            full[full.len() - 1],
            r.rss_before_mib,
            r.tick_rss_mib.first().copied().unwrap_or(0.0),
            r.tick_rss_mib.last().copied().unwrap_or(0.0),
            r.sim_cpu_secs,
            r.seed_secs,
        ));
    }
    md
}
