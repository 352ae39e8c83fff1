//! `/api/services/...`: a customer buys an option for their own operational vehicle, and reads
//! their services.
//!
//! `POST /api/services {vin, option_code}` (header `Idempotency-Key`):
//! 1. own vehicle (else 404), operational (else 409), option offered, no instance of the same
//!    option active or pending (409); maintenance-dependent options ask VSS: overdue → 422 with
//!    the reason, unreachable → allowed and the decision recorded on the service row;
//! 2. one-time options: the payment is initiated at the gateway (`kind: service`, Idempotency-Key
//!    = the service id, derived from the request so a retry reuses it). Gateway down → 503,
//!    declined → 402: nothing is stored, nothing activated, nothing charged. Subscriptions are
//!    billed in arrears: no upfront charge;
//! 3. ONE transaction: service row `pending-activation` + payment row + ledger charge + the OTA
//!    activation job (dedupe key = command id) + timeline; answer 202.
//!
//! `GET /api/services[?vin=]` and `GET /api/services/{id}` (own only, else 404).
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::breaker::Dependency;
use caas_domain::idempotency::{self, Replay};
use caas_domain::ids::{IdKind, is_id, make_id};
use caas_domain::services::catalog::{self, AvailabilityContext, BlockReason, Catalog, MaintenanceStatus, PurchasePlan, ServiceOption};
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::ota::{OtaAction, PaymentStatus, command_id};
use caas_domain::vehicle::normalize_vin;
use caas_domain::wit::{Job, OtaCommand, ReturnMode};
use caas_domain::FieldError;
use caas_platform::db::{Db, DbError, int, opt_text, text};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use caas_domain::journey::PaymentKind;
use caas_domain::payment::{PaymentState, ledger_key};
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::store::ledger;
use caas_platform::store::payment_methods;
use caas_platform::store::payments::{self, NewPayment};
use caas_platform::{Resp, auth, clock, money, queue, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/services").unwrap_or("/");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", []) => purchase(req).await,
        ("GET", []) => list(req).await,
        ("GET", [id]) => {
            let id = id.to_string();
            get_one(req, &id).await
        }
        (_, []) => Err(resp::method_not_allowed(&method, &path, &["GET", "POST"])),
        (_, [_]) => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn block_problem(r: BlockReason) -> Problem {
    match r {
        BlockReason::NotOwner => Problem::not_found("no such vehicle on your account"),
        _ => {
            let title = match r.http_status() {
                409 => "Conflict",
                _ => "Option not available",
            };
            Problem::new(r.http_status(), r.code(), title, r.message())
        }
    }
}

fn key_reused() -> Problem {
    Problem::unprocessable("idempotency-key-reused", "this Idempotency-Key was already used with a different request body")
}

/// The service id of a purchase request: derived from (customer, key, body) so that a client
/// retry after a gateway failure reuses the same id — and so the same gateway Idempotency-Key.
fn derived_service_id(scope: &str, key: &str, request_hash: &str) -> String {
    let h = idempotency::sha256_hex(format!("{scope}\n{key}\n{request_hash}").as_bytes());
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(h.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
    }
    make_id(IdKind::Service, &b)
}

struct PurchaseInput {
    vin: String,
    option_code: String,
}

fn parse_input(body: &Value) -> Result<PurchaseInput, Vec<FieldError>> {
    let mut errs = Vec::new();
    let vin = match body.get("vin").and_then(Value::as_str).map(normalize_vin) {
        Some(Some(v)) => v,
        _ => {
            errs.push(FieldError::new("/vin", "is required: a 17-character VIN"));
            String::new()
        }
    };
    let option_code = match body.get("option_code").and_then(Value::as_str) {
        Some(c) if catalog::is_valid_code(c) => c.to_string(),
        _ => {
            errs.push(FieldError::new("/option_code", "is required: a catalog option code"));
            String::new()
        }
    };
    if errs.is_empty() { Ok(PurchaseInput { vin, option_code }) } else { Err(errs) }
}

async fn stored_idempotency(db: &Db, scope: &str, key: &str, hash: &str) -> Result<Replay, DbError> {
    let row = db
        .query_one(
            "SELECT request_hash, status_code, response_body FROM idempotency WHERE scope = ? AND key = ?",
            vec![text(scope), text(key)],
        )
        .await?;
    Ok(idempotency::decide(
        row.map(|r| (r.str("request_hash"), r.i64("status_code").clamp(100, 599) as u16, r.str("response_body"))),
        hash,
    ))
}

