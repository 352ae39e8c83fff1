//! `/api/vehicles/...` (customers): link the app to the delivered vehicle, list own vehicles.
//!
//! * `POST /api/vehicles/link` `{vin, link_code}` — the code is shown by the car
//!   (`caas_domain::vehicle::link_code`, HMAC of the VIN with `link_code_secret`). Only the
//!   customer of the delivered order with that VIN can link; one vehicle ↔ one account (another
//!   account → 409). Linking, in one transaction: `vehicle_links` row, order
//!   `delivered → operational` (base platform active), one `services` row per plan-comercial
//!   option in `pending-activation` and one queued `ota` job each (worked by the OTA engine).
//!   Linking again from the same account answers 200 with the same vehicle (idempotent).
//! * `GET /api/vehicles` — own linked vehicles. `GET /api/vehicles/{vin}` — own, else 404.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::ids::IdKind;
use caas_domain::notify::Contact;
use caas_domain::order::{self, OrderStatus};
use caas_domain::services::catalog::seed_catalog;
use caas_domain::vehicle::{self, activation_command, normalize_vin, plan_services};
use caas_domain::wit::Job;
use caas_domain::FieldError;
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, auth, clock, notify, queue, rand, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const CUSTOMER: &[Role] = &[Role::Customer];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/vehicles").unwrap_or("");
    match (method.as_str(), rest) {
        ("POST", "/link") => link(req).await,
        (_, "/link") => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        ("GET", "") => list(req).await,
        (_, "") => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        ("GET", r) if r.starts_with('/') && !r[1..].is_empty() && !r[1..].contains('/') => one(req, &r[1..]).await,
        (_, r) if r.starts_with('/') && !r[1..].contains('/') => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn not_yours(vin: &str) -> Problem {
    Problem::not_found(format!("no vehicle {vin} in your account"))
}

enum Linked {
    New(String),
    Again(String),
}

async fn link(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let body = req::json_body(req).await?;
    let mut errors = Vec::new();
    let vin = match body.get("vin").and_then(Value::as_str) {
        None => {
            errors.push(FieldError::new("/vin", "is required"));
            None
        }
        Some(v) => match normalize_vin(v) {
            Some(v) => Some(v),
            None => {
                errors.push(FieldError::new("/vin", "must be a 17-character VIN (digits and letters except I, O, Q)"));
                None
            }
        },
    };
    let code = body.get("link_code").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if code.is_empty() {
        errors.push(FieldError::new("/link_code", "is required: it is shown on the vehicle's display"));
    } else if code.len() > 32 {
        errors.push(FieldError::new("/link_code", "is too long"));
    }
    let Some(vin) = vin.filter(|_| errors.is_empty()) else {
        return Err(Problem::validation(errors));
    };
    let secret = vars::required("link_code_secret").await?;
    if !vehicle::code_matches(&secret, &vin, code) {
        return Err(Problem::unprocessable(
            "link-code-mismatch",
            "the link code does not match this VIN: check the code shown on the vehicle's display",
        ));
    }
    let db = Db::open_for_request().await?;
    let outcome = db.transaction(async |tx: &Db| -> Result<Linked, Problem> { link_tx(tx, &principal, &vin).await }).await?;
    let (status, order_id) = match outcome {
        Linked::New(o) => (201, o),
        Linked::Again(o) => (200, o),
    };
    let v = vehicle_view(&db, &vin, &order_id, &principal.subject_id).await?;
    Ok(resp::json(status, &v))
}

async fn link_tx(tx: &Db, principal: &Principal, vin: &str) -> Result<Linked, Problem> {
    let now = clock::now_ms();
    let me = &principal.subject_id;
    if let Some(l) = tx.query_one("SELECT customer_id, order_id FROM vehicle_links WHERE vin = ?", vec![text(vin)]).await? {
        if l.str("customer_id") == *me {
            return Ok(Linked::Again(l.str("order_id")));
        }
        return Err(Problem::conflict("vehicle-already-linked", format!("vehicle {vin} is already linked to another account")));
    }
    // The caller's own order for this VIN (the most recent one, should it have been resold).
    let Some(o) = tx
        .query_one(
            "SELECT id, status FROM orders WHERE vin = ? AND customer_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            vec![text(vin), text(me)],
        )
        .await?
    else {
        return Err(not_yours(vin));
    };
    let order_id = o.str("id");
    let status = OrderStatus::parse(&o.str("status")).unwrap_or(OrderStatus::Unassigned);
    if status == OrderStatus::Unassigned {
        // Sin asignar: the reservation was lost; the car is no longer this customer's.
        return Err(not_yours(vin));
    }
    if status != OrderStatus::Delivered {
        return Err(Problem::conflict(
            "vehicle-not-delivered",
            format!("vehicle {vin} cannot be linked yet: the order is {status}; link it once it has been handed over to you"),
        ));
    }
    order::transition(status, OrderStatus::Operational).map_err(|e| e.to_problem())?;
    tx.exec(
        "INSERT INTO vehicle_links(vin, customer_id, order_id, linked_at) VALUES (?, ?, ?, ?)",
        vec![text(vin), text(me), text(&order_id), int(now)],
    )
    .await?;
    let changed = tx
        .exec(
            "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            vec![text(OrderStatus::Operational.as_str()), int(now), text(&order_id), text(status.as_str())],
        )
        .await?;
    if changed != 1 {
        return Err(Problem::conflict("concurrent-update", "the order changed meanwhile; retry"));
    }
    let options: Vec<String> = tx
        .query("SELECT option_code FROM plan_options WHERE order_id = ? ORDER BY option_code", vec![text(&order_id)])
        .await?
        .iter()
        .map(|r| r.str("option_code"))
        .collect();
    let planned = plan_services(&options, &seed_catalog());
    for p in &planned {
        let service_id = rand::id(IdKind::Service);
        let cmd = activation_command(&service_id, vin, &p.feature);
        let job_id = queue::enqueue(tx, &Job::Ota(cmd.clone()), &cmd.command_id, now).await?;
        tx.exec(
            "INSERT INTO services(id, order_id, customer_id, vin, option_code, feature, kind, source, state, command_id, job_id,
                                  created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, 'plan', ?, ?, ?, ?, ?)",
            vec![
                text(&service_id), text(&order_id), text(me), text(vin), text(&p.option_code), text(&p.feature), text(&p.kind),
                text(p.state.as_str()), text(&cmd.command_id), caas_platform::db::opt_text(job_id), int(now), int(now),
            ],
        )
        .await?;
    }
    let events = [
        ("app-linked", format!("app of customer {me} linked to vehicle {vin}")),
        ("status:operational", format!("{} -> {}: app linked", status.as_str(), OrderStatus::Operational.as_str())),
        ("base-platform-active", "plataforma base active".to_string()),
        ("plan-services-queued", format!("{} optional service(s) of the plan comercial queued for OTA activation", planned.len())),
    ];
    // Plataforma base active: told by e-mail, push and on the car's display (through the outbox).
    if let Some(c) = tx
        .query_one(
            "SELECT c.email, o.model FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.id = ?",
            vec![text(&order_id)],
        )
        .await?
    {
        let to = Contact::customer(me, &c.str("email"), "").with_vehicle(Some(vin));
        notify::send(tx, &format!("linked-{order_id}"), &to, &vehicle::msg_linked(vin, &c.str("model"), planned.len()), now).await?;
    }
    for (kind, detail) in events {
        tx.exec(
            "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
            vec![text(&order_id), int(now), text(kind), text(detail)],
        )
        .await?;
    }
    Ok(Linked::New(order_id))
}

