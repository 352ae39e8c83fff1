//! VSS maintenance API: `GET /vehicles/{vin}/maintenance` (unknown VIN: current).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::http::{Req, Resp};
use crate::util::date_in_days;

pub(crate) struct Vss {
    /// vin -> explicit record
    st: Mutex<BTreeMap<String, Value>>,
}

fn record(vin: &str, status: &str) -> Value {
    match status {
        "overdue" => json!({"vin": vin, "status": "overdue", "last-service": date_in_days(-400), "next-due": date_in_days(-35)}),
        _ => json!({"vin": vin, "status": "current", "last-service": date_in_days(-90), "next-due": date_in_days(275)}),
    }
}

impl Vss {
    pub fn new() -> Vss {
        Vss { st: Mutex::default() }
    }
    pub fn reset(&self) {
        self.st.lock().unwrap().clear();
    }
    fn get(&self, vin: &str) -> Value {
        self.st.lock().unwrap().get(vin).cloned().unwrap_or_else(|| record(vin, "current"))
    }
    fn set(&self, vin: &str, status: &str, extra: Option<&serde_json::Map<String, Value>>) -> Result<Value, String> {
        if status != "current" && status != "overdue" {
            return Err(format!("status must be current or overdue, not {status}"));
        }
        let mut r = record(vin, status);
        if let Some(m) = extra {
            for k in ["last-service", "next-due"] {
                if let Some(v) = m.get(k).filter(|v| v.is_string()) {
                    r[k] = v.clone();
                }
            }
        }
        self.st.lock().unwrap().insert(vin.to_string(), r.clone());
        Ok(r)
    }

    pub fn handle(&self, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("GET", ["vehicles", vin, "maintenance"]) => Resp::json(200, &self.get(vin)),
            ("GET", ["_control", "maintenance"]) => {
                let v: Vec<Value> = self.st.lock().unwrap().values().cloned().collect();
                Resp::json(200, &json!({"vehicles": v}))
            }
            ("POST", ["_control", "maintenance"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let (Some(vin), Some(status)) = (m.get("vin").and_then(Value::as_str), m.get("status").and_then(Value::as_str)) else {
                    return Resp::problem(400, "Bad request", "expected {\"vin\", \"status\": current|overdue, \"last-service\"?, \"next-due\"?}");
                };
                match self.set(vin, status, Some(&m)) {
                    Ok(r) => Resp::json(200, &r),
                    Err(e) => Resp::problem(400, "Bad request", &e),
                }
            }
            _ => Resp::not_found(req),
        }
    }
}

/// In-process driver of the VSS.
#[derive(Clone)]
pub struct VssHandle(pub(crate) Arc<Vss>);

impl VssHandle {
    /// `status`: "current" or "overdue" (anything else panics: a test bug).
    pub fn set_maintenance(&self, vin: &str, status: &str) {
        self.0.set(vin, status, None).expect("set_maintenance: status must be current or overdue");
    }
    /// What `GET /vehicles/{vin}/maintenance` returns.
    pub fn maintenance(&self, vin: &str) -> Value {
        self.0.get(vin)
    }
}