/// Result of initiating the upfront payment at the gateway.
struct Initiated {
    payment_id: String,
    /// The gateway answered with a payment made earlier for the same key.
    replayed: bool,
}

/// How many gateway Idempotency-Keys one purchase may use: a retry whose earlier payment was
/// voided, declined or failed at the gateway gets a fresh payment (`<service id>~2`, …) instead
/// of building on a dead one.
const MAX_GATEWAY_KEYS: u32 = 3;

fn gateway_key(service_id: &str, n: u32) -> String {
    if n <= 1 { service_id.to_string() } else { format!("{service_id}~{n}") }
}

/// Initiates the upfront payment and makes sure it is live at the gateway (pending or settled):
/// the gateway answers a repeated Idempotency-Key with the payment it made the first time, which
/// may since have been voided (a purchase that lost a race) or declined. Such a payment is never
/// reused: the next gateway key is tried.
async fn initiate_payment(payment_url: &str, service_id: &str, customer_id: &str, amount: &caas_domain::wit::Money, method: Option<&str>) -> Result<Initiated, Problem> {
    for n in 1..=MAX_GATEWAY_KEYS {
        let key = gateway_key(service_id, n);
        let p = initiate_once(payment_url, &key, service_id, customer_id, amount, method).await?;
        match gateway_status(payment_url, &p.payment_id).await {
            Some(PaymentStatus::Pending | PaymentStatus::Settled) => return Ok(p),
            Some(PaymentStatus::NotCollected) => continue,
            // Unknown: a fresh payment is live by definition; after a retry we cannot tell.
            Some(PaymentStatus::NoPayment) | None if n == 1 && !p.replayed => return Ok(p),
            Some(PaymentStatus::NoPayment) | None => {
                return Err(Problem::unavailable(
                    "the payment gateway could not confirm the payment of this purchase; nothing was charged and nothing activated, try again later",
                ));
            }
        }
    }
    Err(Problem::conflict(
        "payment-not-live",
        "the earlier payments of this purchase were cancelled at the gateway; send the purchase again with a new Idempotency-Key",
    ))
}

/// The payment's current state at the gateway (`GET /payments/{id}`); None when unknown.
async fn gateway_status(payment_url: &str, payment_id: &str) -> Option<PaymentStatus> {
    let r = http_out::get_json(&format!("{payment_url}/payments/{payment_id}"), &[], ORPHAN_CHECK_TIMEOUT).await.ok()?;
    if !r.is_success() {
        return None;
    }
    let v: Value = serde_json::from_str(&r.body).ok()?;
    if v.get("refunded-minor").and_then(Value::as_i64).is_some_and(|n| n > 0) {
        return Some(PaymentStatus::NotCollected); // money already given back: never reused
    }
    PaymentStatus::from_gateway(v.get("status")?.as_str()?)
}

