//! The one retry queue (`jobs` table). Payloads are WIT `Job`s (`caas_domain::wit::Job`).
//!
//! Claiming is a conditional UPDATE that moves `next_attempt_at` forward by a lease and counts
//! the attempt; only the caller whose UPDATE changed the row owns the job, so concurrent or
//! repeated ticks never run a job twice at once. A crashed worker's job is due again when
//! its lease expires.
use crate::db::{Db, DbError, int, opt_text, text};
use caas_domain::ids::IdKind;
use caas_domain::retry::{RetryDecision, RetryPolicy};
use caas_domain::wit::Job;

/// How long a claimed job is invisible to other ticks.
pub const LEASE_MS: i64 = 120_000;

/// Queue a job (inside the caller's transaction). A duplicate `dedupe_key` is ignored:
/// returns the new job id, or None if a job with that key already exists.
pub async fn enqueue(tx: &Db, job: &Job, dedupe_key: &str, now: i64) -> Result<Option<String>, DbError> {
    let id = crate::rand::id(IdKind::Job);
    let changed = tx
        .exec(
            "INSERT INTO jobs(id, kind, payload, status, attempts, next_attempt_at, last_error, created_at, updated_at, dedupe_key)
             VALUES (?, ?, ?, 'pending', 0, ?, NULL, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
            vec![text(&id), text(job.kind()), text(job.to_payload()), int(now), int(now), int(now), text(dedupe_key)],
        )
        .await?;
    Ok((changed == 1).then_some(id))
}

#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub kind: String,
    /// The decoded payload (Err if it cannot be decoded).
    pub job: Result<Job, String>,
    /// Attempts including this one.
    pub attempts: u32,
}

/// Claim up to `limit` due pending jobs of the given kinds. Jobs of other kinds are left
/// untouched (still pending) for the tick that will handle them.
pub async fn claim_due(db: &Db, now: i64, limit: u32, kinds: &[&str]) -> Result<Vec<Claimed>, DbError> {
    if kinds.is_empty() {
        return Ok(vec![]);
    }
    let marks = vec!["?"; kinds.len()].join(",");
    let mut params = vec![int(now)];
    params.extend(kinds.iter().map(|k| text(*k)));
    params.push(int(limit as i64));
    let due = db
        .query(
            &format!(
                "SELECT id FROM jobs WHERE status = 'pending' AND next_attempt_at <= ? AND kind IN ({marks})
                 ORDER BY next_attempt_at, created_at LIMIT ?"
            ),
            params,
        )
        .await?;
    let mut out = Vec::new();
    for row in due {
        let id = row.str("id");
        let changed = db
            .exec(
                "UPDATE jobs SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
                 WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?",
                vec![int(now.saturating_add(LEASE_MS)), int(now), text(&id), int(now)],
            )
            .await?;
        if changed != 1 {
            continue; // someone else claimed it
        }
        if let Some(r) = db.query_one("SELECT kind, payload, attempts FROM jobs WHERE id = ?", vec![text(&id)]).await? {
            out.push(Claimed {
                id,
                kind: r.str("kind"),
                job: Job::from_payload(&r.str("payload")),
                attempts: r.i64("attempts").clamp(0, u32::MAX as i64) as u32,
            });
        }
    }
    Ok(out)
}

/// Mark done; optionally replace the stored payload (e.g. redacted secrets).
pub async fn complete(db: &Db, id: &str, new_payload: Option<&Job>, now: i64) -> Result<(), DbError> {
    db.exec(
        "UPDATE jobs SET status = 'done', payload = COALESCE(?, payload), last_error = NULL, updated_at = ? WHERE id = ?",
        vec![opt_text(new_payload.map(Job::to_payload)), int(now), text(id)],
    )
    .await?;
    Ok(())
}

/// Record a failed attempt: reschedule with backoff + jitter, or escalate (escalations row +
/// status 'escalated') once `policy.max_attempts` is reached. `redacted` replaces the payload
/// on escalation (secrets must not stay at rest). `force_escalate` skips retries (permanent errors).
pub async fn fail(
    db: &Db,
    claimed: &Claimed,
    error: &str,
    now: i64,
    policy: &RetryPolicy,
    redacted: Option<&Job>,
    force_escalate: bool,
) -> Result<RetryDecision, DbError> {
    let error: String = error.chars().take(2000).collect();
    let decision = if force_escalate {
        RetryDecision::Escalate
    } else {
        policy.on_failure(claimed.attempts, now, crate::rand::jitter())
    };
    match decision {
        RetryDecision::Retry { next_attempt_at, .. } => {
            db.exec(
                "UPDATE jobs SET status = 'pending', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
                vec![int(next_attempt_at), text(&error), int(now), text(&claimed.id)],
            )
            .await?;
        }
        RetryDecision::Escalate => {
            let esc_id = crate::rand::id(IdKind::Escalation);
            db.transaction(async |tx: &Db| -> Result<(), DbError> {
                let changed = tx
                    .exec(
                        "UPDATE jobs SET status = 'escalated', last_error = ?, payload = COALESCE(?, payload), updated_at = ?
                         WHERE id = ? AND status = 'pending'",
                        vec![text(&error), opt_text(redacted.map(Job::to_payload)), int(now), text(&claimed.id)],
                    )
                    .await?;
                if changed == 1 {
                    tx.exec(
                        "INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES (?, ?, ?, ?, ?)",
                        vec![
                            text(&esc_id),
                            text(&claimed.id),
                            text(&claimed.kind),
                            text(format!("gave up after {} attempt(s): {error}", claimed.attempts)),
                            int(now),
                        ],
                    )
                    .await?;
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(decision)
}

/// Reschedule a claimed job to `at` (a schedule decided by the caller, e.g. the OTA engine's
/// deterministic backoff), recording the error. Attempts are not reset.
pub async fn reschedule(db: &Db, id: &str, at: i64, error: &str, now: i64) -> Result<(), DbError> {
    let error: String = error.chars().take(2000).collect();
    db.exec(
        "UPDATE jobs SET status = 'pending', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
        vec![int(at), text(&error), int(now), text(id)],
    )
    .await?;
    Ok(())
}

/// Mark a claimed job escalated (inside the caller's transaction) with an `escalations` row,
/// when the caller has already carried out its own give-up procedure.
pub async fn mark_escalated(tx: &Db, claimed: &Claimed, error: &str, now: i64) -> Result<(), DbError> {
    let error: String = error.chars().take(2000).collect();
    let changed = tx
        .exec(
            "UPDATE jobs SET status = 'escalated', last_error = ?, updated_at = ? WHERE id = ? AND status = 'pending'",
            vec![text(&error), int(now), text(&claimed.id)],
        )
        .await?;
    if changed == 1 {
        tx.exec(
            "INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES (?, ?, ?, ?, ?)",
            vec![
                text(crate::rand::id(IdKind::Escalation)),
                text(&claimed.id),
                text(&claimed.kind),
                text(format!("gave up after {} attempt(s): {error}", claimed.attempts)),
                int(now),
            ],
        )
        .await?;
    }
    Ok(())
}
