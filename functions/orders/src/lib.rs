//! `/api/orders/...` (customers only): the caller's own orders, and starting the reservation
//! (señal) and final payments at the payment gateway.
//!
//! Payment initiation sends an Idempotency-Key derived from order + kind + attempt, so a retry
//! after a timeout never charges twice; settlement arrives later on `/webhooks/payment`.
//! With the optional body `{"return_path": "/app/..."}` the payment is made on the gateway's
//! hosted payment page (issue 7): the gateway is asked for `method: hosted` with
//! `return-url = <app_url><return_path>`, and the answer carries its `checkout_url` (kept with
//! the payment, so a repeat while it is pending returns the same page). Without it: as before.
//! A declined final payment is final (customer-journey.md "No second chances for final
//! payment"): the order becomes "sin asignar" in the same transaction that records the decline.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::breaker::Dependency;
use caas_domain::ids::{IdKind, is_id};
use caas_domain::journey::{self, PaymentKind};
use caas_domain::payment::PaymentState;
use caas_domain::payment_method;
use caas_domain::wit::Money;
use caas_platform::db::{Db, DbError, text};
use caas_platform::store::ledger;
use caas_platform::store::payments::{self, NewPayment};
use caas_platform::http_out;
use caas_platform::journey::{self as j, Order};
use caas_platform::{Resp, auth, clock, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use std::time::Duration;

const CUSTOMER: &[Role] = &[Role::Customer];
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(5);

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let rest = path.strip_prefix("/api/orders").unwrap_or("/\u{0}");
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", []) => list(req).await,
        ("GET", [id]) => get_order(req, id).await,
        ("POST", [id, "reservation-payment"]) => pay(req, id, PaymentKind::Reservation).await,
        ("POST", [id, "final-payment"]) => pay(req, id, PaymentKind::Final).await,
        (_, [] | [_]) => Err(resp::method_not_allowed(&method, &path, &["GET"])),
        (_, [_, "reservation-payment" | "final-payment"]) => Err(resp::method_not_allowed(&method, &path, &["POST"])),
        _ => Err(Problem::not_found(format!("no route {path}"))),
    }
}

fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("no order {id}"))
}

/// The caller's own order, or 404 (someone else's order is indistinguishable from none).
async fn own_order(db: &Db, p: &Principal, id: &str) -> Result<Order, Problem> {
    if !is_id(IdKind::Order, id) {
        return Err(not_found(id));
    }
    match j::load_order(db, id).await? {
        Some(o) if o.customer_id == p.subject_id => Ok(o),
        _ => Err(not_found(id)),
    }
}

async fn list(req: Request) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let ids = db
        .query("SELECT id FROM orders WHERE customer_id = ? ORDER BY created_at DESC, id LIMIT 100", vec![text(&p.subject_id)])
        .await?;
    let mut items = Vec::new();
    for r in ids {
        if let Some(o) = j::load_order(&db, &r.str("id")).await? {
            items.push(o.to_json());
        }
    }
    Ok(resp::json(200, &json!({ "items": items })))
}

async fn payments_of(db: &Db, order_id: &str) -> Result<Vec<Value>, DbError> {
    Ok(payments::of_order(db, order_id)
        .await?
        .iter()
        .map(|r| {
            let mut v = json!({
                "payment_id": r.id,
                "kind": r.kind_text,
                "status": r.status_text,
                "amount_minor": r.amount.amount_minor,
                "currency": r.amount.currency,
                "failure_reason": r.failure_reason,
                "created_at": r.created_at,
                "updated_at": r.updated_at,
            });
            // Hosted payments only (issue 7): the gateway's page, to resume a pending payment.
            if let Some(u) = &r.checkout_url {
                v["checkout_url"] = json!(u);
            }
            v
        })
        .collect())
}

