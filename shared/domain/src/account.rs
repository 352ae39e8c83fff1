//! Account rules: login throttling and the (forced) password change.
//!
//! Throttling (issue 3, hardened by issue 9). Failed logins are counted per account (the e-mail
//! tried) and per client network over a sliding window; the decision is taken, and the attempt
//! counted, in one SQLite transaction *before* the password is checked (so parallel guesses
//! cannot slip past the limit), and a success takes its count back.
//! - Per account: growing delays, never a lockout. The first [`ACCOUNT_FREE_FAILURES`] failures
//!   inside the window cost nothing; after that each attempt must wait 1 s, 2 s, 4 s … (capped at
//!   [`ACCOUNT_MAX_DELAY_MS`]) after the account's last failure, whoever made it. Refused attempts
//!   are not counted, so an attacker cannot push the owner (or an admin) out for longer than the
//!   cap: a correct password once the delay has passed still works, and resets the account.
//! - Per client network ([`network_key`]: an IPv4 address, or an IPv6 /64): a hard limit of
//!   [`CLIENT_MAX_FAILURES`] inside the window, refused with 429 until failures leave it. The
//!   network comes from the last value of the header the platform trusts ([`client_ip`]).
//!
//! Times are unix ms from the business clock.
use crate::FieldError;

/// Failures per account inside the window before attempts are delayed.
pub const ACCOUNT_FREE_FAILURES: usize = 5;
/// Kept for callers of the first throttling rule: the same number.
pub const ACCOUNT_MAX_FAILURES: usize = ACCOUNT_FREE_FAILURES;
/// First delay once the free failures are used up; doubles with each further failure.
pub const ACCOUNT_FIRST_DELAY_MS: i64 = 1_000;
/// Longest delay between two attempts on one account (never a lockout).
pub const ACCOUNT_MAX_DELAY_MS: i64 = 60_000;
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

/// The wait an account needs after `n` failures inside the window (0 while `n` is below
/// [`ACCOUNT_FREE_FAILURES`]): 1 s, 2 s, 4 s … capped at [`ACCOUNT_MAX_DELAY_MS`].
pub fn account_delay_ms(n: usize) -> i64 {
    if n < ACCOUNT_FREE_FAILURES {
        return 0;
    }
    let doublings = (n - ACCOUNT_FREE_FAILURES).min(30) as u32;
    ACCOUNT_FIRST_DELAY_MS.saturating_mul(1i64 << doublings).min(ACCOUNT_MAX_DELAY_MS)
}

/// When an attempt on an account must wait: `Some(retry_after_seconds)` until the delay earned
/// by its failures inside the window has passed since the last of them.
pub fn account_wait(failures: &[i64], now: i64) -> Option<u64> {
    let recent: Vec<i64> = failures.iter().copied().filter(|t| *t > now - WINDOW_MS && *t <= now).collect();
    let delay = account_delay_ms(recent.len());
    let last = recent.iter().copied().max()?;
    let until = last + delay;
    (delay > 0 && now < until).then(|| ((until - now + 999) / 1000).max(1) as u64)
}

/// The login decision over both keys: the longest wait wins.
pub fn login_throttle(account_failures: &[i64], client_failures: &[i64], now: i64) -> Option<u64> {
    let a = account_wait(account_failures, now);
    let c = blocked_for(client_failures, CLIENT_MAX_FAILURES, WINDOW_MS, now);
    a.max(c)
}

