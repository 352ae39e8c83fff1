//! The purchase write path (issue 11): `POST /api/services` — a customer buys a one-time option for
//! one of their own operational cars (component `functions/purchase`).
//!
//! Every measured request must be a new purchase that succeeds: a repeated (vehicle, option) is
//! refused with 409 while the first one is pending or active, and a repeated Idempotency-Key is
//! a replay that writes nothing. So one customer owning many cars is seeded straight into the
//! runtime's SQLite file (one login, one session for the whole run), and each request buys the
//! option for the next car with a fresh key. A one-time option (permanent or temporary) is
//! charged upfront: each purchase initiates a gateway payment (and asks VSS first when the
//! option depends on maintenance), then writes service + payment + ledger charge + OTA job +
//! timeline + notification + stored answer in one transaction, and answers 202 with the service
//! `pending-activation` (nothing dispatches the OTA job during the benchmark: no tick runs).
//!
//! After a run, [`verify_purchases`] checks by SQL that exactly the answered purchases were
//! written and each was charged once.
use crate::billing::{Customer, SoldCars, id, seed_catalog};
use crate::load::MakeReq;
use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use caas_domain::ids::IdKind;
use caas_domain::services::catalog::{self, ServiceOption};
use http_body_util::Full;
use hyper::Request;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The seeded customer's login.
pub const EMAIL: &str = "purchase.bench@example.com";
pub const PASSWORD: &str = "bench-purchase-pass";
/// A permanent option that needs no maintenance check: gateway payment + one transaction.
pub const OPTION_NO_VSS: &str = "parking-assist";
/// A permanent option that depends on maintenance: one VSS call more per purchase.
pub const OPTION_WITH_VSS: &str = "highway-autopilot";

/// Offset of the seeded rows' id indexes, away from the billing benchmark's `0..n`: the two
/// seeds never share a database, but their ids stay distinct if they ever do.
const ID_BASE: usize = 1 << 40;
const MS_PER_DAY: i64 = 86_400_000;

/// The customer [`seed_customer_with_vehicles`] wrote.
#[derive(Debug, Clone)]
pub struct Seeded {
    pub customer_id: String,
    pub email: String,
    pub password: String,
    /// Their operational, app-linked cars.
    pub vins: Vec<String>,
}

/// Seeds one customer (with a password and no forced change, so that a login gets a full
/// session) owning `n` delivered, app-linked, operational cars into the runtime's database
/// (`<state_dir>/sqlite_db.db`), in one transaction, in the app's schema: rows shaped as the
/// sale, the delivery and the app link write them (`billing::SoldCars`), and the catalog as its
/// first reader would seed it. The runtime must have migrated the database already (any request
/// that opens it does, e.g. a login). Blocking (one Argon2 hash, then SQLite).
pub fn seed_customer_with_vehicles(db_path: &Path, n: usize) -> Result<Seeded> {
    ensure!(n > 0, "the customer needs at least one car");
    let password_hash = caas_domain::password::hash_password(PASSWORD, &[7u8; 16]).map_err(|e| anyhow::anyhow!("hash the bench password: {e}"))?;
    let mut db = rusqlite::Connection::open(db_path).with_context(|| format!("open {}", db_path.display()))?;
    db.busy_timeout(Duration::from_secs(30))?;
    // As the runtime's connections: a seeded row that breaks a reference fails here, not later.
    db.execute_batch("PRAGMA foreign_keys = ON")?;
    let migrated: i64 = db.query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'vehicle_links'", [], |r| r.get(0))?;
    ensure!(migrated == 1, "{} is not migrated yet: send the runtime a request that opens the database first", db_path.display());

    // On the runtime's clock (no `--start-time`: wall time): sold three months ago, linked one.
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let (sold_at, linked_at) = (now - 90 * MS_PER_DAY, now - 30 * MS_PER_DAY);
    let customer_id = id(IdKind::Customer, ID_BASE);
    let tx = db.transaction()?;
    if tx.query_row("SELECT COUNT(*) FROM catalog_options", [], |r| r.get::<_, i64>(0))? == 0 {
        seed_catalog(&tx, &catalog::seed_catalog().options, sold_at)?;
    }
    let mut cars = SoldCars::prepare(&tx)?;
    cars.customer(&Customer {
        id: &customer_id,
        email: EMAIL,
        full_name: "Purchase Bench Customer",
        national_id: "P00000001",
        password_hash: &password_hash,
        created_at: sold_at,
    })?;
    let mut vins = Vec::with_capacity(n);
    for i in 0..n {
        // 17 characters, none of I/O/Q: a valid VIN (`normalize_vin`), distinct from billing's `WCB…`.
        let vin = format!("WCP{i:014}");
        let order_id = id(IdKind::Order, ID_BASE + i);
        cars.car(&customer_id, &order_id, &vin, &format!("{:04}PCB", i % 10_000), sold_at, linked_at)?;
        vins.push(vin);
    }
    drop(cars);
    tx.commit()?;
    Ok(Seeded { customer_id, email: EMAIL.to_string(), password: PASSWORD.to_string(), vins })
}

