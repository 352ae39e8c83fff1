//! Purchase journey, payments: sale → reservation payment → settlement webhook → factory order →
//! factory statuses → final payment → registration → matriculated; replayed and forged payment
//! webhooks; final payment declined/failed → sin asignar → resold; final-payment deadline;
//! who may read and pay which order.


use caas_tests::*;
use crate::journey::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn happy_path_from_sale_to_matriculated_with_plates() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 1, None).await;

    let list = t.get("/api/orders", Some(&c.token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    assert_eq!(list.json()["items"][0]["status"], "reservation-pending");

    // Final payment before the vehicle exists: 409.
    let r = t.post_json(&format!("/api/orders/{}/final-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem());

    // Reservation: a repeat while pending returns the same payment, the gateway charges once.
    let pid = start_payment(&t, &c, "reservation").await;
    let again = t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["payment_id"], pid.as_str());
    assert_eq!(again.json()["amount_minor"], 150_000);
    assert_eq!(t.sims.payment().payments().len(), 1);
    let gw = t.sims.payment().payment(&pid).unwrap();
    assert_eq!(gw["amount-minor"], 150_000);
    assert_eq!(gw["kind"], "reservation");

    // Settlement webhook → reserved → factory order placed synchronously.
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "factory-ordered", "{o}");
    let factory_orders = t.sims.factory().orders();
    assert_eq!(factory_orders.len(), 1);
    assert_eq!(factory_orders[0]["order-ref"], c.order_id.as_str());
    assert_eq!(factory_orders[0]["idempotency-key"], c.order_id.as_str());
    assert_eq!(o["factory_order_id"], factory_orders[0]["factory-order-id"]);
    assert_eq!(o["ledger"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(o["ledger"][0]["amount_minor"], 150_000);
    assert_eq!(o["payments"][0]["status"], "settled");
    // Reservation paid twice? No: the order is no longer waiting for it.
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Manufacturing → available (VIN assigned, deadline set, customer told by e-mail, push and SMS).
    manufacture(&t, &c).await;
    let o = order(&t, &c).await;
    let vin = o["vin"].as_str().expect("vin").to_string();
    assert_eq!(vin.len(), 17);
    let due = o["final_payment_due_at"].as_i64().unwrap();
    assert_eq!(due - o["available_at"].as_i64().unwrap(), 15 * 86_400_000);
    t.tick("retry").await;
    let ready: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "vehicle-ready").collect();
    let mut channels: Vec<&str> = ready.iter().map(|m| m["channel"].as_str().unwrap()).collect();
    channels.sort();
    assert_eq!(channels, ["email", "push", "sms"], "{ready:?}");
    let statuses: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "manufacturing-status").collect();
    assert!(statuses.iter().all(|m| m["channel"] != "sms"), "manufacturing status is e-mail + push");
    assert!(statuses.len() >= 8, "{statuses:?}");

    // Final payment → fully paid → registration job → matriculated with ES plates.
    let fpid = start_payment(&t, &c, "final").await;
    assert_eq!(t.sims.payment().payment(&fpid).unwrap()["amount-minor"], 3_450_000 - 150_000);
    assert_eq!(t.sims.payment().settle(&fpid, true).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "fully-paid");
    let r = t.tick("retry").await;
    assert!(r["succeeded"].as_u64().unwrap() >= 1, "{r}");
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "matriculated", "{o}");
    let plate = o["plate"].as_str().unwrap();
    assert!(caas_domain::registration::authority_for("ES").unwrap().plate_is_valid(plate), "{plate}");
    let regs = t.sims.registry().registrations();
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0]["vin"], vin.as_str());
    assert_eq!(regs[0]["country"], "ES");
    assert_eq!(o["ledger"].as_array().unwrap().len(), 2, "{o}");
    let kinds: Vec<&str> = o["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for k in ["status:reserved", "status:factory-ordered", "status:vehicle-available", "status:fully-paid", "status:registering", "status:matriculated"] {
        assert!(kinds.contains(&k), "{k} missing in {kinds:?}");
    }
    t.tick("retry").await;
    assert!(t.sims.notify().messages().iter().any(|m| m["template"] == "vehicle-registered" && m["recipient"] == c.email.as_str()));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn payment_webhook_replayed_50_times_has_one_effect() {
    let t = start().await;
    let (c, pid) = reservation_started(&t, 2).await;
    for _ in 0..50 {
        let s = t.sims.payment().settle_with(&pid, true, json!({"event-id": "pev_replayed"})).await.unwrap();
        assert_eq!(s, 200);
    }
    // Another event id for the same settlement: recorded, no second movement.
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "factory-ordered");
    assert_eq!(o["ledger"].as_array().unwrap().len(), 1, "{o}");
    assert_eq!(t.sims.factory().orders().len(), 1);
    let reserved = o["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "status:reserved").count();
    assert_eq!(reserved, 1);
    t.tick("retry").await;
    let confirmations = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "reservation-confirmed").count();
    assert_eq!(confirmations, 2, "one e-mail + one push");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_and_stale_payment_signatures_are_401_and_write_nothing() {
    let t = start().await;
    let (c, pid) = reservation_started(&t, 3).await;
    let body = json!({"event-id": "pev_forged", "payment-id": pid, "reference": c.order_id, "status": "settled",
                      "amount-minor": 150_000, "currency": "EUR"})
    .to_string();
    let now = virtual_now_secs(&t);
    use caas_sim::signing::sign;
    // Wrong secret.
    let r = post_webhook(&t, "/webhooks/payment", &body, Some(now), Some(&sign("not-the-secret", now, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.is_problem());
    // Right secret, body tampered after signing.
    let tampered = body.replace("150000", "1");
    let r = post_webhook(&t, "/webhooks/payment", &tampered, Some(now), Some(&sign(PAYMENT_SECRET, now, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Stale (and future) timestamps.
    let old = now - 301;
    let r = post_webhook(&t, "/webhooks/payment", &body, Some(old), Some(&sign(PAYMENT_SECRET, old, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let future = now + 301;
    let r = post_webhook(&t, "/webhooks/payment", &body, Some(future), Some(&sign(PAYMENT_SECRET, future, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // Missing headers; garbage headers.
    assert_eq!(post_webhook(&t, "/webhooks/payment", &body, None, None).await.status, 401);
    assert_eq!(post_webhook(&t, "/webhooks/payment", &body, Some(now), Some("v1=zz")).await.status, 401);
    // Nothing was written: still waiting for the reservation, no ledger, no factory order.
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "reservation-pending");
    assert_eq!(o["ledger"].as_array().unwrap().len(), 0);
    assert_eq!(o["payments"][0]["status"], "pending");
    assert!(t.sims.factory().orders().is_empty());
    // The same event, correctly signed, is then processed (the forged tries did not burn its id).
    let r = post_webhook(&t, "/webhooks/payment", &body, Some(now), Some(&sign(PAYMENT_SECRET, now, &body))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["status"], "processed");
    assert_eq!(status(&t, &c).await, "factory-ordered");
    // Signed but malformed: 400 problem.
    let bad = json!({"payment-id": pid}).to_string();
    let r = post_webhook(&t, "/webhooks/payment", &bad, Some(now), Some(&sign(PAYMENT_SECRET, now, &bad))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.is_problem());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn final_payment_declined_then_failed_unassigns_and_the_vehicle_is_resold() {
    let t = start().await;
    // Declined at the gateway (402): sin asignar at once.
    let a = vehicle_available(&t, 4).await;
    let vin = order(&t, &a).await["vin"].as_str().unwrap().to_string();
    t.sims.payment().decline(&a.customer_id, 1);
    let r = t.post_json(&format!("/api/orders/{}/final-payment", a.order_id), &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert!(r.is_problem());
    let o = order(&t, &a).await;
    assert_eq!(o["status"], "unassigned", "{o}");
    // The deposit is forfeited: still one (reservation) movement, no refund.
    assert_eq!(o["ledger"].as_array().unwrap().len(), 1);
    assert!(t.sims.payment().refunds().is_empty());
    let r = t.post_json(&format!("/api/orders/{}/final-payment", a.order_id), &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 409, "no second chance: {}", r.text);
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(&a.email).iter().any(|m| m["template"] == "reservation-lost"));

    // The stock vehicle is resold: the new order skips the factory.
    let factory_orders = t.sims.factory().orders().len();
    let b = register_sale_and_login_customer(&t, 5, Some(&vin)).await;
    let ob = order(&t, &b).await;
    assert_eq!(ob["vin"], vin.as_str());
    assert_eq!(ob["from_stock"], true);
    // The same vehicle cannot be sold twice.
    let staff = t.employee_token().await;
    let mut body = sale_body(6);
    body["stock_vin"] = json!(vin);
    let r = t.post_json("/api/sales", &body, Some(&staff), Some("journey-sale-6")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let mut body = sale_body(6);
    body["stock_vin"] = json!("not-a-vin");
    assert_eq!(t.post_json("/api/sales", &body, Some(&staff), Some("journey-sale-6b")).await.status, 400);
    reserve(&t, &b).await;
    assert_eq!(status(&t, &b).await, "vehicle-available");
    assert_eq!(t.sims.factory().orders().len(), factory_orders, "no factory order for a stock vehicle");

    // B's final payment fails at settlement (webhook): sin asignar again, back in stock.
    let pid = start_payment(&t, &b, "final").await;
    assert_eq!(t.sims.payment().settle(&pid, false).await.unwrap(), 200);
    let ob = order(&t, &b).await;
    assert_eq!(ob["status"], "unassigned", "{ob}");
    assert_eq!(ob["payments"].as_array().unwrap().iter().filter(|p| p["status"] == "failed").count(), 1);
    let c = register_sale_and_login_customer(&t, 7, Some(&vin)).await;
    assert_eq!(order(&t, &c).await["vin"], vin.as_str());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn final_payment_deadline_passing_unassigns() {
    let t = start().await;
    let c = vehicle_available(&t, 8).await;
    t.advance(Duration::from_secs(14 * 86_400));
    let r = t.tick("deadlines").await;
    assert_eq!(r["unassigned"], 0, "{r}");
    // Sessions expire after a day of virtual time: sign in again.
    let c = Customer { token: t.login(&c.email, NEW_PASSWORD).await, ..c };
    assert_eq!(status(&t, &c).await, "vehicle-available");
    t.advance(Duration::from_secs(86_400 + 60));
    let c = Customer { token: t.login(&c.email, NEW_PASSWORD).await, ..c };
    let r = t.tick("deadlines").await;
    assert_eq!(r["unassigned"], 1, "{r}");
    assert_eq!(status(&t, &c).await, "unassigned");
    // Idempotent.
    assert_eq!(t.tick("deadlines").await["unassigned"], 0);
    let r = t.post_json(&format!("/api/orders/{}/final-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(&c.email).iter().any(|m| m["template"] == "reservation-lost"));
    // Ticks need the tick secret.
    assert_eq!(t.send(t.client.post(t.url("/internal/ticks/deadlines"))).await.status, 401);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_see_and_pay_only_their_own_orders() {
    let t = start().await;
    let a = register_sale_and_login_customer(&t, 9, None).await;
    let b = register_sale_and_login_customer(&t, 10, None).await;
    // A cannot read or pay B's order: 404, as if it did not exist.
    let r = t.get(&format!("/api/orders/{}", b.order_id), Some(&a.token)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.is_problem());
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", b.order_id), &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let list = t.get("/api/orders", Some(&a.token)).await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["order_id"], a.order_id.as_str());
    // Employees cannot pay for customers; anonymous callers are 401.
    let staff = t.employee_token().await;
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", a.order_id), &json!({}), Some(&staff), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", a.order_id), &json!({}), None, None).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(t.get("/api/orders/ord_nonsense", Some(&a.token)).await.status, 404);
    let r = t.send(t.client.delete(t.url(&format!("/api/orders/{}", a.order_id))).bearer_auth(&a.token)).await;
    assert_eq!(r.status, 405, "{}", r.text);
    assert!(t.sims.payment().payments().is_empty());
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_down_is_503_and_nothing_is_charged() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 11, None).await;
    t.sims.faults(caas_sim::System::Payment).down(true);
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.json()["detail"].as_str().unwrap().contains("nothing was charged"), "{}", r.text);
    assert!(order(&t, &c).await["payments"].as_array().unwrap().is_empty());
    t.sims.faults(caas_sim::System::Payment).down(false);
    let pid = start_payment(&t, &c, "reservation").await;
    assert_eq!(t.sims.payment().payments().len(), 1);
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["status"], "pending");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn final_payment_pending_at_the_deadline_gets_grace_then_a_late_settlement_is_escalated() {
    let t = start().await;
    let c = vehicle_available(&t, 12).await;
    let pid = start_payment(&t, &c, "final").await;
    t.advance(Duration::from_secs(15 * 86_400 + 3600));
    assert_eq!(t.tick("deadlines").await["unassigned"], 0, "started in time, still pending: grace");
    t.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(t.tick("deadlines").await["unassigned"], 1);
    // The gateway settles it after all.
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let c = Customer { token: t.login(&c.email, NEW_PASSWORD).await, ..c };
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "unassigned", "no resurrection: {o}");
    // The money is given back (a refund job) and staff are told; the customer sees the refund.
    assert!(o["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "payment-refund-queued"), "{o}");
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(EMPLOYEE_EMAIL).iter().any(|m| m["template"] == "escalation"));
    let refunded: i64 = t.sims.payment().refunds().iter().filter(|r| r["payment-id"] == pid.as_str()).map(|r| r["amount-minor"].as_i64().unwrap()).sum();
    assert_eq!(refunded, 3_300_000, "the late final payment is refunded in full");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_only_the_gateway_knows_is_adopted_at_settlement() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 13, None).await;
    // The gateway created the payment but its answer never reached us (e.g. a timeout after
    // the gateway had accepted it): the gateway knows it, we do not.
    let r = t
        .send(t.client.post(format!("{}/payments", t.sims.payment_url())).header("idempotency-key", format!("{}:reservation:1", c.order_id)).json(
            &json!({"amount-minor": 150_000, "currency": "EUR", "reference": c.order_id, "kind": "reservation", "customer-id": c.customer_id}),
        ))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pid = r.json()["payment-id"].as_str().unwrap().to_string();
    assert!(order(&t, &c).await["payments"].as_array().unwrap().is_empty());
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "factory-ordered", "{o}");
    assert_eq!(o["payments"][0]["payment_id"], pid.as_str());
    assert_eq!(o["ledger"].as_array().unwrap().len(), 1);
    // A settled payment nobody knows: acknowledged and escalated (staff told), no order effect.
    let now = virtual_now_secs(&t);
    let body = json!({"event-id": "pev_stray", "payment-id": "pay_stray", "reference": "nothing", "status": "settled",
                      "amount-minor": 100, "currency": "EUR"})
    .to_string();
    let r = post_webhook(&t, "/webhooks/payment", &body, Some(now), Some(&caas_sim::signing::sign(PAYMENT_SECRET, now, &body))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(EMPLOYEE_EMAIL).iter().any(|m| m["template"] == "escalation"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registry_failing_is_retried_and_registers_once() {
    let t = start().await;
    let c = vehicle_available(&t, 14).await;
    t.sims.faults(caas_sim::System::Registry).fail_next(2, 503);
    let pid = start_payment(&t, &c, "final").await;
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let r = t.tick("retry").await;
    assert!(r["failed"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(status(&t, &c).await, "fully-paid");
    let mut c = c;
    for _ in 0..6 {
        t.advance(Duration::from_secs(600));
        t.tick("retry").await;
        c = Customer { token: t.login(&c.email, NEW_PASSWORD).await, ..c };
        if status(&t, &c).await == "matriculated" {
            break;
        }
    }
    assert_eq!(status(&t, &c).await, "matriculated");
    assert_eq!(t.sims.registry().registrations().len(), 1);
    assert_eq!(t.sims.faults(caas_sim::System::Registry).calls(), 3, "2 failures + 1 success, no more");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_reservation_can_be_paid_again() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 15, None).await;
    t.sims.payment().decline(&c.customer_id, 1);
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert!(r.is_problem());
    assert_eq!(status(&t, &c).await, "reservation-pending");
    let pid = start_payment(&t, &c, "reservation").await;
    assert_eq!(t.sims.payment().payments().len(), 2, "a new attempt, a new gateway payment");
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "factory-ordered");
    t.stop().await;
}
