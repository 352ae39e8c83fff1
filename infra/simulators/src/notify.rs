//! Notification sink: `POST /messages` (deduped by message-id), `GET /messages`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{now_rfc3339, req_str};

pub const CHANNELS: [&str; 4] = ["email", "push", "sms", "vehicle-display"];

#[derive(Default)]
struct State {
    seq: u64,
    messages: Vec<Value>,
    by_id: HashMap<String, usize>,
}

pub(crate) struct Notify {
    ctx: Arc<Ctx>,
    st: Mutex<State>,
}

impl Notify {
    pub fn new(ctx: Arc<Ctx>) -> Notify {
        Notify { ctx, st: Mutex::default() }
    }
    pub fn reset(&self) {
        let mut st = self.st.lock().unwrap();
        st.messages.clear();
        st.by_id.clear();
    }

    pub fn handle(&self, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("POST", ["messages"]) => self.post(req),
            ("GET", ["messages"]) | ("GET", ["_control", "messages"]) => Resp::json(200, &json!({"messages": self.filtered(req)})),
            ("GET", ["messages", id]) => {
                let st = self.st.lock().unwrap();
                match st.messages.iter().find(|m| m["id"] == *id || m["message-id"] == *id) {
                    Some(m) => Resp::json(200, m),
                    None => Resp::not_found(req),
                }
            }
            ("DELETE", ["_control", "messages"]) | ("POST", ["_control", "messages", "clear"]) => {
                self.reset();
                Resp::json(200, &json!({"cleared": true}))
            }
            _ => Resp::not_found(req),
        }
    }

    fn filtered(&self, req: &Req) -> Vec<Value> {
        let st = self.st.lock().unwrap();
        st.messages
            .iter()
            .filter(|m| {
                ["recipient", "template", "channel", "customer-id", "message-id"]
                    .iter()
                    .all(|k| req.q(k).is_none_or(|v| m[*k].as_str() == Some(v)))
            })
            .cloned()
            .collect()
    }

    fn post(&self, req: &Req) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let message_id = req_str(&m, "message-id", &mut errors);
        match req_str(&m, "channel", &mut errors) {
            Some(c) if !CHANNELS.contains(&c) => {
                errors.push(json!({"field": "channel", "detail": format!("must be one of {}", CHANNELS.join(", "))}))
            }
            _ => {}
        }
        req_str(&m, "recipient", &mut errors);
        req_str(&m, "template", &mut errors);
        for k in ["subject", "body"] {
            match m.get(k) {
                Some(Value::String(_)) => {}
                None | Some(Value::Null) => errors.push(json!({"field": k, "detail": "is required"})),
                Some(_) => errors.push(json!({"field": k, "detail": "must be a string"})),
            }
        }
        match m.get("customer-id") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => errors.push(json!({"field": "customer-id", "detail": "must be a string or null"})),
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let message_id = message_id.unwrap().to_string();
        let mut st = self.st.lock().unwrap();
        if let Some(&i) = st.by_id.get(&message_id) {
            let orig = &st.messages[i];
            return Resp::json(200, &json!({"id": orig["id"], "message-id": message_id, "status": "duplicate"}));
        }
        st.seq += 1;
        let id = format!("ntf_{}{:06}", self.ctx.tag, st.seq);
        let mut stored = Value::Object(m);
        stored["id"] = json!(id);
        stored["received-at"] = json!(now_rfc3339());
        let i = st.messages.len();
        st.messages.push(stored);
        st.by_id.insert(message_id.clone(), i);
        Resp::json(202, &json!({"id": id, "message-id": message_id, "status": "accepted"}))
    }
}

/// In-process view of the notification sink.
#[derive(Clone)]
pub struct NotifyHandle(pub(crate) Arc<Notify>);

impl NotifyHandle {
    /// Every accepted message (duplicates recorded once), oldest first: the posted JSON
    /// plus `id` and `received-at`.
    pub fn messages(&self) -> Vec<Value> {
        self.0.st.lock().unwrap().messages.clone()
    }
    /// Messages whose `recipient` equals `recipient`.
    pub fn messages_to(&self, recipient: &str) -> Vec<Value> {
        self.messages().into_iter().filter(|m| m["recipient"].as_str() == Some(recipient)).collect()
    }
    /// Messages with the given `template`.
    pub fn messages_with_template(&self, template: &str) -> Vec<Value> {
        self.messages().into_iter().filter(|m| m["template"].as_str() == Some(template)).collect()
    }
    pub fn clear(&self) {
        self.0.reset();
    }
}
