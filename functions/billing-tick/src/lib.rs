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
//!
//! `POST /internal/ticks/invoicing` (same component, its own schedule): the monthly VAT
//! invoices and credit notes (issue 10), see [`invoicing`].
mod invoicing;

use caas_domain::Problem;
use caas_domain::breaker::Dependency;
use caas_domain::journey::PaymentKind;
use caas_domain::services::billing::{self, ChargeAnswer, DunningDecision, DunningPolicy, Period, SubscriptionTerms};
use caas_domain::services::calendar::format_date;
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::status::ChargeStatus;
use caas_domain::settlement::ledger_key_taken;
use caas_domain::wit::{PaymentReturn, ReturnMode};
use caas_platform::billing as bill;
use caas_platform::db::{Db, DbError};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT, Reply};
use caas_platform::services as svc;
use caas_platform::store::services::{self as services, ServiceRow};
use caas_platform::store::payment_methods;
use caas_platform::store::subscriptions::{self as charges, ChargeRow, Decline};
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
/// Why a charge taken after the subscription was cancelled is given back.
const LATE_CHARGE_REASON: &str = "charged-after-cancellation";

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    // Two ticks on one component: the monthly invoices read what billing wrote.
    if req::path(&req) == "/internal/ticks/invoicing" {
        auth::tick_request(&req, "/internal/ticks/invoicing").await?;
        return invoicing::tick().await;
    }
    auth::tick_request(&req, "/internal/ticks/billing").await?;
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

impl Report {
    fn json(&self) -> Value {
        json!({"billed": self.billed, "skipped": self.skipped, "failed": self.failed, "cancelled": self.cancelled, "more": self.more})
    }
}

struct Ctx {
    payment_url: String,
    policy: DunningPolicy,
}

mod usage;

/// One tick: due dunning retries reopened, pending attempts sent, then new periods billed;
/// gateway calls bounded by `budget`.
struct Run<'a> {
    db: &'a Db,
    ctx: Ctx,
    report: Report,
    budget: usize,
}

async fn tick() -> Result<Resp, Problem> {
    let ctx = Ctx { payment_url: vars::base_url("payment_url").await?, policy: DunningPolicy::default() };
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let mut run = Run { db: &db, ctx, report: Report::default(), budget: MAX_CHARGES_PER_TICK };
    // Usage telemetry first, so that a month billed by use is billed as soon as it is complete.
    usage::collect(&db, vars::base_url("iot_url").await.ok().as_deref(), now).await?;
    charges::reopen_due_retries(&db, now).await?;
    run.send_pending().await?;
    run.bill_new_periods(now).await?;
    Ok(resp::json(200, &run.report.json()))
}

impl Run<'_> {
    /// Rows to read next, or None (and `more`) when the budget is used up.
    fn page_size(&mut self) -> Option<i64> {
        if self.budget == 0 {
            self.report.more = true;
            return None;
        }
        Some(BATCH.min(self.budget as i64))
    }

    /// Pending attempts: dunning retries, and intents left by a crashed or faulted run.
    async fn send_pending(&mut self) -> Result<(), DbError> {
        let mut cursor = String::new();
        while let Some(limit) = self.page_size() {
            let page = charges::pending_page(self.db, &cursor, limit).await?;
            let Some(last) = page.last() else { break };
            cursor = last.id.clone();
            self.budget = self.budget.saturating_sub(page.len());
            self.attempt(page).await?;
        }
        Ok(())
    }

    /// New periods: subscriptions activated before this month and not billed through last month.
    async fn bill_new_periods(&mut self, now: i64) -> Result<(), DbError> {
        let current = Period::containing(now);
        let mut cursor = String::new();
        while !self.report.more {
            let Some(limit) = self.page_size() else { break };
            let subs = services::subscriptions_to_bill(self.db, current, &cursor, limit).await?;
            let Some(last) = subs.last() else { break };
            cursor = last.id.clone();
            let intents = record_intents(self.db, &subs, now, &mut self.report).await?;
            self.budget = self.budget.saturating_sub(intents.len());
            self.attempt(intents).await?;
        }
        Ok(())
    }

    /// Steps 2 and 3 for a batch of pending charges.
    async fn attempt(&mut self, batch: Vec<ChargeRow>) -> Result<(), DbError> {
        for chunk in batch.chunks(CONCURRENCY) {
            // The customer's saved default card (issue 7), when there is one.
            let mut tokens = Vec::with_capacity(chunk.len());
            for c in chunk {
                tokens.push(payment_methods::default_token(self.db, &c.customer_id).await?);
            }
            let outcomes =
                caas_platform::join_all(chunk.iter().zip(&tokens).map(|(c, t)| call_gateway(&self.ctx.payment_url, c, t.as_deref()))).await;
            let now = clock::now_ms();
            for (c, o) in chunk.iter().zip(outcomes) {
                mark(self.db, &self.ctx, c, o, now, &mut self.report).await?;
            }
        }
        Ok(())
    }
}