async fn initiate_once(
    payment_url: &str,
    gateway_key: &str,
    service_id: &str,
    customer_id: &str,
    amount: &caas_domain::wit::Money,
    method: Option<&str>,
) -> Result<Initiated, Problem> {
    let mut body = json!({
        "amount-minor": amount.amount_minor,
        "currency": amount.currency,
        "reference": service_id,
        "kind": "service",
        "customer-id": customer_id,
        "method": "card",
    });
    if let Some(token) = method {
        body["payment-method"] = json!(token);
    }
    let reply = http_out::post_json_guarded(Dependency::Payment, &format!("{payment_url}/payments"), &body, &[("idempotency-key", gateway_key)], DEFAULT_TIMEOUT).await;
    match reply {
        Ok(r) if r.status == 201 || r.status == 200 => {
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            match v.get("payment-id").and_then(Value::as_str) {
                Some(id) if !id.is_empty() => Ok(Initiated { payment_id: id.to_string(), replayed: r.replayed || r.status == 200 }),
                _ => Err(Problem::unavailable("the payment gateway gave an unusable answer; nothing was charged, try again")),
            }
        }
        Ok(r) if r.status == 402 => Err(Problem::new(
            402,
            "payment-declined",
            "Payment declined",
            "the payment was declined by your bank; nothing was charged and nothing activated",
        )),
        Ok(r) if r.status == 409 => Err(key_reused()),
        Ok(r) => Err(Problem::unavailable(format!(
            "the payment gateway is unavailable (answered {}); nothing was charged and nothing activated, try again later",
            r.status
        ))),
        // The gateway failed repeatedly a moment ago: refused at once, nothing was sent.
        Err(e @ http_out::CallError::CircuitOpen { .. }) => Err(e.answer(Problem::unavailable(format!(
            "the payment gateway is unavailable ({e}); nothing was charged and nothing activated, try again later"
        )))),
        Err(http_out::CallError::Failed(e)) => {
            // A timeout does not mean "not done": if the gateway did create the payment, find it
            // (same Idempotency-Key → the same answer) and void it, so that nothing stays charged.
            if let Ok(r) = http_out::post_json(&format!("{payment_url}/payments"), &body, &[("idempotency-key", gateway_key)], ORPHAN_CHECK_TIMEOUT).await
                && (r.status == 200 || r.status == 201)
                && let Some(pid) = serde_json::from_str::<Value>(&r.body).ok().and_then(|v| v.get("payment-id").and_then(Value::as_str).map(str::to_string))
            {
                void_best_effort(payment_url, &pid).await;
            }
            Err(Problem::unavailable(format!(
                "the payment gateway is unreachable ({e}); nothing was charged and nothing activated, try again later"
            )))
        }
    }
}

/// Budget of the after-timeout check for a payment the gateway may have created anyway.
const ORPHAN_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Best effort: void a payment we initiated but could not record (lost race). The customer is
/// never charged for a purchase that was not recorded.
async fn void_best_effort(payment_url: &str, payment_id: &str) {
    let _ = http_out::post_json(&format!("{payment_url}/payments/{payment_id}/void"), &json!({}), &[], DEFAULT_TIMEOUT).await;
}

/// Work the queued return of a payment that no purchase recorded, now; on failure the retry
/// tick keeps trying (the job was committed with the decision).
async fn give_back_now(db: &Db, payment_url: &str, payment_id: Option<&str>, amount: Option<&caas_domain::wit::Money>) {
    let (Some(pid), Some(amount)) = (payment_id, amount) else { return };
    let _ = money::return_now(db, payment_url, &not_recorded_return(pid, amount), clock::now_ms()).await;
}

/// The return of a payment initiated for a purchase that was not recorded.
fn not_recorded_return(pid: &str, amount: &caas_domain::wit::Money) -> caas_domain::wit::PaymentReturn {
    money::payment_return(pid, amount, &ledger_key::payment_return(pid), pid, None, ReturnMode::VoidOrRefund, "purchase-not-recorded")
}

enum Stored {
    Created(Value),
    Replayed(u16, String),
    KeyReused,
    Blocked(BlockReason),
}

/// Everything the purchase's transaction records, decided before it.
struct Purchase {
    scope: String,
    key: String,
    request_hash: String,
    customer_id: String,
    service_id: String,
    vehicle: svc::OwnedVehicle,
    option: ServiceOption,
    plan: PurchasePlan,
    maintenance: MaintenanceStatus,
    maintenance_note: String,
    state: ServiceState,
    cmd: OtaCommand,
    payment_id: Option<String>,
}

fn idempotency_key_header(req: &Request) -> Result<String, Problem> {
    match req::header(req, "idempotency-key") {
        None | Some("") => Err(Problem::bad_request("the Idempotency-Key header is required")),
        Some(k) if !idempotency::is_valid_key(k) => Err(Problem::bad_request("the Idempotency-Key header must be 1-200 visible ASCII characters")),
        Some(k) => Ok(k.to_string()),
    }
}

