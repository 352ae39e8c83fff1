//! `POST /internal/ticks/ota`: the OTA activation engine (tick secret; every 10 s).
//!
//! 1. Endings due: active temporary services past `ends_at` (→ `deactivating-expired`) and
//!    scheduled subscription cancellations past `billing_ends_at` (→ `deactivating-cancelled`)
//!    get a deactivation command queued through the same engine.
//! 2. Works due `ota` jobs in batches: `POST {iot_url}/vehicles/{vin}/commands`
//!    `{command-id, feature, action}` with the deterministic command id
//!    (`caas_domain::services::ota::command_id`; the IoT API applies an id at most once).
//!    * acknowledged → activation: service `active` from now (temporary: ends at start +
//!      duration), customer told by push + vehicle display + e-mail (routing "service
//!      activated"), timeline row; deactivation: the ending state (`expired`, `cancelled`, …);
//!    * failed → retried with exponential backoff + deterministic jitter
//!      (`ota::after_failure`) up to `retry_max_attempts`; after the last one the give-up plan
//!      runs: vehicle status queried, support ticket recorded, payment voided (not settled) or
//!      refunded (settled) with a ledger row — the customer is never charged —, customer told
//!      (routing "OTA failure"), service `failed`. Every step is idempotent; if the gateway
//!      cannot be reached the give-up is retried on the next tick.
//!
//! Report: `{endings_queued, processed, applied, retried, escalated, skipped, pending_money}`.
use caas_domain::Problem;
use caas_domain::breaker::Dependency;
use caas_domain::retry::RetryPolicy;
use caas_domain::services::calendar::format_date;
use caas_domain::services::catalog::{Catalog, OptionKind};
use caas_domain::services::lifecycle::{self, Ending, ServiceEvent, ServiceState};
use caas_domain::services::ota::{self, AttemptDecision, CommandOutcome, EscalationPlan, EscalationStep, FailedAttempt, OtaAction, PaymentStatus};
use caas_domain::wit::{Job, OtaCommand, PaymentReturn, ReturnMode};
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::http_out::{self, DEFAULT_TIMEOUT};
use caas_platform::queue::{self, Claimed};
use caas_platform::services::{self as svc, ServiceRow};
use caas_platform::{Resp, auth, clock, money, resp, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

const BATCH: u32 = 50;
const ENDINGS_BATCH: i64 = 200;

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    auth::tick_request(&req, "/internal/ticks/ota").await?;
    tick().await
}

struct Cfg {
    iot_url: String,
    payment_url: String,
    policy: RetryPolicy,
}

#[derive(Default)]
struct Report {
    endings_queued: u32,
    processed: u32,
    applied: u32,
    retried: u32,
    escalated: u32,
    skipped: u32,
    pending_money: u32,
}

