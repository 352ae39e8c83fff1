//! `POST /internal/ticks/billing`: subscriptions billed in arrears (mes vencido), tick secret.
//!
//! Exactly once per subscription and period whatever the tick timing (late, twice, crashed
//! half-way and re-run):
//! 1. **Intent.** For each subscription with completed, unbilled periods
//!    (`caas_domain::services::billing::charges_due`, pro rata first month) ONE transaction
//!    inserts the `subscription_charges` rows (UNIQUE(subscription_id, period), status
//!    `pending`) and advances the watermark `services.billed_through`. A repeat finds nothing due.
//! 2. **Call.** `POST {payment_url}/charges` with `Idempotency-Key` = the row's attempt key
//!    (`billing::charge_key`; dunning retry *n* adds `_r<n>`, since the gateway replays a
//!    decline for a key). A crash after the call is repaired by the next tick calling again with
//!    the same key: the gateway answers with the same charge.
//! 3. **Mark.** ONE transaction: `charged` + the ledger charge row (key = `charge_key`, unique),
//!    or the dunning decision (`billing::after_failed_charge`): retry later with the customer
//!    notified, or — after the last failure — the charge is `unpaid` (collections), the
//!    subscription is cancelled (no further charges: `stop_billing_now`) and the feature
//!    deactivated through the OTA engine (an `ota` job). Gateway outages (5xx, timeouts) leave
//!    the row `pending`: retried by the next tick, the customer is not dunned for our outage.
//!
//! Work is bounded per request (batches of 200 by keyset pagination, at most
//! [`MAX_CHARGES_PER_TICK`] gateway calls): memory stays flat for 100,000 subscriptions; when the
//! budget is used up the report says `more: true` and the next tick continues.
//!
//! Report: `{billed, skipped, failed, cancelled, more}`.
use caas_domain::Problem;
use caas_domain::routing::NotificationKind;
use caas_domain::services::billing::{self, ChargeAnswer, DunningDecision, DunningPolicy, Period, SubscriptionTerms};
use caas_domain::services::calendar::format_date;
use caas_domain::services::ledger::period_reference;
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::wit::{Money, ReturnMode};
use caas_platform::billing::{self as bill, ChargeRow};
use caas_platform::db::{Db, DbError, int, opt_text, text};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::{Resp, auth, clock, money, req, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

/// Rows per page (subscriptions or charges).
const BATCH: i64 = 200;
/// Gateway calls per tick request (bounded work; `more: true` beyond).
pub const MAX_CHARGES_PER_TICK: usize = 1000;
/// Gateway calls in flight at once.
const CONCURRENCY: usize = 16;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    if req::path(&req) != "/internal/ticks/billing" {
        return Err(Problem::not_found("no such tick"));
    }
    if req.method().as_str() != "POST" {
        return Err(caas_platform::resp::method_not_allowed(req.method().as_str(), &req::path(&req), &["POST"]));
    }
    auth::require_tick(&req).await?;
    tick().await
}

#[derive(Default)]
struct Report {
    billed: u64,
    skipped: u64,
    failed: u64,
    cancelled: u64,
    more: bool,
}

struct Ctx {
    payment_url: String,
    policy: DunningPolicy,
}

