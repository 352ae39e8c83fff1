//! Civil-date helpers on unix milliseconds, UTC (proleptic Gregorian calendar).
//!
//! No date crate on purpose (lean dependency set): the conversions use Howard Hinnant's
//! `days_from_civil` / `civil_from_days` algorithms, exact for every `i64` day count we meet.
//! All business time in CaaS is unix ms (i64) and every calendar rule (billing months,
//! month-long services) is evaluated in UTC.

/// Milliseconds in one day (UTC has no DST; leap seconds are not represented in unix time).
pub const MS_PER_DAY: i64 = 86_400_000;

/// A calendar date (UTC). `month` is 1..=12, `day` 1..=31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDate {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`. Panics on a month outside 1..=12 (programming error).
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 => {
            if is_leap_year(year) {
                29
            } else {
                28
            }
        }
        _ => panic!("month out of range: {month}"),
    }
}

/// Days since 1970-01-01 of a civil date (Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = year as i64 - if month <= 2 { 1 } else { 0 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = month as i64;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Civil date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> CivilDate {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + if month <= 2 { 1 } else { 0 }) as i32;
    CivilDate { year, month, day }
}

/// The UTC date containing instant `ms`.
pub fn date_of(ms: i64) -> CivilDate {
    civil_from_days(ms.div_euclid(MS_PER_DAY))
}

/// Unix ms of 00:00:00.000 UTC on the given date.
pub fn midnight_ms(year: i32, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day) * MS_PER_DAY
}

/// Adds `months` calendar months to instant `ms`, keeping the time of day and the day of month,
/// clamped to the last day of the target month (Jan 31 + 1 month = Feb 28, or Feb 29 in a leap
/// year). This is how a "1 month" temporary service computes its end.
pub fn add_months(ms: i64, months: u32) -> i64 {
    let d = date_of(ms);
    let time_of_day = ms.rem_euclid(MS_PER_DAY);
    let total = d.year as i64 * 12 + (d.month as i64 - 1) + months as i64;
    let year = total.div_euclid(12) as i32;
    let month = (total.rem_euclid(12) + 1) as u32;
    let day = d.day.min(days_in_month(year, month));
    midnight_ms(year, month, day) + time_of_day
}

/// `YYYY-MM-DD` of an instant (UTC), for messages.
pub fn format_date(ms: i64) -> String {
    let d = date_of(ms);
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
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
    }
}
