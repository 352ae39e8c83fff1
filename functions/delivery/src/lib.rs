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
use caas_domain::delivery::{self, DeliveryEvent, DeliveryState};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::order::OrderStatus;
use caas_domain::notify::Contact;
use caas_domain::FieldError;
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, auth, clock, notify, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const EMPLOYEE: &[Role] = &[Role::Employee];
const STAFF: &[Role] = &[Role::Employee, Role::Admin];
const MAX_NOTE: usize = 500;

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
    let event = match body.get("event").and_then(Value::as_str) {
        Some(e) => match DeliveryEvent::parse(e) {
            Some(ev) => Some(ev),
            None => {
                errors.push(FieldError::new(
                    "/event",
                    "must be one of scheduled, delivered, absent, rescheduled, returned, picked-up",
                ));
                None
            }
        },
        None => {
            errors.push(FieldError::new("/event", "is required"));
            None
        }
    };
    let planned_at = match body.get("at") {
        None | Some(Value::Null) => None,
        Some(v) => match delivery::parse_time(v) {
            Some(t) => Some(t),
            None => {
                errors.push(FieldError::new("/at", "must be a date (YYYY-MM-DD), a UTC time (YYYY-MM-DDTHH:MMZ) or unix milliseconds"));
                None
            }
        },
    };
    if let Some(ev) = event
        && ev.needs_time()
        && planned_at.is_none()
        && !errors.iter().any(|e| e.pointer == "/at")
    {
        errors.push(FieldError::new("/at", format!("is required for {}", ev.as_str())));
    }
    let note = match body.get("note") {
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
    };
    if !body.is_object() {
        return Err(Problem::bad_request("the request body must be a JSON object"));
    }
    match event {
        Some(event) if errors.is_empty() => Ok(Input { event, planned_at, note }),
        _ => Err(Problem::validation(errors)),
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
    let out = db.transaction(async |tx: &Db| -> Result<Value, Problem> { apply(tx, &principal, order_id, &input).await }).await?;
    Ok(resp::json(200, &out))
}

/// The whole event, inside one IMMEDIATE transaction (any Err rolls everything back).
async fn apply(tx: &Db, principal: &Principal, order_id: &str, input: &Input) -> Result<Value, Problem> {
    let now = clock::now_ms();
    let Some(o) = tx
        .query_one(
            "SELECT o.status, o.model, o.customer_id, c.email, c.phone, c.full_name, c.address_line1, c.address_line2,
                    c.address_city, c.address_postal_code, c.address_country
             FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = ?",
            vec![text(order_id)],
        )
        .await?
    else {
        return Err(no_order(order_id));
    };
    let order_status = OrderStatus::parse(&o.str("status"))
        .ok_or_else(|| Problem::conflict("illegal-delivery-transition", format!("order {order_id} has an unknown status")))?;
    let current = tx.query_one("SELECT state, planned_at, attempts FROM deliveries WHERE order_id = ?", vec![text(order_id)]).await?;
    let current_state = current.as_ref().and_then(|r| DeliveryState::parse(&r.str("state")));
    let step = delivery::apply(order_status, current_state, input.event).map_err(|e| e.to_problem())?;

    let planned_at = input.planned_at.or_else(|| current.as_ref().and_then(|r| r.opt_i64("planned_at")));
    let address = [
        o.str("address_line1"),
        o.opt_str("address_line2").unwrap_or_default(),
        format!("{} {}", o.str("address_postal_code"), o.str("address_city")),
        o.str("address_country"),
    ]
    .into_iter()
    .filter(|s| !s.trim().is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    match current {
        None => {
            tx.exec(
                "INSERT INTO deliveries(order_id, state, planned_at, address, attempts, updated_by, created_at, updated_at)
                 VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                vec![text(order_id), text(step.delivery.as_str()), opt_i64(planned_at), text(&address), text(&principal.subject_id), int(now), int(now)],
            )
            .await?;
        }
        Some(_) => {
            let bump = if input.event == DeliveryEvent::Rescheduled { 1 } else { 0 };
            tx.exec(
                "UPDATE deliveries SET state = ?, planned_at = ?, attempts = attempts + ?, updated_by = ?, updated_at = ? WHERE order_id = ?",
                vec![text(step.delivery.as_str()), opt_i64(planned_at), int(bump), text(&principal.subject_id), int(now), text(order_id)],
            )
            .await?;
        }
    }
    if step.order_changes {
        let changed = tx
            .exec(
                "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                vec![text(step.order.as_str()), int(now), text(order_id), text(order_status.as_str())],
            )
            .await?;
        if changed != 1 {
            return Err(Problem::conflict("concurrent-update", "the order changed meanwhile; reload and retry"));
        }
    }
    let when = planned_at.filter(|_| input.event.needs_time()).map(delivery::format_time);
    // What the customer's timeline shows carries no staff id and no internal note; the staff
    // record (`staff:` events, never shown to customers) has both.
    let mut public = format!("delivery {}", input.event.as_str());
    if let Some(w) = &when {
        public.push_str(&format!("; planned {w}"));
    }
    let mut internal = format!("{public}; recorded by {}", principal.subject_id);
    if let Some(n) = &input.note {
        internal.push_str(&format!("; note: {n}"));
    }
    for (kind, detail) in [(format!("delivery-{}", input.event.as_str()), &public), (format!("staff:delivery-{}", input.event.as_str()), &internal)] {
        tx.exec("INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, ?, ?)", vec![text(order_id), int(now), text(kind), text(detail)])
            .await?;
    }
    if step.order_changes {
        tx.exec(
            "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            vec![
                text(order_id),
                int(now),
                text(format!("status:{}", step.order.as_str())),
                text(format!("{} -> {}: delivery {}", order_status.as_str(), step.order.as_str(), input.event.as_str())),
            ],
        )
        .await?;
    }
    // The customer hears about every outcome.
    let to = Contact::customer(&o.str("customer_id"), &o.str("email"), &o.str("phone"));
    let notice = delivery::notice(input.event, &o.str("full_name"), &o.str("model"), when.as_deref());
    let queued: Vec<&str> = notify::send(tx, &rand::id(IdKind::Message), &to, &notice, now).await?.iter().map(|c| c.as_str()).collect();
    Ok(json!({
        "order_id": order_id,
        "order_status": step.order.as_str(),
        "delivery": {
            "state": step.delivery.as_str(),
            "planned_at": planned_at,
            "address": address,
        },
        "event": input.event.as_str(),
        "notified": queued,
    }))
}

