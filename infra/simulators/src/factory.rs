//! Factory order API: `POST /orders` (idempotent by `Idempotency-Key`), `GET /orders[/{id}]`,
//! and signed status webhooks to `{app_url}/webhooks/factory`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{VIN_ALPHABET, add_days, date_in_days, merge, now_rfc3339, req_str};

pub const STATUSES: [&str; 7] =
    ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership", "delayed"];
/// The path the automatic webhooks walk.
const AUTO_PATH: [&str; 6] = ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"];
pub const WEBHOOK_PATH: &str = "/webhooks/factory";
const DEFAULT_STEP_MS: u64 = 3000;
const BUILD_DAYS: i64 = 60;
const DELAY_DAYS: i64 = 14;

#[derive(Default)]
struct State {
    orders: Vec<Value>,
    /// Idempotency-Key -> (order-ref, response body).
    idem: HashMap<String, (String, Value)>,
    webhooks: Vec<Value>,
}

struct Seq {
    order: u64,
    vin: u64,
    event: u64,
}

pub(crate) struct Factory {
    ctx: Arc<Ctx>,
    st: Mutex<State>,
    seq: Mutex<Seq>,
    /// (enabled, step_ms)
    auto: Mutex<(bool, u64)>,
}

impl Factory {
    pub fn new(ctx: Arc<Ctx>) -> Factory {
        let auto = ctx.auto_webhooks;
        Factory { ctx, st: Mutex::default(), seq: Mutex::new(Seq { order: 0, vin: 0, event: 0 }), auto: Mutex::new((auto, DEFAULT_STEP_MS)) }
    }
    pub fn reset(&self) {
        *self.st.lock().unwrap() = State::default();
        *self.auto.lock().unwrap() = (self.ctx.auto_webhooks, DEFAULT_STEP_MS);
    }

    pub async fn handle(self: &Arc<Self>, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("POST", ["orders"]) => self.create(req),
            ("GET", ["orders"]) | ("GET", ["_control", "orders"]) => {
                let orders: Vec<Value> = self
                    .orders()
                    .into_iter()
                    .filter(|o| req.q("order-ref").is_none_or(|r| o["order-ref"].as_str() == Some(r)))
                    .collect();
                Resp::json(200, &json!({"orders": orders}))
            }
            ("GET", ["orders", id]) => match self.find(id) {
                Some(o) => Resp::json(200, &o),
                None => Resp::problem(404, "Order not found", &format!("no factory order {id}")),
            },
            ("POST", ["_control", "webhook"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let key = m.get("order-ref").or_else(|| m.get("factory-order-id")).and_then(Value::as_str);
                let (Some(key), Some(status)) = (key, m.get("status").and_then(Value::as_str)) else {
                    return Resp::problem(400, "Bad request", "expected {\"order-ref\" or \"factory-order-id\", \"status\", \"extra\"?}");
                };
                let extra = m.get("extra").cloned().unwrap_or(Value::Null);
                let payload = self.event(key, status, &extra);
                match self.ctx.send_webhook(WEBHOOK_PATH, &self.ctx.factory_secret, &payload).await {
                    Ok(s) => {
                        self.log_webhook(&payload, json!({"app-status": s}));
                        Resp::json(200, &json!({"app-status": s, "payload": payload}))
                    }
                    Err(e) => {
                        self.log_webhook(&payload, json!({"error": e.to_string()}));
                        Resp::problem(502, "Webhook delivery failed", &e.to_string())
                    }
                }
            }
            ("GET", ["_control", "webhooks"]) => Resp::json(200, &json!({"webhooks": self.st.lock().unwrap().webhooks})),
            ("GET", ["_control", "auto"]) => {
                let (on, ms) = *self.auto.lock().unwrap();
                Resp::json(200, &json!({"enabled": on, "step_ms": ms}))
            }
            ("POST", ["_control", "auto"]) => {
                let m = match req.json_object_or_empty() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let mut a = self.auto.lock().unwrap();
                if let Some(b) = m.get("enabled").and_then(Value::as_bool) {
                    a.0 = b;
                }
                if let Some(ms) = m.get("step_ms").or_else(|| m.get("step-ms")).and_then(Value::as_u64) {
                    a.1 = ms;
                }
                Resp::json(200, &json!({"enabled": a.0, "step_ms": a.1}))
            }
            _ => Resp::not_found(req),
        }
    }

