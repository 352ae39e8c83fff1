//! Orders store: the order row (`Order`, status as `OrderStatus`), its timeline (`order_events`),
//! plan options, delivery row and the staff lists over orders. Owns every `orders` SQL of the
//! sale, delivery, factory and admin paths.
use crate::db::{Db, DbError, Row, Value, int, opt_text, text};
use crate::paging::{self, Page};
use caas_domain::delivery::DeliveryState;
use caas_domain::expediente::PageRequest;
use caas_domain::order::{OrderStatus, can_transition};
use serde::Serialize;
use serde_json::Value as Json;

/// An order row with the journey fields.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: String,
    pub customer_id: String,
    pub employee_id: Option<String>,
    pub status: OrderStatus,
    pub model: String,
    pub country: String,
    pub currency: String,
    pub vehicle_price_minor: i64,
    pub deposit_minor: i64,
    pub list_price_minor: Option<i64>,
    pub discount_minor: Option<i64>,
    pub discount_reason: Option<String>,
    pub discount_by: Option<String>,
    pub factory_order_id: Option<String>,
    pub estimated_date: Option<String>,
    pub vin: Option<String>,
    pub from_stock: bool,
    pub available_at: Option<i64>,
    pub final_payment_due_at: Option<i64>,
    pub plate: Option<String>,
    pub registration_id: Option<String>,
    /// Financing terms agreed at the sale (migration 25), if any.
    pub financing: Option<OrderFinancing>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// OpenAPI `Financing`: the part of the price a lender finances (fields in alphabetical order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderFinancing {
    pub financed_amount_minor: i64,
    pub lender_reference: String,
    pub monthly_amount_minor: i64,
    pub term_months: i64,
}

impl OrderFinancing {
    fn from_row(r: &Row) -> Option<OrderFinancing> {
        Some(OrderFinancing {
            financed_amount_minor: r.opt_i64("financed_minor")?,
            lender_reference: r.opt_str("financing_lender_reference").unwrap_or_default(),
            monthly_amount_minor: r.opt_i64("financing_monthly_minor").unwrap_or(0),
            term_months: r.opt_i64("financing_term_months").unwrap_or(0),
        })
    }
}

impl Order {
    /// The financed part of the price (0 without financing).
    pub fn financed_minor(&self) -> i64 {
        self.financing.as_ref().map_or(0, |f| f.financed_amount_minor)
    }

    /// What the customer pays at the end: price − deposit − financed.
    pub fn final_payment_minor(&self) -> i64 {
        self.vehicle_price_minor - self.deposit_minor - self.financed_minor()
    }

    fn from_row(r: &Row) -> Option<Order> {
        Some(Order {
            id: r.str("id"),
            customer_id: r.str("customer_id"),
            employee_id: r.opt_str("employee_id"),
            status: OrderStatus::parse(&r.str("status"))?,
            model: r.str("model"),
            country: r.str("country"),
            currency: r.str("currency"),
            vehicle_price_minor: r.i64("vehicle_price_minor"),
            deposit_minor: r.i64("deposit_minor"),
            list_price_minor: r.opt_i64("list_price_minor"),
            discount_minor: r.opt_i64("discount_minor"),
            discount_reason: r.opt_str("discount_reason"),
            discount_by: r.opt_str("discount_by"),
            factory_order_id: r.opt_str("factory_order_id"),
            estimated_date: r.opt_str("estimated_date"),
            vin: r.opt_str("vin"),
            from_stock: r.bool("from_stock"),
            available_at: r.opt_i64("available_at"),
            final_payment_due_at: r.opt_i64("final_payment_due_at"),
            plate: r.opt_str("plate"),
            registration_id: r.opt_str("registration_id"),
            financing: OrderFinancing::from_row(r),
            created_at: r.i64("created_at"),
            updated_at: r.i64("updated_at"),
        })
    }

    /// Public view (customer API, OpenAPI `Order`).
    pub fn view(&self) -> OrderView {
        OrderView {
            available_at: self.available_at,
            country: self.country.clone(),
            created_at: self.created_at,
            estimated_date: self.estimated_date.clone(),
            factory_order_id: self.factory_order_id.clone(),
            final_payment_due_at: self.final_payment_due_at,
            financing: self.financing.clone(),
            from_stock: self.from_stock,
            model: self.model.clone(),
            order_id: self.id.clone(),
            plate: self.plate.clone(),
            prices: OrderPrices {
                currency: self.currency.clone(),
                deposit_minor: self.deposit_minor,
                final_payment_minor: self.final_payment_minor(),
                vehicle_price_minor: self.vehicle_price_minor,
            },
            status: self.status,
            updated_at: self.updated_at,
            vin: self.vin.clone(),
        }
    }

