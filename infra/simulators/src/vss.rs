//! VSS maintenance API: `GET /vehicles/{vin}/maintenance` (unknown VIN: current).
//!
//! Holds what a workshop system holds per VIN: the estado oficial (`status`), last service,
//! next due date (and optionally mileage), and the service history (date, workshop, work done).
//! A record set with a due date but no explicit status derives its status from the simulator's
//! clock (`overdue` once the due date has passed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{add_days, civil_from_days};

struct Entry {
    rec: Value,
    /// Status computed from `next-due` and the clock at read time (no explicit status given).
    derived: bool,
}

pub(crate) struct Vss {
    ctx: Arc<Ctx>,
    /// vin -> explicit record
    st: Mutex<BTreeMap<String, Entry>>,
}

const DEFAULT_WORKSHOP: &str = "CaaS Service Centre";

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b[4] == b'-' && b[7] == b'-' && s.bytes().enumerate().all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()) && add_days(s, 0) == s
}

impl Vss {
    pub fn new(ctx: Arc<Ctx>) -> Vss {
        Vss { ctx, st: Mutex::default() }
    }
    pub fn reset(&self) {
        self.st.lock().unwrap().clear();
    }
    /// Today (UTC, the simulator's clock) plus `offset_days`, `YYYY-MM-DD`.
    fn date_in_days(&self, offset_days: i64) -> String {
        let (y, m, d) = civil_from_days((self.ctx.unix_now() / 86_400) as i64 + offset_days);
        format!("{y:04}-{m:02}-{d:02}")
    }
    fn record(&self, vin: &str, status: &str) -> Value {
        let (last, next) = match status {
            "overdue" => (self.date_in_days(-400), self.date_in_days(-35)),
            _ => (self.date_in_days(-90), self.date_in_days(275)),
        };
        let history = json!([{"date": last, "workshop": DEFAULT_WORKSHOP, "work": "annual service"}]);
        json!({"vin": vin, "status": status, "last-service": last, "next-due": next, "history": history})
    }
    fn view(&self, e: &Entry) -> Value {
        let mut r = e.rec.clone();
        if e.derived {
            let overdue = r["next-due"].as_str().is_some_and(|d| d < self.date_in_days(0).as_str());
            r["status"] = json!(if overdue { "overdue" } else { "current" });
        }
        r
    }
    fn get(&self, vin: &str) -> Value {
        match self.st.lock().unwrap().get(vin) {
            Some(e) => self.view(e),
            None => self.record(vin, "current"),
        }
    }
    /// `status` current|overdue resets the record to that status's defaults; without a status,
    /// the current record (or the default one) is updated and its status follows `next-due`.
    fn set(&self, vin: &str, status: Option<&str>, extra: Option<&Map<String, Value>>) -> Result<Value, String> {
        if let Some(s) = status.filter(|s| *s != "current" && *s != "overdue") {
            return Err(format!("status must be current or overdue, not {s}"));
        }
        let m = extra.cloned().unwrap_or_default();
        for k in ["last-service", "next-due"] {
            if let Some(v) = m.get(k).filter(|v| !v.is_null()) {
                if !v.as_str().is_some_and(is_date) {
                    return Err(format!("{k} must be a YYYY-MM-DD date"));
                }
            }
        }
        if status.is_none() && !m.contains_key("next-due") {
            return Err("give a status (current|overdue) or a next-due date".into());
        }
        if let Some(v) = m.get("next-due-km").filter(|v| !v.is_null() && !v.is_u64()) {
            return Err(format!("next-due-km must be a whole number of km, not {v}"));
        }
        let history = match m.get("history") {
            None => None,
            Some(Value::Array(a)) => Some(a.iter().map(history_entry).collect::<Result<Vec<Value>, String>>()?),
            Some(_) => return Err("history must be an array".into()),
        };
        let mut st = self.st.lock().unwrap();
        let mut entry = match (status, st.remove(vin)) {
            (Some(s), _) => Entry { rec: self.record(vin, s), derived: false },
            (None, Some(e)) => Entry { rec: e.rec, derived: true },
            (None, None) => Entry { rec: self.record(vin, "current"), derived: true },
        };
        for k in ["last-service", "next-due", "next-due-km"] {
            if let Some(v) = m.get(k) {
                entry.rec[k] = v.clone();
            }
        }
        if let Some(h) = history {
            entry.rec["history"] = Value::Array(h);
        }
        let out = self.view(&entry);
        st.insert(vin.to_string(), entry);
        Ok(out)
    }
    /// A workshop records a service: appended to the history; last service = its date; the
    /// next due date moves on (given, else a year later); status follows the due date.
    fn record_service(&self, vin: &str, m: &Map<String, Value>) -> Result<Value, String> {
        let date = match m.get("date") {
            None => self.date_in_days(0),
            Some(v) => v.as_str().filter(|d| is_date(d)).ok_or("date must be a YYYY-MM-DD date")?.to_string(),
        };
        let mut h = m.clone();
        h.insert("date".into(), json!(date));
        let entry = history_entry(&Value::Object(h))?;
        let next = match m.get("next-due") {
            None => add_days(&date, 365),
            Some(v) => v.as_str().filter(|d| is_date(d)).ok_or("next-due must be a YYYY-MM-DD date")?.to_string(),
        };
        let mut st = self.st.lock().unwrap();
        let mut e = st.remove(vin).unwrap_or_else(|| Entry { rec: self.record(vin, "current"), derived: true });
        e.derived = true;
        if !e.rec["history"].is_array() {
            e.rec["history"] = json!([]);
        }
        e.rec["history"].as_array_mut().unwrap().push(entry);
        e.rec["last-service"] = json!(date);
        e.rec["next-due"] = json!(next);
        if let Some(km) = m.get("next-due-km") {
            e.rec["next-due-km"] = km.clone();
        }
        let out = self.view(&e);
        st.insert(vin.to_string(), e);
        Ok(out)
    }