async fn tick() -> Result<Resp, Problem> {
    let ctx = Ctx { payment_url: vars::base_url("payment_url").await?, policy: DunningPolicy::default() };
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let mut report = Report::default();
    let mut budget = MAX_CHARGES_PER_TICK;

    // 1. Dunning retries that are due become pending attempts with their own gateway key.
    db.exec(
        "UPDATE subscription_charges SET status = 'pending', attempt_key = idempotency_key || '_r' || failures, updated_at = ?
         WHERE status = 'failed' AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?",
        vec![int(now), int(now)],
    )
    .await?;

    // 2. Pending attempts (dunning retries, and intents left by a crashed or faulted run).
    let mut cursor = String::new();
    loop {
        if budget == 0 {
            report.more = true;
            break;
        }
        let rows = db
            .query(
                "SELECT * FROM subscription_charges WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?",
                vec![text(&cursor), int(BATCH.min(budget as i64))],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        cursor = last.str("id");
        let charges: Vec<ChargeRow> = rows.iter().map(ChargeRow::from_row).collect();
        budget = budget.saturating_sub(charges.len());
        attempt(&db, &ctx, charges, &mut report).await?;
    }

    // 3. New periods: subscriptions activated before this month and not billed through last month.
    let current = Period::containing(now);
    let prev_key = current.prev().key();
    let mut cursor = String::new();
    while !report.more {
        if budget == 0 {
            report.more = true;
            break;
        }
        let rows = db
            .query(
                "SELECT * FROM services WHERE kind = 'subscription' AND billing_complete = 0 AND activated_at IS NOT NULL
                   AND activated_at < ? AND (billed_through IS NULL OR billed_through < ?) AND id > ?
                 ORDER BY id LIMIT ?",
                vec![int(current.start_ms()), text(&prev_key), text(&cursor), int(BATCH.min(budget as i64))],
            )
            .await?;
        let Some(last) = rows.last() else { break };
        cursor = last.str("id");
        let subs: Vec<ServiceRow> = rows.iter().map(ServiceRow::from_row).collect();
        let intents = record_intents(&db, &subs, now, &mut report).await?;
        budget = budget.saturating_sub(intents.len());
        attempt(&db, &ctx, intents, &mut report).await?;
    }

    Ok(resp::json(
        200,
        &json!({
            "billed": report.billed,
            "skipped": report.skipped,
            "failed": report.failed,
            "cancelled": report.cancelled,
            "more": report.more,
        }),
    ))
}

fn price_of(s: &ServiceRow) -> Option<Money> {
    s.price.clone().or_else(|| s.snapshot.as_ref().map(|x| x.price.clone())).filter(|p| p.amount_minor > 0)
}

/// Step 1: one transaction per batch records every due period of every subscription of the page
/// and advances the watermarks. Returns the new pending charge rows (zero amounts are recorded as
/// `zero` and never sent).
async fn record_intents(db: &Db, subs: &[ServiceRow], now: i64, report: &mut Report) -> Result<Vec<ChargeRow>, DbError> {
    let (rows, skipped) = db
        .transaction(async |tx: &Db| -> Result<(Vec<ChargeRow>, u64), DbError> {
            let mut out = Vec::new();
            let mut skipped = 0u64;
            for s in subs {
                // Re-read under the write lock: a concurrent tick may have billed it.
                let Some(s) = svc::load_service(tx, &s.id).await? else { continue };
                let (Some(activated_at), Some(price)) = (s.activated_at, price_of(&s)) else {
                    // Not billable (plan comercial services are paid with the car).
                    tx.exec("UPDATE services SET billing_complete = 1 WHERE id = ?", vec![text(&s.id)]).await?;
                    skipped += 1;
                    continue;
                };
                let billed_through = tx
                    .query_one("SELECT billed_through FROM services WHERE id = ?", vec![text(&s.id)])
                    .await?
                    .and_then(|r| r.opt_str("billed_through"))
                    .and_then(|p| Period::parse(&p));
                let terms = SubscriptionTerms {
                    subscription_id: &s.id,
                    price: &price,
                    activated_at,
                    billing_ends_at: s.billing_ends_at,
                    last_billed: billed_through,
                };
                let due = billing::charges_due(&terms, now);
                let mut last = billed_through;
                for ch in &due {
                    let id = format!("sch_{}_{}", s.id, ch.period);
                    let status = if ch.is_zero() { "zero" } else { "pending" };
                    let inserted = tx
                        .exec(
                            "INSERT INTO subscription_charges(id, subscription_id, customer_id, period, amount_minor, currency,
                               idempotency_key, attempt_key, status, payment_id, failures, first_failed_at, next_attempt_at,
                               last_error, created_at, updated_at)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL, NULL, ?, ?)
                             ON CONFLICT DO NOTHING",
                            vec![
                                text(&id),
                                text(&s.id),
                                text(&s.customer_id),
                                text(ch.period.key()),
                                int(ch.amount.amount_minor),
                                text(&ch.amount.currency),
                                text(&ch.idempotency_key),
                                text(&ch.idempotency_key),
                                text(status),
                                int(now),
                                int(now),
                            ],
                        )
                        .await?;
                    last = Some(ch.period);
                    if inserted == 1 && !ch.is_zero() {
                        if let Some(r) = tx.query_one("SELECT * FROM subscription_charges WHERE id = ?", vec![text(&id)]).await? {
                            out.push(ChargeRow::from_row(&r));
                        }
                    } else {
                        skipped += 1;
                    }
                }
                if due.is_empty() {
                    skipped += 1;
                }
                let complete = billing::billing_complete(activated_at, s.billing_ends_at, last);
                tx.exec(
                    "UPDATE services SET billed_through = ?, billing_complete = ? WHERE id = ?",
                    vec![opt_text(last.map(|p| p.key())), int(complete as i64), text(&s.id)],
                )
                .await?;
            }
            Ok((out, skipped))
        })
        .await?;
    report.skipped += skipped;
    Ok(rows)
}

