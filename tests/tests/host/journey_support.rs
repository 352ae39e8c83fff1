//! Shared steps of the purchase-journey tests (journey_payments.rs, journey_factory.rs).
#![allow(dead_code)]

use caas_tests::*;
use serde_json::{Value, json};


pub const NEW_PASSWORD: &str = "Journey-Test-Passw0rd-2026";

/// The app on its virtual clock (the simulators sign webhooks on the same clock).
pub async fn start() -> TestApp {
    TestApp::start().await
}

pub struct Customer {
    pub order_id: String,
    pub customer_id: String,
    pub token: String,
    pub email: String,
}

/// Registers sale `n` (optionally reselling `stock_vin`), delivers the credentials e-mail, follows
/// its set-password link and signs the customer in.
pub async fn register_sale_and_login_customer(t: &TestApp, n: u32, stock_vin: Option<&str>) -> Customer {
    let staff = t.employee_token().await;
    let mut body = sale_body(n);
    if let Some(v) = stock_vin {
        body["stock_vin"] = json!(v);
    }
    let r = t.post_json("/api/sales", &body, Some(&staff), Some(&format!("journey-sale-{n}"))).await;
    assert_eq!(r.status, 201, "sale {n}: {}", r.text);
    let order_id = r.json()["order_id"].as_str().unwrap().to_string();
    let customer_id = r.json()["customer_id"].as_str().unwrap().to_string();
    let email = format!("lucia.{n}@example.com");
    t.tick("retry").await;
    set_password_from_email(t, &email, NEW_PASSWORD).await;
    let token = t.login(&email, NEW_PASSWORD).await;
    Customer { order_id, customer_id, token, email }
}

pub async fn order(t: &TestApp, c: &Customer) -> Value {
    let r = t.get(&format!("/api/orders/{}", c.order_id), Some(&c.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

pub async fn status(t: &TestApp, c: &Customer) -> String {
    order(t, c).await["status"].as_str().unwrap().to_string()
}

/// Starts a payment (`reservation` | `final`) and returns the gateway payment id.
pub async fn start_payment(t: &TestApp, c: &Customer, kind: &str) -> String {
    let r = t.post_json(&format!("/api/orders/{}/{kind}-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 201, "{kind} payment: {}", r.text);
    r.json()["payment_id"].as_str().unwrap().to_string()
}

/// Pays and settles the reservation; the factory order is placed synchronously.
pub async fn reserve(t: &TestApp, c: &Customer) -> String {
    let pid = start_payment(t, c, "reservation").await;
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    pid
}

pub const FACTORY_PATH: [&str; 6] = ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"];

/// Sends the whole factory status path; the vehicle ends available at the dealership.
pub async fn manufacture(t: &TestApp, c: &Customer) {
    for s in FACTORY_PATH {
        assert_eq!(t.sims.factory().send_status(&c.order_id, s, Value::Null).await.unwrap(), 200, "{s}");
    }
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
    t.clock.now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}
