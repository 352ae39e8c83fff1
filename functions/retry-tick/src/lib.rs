//! `POST /internal/ticks/retry`: works the retry queue.
//!
//! Claims up to `BATCH` due jobs (conditional UPDATE, so concurrent/duplicate ticks never
//! run a job twice), performs them concurrently, then records each outcome:
//! done (secrets redacted) | rescheduled with backoff + full jitter | escalated (plus the
//! kind's escalation hook: staff e-mail, customer told about the delay).
//!
//! One file per job kind; add a kind by adding its module, its name to [`HANDLED_KINDS`] and
//! one arm in [`perform`] / [`on_escalated`]:
//! * `notify`              — [`notify`]: deliver to the notification sink.
//! * `place-factory-order` — [`factory`]: place the factory order of a reserved order.
//! * `register-vehicle`    — [`registration`]: matriculate a fully paid order's vehicle.
//! * `return-payment`      — [`returns`]: void or refund at the payment gateway, ledger row on success.
//!
//! Kinds not listed (e.g. `ota`) are not claimed: they stay `pending`, untouched.
mod notify;
mod order_jobs;
mod returns;

use caas_domain::Problem;
use caas_domain::retry::{RetryDecision, RetryPolicy};
use caas_domain::routing::redact;
use caas_domain::wit::Job;
use caas_platform::db::Db;
use caas_platform::queue::{self, Claimed};
use caas_platform::{Resp, auth, clock, resp, vars};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: u32 = 50;
const HANDLED_KINDS: &[&str] = &["notify", "place-factory-order", "register-vehicle", "return-payment"];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    auth::tick_request(&req, "/internal/ticks/retry").await?;
    tick().await
}

pub(crate) enum Outcome {
    Done,
    /// Retryable failure.
    Failed(String),
    /// Will never succeed (undecodable payload, refused request): escalate now.
    Permanent(String),
}

/// Endpoints of the external systems (a missing one fails only the jobs that need it).
pub(crate) struct Ctx {
    pub notify_url: Option<String>,
    pub factory_url: Option<String>,
    pub registry_url: Option<String>,
    pub payment_url: Option<String>,
    pub iot_url: Option<String>,
}

async fn perform(c: &Claimed, cx: &Ctx) -> Outcome {
    match &c.job {
        Err(e) => Outcome::Permanent(e.clone()),
        Ok(Job::Notify(n)) => notify::perform(n, cx).await,
        Ok(Job::PlaceFactoryOrder(order_id)) => order_jobs::OrderJob::PlaceFactoryOrder.perform(order_id, cx).await,
        Ok(Job::RegisterVehicle(order_id)) => order_jobs::OrderJob::RegisterVehicle.perform(order_id, cx).await,
        Ok(Job::ReturnPayment(r)) => returns::perform(r, cx).await,
        Ok(other) => Outcome::Failed(format!("job kind {} is not handled by the retry tick yet", other.kind())),
    }
}

/// Side effects of giving up on a job (run after the escalation is recorded).
async fn on_escalated(db: &Db, c: &Claimed, error: &str, now: i64) -> Result<(), Problem> {
    match &c.job {
        Ok(Job::PlaceFactoryOrder(order_id)) => order_jobs::OrderJob::PlaceFactoryOrder.on_escalated(db, &c.id, order_id, error, now).await?,
        Ok(Job::RegisterVehicle(order_id)) => order_jobs::OrderJob::RegisterVehicle.on_escalated(db, &c.id, order_id, error, now).await?,
        Ok(Job::ReturnPayment(r)) => returns::on_escalated(db, &c.id, r, error, now).await?,
        _ => {}
    }
    Ok(())
}

impl Ctx {
    async fn from_vars() -> Ctx {
        Ctx {
            notify_url: vars::base_url("notify_url").await.ok(),
            factory_url: vars::base_url("factory_url").await.ok(),
            registry_url: vars::base_url("registry_url").await.ok(),
            payment_url: vars::base_url("payment_url").await.ok(),
            iot_url: vars::base_url("iot_url").await.ok(),
        }
    }
}

/// How many jobs ended which way.
#[derive(Default)]
struct Counts {
    succeeded: u32,
    failed: u32,
    escalated: u32,
}

async fn tick() -> Result<Resp, Problem> {
    let cx = Ctx::from_vars().await;
    let policy = RetryPolicy::from_config(
        vars::u64_or("retry_base_seconds", 30).await,
        vars::u64_or("retry_max_attempts", 6).await.min(u32::MAX as u64) as u32,
    );
    let db = Db::open_for_request().await?;
    let claimed = queue::claim_due(&db, clock::now_ms(), BATCH, HANDLED_KINDS).await?;

    let outcomes = caas_platform::join_all(claimed.iter().map(|c| perform(c, &cx))).await;

    let mut counts = Counts::default();
    let done_at = clock::now_ms();
    for (c, outcome) in claimed.iter().zip(outcomes) {
        record(&db, c, outcome, &policy, done_at, &mut counts).await?;
    }
    Ok(resp::json(
        200,
        &json!({"processed": claimed.len(), "succeeded": counts.succeeded, "failed": counts.failed, "escalated": counts.escalated}),
    ))
}

/// Records one job's outcome: done (secrets redacted), rescheduled, or escalated (plus the
/// kind's escalation hook).
async fn record(db: &Db, c: &Claimed, outcome: Outcome, policy: &RetryPolicy, done_at: i64, counts: &mut Counts) -> Result<(), Problem> {
    let redacted = c.job.as_ref().ok().map(redact);
    let (error, permanent) = match outcome {
        Outcome::Done => {
            queue::complete(db, &c.id, redacted.as_ref(), done_at).await?;
            counts.succeeded += 1;
            return Ok(());
        }
        Outcome::Failed(e) => (e, false),
        Outcome::Permanent(e) => (e, true),
    };
    let decision = queue::fail(db, c, &error, done_at, policy, redacted.as_ref(), permanent).await?;
    if matches!(decision, RetryDecision::Retry { .. }) {
        counts.failed += 1;
        return Ok(());
    }
    counts.escalated += 1;
    on_escalated(db, c, &error, done_at).await
}