fn opt_i64(v: Option<i64>) -> caas_platform::db::Value {
    v.map(int).unwrap_or(caas_platform::db::Value::Null)
}

async fn show(req: Request, order_id: &str) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    if !is_id(IdKind::Order, order_id) {
        return Err(no_order(order_id));
    }
    let db = Db::open_for_request().await?;
    let Some(o) = db.query_one("SELECT status, vin FROM orders WHERE id = ?", vec![text(order_id)]).await? else {
        return Err(no_order(order_id));
    };
    // The code the car displays, for the hand-over (staff only).
    let secret = vars::get("link_code_secret").await.filter(|s| !s.trim().is_empty());
    let link_code = match (o.opt_str("vin"), secret) {
        (Some(vin), Some(secret)) => Some(caas_domain::vehicle::link_code(secret.trim(), &vin)),
        _ => None,
    };
    let d = db
        .query_one("SELECT state, planned_at, address, attempts, updated_by, updated_at FROM deliveries WHERE order_id = ?", vec![text(order_id)])
        .await?;
    let history: Vec<Value> = db
        .query(
            "SELECT at, kind, detail FROM order_events WHERE order_id = ? AND kind LIKE 'staff:delivery-%' ORDER BY id",
            vec![text(order_id)],
        )
        .await?
        .iter()
        .map(|r| json!({"at": r.i64("at"), "event": r.str("kind").trim_start_matches("staff:delivery-"), "detail": r.str("detail")}))
        .collect();
    Ok(resp::json(
        200,
        &json!({
            "order_id": order_id,
            "order_status": o.str("status"),
            "vin": o.opt_str("vin"),
            "link_code": link_code,
            "delivery": d.map(|d| json!({
                "state": d.str("state"),
                "planned_at": d.opt_i64("planned_at"),
                "address": d.str("address"),
                "attempts": d.i64("attempts"),
                "updated_by": d.str("updated_by"),
                "updated_at": d.i64("updated_at"),
            })),
            "history": history,
        }),
    ))
}

/// Orders waiting for transport or hand-over, oldest first (keyset paging on the row id).
async fn worklist(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    let page = req::page(&req)?;
    let db = Db::open_for_request().await?;
    let rows = db
        .query(
            "SELECT o.rowid AS k, o.id, o.status, o.model, o.vin, o.plate, c.full_name, c.phone,
                    d.state, d.planned_at, d.address, d.attempts
             FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN deliveries d ON d.order_id = o.id
             WHERE o.status IN ('matriculated', 'in-transit', 'returned-to-dealer') AND o.rowid > ?
             ORDER BY o.rowid LIMIT ?",
            vec![int(page.after), int(page.limit as i64 + 1)],
        )
        .await?;
    let rows: Vec<(i64, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.i64("k"),
                json!({
                    "order_id": r.str("id"),
                    "order_status": r.str("status"),
                    "model": r.str("model"),
                    "vin": r.opt_str("vin"),
                    "plate": r.opt_str("plate"),
                    "customer": {"full_name": r.str("full_name"), "phone": r.str("phone")},
                    "delivery": r.opt_str("state").map(|st| json!({
                        "state": st,
                        "planned_at": r.opt_i64("planned_at"),
                        "address": r.str("address"),
                        "attempts": r.i64("attempts"),
                    })),
                }),
            )
        })
        .collect();
    let (items, next) = caas_domain::expediente::paginate(rows, page.limit);
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next})))
}
