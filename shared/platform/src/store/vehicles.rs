//! Vehicles store: the `vehicles` rows (status as `VehicleStatus`), dealership stock.
use crate::db::{Db, DbError, int, opt_text, text};
use caas_domain::vehicle::VehicleStatus;

/// A vehicle row.
#[derive(Debug, Clone)]
pub struct Vehicle {
    pub vin: String,
    pub model: String,
    pub status: Option<VehicleStatus>,
    pub order_id: Option<String>,
}

pub async fn load(db: &Db, vin: &str) -> Result<Option<Vehicle>, DbError> {
    let row = db.query_one("SELECT vin, model, status, order_id FROM vehicles WHERE vin = ?", vec![text(vin)]).await?;
    Ok(row.map(|r| Vehicle { vin: r.str("vin"), model: r.str("model"), status: VehicleStatus::parse(&r.str("status")), order_id: r.opt_str("order_id") }))
}

/// Take a stock vehicle for an order (compare-and-set on `stock`): whether it was still in stock.
pub async fn take_from_stock(tx: &Db, vin: &str, order_id: &str, now: i64) -> Result<bool, DbError> {
    let taken = tx
        .exec(
            "UPDATE vehicles SET status = ?, order_id = ?, updated_at = ? WHERE vin = ? AND status = ?",
            vec![text(VehicleStatus::Assigned.as_str()), text(order_id), int(now), text(vin), text(VehicleStatus::Stock.as_str())],
        )
        .await?;
    Ok(taken == 1)
}

/// The factory built `vin` for an order: an assigned vehicle row (kept if it exists).
pub async fn insert_built(tx: &Db, vin: &str, model: &str, order_id: &str, factory_order_id: Option<&str>, country: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO vehicles(vin, model, status, order_id, factory_order_id, country, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(vin) DO NOTHING",
        vec![text(vin), text(model), text(VehicleStatus::Assigned.as_str()), text(order_id), opt_text(factory_order_id), text(country), int(now), int(now)],
    )
    .await?;
    Ok(())
}