/// Gateway answer to one charge attempt.
enum Outcome {
    Charged(String),
    Declined(Option<String>, String),
    Unavailable(String),
}

async fn call_gateway(payment_url: &str, c: &ChargeRow, period: Option<Period>) -> Outcome {
    let reference = period.map(|p| period_reference(&c.subscription_id, p)).unwrap_or_else(|| format!("{}/{}", c.subscription_id, c.period));
    let body = json!({
        "amount-minor": c.amount_minor,
        "currency": c.currency,
        "reference": reference,
        "kind": "subscription",
        "customer-id": c.customer_id,
        "method": "card",
    });
    let payment_id = |b: &str| serde_json::from_str::<Value>(b).ok().and_then(|v| v.get("payment-id").and_then(Value::as_str).map(str::to_string));
    match http_out::post_json(&format!("{payment_url}/charges"), &body, &[("idempotency-key", c.attempt_key.as_str())], DEFAULT_TIMEOUT).await {
        Ok(r) if r.status == 201 || r.status == 200 => match payment_id(&r.body) {
            Some(id) => Outcome::Charged(id),
            None => Outcome::Unavailable("the payment gateway gave an unusable answer".into()),
        },
        // Non-retryable refusals (402 declined, 422 invalid mandate, other 4xx) go to dunning;
        // 5xx, timeouts and rate limits stay pending for the next tick (billing::classify_charge_answer).
        Ok(r) if billing::classify_charge_answer(r.status) == ChargeAnswer::Declined => {
            let v = serde_json::from_str::<Value>(&r.body).ok();
            let field = |k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
            let code = field("decline-code")
                .or_else(|| field("code"))
                .unwrap_or_else(|| if r.status == 402 { "declined".into() } else { format!("refused ({})", r.status) });
            Outcome::Declined(payment_id(&r.body), code)
        }
        Ok(r) => Outcome::Unavailable(format!("charge answered {}: {}", r.status, r.body.chars().take(200).collect::<String>())),
        Err(e) => Outcome::Unavailable(format!("charge failed: {e}")),
    }
}

/// Steps 2 and 3 for a batch of pending charges.
async fn attempt(db: &Db, ctx: &Ctx, charges: Vec<ChargeRow>, report: &mut Report) -> Result<(), DbError> {
    for chunk in charges.chunks(CONCURRENCY) {
        let calls = chunk.iter().map(|c| call_gateway(&ctx.payment_url, c, Period::parse(&c.period)));
        let outcomes = caas_platform::join_all(calls).await;
        let now = clock::now_ms();
        for (c, o) in chunk.iter().zip(outcomes) {
            mark(db, ctx, c, o, now, report).await?;
        }
    }
    Ok(())
}

