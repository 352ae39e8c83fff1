//! Idempotency-Key handling, once: the required header, the stored-response lookup (replay /
//! mismatch / fresh, rules in `caas_domain::idempotency`) and recording the response in the
//! same transaction as the work it answers. Table `idempotency(scope, key, request_hash, …)`.
use crate::Resp;
use crate::db::{Db, DbError, int, text};
use crate::{req, resp};
use caas_domain::Problem;
use caas_domain::idempotency::{self, Replay};
use spin_sdk::http::Request;

/// The required `Idempotency-Key` header (400 when missing or malformed).
pub fn require_key(req: &Request) -> Result<String, Problem> {
    match req::header(req, "idempotency-key") {
        None | Some("") => Err(Problem::bad_request("the Idempotency-Key header is required")),
        Some(k) if !idempotency::is_valid_key(k) => Err(Problem::bad_request("the Idempotency-Key header must be 1-200 visible ASCII characters")),
        Some(k) => Ok(k.to_string()),
    }
}

/// 422: the key was used before with another body.
pub fn key_reused() -> Problem {
    Problem::unprocessable("idempotency-key-reused", "this Idempotency-Key was already used with a different request body")
}

/// One idempotent request: who (`scope`, e.g. `sales:<employee>`), its key and its body's hash.
#[derive(Debug, Clone)]
pub struct Idempotent {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
}

impl Idempotent {
    pub fn new(scope: impl Into<String>, key: impl Into<String>, body: &serde_json::Value) -> Idempotent {
        Idempotent { scope: scope.into(), key: key.into(), request_hash: idempotency::request_hash(body) }
    }

    /// What is stored for this (scope, key), decided against this request's hash.
    pub async fn lookup(&self, db: &Db) -> Result<Replay, DbError> {
        let row = db
            .query_one(
                "SELECT request_hash, status_code, response_body FROM idempotency WHERE scope = ? AND key = ?",
                vec![text(&self.scope), text(&self.key)],
            )
            .await?;
        let stored = row.map(|r| (r.str("request_hash"), r.i64("status_code").clamp(100, 599) as u16, r.str("response_body")));
        Ok(idempotency::decide(stored, &self.request_hash))
    }

    /// The stored answer, if any: `Some(Ok(replayed response))`, `Some(Err(422))`, or `None` (fresh).
    pub async fn stored_answer(&self, db: &Db) -> Result<Option<Result<Resp, Problem>>, DbError> {
        Ok(answer(self.lookup(db).await?))
    }

    /// Record the response (inside the transaction that did the work).
    pub async fn record(&self, tx: &Db, status: u16, body: &str, now: i64) -> Result<(), DbError> {
        tx.exec(
            "INSERT INTO idempotency(scope, key, request_hash, status_code, response_body, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            vec![text(&self.scope), text(&self.key), text(&self.request_hash), int(status as i64), text(body), int(now)],
        )
        .await?;
        Ok(())
    }
}

/// A lookup's decision as a response: a replay, a 422, or `None` to go on.
pub fn answer(r: Replay) -> Option<Result<Resp, Problem>> {
    match r {
        Replay::Fresh => None,
        Replay::Replay { status, body } => Some(Ok(resp::json_raw(status, body))),
        Replay::Mismatch => Some(Err(key_reused())),
    }
}
