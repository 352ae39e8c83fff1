//! `POST /webhooks/payment`: the payment gateway's signed settlement/failure events.
//!
//! verify signature (401, nothing written) → parse (400) → ONE transaction: claim the event id
//! (replay → 200, no effect), update the payment, write the ledger movement (idempotency key),
//! apply the order effect and queue its jobs → commit → 200. Only then, for a settled
//! reservation, one synchronous factory attempt (short timeout); on failure the queued job
//! stays for the retry tick.
//!
//! A settled event may carry the card the customer chose to save on the gateway's hosted page
//! (`payment-method: {id, brand, last4}`): it becomes the payment's customer's default method in
//! the same transaction (idempotent by token).
//!
//! Dispatch by payment kind: `reservation` and `final` act on orders; `service` and
//! `subscription` belong to the service-lifecycle components (see [`dispatch`]).
use caas_domain::Problem;
use caas_domain::ids::IdKind;
use caas_domain::journey::{self, PaymentEffect, PaymentKind};
use caas_domain::settlement::{self, Check};
use caas_domain::wit::{Job, Money, ReturnMode};
use caas_domain::payment::{PaymentState, ledger_key};
use caas_platform::db::{Db, DbError, int, text};
use caas_domain::payment_method::{self, GatewayMethod};
use caas_platform::store::payment_methods;
use caas_platform::store::payments::{self, NewPayment, PaymentRow};
use caas_platform::journey::{self as j, SYNC_FACTORY_TIMEOUT};
use caas_platform::{Resp, clock, money, queue, rand, req, resp, vars, webhook};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

mod anomalies;
mod service_payment;
mod subscription_payment;

const SOURCE: &str = "payment";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    if req::path(&req) != "/webhooks/payment" {
        return Err(Problem::not_found("no such webhook"));
    }
    if req.method().as_str() != "POST" {
        return Err(caas_platform::resp::method_not_allowed(req.method().as_str(), &req::path(&req), &["POST"]));
    }
    let body = caas_webhook_signature::verified_body(req, "payment_webhook_secret").await?;
    let ev = parse(&body)?;
    process(ev, String::from_utf8_lossy(&body).into_owned()).await
}

struct PaymentEvent {
    event_id: String,
    payment_id: String,
    settled: bool,
    failure_reason: Option<String>,
    amount_minor: Option<i64>,
    currency: Option<String>,
    reference: Option<String>,
    /// The card saved on the hosted page (settled events only; malformed → ignored).
    payment_method: Option<GatewayMethod>,
}

fn parse(body: &[u8]) -> Result<PaymentEvent, Problem> {
    let v: Value = serde_json::from_slice(body).map_err(|e| Problem::bad_request(format!("body is not valid JSON: {e}")))?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty() && s.len() <= 200).map(str::to_string);
    let mut errors = Vec::new();
    let event_id = s("event-id");
    let payment_id = s("payment-id");
    let status = s("status");
    if event_id.is_none() {
        errors.push(caas_domain::FieldError::new("/event-id", "is required"));
    }
    if payment_id.is_none() {
        errors.push(caas_domain::FieldError::new("/payment-id", "is required"));
    }
    let settled = match status.as_deref() {
        Some("settled") => true,
        Some("failed") => false,
        _ => {
            errors.push(caas_domain::FieldError::new("/status", "must be settled or failed"));
            false
        }
    };
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(PaymentEvent {
        event_id: event_id.unwrap_or_default(),
        payment_id: payment_id.unwrap_or_default(),
        settled,
        failure_reason: s("failure-reason"),
        amount_minor: v.get("amount-minor").and_then(Value::as_i64),
        currency: s("currency"),
        reference: s("reference"),
        payment_method: payment_method::gateway_method(v.get("payment-method")),
    })
}

/// What the transaction decided, for the answer and the after-commit step.
struct Decision {
    outcome: String,
    /// Order whose factory order should be tried synchronously now.
    place_factory_for: Option<String>,
}

