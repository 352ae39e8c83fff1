//! Staff orders (issue 8, second slice): find orders, open one, cancel a sale before the vehicle
//! is paid for.
//!
//! * `GET /api/staff/orders?q=&status=&from=&to=&cursor=&limit=` (employees, admins): newest
//!   first, keyset-paged (`caas_platform::paging`); `q` (≤ 100 characters) matches customer name,
//!   e-mail, VIN, plate or order id, case-insensitively; `from`/`to` bound the sale date
//!   (`YYYY-MM-DD`, both days included, or epoch milliseconds, `to` exclusive).
//! * `GET /api/staff/orders/{id}`: the order with its customer, prices, full timeline, payments,
//!   ledger rows and the messages the outbox holds for the customer about it.
//! * `POST /api/staff/orders/{id}/cancel {reason}` (employees, admins): see [`cancel`].
use caas_domain::FieldError;
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::journey::PaymentKind;
use caas_domain::order::OrderStatus;
use caas_domain::payment::PaymentState;
use caas_domain::wit::{Money, ReturnMode};
use caas_platform::db::{Db, DbError};
use caas_platform::store::orders::{self, StaffFilter};
use caas_platform::store::{accounts, audit, deadlines, ledger, payments};
use caas_platform::{Resp, auth, clock, money, notify, req, resp};
use serde_json::{Value, json};
use spin_sdk::http::Request;

/// Employees and admins find, open and cancel orders (issue 8 brief).
const STAFF: &[Role] = &[Role::Employee, Role::Admin];
const MAX_Q: usize = 100;

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no order {}", id.chars().take(60).collect::<String>()))
}

pub async fn search(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    let mut errors = Vec::new();
    let q = req::query(&req, "q").map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q) {
        errors.push(FieldError::new("/q", format!("must be at most {MAX_Q} characters")));
    }
    let status = match req::query(&req, "status").map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match OrderStatus::parse(&s) {
            Some(st) => Some(st),
            None => {
                errors.push(FieldError::new("/status", "must be an order status (see OrderStatus)"));
                None
            }
        },
    };
    let from = bound(&req, "from", false, &mut errors);
    let to = bound(&req, "to", true, &mut errors);
    let page = caas_domain::expediente::page_request(req::query(&req, "cursor").as_deref(), req::query(&req, "limit").as_deref());
    let page = match page {
        Ok(p) if errors.is_empty() => p,
        Ok(_) => return Err(Problem::validation(errors)),
        Err(e) => {
            errors.extend(e);
            return Err(Problem::validation(errors));
        }
    };
    let db = Db::open_for_request().await?;
    let found = orders::staff_search(&db, &StaffFilter { q, status, from, to }, page).await?;
    Ok(resp::json(200, &found))
}

/// `from` / `to`: a day (`YYYY-MM-DD`, UTC; `to` includes the whole day) or epoch milliseconds.
fn bound(req: &Request, name: &str, end: bool, errors: &mut Vec<FieldError>) -> Option<i64> {
    let raw = req::query(req, name).map(|s| s.trim().to_string()).filter(|s| !s.is_empty())?;
    if raw.len() <= 15 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse::<i64>().ok();
    }
    match day_start_ms(&raw) {
        Some(ms) => Some(if end { ms + 86_400_000 } else { ms }),
        None => {
            errors.push(FieldError::new(format!("/{name}"), "must be a date YYYY-MM-DD or epoch milliseconds"));
            None
        }
    }
}

/// Midnight UTC of `YYYY-MM-DD` in epoch milliseconds (years 1970–9999).
fn day_start_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).filter(|t| t.bytes().all(|c| c.is_ascii_digit())).and_then(|t| t.parse::<u32>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1970..=9999).contains(&y) {
        return None;
    }
    caas_domain::services::calendar::utc_ms(y as i32, m, d, 0, 0, 0)
}

