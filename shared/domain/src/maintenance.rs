//! Maintenance (issue 10, "Services side"): the workshops' record as VSS gives it, the
//! maintenance tick's decisions (remind before the due date, record a missed maintenance) and
//! the warranty consequence.
//!
//! Spec: VSS is the source of truth for maintenance (overview.md "VSS as Source of Truth"; CaaS
//! only reads it); the routing table row "Maintenance Due" (e-mail, push, vehicle display, SMS
//! if opted in: `crate::routing`); "Missing maintenance voids warranty but doesn't block vehicle
//! operation" (customer-journey.md) and "does not revoke already-purchased services"
//! (overview.md "Warranty Loss"). Here: the warranty is void from the first day the maintenance
//! was overdue (the day after the missed due date), for good — a later service does not
//! restore it; nothing else changes (services stay active, the car keeps working).
use crate::services::calendar::{format_date, utc_ms};
use serde::Serialize;
use serde_json::Value;

/// How many days before the due date the reminder goes out (issue 10: "30 days before").
pub const DEFAULT_REMINDER_LEAD_DAYS: u64 = 30;

const MS_PER_DAY: i64 = 86_400_000;

/// A calendar day (UTC), as days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    /// `YYYY-MM-DD` (exactly; anything else, or a date that does not exist, is None).
    pub fn parse(s: &str) -> Option<Day> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let p = &s[r];
            if p.bytes().all(|c| c.is_ascii_digit()) { p.parse().ok() } else { None }
        };
        let ms = utc_ms(num(0..4)? as i32, num(5..7)?, num(8..10)?, 0, 0, 0)?;
        Some(Day(ms.div_euclid(MS_PER_DAY)))
    }

    /// The day containing instant `ms`.
    pub fn of_ms(ms: i64) -> Day {
        Day(ms.div_euclid(MS_PER_DAY))
    }

    /// Midnight UTC of the day, in ms.
    pub fn ms(self) -> i64 {
        self.0.saturating_mul(MS_PER_DAY)
    }

    pub fn plus(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        format_date(self.ms())
    }
}

/// One service the workshop recorded (VSS history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceRecord {
    pub date: String,
    pub mileage_km: Option<i64>,
    pub work: String,
    pub workshop: String,
}

/// The vehicle's maintenance record as VSS answers `GET /vehicles/{vin}/maintenance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VssMaintenance {
    /// `current` | `overdue` (VSS's estado oficial); anything else is kept as given.
    pub status: String,
    pub last_service: Option<Day>,
    pub next_due: Option<Day>,
    pub next_due_km: Option<i64>,
    /// Oldest first.
    pub history: Vec<ServiceRecord>,
}

impl VssMaintenance {
    /// Reads a VSS answer (kebab-case fields). None when it is not an object with a status.
    /// Unreadable dates or history entries are left out (never an error: VSS is external).
    pub fn from_vss(v: &Value) -> Option<VssMaintenance> {
        let o = v.as_object()?;
        let status = o.get("status")?.as_str()?.to_string();
        let day = |k: &str| o.get(k).and_then(Value::as_str).and_then(Day::parse);
        let mut history: Vec<ServiceRecord> = o
            .get("history")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|h| {
                        let date = h.get("date").and_then(Value::as_str).filter(|d| Day::parse(d).is_some())?;
                        let text = |k: &str| h.get(k).and_then(Value::as_str).unwrap_or("").chars().take(500).collect::<String>();
                        Some(ServiceRecord { date: date.to_string(), mileage_km: h.get("mileage-km").and_then(Value::as_i64), work: text("work"), workshop: text("workshop") })
                    })
                    .collect()
            })
            .unwrap_or_default();
        history.sort_by(|a, b| a.date.cmp(&b.date));
        Some(VssMaintenance { status, last_service: day("last-service"), next_due: day("next-due"), next_due_km: o.get("next-due-km").and_then(Value::as_i64), history })
    }

    /// The most recent service VSS knows of (its `last-service` or the newest history entry).
    pub fn latest_service(&self) -> Option<Day> {
        let newest = self.history.iter().filter_map(|h| Day::parse(&h.date)).max();
        self.last_service.max(newest)
    }
}

/// What the maintenance tick does for one vehicle today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing due yet (or no due date known).
    Nothing,
    /// The due date is within the reminder lead time: remind (once per due date).
    Remind { due: Day },
    /// The due date passed with no newer service in VSS: record it missed (once per due date);
    /// the warranty is void from `void_since`.
    Missed { due: Day, void_since: Day },
}

/// The decision for a vehicle whose VSS record is `m`, on `today`, reminding `lead_days` ahead.
/// The due date itself is still in time; the day after it the maintenance is missed unless VSS
/// records a service on or after the due date (its next due date not yet moved on).
pub fn decide(m: &VssMaintenance, today: Day, lead_days: u64) -> Decision {
    let Some(due) = m.next_due else { return Decision::Nothing };
    if today > due {
        if m.latest_service().is_some_and(|s| s >= due) {
            return Decision::Nothing;
        }
        return Decision::Missed { due, void_since: due.plus(1) };
    }
    if due.0 - today.0 <= lead_days as i64 { Decision::Remind { due } } else { Decision::Nothing }
}

/// Why a warranty was voided (the only reason the spec names).
pub const VOID_REASON_MAINTENANCE_MISSED: &str = "maintenance-missed";

/// The warranty as the customer sees it: valid, or void since a date because a maintenance
/// was missed (which one). Vehicle operation and purchased services are never affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warranty {
    pub detail: String,
    pub missed_due_date: Option<String>,
    pub reason: Option<String>,
    pub state: &'static str,
    pub void_since: Option<String>,
}

