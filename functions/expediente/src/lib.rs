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
//!
//! Every query is scoped to the caller's customer id: another customer's data is never read.
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::expediente::{PageRequest, is_manufacturing_event, manuals, paginate, payment_view_status, shows_service_invoice};
use caas_domain::ids::{IdKind, is_id};
use caas_domain::routing::redact;
use caas_domain::wire::to_kebab_json;
use caas_domain::wit::Job;
use caas_platform::db::{Db, Row, int, text};
use caas_platform::http_out;
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
    let known = matches!(rest, "" | "/timeline" | "/payments" | "/notifications")
        || rest.strip_prefix("/orders/").is_some_and(|id| !id.is_empty() && !id.contains('/'));
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
        r => {
            let id = r.trim_start_matches("/orders/");
            if !is_id(IdKind::Order, id) {
                return Err(no_order(id));
            }
            let Some(o) = db.query_one("SELECT * FROM orders WHERE id = ? AND customer_id = ?", vec![text(id), text(&me)]).await? else {
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
    let Some(c) = db.query_one("SELECT * FROM customers WHERE id = ?", vec![text(me)]).await? else {
        return Err(Problem::not_found("no expediente for this account"));
    };
    let profile = json!({
        "customer_id": c.str("id"),
        "full_name": c.str("full_name"),
        "email": c.str("email"),
        "phone": c.str("phone"),
        "national_id": c.str("national_id"),
        "country": c.str("country"),
        "address": {
            "line1": c.str("address_line1"),
            "line2": c.opt_str("address_line2"),
            "city": c.str("address_city"),
            "postal_code": c.str("address_postal_code"),
            "country": c.str("address_country"),
        },
        "customer_since": c.i64("created_at"),
    });
    let mut orders = Vec::new();
    for o in db.query("SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at, rowid", vec![text(me)]).await? {
        orders.push(order_view(db, &o).await?);
    }
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
    let invoices: Vec<Value> = invoices.into_iter().map(|(_, v)| v).collect();
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

/// One order of the caller (`o` is a full `orders` row already scoped to the caller).
async fn order_view(db: &Db, o: &Row) -> Result<Value, Problem> {
    let id = o.str("id");
    let model = o.str("model");
    let events = db.query("SELECT at, kind, detail FROM order_events WHERE order_id = ? ORDER BY id LIMIT 1000", vec![text(&id)]).await?;
    let manufacturing: Vec<Value> = events
        .iter()
        .filter(|e| is_manufacturing_event(&e.str("kind")))
        .map(|e| json!({"at": e.i64("at"), "kind": e.str("kind"), "detail": e.str("detail")}))
        .collect();
    let options: Vec<String> = db
        .query("SELECT option_code FROM plan_options WHERE order_id = ? ORDER BY option_code", vec![text(&id)])
        .await?
        .iter()
        .map(|r| r.str("option_code"))
        .collect();
    let delivery = db
        .query_one("SELECT state, planned_at, address, attempts, updated_at FROM deliveries WHERE order_id = ?", vec![text(&id)])
        .await?
        .map(|d| {
            json!({
                "state": d.str("state"),
                "planned_at": d.opt_i64("planned_at"),
                "address": d.str("address"),
                "attempts": d.i64("attempts"),
                "updated_at": d.i64("updated_at"),
            })
        });
    let link = db.query_one("SELECT vin, linked_at FROM vehicle_links WHERE order_id = ?", vec![text(&id)]).await?;
    let services: Vec<Value> = db
        .query(
            "SELECT id, option_code, feature, kind, state, created_at, activated_at, ends_at FROM services
             WHERE order_id = ? ORDER BY created_at, option_code",
            vec![text(&id)],
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
                "created_at": s.i64("created_at"),
                "activated_at": s.opt_i64("activated_at"),
                "ends_at": s.opt_i64("ends_at"),
            })
        })
        .collect();
    let status = o.str("status");
    let maintenance = match o.opt_str("vin") {
        Some(vin) if matches!(status.as_str(), "delivered" | "operational") => Some(maintenance(&vin).await),
        _ => None,
    };
    Ok(json!({
        "order_id": id,
        "status": status,
        "created_at": o.i64("created_at"),
        "updated_at": o.i64("updated_at"),
        "vehicle": {
            "model": model,
            "vin": o.opt_str("vin"),
            "plate": o.opt_str("plate"),
            "country": o.str("country"),
            "linked": link.is_some(),
            "linked_at": link.as_ref().map(|l| l.i64("linked_at")),
            "base_platform": if status == "operational" { "active" } else { "inactive" },
        },
        "plan_comercial": {"options": options},
        "prices": {
            "vehicle_price_minor": o.i64("vehicle_price_minor"),
            "deposit_minor": o.i64("deposit_minor"),
            "currency": o.str("currency"),
        },
        "manufacturing": {
            "factory_order_id": o.opt_str("factory_order_id"),
            "estimated_date": o.opt_str("estimated_date"),
            "available_at": o.opt_i64("available_at"),
            "final_payment_due_at": o.opt_i64("final_payment_due_at"),
            "timeline": manufacturing,
        },
        "delivery": delivery,
        "services": services,
        "documents": manuals(&model),
        "maintenance": maintenance,
    }))
}