async fn purchase(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, &[Role::Customer]).await?;
    let key = idempotency_key_header(&req)?;
    let body = req::json_body(req).await?;
    let input = parse_input(&body).map_err(Problem::validation)?;
    let request_hash = idempotency::request_hash(&body);
    let customer_id = principal.subject_id.clone();
    let scope = format!("services:{customer_id}");
    let db = Db::open_for_request().await?;
    match stored_idempotency(&db, &scope, &key, &request_hash).await? {
        Replay::Replay { status, body } => return Ok(resp::json_raw(status, body)),
        Replay::Mismatch => return Err(key_reused()),
        Replay::Fresh => {}
    }
    let (vehicle, option, plan, maintenance, maintenance_note) = decide(&db, &customer_id, &input).await?;
    let service_id = derived_service_id(&scope, &key, &request_hash);
    let payment_url = vars::base_url("payment_url").await?;
    let payment_id = match &plan.upfront_charge {
        Some(amount) => {
            // Charged to the customer's saved default card when there is one (issue 7).
            let method = payment_methods::default_token(&db, &customer_id).await?;
            Some(initiate_payment(&payment_url, &service_id, &customer_id, amount, method.as_deref()).await?.payment_id)
        }
        None => None,
    };
    let mut state = plan.initial_state;
    if payment_id.is_some() {
        state = state.transition(ServiceEvent::PaymentInitiated).map_err(|e| Problem::unavailable(e.to_string()))?;
    }
    let cmd = OtaCommand {
        command_id: command_id(&service_id, OtaAction::Activate, 0),
        service_id: service_id.clone(),
        vin: vehicle.vin.clone(),
        feature: option.feature.clone(),
        action: OtaAction::Activate.as_str().to_string(),
    };
    let p = Purchase { scope, key, request_hash, customer_id, service_id, vehicle, option, plan, maintenance, maintenance_note, state, cmd, payment_id };
    let stored = db.transaction(async |tx: &Db| record(tx, &p, clock::now_ms()).await).await;
    respond(&db, &payment_url, &p, stored).await
}

/// Load the vehicle, the option and (when needed) the VSS maintenance status; decide the plan.
async fn decide(db: &Db, customer_id: &str, input: &PurchaseInput) -> Result<(svc::OwnedVehicle, ServiceOption, PurchasePlan, MaintenanceStatus, String), Problem> {
    let Some(vehicle) = svc::owned_vehicle(db, customer_id, &input.vin).await? else {
        return Err(block_problem(BlockReason::NotOwner));
    };
    if !vehicle.operational {
        return Err(Problem::conflict("vehicle-not-operational", BlockReason::VehicleNotOperational.message()));
    }
    let cat = svc::load_catalog(db).await?;
    let Some(option) = cat.get(&input.option_code).cloned() else {
        return Err(Problem::not_found(format!("no option {} in the catalog", input.option_code)));
    };
    let existing = svc::existing_states(db, &vehicle.vin, &option.code).await?;
    // Cheap checks first: no VSS call for a purchase refused anyway.
    let pre = AvailabilityContext { owned_by_customer: true, vehicle_operational: true, maintenance: MaintenanceStatus::Current, existing: &existing };
    catalog::plan_purchase(&option, &pre).map_err(block_problem)?;
    let (maintenance, note) = if option.requires_maintenance {
        let vss_url = vars::base_url("vss_url").await?;
        svc::vss_maintenance(&vss_url, &vehicle.vin).await
    } else {
        (MaintenanceStatus::Unknown, "not required".to_string())
    };
    let plan = catalog::plan_purchase(&option, &AvailabilityContext { maintenance, ..pre }).map_err(block_problem)?;
    Ok((vehicle, option, plan, maintenance, note))
}

