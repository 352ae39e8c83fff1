//! `/api/admin/...` (admins only: read-all + configuration; admins cannot trigger OTA):
//! escalations of the retry queue, a read-all, paged list of orders, the ledger and the audit log
//! of staff actions (`GET /api/admin/audit[?target=&cursor=&limit=]`, oldest first), and the staff
//! accounts (`staff` module: invite, change role, disable — each audited, sessions ended at once),
//! and the money back office (`backoffice`: escalation filters, refund by hand through the
//! gateway, collections work list).
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::order::OrderStatus;
use caas_platform::db::Db;
use caas_platform::{Resp, auth, req, resp, store};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

mod backoffice;
mod ledger;
mod staff;

const ADMIN: &[Role] = &[Role::Admin];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

/// The admin's read-all lists (GET only).
const LISTS: &[&str] = &["escalations", "collections", "orders", "ledger", "audit", "reconciliation", "dashboard", "breakers"];

async fn route(req: Request) -> Result<Resp, Problem> {
    let route = req::Route::of(&req);
    match (route.method(), route.segments().as_slice()) {
        (method, ["api", "admin", "staff", ..]) => staff::route(req, &route.path, method).await,
        ("POST", ["api", "admin", "escalations", id, action @ ("requeue" | "handled")]) => resolve_escalation(req, id, action).await,
        ("POST", ["api", "admin", "escalations", id, "refund"]) => backoffice::refund(req, id).await,
        (_, ["api", "admin", "escalations", _, "requeue" | "handled" | "refund"]) => Err(route.not_allowed(&["POST"])),
        ("POST", ["api", "admin", "collections", id, "close"]) => backoffice::close_collection(req, id).await,
        (_, ["api", "admin", "collections", _, "close"]) => Err(route.not_allowed(&["POST"])),
        ("GET", ["api", "admin", list]) if LISTS.contains(list) => {
            auth::require(&req, ADMIN).await?;
            read_all(&req, list).await
        }
        (_, ["api", "admin", list]) if LISTS.contains(list) => Err(route.not_allowed(&["GET"])),
        _ => Err(route.not_found()),
    }
}

/// One of [`LISTS`] (the caller is an admin).
async fn read_all(req: &Request, list: &str) -> Result<Resp, Problem> {
    match list {
        "escalations" => escalations(req).await,
        "ledger" => ledger::list(req).await,
        "collections" => backoffice::collections(req).await,
        "audit" => audit(req).await,
        "reconciliation" => reconciliation().await,
        "breakers" => Ok(resp::json(200, &breakers().await)),
        "dashboard" => {
            let db = Db::open_for_request().await?;
            Ok(resp::json(200, &store::dashboard::dashboard(&db, caas_platform::clock::now_ms()).await?))
        }
        _ => orders(req).await,
    }
}

/// The circuit breakers of the external systems (`caas_domain::breaker`), as every replica sees
/// them: position now, consecutive failures, when it opened and until when calls are skipped, the
/// last error, and what the app does meanwhile.
async fn breakers() -> serde_json::Value {
    let now = caas_platform::clock::now_ms();
    let items: Vec<serde_json::Value> = caas_platform::breaker::all()
        .await
        .into_iter()
        .map(|(dep, s)| {
            let position = s.position(now);
            serde_json::json!({
                "system": dep.name(),
                "label": dep.label(),
                "state": position.name(),
                "consecutive_failures": s.consecutive_failures,
                "times_opened": s.times_opened,
                "opened_at": s.opened_at,
                "open_until": s.open_until,
                "last_failure_at": s.last_failure_at,
                "last_error": s.last_error,
                "last_success_at": s.last_success_at,
                "while_open": dep.fallback(),
            })
        })
        .collect();
    let policy = caas_platform::breaker::policy().await;
    serde_json::json!({
        "breakers": items,
        "policy": {"failures_to_open": policy.failure_threshold, "cooldown_seconds": policy.cooldown_ms / 1000},
    })
}

/// Escalated jobs, oldest first (keyset paging on the row id), optionally filtered
/// (`backoffice::escalation_filter`).
async fn escalations(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let filter = backoffice::escalation_filter(req)?;
    let db = Db::open_for_request().await?;
    Ok(resp::json(200, &store::escalations::filtered(&db, &filter, page).await?))
}

