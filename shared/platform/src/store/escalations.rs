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
}

/// Escalations, oldest first.
pub async fn page(db: &Db, page: PageRequest) -> Result<Page<Escalation>, DbError> {
    paging::keyset(
        db,
        "SELECT rowid AS k, id, job_id, kind, detail, created_at FROM escalations WHERE rowid > ? ORDER BY rowid LIMIT ?",
        vec![],
        page,
        |r| Escalation { created_at: r.i64("created_at"), detail: r.str("detail"), id: r.str("id"), job_id: r.str("job_id"), kind: r.str("kind") },
    )
    .await
}
