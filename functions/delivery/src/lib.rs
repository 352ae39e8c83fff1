//! `/api/delivery/...`: transport and hand-over of a matriculated vehicle
//! (rules: `caas_domain::delivery`).
//!
//! * `POST /api/delivery/{order_id}/events` `{event, at?, note?}` — employees only (they record
//!   dealership/transport events). One transaction: delivery row, order status, timeline row and
//!   the customer's notifications; an illegal event is a 409 and writes nothing.
//! * `GET /api/delivery/{order_id}` — staff (employee, admin): the delivery and its history.
//! * `GET /api/delivery` — staff: the worklist, every order between matriculation and hand-over
//!   (`matriculated`, `in-transit`, `returned-to-dealer`) with its delivery state, paged.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::delivery::{self, DeliveryEvent, DeliveryState, Step};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::order::OrderStatus;
use caas_domain::notify::Contact;
use caas_domain::FieldError;
use caas_platform::db::{Db, DbError};
use caas_platform::store::accounts::{self, Customer};
use caas_platform::store::orders::{self, Delivery, Order, WorklistRow};
use caas_platform::{Resp, auth, clock, notify, rand, req, resp, vars};
use serde::Serialize;
use serde_json::Value;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const EMPLOYEE: &[Role] = &[Role::Employee];
const STAFF: &[Role] = &[Role::Employee, Role::Admin];
const MAX_NOTE: usize = 500;
/// The worklist: orders between matriculation and hand-over.
const AWAITING_DELIVERY: &[OrderStatus] = &[OrderStatus::Matriculated, OrderStatus::InTransit, OrderStatus::ReturnedToDealer];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    if path == "/api/delivery" {
        return match method.as_str() {
            "GET" => worklist(req).await,
            _ => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        };
    }
    let rest = path.strip_prefix("/api/delivery/").unwrap_or("");
    let parts: Vec<&str> = rest.split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("POST", [id, "events"]) => record(req, id).await,
        ("GET", [id]) if !id.is_empty() => show(req, id).await,
        (_, [_, "events"]) if !rest.is_empty() => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        (_, [_]) if !rest.is_empty() => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn no_order(id: &str) -> Problem {
    Problem::not_found(format!("no order {id}"))
}

struct Input {
    event: DeliveryEvent,
    planned_at: Option<i64>,
    note: Option<String>,
}

fn parse_input(body: &Value) -> Result<Input, Problem> {
    let mut errors = Vec::new();
    let event = parse_event(body, &mut errors);
    let planned_at = parse_at(body, &mut errors);
    if let Some(ev) = event
        && ev.needs_time()
        && planned_at.is_none()
        && !errors.iter().any(|e| e.pointer == "/at")
    {
        errors.push(FieldError::new("/at", format!("is required for {}", ev.as_str())));
    }
    let note = parse_note(body, &mut errors);
    if !body.is_object() {
        return Err(Problem::bad_request("the request body must be a JSON object"));
    }
    match event {
        Some(event) if errors.is_empty() => Ok(Input { event, planned_at, note }),
        _ => Err(Problem::validation(errors)),
    }
}

fn parse_event(body: &Value, errors: &mut Vec<FieldError>) -> Option<DeliveryEvent> {
    let Some(e) = body.get("event").and_then(Value::as_str) else {
        errors.push(FieldError::new("/event", "is required"));
        return None;
    };
    let ev = DeliveryEvent::parse(e);
    if ev.is_none() {
        errors.push(FieldError::new("/event", "must be one of scheduled, delivered, absent, rescheduled, returned, picked-up"));
    }
    ev
}

fn parse_at(body: &Value, errors: &mut Vec<FieldError>) -> Option<i64> {
    let v = body.get("at").filter(|v| !v.is_null())?;
    let t = delivery::parse_time(v);
    if t.is_none() {
        errors.push(FieldError::new("/at", "must be a date (YYYY-MM-DD), a UTC time (YYYY-MM-DDTHH:MMZ) or unix milliseconds"));
    }
    t
}

fn parse_note(body: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    match body.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_NOTE => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new("/note", format!("must have at most {MAX_NOTE} characters")));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("/note", "must be a string"));
            None
        }
    }
}