async fn process(ev: PaymentEvent, raw: String) -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let final_days = vars::u64_or("final_payment_days", journey::DEFAULT_FINAL_PAYMENT_DAYS).await;
    let now = clock::now_ms();
    let decided = db
        .transaction(async |tx: &Db| -> Result<Option<Decision>, DbError> {
            if !webhook::claim_event(tx, SOURCE, &ev.event_id, &ev.payment_id, &raw, now).await? {
                return Ok(None);
            }
            let d = dispatch(tx, &ev, now, final_days).await?;
            if ev.settled
                && let Some(m) = &ev.payment_method
            {
                save_method(tx, &ev.payment_id, m, now).await?;
            }
            webhook::set_outcome(tx, SOURCE, &ev.event_id, &d.outcome).await?;
            Ok(Some(d))
        })
        .await
        .map_err(Problem::from)?;
    let Some(d) = decided else {
        let prior = webhook::outcome_of(&db, SOURCE, &ev.event_id).await?.unwrap_or_default();
        return Ok(resp::json(200, &json!({"status": "duplicate", "event_id": ev.event_id, "outcome": prior})));
    };
    let mut factory = Value::Null;
    if let Some(order_id) = d.place_factory_for {
        // After commit: one synchronous try; failures stay queued for the retry tick.
        factory = match vars::base_url("factory_url").await {
            Ok(url) => match j::place_factory_order(&db, &url, &order_id, SYNC_FACTORY_TIMEOUT).await {
                Ok(j::Attempt::Done) => json!("placed"),
                Ok(j::Attempt::Retry(e) | j::Attempt::Permanent(e)) => json!(format!("queued for retry: {e}")),
                Err(e) => json!(format!("queued for retry: {e}")),
            },
            Err(p) => json!(format!("queued for retry: {}", p.detail)),
        };
    }
    Ok(resp::json(200, &json!({"status": "processed", "event_id": ev.event_id, "outcome": d.outcome, "factory": factory})))
}

/// The card saved with a settled payment becomes its customer's default method.
async fn save_method(tx: &Db, payment_id: &str, m: &GatewayMethod, now: i64) -> Result<(), DbError> {
    if let Some(p) = payments::load(tx, payment_id).await?
        && p.is(PaymentState::Settled)
    {
        payment_methods::save_default(tx, &p.customer_id, m, &format!("payment:{payment_id}"), now).await?;
    }
    Ok(())
}

/// The dispatch point: the settlement check guards every payment kind
/// (`caas_domain::settlement`), then the kind's own handling.
async fn dispatch(tx: &Db, ev: &PaymentEvent, now: i64, final_days: u64) -> Result<Decision, DbError> {
    let p = match payments::load(tx, &ev.payment_id).await? {
        Some(p) => p,
        None => match adopt(tx, ev, now).await? {
            Some(p) => p,
            None => return unknown_payment(tx, ev, now).await,
        },
    };
    let amount = p.amount.clone();
    let reported = settlement::Reported { settled: ev.settled, amount_minor: ev.amount_minor, currency: ev.currency.as_deref() };
    let kind = p.kind();
    match settlement::check(&settlement::Held { status: &p.status_text, amount: &amount }, &reported) {
        Check::Apply => {}
        Check::NoEffect(why) => return Ok(decided(format!("no effect: {why}"))),
        Check::Mismatch { detail, taken } => return anomalies::mismatch(tx, &p, &detail, taken.as_ref(), now).await.map(decided),
        Check::FailedAfterSettlement => return anomalies::failed_after_settlement(tx, &p, ev.failure_reason.as_deref(), now).await.map(decided),
        Check::LateSettlement => match kind {
            // The order may still want the money: handled like a fresh settlement (adopted, or
            // recorded, refunded and escalated when the order has moved on).
            Some(PaymentKind::Reservation | PaymentKind::Final) => {
                anomalies::reopen(tx, &p, now).await?;
                let p = payments::load(tx, &ev.payment_id).await?.unwrap_or(p);
                return order_payment(tx, ev, &p, kind.unwrap_or(PaymentKind::Reservation), now, final_days, true).await;
            }
            _ => return anomalies::taken_late(tx, &p, &amount, now).await.map(decided),
        },
    }
    match kind {
        Some(k @ (PaymentKind::Reservation | PaymentKind::Final)) => order_payment(tx, ev, &p, k, now, final_days, false).await,
        // One-time service purchases (issue 4): invoice / collections / cancel before delivery.
        Some(PaymentKind::Service) => service_payment::handle(tx, &p, ev.settled, ev.failure_reason.as_deref(), now).await.map(decided),
        // Subscription period charges (issue 4, billing tick): invoice / collections.
        Some(PaymentKind::Subscription) => subscription_payment::handle(tx, &p, ev.settled, ev.failure_reason.as_deref(), now).await.map(decided),
        None => Ok(decided(format!("ignored: no handler for {} payments yet", p.kind_text))),
    }
}

fn decided(outcome: String) -> Decision {
    Decision { outcome, place_factory_for: None }
}