/// The purchase's one transaction: idempotency re-check, availability re-check under the write
/// lock, then service + payment + ledger charge + activation job + timeline + stored answer.
async fn record(tx: &Db, p: &Purchase, now: i64) -> Result<Stored, DbError> {
    match stored_idempotency(tx, &p.scope, &p.key, &p.request_hash).await? {
        Replay::Replay { status, body } => return Ok(Stored::Replayed(status, body)),
        Replay::Mismatch => {
            give_back(tx, p, now).await?;
            return Ok(Stored::KeyReused);
        }
        Replay::Fresh => {}
    }
    // Re-check under the write lock: a concurrent purchase of the same option.
    let existing = svc::existing_states(tx, &p.vehicle.vin, &p.option.code).await?;
    let ctx = AvailabilityContext { owned_by_customer: true, vehicle_operational: true, maintenance: p.maintenance, existing: &existing };
    if let Err(r) = catalog::plan_purchase(&p.option, &ctx) {
        give_back(tx, p, now).await?;
        return Ok(Stored::Blocked(r));
    }
    match insert_service(tx, p, now).await {
        Err(e) if e.is_unique_violation() => return Ok(Stored::Blocked(BlockReason::AlreadyPending)),
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    record_payment(tx, p, now).await?;
    queue::enqueue(tx, &Job::Ota(p.cmd.clone()), &p.cmd.command_id, now).await?;
    let decision = p.plan.maintenance.as_str();
    let detail = format!(
        "{} ({}) bought as {}; maintenance: {} ({}); activation queued as {}",
        p.option.name, p.option.code, p.service_id, decision, p.maintenance_note, p.cmd.command_id
    );
    svc::timeline(tx, Some(&p.vehicle.order_id), now, "service-purchased", detail).await?;
    // "In progress" (issue 10): an app notification; success, delay or failure follow from the engine.
    let started = caas_domain::messages::activation_started(&p.option.name, &p.vehicle.vin);
    svc::send(tx, &p.customer_id, &p.vehicle.vin, &format!("svc-started:{}", p.service_id), &started, now).await?;
    let row = svc::load_service(tx, &p.service_id).await?;
    let body = row.map(|r| r.to_json()).unwrap_or_else(|| json!({"id": p.service_id, "state": p.state.as_str()}));
    tx.exec(
        "INSERT INTO idempotency(scope, key, request_hash, status_code, response_body, created_at) VALUES (?, ?, ?, 202, ?, ?)",
        vec![text(&p.scope), text(&p.key), text(&p.request_hash), text(body.to_string()), int(now)],
    )
    .await?;
    Ok(Stored::Created(body))
}

/// A payment initiated for a purchase that is not recorded is given back by a durable job queued
/// in the transaction (worked right after the commit, else by the retry tick).
async fn give_back(tx: &Db, p: &Purchase, now: i64) -> Result<(), DbError> {
    if let (Some(pid), Some(amount)) = (&p.payment_id, &p.plan.upfront_charge) {
        money::queue_return(tx, &not_recorded_return(pid, amount), now).await?;
    }
    Ok(())
}

async fn insert_service(tx: &Db, p: &Purchase, now: i64) -> Result<u64, DbError> {
    tx.exec(
        "INSERT INTO services(id, order_id, customer_id, vin, option_code, feature, kind, source, state, command_id,
           activated_at, ends_at, created_at, updated_at, snapshot, price_minor, currency, purchased_at,
           billing_ends_at, payment_id, payment_status, command_generation, maintenance_decision, last_error)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'purchase', ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 0, ?, NULL)",
        vec![
            text(&p.service_id),
            opt_text(Some(p.vehicle.order_id.clone()).filter(|o| !o.is_empty())),
            text(&p.customer_id),
            text(&p.vehicle.vin),
            text(&p.option.code),
            text(&p.option.feature),
            text(p.option.kind.as_str()),
            text(p.state.as_str()),
            text(&p.cmd.command_id),
            int(now),
            int(now),
            text(serde_json::to_string(&p.plan.snapshot).unwrap_or_default()),
            int(p.plan.snapshot.price.amount_minor),
            text(&p.plan.snapshot.price.currency),
            int(now),
            opt_text(p.payment_id.clone()),
            opt_text(p.payment_id.as_ref().map(|_| PaymentState::Pending.as_str())),
            text(p.plan.maintenance.as_str()),
        ],
    )
    .await
}

/// The upfront payment row and its ledger charge (`charge:<service id>`).
async fn record_payment(tx: &Db, p: &Purchase, now: i64) -> Result<(), DbError> {
    let (Some(pid), Some(amount)) = (&p.payment_id, &p.plan.upfront_charge) else { return Ok(()) };
    let row = NewPayment {
        id: pid,
        order_id: None,
        customer_id: &p.customer_id,
        kind: PaymentKind::Service,
        amount,
        state: PaymentState::Pending,
        idempotency_key: &p.service_id,
        failure_reason: None,
    };
    payments::insert(tx, &row, now).await?;
    money::charge(tx, &ledger_key::charge(&p.service_id), amount, Some(&p.vehicle.order_id), &p.service_id, now).await?;
    Ok(())
}

