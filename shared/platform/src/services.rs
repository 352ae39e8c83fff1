//! Service lifecycle storage (issue 4): the catalog table (seeded from
//! `caas_domain::services::catalog::seed_catalog` on first use), service instance rows, and the
//! customer notifications / timeline of service events. Rules live in `caas_domain::services`.
use crate::db::{Db, DbError, Row, int, text};
use caas_domain::breaker::Dependency;
use caas_domain::notify::Message;
use caas_domain::routing::NotificationKind;
use caas_domain::services::catalog::{self, Catalog, OptionKind, OptionStatus, ServiceOption};
use caas_domain::services::lifecycle::ServiceState;
use caas_domain::wit::Money;
use serde_json::{Value, json};

// ------------------------------------------------------------------------------------ catalog

fn option_from_row(r: &Row) -> Option<ServiceOption> {
    Some(ServiceOption {
        code: r.str("code"),
        feature: r.str("feature"),
        name: r.str("name"),
        description: r.str("description"),
        price: Money { amount_minor: r.i64("price_minor"), currency: r.str("currency") },
        kind: serde_json::from_str(&r.str("kind")).ok()?,
        requires_maintenance: r.bool("requires_maintenance"),
        status: if r.str("status") == "retired" { OptionStatus::Retired } else { OptionStatus::Active },
        billed_by: r.opt_str("billed_by").as_deref().and_then(catalog::Metering::parse),
    })
}

async fn read_catalog(db: &Db) -> Result<Vec<Row>, DbError> {
    db.query("SELECT * FROM catalog_options ORDER BY position, code", vec![]).await
}

/// The catalog; seeds the table from the shipped seed data when it is empty (idempotent:
/// concurrent first users insert with ON CONFLICT DO NOTHING).
pub async fn load_catalog(db: &Db) -> Result<Catalog, DbError> {
    let mut rows = read_catalog(db).await?;
    if rows.is_empty() {
        let now = crate::clock::now_ms();
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            let n = tx.query_one("SELECT COUNT(*) AS n FROM catalog_options", vec![]).await?.map(|r| r.i64("n")).unwrap_or(0);
            if n == 0 {
                for (i, o) in catalog::seed_catalog().options.iter().enumerate() {
                    insert_option(tx, o, i as i64, now).await?;
                }
            }
            Ok(())
        })
        .await?;
        rows = read_catalog(db).await?;
    }
    Ok(Catalog { options: rows.iter().filter_map(option_from_row).collect() })
}

/// Insert one option (no-op if the code exists).
pub async fn insert_option(tx: &Db, o: &ServiceOption, position: i64, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO catalog_options(code, position, feature, name, description, price_minor, currency, kind,
           requires_maintenance, status, created_at, updated_at, billed_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(code) DO NOTHING",
        vec![
            text(&o.code),
            int(position),
            text(&o.feature),
            text(&o.name),
            text(&o.description),
            int(o.price.amount_minor),
            text(&o.price.currency),
            text(serde_json::to_string(&o.kind).unwrap_or_default()),
            int(o.requires_maintenance as i64),
            text(if o.status == OptionStatus::Retired { "retired" } else { "active" }),
            int(now),
            int(now),
            crate::db::opt_text(o.billed_by.map(|m| m.as_str().to_string())),
        ],
    )
    .await?;
    Ok(())
}

/// Persist the price and status of an existing option (admin reprice/retire).
pub async fn update_option(tx: &Db, o: &ServiceOption, now: i64) -> Result<(), DbError> {
    tx.exec(
        "UPDATE catalog_options SET price_minor = ?, currency = ?, status = ?, updated_at = ? WHERE code = ?",
        vec![
            int(o.price.amount_minor),
            text(&o.price.currency),
            text(if o.status == OptionStatus::Retired { "retired" } else { "active" }),
            int(now),
            text(&o.code),
        ],
    )
    .await?;
    Ok(())
}

/// Catalog option as API JSON (snake_case fields like the rest of the API).
pub fn option_json(o: &ServiceOption) -> Value {
    let (duration_days, duration_months) = match o.kind {
        OptionKind::Temporary { duration: catalog::Duration::Days(d) } => (Some(d), None),
        OptionKind::Temporary { duration: catalog::Duration::Months(m) } => (None, Some(m)),
        _ => (None, None),
    };
    json!({
        "code": o.code,
        "feature": o.feature,
        "name": o.name,
        "description": o.description,
        "price": {"amount_minor": o.price.amount_minor, "currency": o.price.currency},
        "kind": o.kind.as_str(),
        "duration_days": duration_days,
        "duration_months": duration_months,
        "billing": if o.kind.is_one_time() { "one-time" } else if o.billed_by.is_some() { "per-day-used-in-arrears" } else { "monthly-in-arrears" },
        "billed_by": o.billed_by.map(|m| m.as_str()),
        "requires_maintenance": o.requires_maintenance,
        "status": if o.status == OptionStatus::Retired { "retired" } else { "active" },
    })
}

// ------------------------------------------------------------------------------------ vehicles

/// The customer's vehicle as seen by the service components.
#[derive(Debug, Clone)]
pub struct OwnedVehicle {
    pub vin: String,
    pub order_id: String,
    pub customer_id: String,
    pub operational: bool,
}

