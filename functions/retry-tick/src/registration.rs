//! `register-vehicle` jobs: matriculate a fully paid order's vehicle through the per-country
//! adapter (`caas_domain::registration`; `POST {registry_url}/registrations/{country}`) and
//! record the plates. Giving up notifies staff and tells the customer about the delay.
use crate::{Ctx, Outcome};
use caas_domain::Problem;
use caas_domain::journey;
use caas_platform::db::{Db, DbError};
use caas_platform::http_out::DEFAULT_TIMEOUT;
use caas_platform::journey::{self as j, Attempt};

pub(crate) async fn perform(order_id: &str, cx: &Ctx) -> Outcome {
    let Some(url) = &cx.registry_url else { return Outcome::Failed("registry_url is not configured".into()) };
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match j::register_vehicle(&db, url, order_id, DEFAULT_TIMEOUT).await {
        Ok(Attempt::Done) => Outcome::Done,
        Ok(Attempt::Retry(e)) => Outcome::Failed(e),
        Ok(Attempt::Permanent(e)) => Outcome::Permanent(e),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

pub(crate) async fn on_escalated(db: &Db, job_id: &str, order_id: &str, error: &str, now: i64) -> Result<(), Problem> {
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        j::notify_staff(tx, job_id, "vehicle registration", order_id, error, now).await?;
        if let Some(o) = j::load_order(tx, order_id).await? {
            j::event(tx, order_id, now, "registration-escalated", format!("gave up registering the vehicle: {error}")).await?;
            j::notify_customer(tx, order_id, &o.customer_id, "registration-delay", &journey::msg_registration_delay(order_id), now).await?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}
