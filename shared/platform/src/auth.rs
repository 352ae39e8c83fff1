//! Authentication: bearer sessions and the tick secret.
use caas_domain::Problem;
use caas_domain::auth::{Principal, Role, SessionData};
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
    Ok(session(req).await?.map(|(_, s)| Principal { subject_id: s.subject, role: s.role }))
}

/// The caller's live session (token, data), or None.
pub async fn session(req: &Request) -> Result<Option<(String, SessionData)>, Problem> {
    let Some(token) = bearer(req) else { return Ok(None) };
    Ok(crate::kv::get_session(&token, crate::clock::now_ms()).await?.map(|s| (token, s)))
}

/// 403 for a session still restricted to the forced password change.
pub fn password_change_required() -> Problem {
    Problem::new(
        403,
        "password-change-required",
        "Password change required",
        "you are still using the password you received by e-mail: change it with POST /api/auth/password first",
    )
}

/// 401 without a valid session; 403 when the role is not allowed, or while the session is
/// restricted to the forced password change (only `POST /api/auth/password` is open then).
pub async fn require(req: &Request, allowed: &[Role]) -> Result<Principal, Problem> {
    match session(req).await? {
        None => Err(Problem::unauthorized("a valid bearer token is required")),
        Some((_, s)) if s.must_change_password => Err(password_change_required()),
        Some((_, s)) if allowed.contains(&s.role) => Ok(Principal { subject_id: s.subject, role: s.role }),
        Some((_, s)) => Err(Problem::forbidden(format!("role {} may not use this endpoint", s.role.as_str()))),
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
/// The whole guard of a tick component: its one route (`route`; else 404), POST only (else 405),
/// and the tick secret.
pub async fn tick_request(req: &Request, route: &str) -> Result<(), Problem> {
    let path = crate::req::path(req);
    if path != route {
        return Err(Problem::not_found("no such tick"));
    }
    if req.method().as_str() != "POST" {
        return Err(crate::resp::method_not_allowed(req.method().as_str(), &path, &["POST"]));
    }
    require_tick(req).await
}

pub async fn require_tick(req: &Request) -> Result<(), Problem> {
    let secret = crate::vars::required("tick_secret").await?;
    match bearer(req) {
        Some(t) if ct_eq(t.as_bytes(), secret.as_bytes()) => Ok(()),
        _ => Err(Problem::unauthorized("tick secret required")),
    }
}
