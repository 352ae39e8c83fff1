//! The first slice end to end: an employee registers a sale; the customer gets a set-password link by
//! e-mail (through the outbox and the retry tick), chooses a password and logs in with it.

use caas_tests::*;
use serde_json::json;


#[tokio::test(flavor = "multi_thread")]
async fn employee_registers_sale_and_customer_logs_in_with_emailed_credentials() {
    let t = TestApp::start().await;
    let token = t.employee_token().await;

    let r = t.post_json("/api/sales", &sale_body(1), Some(&token), Some("sale-1")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sale = r.json();
    let order_id = sale["order_id"].as_str().unwrap().to_string();
    assert!(order_id.starts_with("ord_"), "{sale}");
    assert!(sale["customer_id"].as_str().unwrap().starts_with("cus_"));

    // Nothing is sent inline: the e-mail waits in the outbox until the retry tick delivers it.
    assert!(t.sims.notify().messages_to("lucia.1@example.com").is_empty());
    let report = t.tick("retry").await;
    assert_eq!(report["succeeded"], 1, "{report}");
    let mails = t.sims.notify().messages_to("lucia.1@example.com");
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["channel"], "email");
    assert_eq!(mails[0]["template"], "credentials");

    // The e-mail carries a single-use set-password link, never a password; the customer follows
    // it, chooses a password and signs in with it (no forced change: the password is their own).
    let body = mails[0]["body"].as_str().unwrap();
    assert!(body.contains("http://127.0.0.1:3000/set-password?token="), "{body}");
    assert!(!body.to_lowercase().contains("password:"), "{body}");
    set_password_from_email(&t, "lucia.1@example.com", CUSTOMER_NEW_PASSWORD).await;
    let login = t
        .post_json("/api/auth/login", &json!({"email": "lucia.1@example.com", "password": CUSTOMER_NEW_PASSWORD}), None, None)
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json()["role"], "customer");
    assert_eq!(login.json()["must_change_password"], false);

    // The employee can read the sale back.
    let got = t.get(&format!("/api/sales/{order_id}"), Some(&token)).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json()["order_id"], order_id.as_str());
    assert_eq!(got.json()["customer"]["email"], "lucia.1@example.com");

    // A second tick sends nothing again.
    let report = t.tick("retry").await;
    assert_eq!(report["succeeded"], 0, "{report}");
    assert_eq!(t.sims.notify().messages_to("lucia.1@example.com").len(), 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_a_problem_and_writes_nothing() {
    let t = TestApp::start().await;
    let token = t.employee_token().await;

    let mut bad = sale_body(2);
    bad["customer"]["email"] = json!("not-an-email");
    bad["prices"]["deposit_minor"] = json!(-5);
    let r = t.post_json("/api/sales", &bad, Some(&token), Some("bad-1")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.is_problem(), "content-type {}", r.content_type);
    let p = r.json();
    assert_eq!(p["status"], 400);
    let pointers: Vec<String> = p["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap().to_string()).collect();
    assert!(pointers.iter().any(|x| x.contains("email")), "{p}");
    assert!(pointers.iter().any(|x| x.contains("deposit")), "{p}");

    // Unknown country is refused at registration, naming the field.
    let mut bad = sale_body(2);
    bad["country"] = json!("XX");
    let r = t.post_json("/api/sales", &bad, Some(&token), Some("bad-2")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("country"), "{}", r.text);

    // Not JSON at all.
    let r = t
        .send(t.client.post(t.url("/api/sales")).bearer_auth(&token).header("idempotency-key", "bad-3").body("{{nope"))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.is_problem());

    // Missing Idempotency-Key.
    let r = t.post_json("/api/sales", &sale_body(2), Some(&token), None).await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Nothing was written: no e-mail is queued, and the same customer can still be registered.
    assert_eq!(t.tick("retry").await["succeeded"], 0);
    let r = t.post_json("/api/sales", &sale_body(2), Some(&token), Some("good-2")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_key_replays_the_original_response() {
    let t = TestApp::start().await;
    let token = t.employee_token().await;

    let first = t.post_json("/api/sales", &sale_body(3), Some(&token), Some("idem-3")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = t.post_json("/api/sales", &sale_body(3), Some(&token), Some("idem-3")).await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(first.json(), again.json());

    // Same key, different request: refused.
    let r = t.post_json("/api/sales", &sale_body(4), Some(&token), Some("idem-3")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.is_problem());

    // A different key for an already-registered customer e-mail (same person): a second order
    // on the same account (issue 8), no second credentials e-mail.
    let r = t.post_json("/api/sales", &sale_body(3), Some(&token), Some("idem-3b")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["customer_id"], first.json()["customer_id"]);
    assert_ne!(r.json()["order_id"], first.json()["order_id"]);

    // Exactly one credentials e-mail.
    t.tick("retry").await;
    let mails = t.sims.notify().messages_to("lucia.3@example.com");
    assert_eq!(mails.iter().filter(|m| m["template"] == "credentials").count(), 1, "{mails:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_employees_register_sales() {
    let t = TestApp::start().await;

    let r = t.post_json("/api/sales", &sale_body(5), None, Some("k5")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = t.post_json("/api/sales", &sale_body(5), Some("forged-token"), Some("k5")).await;
    assert_eq!(r.status, 401, "{}", r.text);

    // A customer (created by a real sale) cannot register sales.
    let token = t.employee_token().await;
    assert_eq!(t.post_json("/api/sales", &sale_body(6), Some(&token), Some("k6")).await.status, 201);
    t.tick("retry").await;
    set_password_from_email(&t, "lucia.6@example.com", CUSTOMER_NEW_PASSWORD).await;
    let customer = t.login("lucia.6@example.com", CUSTOMER_NEW_PASSWORD).await;
    let r = t.post_json("/api/sales", &sale_body(7), Some(&customer), Some("k7")).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Wrong password.
    let r = t
        .post_json("/api/auth/login", &json!({"email": EMPLOYEE_EMAIL, "password": "wrong"}), None, None)
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    t.stop().await;
}