/// Step 1: one transaction per batch records every due period of every subscription of the page
/// and advances the watermarks. Returns the new pending charge rows.
async fn record_intents(db: &Db, subs: &[ServiceRow], now: i64, report: &mut Report) -> Result<Vec<ChargeRow>, DbError> {
    let (rows, skipped) = db
        .transaction(async |tx: &Db| -> Result<(Vec<ChargeRow>, u64), DbError> {
            let (mut out, mut skipped) = (Vec::new(), 0u64);
            for s in subs {
                // Re-read under the write lock: a concurrent tick may have billed it.
                let Some(s) = services::load_service(tx, &s.id).await? else { continue };
                skipped += record_periods(tx, &s, now, &mut out).await?;
            }
            Ok((out, skipped))
        })
        .await?;
    report.skipped += skipped;
    Ok(rows)
}

/// Records the due periods of one subscription (new sendable rows pushed to `out`) and advances
/// its watermark; returns how many periods were skipped.
async fn record_periods(tx: &Db, s: &ServiceRow, now: i64, out: &mut Vec<ChargeRow>) -> Result<u64, DbError> {
    let (Some(activated_at), Some(price)) = (s.billing_start(), s.billable_price()) else {
        // Not billable (plan comercial services are paid with the car; a plan subscription is
        // billed from the end of its included months: `billing_start`).
        services::mark_not_billable(tx, &s.id).await?;
        return Ok(1);
    };
    let billed_through = services::billed_through(tx, &s.id).await?;
    let due = if s.snapshot.as_ref().is_some_and(|x| x.billed_by.is_some()) {
        // Billed by use: days used × the unit price, once the month's telemetry is complete.
        usage::charges_due(tx, s, &price, activated_at, billed_through, now).await?
    } else {
        let terms = SubscriptionTerms { subscription_id: &s.id, price: &price, activated_at, billing_ends_at: s.billing_ends_at, last_billed: billed_through };
        billing::charges_due(&terms, now)
    };
    let mut skipped = due.is_empty() as u64;
    for ch in &due {
        match charges::record_intent(tx, &s.id, &s.customer_id, ch, now).await? {
            Some(row) => out.push(row),
            None => skipped += 1,
        }
    }
    let last = due.last().map(|ch| ch.period).or(billed_through);
    services::set_billed_through(tx, &s.id, last, billing::billing_complete(activated_at, s.billing_ends_at, last)).await?;
    Ok(skipped)
}

/// Gateway answer to one charge attempt.
enum Outcome {
    Charged(String),
    Declined(Option<String>, String),
    Unavailable(String),
}

fn payment_id(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body).ok().and_then(|v| v.get("payment-id").and_then(Value::as_str).map(str::to_string))
}

async fn call_gateway(payment_url: &str, c: &ChargeRow, method: Option<&str>) -> Outcome {
    let mut body = json!({
        "amount-minor": c.amount_minor,
        "currency": c.currency,
        "reference": c.reference(),
        "kind": PaymentKind::Subscription.as_str(),
        "customer-id": c.customer_id,
        "method": "card",
    });
    if let Some(token) = method {
        body["payment-method"] = json!(token);
    }
    match http_out::post_json_guarded(Dependency::Payment, &format!("{payment_url}/charges"), &body, &[("idempotency-key", c.attempt_key.as_str())], DEFAULT_TIMEOUT).await {
        Ok(r) if r.status == 201 || r.status == 200 => match payment_id(&r.body) {
            Some(id) => Outcome::Charged(id),
            None => Outcome::Unavailable("the payment gateway gave an unusable answer".into()),
        },
        // Non-retryable refusals (402 declined, 422 invalid mandate, other 4xx) go to dunning;
        // 5xx, timeouts and rate limits stay pending for the next tick (billing::classify_charge_answer).
        Ok(r) if billing::classify_charge_answer(r.status) == ChargeAnswer::Declined => declined(&r),
        Ok(r) => Outcome::Unavailable(format!("charge answered {}: {}", r.status, r.body.chars().take(200).collect::<String>())),
        Err(e) => Outcome::Unavailable(format!("charge failed: {e}")),
    }
}

