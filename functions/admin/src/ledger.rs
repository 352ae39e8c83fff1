//! `GET /api/admin/ledger[?reference=&customer=&cursor=&limit=]` (admins only): every money
//! movement, or those of one customer (`customer=<id or e-mail>`: their orders, payments and
//! services; unknown customer → 404) and/or of one reference — a payment id, a service id (with its subscription periods), or an
//! order id (every movement carrying that order: its vehicle payments and the services of its car),
//! oldest first (keyset paging on the row id), with the state of the service it pays for
//! (`service_state`, for service references `svc_…` and subscription periods `svc_…/YYYY-MM`),
//! so that the ledger invariants (`caas_domain::services::ledger::check_invariants`: no charge
//! without delivery, no double charge, refunds never exceed charges) can be checked from outside.
use caas_domain::Problem;
use caas_domain::expediente::paginate;
use caas_platform::db::{Db, text};
use caas_platform::store::ledger::{self, LedgerRow};
use caas_platform::{Resp, req, resp};
use serde_json::{Value, json};
use spin_sdk::http::Request;

pub async fn list(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let reference = req::query(req, "reference").filter(|s| !s.is_empty() && s.len() <= 200);
    let customer = req::query(req, "customer").map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    if customer.as_ref().is_some_and(|c| c.len() > 200) {
        return Err(Problem::validation(vec![caas_domain::FieldError::new("/customer", "must be a customer id or e-mail, at most 200 characters")]));
    }
    let db = Db::open_for_request().await?;
    let customer = match customer {
        None => None,
        Some(c) => {
            let found = db
                .query_one("SELECT id, email, full_name FROM customers WHERE id = ? OR email = ? LIMIT 1", vec![text(&c), text(c.to_ascii_lowercase())])
                .await?;
            let Some(found) = found else {
                return Err(Problem::not_found(format!("no customer {}", c.chars().take(80).collect::<String>())));
            };
            Some((found.str("id"), found.str("email"), found.str("full_name")))
        }
    };
    let cid = customer.as_ref().map(|c| c.0.as_str());
    let rows = ledger::page_filtered(&db, reference.as_deref(), cid, page.after, page.limit as i64 + 1).await?;
    let rows: Vec<(i64, Value)> = rows.iter().map(|r| (r.position, row_json(r))).collect();
    let (items, next) = paginate(rows, page.limit);
    let totals = ledger::totals(&db, reference.as_deref(), cid).await?;
    let customer = customer.map(|(id, email, name)| json!({"id": id, "email": email, "name": name}));
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next, "totals": totals, "customer": customer})))
}

fn row_json(r: &LedgerRow) -> Value {
    json!({
        "kind": r.kind_text,
        "idempotency_key": r.key,
        "reference": r.reference,
        "amount_minor": r.amount.amount_minor,
        "currency": r.amount.currency,
        "order_id": r.order_id,
        "service_state": r.service_state,
        "created_at": r.created_at,
    })
}
