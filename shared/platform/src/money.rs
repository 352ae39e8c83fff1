//! The one money path: charges, voids and refunds, each a ledger row whose key is built by
//! `caas_domain::payment::ledger_key`.
//!
//! * [`charge`] / [`reverse_charge`]: ledger rows decided inside the caller's transaction.
//! * Giving money back: a component that decides to return money calls [`queue_return`] inside
//!   the transaction that records the decision, so the promise is durable with it. The job is then
//!   worked by [`perform_return`] — right after the commit by the deciding component when it wants
//!   an immediate answer, and otherwise (or after a failure) by the retry tick with backoff and
//!   escalation after the last try. A component that keeps its own retry (the OTA engine's give-up)
//!   calls the same two halves directly: [`call_gateway`], then [`record_done`] in its transaction.
//!   Only when the gateway confirms is the ledger row written (`void:<key>` or `refund:<key>`,
//!   idempotent), so the ledger shows money that really moved.
use crate::billing::{self, Returned};
use crate::db::{Db, DbError, int, text};
use crate::queue;
use crate::store::ledger::{self as ledger_store, Movement};
use crate::store::payments;
use caas_domain::payment::{PaymentState, ledger_key};
use caas_domain::services::ledger::EntryKind;
use caas_domain::wit::{Job, Money, PaymentReturn, ReturnMode};

/// Record money taken (idempotent by `key`, a `ledger_key`). Returns whether it was new.
pub async fn charge(tx: &Db, key: &str, amount: &Money, order_id: Option<&str>, reference: &str, now: i64) -> Result<bool, DbError> {
    ledger_store::append(tx, &Movement { key, kind: EntryKind::Charge, amount, order_id, reference }, now).await
}

/// Nothing was collected for the charge `ledger_key::charge(charge_ref)`: void it under
/// `ledger_key::void(void_ref)` unless it is missing or `reference` was already reversed.
pub async fn reverse_charge(tx: &Db, charge_ref: &str, void_ref: &str, amount: &Money, order_id: Option<&str>, reference: &str, now: i64) -> Result<bool, DbError> {
    if !ledger_store::has_key(tx, &ledger_key::charge(charge_ref)).await? || ledger_store::reversed(tx, reference).await? {
        return Ok(false);
    }
    let key = ledger_key::void(void_ref);
    ledger_store::append(tx, &Movement { key: &key, kind: EntryKind::Void, amount, order_id, reference }, now).await
}

/// Dedupe key of the job: one return per key.
pub fn job_key(r: &PaymentReturn) -> String {
    ledger_key::return_job(&r.key)
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
    pub fn entry_kind(self) -> EntryKind {
        match self {
            Done::Refunded => EntryKind::Refund,
            Done::Voided | Done::NotCollected => EntryKind::Void,
        }
    }
    pub fn ledger_kind(self) -> &'static str {
        self.entry_kind().as_str()
    }
    fn ledger_key(self, return_key: &str) -> String {
        match self {
            Done::Refunded => ledger_key::refund(return_key),
            Done::Voided | Done::NotCollected => ledger_key::void(return_key),
        }
    }
}

/// The gateway call for `r` (idempotent: void of a voided payment answers the same; the refund
/// carries `refund:<key>` as Idempotency-Key).
pub async fn call_gateway(payment_url: &str, r: &PaymentReturn) -> Result<Done, String> {
    let refund_key = ledger_key::refund(&r.key);
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
    // A void cancels a charge the books hold; vehicle payments are only booked at settlement,
    // so voiding one that never settled moves nothing in the ledger.
    if done == Done::Refunded || net_booked(tx, &r.reference).await? > 0 {
        let key = done.ledger_key(&r.key);
        let m = Movement { key: &key, kind: done.entry_kind(), amount: &r.amount, order_id: r.order_id.as_deref(), reference: &r.reference };
        ledger_store::append(tx, &m, now).await?;
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
        payments::transition(tx, &r.payment_id, PaymentState::Pending, PaymentState::Voided, now).await?;
    }
    Ok(())
}

/// Charges − voids − refunds recorded for `reference`.
pub async fn net_booked(db: &Db, reference: &str) -> Result<i64, DbError> {
    ledger_store::net_booked(db, reference).await
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

/// Work `r` now, its job having been queued ([`queue_return`]) by a committed transaction.
/// `Err` leaves the job for the retry tick.
pub async fn return_now(db: &Db, payment_url: &str, r: &PaymentReturn, now: i64) -> Result<Done, String> {
    perform_return(db, payment_url, &job_key(r), r, now).await
}
