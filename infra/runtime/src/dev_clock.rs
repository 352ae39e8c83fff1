//! The development clock (`caas-runtime up --dev-clock FILE`, which `make up` turns on): a person
//! trying the app moves business time from outside — read it, set it, advance it by a duration —
//! to walk a customer through a final-payment deadline, a 14-day withdrawal window or a billing
//! month end in seconds. Off by default and refused unless the app's `dev_mode` variable is
//! `true` (so never with production secrets, which outside dev_mode are checked by the app).
//!
//! Control API (served by the runtime itself, before routing, only with `--dev-clock`):
//! - `GET  /_dev/clock` → `{"now": RFC 3339, "unix_ms", "offset_ms"}`
//! - `POST /_dev/clock?advance=15d` (units `ms`, `s`, `m`, `h`, `d`; a bare number is seconds)
//! - `POST /_dev/clock?set=2027-01-01T00:00:00Z` (RFC 3339 or Unix seconds; never backwards: 409)
//!
//! Business time only moves forward (states never go back). The clock keeps flowing with real
//! time from where it was put. Its offset from the host clock (milliseconds, decimal text) is
//! kept in FILE — under the state dir, so a restarted `make up` goes on from the same business
//! time as its data — and the simulators read the same file (`caas-sim --clock-file`), so that
//! the webhooks they sign are fresh for the app. Ticks follow this clock (a jump fires each
//! due tick once).
use crate::clock::Clock;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The development clock: the runtime's [`Clock`] and the file its offset is published in.
pub struct DevClock {
    clock: Clock,
    file: PathBuf,
    /// Serialises changes (a set/advance and the file write that publishes it).
    lock: std::sync::Mutex<()>,
}

/// What the control API answers with.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Ok(String),
    Bad(String),
    Conflict(String),
    NotAllowed,
}

impl DevClock {
    /// The clock for a runtime started with `--dev-clock file`: `start` (`--start-time`) when
    /// given, else where the file says business time was (host clock + offset), else the host
    /// clock. The offset is written back at once.
    pub fn open(file: &Path, start: Option<SystemTime>) -> Result<DevClock> {
        let start = match start {
            Some(t) => t,
            None => shifted(SystemTime::now(), read_offset_ms(file)),
        };
        let dc = DevClock { clock: Clock::starting_at(start), file: file.to_path_buf(), lock: std::sync::Mutex::new(()) };
        dc.publish()?;
        Ok(dc)
    }

    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    fn offset_ms(&self) -> i64 {
        ms_between(SystemTime::now(), self.clock.now())
    }

    fn publish(&self) -> Result<()> {
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Write then rename: a reader never sees half a number.
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, self.offset_ms().to_string())?;
        std::fs::rename(&tmp, &self.file)?;
        Ok(())
    }

    fn state(&self) -> String {
        let now = self.clock.now();
        format!(
            r#"{{"now":"{}","unix_ms":{},"offset_ms":{}}}"#,
            format_rfc3339(now),
            ms_between(UNIX_EPOCH, now),
            self.offset_ms()
        )
    }

    /// Handles `method` on `/_dev/clock` with `query` (the part after `?`).
    pub fn handle(&self, method: &str, query: &str) -> Answer {
        let param = |k: &str| query.split('&').filter_map(|p| p.split_once('=')).find(|(n, _)| *n == k).map(|(_, v)| v.replace("%3A", ":").replace("%3a", ":").replace("%2B", "+").replace("%2b", "+"));
        match method {
            "GET" => Answer::Ok(self.state()),
            "POST" => {
                let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
                let target = match (param("advance"), param("set")) {
                    (Some(by), None) => match parse_duration(&by) {
                        Ok(d) => self.clock.now() + d,
                        Err(e) => return Answer::Bad(format!("advance: {e}")),
                    },
                    (None, Some(to)) => match parse_time(&to) {
                        Ok(t) => t,
                        Err(e) => return Answer::Bad(format!("set: {e}")),
                    },
                    _ => return Answer::Bad("give exactly one of ?advance=<duration> (15d, 3h, 90m, 30s) or ?set=<RFC 3339 time>".into()),
                };
                if target < self.clock.now() {
                    return Answer::Conflict(format!(
                        "business time only moves forward: it is {} and {} is earlier",
                        format_rfc3339(self.clock.now()),
                        format_rfc3339(target)
                    ));
                }
                self.clock.set(target);
                if let Err(e) = self.publish() {
                    return Answer::Bad(format!("cannot write {}: {e}", self.file.display()));
                }
                Answer::Ok(self.state())
            }
            _ => Answer::NotAllowed,
        }
    }
}

