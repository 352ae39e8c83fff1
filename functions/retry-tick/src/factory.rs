//! `place-factory-order` jobs: place the factory order of a reserved order
//! (`POST {factory_url}/orders`, Idempotency-Key = order id, so a retry never orders twice).
//! Giving up notifies every staff member and tells the customer about the delay.
use crate::{Ctx, Outcome};
use caas_domain::Problem;
use caas_domain::journey;
use caas_platform::db::{Db, DbError};
use caas_platform::http_out::DEFAULT_TIMEOUT;
use caas_platform::journey::{self as j, Attempt};

pub(crate) async fn perform(order_id: &str, cx: &Ctx) -> Outcome {
    let Some(url) = &cx.factory_url else { return Outcome::Failed("factory_url is not configured".into()) };
    // Own connection: jobs run concurrently and each records its result in its own transaction.
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match j::place_factory_order(&db, url, order_id, DEFAULT_TIMEOUT).await {
        Ok(Attempt::Done) => Outcome::Done,
        Ok(Attempt::Retry(e)) => Outcome::Failed(e),
        Ok(Attempt::Permanent(e)) => Outcome::Permanent(e),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

pub(crate) async fn on_escalated(db: &Db, job_id: &str, order_id: &str, error: &str, now: i64) -> Result<(), Problem> {
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        j::notify_staff(tx, job_id, "factory order", order_id, error, now).await?;
        if let Some(o) = j::load_order(tx, order_id).await? {
            j::event(tx, order_id, now, "factory-order-escalated", format!("gave up placing the factory order: {error}")).await?;
            j::notify_customer(tx, order_id, &o.customer_id, "factory-delay", &journey::msg_factory_delay(order_id), now).await?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}
