//! Steps of the purchase journey shared by the journey tests (accounts, payments, factory,
//! delivery, money safety, HTTP hardening), built on the `TestApp` methods per endpoint.
#![allow(dead_code)]

use caas_tests::*;
use serde_json::{Value, json};

/// The password test customers choose through the e-mailed set-password link.
pub const NEW_PASSWORD: &str = "Journey-Test-Passw0rd-2026";
/// spin.toml's default `link_code_secret` (the harness does not override it).
pub const LINK_CODE_SECRET: &str = DEFAULT_LINK_CODE_SECRET;

/// The CaaS app (every component of spin.toml) on its virtual clock.
pub async fn start() -> TestApp {
    TestApp::start().await
}

/// The set-password token of the link e-mailed to `email` (after the retry tick ran).
pub fn emailed_token(t: &TestApp, email: &str) -> String {
    emailed_set_password_token(t, email)
}

/// Sale `n` registered by the employee, credentials delivered by the retry tick; not signed in.
/// Returns (order id, customer id, e-mail, the e-mailed set-password token).
pub async fn register_sale(t: &TestApp, n: u32) -> (String, String, String, String) {
    register_sale_body(t, n, sale_body(n)).await
}

/// Like [`register_sale`] with a custom body (e.g. `stock_vin` for a resale).
pub async fn register_sale_body(t: &TestApp, n: u32, body: Value) -> (String, String, String, String) {
    let (order_id, customer_id) = t.register_sale(&body, &format!("journey-sale-{n}")).await;
    let email = format!("lucia.{n}@example.com");
    t.tick("retry").await;
    let token = emailed_token(t, &email);
    (order_id, customer_id, email, token)
}

/// A customer of sale `n` who set a password through the e-mailed link and signed in.
pub async fn customer(t: &TestApp, n: u32) -> Customer {
    customer_body(t, n, sale_body(n)).await
}

/// Like [`customer`] with a custom sale body.
pub async fn customer_body(t: &TestApp, n: u32, body: Value) -> Customer {
    let (order_id, customer_id) = t.register_sale(&body, &format!("journey-sale-{n}")).await;
    let email = format!("lucia.{n}@example.com");
    let token = t.sign_in_from_credentials_email(&email, NEW_PASSWORD).await;
    Customer { email, token, order_id, customer_id }
}

/// [`customer`], optionally reselling `stock_vin`.
pub async fn register_sale_and_login_customer(t: &TestApp, n: u32, stock_vin: Option<&str>) -> Customer {
    let mut body = sale_body(n);
    if let Some(v) = stock_vin {
        body["stock_vin"] = json!(v);
    }
    customer_body(t, n, body).await
}

pub async fn admin(t: &TestApp) -> String {
    t.admin_token().await
}

pub async fn delivery_event(t: &TestApp, staff: &str, order_id: &str, body: Value) -> Resp {
    t.delivery_event(staff, order_id, body).await
}

pub fn assert_problem(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.is_problem(), "not problem+json: {} {}", r.content_type, r.text);
    assert_eq!(r.json()["status"], status);
}

/// GET /api/orders/{id} as the customer (the purchase-journey component).
pub async fn order(t: &TestApp, c: &Customer) -> Value {
    t.order(c).await
}

pub async fn status(t: &TestApp, c: &Customer) -> String {
    order(t, c).await["status"].as_str().unwrap().to_string()
}

/// Starts a payment (`reservation` | `final`) and returns the gateway payment id.
pub async fn start_payment(t: &TestApp, c: &Customer, kind: &str) -> String {
    t.start_payment(c, kind).await
}

/// Starts a payment of `kind` (`reservation-payment` | `final-payment`, answered 201 or 200)
/// and settles it through the gateway simulator's signed webhook.
pub async fn pay_and_settle(t: &TestApp, c: &Customer, kind: &str) {
    let r = t.post_json(&format!("/api/orders/{}/{kind}", c.order_id), &json!({}), Some(&c.token), None).await;
    assert!(r.status == 201 || r.status == 200, "{kind}: {}", r.text);
    let pid = r.json()["payment_id"].as_str().expect("payment_id").to_string();
    let app_status = t.sims.payment().settle(&pid, true).await.expect("payment webhook");
    assert!((200..300).contains(&app_status), "payment webhook answered {app_status}");
}