/// The offset (ms) in a clock file; 0 when there is none or it does not parse.
pub fn read_offset_ms(file: &Path) -> i64 {
    std::fs::read_to_string(file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn shifted(t: SystemTime, ms: i64) -> SystemTime {
    if ms >= 0 { t + Duration::from_millis(ms as u64) } else { t - Duration::from_millis(ms.unsigned_abs()) }
}

fn ms_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// `15d`, `3h`, `90m`, `30s`, `500ms`, or a bare number of seconds.
pub fn parse_duration(v: &str) -> Result<Duration> {
    let v = v.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = v.split_at(digits);
    let Ok(n) = n.parse::<u64>() else { bail!("expected a duration like 15d, 3h, 90m or 30s, got {v:?}") };
    let secs = match unit {
        "" | "s" => n,
        "ms" => return Ok(Duration::from_millis(n)),
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => bail!("expected a duration like 15d, 3h, 90m or 30s, got {v:?}"),
    };
    if secs > 10 * 366 * 86_400 {
        bail!("{v:?} is more than ten years");
    }
    Ok(Duration::from_secs(secs))
}

/// RFC 3339 in UTC with milliseconds.
pub fn format_rfc3339(t: SystemTime) -> String {
    let ms = ms_between(UNIX_EPOCH, t).max(0);
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A time given by a person: Unix seconds (`1796094000`) or RFC 3339 (`2026-12-01T03:00:00Z`,
/// `2026-12-01T04:00:00.5+01:00`; `t`/`z`/space accepted like RFC 3339 allows).
pub fn parse_time(v: &str) -> Result<SystemTime> {
    let v = v.trim();
    let bad = || {
        anyhow::anyhow!(
            "expected Unix seconds or an RFC 3339 time like 2026-12-01T03:00:00Z, got {v:?}"
        )
    };
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = v.parse().map_err(|_| bad())?;
        return UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .ok_or_else(bad);
    }
    let b = v.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64> {
        let s = &v[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse::<i64>().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mdays = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > mdays[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || s > 60
    {
        return Err(bad());
    }
    let mut rest = &v[19..];
    let mut nanos: u32 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        let digits: String = frac[..n]
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        nanos = digits.parse().map_err(|_| bad())?;
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let at = v.len() - 6; // "+HH:MM"
            let (oh, om) = (num(at + 1..at + 3)?, num(at + 4..at + 6)?);
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') { -o } else { o }
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset;
    if secs < 0 {
        bail!("{v:?} is before 1970");
    }
    Ok(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_read_like_people_write_them() {
        assert_eq!(parse_duration("15d").unwrap(), Duration::from_secs(15 * 86_400));
        assert_eq!(parse_duration("3h").unwrap(), Duration::from_secs(3 * 3600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("-1d").is_err() && parse_duration("1w").is_err() && parse_duration("99999d").is_err());
        let t = parse_time("2027-01-31T23:59:59Z").unwrap();
        assert_eq!(format_rfc3339(t), "2027-01-31T23:59:59.000Z");
        assert_eq!(format_rfc3339(parse_time("2028-02-29T12:00:00+01:00").unwrap()), "2028-02-29T11:00:00.000Z");
    }

    #[test]
    fn the_clock_moves_forward_only_and_publishes_its_offset() {
        let dir = std::env::temp_dir().join(format!("caas-dev-clock-{}", std::process::id()));
        let file = dir.join("dev-clock");
        let _ = std::fs::remove_file(&file);
        let dc = DevClock::open(&file, None).unwrap();
        assert!(read_offset_ms(&file).abs() < 1000, "starts at the host clock");
        let Answer::Ok(body) = dc.handle("POST", "advance=15d") else { panic!() };
        let shown: i64 = body.split("\"offset_ms\":").nth(1).and_then(|r| r.trim_end_matches('}').parse().ok()).expect("offset_ms");
        assert!((shown - 15 * 86_400_000).abs() < 1000, "{body}");
        let off = read_offset_ms(&file);
        assert!((off - 15 * 86_400_000).abs() < 1000, "{off}");
        // Set backwards: refused, nothing changes.
        assert!(matches!(dc.handle("POST", "set=2020-01-01T00:00:00Z"), Answer::Conflict(_)));
        assert!((read_offset_ms(&file) - off).abs() < 1000);
        assert!(matches!(dc.handle("POST", "advance=soon"), Answer::Bad(_)));
        assert!(matches!(dc.handle("POST", ""), Answer::Bad(_)));
        assert_eq!(dc.handle("DELETE", ""), Answer::NotAllowed);
        // A restart goes on from the same business time.
        let again = DevClock::open(&file, None).unwrap();
        assert!((again.offset_ms() - off).abs() < 1000);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