async fn get_order(req: Request, id: &str) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let o = own_order(&db, &p, id).await?;
    let timeline: Vec<Value> = db
        .query("SELECT at, kind, detail FROM order_events WHERE order_id = ? AND kind NOT LIKE 'staff:%' ORDER BY at, id LIMIT 500", vec![text(id)])
        .await?
        .iter()
        .map(|r| json!({"at": r.i64("at"), "kind": r.str("kind"), "detail": r.str("detail")}))
        .collect();
    let ledger: Vec<Value> = ledger::of_order(&db, id)
        .await?
        .iter()
        .map(|r| json!({"kind": r.kind_text, "amount_minor": r.amount.amount_minor, "currency": r.amount.currency, "reference": r.reference, "at": r.created_at}))
        .collect();
    let mut v = o.to_json();
    v["payments"] = json!(payments_of(&db, id).await?);
    v["ledger"] = json!(ledger);
    v["timeline"] = json!(timeline);
    Ok(resp::json(200, &v))
}

fn payment_json(payment_id: &str, o: &Order, kind: PaymentKind, status: &str, amount: i64, checkout_url: Option<&str>) -> Value {
    let mut v = json!({
        "payment_id": payment_id,
        "order_id": o.id,
        "kind": kind.as_str(),
        "status": status,
        "amount_minor": amount,
        "currency": o.currency,
    });
    if let Some(u) = checkout_url {
        v["checkout_url"] = json!(u);
    }
    v
}

/// The hosted page's return URL when the optional body asks for it (400 on a bad body).
async fn hosted_return_url(req: Request) -> Result<Option<String>, Problem> {
    let body = req::body_bytes(req, req::MAX_BODY).await?;
    match payment_method::parse_return_path_body(&body).map_err(Problem::validation)? {
        Some(path) => Ok(Some(payment_method::return_url(&vars::base_url("app_url").await?, &path))),
        None => Ok(None),
    }
}

fn gateway_unavailable(detail: &str) -> Problem {
    Problem::new(503, "payment-gateway-unavailable", "Payment gateway unavailable", format!("payment gateway unavailable, nothing was charged ({detail}); please try again"))
}

async fn pay(req: Request, id: &str, kind: PaymentKind) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let return_url = hosted_return_url(req).await?;
    let db = Db::open_for_request().await?;
    let o = own_order(&db, &p, id).await?;
    journey::check_initiation(kind, o.status)?;
    let amount = journey::order_payment_amount(kind, o.vehicle_price_minor, o.deposit_minor, o.financed_minor())
        .ok_or_else(|| Problem::conflict("payment-not-allowed", "nothing is left to pay on this order"))?;
    // One live payment per order and kind: a pending one is returned as is (no new charge).
    let existing = payments::of_order_kind(&db, id, kind).await?;
    if existing.iter().any(|r| r.is(PaymentState::Settled)) {
        return Err(Problem::conflict("already-paid", format!("the {} payment of order {id} is already settled", kind.as_str())));
    }
    if let Some(r) = existing.iter().find(|r| r.is(PaymentState::Pending)) {
        return Ok(resp::json(200, &payment_json(&r.id, &o, kind, PaymentState::Pending.as_str(), r.amount.amount_minor, r.checkout_url.as_deref())));
    }
    let key = journey::gateway_idempotency_key(id, kind, existing.len() as u32 + 1);
    let a = Attempt { o: &o, kind, key: &key, amount: Money { amount_minor: amount, currency: o.currency.clone() }, return_url: return_url.as_deref() };
    let (status, v) = initiate(&a).await?;
    let gateway_id = v.get("payment-id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    match status {
        200 | 201 => {
            let pid = gateway_id.ok_or_else(|| gateway_unavailable("the gateway's answer had no payment id"))?;
            // Only a hosted start takes the gateway's page (a replayed answer may carry one).
            let checkout_url = a
                .return_url
                .and(v.get("checkout-url").and_then(Value::as_str))
                .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
            db.transaction(async |tx: &Db| record_initiated(tx, &a, &pid, checkout_url, clock::now_ms()).await).await?;
            Ok(resp::json(201, &payment_json(&pid, &o, kind, PaymentState::Pending.as_str(), amount, checkout_url)))
        }
        402 => {
            let pid = gateway_id.unwrap_or_else(|| format!("declined:{key}"));
            let code = v.get("decline-code").and_then(Value::as_str).unwrap_or("declined").to_string();
            let unassigned = db.transaction(async |tx: &Db| record_declined(tx, &a, &pid, &code, clock::now_ms()).await).await?;
            let detail = if unassigned {
                format!("the final payment was declined ({code}); the vehicle is no longer reserved for this order")
            } else {
                format!("the payment was declined ({code}); nothing was charged")
            };
            Err(Problem::new(402, "payment-declined", "Payment declined", detail))
        }
        409 => Err(Problem::conflict("payment-conflict", "the payment gateway refused a conflicting repeat of this payment")),
        s => Err(gateway_unavailable(&format!("the gateway answered {s}"))),
    }
}

