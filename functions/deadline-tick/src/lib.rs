//! `POST /internal/ticks/deadlines`: reservation and final-payment deadlines.
//!
//! Orders still `reservation-pending` once `reservation_days` (default 7) have passed since the
//! sale was registered are abandoned ("sale abandoned"): order → `abandoned`, every pending
//! reservation payment given back at the gateway by a durable `return-payment` job (void, or
//! refund if it settled meanwhile), a stock vehicle taken by the sale back to stock, the
//! customer and staff told.
//!
//! Orders still `vehicle-available` once `final_payment_days` (default 15) have passed since
//! the vehicle became available lose their reservation: order → unassigned ("sin asignar"),
//! vehicle → dealership stock, customer notified. Batch, idempotent (compare-and-set per
//! order), safe to fire twice or late. A final payment started before the deadline and still
//! pending at the gateway gets `journey::PENDING_FINAL_PAYMENT_GRACE_MS` more.
use caas_domain::Problem;
use caas_domain::journey::{self, PaymentKind};
use caas_domain::order::OrderStatus;
use caas_domain::wit::ReturnMode;
use caas_platform::db::{Db, DbError};
use caas_platform::journey as j;
use caas_platform::store::deadlines::{self as store, PendingPayment};
use caas_platform::{Resp, auth, clock, money, resp, vars};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: i64 = 100;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    auth::tick_request(&req, "/internal/ticks/deadlines").await?;
    tick().await
}

async fn tick() -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let days = vars::u64_or("reservation_days", journey::DEFAULT_RESERVATION_DAYS).await;
    let abandoned = abandon_unpaid(&db, now, days).await?;
    let due = store::orders_final_payment_due(&db, OrderStatus::VehicleAvailable, now, BATCH).await?;
    let mut unassigned = Vec::new();
    for id in &due {
        if db.transaction(async |tx: &Db| unassign_late(tx, id, now).await).await? {
            unassigned.push(id.clone());
        }
    }
    Ok(resp::json(
        200,
        &json!({"processed": due.len(), "unassigned": unassigned.len(), "orders": unassigned, "abandoned": abandoned.len(), "abandoned_orders": abandoned}),
    ))
}

/// The order loses its reservation if the final-payment deadline (plus the grace for a final
/// payment still pending at the gateway) has passed.
async fn unassign_late(tx: &Db, id: &str, now: i64) -> Result<bool, DbError> {
    let Some(order) = j::load_order(tx, id).await? else { return Ok(false) };
    let pending_since = store::pending_payment_since(tx, id, PaymentKind::Final).await?;
    if !journey::deadline_passed(order.status, order.final_payment_due_at, now, pending_since) {
        return Ok(false);
    }
    // A final payment settling after this lands on an unassigned order: the payment
    // webhook records it and escalates it for a manual refund.
    j::unassign(tx, &order, "final payment not received by the deadline", now).await
}

/// Abandons the sales whose reservation was not paid in time (one transaction per order).
async fn abandon_unpaid(db: &Db, now: i64, days: u64) -> Result<Vec<String>, DbError> {
    let cutoff = now.saturating_sub((days as i64).saturating_mul(86_400_000));
    let mut out = Vec::new();
    for id in store::orders_created_by(db, OrderStatus::ReservationPending, cutoff, BATCH).await? {
        if db.transaction(async |tx: &Db| abandon(tx, &id, now, days).await).await? {
            out.push(id);
        }
    }
    Ok(out)
}

async fn abandon(tx: &Db, id: &str, now: i64, days: u64) -> Result<bool, DbError> {
    let Some(order) = j::load_order(tx, id).await? else { return Ok(false) };
    if !journey::reservation_expired(order.status, order.created_at, now, days)
        || !j::set_status(tx, id, OrderStatus::ReservationPending, OrderStatus::Abandoned, now, "reservation not paid in time: sale abandoned").await?
    {
        return Ok(false);
    }
    let pending = store::pending_payments(tx, id, PaymentKind::Reservation).await?;
    for p in &pending {
        money::queue_return(tx, &give_back(p, id), now).await?;
    }
    let freed = store::release_vehicles(tx, id, now).await?;
    tell_abandoned(tx, &order.customer_id, id, days, pending.len(), freed, now).await?;
    Ok(true)
}

/// The pending reservation payment given back at the gateway (void, or refund if it settled).
fn give_back(p: &PendingPayment, order_id: &str) -> caas_domain::wit::PaymentReturn {
    money::payment_return(&p.id, &p.amount, &format!("payment:{}", p.id), &p.id, Some(order_id), ReturnMode::VoidOrRefund, "sale-abandoned")
}

/// Timeline, customer and staff told about the abandoned sale.
async fn tell_abandoned(tx: &Db, customer_id: &str, id: &str, days: u64, payments: usize, freed: u64, now: i64) -> Result<(), DbError> {
    j::event(tx, id, now, "sale-abandoned", format!("the reservation was not paid within {days} days; {payments} pending payment(s) cancelled")).await?;
    if freed > 0 {
        j::event(tx, id, now, "staff:vehicle-back-to-stock", format!("{freed} vehicle(s) back to dealership stock")).await?;
    }
    j::notify_customer(tx, id, customer_id, "sale-abandoned", &journey::msg_sale_abandoned(id, days), now).await?;
    let detail = format!("sale {id} abandoned: reservation not paid within {days} days; {payments} pending payment(s) voided");
    j::notify_staff(tx, id, "sale abandoned", id, &detail, now).await
}
