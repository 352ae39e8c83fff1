//! Purchase journey persistence and integrations shared by the order, webhook, tick components:
//! order rows and timeline, state changes guarded by the domain machine, customer/staff
//! notifications through the outbox, "sin asignar", factory placement and vehicle registration.
//!
//! Functions taking `tx` must run inside the caller's transaction; functions taking `db` open
//! their own transactions and never hold one across an outbound call.
use crate::db::{Db, DbError, int, opt_text, text};
use crate::http_out;
use caas_domain::breaker::Dependency;
use caas_domain::ids::IdKind;
use caas_domain::journey::{self, JourneyMessage, Recipient};
use caas_domain::order::OrderStatus;
use caas_domain::registration::{RegistrationRequest, authority_for};
use serde_json::{Value, json};
use std::time::Duration;

/// Timeout of the synchronous factory attempt made right after the reservation settles.
pub const SYNC_FACTORY_TIMEOUT: Duration = Duration::from_secs(3);

/// Dedupe key of an order's factory placement job (one per order).
pub fn factory_job_key(order_id: &str) -> String {
    format!("factory:{order_id}")
}
/// Dedupe key of an order's registration job (one per order).
pub fn registration_job_key(order_id: &str) -> String {
    format!("register:{order_id}")
}

pub use crate::store::orders::{Order, load_order};

pub async fn recipient(db: &Db, customer_id: &str) -> Result<Option<Recipient>, DbError> {
    Ok(crate::notify::contact(db, customer_id)
        .await?
        .map(|c| Recipient { customer_id: c.customer_id.unwrap_or_default(), email: c.email, phone: c.phone }))
}

pub use crate::store::orders::{event, set_status};

/// Queue the customer's notifications of a journey message (`crate::notify`; message ids
/// `<order>:<key>:<channel>`, deduped).
pub async fn notify_customer(tx: &Db, order_id: &str, customer_id: &str, key: &str, m: &JourneyMessage, now: i64) -> Result<(), DbError> {
    crate::notify::send_to_customer(tx, customer_id, None, &format!("{order_id}:{key}"), m, now).await?;
    Ok(())
}

/// E-mail every staff member about an escalated job (`crate::notify`).
pub async fn notify_staff(tx: &Db, job_id: &str, job_kind: &str, subject_id: &str, detail: &str, now: i64) -> Result<(), DbError> {
    crate::notify::send_to_staff(tx, &format!("escalation:{job_id}"), &journey::msg_escalation(job_kind, subject_id, detail), now).await
}

/// Final payment failed or not made in time: order → unassigned ("sin asignar"), its vehicle
/// (if one exists) → dealership stock, the reservation and deposit forfeited (no refund:
/// vehicle-purchase.md "Payment Failure During Final Payment"), customer notified.
/// Returns false (nothing written) if the order is no longer waiting for the final payment.
pub async fn unassign(tx: &Db, order: &Order, reason: &str, now: i64) -> Result<bool, DbError> {
    if !set_status(tx, &order.id, OrderStatus::VehicleAvailable, OrderStatus::Unassigned, now, reason).await? {
        return Ok(false);
    }
    let freed = tx
        .exec(
            "UPDATE vehicles SET status = 'stock', order_id = NULL, updated_at = ? WHERE order_id = ?",
            vec![int(now), text(&order.id)],
        )
        .await?;
    event(
        tx,
        &order.id,
        now,
        "reservation-forfeited",
        format!("deposit {} {} kept (not refundable); {freed} vehicle(s) back to dealership stock", order.deposit_minor, order.currency),
    )
    .await?;
    notify_customer(tx, &order.id, &order.customer_id, "unassigned", &journey::msg_unassigned(&order.id, reason), now).await?;
    Ok(true)
}