    /// Public JSON view (customer API).
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self.view()).unwrap_or(Json::Null)
    }
}

/// OpenAPI `Order` (fields in alphabetical order: the bytes match a `json!` map).
#[derive(Debug, Clone, Serialize)]
pub struct OrderView {
    pub available_at: Option<i64>,
    pub country: String,
    pub created_at: i64,
    pub estimated_date: Option<String>,
    pub factory_order_id: Option<String>,
    pub final_payment_due_at: Option<i64>,
    /// Only for a financed sale (absent otherwise: the bytes of other orders are unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub financing: Option<OrderFinancing>,
    pub from_stock: bool,
    pub model: String,
    pub order_id: String,
    pub plate: Option<String>,
    pub prices: OrderPrices,
    pub status: OrderStatus,
    pub updated_at: i64,
    pub vin: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderPrices {
    pub currency: String,
    pub deposit_minor: i64,
    pub final_payment_minor: i64,
    pub vehicle_price_minor: i64,
}

pub async fn load_order(db: &Db, order_id: &str) -> Result<Option<Order>, DbError> {
    Ok(db.query_one("SELECT * FROM orders WHERE id = ?", vec![text(order_id)]).await?.as_ref().and_then(Order::from_row))
}

/// The order the factory knows by `factory_order_id`.
pub async fn load_by_factory_order(db: &Db, factory_order_id: &str) -> Result<Option<Order>, DbError> {
    Ok(db.query_one("SELECT * FROM orders WHERE factory_order_id = ?", vec![text(factory_order_id)]).await?.as_ref().and_then(Order::from_row))
}

/// Append to the order timeline.
pub async fn event(tx: &Db, order_id: &str, now: i64, kind: &str, detail: impl Into<String>) -> Result<(), DbError> {
    let detail: String = detail.into().chars().take(2000).collect();
    tx.exec(
        "INSERT INTO order_events(order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
        vec![text(order_id), int(now), text(kind), text(detail)],
    )
    .await?;
    Ok(())
}

/// Compare-and-set of the status alone (no machine check, no timeline row): whether it moved.
pub async fn swap_status(tx: &Db, order_id: &str, from: OrderStatus, to: OrderStatus, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
            vec![text(to.as_str()), int(now), text(order_id), text(from.as_str())],
        )
        .await?;
    Ok(changed == 1)
}

/// The timeline row of a status change: `status:<to>`, "`from -> to[: detail]`".
pub async fn status_event(tx: &Db, order_id: &str, from: OrderStatus, to: OrderStatus, now: i64, detail: &str) -> Result<(), DbError> {
    let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
    event(tx, order_id, now, &format!("status:{}", to.as_str()), format!("{from} -> {to}{detail}")).await
}

/// Move `order_id` from `from` to `to` if the machine allows it and the row is still at `from`
/// (compare-and-set). Records a `status:<to>` timeline event. Returns whether it moved.
pub async fn set_status(tx: &Db, order_id: &str, from: OrderStatus, to: OrderStatus, now: i64, detail: &str) -> Result<bool, DbError> {
    if !can_transition(from, to) {
        return Ok(false);
    }
    let moved = swap_status(tx, order_id, from, to, now).await?;
    if moved {
        status_event(tx, order_id, from, to, now, detail).await?;
    }
    Ok(moved)
}

// ------------------------------------------------------------------------------------ sale

/// A new order as a sale registers it (status `OrderStatus::INITIAL`), with its price audit.
#[derive(Debug, Clone)]
pub struct NewOrder<'a> {
    pub id: &'a str,
    pub customer_id: &'a str,
    pub employee_id: &'a str,
    pub model: &'a str,
    pub country: &'a str,
    pub currency: &'a str,
    pub vehicle_price_minor: i64,
    pub deposit_minor: i64,
    pub list_price_minor: i64,
    pub discount_minor: i64,
    pub discount_reason: Option<String>,
    pub discount_by: Option<String>,
}

pub async fn insert(tx: &Db, o: &NewOrder<'_>, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO orders(id, customer_id, employee_id, status, model, country, currency, vehicle_price_minor,
           deposit_minor, list_price_minor, discount_minor, discount_reason, discount_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            text(o.id), text(o.customer_id), text(o.employee_id), text(OrderStatus::INITIAL.as_str()), text(o.model),
            text(o.country), text(o.currency), int(o.vehicle_price_minor), int(o.deposit_minor), int(o.list_price_minor),
            int(o.discount_minor), opt_text(o.discount_reason.clone()), opt_text(o.discount_by.clone()), int(now), int(now),
        ],
    )
    .await?;
    Ok(())
}

