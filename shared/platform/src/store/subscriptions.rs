//! Subscription period charges (`subscription_charges`): the intent rows the billing tick
//! records, their gateway attempts and dunning state, and what a charge leaves behind (the
//! gateway payment known to the payment webhook, the collections case of an unpaid period).
use crate::db::{Db, DbError, Row, Value, int, opt_text, text};
use caas_domain::journey::PaymentKind;
use caas_domain::services::billing::{Period, PeriodCharge};
use caas_domain::services::ledger::period_reference;
use caas_domain::services::status::ChargeStatus;
use caas_domain::wit::Money;

/// One subscription period charge row.
#[derive(Debug, Clone)]
pub struct ChargeRow {
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub period: String,
    pub amount_minor: i64,
    pub currency: String,
    pub idempotency_key: String,
    pub attempt_key: String,
    pub status: ChargeStatus,
    pub payment_id: Option<String>,
    pub failures: u32,
    pub first_failed_at: Option<i64>,
}

impl ChargeRow {
    pub fn from_row(r: &Row) -> ChargeRow {
        ChargeRow {
            id: r.str("id"),
            subscription_id: r.str("subscription_id"),
            customer_id: r.str("customer_id"),
            period: r.str("period"),
            amount_minor: r.i64("amount_minor"),
            currency: r.str("currency"),
            idempotency_key: r.str("idempotency_key"),
            attempt_key: r.str("attempt_key"),
            // The table's CHECK constraint admits only the enum's values.
            status: ChargeStatus::parse(&r.str("status")).unwrap_or(ChargeStatus::Pending),
            payment_id: r.opt_str("payment_id"),
            failures: r.i64("failures").clamp(0, u32::MAX as i64) as u32,
            first_failed_at: r.opt_i64("first_failed_at"),
        }
    }

    pub fn amount(&self) -> Money {
        Money { amount_minor: self.amount_minor, currency: self.currency.clone() }
    }

    /// The ledger reference of the period (`<subscription>/<period>`).
    pub fn reference(&self) -> String {
        Period::parse(&self.period)
            .map(|p| period_reference(&self.subscription_id, p))
            .unwrap_or_else(|| format!("{}/{}", self.subscription_id, self.period))
    }
}

async fn load(db: &Db, id: &str) -> Result<Option<ChargeRow>, DbError> {
    Ok(db.query_one("SELECT * FROM subscription_charges WHERE id = ?", vec![text(id)]).await?.as_ref().map(ChargeRow::from_row))
}

/// Every charge row of a subscription, oldest period first.
pub async fn charges_of(db: &Db, subscription_id: &str) -> Result<Vec<ChargeRow>, DbError> {
    Ok(db
        .query("SELECT * FROM subscription_charges WHERE subscription_id = ? ORDER BY period", vec![text(subscription_id)])
        .await?
        .iter()
        .map(ChargeRow::from_row)
        .collect())
}

/// No charge is made for this subscription any more: open (pending / failed-and-retrying)
/// charges are cancelled. Returns how many.
pub async fn cancel_open_charges(tx: &Db, subscription_id: &str, why: &str, now: i64) -> Result<u64, DbError> {
    tx.exec(
        "UPDATE subscription_charges SET status = ?, next_attempt_at = NULL, last_error = ?, updated_at = ?
         WHERE subscription_id = ? AND status IN (?, ?)",
        vec![
            text(ChargeStatus::Cancelled.as_str()),
            text(why),
            int(now),
            text(subscription_id),
            text(ChargeStatus::Pending.as_str()),
            text(ChargeStatus::Failed.as_str()),
        ],
    )
    .await
}

/// Dunning retries that are due become pending attempts with their own gateway key
/// (`<key>_r<failures>`: the gateway replays a decline for a key).
pub async fn reopen_due_retries(db: &Db, now: i64) -> Result<u64, DbError> {
    db.exec(
        "UPDATE subscription_charges SET status = ?, attempt_key = idempotency_key || '_r' || failures, updated_at = ?
         WHERE status = ? AND next_attempt_at IS NOT NULL AND next_attempt_at <= ?",
        vec![text(ChargeStatus::Pending.as_str()), int(now), text(ChargeStatus::Failed.as_str()), int(now)],
    )
    .await
}

/// One page (by id, after `after`) of pending attempts.
pub async fn pending_page(db: &Db, after: &str, limit: i64) -> Result<Vec<ChargeRow>, DbError> {
    let rows = db
        .query(
            "SELECT * FROM subscription_charges WHERE status = ? AND id > ? ORDER BY id LIMIT ?",
            vec![text(ChargeStatus::Pending.as_str()), text(after), int(limit)],
        )
        .await?;
    Ok(rows.iter().map(ChargeRow::from_row).collect())
}