    pub fn handle(&self, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("GET", ["vehicles", vin, "maintenance"]) => Resp::json(200, &self.get(vin)),
            ("GET", ["_control", "maintenance"]) => {
                let st = self.st.lock().unwrap();
                let v: Vec<Value> = st.values().map(|e| self.view(e)).collect();
                Resp::json(200, &json!({"vehicles": v}))
            }
            ("POST", ["_control", "maintenance"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let Some(vin) = m.get("vin").and_then(Value::as_str).filter(|v| !v.is_empty()) else {
                    return Resp::problem(400, "Bad request", "expected {\"vin\", \"status\"?: current|overdue, \"last-service\"?, \"next-due\"?, \"next-due-km\"?, \"history\"?}");
                };
                let status = match m.get("status") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.as_str()),
                    Some(_) => return Resp::problem(400, "Bad request", "status must be current or overdue"),
                };
                match self.set(vin, status, Some(&m)) {
                    Ok(r) => Resp::json(200, &r),
                    Err(e) => Resp::problem(400, "Bad request", &e),
                }
            }
            ("POST", ["_control", "maintenance", "service"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let Some(vin) = m.get("vin").and_then(Value::as_str).filter(|v| !v.is_empty()) else {
                    return Resp::problem(400, "Bad request", "expected {\"vin\", \"workshop\", \"work\", \"date\"?, \"next-due\"?, \"mileage-km\"?, \"next-due-km\"?}");
                };
                match self.record_service(vin, &m) {
                    Ok(r) => Resp::json(200, &r),
                    Err(e) => Resp::problem(400, "Bad request", &e),
                }
            }
            _ => Resp::not_found(req),
        }
    }
}

/// A history entry `{date, workshop, work, mileage-km?}` (validated, only those fields).
fn history_entry(v: &Value) -> Result<Value, String> {
    let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    let (Some(date), Some(workshop), Some(work)) = (s("date"), s("workshop"), s("work")) else {
        return Err("a history entry needs date, workshop and work (non-empty strings)".into());
    };
    if !is_date(date) {
        return Err(format!("history date {date:?} is not a YYYY-MM-DD date"));
    }
    let mut e = json!({"date": date, "workshop": workshop, "work": work});
    match v.get("mileage-km") {
        None | Some(Value::Null) => {}
        Some(km) if km.is_u64() => e["mileage-km"] = km.clone(),
        Some(km) => return Err(format!("mileage-km must be a whole number, not {km}")),
    }
    Ok(e)
}

/// In-process driver of the VSS.
#[derive(Clone)]
pub struct VssHandle(pub(crate) Arc<Vss>);

impl VssHandle {
    /// `status`: "current" or "overdue" (anything else panics: a test bug).
    pub fn set_maintenance(&self, vin: &str, status: &str) {
        self.0.set(vin, Some(status), None).expect("set_maintenance: status must be current or overdue");
    }
    /// The next due date (`YYYY-MM-DD`) of `vin`'s record, history kept; the status follows it
    /// (`overdue` once it has passed on the simulator's clock).
    pub fn set_next_due(&self, vin: &str, next_due: &str) -> Value {
        let m = Map::from_iter([("next-due".to_string(), json!(next_due))]);
        self.0.set(vin, None, Some(&m)).expect("set_next_due: a YYYY-MM-DD date")
    }
    /// A workshop records a service on `date` with the `work` done; the next due date moves to
    /// `next_due`. Returns the record.
    pub fn record_service(&self, vin: &str, date: &str, workshop: &str, work: &str, next_due: &str) -> Value {
        let m = Map::from_iter([
            ("date".to_string(), json!(date)),
            ("workshop".to_string(), json!(workshop)),
            ("work".to_string(), json!(work)),
            ("next-due".to_string(), json!(next_due)),
        ]);
        self.0.record_service(vin, &m).expect("record_service: valid dates and texts")
    }
    /// What `GET /vehicles/{vin}/maintenance` returns.
    pub fn maintenance(&self, vin: &str) -> Value {
        self.0.get(vin)
    }
}