async fn tick() -> Result<Resp, Problem> {
    let cfg = Cfg {
        iot_url: vars::base_url("iot_url").await?,
        payment_url: vars::base_url("payment_url").await?,
        policy: RetryPolicy::from_config(
            vars::u64_or("retry_base_seconds", 30).await,
            vars::u64_or("retry_max_attempts", 6).await.min(u32::MAX as u64) as u32,
        ),
    };
    let db = Db::open_for_request().await?;
    let now = clock::now_ms();
    let mut report = Report { endings_queued: queue_endings(&db, now).await?, ..Report::default() };

    let claimed = queue::claim_due(&db, now, BATCH, &["ota"]).await?;
    report.processed = claimed.len() as u32;
    // Load the services first (sequential), then send the commands concurrently.
    let mut work: Vec<(Claimed, Option<(OtaCommand, ServiceRow)>)> = Vec::new();
    for c in claimed {
        let item = match &c.job {
            Ok(Job::Ota(cmd)) => svc::load_service(&db, &cmd.service_id).await?.map(|s| (cmd.clone(), s)),
            _ => None,
        };
        work.push((c, item));
    }
    let sends = work.iter().map(|(_, item)| async {
        match item {
            Some((cmd, s)) if still_wanted(cmd, s) => Some(send_command(&cfg.iot_url, cmd).await),
            _ => None,
        }
    });
    let results = caas_platform::join_all(sends).await;

    let catalog = svc::load_catalog(&db).await.ok();
    for ((c, item), result) in work.into_iter().zip(results) {
        let done_at = clock::now_ms();
        match (item, result) {
            (Some((cmd, s)), Some(Ok(()))) => {
                applied(&db, &c, &cmd, &s, catalog.as_ref(), done_at).await?;
                report.applied += 1;
            }
            (Some((cmd, s)), Some(Err((outcome, error)))) => {
                match failed(&db, &cfg, &c, &cmd, &s, catalog.as_ref(), outcome, &error, done_at).await? {
                    Failure::Retried => report.retried += 1,
                    Failure::Escalated => report.escalated += 1,
                    Failure::MoneyPending => report.pending_money += 1,
                }
            }
            _ => {
                // Undecodable payload, unknown service, or a command no longer wanted (the
                // service was aborted, or already moved on): nothing to send.
                let why = match &c.job {
                    Err(e) => e.clone(),
                    Ok(_) => "no service waits for this command any more".to_string(),
                };
                if c.job.is_err() {
                    db.transaction(async |tx: &Db| -> Result<(), DbError> { queue::mark_escalated(tx, &c, &why, done_at).await })
                        .await?;
                } else {
                    queue::complete(&db, &c.id, None, done_at).await?;
                }
                report.skipped += 1;
            }
        }
    }
    Ok(resp::json(
        200,
        &json!({
            "endings_queued": report.endings_queued,
            "processed": report.processed,
            "applied": report.applied,
            "retried": report.retried,
            "escalated": report.escalated,
            "skipped": report.skipped,
            "pending_money": report.pending_money,
        }),
    ))
}

/// Is the service still waiting for this command?
fn still_wanted(cmd: &OtaCommand, s: &ServiceRow) -> bool {
    matches!(
        (OtaAction::parse(&cmd.action), s.state()),
        (Some(OtaAction::Activate), Some(ServiceState::PendingActivation))
            | (Some(OtaAction::Deactivate), Some(ServiceState::Deactivating(_) | ServiceState::Aborted))
    )
}

async fn send_command(iot_url: &str, cmd: &OtaCommand) -> Result<(), (CommandOutcome, String)> {
    // The IoT API's documented configuration push (overview.md: `POST /ota/configure`).
    let body = json!({
        "vin": cmd.vin,
        "command-id": cmd.command_id,
        "feature": cmd.feature,
        "action": cmd.action,
        "service-id": cmd.service_id,
    });
    let url = format!("{iot_url}/ota/configure");
    match http_out::post_json_guarded(Dependency::Iot, &url, &body, &[], DEFAULT_TIMEOUT).await {
        Ok(r) => match ota::classify_iot_status(Some(r.status)) {
            CommandOutcome::Applied => Ok(()),
            o => Err((o, format!("IoT API answered {}: {}", r.status, r.body.chars().take(300).collect::<String>()))),
        },
        Err(e) => Err((ota::classify_iot_status(None), e.to_string())),
    }
}