/// Records the intent to charge one due period (UNIQUE per subscription and period: a repeat is
/// a no-op). Returns the new row when it was inserted and is to be sent (zero amounts are
/// recorded as `zero` and never sent).
pub async fn record_intent(tx: &Db, subscription_id: &str, customer_id: &str, ch: &PeriodCharge, now: i64) -> Result<Option<ChargeRow>, DbError> {
    let id = format!("sch_{subscription_id}_{}", ch.period);
    let status = if ch.is_zero() { ChargeStatus::Zero } else { ChargeStatus::Pending };
    let inserted = tx
        .exec(
            "INSERT INTO subscription_charges(id, subscription_id, customer_id, period, amount_minor, currency,
               idempotency_key, attempt_key, status, payment_id, failures, first_failed_at, next_attempt_at,
               last_error, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL, NULL, ?, ?)
             ON CONFLICT DO NOTHING",
            vec![
                text(&id),
                text(subscription_id),
                text(customer_id),
                text(ch.period.key()),
                int(ch.amount.amount_minor),
                text(&ch.amount.currency),
                text(&ch.idempotency_key),
                text(&ch.idempotency_key),
                text(status.as_str()),
                int(now),
                int(now),
            ],
        )
        .await?;
    if inserted != 1 || ch.is_zero() {
        return Ok(None);
    }
    load(tx, &id).await
}

/// `pending` → `charged` by payment `pid` (compare-and-set); false when it was not pending.
pub async fn mark_charged(tx: &Db, id: &str, pid: &str, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "UPDATE subscription_charges SET status = ?, payment_id = ?, next_attempt_at = NULL, last_error = NULL, updated_at = ?
             WHERE id = ? AND status = ?",
            vec![text(ChargeStatus::Charged.as_str()), text(pid), int(now), text(id), text(ChargeStatus::Pending.as_str())],
        )
        .await?;
    Ok(changed == 1)
}

/// The charge's current status.
pub async fn status_of(tx: &Db, id: &str) -> Result<Option<ChargeStatus>, DbError> {
    Ok(load(tx, id).await?.map(|c| c.status))
}

/// A declined attempt as recorded: `Failed` with the next retry, or `Unpaid` after the last.
pub struct Decline {
    pub status: ChargeStatus,
    pub failures: u32,
    pub first_failed_at: i64,
    pub next_attempt_at: Option<i64>,
    pub payment_id: Option<String>,
    pub error: String,
}

/// Records a decline of the pending attempt `c` (compare-and-set on status and failure count,
/// so a concurrent run records it once); false when someone else did.
pub async fn mark_declined(tx: &Db, c: &ChargeRow, d: &Decline, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "UPDATE subscription_charges SET status = ?, failures = ?, first_failed_at = ?, next_attempt_at = ?,
               payment_id = COALESCE(?, payment_id), last_error = ?, updated_at = ?
             WHERE id = ? AND status = ? AND failures = ?",
            vec![
                text(d.status.as_str()),
                int(d.failures as i64),
                int(d.first_failed_at),
                d.next_attempt_at.map(int).unwrap_or(Value::Null),
                opt_text(d.payment_id.clone()),
                text(&d.error),
                int(now),
                text(&c.id),
                text(ChargeStatus::Pending.as_str()),
                int(c.failures as i64),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// The gateway could not be asked (outage): the attempt stays pending, the error is noted.
pub async fn note_unavailable(db: &Db, id: &str, error: &str, now: i64) -> Result<(), DbError> {
    db.exec(
        "UPDATE subscription_charges SET last_error = ?, updated_at = ? WHERE id = ? AND status = ?",
        vec![text(error), int(now), text(id), text(ChargeStatus::Pending.as_str())],
    )
    .await?;
    Ok(())
}

/// Notes an error on the charge whatever its status (e.g. a refund left to the retry tick).
pub async fn note_error(db: &Db, id: &str, error: &str) -> Result<(), DbError> {
    db.exec("UPDATE subscription_charges SET last_error = ? WHERE id = ?", vec![text(error), text(id)]).await?;
    Ok(())
}

/// Makes the gateway payment `pid` of a charge known to the payment webhook (kind
/// `subscription`, pending until it settles): its settlement is the billing tick's.
pub async fn record_gateway_payment(tx: &Db, c: &ChargeRow, pid: &str, order_id: Option<&str>, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO payments(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT(id) DO NOTHING",
        vec![
            text(pid),
            opt_text(order_id),
            text(&c.customer_id),
            text(PaymentKind::Subscription.as_str()),
            int(c.amount_minor),
            text(&c.currency),
            text(&c.attempt_key),
            int(now),
            int(now),
        ],
    )
    .await?;
    Ok(())
}

/// The unpaid, delivered period handed to collections (one case per payment, or per charge
/// key when the gateway gave no payment id).
pub async fn open_collection(tx: &Db, c: &ChargeRow, payment_id: Option<&str>, customer_id: &str, reason: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO collections(id, payment_id, service_id, customer_id, amount_minor, currency, reason, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(payment_id) DO NOTHING",
        vec![
            text(format!("col_{}", c.idempotency_key)),
            text(payment_id.unwrap_or(&c.idempotency_key)),
            text(&c.subscription_id),
            text(customer_id),
            int(c.amount_minor),
            text(&c.currency),
            text(reason),
            int(now),
        ],
    )
    .await?;
    Ok(())
}