/// The vehicle `vin` if it is linked to `customer_id` (else None: callers answer 404 without
/// revealing whether the vehicle exists).
pub async fn owned_vehicle(db: &Db, customer_id: &str, vin: &str) -> Result<Option<OwnedVehicle>, DbError> {
    let row = db
        .query_one(
            "SELECT l.vin, l.order_id, l.customer_id, o.status AS order_status
             FROM vehicle_links l LEFT JOIN orders o ON o.id = l.order_id
             WHERE l.vin = ? AND l.customer_id = ?",
            vec![text(vin), text(customer_id)],
        )
        .await?;
    Ok(row.map(|r| OwnedVehicle {
        vin: r.str("vin"),
        order_id: r.str("order_id"),
        customer_id: r.str("customer_id"),
        // Linking the app makes the order operational (vehicle-purchase.md); a link row without
        // an order status (legacy) counts as operational.
        operational: matches!(r.opt_str("order_status").as_deref(), None | Some("operational")),
    }))
}

/// States of every instance of `option_code` on `vin` (any age). Codes compare ignoring case:
/// plan-comercial services keep the code as sold (e.g. `HEATED-SEATS`).
pub async fn existing_states(db: &Db, vin: &str, option_code: &str) -> Result<Vec<ServiceState>, DbError> {
    Ok(db
        .query("SELECT state FROM services WHERE vin = ? AND lower(option_code) = lower(?)", vec![text(vin), text(option_code)])
        .await?
        .iter()
        .filter_map(|r| ServiceState::parse(&r.str("state")))
        .collect())
}

// ------------------------------------------------------------------------------------ services

pub use crate::store::services::{ServiceRow, load_service, set_state};

/// Append to the order timeline (the expediente shows it), when the service belongs to an order.
pub async fn timeline(tx: &Db, order_id: Option<&str>, now: i64, kind: &str, detail: impl Into<String>) -> Result<(), DbError> {
    match order_id.filter(|o| !o.is_empty()) {
        Some(order_id) => crate::store::orders::event(tx, order_id, now, kind, detail).await,
        None => Ok(()),
    }
}

/// Append a ledger row (idempotent by `key`): returns whether it was new.
/// Kept for callers not yet moved: [`crate::store::ledger::append`] / [`crate::money`].
#[allow(clippy::too_many_arguments)]
pub async fn ledger(tx: &Db, key: &str, kind: &str, amount: &Money, order_id: Option<&str>, reference: &str, now: i64) -> Result<bool, DbError> {
    let kind = caas_domain::services::ledger::EntryKind::parse(kind).ok_or_else(|| DbError::Constraint(format!("CHECK: ledger kind {kind:?}")))?;
    crate::store::ledger::append(tx, &crate::store::ledger::Movement { key, kind, amount, order_id, reference }, now).await
}

/// Queue the customer's notifications of a service event (`crate::notify`): one job per channel
/// of the routing table, message ids `<key>:<channel>`, the car's display addressed by `vin`.
#[allow(clippy::too_many_arguments)]
pub async fn notify(
    tx: &Db,
    customer_id: &str,
    vin: &str,
    key: &str,
    kind: NotificationKind,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<(), DbError> {
    crate::notify::send_to_customer(tx, customer_id, Some(vin), key, &Message::new(kind, subject, body), now).await?;
    Ok(())
}

/// Queue a customer message (`caas_domain::messages`, rendered in the customer's language) on
/// every channel the routing table and their preferences give, with the vehicle's display by `vin`.
pub async fn send(tx: &Db, customer_id: &str, vin: &str, key: &str, m: &Message, now: i64) -> Result<(), DbError> {
    crate::notify::send_to_customer(tx, customer_id, Some(vin), key, m, now).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ VSS

/// How long the VSS may take before the answer counts as "unreachable".
pub const VSS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Official maintenance status from VSS `GET {vss_url}/vehicles/{vin}/maintenance`.
/// Unreachable, timed out, non-2xx or unusable → `Unknown` (callers allow and record it).
/// Returns the status and a short note of what happened (for the records).
pub async fn vss_maintenance(vss_url: &str, vin: &str) -> (catalog::MaintenanceStatus, String) {
    let url = format!("{vss_url}/vehicles/{vin}/maintenance");
    match crate::http_out::get_json_guarded(Dependency::Vss, &url, &[], VSS_TIMEOUT).await {
        Ok(r) if r.is_success() => {
            let status = serde_json::from_str::<Value>(&r.body)
                .ok()
                .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default();
            let m = catalog::MaintenanceStatus::from_vss(&status);
            let note = if m == catalog::MaintenanceStatus::Unknown {
                format!("VSS answered an unusable status {status:?}")
            } else {
                format!("VSS status {status}")
            };
            (m, note)
        }
        Ok(r) => (catalog::MaintenanceStatus::Unknown, format!("VSS answered {}", r.status)),
        Err(e) => (catalog::MaintenanceStatus::Unknown, format!("VSS unreachable: {e}")),
    }
}

/// The whole maintenance record of `vin` from VSS (status, due date, workshop history), or why
/// it could not be had (unreachable, timed out, non-2xx, unreadable). VSS is read-only.
pub async fn vss_record(vss_url: &str, vin: &str) -> Result<caas_domain::maintenance::VssMaintenance, String> {
    let url = format!("{vss_url}/vehicles/{vin}/maintenance");
    match crate::http_out::get_json_guarded(Dependency::Vss, &url, &[], VSS_TIMEOUT).await {
        Ok(r) if r.is_success() => serde_json::from_str::<Value>(&r.body)
            .ok()
            .as_ref()
            .and_then(caas_domain::maintenance::VssMaintenance::from_vss)
            .ok_or_else(|| "VSS answered an unusable maintenance record".to_string()),
        Ok(r) => Err(format!("VSS answered {}", r.status)),
        Err(e) => Err(format!("VSS unreachable: {e}")),
    }
}