/// One linked vehicle as the customer sees it.
async fn vehicle_view(db: &Db, vin: &str, order_id: &str, customer_id: &str) -> Result<Value, Problem> {
    let o = db
        .query_one("SELECT status, model, plate, country FROM orders WHERE id = ? AND customer_id = ?", vec![text(order_id), text(customer_id)])
        .await?;
    let linked_at = db.query_one("SELECT linked_at FROM vehicle_links WHERE vin = ?", vec![text(vin)]).await?.map(|r| r.i64("linked_at"));
    let services: Vec<Value> = db
        .query(
            "SELECT id, option_code, feature, kind, state, command_id, created_at, activated_at, ends_at
             FROM services WHERE vin = ? AND customer_id = ? ORDER BY created_at, option_code",
            vec![text(vin), text(customer_id)],
        )
        .await?
        .iter()
        .map(|s| {
            json!({
                "id": s.str("id"),
                "option_code": s.str("option_code"),
                "feature": s.str("feature"),
                "kind": s.str("kind"),
                "state": s.str("state"),
                "command_id": s.opt_str("command_id"),
                "created_at": s.i64("created_at"),
                "activated_at": s.opt_i64("activated_at"),
                "ends_at": s.opt_i64("ends_at"),
            })
        })
        .collect();
    let status = o.as_ref().map(|o| o.str("status")).unwrap_or_default();
    Ok(json!({
        "vin": vin,
        "order_id": order_id,
        "model": o.as_ref().map(|o| o.str("model")),
        "plate": o.as_ref().and_then(|o| o.opt_str("plate")),
        "country": o.as_ref().map(|o| o.str("country")),
        "order_status": status,
        "linked_at": linked_at,
        "base_platform": if status == OrderStatus::Operational.as_str() { "active" } else { "inactive" },
        "services": services,
    }))
}

async fn list(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let links = db
        .query("SELECT vin, order_id FROM vehicle_links WHERE customer_id = ? ORDER BY linked_at, vin", vec![text(&principal.subject_id)])
        .await?;
    let mut items = Vec::new();
    for l in links {
        items.push(vehicle_view(&db, &l.str("vin"), &l.str("order_id"), &principal.subject_id).await?);
    }
    Ok(resp::json(200, &json!({"items": items})))
}

async fn one(req: Request, vin_raw: &str) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let Some(vin) = normalize_vin(vin_raw) else {
        return Err(not_yours(vin_raw));
    };
    let db = Db::open_for_request().await?;
    let Some(l) = db
        .query_one("SELECT order_id FROM vehicle_links WHERE vin = ? AND customer_id = ?", vec![text(&vin), text(&principal.subject_id)])
        .await?
    else {
        return Err(not_yours(&vin));
    };
    Ok(resp::json(200, &vehicle_view(&db, &vin, &l.str("order_id"), &principal.subject_id).await?))
}