/// Works an escalation: `requeue` (its retry-queue job runs again from the first try; not OTA
/// commands — support retries those) or `handled` (with a note: dealt with outside the system).
/// One transaction with its audit row; an escalation resolved already is a 409.
async fn resolve_escalation(req: Request, id: &str, action: &str) -> Result<Resp, Problem> {
    use caas_platform::{clock, db::DbError};
    use serde_json::{Value, json};
    let me = auth::require(&req, ADMIN).await?;
    let body = if action == "handled" { req::json_body(req).await? } else { Value::Null };
    let note = body.get("note").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    if action == "handled" && note.as_deref().is_none_or(|n| n.len() > 2000) {
        return Err(Problem::validation(vec![caas_domain::problem::FieldError::new("/note", "is required (what was done), at most 2000 characters")]));
    }
    let db = Db::open_for_request().await?;
    let e = store::escalations::by_id(&db, id).await?.ok_or_else(|| Problem::not_found(format!("no escalation {}", id.chars().take(60).collect::<String>())))?;
    if e.resolution.is_some() {
        return Err(Problem::new(409, "escalation-resolved", "Already resolved", format!("escalation {} was resolved ({})", e.id, e.resolution.unwrap_or_default())));
    }
    if action == "requeue" && !e.requeueable {
        return Err(Problem::new(409, "not-requeueable", "Cannot run again", "this escalation has no retry-queue job that can run again (OTA commands are retried by support)"));
    }
    let now = clock::now_ms();
    let resolution = if action == "requeue" { "requeued" } else { "handled" };
    let done = db
        .transaction(async |tx: &Db| -> Result<bool, DbError> {
            if action == "requeue" && !store::escalations::requeue_job(tx, &e.job_id, now).await? {
                return Ok(false);
            }
            if !store::escalations::resolve(tx, &e.id, resolution, &me.subject_id, note.as_deref(), now).await? {
                return Ok(false);
            }
            store::audit::append(tx, &me, &format!("admin.escalation.{resolution}"), &e.id, &json!({"resolution": null}), &json!({"resolution": resolution, "job_id": e.job_id, "note": note}), now).await?;
            Ok(true)
        })
        .await?;
    if !done {
        return Err(Problem::new(409, "escalation-changed", "Changed meanwhile", "the escalation or its job changed meanwhile; reload"));
    }
    Ok(resp::json(200, &store::escalations::by_id(&db, id).await?))
}

/// The ledger against the payment gateway's own records (`GET {payment_url}/payments`): every
/// reference where they disagree. Gateway unreachable → 503 (nothing to compare).
async fn reconciliation() -> Result<Resp, Problem> {
    use caas_domain::reconciliation::{GatewayPayment, reconcile};
    let base = caas_platform::vars::base_url("payment_url").await?;
    let reply = caas_platform::http_out::get_json(&format!("{base}/payments"), &[], std::time::Duration::from_secs(5))
        .await
        .map_err(|e| Problem::unavailable(format!("payment gateway: {e}")))?;
    if reply.status != 200 {
        return Err(Problem::unavailable(format!("payment gateway answered {}", reply.status)));
    }
    let listed: Vec<GatewayPayment> = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v.get("payments").and_then(|p| p.as_array()).map(|a| a.iter().filter_map(GatewayPayment::from_json).collect()))
        .ok_or_else(|| Problem::unavailable("payment gateway: unreadable payment list"))?;
    let db = Db::open_for_request().await?;
    let ledger = store::ledger::net_by_reference(&db).await?;
    let parked = store::ledger::parked_payments(&db).await?;
    let r = reconcile(&listed, &ledger, &parked);
    Ok(resp::json(200, &serde_json::json!({"gateway_payments": listed.len(), "reconciliation": r})))
}

/// The audit log of staff actions (optionally of one `?target=`), oldest first.
async fn audit(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let target = req::query(req, "target").filter(|s| !s.is_empty() && s.len() <= 200);
    let db = Db::open_for_request().await?;
    Ok(resp::json(200, &store::audit::page(&db, target.as_deref(), page).await?))
}

/// Every order (optionally `?status=`), oldest first.
async fn orders(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let status = match req::query(req, "status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(OrderStatus::parse(&s).ok_or_else(|| {
            Problem::validation(vec![caas_domain::FieldError::new("/status", format!("unknown order status {s}"))])
        })?),
    };
    let db = Db::open_for_request().await?;
    Ok(resp::json(200, &store::orders::admin_page(&db, status, page).await?))
}