/// The command was acknowledged: apply the lifecycle event (idempotently) and tell the customer.
async fn applied(db: &Db, c: &Claimed, cmd: &OtaCommand, s: &ServiceRow, catalog: Option<&Catalog>, now: i64) -> Result<(), DbError> {
    let action = OtaAction::parse(&cmd.action).unwrap_or(OtaAction::Activate);
    let name = s.display_name(catalog);
    let kind = s.option_kind(catalog);
    db.transaction(async |tx: &Db| -> Result<(), DbError> {
        let Some(cur) = svc::load_service(tx, &s.id).await? else { return queue::complete(tx, &c.id, None, now).await };
        let Some(from) = cur.state() else { return queue::complete(tx, &c.id, None, now).await };
        if action == OtaAction::Activate && from == ServiceState::Aborted {
            undo_activation(tx, &cur, &name, now).await?;
            return queue::complete(tx, &c.id, None, now).await;
        }
        let Ok((to, changed)) = from.apply_idempotent(ota::success_event(action)) else {
            return queue::complete(tx, &c.id, None, now).await;
        };
        if changed {
            match action {
                OtaAction::Activate => activated(tx, cmd, &cur, &name, &kind, from, to, now).await?,
                OtaAction::Deactivate => {
                    svc::set_state(tx, &s.id, from, to, now).await?;
                    let detail = format!("{name} ({}) switched off on {}; command {}", s.id, s.vin, cmd.command_id);
                    svc::timeline(tx, cur.order_id.as_deref(), now, &format!("service-{}", to.as_str()), detail).await?;
                }
            }
        }
        queue::complete(tx, &c.id, None, now).await
    })
    .await
}

/// Cancelled (theft, failed settlement) while its activation was in flight: the feature must not
/// stay on for free — switch it off again through the engine.
async fn undo_activation(tx: &Db, cur: &ServiceRow, name: &str, now: i64) -> Result<(), DbError> {
    let undo = deactivation(cur);
    if queue::enqueue(tx, &Job::Ota(undo.clone()), &undo.command_id, now).await?.is_some() {
        let detail = format!("{name} ({}) was cancelled while its activation was in flight; deactivation queued as {}", cur.id, undo.command_id);
        svc::timeline(tx, cur.order_id.as_deref(), now, "service-activation-undone", detail).await?;
    }
    Ok(())
}

/// The deactivation command of `s` (deterministic id from its command generation).
fn deactivation(s: &ServiceRow) -> OtaCommand {
    OtaCommand {
        command_id: ota::command_id(&s.id, OtaAction::Deactivate, s.command_generation),
        service_id: s.id.clone(),
        vin: s.vin.clone(),
        feature: s.feature.clone(),
        action: OtaAction::Deactivate.as_str().to_string(),
    }
}

/// Active from now (temporary: until its end), timeline row, customer told.
#[allow(clippy::too_many_arguments)]
async fn activated(tx: &Db, cmd: &OtaCommand, s: &ServiceRow, name: &str, kind: &OptionKind, from: ServiceState, to: ServiceState, now: i64) -> Result<(), DbError> {
    let ends_at = lifecycle::service_end(kind, now);
    tx.exec(
        "UPDATE services SET state = ?, activated_at = ?, ends_at = ?, last_error = NULL, updated_at = ? WHERE id = ? AND state = ?",
        vec![text(to.as_str()), int(now), opt_int(ends_at), int(now), text(&s.id), text(from.as_str())],
    )
    .await?;
    let until = ends_at.map(|e| format!(" until {}", format_date(e))).unwrap_or_default();
    let detail = format!("{name} ({}) active on {}{until}; command {}", s.id, s.vin, cmd.command_id);
    svc::timeline(tx, s.order_id.as_deref(), now, "service-activated", detail).await?;
    let key = format!("svc-active:{}", s.id);
    svc::send(tx, &s.customer_id, &s.vin, &key, &caas_domain::messages::service_activated(name, &s.vin, ends_at), now).await
}

fn opt_int(v: Option<i64>) -> caas_platform::db::Value {
    v.map(int).unwrap_or(caas_platform::db::Value::Null)
}

enum Failure {
    Retried,
    Escalated,
    /// Retries exhausted but the money step could not be completed yet: tried again next tick.
    MoneyPending,
}