/// Record the sale's financing terms on the order (in the sale's transaction).
pub async fn set_financing(tx: &Db, order_id: &str, f: &caas_domain::sale::Financing) -> Result<(), DbError> {
    tx.exec(
        "UPDATE orders SET financed_minor = ?, financing_term_months = ?, financing_monthly_minor = ?, financing_lender_reference = ? WHERE id = ?",
        vec![int(f.financed_amount_minor), int(f.term_months), int(f.monthly_amount_minor), text(&f.lender_reference), text(order_id)],
    )
    .await?;
    Ok(())
}

/// The order is sold with a dealership stock vehicle.
pub async fn set_stock_vin(tx: &Db, order_id: &str, vin: &str) -> Result<(), DbError> {
    tx.exec("UPDATE orders SET vin = ?, from_stock = 1 WHERE id = ?", vec![text(vin), text(order_id)]).await?;
    Ok(())
}

pub async fn add_plan_options(tx: &Db, order_id: &str, options: &[String]) -> Result<(), DbError> {
    for opt in options {
        tx.exec("INSERT INTO plan_options(order_id, option_code) VALUES (?, ?)", vec![text(order_id), text(opt)]).await?;
    }
    Ok(())
}

pub async fn plan_options(db: &Db, order_id: &str) -> Result<Vec<String>, DbError> {
    let rows = db.query("SELECT option_code FROM plan_options WHERE order_id = ? ORDER BY option_code", vec![text(order_id)]).await?;
    Ok(rows.iter().map(|r| r.str("option_code")).collect())
}

/// OpenAPI `TimelineEvent`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineEvent {
    pub at: i64,
    pub detail: String,
    pub kind: String,
}

/// The whole timeline, oldest first (staff view: `staff:` events included).
pub async fn timeline(db: &Db, order_id: &str) -> Result<Vec<TimelineEvent>, DbError> {
    let rows = db.query("SELECT at, kind, detail FROM order_events WHERE order_id = ? ORDER BY at, id", vec![text(order_id)]).await?;
    Ok(rows.iter().map(|r| TimelineEvent { at: r.i64("at"), detail: r.str("detail"), kind: r.str("kind") }).collect())
}

/// Timeline rows whose kind starts with `prefix`, in insertion order.
pub async fn events_with_prefix(db: &Db, order_id: &str, prefix: &str) -> Result<Vec<TimelineEvent>, DbError> {
    let rows = db
        .query(
            "SELECT at, kind, detail FROM order_events WHERE order_id = ? AND substr(kind, 1, length(?)) = ? ORDER BY id",
            vec![text(order_id), text(prefix), text(prefix)],
        )
        .await?;
    Ok(rows.iter().map(|r| TimelineEvent { at: r.i64("at"), detail: r.str("detail"), kind: r.str("kind") }).collect())
}

// ------------------------------------------------------------------------------------ factory facts

/// Record the factory's order id (first one wins).
pub async fn set_factory_order_id(tx: &Db, order_id: &str, factory_order_id: &str) -> Result<(), DbError> {
    tx.exec("UPDATE orders SET factory_order_id = COALESCE(factory_order_id, ?) WHERE id = ?", vec![text(factory_order_id), text(order_id)]).await?;
    Ok(())
}

/// Record the VIN if the order has none yet.
pub async fn set_vin_once(tx: &Db, order_id: &str, vin: &str) -> Result<(), DbError> {
    tx.exec("UPDATE orders SET vin = ? WHERE id = ? AND vin IS NULL", vec![text(vin), text(order_id)]).await?;
    Ok(())
}

/// A delay: the new estimated date (if given) and the order touched.
pub async fn record_delay(tx: &Db, order_id: &str, date: Option<&str>, now: i64) -> Result<(), DbError> {
    tx.exec(
        "UPDATE orders SET estimated_date = COALESCE(?, estimated_date), updated_at = ? WHERE id = ?",
        vec![opt_text(date), int(now), text(order_id)],
    )
    .await?;
    Ok(())
}

