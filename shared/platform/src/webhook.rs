//! Incoming signed webhooks: raw body + signature check against the WASI clock, and the
//! event-id dedupe table (`webhook_events`), written in the same transaction as the effect.
use crate::db::{Db, DbError, int, text};
use caas_domain::Problem;
use caas_domain::webhook::{self, DEFAULT_TOLERANCE_SECS, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use spin_sdk::http::Request;

/// A signed webhook request, read but not yet verified.
pub struct SignedRequest {
    /// The value of the secret variable.
    pub secret: String,
    /// The raw `x-caas-timestamp` / `x-caas-signature` header values.
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// Now, from the WASI clock (unix seconds).
    pub now_secs: i64,
}

/// Read what a signature check needs: the secret in variable `secret_var`, the signature headers,
/// the raw body (413 when oversized) and the clock.
pub async fn signed_request(req: Request, secret_var: &str) -> Result<SignedRequest, Problem> {
    let secret = crate::vars::required(secret_var).await?;
    let timestamp = crate::req::header(&req, TIMESTAMP_HEADER).map(str::to_string);
    let signature = crate::req::header(&req, SIGNATURE_HEADER).map(str::to_string);
    let body = crate::req::body_bytes(req, crate::req::MAX_BODY).await?;
    Ok(SignedRequest { secret, timestamp, signature, body, now_secs: crate::clock::now_ms().div_euclid(1000) })
}

/// Read the raw body and verify its signature with the secret in variable `secret_var`, linking
/// the check statically. 401 (nothing written) on a missing/bad/stale signature; 413 on an
/// oversized body. The webhook components use the composed verifier instead
/// (`caas_webhook_signature::verified_body`).
pub async fn verified_body(req: Request, secret_var: &str) -> Result<Vec<u8>, Problem> {
    let s = signed_request(req, secret_var).await?;
    webhook::verify(&s.secret, s.timestamp.as_deref(), s.signature.as_deref(), &s.body, s.now_secs, DEFAULT_TOLERANCE_SECS)
        .map_err(|e| e.to_problem())?;
    Ok(s.body)
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