#[allow(clippy::too_many_arguments)]
async fn failed(
    db: &Db,
    cfg: &Cfg,
    c: &Claimed,
    cmd: &OtaCommand,
    s: &ServiceRow,
    catalog: Option<&Catalog>,
    outcome: CommandOutcome,
    error: &str,
    now: i64,
) -> Result<Failure, DbError> {
    let action = OtaAction::parse(&cmd.action).unwrap_or(OtaAction::Activate);
    let f = FailedAttempt {
        service_id: &s.id,
        vin: &s.vin,
        feature: &s.feature,
        action,
        command_id: &cmd.command_id,
        attempts: c.attempts,
        last_error: error,
    };
    // Retryable failures wait for their backoff; a permanent error (or the last attempt) gives up.
    if outcome != CommandOutcome::Permanent
        && let AttemptDecision::RetryAt { at, .. } = ota::after_failure(&cfg.policy, &f, PaymentStatus::NoPayment, now)
    {
        let name = (action == OtaAction::Activate && c.attempts == 1).then(|| s.display_name(catalog));
        db.transaction(async |tx: &Db| -> Result<(), DbError> {
            queue::reschedule(tx, &c.id, at, error, now).await?;
            tx.exec("UPDATE services SET last_error = ?, updated_at = ? WHERE id = ?", vec![text(error), int(now), text(&s.id)]).await?;
            // The first try of an activation failed: the customer hears it is being retried (once
            // per command), why in plain words, when the next try is, and that nothing is charged
            // unless it works.
            if let Some(name) = &name {
                let m = caas_domain::messages::activation_delayed(name, &s.vin, ota::HoldReason::of_error(error), at);
                svc::send(tx, &s.customer_id, &s.vin, &format!("svc-delayed:{}", cmd.command_id), &m, now).await?;
            }
            Ok(())
        })
        .await?;
        return Ok(Failure::Retried);
    }
    let payment = payment_status(cfg, s).await;
    let plan = ota::escalation_plan(&f, payment);
    escalate(db, cfg, c, cmd, s, &plan, error, s.display_name(catalog), now).await
}

/// The up-front payment's state at the gateway (the source of truth for void vs refund).
/// Unknown (gateway unreachable) → `Pending`: the void is tried, and a 409 turns it into a refund.
async fn payment_status(cfg: &Cfg, s: &ServiceRow) -> PaymentStatus {
    let Some(pid) = &s.payment_id else { return PaymentStatus::NoPayment };
    match http_out::get_json(&format!("{}/payments/{pid}", cfg.payment_url), &[], DEFAULT_TIMEOUT).await {
        Ok(r) if r.is_success() => serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|v| v.get("status").and_then(Value::as_str).and_then(PaymentStatus::from_gateway))
            .unwrap_or(PaymentStatus::Pending),
        _ => PaymentStatus::Pending,
    }
}

/// The give-up's money step through the platform's one return path (the same gateway calls and
/// ledger keys as a queued return: `void:<service id>` / `refund:<service id>`).
fn give_back(s: &ServiceRow, step: &EscalationStep) -> Option<PaymentReturn> {
    let pid = s.payment_id.as_deref()?;
    let price = s.price.clone().unwrap_or(caas_domain::wit::Money { amount_minor: 0, currency: String::new() });
    let mode = if matches!(step, EscalationStep::VoidPayment) { ReturnMode::VoidOrRefund } else { ReturnMode::Refund };
    Some(money::payment_return(pid, &price, &s.id, &s.id, s.order_id.as_deref(), mode, "ota-activation-failed"))
}

/// What the give-up's outside steps found (vehicle status, gateway) before its transaction.
#[derive(Default)]
struct GiveUp {
    vehicle_status: String,
    ticket: Option<(String, String)>,
    returned: Option<(PaymentReturn, money::Done)>,
    money_error: Option<String>,
    notify: bool,
}

/// The escalation being recorded: the claimed job, its command and service, the plan.
struct Escalation<'a> {
    c: &'a Claimed,
    cmd: &'a OtaCommand,
    s: &'a ServiceRow,
    plan: &'a EscalationPlan,
    error: &'a str,
    name: String,
}