/// Mark the vehicle as available at the dealership and start the final-payment clock. A fully
/// financed sale (deposit + financed amount = price) has nothing left to pay: the order is fully
/// paid at once, its registration queued, and the customer told so.
pub async fn make_available(tx: &Db, order: &Order, from: OrderStatus, now: i64, final_payment_days: u64, detail: &str) -> Result<bool, DbError> {
    if !set_status(tx, &order.id, from, OrderStatus::VehicleAvailable, now, detail).await? {
        return Ok(false);
    }
    if order.final_payment_minor() <= 0 {
        tx.exec("UPDATE orders SET available_at = ? WHERE id = ?", vec![int(now), text(&order.id)]).await?;
        set_status(tx, &order.id, OrderStatus::VehicleAvailable, OrderStatus::FullyPaid, now, "nothing left to pay: the rest of the price is financed").await?;
        crate::queue::enqueue(tx, &caas_domain::wit::Job::RegisterVehicle(order.id.clone()), &registration_job_key(&order.id), now).await?;
        notify_customer(tx, &order.id, &order.customer_id, "vehicle-available", &journey::msg_vehicle_ready_financed(&order.id), now).await?;
        return Ok(true);
    }
    let due = journey::final_payment_due_at(now, final_payment_days);
    tx.exec(
        "UPDATE orders SET available_at = ?, final_payment_due_at = ? WHERE id = ?",
        vec![int(now), int(due), text(&order.id)],
    )
    .await?;
    notify_customer(tx, &order.id, &order.customer_id, "vehicle-available", &journey::msg_vehicle_ready(&order.id, due), now).await?;
    Ok(true)
}

/// Outcome of an integration attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Done,
    /// Try again later.
    Retry(String),
    /// Will not succeed by retrying.
    Permanent(String),
}

fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

// ------------------------------------------------------------------------------------ factory

/// Place the factory order of a reserved order (`POST {factory_url}/orders`, Idempotency-Key =
/// order id) and record it: order → factory-ordered, placement job done, customer notified.
/// Safe to repeat: the factory dedupes by key, the record is compare-and-set.
pub async fn place_factory_order(db: &Db, factory_url: &str, order_id: &str, timeout: Duration) -> Result<Attempt, DbError> {
    let Some(order) = load_order(db, order_id).await? else {
        return Ok(Attempt::Permanent(format!("order {order_id} does not exist")));
    };
    if order.status != OrderStatus::Reserved {
        // Already placed (e.g. a confirmed webhook overtook us) or no longer wanted.
        complete_job(db, &factory_job_key(order_id)).await?;
        return Ok(Attempt::Done);
    }
    let options: Vec<String> = db
        .query("SELECT option_code FROM plan_options WHERE order_id = ? ORDER BY option_code", vec![text(order_id)])
        .await?
        .iter()
        .map(|r| r.str("option_code"))
        .collect();
    // What the factory needs to build and ship the car (spec: "customer data + vehicle spec"): the
    // vehicle (model, plan options, market) and the customer it is built for with the delivery
    // address — no e-mail, phone or identity document (the factory has no use for them).
    let customer = db
        .query_one(
            "SELECT full_name, address_line1, address_line2, address_city, address_postal_code, address_country FROM customers WHERE id = ?",
            vec![text(&order.customer_id)],
        )
        .await?
        .map(|c| {
            json!({"full-name": c.str("full_name"), "delivery-address": {
                "line1": c.str("address_line1"), "line2": c.opt_str("address_line2"), "city": c.str("address_city"),
                "postal-code": c.str("address_postal_code"), "country": c.str("address_country")}})
        });
    let body = json!({"order-ref": order.id, "model": order.model, "options": options, "country": order.country, "customer": customer});
    let reply = match http_out::post_json_guarded(Dependency::Factory, &format!("{factory_url}/orders"), &body, &[("idempotency-key", order_id)], timeout).await {
        Ok(r) => r,
        Err(e) => return Ok(Attempt::Retry(format!("factory unreachable: {e}"))),
    };
    if reply.status >= 500 || reply.status == 429 || reply.status == 408 {
        return Ok(Attempt::Retry(format!("factory answered {}: {}", reply.status, short(&reply.body))));
    }
    if !reply.is_success() {
        return Ok(Attempt::Permanent(format!("factory refused the order ({}): {}", reply.status, short(&reply.body))));
    }
    let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
    let Some(fo) = v.get("factory-order-id").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string) else {
        return Ok(Attempt::Retry(format!("factory answer has no factory-order-id: {}", short(&reply.body))));
    };
    let eta = v.get("estimated-completion").and_then(Value::as_str).map(str::to_string);
    let now = crate::clock::now_ms();
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        tx.exec(
            "UPDATE orders SET factory_order_id = COALESCE(factory_order_id, ?), estimated_date = COALESCE(estimated_date, ?) WHERE id = ?",
            vec![text(&fo), opt_text(eta.clone()), text(order_id)],
        )
        .await?;
        if set_status(tx, order_id, OrderStatus::Reserved, OrderStatus::FactoryOrdered, now, &format!("factory order {fo}")).await? {
            notify_customer(tx, order_id, &order.customer_id, "factory-ordered", &journey::msg_factory_ordered(order_id, &fo, eta.as_deref()), now)
                .await?;
        }
        complete_job(tx, &factory_job_key(order_id)).await?;
        Ok(())
    })
    .await?;
    Ok(Attempt::Done)
}

