//! `/api/admin/...` (admins only: read-all + configuration; admins cannot trigger OTA):
//! escalations of the retry queue, a read-all, paged list of orders, the ledger and the audit log
//! of staff actions (`GET /api/admin/audit[?target=&cursor=&limit=]`, oldest first), and the staff
//! accounts (`staff` module: invite, change role, disable — each audited, sessions ended at once).
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::order::OrderStatus;
use caas_platform::db::Db;
use caas_platform::{Resp, auth, req, resp, store};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

mod ledger;
mod staff;

const ADMIN: &[Role] = &[Role::Admin];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    if path == "/api/admin/staff" || path.starts_with("/api/admin/staff/") {
        return staff::route(req, &path, &method).await;
    }
    let known = matches!(path.as_str(), "/api/admin/escalations" | "/api/admin/orders" | "/api/admin/ledger" | "/api/admin/audit");
    if !known {
        return Err(Problem::not_found(format!("no route {path}")));
    }
    if method != "GET" {
        return Err(resp::method_not_allowed(&method, &path, &["GET"]));
    }
    auth::require(&req, ADMIN).await?;
    match path.as_str() {
        "/api/admin/escalations" => escalations(&req).await,
        "/api/admin/ledger" => ledger::list(&req).await,
        "/api/admin/audit" => audit(&req).await,
        _ => orders(&req).await,
    }
}

/// Escalated jobs, oldest first (keyset paging on the row id).
async fn escalations(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let db = Db::open_for_request().await?;
    Ok(resp::json(200, &store::escalations::page(&db, page).await?))
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
