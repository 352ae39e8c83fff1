//! `POST /webhooks/factory`: the factory's signed manufacturing status events.
//!
//! verify signature (401, nothing written) → parse (400) → ONE transaction: claim the event id
//! (replay → 200, no effect), then by status: advance the order (never backwards: an older
//! status is recorded in the timeline and answered 200 `stale`), record the VIN (vehicles
//! row), `delayed` records the new estimated date; each new state queues the customer's
//! notifications (routing table) → commit → 200. Unknown orders answer 200 `ignored`
//! (recorded) so the factory does not retry forever.
use caas_domain::Problem;
use caas_domain::journey::{self, FactoryDecision, FactoryStatus};
use caas_domain::order::OrderStatus;
use caas_platform::db::{Db, DbError, int, opt_text, text};
use caas_platform::journey::{self as j, Order};
use caas_platform::{Resp, clock, req, resp, vars, webhook};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const SOURCE: &str = "factory";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    if req::path(&req) != "/webhooks/factory" {
        return Err(Problem::not_found("no such webhook"));
    }
    if req.method().as_str() != "POST" {
        return Err(caas_platform::resp::method_not_allowed(req.method().as_str(), &req::path(&req), &["POST"]));
    }
    let body = caas_webhook_signature::verified_body(req, "factory_webhook_secret").await?;
    let ev = parse(&body)?;
    process(ev, String::from_utf8_lossy(&body).into_owned()).await
}

struct FactoryEvent {
    event_id: String,
    order_ref: Option<String>,
    factory_order_id: Option<String>,
    status_raw: String,
    status: FactoryStatus,
    estimated_date: Option<String>,
    vin: Option<String>,
}

