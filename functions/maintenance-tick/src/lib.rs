//! `POST /internal/ticks/maintenance`: maintenance reminders and missed maintenance (issue 10).
//!
//! For each delivered or linked vehicle (least recently checked first, a batch per run) the
//! tick reads the workshops' record from VSS (`GET /vehicles/{vin}/maintenance`, short
//! timeout; VSS is the source of truth and is never written) and decides
//! (`caas_domain::maintenance::decide`):
//! * due date within `maintenance_reminder_days` (default 30): ONE "maintenance due" reminder
//!   per due date, through the routing table (e-mail, push, the car's display, SMS only with the
//!   customer's opt-in), in the customer's language. A new due date (the workshop recorded a
//!   service) starts a new cycle.
//! * due date passed with no newer service in VSS: the missed maintenance is recorded once, the
//!   warranty is void from the day after the due date, the customer is told once. Nothing else
//!   changes: purchased services stay active and the car keeps working (spec "Warranty Loss").
//!
//! Idempotent: each notice is a row with a unique key (vehicle, due date, kind) written in the
//! same transaction as its notifications (outbox, deduped message ids), so repeated or
//! concurrent runs send nothing twice. VSS unreachable for a vehicle is not an error: it is
//! noted and the vehicle is tried again on the next run; after 5 VSS failures, or 30 s, a run
//! stops (`more: true`) and the next one goes on with the vehicles checked least recently.
use caas_domain::Problem;
use caas_domain::maintenance::{self, Day, Decision, VssMaintenance};
use caas_domain::messages;
use caas_platform::db::{Db, DbError};
use caas_platform::services as svc;
use caas_platform::store::maintenance::{self as store, Watched};
use caas_platform::store::orders;
use caas_platform::{Resp, auth, clock, notify, resp, vars};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: i64 = 200;
const MAX_LEAD_DAYS: u64 = 365;
/// VSS failures after which a run stops (VSS is likely down: the rest wait for the next run).
const MAX_VSS_FAILURES: usize = 5;
/// Wall time after which a run stops asking VSS (well inside the runtime's request deadline).
const TIME_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    auth::tick_request(&req, "/internal/ticks/maintenance").await?;
    tick().await
}

async fn tick() -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let lead = vars::u64_or("maintenance_reminder_days", maintenance::DEFAULT_REMINDER_LEAD_DAYS).await.clamp(1, MAX_LEAD_DAYS);
    let vss = vars::base_url("vss_url").await?;
    let watched = store::vehicles_to_check(&db, BATCH).await?;
    let (mut reminded, mut missed, mut unavailable, mut checked) = (Vec::new(), Vec::new(), 0usize, 0usize);
    let started = std::time::Instant::now();
    for w in &watched {
        if unavailable >= MAX_VSS_FAILURES || started.elapsed() > TIME_BUDGET {
            break;
        }
        checked += 1;
        let m = match svc::vss_record(&vss, &w.vin).await {
            Ok(m) => m,
            Err(why) => {
                // Not an error for the tick: this vehicle is tried again next time.
                unavailable += 1;
                store::record_check(&db, &w.vin, now, &why).await?;
                continue;
            }
        };
        match maintenance::decide(&m, Day::of_ms(now), lead) {
            Decision::Nothing => {}
            Decision::Remind { due } => {
                if db.transaction(async |tx: &Db| remind(tx, w, due, now).await).await? {
                    reminded.push(json!({"vin": w.vin, "due_date": due.iso()}));
                }
            }
            Decision::Missed { due, void_since } => {
                if db.transaction(async |tx: &Db| record_missed(tx, w, &m, due, void_since, now).await).await? {
                    missed.push(json!({"vin": w.vin, "due_date": due.iso(), "warranty_void_since": void_since.iso()}));
                }
            }
        }
        store::record_check(&db, &w.vin, now, "ok").await?;
    }
    Ok(resp::json(
        200,
        &json!({"checked": checked, "more": checked < watched.len(), "vss_unavailable": unavailable, "reminders": reminded.len(), "reminded": reminded, "missed": missed.len(), "missed_vehicles": missed, "reminder_lead_days": lead}),
    ))
}

/// The one reminder of `due` (false if an earlier or concurrent run sent it).
async fn remind(tx: &Db, w: &Watched, due: Day, now: i64) -> Result<bool, DbError> {
    let due_date = due.iso();
    if !store::insert_notice(tx, &w.vin, &due_date, "reminder", &w.customer_id, now).await? {
        return Ok(false);
    }
    let key = format!("maintenance-due:{}:{due_date}", w.vin);
    let sent = notify::send_to_customer(tx, &w.customer_id, Some(&w.vin), &key, &messages::maintenance_due(&w.vin, due.ms()), now).await?;
    store::set_notice_channels(tx, &w.vin, &due_date, "reminder", &channel_list(&sent)).await?;
    if let Some(order_id) = order_of(tx, w).await? {
        orders::event(tx, &order_id, now, "maintenance-reminder", format!("maintenance of {} due on {due_date}: customer reminded", w.vin)).await?;
    }
    Ok(true)
}

/// The missed maintenance of `due`, recorded once: warranty void since `void_since` (the first
/// void stays), customer told. Services and the vehicle are left as they are.
async fn record_missed(tx: &Db, w: &Watched, m: &VssMaintenance, due: Day, void_since: Day, now: i64) -> Result<bool, DbError> {
    let due_date = due.iso();
    if !store::insert_notice(tx, &w.vin, &due_date, "missed", &w.customer_id, now).await? {
        return Ok(false);
    }
    let newly_void = store::void_warranty(tx, &w.vin, &void_since.iso(), &due_date, now).await?;
    let key = format!("maintenance-missed:{}:{due_date}", w.vin);
    let sent = notify::send_to_customer(tx, &w.customer_id, Some(&w.vin), &key, &messages::maintenance_missed(&w.vin, due.ms(), void_since.ms()), now).await?;
    store::set_notice_channels(tx, &w.vin, &due_date, "missed", &channel_list(&sent)).await?;
    if let Some(order_id) = order_of(tx, w).await? {
        let last = m.latest_service().map(Day::iso).unwrap_or_else(|| "none".into());
        let detail = if newly_void {
            format!("maintenance of {} due on {due_date} missed (last service in VSS: {last}): warranty void since {}", w.vin, void_since.iso())
        } else {
            format!("maintenance of {} due on {due_date} missed (last service in VSS: {last}); warranty already void", w.vin)
        };
        orders::event(tx, &order_id, now, "maintenance-missed", detail).await?;
    }
    Ok(true)
}

fn channel_list(c: &[caas_domain::wit::Channel]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(",")
}

/// The customer's order of the vehicle (its timeline records the maintenance notices).
async fn order_of(tx: &Db, w: &Watched) -> Result<Option<String>, DbError> {
    Ok(tx
        .query_one(
            "SELECT id FROM orders WHERE vin = ? AND customer_id = ? AND status IN ('delivered', 'operational') ORDER BY updated_at DESC LIMIT 1",
            vec![caas_platform::db::text(&w.vin), caas_platform::db::text(&w.customer_id)],
        )
        .await?
        .map(|r| r.str("id")))
}
