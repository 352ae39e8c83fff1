//! Issue 7 — hosted payment page and saved payment methods, through the real components and the
//! gateway simulator's HTTP checkout pages, driven like a browser (form POSTs, 303 redirects read
//! from `location`): a hosted reservation payment that succeeds (order reserved, card saved), is
//! declined (order payable again, a new payment), abandoned (same pending payment and page);
//! `return_path` validation; setup session + confirm; another customer's setup; the saved card
//! carried by a subscription charge and a one-time purchase.

use crate::journey::*;
use caas_tests::*;
use serde_json::{Value, json};

/// spin.toml's default `app_url` (the harness does not override it).
const APP_URL: &str = "http://127.0.0.1:3000";

/// A browser that does not follow redirects (the tests read the 303's `location`).
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// (status, location, body) of a browser request to a checkout page.
async fn page(method: reqwest::Method, url: &str, form: Option<&str>) -> (u16, String, String) {
    let mut rb = browser().request(method, url);
    if let Some(f) = form {
        rb = rb.header("content-type", "application/x-www-form-urlencoded").body(f.to_string());
    }
    let r = rb.send().await.expect("checkout page answers");
    let loc = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (r.status().as_u16(), loc, r.text().await.unwrap_or_default())
}

fn card(number: &str, save: bool) -> String {
    let mut f = format!("card-number={}&card-expiry=12%2F39&card-cvc=123&card-name=Lucia+Test&action=pay", number.replace(' ', "+"));
    if save {
        f.push_str("&save-card=yes");
    }
    f
}

/// GET the card form, then POST the card as the form's submit would; returns (status, location).
async fn pay_on_page(checkout_url: &str, number: &str, save: bool) -> (u16, String) {
    let (st, _, html) = page(reqwest::Method::GET, checkout_url, None).await;
    assert_eq!(st, 200, "{html}");
    assert!(html.contains("id=\"card-number\"") && html.contains("id=\"pay\""), "{html}");
    let (st, loc, _) = page(reqwest::Method::POST, &format!("{checkout_url}/pay"), Some(&card(number, save))).await;
    (st, loc)
}

async fn start_hosted(t: &TestApp, c: &Customer, return_path: &str) -> Resp {
    t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({"return_path": return_path}), Some(&c.token), None).await
}