pub async fn detail(req: Request, id: &str) -> Result<Resp, Problem> {
    auth::require(&req, STAFF).await?;
    if !is_id(IdKind::Order, id) {
        return Err(not_found(id));
    }
    let db = Db::open_for_request().await?;
    let o = orders::load_order(&db, id).await?.ok_or_else(|| not_found(id))?;
    let c = accounts::load_customer(&db, &o.customer_id).await?.ok_or_else(|| not_found(id))?;
    let timeline = orders::timeline(&db, id).await?;
    let with_credentials = timeline.iter().any(|e| e.kind == "credentials-queued");
    let messages = orders::messages(&db, id, &c.id, with_credentials).await?;
    let pays: Vec<Value> = payments::of_order(&db, id)
        .await?
        .iter()
        .map(|p| {
            json!({"payment_id": p.id, "kind": p.kind_text, "status": p.status_text, "amount_minor": p.amount.amount_minor,
                   "currency": p.amount.currency, "failure_reason": p.failure_reason, "created_at": p.created_at, "updated_at": p.updated_at})
        })
        .collect();
    let ledger: Vec<Value> = ledger::of_order(&db, id)
        .await?
        .iter()
        .map(|l| {
            json!({"key": l.key, "kind": l.kind_text, "amount_minor": l.amount.amount_minor, "currency": l.amount.currency,
                   "reference": l.reference, "created_at": l.created_at})
        })
        .collect();
    let plan_options = orders::plan_options(&db, id).await?;
    let list = o.list_price_minor.unwrap_or(o.vehicle_price_minor);
    let discount = o.discount_minor.unwrap_or(0);
    Ok(resp::json(
        200,
        &json!({
            "cancellable": o.status.cancellable(),
            "customer": {"id": c.id, "full_name": c.full_name, "email": c.email, "phone": c.phone, "national_id": c.national_id, "address": c.address},
            "employee_id": o.employee_id,
            "ledger": ledger,
            "messages": messages,
            "order": o.view(),
            "payments": pays,
            "plan_options": plan_options,
            "pricing": {
                "currency": o.currency,
                "list_price_minor": list,
                "discount": (discount > 0).then(|| json!({"amount_minor": discount, "reason": o.discount_reason, "by": o.discount_by})),
                "vehicle_price_minor": o.vehicle_price_minor,
            },
            "timeline": timeline,
        }),
    ))
}

/// Why a cancellation did not happen (nothing written).
enum CancelError {
    Db(DbError),
    NotFound,
    State(OrderStatus),
}
impl From<DbError> for CancelError {
    fn from(e: DbError) -> Self {
        CancelError::Db(e)
    }
}

/// What one cancellation did.
struct Cancelled {
    voided: Vec<String>,
    refund: Option<(String, Money)>,
    vehicles_to_stock: u64,
}

/// `POST /api/staff/orders/{id}/cancel {reason}`: the dealership cancels a sale before the
/// vehicle is paid for (states up to and including `vehicle-available`; later → 409 naming the
/// state, nothing written). One transaction: order → `cancelled`; reason and employee on the
/// timeline (`staff:` event) and in the audit log; every pending gateway payment of the order
/// voided and a settled reservation deposit refunded through durable `return-payment` jobs
/// (`caas_platform::money`, worked by the retry tick); the vehicle (if any) back to dealership
/// stock as on the final-payment failure path; the customer told in their language.
///
/// Deposit rule: the spec forfeits the reservation and down payment only when the *customer*
/// fails to pay (../shared/spec/vehicle-purchase.md "Payment Failure During Final Payment":
/// "Customer loses reservation and down payment"); a cancellation decided by the dealership is
/// not the customer's failure, and overview.md's "Customer Protection" rule (never charge for a
/// service not delivered) applies — so the settled deposit is refunded in full.
pub async fn cancel(req: Request, id: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, STAFF).await?;
    if !is_id(IdKind::Order, id) {
        return Err(not_found(id));
    }
    let body = req::json_body(req).await?;
    let reason = match body.get("reason") {
        Some(Value::String(r)) if (3..=500).contains(&r.trim().chars().count()) => r.trim().to_string(),
        Some(Value::String(_)) => return Err(Problem::validation(vec![FieldError::new("/reason", "must be 3 to 500 characters")])),
        _ => return Err(Problem::validation(vec![FieldError::new("/reason", "is required (why the sale is cancelled)")])),
    };
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let out = db.transaction(async |tx: &Db| -> Result<(Cancelled, orders::Order), CancelError> { cancel_tx(tx, &me, id, &reason, now).await }).await;
    match out {
        Ok((c, o)) => Ok(resp::json(
            200,
            &json!({
                "order_id": o.id,
                "status": OrderStatus::Cancelled,
                "previous_status": o.status,
                "reason": reason,
                "payments_voided": c.voided,
                "deposit_refund": c.refund.map(|(pid, m)| json!({"payment_id": pid, "amount_minor": m.amount_minor, "currency": m.currency})),
                "vehicles_to_stock": c.vehicles_to_stock,
            }),
        )),
        Err(CancelError::NotFound) => Err(not_found(id)),
        Err(CancelError::State(s)) => Err(Problem::conflict(
            "order-not-cancellable",
            format!("order {id} is {s}: a sale can only be cancelled before the vehicle is paid for (up to vehicle-available)"),
        )),
        Err(CancelError::Db(e)) => Err(e.into()),
    }
}

