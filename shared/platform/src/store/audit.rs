//! Audit log of staff actions (issue 8): who (actor id and role), what (action, target), when,
//! and the target's state before/after as JSON. Written by `append` inside the transaction of
//! the action itself, so an action is never recorded without happening and never happens
//! unrecorded; admins read it with `GET /api/admin/audit`.
use crate::db::{Db, DbError, Value as DbValue, int, text};
use crate::paging::{self, Page};
use caas_domain::auth::Principal;
use caas_domain::expediente::PageRequest;
use serde::Serialize;
use serde_json::Value;

/// OpenAPI `AuditEntry` (fields in alphabetical order).
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub action: String,
    pub actor_id: String,
    pub actor_role: String,
    pub after: Value,
    pub at: i64,
    pub before: Value,
    pub id: i64,
    pub target: String,
}

/// Record one staff action (call inside the action's transaction).
pub async fn append(tx: &Db, who: &Principal, action: &str, target: &str, before: &Value, after: &Value, now: i64) -> Result<(), DbError> {
    let enc = |v: &Value| if v.is_null() { DbValue::Null } else { text(v.to_string()) };
    tx.exec(
        "INSERT INTO audit_log(actor_id, actor_role, action, target, before_json, after_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        vec![text(&who.subject_id), text(who.role.as_str()), text(action), text(target), enc(before), enc(after), int(now)],
    )
    .await?;
    Ok(())
}

/// The audit log, oldest first, optionally of one target (keyset paging on the row id).
pub async fn page(db: &Db, target: Option<&str>, page: PageRequest) -> Result<Page<AuditEntry>, DbError> {
    let dec = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
    let (sql, params) = match target {
        Some(t) => (
            "SELECT id AS k, * FROM audit_log WHERE target = ? AND id > ? ORDER BY id LIMIT ?",
            vec![text(t)],
        ),
        None => ("SELECT id AS k, * FROM audit_log WHERE id > ? ORDER BY id LIMIT ?", vec![]),
    };
    paging::keyset(db, sql, params, page, |r| AuditEntry {
        action: r.str("action"),
        actor_id: r.str("actor_id"),
        actor_role: r.str("actor_role"),
        after: dec(r.opt_str("after_json")),
        at: r.i64("created_at"),
        before: dec(r.opt_str("before_json")),
        id: r.i64("id"),
        target: r.str("target"),
    })
    .await
}
