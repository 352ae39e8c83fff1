//! What the deadline tick reads and writes across orders, their payments and vehicles: the
//! orders past a deadline (one page), the pending payments of an order, its vehicle back to
//! stock. Order rows themselves are `crate::journey::Order`.
use crate::db::{Db, DbError, int, text};
use caas_domain::journey::PaymentKind;
use caas_domain::order::OrderStatus;
use caas_domain::wit::Money;

/// A payment still pending at the gateway.
#[derive(Debug, Clone)]
pub struct PendingPayment {
    pub id: String,
    pub amount: Money,
}

/// Ids of up to `limit` orders in `status` created at or before `created_by`, oldest first.
pub async fn orders_created_by(db: &Db, status: OrderStatus, created_by: i64, limit: i64) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            "SELECT id FROM orders WHERE status = ? AND created_at <= ? ORDER BY created_at, id LIMIT ?",
            vec![text(status.as_str()), int(created_by), int(limit)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.str("id")).collect())
}

/// Ids of up to `limit` orders in `status` whose final payment was due at or before `now`.
pub async fn orders_final_payment_due(db: &Db, status: OrderStatus, now: i64, limit: i64) -> Result<Vec<String>, DbError> {
    let rows = db
        .query(
            "SELECT id FROM orders WHERE status = ? AND final_payment_due_at IS NOT NULL AND final_payment_due_at <= ?
             ORDER BY final_payment_due_at, id LIMIT ?",
            vec![text(status.as_str()), int(now), int(limit)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.str("id")).collect())
}

/// The order's payments of `kind` still pending at the gateway.
pub async fn pending_payments(tx: &Db, order_id: &str, kind: PaymentKind) -> Result<Vec<PendingPayment>, DbError> {
    let rows = tx
        .query(
            "SELECT id, amount_minor, currency FROM payments WHERE order_id = ? AND kind = ? AND status = 'pending'",
            vec![text(order_id), text(kind.as_str())],
        )
        .await?;
    Ok(rows.iter().map(|p| PendingPayment { id: p.str("id"), amount: Money { amount_minor: p.i64("amount_minor"), currency: p.str("currency") } }).collect())
}

/// Since when the oldest pending payment of `kind` of the order has been waiting (None: none).
pub async fn pending_payment_since(tx: &Db, order_id: &str, kind: PaymentKind) -> Result<Option<i64>, DbError> {
    Ok(tx
        .query_one(
            "SELECT MIN(created_at) AS t FROM payments WHERE order_id = ? AND kind = ? AND status = 'pending'",
            vec![text(order_id), text(kind.as_str())],
        )
        .await?
        .and_then(|r| r.opt_i64("t")))
}

/// Every vehicle taken by the order goes back to dealership stock; returns how many.
pub async fn release_vehicles(tx: &Db, order_id: &str, now: i64) -> Result<u64, DbError> {
    tx.exec("UPDATE vehicles SET status = 'stock', order_id = NULL, updated_at = ? WHERE order_id = ?", vec![int(now), text(order_id)]).await
}
