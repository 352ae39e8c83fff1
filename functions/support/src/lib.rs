//! `/api/support/...` — the technical support queue (issue 8): OTA commands that gave up
//! (`support_tickets`, opened by `ota-dispatch`), worked by the `support` role; admins read.
//!
//! * `GET  /api/support/tickets[?status=open|assigned|closed&cursor=&limit=]` — oldest first, each
//!   with its service, customer, attempts, last error and the vehicle's live status from the IoT
//!   API (`GET {iot_url}/vehicles/{vin}/status`, 3 s timeout; unreachable → `vehicle_status: null`
//!   and a `vehicle_status_note`, never a 5xx).
//! * `GET  /api/support/tickets/{id}` — one ticket with its notes.
//! * `POST /api/support/tickets/{id}/assign` — to the caller.
//! * `POST /api/support/tickets/{id}/notes {text}`.
//! * `POST /api/support/tickets/{id}/retry` — a NEW activation command (next command generation)
//!   queued to the OTA engine, service back to `pending-activation`, ticket closed `retried`.
//!   Only while no up-front payment was returned (`caas_domain::support::can_retry`).
//! * `POST /api/support/tickets/{id}/close {note}` — closed as failed, customer told, nothing
//!   charged.
//!
//! Every action writes its audit row (`store::audit`) in its own transaction; refused actions
//! (409) write nothing.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use caas_domain::routing::NotificationKind;
use caas_domain::services::lifecycle::{ServiceEvent, ServiceState};
use caas_domain::services::ota::{self, OtaAction};
use caas_domain::support::{self, Refusal, RetryFacts, TicketStatus};
use caas_domain::wit::{Job, OtaCommand};
use caas_platform::db::{Db, DbError, int, text};
use caas_platform::http_out;
use caas_platform::store::support::{self as tickets, Ticket};
use caas_platform::store::{audit, services as service_store};
use caas_platform::{Resp, auth, clock, queue, req, resp, services as svc, vars};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;
use std::time::Duration;

/// Who may read the queue (admins see everything read-only).
const READERS: &[Role] = &[Role::Support, Role::Admin];
/// Who may act on tickets (admins cannot trigger OTA activations: spec).
const AGENTS: &[Role] = &[Role::Support];
const IOT_TIMEOUT: Duration = Duration::from_secs(3);

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let route = req::Route::of(&req);
    match (route.method(), route.segments().as_slice()) {
        ("GET", ["api", "support", "tickets"]) => list(req).await,
        (_, ["api", "support", "tickets"]) => Err(route.not_allowed(&["GET"])),
        ("GET", ["api", "support", "tickets", id]) => one(req, id).await,
        (_, ["api", "support", "tickets", _]) => Err(route.not_allowed(&["GET"])),
        ("POST", ["api", "support", "tickets", id, action @ ("assign" | "notes" | "retry" | "close")]) => act(req, id, action).await,
        (_, ["api", "support", "tickets", _, "assign" | "notes" | "retry" | "close"]) => {
            Err(route.not_allowed(&["POST"]))
        }
        _ => Err(route.not_found()),
    }
}

fn conflict(r: Refusal) -> Problem {
    Problem::conflict(r.slug, r.detail)
}

fn no_ticket(id: &str) -> Problem {
    Problem::not_found(format!("no support ticket {}", id.chars().take(120).collect::<String>()))
}

fn plausible_id(id: &str) -> bool {
    id.starts_with("tkt_") && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

async fn load(db: &Db, id: &str) -> Result<Ticket, Problem> {
    if !plausible_id(id) {
        return Err(no_ticket(id));
    }
    tickets::get(db, id).await?.ok_or_else(|| no_ticket(id))
}

// ------------------------------------------------------------------------------------ reads

async fn list(req: Request) -> Result<Resp, Problem> {
    auth::require(&req, READERS).await?;
    let page = req::page(&req)?;
    let status = match req::query(&req, "status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(TicketStatus::parse(&s).ok_or_else(|| {
            Problem::validation(vec![caas_domain::FieldError::new("/status", "must be one of open, assigned, closed")])
        })?),
    };
    let db = Db::open_for_request().await?;
    let p = tickets::page(&db, status, page).await?;
    let iot_url = vars::base_url("iot_url").await?;
    let lives = caas_platform::join_all(p.items.iter().map(|t| live_status(&iot_url, &t.vin))).await;
    let items: Vec<Value> = p.items.iter().zip(lives).map(|(t, live)| with_live(t.view(), live)).collect();
    Ok(resp::json(200, &json!({"items": items, "next_cursor": p.next_cursor})))
}

