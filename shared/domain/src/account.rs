//! Account rules: login throttling and the (forced) password change.
//!
//! Throttling (issue 3 "Repeated failed logins are throttled"): failed logins are counted per
//! account (the e-mail tried) and per client (its IP address) over a sliding window. When a key
//! has reached its limit inside the window, further attempts are refused with 429 until enough
//! of those failures have left the window; the refusal happens before the password is checked,
//! so a correct password does not help an attacker either. A successful login clears the
//! account's failures (not the client's: a client cannot launder its count by logging in to an
//! account it owns). Times are unix ms from the business clock.
use crate::FieldError;

/// Failures per account inside the window before attempts are refused.
pub const ACCOUNT_MAX_FAILURES: usize = 5;
/// Failures per client address inside the window before attempts are refused
/// (higher: several people can share an address).
pub const CLIENT_MAX_FAILURES: usize = 20;
/// Sliding window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Scopes stored in `login_failures.scope`.
pub const SCOPE_ACCOUNT: &str = "account";
pub const SCOPE_CLIENT: &str = "client";

/// When attempts for one key are refused: `Some(retry_after_seconds)`, else `None`.
/// `failures` are the failure times of that key (any order); only those inside
/// `(now - window, now]` count.
pub fn blocked_for(failures: &[i64], limit: usize, window_ms: i64, now: i64) -> Option<u64> {
    if limit == 0 {
        return Some(1);
    }
    let mut recent: Vec<i64> = failures.iter().copied().filter(|t| *t > now - window_ms && *t <= now).collect();
    if recent.len() < limit {
        return None;
    }
    recent.sort_unstable();
    // Allowed again once fewer than `limit` remain: when failure #(n - limit) (0-based) leaves.
    let leaves_at = recent[recent.len() - limit] + window_ms;
    let ms = (leaves_at - now).max(1);
    Some(((ms + 999) / 1000) as u64)
}

/// The login decision over both keys: the longest wait wins.
pub fn login_throttle(account_failures: &[i64], client_failures: &[i64], now: i64) -> Option<u64> {
    let a = blocked_for(account_failures, ACCOUNT_MAX_FAILURES, WINDOW_MS, now);
    let c = blocked_for(client_failures, CLIENT_MAX_FAILURES, WINDOW_MS, now);
    a.max(c)
}

/// Client key from the runtime's `spin-client-addr` (`ip:port`, `[v6]:port`): the address only.
pub fn client_key(client_addr: Option<&str>) -> String {
    let a = client_addr.unwrap_or("").trim();
    if a.is_empty() {
        return "unknown".into();
    }
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    match a.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => ip.to_string(),
        _ => a.to_string(),
    }
    .chars()
    .take(64)
    .collect()
}

/// Validate `POST /api/auth/password` `{current_password, new_password}` fields (the current
/// password itself is verified by the caller against the stored hash).
pub fn validate_password_change(current: Option<&str>, new: Option<&str>, email: &str) -> Result<(String, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    let current = current.unwrap_or("");
    let new = new.unwrap_or("");
    if current.is_empty() {
        errors.push(FieldError::new("/current_password", "is required"));
    } else if current.len() > 1024 {
        errors.push(FieldError::new("/current_password", "is too long"));
    }
    if new.is_empty() {
        errors.push(FieldError::new("/new_password", "is required"));
    } else if let Err(m) = crate::password::check_policy(new, email) {
        errors.push(FieldError::new("/new_password", m));
    } else if new == current {
        errors.push(FieldError::new("/new_password", "must differ from the current password"));
    }
    if errors.is_empty() { Ok((current.to_string(), new.to_string())) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn five_failures_block_until_the_oldest_relevant_leaves() {
        let now = 1_000 * MIN;
        let f: Vec<i64> = (0..4).map(|i| now - (10 - i) * MIN).collect();
        assert_eq!(blocked_for(&f, 5, WINDOW_MS, now), None);
        let mut f5 = f.clone();
        f5.push(now);
        // Oldest at now-10min leaves at now+5min.
        assert_eq!(blocked_for(&f5, 5, WINDOW_MS, now), Some(300));
        assert_eq!(blocked_for(&f5, 5, WINDOW_MS, now + 5 * MIN - 1), Some(1));
        assert_eq!(blocked_for(&f5, 5, WINDOW_MS, now + 5 * MIN), None);
        // Old failures do not count; future ones (clock skew) neither.
        assert_eq!(blocked_for(&[now - 20 * MIN; 9], 5, WINDOW_MS, now), None);
        assert_eq!(blocked_for(&[now + MIN; 9], 5, WINDOW_MS, now), None);
        // Seven failures: allowed again when the third-oldest leaves.
        let f7: Vec<i64> = (0..7).map(|i| now - (14 - i) * MIN).collect();
        assert_eq!(blocked_for(&f7, 5, WINDOW_MS, now), Some(180));
        assert_eq!(blocked_for(&[], 0, WINDOW_MS, now), Some(1));
    }

    #[test]
    fn both_keys_longest_wait_wins() {
        let now = 100 * MIN;
        let acct = vec![now - MIN; 5];
        assert_eq!(login_throttle(&acct, &[], now), Some(14 * 60));
        let client = vec![now - 2 * MIN; 20];
        assert_eq!(login_throttle(&[], &client, now), Some(13 * 60));
        assert_eq!(login_throttle(&acct, &client, now), Some(14 * 60));
        assert_eq!(login_throttle(&acct[..4], &client[..19], now), None);
    }

    #[test]
    fn client_keys() {
        assert_eq!(client_key(Some("127.0.0.1:5555")), "127.0.0.1");
        assert_eq!(client_key(Some("[::1]:80")), "::1");
        assert_eq!(client_key(Some("::1")), "::1");
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some("10.0.0.2")), "10.0.0.2");
    }

    #[test]
    fn password_change_rules() {
        let ok = validate_password_change(Some("Abcd-efgh-2345-jkmn"), Some("a-much-better-pass-42"), "lucia@example.com");
        assert_eq!(ok.unwrap().1, "a-much-better-pass-42");
        let e = validate_password_change(None, Some("short"), "lucia@example.com").unwrap_err();
        assert_eq!(e.len(), 2);
        let e = validate_password_change(Some("same-password-123"), Some("same-password-123"), "x@y.z").unwrap_err();
        assert_eq!(e[0].pointer, "/new_password");
        let e = validate_password_change(Some("x"), Some("lucia-secret-123456"), "lucia@example.com").unwrap_err();
        assert!(e[0].message.contains("e-mail"));
    }
}
