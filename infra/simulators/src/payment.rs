//! Payment gateway: `POST /payments`, `POST /charges` (off-session), void, refunds, all
//! idempotent by `Idempotency-Key`; signed settlement webhooks to `{app_url}/webhooks/payment`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::http::{Req, Resp};
use crate::util::{merge, now_rfc3339, req_str};

pub const WEBHOOK_PATH: &str = "/webhooks/payment";
const DEFAULT_DELAY_MS: u64 = 2000;
const DEFAULT_FAILURE: &str = "insufficient_funds";

#[derive(Default)]
struct State {
    payments: Vec<Value>,
    /// "<scope>:<Idempotency-Key>" -> (fingerprint, status, body)
    idem: HashMap<String, (String, u16, Value)>,
    /// customer-id -> remaining declines
    declines: HashMap<String, u64>,
    webhooks: Vec<Value>,
}

#[derive(Clone, Copy)]
struct Auto {
    enabled: bool,
    delay_ms: u64,
    succeed: bool,
}

pub(crate) struct Payment {
    ctx: Arc<Ctx>,
    st: Mutex<State>,
    seq: Mutex<(u64, u64, u64)>,
    auto: Mutex<Auto>,
}

impl Payment {
    pub fn new(ctx: Arc<Ctx>) -> Payment {
        let auto = Auto { enabled: ctx.auto_webhooks, delay_ms: DEFAULT_DELAY_MS, succeed: true };
        Payment { ctx, st: Mutex::default(), seq: Mutex::new((0, 0, 0)), auto: Mutex::new(auto) }
    }
    pub fn reset(&self) {
        *self.st.lock().unwrap() = State::default();
        *self.auto.lock().unwrap() = Auto { enabled: self.ctx.auto_webhooks, delay_ms: DEFAULT_DELAY_MS, succeed: true };
    }