/// The throttling key of a client address: an IPv4 address as is, an IPv6 address by its /64
/// (one subscriber usually holds a whole /64), IPv4-mapped IPv6 as IPv4.
pub fn network_key(ip: std::net::IpAddr) -> String {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// One address as a proxy writes it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`,
/// `[2001:db8::1]:443`, or an RFC 7239 `for=` value (`for="[2001:db8::1]:443"`).
pub fn parse_addr(v: &str) -> Option<std::net::IpAddr> {
    let mut v = v.trim();
    // RFC 7239 `Forwarded: for=…;proto=…`: the `for` parameter.
    if v.contains('=') {
        v = v.split(';').find_map(|p| {
            let (k, val) = p.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(val.trim())
        })?;
    }
    let v = v.trim_matches('"');
    if let Ok(sa) = v.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    let v = v.strip_prefix('[').and_then(|r| r.split(']').next()).unwrap_or(v);
    v.parse().ok()
}

/// The client address from the values of the trusted header (every line of it, in order):
/// the **last** address. A client can send the header itself; the trusted hop (our proxy, or
/// Spin for `spin-client-addr`, which appends its own value after the client's) adds its value
/// last, so anything before it is the client's say and never trusted.
pub fn client_ip(values: &[&str]) -> Option<std::net::IpAddr> {
    let last = values.iter().rev().find(|v| !v.trim().is_empty())?;
    let item = last.rsplit(',').find(|p| !p.trim().is_empty())?;
    parse_addr(item)
}

/// The throttling key of a request: [`network_key`] of [`client_ip`], or `unknown`.
pub fn client_network(values: &[&str]) -> String {
    client_ip(values).map(network_key).unwrap_or_else(|| "unknown".into())
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
        let acct = vec![now; 5];
        assert_eq!(login_throttle(&acct, &[], now), Some(1));
        let client = vec![now - 2 * MIN; 20];
        assert_eq!(login_throttle(&[], &client, now), Some(13 * 60));
        assert_eq!(login_throttle(&acct, &client, now), Some(13 * 60));
        assert_eq!(login_throttle(&acct[..4], &client[..19], now), None);
    }

    #[test]
    fn accounts_get_growing_capped_delays_never_a_lockout() {
        assert_eq!((0..5).map(account_delay_ms).collect::<Vec<_>>(), vec![0; 5]);
        assert_eq!(account_delay_ms(5), 1_000);
        assert_eq!(account_delay_ms(6), 2_000);
        assert_eq!(account_delay_ms(8), 8_000);
        assert_eq!(account_delay_ms(40), ACCOUNT_MAX_DELAY_MS);
        assert_eq!(account_delay_ms(usize::MAX), ACCOUNT_MAX_DELAY_MS);
        let now = 100 * MIN;
        // Four failures: no wait. Five: 1 s after the last one.
        assert_eq!(account_wait(&[now; 4], now), None);
        assert_eq!(account_wait(&[now; 5], now), Some(1));
        assert_eq!(account_wait(&[now - 1_000; 5], now), None);
        // Hammered all window long: at most the cap after the last failure.
        let many: Vec<i64> = (0..200).map(|i| now - i * 1_000).collect();
        assert_eq!(account_wait(&many, now), Some(60));
        assert_eq!(account_wait(&many, now + ACCOUNT_MAX_DELAY_MS), None);
        // Failures that left the window do not count.
        assert_eq!(account_wait(&[now - 16 * MIN; 50], now), None);
    }

    #[test]
    fn networks_from_the_last_trusted_value() {
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_key(ip("203.0.113.7")), "203.0.113.7");
        assert_eq!(network_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(network_key(ip("2001:db8:1:2:ffff:1:2:3")), "2001:db8:1:2::/64");
        assert_ne!(network_key(ip("2001:db8:1:3::1")), "2001:db8:1:2::/64");
        assert_eq!(network_key(ip("::ffff:198.51.100.1")), "198.51.100.1");
        // Spin appends the real peer after whatever the client sent: the last value wins.
        assert_eq!(client_network(&["6.6.6.6:1", "127.0.0.1:5555"]), "127.0.0.1");
        assert_eq!(client_network(&["[2001:db8:1:2::9]:443"]), "2001:db8:1:2::/64");
        // A proxy list: the address the trusted proxy appended is the last one.
        assert_eq!(client_network(&["6.6.6.6, 198.51.100.4"]), "198.51.100.4");
        assert_eq!(client_network(&["6.6.6.6", "198.51.100.4, 192.0.2.1"]), "192.0.2.1");
        assert_eq!(client_network(&[r#"for=6.6.6.6, for="[2001:db8:5:6::1]:80";proto=https"#]), "2001:db8:5:6::/64");
        assert_eq!(client_network(&[]), "unknown");
        assert_eq!(client_network(&["garbage"]), "unknown");
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
