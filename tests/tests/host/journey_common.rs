//! Helpers shared by the journey_* tests (issue 3: accounts, delivery, app link, expediente).
#![allow(dead_code)]

use caas_tests::*;
use serde_json::{Value, json};

/// The password test customers choose through the e-mailed set-password link.
pub const NEW_PASSWORD: &str = "Journey-Test-Passw0rd-2026";
/// spin.toml's default `link_code_secret` (the harness does not override it).
pub const LINK_CODE_SECRET: &str = "dev-link-code-secret";

/// The CaaS app (every component of spin.toml; `make test` builds them all).
pub async fn start() -> TestApp {
    TestApp::start().await
}

/// The set-password token of the link e-mailed to `email` (after the retry tick ran).
pub fn emailed_token(t: &TestApp, email: &str) -> String {
    emailed_set_password_token(t, email)
}

pub struct Customer {
    pub email: String,
    pub token: String,
    pub order_id: String,
    pub customer_id: String,
}

/// Sale `n` registered by the employee, credentials delivered by the retry tick; not signed in.
/// Returns (order id, customer id, e-mail, the e-mailed set-password token).
pub async fn register_sale(t: &TestApp, n: u32) -> (String, String, String, String) {
    register_sale_body(t, n, sale_body(n)).await
}

/// Like [`register_sale`] with a custom body (e.g. `stock_vin` for a resale).
pub async fn register_sale_body(t: &TestApp, n: u32, body: Value) -> (String, String, String, String) {
    let staff = t.employee_token().await;
    let r = t.post_json("/api/sales", &body, Some(&staff), Some(&format!("journey-sale-{n}"))).await;
    assert_eq!(r.status, 201, "sale {n}: {}", r.text);
    let order_id = r.json()["order_id"].as_str().unwrap().to_string();
    let customer_id = r.json()["customer_id"].as_str().unwrap().to_string();
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
    let (order_id, customer_id, email, link_token) = register_sale_body(t, n, body).await;
    let r = t.post_json("/api/auth/set-password", &json!({"token": link_token, "new_password": NEW_PASSWORD}), None, None).await;
    assert_eq!(r.status, 200, "set-password: {}", r.text);
    let token = t.login(&email, NEW_PASSWORD).await;
    Customer { email, token, order_id, customer_id }
}

pub async fn admin(t: &TestApp) -> String {
    t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
}

pub async fn delivery_event(t: &TestApp, staff: &str, order_id: &str, body: Value) -> Resp {
    t.post_json(&format!("/api/delivery/{order_id}/events"), &body, Some(staff), None).await
}

pub fn assert_problem(r: &Resp, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.is_problem(), "not problem+json: {} {}", r.content_type, r.text);
    assert_eq!(r.json()["status"], status);
}

/// GET /api/orders/{id} as the customer (the purchase-journey component).
pub async fn order_status(t: &TestApp, c: &Customer) -> Value {
    let r = t.get(&format!("/api/orders/{}", c.order_id), Some(&c.token)).await;
    assert_eq!(r.status, 200, "order: {}", r.text);
    r.json()
}

/// Starts a payment of `kind` (`reservation-payment` | `final-payment`) and settles it through the
/// gateway simulator's signed webhook.
pub async fn pay_and_settle(t: &TestApp, c: &Customer, kind: &str) {
    let r = t.post_json(&format!("/api/orders/{}/{kind}", c.order_id), &json!({}), Some(&c.token), None).await;
    assert!(r.status == 201 || r.status == 200, "{kind}: {}", r.text);
    let pid = r.json()["payment_id"].as_str().expect("payment_id").to_string();
    let app_status = t.sims.payment().settle(&pid, true).await.expect("payment webhook");
    assert!((200..300).contains(&app_status), "payment webhook answered {app_status}");
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
    for status in ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"] {
        let s = t.sims.factory().send_status(&c.order_id, status, Value::Null).await.expect("factory webhook");
        assert!((200..300).contains(&s), "factory webhook {status} answered {s}");
    }
    assert_eq!(order_status(t, &c).await["status"], "vehicle-available");
    let vin = final_payment_to_matriculated(t, &c).await;
    (c, vin)
}

/// From `vehicle-available`: final payment settled → registration (retry tick) → `matriculated`.
pub async fn final_payment_to_matriculated(t: &TestApp, c: &Customer) -> String {
    pay_and_settle(t, c, "final-payment").await;
    for _ in 0..5 {
        if order_status(t, c).await["status"] == "matriculated" {
            break;
        }
        t.tick("retry").await;
        t.advance(std::time::Duration::from_secs(60));
    }
    let o = order_status(t, c).await;
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