/// Mark the pending job with `dedupe_key` done (no-op if already done/escalated).
pub async fn complete_job(db: &Db, dedupe_key: &str) -> Result<(), DbError> {
    db.exec(
        "UPDATE jobs SET status = 'done', last_error = NULL, updated_at = ? WHERE dedupe_key = ? AND status = 'pending'",
        vec![int(crate::clock::now_ms()), text(dedupe_key)],
    )
    .await?;
    Ok(())
}

// ------------------------------------------------------------------------------------ registration

/// Register a fully paid order's vehicle with its country's authority (per-country adapter),
/// record the plate: order fully-paid → registering → matriculated, customer notified.
pub async fn register_vehicle(db: &Db, registry_url: &str, order_id: &str, timeout: Duration) -> Result<Attempt, DbError> {
    let Some(order) = load_order(db, order_id).await? else {
        return Ok(Attempt::Permanent(format!("order {order_id} does not exist")));
    };
    if !matches!(order.status, OrderStatus::FullyPaid | OrderStatus::Registering) {
        return Ok(Attempt::Done); // already registered (or not to be registered)
    }
    let Some(vin) = order.vin.clone() else {
        return Ok(Attempt::Permanent(format!("order {order_id} has no VIN yet: cannot register")));
    };
    let Some(authority) = authority_for(&order.country) else {
        return Ok(Attempt::Permanent(format!("no registration adapter for country {}", order.country)));
    };
    let Some(c) = db.query_one("SELECT * FROM customers WHERE id = ?", vec![text(&order.customer_id)]).await? else {
        return Ok(Attempt::Permanent(format!("customer {} does not exist", order.customer_id)));
    };
    let request = RegistrationRequest {
        vin: vin.clone(),
        owner_name: c.str("full_name"),
        owner_national_id: c.str("national_id"),
        address_line1: c.str("address_line1"),
        address_line2: c.opt_str("address_line2"),
        city: c.str("address_city"),
        postal_code: c.str("address_postal_code"),
        address_country: c.str("address_country"),
    };
    let url = format!("{registry_url}{}", authority.path());
    let reply = match http_out::post_json(&url, &authority.body(&request), &[("idempotency-key", order_id)], timeout).await {
        Ok(r) => r,
        Err(e) => return Ok(Attempt::Retry(format!("registry unreachable: {e}"))),
    };
    if reply.status >= 500 || reply.status == 429 || reply.status == 408 {
        return Ok(Attempt::Retry(format!("registry answered {}: {}", reply.status, short(&reply.body))));
    }
    if !reply.is_success() {
        return Ok(Attempt::Permanent(format!("registry refused the registration ({}): {}", reply.status, short(&reply.body))));
    }
    let reg = match authority.parse(&reply.body) {
        Ok(r) => r,
        Err(e) => return Ok(Attempt::Retry(e)),
    };
    let now = crate::clock::now_ms();
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        let cur = load_order(tx, order_id).await?.map(|o| o.status);
        if cur == Some(OrderStatus::FullyPaid) {
            set_status(tx, order_id, OrderStatus::FullyPaid, OrderStatus::Registering, now, &format!("submitted to {}", authority.country()))
                .await?;
        }
        if set_status(tx, order_id, OrderStatus::Registering, OrderStatus::Matriculated, now, &format!("plate {}", reg.plate)).await? {
            tx.exec(
                "UPDATE orders SET plate = ?, registration_id = ? WHERE id = ?",
                vec![text(&reg.plate), text(&reg.registration_id), text(order_id)],
            )
            .await?;
            tx.exec("UPDATE vehicles SET plate = ?, country = ?, updated_at = ? WHERE vin = ?", vec![
                text(&reg.plate),
                text(authority.country()),
                int(now),
                text(&vin),
            ])
            .await?;
            notify_customer(tx, order_id, &order.customer_id, "matriculated", &journey::msg_matriculated(order_id, &reg.plate), now).await?;
        }
        complete_job(tx, &registration_job_key(order_id)).await?;
        Ok(())
    })
    .await?;
    Ok(Attempt::Done)
}

/// New unique id (re-exported for components).
pub fn new_id(kind: IdKind) -> String {
    crate::rand::id(kind)
}
