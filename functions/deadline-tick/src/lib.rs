//! `POST /internal/ticks/deadlines`: final-payment deadlines.
//!
//! Orders still `vehicle-available` once `final_payment_days` (default 15) have passed since
//! the vehicle became available lose their reservation: order → unassigned ("sin asignar"),
//! vehicle → dealership stock, customer notified. Batch, idempotent (compare-and-set per
//! order), safe to fire twice or late. A final payment started before the deadline and still
//! pending at the gateway gets `journey::PENDING_FINAL_PAYMENT_GRACE_MS` more.
use caas_domain::Problem;
use caas_domain::journey;
use caas_domain::order::OrderStatus;
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::journey as j;
use caas_platform::{Resp, auth, clock, req, resp};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: i64 = 100;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    if req::path(&req) != "/internal/ticks/deadlines" {
        return Err(Problem::not_found("no such tick"));
    }
    if req.method().as_str() != "POST" {
        return Err(caas_platform::resp::method_not_allowed(req.method().as_str(), &req::path(&req), &["POST"]));
    }
    auth::require_tick(&req).await?;
    tick().await
}

async fn tick() -> Result<Resp, Problem> {
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let due = db
        .query(
            "SELECT id FROM orders WHERE status = ? AND final_payment_due_at IS NOT NULL AND final_payment_due_at <= ?
             ORDER BY final_payment_due_at, id LIMIT ?",
            vec![text(OrderStatus::VehicleAvailable.as_str()), int(now), int(BATCH)],
        )
        .await?;
    let mut unassigned = Vec::new();
    for row in &due {
        let id = row.str("id");
        let moved = db
            .transaction(async |tx: &Db| -> Result<bool, DbError> {
                let Some(order) = j::load_order(tx, &id).await? else { return Ok(false) };
                let pending_since = tx
                    .query_one(
                        "SELECT MIN(created_at) AS t FROM payments WHERE order_id = ? AND kind = 'final' AND status = 'pending'",
                        vec![text(&id)],
                    )
                    .await?
                    .and_then(|r| r.opt_i64("t"));
                if !journey::deadline_passed(order.status, order.final_payment_due_at, now, pending_since) {
                    return Ok(false);
                }
                // A final payment settling after this lands on an unassigned order: the payment
                // webhook records it and escalates it for a manual refund.
                j::unassign(tx, &order, "final payment not received by the deadline", now).await
            })
            .await?;
        if moved {
            unassigned.push(id);
        }
    }
    Ok(resp::json(200, &json!({"processed": due.len(), "unassigned": unassigned.len(), "orders": unassigned})))
}
