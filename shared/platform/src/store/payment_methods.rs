//! The `payment_methods` table (issue 7): a customer's saved cards — the gateway's token, the
//! card's brand and last four digits, never a card number. At most one non-removed method per
//! customer is the default (the one subscriptions and service purchases are charged to).
use crate::db::{Db, DbError, Row, int, text};
use caas_domain::ids::IdKind;
use caas_domain::payment_method::GatewayMethod;
use serde_json::{Value, json};

/// One `payment_methods` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodRow {
    pub id: String,
    pub customer_id: String,
    pub gateway_token: String,
    pub brand: String,
    pub last4: String,
    pub is_default: bool,
    /// Where it came from: `payment:<gateway payment id>` or `setup:<setup id>`.
    pub source: String,
    pub created_at: i64,
    pub removed_at: Option<i64>,
}

impl MethodRow {
    fn from_row(r: &Row) -> MethodRow {
        MethodRow {
            id: r.str("id"),
            customer_id: r.str("customer_id"),
            gateway_token: r.str("gateway_token"),
            brand: r.str("brand"),
            last4: r.str("last4"),
            is_default: r.bool("is_default"),
            source: r.str("source"),
            created_at: r.i64("created_at"),
            removed_at: r.opt_i64("removed_at"),
        }
    }
    /// The customer's view (the token is not shown).
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "brand": self.brand, "last4": self.last4, "is_default": self.is_default, "created_at": self.created_at})
    }
}

/// Saves `m` for `customer_id` as the new default (inside the caller's transaction). Idempotent
/// by (customer, token): a token saved before is returned as it is (`false` = not new).
pub async fn save_default(tx: &Db, customer_id: &str, m: &GatewayMethod, source: &str, now: i64) -> Result<(MethodRow, bool), DbError> {
    if let Some(existing) = by_token(tx, customer_id, &m.token).await? {
        return Ok((existing, false));
    }
    tx.exec("UPDATE payment_methods SET is_default = 0 WHERE customer_id = ? AND is_default = 1", vec![text(customer_id)]).await?;
    let id = crate::rand::id(IdKind::PaymentMethod);
    tx.exec(
        "INSERT INTO payment_methods(id, customer_id, gateway_token, brand, last4, is_default, source, created_at)
         VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        vec![text(&id), text(customer_id), text(&m.token), text(&m.brand), text(&m.last4), text(source), int(now)],
    )
    .await?;
    let row = by_token(tx, customer_id, &m.token).await?.ok_or_else(|| DbError::Other("saved payment method vanished".into()))?;
    Ok((row, true))
}

async fn by_token(db: &Db, customer_id: &str, token: &str) -> Result<Option<MethodRow>, DbError> {
    Ok(db
        .query_one("SELECT * FROM payment_methods WHERE customer_id = ? AND gateway_token = ?", vec![text(customer_id), text(token)])
        .await?
        .as_ref()
        .map(MethodRow::from_row))
}

/// The customer's methods (not removed), the default first, then newest first.
pub async fn list(db: &Db, customer_id: &str) -> Result<Vec<MethodRow>, DbError> {
    let rows = db
        .query(
            "SELECT * FROM payment_methods WHERE customer_id = ? AND removed_at IS NULL ORDER BY is_default DESC, created_at DESC, id DESC LIMIT 100",
            vec![text(customer_id)],
        )
        .await?;
    Ok(rows.iter().map(MethodRow::from_row).collect())
}

/// The gateway token of the customer's default method, if any.
pub async fn default_token(db: &Db, customer_id: &str) -> Result<Option<String>, DbError> {
    Ok(db
        .query_one(
            "SELECT gateway_token FROM payment_methods WHERE customer_id = ? AND is_default = 1 AND removed_at IS NULL",
            vec![text(customer_id)],
        )
        .await?
        .map(|r| r.str("gateway_token")))
}

/// Removes the customer's method `id` (inside the caller's transaction); the most recent
/// remaining one becomes the default when the removed one was. Returns false when the customer
/// has no such (non-removed) method.
pub async fn remove(tx: &Db, customer_id: &str, id: &str, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "UPDATE payment_methods SET removed_at = ?, is_default = 0 WHERE id = ? AND customer_id = ? AND removed_at IS NULL",
            vec![int(now), text(id), text(customer_id)],
        )
        .await?;
    if n == 0 {
        return Ok(false);
    }
    tx.exec(
        "UPDATE payment_methods SET is_default = 1 WHERE id = (
             SELECT id FROM payment_methods WHERE customer_id = ? AND removed_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1)
         AND NOT EXISTS (SELECT 1 FROM payment_methods WHERE customer_id = ? AND removed_at IS NULL AND is_default = 1)",
        vec![text(customer_id), text(customer_id)],
    )
    .await?;
    Ok(true)
}
