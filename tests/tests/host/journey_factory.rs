//! Purchase journey, factory: the automatic factory order when the factory is down (queued,
//! retried with backoff on the virtual clock, placed exactly once; escalated after the last
//! try), and the factory's status webhooks (replays, reordering, delays, unknown orders, forged
//! signatures).


use caas_sim::System;
use caas_tests::*;
use crate::journey::*;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn factory_down_then_up_places_the_order_exactly_once() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 21, None).await;
    t.sims.faults(System::Factory).down(true);
    // The webhook still answers 200: the payment is recorded, the factory order queued.
    reserve(&t, &c).await;
    assert_eq!(status(&t, &c).await, "reserved");
    let r = t.tick("retry").await;
    assert!(r["failed"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(status(&t, &c).await, "reserved");
    // Not due again right away: no hammering.
    let calls = t.sims.faults(System::Factory).calls();
    t.tick("retry").await;
    assert_eq!(t.sims.faults(System::Factory).calls(), calls);

    t.sims.faults(System::Factory).down(false);
    t.advance(Duration::from_secs(120));
    let r = t.tick("retry").await;
    assert!(r["succeeded"].as_u64().unwrap() >= 1, "{r}");
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "factory-ordered", "{o}");
    assert_eq!(t.sims.factory().orders().len(), 1);
    // The factory gets the vehicle specification and the customer it builds it for (no e-mail,
    // phone or identity document).
    let placed = &t.sims.factory().orders()[0];
    assert_eq!((placed["model"].as_str(), placed["country"].as_str()), (Some("CAAS-SEDAN-24"), Some("ES")), "{placed}");
    assert_eq!(placed["options"].as_array().map(Vec::len), Some(2), "the plan comercial's two options: {placed}");
    assert_eq!(placed["customer"]["full-name"], "Lucía Fernández 21", "{placed}");
    assert_eq!(placed["customer"]["delivery-address"]["city"], "Madrid", "{placed}");
    assert_eq!(placed["customer"]["delivery-address"]["postal-code"], "28013", "{placed}");
    let text = placed.to_string();
    assert!(!text.contains("lucia.21@example.com") && !text.contains("+34600111222") && !text.contains("X0000021L"), "{placed}");
    t.advance(Duration::from_secs(3600));
    t.tick("retry").await;
    assert_eq!(t.sims.factory().orders().len(), 1, "placed exactly once");
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(&c.email).iter().any(|m| m["template"] == "factory-order-placed"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn factory_down_for_good_is_escalated_and_people_are_told() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 22, None).await;
    t.sims.faults(System::Factory).fail_next(1000, 503);
    reserve(&t, &c).await;
    let mut escalated = 0;
    for _ in 0..8 {
        escalated += t.tick("retry").await["escalated"].as_u64().unwrap();
        t.advance(Duration::from_secs(3600));
    }
    assert_eq!(escalated, 1, "escalated once after retry_max_attempts (4)");
    // 1 synchronous try + 4 queued tries.
    assert_eq!(t.sims.faults(System::Factory).calls(), 5);
    assert_eq!(status(&t, &c).await, "reserved", "the reservation is kept");
    t.tick("retry").await;
    let staff = t.sims.notify().messages_to(EMPLOYEE_EMAIL);
    assert!(staff.iter().any(|m| m["template"] == "escalation"), "{staff:?}");
    assert!(t.sims.notify().messages_to(&c.email).iter().any(|m| m["template"] == "factory-order-delayed"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn factory_webhooks_never_move_backwards_and_replays_have_no_effect() {
    let t = start().await;
    let c = reserved(&t, 23).await;
    let f = t.sims.factory();
    assert_eq!(f.send_status(&c.order_id, "confirmed", Value::Null).await.unwrap(), 200);
    // Shipped arrives before in-production: forward skip, then the late one is recorded only.
    assert_eq!(f.send_status(&c.order_id, "shipped", Value::Null).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "shipped");
    assert_eq!(f.send_status(&c.order_id, "in-production", Value::Null).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "shipped");
    let o = order(&t, &c).await;
    assert!(o["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "factory-status-stale"), "{o}");
    // Same event 50 times: one effect.
    for _ in 0..50 {
        let s = f.send_status(&c.order_id, "available-at-dealership", json!({"event-id": "fev_same"})).await.unwrap();
        assert_eq!(s, 200);
    }
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "vehicle-available");
    let avail = o["timeline"].as_array().unwrap().iter().filter(|e| e["kind"] == "status:vehicle-available").count();
    assert_eq!(avail, 1);
    // A late "shipped" after availability does not move it back either.
    assert_eq!(f.send_status(&c.order_id, "shipped", Value::Null).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "vehicle-available");
    t.tick("retry").await;
    let sms = t.sims.notify().messages_to("+34600111222");
    assert_eq!(sms.iter().filter(|m| m["template"] == "vehicle-ready").count(), 1, "{sms:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn delays_unknown_orders_and_forged_factory_webhooks() {
    let t = start().await;
    let c = reserved(&t, 24).await;
    let f = t.sims.factory();
    assert_eq!(f.send_status(&c.order_id, "in-production", Value::Null).await.unwrap(), 200);
    let before = order(&t, &c).await["estimated_date"].clone();
    assert_eq!(f.send_status(&c.order_id, "delayed", Value::Null).await.unwrap(), 200);
    let o = order(&t, &c).await;
    assert_eq!(o["status"], "in-production", "a delay does not change the state");
    assert_ne!(o["estimated_date"], before, "new estimated date recorded");
    t.tick("retry").await;
    assert!(t.sims.notify().messages_to(&c.email).iter().any(|m| m["template"] == "manufacturing-delayed"));

    // Unknown order: 200 (the factory must not retry forever), recorded, no effect.
    assert_eq!(f.send_status("ord_doesnotexist", "shipped", Value::Null).await.unwrap(), 200);

    // Forged / stale signatures: 401 and nothing written.
    let body = json!({"event-id": "fev_forged", "order-ref": c.order_id, "status": "available-at-dealership"}).to_string();
    let now = virtual_now_secs(&t);
    use caas_sim::signing::sign;
    let r = post_webhook(&t, "/webhooks/factory", &body, Some(now), Some(&sign(PAYMENT_SECRET, now, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let old = now - 3600;
    let r = post_webhook(&t, "/webhooks/factory", &body, Some(old), Some(&sign(FACTORY_SECRET, old, &body))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(post_webhook(&t, "/webhooks/factory", &body, None, None).await.status, 401);
    assert_eq!(status(&t, &c).await, "in-production");
    // Signed, valid: applies (the forged attempts did not burn the event id).
    let r = post_webhook(&t, "/webhooks/factory", &body, Some(now), Some(&sign(FACTORY_SECRET, now, &body))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&t, &c).await, "vehicle-available");
    // Signed, unknown status: 400 problem.
    let bad = json!({"event-id": "fev_bad", "order-ref": c.order_id, "status": "teleported"}).to_string();
    let r = post_webhook(&t, "/webhooks/factory", &bad, Some(now), Some(&sign(FACTORY_SECRET, now, &bad))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    t.stop().await;
}
