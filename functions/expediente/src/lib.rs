//! `/api/expediente/...` (customers): the expediente de compra, read-only.
//!
//! * `GET /api/expediente` — one-call summary: profile, every order with its vehicle (model,
//!   VIN, plate), manufacturing timeline with dates, delivery status, services and documents
//!   (manuals), plus the first page of payments, the invoices, and the first pages of the
//!   timeline and notification histories.
//! * `GET /api/expediente/orders/{order_id}` — the same for one order (own, else 404).
//! * Paged histories (`?cursor=&limit=`, keyset by row id, oldest first):
//!   `/timeline`, `/payments`, `/notifications` (the customer's messages from the outbox;
//!   secrets redacted).
//! * Delivered vehicles carry their maintenance record, read from VSS on demand.
//! * Payments show the money given back (`refunds`: every void/refund movement of the ledger for
//!   what the payment paid; `status` `voided`/`refunded`/`partially-refunded`) and a service
//!   that was never delivered has no invoice (`caas_domain::expediente::payment_view_status`,
//!   `shows_service_invoice`).
//! * Monthly VAT invoices and credit notes (issue 10, `monthly`): `GET /api/expediente/invoices`,
//!   `GET /api/expediente/invoices/{number}` (JSON with lines and totals per rate) and
//!   `GET /api/expediente/invoices/{number}/document` (printable HTML, as an attachment).
//!
//! Every query is scoped to the caller's customer id: another customer's data is never read.
mod monthly;

use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::expediente::{PageRequest, is_manufacturing_event, manuals, payment_view_status, shows_service_invoice};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::routing::redact;
use caas_domain::wire::to_kebab_json;
use caas_domain::wit::Job;
use caas_domain::order::OrderStatus;
use caas_domain::sale::Address;
use caas_platform::db::{Db, Row, text};
use caas_platform::http_out;
use caas_platform::paging::{self, Page};
use caas_platform::store::orders::{self, CustomerEvent, Order, TimelineEvent};
use caas_platform::store::{accounts, vehicles};
use serde::Serialize;
use caas_platform::{Resp, auth, req, resp, vars};
use std::time::Duration;
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const CUSTOMER: &[Role] = &[Role::Customer];
const VSS_TIMEOUT: Duration = Duration::from_secs(2);

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/expediente").unwrap_or("/?");
    let known = matches!(rest, "" | "/timeline" | "/payments" | "/notifications" | "/invoices")
        || rest.strip_prefix("/orders/").is_some_and(|id| !id.is_empty() && !id.contains('/'))
        || rest.strip_prefix("/invoices/").is_some_and(|r| {
            let id = r.strip_suffix("/document").unwrap_or(r);
            !id.is_empty() && !id.contains('/')
        });
    if !known {
        return Err(Problem::not_found(format!("no route {path}")));
    }
    if method != "GET" {
        return Err(resp::method_not_allowed(&method, &path, &["GET"]));
    }
    let me = auth::require(&req, CUSTOMER).await?.subject_id;
    let db = Db::open_for_request().await?;
    match rest {
        "" => summary(&db, &me).await,
        "/timeline" => Ok(resp::json(200, &timeline(&db, &me, req::page(&req)?).await?)),
        "/payments" => Ok(resp::json(200, &payments(&db, &me, req::page(&req)?).await?)),
        "/notifications" => Ok(resp::json(200, &notifications(&db, &me, req::page(&req)?).await?)),
        "/invoices" => monthly::list(&db, &me).await,
        r if r.starts_with("/invoices/") => {
            let r = r.trim_start_matches("/invoices/");
            match r.strip_suffix("/document") {
                Some(number) => monthly::document(&db, &me, number).await,
                None => monthly::one(&db, &me, r).await,
            }
        }
        r => {
            let id = r.trim_start_matches("/orders/");
            if !is_id(IdKind::Order, id) {
                return Err(no_order(id));
            }
            let Some(o) = orders::load_customers_order(&db, id, &me).await? else {
                return Err(no_order(id));
            };
            Ok(resp::json(200, &order_view(&db, &o).await?))
        }
    }
}

fn no_order(id: &str) -> Problem {
    Problem::not_found(format!("no order {id} in your expediente"))
}

const FIRST_PAGE: PageRequest = PageRequest { after: 0, limit: 20 };

async fn summary(db: &Db, me: &str) -> Result<Resp, Problem> {
    let Some(c) = accounts::load_customer(db, me).await? else {
        return Err(Problem::not_found("no expediente for this account"));
    };
    let profile = Profile {
        address: c.address,
        country: c.country,
        customer_id: c.id,
        customer_since: c.created_at,
        email: c.email,
        full_name: c.full_name,
        national_id: c.national_id,
        phone: c.phone,
    };
    let mut orders = Vec::new();
    for o in orders::of_customer(db, me).await? {
        orders.push(order_view(db, &o).await?);
    }
    let invoices = invoices(db, me).await?;
    Ok(resp::json(
        200,
        &json!({
            "profile": profile,
            "orders": orders,
            "payments": payments(db, me, FIRST_PAGE).await?,
            "invoices": invoices,
            "timeline": timeline(db, me, FIRST_PAGE).await?,
            "notifications": notifications(db, me, FIRST_PAGE).await?,
        }),
    ))
}

