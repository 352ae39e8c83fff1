//! Authentication: bearer sessions and the tick secret.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role};
use spin_sdk::http::Request;

/// `Authorization: Bearer <token>` → token.
pub fn bearer(req: &Request) -> Option<String> {
    let h = crate::req::header(req, "authorization")?;
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && token.len() <= 512).then(|| token.to_string())
}

/// The caller's principal from a live session, or None.
pub async fn authenticate(req: &Request) -> Result<Option<Principal>, Problem> {
    let Some(token) = bearer(req) else { return Ok(None) };
    Ok(crate::kv::get_session(&token, crate::clock::now_ms())
        .await?
        .map(|s| Principal { subject_id: s.subject, role: s.role }))
}

/// 401 without a valid session; 403 when the role is not allowed.
pub async fn require(req: &Request, allowed: &[Role]) -> Result<Principal, Problem> {
    match authenticate(req).await? {
        None => Err(Problem::unauthorized("a valid bearer token is required")),
        Some(p) if allowed.contains(&p.role) => Ok(p),
        Some(p) => Err(Problem::forbidden(format!("role {} may not use this endpoint", p.role.as_str()))),
    }
}

/// Constant-time byte comparison (length leak only).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Tick routes: `Authorization: Bearer <tick_secret>` (constant-time compare) or 401.
pub async fn require_tick(req: &Request) -> Result<(), Problem> {
    let secret = crate::vars::required("tick_secret").await?;
    match bearer(req) {
        Some(t) if ct_eq(t.as_bytes(), secret.as_bytes()) => Ok(()),
        _ => Err(Problem::unauthorized("tick secret required")),
    }
}
