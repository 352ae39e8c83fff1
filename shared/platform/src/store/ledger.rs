//! The `ledger` table: every money movement, one row per idempotency key
//! (`caas_domain::payment::ledger_key` builds the keys). Append-only.
use crate::db::{Db, DbError, Row, Value, int, opt_text, text};
use caas_domain::ids::IdKind;
use caas_domain::services::ledger::EntryKind;
use caas_domain::wit::Money;

/// One movement to append.
#[derive(Debug, Clone)]
pub struct Movement<'a> {
    pub key: &'a str,
    pub kind: EntryKind,
    pub amount: &'a Money,
    pub order_id: Option<&'a str>,
    pub reference: &'a str,
}

/// Append `m` (idempotent by its key): returns whether it was new.
pub async fn append(tx: &Db, m: &Movement<'_>, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "INSERT INTO ledger(id, idempotency_key, kind, amount_minor, currency, order_id, reference, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(idempotency_key) DO NOTHING",
            vec![
                text(crate::rand::id(IdKind::Ledger)),
                text(m.key),
                text(m.kind.as_str()),
                int(m.amount.amount_minor),
                text(&m.amount.currency),
                opt_text(m.order_id),
                text(m.reference),
                int(now),
            ],
        )
        .await?;
    Ok(changed == 1)
}

/// Whether a row with `key` exists.
pub async fn has_key(db: &Db, key: &str) -> Result<bool, DbError> {
    Ok(db.query_one("SELECT 1 AS x FROM ledger WHERE idempotency_key = ?", vec![text(key)]).await?.is_some())
}

/// Whether a void or refund was recorded for `reference`.
pub async fn reversed(db: &Db, reference: &str) -> Result<bool, DbError> {
    Ok(db
        .query_one("SELECT 1 AS x FROM ledger WHERE reference = ? AND kind IN ('void','refund')", vec![text(reference)])
        .await?
        .is_some())
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

/// One stored ledger row.
#[derive(Debug, Clone)]
pub struct LedgerRow {
    /// Keyset-paging position (the row id).
    pub position: i64,
    pub key: String,
    /// The stored kind text (`kind()` parses it).
    pub kind_text: String,
    pub amount: Money,
    pub order_id: Option<String>,
    pub reference: Option<String>,
    pub created_at: i64,
    /// State of the service the row pays for (admin listing only).
    pub service_state: Option<String>,
}

impl LedgerRow {
    fn from_row(r: &Row) -> LedgerRow {
        LedgerRow {
            position: r.opt_i64("k").unwrap_or(0),
            key: r.str("idempotency_key"),
            kind_text: r.str("kind"),
            amount: Money { amount_minor: r.i64("amount_minor"), currency: r.str("currency") },
            order_id: r.opt_str("order_id"),
            reference: r.opt_str("reference"),
            created_at: r.i64("created_at"),
            service_state: r.opt_str("service_state"),
        }
    }
    pub fn kind(&self) -> Option<EntryKind> {
        EntryKind::parse(&self.kind_text)
    }
}

async fn rows(db: &Db, sql: &str, params: Vec<Value>) -> Result<Vec<LedgerRow>, DbError> {
    Ok(db.query(sql, params).await?.iter().map(LedgerRow::from_row).collect())
}

/// The movements of a service: its own reference and its subscription periods (`<id>/…`).
pub async fn of_service(db: &Db, service_id: &str) -> Result<Vec<LedgerRow>, DbError> {
    rows(
        db,
        "SELECT rowid AS k, * FROM ledger WHERE reference = ? OR reference LIKE ? ORDER BY created_at, id",
        vec![text(service_id), text(format!("{service_id}/%"))],
    )
    .await
}

/// The movements carrying an order.
pub async fn of_order(db: &Db, order_id: &str) -> Result<Vec<LedgerRow>, DbError> {
    rows(db, "SELECT rowid AS k, * FROM ledger WHERE order_id = ? ORDER BY created_at, id", vec![text(order_id)]).await
}

/// Admin page: rows after `after` (row id), at most `limit`, optionally of one reference (a
/// payment id, a service id with its periods, or an order id), with the paid service's state.
pub async fn page(db: &Db, reference: Option<&str>, after: i64, limit: i64) -> Result<Vec<LedgerRow>, DbError> {
    page_filtered(db, reference, None, after, limit).await
}

/// The admin listing's rows: every ledger row with the state (and customer) of the service it
/// pays for, filtered by reference and/or customer (id).
const ADMIN_ROWS: &str = "FROM ledger l
         LEFT JOIN services s ON s.id = CASE WHEN instr(COALESCE(l.reference, ''), '/') > 0
                                             THEN substr(l.reference, 1, instr(l.reference, '/') - 1)
                                             ELSE l.reference END
         WHERE (? IS NULL OR l.reference = ? OR l.reference LIKE ? || '/%' OR l.order_id = ?)
           AND (? IS NULL OR s.customer_id = ?
                OR l.order_id IN (SELECT o.id FROM orders o WHERE o.customer_id = ?)
                OR l.reference IN (SELECT p.id FROM payments p WHERE p.customer_id = ?))";

fn admin_params(reference: Option<&str>, customer: Option<&str>) -> Vec<Value> {
    let r = || reference.map(text).unwrap_or(Value::Null);
    let c = || customer.map(text).unwrap_or(Value::Null);
    vec![r(), r(), r(), r(), c(), c(), c(), c()]
}

/// [`page`] with a customer filter too (a customer id: their orders' movements, their payments,
/// their services and subscription periods).
pub async fn page_filtered(db: &Db, reference: Option<&str>, customer: Option<&str>, after: i64, limit: i64) -> Result<Vec<LedgerRow>, DbError> {
    let mut params = admin_params(reference, customer);
    params.push(int(after));
    params.push(int(limit));
    rows(
        db,
        &format!(
            "SELECT l.rowid AS k, l.kind, l.idempotency_key, l.reference, l.amount_minor, l.currency, l.order_id, l.created_at,
                    s.state AS service_state
             {ADMIN_ROWS} AND l.rowid > ? ORDER BY l.rowid LIMIT ?"
        ),
        params,
    )
    .await
}

/// Totals per currency of everything the same filters select (not only one page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Totals {
    pub currency: String,
    pub charges_minor: i64,
    pub refunds_minor: i64,
    pub voids_minor: i64,
    /// Charges less refunds and voids.
    pub net_minor: i64,
    pub entries: i64,
}

