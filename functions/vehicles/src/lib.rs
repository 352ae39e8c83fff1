//! `/api/vehicles/...` (customers): link the app to the delivered vehicle, list own vehicles.
//!
//! * `POST /api/vehicles/link` `{vin, link_code}` — the code is shown by the car
//!   (`caas_domain::vehicle::link_code`, HMAC of the VIN with `link_code_secret`). Only the
//!   customer of the delivered order with that VIN can link; one vehicle ↔ one account (another
//!   account → 409). Linking, in one transaction: `vehicle_links` row, order
//!   `delivered → operational` (base platform active), one `services` row per plan-comercial
//!   option in `pending-activation` and one queued `ota` job each (worked by the OTA engine).
//!   Linking again from the same account answers 200 with the same vehicle (idempotent).
//!   Before anything is recorded the link goes through the IoT platform as the spec's linking
//!   sequence shows (vehicle-purchase.md, "Mobile Application Linking"): the customer's
//!   authorisation is pushed to the car (`POST {iot_url}/ota/configure`, feature
//!   `customer-authorization`, one deterministic command id per car and account, so a retry is
//!   applied once) and the car must confirm. A car that does not confirm (offline) → 409
//!   `vehicle-not-confirmed`, nothing recorded (the link can be made later; delivery is not
//!   blocked); the IoT platform failing → tried twice, then 503 with Retry-After, nothing recorded.
//! * `GET /api/vehicles` — own linked vehicles. `GET /api/vehicles/{vin}` — own, else 404.
//! * `GET /api/vehicles/{vin}/maintenance` — own, else 404 (issue 10): the workshops' record
//!   from VSS (status, next due date/mileage, history: date, workshop, work done; VSS down →
//!   status `unknown`, the rest still answers), the warranty (valid, or void since a date
//!   because a maintenance was missed) and the maintenance notices sent.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::breaker::Dependency;
use caas_domain::ids::IdKind;
use caas_domain::notify::Contact;
use caas_domain::order::{self, OrderStatus};
use caas_domain::services::catalog::seed_catalog;
use caas_domain::vehicle::{self, activation_command, normalize_vin, plan_services};
use caas_domain::wit::Job;
use caas_domain::FieldError;
use caas_platform::db::{Db, DbError};
use caas_platform::store::vehicles::{self, Link, NewPlanService, PlanService};
use caas_platform::store::orders;
use caas_platform::store::orders::Order;
use caas_platform::{Resp, auth, clock, notify, queue, rand, req, resp, vars};
use serde::Serialize;
use serde_json::Value;
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
        ("GET", r) if r.strip_suffix("/maintenance").is_some_and(|v| v.len() > 1 && !v[1..].contains('/')) => {
            maintenance_view(req, &r[1..r.len() - "/maintenance".len()]).await
        }
        (_, r) if r.strip_suffix("/maintenance").is_some_and(|v| v.len() > 1 && !v[1..].contains('/')) => {
            Err(resp::method_not_allowed(&method, &path, &["GET"]))
        }
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
    let (vin, code) = parse_link(&body)?;
    let secret = vars::required("link_code_secret").await?;
    if !vehicle::code_matches(&secret, &vin, &code) {
        return Err(Problem::unprocessable(
            "link-code-mismatch",
            "the link code does not match this VIN: check the code shown on the vehicle's display",
        ));
    }
    let db = Db::open_for_request().await?;
    // Checked before the car is asked (and again in the transaction): only a car this account may
    // link gets the authorisation; linking again needs no new one.
    if preflight(&db, &principal, &vin).await? {
        authorize_on_vehicle(&vin, &principal.subject_id).await?;
    }
    // The plan's subscriptions are billed at today's catalog price after the included months.
    let plan = PlanTerms {
        catalog: caas_platform::services::load_catalog(&db).await.unwrap_or_else(|_| seed_catalog()),
        included_months: vars::u64_or("plan_subscription_included_months", 3).await.min(120) as u32,
    };
    let outcome = db.transaction(async |tx: &Db| -> Result<Linked, Problem> { link_tx(tx, &principal, &vin, &plan).await }).await?;
    let (status, order_id) = match outcome {
        Linked::New(o) => (201, o),
        Linked::Again(o) => (200, o),
    };
    let v = vehicle_view(&db, &vin, &order_id, &principal.subject_id).await?;
    Ok(resp::json(status, &v))
}