/// A payment the gateway knows and we do not (our initiation timed out after the gateway had
/// created it): adopt it when its reference is an order waiting for exactly this amount.
async fn adopt(tx: &Db, ev: &PaymentEvent, now: i64) -> Result<Option<PaymentRow>, DbError> {
    let Some(reference) = &ev.reference else { return Ok(None) };
    let Some(order) = j::load_order(tx, reference).await? else { return Ok(None) };
    let Some(kind) = journey::adopt_unknown_payment(order.status, ev.amount_minor, order.vehicle_price_minor, order.deposit_minor, order.financed_minor()) else {
        return Ok(None);
    };
    if ev.currency.as_deref().is_some_and(|c| c != order.currency) {
        return Ok(None);
    }
    let amount = Money { amount_minor: ev.amount_minor.unwrap_or_default(), currency: order.currency.clone() };
    let key = format!("adopted:{}", ev.payment_id);
    let p = NewPayment {
        id: &ev.payment_id,
        order_id: Some(&order.id),
        customer_id: &order.customer_id,
        kind,
        amount: &amount,
        state: PaymentState::Pending,
        idempotency_key: &key,
        failure_reason: None,
    };
    payments::insert(tx, &p, now).await?;
    j::event(tx, &order.id, now, "payment-adopted", format!("{} payment {} known only to the gateway adopted from its webhook", kind.as_str(), ev.payment_id))
        .await?;
    payments::load(tx, &ev.payment_id).await
}

/// Hand a payment that did not settle to collections (a visible record, once per payment).
pub(crate) async fn open_collections(tx: &Db, pid: &str, service_id: &str, customer_id: &str, amount: &Money, reason: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO collections(id, payment_id, service_id, customer_id, amount_minor, currency, reason, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(payment_id) DO NOTHING",
        vec![text(format!("col_{pid}")), text(pid), text(service_id), text(customer_id), int(amount.amount_minor), text(&amount.currency), text(reason), int(now)],
    )
    .await?;
    Ok(())
}

/// The settlement prologue every payment kind shares (after verify → dedupe → load → check):
/// only a pending payment takes the event's outcome (settled, or failed with its reason);
/// anything else answers `Err(outcome)` — "no effect: <what> <id> is already <status>".
pub(crate) async fn record_outcome(tx: &Db, p: &PaymentRow, settled: bool, reason: Option<&str>, what: &str, now: i64) -> Result<Result<(), String>, DbError> {
    if !p.is(PaymentState::Pending) {
        return Ok(Err(format!("no effect: {what} {} is already {}", p.id, p.status_text)));
    }
    let reason = (!settled).then(|| reason.unwrap_or("failed"));
    payments::set_state(tx, &p.id, PaymentState::from_settlement(settled), reason, now).await?;
    Ok(Ok(()))
}

/// Neither ours nor adoptable: acknowledged (the gateway must not retry forever); money taken
/// for it is escalated for a manual refund.
async fn unknown_payment(tx: &Db, ev: &PaymentEvent, now: i64) -> Result<Decision, DbError> {
    if !ev.settled {
        return Ok(Decision { outcome: format!("ignored: unknown payment {}", ev.payment_id), place_factory_for: None });
    }
    let detail = format!(
        "unknown payment {} (reference {}) settled; refund or assign it manually",
        ev.payment_id,
        ev.reference.as_deref().unwrap_or("none")
    );
    tx.exec(
        "INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES (?, ?, 'payment-without-effect', ?, ?)",
        vec![text(rand::id(IdKind::Escalation)), text(&ev.payment_id), text(&detail), int(now)],
    )
    .await?;
    j::notify_staff(tx, &ev.payment_id, "settled payment without effect", ev.reference.as_deref().unwrap_or("?"), &detail, now).await?;
    Ok(Decision { outcome: format!("escalated: {detail}"), place_factory_for: None })
}

/// `late`: the payment had been recorded as failed and settled after all (its earlier return,
/// if any, was a void that moved no money, so the refund is a new one).
#[allow(clippy::too_many_arguments)]
async fn order_payment(tx: &Db, ev: &PaymentEvent, p: &PaymentRow, kind: PaymentKind, now: i64, final_days: u64, late: bool) -> Result<Decision, DbError> {
    let pid = p.id.clone();
    if let Err(outcome) = record_outcome(tx, p, ev.settled, ev.failure_reason.as_deref(), "payment", now).await? {
        return Ok(decided(outcome));
    }
    let order_id = p.order_id.clone().unwrap_or_default();
    if ev.settled {
        money::charge(tx, &ledger_key::settled(&pid), &p.amount, Some(&order_id), &pid, now).await?;
    }
    let Some(order) = j::load_order(tx, &order_id).await? else {
        return Ok(Decision { outcome: format!("payment {pid} recorded; its order {order_id} does not exist"), place_factory_for: None });
    };
    j::event(
        tx,
        &order_id,
        now,
        if ev.settled { "payment-settled" } else { "payment-failed" },
        format!("{} payment {pid} {}", kind.as_str(), if ev.settled { "settled".to_string() } else { format!("failed: {}", ev.failure_reason.as_deref().unwrap_or("failed")) }),
    )
    .await?;
    order_effect(tx, ev, p, kind, &order, now, final_days, late).await
}