/// Retries exhausted (or a permanent error): run the give-up plan. Every step is idempotent
/// (ticket id, gateway idempotency, ledger keys, message ids), so a crash or a gateway outage
/// half-way is repaired by the next tick running it again.
#[allow(clippy::too_many_arguments)]
async fn escalate(db: &Db, cfg: &Cfg, c: &Claimed, cmd: &OtaCommand, s: &ServiceRow, plan: &EscalationPlan, error: &str, name: String, now: i64) -> Result<Failure, DbError> {
    let g = run_outside_steps(cfg, s, plan).await;
    let e = Escalation { c, cmd, s, plan, error, name };
    db.transaction(async |tx: &Db| -> Result<Failure, DbError> {
        open_ticket(tx, &e, &g, now).await?;
        // The reversal of the charge, in the ledger (idempotent keys), and the payment state.
        if let (Some((r, done)), Some(_)) = (&g.returned, &s.price) {
            money::record_done(tx, r, *done, now).await?;
        }
        if let Some(m) = &g.money_error {
            // Not done: the customer must never stay charged. Try the give-up again soon.
            let at = now.saturating_add(cfg.policy.base_ms.min(i64::MAX as u64) as i64);
            queue::reschedule(tx, &c.id, at, &format!("{error}; escalation pending: {m}"), now).await?;
            tx.exec("UPDATE services SET last_error = ?, updated_at = ? WHERE id = ?", vec![text(m), int(now), text(&s.id)]).await?;
            return Ok(Failure::MoneyPending);
        }
        if svc::load_service(tx, &s.id).await?.is_some() {
            record_gave_up(tx, &e, &g, now).await?;
            if g.notify {
                notify_failed(tx, &e, now).await?;
            }
        }
        queue::mark_escalated(tx, c, error, now).await?;
        Ok(Failure::Escalated)
    })
    .await
}

/// The plan's steps that talk to the outside (vehicle status, gateway), before the transaction.
async fn run_outside_steps(cfg: &Cfg, s: &ServiceRow, plan: &EscalationPlan) -> GiveUp {
    let mut g = GiveUp::default();
    for step in &plan.steps {
        match step {
            EscalationStep::QueryVehicleStatus => {
                g.vehicle_status = match http_out::get_json(&format!("{}/vehicles/{}/status", cfg.iot_url, s.vin), &[], DEFAULT_TIMEOUT).await {
                    Ok(r) => format!("{} {}", r.status, r.body.chars().take(1000).collect::<String>()),
                    Err(e) => format!("status query failed: {e}"),
                };
            }
            EscalationStep::OpenSupportTicket { ticket_id, summary } => g.ticket = Some((ticket_id.clone(), summary.clone())),
            EscalationStep::VoidPayment | EscalationStep::RefundPayment => {
                let Some(r) = give_back(s, step) else { continue };
                match money::call_gateway(&cfg.payment_url, &r).await {
                    Ok(done) => g.returned = Some((r, done)),
                    Err(e) => g.money_error = Some(e),
                }
            }
            EscalationStep::NotifyCustomer { .. } => g.notify = true,
        }
    }
    g
}

async fn open_ticket(tx: &Db, e: &Escalation<'_>, g: &GiveUp, now: i64) -> Result<(), DbError> {
    let Some((id, summary)) = &g.ticket else { return Ok(()) };
    let action = OtaAction::parse(&e.cmd.action).unwrap_or(OtaAction::Activate);
    tx.exec(
        "INSERT INTO support_tickets(id, service_id, vin, command_id, action, summary, last_error, vehicle_status, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'open', ?) ON CONFLICT(id) DO NOTHING",
        vec![
            text(id),
            text(&e.s.id),
            text(&e.s.vin),
            text(&e.cmd.command_id),
            text(action.as_str()),
            text(summary),
            text(e.error),
            text(&g.vehicle_status),
            int(now),
        ],
    )
    .await?;
    Ok(())
}