/// The warranty view from the recorded void (`void_since`, missed due date), if any.
pub fn warranty(void: Option<(&str, &str)>) -> Warranty {
    match void {
        None => Warranty { detail: "The warranty is valid.".into(), missed_due_date: None, reason: None, state: "valid", void_since: None },
        Some((since, due)) => Warranty {
            detail: format!(
                "The warranty is void since {since}: the maintenance due on {due} was not done. The vehicle keeps working and services already purchased stay active."
            ),
            missed_due_date: Some(due.to_string()),
            reason: Some(VOID_REASON_MAINTENANCE_MISSED.into()),
            state: "void",
            void_since: Some(since.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> Day {
        Day::parse(s).unwrap()
    }

    fn rec(next_due: &str, last: &str) -> VssMaintenance {
        VssMaintenance::from_vss(&json!({"vin": "V", "status": "current", "last-service": last, "next-due": next_due})).unwrap()
    }

    #[test]
    fn days_parse_and_format() {
        assert_eq!(d("1970-01-02"), Day(1));
        assert_eq!(d("2027-03-01").iso(), "2027-03-01");
        assert_eq!(d("2024-02-29").plus(1).iso(), "2024-03-01");
        for bad in ["2027-02-30", "2027-2-01", "27-02-01", "2027-02-01T00:00", "", "abcd-ef-gh", "+027-01-01"] {
            assert_eq!(Day::parse(bad), None, "{bad}");
        }
        assert_eq!(Day::of_ms(d("2027-03-01").ms() + 86_399_999), d("2027-03-01"));
    }

    #[test]
    fn reminder_thirty_days_before_the_due_date() {
        let m = rec("2027-03-31", "2026-03-31");
        // 45 days before: nothing yet; 31 days: nothing; 30 days before: remind.
        assert_eq!(decide(&m, d("2027-02-14"), 30), Decision::Nothing);
        assert_eq!(decide(&m, d("2027-02-28"), 30), Decision::Nothing);
        assert_eq!(decide(&m, d("2027-03-01"), 30), Decision::Remind { due: d("2027-03-31") });
        assert_eq!(decide(&m, d("2027-03-31"), 30), Decision::Remind { due: d("2027-03-31") });
        // Configurable lead time.
        assert_eq!(decide(&m, d("2027-03-01"), 7), Decision::Nothing);
        assert_eq!(decide(&m, d("2027-03-24"), 7), Decision::Remind { due: d("2027-03-31") });
    }

    #[test]
    fn missed_the_day_after_the_due_date_without_a_newer_service() {
        let m = rec("2027-03-31", "2026-03-31");
        assert_eq!(decide(&m, d("2027-04-01"), 30), Decision::Missed { due: d("2027-03-31"), void_since: d("2027-04-01") });
        assert_eq!(decide(&m, d("2028-01-01"), 30), Decision::Missed { due: d("2027-03-31"), void_since: d("2027-04-01") });
        // A service recorded on or after the due date (VSS not yet moved the next due): not missed.
        let serviced = VssMaintenance::from_vss(&json!({"status": "current", "last-service": "2026-03-31", "next-due": "2027-03-31",
            "history": [{"date": "2027-03-31", "workshop": "Taller Norte", "work": "annual service"}]}))
        .unwrap();
        assert_eq!(serviced.latest_service(), Some(d("2027-03-31")));
        assert_eq!(decide(&serviced, d("2027-04-02"), 30), Decision::Nothing);
        // A new due date after the service starts a new cycle.
        let next = rec("2028-03-31", "2027-04-10");
        assert_eq!(decide(&next, d("2027-04-11"), 30), Decision::Nothing);
        assert_eq!(decide(&next, d("2028-03-10"), 30), Decision::Remind { due: d("2028-03-31") });
    }

    #[test]
    fn unusable_vss_answers_decide_nothing() {
        assert_eq!(VssMaintenance::from_vss(&json!("x")), None);
        assert_eq!(VssMaintenance::from_vss(&json!({"next-due": "2027-01-01"})), None);
        let m = VssMaintenance::from_vss(&json!({"status": "current", "next-due": "soon", "history": [{"date": "bad"}, 3]})).unwrap();
        assert_eq!(m.next_due, None);
        assert!(m.history.is_empty());
        assert_eq!(decide(&m, d("2030-01-01"), 30), Decision::Nothing);
    }

    #[test]
    fn history_sorted_with_workshop_and_work() {
        let m = VssMaintenance::from_vss(&json!({"status": "current", "next-due": "2028-01-01", "next-due-km": 60000, "history": [
            {"date": "2027-01-05", "workshop": "Taller Sur", "work": "brakes", "mileage-km": 30000},
            {"date": "2026-01-05", "workshop": "Taller Norte", "work": "oil"}]}))
        .unwrap();
        assert_eq!(m.history[0].workshop, "Taller Norte");
        assert_eq!(m.history[1], ServiceRecord { date: "2027-01-05".into(), mileage_km: Some(30000), work: "brakes".into(), workshop: "Taller Sur".into() });
        assert_eq!(m.next_due_km, Some(60000));
        assert_eq!(m.latest_service(), Some(d("2027-01-05")));
    }

    #[test]
    fn warranty_void_since_a_date_because_maintenance_was_missed() {
        let w = warranty(None);
        assert_eq!(w.state, "valid");
        let w = warranty(Some(("2027-04-01", "2027-03-31")));
        assert_eq!((w.state, w.void_since.as_deref(), w.reason.as_deref()), ("void", Some("2027-04-01"), Some("maintenance-missed")));
        assert!(w.detail.contains("keeps working") && w.detail.contains("2027-03-31"));
    }
}
