//! Giving money back: the one path for voids and refunds.
//!
//! A component that decides to return money calls [`queue_return`] inside the transaction that
//! records the decision, so the promise is durable with it. The job is then worked by
//! [`perform_return`] — right after the commit by the deciding component when it wants an
//! immediate answer, and otherwise (or after a failure) by the retry tick with backoff and
//! escalation after the last try. Only when the gateway confirms is the ledger row written
//! (`void:<key>` or `refund:<key>`, idempotent), so the ledger shows money that really moved.
use crate::billing::{self, Returned};
use crate::db::{Db, DbError, int, text};
use crate::queue;
use caas_domain::wit::{Job, Money, PaymentReturn, ReturnMode};

/// Dedupe key of the job: one return per key.
pub fn job_key(r: &PaymentReturn) -> String {
    format!("return:{}", r.key)
}

/// Queue `r` (inside the caller's transaction). Returns the job id when newly queued.
pub async fn queue_return(tx: &Db, r: &PaymentReturn, now: i64) -> Result<Option<String>, DbError> {
    queue::enqueue(tx, &Job::ReturnPayment(r.clone()), &job_key(r), now).await
}

/// Builder for the common case.
#[allow(clippy::too_many_arguments)]
pub fn payment_return(payment_id: &str, amount: &Money, key: &str, reference: &str, order_id: Option<&str>, mode: ReturnMode, reason: &str) -> PaymentReturn {
    PaymentReturn {
        payment_id: payment_id.to_string(),
        amount: amount.clone(),
        key: key.to_string(),
        reference: reference.to_string(),
        order_id: order_id.filter(|o| !o.is_empty()).map(str::to_string),
        mode,
        reason: reason.to_string(),
    }
}

/// What the gateway did, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Voided,
    Refunded,
    /// Nothing had been collected (the payment failed, was declined or voided).
    NotCollected,
}

impl Done {
    pub fn ledger_kind(self) -> &'static str {
        match self {
            Done::Refunded => "refund",
            Done::Voided | Done::NotCollected => "void",
        }
    }
}

/// The gateway call for `r` (idempotent: void of a voided payment answers the same; the refund
/// carries `refund:<key>` as Idempotency-Key).
pub async fn call_gateway(payment_url: &str, r: &PaymentReturn) -> Result<Done, String> {
    let refund_key = format!("refund:{}", r.key);
    let out = match r.mode {
        ReturnMode::VoidOrRefund => billing::void_or_refund(payment_url, &r.payment_id, &refund_key, r.amount.amount_minor, &r.reason).await?,
        ReturnMode::Refund => billing::refund(payment_url, &r.payment_id, &refund_key, r.amount.amount_minor, &r.reason).await?,
    };
    Ok(match out {
        Returned::Voided => Done::Voided,
        Returned::Refunded => Done::Refunded,
        Returned::NotCollected => Done::NotCollected,
    })
}

/// Record a confirmed return (inside the caller's transaction): the ledger row and the payment
/// state the customer sees. Idempotent.
pub async fn record_done(tx: &Db, r: &PaymentReturn, done: Done, now: i64) -> Result<(), DbError> {
    let key = format!("{}:{}", done.ledger_kind(), r.key);
    // A void cancels a charge the books hold; vehicle payments are only booked at settlement,
    // so voiding one that never settled moves nothing in the ledger.
    let booked = done == Done::Refunded || net_booked(tx, &r.reference).await? > 0;
    if booked {
        crate::services::ledger(tx, &key, done.ledger_kind(), &r.amount, r.order_id.as_deref(), &r.reference, now).await?;
    }
    let status = match done {
        Done::Refunded => "refunded",
        Done::Voided | Done::NotCollected => "voided",
    };
    tx.exec(
        "UPDATE services SET payment_status = ?, updated_at = ? WHERE payment_id = ? AND COALESCE(payment_status, '') <> 'refunded'",
        vec![text(status), int(now), text(&r.payment_id)],
    )
    .await?;
    if done == Done::Voided {
        tx.exec(
            "UPDATE payments SET status = 'voided', updated_at = ? WHERE id = ? AND status = 'pending'",
            vec![int(now), text(&r.payment_id)],
        )
        .await?;
    }
    Ok(())
}

/// Charges − voids − refunds recorded for `reference`.
pub async fn net_booked(db: &Db, reference: &str) -> Result<i64, DbError> {
    Ok(db
        .query_one(
            "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END), 0) AS n FROM ledger WHERE reference = ?",
            vec![text(reference)],
        )
        .await?
        .map(|r| r.i64("n"))
        .unwrap_or(0))
}

/// Work one queued return now: gateway call, then the ledger row and the job's completion in one
/// transaction. `Err` leaves the job for the retry tick (the caller reports the error).
pub async fn perform_return(db: &Db, payment_url: &str, job_dedupe_key: &str, r: &PaymentReturn, now: i64) -> Result<Done, String> {
    let done = call_gateway(payment_url, r).await?;
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        record_done(tx, r, done, now).await?;
        tx.exec(
            "UPDATE jobs SET status = 'done', updated_at = ? WHERE dedupe_key = ? AND status = 'pending'",
            vec![int(now), text(job_dedupe_key)],
        )
        .await?;
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(done)
}
