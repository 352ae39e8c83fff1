//! IoT/OTA API: commands (idempotent by command-id), vehicle status, in-vehicle display.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{merge, now_rfc3339, req_str};

const FIRMWARE: &str = "2026.10.1";

#[derive(Default)]
struct State {
    seq: u64,
    /// vin -> status object {vin, online, firmware, features{}, ...}
    vehicles: BTreeMap<String, Value>,
    /// Applied commands, oldest first.
    commands: Vec<Value>,
    by_command_id: HashMap<String, usize>,
    displays: Vec<Value>,
}

impl State {
    fn vehicle(&mut self, vin: &str) -> &mut Value {
        self.vehicles
            .entry(vin.to_string())
            .or_insert_with(|| json!({"vin": vin, "online": true, "firmware": FIRMWARE, "features": {}, "last-seen": now_rfc3339()}))
    }
}

pub(crate) struct Iot {
    ctx: Arc<Ctx>,
    st: Mutex<State>,
}

impl Iot {
    pub fn new(ctx: Arc<Ctx>) -> Iot {
        Iot { ctx, st: Mutex::default() }
    }
    pub fn reset(&self) {
        let mut st = self.st.lock().unwrap();
        let seq = st.seq;
        *st = State { seq, ..State::default() };
    }

    pub fn handle(&self, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            // The documented push (overview.md: `POST /ota/configure`, the VIN in the body).
            ("POST", ["ota", "configure"]) => match req.json_object() {
                Ok(m) => match m.get("vin").and_then(Value::as_str).map(str::trim).filter(|v| !v.is_empty()) {
                    Some(vin) => self.command(req, &vin.to_string()),
                    None => Resp::invalid(vec![json!({"field": "vin", "detail": "is required"})]),
                },
                Err(r) => r,
            },
            // Earlier per-vehicle form of the same command (kept for old clients).
            ("POST", ["vehicles", vin, "commands"]) => self.command(req, vin),
            ("GET", ["vehicles", vin, "commands"]) => Resp::json(200, &json!({"commands": self.commands_for(vin)})),
            ("GET", ["vehicles", vin, "status"]) | ("GET", ["_control", "vehicles", vin, "status"]) => {
                Resp::json(200, &self.status(vin))
            }
            ("POST", ["vehicles", vin, "display"]) => self.display(req, vin),
            ("GET", ["_control", "commands"]) => Resp::json(200, &json!({"commands": self.st.lock().unwrap().commands})),
            ("GET", ["_control", "displays"]) => Resp::json(200, &json!({"displays": self.st.lock().unwrap().displays})),
            ("GET", ["_control", "vehicles"]) => {
                let v: Vec<Value> = self.st.lock().unwrap().vehicles.values().cloned().collect();
                Resp::json(200, &json!({"vehicles": v}))
            }
            ("POST", ["_control", "vehicles", vin, "status"]) => match req.json_object() {
                Ok(m) => {
                    self.set_status(vin, &Value::Object(m));
                    Resp::json(200, &self.status(vin))
                }
                Err(r) => r,
            },
            _ => Resp::not_found(req),
        }
    }

    fn command(&self, req: &Req, vin: &str) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let command_id = req_str(&m, "command-id", &mut errors).map(str::to_string);
        let feature = req_str(&m, "feature", &mut errors).map(str::to_string);
        let action = req_str(&m, "action", &mut errors).map(str::to_string);
        if let Some(a) = &action
            && a != "activate"
            && a != "deactivate"
        {
            errors.push(json!({"field": "action", "detail": "must be activate or deactivate"}));
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let (command_id, feature, action) = (command_id.unwrap(), feature.unwrap(), action.unwrap());
        let mut st = self.st.lock().unwrap();
        if let Some(&i) = st.by_command_id.get(&command_id) {
            let c = &st.commands[i];
            if c["vin"] != vin || c["feature"] != feature.as_str() || c["action"] != action.as_str() {
                return Resp::problem(409, "Command id reused", &format!("command {command_id} was already used for another command"));
            }
            return Resp::json(200, &json!({"status": "applied", "command-id": command_id, "vin": vin, "feature": feature,
                                           "state": c["state"], "replayed": true}));
        }
        if st.vehicle(vin)["online"] == false {
            return Resp::problem(503, "Vehicle offline", &format!("vehicle {vin} is not reachable"));
        }
        let state = if action == "activate" { "active" } else { "inactive" };
        st.seq += 1;
        let record = json!({"seq": st.seq, "command-id": command_id, "vin": vin, "feature": feature, "action": action,
                            "state": state, "applied-at": now_rfc3339(), "request": Value::Object(m)});
        let v = st.vehicle(vin);
        v["features"][&feature] = json!(state);
        v["last-seen"] = json!(now_rfc3339());
        let i = st.commands.len();
        st.commands.push(record);
        st.by_command_id.insert(command_id.clone(), i);
        Resp::json(202, &json!({"status": "applied", "command-id": command_id, "vin": vin, "feature": feature, "state": state}))
    }

    fn display(&self, req: &Req, vin: &str) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let message = m.get("message").or_else(|| m.get("body")).and_then(Value::as_str).unwrap_or("");
        if message.trim().is_empty() {
            return Resp::invalid(vec![json!({"field": "message", "detail": "is required"})]);
        }
        let mut st = self.st.lock().unwrap();
        // A repeated message-id (a retry after a lost answer) is shown once.
        let message_id = m.get("message-id").and_then(Value::as_str).unwrap_or("");
        if !message_id.is_empty()
            && let Some(d) = st.displays.iter().find(|d| d["vin"] == vin && d["request"]["message-id"] == message_id)
        {
            return Resp::json(200, &json!({"status": "displayed", "display-id": d["display-id"], "vin": vin, "replayed": true}));
        }
        if st.vehicle(vin)["online"] == false {
            return Resp::problem(503, "Vehicle offline", &format!("vehicle {vin} is not reachable"));
        }
        st.seq += 1;
        let id = format!("dsp_{}{:06}", self.ctx.tag, st.seq);
        let mut rec = json!({"display-id": id, "vin": vin, "message": message, "shown-at": now_rfc3339()});
        merge(&mut rec, &json!({"request": Value::Object(m)}));
        st.displays.push(rec);
        Resp::json(202, &json!({"status": "displayed", "display-id": id, "vin": vin}))
    }

    fn status(&self, vin: &str) -> Value {
        self.st.lock().unwrap().vehicle(vin).clone()
    }
    fn set_status(&self, vin: &str, patch: &Value) {
        let mut st = self.st.lock().unwrap();
        let v = st.vehicle(vin);
        merge(v, patch);
        v["vin"] = json!(vin);
    }
    fn commands_for(&self, vin: &str) -> Vec<Value> {
        self.st.lock().unwrap().commands.iter().filter(|c| c["vin"] == vin).cloned().collect()
    }
}