/// What the settled/failed vehicle payment does to its order (`journey::payment_effect`).
#[allow(clippy::too_many_arguments)]
async fn order_effect(tx: &Db, ev: &PaymentEvent, p: &PaymentRow, kind: PaymentKind, order: &j::Order, now: i64, final_days: u64, late: bool) -> Result<Decision, DbError> {
    let (pid, order_id) = (p.id.clone(), order.id.clone());
    let (amount, currency) = (p.amount.amount_minor, p.amount.currency.clone());
    let effect = journey::payment_effect(kind, ev.settled, order.status, order.from_stock);
    let mut place_factory_for = None;
    let c = &order.customer_id;
    let outcome = match effect {
        PaymentEffect::ReserveAndOrderFromFactory => {
            anomalies::return_other_payments(tx, &order_id, &pid, kind, now).await?;
            j::set_status(tx, &order_id, order.status, caas_domain::order::OrderStatus::Reserved, now, "reservation paid").await?;
            queue::enqueue(tx, &Job::PlaceFactoryOrder(order_id.clone()), &j::factory_job_key(&order_id), now).await?;
            j::notify_customer(tx, &order_id, c, "reserved", &journey::msg_reservation_confirmed(&order_id), now).await?;
            place_factory_for = Some(order_id.clone());
            "order reserved; factory order queued".to_string()
        }
        PaymentEffect::ReserveFromStock => {
            use caas_domain::order::OrderStatus::*;
            anomalies::return_other_payments(tx, &order_id, &pid, kind, now).await?;
            j::set_status(tx, &order_id, order.status, Reserved, now, "reservation paid (stock vehicle)").await?;
            j::notify_customer(tx, &order_id, c, "reserved", &journey::msg_reservation_confirmed(&order_id), now).await?;
            j::make_available(tx, order, Reserved, now, final_days, "stock vehicle already at the dealership").await?;
            "order reserved with a stock vehicle; vehicle available".to_string()
        }
        PaymentEffect::ReservationFailed => {
            j::notify_customer(tx, &order_id, c, &format!("payment-failed-{pid}"), &journey::msg_payment_failed(&order_id, kind), now).await?;
            "reservation payment failed; order still waiting for the reservation".to_string()
        }
        PaymentEffect::FullyPaid => {
            anomalies::return_other_payments(tx, &order_id, &pid, kind, now).await?;
            j::set_status(tx, &order_id, order.status, caas_domain::order::OrderStatus::FullyPaid, now, "final payment settled").await?;
            queue::enqueue(tx, &Job::RegisterVehicle(order_id.clone()), &j::registration_job_key(&order_id), now).await?;
            j::notify_customer(tx, &order_id, c, "fully-paid", &journey::msg_fully_paid(&order_id), now).await?;
            "order fully paid; registration queued".to_string()
        }
        PaymentEffect::Unassign => {
            let reason = format!("final payment failed ({})", ev.failure_reason.as_deref().unwrap_or("failed"));
            j::unassign(tx, order, &reason, now).await?;
            "final payment failed; order unassigned (sin asignar), vehicle back to stock".to_string()
        }
        PaymentEffect::NoEffect(why) if ev.settled => {
            // Money was taken but the order no longer wants it (e.g. the final payment settled
            // after the deadline unassigned the order, or a second reservation payment): it is
            // given back (a durable refund job) and the case is escalated so a person sees it.
            let money = Money { amount_minor: amount, currency: currency.clone() };
            anomalies::give_back(tx, &pid, &money, &pid, Some(&order_id), ReturnMode::Refund, "settled-without-effect", late, now).await?;
            let detail = format!("payment {pid} ({amount} {currency}) settled with no effect: {why}; a refund is queued");
            anomalies::escalate(tx, &pid, "payment-without-effect", &order_id, &detail, now).await?;
            j::event(tx, &order_id, now, "payment-refund-queued", format!("payment {pid} was not needed: it is refunded")).await?;
            format!("recorded and escalated; {why}")
        }
        PaymentEffect::NoEffect(why) => format!("recorded; {why}"),
    };
    Ok(Decision { outcome, place_factory_for })
}