pub async fn set_estimated_date(tx: &Db, order_id: &str, date: &str) -> Result<(), DbError> {
    tx.exec("UPDATE orders SET estimated_date = ? WHERE id = ?", vec![text(date), text(order_id)]).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ delivery

/// The `deliveries` row of an order.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub state: Option<DeliveryState>,
    pub planned_at: Option<i64>,
    pub address: String,
    pub attempts: i64,
    pub updated_by: String,
    pub updated_at: i64,
}

pub async fn delivery(db: &Db, order_id: &str) -> Result<Option<Delivery>, DbError> {
    let row = db
        .query_one("SELECT state, planned_at, address, attempts, updated_by, updated_at FROM deliveries WHERE order_id = ?", vec![text(order_id)])
        .await?;
    Ok(row.map(|r| Delivery {
        state: DeliveryState::parse(&r.str("state")),
        planned_at: r.opt_i64("planned_at"),
        address: r.str("address"),
        attempts: r.i64("attempts"),
        updated_by: r.str("updated_by"),
        updated_at: r.i64("updated_at"),
    }))
}

fn opt_int(v: Option<i64>) -> Value {
    v.map(int).unwrap_or(Value::Null)
}

/// The first delivery event of an order (one attempt).
pub async fn insert_delivery(tx: &Db, order_id: &str, state: DeliveryState, planned_at: Option<i64>, address: &str, by: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "INSERT INTO deliveries(order_id, state, planned_at, address, attempts, updated_by, created_at, updated_at)
         VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
        vec![text(order_id), text(state.as_str()), opt_int(planned_at), text(address), text(by), int(now), int(now)],
    )
    .await?;
    Ok(())
}

/// A later delivery event; `new_attempt` counts one more attempt.
pub async fn update_delivery(tx: &Db, order_id: &str, state: DeliveryState, planned_at: Option<i64>, new_attempt: bool, by: &str, now: i64) -> Result<(), DbError> {
    tx.exec(
        "UPDATE deliveries SET state = ?, planned_at = ?, attempts = attempts + ?, updated_by = ?, updated_at = ? WHERE order_id = ?",
        vec![text(state.as_str()), opt_int(planned_at), int(new_attempt as i64), text(by), int(now), text(order_id)],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ staff lists

/// OpenAPI `AdminOrder` (fields in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct AdminOrder {
    pub country: String,
    pub created_at: i64,
    pub customer_email: String,
    pub customer_id: String,
    pub model: String,
    pub order_id: String,
    pub plate: Option<String>,
    pub status: String,
    pub updated_at: i64,
    pub vin: Option<String>,
}

/// Every order (optionally of one status), oldest first.
pub async fn admin_page(db: &Db, status: Option<OrderStatus>, page: PageRequest) -> Result<Page<AdminOrder>, DbError> {
    let status = status.map(|s| text(s.as_str())).unwrap_or(Value::Null);
    paging::keyset(
        db,
        "SELECT o.rowid AS k, o.id, o.customer_id, c.email, o.status, o.model, o.country, o.vin, o.plate, o.created_at, o.updated_at
         FROM orders o JOIN customers c ON c.id = o.customer_id
         WHERE (? IS NULL OR o.status = ?) AND o.rowid > ? ORDER BY o.rowid LIMIT ?",
        vec![status.clone(), status],
        page,
        |r| AdminOrder {
            country: r.str("country"),
            created_at: r.i64("created_at"),
            customer_email: r.str("email"),
            customer_id: r.str("customer_id"),
            model: r.str("model"),
            order_id: r.str("id"),
            plate: r.opt_str("plate"),
            status: r.str("status"),
            updated_at: r.i64("updated_at"),
            vin: r.opt_str("vin"),
        },
    )
    .await
}

/// One order of the delivery worklist.
#[derive(Debug, Clone)]
pub struct WorklistRow {
    pub order_id: String,
    pub status: String,
    pub model: String,
    pub vin: Option<String>,
    pub plate: Option<String>,
    pub full_name: String,
    pub phone: String,
    pub delivery: Option<Delivery>,
}

/// Orders waiting for transport or hand-over (`OrderStatus::awaiting_delivery`), oldest first.
pub async fn delivery_worklist(db: &Db, statuses: &[OrderStatus], page: PageRequest) -> Result<Page<WorklistRow>, DbError> {
    let marks = vec!["?"; statuses.len()].join(", ");
    paging::keyset(
        db,
        &format!(
            "SELECT o.rowid AS k, o.id, o.status, o.model, o.vin, o.plate, c.full_name, c.phone,
                d.state, d.planned_at, d.address, d.attempts
         FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN deliveries d ON d.order_id = o.id
         WHERE o.status IN ({marks}) AND o.rowid > ?
         ORDER BY o.rowid LIMIT ?"
        ),
        statuses.iter().map(|s| text(s.as_str())).collect(),
        page,
        |r| WorklistRow {
            order_id: r.str("id"),
            status: r.str("status"),
            model: r.str("model"),
            vin: r.opt_str("vin"),
            plate: r.opt_str("plate"),
            full_name: r.str("full_name"),
            phone: r.str("phone"),
            delivery: r.opt_str("state").map(|st| Delivery {
                state: DeliveryState::parse(&st),
                planned_at: r.opt_i64("planned_at"),
                address: r.str("address"),
                attempts: r.i64("attempts"),
                updated_by: String::new(),
                updated_at: 0,
            }),
        },
    )
    .await
}

// ------------------------------------------------------------------------------------ customer's orders

/// The customer's most recent order for a VIN (a resold car has several).
pub async fn latest_for_vin(db: &Db, vin: &str, customer_id: &str) -> Result<Option<Order>, DbError> {
    let row = db
        .query_one(
            "SELECT * FROM orders WHERE vin = ? AND customer_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            vec![text(vin), text(customer_id)],
        )
        .await?;
    Ok(row.as_ref().and_then(Order::from_row))
}

/// The order if it is the customer's.
pub async fn load_customers_order(db: &Db, order_id: &str, customer_id: &str) -> Result<Option<Order>, DbError> {
    Ok(load_order(db, order_id).await?.filter(|o| o.customer_id == customer_id))
}

/// The customer's orders, oldest first.
pub async fn of_customer(db: &Db, customer_id: &str) -> Result<Vec<Order>, DbError> {
    let rows = db.query("SELECT * FROM orders WHERE customer_id = ? ORDER BY created_at, rowid", vec![text(customer_id)]).await?;
    Ok(rows.iter().filter_map(Order::from_row).collect())
}

/// The order's timeline in insertion order (at most 1000 rows).
pub async fn events(db: &Db, order_id: &str) -> Result<Vec<TimelineEvent>, DbError> {
    let rows = db.query("SELECT at, kind, detail FROM order_events WHERE order_id = ? ORDER BY id LIMIT 1000", vec![text(order_id)]).await?;
    Ok(rows.iter().map(|r| TimelineEvent { at: r.i64("at"), detail: r.str("detail"), kind: r.str("kind") }).collect())
}

/// One event of a customer's timeline (fields in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct CustomerEvent {
    pub at: i64,
    pub detail: String,
    pub kind: String,
    pub order_id: String,
}

