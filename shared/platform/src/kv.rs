//! Key-value store ("default"): sessions stored under SHA-256 of the opaque token, and one
//! session generation per account (`session-generation:<subject>`) that revokes them all at once.
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
    let generation = session_generation(subject).await?;
    create_session_at(subject, role, expires_at, must_change_password, generation).await
}

/// Create a session at a generation read earlier with [`session_generation`] (read it *before*
/// checking the password: a password change that lands in between then kills this session too).
pub async fn create_session_at(
    subject: &str,
    role: Role,
    expires_at: i64,
    must_change_password: bool,
    generation: u64,
) -> Result<(String, SessionData), Problem> {
    let token = make_token(&crate::rand::bytes::<TOKEN_RANDOM_BYTES>());
    let data = SessionData { subject: subject.to_string(), role, expires_at, must_change_password, generation };
    put_session(&token, &data).await?;
    Ok((token, data))
}

fn generation_key(subject: &str) -> String {
    format!("session-generation:{subject}")
}

/// The subject's current session generation (0 until a revocation). Sessions created at a lower
/// generation are dead: one key per account revokes any number of sessions (no index, no cap).
pub async fn session_generation(subject: &str) -> Result<u64, Problem> {
    generation_in(&store().await?, subject).await
}

/// [`session_generation`] read through an open store.
async fn generation_in(s: &Store, subject: &str) -> Result<u64, Problem> {
    Ok(match s.get(&generation_key(subject)).await.map_err(unavailable)? {
        Some(b) => std::str::from_utf8(&b).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0),
        None => 0,
    })
}

/// End every session of `subject` (password change, set-password, reset, account disable):
/// bumps the subject's generation. Returns the new generation. Concurrent revocations may bump
/// once instead of twice; either way every session created before is dead.
pub async fn revoke_all_sessions(subject: &str) -> Result<u64, Problem> {
    let s = store().await?;
    let next = generation_in(&s, subject).await? + 1;
    s.set(generation_key(subject), next.to_string().into_bytes()).await.map_err(unavailable)?;
    Ok(next)
}

/// End every session of `subject` except the one of `keep_token`, which moves to the new
/// generation (it stays usable; its data is rewritten).
pub async fn revoke_other_sessions(subject: &str, keep_token: &str) -> Result<(), Problem> {
    let keep = get_session_data(keep_token).await?;
    let generation = revoke_all_sessions(subject).await?;
    if let Some(mut data) = keep.filter(|d| d.subject == subject) {
        data.generation = generation;
        put_session(keep_token, &data).await?;
    }
    Ok(())
}

async fn get_session_data(token: &str) -> Result<Option<SessionData>, Problem> {
    let Some(bytes) = store().await?.get(&session_key(token)).await.map_err(unavailable)? else { return Ok(None) };
    Ok(serde_json::from_slice(&bytes).ok())
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
        Ok(d) if d.is_valid_at(now_ms) && d.generation >= generation_in(&s, &d.subject).await? => Ok(Some(d)),
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
