//! Delivery and app link (issue 3), through the whole purchase journey with the real components
//! and the simulators: absent → rescheduled → delivered; returned → picked up; the app link makes
//! the car operational and queues the plan comercial's services; one vehicle ↔ one account.


use caas_tests::*;
use crate::journey::*;
use serde_json::{Value, json};


fn templates_to(t: &TestApp, email: &str) -> Vec<String> {
    t.sims.notify().messages_to(email).iter().map(|m| m["template"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn absent_customer_is_called_rescheduled_then_delivered() {
    let t = start().await;
    let (c, vin) = matriculated(&t, 21).await;
    let staff = t.employee_token().await;
    let events = |body| delivery_event(&t, &staff, &c.order_id, body);

    // Outcomes cannot be recorded before the transport is scheduled; scheduling needs a time.
    assert_problem(&events(json!({"event": "delivered"})).await, 409);
    assert_problem(&events(json!({"event": "scheduled"})).await, 400);
    assert_problem(&events(json!({"event": "teleported", "at": "2026-12-01"})).await, 400);

    let r = events(json!({"event": "scheduled", "at": "2026-12-01T10:00Z", "note": "morning slot"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["order_status"], "in-transit");
    assert_eq!(r.json()["delivery"]["state"], "scheduled");
    assert_eq!(r.json()["delivery"]["address"], "Calle Mayor 1, 28013 Madrid, ES");

    let r = events(json!({"event": "absent", "note": "nobody at the door"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["order_status"], "in-transit");
    assert_eq!(r.json()["delivery"]["state"], "absent");
    // Absent → delivered directly is not a thing: reschedule (customer reached) or return.
    assert_problem(&events(json!({"event": "delivered"})).await, 409);
    assert_problem(&events(json!({"event": "picked-up"})).await, 409);

    let r = events(json!({"event": "rescheduled", "at": "2026-12-02T18:30Z"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["delivery"]["state"], "scheduled");
    let r = events(json!({"event": "delivered"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["order_status"], "delivered");
    // Terminal: nothing more.
    assert_problem(&events(json!({"event": "returned"})).await, 409);

    // Staff view: history of the four events, attempts counted, link code for the hand-over.
    let d = t.get(&format!("/api/delivery/{}", c.order_id), Some(&staff)).await.json();
    let hist: Vec<&str> = d["history"].as_array().unwrap().iter().map(|h| h["event"].as_str().unwrap()).collect();
    assert_eq!(hist, ["scheduled", "absent", "rescheduled", "delivered"]);
    assert_eq!(d["delivery"]["attempts"], 2);
    assert_eq!(d["vin"], vin.as_str());
    assert_eq!(d["link_code"].as_str().unwrap(), caas_domain::vehicle::link_code(LINK_CODE_SECRET, &vin));

    // Each outcome was told to the customer (through the outbox).
    t.tick("retry").await;
    let tpl = templates_to(&t, &c.email);
    for expected in ["delivery-scheduled", "delivery-absent", "delivery-rescheduled", "delivery-delivered"] {
        assert!(tpl.iter().any(|x| x == expected), "{expected} missing in {tpl:?}");
    }
    let pushes = t.sims.notify().messages_to(&c.customer_id);
    assert!(pushes.iter().any(|m| m["channel"] == "push" && m["template"] == "delivery-delivered"), "{pushes:?}");

    // Staff notes and staff ids stay with the staff (their history above has them); the
    // customer's timelines (order and expediente) show the outcome only.
    let staff_detail = d["history"].to_string();
    assert!(staff_detail.contains("nobody at the door") && staff_detail.contains("emp_"), "{staff_detail}");
    let order_tl = t.get(&format!("/api/orders/{}", c.order_id), Some(&c.token)).await.json()["timeline"].to_string();
    let exp_tl = t.get("/api/expediente/timeline?limit=100", Some(&c.token)).await.text;
    for tl in [&order_tl, &exp_tl] {
        assert!(tl.contains("delivery absent"), "{tl}");
        assert!(!tl.contains("nobody at the door") && !tl.contains("morning slot") && !tl.contains("emp_"), "customer sees staff internals: {tl}");
    }

    // The expediente shows the delivery and its timeline.
    let e = t.get("/api/expediente", Some(&c.token)).await.json();
    assert_eq!(e["orders"][0]["delivery"]["state"], "delivered");
    assert_eq!(e["orders"][0]["vehicle"]["vin"], vin.as_str());
    assert!(e["orders"][0]["vehicle"]["plate"].is_string(), "{e}");
    assert!(!e["orders"][0]["manufacturing"]["timeline"].as_array().unwrap().is_empty(), "{e}");
    assert!(e["orders"][0]["manufacturing"]["factory_order_id"].is_string(), "{e}");
    // Delivered: the maintenance record comes from VSS (read on demand).
    assert_eq!(e["orders"][0]["maintenance"]["status"], "current", "{e}");
    assert!(e["orders"][0]["maintenance"]["next_due"].is_string(), "{e}");
    t.sims.faults(caas_sim::System::Vss).down(true);
    let r = t.get("/api/expediente", Some(&c.token)).await;
    assert_eq!(r.status, 200, "VSS down must not break the expediente: {}", r.text);
    assert_eq!(r.json()["orders"][0]["maintenance"]["status"], "unknown");
    t.sims.faults(caas_sim::System::Vss).down(false);
    // Payments (señal + final) with their invoices.
    let invoices = e["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 2, "{e}");
    let total: i64 = invoices.iter().map(|i| i["amount_minor"].as_i64().unwrap()).sum();
    assert_eq!(total, 3_450_000);
    let pays = t.get("/api/expediente/payments?limit=1", Some(&c.token)).await.json();
    assert_eq!(pays["items"].as_array().unwrap().len(), 1);
    assert_eq!(pays["items"][0]["kind"], "reservation");
    assert!(pays["items"][0]["invoice"]["number"].is_string(), "{pays}");
    let next = pays["next_cursor"].as_str().unwrap();
    let pays2 = t.get(&format!("/api/expediente/payments?limit=1&cursor={next}"), Some(&c.token)).await.json();
    assert_eq!(pays2["items"][0]["kind"], "final");
    // The notification history holds the delivery messages.
    let notes = t.get("/api/expediente/notifications?limit=100", Some(&c.token)).await.json();
    assert!(notes["items"].as_array().unwrap().iter().any(|m| m["template"] == "delivery-absent" && m["status"] == "sent"), "{notes}");
    // Walking the history two at a time gives the same messages, in the same order.
    let mut walked = Vec::new();
    let mut cursor = String::new();
    loop {
        let p = t.get(&format!("/api/expediente/notifications?limit=2&cursor={cursor}"), Some(&c.token)).await.json();
        walked.extend(p["items"].as_array().unwrap().iter().map(|m| m["message_id"].clone()));
        match p["next_cursor"].as_str() {
            Some(n) => cursor = n.to_string(),
            None => break,
        }
    }
    let all: Vec<_> = notes["items"].as_array().unwrap().iter().map(|m| m["message_id"].clone()).collect();
    assert_eq!(walked, all);
    assert!(all.len() > 4);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_customer_vehicle_returned_then_picked_up() {
    let t = start().await;
    let (c, _vin) = matriculated(&t, 22).await;
    let staff = t.employee_token().await;
    let events = |body| delivery_event(&t, &staff, &c.order_id, body);

    assert_eq!(events(json!({"event": "scheduled", "at": "2026-12-01"})).await.status, 200);
    assert_eq!(events(json!({"event": "absent"})).await.status, 200);
    let r = events(json!({"event": "returned", "note": "no answer to 3 calls"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["order_status"], "returned-to-dealer");
    assert_eq!(r.json()["delivery"]["state"], "returned");
    // The staff worklist shows the car waiting at the dealership.
    let w = t.get("/api/delivery", Some(&staff)).await;
    assert_eq!(w.status, 200, "{}", w.text);
    let item = w.json()["items"].as_array().unwrap().iter().find(|i| i["order_id"] == c.order_id.as_str()).cloned().expect("in the worklist");
    assert_eq!(item["delivery"]["state"], "returned");
    assert_problem(&t.get("/api/delivery", Some(&c.token)).await, 403);
    assert_eq!(r.json()["notified"], json!(["email", "push", "sms"]));
    // No re-delivery after a return; the customer picks it up.
    assert_problem(&events(json!({"event": "rescheduled", "at": "2026-12-03"})).await, 409);
    assert_problem(&events(json!({"event": "delivered"})).await, 409);
    let r = events(json!({"event": "picked-up"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["order_status"], "delivered");
    assert_eq!(order(&t, &c).await["status"], "delivered");
    // Handed over: off the worklist.
    let w = t.get("/api/delivery", Some(&staff)).await.json();
    assert!(w["items"].as_array().unwrap().iter().all(|i| i["order_id"] != c.order_id.as_str()), "{w}");

    t.tick("retry").await;
    let tpl = templates_to(&t, &c.email);
    assert!(tpl.iter().any(|x| x == "delivery-returned") && tpl.iter().any(|x| x == "delivery-picked-up"), "{tpl:?}");
    assert!(t.sims.notify().messages().iter().any(|m| m["channel"] == "sms" && m["template"] == "delivery-returned"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn app_link_makes_the_car_operational_and_queues_plan_services() {
    let t = start().await;
    let (c, vin) = matriculated(&t, 23).await;
    let code = caas_domain::vehicle::link_code(LINK_CODE_SECRET, &vin);

    // Not yet handed over: no link.
    let r = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&c.token), None).await;
    assert_problem(&r, 409);
    let staff = t.employee_token().await;
    assert_eq!(delivery_event(&t, &staff, &c.order_id, json!({"event": "scheduled", "at": "2026-12-01"})).await.status, 200);
    assert_eq!(delivery_event(&t, &staff, &c.order_id, json!({"event": "delivered"})).await.status, 200);

    // Wrong code / malformed VIN: refused, nothing written.
    assert_problem(&t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": "000000"}), Some(&c.token), None).await, 422);
    assert_problem(&t.post_json("/api/vehicles/link", &json!({"vin": "NOT-A-VIN", "link_code": code}), Some(&c.token), None).await, 400);
    assert_eq!(order(&t, &c).await["status"], "delivered");

    // The car is off: it cannot confirm the customer's authorisation, so nothing is linked (the
    // link can be made later; delivery stands).
    t.sims.iot().set_vehicle_status(&vin, json!({"online": false}));
    let r = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&c.token), None).await;
    assert_problem(&r, 409);
    assert_eq!(r.json()["type"], "https://caas.example/problems/vehicle-not-confirmed", "{}", r.text);
    assert!(r.json()["detail"].as_str().unwrap().contains("did not confirm"), "{}", r.text);
    assert_eq!(order(&t, &c).await["status"], "delivered");
    assert_eq!(t.count("SELECT COUNT(*) FROM vehicle_links"), 0);
    t.sims.iot().set_vehicle_status(&vin, json!({"online": true}));

    let r = t
        .post_json("/api/vehicles/link", &json!({"vin": vin.to_lowercase(), "link_code": code.to_lowercase()}), Some(&c.token), None)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let v = r.json();
    assert_eq!(v["vin"], vin.as_str());
    assert_eq!(v["order_status"], "operational");
    assert_eq!(v["base_platform"], "active");
    // The link went through the IoT platform: the customer's authorisation pushed to the car
    // (the documented configuration push), which confirmed it.
    let auths: Vec<Value> = t.sims.iot().commands_for(&vin).into_iter().filter(|c| c["feature"] == "customer-authorization").collect();
    assert_eq!(auths.len(), 1, "{auths:?}");
    assert_eq!(auths[0]["request"]["customer-id"], c.customer_id.as_str(), "{auths:?}");
    assert_eq!(t.sims.iot().feature_state(&vin, "customer-authorization").as_deref(), Some("active"));
    // sale_body's plan comercial: AUTOPILOT-HWY, HEATED-SEATS — each pending activation with an OTA command.
    let services = v["services"].as_array().unwrap();
    assert_eq!(services.len(), 2, "{v}");
    assert!(services.iter().all(|s| s["state"] == "pending-activation"), "{v}");
    let features: Vec<&str> = services.iter().map(|s| s["feature"].as_str().unwrap()).collect();
    assert!(features.contains(&"heated-seats") && features.contains(&"autopilot-hwy"), "{features:?}");
    for s in services {
        assert_eq!(s["command_id"].as_str().unwrap(), format!("cmd_{}_activate_0", s["id"].as_str().unwrap()));
    }
    assert_eq!(order(&t, &c).await["status"], "operational");
    // The app names them as people know them, not by code (the catalog's name; the legacy
    // plan code has its own).
    let mine = t.get("/api/services", Some(&c.token)).await.json();
    let mut names: Vec<&str> = mine["services"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["Heated Front Seats", "Highway Autopilot"], "{mine}");

    // The customer is told by e-mail and push, and on the car's display through the IoT API.
    t.tick("retry").await;
    let linked: Vec<_> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "vehicle-linked").collect();
    let mut chans: Vec<&str> = linked.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    chans.sort();
    assert_eq!(chans, ["email", "push"], "{linked:?}");
    let shown: Vec<Value> = t.sims.iot().displays().into_iter().filter(|d| d["vin"] == vin.as_str() && d["request"]["template"] == "vehicle-linked").collect();
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert!(shown[0]["message"].as_str().is_some_and(|m| !m.is_empty()), "{shown:?}");

    // Linking again from the same account is idempotent.
    let again = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&c.token), None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["services"].as_array().unwrap().len(), 2);

    // Own vehicles.
    let list = t.get("/api/vehicles", Some(&c.token)).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let one = t.get(&format!("/api/vehicles/{vin}"), Some(&c.token)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    let e = t.get("/api/expediente", Some(&c.token)).await.json();
    assert_eq!(e["orders"][0]["vehicle"]["linked"], true);
    assert_eq!(e["orders"][0]["services"].as_array().unwrap().len(), 2);

    // The OTA engine (issue 4) works the queued activations: the plan's services become active.
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 2, "{r}");
    let cmds: Vec<Value> = t.sims.iot().commands_for(&vin).into_iter().filter(|c| c["feature"] != "customer-authorization").collect();
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(t.sims.iot().feature_state(&vin, "heated-seats").as_deref(), Some("active"));
    let v = t.get(&format!("/api/vehicles/{vin}"), Some(&c.token)).await.json();
    assert!(v["services"].as_array().unwrap().iter().all(|s| s["state"] == "active"), "{v}");

    // A second customer with the code of this car cannot take it: 409; their vehicle list stays empty.
    let b = customer(&t, 24).await;
    let r = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&b.token), None).await;
    assert_problem(&r, 409);
    assert!(r.text.contains("already linked"), "{}", r.text);
    assert_eq!(t.get("/api/vehicles", Some(&b.token)).await.json()["items"].as_array().unwrap().len(), 0);
    assert_problem(&t.get(&format!("/api/vehicles/{vin}"), Some(&b.token)).await, 404);
    // B never sees A's expediente.
    assert_problem(&t.get(&format!("/api/expediente/orders/{}", c.order_id), Some(&b.token)).await, 404);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resold_car_links_only_to_its_new_owner() {
    let t = start().await;
    // A reaches vehicle-available, then the final payment is declined: sin asignar, reservation lost.
    let a = customer(&t, 25).await;
    pay_and_settle(&t, &a, "reservation-payment").await;
    for status in ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"] {
        t.sims.factory().send_status(&a.order_id, status, serde_json::Value::Null).await.unwrap();
    }
    let vin = order(&t, &a).await["vin"].as_str().unwrap().to_string();
    t.sims.payment().decline(&a.customer_id, 1);
    let r = t.post_json(&format!("/api/orders/{}/final-payment", a.order_id), &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert_eq!(order(&t, &a).await["status"], "unassigned");

    // B buys the stock car, pays, it is matriculated and handed over; B links it.
    let mut body = sale_body(26);
    body["stock_vin"] = json!(vin);
    let b = customer_body(&t, 26, body).await;
    pay_and_settle(&t, &b, "reservation-payment").await;
    assert_eq!(order(&t, &b).await["status"], "vehicle-available");
    assert_eq!(final_payment_to_matriculated(&t, &b).await, vin);
    deliver(&t, &b.order_id).await;
    let code = link_code(&t, &b.order_id).await;

    // A, who lost the reservation, cannot link the car even with its code: not theirs (404).
    let r = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&a.token), None).await;
    assert_problem(&r, 404);
    let r = t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&b.token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["order_id"], b.order_id.as_str());
    // …and after B's link it is 409 for anybody else.
    assert_problem(&t.post_json("/api/vehicles/link", &json!({"vin": vin, "link_code": code}), Some(&a.token), None).await, 409);
    // A's expediente still shows A's lost order, never B's.
    let e = t.get("/api/expediente", Some(&a.token)).await.json();
    assert_eq!(e["orders"].as_array().unwrap().len(), 1);
    assert_eq!(e["orders"][0]["status"], "unassigned");
    assert!(!e.to_string().contains(&b.order_id));
    t.stop().await;
}