    fn create(self: &Arc<Self>, req: &Req) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let order_ref = req_str(&m, "order-ref", &mut errors).map(str::to_string);
        req_str(&m, "model", &mut errors);
        match m.get("options") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
            Some(_) => errors.push(json!({"field": "options", "detail": "must be an array of strings"})),
        }
        let country = req_str(&m, "country", &mut errors).map(str::to_ascii_uppercase);
        if let Some(c) = &country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            errors.push(json!({"field": "country", "detail": "must be an ISO 3166-1 alpha-2 code"}));
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let order_ref = order_ref.unwrap();
        // Without an Idempotency-Key the order-ref is the key: one car per order.
        let key = req.header("idempotency-key").map(str::to_string).unwrap_or_else(|| format!("order-ref:{order_ref}"));
        let mut st = self.st.lock().unwrap();
        if let Some((r, body)) = st.idem.get(&key) {
            if *r != order_ref {
                return Resp::problem(409, "Idempotency key reused", &format!("Idempotency-Key {key} was used for order-ref {r}"));
            }
            return Resp::json(201, body).with_header("idempotent-replayed", "true");
        }
        let id = {
            let mut s = self.seq.lock().unwrap();
            s.order += 1;
            format!("FO-{}-{:06}", self.ctx.tag, s.order)
        };
        let eta = date_in_days(BUILD_DAYS);
        let mut order = Value::Object(m);
        merge(
            &mut order,
            &json!({"factory-order-id": id, "order-ref": order_ref, "country": country, "status": "placed",
                    "estimated-completion": eta, "created-at": now_rfc3339(), "idempotency-key": key, "history": []}),
        );
        if order.get("options").is_none_or(Value::is_null) {
            order["options"] = json!([]);
        }
        order["vin"] = Value::Null;
        st.orders.push(order);
        let body = json!({"factory-order-id": id, "order-ref": order_ref, "status": "placed", "estimated-completion": eta});
        st.idem.insert(key, (order_ref, body.clone()));
        drop(st);
        let (auto, step) = *self.auto.lock().unwrap();
        if auto {
            let me = self.clone();
            self.ctx.spawn(async move {
                for status in AUTO_PATH {
                    tokio::time::sleep(Duration::from_millis(step)).await;
                    let payload = me.event(&id, status, &Value::Null);
                    let outcome = me.ctx.deliver(WEBHOOK_PATH, &me.ctx.factory_secret, &payload).await;
                    me.log_webhook(&payload, outcome);
                }
            });
        }
        Resp::json(201, &body)
    }

    fn find(&self, id: &str) -> Option<Value> {
        let st = self.st.lock().unwrap();
        st.orders.iter().find(|o| o["factory-order-id"] == id).or_else(|| st.orders.iter().find(|o| o["order-ref"] == id)).cloned()
    }

    fn next_vin(&self) -> String {
        let mut s = self.seq.lock().unwrap();
        s.vin += 1;
        // WMI "WCA" + per-run tag (5) + "0" + serial (8) = 17 characters, no I/O/Q.
        let vin = format!("WCA{}0{:08}", self.ctx.tag, s.vin);
        debug_assert!(vin.len() == 17 && vin.bytes().all(|b| VIN_ALPHABET.contains(&b)));
        vin
    }

    /// Builds the webhook payload for `key` (order-ref or factory-order-id) and applies the
    /// status to the order (VIN assigned at the first non-`delayed` status, ETA moved on `delayed`).
    /// Unknown orders give a payload without `factory-order-id` (for forging tests).
    fn event(&self, key: &str, status: &str, extra: &Value) -> Value {
        let event_id = {
            let mut s = self.seq.lock().unwrap();
            s.event += 1;
            format!("fev_{}{:06}", self.ctx.tag, s.event)
        };
        let now = now_rfc3339();
        let needs_vin = {
            let st = self.st.lock().unwrap();
            let o = st.orders.iter().find(|o| o["factory-order-id"] == key || o["order-ref"] == key);
            o.is_some_and(|o| o["vin"].is_null()) && status != "delayed" && STATUSES.contains(&status)
        };
        let new_vin = if needs_vin { Some(self.next_vin()) } else { None };
        let mut st = self.st.lock().unwrap();
        let idx = st.orders.iter().position(|o| o["factory-order-id"] == key).or_else(|| st.orders.iter().position(|o| o["order-ref"] == key));
        let mut payload = match idx {
            Some(i) => {
                let o = &mut st.orders[i];
                if let Some(v) = new_vin {
                    o["vin"] = json!(v);
                }
                if status == "delayed" {
                    let eta = add_days(o["estimated-completion"].as_str().unwrap_or(""), DELAY_DAYS);
                    o["estimated-completion"] = json!(eta);
                }
                if let Some(d) = extra.get("estimated-date").and_then(Value::as_str) {
                    o["estimated-completion"] = json!(d);
                }
                o["status"] = json!(status);
                if let Some(h) = o["history"].as_array_mut() {
                    h.push(json!({"status": status, "at": now, "event-id": event_id}));
                }
                let mut p = json!({"event-id": event_id, "factory-order-id": o["factory-order-id"], "order-ref": o["order-ref"],
                                   "status": status, "estimated-date": o["estimated-completion"], "occurred-at": now});
                if !o["vin"].is_null() {
                    p["vin"] = o["vin"].clone();
                }
                p
            }
            None => json!({"event-id": event_id, "order-ref": key, "status": status, "occurred-at": now}),
        };
        merge(&mut payload, extra);
        payload
    }

    fn log_webhook(&self, payload: &Value, outcome: Value) {
        let mut entry = json!({"payload": payload, "at": now_rfc3339()});
        merge(&mut entry, &outcome);
        self.st.lock().unwrap().webhooks.push(entry);
    }

    fn orders(&self) -> Vec<Value> {
        self.st.lock().unwrap().orders.clone()
    }
}