/// VIN: 17 characters, digits and upper-case letters except I, O, Q (ISO 3779).
fn normalize_vin(s: &str) -> Option<String> {
    let v = s.trim().to_ascii_uppercase();
    (v.len() == 17 && v.bytes().all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !matches!(b, b'I' | b'O' | b'Q')))).then_some(v)
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn parse(body: &[u8]) -> Result<FactoryEvent, Problem> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Problem::bad_request(format!("body is not valid JSON: {e}")))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty() && s.len() <= 200).map(str::to_string);
    let mut errors = Vec::new();
    let event_id = s("event-id");
    if event_id.is_none() {
        errors.push(caas_domain::FieldError::new("/event-id", "is required"));
    }
    let order_ref = s("order-ref");
    let factory_order_id = s("factory-order-id");
    if order_ref.is_none() && factory_order_id.is_none() {
        errors.push(caas_domain::FieldError::new("/order-ref", "order-ref or factory-order-id is required"));
    }
    let status_raw = s("status").unwrap_or_default();
    let status = FactoryStatus::parse(&status_raw);
    if status.is_none() {
        errors.push(caas_domain::FieldError::new("/status", "is not a known factory status"));
    }
    let estimated_date = s("estimated-date");
    if estimated_date.as_deref().is_some_and(|d| !is_date(d)) {
        errors.push(caas_domain::FieldError::new("/estimated-date", "must be YYYY-MM-DD"));
    }
    let vin = match s("vin") {
        None => None,
        Some(raw) => match normalize_vin(&raw) {
            Some(v) => Some(v),
            None => {
                errors.push(caas_domain::FieldError::new("/vin", "must be a 17-character VIN"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(FactoryEvent {
        event_id: event_id.unwrap_or_default(),
        order_ref,
        factory_order_id,
        status_raw,
        status: status.unwrap_or(FactoryStatus::Delayed),
        estimated_date,
        vin,
    })
}

async fn find_order(tx: &Db, ev: &FactoryEvent) -> Result<Option<Order>, DbError> {
    if let Some(r) = &ev.order_ref
        && let Some(o) = j::load_order(tx, r).await?
    {
        return Ok(Some(o));
    }
    if let Some(fo) = &ev.factory_order_id
        && let Some(row) = tx.query_one("SELECT id FROM orders WHERE factory_order_id = ?", vec![text(fo)]).await?
    {
        return j::load_order(tx, &row.str("id")).await;
    }
    Ok(None)
}

async fn process(ev: FactoryEvent, raw: String) -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let final_days = vars::u64_or("final_payment_days", journey::DEFAULT_FINAL_PAYMENT_DAYS).await;
    let now = clock::now_ms();
    let subject = ev.order_ref.clone().or(ev.factory_order_id.clone()).unwrap_or_default();
    let done = db
        .transaction(async |tx: &Db| -> Result<Option<(String, String)>, DbError> {
            if !webhook::claim_event(tx, SOURCE, &ev.event_id, &subject, &raw, now).await? {
                return Ok(None);
            }
            let (status, outcome) = apply(tx, &ev, now, final_days).await?;
            webhook::set_outcome(tx, SOURCE, &ev.event_id, &format!("{status}: {outcome}")).await?;
            Ok(Some((status, outcome)))
        })
        .await?;
    match done {
        None => {
            let prior = webhook::outcome_of(&db, SOURCE, &ev.event_id).await?.unwrap_or_default();
            Ok(resp::json(200, &json!({"status": "duplicate", "event_id": ev.event_id, "outcome": prior})))
        }
        Some((status, outcome)) => Ok(resp::json(200, &json!({"status": status, "event_id": ev.event_id, "outcome": outcome}))),
    }
}

/// Returns (answer status, outcome text).
async fn apply(tx: &Db, ev: &FactoryEvent, now: i64, final_days: u64) -> Result<(String, String), DbError> {
    let Some(order) = find_order(tx, ev).await? else {
        return Ok(("ignored".into(), format!("unknown order {}", ev.order_ref.as_deref().or(ev.factory_order_id.as_deref()).unwrap_or("?"))));
    };
    let id = order.id.clone();
    // Factory facts are recorded whatever the state: factory order id, VIN.
    if let Some(fo) = &ev.factory_order_id {
        tx.exec("UPDATE orders SET factory_order_id = COALESCE(factory_order_id, ?) WHERE id = ?", vec![text(fo), text(&id)]).await?;
    }
    if let Some(vin) = &ev.vin
        && order.vin.is_none()
        && !matches!(order.status, OrderStatus::Unassigned)
    {
        tx.exec("UPDATE orders SET vin = ? WHERE id = ? AND vin IS NULL", vec![text(vin), text(&id)]).await?;
        tx.exec(
            "INSERT INTO vehicles(vin, model, status, order_id, factory_order_id, country, created_at, updated_at)
             VALUES (?, ?, 'assigned', ?, ?, ?, ?, ?) ON CONFLICT(vin) DO NOTHING",
            vec![text(vin), text(&order.model), text(&id), opt_text(ev.factory_order_id.clone()), text(&order.country), int(now), int(now)],
        )
        .await?;
        j::event(tx, &id, now, "vin-assigned", format!("VIN {vin}")).await?;
    }
    if ev.status == FactoryStatus::Delayed {
        let date = ev.estimated_date.clone();
        tx.exec("UPDATE orders SET estimated_date = COALESCE(?, estimated_date), updated_at = ? WHERE id = ?", vec![opt_text(date.clone()), int(now), text(&id)])
            .await?;
        j::event(tx, &id, now, "factory-delayed", format!("new estimated date {}", date.as_deref().unwrap_or("unknown"))).await?;
        j::notify_customer(tx, &id, &order.customer_id, &format!("delayed-{}", ev.event_id), &journey::msg_delayed(&id, date.as_deref()), now).await?;
        return Ok(("processed".into(), format!("delay recorded (estimated date {})", date.as_deref().unwrap_or("unknown"))));
    }
    let decision = journey::factory_decision(order.status, ev.status);
    // Only an event that moves the order forward (or confirms it) brings a newer estimated
    // date; a stale or inapplicable one (an earlier status, often with an older date) changes
    // nothing about the order.
    if let Some(d) = &ev.estimated_date
        && matches!(decision, FactoryDecision::Advance { .. } | FactoryDecision::Confirm)
    {
        tx.exec("UPDATE orders SET estimated_date = ? WHERE id = ?", vec![text(d), text(&id)]).await?;
    }
    match decision {
        FactoryDecision::Advance { to } => {
            let mut from = order.status;
            if from == OrderStatus::Reserved && to != OrderStatus::FactoryOrdered {
                // Our placement answer was lost but the factory has the order: record it first.
                j::set_status(tx, &id, from, OrderStatus::FactoryOrdered, now, "placement confirmed by factory webhook").await?;
                from = OrderStatus::FactoryOrdered;
            }
            if order.status == OrderStatus::Reserved {
                j::complete_job(tx, &j::factory_job_key(&id)).await?;
            }
            if to == OrderStatus::VehicleAvailable {
                j::make_available(tx, &order, from, now, final_days, "available at the dealership").await?;
            } else if j::set_status(tx, &id, from, to, now, &format!("factory: {}", ev.status_raw)).await? {
                let eta = ev.estimated_date.clone().or(order.estimated_date.clone());
                j::notify_customer(tx, &id, &order.customer_id, &format!("status-{}", to.as_str()), &journey::msg_manufacturing(&id, to, eta.as_deref()), now)
                    .await?;
            }
            Ok(("processed".into(), format!("order {} -> {}", order.status, to)))
        }
        FactoryDecision::Confirm => {
            j::event(tx, &id, now, "factory-confirmed", "the factory confirmed the order and scheduled production").await?;
            let eta = ev.estimated_date.clone().or(order.estimated_date.clone());
            let m = journey::msg_manufacturing(&id, OrderStatus::FactoryOrdered, eta.as_deref());
            j::notify_customer(tx, &id, &order.customer_id, "status-factory-ordered", &m, now).await?;
            Ok(("processed".into(), "factory confirmation recorded".into()))
        }
        FactoryDecision::Stale => {
            j::event(tx, &id, now, "factory-status-stale", format!("{} received while {}: state unchanged", ev.status_raw, order.status)).await?;
            Ok(("stale".into(), format!("{} is not newer than {}; state unchanged", ev.status_raw, order.status)))
        }
        FactoryDecision::NotApplicable => {
            j::event(tx, &id, now, "factory-status-ignored", format!("{} received while {}", ev.status_raw, order.status)).await?;
            Ok(("ignored".into(), format!("{} does not apply to an order that is {}", ev.status_raw, order.status)))
        }
    }
}
