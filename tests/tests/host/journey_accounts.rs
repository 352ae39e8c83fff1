//! Accounts and access (issue 3, issue 9): set-password links, password change, forced change,
//! throttled logins on the virtual clock,
//! logout revocation, roles (customer / employee / admin), customers never see each other's data.


use std::time::Duration;

use caas_tests::*;
use crate::journey::*;
use serde_json::json;


#[tokio::test(flavor = "multi_thread")]
async fn the_credentials_link_sets_the_customers_own_password_once() {
    let t = start().await;
    let (order_id, _cid, email, link_token) = register_sale(&t, 1).await;

    // The e-mail carries a link, never a password; nothing can sign in before the link is used.
    let mail = t.sims.notify().messages_to(&email).into_iter().find(|m| m["template"] == "credentials").unwrap();
    let body = mail["body"].as_str().unwrap();
    assert!(body.contains(&format!("/set-password?token={link_token}")), "{body}");
    assert!(!body.to_lowercase().contains("password:"), "{body}");
    let db = t.db();
    let stored: String = db.query_row("SELECT password_hash FROM customers WHERE email = ?1", [&email], |r| r.get(0)).unwrap();
    assert!(!stored.starts_with("$argon2"), "no password exists before the link is used: {stored}");
    let tokens: Vec<String> =
        db.prepare("SELECT token_hash FROM password_tokens").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(!tokens.is_empty() && !tokens.contains(&link_token), "only the token's hash is stored: {tokens:?}");
    let jobs: Vec<String> = db.prepare("SELECT payload FROM jobs").unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    assert!(jobs.iter().all(|j| !j.contains(&link_token)), "the sent e-mail's link is redacted from the outbox: {jobs:?}");

    // Policy is checked; nothing is used up by a refusal.
    let weak = t.post_json("/api/auth/set-password", &json!({"token": link_token, "new_password": "short"}), None, None).await;
    assert_problem(&weak, 400);
    assert!(weak.text.contains("/new_password"), "{}", weak.text);
    assert_problem(&t.post_json("/api/auth/set-password", &json!({"new_password": NEW_PASSWORD}), None, None).await, 400);
    let bogus = t.post_json("/api/auth/set-password", &json!({"token": "f".repeat(64), "new_password": NEW_PASSWORD}), None, None).await;
    assert_problem(&bogus, 400);

    let ok = t.post_json("/api/auth/set-password", &json!({"token": link_token, "new_password": NEW_PASSWORD}), None, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["must_change_password"], false);
    // Exactly once.
    let again = t.post_json("/api/auth/set-password", &json!({"token": link_token, "new_password": "Another-Passw0rd-2026"}), None, None).await;
    assert_problem(&again, 410);
    assert!(again.text.contains("already used"), "{}", again.text);

    // The password is the customer's own: a normal session, no forced change.
    let login = t.post_json("/api/auth/login", &json!({"email": email, "password": NEW_PASSWORD}), None, None).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json()["must_change_password"], false);
    let token = login.json()["token"].as_str().unwrap().to_string();
    let r = t.get("/api/expediente", Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["orders"][0]["order_id"], order_id.as_str());
    assert_problem(&t.post_json("/api/auth/login", &json!({"email": email, "password": "Another-Passw0rd-2026"}), None, None).await, 401);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_credentials_link_is_refused_and_a_reset_link_replaces_it() {
    let t = start().await;
    let (_order, _cid, email, link_token) = register_sale(&t, 9).await;
    t.advance(Duration::from_secs(7 * 86_400 + 1));
    let r = t.post_json("/api/auth/set-password", &json!({"token": link_token, "new_password": NEW_PASSWORD}), None, None).await;
    assert_problem(&r, 410);
    assert!(r.text.contains("expired") && r.text.contains("/api/auth/password-reset"), "{}", r.text);
    // Not a dead end: a reset link (1 hour) by e-mail.
    let r = t.post_json("/api/auth/password-reset", &json!({"email": email}), None, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.tick("retry").await;
    let reset_token = emailed_token(&t, &email);
    assert_ne!(reset_token, link_token);
    let r = t.post_json("/api/auth/set-password", &json!({"token": reset_token, "new_password": NEW_PASSWORD}), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.login(&email, NEW_PASSWORD).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_change_checks_the_current_password_and_ends_other_sessions() {
    let t = start().await;
    let c = customer(&t, 10).await;
    let token = c.token.clone();
    const NEXT: &str = "Next-Journey-Passw0rd-2027";

    // Policy and current password are checked; nothing changes on a refusal.
    let weak = t.post_json("/api/auth/password", &json!({"current_password": NEW_PASSWORD, "new_password": "short"}), Some(&token), None).await;
    assert_problem(&weak, 400);
    assert!(weak.text.contains("/new_password"), "{}", weak.text);
    let wrong = t.post_json("/api/auth/password", &json!({"current_password": "not-it-at-all", "new_password": NEXT}), Some(&token), None).await;
    assert_problem(&wrong, 400);
    assert!(wrong.text.contains("/current_password"), "{}", wrong.text);
    let same =
        t.post_json("/api/auth/password", &json!({"current_password": NEW_PASSWORD, "new_password": NEW_PASSWORD}), Some(&token), None).await;
    assert_problem(&same, 400);
    assert_problem(&t.post_json("/api/auth/password", &json!({"current_password": NEW_PASSWORD}), None, None).await, 401);

    // A second device.
    let other = t.login(&c.email, NEW_PASSWORD).await;
    assert_eq!(t.get("/api/auth/me", Some(&other)).await.status, 200);
    let ok = t.post_json("/api/auth/password", &json!({"current_password": NEW_PASSWORD, "new_password": NEXT}), Some(&token), None).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["must_change_password"], false);
    // The other session died with the old password; this one goes on.
    assert_problem(&t.get("/api/auth/me", Some(&other)).await, 401);
    assert_eq!(t.get("/api/expediente", Some(&token)).await.status, 200);
    assert_problem(&t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await, 401);
    t.login(&c.email, NEXT).await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_flagged_for_a_forced_change_is_restricted_until_it_changes_the_password() {
    let t = start().await;
    let c = customer(&t, 11).await;
    // Accounts created before set-password links (an e-mailed password) still carry the flag.
    t.db().execute("UPDATE customers SET must_change_password = 1 WHERE email = ?1", [&c.email]).unwrap();
    let login = t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await;
    assert_eq!(login.status, 200, "{}", login.text);
    assert_eq!(login.json()["must_change_password"], true);
    let token = login.json()["token"].as_str().unwrap().to_string();
    let r = t.get("/api/expediente", Some(&token)).await;
    assert_problem(&r, 403);
    assert!(r.json()["title"].as_str().unwrap().to_lowercase().contains("password change required"), "{}", r.text);
    assert_problem(&t.get("/api/vehicles", Some(&token)).await, 403);
    let me = t.get("/api/auth/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json()["must_change_password"], true);
    let ok = t
        .post_json("/api/auth/password", &json!({"current_password": NEW_PASSWORD, "new_password": "Own-Journey-Passw0rd-2027"}), Some(&token), None)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(t.get("/api/expediente", Some(&token)).await.status, 200);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_per_account_until_the_window_passes() {
    let t = start().await;
    let c = customer(&t, 2).await;

    for i in 0..5 {
        let r = t.post_json("/api/auth/login", &json!({"email": c.email, "password": format!("wrong-{i}")}), None, None).await;
        assert_problem(&r, 401);
    }
    // Sixth try: refused before the password is checked, even the right one.
    let r = t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await;
    assert_problem(&r, 429);
    let retry_after: u64 = r.headers.get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Other accounts are not affected by this account's failures.
    assert_eq!(
        t.post_json("/api/auth/login", &json!({"email": EMPLOYEE_EMAIL, "password": EMPLOYEE_PASSWORD}), None, None).await.status,
        200
    );

    // Still throttled just before the window ends; allowed after it (virtual clock).
    t.advance(Duration::from_secs(retry_after.saturating_sub(5)));
    assert_problem(&t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await, 429);
    t.advance(Duration::from_secs(10));
    let r = t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A success resets the account's count: four more failures do not throttle.
    for i in 0..4 {
        assert_problem(&t.post_json("/api/auth/login", &json!({"email": c.email, "password": format!("again-{i}")}), None, None).await, 401);
    }
    assert_eq!(t.post_json("/api/auth/login", &json!({"email": c.email, "password": NEW_PASSWORD}), None, None).await.status, 200);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_per_client_address() {
    let t = start().await;
    // Spraying many accounts from one address: after 20 failures in the window, 429 for any e-mail.
    for i in 0..20 {
        let r = t
            .post_json("/api/auth/login", &json!({"email": format!("nobody{i}@example.com"), "password": "guess-guess"}), None, None)
            .await;
        assert_problem(&r, 401);
    }
    let r = t.post_json("/api/auth/login", &json!({"email": EMPLOYEE_EMAIL, "password": EMPLOYEE_PASSWORD}), None, None).await;
    assert_problem(&r, 429);
    assert!(r.headers.get("retry-after").is_some());
    t.advance(Duration::from_secs(15 * 60 + 1));
    assert_eq!(t.post_json("/api/auth/login", &json!({"email": EMPLOYEE_EMAIL, "password": EMPLOYEE_PASSWORD}), None, None).await.status, 200);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_revokes_the_session() {
    let t = start().await;
    let c = customer(&t, 3).await;
    assert_eq!(t.get("/api/expediente", Some(&c.token)).await.status, 200);
    let r = t.send(t.client.post(t.url("/api/auth/logout")).bearer_auth(&c.token)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_problem(&t.get("/api/expediente", Some(&c.token)).await, 401);
    assert_problem(&t.get("/api/auth/me", Some(&c.token)).await, 401);
    // Logging out twice: the token is dead.
    assert_problem(&t.send(t.client.post(t.url("/api/auth/logout")).bearer_auth(&c.token)).await, 401);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_enforced_on_every_route() {
    let t = start().await;
    let a = customer(&t, 4).await;
    let staff = t.employee_token().await;
    let admin = admin(&t).await;

    // Employee-only: delivery events. Customers and admins are refused; nothing is written.
    let body = json!({"event": "scheduled", "at": "2026-12-01T10:00Z"});
    assert_problem(&delivery_event(&t, &a.token, &a.order_id, body.clone()).await, 403);
    assert_problem(&delivery_event(&t, &admin, &a.order_id, body.clone()).await, 403);
    // The employee is allowed to try, but the order is not matriculated: 409, nothing half-applied.
    let r = delivery_event(&t, &staff, &a.order_id, body.clone()).await;
    assert_problem(&r, 409);
    assert!(r.text.contains("reservation-pending"), "{}", r.text);
    let d = t.get(&format!("/api/delivery/{}", a.order_id), Some(&staff)).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert!(d.json()["delivery"].is_null(), "{}", d.text);
    assert_eq!(d.json()["history"].as_array().unwrap().len(), 0);
    assert_problem(&t.get(&format!("/api/delivery/{}", a.order_id), Some(&a.token)).await, 403);
    // Sales registration is employee-only (admins read, they do not sell).
    assert_problem(&t.post_json("/api/sales", &sale_body(40), Some(&a.token), Some("k40")).await, 403);
    assert_problem(&t.post_json("/api/sales", &sale_body(40), Some(&admin), Some("k40")).await, 403);
    assert_eq!(t.get(&format!("/api/sales/{}", a.order_id), Some(&admin)).await.status, 200);

    // Admin-only: read-all.
    assert_problem(&t.get("/api/admin/orders", Some(&a.token)).await, 403);
    assert_problem(&t.get("/api/admin/orders", Some(&staff)).await, 403);
    assert_problem(&t.get("/api/admin/escalations", Some(&staff)).await, 403);
    assert_problem(&t.get("/api/admin/orders", None).await, 401);
    let r = t.get("/api/admin/orders?limit=10", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["items"][0]["order_id"], a.order_id.as_str());
    assert_problem(&t.get("/api/admin/orders?limit=0", Some(&admin)).await, 400);
    assert_problem(&t.get("/api/admin/orders?status=flying", Some(&admin)).await, 400);
    assert_problem(&t.send(t.client.delete(t.url("/api/admin/orders")).bearer_auth(&admin)).await, 405);

    // Customer-only: the app link and the expediente.
    assert_problem(&t.post_json("/api/vehicles/link", &json!({"vin": test_vin(4), "link_code": "ABCDEF"}), Some(&staff), None).await, 403);
    assert_problem(&t.get("/api/expediente", Some(&admin)).await, 403);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_never_see_each_others_data() {
    let t = start().await;
    let a = customer(&t, 5).await;
    let b = customer(&t, 6).await;

    let mine = t.get("/api/expediente", Some(&a.token)).await;
    assert_eq!(mine.status, 200, "{}", mine.text);
    let v = mine.json();
    assert_eq!(v["profile"]["email"], a.email.as_str());
    assert_eq!(v["orders"].as_array().unwrap().len(), 1);
    assert_eq!(v["orders"][0]["order_id"], a.order_id.as_str());
    assert!(!mine.text.contains(&b.order_id) && !mine.text.contains(&b.email), "{}", mine.text);
    assert_eq!(v["orders"][0]["documents"].as_array().unwrap().len(), 4);
    // The customer's own notification history has the credentials e-mail, without its link.
    let n = &v["notifications"]["items"];
    assert_eq!(n.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(n[0]["template"], "credentials");
    assert_eq!(n[0]["status"], "sent");
    assert!(!n[0]["body"].as_str().unwrap().contains("token="), "{}", n[0]["body"]);

    // B's order through A's session: 404, never B's data.
    let r = t.get(&format!("/api/expediente/orders/{}", b.order_id), Some(&a.token)).await;
    assert_problem(&r, 404);
    assert!(!r.text.contains(&b.email));
    let r = t.get(&format!("/api/expediente/orders/{}", a.order_id), Some(&a.token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_problem(&t.get("/api/expediente/orders/not-an-id", Some(&a.token)).await, 404);
    assert_problem(&t.get(&format!("/api/vehicles/{}", test_vin(6)), Some(&a.token)).await, 404);

    // Paged histories: only A's rows, cursors walk the whole list.
    let p1 = t.get("/api/expediente/timeline?limit=1", Some(&a.token)).await;
    assert_eq!(p1.status, 200, "{}", p1.text);
    let p1 = p1.json();
    assert_eq!(p1["items"].as_array().unwrap().len(), 1);
    assert!(p1["items"].as_array().unwrap().iter().all(|e| e["order_id"] == a.order_id.as_str()));
    let cursor = p1["next_cursor"].as_str().expect("more pages").to_string();
    let p2 = t.get(&format!("/api/expediente/timeline?limit=100&cursor={cursor}"), Some(&a.token)).await.json();
    assert!(!p2["items"].as_array().unwrap().is_empty());
    assert!(p2["items"].as_array().unwrap().iter().all(|e| e["order_id"] == a.order_id.as_str()));
    assert!(p2["next_cursor"].is_null());
    assert_problem(&t.get("/api/expediente/timeline?cursor=bogus", Some(&a.token)).await, 400);
    let pays = t.get("/api/expediente/payments", Some(&a.token)).await;
    assert_eq!(pays.status, 200, "{}", pays.text);
    assert_eq!(pays.json()["items"].as_array().unwrap().len(), 0);
    let notes = t.get("/api/expediente/notifications?limit=5", Some(&b.token)).await.json();
    assert!(notes["items"].as_array().unwrap().iter().all(|m| m["recipient"] == b.email.as_str()), "{notes}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_input_is_a_4xx_problem_never_a_5xx() {
    let t = start().await;
    let c = customer(&t, 7).await;
    let staff = t.employee_token().await;
    let admin = admin(&t).await;
    let bodies = [
        "", "{", "[]", "null", "42", "\"x\"", "{\"event\": 5}", "{\"event\": \"scheduled\", \"at\": \"9999-99-99\"}",
        "{\"event\": \"scheduled\", \"at\": 1e300}", "{\"event\": \"absent\", \"note\": [1]}", "{\"vin\": \"\\u0000\", \"link_code\": {}}",
        "{\"vin\": \"WCA00000000000001\", \"link_code\": \"ÅÅÅÅÅÅ\"}", "{\"current_password\": 1, \"new_password\": null}",
        "{\"email\": [], \"password\": {}}",
    ];
    let routes: Vec<(String, &str)> = vec![
        (format!("/api/delivery/{}/events", c.order_id), staff.as_str()),
        ("/api/delivery/ord_x/events".to_string(), staff.as_str()),
        ("/api/vehicles/link".to_string(), c.token.as_str()),
        ("/api/auth/password".to_string(), c.token.as_str()),
        ("/api/auth/login".to_string(), ""),
    ];
    for (path, token) in &routes {
        for body in bodies {
            let mut req = t.client.post(t.url(path)).header("content-type", "application/json").body(body.to_string());
            if !token.is_empty() {
                req = req.bearer_auth(token);
            }
            let r = t.send(req).await;
            assert!((400..500).contains(&r.status), "POST {path} {body:?} -> {} {}", r.status, r.text);
            assert!(r.is_problem(), "POST {path} {body:?} -> {}", r.text);
        }
    }
    let gets: Vec<(String, &str)> = vec![
        ("/api/expediente/timeline?limit=-1".into(), c.token.as_str()),
        ("/api/expediente/payments?cursor=c%FF%FE".into(), c.token.as_str()),
        ("/api/expediente/notifications?cursor=cffffffffffffffffffff".into(), c.token.as_str()),
        ("/api/expediente/orders/ord_%00".into(), c.token.as_str()),
        ("/api/expediente/nope".into(), c.token.as_str()),
        ("/api/vehicles/%F0%9F%9A%97".into(), c.token.as_str()),
        ("/api/vehicles/a/b".into(), c.token.as_str()),
        ("/api/delivery/ord_zz".into(), staff.as_str()),
        ("/api/delivery/ord_x/events/more".into(), staff.as_str()),
        ("/api/admin/orders?limit=abc&cursor=%".into(), admin.as_str()),
        ("/api/admin/nothing".into(), admin.as_str()),
    ];
    for (path, token) in &gets {
        let r = t.get(path, Some(token)).await;
        assert!((400..500).contains(&r.status), "GET {path} -> {} {}", r.status, r.text);
        assert!(r.is_problem(), "GET {path} -> {}", r.text);
    }
    // Nothing was written by any of it: the order is untouched, no delivery exists.
    let d = t.get(&format!("/api/delivery/{}", c.order_id), Some(&staff)).await.json();
    assert!(d["delivery"].is_null(), "{d}");
    assert_eq!(d["order_status"], "reservation-pending");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_the_current_password_is_throttled_too() {
    let t = start().await;
    let c = customer(&t, 8).await;
    let (email, password, token) = (c.email.clone(), NEW_PASSWORD.to_string(), c.token.clone());
    for i in 0..5 {
        let r = t
            .post_json("/api/auth/password", &json!({"current_password": format!("guess-{i}"), "new_password": NEW_PASSWORD}), Some(&token), None)
            .await;
        assert_problem(&r, 400);
    }
    let r = t.post_json("/api/auth/password", &json!({"current_password": password, "new_password": "Guessed-Journey-Passw0rd-27"}), Some(&token), None).await;
    assert_problem(&r, 429);
    assert!(r.headers.get("retry-after").is_some());
    // The login is throttled as well (same account).
    assert_problem(&t.post_json("/api/auth/login", &json!({"email": email, "password": password}), None, None).await, 429);
    t.advance(Duration::from_secs(15 * 60 + 1));
    let r = t.post_json("/api/auth/password", &json!({"current_password": password, "new_password": "Guessed-Journey-Passw0rd-27"}), Some(&token), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.stop().await;
}