/// Whether the car still has to authorise this account: false when the account already holds the
/// link; the same refusals as [`link_tx`] otherwise (read-only).
async fn preflight(db: &Db, principal: &Principal, vin: &str) -> Result<bool, Problem> {
    if let Some(l) = vehicles::link(db, vin).await? {
        if l.customer_id == principal.subject_id {
            return Ok(false);
        }
        return Err(Problem::conflict("vehicle-already-linked", format!("vehicle {vin} is already linked to another account")));
    }
    linkable_order(db, vin, &principal.subject_id).await?;
    Ok(true)
}

/// How long the car has to confirm the authorisation (per try).
const LINK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(4);
/// Tries of the authorisation push when the IoT platform fails (not when the car is offline).
const LINK_TRIES: u32 = 2;

/// The spec's linking sequence: CaaS → IoT "link customer to vehicle" → the car confirms.
async fn authorize_on_vehicle(vin: &str, customer_id: &str) -> Result<(), Problem> {
    let iot_url = vars::base_url("iot_url").await?;
    let body = serde_json::json!({
        "vin": vin,
        "command-id": vehicle::authorization_command_id(vin, customer_id),
        "feature": vehicle::AUTHORIZATION_FEATURE,
        "action": "activate",
        "customer-id": customer_id,
    });
    let mut last = String::new();
    for _ in 0..LINK_TRIES {
        match caas_platform::http_out::post_json_guarded(Dependency::Iot, &format!("{iot_url}/ota/configure"), &body, &[], LINK_TIMEOUT).await {
            Ok(r) if r.is_success() => return Ok(()),
            Ok(r) if r.status == 503 && caas_domain::breaker::mentions_vehicle_offline(&r.body) => {
                return Err(Problem::conflict(
                    "vehicle-not-confirmed",
                    format!("vehicle {vin} did not confirm the link: it seems to be off or out of coverage. Nothing was changed; switch the car on (or move it where it has coverage) and try again"),
                ));
            }
            Ok(r) if (400..500).contains(&r.status) && r.status != 408 && r.status != 429 => {
                return Err(Problem::conflict("vehicle-not-confirmed", format!("the vehicle platform refused the link of {vin} ({}); nothing was changed", r.status)));
            }
            Ok(r) => last = format!("the vehicle platform answered {}", r.status),
            Err(e @ caas_platform::http_out::CallError::CircuitOpen { .. }) => {
                return Err(e.answer(Problem::unavailable(format!("the vehicle platform is unavailable ({e}); nothing was changed, try again shortly"))));
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(Problem::unavailable(format!("the vehicle platform could not be reached to confirm the link ({last}); nothing was changed, try again shortly")))
}

/// `{vin, link_code}` → (normalized VIN, code).
fn parse_link(body: &Value) -> Result<(String, String), Problem> {
    let mut errors = Vec::new();
    let vin = match body.get("vin").and_then(Value::as_str) {
        None => {
            errors.push(FieldError::new("/vin", "is required"));
            None
        }
        Some(v) => normalize_vin(v).or_else(|| {
            errors.push(FieldError::new("/vin", "must be a 17-character VIN (digits and letters except I, O, Q)"));
            None
        }),
    };
    let code = body.get("link_code").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if code.is_empty() {
        errors.push(FieldError::new("/link_code", "is required: it is shown on the vehicle's display"));
    } else if code.len() > 32 {
        errors.push(FieldError::new("/link_code", "is too long"));
    }
    match vin.filter(|_| errors.is_empty()) {
        Some(vin) => Ok((vin, code.to_string())),
        None => Err(Problem::validation(errors)),
    }
}

/// What the plan's services are created from.
struct PlanTerms {
    catalog: caas_domain::services::catalog::Catalog,
    /// Months a plan subscription is included with the car (`plan_subscription_included_months`).
    included_months: u32,
}

async fn link_tx(tx: &Db, principal: &Principal, vin: &str, plan: &PlanTerms) -> Result<Linked, Problem> {
    let now = clock::now_ms();
    let me = &principal.subject_id;
    if let Some(l) = vehicles::link(tx, vin).await? {
        if l.customer_id == *me {
            return Ok(Linked::Again(l.order_id));
        }
        return Err(Problem::conflict("vehicle-already-linked", format!("vehicle {vin} is already linked to another account")));
    }
    let o = linkable_order(tx, vin, me).await?;
    vehicles::insert_link(tx, vin, me, &o.id, now).await?;
    if !orders::swap_status(tx, &o.id, o.status, OrderStatus::Operational, now).await? {
        return Err(Problem::conflict("concurrent-update", "the order changed meanwhile; retry"));
    }
    let planned = queue_plan_services(tx, &o.id, me, vin, plan, now).await?;
    notify_linked(tx, &o, me, vin, planned, now).await?;
    record_link_events(tx, &o, me, vin, planned, now).await?;
    Ok(Linked::New(o.id))
}

/// The caller's own order for this VIN (the most recent one, should it have been resold),
/// handed over and so ready to become operational.
async fn linkable_order(tx: &Db, vin: &str, me: &str) -> Result<Order, Problem> {
    let Some(o) = orders::latest_for_vin(tx, vin, me).await? else {
        return Err(not_yours(vin));
    };
    if o.status == OrderStatus::Unassigned {
        // Sin asignar: the reservation was lost; the car is no longer this customer's.
        return Err(not_yours(vin));
    }
    if o.status != OrderStatus::Delivered {
        return Err(Problem::conflict(
            "vehicle-not-delivered",
            format!("vehicle {vin} cannot be linked yet: the order is {}; link it once it has been handed over to you", o.status),
        ));
    }
    order::transition(o.status, OrderStatus::Operational).map_err(|e| e.to_problem())?;
    Ok(o)
}

/// One `services` row and one queued OTA activation per plan-comercial option; returns how many.
async fn queue_plan_services(tx: &Db, order_id: &str, me: &str, vin: &str, plan: &PlanTerms, now: i64) -> Result<usize, DbError> {
    let options = orders::plan_options(tx, order_id).await?;
    let planned = plan_services(&options, &plan.catalog);
    for p in &planned {
        let service_id = rand::id(IdKind::Service);
        let cmd = activation_command(&service_id, vin, &p.feature);
        let job_id = queue::enqueue(tx, &Job::Ota(cmd.clone()), &cmd.command_id, now).await?;
        let row = NewPlanService {
            id: &service_id,
            order_id,
            customer_id: me,
            vin,
            option_code: &p.option_code,
            feature: &p.feature,
            kind: &p.kind,
            state: p.state,
            command_id: &cmd.command_id,
            job_id,
            monthly_price: p.monthly_price.as_ref(),
            included_months: Some(plan.included_months),
        };
        vehicles::insert_plan_service(tx, &row, now).await?;
    }
    Ok(planned.len())
}

/// Plataforma base active: told by e-mail, push and on the car's display (through the outbox).
async fn notify_linked(tx: &Db, o: &Order, me: &str, vin: &str, planned: usize, now: i64) -> Result<(), DbError> {
    let Some(c) = notify::contact(tx, &o.customer_id).await? else { return Ok(()) };
    let to = Contact { customer_id: Some(me.to_string()), ..c }.with_vehicle(Some(vin));
    notify::send(tx, &format!("linked-{}", o.id), &to, &vehicle::msg_linked(vin, &o.model, planned), now).await?;
    Ok(())
}

async fn record_link_events(tx: &Db, o: &Order, me: &str, vin: &str, planned: usize, now: i64) -> Result<(), DbError> {
    orders::event(tx, &o.id, now, "app-linked", format!("app of customer {me} linked to vehicle {vin}")).await?;
    orders::status_event(tx, &o.id, o.status, OrderStatus::Operational, now, "app linked").await?;
    orders::event(tx, &o.id, now, "base-platform-active", "plataforma base active").await?;
    orders::event(tx, &o.id, now, "plan-services-queued", format!("{planned} optional service(s) of the plan comercial queued for OTA activation")).await
}

/// OpenAPI `LinkedVehicle` (fields in alphabetical order): one linked vehicle as the customer sees it.
#[derive(Serialize)]
struct LinkedVehicle {
    base_platform: &'static str,
    country: Option<String>,
    linked_at: Option<i64>,
    model: Option<String>,
    order_id: String,
    order_status: String,
    plate: Option<String>,
    services: Vec<PlanService>,
    vin: String,
}

async fn vehicle_view(db: &Db, vin: &str, order_id: &str, customer_id: &str) -> Result<LinkedVehicle, Problem> {
    let o = orders::load_customers_order(db, order_id, customer_id).await?;
    let linked_at = vehicles::link(db, vin).await?.map(|l| l.linked_at);
    let services = vehicles::services_of(db, vin, customer_id).await?;
    let status = o.as_ref().map(|o| o.status);
    Ok(LinkedVehicle {
        base_platform: if status == Some(OrderStatus::Operational) { "active" } else { "inactive" },
        country: o.as_ref().map(|o| o.country.clone()),
        linked_at,
        model: o.as_ref().map(|o| o.model.clone()),
        order_id: order_id.to_string(),
        order_status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        plate: o.as_ref().and_then(|o| o.plate.clone()),
        services,
        vin: vin.to_string(),
    })
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

async fn list(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let mut items = Vec::new();
    for l in vehicles::links_of(&db, &principal.subject_id).await? {
        items.push(vehicle_view(&db, &l.vin, &l.order_id, &principal.subject_id).await?);
    }
    Ok(resp::json(200, &Items { items }))
}

async fn one(req: Request, vin_raw: &str) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let Some(vin) = normalize_vin(vin_raw) else {
        return Err(not_yours(vin_raw));
    };
    let db = Db::open_for_request().await?;
    let Some(l) = vehicles::link(&db, &vin).await?.filter(|l: &Link| l.customer_id == principal.subject_id) else {
        return Err(not_yours(&vin));
    };
    Ok(resp::json(200, &vehicle_view(&db, &vin, &l.order_id, &principal.subject_id).await?))
}

/// OpenAPI `VehicleMaintenance` (fields in alphabetical order).
#[derive(Serialize)]
struct MaintenanceView {
    history: Vec<caas_domain::maintenance::ServiceRecord>,
    last_service: Option<String>,
    next_due: Option<String>,
    next_due_km: Option<i64>,
    notices: Vec<caas_platform::store::maintenance::Notice>,
    source: &'static str,
    status: String,
    status_detail: Option<String>,
    vehicle_operation: &'static str,
    vin: String,
    warranty: caas_domain::maintenance::Warranty,
}

async fn maintenance_view(req: Request, vin_raw: &str) -> Result<Resp, Problem> {
    let principal = auth::require(&req, CUSTOMER).await?;
    let Some(vin) = normalize_vin(vin_raw) else {
        return Err(not_yours(vin_raw));
    };
    let db = Db::open_for_request().await?;
    let me = &principal.subject_id;
    if vehicles::link(&db, &vin).await?.filter(|l: &Link| l.customer_id == *me).is_none() {
        return Err(not_yours(&vin));
    }
    let void = caas_platform::store::maintenance::warranty_void(&db, &vin).await?;
    let warranty = caas_domain::maintenance::warranty(void.as_ref().map(|(s, d)| (s.as_str(), d.as_str())));
    let notices = caas_platform::store::maintenance::notices(&db, &vin, me).await?;
    let record = match vars::base_url("vss_url").await {
        Ok(base) => caas_platform::services::vss_record(&base, &vin).await,
        Err(_) => Err("maintenance records are not configured".to_string()),
    };
    let view = match record {
        Ok(m) => MaintenanceView {
            history: m.history,
            last_service: m.last_service.map(|d| d.iso()),
            next_due: m.next_due.map(|d| d.iso()),
            next_due_km: m.next_due_km,
            notices,
            source: "vss",
            status: if m.status == "current" || m.status == "overdue" { m.status } else { "unknown".into() },
            status_detail: None,
            vehicle_operation: "unaffected",
            vin,
            warranty,
        },
        // Why VSS failed stays in the logs' domain: the customer is told it is temporary.
        Err(_) => MaintenanceView {
            history: Vec::new(),
            last_service: None,
            next_due: None,
            next_due_km: None,
            notices,
            source: "vss",
            status: "unknown".into(),
            status_detail: Some("the workshops' maintenance system cannot answer right now; try again later".into()),
            vehicle_operation: "unaffected",
            vin,
            warranty,
        },
    };
    Ok(resp::json(200, &view))
}