async fn cancel_tx(tx: &Db, me: &Principal, id: &str, reason: &str, now: i64) -> Result<(Cancelled, orders::Order), CancelError> {
    let o = orders::load_order(tx, id).await?.ok_or(CancelError::NotFound)?;
    if !o.status.cancellable() {
        return Err(CancelError::State(o.status));
    }
    if !orders::set_status(tx, id, o.status, OrderStatus::Cancelled, now, "sale cancelled by the dealership").await? {
        return Err(CancelError::State(o.status));
    }
    let mut done = Cancelled { voided: Vec::new(), refund: None, vehicles_to_stock: 0 };
    for p in payments::of_order(tx, id).await? {
        let vehicle_payment = matches!(p.kind(), Some(PaymentKind::Reservation | PaymentKind::Final));
        let (mode, settled) = match p.state() {
            Some(PaymentState::Pending) if vehicle_payment => (ReturnMode::VoidOrRefund, false),
            Some(PaymentState::Settled) if p.kind() == Some(PaymentKind::Reservation) => (ReturnMode::Refund, true),
            _ => continue,
        };
        // Same job key as every other return of this payment: one return per payment.
        let r = money::payment_return(&p.id, &p.amount, &format!("payment:{}", p.id), &p.id, Some(id), mode, "sale-cancelled");
        money::queue_return(tx, &r, now).await?;
        if settled {
            done.refund = Some((p.id.clone(), p.amount.clone()));
        } else {
            done.voided.push(p.id.clone());
        }
    }
    done.vehicles_to_stock = deadlines::release_vehicles(tx, id, now).await?;
    let refund_text = match &done.refund {
        Some((pid, m)) => format!("; deposit {} {} of payment {pid} refunded", m.amount_minor, m.currency),
        None => String::new(),
    };
    orders::event(tx, id, now, "sale-cancelled", "the dealership cancelled the sale; pending payments are cancelled and a paid deposit is refunded").await?;
    orders::event(
        tx,
        id,
        now,
        "staff:sale-cancelled",
        format!(
            "cancelled by {} ({}) from {}: {reason}; {} pending payment(s) voided{refund_text}; {} vehicle(s) back to dealership stock",
            me.subject_id,
            me.role.as_str(),
            o.status,
            done.voided.len(),
            done.vehicles_to_stock
        ),
    )
    .await?;
    let refund_minor = done.refund.as_ref().map_or(0, |(_, m)| m.amount_minor);
    let m = caas_domain::messages::sale_cancelled(id, refund_minor, &o.currency);
    notify::send_to_customer(tx, &o.customer_id, None, &format!("{id}:sale-cancelled"), &m, now).await?;
    let before = json!({"status": o.status});
    let after = json!({
        "status": OrderStatus::Cancelled, "reason": reason, "payments_voided": done.voided,
        "deposit_refunded": done.refund.as_ref().map(|(pid, m)| json!({"payment_id": pid, "amount_minor": m.amount_minor, "currency": m.currency})),
        "vehicles_to_stock": done.vehicles_to_stock,
    });
    audit::append(tx, me, "staff.order.cancel", id, &before, &after, now).await?;
    Ok((done, o))
}
