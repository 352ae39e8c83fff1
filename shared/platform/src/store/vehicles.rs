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

/// A car the factory built for a sale that no longer exists (the dealership cancelled it while it
/// was in production) goes to dealership stock, free to be sold again with `stock_vin`.
pub async fn insert_stock(tx: &Db, vin: &str, model: &str, factory_order_id: Option<&str>, country: &str, now: i64) -> Result<bool, DbError> {
    let n = tx
        .exec(
            "INSERT INTO vehicles(vin, model, status, order_id, factory_order_id, country, created_at, updated_at)
             VALUES (?, ?, ?, NULL, ?, ?, ?, ?) ON CONFLICT(vin) DO NOTHING",
            vec![text(vin), text(model), text(VehicleStatus::Stock.as_str()), opt_text(factory_order_id), text(country), int(now), int(now)],
        )
        .await?;
    Ok(n == 1)
}

// ------------------------------------------------------------------------------------ app links

/// A `vehicle_links` row: the account the vehicle's app is linked to.
#[derive(Debug, Clone)]
pub struct Link {
    pub vin: String,
    pub customer_id: String,
    pub order_id: String,
    pub linked_at: i64,
}

fn link_of_row(r: &crate::db::Row) -> Link {
    Link { vin: r.str("vin"), customer_id: r.str("customer_id"), order_id: r.str("order_id"), linked_at: r.i64("linked_at") }
}

pub async fn link(db: &Db, vin: &str) -> Result<Option<Link>, DbError> {
    Ok(db.query_one("SELECT * FROM vehicle_links WHERE vin = ?", vec![text(vin)]).await?.as_ref().map(link_of_row))
}

/// The customer's linked vehicles, in linking order.
pub async fn links_of(db: &Db, customer_id: &str) -> Result<Vec<Link>, DbError> {
    let rows = db.query("SELECT * FROM vehicle_links WHERE customer_id = ? ORDER BY linked_at, vin", vec![text(customer_id)]).await?;
    Ok(rows.iter().map(link_of_row).collect())
}

pub async fn insert_link(tx: &Db, vin: &str, customer_id: &str, order_id: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO vehicle_links(vin, customer_id, order_id, linked_at) VALUES (?, ?, ?, ?)",
        vec![text(vin), text(customer_id), text(order_id), int(now)],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ plan services

/// A plan-comercial service of a linked vehicle, as created at linking.
#[derive(Debug, Clone)]
pub struct NewPlanService<'a> {
    pub id: &'a str,
    pub order_id: &'a str,
    pub customer_id: &'a str,
    pub vin: &'a str,
    pub option_code: &'a str,
    pub feature: &'a str,
    pub kind: &'a str,
    pub state: caas_domain::services::lifecycle::ServiceState,
    pub command_id: &'a str,
    pub job_id: Option<String>,
    /// A plan subscription: its monthly price and the months included with the car.
    pub monthly_price: Option<&'a caas_domain::wit::Money>,
    pub included_months: Option<u32>,
}

pub async fn insert_plan_service(tx: &Db, s: &NewPlanService<'_>, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO services(id, order_id, customer_id, vin, option_code, feature, kind, source, state, command_id, job_id,
                              price_minor, currency, included_months, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'plan', ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            text(s.id), text(s.order_id), text(s.customer_id), text(s.vin), text(s.option_code), text(s.feature), text(s.kind),
            text(s.state.as_str()), text(s.command_id), opt_text(s.job_id.clone()),
            s.monthly_price.map(|p| int(p.amount_minor)).unwrap_or(crate::db::Value::Null),
            opt_text(s.monthly_price.map(|p| p.currency.clone())),
            s.monthly_price.and(s.included_months).map(|m| int(m as i64)).unwrap_or(crate::db::Value::Null),
            int(now), int(now),
        ],
    )
    .await?;
    Ok(())
}

/// OpenAPI `PlanService` (fields in alphabetical order).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanService {
    pub activated_at: Option<i64>,
    pub command_id: Option<String>,
    pub created_at: i64,
    pub ends_at: Option<i64>,
    pub feature: String,
    pub id: String,
    pub kind: String,
    pub option_code: String,
    pub state: String,
}

/// The customer's services of a vehicle, oldest first.
pub async fn services_of(db: &Db, vin: &str, customer_id: &str) -> Result<Vec<PlanService>, DbError> {
    let rows = db
        .query(
            "SELECT id, option_code, feature, kind, state, command_id, created_at, activated_at, ends_at
             FROM services WHERE vin = ? AND customer_id = ? ORDER BY created_at, option_code",
            vec![text(vin), text(customer_id)],
        )
        .await?;
    Ok(rows.iter().map(plan_service_of_row).collect())
}

/// The link of an order's vehicle, if its app is linked.
pub async fn link_of_order(db: &Db, order_id: &str) -> Result<Option<Link>, DbError> {
    Ok(db.query_one("SELECT * FROM vehicle_links WHERE order_id = ?", vec![text(order_id)]).await?.as_ref().map(link_of_row))
}

/// The services of an order, oldest first.
pub async fn services_of_order(db: &Db, order_id: &str) -> Result<Vec<PlanService>, DbError> {
    let rows = db
        .query(
            "SELECT id, option_code, feature, kind, state, command_id, created_at, activated_at, ends_at
             FROM services WHERE order_id = ? ORDER BY created_at, option_code",
            vec![text(order_id)],
        )
        .await?;
    Ok(rows.iter().map(plan_service_of_row).collect())
}

fn plan_service_of_row(s: &crate::db::Row) -> PlanService {
    PlanService {
        activated_at: s.opt_i64("activated_at"),
        command_id: s.opt_str("command_id"),
        created_at: s.i64("created_at"),
        ends_at: s.opt_i64("ends_at"),
        feature: s.str("feature"),
        id: s.str("id"),
        kind: s.str("kind"),
        option_code: s.str("option_code"),
        state: s.str("state"),
    }
}

/// (option code, state) of every service of a vehicle whose state the domain knows.
pub async fn service_states(db: &Db, vin: &str) -> Result<Vec<(String, caas_domain::services::lifecycle::ServiceState)>, DbError> {
    let rows = db.query("SELECT option_code, state FROM services WHERE vin = ?", vec![text(vin)]).await?;
    Ok(rows.iter().filter_map(|r| Some((r.str("option_code"), caas_domain::services::lifecycle::ServiceState::parse(&r.str("state"))?))).collect())
}