async fn methods(t: &TestApp, token: &str) -> Vec<Value> {
    let r = t.get("/api/account/payment-methods", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["payment_methods"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn hosted_reservation_payment_succeeds_and_saves_the_card() {
    let t = start().await;
    let c = customer(&t, 801).await;
    let rp = format!("/app/orders/{}/payment-return", c.order_id);
    let r = start_hosted(&t, &c, &rp).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    let pid = v["payment_id"].as_str().unwrap().to_string();
    let checkout = v["checkout_url"].as_str().expect("checkout_url").to_string();
    assert_eq!(checkout, format!("{}/checkout/{pid}", t.sims.payment_url()));
    let gw = t.sims.payment().payment(&pid).unwrap();
    assert_eq!((gw["method"].as_str(), gw["return-url"].as_str()), (Some("hosted"), Some(format!("{APP_URL}{rp}").as_str())));
    // A repeat while pending: the same payment and page, nothing new at the gateway.
    let again = start_hosted(&t, &c, &rp).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!((again.json()["payment_id"].as_str(), again.json()["checkout_url"].as_str()), (Some(pid.as_str()), Some(checkout.as_str())));
    assert_eq!(t.sims.payment().payments().len(), 1);
    assert_eq!(order(&t, &c).await["payments"][0]["checkout_url"], checkout.as_str(), "the order shows the page to resume");

    // The customer pays on the gateway's page and ticks "save this card".
    let (st, loc) = pay_on_page(&checkout, "4242 4242 4242 4242", true).await;
    assert_eq!(st, 303);
    assert_eq!(loc, format!("{APP_URL}{rp}?payment_id={pid}&result=succeeded"));
    // Back in the app: the signed webhook arrived before the redirect.
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "factory-ordered", "{o}");
    assert_eq!(o["payments"][0]["status"], "settled");
    let ms = methods(&t, &c.token).await;
    assert_eq!(ms.len(), 1, "{ms:?}");
    assert_eq!((ms[0]["brand"].as_str(), ms[0]["last4"].as_str(), ms[0]["is_default"].as_bool()), (Some("visa"), Some("4242"), Some(true)));
    let token: String = t.db().query_row("SELECT gateway_token FROM payment_methods", [], |r| r.get(0)).unwrap();
    assert!(!ms[0].to_string().contains(&token), "the gateway token is not shown: {ms:?}");
    assert_eq!(t.sims.payment().payment_methods()[0]["id"], token.as_str());
    assert_eq!(t.sims.payment().payment_methods()[0]["customer-id"], c.customer_id.as_str());
    // The page of a settled payment says so; paying again is refused; the app answers 409.
    let (st, _, html) = page(reqwest::Method::GET, &checkout, None).await;
    assert_eq!(st, 200);
    assert!(html.contains("already settled"), "{html}");
    assert_eq!(start_hosted(&t, &c, &rp).await.status, 409);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hosted_reservation_declined_then_abandoned_then_paid_with_bank_confirmation() {
    let t = start().await;
    let c = customer(&t, 802).await;
    let rp = "/app/pay/return";
    let v = start_hosted(&t, &c, rp).await.json();
    let (pid1, url1) = (v["payment_id"].as_str().unwrap().to_string(), v["checkout_url"].as_str().unwrap().to_string());

    // Declined card: the app learns it by the failed webhook; the order stays payable.
    let (st, loc) = pay_on_page(&url1, "4000 0000 0000 0002", true).await;
    assert_eq!((st, loc), (303, format!("{APP_URL}{rp}?payment_id={pid1}&result=declined")));
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "reservation-pending", "{o}");
    assert_eq!((o["payments"][0]["status"].as_str(), o["payments"][0]["failure_reason"].as_str()), (Some("failed"), Some("card_declined")));
    assert!(methods(&t, &c.token).await.is_empty(), "a declined card is never saved");

    // A new payment with a new page; the customer abandons it: still pending, same page again.
    let r = start_hosted(&t, &c, rp).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (pid2, url2) = (r.json()["payment_id"].as_str().unwrap().to_string(), r.json()["checkout_url"].as_str().unwrap().to_string());
    assert_ne!((pid2.as_str(), url2.as_str()), (pid1.as_str(), url1.as_str()));
    let (st, loc, _) = page(reqwest::Method::GET, &format!("{url2}/cancel"), None).await;
    assert_eq!((st, loc), (303, format!("{APP_URL}{rp}?payment_id={pid2}&result=abandoned")));
    let again = start_hosted(&t, &c, rp).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!((again.json()["payment_id"].as_str(), again.json()["checkout_url"].as_str()), (Some(pid2.as_str()), Some(url2.as_str())));
    assert_eq!(order(&t, &c).await["status"], "reservation-pending");

    // Invalid input re-shows the page, then the confirmation card + Confirm settles it.
    let (st, _, html) = page(reqwest::Method::POST, &format!("{url2}/pay"), Some(&card("1234", false))).await;
    assert_eq!(st, 422);
    assert!(html.contains("role=\"alert\""), "{html}");
    let (st, _, html) = page(reqwest::Method::POST, &format!("{url2}/pay"), Some(&card("4000 0027 6000 3184", false))).await;
    assert_eq!(st, 200);
    assert!(html.contains("Confirm this payment with your bank"), "{html}");
    let (st, loc, _) = page(reqwest::Method::POST, &format!("{url2}/confirm"), Some("action=confirm")).await;
    assert_eq!((st, loc), (303, format!("{APP_URL}{rp}?payment_id={pid2}&result=succeeded")));
    assert_eq!(order(&t, &c).await["status"], "factory-ordered");
    assert!(methods(&t, &c.token).await.is_empty(), "not saved unless asked");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn return_path_is_validated_and_no_body_keeps_the_old_answer() {
    let t = start().await;
    let c = customer(&t, 803).await;
    let path = format!("/api/orders/{}/reservation-payment", c.order_id);
    for bad in [json!("app/x"), json!("//evil.example/x"), json!("https://evil.example/x"), json!("/\\evil.example"), json!("/a b"), json!(format!("/{}", "a".repeat(600))), json!(5)] {
        let r = t.post_json(&path, &json!({"return_path": bad}), Some(&c.token), None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.is_problem());
    }
    let r = t.send(t.client.post(t.url(&path)).bearer_auth(&c.token).header("content-type", "application/json").body("{not json")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM payments"), 0, "nothing written");
    assert!(t.sims.payment().payments().is_empty(), "the gateway was not called");
    // No body at all: exactly as before (no checkout_url, a card payment at the gateway).
    let r = t.send(t.client.post(t.url(&path)).bearer_auth(&c.token)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json().get("checkout_url").is_none(), "{}", r.text);
    assert!(order(&t, &c).await["payments"][0].get("checkout_url").is_none());
    assert_eq!(t.sims.payment().payments()[0]["method"], "card");
    t.stop().await;
}

/// Starts a setup session for `token` and completes it on the gateway's page with `number`.
async fn save_card(t: &TestApp, token: &str, number: &str) -> String {
    let r = t.post_json("/api/account/payment-methods", &json!({"return_path": "/app/account/payment-methods"}), Some(token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (sid, url) = (r.json()["setup_id"].as_str().unwrap().to_string(), r.json()["checkout_url"].as_str().unwrap().to_string());
    let (st, loc) = pay_on_page(&url, number, false).await;
    assert_eq!((st, loc), (303, format!("{APP_URL}/app/account/payment-methods?setup_id={sid}&result=succeeded")));
    sid
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_session_confirm_change_and_remove_methods() {
    let t = start().await;
    let a = customer(&t, 804).await;
    let b = customer(&t, 805).await;
    let r = t.post_json("/api/account/payment-methods", &json!({"return_path": "//evil.example"}), Some(&a.token), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json("/api/account/payment-methods", &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Not completed yet → 409; completed → 201 with brand/last4; repeat → 200 same method.
    let r = t.post_json("/api/account/payment-methods", &json!({"return_path": "/app/account"}), Some(&a.token), None).await;
    let open_sid = r.json()["setup_id"].as_str().unwrap().to_string();
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": open_sid}), Some(&a.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let sid = save_card(&t, &a.token, "5555 5555 5555 4444").await;
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": sid}), Some(&a.token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m1 = r.json();
    assert_eq!((m1["brand"].as_str(), m1["last4"].as_str(), m1["is_default"].as_bool()), (Some("mastercard"), Some("4444"), Some(true)));
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": sid}), Some(&a.token), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["id"], m1["id"]);
    // Another customer's setup session: 404, nothing stored for them.
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": sid}), Some(&b.token), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(methods(&t, &b.token).await.is_empty());
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": "nope"}), Some(&a.token), None).await;
    assert_eq!(r.status, 400, "{}", r.text);

    // A declined card in setup → confirm 409.
    let r = t.post_json("/api/account/payment-methods", &json!({"return_path": "/app/account"}), Some(&a.token), None).await;
    let (dsid, durl) = (r.json()["setup_id"].as_str().unwrap().to_string(), r.json()["checkout_url"].as_str().unwrap().to_string());
    let (st, loc) = pay_on_page(&durl, "4000 0000 0000 0002", false).await;
    assert_eq!((st, loc.ends_with(&format!("setup_id={dsid}&result=declined"))), (303, true), "{loc}");
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": dsid}), Some(&a.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Change: a second card becomes the default; removing it makes the first the default again.
    let sid2 = save_card(&t, &a.token, "4242 4242 4242 4242").await;
    let m2 = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": sid2}), Some(&a.token), None).await.json();
    let ms = methods(&t, &a.token).await;
    assert_eq!(ms.len(), 2);
    assert_eq!((ms[0]["id"].clone(), ms[0]["is_default"].clone(), ms[1]["is_default"].clone()), (m2["id"].clone(), json!(true), json!(false)));
    let m2_id = m2["id"].as_str().unwrap();
    let del = |tok: &str, id: &str| t.send(t.client.delete(t.url(&format!("/api/account/payment-methods/{id}"))).bearer_auth(tok.to_string()));
    assert_eq!(del(&b.token, m2_id).await.status, 404, "someone else's method");
    assert_eq!(del(&a.token, m2_id).await.status, 204);
    assert_eq!(del(&a.token, m2_id).await.status, 404);
    let ms = methods(&t, &a.token).await;
    assert_eq!((ms.len(), ms[0]["id"].clone(), ms[0]["is_default"].clone()), (1, m1["id"].clone(), json!(true)));
    assert_eq!(t.get("/api/account/payment-methods", None).await.status, 401);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_charges_and_purchases_carry_the_saved_card() {
    use caas_domain::services::calendar::midnight_ms;
    let t = start().await;
    let (token, vin) = operational_vehicle_seeded(&t, 806).await;
    let customer_id = t.customer_of(&vin).0;
    // Without a saved card: as before (no payment-method at the gateway).
    let before = t.bought_service(&token, &vin, "power-boost-1m", "pm-boost-1").await;
    let p = t.sims.payment().payment(before["payment_id"].as_str().unwrap()).unwrap();
    assert!(p.get("payment-method").is_none(), "{p}");

    let sid = save_card(&t, &token, "4242 4242 4242 4242").await;
    let r = t.post_json("/api/account/payment-methods/confirm", &json!({"setup_id": sid}), Some(&token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pm = t.sims.payment().setup_session(&sid).unwrap()["payment-method"]["id"].as_str().unwrap().to_string();

    // A one-time purchase after saving: charged to the card.
    let after = t.bought_service(&token, &vin, "snow-mode-14d", "pm-snow-1").await;
    let p = t.sims.payment().payment(after["payment_id"].as_str().unwrap()).unwrap();
    assert_eq!(p["payment-method"], pm.as_str());

    let sub = t.bought_service(&token, &vin, "entertainment-plus", "pm-sub-1").await["id"].as_str().unwrap().to_string();
    t.tick("ota").await;
    t.advance_to(midnight_ms(2026, 12, 1) + 3_600_000);
    let rep = t.tick("billing").await;
    assert_eq!(rep["billed"], 1, "{rep}");
    let charges: Vec<Value> = t.sims.payment().payments().into_iter().filter(|p| p["reference"].as_str().unwrap_or("").starts_with(&format!("{sub}/"))).collect();
    assert_eq!(charges.len(), 1, "{charges:?}");
    assert_eq!((charges[0]["payment-method"].as_str(), charges[0]["customer-id"].as_str()), (Some(pm.as_str()), Some(customer_id.as_str())));
    assert_eq!(charges[0]["status"], "pending", "accepted by the gateway");
    t.stop().await;
}