async fn one(req: Request, id: &str) -> Result<Resp, Problem> {
    auth::require(&req, READERS).await?;
    let db = Db::open_for_request().await?;
    let t = load(&db, id).await?;
    let iot_url = vars::base_url("iot_url").await?;
    Ok(resp::json(200, &detail(&db, &t, live_status(&iot_url, &t.vin).await).await?))
}

async fn detail(db: &Db, t: &Ticket, live: (Value, Option<String>)) -> Result<Value, DbError> {
    let mut v = with_live(t.view(), live);
    v["notes"] = serde_json::to_value(tickets::notes(db, &t.id).await?).unwrap_or(Value::Null);
    Ok(v)
}

fn with_live(mut v: Value, (status, note): (Value, Option<String>)) -> Value {
    v["vehicle_status"] = status;
    v["vehicle_status_note"] = json!(note);
    v
}

/// The vehicle's live status from the IoT API: (status JSON, None) or (null, why not).
async fn live_status(iot_url: &str, vin: &str) -> (Value, Option<String>) {
    let url = format!("{iot_url}/vehicles/{vin}/status");
    match http_out::get_json(&url, &[], IOT_TIMEOUT).await {
        Ok(r) if r.is_success() => match serde_json::from_str::<Value>(&r.body) {
            Ok(v) if v.is_object() => (v, None),
            _ => (Value::Null, Some("the IoT API answered with an unreadable status".to_string())),
        },
        Ok(r) => (Value::Null, Some(format!("the IoT API answered {}", r.status))),
        Err(e) => (Value::Null, Some(format!("the IoT API could not be reached: {}", e.chars().take(200).collect::<String>()))),
    }
}

// ------------------------------------------------------------------------------------ actions

async fn act(req: Request, id: &str, action: &str) -> Result<Resp, Problem> {
    let me = auth::require(&req, AGENTS).await?;
    let body = match action {
        "notes" | "close" => Some(req::json_body(req).await?),
        _ => None,
    };
    let db = Db::open_for_request().await?;
    let t = load(&db, id).await?;
    let now = clock::now_ms();
    match action {
        "assign" => assign(&db, &me, &t, now).await?,
        "notes" => note(&db, &me, &t, body.as_ref(), now).await?,
        "retry" => retry(&db, &me, &t, now).await?,
        _ => close(&db, &me, &t, body.as_ref(), now).await?,
    }
    let t = load(&db, id).await?;
    let iot_url = vars::base_url("iot_url").await?;
    let status = if action == "retry" { 202 } else { 200 };
    Ok(resp::json(status, &detail(&db, &t, live_status(&iot_url, &t.vin).await).await?))
}

fn lost_race() -> Problem {
    Problem::conflict("ticket-changed", "the ticket changed while this action ran; reload it and try again")
}

async fn assign(db: &Db, me: &Principal, t: &Ticket, now: i64) -> Result<(), Problem> {
    support::can_assign(t.status).map_err(conflict)?;
    let before = t.audit_state();
    db.transaction(async |tx: &Db| -> Result<(), Problem> {
        if !tickets::assign(tx, &t.id, t.status, &me.subject_id, now).await? {
            return Err(lost_race());
        }
        let after = json!({"status": "assigned", "assigned_to": me.subject_id, "resolution": t.resolution, "service_state": before["service_state"]});
        audit::append(tx, me, "support.ticket.assign", &t.id, &before, &after, now).await?;
        Ok(())
    })
    .await
}

fn body_str<'a>(body: Option<&'a Value>, field: &str) -> Result<Option<&'a str>, Problem> {
    let Some(b) = body else { return Ok(None) };
    if !b.is_object() {
        return Err(Problem::validation(vec![caas_domain::FieldError::new("", "must be a JSON object")]));
    }
    match b.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Problem::validation(vec![caas_domain::FieldError::new(format!("/{field}"), "must be a string")])),
    }
}

async fn note(db: &Db, me: &Principal, t: &Ticket, body: Option<&Value>, now: i64) -> Result<(), Problem> {
    let text_in = body_str(body, "text")?;
    let note = support::validate_note("/text", text_in, true).map_err(|e| Problem::validation(vec![e]))?.unwrap_or_default();
    db.transaction(async |tx: &Db| -> Result<(), Problem> {
        let nid = tickets::add_note(tx, &t.id, &me.subject_id, &note, now).await?;
        audit::append(tx, me, "support.ticket.note", &t.id, &Value::Null, &json!({"note_id": nid, "text": note}), now).await?;
        Ok(())
    })
    .await
}

