//! Settlement events that do not fit the payment we hold (`caas_domain::settlement::Check`):
//! money is never lost track of and never applied as if it matched. Each case is recorded in
//! the ledger when the gateway says money was taken, given back by a durable refund job where
//! no purpose can use it, and escalated so a person sees it. All inside the webhook's
//! transaction.
use caas_domain::ids::IdKind;
use caas_domain::journey::PaymentKind;
use caas_domain::settlement;
use caas_domain::wit::{Money, ReturnMode};
use caas_platform::db::{Db, DbError, Row, int, text};
use caas_platform::journey as j;
use caas_platform::services as svc;
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
    let key = if late { format!("payment:{pid}:late") } else { format!("payment:{pid}") };
    let r = money::payment_return(pid, amount, &key, reference, order_id, mode, reason);
    money::queue_return(tx, &r, now).await?;
    Ok(())
}

/// Amount or currency differ from the payment's: the payment is parked as `mismatch` (it never
/// takes effect), money the gateway reports as taken is recorded as reported, a person decides.
pub async fn mismatch(tx: &Db, p: &Row, detail: &str, taken: Option<&Money>, now: i64) -> Result<String, DbError> {
    let pid = p.str("id");
    tx.exec("UPDATE payments SET status = 'mismatch', failure_reason = ?, updated_at = ? WHERE id = ?", vec![text(detail), int(now), text(&pid)])
        .await?;
    if let Some(m) = taken {
        svc::ledger(tx, &settlement::ledger_key_taken(&pid), "charge", m, p.opt_str("order_id").as_deref(), &pid, now).await?;
    }
    let detail = format!("payment {pid} ({} {}): {detail}; not applied — check and refund or assign by hand", p.i64("amount_minor"), p.str("currency"));
    escalate(tx, &pid, "payment-mismatch", &p.opt_str("order_id").unwrap_or_else(|| pid.clone()), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// The gateway reports a failure for a payment it had settled: nothing moves backwards.
pub async fn failed_after_settlement(tx: &Db, p: &Row, reason: Option<&str>, now: i64) -> Result<String, DbError> {
    let pid = p.str("id");
    let detail = format!(
        "payment {pid} ({} {}) was reported failed ({}) after it had settled; the settlement stands until a person checks it at the gateway",
        p.i64("amount_minor"),
        p.str("currency"),
        reason.unwrap_or("no reason given")
    );
    escalate(tx, &pid, "payment-failed-after-settlement", &p.opt_str("order_id").unwrap_or_else(|| pid.clone()), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// A vehicle payment we recorded as failed/declined settled after all: it goes back to
/// `pending` so the order's normal handling decides (adopt it, or refund and escalate).
pub async fn reopen(tx: &Db, p: &Row, now: i64) -> Result<(), DbError> {
    let pid = p.str("id");
    tx.exec("UPDATE payments SET status = 'pending', updated_at = ? WHERE id = ?", vec![int(now), text(&pid)]).await?;
    if let Some(order_id) = p.opt_str("order_id") {
        j::event(tx, &order_id, now, "payment-settled-late", format!("payment {pid}, reported failed before, settled after all")).await?;
    }
    Ok(())
}

/// A service or subscription payment that settled after we had recorded it as not collected
/// (the service was cancelled, the period handed to collections): the money is recorded; a
/// service payment is given back at once, a subscription charge is left to a person (the
/// customer may owe it: collections).
pub async fn taken_late(tx: &Db, p: &Row, amount: &Money, now: i64) -> Result<String, DbError> {
    let pid = p.str("id");
    let order_id = p.opt_str("order_id");
    tx.exec("UPDATE payments SET status = 'settled', updated_at = ? WHERE id = ?", vec![int(now), text(&pid)]).await?;
    svc::ledger(tx, &settlement::ledger_key_taken(&pid), "charge", amount, order_id.as_deref(), &pid, now).await?;
    let kind = PaymentKind::parse(&p.str("kind"));
    let refunded = !matches!(kind, Some(PaymentKind::Subscription));
    if refunded {
        give_back(tx, &pid, amount, &pid, order_id.as_deref(), ReturnMode::Refund, "settled-after-failure", true, now).await?;
    }
    let detail = format!(
        "{} payment {pid} ({} {}) settled after it had been recorded as not collected; {}",
        p.str("kind"),
        amount.amount_minor,
        amount.currency,
        if refunded { "a refund is queued" } else { "reconcile it with the open collections case" }
    );
    escalate(tx, &pid, "payment-settled-late", &order_id.clone().unwrap_or_else(|| pid.clone()), &detail, now).await?;
    Ok(format!("escalated: {detail}"))
}

/// The order took payment `pid` for `kind`: every other still-pending payment of the same kind
/// for the order (the customer paid again after a failure) is voided — or refunded if it settles
/// meanwhile — by a durable job.
pub async fn return_other_payments(tx: &Db, order_id: &str, pid: &str, kind: PaymentKind, now: i64) -> Result<(), DbError> {
    let others = tx
        .query(
            "SELECT id, amount_minor, currency FROM payments WHERE order_id = ? AND kind = ? AND id <> ? AND status = 'pending'",
            vec![text(order_id), text(kind.as_str()), text(pid)],
        )
        .await?;
    for o in others {
        let id = o.str("id");
        let m = Money { amount_minor: o.i64("amount_minor"), currency: o.str("currency") };
        give_back(tx, &id, &m, &id, Some(order_id), ReturnMode::VoidOrRefund, "superseded-by-another-payment", false, now).await?;
        j::event(tx, order_id, now, "payment-superseded", format!("payment {id} is no longer needed ({pid} was taken); it is cancelled")).await?;
    }
    Ok(())
}