/// Pays and settles the reservation; the factory order is placed synchronously.
pub async fn reserve(t: &TestApp, c: &Customer) -> String {
    t.pay_and_settle(c, "reservation").await
}

/// A signed-in customer of sale `n` whose reservation is paid and settled (factory ordered).
pub async fn reserved(t: &TestApp, n: u32) -> Customer {
    let c = register_sale_and_login_customer(t, n, None).await;
    reserve(t, &c).await;
    c
}

/// A signed-in customer of sale `n` whose reservation payment is started, not yet settled;
/// returns the customer and the gateway payment id.
pub async fn reservation_started(t: &TestApp, n: u32) -> (Customer, String) {
    let c = register_sale_and_login_customer(t, n, None).await;
    let pid = start_payment(t, &c, "reservation").await;
    (c, pid)
}

/// Sends the whole factory status path; the vehicle ends available at the dealership.
pub async fn manufacture(t: &TestApp, c: &Customer) {
    t.manufacture(&c.order_id).await;
    assert_eq!(status(t, c).await, "vehicle-available");
}

/// A customer whose vehicle waits at the dealership for the final payment.
pub async fn vehicle_available(t: &TestApp, n: u32) -> Customer {
    let c = register_sale_and_login_customer(t, n, None).await;
    reserve(t, &c).await;
    assert_eq!(status(t, &c).await, "factory-ordered");
    manufacture(t, &c).await;
    c
}

/// Sale `n` taken through the whole purchase journey with the real components and simulators:
/// señal paid → factory order → manufacturing webhooks → final payment → registration
/// (retry tick) → `matriculated`. Returns the customer and the VIN.
pub async fn matriculated(t: &TestApp, n: u32) -> (Customer, String) {
    // The simulators sign webhooks with their real clock; the app rejects stale timestamps
    // against its (virtual) clock: line the virtual clock up with real time.
    t.clock.set(std::time::SystemTime::now());
    let c = customer(t, n).await;
    pay_and_settle(t, &c, "reservation-payment").await;
    manufacture(t, &c).await;
    let vin = final_payment_to_matriculated(t, &c).await;
    (c, vin)
}

/// From `vehicle-available`: final payment settled → registration (retry tick) → `matriculated`.
pub async fn final_payment_to_matriculated(t: &TestApp, c: &Customer) -> String {
    pay_and_settle(t, c, "final-payment").await;
    for _ in 0..5 {
        if order(t, c).await["status"] == "matriculated" {
            break;
        }
        t.tick("retry").await;
        t.advance(std::time::Duration::from_secs(60));
    }
    let o = order(t, c).await;
    assert_eq!(o["status"], "matriculated", "{o}");
    o["vin"].as_str().expect("vin").to_string()
}

/// Scheduled and delivered at home (from `matriculated`).
pub async fn deliver(t: &TestApp, order_id: &str) {
    let staff = t.employee_token().await;
    let r = delivery_event(t, &staff, order_id, json!({"event": "scheduled", "at": "2026-12-01T10:00Z"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = delivery_event(t, &staff, order_id, json!({"event": "delivered"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

/// Scheduled and delivered at home: the order is `delivered`.
pub async fn delivered(t: &TestApp, n: u32) -> (Customer, String) {
    let (c, vin) = matriculated(t, n).await;
    deliver(t, &c.order_id).await;
    (c, vin)
}

/// The link code the vehicle displays (read by the employee at the hand-over).
pub async fn link_code(t: &TestApp, order_id: &str) -> String {
    let staff = t.employee_token().await;
    let r = t.get(&format!("/api/delivery/{order_id}"), Some(&staff)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["link_code"].as_str().expect("link_code").to_string()
}

/// Sends a raw body to a webhook with the given headers.
pub async fn post_webhook(t: &TestApp, path: &str, body: &str, ts: Option<i64>, sig: Option<&str>) -> Resp {
    let mut req = t.client.post(t.url(path)).header("content-type", "application/json").body(body.to_string());
    if let Some(ts) = ts {
        req = req.header("x-caas-timestamp", ts.to_string());
    }
    if let Some(s) = sig {
        req = req.header("x-caas-signature", s);
    }
    t.send(req).await
}

pub fn virtual_now_secs(t: &TestApp) -> i64 {
    t.now_ms() / 1000
}