/// The decline code the gateway gave (`decline-code`, else `code`).
fn declined(r: &Reply) -> Outcome {
    let v = serde_json::from_str::<Value>(&r.body).ok();
    let field = |k: &str| v.as_ref().and_then(|v| v.get(k)).and_then(Value::as_str).map(str::to_string);
    let code = field("decline-code")
        .or_else(|| field("code"))
        .unwrap_or_else(|| if r.status == 402 { "declined".into() } else { format!("refused ({})", r.status) });
    Outcome::Declined(payment_id(&r.body), code)
}

/// Step 3: the gateway's answer recorded.
async fn mark(db: &Db, ctx: &Ctx, c: &ChargeRow, o: Outcome, now: i64, report: &mut Report) -> Result<(), DbError> {
    match o {
        Outcome::Charged(pid) => charged(db, ctx, c, &pid, now, report).await,
        Outcome::Unavailable(e) => {
            charges::note_unavailable(db, &c.id, &e, now).await?;
            report.failed += 1;
            Ok(())
        }
        Outcome::Declined(pid, code) => match db.transaction(async |tx: &Db| dunning(tx, ctx, c, pid, &code, now).await).await? {
            None => {
                report.skipped += 1;
                Ok(())
            }
            Some(cancelled) => {
                report.failed += 1;
                report.cancelled += cancelled as u64;
                Ok(())
            }
        },
    }
}

/// What a charge accepted by the gateway did.
enum Charged {
    /// Booked now.
    Booked,
    /// Already booked by a concurrent run.
    Replayed,
    /// The subscription was cancelled while the charge was in flight: given back.
    GivenBack,
}

async fn charged(db: &Db, ctx: &Ctx, c: &ChargeRow, pid: &str, now: i64, report: &mut Report) -> Result<(), DbError> {
    match db.transaction(async |tx: &Db| book_charge(tx, c, pid, now).await).await? {
        Charged::Booked => report.billed += 1,
        Charged::Replayed => report.skipped += 1,
        Charged::GivenBack => {
            // The refund job queued with the decision is worked now; if the gateway fails, the
            // retry tick keeps trying.
            let r = late_refund(c, pid, None);
            if let Err(e) = money::perform_return(db, &ctx.payment_url, &money::job_key(&r), &r, now).await {
                charges::note_error(db, &c.id, &format!("refund queued: {e}")).await?;
            }
            report.skipped += 1;
        }
    }
    Ok(())
}

/// The refund of a charge taken for a cancelled period.
fn late_refund(c: &ChargeRow, pid: &str, order_id: Option<&str>) -> PaymentReturn {
    money::payment_return(pid, &c.amount(), &c.attempt_key, pid, order_id, ReturnMode::Refund, LATE_CHARGE_REASON)
}

/// One transaction: `charged` + the ledger charge row + the gateway payment + the timeline; or,
/// for a charge cancelled meanwhile, the money booked as taken and a refund job queued.
async fn book_charge(tx: &Db, c: &ChargeRow, pid: &str, now: i64) -> Result<Charged, DbError> {
    let order_id = services::load_service(tx, &c.subscription_id).await?.and_then(|s| s.order_id);
    let order_id = order_id.as_deref();
    if !charges::mark_charged(tx, &c.id, pid, now).await? {
        if charges::status_of(tx, &c.id).await? != Some(ChargeStatus::Cancelled) {
            return Ok(Charged::Replayed);
        }
        svc::ledger(tx, &ledger_key_taken(pid), "charge", &c.amount(), order_id, pid, now).await?;
        money::queue_return(tx, &late_refund(c, pid, order_id), now).await?;
        return Ok(Charged::GivenBack);
    }
    svc::ledger(tx, &c.idempotency_key, "charge", &c.amount(), order_id, &c.reference(), now).await?;
    charges::record_gateway_payment(tx, c, pid, order_id, now).await?;
    let detail = format!("{} charged {} {} for {} (payment {pid})", c.subscription_id, c.amount_minor, c.currency, c.period);
    svc::timeline(tx, order_id, now, "subscription-charged", detail).await?;
    Ok(Charged::Booked)
}