async fn mark(db: &Db, ctx: &Ctx, c: &ChargeRow, o: Outcome, now: i64, report: &mut Report) -> Result<(), DbError> {
    let amount = Money { amount_minor: c.amount_minor, currency: c.currency.clone() };
    let reference = Period::parse(&c.period).map(|p| period_reference(&c.subscription_id, p)).unwrap_or_else(|| format!("{}/{}", c.subscription_id, c.period));
    match o {
        Outcome::Charged(pid) => {
            let new = db
                .transaction(async |tx: &Db| -> Result<Option<bool>, DbError> {
                    let changed = tx
                        .exec(
                            "UPDATE subscription_charges SET status = 'charged', payment_id = ?, next_attempt_at = NULL, last_error = NULL, updated_at = ?
                             WHERE id = ? AND status = 'pending'",
                            vec![text(&pid), int(now), text(&c.id)],
                        )
                        .await?;
                    if changed != 1 {
                        // Replayed by a concurrent run (already charged), or the subscription was
                        // withdrawn/cancelled while the charge was in flight (cancelled → give it back).
                        let st = tx.query_one("SELECT status FROM subscription_charges WHERE id = ?", vec![text(&c.id)]).await?;
                        if st.map(|r| r.str("status")).as_deref() != Some("cancelled") {
                            return Ok(Some(false));
                        }
                        // The money was taken: booked as taken under the payment, and given back
                        // by a durable refund job (retry tick) in this same transaction.
                        let s = svc::load_service(tx, &c.subscription_id).await?;
                        let order_id = s.as_ref().and_then(|s| s.order_id.clone());
                        svc::ledger(tx, &caas_domain::settlement::ledger_key_taken(&pid), "charge", &amount, order_id.as_deref(), &pid, now).await?;
                        let r = money::payment_return(&pid, &amount, &c.attempt_key, &pid, order_id.as_deref(), ReturnMode::Refund, "charged-after-cancellation");
                        money::queue_return(tx, &r, now).await?;
                        return Ok(None);
                    }
                    let s = svc::load_service(tx, &c.subscription_id).await?;
                    let order_id = s.as_ref().and_then(|s| s.order_id.clone());
                    svc::ledger(tx, &c.idempotency_key, "charge", &amount, order_id.as_deref(), &reference, now).await?;
                    // Known to the payment webhook (kind `subscription`): its settlement is ours.
                    tx.exec(
                        "INSERT INTO payments(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, created_at, updated_at)
                         VALUES (?, ?, ?, 'subscription', ?, ?, 'pending', ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                        vec![
                            text(&pid),
                            opt_text(order_id.clone()),
                            text(&c.customer_id),
                            int(c.amount_minor),
                            text(&c.currency),
                            text(&c.attempt_key),
                            int(now),
                            int(now),
                        ],
                    )
                    .await?;
                    svc::timeline(
                        tx,
                        order_id.as_deref(),
                        now,
                        "subscription-charged",
                        format!("{} charged {} {} for {} (payment {pid})", c.subscription_id, c.amount_minor, c.currency, c.period),
                    )
                    .await?;
                    Ok(Some(true))
                })
                .await?;
            match new {
                Some(true) => report.billed += 1,
                Some(false) => report.skipped += 1,
                None => {
                    // Charged for a cancelled period: the refund job queued with the decision is
                    // worked now; if the gateway fails, the retry tick keeps trying.
                    let r = money::payment_return(&pid, &amount, &c.attempt_key, &pid, None, ReturnMode::Refund, "charged-after-cancellation");
                    if let Err(e) = money::perform_return(db, &ctx.payment_url, &money::job_key(&r), &r, now).await {
                        db.exec("UPDATE subscription_charges SET last_error = ? WHERE id = ?", vec![text(format!("refund queued: {e}")), text(&c.id)]).await?;
                    }
                    report.skipped += 1;
                }
            }
        }
        Outcome::Unavailable(e) => {
            db.exec(
                "UPDATE subscription_charges SET last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
                vec![text(&e), int(now), text(&c.id)],
            )
            .await?;
            report.failed += 1;
        }
        Outcome::Declined(pid, code) => {
            let failures = c.failures + 1;
            let first = c.first_failed_at.unwrap_or(now);
            let decision = billing::after_failed_charge(&ctx.policy, failures, first);
            let cancelled = db
                .transaction(async |tx: &Db| -> Result<Option<bool>, DbError> {
                    let status = if matches!(decision, DunningDecision::Cancel { .. }) { "unpaid" } else { "failed" };
                    let next = match decision {
                        DunningDecision::RetryAt { at, .. } => Some(at),
                        DunningDecision::Cancel { .. } => None,
                    };
                    let changed = tx
                        .exec(
                            "UPDATE subscription_charges SET status = ?, failures = ?, first_failed_at = ?, next_attempt_at = ?,
                               payment_id = COALESCE(?, payment_id), last_error = ?, updated_at = ?
                             WHERE id = ? AND status = 'pending' AND failures = ?",
                            vec![
                                text(status),
                                int(failures as i64),
                                int(first),
                                next.map(int).unwrap_or(caas_platform::db::Value::Null),
                                opt_text(pid.clone()),
                                text(format!("declined: {code}")),
                                int(now),
                                text(&c.id),
                                int(c.failures as i64),
                            ],
                        )
                        .await?;
                    if changed != 1 {
                        return Ok(None);
                    }
                    let Some(s) = svc::load_service(tx, &c.subscription_id).await? else { return Ok(Some(false)) };
                    let name = s.snapshot.as_ref().map(|x| x.name.clone()).unwrap_or_else(|| s.option_code.clone());
                    let money = format!("{}.{:02} {}", c.amount_minor / 100, c.amount_minor % 100, c.currency);
                    match decision {
                        DunningDecision::RetryAt { at, retry_number, .. } => {
                            svc::notify(
                                tx,
                                &s.customer_id,
                                &s.vin,
                                &format!("sub-charge-failed:{}:{failures}", c.id),
                                NotificationKind::SubscriptionPaymentFailed,
                                &format!("Payment for {name} failed"),
                                &format!(
                                    "We could not charge {money} for {name} ({}). We will try again on {} (retry {retry_number}). Please check your payment method.",
                                    c.period,
                                    format_date(at)
                                ),
                                now,
                            )
                            .await?;
                            svc::timeline(tx, s.order_id.as_deref(), now, "subscription-charge-failed", format!("{} charge for {} declined ({code}); retry {retry_number} on {}", s.id, c.period, format_date(at))).await?;
                            Ok(Some(false))
                        }
                        DunningDecision::Cancel { .. } => {
                            // The unpaid, delivered period is a debt handed to collections.
                            tx.exec(
                                "INSERT INTO collections(id, payment_id, service_id, customer_id, amount_minor, currency, reason, status, created_at)
                                 VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(payment_id) DO NOTHING",
                                vec![
                                    text(format!("col_{}", c.idempotency_key)),
                                    text(pid.clone().unwrap_or_else(|| c.idempotency_key.clone())),
                                    text(&s.id),
                                    text(&s.customer_id),
                                    int(c.amount_minor),
                                    text(&c.currency),
                                    text(format!("subscription charge {} unpaid after {failures} attempts ({code})", c.period)),
                                    int(now),
                                ],
                            )
                            .await?;
                            let mut did_cancel = false;
                            if let (Some(from), Some(act)) = (s.state(), s.activated_at)
                                && matches!(from, ServiceState::Active | ServiceState::CancellationScheduled)
                            {
                                let end = billing::stop_billing_now(act, now);
                                let end = s.billing_ends_at.map_or(end, |e| e.min(end));
                                tx.exec("UPDATE services SET billing_ends_at = ? WHERE id = ?", vec![int(end), text(&s.id)]).await?;
                                did_cancel = bill::queue_deactivation(tx, &s, from, ServiceEvent::CancelNow, now).await?;
                                bill::cancel_open_charges(tx, &s.id, "subscription cancelled: payment failed", now).await?;
                            }
                            svc::notify(
                                tx,
                                &s.customer_id,
                                &s.vin,
                                &format!("sub-cancelled-unpaid:{}", s.id),
                                NotificationKind::SubscriptionCancelledPaymentFailed,
                                &format!("{name} cancelled: payment failed"),
                                &format!(
                                    "We could not charge {money} for {name} ({}) after {failures} attempts. The subscription has been cancelled and the feature is being switched off on your vehicle {}. No further charges will be made; the unpaid amount remains due.",
                                    c.period, s.vin
                                ),
                                now,
                            )
                            .await?;
                            svc::timeline(tx, s.order_id.as_deref(), now, "subscription-cancelled-unpaid", format!("{} cancelled after {failures} failed charges for {}; deactivation queued", s.id, c.period)).await?;
                            Ok(Some(did_cancel))
                        }
                    }
                })
                .await?;
            match cancelled {
                None => report.skipped += 1,
                Some(c) => {
                    report.failed += 1;
                    if c {
                        report.cancelled += 1;
                    }
                }
            }
        }
    }
    Ok(())
}