/// In-process view and driver of the IoT/OTA API.
#[derive(Clone)]
pub struct IotHandle(pub(crate) Arc<Iot>);

impl IotHandle {
    /// Every applied command (each command-id once), oldest first:
    /// {seq, command-id, vin, feature, action, state, applied-at, request}.
    pub fn commands(&self) -> Vec<Value> {
        self.0.st.lock().unwrap().commands.clone()
    }
    pub fn commands_for(&self, vin: &str) -> Vec<Value> {
        self.0.commands_for(vin)
    }
    /// Merges `status` (an object) into the vehicle's status, e.g.
    /// `json!({"online": false})` (commands then get 503) or `json!({"firmware": "2027.1"})`.
    pub fn set_vehicle_status(&self, vin: &str, status: Value) {
        self.0.set_status(vin, &status);
    }
    /// {vin, online, firmware, features: {feature: "active"|"inactive"}, last-seen}.
    pub fn vehicle_status(&self, vin: &str) -> Value {
        self.0.status(vin)
    }
    /// `Some("active")`/`Some("inactive")` once a command touched the feature.
    pub fn feature_state(&self, vin: &str, feature: &str) -> Option<String> {
        self.0.status(vin)["features"][feature].as_str().map(str::to_string)
    }
    /// Messages shown on vehicle displays: {display-id, vin, message, shown-at, request}.
    pub fn displays(&self) -> Vec<Value> {
        self.0.st.lock().unwrap().displays.clone()
    }
}
