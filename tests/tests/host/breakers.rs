//! Issue 10 — circuit breakers of the external systems (architecture.md "Circuit Breaker
//! Patterns"): after repeated failures calls to that system are skipped for a cool-down, the
//! customer gets an immediate, honest answer, the breaker's state is shared by every component
//! (key-value store) and visible to admins, and after the cool-down probes close it again.
//! This app: 2 consecutive failures open a breaker for 60 s (harness retry policy: base 30 s).

use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn app() -> TestApp {
    let mut opts = Options::default();
    opts.variables.insert("breaker_failures".into(), "2".into());
    opts.variables.insert("breaker_cooldown_seconds".into(), "60".into());
    TestApp::start_with(opts).await.expect("start the app")
}

/// The admin's view of one breaker.
async fn breaker(t: &TestApp, admin: &str, system: &str) -> Value {
    let r = t.get("/api/admin/breakers", Some(admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = r.json();
    assert_eq!(all["policy"], json!({"failures_to_open": 2, "cooldown_seconds": 60}), "{all}");
    all["breakers"].as_array().unwrap().iter().find(|b| b["system"] == system).cloned().unwrap_or_else(|| panic!("no {system} breaker: {all}"))
}

fn iot_posts(t: &TestApp) -> usize {
    t.sims.faults(System::Iot).requests().iter().filter(|c| c["method"] == "POST" && c["path"] == "/ota/configure").count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_iot_breaker_opens_after_repeated_failures_skips_calls_and_closes_after_the_cooldown() {
    let t = app().await;
    let (token, vin) = operational_vehicle(&t, 931).await;
    let admin = t.admin_token().await;
    assert_eq!(breaker(&t, &admin, "iot").await["state"], "closed");
    t.sims.faults(System::Iot).clear_calls();

    // Two failed activation attempts in a row (the IoT platform answers 503) open the breaker.
    let a = t.bought_service(&token, &vin, "parking-assist", "brk-a").await["id"].as_str().unwrap().to_string();
    t.sims.faults(System::Iot).fail_next(2, 503);
    t.tick("ota").await;
    t.advance(Duration::from_secs(31));
    t.tick("ota").await;
    assert_eq!(iot_posts(&t), 2);
    let b = breaker(&t, &admin, "iot").await;
    assert_eq!((b["state"].as_str(), b["consecutive_failures"].as_u64()), (Some("open"), Some(2)), "{b}");
    assert!(b["last_error"].as_str().is_some_and(|e| e.contains("503")), "{b}");
    assert!(b["open_until"].as_i64().unwrap() > t.now_ms(), "{b}");
    assert!(b["while_open"].as_str().unwrap().contains("never charged"), "{b}");

    // While it is open, another activation is not sent to the IoT platform (now healthy again):
    // the customer sees why it waits and that it will be tried again.
    t.advance(Duration::from_secs(9));
    let b_id = t.bought_service(&token, &vin, "off-road-mode-7d", "brk-b").await["id"].as_str().unwrap().to_string();
    let r = t.tick("ota").await;
    // The new activation is processed (and, if its jittered retry time has come, the first one
    // too): each is put off, none applied.
    let processed = r["processed"].as_u64().unwrap();
    assert!((1..=2).contains(&processed), "{r}");
    assert_eq!((r["applied"].as_u64(), r["retried"].as_u64()), (Some(0), Some(processed)), "{r}");
    assert_eq!(iot_posts(&t), 2, "no call while the breaker is open");
    let waiting = t.service(&token, &b_id).await;
    assert_eq!(waiting["state"], "pending-activation", "{waiting}");
    let why = waiting["activation"]["last_error"].as_str().unwrap_or("");
    assert!(why.contains("circuit breaker is open") && why.contains("IoT API"), "{waiting}");
    assert!(waiting["activation"]["next_attempt_at"].as_i64().unwrap() > t.now_ms(), "{waiting}");

    // After the cool-down the calls go out again as probes; the first success closes it. A
    // skipped call counts as a failed try (the spec's N attempts then support, even while the
    // breaker keeps the IoT API from being called): `b` is due after its first backoff (≤30 s),
    // `a` after its second or, if it was put off above, its third (full jitter, ≤120 s).
    t.advance(Duration::from_secs(62));
    let r = t.tick("ota").await;
    let mut applied = r["applied"].as_u64().unwrap();
    assert!(applied >= 1, "{r}");
    if applied < 2 {
        t.advance(Duration::from_secs(120));
        applied += t.tick("ota").await["applied"].as_u64().unwrap();
    }
    assert_eq!(applied, 2);
    for id in [&a, &b_id] {
        assert_eq!(t.service(&token, id).await["state"], "active");
    }
    let b = breaker(&t, &admin, "iot").await;
    assert_eq!((b["state"].as_str(), b["consecutive_failures"].as_u64()), (Some("closed"), Some(0)), "{b}");
    assert!(b["last_success_at"].as_i64().is_some(), "{b}");
    // Each charged once, nothing charged twice.
    assert_eq!(ledger_net(&t, &a), 59900);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_payment_breaker_refuses_purchases_at_once_and_admins_see_it() {
    let t = app().await;
    let (token, vin) = operational_vehicle(&t, 932).await;
    let admin = t.admin_token().await;
    let gateway = t.sims.faults(System::Payment);

    gateway.down(true);
    for key in ["pay-1", "pay-2"] {
        let r = t.buy_service(&token, &vin, "parking-assist", key).await;
        assert_eq!(r.status, 503, "{}", r.text);
    }
    let calls = gateway.calls();
    // Open: refused before the gateway is asked, with when to try again; nothing recorded.
    let r = t.buy_service(&token, &vin, "parking-assist", "pay-3").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json()["type"], "https://caas.example/problems/unavailable", "{}", r.text);
    let detail = r.json()["detail"].as_str().unwrap_or("").to_string();
    assert!(detail.contains("nothing was charged") && detail.contains("circuit breaker is open"), "{detail}");
    let wait: u64 = r.headers.get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(gateway.calls(), calls, "the gateway was not called");
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE option_code = 'parking-assist'"), 0);
    let b = breaker(&t, &admin, "payment").await;
    assert_eq!(b["state"], "open", "{b}");
    assert_eq!(breaker(&t, &admin, "factory").await["state"], "closed");

    // Not for customers, employees or support.
    for who in [token.clone(), t.employee_token().await, t.support_token().await] {
        assert_eq!(t.get("/api/admin/breakers", Some(&who)).await.status, 403);
    }

    // The gateway is back; after the cool-down the purchase goes through (a probe) and closes it.
    gateway.down(false);
    t.advance(Duration::from_secs(61));
    assert_eq!(breaker(&t, &admin, "payment").await["state"], "half-open");
    let r = t.buy_service(&token, &vin, "parking-assist", "pay-4").await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(breaker(&t, &admin, "payment").await["state"], "closed");
    t.stop().await;
}
