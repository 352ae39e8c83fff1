//! Issue 4 — OTA dispatch: retries with backoff until the IoT API acknowledges (one applied
//! command), escalation after the last attempt (support ticket, payment voided or refunded,
//! customer told, no net charge), expiry of temporary services through the same engine.
//! Harness policy: retry_base_seconds = 30, retry_max_attempts = 4.

use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;


async fn buy(t: &TestApp, token: &str, vin: &str, code: &str) -> Value {
    t.bought_service(token, vin, code, &format!("buy-{code}")).await
}

/// [`buy`] a one-time option: (service id, payment id).
async fn buy_paid(t: &TestApp, token: &str, vin: &str, code: &str) -> (String, String) {
    let s = buy(t, token, vin, code).await;
    (s["id"].as_str().unwrap().to_string(), s["payment_id"].as_str().unwrap().to_string())
}

/// Commands applied to `vin` for service `id` (the plan comercial's own commands left out).
fn commands_of(t: &TestApp, vin: &str, id: &str) -> Vec<Value> {
    t.sims.iot().commands_for(vin).into_iter().filter(|c| c["command-id"].as_str().unwrap_or("").contains(id)).collect()
}

fn templates(msgs: &[Value]) -> Vec<(String, String)> {
    msgs.iter().map(|m| (m["template"].as_str().unwrap_or("").to_string(), m["channel"].as_str().unwrap_or("").to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn iot_failing_twice_then_succeeding_activates_exactly_once() {
    let (t, token, vin) = TestApp::with_operational_vehicle(501).await;
    t.sims.faults(System::Iot).clear_calls();
    let s = buy(&t, &token, &vin, "parking-assist").await;
    let id = s["id"].as_str().unwrap().to_string();

    t.sims.faults(System::Iot).fail_next(2, 503);
    let r1 = t.tick("ota").await;
    assert_eq!((r1["processed"].as_u64(), r1["retried"].as_u64()), (Some(1), Some(1)), "{r1}");
    // Not due again before its backoff.
    let r = t.tick("ota").await;
    assert_eq!(r["processed"], 0, "{r}");
    t.advance(Duration::from_secs(31));
    let r2 = t.tick("ota").await;
    assert_eq!(r2["retried"], 1, "{r2}");
    let pending = t.service(&token, &id).await;
    assert_eq!(pending["state"], "pending-activation");
    // The customer sees the tries, the last problem and when the next try is.
    let a = &pending["activation"];
    assert_eq!((a["attempts"].as_i64(), a["status"].as_str()), (Some(2), Some("pending")), "{pending}");
    assert!(a["last_error"].as_str().is_some_and(|e| e.contains("503")), "{a}");
    // ... and the same in plain words.
    assert_eq!(a["reason_code"], "platform-unavailable", "{a}");
    assert_eq!(a["reason"], "the vehicle communication platform is temporarily unavailable", "{a}");
    assert!(a["next_attempt_at"].as_i64().unwrap() > t.now_ms(), "{a}");
    t.advance(Duration::from_secs(61));
    let r3 = t.tick("ota").await;
    assert_eq!(r3["applied"], 1, "{r3}");

    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "active");
    assert_eq!((got["activation"]["attempts"].as_i64(), got["activation"]["status"].as_str()), (Some(3), Some("done")), "{got}");
    assert!(got["activated_at"].as_i64().unwrap() > 0);
    assert_eq!(got["ends_at"], Value::Null, "permanent");
    let cmds = commands_of(&t, &vin, &id);
    assert_eq!(cmds.len(), 1, "exactly one applied command: {cmds:?}");
    assert_eq!(cmds[0]["command-id"], format!("cmd_{id}_activate_0"));
    assert_eq!(t.sims.iot().feature_state(&vin, "parking-assist").as_deref(), Some("active"));
    let posts = t.sims.faults(System::Iot).requests().iter().filter(|c| c["method"] == "POST").count();
    assert_eq!(posts, 3, "two failures + one success, same command id");

    // Customer told on push + vehicle display + e-mail (through the outbox).
    t.tick("retry").await;
    let (customer_id, email) = t.customer_of(&vin);
    let msgs: Vec<Value> = t
        .sims
        .notify()
        .messages()
        .into_iter()
        .filter(|m| m["template"] == "service-activated" && m["message-id"].as_str().unwrap_or("").contains(&id))
        .collect();
    let mut got = templates(&msgs);
    got.sort();
    assert_eq!(
        got,
        vec![("service-activated".to_string(), "email".to_string()), ("service-activated".to_string(), "push".to_string())],
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m["recipient"] == email.as_str()));
    assert!(msgs.iter().any(|m| m["recipient"] == customer_id.as_str()));
    // After the first failed try the customer heard, once (not again after the second), in their
    // language (English), that it is being retried, why, and that nothing is charged unless it works.
    let delayed: Vec<Value> = t
        .sims
        .notify()
        .messages()
        .into_iter()
        .filter(|m| m["template"] == "activation-delayed" && m["message-id"].as_str().unwrap_or("").contains(&id))
        .collect();
    let mut chans: Vec<&str> = delayed.iter().map(|m| m["channel"].as_str().unwrap_or("")).collect();
    chans.sort();
    assert_eq!(chans, ["email", "push"], "{delayed:?}");
    let body = delayed[0]["body"].as_str().unwrap_or("");
    assert!(body.contains("temporarily unavailable") && body.contains("you pay nothing") && body.contains("next try"), "{body}");
    // "In progress": one app notification when it was bought.
    let started: Vec<Value> = t
        .sims
        .notify()
        .messages()
        .into_iter()
        .filter(|m| m["template"] == "activation-started" && m["message-id"].as_str().unwrap_or("").contains(&id))
        .collect();
    assert_eq!(templates(&started), vec![("activation-started".to_string(), "push".to_string())], "{started:?}");
    // The car's display, through the IoT API.
    let shown: Vec<Value> = t
        .sims
        .iot()
        .displays()
        .into_iter()
        .filter(|d| d["vin"] == vin.as_str() && d["request"]["message-id"].as_str().unwrap_or("").contains(&id))
        .collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0]["request"]["template"], "service-activated");
    // The command went to the IoT API's documented configuration push.
    let pushes: Vec<Value> = t.sims.faults(System::Iot).requests().into_iter().filter(|c| c["method"] == "POST" && c["path"] == "/ota/configure").collect();
    assert_eq!(pushes.len(), 3, "{pushes:?}");
    // Expediente timeline.
    let n: i64 = t
        .db()
        .query_row("SELECT COUNT(*) FROM order_events WHERE kind = 'service-activated' AND detail LIKE '%' || ?1 || '%'", [&id], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);

    // Ticks again: nothing more is sent.
    t.advance(Duration::from_secs(3600));
    let r = t.tick("ota").await;
    assert_eq!(r["processed"], 0, "{r}");
    assert_eq!(commands_of(&t, &vin, &id).len(), 1);
    assert_eq!(ledger_net(&t, &id), 59900);
    assert_ledger_invariants(&t);
    t.stop().await;
}