/// In-process view and driver of the factory.
#[derive(Clone)]
pub struct FactoryHandle(pub(crate) Arc<Factory>);

impl FactoryHandle {
    /// Every order placed (one per distinct idempotency key), oldest first.
    pub fn orders(&self) -> Vec<Value> {
        self.0.orders()
    }
    /// One order by factory-order-id or order-ref.
    pub fn order(&self, id_or_ref: &str) -> Option<Value> {
        self.0.find(id_or_ref)
    }
    /// Sends a signed status webhook for the order (`order_ref` may also be a factory-order-id)
    /// to `{app_url}/webhooks/factory` now; returns the app's HTTP status. `extra` (an object, or
    /// `Value::Null`) is merged into the payload last (a `null` member removes a field), e.g.
    /// `json!({"event-id": "fev_same"})` to replay an event id.
    pub async fn send_status(&self, order_ref: &str, status: &str, extra: Value) -> anyhow::Result<u16> {
        let payload = self.0.event(order_ref, status, &extra);
        let r = self.0.ctx.send_webhook(WEBHOOK_PATH, &self.0.ctx.factory_secret, &payload).await;
        self.0.log_webhook(&payload, match &r {
            Ok(s) => json!({"app-status": s}),
            Err(e) => json!({"error": e.to_string()}),
        });
        r
    }
    /// Webhooks sent so far: [{payload, at, app-status | error, attempts?}].
    pub fn webhooks(&self) -> Vec<Value> {
        self.0.st.lock().unwrap().webhooks.clone()
    }
    /// Turns the automatic status progression on/off for orders placed from now on.
    pub fn set_auto(&self, enabled: bool, step_ms: u64) {
        *self.0.auto.lock().unwrap() = (enabled, step_ms);
    }
}