/// The dunning decision for a declined attempt, recorded in one transaction. None: recorded by
/// a concurrent run; Some(cancelled): whether the subscription was cancelled now.
async fn dunning(tx: &Db, ctx: &Ctx, c: &ChargeRow, pid: Option<String>, code: &str, now: i64) -> Result<Option<bool>, DbError> {
    let failures = c.failures + 1;
    let first_failed_at = c.first_failed_at.unwrap_or(now);
    let decision = billing::after_failed_charge(&ctx.policy, failures, first_failed_at);
    let (status, next_attempt_at) = match decision {
        DunningDecision::RetryAt { at, .. } => (ChargeStatus::Failed, Some(at)),
        DunningDecision::Cancel { .. } => (ChargeStatus::Unpaid, None),
    };
    let d = Decline { status, failures, first_failed_at, next_attempt_at, payment_id: pid, error: format!("declined: {code}") };
    if !charges::mark_declined(tx, c, &d, now).await? {
        return Ok(None);
    }
    let Some(s) = services::load_service(tx, &c.subscription_id).await? else { return Ok(Some(false)) };
    match decision {
        DunningDecision::RetryAt { at, retry_number, .. } => {
            retry_later(tx, c, &s, code, failures, at, retry_number, now).await?;
            Ok(Some(false))
        }
        DunningDecision::Cancel { .. } => give_up(tx, c, &s, d.payment_id.as_deref(), code, failures, now).await.map(Some),
    }
}


/// A retry is scheduled: the customer is asked to check the payment method.
#[allow(clippy::too_many_arguments)]
async fn retry_later(tx: &Db, c: &ChargeRow, s: &ServiceRow, code: &str, failures: u32, at: i64, retry_number: u32, now: i64) -> Result<(), DbError> {
    let name = s.name_for_people(tx).await;
    let m = caas_domain::messages::subscription_charge_failed(&name, &c.period, c.amount_minor, &c.currency, at, retry_number);
    let key = format!("sub-charge-failed:{}:{failures}", c.id);
    svc::send(tx, &s.customer_id, &s.vin, &key, &m, now).await?;
    let detail = format!("{} charge for {} declined ({code}); retry {retry_number} on {}", s.id, c.period, format_date(at));
    svc::timeline(tx, s.order_id.as_deref(), now, "subscription-charge-failed", detail).await
}

/// The last retry failed: the unpaid period goes to collections, the subscription is cancelled
/// (no further charges) and deactivated, the customer told. Returns whether it was cancelled now.
async fn give_up(tx: &Db, c: &ChargeRow, s: &ServiceRow, pid: Option<&str>, code: &str, failures: u32, now: i64) -> Result<bool, DbError> {
    let reason = format!("subscription charge {} unpaid after {failures} attempts ({code})", c.period);
    charges::open_collection(tx, c, pid, &s.customer_id, &reason, now).await?;
    let did_cancel = stop_subscription(tx, s, now).await?;
    let name = s.name_for_people(tx).await;
    let m = caas_domain::messages::subscription_cancelled_unpaid(&name, &c.period, c.amount_minor, &c.currency, failures, &s.vin);
    let key = format!("sub-cancelled-unpaid:{}", s.id);
    svc::send(tx, &s.customer_id, &s.vin, &key, &m, now).await?;
    let detail = format!("{} cancelled after {failures} failed charges for {}; deactivation queued", s.id, c.period);
    svc::timeline(tx, s.order_id.as_deref(), now, "subscription-cancelled-unpaid", detail).await?;
    Ok(did_cancel)
}

/// Billing stops now, the deactivation is queued and the open charges are cancelled (when the
/// subscription is still running). Returns whether it was cancelled now.
async fn stop_subscription(tx: &Db, s: &ServiceRow, now: i64) -> Result<bool, DbError> {
    let (Some(from), Some(activated_at)) = (s.state(), s.activated_at) else { return Ok(false) };
    if !matches!(from, ServiceState::Active | ServiceState::CancellationScheduled) {
        return Ok(false);
    }
    services::end_billing_by(tx, s, billing::stop_billing_now(activated_at, now)).await?;
    let did_cancel = bill::queue_deactivation(tx, s, from, ServiceEvent::CancelNow, now).await?;
    bill::cancel_open_charges(tx, &s.id, "subscription cancelled: payment failed", now).await?;
    Ok(did_cancel)
}
