//! Jobs that move one order forward through an external system, retried by this tick:
//! - `place-factory-order`: `POST {factory_url}/orders` (Idempotency-Key = order id, so a retry
//!   never orders twice);
//! - `register-vehicle`: matriculation through the per-country adapter
//!   (`caas_domain::registration`; `POST {registry_url}/registrations/{country}`), plates recorded.
//!
//! Both share the same shape: perform the call on the job's own connection, and on giving up
//! notify every staff member, record it in the order timeline and tell the customer about the delay.
use crate::{Ctx, Outcome};
use caas_domain::Problem;
use caas_domain::journey;
use caas_platform::db::{Db, DbError};
use caas_platform::http_out::DEFAULT_TIMEOUT;
use caas_platform::journey::{self as j, Attempt};

#[derive(Clone, Copy)]
pub(crate) enum OrderJob {
    PlaceFactoryOrder,
    RegisterVehicle,
}

impl OrderJob {
    fn what(self) -> &'static str {
        match self {
            OrderJob::PlaceFactoryOrder => "factory order",
            OrderJob::RegisterVehicle => "vehicle registration",
        }
    }

    pub(crate) async fn perform(self, order_id: &str, cx: &Ctx) -> Outcome {
        let (url, var) = match self {
            OrderJob::PlaceFactoryOrder => (&cx.factory_url, "factory_url"),
            OrderJob::RegisterVehicle => (&cx.registry_url, "registry_url"),
        };
        let Some(url) = url else { return Outcome::Failed(format!("{var} is not configured")) };
        // Own connection: jobs run concurrently and each records its result in its own transaction.
        let db = match Db::open().await {
            Ok(db) => db,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let attempt = match self {
            OrderJob::PlaceFactoryOrder => j::place_factory_order(&db, url, order_id, DEFAULT_TIMEOUT).await,
            OrderJob::RegisterVehicle => j::register_vehicle(&db, url, order_id, DEFAULT_TIMEOUT).await,
        };
        match attempt {
            Ok(Attempt::Done) => Outcome::Done,
            Ok(Attempt::Retry(e)) => Outcome::Failed(e),
            Ok(Attempt::Permanent(e)) => Outcome::Permanent(e),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }

    pub(crate) async fn on_escalated(self, db: &Db, job_id: &str, order_id: &str, error: &str, now: i64) -> Result<(), Problem> {
        let (event, detail, template, message) = match self {
            OrderJob::PlaceFactoryOrder => (
                "factory-order-escalated",
                "the factory order is delayed; our team is placing it by hand".to_string(),
                "factory-delay",
                journey::msg_factory_delay(order_id),
            ),
            OrderJob::RegisterVehicle => (
                "registration-escalated",
                "the registration is delayed; our team is completing it by hand".to_string(),
                "registration-delay",
                journey::msg_registration_delay(order_id),
            ),
        };
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            j::notify_staff(tx, job_id, self.what(), order_id, error, now).await?;
            if let Some(o) = j::load_order(tx, order_id).await? {
                j::event(tx, order_id, now, event, detail).await?;
                j::event(tx, order_id, now, &format!("staff:{event}"), format!("gave up after the last try: {error}")).await?;
                j::notify_customer(tx, order_id, &o.customer_id, template, &message, now).await?;
            }
            Ok(())
        })
        .await?;
        Ok(())
    }
}
