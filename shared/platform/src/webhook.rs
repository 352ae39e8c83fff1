//! Incoming signed webhooks: raw body + signature check against the WASI clock, and the
//! event-id dedupe table (`webhook_events`), written in the same transaction as the effect.
use crate::db::{Db, DbError, int, text};
use caas_domain::Problem;
use caas_domain::webhook::{self, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use spin_sdk::http::Request;

/// Read the raw body and verify its signature with the secret in variable `secret_var`.
/// 401 (nothing written) on a missing/bad/stale signature; 413 on an oversized body.
pub async fn verified_body(req: Request, secret_var: &str) -> Result<Vec<u8>, Problem> {
    let secret = crate::vars::required(secret_var).await?;
    let ts = crate::req::header(&req, TIMESTAMP_HEADER).map(str::to_string);
    let sig = crate::req::header(&req, SIGNATURE_HEADER).map(str::to_string);
    let body = crate::req::body_bytes(req, crate::req::MAX_BODY).await?;
    let now_secs = crate::clock::now_ms().div_euclid(1000);
    webhook::verify(&secret, ts.as_deref(), sig.as_deref(), &body, now_secs, DEFAULT_TOLERANCE_SECS).map_err(|e| e.to_problem())?;
    Ok(body)
}

/// Claim `(source, event_id)` inside the caller's transaction. False = already processed (replay).
pub async fn claim_event(tx: &Db, source: &str, event_id: &str, subject: &str, payload: &str, now: i64) -> Result<bool, DbError> {
    let changed = tx
        .exec(
            "INSERT INTO webhook_events(source, event_id, received_at, subject, outcome, payload) VALUES (?, ?, ?, ?, 'processing', ?)
             ON CONFLICT(source, event_id) DO NOTHING",
            vec![text(source), text(event_id), int(now), text(subject), text(payload)],
        )
        .await?;
    Ok(changed == 1)
}

/// Record what the event did (same transaction as the claim).
pub async fn set_outcome(tx: &Db, source: &str, event_id: &str, outcome: &str) -> Result<(), DbError> {
    tx.exec(
        "UPDATE webhook_events SET outcome = ? WHERE source = ? AND event_id = ?",
        vec![text(outcome.chars().take(500).collect::<String>()), text(source), text(event_id)],
    )
    .await?;
    Ok(())
}

/// The recorded outcome of an already processed event.
pub async fn outcome_of(db: &Db, source: &str, event_id: &str) -> Result<Option<String>, DbError> {
    Ok(db
        .query_one("SELECT outcome FROM webhook_events WHERE source = ? AND event_id = ?", vec![text(source), text(event_id)])
        .await?
        .map(|r| r.str("outcome")))
}
