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
use caas_platform::db::{Db, DbError};
use caas_platform::journey as j;
use caas_platform::store::orders::{self, Order};
use caas_platform::store::vehicles;
use caas_platform::{Resp, clock, req, resp, vars, webhook};
use serde::Serialize;
use serde_json::Value;
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
    let (event_id, order_ref, factory_order_id) = (s("event-id"), s("order-ref"), s("factory-order-id"));
    let status_raw = s("status").unwrap_or_default();
    let status = FactoryStatus::parse(&status_raw);
    let estimated_date = s("estimated-date");
    let vin = s("vin").map(|raw| normalize_vin(&raw));
    let checks = [
        (event_id.is_none(), "/event-id", "is required"),
        (order_ref.is_none() && factory_order_id.is_none(), "/order-ref", "order-ref or factory-order-id is required"),
        (status.is_none(), "/status", "is not a known factory status"),
        (estimated_date.as_deref().is_some_and(|d| !is_date(d)), "/estimated-date", "must be YYYY-MM-DD"),
        (vin == Some(None), "/vin", "must be a 17-character VIN"),
    ];
    let errors: Vec<_> = checks.iter().filter(|c| c.0).map(|c| caas_domain::FieldError::new(c.1, c.2)).collect();
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
        vin: vin.flatten(),
    })
}

async fn find_order(tx: &Db, ev: &FactoryEvent) -> Result<Option<Order>, DbError> {
    if let Some(r) = &ev.order_ref
        && let Some(o) = orders::load_order(tx, r).await?
    {
        return Ok(Some(o));
    }
    match &ev.factory_order_id {
        Some(fo) => orders::load_by_factory_order(tx, fo).await,
        None => Ok(None),
    }
}

/// OpenAPI `WebhookAck` status.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
enum AckStatus {
    Processed,
    Duplicate,
    Ignored,
    Stale,
}

impl std::fmt::Display for AckStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckStatus::Processed => "processed",
            AckStatus::Duplicate => "duplicate",
            AckStatus::Ignored => "ignored",
            AckStatus::Stale => "stale",
        })
    }
}

/// OpenAPI `WebhookAck` (fields in alphabetical order).
#[derive(Serialize)]
struct Ack {
    event_id: String,
    outcome: String,
    status: AckStatus,
}

type Outcome = (AckStatus, String);

async fn process(ev: FactoryEvent, raw: String) -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let final_days = vars::u64_or("final_payment_days", journey::DEFAULT_FINAL_PAYMENT_DAYS).await;
    let now = clock::now_ms();
    let subject = ev.order_ref.clone().or(ev.factory_order_id.clone()).unwrap_or_default();
    let done = db
        .transaction(async |tx: &Db| -> Result<Option<Outcome>, DbError> {
            if !webhook::claim_event(tx, SOURCE, &ev.event_id, &subject, &raw, now).await? {
                return Ok(None);
            }
            let (status, outcome) = apply(tx, &ev, now, final_days).await?;
            webhook::set_outcome(tx, SOURCE, &ev.event_id, &format!("{status}: {outcome}")).await?;
            Ok(Some((status, outcome)))
        })
        .await?;
    let (status, outcome) = match done {
        None => (AckStatus::Duplicate, webhook::outcome_of(&db, SOURCE, &ev.event_id).await?.unwrap_or_default()),
        Some(done) => done,
    };
    Ok(resp::json(200, &Ack { event_id: ev.event_id, outcome, status }))
}

/// Returns (answer status, outcome text).
async fn apply(tx: &Db, ev: &FactoryEvent, now: i64, final_days: u64) -> Result<Outcome, DbError> {
    let Some(order) = find_order(tx, ev).await? else {
        return Ok((AckStatus::Ignored, format!("unknown order {}", ev.order_ref.as_deref().or(ev.factory_order_id.as_deref()).unwrap_or("?"))));
    };
    record_facts(tx, ev, &order, now).await?;
    if ev.status == FactoryStatus::Delayed {
        return record_delay(tx, ev, &order, now).await;
    }
    let decision = journey::factory_decision(order.status, ev.status);
    // Only an event that moves the order forward (or confirms it) brings a newer estimated
    // date; a stale or inapplicable one (an earlier status, often with an older date) changes
    // nothing about the order.
    if let Some(d) = &ev.estimated_date
        && matches!(decision, FactoryDecision::Advance { .. } | FactoryDecision::Confirm)
    {
        orders::set_estimated_date(tx, &order.id, d).await?;
    }
    match decision {
        FactoryDecision::Advance { to } => advance(tx, ev, &order, to, now, final_days).await,
        FactoryDecision::Confirm => confirm(tx, ev, &order, now).await,
        FactoryDecision::Stale => {
            orders::event(tx, &order.id, now, "factory-status-stale", format!("{} received while {}: state unchanged", ev.status_raw, order.status)).await?;
            Ok((AckStatus::Stale, format!("{} is not newer than {}; state unchanged", ev.status_raw, order.status)))
        }
        FactoryDecision::NotApplicable => {
            orders::event(tx, &order.id, now, "factory-status-ignored", format!("{} received while {}", ev.status_raw, order.status)).await?;
            Ok((AckStatus::Ignored, format!("{} does not apply to an order that is {}", ev.status_raw, order.status)))
        }
    }
}

