//! Settlement events that do not fit the payment we hold (`caas_domain::settlement::Check`):
//! money is never lost track of and never applied as if it matched. Each case is recorded in
//! the ledger when the gateway says money was taken, given back by a durable refund job where
//! no purpose can use it, and escalated so a person sees it. All inside the webhook's
//! transaction.
use caas_domain::ids::IdKind;
use caas_domain::journey::PaymentKind;
use caas_domain::payment::{PaymentState, ledger_key};
use caas_domain::wit::{Money, ReturnMode};
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::journey as j;
use caas_platform::store::payments::{self, PaymentRow};
use caas_platform::{money, rand};

/// A visible escalation (admin list) and a message to every staff member.
pub async fn escalate(tx: &Db, payment_id: &str, kind: &str, subject: &str, detail: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES (?, ?, ?, ?, ?)",
        vec![text(rand::id(IdKind::Escalation)), text(payment_id), text(kind), text(detail), int(now)],
    )
    .await?;
    j::notify_staff(tx, payment_id, kind, subject, detail, now).await
}

/// Queue the return of `amount` of payment `pid`: one return per payment whoever decides it
/// (the job's key dedupes), plus one more after a late settlement (`late`), since a return made
/// before it could only have been a void that moved no money.
#[allow(clippy::too_many_arguments)]
pub async fn give_back(tx: &Db, pid: &str, amount: &Money, reference: &str, order_id: Option<&str>, mode: ReturnMode, reason: &str, late: bool, now: i64) -> Result<(), DbError> {
    let key = if late { ledger_key::late_return(pid) } else { ledger_key::payment_return(pid) };
    let r = money::payment_return(pid, amount, &key, reference, order_id, mode, reason);
    money::queue_return(tx, &r, now).await?;
    Ok(())
}

/// Amount or currency differ from the payment's: the payment is parked as `mismatch` (it never
/// takes effect), money the gateway reports as taken is recorded as reported, a person decides.
pub async fn mismatch(tx: &Db, p: &PaymentRow, detail: &str, taken: Option<&Money>, now: i64) -> Result<String, DbError> {
    let pid = &p.id;
    payments::set_state(tx, pid, PaymentState::Mismatch, Some(detail), now).await?;
    if let Some(m) = taken {
        money::charge(tx, &ledger_key::taken(pid), m, p.order_id.as_deref(), pid, now).await?;
    }
    let detail = format!("payment {pid} ({} {}): {detail}; not applied — check and refund or assign by hand", p.amount.amount_minor, p.amount.currency);
    escalate(tx, pid, "payment-mismatch", &p.subject(), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// The gateway reports a failure for a payment it had settled: nothing moves backwards.
pub async fn failed_after_settlement(tx: &Db, p: &PaymentRow, reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = &p.id;
    let detail = format!(
        "payment {pid} ({} {}) was reported failed ({}) after it had settled; the settlement stands until a person checks it at the gateway",
        p.amount.amount_minor,
        p.amount.currency,
        reason.unwrap_or("no reason given")
    );
    escalate(tx, pid, "payment-failed-after-settlement", &p.subject(), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// A vehicle payment we recorded as failed/declined settled after all: it goes back to
/// `pending` so the order's normal handling decides (adopt it, or refund and escalate).
pub async fn reopen(tx: &Db, p: &PaymentRow, now: i64) -> Result<(), DbError> {
    let pid = &p.id;
    payments::set_state_keep_reason(tx, pid, PaymentState::Pending, now).await?;
    if let Some(order_id) = &p.order_id {
        j::event(tx, &order_id, now, "payment-settled-late", format!("payment {pid}, reported failed before, settled after all")).await?;
    }
    Ok(())
}

/// A service or subscription payment that settled after we had recorded it as not collected
/// (the service was cancelled, the period handed to collections): the money is recorded; a
/// service payment is given back at once, a subscription charge is left to a person (the
/// customer may owe it: collections).
pub async fn taken_late(tx: &Db, p: &PaymentRow, amount: &Money, now: i64) -> Result<String, DbError> {
    let pid = &p.id;
    let order_id = p.order_id.clone();
    payments::set_state_keep_reason(tx, pid, PaymentState::Settled, now).await?;
    money::charge(tx, &ledger_key::taken(pid), amount, order_id.as_deref(), pid, now).await?;
    let refunded = !matches!(p.kind(), Some(PaymentKind::Subscription));
    if refunded {
        give_back(tx, pid, amount, pid, order_id.as_deref(), ReturnMode::Refund, "settled-after-failure", true, now).await?;
    }
    let detail = format!(
        "{} payment {pid} ({} {}) settled after it had been recorded as not collected; {}",
        p.kind_text,
        amount.amount_minor,
        amount.currency,
        if refunded { "a refund is queued" } else { "reconcile it with the open collections case" }
    );
    escalate(tx, pid, "payment-settled-late", &p.subject(), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// The order took payment `pid` for `kind`: every other still-pending payment of the same kind
/// for the order (the customer paid again after a failure) is voided — or refunded if it settles
/// meanwhile — by a durable job.
pub async fn return_other_payments(tx: &Db, order_id: &str, pid: &str, kind: PaymentKind, now: i64) -> Result<(), DbError> {
    let others = payments::of_order_kind(tx, order_id, kind).await?;
    for o in others.iter().filter(|o| o.id != pid && o.is(PaymentState::Pending)) {
        let id = &o.id;
        give_back(tx, id, &o.amount, id, Some(order_id), ReturnMode::VoidOrRefund, "superseded-by-another-payment", false, now).await?;
        j::event(tx, order_id, now, "payment-superseded", format!("payment {id} is no longer needed ({pid} was taken); it is cancelled")).await?;
    }
    Ok(())
}
