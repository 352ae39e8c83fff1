//! Civil-date helpers on unix milliseconds, UTC (proleptic Gregorian calendar), over `chrono`.
//!
//! All business time in CaaS is unix ms (i64) and every calendar rule (billing months,
//! month-long services) is evaluated in UTC. Instants outside chrono's range (about ±262,000
//! years) are clamped to its ends.
use chrono::{DateTime, Datelike, Months, NaiveDate, Timelike, Utc};

/// Milliseconds in one day (UTC has no DST; leap seconds are not represented in unix time).
pub const MS_PER_DAY: i64 = 86_400_000;

/// Days from 0001-01-01 (chrono's day 1 of the common era) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A calendar date (UTC). `month` is 1..=12, `day` 1..=31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

impl From<NaiveDate> for CivilDate {
    fn from(d: NaiveDate) -> CivilDate {
        CivilDate { year: d.year(), month: d.month(), day: d.day() }
    }
}

fn date(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap_or_else(|| panic!("not a date: {year}-{month}-{day}"))
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 { DateTime::<Utc>::MIN_UTC } else { DateTime::<Utc>::MAX_UTC })
}

/// Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    NaiveDate::from_ymd_opt(year, 2, 29).is_some()
}

/// Days in `month` (1..=12) of `year`. Panics on a month outside 1..=12 (programming error).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    date(year, month, 1).num_days_in_month() as u32
}

/// Days since 1970-01-01 of a civil date. Panics on a day that does not exist (programming error).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    date(year, month, day).num_days_from_ce() as i64 - UNIX_EPOCH_DAYS_FROM_CE
}

/// Civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> CivilDate {
    date_of(days.saturating_mul(MS_PER_DAY))
}

/// The UTC date containing instant `ms`.
pub fn date_of(ms: i64) -> CivilDate {
    instant(ms).date_naive().into()
}

/// Unix ms of 00:00:00.000 UTC on the given date.
pub fn midnight_ms(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * MS_PER_DAY
}

/// Adds `months` calendar months to instant `ms`, keeping the time of day and the day of month,
/// clamped to the last day of the target month (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap
/// year). This is how a "1 month" temporary service computes its end.
pub fn add_months(ms: i64, months: u32) -> i64 {
    instant(ms).checked_add_months(Months::new(months)).map_or(i64::MAX, |t| t.timestamp_millis())
}

/// `YYYY-MM-DD` of an instant (UTC), for messages. (Plain `format!`: chrono's strftime
/// machinery would cost the components more than it saves here.)
pub fn format_date(ms: i64) -> String {
    let t = instant(ms);
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// `YYYY-MM-DD HH:MM UTC` of an instant, for messages.
pub fn format_minute(ms: i64) -> String {
    let t = instant(ms);
    format!("{} {:02}:{:02} UTC", format_date(ms), t.hour(), t.minute())
}

/// Unix ms of a UTC date and time of day; None if there is no such date or time.
pub fn utc_ms(year: i32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Option<i64> {
    Some(NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?.and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates_round_trip() {
        let table: &[(i32, u32, u32, i64)] = &[
            (1970, 1, 1, 0),
            (1970, 1, 2, 1),
            (1969, 12, 31, -1),
            (2000, 2, 29, 11_016),
            (2000, 3, 1, 11_017),
            (2024, 2, 29, 19_782),
            (2026, 11, 21, 20_778),
            (2100, 3, 1, 47_541),
            (1600, 1, 1, -135_140),
        ];
        for &(y, m, d, days) in table {
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert_eq!(civil_from_days(days), CivilDate { year: y, month: m, day: d }, "{days}");
        }
    }

    #[test]
    fn every_day_for_centuries_round_trips_and_is_contiguous() {
        let start = days_from_civil(1899, 1, 1);
        let end = days_from_civil(2201, 1, 1);
        let mut prev = civil_from_days(start - 1);
        for z in start..end {
            let c = civil_from_days(z);
            assert_eq!(days_from_civil(c.year, c.month, c.day), z);
            assert!(c.day >= 1 && c.day <= days_in_month(c.year, c.month));
            assert!(c > prev, "dates strictly increase");
            prev = c;
        }
    }

    #[test]
    fn month_lengths_and_leap_years() {
        let table: &[(i32, u32, u32)] = &[
            (2026, 1, 31),
            (2026, 2, 28),
            (2024, 2, 29),
            (2000, 2, 29),
            (1900, 2, 28),
            (2100, 2, 28),
            (2026, 4, 30),
            (2026, 6, 30),
            (2026, 9, 30),
            (2026, 11, 30),
            (2026, 12, 31),
            (2026, 7, 31),
            (2026, 8, 31),
        ];
        for &(y, m, n) in table {
            assert_eq!(days_in_month(y, m), n, "{y}-{m}");
        }
        assert!(is_leap_year(2028) && !is_leap_year(2027) && !is_leap_year(2100) && is_leap_year(2400));
    }

    #[test]
    fn add_months_clamps_to_month_end_and_keeps_time() {
        let t = |y, m, d| midnight_ms(y, m, d) + 13 * 3_600_000 + 5; // 13:00:00.005
        type Ymd = (i32, u32, u32);
        let table: &[(Ymd, u32, Ymd)] = &[
            ((2026, 1, 31), 1, (2026, 2, 28)),
            ((2028, 1, 31), 1, (2028, 2, 29)),
            ((2026, 1, 15), 1, (2026, 2, 15)),
            ((2026, 11, 21), 1, (2026, 12, 21)),
            ((2026, 12, 31), 1, (2027, 1, 31)),
            ((2026, 12, 31), 2, (2027, 2, 28)),
            ((2026, 3, 31), 1, (2026, 4, 30)),
            ((2026, 5, 10), 12, (2027, 5, 10)),
            ((2028, 2, 29), 12, (2029, 2, 28)),
            ((2026, 5, 10), 0, (2026, 5, 10)),
            ((2026, 8, 31), 18, (2028, 2, 29)),
        ];
        for &((y, m, d), n, (ey, em, ed)) in table {
            assert_eq!(add_months(t(y, m, d), n), t(ey, em, ed), "{y}-{m}-{d} + {n}");
        }
    }

    #[test]
    fn date_of_negative_and_format() {
        assert_eq!(date_of(-1), CivilDate { year: 1969, month: 12, day: 31 });
        assert_eq!(format_date(midnight_ms(2026, 2, 3) + MS_PER_DAY - 1), "2026-02-03");
        assert_eq!(format_minute(midnight_ms(2026, 2, 3) + 61 * 60_000 + 59_999), "2026-02-03 01:01 UTC");
        assert_eq!(utc_ms(2026, 2, 3, 1, 1, 0), Some(midnight_ms(2026, 2, 3) + 61 * 60_000));
        assert_eq!(utc_ms(2026, 2, 29, 0, 0, 0), None);
        assert_eq!(utc_ms(2026, 2, 3, 24, 0, 0), None);
    }
}
