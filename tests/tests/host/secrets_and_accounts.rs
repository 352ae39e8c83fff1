//! Issue 9, secrets and accounts, through the real components:
//! - outside development mode a development or placeholder secret makes every route but /health
//!   answer 503 naming the variables; with real secrets everything works and no demo staff exists;
//! - the first admin comes from the one-off bootstrap route, which closes once an admin exists;
//! - password reset: the same answer for unknown addresses, throttled, a single-use 1 h link;
//! - every session of an account ends on password change and on set-password (no cap).

use std::collections::BTreeMap;
use std::time::Duration;

use caas_tests::*;
use serde_json::json;


const BOOTSTRAP_TOKEN: &str = "bootstrap-9f2c1e7d5a4b3c2d1e0f";
const ADMIN: &str = "first.admin@caas-maker.example";
const ADMIN_PW: &str = "First-Admin-Passw0rd-2026";

/// Production settings: dev_mode off, every secret a real value.
fn production(extra: &[(&str, &str)]) -> Options {
    let mut variables: BTreeMap<String, String> = [
        ("dev_mode", "false"),
        ("link_code_secret", "prod-link-code-7c1d9e2f4a6b8c0d"),
        ("bootstrap_admin_token", BOOTSTRAP_TOKEN),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        variables.insert(k.to_string(), v.to_string());
    }
    Options { variables, ..Options::default() }
}