/// One payment attempt of an order.
struct Attempt<'a> {
    o: &'a Order,
    kind: PaymentKind,
    /// The gateway Idempotency-Key (order + kind + attempt).
    key: &'a str,
    amount: Money,
    /// Hosted payment page: where the gateway sends the customer back.
    return_url: Option<&'a str>,
}

impl Attempt<'_> {
    fn row<'b>(&'b self, pid: &'b str, state: PaymentState, failure_reason: Option<&'b str>) -> NewPayment<'b> {
        NewPayment {
            id: pid,
            order_id: Some(&self.o.id),
            customer_id: &self.o.customer_id,
            kind: self.kind,
            amount: &self.amount,
            state,
            idempotency_key: self.key,
            failure_reason,
        }
    }
}

/// `POST {payment_url}/payments`: the gateway's status and JSON answer.
async fn initiate(a: &Attempt<'_>) -> Result<(u16, Value), Problem> {
    let payment_url = vars::base_url("payment_url").await?;
    let mut body = json!({
        "amount-minor": a.amount.amount_minor,
        "currency": a.amount.currency,
        "reference": a.o.id,
        "kind": a.kind.as_str(),
        "customer-id": a.o.customer_id,
        "method": if a.return_url.is_some() { "hosted" } else { "card" },
    });
    if let Some(u) = a.return_url {
        body["return-url"] = json!(u);
    }
    let reply = http_out::post_json_guarded(Dependency::Payment, &format!("{payment_url}/payments"), &body, &[("idempotency-key", a.key)], GATEWAY_TIMEOUT)
        .await
        .map_err(|e| e.answer(gateway_unavailable(&e.to_string())))?;
    Ok((reply.status, serde_json::from_str(&reply.body).unwrap_or(Value::Null)))
}

async fn record_initiated(tx: &Db, a: &Attempt<'_>, pid: &str, checkout_url: Option<&str>, now: i64) -> Result<(), DbError> {
    if payments::insert(tx, &a.row(pid, PaymentState::Pending, None), now).await? {
        if let Some(u) = checkout_url {
            payments::set_checkout_url(tx, pid, u).await?;
        }
        let detail = format!("{} payment {pid} of {} {} started", a.kind.as_str(), a.amount.amount_minor, a.amount.currency);
        j::event(tx, &a.o.id, now, "payment-initiated", detail).await?;
    }
    Ok(())
}

/// A declined payment is recorded; a declined final payment unassigns the order (returns true).
async fn record_declined(tx: &Db, a: &Attempt<'_>, pid: &str, code: &str, now: i64) -> Result<bool, DbError> {
    payments::insert(tx, &a.row(pid, PaymentState::Declined, Some(code)), now).await?;
    j::event(tx, &a.o.id, now, "payment-declined", format!("{} payment declined by the gateway: {code}", a.kind.as_str())).await?;
    if a.kind == PaymentKind::Final {
        return j::unassign(tx, a.o, &format!("final payment declined ({code})"), now).await;
    }
    Ok(false)
}
