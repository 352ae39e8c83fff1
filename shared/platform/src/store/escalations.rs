//! Escalations store: jobs the retry queue gave up on, for the admins' list.
use crate::db::{Db, DbError};
use crate::paging::{self, Page};
use caas_domain::expediente::PageRequest;
use serde::Serialize;

/// OpenAPI `Escalation` (fields in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct Escalation {
    pub created_at: i64,
    pub detail: String,
    pub id: String,
    pub job_id: String,
    pub kind: String,
    pub note: Option<String>,
    /// Open and about money (a return the retry queue gave up on, a payment that did not match):
    /// an administrator can refund it by hand through the gateway
    /// (`POST /api/admin/escalations/{id}/refund`).
    pub refundable: bool,
    /// Its job can run again (a retry-queue job that gave up, not an OTA command: admins do not
    /// trigger activations).
    pub requeueable: bool,
    pub resolution: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
}

const SELECT: &str = "SELECT e.rowid AS k, e.id, e.job_id, e.kind, e.detail, e.created_at, e.resolution, e.resolved_by, e.resolved_at, e.note,
        (j.status = 'escalated' AND j.kind <> 'ota') AS requeueable
   FROM escalations e LEFT JOIN jobs j ON j.id = e.job_id";

fn escalation(r: &crate::db::Row) -> Escalation {
    Escalation {
        created_at: r.i64("created_at"),
        detail: r.str("detail"),
        id: r.str("id"),
        job_id: r.str("job_id"),
        kind: r.str("kind"),
        note: r.opt_str("note"),
        refundable: r.opt_str("resolution").is_none() && MONEY_KINDS.contains(&r.str("kind").as_str()),
        requeueable: r.opt_str("resolution").is_none() && r.opt_i64("requeueable") == Some(1),
        resolution: r.opt_str("resolution"),
        resolved_at: r.opt_i64("resolved_at"),
        resolved_by: r.opt_str("resolved_by"),
    }
}

/// Escalation kinds about money an administrator can refund by hand: a return-payment job that
/// gave up (its payload names the payment), and payments that did not fit what we hold (the
/// escalation's `job_id` is the gateway payment id).
pub const MONEY_KINDS: &[&str] = &["return-payment", "payment-mismatch", "payment-without-effect", "payment-failed-after-settlement"];

/// Optional filters of the admins' list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub kind: Option<String>,
    /// `Some(true)`: open only; `Some(false)`: resolved only.
    pub open: Option<bool>,
    /// Created strictly before this instant (unix ms).
    pub created_before: Option<i64>,
}

/// Escalations, oldest first (keyset on the row id), optionally filtered.
pub async fn page(db: &Db, page: PageRequest) -> Result<Page<Escalation>, DbError> {
    filtered(db, &Filter::default(), page).await
}

pub async fn filtered(db: &Db, f: &Filter, page: PageRequest) -> Result<Page<Escalation>, DbError> {
    use crate::db::{Value, int, text};
    let open = match f.open {
        None => Value::Null,
        Some(true) => int(1),
        Some(false) => int(0),
    };
    let sql = format!(
        "{SELECT} WHERE (? IS NULL OR e.kind = ?)
           AND (? IS NULL OR (CASE WHEN e.resolution IS NULL THEN 1 ELSE 0 END) = ?)
           AND (? IS NULL OR e.created_at < ?)
           AND e.rowid > ? ORDER BY e.rowid LIMIT ?"
    );
    let kind = || f.kind.as_deref().map(text).unwrap_or(Value::Null);
    let before = || f.created_before.map(int).unwrap_or(Value::Null);
    paging::keyset(db, &sql, vec![kind(), kind(), open.clone(), open, before(), before()], page, escalation).await
}

pub async fn by_id(db: &Db, id: &str) -> Result<Option<Escalation>, DbError> {
    Ok(db.query_one(&format!("{SELECT} WHERE e.id = ?"), vec![crate::db::text(id)]).await?.as_ref().map(escalation))
}

/// Marks an open escalation resolved; false when it was resolved already (nothing changed).
pub async fn resolve(tx: &Db, id: &str, resolution: &str, by: &str, note: Option<&str>, now: i64) -> Result<bool, DbError> {
    use crate::db::{int, opt_text, text};
    Ok(tx
        .exec(
            "UPDATE escalations SET resolution = ?, resolved_by = ?, resolved_at = ?, note = ? WHERE id = ? AND resolution IS NULL",
            vec![text(resolution), text(by), int(now), opt_text(note), text(id)],
        )
        .await?
        > 0)
}

/// Puts an escalated job back in the queue as new (full retries), due now.
pub async fn requeue_job(tx: &Db, job_id: &str, now: i64) -> Result<bool, DbError> {
    use crate::db::{int, text};
    Ok(tx
        .exec(
            "UPDATE jobs SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ? WHERE id = ? AND status = 'escalated' AND kind <> 'ota'",
            vec![int(now), int(now), text(job_id)],
        )
        .await?
        > 0)
}