/// Stops an app whose every route refused service (nothing was written, not even the schema:
/// there is no ledger to check).
async fn stop_unchecked(mut t: TestApp) {
    if let Some(app) = t.app.take() {
        app.shutdown().await;
    }
    t.sims.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn development_secrets_outside_dev_mode_answer_503_naming_them_except_health() {
    // dev_mode off, but spin.toml's development tick secret and link-code secret are still in place.
    let opts = production(&[("tick_secret", "dev-tick-secret"), ("link_code_secret", "dev-link-code-secret")]);
    let t = TestApp::start_with(opts).await.unwrap();

    let health = t.get("/health", None).await;
    assert_eq!(health.status, 200, "{}", health.text);

    let login = t.post_json("/api/auth/login", &json!({"email": EMPLOYEE_EMAIL, "password": EMPLOYEE_PASSWORD}), None, None).await;
    assert_eq!(login.status, 503, "{}", login.text);
    assert!(login.is_problem(), "{}", login.content_type);
    let detail = login.json()["detail"].as_str().unwrap().to_string();
    assert!(detail.contains("tick_secret still has its development default"), "{detail}");
    assert!(detail.contains("link_code_secret still has its development default"), "{detail}");
    assert!(!detail.contains("factory_webhook_secret"), "real secrets are not named: {detail}");
    assert!(!detail.contains("dev-tick-secret"), "values are never shown: {detail}");

    // Every other component refuses too (sales, admin, the API document, ticks, webhooks).
    for r in [
        t.post_json("/api/sales", &sale_body(1), Some("any-token"), Some("k1")).await,
        t.get("/api/admin/orders", None).await,
        t.get("/openapi.yaml", None).await,
        t.send(t.client.post(t.url("/internal/ticks/retry")).bearer_auth("dev-tick-secret")).await,
        t.post_json("/api/auth/bootstrap-admin", &json!({"token": BOOTSTRAP_TOKEN, "email": ADMIN, "password": ADMIN_PW}), None, None).await,
    ] {
        assert_eq!(r.status, 503, "{}", r.text);
        assert!(r.is_problem() && r.text.contains("tick_secret"), "{}", r.text);
    }

    // A placeholder (as in infra/deploy/secrets.example.yaml) is refused the same way.
    stop_unchecked(t).await;
    let t = TestApp::start_with(production(&[("payment_webhook_secret", "<shared with the payment gateway>")])).await.unwrap();
    let r = t.get("/api/auth/me", None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.text.contains("payment_webhook_secret is a placeholder"), "{}", r.text);
    assert_eq!(t.get("/health", None).await.status, 200);
    stop_unchecked(t).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_secrets_work_without_demo_staff_and_the_first_admin_is_bootstrapped_once() {
    let t = TestApp::start_with(production(&[])).await.unwrap();
    assert_eq!(t.get("/health", None).await.status, 200);
    assert_eq!(t.get("/openapi.yaml", None).await.status, 200);

    // No staff is seeded in production: neither the harness's nor spin.toml's demo accounts.
    for (email, pw) in [(EMPLOYEE_EMAIL, EMPLOYEE_PASSWORD), (ADMIN_EMAIL, ADMIN_PASSWORD), ("admin@caas.example", "demo-admin-pass")] {
        let r = t.post_json("/api/auth/login", &json!({"email": email, "password": pw}), None, None).await;
        assert_eq!(r.status, 401, "{email}: {}", r.text);
    }
    assert_eq!(t.db().query_row("SELECT COUNT(*) FROM employees", [], |r| r.get::<_, i64>(0)).unwrap(), 0);

    // The one-off bootstrap: a wrong token or a weak password changes nothing.
    let body = |token: &str, pw: &str| json!({"token": token, "email": ADMIN, "password": pw});
    let r = t.post_json("/api/auth/bootstrap-admin", &body("bootstrap-wrong-token-000000", ADMIN_PW), None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = t.post_json("/api/auth/bootstrap-admin", &body(BOOTSTRAP_TOKEN, "short"), None, None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("/password"), "{}", r.text);
    let r = t.post_json("/api/auth/bootstrap-admin", &body(BOOTSTRAP_TOKEN, ADMIN_PW), None, None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["role"], "admin");
    // Once an admin exists the route is closed, whatever the body.
    let again = t
        .post_json("/api/auth/bootstrap-admin", &json!({"token": BOOTSTRAP_TOKEN, "email": "second@caas-maker.example", "password": ADMIN_PW}), None, None)
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert!(again.is_problem() && again.text.contains("already exists"), "{}", again.text);
    assert_eq!(t.db().query_row("SELECT COUNT(*) FROM employees", [], |r| r.get::<_, i64>(0)).unwrap(), 1);

    // The admin works in production.
    let admin = t.login(ADMIN, ADMIN_PW).await;
    let r = t.get("/api/admin/orders", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = t.get("/api/auth/me", Some(&admin)).await.json();
    assert_eq!(me["role"], "admin");
    // Ticks take the real secret.
    assert_eq!(t.tick("retry").await["succeeded"], 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_is_off_without_its_token() {
    let t = TestApp::start().await; // development mode, no bootstrap_admin_token
    let r = t.post_json("/api/auth/bootstrap-admin", &json!({"token": "", "email": ADMIN, "password": ADMIN_PW}), None, None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("bootstrap_admin_token"), "{}", r.text);
    assert_eq!(t.send(t.client.get(t.url("/api/auth/bootstrap-admin"))).await.status, 405);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_reset_same_answer_for_unknown_addresses_throttled_single_use_link() {
    let t = TestApp::start().await;
    let (old_session, _order, _cid) = customer_with_sale(&t, 21).await;
    let email = "lucia.21@example.com";
    let unknown = "nobody.here@example.com";

    let known = t.post_json("/api/auth/password-reset", &json!({"email": email.to_uppercase()}), None, None).await;
    let nobody = t.post_json("/api/auth/password-reset", &json!({"email": unknown}), None, None).await;
    assert_eq!(known.status, 202, "{}", known.text);
    assert_eq!((nobody.status, nobody.text.clone()), (known.status, known.text.clone()), "same answer either way");
    assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": "not-an-address"}), None, None).await.status, 400);

    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(unknown).is_empty());
    let resets: Vec<_> = t.sims.notify().messages_to(email).into_iter().filter(|m| m["template"] == "password-reset").collect();
    assert_eq!(resets.len(), 1, "{resets:?}");
    let body = resets[0]["body"].as_str().unwrap();
    assert!(body.contains("http://127.0.0.1:3000/set-password?token=") && !body.to_lowercase().contains("password:"), "{body}");
    let token = emailed_set_password_token(&t, email);
    // The outbox keeps no usable copy of the link once sent.
    let jobs: Vec<String> = t.db().prepare("SELECT payload FROM jobs").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(jobs.iter().all(|j| !j.contains(&token)), "{jobs:?}");

    // The link sets a new password once; the old password and every old session are gone.
    const RESET_PW: &str = "Reset-Customer-Passw0rd-2026";
    let r = t.post_json("/api/auth/set-password", &json!({"token": token, "new_password": RESET_PW}), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = t.post_json("/api/auth/set-password", &json!({"token": token, "new_password": "Other-Customer-Passw0rd-1"}), None, None).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert_eq!(t.get("/api/auth/me", Some(&old_session)).await.status, 401);
    assert_eq!(t.post_json("/api/auth/login", &json!({"email": email, "password": CUSTOMER_NEW_PASSWORD}), None, None).await.status, 401);
    t.login(email, RESET_PW).await;

    // A reset link lives one hour.
    assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": email}), None, None).await.status, 202);
    t.tick("retry").await;
    let late = emailed_set_password_token(&t, email);
    assert_ne!(late, token);
    t.advance(Duration::from_secs(3600));
    let r = t.post_json("/api/auth/set-password", &json!({"token": late, "new_password": "Late-Customer-Passw0rd-26"}), None, None).await;
    assert_eq!(r.status, 410, "{}", r.text);
    assert!(r.text.contains("expired"), "{}", r.text);

    // Throttled per address (3 an hour), known or not, with the same answer.
    for addr in [email, unknown] {
        for _ in 0..3 {
            assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": addr}), None, None).await.status, 202);
        }
        let r = t.post_json("/api/auth/password-reset", &json!({"email": addr}), None, None).await;
        assert_eq!(r.status, 429, "{addr}: {}", r.text);
        assert!(r.headers.get("retry-after").is_some());
    }
    // Per client network: 10 an hour over any addresses (6 used above in this hour).
    for i in 0..4 {
        assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": format!("spray{i}@example.com")}), None, None).await.status, 202);
    }
    assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": "spray-last@example.com"}), None, None).await.status, 429);
    t.advance(Duration::from_secs(3601));
    assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": email}), None, None).await.status, 202);
    t.tick("retry").await;
    t.stop().await;
}

/// Logs in `n` times and returns the tokens.
async fn sessions(t: &TestApp, email: &str, password: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(t.login(email, password).await);
    }
    out
}

async fn live(t: &TestApp, tokens: &[String]) -> usize {
    let mut n = 0;
    for tok in tokens {
        if t.get("/api/auth/me", Some(tok)).await.status == 200 {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn every_session_ends_on_password_change_and_on_set_password_however_many() {
    let t = TestApp::start().await;
    let (first, _order, _cid) = customer_with_sale(&t, 22).await;
    let email = "lucia.22@example.com";
    let mut tokens = sessions(&t, email, CUSTOMER_NEW_PASSWORD, 150).await;
    tokens.push(first.clone());
    assert_eq!(live(&t, &tokens).await, 151);

    const NEXT: &str = "Next-Customer-Passw0rd-2027";
    let r = t
        .post_json("/api/auth/password", &json!({"current_password": CUSTOMER_NEW_PASSWORD, "new_password": NEXT}), Some(&first), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // All 150 other sessions are dead; the one that changed the password goes on.
    assert_eq!(live(&t, &tokens[..150]).await, 0);
    assert_eq!(t.get("/api/auth/me", Some(&first)).await.status, 200);

    // Set-password through a reset link ends every session, including that one.
    let mut tokens = sessions(&t, email, NEXT, 150).await;
    tokens.push(first);
    assert_eq!(live(&t, &tokens).await, 151);
    assert_eq!(t.post_json("/api/auth/password-reset", &json!({"email": email}), None, None).await.status, 202);
    t.tick("retry").await;
    let token = emailed_set_password_token(&t, email);
    let r = t.post_json("/api/auth/set-password", &json!({"token": token, "new_password": "Third-Customer-Passw0rd-28"}), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(live(&t, &tokens).await, 0);
    t.login(email, "Third-Customer-Passw0rd-28").await;
    t.stop().await;
}