async fn respond(db: &Db, payment_url: &str, p: &Purchase, stored: Result<Stored, DbError>) -> Result<Resp, Problem> {
    let (pid, amount) = (p.payment_id.as_deref(), p.plan.upfront_charge.as_ref());
    match stored {
        Ok(Stored::Created(v)) => Ok(resp::json(202, &v)),
        Ok(Stored::Replayed(status, body)) => Ok(resp::json_raw(status, body)),
        Ok(Stored::KeyReused) => {
            give_back_now(db, payment_url, pid, amount).await;
            Err(key_reused())
        }
        Ok(Stored::Blocked(r)) => {
            give_back_now(db, payment_url, pid, amount).await;
            Err(block_problem(r))
        }
        Err(e) => {
            // Nothing was recorded: the initiated payment must not stay.
            if let Some(pid) = pid {
                void_best_effort(payment_url, pid).await;
            }
            Err(e.into())
        }
    }
}

async fn list(req: Request) -> Result<Resp, Problem> {
    let principal = auth::require(&req, &[Role::Customer]).await?;
    let vin = match req::query(&req, "vin").filter(|v| !v.trim().is_empty()) {
        None => None,
        Some(v) => Some(normalize_vin(&v).ok_or_else(|| Problem::validation(vec![FieldError::new("/vin", "must be a 17-character VIN")]))?),
    };
    let db = Db::open_for_request().await?;
    let rows = match &vin {
        Some(v) => {
            db.query(
                "SELECT * FROM services WHERE customer_id = ? AND vin = ? ORDER BY created_at DESC, id",
                vec![text(&principal.subject_id), text(v)],
            )
            .await?
        }
        None => {
            db.query("SELECT * FROM services WHERE customer_id = ? ORDER BY created_at DESC, id", vec![text(&principal.subject_id)])
                .await?
        }
    };
    let now = clock::now_ms();
    let rows: Vec<ServiceRow> = rows.iter().map(ServiceRow::from_row).collect();
    let catalog = names_catalog(&db, &rows).await;
    let services: Vec<Value> = rows.iter().map(|s| s.to_json_at(now, catalog.as_ref())).collect();
    Ok(resp::json(200, &json!({"services": services})))
}

/// The catalog, read only when a service has no purchase snapshot to take its name from (the
/// plan comercial's services); a catalog that cannot be read leaves their codes as names.
async fn names_catalog(db: &Db, services: &[ServiceRow]) -> Option<Catalog> {
    if services.iter().all(|s| s.snapshot.is_some()) {
        return None;
    }
    svc::load_catalog(db).await.ok()
}

async fn get_one(req: Request, id: &str) -> Result<Resp, Problem> {
    let principal = auth::require(&req, &[Role::Customer]).await?;
    if !is_id(IdKind::Service, id) {
        return Err(Problem::not_found(format!("no service {id}")));
    }
    let db = Db::open_for_request().await?;
    match svc::load_service(&db, id).await? {
        Some(s) if s.customer_id == principal.subject_id => {
            let catalog = names_catalog(&db, std::slice::from_ref(&s)).await;
            let mut v = s.to_json_at(clock::now_ms(), catalog.as_ref());
            let history: Vec<Value> = ledger::of_service(&db, id)
                .await?
                .iter()
                .map(|r| json!({"kind": r.kind_text, "amount_minor": r.amount.amount_minor, "currency": r.amount.currency, "reference": r.reference.clone().unwrap_or_default(), "at": r.created_at}))
                .collect();
            v["ledger"] = json!(history);
            // The over-the-air command: tries, the last problem, the next try, a support ticket.
            v["activation"] = match caas_platform::store::services::activation(&db, id).await? {
                Some(a) => a.to_json(),
                None => Value::Null,
            };
            // Subscriptions: every billed period with its state (charged, failed/retrying, unpaid…).
            if s.kind == "subscription" {
                let charges: Vec<Value> = caas_platform::billing::charges_of(&db, id)
                    .await?
                    .iter()
                    .map(|c| json!({"period": c.period, "amount_minor": c.amount_minor, "currency": c.currency, "status": c.status, "failures": c.failures}))
                    .collect();
                v["charges"] = json!(charges);
            }
            Ok(resp::json(200, &v))
        }
        _ => Err(Problem::not_found(format!("no service {id}"))),
    }
}
