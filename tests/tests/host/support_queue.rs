//! Issue 8 — the technical support queue: failed OTA activations listed with their attempts,
//! last error and the vehicle's live status; assign, notes, retry (a new command; charged only
//! through the normal billing once delivered), close as failed (customer told, never charged);
//! every action in the admins' audit log; role boundaries.
//! Harness policy: retry_base_seconds = 30, retry_max_attempts = 4.

use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Buys `code`, lets every OTA attempt fail until the engine gives up; returns the service id.
async fn failed_activation(t: &TestApp, token: &str, vin: &str, code: &str) -> String {
    let s = t.bought_service(token, vin, code, &format!("buy-{code}")).await;
    let id = s["id"].as_str().unwrap().to_string();
    t.sims.faults(System::Iot).fail_rate(1.0);
    let mut escalated = 0;
    for _ in 0..4 {
        escalated += t.tick("ota").await["escalated"].as_u64().unwrap_or(0);
        t.advance(Duration::from_secs(3600));
    }
    assert_eq!(escalated, 1);
    assert_eq!(t.service_state(&id), "failed");
    id
}

fn ticket_of(list: &Value, service_id: &str) -> Value {
    list["items"].as_array().unwrap().iter().find(|t| t["service"]["id"] == service_id).cloned().unwrap_or(Value::Null)
}

