//! `return-payment`: give money back at the payment gateway (void while unsettled, else refund),
//! queued by whoever decided it (cancellation, failed activation, money taken late). The ledger
//! row is written with the job's completion, only once the gateway confirms
//! ([`caas_platform::money`]). Giving up leaves a visible escalation (the queue's) and tells
//! staff, with the order timeline noting that a refund is owed.
use crate::{Ctx, Outcome};
use caas_domain::Problem;
use caas_domain::wit::PaymentReturn;
use caas_platform::db::Db;
use caas_platform::journey as j;
use caas_platform::{clock, money};

pub(crate) async fn perform(r: &PaymentReturn, cx: &Ctx) -> Outcome {
    let Some(url) = &cx.payment_url else { return Outcome::Failed("payment_url is not configured".into()) };
    let db = match Db::open().await {
        Ok(db) => db,
        Err(e) => return Outcome::Failed(e.to_string()),
    };
    match money::perform_return(&db, url, &money::job_key(r), r, clock::now_ms()).await {
        Ok(_) => Outcome::Done,
        Err(e) => Outcome::Failed(e),
    }
}

pub(crate) async fn on_escalated(db: &Db, job_id: &str, r: &PaymentReturn, error: &str, now: i64) -> Result<(), Problem> {
    let detail = format!(
        "could not give back {} {} of payment {} ({}): {error}; refund it by hand at the gateway",
        r.amount.amount_minor, r.amount.currency, r.payment_id, r.reason
    );
    j::notify_staff(db, job_id, "refund", &r.reference, &detail, now).await?;
    if let Some(order_id) = &r.order_id {
        j::event(db, order_id, now, "refund-escalated", format!("a refund of {} {} is delayed; our team is completing it by hand", r.amount.amount_minor, r.amount.currency))
            .await?;
    }
    Ok(())
}
