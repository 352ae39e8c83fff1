//! Key-value store ("default"): sessions stored under SHA-256 of the opaque token.
use caas_domain::Problem;
use caas_domain::auth::{Role, SessionData, TOKEN_RANDOM_BYTES, make_token};
use caas_domain::idempotency::sha256_hex;
use spin_sdk::key_value::Store;

fn session_key(token: &str) -> String {
    format!("session:{}", sha256_hex(token.as_bytes()))
}

/// The store's own error goes to the log, never into the response body.
fn unavailable(e: impl std::fmt::Debug) -> Problem {
    eprintln!("session store error: {e:?}");
    Problem::unavailable("the session store is temporarily unavailable; retry shortly")
}

async fn store() -> Result<Store, Problem> {
    Store::open_default().await.map_err(unavailable)
}

/// Create a session; returns (token, data). The raw token is never stored.
pub async fn create_session(subject: &str, role: Role, expires_at: i64) -> Result<(String, SessionData), Problem> {
    create_session_with(subject, role, expires_at, false).await
}

/// Create a session that may be restricted to the password change (`must_change_password`).
pub async fn create_session_with(subject: &str, role: Role, expires_at: i64, must_change_password: bool) -> Result<(String, SessionData), Problem> {
    let token = make_token(&crate::rand::bytes::<TOKEN_RANDOM_BYTES>());
    let data = SessionData { subject: subject.to_string(), role, expires_at, must_change_password };
    put_session(&token, &data).await?;
    index_session(subject, &session_key(&token), expires_at, crate::clock::now_ms()).await?;
    Ok((token, data))
}

fn index_key(subject: &str) -> String {
    format!("sessions-of:{subject}")
}

/// Remember the session under its subject (pruning expired entries), so that all of a subject's
/// sessions can be revoked (password change). Best effort under concurrent logins of the same
/// subject: the key-value store has no compare-and-set.
async fn index_session(subject: &str, key: &str, expires_at: i64, now: i64) -> Result<(), Problem> {
    let s = store().await?;
    let mut list: Vec<(String, i64)> = match s.get(&index_key(subject)).await.map_err(unavailable)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Vec::new(),
    };
    list.retain(|(_, exp)| *exp > now);
    list.push((key.to_string(), expires_at));
    // Bounded: the oldest sessions fall off the index (they still expire on their own).
    if list.len() > 100 {
        list.drain(..list.len() - 100);
    }
    let json = serde_json::to_vec(&list).map_err(unavailable)?;
    s.set(index_key(subject), json).await.map_err(unavailable)
}

/// Revoke every indexed session of `subject` except the one of `keep_token`.
pub async fn revoke_other_sessions(subject: &str, keep_token: &str) -> Result<u32, Problem> {
    let s = store().await?;
    let keep = session_key(keep_token);
    let list: Vec<(String, i64)> = match s.get(&index_key(subject)).await.map_err(unavailable)? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Vec::new(),
    };
    let mut revoked = 0;
    let mut kept = Vec::new();
    for (key, exp) in list {
        if key == keep {
            kept.push((key, exp));
        } else {
            s.delete(&key).await.map_err(unavailable)?;
            revoked += 1;
        }
    }
    let json = serde_json::to_vec(&kept).map_err(unavailable)?;
    s.set(index_key(subject), json).await.map_err(unavailable)?;
    Ok(revoked)
}

/// Overwrite the data of an existing session (e.g. lift the password-change restriction).
pub async fn put_session(token: &str, data: &SessionData) -> Result<(), Problem> {
    let json = serde_json::to_vec(data).map_err(unavailable)?;
    store().await?.set(session_key(token), json).await.map_err(unavailable)
}

/// The live session of `token`, if any (expired sessions are deleted and ignored).
pub async fn get_session(token: &str, now_ms: i64) -> Result<Option<SessionData>, Problem> {
    let s = store().await?;
    let key = session_key(token);
    let Some(bytes) = s.get(&key).await.map_err(unavailable)? else { return Ok(None) };
    match serde_json::from_slice::<SessionData>(&bytes) {
        Ok(d) if d.is_valid_at(now_ms) => Ok(Some(d)),
        _ => {
            let _ = s.delete(&key).await;
            Ok(None)
        }
    }
}

/// Revoke (delete) a session.
pub async fn revoke_session(token: &str) -> Result<(), Problem> {
    store().await?.delete(session_key(token)).await.map_err(unavailable)
}
