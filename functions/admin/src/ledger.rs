//! `GET /api/admin/ledger[?reference=&cursor=&limit=]` (admins only): every money movement,
//! or those of one reference — a payment id, a service id (with its subscription periods), or an
//! order id (every movement carrying that order: its vehicle payments and the services of its car),
//! oldest first (keyset paging on the row id), with the state of the service it pays for
//! (`service_state`, for service references `svc_…` and subscription periods `svc_…/YYYY-MM`),
//! so that the ledger invariants (`caas_domain::services::ledger::check_invariants`: no charge
//! without delivery, no double charge, refunds never exceed charges) can be checked from outside.
use caas_domain::Problem;
use caas_domain::expediente::paginate;
use caas_platform::db::{Db, int, text};
use caas_platform::{Resp, req, resp};
use serde_json::{Value, json};
use spin_sdk::http::Request;

pub async fn list(req: &Request) -> Result<Resp, Problem> {
    let page = req::page(req)?;
    let reference = req::query(req, "reference").filter(|s| !s.is_empty() && s.len() <= 200);
    let db = Db::open_for_request().await?;
    let rows = db
        .query(
            "SELECT l.rowid AS k, l.kind, l.idempotency_key, l.reference, l.amount_minor, l.currency, l.order_id, l.created_at,
                    s.state AS service_state
             FROM ledger l
             LEFT JOIN services s ON s.id = CASE WHEN instr(COALESCE(l.reference, ''), '/') > 0
                                                 THEN substr(l.reference, 1, instr(l.reference, '/') - 1)
                                                 ELSE l.reference END
             WHERE l.rowid > ? AND (? IS NULL OR l.reference = ? OR l.reference LIKE ? || '/%' OR l.order_id = ?)
             ORDER BY l.rowid LIMIT ?",
            vec![
                int(page.after),
                reference.clone().map(text).unwrap_or(caas_platform::db::Value::Null),
                reference.clone().map(text).unwrap_or(caas_platform::db::Value::Null),
                reference.clone().map(text).unwrap_or(caas_platform::db::Value::Null),
                reference.clone().map(text).unwrap_or(caas_platform::db::Value::Null),
                int(page.limit as i64 + 1),
            ],
        )
        .await?;
    let rows: Vec<(i64, Value)> = rows
        .iter()
        .map(|r| {
            (
                r.i64("k"),
                json!({
                    "kind": r.str("kind"),
                    "idempotency_key": r.str("idempotency_key"),
                    "reference": r.opt_str("reference"),
                    "amount_minor": r.i64("amount_minor"),
                    "currency": r.str("currency"),
                    "order_id": r.opt_str("order_id"),
                    "service_state": r.opt_str("service_state"),
                    "created_at": r.i64("created_at"),
                }),
            )
        })
        .collect();
    let (items, next) = paginate(rows, page.limit);
    Ok(resp::json(200, &json!({"items": items, "next_cursor": next})))
}
