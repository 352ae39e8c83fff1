//! Payment gateway: `POST /payments`, `POST /charges` (off-session), void, refunds, all
//! idempotent by `Idempotency-Key`; signed settlement webhooks to `{app_url}/webhooks/payment`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::Ctx;
use crate::checkout::{self, CardOutcome, Subject};
use crate::http::{Req, Resp};
use crate::util::{civil_from_days, merge, now_rfc3339, req_str};

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
    /// Saved payment methods: [{id: "pm_…", customer-id, brand, last4, created-at}].
    methods: Vec<Value>,
    /// Setup sessions: [{setup-id, customer-id, return-url, status, payment-method?, created-at}].
    setups: Vec<Value>,
    /// Checkouts waiting at the "confirm with your bank" step: id -> (brand, last4, save).
    confirming: HashMap<String, (String, String, bool)>,
}

/// What a checkout page is for.
#[derive(Clone, Copy)]
enum Target<'a> {
    Pay(&'a str),
    Setup(&'a str),
}

/// A checkout's data as the pages need it.
struct View {
    status: String,
    open: bool,
    return_url: String,
    customer: String,
    amount_minor: i64,
    currency: String,
    reference: String,
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
    seq: Mutex<[u64; 5]>,
    auto: Mutex<Auto>,
    /// This simulator's own base URL (for `checkout-url`), set once its listener is bound.
    base_url: Mutex<String>,
}

impl Payment {
    pub fn new(ctx: Arc<Ctx>) -> Payment {
        let auto = Auto { enabled: ctx.auto_webhooks, delay_ms: DEFAULT_DELAY_MS, succeed: true };
        Payment { ctx, st: Mutex::default(), seq: Mutex::new([0; 5]), auto: Mutex::new(auto), base_url: Mutex::default() }
    }
    pub fn set_base_url(&self, url: &str) {
        *self.base_url.lock().unwrap() = url.trim_end_matches('/').to_string();
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
            ("POST", ["setup-sessions"]) => self.create_setup(req),
            ("GET", ["setup-sessions", id]) | ("GET", ["_control", "setup-sessions", id]) => match self.setup(id) {
                Some(s) => Resp::json(200, &setup_json(&s)),
                None => Resp::problem(404, "Setup session not found", &format!("no setup session {id}")),
            },
            ("GET", ["_control", "setup-sessions"]) => Resp::json(200, &json!({"setup-sessions": self.st.lock().unwrap().setups})),
            ("GET", ["payment-methods"]) | ("GET", ["_control", "payment-methods"]) => {
                let list: Vec<Value> =
                    self.methods().into_iter().filter(|m| req.q("customer-id").is_none_or(|c| m["customer-id"].as_str() == Some(c))).collect();
                Resp::json(200, &json!({"payment-methods": list}))
            }
            ("GET", ["checkout", "setup", id]) => self.checkout_page(Target::Setup(id)),
            ("POST", ["checkout", "setup", id, "pay"]) => self.checkout_pay(req, Target::Setup(id)).await,
            ("POST", ["checkout", "setup", id, "confirm"]) => self.checkout_confirm(req, Target::Setup(id)).await,
            ("GET" | "POST", ["checkout", "setup", id, "cancel"]) => self.checkout_cancel(Target::Setup(id)),
            ("GET", ["checkout", id]) => self.checkout_page(Target::Pay(id)),
            ("POST", ["checkout", id, "pay"]) => self.checkout_pay(req, Target::Pay(id)).await,
            ("POST", ["checkout", id, "confirm"]) => self.checkout_confirm(req, Target::Pay(id)).await,
            ("GET" | "POST", ["checkout", id, "cancel"]) => self.checkout_cancel(Target::Pay(id)),
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
        let n = &mut s[which.min(4)];
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
        let hosted = match m.get("method") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => s == "hosted",
            Some(_) => {
                errors.push(json!({"field": "method", "detail": "must be a string"}));
                false
            }
        };
        if hosted {
            match m.get("return-url") {
                Some(Value::String(u)) if checkout::is_absolute_http_url(u) => {}
                None | Some(Value::Null) => errors.push(json!({"field": "return-url", "detail": "is required with method hosted"})),
                Some(_) => errors.push(json!({"field": "return-url", "detail": "must be an absolute http(s) URL"})),
            }
        }
        let method_token = match m.get("payment-method") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if !t.trim().is_empty() => Some(t.clone()),
            Some(_) => {
                errors.push(json!({"field": "payment-method", "detail": "must be a payment method id (pm_…)"}));
                None
            }
        };
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
        // A saved payment method must exist and belong to this customer.
        let method_invalid = method_token
            .as_deref()
            .is_some_and(|t| !st.methods.iter().any(|pm| pm["id"].as_str() == Some(t) && pm["customer-id"].as_str() == Some(customer.as_str())));
        let declined = method_invalid
            || match st.declines.get_mut(&customer) {
                Some(n) if *n > 0 => {
                    *n = n.saturating_sub(1);
                    true
                }
                _ => false,
            };
        let checkout_url = (hosted && !declined).then(|| format!("{}/checkout/{id}", self.base_url.lock().unwrap()));
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
            let r = if method_invalid {
                extra.insert("decline-code".into(), json!("payment_method_invalid"));
                Resp::problem_with(402, "Payment method invalid", &format!("the payment method is not a saved method of customer {customer}"), extra)
            } else {
                extra.insert("decline-code".into(), json!("card_declined"));
                Resp::problem_with(402, "Card declined", &format!("the card of customer {customer} was declined"), extra)
            };
            (402, serde_json::from_slice(&r.body).unwrap_or(Value::Null))
        } else {
            let mut b = json!({"payment-id": id, "status": "pending", "amount-minor": amount, "currency": currency, "reference": reference});
            if let Some(u) = &checkout_url {
                b["checkout-url"] = json!(u);
            }
            (201, b)
        };
        if let Some(u) = &checkout_url
            && let Some(p) = st.payments.last_mut()
        {
            p["checkout-url"] = json!(u);
        }
        if let Some(k) = idem_key {
            st.idem.insert(k, (fingerprint, code, body.clone()));
        }
        drop(st);
        let auto = *self.auto.lock().unwrap();
        // A hosted payment waits for the customer at the checkout page.
        if auto.enabled && !declined && !hosted {
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

    // ------------------------------------------------------------------------- setup sessions

    fn create_setup(&self, req: &Req) -> Resp {
        let m = match req.json_object() {
            Ok(m) => m,
            Err(r) => return r,
        };
        let mut errors = Vec::new();
        let customer = req_str(&m, "customer-id", &mut errors).map(str::to_string);
        match m.get("return-url") {
            Some(Value::String(u)) if checkout::is_absolute_http_url(u) => {}
            None | Some(Value::Null) => errors.push(json!({"field": "return-url", "detail": "is required"})),
            Some(_) => errors.push(json!({"field": "return-url", "detail": "must be an absolute http(s) URL"})),
        }
        if !errors.is_empty() {
            return Resp::invalid(errors);
        }
        let id = self.next_id(3, "seti");
        let url = format!("{}/checkout/setup/{id}", self.base_url.lock().unwrap());
        let s = json!({"setup-id": id, "customer-id": customer, "return-url": m["return-url"], "status": "open",
                       "checkout-url": url, "created-at": now_rfc3339()});
        self.st.lock().unwrap().setups.push(s);
        Resp::json(201, &json!({"setup-id": id, "checkout-url": url, "status": "open"}))
    }

    fn setup(&self, id: &str) -> Option<Value> {
        self.st.lock().unwrap().setups.iter().find(|s| s["setup-id"] == id).cloned()
    }
    fn methods(&self) -> Vec<Value> {
        self.st.lock().unwrap().methods.clone()
    }

    /// A new saved card of `customer` (the gateway's token).
    fn save_method(&self, customer: &str, brand: &str, last4: &str) -> Value {
        let pm = json!({"id": self.next_id(4, "pm"), "customer-id": customer, "brand": brand, "last4": last4, "created-at": now_rfc3339()});
        self.st.lock().unwrap().methods.push(pm.clone());
        json!({"id": pm["id"], "brand": brand, "last4": last4})
    }

    // ------------------------------------------------------------------------- hosted checkout

    fn view(&self, t: Target) -> Option<View> {
        let st = self.st.lock().unwrap();
        let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
        match t {
            Target::Pay(id) => {
                let p = st.payments.iter().find(|p| p["payment-id"] == id && p["method"] == "hosted" && p.get("checkout-url").is_some())?;
                let status = s(p, "status");
                Some(View {
                    open: status == "pending",
                    status,
                    return_url: s(p, "return-url"),
                    customer: s(p, "customer-id"),
                    amount_minor: p["amount-minor"].as_i64().unwrap_or(0),
                    currency: s(p, "currency"),
                    reference: s(p, "reference"),
                })
            }
            Target::Setup(id) => {
                let x = st.setups.iter().find(|x| x["setup-id"] == id)?;
                let status = s(x, "status");
                Some(View {
                    open: status == "open",
                    status,
                    return_url: s(x, "return-url"),
                    customer: s(x, "customer-id"),
                    amount_minor: 0,
                    currency: String::new(),
                    reference: String::new(),
                })
            }
        }
    }

    fn subject<'v>(v: &'v View, t: Target) -> Subject<'v> {
        match t {
            Target::Pay(_) => Subject::Payment { amount_minor: v.amount_minor, currency: &v.currency, reference: &v.reference },
            Target::Setup(_) => Subject::Setup,
        }
    }

    fn paths(t: Target) -> (String, &'static str) {
        match t {
            Target::Pay(id) => (format!("/checkout/{id}"), "payment"),
            Target::Setup(id) => (format!("/checkout/setup/{id}"), "card setup"),
        }
    }

    fn not_found_page(t: Target) -> Resp {
        Resp::html(404, checkout::not_found_page(Self::paths(t).1))
    }

    fn done_page(v: &View, t: Target, status: u16) -> Resp {
        let shown = if v.status == "open" { "pending" } else { v.status.as_str() };
        Resp::html(status, checkout::done_page(Self::paths(t).1, shown, (!v.return_url.is_empty()).then_some(v.return_url.as_str())))
    }

    fn checkout_page(&self, t: Target) -> Resp {
        let Some(v) = self.view(t) else { return Self::not_found_page(t) };
        if !v.open {
            return Self::done_page(&v, t, 200);
        }
        let (base, _) = Self::paths(t);
        Resp::html(200, checkout::form_page(&Self::subject(&v, t), &format!("{base}/pay"), &format!("{base}/cancel"), None, ""))
    }

    fn checkout_cancel(&self, t: Target) -> Resp {
        let Some(v) = self.view(t) else { return Self::not_found_page(t) };
        if !v.open {
            return Self::done_page(&v, t, 409);
        }
        self.st.lock().unwrap().confirming.remove(Self::key(t));
        Self::redirect(&v, t, "abandoned")
    }

    fn key(t: Target<'_>) -> &str {
        match t {
            Target::Pay(id) | Target::Setup(id) => id,
        }
    }

    fn redirect(v: &View, t: Target, result: &str) -> Resp {
        let url = match t {
            Target::Pay(id) => checkout::return_to(&v.return_url, &[("payment_id", id), ("result", result)]),
            Target::Setup(id) => checkout::return_to(&v.return_url, &[("setup_id", id), ("result", result)]),
        };
        Resp::html(303, format!("<!doctype html><title>Redirecting</title><a href=\"{0}\">Continue</a>", checkout::esc(&url)))
            .with_header("location", url)
    }

    async fn checkout_pay(self: &Arc<Self>, req: &Req, t: Target<'_>) -> Resp {
        let Some(v) = self.view(t) else { return Self::not_found_page(t) };
        if !v.open {
            return Self::done_page(&v, t, 409);
        }
        let form = checkout::parse_form(&req.body);
        let (y, m, _) = civil_from_days((self.ctx.unix_now() / 86_400) as i64);
        let card = match checkout::validate(&form, y, m) {
            Ok(c) => c,
            Err(e) => {
                let (base, _) = Self::paths(t);
                let page = checkout::form_page(&Self::subject(&v, t), &format!("{base}/pay"), &format!("{base}/cancel"), Some(&e), &form.name);
                return Resp::html(422, page);
            }
        };
        let save = form.save || matches!(t, Target::Setup(_));
        match card.outcome {
            CardOutcome::Succeeds => self.finish(&v, t, Some((card.brand.to_string(), card.last4, save))).await,
            CardOutcome::Declined => self.finish(&v, t, None).await,
            CardOutcome::NeedsConfirmation => {
                self.st.lock().unwrap().confirming.insert(Self::key(t).to_string(), (card.brand.to_string(), card.last4.clone(), save));
                let (base, _) = Self::paths(t);
                Resp::html(200, checkout::confirm_page(&Self::subject(&v, t), &format!("{base}/confirm"), card.brand, &card.last4))
            }
        }
    }

    async fn checkout_confirm(self: &Arc<Self>, req: &Req, t: Target<'_>) -> Resp {
        let Some(v) = self.view(t) else { return Self::not_found_page(t) };
        if !v.open {
            return Self::done_page(&v, t, 409);
        }
        let Some(card) = self.st.lock().unwrap().confirming.remove(Self::key(t)) else {
            // Nothing to confirm (e.g. the page was reloaded): back to the card form.
            return Resp::html(303, String::new()).with_header("location", Self::paths(t).0);
        };
        if checkout::parse_form(&req.body).action == "confirm" { self.finish(&v, t, Some(card)).await } else { self.finish(&v, t, None).await }
    }

    /// The outcome of a checkout: `Some((brand, last4, save))` succeeded, `None` declined.
    async fn finish(self: &Arc<Self>, v: &View, t: Target<'_>, card: Option<(String, String, bool)>) -> Resp {
        // Claimed once (a double-clicked Pay must not settle or notify twice).
        {
            let mut st = self.st.lock().unwrap();
            let claimed = match t {
                Target::Pay(id) => st.payments.iter_mut().find(|p| p["payment-id"] == id && p["status"] == "pending").map(|p| p["status"] = json!("processing")),
                Target::Setup(id) => st.setups.iter_mut().find(|x| x["setup-id"] == id && x["status"] == "open").map(|x| x["status"] = json!("processing")),
            };
            if claimed.is_none() {
                drop(st);
                return match self.view(t) {
                    Some(v) => Self::done_page(&v, t, 409),
                    None => Self::not_found_page(t),
                };
            }
        }
        match t {
            Target::Pay(id) => {
                let mut extra = json!({});
                if let Some((brand, last4, true)) = &card {
                    extra["payment-method"] = self.save_method(&v.customer, brand, last4);
                }
                if card.is_none() {
                    extra["failure-reason"] = json!("card_declined");
                }
                let payload = self.event(id, card.is_some(), &extra);
                if card.is_none()
                    && let Some(p) = self.st.lock().unwrap().payments.iter_mut().find(|p| p["payment-id"] == id)
                {
                    p["status"] = json!("declined");
                }
                // The app learns the outcome before the customer is back (one try now; on failure
                // the retrying delivery goes on in the background).
                match self.ctx.send_webhook(WEBHOOK_PATH, &self.ctx.payment_secret, &payload).await {
                    Ok(s) if s < 500 => self.log_webhook(&payload, json!({"app-status": s, "attempts": 1})),
                    _ => {
                        let me = self.clone();
                        self.ctx.spawn(async move {
                            let outcome = me.ctx.deliver(WEBHOOK_PATH, &me.ctx.payment_secret, &payload).await;
                            me.log_webhook(&payload, outcome);
                        });
                    }
                }
                Self::redirect(v, t, if card.is_some() { "succeeded" } else { "declined" })
            }
            Target::Setup(id) => {
                let pm = card.map(|(brand, last4, _)| self.save_method(&v.customer, &brand, &last4));
                if let Some(x) = self.st.lock().unwrap().setups.iter_mut().find(|x| x["setup-id"] == id) {
                    x["status"] = json!(if pm.is_some() { "succeeded" } else { "failed" });
                    if let Some(pm) = &pm {
                        x["payment-method"] = pm.clone();
                    } else {
                        x["failure-reason"] = json!("card_declined");
                    }
                }
                Self::redirect(v, t, if pm.is_some() { "succeeded" } else { "declined" })
            }
        }
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

/// A setup session as `GET /setup-sessions/{id}` shows it.
fn setup_json(s: &Value) -> Value {
    let mut v = json!({"setup-id": s["setup-id"], "customer-id": s["customer-id"], "status": s["status"]});
    if let Some(pm) = s.get("payment-method") {
        v["payment-method"] = pm.clone();
    }
    v
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
    /// Saved payment methods (`pm_…` tokens), oldest first: [{id, customer-id, brand, last4, created-at}].
    pub fn payment_methods(&self) -> Vec<Value> {
        self.0.methods()
    }
    /// A setup session as `GET /setup-sessions/{id}` shows it.
    pub fn setup_session(&self, setup_id: &str) -> Option<Value> {
        self.0.setup(setup_id).map(|s| setup_json(&s))
    }
    /// Automatic settlement of payments created from now on.
    pub fn set_auto(&self, enabled: bool, delay_ms: u64, succeed: bool) {
        *self.0.auto.lock().unwrap() = Auto { enabled, delay_ms, succeed };
    }
}
