//! The `payments` table: every payment we hold (vehicle, service and subscription payments).
use crate::db::{Db, DbError, Row, int, opt_text, text};
use caas_domain::journey::PaymentKind;
use caas_domain::payment::PaymentState;
use caas_domain::wit::Money;

/// One `payments` row.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: String,
    pub order_id: Option<String>,
    pub customer_id: String,
    /// The stored kind text (`kind()` parses it; unknown kinds are kept, not dropped).
    pub kind_text: String,
    pub amount: Money,
    /// The stored status text (`state()` parses it).
    pub status_text: String,
    pub idempotency_key: String,
    pub failure_reason: Option<String>,
    /// The gateway's hosted payment page of a hosted payment (issue 7).
    pub checkout_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PaymentRow {
    fn from_row(r: &Row) -> PaymentRow {
        PaymentRow {
            id: r.str("id"),
            order_id: r.opt_str("order_id"),
            customer_id: r.str("customer_id"),
            kind_text: r.str("kind"),
            amount: Money { amount_minor: r.i64("amount_minor"), currency: r.str("currency") },
            status_text: r.str("status"),
            idempotency_key: r.str("idempotency_key"),
            failure_reason: r.opt_str("failure_reason"),
            checkout_url: r.opt_str("checkout_url"),
            created_at: r.i64("created_at"),
            updated_at: r.i64("updated_at"),
        }
    }
    pub fn kind(&self) -> Option<PaymentKind> {
        PaymentKind::parse(&self.kind_text)
    }
    pub fn state(&self) -> Option<PaymentState> {
        PaymentState::parse(&self.status_text)
    }
    pub fn is(&self, s: PaymentState) -> bool {
        self.state() == Some(s)
    }
    /// The order the payment belongs to, or the payment itself (subject of escalations).
    pub fn subject(&self) -> String {
        self.order_id.clone().unwrap_or_else(|| self.id.clone())
    }
}

/// A payment to record.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub order_id: Option<&'a str>,
    pub customer_id: &'a str,
    pub kind: PaymentKind,
    pub amount: &'a Money,
    pub state: PaymentState,
    pub idempotency_key: &'a str,
    pub failure_reason: Option<&'a str>,
}

/// Insert `p` (no-op when the id exists). Returns whether it was new.
pub async fn insert(tx: &Db, p: &NewPayment<'_>, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "INSERT INTO payments(id, order_id, customer_id, kind, amount_minor, currency, status, idempotency_key, failure_reason, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            vec![
                text(p.id),
                opt_text(p.order_id),
                text(p.customer_id),
                text(p.kind.as_str()),
                int(p.amount.amount_minor),
                text(&p.amount.currency),
                text(p.state.as_str()),
                text(p.idempotency_key),
                opt_text(p.failure_reason),
                int(now),
                int(now),
            ],
        )
        .await?;
    Ok(n == 1)
}

pub async fn load(db: &Db, id: &str) -> Result<Option<PaymentRow>, DbError> {
    Ok(db.query_one("SELECT * FROM payments WHERE id = ?", vec![text(id)]).await?.as_ref().map(PaymentRow::from_row))
}

/// Every payment of an order, oldest first.
pub async fn of_order(db: &Db, order_id: &str) -> Result<Vec<PaymentRow>, DbError> {
    let rows = db.query("SELECT * FROM payments WHERE order_id = ? ORDER BY created_at, id", vec![text(order_id)]).await?;
    Ok(rows.iter().map(PaymentRow::from_row).collect())
}

/// The payments of one kind of an order, oldest first.
pub async fn of_order_kind(db: &Db, order_id: &str, kind: PaymentKind) -> Result<Vec<PaymentRow>, DbError> {
    let rows = db
        .query("SELECT * FROM payments WHERE order_id = ? AND kind = ? ORDER BY created_at, id", vec![text(order_id), text(kind.as_str())])
        .await?;
    Ok(rows.iter().map(PaymentRow::from_row).collect())
}

/// Set the status (and failure reason) unconditionally.
pub async fn set_state(tx: &Db, id: &str, state: PaymentState, failure_reason: Option<&str>, now: i64) -> Result<(), DbError> {
    tx.exec(
        "UPDATE payments SET status = ?, failure_reason = ?, updated_at = ? WHERE id = ?",
        vec![text(state.as_str()), opt_text(failure_reason), int(now), text(id)],
    )
    .await?;
    Ok(())
}

/// Set the status, keeping the failure reason.
pub async fn set_state_keep_reason(tx: &Db, id: &str, state: PaymentState, now: i64) -> Result<(), DbError> {
    tx.exec("UPDATE payments SET status = ?, updated_at = ? WHERE id = ?", vec![text(state.as_str()), int(now), text(id)]).await?;
    Ok(())
}

/// Compare-and-set: `from` → `to`. Returns whether the row moved.
pub async fn transition(tx: &Db, id: &str, from: PaymentState, to: PaymentState, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "UPDATE payments SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            vec![text(to.as_str()), int(now), text(id), text(from.as_str())],
        )
        .await?;
    Ok(n == 1)
}

/// Keep the hosted payment page of a payment (a repeat of the start returns it).
pub async fn set_checkout_url(tx: &Db, id: &str, url: &str) -> Result<(), DbError> {
    tx.exec("UPDATE payments SET checkout_url = ? WHERE id = ?", vec![text(url), text(id)]).await?;
    Ok(())
}
