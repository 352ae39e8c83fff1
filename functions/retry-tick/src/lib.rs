//! `POST /internal/ticks/retry`: works the retry queue.
//!
//! Claims up to `BATCH` due jobs (conditional UPDATE, so concurrent/duplicate ticks never
//! run a job twice), performs them concurrently, then records each outcome:
//! done (secrets redacted) | rescheduled with backoff + full jitter | escalated.
//! Handled kinds: `notify`. `place-factory-order` jobs are not claimed by this tick yet:
//! they stay `pending`, untouched (attempts not counted), until the factory issue adds them.
use caas_domain::Problem;
use caas_domain::retry::{RetryDecision, RetryPolicy};
use caas_domain::routing::redact;
use caas_domain::wire::to_kebab_json;
use caas_domain::wit::Job;
use caas_platform::db::Db;
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use caas_platform::queue::{self, Claimed};
use caas_platform::{Resp, auth, clock, req, resp, vars};
use serde_json::json;
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: u32 = 50;
const HANDLED_KINDS: &[&str] = &["notify"];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    if req::path(&req) != "/internal/ticks/retry" {
        return Err(Problem::not_found("no such tick"));
    }
    if req.method().as_str() != "POST" {
        return Err(Problem::method_not_allowed("ticks are fired with POST"));
    }
    auth::require_tick(&req).await?;
    tick().await
}

enum Outcome {
    Done,
    /// Retryable failure.
    Failed(String),
    /// Will never succeed (undecodable payload): escalate now.
    Permanent(String),
}

async fn perform(c: &Claimed, notify_url: &str) -> Outcome {
    match &c.job {
        Err(e) => Outcome::Permanent(e.clone()),
        Ok(Job::Notify(n)) => {
            let body = match to_kebab_json(n) {
                Ok(b) => b,
                Err(e) => return Outcome::Permanent(format!("cannot encode notification: {e}")),
            };
            match http_out::post_json(&format!("{notify_url}/messages"), &body, &[], DEFAULT_TIMEOUT).await {
                Ok(r) if r.is_success() => Outcome::Done,
                Ok(r) => Outcome::Failed(format!("notify answered {}: {}", r.status, r.body.chars().take(300).collect::<String>())),
                Err(e) => Outcome::Failed(e),
            }
        }
        Ok(other) => Outcome::Failed(format!("job kind {} is not handled by the retry tick yet", other.kind())),
    }
}

async fn tick() -> Result<Resp, Problem> {
    let notify_url = vars::base_url("notify_url").await?;
    let policy = RetryPolicy::from_config(
        vars::u64_or("retry_base_seconds", 30).await,
        vars::u64_or("retry_max_attempts", 6).await.min(u32::MAX as u64) as u32,
    );
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let claimed = queue::claim_due(&db, now, BATCH, HANDLED_KINDS).await?;

    let outcomes = futures_join(&claimed, &notify_url).await;

    let (mut succeeded, mut failed, mut escalated) = (0u32, 0u32, 0u32);
    let done_at = clock::now_ms();
    for (c, outcome) in claimed.iter().zip(outcomes) {
        let redacted = c.job.as_ref().ok().map(redact);
        match outcome {
            Outcome::Done => {
                queue::complete(&db, &c.id, redacted.as_ref(), done_at).await?;
                succeeded += 1;
            }
            Outcome::Failed(e) => {
                match queue::fail(&db, c, &e, done_at, &policy, redacted.as_ref(), false).await? {
                    RetryDecision::Escalate => escalated += 1,
                    RetryDecision::Retry { .. } => failed += 1,
                }
            }
            Outcome::Permanent(e) => {
                queue::fail(&db, c, &e, done_at, &policy, redacted.as_ref(), true).await?;
                escalated += 1;
            }
        }
    }
    Ok(resp::json(
        200,
        &json!({"processed": claimed.len(), "succeeded": succeeded, "failed": failed, "escalated": escalated}),
    ))
}

/// Perform the claimed jobs concurrently (each bounded by its HTTP timeout).
async fn futures_join(claimed: &[Claimed], notify_url: &str) -> Vec<Outcome> {
    let futs = claimed.iter().map(|c| perform(c, notify_url));
    caas_platform::join_all(futs).await
}