async fn subject_id(t: &TestApp, token: &str) -> String {
    let me = t.get("/api/auth/me", Some(token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    me.json()["subject_id"].as_str().unwrap().to_string()
}

fn audit_rows(t: &TestApp) -> i64 {
    t.count("SELECT COUNT(*) FROM audit_log")
}

#[tokio::test(flavor = "multi_thread")]
async fn support_retries_a_failed_subscription_activation_that_then_succeeds() {
    let (t, token, vin) = TestApp::with_operational_vehicle(801).await;
    let id = failed_activation(&t, &token, &vin, "entertainment-plus").await;
    let support = t.support_token().await;
    let agent = subject_id(&t, &support).await;

    // The queue: the ticket with its service, customer, attempts, last error; the IoT API is
    // still failing, so no live status — a note instead, never a 5xx.
    let r = t.get("/api/support/tickets?status=open", Some(&support)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tk = ticket_of(&r.json(), &id);
    let tid = tk["id"].as_str().expect("ticket listed").to_string();
    let (_, email) = t.customer_of(&vin);
    assert_eq!((tk["status"].as_str(), tk["action"].as_str()), (Some("open"), Some("activate")), "{tk}");
    assert_eq!(tk["attempts"], 4, "{tk}");
    assert!(tk["last_error"].as_str().unwrap().contains("503"), "{tk}");
    assert_eq!(tk["customer"]["email"], email.as_str());
    assert_eq!(
        (tk["service"]["option_code"].as_str(), tk["service"]["name"].as_str(), tk["service"]["state"].as_str()),
        (Some("entertainment-plus"), Some("Entertainment Plus"), Some("failed"))
    );
    assert_eq!(tk["vehicle_status"], Value::Null, "{tk}");
    assert!(tk["vehicle_status_note"].as_str().is_some_and(|n| n.contains("503")), "{tk}");
    // Other statuses do not list it; an unknown status is a 400.
    let r = t.get("/api/support/tickets?status=closed", Some(&support)).await;
    assert_eq!(ticket_of(&r.json(), &id), Value::Null);
    let r = t.get("/api/support/tickets?status=done", Some(&support)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.is_problem());

    // The IoT API is back: the live status of the vehicle.
    t.sims.faults(System::Iot).reset();
    let r = t.get(&format!("/api/support/tickets/{tid}"), Some(&support)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tk = r.json();
    assert_eq!(tk["vehicle_status"]["vin"], vin.as_str(), "{tk}");
    assert_eq!(tk["vehicle_status_note"], Value::Null);

    // Role boundaries: nothing written by refused calls.
    let customer_r = t.get("/api/support/tickets", Some(&token)).await;
    assert_eq!(customer_r.status, 403, "{}", customer_r.text);
    assert_eq!(t.get("/api/support/tickets", Some(&t.employee_token().await)).await.status, 403);
    assert_eq!(t.get("/api/support/tickets", None).await.status, 401);
    let admin = t.admin_token().await;
    assert_eq!(t.get("/api/support/tickets", Some(&admin)).await.status, 200, "admins read the queue");
    for action in ["assign", "retry"] {
        let r = t.post_json(&format!("/api/support/tickets/{tid}/{action}"), &json!({}), Some(&admin), None).await;
        assert_eq!(r.status, 403, "admins cannot trigger OTA: {}", r.text);
        let r = t.post_json(&format!("/api/support/tickets/{tid}/{action}"), &json!({}), Some(&token), None).await;
        assert_eq!(r.status, 403, "{}", r.text);
    }
    assert_eq!(t.post_json("/api/support/tickets/tkt_nope/assign", &json!({}), Some(&support), None).await.status, 404);
    assert_eq!(audit_rows(&t), 0);
    assert_eq!(t.service_state(&id), "failed");

    // Assign to self, add a note (an empty one is refused and writes nothing).
    let r = t.post_json(&format!("/api/support/tickets/{tid}/assign"), &json!({}), Some(&support), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["status"].as_str(), r.json()["assigned_to"].as_str()), (Some("assigned"), Some(agent.as_str())));
    let r = t.post_json(&format!("/api/support/tickets/{tid}/notes"), &json!({"text": "  "}), Some(&support), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json(&format!("/api/support/tickets/{tid}/notes"), &json!({"text": "Modem rebooted remotely; retrying."}), Some(&support), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let notes = r.json()["notes"].clone();
    assert_eq!(notes.as_array().unwrap().len(), 1, "{notes}");
    assert_eq!((notes[0]["text"].as_str(), notes[0]["author_id"].as_str()), (Some("Modem rebooted remotely; retrying."), Some(agent.as_str())));

    // Retry: a new command (next generation), the service waits for its activation again.
    let r = t.post_json(&format!("/api/support/tickets/{tid}/retry"), &json!({}), Some(&support), None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let tk = r.json();
    let new_cmd = format!("cmd_{id}_activate_1");
    assert_eq!((tk["status"].as_str(), tk["resolution"].as_str()), (Some("closed"), Some("retried")), "{tk}");
    assert_eq!(tk["retry_command_id"], new_cmd.as_str());
    assert_eq!(tk["service"]["state"], "pending-activation");
    assert_eq!(t.service_state(&id), "pending-activation");
    // Not twice.
    let r = t.post_json(&format!("/api/support/tickets/{tid}/retry"), &json!({}), Some(&support), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem());

    // The engine sends the new command; the service is active, one command applied.
    let rep = t.tick("ota").await;
    assert_eq!(rep["applied"], 1, "{rep}");
    let got = t.service(&token, &id).await;
    assert_eq!(got["state"], "active", "{got}");
    assert_eq!(got["activation"]["command_id"], new_cmd.as_str(), "{got}");
    let cmds: Vec<Value> = t.sims.iot().commands_for(&vin).into_iter().filter(|c| c["command-id"].as_str().unwrap_or("").contains(&id)).collect();
    assert_eq!(cmds.len(), 1, "{cmds:?}");
    assert_eq!(cmds[0]["command-id"], new_cmd.as_str());
    // Billed in arrears from the activation, like any subscription: nothing charged yet.
    assert_eq!(ledger_net(&t, &id), 0);

    // The audit log shows who did what, with before/after; customers cannot read it.
    let r = t.get(&format!("/api/admin/audit?target={tid}"), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].as_array().unwrap().clone();
    let actions: Vec<&str> = items.iter().map(|i| i["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["support.ticket.assign", "support.ticket.note", "support.ticket.retry"], "{items:?}");
    assert!(items.iter().all(|i| i["actor_id"] == agent.as_str() && i["actor_role"] == "support"), "{items:?}");
    assert_eq!((items[2]["before"]["service_state"].as_str(), items[2]["after"]["service_state"].as_str()), (Some("failed"), Some("pending-activation")));
    assert_eq!(t.get("/api/admin/audit", Some(&token)).await.status, 403);
    assert_eq!(t.get("/api/admin/audit", Some(&support)).await.status, 403);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn support_closes_a_failed_paid_activation_the_customer_is_told_and_never_charged() {
    let (t, token, vin) = TestApp::with_operational_vehicle(811).await;
    let id = failed_activation(&t, &token, &vin, "parking-assist").await;
    t.sims.faults(System::Iot).reset();
    let support = t.support_token().await;
    let r = t.get("/api/support/tickets", Some(&support)).await;
    let tid = ticket_of(&r.json(), &id)["id"].as_str().expect("ticket listed").to_string();
    assert_eq!(t.service(&token, &id).await["payment_status"], "voided");

    // The up-front payment was returned at the give-up: no retry (it would deliver for free).
    let jobs = t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'ota'");
    let r = t.post_json(&format!("/api/support/tickets/{tid}/retry"), &json!({}), Some(&support), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json()["type"].as_str().map(|s| s.ends_with("payment-returned")), Some(true), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'ota'"), jobs);
    assert_eq!(t.service_state(&id), "failed");
    assert_eq!(audit_rows(&t), 0);

    // Close as failed: a note is required.
    let r = t.post_json(&format!("/api/support/tickets/{tid}/close"), &json!({}), Some(&support), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json(&format!("/api/support/tickets/{tid}/close"), &json!({"note": 7}), Some(&support), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json(&format!("/api/support/tickets/{tid}/close"), &json!({"note": "Vehicle firmware too old for this option."}), Some(&support), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let tk = r.json();
    assert_eq!((tk["status"].as_str(), tk["resolution"].as_str()), (Some("closed"), Some("failed")), "{tk}");
    assert_eq!(tk["resolution_note"], "Vehicle firmware too old for this option.");
    let r = t.post_json(&format!("/api/support/tickets/{tid}/close"), &json!({"note": "again"}), Some(&support), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(audit_rows(&t), 1);

    // The customer is told (e-mail and push), and was never charged.
    t.tick("retry").await;
    let msgs: Vec<Value> = t
        .sims
        .notify()
        .messages()
        .into_iter()
        .filter(|m| m["message-id"].as_str().unwrap_or("").starts_with(&format!("ticket-closed:{tid}")))
        .collect();
    assert!(msgs.iter().any(|m| m["channel"] == "email"), "{msgs:?}");
    assert!(msgs.iter().all(|m| m["body"].as_str().unwrap().contains("not been charged")), "{msgs:?}");
    assert_eq!(ledger_net(&t, &id), 0);
    assert_eq!(t.service_state(&id), "failed");
    let r = t.get("/api/support/tickets?status=closed", Some(&support)).await;
    assert_eq!(ticket_of(&r.json(), &id)["id"], tid.as_str());
    t.stop().await;
}
