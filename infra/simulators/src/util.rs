//! Small helpers: wall-clock formatting, a tiny PRNG, percent-decoding.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// (year, month, day) from days since 1970-01-01 (H. Hinnant's algorithm).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Today (UTC) plus `offset_days`, as `YYYY-MM-DD`.
pub fn date_in_days(offset_days: i64) -> String {
    let days = (unix_now() / 86_400) as i64 + offset_days;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `YYYY-MM-DD` plus `days` (falls back to the input if it does not parse).
pub fn add_days(date: &str, days: i64) -> String {
    let p: Vec<&str> = date.split('-').collect();
    if p.len() != 3 {
        return date.to_string();
    }
    let (Ok(y), Ok(m), Ok(d)) = (p[0].parse::<i64>(), p[1].parse::<i64>(), p[2].parse::<i64>()) else {
        return date.to_string();
    };
    // days_from_civil
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let z = era * 146_097 + doe - 719_468 + days;
    let (y, m, d) = civil_from_days(z);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Now as RFC 3339 UTC, e.g. `2026-11-21T06:01:02Z`.
pub fn now_rfc3339() -> String {
    let s = unix_now();
    let (y, mo, d) = civil_from_days((s / 86_400) as i64);
    let r = s % 86_400;
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z", r / 3600, (r / 60) % 60, r % 60)
}

/// xorshift64*: good enough for fault injection rates.
pub struct Rng(u64);

impl Rng {
    pub fn seeded() -> Rng {
        let n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        Rng(n | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Percent-decoding (and `+` as space when `plus` is set).
pub fn pct_decode(s: &str, plus: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}


/// VIN-safe alphabet (no I, O, Q).
pub const VIN_ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

/// Five VIN-safe characters derived from the start time, so that ids and VINs minted by
/// two runs of the simulators (e.g. `make up` restarted over a kept database) do not collide.
pub fn start_tag() -> String {
    let mut n = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64 / 100).unwrap_or(0);
    let mut s = Vec::new();
    for _ in 0..5 {
        s.push(VIN_ALPHABET[(n % VIN_ALPHABET.len() as u64) as usize]);
        n /= VIN_ALPHABET.len() as u64;
    }
    String::from_utf8(s).unwrap()
}

/// Non-empty string field of a JSON object.
pub fn req_str<'a>(m: &'a serde_json::Map<String, serde_json::Value>, k: &str, errors: &mut Vec<serde_json::Value>) -> Option<&'a str> {
    match m.get(k) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        Some(serde_json::Value::String(_)) => {
            errors.push(serde_json::json!({"field": k, "detail": "must not be empty"}));
            None
        }
        None | Some(serde_json::Value::Null) => {
            errors.push(serde_json::json!({"field": k, "detail": "is required"}));
            None
        }
        Some(_) => {
            errors.push(serde_json::json!({"field": k, "detail": "must be a string"}));
            None
        }
    }
}

/// Merges the keys of `extra` (an object; anything else is ignored) into `target`;
/// a `null` value removes the key.
pub fn merge(target: &mut serde_json::Value, extra: &serde_json::Value) {
    if let (Some(t), Some(e)) = (target.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            if v.is_null() {
                t.remove(k);
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(add_days("2026-11-21", 60), "2027-01-20");
        assert_eq!(add_days("2024-02-28", 1), "2024-02-29");
        assert_eq!(add_days("2026-03-01", -1), "2026-02-28");
    }
    #[test]
    fn pct() {
        assert_eq!(pct_decode("a%40b.com", true), "a@b.com");
        assert_eq!(pct_decode("a+b%2", true), "a b%2");
        assert_eq!(pct_decode("%41", false), "A");
    }
}
