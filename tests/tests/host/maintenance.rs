//! Issue 10 — maintenance (services side): the maintenance tick reminds the customer 30 days
//! before the due date VSS holds (routing "Maintenance Due": e-mail, push, the car's display,
//! SMS only with the opt-in), once per due date, in the customer's language; a due date passed
//! without a newer service is recorded once as missed and voids the warranty (the car keeps
//! working, purchased services stay active); the customer's maintenance view shows the VSS
//! history (date, workshop, work done) and the warranty. Real components, simulators, virtual clock.

use caas_domain::lang::{self, Lang};
use caas_domain::maintenance::Day;
use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

async fn patch(t: &TestApp, path: &str, body: &Value, token: &str) -> Resp {
    t.send(t.client.patch(t.url(path)).bearer_auth(token).json(body)).await
}

/// The customer's maintenance notifications of `template` (every channel): e-mail, push and SMS
/// from the notification sink, the car's display from the IoT API (shown in the same shape).
fn sent(t: &TestApp, customer_id: &str, template: &str) -> Vec<Value> {
    let mut out: Vec<Value> = t.sims.notify().messages_with_template(template).into_iter().filter(|m| m["customer-id"] == customer_id).collect();
    out.extend(t.sims.iot().displays().into_iter().filter(|d| d["request"]["template"] == template).map(|d| {
        json!({"channel": "vehicle-display", "recipient": d["vin"], "subject": d["request"]["title"], "body": d["message"], "template": template})
    }));
    out
}

fn channels(msgs: &[Value]) -> Vec<String> {
    let mut c: Vec<String> = msgs.iter().map(|m| m["channel"].as_str().unwrap().to_string()).collect();
    c.sort();
    c
}