/// Every order's timeline of a customer without the `staff:` events, oldest first.
pub async fn customer_timeline(db: &Db, customer_id: &str, page: PageRequest) -> Result<Page<CustomerEvent>, DbError> {
    paging::keyset(
        db,
        "SELECT e.id AS k, e.order_id, e.at, e.kind, e.detail FROM order_events e JOIN orders o ON o.id = e.order_id
         WHERE o.customer_id = ? AND e.kind NOT LIKE 'staff:%' AND e.id > ? ORDER BY e.id LIMIT ?",
        vec![text(customer_id)],
        page,
        |e| CustomerEvent { at: e.i64("at"), detail: e.str("detail"), kind: e.str("kind"), order_id: e.str("order_id") },
    )
    .await
}

// ------------------------------------------------------------------------------------ staff search (issue 8)

/// Filters of the staff order search (`GET /api/staff/orders`). `q` is already lowercased and
/// bounded by the caller; `from`/`to` bound `created_at` (`to` exclusive).
#[derive(Debug, Clone, Default)]
pub struct StaffFilter {
    pub q: Option<String>,
    pub status: Option<OrderStatus>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// OpenAPI `StaffOrderRow` (fields in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct StaffOrderRow {
    pub country: String,
    pub created_at: i64,
    pub currency: String,
    pub customer_email: String,
    pub customer_id: String,
    pub customer_name: String,
    pub model: String,
    pub order_id: String,
    pub plate: Option<String>,
    pub status: String,
    pub updated_at: i64,
    pub vehicle_price_minor: i64,
    pub vin: Option<String>,
}