/// A new activation command for the ticket's service (next generation), queued to the OTA engine.
async fn retry(db: &Db, me: &Principal, t: &Ticket, now: i64) -> Result<(), Problem> {
    let s = service_store::load_service(db, &t.service_id).await?;
    let other_open = match &s {
        Some(s) => svc::existing_states(db, &s.vin, &s.option_code).await?.iter().any(|st| st.is_live() || st.is_pending()),
        None => false,
    };
    let facts = RetryFacts {
        status: t.status,
        action: &t.action,
        service_state: s.as_ref().and_then(|s| s.state()),
        has_payment: s.as_ref().is_some_and(|s| s.payment_id.is_some()),
        other_open_instance: other_open,
    };
    support::can_retry(&facts).map_err(conflict)?;
    let s = s.ok_or_else(|| no_ticket(&t.id))?;
    let from = ServiceState::Failed;
    let to = from.transition(ServiceEvent::SupportRetry).map_err(|e| Problem::conflict("service-not-failed", e.to_string()))?;
    let generation = s.command_generation.saturating_add(1);
    let cmd = OtaCommand {
        command_id: ota::command_id(&s.id, OtaAction::Activate, generation),
        service_id: s.id.clone(),
        vin: s.vin.clone(),
        feature: s.feature.clone(),
        action: OtaAction::Activate.as_str().to_string(),
    };
    let before = t.audit_state();
    db.transaction(async |tx: &Db| -> Result<(), Problem> {
        let moved = tx
            .exec(
                "UPDATE services SET state = ?, command_generation = ?, command_id = ?, last_error = NULL, updated_at = ?
                  WHERE id = ? AND state = ? AND command_generation = ?",
                vec![
                    text(to.as_str()),
                    int(generation as i64),
                    text(&cmd.command_id),
                    int(now),
                    text(&s.id),
                    text(from.as_str()),
                    int(s.command_generation as i64),
                ],
            )
            .await?;
        if moved != 1 || !tickets::close(tx, &t.id, t.status, "retried", None, Some(&cmd.command_id), &me.subject_id, now).await? {
            return Err(lost_race());
        }
        if queue::enqueue(tx, &Job::Ota(cmd.clone()), &cmd.command_id, now).await?.is_none() {
            return Err(lost_race());
        }
        let detail = format!("{} ({}) activation retried by technical support on {}; ticket {}; command {}", t.option_name, s.id, s.vin, t.id, cmd.command_id);
        svc::timeline(tx, s.order_id.as_deref(), now, "service-activation-retried", detail).await?;
        let after = json!({
            "status": "closed", "assigned_to": t.assigned_to, "resolution": "retried",
            "service_state": to.as_str(), "retry_command_id": cmd.command_id,
        });
        audit::append(tx, me, "support.ticket.retry", &t.id, &before, &after, now).await?;
        Ok(())
    })
    .await
}

/// Closed as failed: the customer is told, nothing is charged (the give-up already returned
/// any up-front payment; a subscription never active is never billed).
async fn close(db: &Db, me: &Principal, t: &Ticket, body: Option<&Value>, now: i64) -> Result<(), Problem> {
    let note = support::validate_note("/note", body_str(body, "note")?, true).map_err(|e| Problem::validation(vec![e]))?.unwrap_or_default();
    support::can_close(t.status, t.service_state).map_err(conflict)?;
    let before = t.audit_state();
    db.transaction(async |tx: &Db| -> Result<(), Problem> {
        if !tickets::close(tx, &t.id, t.status, "failed", Some(&note), None, &me.subject_id, now).await? {
            return Err(lost_race());
        }
        let detail = format!("{} ({}) could not be activated on {}; support ticket {} closed as failed; not charged", t.option_name, t.service_id, t.vin, t.id);
        svc::timeline(tx, t.order_id.as_deref(), now, "service-support-closed", detail).await?;
        if !t.customer_id.is_empty() {
            let subject = format!("{} could not be activated", t.option_name);
            let body = format!(
                "Our technical support team could not activate {} on your vehicle {}. We have closed the case; you have not been charged for it. You may buy the option again at any time.",
                t.option_name, t.vin
            );
            svc::notify(tx, &t.customer_id, &t.vin, &format!("ticket-closed:{}", t.id), NotificationKind::OtaFailure, &subject, &body, now).await?;
        }
        let after = json!({"status": "closed", "assigned_to": t.assigned_to, "resolution": "failed", "service_state": before["service_state"], "note": note});
        audit::append(tx, me, "support.ticket.close", &t.id, &before, &after, now).await?;
        Ok(())
    })
    .await
}