/// Maintenance record of a delivered vehicle from the workshops' VSS (read on demand, short
/// timeout; when VSS cannot answer the expediente still answers, with status `unknown`).
async fn maintenance(vin: &str) -> Value {
    let unknown = |why: String| json!({"source": "vss", "status": "unknown", "detail": why});
    let Ok(base) = vars::base_url("vss_url").await else {
        return unknown("maintenance records are not configured".into());
    };
    match http_out::get_json(&format!("{base}/vehicles/{vin}/maintenance"), &[], VSS_TIMEOUT).await {
        Ok(r) if r.is_success() => match serde_json::from_str::<Value>(&r.body) {
            Ok(v) => json!({
                "source": "vss",
                "status": v.get("status").and_then(Value::as_str).unwrap_or("unknown"),
                "last_service": v.get("last-service").and_then(Value::as_str),
                "next_due": v.get("next-due").and_then(Value::as_str),
            }),
            Err(_) => unknown("the maintenance system answered something unreadable".into()),
        },
        Ok(r) => unknown(format!("the maintenance system answered {}", r.status)),
        Err(_) => unknown("the maintenance system is not reachable right now".into()),
    }
}

async fn timeline(db: &Db, me: &str, page: PageRequest) -> Result<Value, Problem> {
    let rows = db
        .query(
            "SELECT e.id, e.order_id, e.at, e.kind, e.detail FROM order_events e JOIN orders o ON o.id = e.order_id
             WHERE o.customer_id = ? AND e.id > ? AND e.kind NOT LIKE 'staff:%' ORDER BY e.id LIMIT ?",
            vec![text(me), int(page.after), int(page.limit as i64 + 1)],
        )
        .await?;
    let rows = rows
        .iter()
        .map(|e| (e.i64("id"), json!({"order_id": e.str("order_id"), "at": e.i64("at"), "kind": e.str("kind"), "detail": e.str("detail")})))
        .collect();
    let (items, next) = paginate(rows, page.limit);
    Ok(json!({"items": items, "next_cursor": next}))
}

async fn payments(db: &Db, me: &str, page: PageRequest) -> Result<Value, Problem> {
    let rows = db
        .query(
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
            vec![text(me), int(page.after), int(page.limit as i64 + 1)],
        )
        .await?;
    let rows = rows
        .iter()
        .map(|p| {
            // The money given back for what this payment paid (ledger voids and refunds).
            let returns: Vec<Value> = serde_json::from_str::<Vec<Value>>(&p.opt_str("returns").unwrap_or_default()).unwrap_or_default();
            let sum = |kind: &str| returns.iter().filter(|r| r["kind"] == kind).filter_map(|r| r["amount_minor"].as_i64()).sum::<i64>();
            let (refunded, voided) = (sum("refund"), sum("void"));
            (
                p.i64("k"),
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
                }),
            )
        })
        .collect();
    let (items, next) = paginate(rows, page.limit);
    Ok(json!({"items": items, "next_cursor": next}))
}

/// The customer's messages: notify jobs whose notification names the customer.
async fn notifications(db: &Db, me: &str, page: PageRequest) -> Result<Value, Problem> {
    let rows = db
        .query(
            "SELECT rowid AS k, payload, status, created_at, updated_at FROM jobs
             WHERE kind = 'notify' AND json_extract(payload, '$.notify.\"customer-id\"') = ? AND rowid > ?
             ORDER BY rowid LIMIT ?",
            vec![text(me), int(page.after), int(page.limit as i64 + 1)],
        )
        .await?;
    // Page over the fetched rows (an undecodable row is skipped, never ends the paging early).
    let more = rows.len() > page.limit as usize;
    let rows = &rows[..rows.len().min(page.limit as usize)];
    let next = if more { rows.last().map(|r| caas_domain::expediente::encode_cursor(r.i64("k"))) } else { None };
    let items: Vec<Value> = rows
        .iter()
        .filter_map(|j| {
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
        })
        .collect();
    Ok(json!({"items": items, "next_cursor": next}))
}