async fn maintenance(t: &TestApp, token: &str, vin: &str) -> Value {
    let r = t.get(&format!("/api/vehicles/{vin}/maintenance"), Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// The vehicle's services and their states as the customer sees them.
async fn service_states(t: &TestApp, token: &str, vin: &str) -> Vec<(String, String)> {
    let v = t.get(&format!("/api/vehicles/{vin}"), Some(token)).await.json();
    v["services"].as_array().unwrap().iter().map(|s| (s["option_code"].as_str().unwrap().to_string(), s["state"].as_str().unwrap().to_string())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_maintenance_reminder_30_days_before_the_due_date_then_missed_voids_the_warranty() {
    let t = TestApp::start().await;
    let (mut token, vin) = operational_vehicle(&t, 1001).await;
    let email = "lucia.1001@example.com";
    let (customer_id, _) = t.customer_of(&vin);
    // A German-speaking customer, no SMS opt-in.
    let r = patch(&t, "/api/account/profile", &json!({"language": "de", "phone": "+34600100101"}), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let services_before = service_states(&t, &token, &vin).await;
    assert!(!services_before.is_empty() && services_before.iter().all(|(_, s)| s == "active"), "{services_before:?}");
    let iot_commands_before = t.sims.iot().commands_for(&vin).len();

    // Due in 45 days: nothing yet.
    let due = Day::of_ms(t.now_ms()).plus(45);
    t.sims.vss().set_next_due(&vin, &due.iso());
    let r = t.tick("maintenance").await;
    assert_eq!((r["checked"].as_u64(), r["reminders"].as_u64()), (Some(1), Some(0)), "{r}");
    t.tick("retry").await;
    assert!(sent(&t, &customer_id, "maintenance-due").is_empty());
    let m = maintenance(&t, &token, &vin).await;
    assert_eq!((m["status"].as_str(), m["next_due"].as_str(), m["warranty"]["state"].as_str()), (Some("current"), Some(due.iso().as_str()), Some("valid")), "{m}");
    assert!(m["notices"].as_array().unwrap().is_empty());

    // 29 days before the due date: two runs at once, then another: one reminder in all.
    t.advance(DAY * 16);
    token = t.login(email, CUSTOMER_NEW_PASSWORD).await; // sessions expire in business time
    let (a, b) = tokio::join!(t.tick("maintenance"), t.tick("maintenance"));
    assert_eq!(a["reminders"].as_u64().unwrap() + b["reminders"].as_u64().unwrap(), 1, "{a} {b}");
    assert_eq!(t.tick("maintenance").await["reminders"], 0);
    t.tick("retry").await;
    let reminders = sent(&t, &customer_id, "maintenance-due");
    // Exactly one per channel of the routing table; no SMS without the opt-in.
    assert_eq!(channels(&reminders), ["email", "push", "vehicle-display"], "{reminders:?}");
    let by = |ch: &str| reminders.iter().find(|m| m["channel"] == ch).unwrap().clone();
    assert_eq!(by("email")["recipient"], email);
    assert_eq!(by("vehicle-display")["recipient"], vin.as_str());
    let mail = by("email");
    let (subject, body) = (mail["subject"].as_str().unwrap(), mail["body"].as_str().unwrap());
    assert!(subject.contains("Wartung"), "in German: {subject}");
    assert!(body.contains(&lang::date(Lang::De, due.ms())) && body.contains(&vin), "{body}");
    assert!(by("vehicle-display")["body"].as_str().unwrap().contains("Wartung"), "the car's display in German too");
    assert_eq!(by("push")["recipient"], customer_id.as_str());
    let m = maintenance(&t, &token, &vin).await;
    let notices = m["notices"].as_array().unwrap();
    assert_eq!(notices.len(), 1, "{m}");
    assert_eq!((notices[0]["kind"].as_str(), notices[0]["due_date"].as_str()), (Some("reminder"), Some(due.iso().as_str())));

    // The due date passes with no new service in VSS: missed, recorded once, warranty void.
    t.advance(DAY * 30);
    token = t.login(email, CUSTOMER_NEW_PASSWORD).await;
    let r = t.tick("maintenance").await;
    assert_eq!(r["missed"], 1, "{r}");
    assert_eq!(r["reminders"], 0, "{r}");
    assert_eq!(t.tick("maintenance").await["missed"], 0);
    t.tick("retry").await;
    let missed = sent(&t, &customer_id, "maintenance-missed");
    assert_eq!(channels(&missed), ["email", "push", "vehicle-display"], "{missed:?}");
    assert!(missed[0]["subject"].as_str().unwrap().contains("Garantie"), "{}", missed[0]);
    assert_eq!(sent(&t, &customer_id, "maintenance-due").len(), 3, "no new reminder after the due date");
    let m = maintenance(&t, &token, &vin).await;
    assert_eq!(m["status"], "overdue", "{m}");
    assert_eq!(m["vehicle_operation"], "unaffected");
    let w = &m["warranty"];
    assert_eq!((w["state"].as_str(), w["reason"].as_str()), (Some("void"), Some("maintenance-missed")), "{m}");
    assert_eq!(w["void_since"].as_str(), Some(due.plus(1).iso().as_str()));
    assert_eq!(w["missed_due_date"].as_str(), Some(due.iso().as_str()));
    // The timeline says it too.
    let tl = t.get("/api/expediente/timeline?limit=100", Some(&token)).await.json();
    assert!(tl["items"].as_array().unwrap().iter().any(|e| e["kind"] == "maintenance-missed"), "{tl}");
    // Purchased services are not revoked and nothing is sent to the car to switch anything off.
    assert_eq!(service_states(&t, &token, &vin).await, services_before);
    assert_eq!(t.sims.iot().commands_for(&vin).len(), iot_commands_before);

    // The workshop records the service: history shows it; the warranty stays void.
    let today = Day::of_ms(t.now_ms());
    let next_due = today.plus(365);
    t.sims.vss().record_service(&vin, &today.iso(), "Taller Norte Madrid", "annual service, brake fluid", &next_due.iso());
    let m = maintenance(&t, &token, &vin).await;
    assert_eq!((m["status"].as_str(), m["next_due"].as_str()), (Some("current"), Some(next_due.iso().as_str())), "{m}");
    let h = m["history"].as_array().unwrap();
    let last = h.last().unwrap();
    assert_eq!((last["date"].as_str(), last["workshop"].as_str(), last["work"].as_str()), (Some(today.iso().as_str()), Some("Taller Norte Madrid"), Some("annual service, brake fluid")), "{m}");
    assert!(h.len() >= 2, "the earlier service is kept: {m}");
    assert_eq!(m["warranty"]["state"], "void");
    // The expediente shows the same maintenance history and warranty.
    let e = t.get("/api/expediente", Some(&token)).await.json();
    let em = &e["orders"][0]["maintenance"];
    assert_eq!(em["history"].as_array().unwrap().last().unwrap()["workshop"], "Taller Norte Madrid", "{e}");
    assert_eq!((em["warranty"]["state"].as_str(), em["warranty"]["void_since"].as_str()), (Some("void"), Some(due.plus(1).iso().as_str())), "{em}");
    let r = t.tick("maintenance").await;
    assert_eq!((r["reminders"].as_u64(), r["missed"].as_u64()), (Some(0), Some(0)), "{r}");

    // The next cycle: reminded again 30 days before the new due date.
    t.advance(DAY * 334);
    assert_eq!(t.tick("maintenance").await["reminders"], 0);
    t.advance(DAY);
    assert_eq!(t.tick("maintenance").await["reminders"], 1);
    token = t.login(email, CUSTOMER_NEW_PASSWORD).await;
    t.tick("retry").await;
    let reminders = sent(&t, &customer_id, "maintenance-due");
    assert_eq!(reminders.len(), 6, "{reminders:?}");
    assert!(reminders.iter().filter(|m| m["channel"] == "email").any(|m| m["body"].as_str().unwrap().contains(&lang::date(Lang::De, next_due.ms()))));

    // Another customer's vehicle is not found; nor is an unknown VIN.
    let (other, _, _) = customer_with_sale(&t, 1002).await;
    assert_eq!(t.get(&format!("/api/vehicles/{vin}/maintenance"), Some(&other)).await.status, 404);
    assert_eq!(t.get("/api/vehicles/not-a-vin/maintenance", Some(&token)).await.status, 404);
    assert_eq!(t.get(&format!("/api/vehicles/{vin}/maintenance"), None).await.status, 401);
    assert_eq!(t.send(t.client.post(t.url(&format!("/api/vehicles/{vin}/maintenance"))).bearer_auth(&token)).await.status, 405);
    // The tick is protected by the tick secret.
    assert_eq!(t.send(t.client.post(t.url("/internal/ticks/maintenance"))).await.status, 401);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_only_with_the_opt_in_and_vss_down_is_tried_again_next_time() {
    let t = TestApp::start().await;
    let (token, vin) = operational_vehicle(&t, 1003).await;
    let (customer_id, _) = t.customer_of(&vin);
    let phone = "+34600100103";
    let r = patch(&t, "/api/account/profile", &json!({"language": "es", "phone": phone}), &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = t.send(t.client.put(t.url("/api/account/preferences")).bearer_auth(&token).json(&json!({"sms_opt_in": true}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let due = Day::of_ms(t.now_ms()).plus(10);
    t.sims.vss().set_next_due(&vin, &due.iso());

    // Five more cars (recorded straight into the database), maintenance not due for months.
    let mut others = Vec::new();
    for n in 1010..1015 {
        others.push(operational_vehicle_seeded(&t, n).await.1);
    }

    // VSS down: not an error, nothing sent; a run gives up after 5 failures (no hammering)
    // and the next one starts with the car not yet checked.
    t.sims.faults(System::Vss).down(true);
    let r = t.tick("maintenance").await;
    assert_eq!((r["checked"].as_u64(), r["vss_unavailable"].as_u64(), r["more"].as_bool(), r["reminders"].as_u64()), (Some(5), Some(5), Some(true), Some(0)), "{r}");
    let never_checked = t.count("SELECT COUNT(*) FROM orders o WHERE o.status = 'operational' AND o.vin NOT IN (SELECT vin FROM maintenance_checks)");
    assert_eq!(never_checked, 1);
    let r = t.tick("maintenance").await;
    assert_eq!(r["vss_unavailable"], 5, "{r}");
    assert_eq!(t.count("SELECT COUNT(*) FROM orders o WHERE o.status = 'operational' AND o.vin NOT IN (SELECT vin FROM maintenance_checks)"), 0);
    let m = maintenance(&t, &token, &vin).await;
    assert_eq!((m["status"].as_str(), m["warranty"]["state"].as_str()), (Some("unknown"), Some("valid")), "{m}");
    assert!(m["status_detail"].as_str().unwrap().len() > 5);

    // Back: once VSS's circuit breaker lets calls through again (its cool-down, 30 s), the next
    // run reminds, with the optional SMS (opted in), in Spanish.
    t.sims.faults(System::Vss).down(false);
    t.advance(Duration::from_secs(31));
    let r = t.tick("maintenance").await;
    assert_eq!((r["checked"].as_u64(), r["vss_unavailable"].as_u64(), r["reminders"].as_u64(), r["more"].as_bool()), (Some(6), Some(0), Some(1), Some(false)), "{r}");
    assert_eq!(r["reminded"][0]["vin"], vin.as_str(), "only the car whose maintenance is due: {r}");
    t.tick("retry").await;
    let reminders = sent(&t, &customer_id, "maintenance-due");
    assert_eq!(channels(&reminders), ["email", "push", "sms", "vehicle-display"], "{reminders:?}");
    let sms = reminders.iter().find(|m| m["channel"] == "sms").unwrap();
    assert_eq!(sms["recipient"], phone);
    assert!(sms["body"].as_str().unwrap().contains("mantenimiento") && sms["body"].as_str().unwrap().contains(&lang::date(Lang::Es, due.ms())), "{sms}");
    t.stop().await;
}

/// The customer's web app: the expediente shows the void warranty (since when, which due date)
/// and the workshop history (date, workshop, work done), accessibly.
#[tokio::test(flavor = "multi_thread")]
async fn the_expediente_shows_the_void_warranty_and_the_workshop_history_in_the_browser() {
    use caas_tests::browser::{Browser, DESKTOP};
    let t = TestApp::start().await;
    let (_, vin) = operational_vehicle(&t, 1004).await;
    let due = Day::of_ms(t.now_ms()).plus(5);
    t.sims.vss().set_next_due(&vin, &due.iso());
    t.advance(DAY * 6);
    assert_eq!(t.tick("maintenance").await["missed"], 1);
    let today = Day::of_ms(t.now_ms());
    t.sims.vss().record_service(&vin, &today.iso(), "Garage Lumière Lyon", "annual service and brake pads", &today.plus(365).iso());

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", "lucia.1004@example.com").await.unwrap();
    b.fill("#password", CUSTOMER_NEW_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.find(".order-card, .mainnav").await.unwrap();
    b.goto(&t.url("/app/expediente")).await.unwrap();
    let text = b.wait_text("Warranty void", 20).await.unwrap();
    assert!(text.contains("Service history") && text.contains("Garage Lumière Lyon") && text.contains("annual service and brake pads"), "{text}");
    assert!(text.contains("was not done") && text.contains("keeps working"), "{text}");
    let violations = b.accessibility_violations().await.unwrap();
    assert!(violations.is_empty(), "serious accessibility violations on the expediente:\n{}", violations.join("\n"));
    b.close().await;
    t.stop().await;
}