/// `POST /api/services {vin, option_code: code}` as `token`'s customer: the k-th request made by
/// this `MakeReq` buys `code` for `vins[k]`, with Idempotency-Key `bench-purchase-<pid>-<code>-<k>`.
///
/// `k` is the closure's own count, not the load generator's `n`: `load` restarts `n` at 0 on
/// every call, and a warm-up run followed by the measured one would otherwise repeat its
/// purchases (replays: 2xx answers that write nothing). So one `MakeReq` makes at most
/// `vins.len()` new purchases of `code`; past that a vehicle comes round again and the purchase
/// is refused (409, counted as an error). Seed more cars than the run can buy, or use another
/// one-time option for the next run.
pub fn purchase_request(token: Arc<String>, seeded: &Seeded, code: &str) -> MakeReq {
    let vins: Arc<[String]> = seeded.vins.clone().into();
    let code = code.to_string();
    let next = AtomicUsize::new(0);
    let run = std::process::id();
    Arc::new(move |_n| {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({"vin": vins[k % vins.len()], "option_code": code});
        Request::post("/api/services")
            .header("host", "127.0.0.1")
            .header("authorization", format!("Bearer {token}"))
            .header("idempotency-key", format!("bench-purchase-{run}-{code}-{k}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("a valid request")
    })
}

/// What [`verify_purchases`] found in the database.
#[derive(Debug, Clone)]
pub struct Written {
    /// Purchased services of the option (one per answered purchase).
    pub services: i64,
    /// Their states, e.g. `[("pending-activation", 1234)]`.
    pub states: Vec<(String, i64)>,
    /// Ledger charge rows of those services, and their total in minor units.
    pub ledger_charges: i64,
    pub charged_minor: i64,
}

/// Checks after a run that the purchases of `code` by the seeded customer are exactly the
/// `answered` 2xx answers, each on its own car, each charged once: one payment row (own gateway
/// idempotency key) and one ledger charge (own ledger idempotency key) of the option's price per
/// service, an OTA activation job per service, and no ledger charge for a service that was not
/// recorded and no void or refund (a purchase that lost a race gives its payment back). Fails
/// with what differs.
pub fn verify_purchases(db_path: &Path, seeded: &Seeded, code: &str, answered: u64) -> Result<Written> {
    let db = rusqlite::Connection::open(db_path)?;
    db.busy_timeout(Duration::from_secs(30))?;
    let option: ServiceOption = catalog::seed_catalog().options.into_iter().find(|o| o.code == code).with_context(|| format!("no option {code}"))?;
    ensure!(option.kind.is_one_time(), "{code} is not a one-time option: it is not charged at purchase");
    let price = option.price.amount_minor;
    let answered = answered as i64;
    let c = seeded.customer_id.as_str();

    // The purchases of this run: the customer's services of `code`.
    const OURS: &str = "SELECT * FROM services WHERE customer_id = ?1 AND source = 'purchase' AND option_code = ?2";
    let (services, cars, payment_ids): (i64, i64, i64) =
        db.query_row(&format!("SELECT COUNT(*), COUNT(DISTINCT vin), COUNT(DISTINCT payment_id) FROM ({OURS})"), [c, code], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    ensure!(services == answered, "{services} services of {code} written for {answered} purchases answered 2xx");
    ensure!(cars == services && payment_ids == services, "{services} services of {code} on {cars} cars with {payment_ids} payments");
    let states = db
        .prepare(&format!("SELECT state, COUNT(*) FROM ({OURS}) GROUP BY state ORDER BY 2 DESC"))?
        .query_map([c, code], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    // Charged once: one ledger charge per service, each under its own idempotency key.
    let (ledger_charges, keys, refs, charged_minor): (i64, i64, i64, i64) = db.query_row(
        &format!(
            "SELECT COUNT(*), COUNT(DISTINCT l.idempotency_key), COUNT(DISTINCT l.reference), COALESCE(SUM(l.amount_minor), 0)
             FROM ledger l JOIN ({OURS}) s ON l.reference = s.id WHERE l.kind = 'charge'"
        ),
        [c, code],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    ensure!(
        (ledger_charges, keys, refs, charged_minor) == (services, services, services, services * price),
        "ledger: {ledger_charges} charges under {keys} keys for {refs} services, {charged_minor} minor units; expected {services} each and {}",
        services * price
    );
    let reversed: i64 = db.query_row(
        &format!("SELECT COUNT(*) FROM ledger l JOIN ({OURS}) s ON l.reference = s.id WHERE l.kind <> 'charge'"),
        [c, code],
        |r| r.get(0),
    )?;
    ensure!(reversed == 0, "{reversed} voids/refunds of purchased services after a clean run");
    let orphans: i64 = db.query_row(
        "SELECT COUNT(*) FROM ledger WHERE reference LIKE 'svc_%' AND reference NOT IN (SELECT id FROM services)",
        [],
        |r| r.get(0),
    )?;
    ensure!(orphans == 0, "{orphans} ledger rows for services that were not recorded");

    // One payment row per service, keyed by the service id (the gateway Idempotency-Key).
    let (payments, payment_keys): (i64, i64) = db.query_row(
        &format!("SELECT COUNT(*), COUNT(DISTINCT p.idempotency_key) FROM payments p JOIN ({OURS}) s ON p.id = s.payment_id WHERE p.kind = 'service'"),
        [c, code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    ensure!(payments == services && payment_keys == services, "{payments} payment rows under {payment_keys} keys for {services} services");
    let jobs: i64 = db.query_row(
        &format!("SELECT COUNT(*) FROM jobs j JOIN ({OURS}) s ON j.dedupe_key = s.command_id WHERE j.kind = 'ota'"),
        [c, code],
        |r| r.get(0),
    )?;
    ensure!(jobs == services, "{jobs} OTA activation jobs for {services} services");
    Ok(Written { services, states, ledger_charges, charged_minor })
}