/// The plan's lifecycle event (idempotently) and its timeline row.
async fn record_gave_up(tx: &Db, e: &Escalation<'_>, g: &GiveUp, now: i64) -> Result<(), DbError> {
    let Some(cur) = svc::load_service(tx, &e.s.id).await? else { return Ok(()) };
    let Some(from) = cur.state() else { return Ok(()) };
    let Ok((to, true)) = from.apply_idempotent(e.plan.event) else { return Ok(()) };
    let (s, name) = (e.s, &e.name);
    tx.exec(
        "UPDATE services SET state = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = ?",
        vec![text(to.as_str()), text(e.error), int(now), text(&s.id), text(from.as_str())],
    )
    .await?;
    let (kind, detail) = match e.plan.event {
        ServiceEvent::ActivationGaveUp => (
            "service-activation-failed",
            format!(
                "{name} ({}) could not be activated on {} after {} attempts; support ticket {}; not charged",
                s.id,
                s.vin,
                e.c.attempts,
                g.ticket.as_ref().map(|t| t.0.as_str()).unwrap_or("-")
            ),
        ),
        _ => ("service-deactivation-escalated", format!("{name} ({}) deactivation on {} escalated to support; ended as {}", s.id, s.vin, to.as_str())),
    };
    svc::timeline(tx, cur.order_id.as_deref(), now, kind, detail).await
}

async fn notify_failed(tx: &Db, e: &Escalation<'_>, now: i64) -> Result<(), DbError> {
    let (s, name) = (e.s, &e.name);
    svc::send(tx, &s.customer_id, &s.vin, &format!("svc-failed:{}", s.id), &caas_domain::messages::ota_failed(name, &s.vin), now).await
}

/// Queue the deactivation of every service whose end is due (expiry of temporary services,
/// scheduled subscription cancellations). Returns how many were queued.
async fn queue_endings(db: &Db, now: i64) -> Result<u32, DbError> {
    let rows = db
        .query(
            "SELECT * FROM services WHERE (state = 'active' AND ends_at IS NOT NULL AND ends_at <= ?)
                OR (state = 'cancellation-scheduled' AND billing_ends_at IS NOT NULL AND billing_ends_at <= ?)
             ORDER BY id LIMIT ?",
            vec![int(now), int(now), int(ENDINGS_BATCH)],
        )
        .await?;
    let mut queued = 0;
    for r in rows {
        let s = ServiceRow::from_row(&r);
        let Some(from) = s.state() else { continue };
        let event = if lifecycle::expiry_due(from, s.ends_at, now) {
            ServiceEvent::Expire
        } else if lifecycle::cancellation_due(from, s.billing_ends_at, now) {
            ServiceEvent::CancellationEffective
        } else {
            continue;
        };
        let Ok(to) = from.transition(event) else { continue };
        let cmd = deactivation(&s);
        let moved = db
            .transaction(async |tx: &Db| -> Result<bool, DbError> {
                if !svc::set_state(tx, &s.id, from, to, now).await? {
                    return Ok(false);
                }
                tx.exec("UPDATE services SET command_id = ? WHERE id = ?", vec![text(&cmd.command_id), text(&s.id)]).await?;
                queue::enqueue(tx, &Job::Ota(cmd.clone()), &cmd.command_id, now).await?;
                let why = match to {
                    ServiceState::Deactivating(Ending::Expired) => "expired",
                    _ => "cancellation took effect",
                };
                svc::timeline(tx, s.order_id.as_deref(), now, "service-ending", format!("{} ({}) {why}; deactivation queued as {}", s.option_code, s.id, cmd.command_id))
                    .await?;
                Ok(true)
            })
            .await?;
        if moved {
            queued += 1;
        }
    }
    Ok(queued)
}