async fn record(req: Request, order_id: &str) -> Result<Resp, Problem> {
    let principal = auth::require(&req, EMPLOYEE).await?;
    if !is_id(IdKind::Order, order_id) {
        return Err(no_order(order_id));
    }
    let body = req::json_body(req).await?;
    let input = parse_input(&body)?;
    let db = Db::open_for_request().await?;
    let out = db.transaction(async |tx: &Db| -> Result<Recorded, Problem> { apply(tx, &principal, order_id, &input).await }).await?;
    Ok(resp::json(200, &out))
}

/// OpenAPI `DeliveryEventRecorded` (fields in alphabetical order).
#[derive(Serialize)]
struct Recorded {
    delivery: RecordedDelivery,
    event: DeliveryEvent,
    notified: Vec<&'static str>,
    order_id: String,
    order_status: OrderStatus,
}

#[derive(Serialize)]
struct RecordedDelivery {
    address: String,
    planned_at: Option<i64>,
    state: DeliveryState,
}

/// The whole event, inside one IMMEDIATE transaction (any Err rolls everything back).
async fn apply(tx: &Db, principal: &Principal, order_id: &str, input: &Input) -> Result<Recorded, Problem> {
    let now = clock::now_ms();
    let (o, c) = load_context(tx, order_id).await?;
    let current = orders::delivery(tx, order_id).await?;
    let step = delivery::apply(o.status, current.as_ref().and_then(|d| d.state), input.event).map_err(|e| e.to_problem())?;
    let planned_at = input.planned_at.or_else(|| current.as_ref().and_then(|d| d.planned_at));
    let address = c.address_line();
    save_delivery(tx, &principal.subject_id, order_id, &step, current.is_some(), planned_at, &address, input.event, now).await?;
    if step.order_changes && !orders::swap_status(tx, order_id, o.status, step.order, now).await? {
        return Err(Problem::conflict("concurrent-update", "the order changed meanwhile; reload and retry"));
    }
    let when = planned_at.filter(|_| input.event.needs_time()).map(delivery::format_time);
    record_events(tx, principal, &o, input, &step, when.as_deref(), now).await?;
    let notified = tell_customer(tx, &o, &c, input.event, when.as_deref(), now).await?;
    let delivery = RecordedDelivery { address, planned_at, state: step.delivery };
    Ok(Recorded { delivery, event: input.event, notified, order_id: order_id.to_string(), order_status: step.order })
}

/// The order and its customer (404 when either is missing).
async fn load_context(tx: &Db, order_id: &str) -> Result<(Order, Customer), Problem> {
    let Some(o) = orders::load_order(tx, order_id).await? else { return Err(no_order(order_id)) };
    let Some(c) = accounts::load_customer(tx, &o.customer_id).await? else { return Err(no_order(order_id)) };
    Ok((o, c))
}

#[allow(clippy::too_many_arguments)]
async fn save_delivery(tx: &Db, by: &str, order_id: &str, step: &Step, exists: bool, planned_at: Option<i64>, address: &str, event: DeliveryEvent, now: i64) -> Result<(), DbError> {
    if exists {
        orders::update_delivery(tx, order_id, step.delivery, planned_at, event == DeliveryEvent::Rescheduled, by, now).await
    } else {
        orders::insert_delivery(tx, order_id, step.delivery, planned_at, address, by, now).await
    }
}

/// What the customer's timeline shows carries no staff id and no internal note; the staff
/// record (`staff:` events, never shown to customers) has both.
async fn record_events(tx: &Db, principal: &Principal, o: &Order, input: &Input, step: &Step, when: Option<&str>, now: i64) -> Result<(), DbError> {
    let ev = input.event.as_str();
    let mut public = format!("delivery {ev}");
    if let Some(w) = when {
        public.push_str(&format!("; planned {w}"));
    }
    let mut internal = format!("{public}; recorded by {}", principal.subject_id);
    if let Some(n) = &input.note {
        internal.push_str(&format!("; note: {n}"));
    }
    orders::event(tx, &o.id, now, &format!("delivery-{ev}"), public).await?;
    orders::event(tx, &o.id, now, &format!("staff:delivery-{ev}"), internal).await?;
    if step.order_changes {
        orders::status_event(tx, &o.id, o.status, step.order, now, &format!("delivery {ev}")).await?;
    }
    Ok(())
}