/// `%…%` LIKE pattern for `q` with `\`, `%`, `_` escaped (`ESCAPE '\'`).
fn contains_pattern(q: &str) -> String {
    let mut p = String::from("%");
    for ch in q.chars() {
        if matches!(ch, '\\' | '%' | '_') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Orders matching `f`, newest first (keyset on the row id, descending: the cursor is the last
/// row id of the previous page and later pages hold only older rows, so new sales never shift
/// a page). Matches customer name, e-mail, VIN, plate (spaces and dashes ignored) or order id,
/// case-insensitively.
pub async fn staff_search(db: &Db, f: &StaffFilter, page: PageRequest) -> Result<Page<StaffOrderRow>, DbError> {
    let opt_int = |v: Option<i64>| v.map(int).unwrap_or(Value::Null);
    let status = f.status.map(|s| text(s.as_str())).unwrap_or(Value::Null);
    let (q, compact) = match &f.q {
        Some(q) => (text(contains_pattern(q)), text(contains_pattern(&q.replace([' ', '-'], "")))),
        None => (Value::Null, Value::Null),
    };
    paging::keyset(
        db,
        "SELECT o.rowid AS k, o.id, o.customer_id, c.email, c.full_name, o.status, o.model, o.country, o.vin, o.plate,
                o.currency, o.vehicle_price_minor, o.created_at, o.updated_at
         FROM orders o JOIN customers c ON c.id = o.customer_id
         WHERE (? IS NULL OR o.status = ?)
           AND (? IS NULL OR o.created_at >= ?)
           AND (? IS NULL OR o.created_at < ?)
           AND (? IS NULL OR lower(c.full_name) LIKE ? ESCAPE '\\' OR lower(c.email) LIKE ? ESCAPE '\\'
                OR lower(COALESCE(o.vin, '')) LIKE ? ESCAPE '\\' OR lower(o.id) LIKE ? ESCAPE '\\'
                OR replace(replace(lower(COALESCE(o.plate, '')), ' ', ''), '-', '') LIKE ? ESCAPE '\\')
           AND o.rowid < COALESCE(NULLIF(?, 0), 9223372036854775807)
         ORDER BY o.rowid DESC LIMIT ?",
        vec![
            status.clone(), status,
            opt_int(f.from), opt_int(f.from),
            opt_int(f.to), opt_int(f.to),
            q.clone(), q.clone(), q.clone(), q.clone(), q, compact,
        ],
        page,
        |r| StaffOrderRow {
            country: r.str("country"),
            created_at: r.i64("created_at"),
            currency: r.str("currency"),
            customer_email: r.str("email"),
            customer_id: r.str("customer_id"),
            customer_name: r.str("full_name"),
            model: r.str("model"),
            order_id: r.str("id"),
            plate: r.opt_str("plate"),
            status: r.str("status"),
            updated_at: r.i64("updated_at"),
            vehicle_price_minor: r.i64("vehicle_price_minor"),
            vin: r.opt_str("vin"),
        },
    )
    .await
}

/// One message the outbox holds for the customer about an order (staff view).
#[derive(Debug, Clone, Serialize)]
pub struct OrderMessage {
    pub attempts: i64,
    pub body: String,
    pub channel: String,
    pub created_at: i64,
    pub message_id: String,
    pub recipient: String,
    /// `pending` (not yet delivered), `done` (delivered), `escalated` (gave up).
    pub status: String,
    pub subject: String,
    pub template: String,
    pub updated_at: i64,
}

/// The customer messages about the order in the outbox, oldest first (at most 200): those whose
/// message id or text names the order, and the credentials e-mail its sale queued. Staff
/// e-mails are left out.
pub async fn messages(db: &Db, order_id: &str, customer_id: &str, with_credentials: bool) -> Result<Vec<OrderMessage>, DbError> {
    let pattern = contains_pattern(order_id);
    let credentials_key = if with_credentials { text(format!("credentials:{customer_id}")) } else { Value::Null };
    let rows = db
        .query(
            "SELECT payload, status, attempts, created_at, updated_at FROM jobs
             WHERE kind = 'notify' AND (payload LIKE ? ESCAPE '\\' OR dedupe_key = ?)
             ORDER BY created_at, rowid LIMIT 200",
            vec![text(pattern), credentials_key],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| match caas_domain::wit::Job::from_payload(&r.str("payload")) {
            Ok(caas_domain::wit::Job::Notify(n)) if n.customer_id.as_deref() == Some(customer_id) => Some(OrderMessage {
                attempts: r.i64("attempts"),
                body: n.body,
                channel: serde_json::to_value(n.channel).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
                created_at: r.i64("created_at"),
                message_id: n.message_id,
                recipient: n.recipient,
                status: r.str("status"),
                subject: n.subject,
                template: n.template,
                updated_at: r.i64("updated_at"),
            }),
            _ => None,
        })
        .collect())
}
