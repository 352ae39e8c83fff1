//! Set-password links: no password is ever generated for, e-mailed to or stored for a person.
//! A new account (sale) and a password reset get a single-use, expiring token; only its SHA-256
//! is stored (`password_tokens`), the e-mail carries `<app_url>/set-password?token=<token>`, and the
//! job's copy of the e-mail is redacted once sent (`routing::redact`).
use crate::FieldError;

/// A new account's link (the credentials e-mail) lives 7 days.
pub const WELCOME_TTL_MS: i64 = 7 * 24 * 3600 * 1000;
/// A password-reset link lives 1 hour.
pub const RESET_TTL_MS: i64 = 3600 * 1000;
/// Random bytes of a set-password token (256 bits).
pub const TOKEN_RANDOM_BYTES: usize = 32;

/// Stored on an account that has no password yet (not an Argon2 PHC string: never verifies).
pub const NO_PASSWORD: &str = "!no-password-set";

/// Why a set-password token is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The credentials e-mail of a new account.
    Welcome,
    /// A password reset the account holder asked for.
    Reset,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Welcome => "welcome",
            Purpose::Reset => "reset",
        }
    }
    pub fn ttl_ms(self) -> i64 {
        match self {
            Purpose::Welcome => WELCOME_TTL_MS,
            Purpose::Reset => RESET_TTL_MS,
        }
    }
}

/// Opaque token: lowercase hex of 32 random bytes.
pub fn make_token(random: &[u8; TOKEN_RANDOM_BYTES]) -> String {
    crate::auth::make_token(random)
}

/// What is stored for a token (SHA-256, hex).
pub fn token_hash(token: &str) -> String {
    crate::idempotency::sha256_hex(token.as_bytes())
}

/// Plausible token shape (64 lowercase hex characters); anything else is unknown without a lookup.
pub fn is_token_shaped(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The link the e-mail carries.
pub fn set_password_link(app_url: &str, token: &str) -> String {
    format!("{}/set-password?token={token}", app_url.trim().trim_end_matches('/'))
}

/// A stored token's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Unknown,
    Used,
    Expired,
    Valid,
}

/// `row` = (expires_at, used_at) of the token's hash, if stored.
pub fn token_state(row: Option<(i64, Option<i64>)>, now: i64) -> TokenState {
    match row {
        None => TokenState::Unknown,
        Some((_, Some(_))) => TokenState::Used,
        Some((exp, None)) if now >= exp => TokenState::Expired,
        Some(_) => TokenState::Valid,
    }
}

/// Validate `POST /api/auth/set-password` `{token, new_password}` (shape and policy; the token
/// itself is looked up by the caller). `email` is the account's (policy: not inside the password).
pub fn validate_new_password(new: Option<&str>, email: &str) -> Result<String, Vec<FieldError>> {
    match new {
        None | Some("") => Err(vec![FieldError::new("/new_password", "is required")]),
        Some(p) => crate::password::check_policy(p, email).map(|_| p.to_string()).map_err(|m| vec![FieldError::new("/new_password", m)]),
    }
}

/// Password-reset requests per e-mail address in [`RESET_WINDOW_MS`] (known or not: the answer
/// must not tell whether the address has an account).
pub const RESET_PER_EMAIL: usize = 3;
/// Password-reset requests per client address in [`RESET_WINDOW_MS`].
pub const RESET_PER_CLIENT: usize = 10;
pub const RESET_WINDOW_MS: i64 = 3600 * 1000;
pub const SCOPE_RESET_EMAIL: &str = "email";
pub const SCOPE_RESET_CLIENT: &str = "client";

/// Seconds to wait when the e-mail or the client is over its reset limit, else None.
/// `*_requests` are the request times inside the window (any order).
pub fn reset_throttle(email_requests: &[i64], client_requests: &[i64], now: i64) -> Option<u64> {
    let e = over_limit(email_requests, RESET_PER_EMAIL, now);
    let c = over_limit(client_requests, RESET_PER_CLIENT, now);
    e.max(c)
}

/// Seconds until fewer than `limit` of `times` are inside the window, if `limit` are now.
fn over_limit(times: &[i64], limit: usize, now: i64) -> Option<u64> {
    let mut recent: Vec<i64> = times.iter().copied().filter(|t| *t > now - RESET_WINDOW_MS && *t <= now).collect();
    if recent.len() < limit {
        return None;
    }
    recent.sort_unstable();
    let leaves_at = recent[recent.len() - limit] + RESET_WINDOW_MS;
    Some((((leaves_at - now).max(1) + 999) / 1000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_links_and_states() {
        let t = make_token(&[0x5a; 32]);
        assert!(is_token_shaped(&t));
        assert!(!is_token_shaped("abc") && !is_token_shaped(&t.to_uppercase()));
        assert_eq!(token_hash(&t).len(), 64);
        assert_ne!(token_hash(&t), t);
        assert_eq!(set_password_link("http://127.0.0.1:3000/", &t), format!("http://127.0.0.1:3000/set-password?token={t}"));
        assert_eq!(token_state(None, 5), TokenState::Unknown);
        assert_eq!(token_state(Some((10, Some(3))), 5), TokenState::Used);
        assert_eq!(token_state(Some((10, None)), 10), TokenState::Expired);
        assert_eq!(token_state(Some((10, None)), 9), TokenState::Valid);
        assert_eq!(Purpose::Welcome.ttl_ms(), 7 * 86_400_000);
        assert_eq!(Purpose::Reset.ttl_ms(), 3_600_000);
        assert!(!crate::password::is_argon2_phc(NO_PASSWORD));
        assert!(!crate::password::verify_password("", NO_PASSWORD));
    }

    #[test]
    fn new_password_policy() {
        assert!(validate_new_password(Some("a-much-better-pass-42"), "lucia@example.com").is_ok());
        assert_eq!(validate_new_password(None, "x@y.z").unwrap_err()[0].pointer, "/new_password");
        assert!(validate_new_password(Some("short"), "x@y.z").is_err());
        assert!(validate_new_password(Some("lucia-secret-123456"), "lucia@example.com").is_err());
    }

    #[test]
    fn reset_requests_are_throttled_per_email_and_client() {
        let now = 10 * RESET_WINDOW_MS;
        assert_eq!(reset_throttle(&[now - 10, now - 20], &[], now), None);
        let s = reset_throttle(&[now - 10, now - 20, now - 30], &[], now).unwrap();
        assert!(s > 3500 && s <= 3600, "{s}");
        let c: Vec<i64> = (0..10).map(|i| now - 1000 * i).collect();
        assert!(reset_throttle(&[], &c, now).is_some());
        assert!(reset_throttle(&[], &c[..9], now).is_none());
    }
}