    pub async fn handle(self: &Arc<Self>, req: &Req) -> Resp {
        match (req.method.as_str(), req.segs().as_slice()) {
            ("POST", [kind @ ("payments" | "charges")]) => self.create(req, kind),
            ("GET", ["payments" | "charges"]) | ("GET", ["_control", "payments"]) => {
                let list: Vec<Value> = self
                    .payments()
                    .into_iter()
                    .filter(|p| {
                        ["reference", "customer-id", "kind", "status"].iter().all(|k| req.q(k).is_none_or(|v| p[*k].as_str() == Some(v)))
                    })
                    .collect();
                Resp::json(200, &json!({"payments": list}))
            }
            ("GET", ["payments" | "charges", id]) => match self.find(id) {
                Some(p) => Resp::json(200, &p),
                None => Resp::problem(404, "Payment not found", &format!("no payment {id}")),
            },
            ("POST", ["payments" | "charges", id, "void"]) => self.void(id),
            ("POST", ["payments" | "charges", id, "refunds"]) => self.refund(req, id),
            ("POST", ["_control", "webhook"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let Some(id) = m.get("payment-id").and_then(Value::as_str) else {
                    return Resp::problem(400, "Bad request", "expected {\"payment-id\", \"status\": settled|failed, \"failure-reason\"?, \"extra\"?}");
                };
                let succeeded = match (m.get("succeeded").and_then(Value::as_bool), m.get("status").and_then(Value::as_str)) {
                    (Some(b), _) => b,
                    (None, Some("settled")) | (None, None) => true,
                    (None, Some("failed")) => false,
                    (None, Some(other)) => return Resp::problem(400, "Bad request", &format!("status must be settled or failed, not {other}")),
                };
                let mut extra = m.get("extra").cloned().unwrap_or(json!({}));
                if let Some(r) = m.get("failure-reason")
                    && extra.is_object()
                {
                    extra["failure-reason"] = r.clone();
                }
                let payload = self.event(id, succeeded, &extra);
                match self.ctx.send_webhook(WEBHOOK_PATH, &self.ctx.payment_secret, &payload).await {
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
            ("POST", ["_control", "decline"]) => {
                let m = match req.json_object() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                let Some(c) = m.get("customer-id").and_then(Value::as_str) else {
                    return Resp::problem(400, "Bad request", "expected {\"customer-id\", \"times\"?}");
                };
                let times = m.get("times").and_then(Value::as_u64).unwrap_or(u64::MAX);
                self.decline(c, times);
                Resp::json(200, &json!({"customer-id": c, "times": times}))
            }
            ("GET", ["_control", "webhooks"]) => Resp::json(200, &json!({"webhooks": self.st.lock().unwrap().webhooks})),
            ("GET", ["_control", "auto"]) => Resp::json(200, &self.auto_json()),
            ("POST", ["_control", "auto"]) => {
                let m = match req.json_object_or_empty() {
                    Ok(m) => m,
                    Err(r) => return r,
                };
                {
                    let mut a = self.auto.lock().unwrap();
                    if let Some(b) = m.get("enabled").and_then(Value::as_bool) {
                        a.enabled = b;
                    }
                    if let Some(ms) = m.get("delay_ms").or_else(|| m.get("delay-ms")).and_then(Value::as_u64) {
                        a.delay_ms = ms;
                    }
                    match m.get("outcome").and_then(Value::as_str) {
                        Some("settled") => a.succeed = true,
                        Some("failed") => a.succeed = false,
                        _ => {}
                    }
                }
                Resp::json(200, &self.auto_json())
            }
            _ => Resp::not_found(req),
        }
    }

    fn auto_json(&self) -> Value {
        let a = *self.auto.lock().unwrap();
        json!({"enabled": a.enabled, "delay_ms": a.delay_ms, "outcome": if a.succeed { "settled" } else { "failed" }})
    }

    fn next_id(&self, which: usize, prefix: &str) -> String {
        let mut s = self.seq.lock().unwrap();
        let n = match which {
            0 => &mut s.0,
            1 => &mut s.1,
            _ => &mut s.2,
        };
        *n += 1;
        format!("{prefix}_{}{:06}", self.ctx.tag, n)
    }

    fn create(self: &Arc<Self>, req: &Req, endpoint: &str) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let amount = match m.get("amount-minor") {
            Some(v) if v.as_i64().is_some_and(|a| a > 0) => v.as_i64().unwrap(),
            None | Some(Value::Null) => {
                errors.push(json!({"field": "amount-minor", "detail": "is required"}));
                0
            }
            Some(_) => {
                errors.push(json!({"field": "amount-minor", "detail": "must be a positive integer (minor units)"}));
                0
            }
        };
        let currency = req_str(&m, "currency", &mut errors).map(str::to_string);
        if let Some(c) = &currency
            && !(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.push(json!({"field": "currency", "detail": "must be an ISO 4217 code, e.g. EUR"}));
        }
        let reference = req_str(&m, "reference", &mut errors).map(str::to_string);
        let customer = req_str(&m, "customer-id", &mut errors).map(str::to_string);
        let kind = if endpoint == "charges" && m.get("kind").is_none_or(Value::is_null) {
            Some("subscription".to_string())
        } else {
            req_str(&m, "kind", &mut errors).map(str::to_string)
        };
        match m.get("method") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => errors.push(json!({"field": "method", "detail": "must be a string"})),
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let (currency, reference, customer, kind) = (currency.unwrap(), reference.unwrap(), customer.unwrap(), kind.unwrap());
        let fingerprint = format!("{amount}|{currency}|{reference}|{customer}|{kind}");
        let idem_key = req.header("idempotency-key").map(|k| format!("{endpoint}:{k}"));
        let mut st = self.st.lock().unwrap();
        if let Some(k) = &idem_key
            && let Some((fp, status, body)) = st.idem.get(k)
        {
            if *fp != fingerprint {
                return Resp::problem(409, "Idempotency key reused", "this Idempotency-Key was used with different parameters");
            }
            return Resp::stored(*status, body).with_header("idempotent-replayed", "true");
        }
        let id = self.next_id(0, "pay");
        let declined = match st.declines.get_mut(&customer) {
            Some(n) if *n > 0 => {
                *n = n.saturating_sub(1);
                true
            }
            _ => false,
        };
        let status = if declined { "declined" } else { "pending" };
        let mut p = Value::Object(m);
        merge(
            &mut p,
            &json!({"payment-id": id, "status": status, "endpoint": endpoint, "kind": kind, "refunded-minor": 0,
                    "refunds": [], "created-at": now_rfc3339(), "idempotency-key": req.header("idempotency-key")}),
        );
        st.payments.push(p);
        let (code, body) = if declined {
            let mut extra = Map::new();
            extra.insert("payment-id".into(), json!(id));
            extra.insert("decline-code".into(), json!("card_declined"));
            let r = Resp::problem_with(402, "Card declined", &format!("the card of customer {customer} was declined"), extra);
            (402, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        } else {
            (201, json!({"payment-id": id, "status": "pending", "amount-minor": amount, "currency": currency, "reference": reference}))
        };
        if let Some(k) = idem_key {
            st.idem.insert(k, (fingerprint, code, body.clone()));
        }
        drop(st);
        let auto = *self.auto.lock().unwrap();
        if auto.enabled && !declined {
            let me = self.clone();
            let id = id.clone();
            self.ctx.spawn(async move {
                tokio::time::sleep(Duration::from_millis(auto.delay_ms)).await;
                if me.find(&id).is_some_and(|p| p["status"] == "pending") {
                    let payload = me.event(&id, auto.succeed, &Value::Null);
                    let outcome = me.ctx.deliver(WEBHOOK_PATH, &me.ctx.payment_secret, &payload).await;
                    me.log_webhook(&payload, outcome);
                }
            });
        }
        Resp::stored(code, &body)
    }

    fn void(&self, id: &str) -> Resp {
        let mut st = self.st.lock().unwrap();
        let Some(p) = st.payments.iter_mut().find(|p| p["payment-id"] == id) else {
            return Resp::problem(404, "Payment not found", &format!("no payment {id}"));
        };
        match p["status"].as_str() {
            Some("pending") | Some("voided") => {
                p["status"] = json!("voided");
                Resp::json(200, &json!({"payment-id": id, "status": "voided"}))
            }
            s => Resp::problem(409, "Payment not voidable", &format!("payment {id} is {}", s.unwrap_or("?"))),
        }
    }

    fn refund(&self, req: &Req, id: &str) -> Resp {
        let m = match req.json_object_or_empty() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let idem_key = req.header("idempotency-key").map(|k| format!("refunds:{k}"));
        let mut st = self.st.lock().unwrap();
        if let Some(k) = &idem_key
            && let Some((fp, status, body)) = st.idem.get(k)
        {
            if fp != id {
                return Resp::problem(409, "Idempotency key reused", "this Idempotency-Key was used for another payment");
            }
            return Resp::json(*status, body).with_header("idempotent-replayed", "true");
        }
        let Some(i) = st.payments.iter().position(|p| p["payment-id"] == id) else {
            return Resp::problem(404, "Payment not found", &format!("no payment {id}"));
        };
        let p = &st.payments[i];
        let total = p["amount-minor"].as_i64().unwrap_or(0);
        let refunded = p["refunded-minor"].as_i64().unwrap_or(0);
        let amount = match m.get("amount-minor") {
            None | Some(Value::Null) => total - refunded,
            Some(v) => match v.as_i64() {
                Some(a) if a > 0 => a,
                _ => return Resp::invalid(vec![json!({"field": "amount-minor", "detail": "must be a positive integer (minor units)"})]),
            },
        };
        match p["status"].as_str() {
            Some("pending") | Some("settled") => {}
            s => return Resp::problem(409, "Payment not refundable", &format!("payment {id} is {}", s.unwrap_or("?"))),
        }
        if amount > total - refunded || amount <= 0 {
            return Resp::problem(422, "Refund exceeds payment", &format!("refundable: {} minor units, asked: {amount}", total - refunded));
        }
        let currency = p["currency"].clone();
        let refund_id = self.next_id(1, "re");
        let refund = json!({"refund-id": refund_id, "payment-id": id, "amount-minor": amount, "currency": currency,
                            "status": "succeeded", "reason": m.get("reason"), "created-at": now_rfc3339()});
        let p = &mut st.payments[i];
        p["refunded-minor"] = json!(refunded + amount);
        if let Some(a) = p["refunds"].as_array_mut() {
            a.push(refund.clone());
        }
        if let Some(k) = idem_key {
            st.idem.insert(k, (id.to_string(), 201, refund.clone()));
        }
        Resp::json(201, &refund)
    }

    /// Settlement payload; applies the outcome to the payment (unknown ids: payload only).
    fn event(&self, id: &str, succeeded: bool, extra: &Value) -> Value {
        let event_id = self.next_id(2, "pev");
        let status = if succeeded { "settled" } else { "failed" };
        let mut st = self.st.lock().unwrap();
        let mut payload = json!({"event-id": event_id, "payment-id": id, "status": status, "occurred-at": now_rfc3339()});
        if let Some(p) = st.payments.iter_mut().find(|p| p["payment-id"] == id) {
            p["status"] = json!(status);
            payload["reference"] = p["reference"].clone();
            payload["amount-minor"] = p["amount-minor"].clone();
            payload["currency"] = p["currency"].clone();
        }
        if !succeeded {
            payload["failure-reason"] = json!(DEFAULT_FAILURE);
        }
        merge(&mut payload, extra);
        if let (Some(p), Some(r)) = (st.payments.iter_mut().find(|p| p["payment-id"] == id), payload.get("failure-reason")) {
            p["failure-reason"] = r.clone();
        }
        payload
    }

    fn log_webhook(&self, payload: &Value, outcome: Value) {
        let mut entry = json!({"payload": payload, "at": now_rfc3339()});
        merge(&mut entry, &outcome);
        self.st.lock().unwrap().webhooks.push(entry);
    }

    fn find(&self, id: &str) -> Option<Value> {
        self.st.lock().unwrap().payments.iter().find(|p| p["payment-id"] == id).cloned()
    }
    fn payments(&self) -> Vec<Value> {
        self.st.lock().unwrap().payments.clone()
    }
    fn decline(&self, customer: &str, times: u64) {
        let mut st = self.st.lock().unwrap();
        if times == 0 {
            st.declines.remove(customer);
        } else {
            st.declines.insert(customer.to_string(), times);
        }
    }
}

/// In-process view and driver of the payment gateway.
#[derive(Clone)]
pub struct PaymentHandle(pub(crate) Arc<Payment>);

impl PaymentHandle {
    /// Every payment and charge created (declined ones included), oldest first.
    pub fn payments(&self) -> Vec<Value> {
        self.0.payments()
    }
    pub fn payment(&self, payment_id: &str) -> Option<Value> {
        self.0.find(payment_id)
    }
    /// Sends the signed settlement webhook (`settled` or `failed`, reason `insufficient_funds`) to
    /// `{app_url}/webhooks/payment` now; returns the app's HTTP status.
    pub async fn settle(&self, payment_id: &str, succeeded: bool) -> anyhow::Result<u16> {
        self.settle_with(payment_id, succeeded, Value::Null).await
    }
    /// As [`PaymentHandle::settle`], with `extra` merged into the payload last (`null` removes a field).
    pub async fn settle_with(&self, payment_id: &str, succeeded: bool, extra: Value) -> anyhow::Result<u16> {
        let payload = self.0.event(payment_id, succeeded, &extra);
        let r = self.0.ctx.send_webhook(WEBHOOK_PATH, &self.0.ctx.payment_secret, &payload).await;
        self.0.log_webhook(&payload, match &r {
            Ok(s) => json!({"app-status": s}),
            Err(e) => json!({"error": e.to_string()}),
        });
        r
    }
    /// The next `times` payments/charges of `customer_id` are declined (402); 0 clears it.
    pub fn decline(&self, customer_id: &str, times: u64) {
        self.0.decline(customer_id, times);
    }
    /// Every refund, oldest first.
    pub fn refunds(&self) -> Vec<Value> {
        self.0.payments().iter().flat_map(|p| p["refunds"].as_array().cloned().unwrap_or_default()).collect()
    }
    /// Webhooks sent so far: [{payload, at, app-status | error, attempts?}].
    pub fn webhooks(&self) -> Vec<Value> {
        self.0.st.lock().unwrap().webhooks.clone()
    }
    /// Automatic settlement of payments created from now on.
    pub fn set_auto(&self, enabled: bool, delay_ms: u64, succeed: bool) {
        *self.0.auto.lock().unwrap() = Auto { enabled, delay_ms, succeed };
    }
}