/// Every invoice of the customer, oldest first.
async fn invoices(db: &Db, me: &str) -> Result<Vec<Value>, Problem> {
    // Vehicle payments (señal, final) are invoiced when settled; service payments have the
    // invoices the service lifecycle issued (never for a service that was not delivered).
    let mut invoices: Vec<(i64, Value)> = db
        .query(
            "SELECT id, order_id, kind, amount_minor, currency, updated_at FROM payments
             WHERE customer_id = ? AND status = 'settled' AND kind IN ('reservation', 'final')",
            vec![text(me)],
        )
        .await?
        .iter()
        .map(|p| (p.i64("updated_at"), invoice(p)))
        .collect();
    invoices.extend(
        db.query(
            "SELECT i.id, i.payment_id, i.service_id, i.amount_minor, i.currency, i.issued_at, s.order_id, s.option_code, s.state AS service_state
             FROM invoices i LEFT JOIN services s ON s.id = i.service_id WHERE i.customer_id = ?",
            vec![text(me)],
        )
        .await?
        .iter()
        // No invoice for a service that was never delivered (its payment was given back).
        .filter(|i| shows_service_invoice(i.opt_str("service_state").as_deref()))
        .map(|i| (i.i64("issued_at"), service_invoice(i))),
    );
    invoices.sort_by_key(|(at, _)| *at);
    Ok(invoices.into_iter().map(|(_, v)| v).collect())
}

fn invoice(p: &Row) -> Value {
    let id = p.str("id");
    json!({
        "number": format!("INV-{}", id.split('_').nth(1).unwrap_or(&id).to_uppercase()),
        "payment_id": id,
        "order_id": p.opt_str("order_id"),
        "concept": match p.str("kind").as_str() {
            "reservation" => "vehicle reservation (señal)".to_string(),
            "final" => "vehicle final payment".to_string(),
            k => k.to_string(),
        },
        "amount_minor": p.i64("amount_minor"),
        "currency": p.str("currency"),
        "issued_at": p.i64("updated_at"),
    })
}

/// The invoice of a payments row joined with `invoices` (see `payments`).
fn invoice_of_payment(p: &Row) -> Value {
    match p.str("kind").as_str() {
        "reservation" | "final" if p.str("status") == "settled" => invoice(p),
        _ if p.opt_str("invoice_id").is_some() && shows_service_invoice(p.opt_str("paid_service_state").as_deref()) => {
            let mut v = service_invoice(p);
            v["number"] = json!(p.str("invoice_id").to_uppercase().replace('_', "-"));
            v["amount_minor"] = json!(p.i64("amount_minor"));
            v
        }
        _ => Value::Null,
    }
}

fn service_invoice(i: &Row) -> Value {
    json!({
        "number": i.str("id").to_uppercase().replace('_', "-"),
        "payment_id": i.str("payment_id"),
        "order_id": i.opt_str("order_id"),
        "concept": format!("service {}", i.opt_str("option_code").unwrap_or_else(|| i.str("service_id"))),
        "service_id": i.opt_str("service_id"),
        "amount_minor": i.i64("amount_minor"),
        "currency": i.str("currency"),
        "issued_at": i.i64("issued_at"),
    })
}

/// The customer's profile (fields in alphabetical order).
#[derive(Serialize)]
struct Profile {
    address: Address,
    country: String,
    customer_id: String,
    customer_since: i64,
    email: String,
    full_name: String,
    national_id: String,
    phone: String,
}

/// OpenAPI `ExpedienteOrder` (fields in alphabetical order).
#[derive(Serialize)]
struct ExpedienteOrder {
    created_at: i64,
    delivery: Option<DeliveryView>,
    documents: Vec<caas_domain::expediente::Document>,
    /// Financing terms agreed at the sale (absent without financing).
    #[serde(skip_serializing_if = "Option::is_none")]
    financing: Option<orders::OrderFinancing>,
    maintenance: Option<Value>,
    manufacturing: Manufacturing,
    order_id: String,
    plan_comercial: PlanComercial,
    prices: Prices,
    services: Vec<ServiceView>,
    status: OrderStatus,
    updated_at: i64,
    vehicle: VehicleView,
}

#[derive(Serialize)]
struct DeliveryView {
    address: String,
    attempts: i64,
    planned_at: Option<i64>,
    state: Option<caas_domain::delivery::DeliveryState>,
    updated_at: i64,
}