/// The customer hears about every outcome.
async fn tell_customer(tx: &Db, o: &Order, c: &Customer, event: DeliveryEvent, when: Option<&str>, now: i64) -> Result<Vec<&'static str>, DbError> {
    // The customer's contact with their language and preferences (the row `c` as fallback).
    let to = notify::contact(tx, &o.customer_id).await?.unwrap_or_else(|| Contact::customer(&o.customer_id, &c.email, &c.phone));
    let notice = delivery::notice(event, &c.full_name, &o.model, when);
    Ok(notify::send(tx, &rand::id(IdKind::Message), &to, &notice, now).await?.iter().map(|ch| ch.as_str()).collect())
}

/// OpenAPI `DeliveryStatus` (fields in alphabetical order).
#[derive(Serialize)]
struct DeliveryStatus {
    delivery: Option<DeliveryView>,
    history: Vec<HistoryItem>,
    link_code: Option<String>,
    order_id: String,
    order_status: OrderStatus,
    vin: Option<String>,
}

#[derive(Serialize)]
struct DeliveryView {
    address: String,
    attempts: i64,
    planned_at: Option<i64>,
    state: Option<DeliveryState>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

impl DeliveryView {
    fn of(d: Delivery, with_update: bool) -> DeliveryView {
        let (updated_at, updated_by) = if with_update { (Some(d.updated_at), Some(d.updated_by)) } else { (None, None) };
        DeliveryView { address: d.address, attempts: d.attempts, planned_at: d.planned_at, state: d.state, updated_at, updated_by }
    }
}

#[derive(Serialize)]
struct HistoryItem {
    at: i64,
    detail: String,
    event: String,
}

async fn show(req: Request, order_id: &str) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    if !is_id(IdKind::Order, order_id) {
        return Err(no_order(order_id));
    }
    let db = Db::open_for_request().await?;
    let Some(o) = orders::load_order(&db, order_id).await? else { return Err(no_order(order_id)) };
    let link_code = link_code(o.vin.as_deref()).await;
    let delivery = orders::delivery(&db, order_id).await?.map(|d| DeliveryView::of(d, true));
    let history = orders::events_with_prefix(&db, order_id, "staff:delivery-")
        .await?
        .into_iter()
        .map(|e| HistoryItem { at: e.at, detail: e.detail, event: e.kind.trim_start_matches("staff:delivery-").to_string() })
        .collect();
    Ok(resp::json(200, &DeliveryStatus { delivery, history, link_code, order_id: order_id.to_string(), order_status: o.status, vin: o.vin }))
}

/// The code the car displays, for the hand-over (staff only).
async fn link_code(vin: Option<&str>) -> Option<String> {
    let secret = vars::get("link_code_secret").await.filter(|s| !s.trim().is_empty());
    match (vin, secret) {
        (Some(vin), Some(secret)) => Some(caas_domain::vehicle::link_code(secret.trim(), vin)),
        _ => None,
    }
}

/// One order of the worklist (fields in alphabetical order).
#[derive(Serialize)]
struct WorkItem {
    customer: WorkCustomer,
    delivery: Option<DeliveryView>,
    model: String,
    order_id: String,
    order_status: String,
    plate: Option<String>,
    vin: Option<String>,
}

#[derive(Serialize)]
struct WorkCustomer {
    full_name: String,
    phone: String,
}

impl WorkItem {
    fn of(r: WorklistRow) -> WorkItem {
        WorkItem {
            customer: WorkCustomer { full_name: r.full_name, phone: r.phone },
            delivery: r.delivery.map(|d| DeliveryView::of(d, false)),
            model: r.model,
            order_id: r.order_id,
            order_status: r.status,
            plate: r.plate,
            vin: r.vin,
        }
    }
}

/// Orders waiting for transport or hand-over, oldest first (keyset paging on the row id).
async fn worklist(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    let page = req::page(&req)?;
    let db = Db::open_for_request().await?;
    let rows = orders::delivery_worklist(&db, AWAITING_DELIVERY, page).await?;
    Ok(resp::json(200, &rows.map(WorkItem::of)))
}