/// Factory facts are recorded whatever the state: factory order id, VIN (vehicles row).
async fn record_facts(tx: &Db, ev: &FactoryEvent, order: &Order, now: i64) -> Result<(), DbError> {
    if let Some(fo) = &ev.factory_order_id {
        orders::set_factory_order_id(tx, &order.id, fo).await?;
    }
    if let Some(vin) = &ev.vin
        && order.vin.is_none()
        && !matches!(order.status, OrderStatus::Unassigned | OrderStatus::Cancelled)
    {
        orders::set_vin_once(tx, &order.id, vin).await?;
        vehicles::insert_built(tx, vin, &order.model, &order.id, ev.factory_order_id.as_deref(), &order.country, now).await?;
        orders::event(tx, &order.id, now, "vin-assigned", format!("VIN {vin}")).await?;
    }
    // The dealership cancelled the sale while the car was being built (the factory API has no
    // cancellation): the car is built all the same and arrives as dealership stock.
    if let Some(vin) = &ev.vin
        && order.vin.is_none()
        && matches!(order.status, OrderStatus::Cancelled)
        && vehicles::insert_stock(tx, vin, &order.model, ev.factory_order_id.as_deref(), &order.country, now).await?
    {
        orders::event(tx, &order.id, now, "vehicle-to-stock", format!("VIN {vin}, built for this cancelled sale, is dealership stock")).await?;
    }
    Ok(())
}

async fn record_delay(tx: &Db, ev: &FactoryEvent, order: &Order, now: i64) -> Result<Outcome, DbError> {
    let (id, date) = (&order.id, ev.estimated_date.as_deref());
    orders::record_delay(tx, id, date, now).await?;
    orders::event(tx, id, now, "factory-delayed", format!("new estimated date {}", date.unwrap_or("unknown"))).await?;
    j::notify_customer(tx, id, &order.customer_id, &format!("delayed-{}", ev.event_id), &journey::msg_delayed(id, date), now).await?;
    Ok((AckStatus::Processed, format!("delay recorded (estimated date {})", date.unwrap_or("unknown"))))
}

async fn advance(tx: &Db, ev: &FactoryEvent, order: &Order, to: OrderStatus, now: i64, final_days: u64) -> Result<Outcome, DbError> {
    let id = &order.id;
    let mut from = order.status;
    if from == OrderStatus::Reserved && to != OrderStatus::FactoryOrdered {
        // Our placement answer was lost but the factory has the order: record it first.
        orders::set_status(tx, id, from, OrderStatus::FactoryOrdered, now, "placement confirmed by factory webhook").await?;
        from = OrderStatus::FactoryOrdered;
    }
    if order.status == OrderStatus::Reserved {
        j::complete_job(tx, &j::factory_job_key(id)).await?;
    }
    if to == OrderStatus::VehicleAvailable {
        j::make_available(tx, order, from, now, final_days, "available at the dealership").await?;
    } else if orders::set_status(tx, id, from, to, now, &format!("factory: {}", ev.status_raw)).await? {
        let eta = ev.estimated_date.clone().or(order.estimated_date.clone());
        j::notify_customer(tx, id, &order.customer_id, &format!("status-{}", to.as_str()), &journey::msg_manufacturing(id, to, eta.as_deref()), now)
            .await?;
    }
    Ok((AckStatus::Processed, format!("order {} -> {}", order.status, to)))
}

async fn confirm(tx: &Db, ev: &FactoryEvent, order: &Order, now: i64) -> Result<Outcome, DbError> {
    let id = &order.id;
    orders::event(tx, id, now, "factory-confirmed", "the factory confirmed the order and scheduled production").await?;
    let eta = ev.estimated_date.clone().or(order.estimated_date.clone());
    let m = journey::msg_manufacturing(id, OrderStatus::FactoryOrdered, eta.as_deref());
    j::notify_customer(tx, id, &order.customer_id, "status-factory-ordered", &m, now).await?;
    Ok((AckStatus::Processed, "factory confirmation recorded".into()))
}
