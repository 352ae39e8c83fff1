//! `/api/orders/...` (customers only): the caller's own orders, and starting the reservation
//! (señal) and final payments at the payment gateway.
//!
//! Payment initiation sends an Idempotency-Key derived from order + kind + attempt, so a retry
//! after a timeout never charges twice; settlement arrives later on `/webhooks/payment`.
//! A declined final payment is final (customer-journey.md "No second chances for final
//! payment"): the order becomes "sin asignar" in the same transaction that records the decline.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::journey::{self, PaymentKind};
use caas_platform::db::{Db, DbError, int, text};
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
    Ok(db
        .query("SELECT * FROM payments WHERE order_id = ? ORDER BY created_at, id", vec![text(order_id)])
        .await?
        .iter()
        .map(|r| {
            json!({
                "payment_id": r.str("id"),
                "kind": r.str("kind"),
                "status": r.str("status"),
                "amount_minor": r.i64("amount_minor"),
                "currency": r.str("currency"),
                "failure_reason": r.opt_str("failure_reason"),
                "created_at": r.i64("created_at"),
                "updated_at": r.i64("updated_at"),
            })
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
    let ledger: Vec<Value> = db
        .query("SELECT kind, amount_minor, currency, reference, created_at FROM ledger WHERE order_id = ? ORDER BY created_at, id", vec![text(id)])
        .await?
        .iter()
        .map(|r| {
            json!({"kind": r.str("kind"), "amount_minor": r.i64("amount_minor"), "currency": r.str("currency"),
                   "reference": r.opt_str("reference"), "at": r.i64("created_at")})
        })
        .collect();
    let mut v = o.to_json();
    v["payments"] = json!(payments_of(&db, id).await?);
    v["ledger"] = json!(ledger);
    v["timeline"] = json!(timeline);
    Ok(resp::json(200, &v))
}

fn payment_json(payment_id: &str, o: &Order, kind: PaymentKind, status: &str, amount: i64) -> Value {
    json!({
        "payment_id": payment_id,
        "order_id": o.id,
        "kind": kind.as_str(),
        "status": status,
        "amount_minor": amount,
        "currency": o.currency,
    })
}

fn gateway_unavailable(detail: &str) -> Problem {
    Problem::new(503, "payment-gateway-unavailable", "Payment gateway unavailable", format!("payment gateway unavailable, nothing was charged ({detail}); please try again"))
}

async fn pay(req: Request, id: &str, kind: PaymentKind) -> Result<Resp, Problem> {
    let p = auth::require(&req, CUSTOMER).await?;
    let db = Db::open_for_request().await?;
    let o = own_order(&db, &p, id).await?;
    journey::check_initiation(kind, o.status)?;
    let amount = journey::order_payment_amount(kind, o.vehicle_price_minor, o.deposit_minor)
        .ok_or_else(|| Problem::conflict("payment-not-allowed", "nothing is left to pay on this order"))?;

    // One live payment per order and kind: a pending one is returned as is (no new charge).
    let existing = db
        .query("SELECT id, status, amount_minor FROM payments WHERE order_id = ? AND kind = ? ORDER BY created_at", vec![
            text(id),
            text(kind.as_str()),
        ])
        .await?;
    if existing.iter().any(|r| r.str("status") == "settled") {
        return Err(Problem::conflict("already-paid", format!("the {} payment of order {id} is already settled", kind.as_str())));
    }
    if let Some(r) = existing.iter().find(|r| r.str("status") == "pending") {
        return Ok(resp::json(200, &payment_json(&r.str("id"), &o, kind, "pending", r.i64("amount_minor"))));
    }
    let attempt = existing.len() as u32 + 1;
    let key = journey::gateway_idempotency_key(id, kind, attempt);

    let payment_url = vars::base_url("payment_url").await?;
    let body = json!({
        "amount-minor": amount,
        "currency": o.currency,
        "reference": o.id,
        "kind": kind.as_str(),
        "customer-id": o.customer_id,
        "method": "card",
    });
    let reply = http_out::post_json(&format!("{payment_url}/payments"), &body, &[("idempotency-key", &key)], GATEWAY_TIMEOUT)
        .await
        .map_err(|e| gateway_unavailable(&e))?;
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let gateway_id = v.get("payment-id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let now = clock::now_ms();
    match reply.status {
        200 | 201 => {
            let Some(pid) = gateway_id else {
                return Err(gateway_unavailable("the gateway's answer had no payment id"));
            };
            db.transaction(async |tx: &Db| -> Result<(), DbError> {
                let changed = tx
                    .exec(
                        "INSERT INTO payments(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, created_at, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                        vec![text(&pid), text(id), text(&o.customer_id), text(kind.as_str()), int(amount), text(&o.currency), text(&key), int(now), int(now)],
                    )
                    .await?;
                if changed == 1 {
                    j::event(tx, id, now, "payment-initiated", format!("{} payment {pid} of {amount} {} started", kind.as_str(), o.currency)).await?;
                }
                Ok(())
            })
            .await?;
            Ok(resp::json(201, &payment_json(&pid, &o, kind, "pending", amount)))
        }
        402 => {
            let pid = gateway_id.unwrap_or_else(|| format!("declined:{key}"));
            let code = v.get("decline-code").and_then(Value::as_str).unwrap_or("declined").to_string();
            let final_days_unassigned = db
                .transaction(async |tx: &Db| -> Result<bool, DbError> {
                    tx.exec(
                        "INSERT INTO payments(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, failure_reason, created_at, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?, 'declined', ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                        vec![
                            text(&pid), text(id), text(&o.customer_id), text(kind.as_str()), int(amount), text(&o.currency), text(&key),
                            text(&code), int(now), int(now),
                        ],
                    )
                    .await?;
                    j::event(tx, id, now, "payment-declined", format!("{} payment declined by the gateway: {code}", kind.as_str())).await?;
                    if kind == PaymentKind::Final {
                        return j::unassign(tx, &o, &format!("final payment declined ({code})"), now).await;
                    }
                    Ok(false)
                })
                .await?;
            let detail = if final_days_unassigned {
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