pub async fn totals(db: &Db, reference: Option<&str>, customer: Option<&str>) -> Result<Vec<Totals>, DbError> {
    let rows = db
        .query(
            &format!(
                "SELECT l.currency AS currency,
                        COALESCE(SUM(CASE l.kind WHEN 'charge' THEN l.amount_minor ELSE 0 END), 0) AS c,
                        COALESCE(SUM(CASE l.kind WHEN 'refund' THEN l.amount_minor ELSE 0 END), 0) AS r,
                        COALESCE(SUM(CASE l.kind WHEN 'void' THEN l.amount_minor ELSE 0 END), 0) AS v,
                        COUNT(*) AS n
                 {ADMIN_ROWS} GROUP BY l.currency ORDER BY l.currency LIMIT 50"
            ),
            admin_params(reference, customer),
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Totals {
            currency: r.str("currency"),
            charges_minor: r.i64("c"),
            refunds_minor: r.i64("r"),
            voids_minor: r.i64("v"),
            net_minor: r.i64("c") - r.i64("r") - r.i64("v"),
            entries: r.i64("n"),
        })
        .collect())
}

/// The ledger's net (charges less refunds and voids) per reference, for reconciliation
/// (bounded: at most 200,000 references).
pub async fn net_by_reference(db: &Db) -> Result<std::collections::BTreeMap<String, i64>, DbError> {
    let rows = db
        .query(
            "SELECT reference, SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END) AS n
               FROM ledger WHERE reference IS NOT NULL GROUP BY reference ORDER BY reference LIMIT 200000",
            vec![],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.str("reference"), r.i64("n"))).collect())
}

/// Payments people already work on: parked as `mismatch`, or owed (open collections).
pub async fn parked_payments(db: &Db) -> Result<std::collections::BTreeSet<String>, DbError> {
    let rows = db.query("SELECT id AS p FROM payments WHERE status = 'mismatch' UNION SELECT payment_id AS p FROM collections WHERE status = 'open'", vec![]).await?;
    Ok(rows.iter().map(|r| r.str("p")).collect())
}