#[derive(Serialize)]
struct Manufacturing {
    available_at: Option<i64>,
    estimated_date: Option<String>,
    factory_order_id: Option<String>,
    final_payment_due_at: Option<i64>,
    timeline: Vec<TimelineEvent>,
}

#[derive(Serialize)]
struct PlanComercial {
    options: Vec<String>,
}

#[derive(Serialize)]
struct Prices {
    currency: String,
    deposit_minor: i64,
    vehicle_price_minor: i64,
}

/// OpenAPI `PlanService` as the expediente shows it (no OTA command id).
#[derive(Serialize)]
struct ServiceView {
    activated_at: Option<i64>,
    created_at: i64,
    ends_at: Option<i64>,
    feature: String,
    id: String,
    kind: String,
    option_code: String,
    state: String,
}

#[derive(Serialize)]
struct VehicleView {
    base_platform: &'static str,
    country: String,
    linked: bool,
    linked_at: Option<i64>,
    model: String,
    plate: Option<String>,
    vin: Option<String>,
}

/// One order of the caller (`o` is already scoped to the caller).
async fn order_view(db: &Db, o: &Order) -> Result<ExpedienteOrder, Problem> {
    let mut timeline = orders::events(db, &o.id).await?;
    timeline.retain(|e| is_manufacturing_event(&e.kind));
    let options = orders::plan_options(db, &o.id).await?;
    let delivery = orders::delivery(db, &o.id).await?.map(|d| DeliveryView {
        address: d.address,
        attempts: d.attempts,
        planned_at: d.planned_at,
        state: d.state,
        updated_at: d.updated_at,
    });
    let linked_at = vehicles::link_of_order(db, &o.id).await?.map(|l| l.linked_at);
    let services = vehicles::services_of_order(db, &o.id).await?.into_iter().map(service_view).collect();
    let maintenance = match &o.vin {
        Some(vin) if matches!(o.status, OrderStatus::Delivered | OrderStatus::Operational) => Some(maintenance(db, vin).await?),
        _ => None,
    };
    Ok(ExpedienteOrder {
        created_at: o.created_at,
        delivery,
        documents: manuals(&o.model),
        financing: o.financing.clone(),
        maintenance,
        manufacturing: Manufacturing {
            available_at: o.available_at,
            estimated_date: o.estimated_date.clone(),
            factory_order_id: o.factory_order_id.clone(),
            final_payment_due_at: o.final_payment_due_at,
            timeline,
        },
        order_id: o.id.clone(),
        plan_comercial: PlanComercial { options },
        prices: Prices { currency: o.currency.clone(), deposit_minor: o.deposit_minor, vehicle_price_minor: o.vehicle_price_minor },
        services,
        status: o.status,
        updated_at: o.updated_at,
        vehicle: vehicle_view(o, linked_at),
    })
}

fn vehicle_view(o: &Order, linked_at: Option<i64>) -> VehicleView {
    VehicleView {
        base_platform: if o.status == OrderStatus::Operational { "active" } else { "inactive" },
        country: o.country.clone(),
        linked: linked_at.is_some(),
        linked_at,
        model: o.model.clone(),
        plate: o.plate.clone(),
        vin: o.vin.clone(),
    }
}

fn service_view(s: vehicles::PlanService) -> ServiceView {
    ServiceView {
        activated_at: s.activated_at,
        created_at: s.created_at,
        ends_at: s.ends_at,
        feature: s.feature,
        id: s.id,
        kind: s.kind,
        option_code: s.option_code,
        state: s.state,
    }
}

/// Maintenance record of a delivered vehicle from the workshops' VSS (read on demand, short
/// timeout; when VSS cannot answer the expediente still answers, with status `unknown`): status,
/// last service, next due date, the history (date, workshop, work done), and the warranty
/// (valid, or void since a missed maintenance: `caas_domain::maintenance::warranty`).
async fn maintenance(db: &Db, vin: &str) -> Result<Value, caas_platform::db::DbError> {
    let void = caas_platform::store::maintenance::warranty_void(db, vin).await?;
    let warranty = serde_json::to_value(caas_domain::maintenance::warranty(void.as_ref().map(|(s, d)| (s.as_str(), d.as_str())))).unwrap_or(Value::Null);
    let unknown = |why: String| json!({"source": "vss", "status": "unknown", "detail": why, "history": [], "warranty": warranty});
    let Ok(base) = vars::base_url("vss_url").await else {
        return Ok(unknown("maintenance records are not configured".into()));
    };
    Ok(match http_out::get_json_guarded(caas_domain::breaker::Dependency::Vss, &format!("{base}/vehicles/{vin}/maintenance"), &[], VSS_TIMEOUT).await {
        Ok(r) if r.is_success() => match serde_json::from_str::<Value>(&r.body).ok().and_then(|v| caas_domain::maintenance::VssMaintenance::from_vss(&v)) {
            Some(m) => json!({
                "source": "vss",
                "status": if m.status == "current" || m.status == "overdue" { m.status.as_str() } else { "unknown" },
                "last_service": m.last_service.map(|d| d.iso()),
                "next_due": m.next_due.map(|d| d.iso()),
                "next_due_km": m.next_due_km,
                "history": m.history,
                "warranty": warranty,
            }),
            None => unknown("the maintenance system answered something unreadable".into()),
        },
        Ok(r) => unknown(format!("the maintenance system answered {}", r.status)),
        Err(_) => unknown("the maintenance system is not reachable right now".into()),
    })
}

