//! Maintenance (issue 10): the vehicles the maintenance tick watches, its notices (one per
//! vehicle, due date and kind: the unique key makes reminders and missed records idempotent),
//! the warranty voided by a missed maintenance, and the tick's last check per vehicle.
use crate::db::{Db, DbError, int, text};

/// A delivered (or linked) vehicle and the customer it was delivered to.
#[derive(Debug, Clone)]
pub struct Watched {
    pub vin: String,
    pub customer_id: String,
}

/// Up to `limit` delivered/operational vehicles, the least recently checked first (never
/// checked first), so that a large fleet is worked through over several ticks.
pub async fn vehicles_to_check(db: &Db, limit: i64) -> Result<Vec<Watched>, DbError> {
    let rows = db
        .query(
            "SELECT o.vin AS vin, o.customer_id AS customer_id, MAX(o.updated_at) AS u, c.checked_at AS checked_at
               FROM orders o LEFT JOIN maintenance_checks c ON c.vin = o.vin
              WHERE o.status IN ('delivered', 'operational') AND o.vin IS NOT NULL AND o.vin <> ''
              GROUP BY o.vin
              ORDER BY COALESCE(c.checked_at, 0), o.vin
              LIMIT ?",
            vec![int(limit)],
        )
        .await?;
    Ok(rows.iter().map(|r| Watched { vin: r.str("vin"), customer_id: r.str("customer_id") }).collect())
}

/// Remember when `vin` was last checked and how it went (`ok` or why VSS could not answer).
pub async fn record_check(db: &Db, vin: &str, now: i64, outcome: &str) -> Result<(), DbError> {
    db.exec(
        "INSERT INTO maintenance_checks(vin, checked_at, outcome) VALUES (?, ?, ?)
         ON CONFLICT(vin) DO UPDATE SET checked_at = excluded.checked_at, outcome = excluded.outcome",
        vec![text(vin), int(now), text(outcome)],
    )
    .await?;
    Ok(())
}

/// Records the notice `kind` (`reminder` | `missed`) of `vin`'s `due_date`; false if it was
/// already recorded (by an earlier or a concurrent tick): then nothing is to be sent.
pub async fn insert_notice(tx: &Db, vin: &str, due_date: &str, kind: &str, customer_id: &str, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "INSERT INTO maintenance_notices(vin, due_date, kind, customer_id, channels, created_at) VALUES (?, ?, ?, ?, '', ?)
             ON CONFLICT(vin, due_date, kind) DO NOTHING",
            vec![text(vin), text(due_date), text(kind), text(customer_id), int(now)],
        )
        .await?;
    Ok(n == 1)
}

/// The channels the notice went out on (for the records).
pub async fn set_notice_channels(tx: &Db, vin: &str, due_date: &str, kind: &str, channels: &str) -> Result<(), DbError> {
    tx.exec(
        "UPDATE maintenance_notices SET channels = ? WHERE vin = ? AND due_date = ? AND kind = ?",
        vec![text(channels), text(vin), text(due_date), text(kind)],
    )
    .await?;
    Ok(())
}

/// Voids `vin`'s warranty from `void_since` because the maintenance due on `due_date` was
/// missed; the first void stays (false if it was void already).
pub async fn void_warranty(tx: &Db, vin: &str, void_since: &str, due_date: &str, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "INSERT INTO vehicle_warranty(vin, void_since, reason, missed_due_date, recorded_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT(vin) DO NOTHING",
            vec![text(vin), text(void_since), text(caas_domain::maintenance::VOID_REASON_MAINTENANCE_MISSED), text(due_date), int(now)],
        )
        .await?;
    Ok(n == 1)
}

/// `vin`'s voided warranty: (void since, missed due date), if void.
pub async fn warranty_void(db: &Db, vin: &str) -> Result<Option<(String, String)>, DbError> {
    Ok(db
        .query_one("SELECT void_since, missed_due_date FROM vehicle_warranty WHERE vin = ?", vec![text(vin)])
        .await?
        .map(|r| (r.str("void_since"), r.str("missed_due_date"))))
}

/// A notice as the customer's maintenance view lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notice {
    pub channels: Vec<String>,
    pub due_date: String,
    pub kind: String,
    pub sent_at: i64,
}

/// `vin`'s maintenance notices for `customer_id`, oldest first.
pub async fn notices(db: &Db, vin: &str, customer_id: &str) -> Result<Vec<Notice>, DbError> {
    let rows = db
        .query(
            "SELECT due_date, kind, channels, created_at FROM maintenance_notices WHERE vin = ? AND customer_id = ? ORDER BY created_at, due_date, kind",
            vec![text(vin), text(customer_id)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Notice {
            channels: r.str("channels").split(',').filter(|c| !c.is_empty()).map(str::to_string).collect(),
            due_date: r.str("due_date"),
            kind: r.str("kind"),
            sent_at: r.i64("created_at"),
        })
        .collect())
}
