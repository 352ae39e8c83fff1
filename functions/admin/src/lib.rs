//! `/api/admin/...` (admins only: read-all + configuration; admins cannot trigger OTA):
//! escalations of the retry queue and a read-all, paged list of orders.
use caas_domain::Problem;
use caas_domain::auth::Role;
use caas_domain::expediente::paginate;
use caas_domain::order::OrderStatus;
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, auth, req, resp};
use serde_json::{Value, json};
use spin_sdk::http::{IntoResponse, Request};
use spin_sdk::http_service;

mod ledger;

const ADMIN: &[Role] = &[Role::Admin];

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    caas_platform::guard(route(req)).await
}

async fn route(req: Request) -> Result<Resp, Problem> {
    let path = req::path(&req);
    let method = req.method().as_str().to_string();
    let known = matches!(path.as_str(), "/api/admin/escalations" | "/api/admin/orders" | "/api/admin/ledger");
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
        _ => orders(&req).await,
    }
}

/// Escalated jobs, oldest first (keyset paging on the row id).
async fn escalations(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let db = Db::open_for_request().await?;
    let rows = db
        .query(
            "SELECT rowid AS k, id, job_id, kind, detail, created_at FROM escalations WHERE rowid > ? ORDER BY rowid LIMIT ?",
            vec![int(page.after), int(page.limit as i64 + 1)],
        )
        .await?;
    let rows: Vec<(i64, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.i64("k"),
                json!({
                    "id": r.str("id"),
                    "job_id": r.str("job_id"),
                    "kind": r.str("kind"),
                    "detail": r.str("detail"),
                    "created_at": r.i64("created_at"),
                }),
            )
        })
        .collect();
    let (items, next) = paginate(rows, page.limit);
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next})))
}

/// Every order (optionally `?status=`), oldest first.
async fn orders(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let status = req::query(req, "status").filter(|s| !s.is_empty());
    if let Some(s) = &status
        && OrderStatus::parse(s).is_none()
    {
        return Err(Problem::validation(vec![caas_domain::FieldError::new("/status", format!("unknown order status {s}"))]));
    }
    let db = Db::open_for_request().await?;
    let (filter, mut params) = match &status {
        Some(s) => ("AND o.status = ?", vec![int(page.after), text(s)]),
        None => ("", vec![int(page.after)]),
    };
    params.push(int(page.limit as i64 + 1));
    let rows = db
        .query(
            &format!(
                "SELECT o.rowid AS k, o.id, o.customer_id, c.email, o.status, o.model, o.country, o.vin, o.plate,
                        o.created_at, o.updated_at
                 FROM orders o JOIN customers c ON c.id = o.customer_id
                 WHERE o.rowid > ? {filter} ORDER BY o.rowid LIMIT ?"
            ),
            params,
        )
        .await?;
    let rows: Vec<(i64, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.i64("k"),
                json!({
                    "order_id": r.str("id"),
                    "customer_id": r.str("customer_id"),
                    "customer_email": r.str("email"),
                    "status": r.str("status"),
                    "model": r.str("model"),
                    "country": r.str("country"),
                    "vin": r.opt_str("vin"),
                    "plate": r.opt_str("plate"),
                    "created_at": r.i64("created_at"),
                    "updated_at": r.i64("updated_at"),
                }),
            )
        })
        .collect();
    let (items, next) = paginate(rows, page.limit);
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next})))
}