/// Fires the OTA tick through the whole retry schedule (4 attempts) and returns the last report.
async fn exhaust_attempts(t: &TestApp) -> Value {
    let mut last = Value::Null;
    for _ in 0..4 {
        last = t.tick("ota").await;
        t.advance(Duration::from_secs(3600));
    }
    last
}

#[tokio::test(flavor = "multi_thread")]
async fn iot_always_failing_escalates_voids_the_payment_and_tells_the_customer() {
    let (t, token, vin) = TestApp::with_operational_vehicle(511).await;
    let (id, pid) = buy_paid(&t, &token, &vin, "highway-autopilot").await;

    t.sims.faults(System::Iot).fail_rate(1.0);
    let last = exhaust_attempts(&t).await;
    assert_eq!(last["escalated"], 1, "{last}");

    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "failed", "{got}");
    // Why, for the customer: the tries made, the IoT platform's last answer, the support ticket.
    let a = &got["activation"];
    assert_eq!(a["status"], "escalated", "{got}");
    assert!(a["attempts"].as_i64().unwrap() >= 1 && a["next_attempt_at"].is_null(), "{a}");
    assert!(a["support_ticket"].as_str().is_some_and(|t| !t.is_empty()), "{a}");
    assert_eq!(got["payment_status"], "voided");
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["status"], "voided");
    assert!(commands_of(&t, &vin, &id).is_empty());
    // Support ticket with the error details and the vehicle status.
    let (tid, summary, err, status): (String, String, String, String) = t
        .db()
        .query_row("SELECT id, summary, last_error, vehicle_status FROM support_tickets WHERE service_id = ?1", [&id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(tid, format!("tkt_cmd_{id}_activate_0"));
    assert!(summary.contains("after 4 attempts"), "{summary}");
    assert!(err.contains("503"), "{err}");
    assert!(status.contains("firmware") || status.contains("503"), "{status}");
    // No net charge.
    assert_eq!(ledger_net(&t, &id), 0);
    assert_ledger_invariants(&t);
    // The customer is told (OTA failure routing).
    t.tick("retry").await;
    let msgs: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "ota-failure").collect();
    assert!(msgs.iter().any(|m| m["channel"] == "email"), "{msgs:?}");
    assert!(msgs.iter().any(|m| m["channel"] == "push"), "{msgs:?}");
    assert!(msgs.iter().all(|m| m["body"].as_str().unwrap().contains("not been charged")));
    // Staff see the give-up on the dashboard, under the option's name.
    let admin = t.admin_token().await;
    let d = t.get("/api/admin/dashboard", Some(&admin)).await.json();
    let hwy = d["ota_by_option"].as_array().unwrap().iter().find(|o| o["option_code"] == "highway-autopilot").cloned().unwrap_or_default();
    assert_eq!(
        (hwy["name"].as_str(), hwy["activated"].as_i64(), hwy["failed"].as_i64(), hwy["pending"].as_i64()),
        (Some("Highway Autopilot"), Some(0), Some(1), Some(0)),
        "{d}"
    );
    // Done: later ticks do nothing, the option can be bought again.
    t.sims.faults(System::Iot).reset();
    let r = t.tick("ota").await;
    assert_eq!(r["processed"], 0, "{r}");
    let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": "highway-autopilot"}), Some(&token), Some("again-1")).await;
    assert_eq!(r.status, 202, "{}", r.text);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn escalation_refunds_a_payment_that_already_settled() {
    let (t, token, vin) = TestApp::with_operational_vehicle(521).await;
    let (id, pid) = buy_paid(&t, &token, &vin, "parking-assist").await;
    // Settlement arrives before the activation gave up (the webhook's answer does not matter here).
    let _ = t.sims.payment().settle(&pid, true).await;
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["status"], "settled");

    t.sims.faults(System::Iot).fail_rate(1.0);
    exhaust_attempts(&t).await;
    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "failed");
    assert_eq!(got["payment_status"], "refunded");
    let p = t.sims.payment().payment(&pid).unwrap();
    assert_eq!(p["refunded-minor"], 59900, "{p}");
    assert_eq!(ledger_net(&t, &id), 0);
    // Re-running the give-up never refunds twice.
    let refunds = t.sims.payment().refunds().len();
    t.tick("ota").await;
    assert_eq!(t.sims.payment().refunds().len(), refunds);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_down_during_escalation_is_retried_until_the_money_is_returned() {
    let (t, token, vin) = TestApp::with_operational_vehicle(531).await;
    let s = buy(&t, &token, &vin, "parking-assist").await;
    let id = s["id"].as_str().unwrap().to_string();

    t.sims.faults(System::Iot).fail_rate(1.0);
    t.sims.faults(System::Payment).down(true);
    let last = exhaust_attempts(&t).await;
    assert_eq!(last["pending_money"], 1, "{last}");
    assert_eq!(t.service(&token, &id).await["state"], "pending-activation");
    t.sims.faults(System::Payment).down(false);
    let r = t.tick("ota").await;
    assert_eq!(r["escalated"], 1, "{r}");
    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "failed");
    assert_eq!(got["payment_status"], "voided");
    assert_eq!(ledger_net(&t, &id), 0);
    let tickets: i64 = t.count("SELECT COUNT(*) FROM support_tickets");
    assert_eq!(tickets, 1);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn temporary_service_expires_through_a_deactivation_command() {
    let (t, token, vin) = TestApp::with_operational_vehicle(541).await;
    let s = buy(&t, &token, &vin, "off-road-mode-7d").await;
    let id = s["id"].as_str().unwrap().to_string();
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 1, "{r}");
    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "active");
    let activated = got["activated_at"].as_i64().unwrap();
    assert_eq!(got["ends_at"].as_i64().unwrap(), activated + 7 * 86_400_000);

    // One day before the end: nothing happens.
    t.advance(Duration::from_secs(6 * 86_400));
    let r = t.tick("ota").await;
    assert_eq!(r["endings_queued"], 0, "{r}");
    // Past the end: the deactivation goes out through the same engine.
    t.advance(Duration::from_secs(86_400 + 60));
    let r = t.tick("ota").await;
    assert_eq!((r["endings_queued"].as_u64(), r["applied"].as_u64()), (Some(1), Some(1)), "{r}");
    // A week later the session has expired: sign in again.
    let token = t.login("lucia.541@example.com", CUSTOMER_NEW_PASSWORD).await;
    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "expired");
    let cmds = commands_of(&t, &vin, &id);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(cmds[1]["command-id"], format!("cmd_{id}_deactivate_0"));
    assert_eq!(t.sims.iot().feature_state(&vin, "off-road-mode").as_deref(), Some("inactive"));
    // Expired: can be bought again; a second tick does nothing.
    let r = t.tick("ota").await;
    assert_eq!(r["processed"], 0, "{r}");
    assert_eq!(ledger_net(&t, &id), 1900);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn service_cancelled_while_its_activation_is_in_flight_is_switched_off_again() {
    let (t, token, vin) = TestApp::with_operational_vehicle(551).await;
    let (id, pid) = buy_paid(&t, &token, &vin, "parking-assist").await;

    // The vehicle is slow to acknowledge; meanwhile the settlement fails → activation cancelled.
    t.sims.faults(System::Iot).slow(1500);
    let (report, webhook) = tokio::join!(t.tick("ota"), async {
        tokio::time::sleep(Duration::from_millis(400)).await;
        t.sims.payment().settle(&pid, false).await.unwrap()
    });
    assert_eq!(webhook, 200);
    assert_eq!(report["applied"], 1, "{report}");
    assert_eq!(t.service(&token, &id).await["state"], "aborted");
    assert_eq!(t.sims.iot().feature_state(&vin, "parking-assist").as_deref(), Some("active"));

    // The engine switches it off again; nothing is charged.
    t.sims.faults(System::Iot).reset();
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 1, "{r}");
    assert_eq!(t.sims.iot().feature_state(&vin, "parking-assist").as_deref(), Some("inactive"));
    let cmds = commands_of(&t, &vin, &id);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(t.service(&token, &id).await["state"], "aborted");
    assert_eq!(ledger_net(&t, &id), 0);
    let r = t.tick("ota").await;
    assert_eq!(r["processed"], 0, "{r}");
    assert_ledger_invariants(&t);
    t.stop().await;
}