async fn timeline(db: &Db, me: &str, page: PageRequest) -> Result<Page<CustomerEvent>, Problem> {
    Ok(orders::customer_timeline(db, me, page).await?)
}

async fn payments(db: &Db, me: &str, page: PageRequest) -> Result<Page<Value>, Problem> {
    Ok(paging::keyset(
        db,
            "SELECT p.rowid AS k, p.id, p.order_id, p.kind, p.amount_minor, p.currency, p.status, p.failure_reason,
                    p.created_at, p.updated_at, i.id AS invoice_id, i.payment_id, i.service_id, i.issued_at, s.option_code,
                    ps.state AS paid_service_state,
                    (SELECT json_group_array(json_object('kind', l.kind, 'amount_minor', l.amount_minor, 'currency', l.currency, 'at', l.created_at))
                       FROM ledger l
                      WHERE l.kind IN ('refund', 'void')
                        AND l.reference IN (ps.id, sc.subscription_id || '/' || sc.period, p.id)) AS returns
             FROM payments p
             LEFT JOIN invoices i ON i.payment_id = p.id
             LEFT JOIN services s ON s.id = i.service_id
             LEFT JOIN services ps ON ps.payment_id = p.id AND p.kind = 'service'
             LEFT JOIN subscription_charges sc ON sc.payment_id = p.id AND p.kind = 'subscription'
             WHERE p.customer_id = ? AND p.rowid > ? ORDER BY p.rowid LIMIT ?",
        vec![text(me)],
        page,
        |p| {
            // The money given back for what this payment paid (ledger voids and refunds).
            let returns: Vec<Value> = serde_json::from_str::<Vec<Value>>(&p.opt_str("returns").unwrap_or_default()).unwrap_or_default();
            let sum = |kind: &str| returns.iter().filter(|r| r["kind"] == kind).filter_map(|r| r["amount_minor"].as_i64()).sum::<i64>();
            let (refunded, voided) = (sum("refund"), sum("void"));
            json!({
                "payment_id": p.str("id"),
                "order_id": p.opt_str("order_id"),
                "kind": p.str("kind"),
                "amount_minor": p.i64("amount_minor"),
                "currency": p.str("currency"),
                "status": payment_view_status(&p.str("status"), p.i64("amount_minor"), refunded, voided),
                "settlement_status": p.str("status"),
                "refunded_minor": refunded + voided,
                "refunds": returns,
                "failure_reason": p.opt_str("failure_reason"),
                "created_at": p.i64("created_at"),
                "updated_at": p.i64("updated_at"),
                "invoice": invoice_of_payment(p),
            })
        },
    )
    .await?)
}

/// The customer's messages: notify jobs whose notification names the customer.
async fn notifications(db: &Db, me: &str, page: PageRequest) -> Result<Page<Value>, Problem> {
    let rows = paging::keyset(
        db,
        "SELECT rowid AS k, payload, status, created_at, updated_at FROM jobs
         WHERE kind = 'notify' AND json_extract(payload, '$.notify.\"customer-id\"') = ? AND rowid > ?
         ORDER BY rowid LIMIT ?",
        vec![text(me)],
        page,
        notification_json,
    )
    .await?;
    // Page over the fetched rows (an undecodable row is skipped, never ends the paging early).
    Ok(Page { items: rows.items.into_iter().flatten().collect(), next_cursor: rows.next_cursor })
}

fn notification_json(j: &Row) -> Option<Value> {
    let Ok(Job::Notify(n)) = Job::from_payload(&j.str("payload")).map(|job| redact(&job)) else { return None };
    let channel = to_kebab_json(&n.channel).ok().unwrap_or(Value::Null);
    Some(json!({
        "message_id": n.message_id,
        "channel": channel,
        "template": n.template,
        "subject": n.subject,
        "body": n.body,
        "recipient": n.recipient,
        "status": match j.str("status").as_str() { "done" => "sent", "escalated" => "failed", _ => "queued" },
        "created_at": j.i64("created_at"),
        "updated_at": j.i64("updated_at"),
    }))
}
