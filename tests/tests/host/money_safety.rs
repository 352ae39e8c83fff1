//! Issue 9 "Money that cannot leak": money the gateway says it took is never lost track of,
//! never applied when it does not match, never built upon once voided; every return of money
//! is a durable job worked until the gateway confirms. Real components and simulators.


use caas_tests::caas_sim::System;
use caas_tests::*;
use crate::journey::*;
use serde_json::json;

fn escalations(t: &TestApp, kind: &str, payment_id: &str) -> i64 {
    t.db()
        .query_row("SELECT COUNT(*) FROM escalations WHERE kind = ?1 AND job_id = ?2", [kind, payment_id], |r| r.get(0))
        .unwrap()
}

fn gateway_status(t: &TestApp, pid: &str) -> String {
    t.sims.payment().payment(pid).expect("payment at the gateway")["status"].as_str().unwrap().to_string()
}

fn refunded_at_gateway(t: &TestApp, pid: &str) -> i64 {
    t.sims.payment().refunds().iter().filter(|r| r["payment-id"] == pid).map(|r| r["amount-minor"].as_i64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reservation_reported_failed_that_settles_later_is_adopted_and_the_second_payment_given_back() {
    let t = start().await;
    let (c, p1) = reservation_started(&t, 901).await;
    assert_eq!(t.sims.payment().settle(&p1, false).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "reservation-pending");
    // The customer pays again; then the gateway settles the first payment after all.
    let p2 = start_payment(&t, &c, "reservation").await;
    assert_ne!(p1, p2);
    assert_eq!(t.sims.payment().settle(&p1, true).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "factory-ordered", "the late settlement is the reservation");
    let books: Vec<(String, String, i64)> = {
        let db = t.db();
        let mut st = db.prepare("SELECT kind, reference, amount_minor FROM ledger").unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(ledger_net(&t, &p1), 150_000, "the money taken is in the books: {books:?}");
    // The second payment is no longer needed: voided at the gateway by the retry queue.
    t.tick("retry").await;
    assert_eq!(gateway_status(&t, &p2), "voided");
    assert_eq!(ledger_net(&t, &p2), 0);
    // If the gateway still settles it, it is refunded and a person is told.
    assert_eq!(t.sims.payment().settle(&p2, true).await.unwrap(), 200);
    t.tick("retry").await;
    assert_eq!(refunded_at_gateway(&t, &p2), 150_000);
    assert_eq!(ledger_net(&t, &p2), 0);
    assert_eq!(escalations(&t, "payment-without-effect", &p2), 1);
    assert_eq!(t.sims.factory().orders().len(), 1, "one factory order");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_final_payment_settling_after_the_sale_fell_through_is_refunded_and_escalated() {
    let t = start().await;
    let c = vehicle_available(&t, 902).await;
    let fp = start_payment(&t, &c, "final").await;
    assert_eq!(t.sims.payment().settle(&fp, false).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "unassigned");
    assert_eq!(ledger_net(&t, &fp), 0);
    // Before the fix this answered "no effect" and the money stayed at the gateway unrecorded.
    assert_eq!(t.sims.payment().settle(&fp, true).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "unassigned", "never moves backwards");
    assert_eq!(escalations(&t, "payment-without-effect", &fp), 1);
    let charged = t.count(&format!("SELECT COUNT(*) FROM ledger WHERE reference = '{fp}' AND kind = 'charge'"));
    assert_eq!(charged, 1, "the money taken is recorded");
    t.tick("retry").await;
    assert_eq!(refunded_at_gateway(&t, &fp), 3_450_000 - 150_000);
    assert_eq!(ledger_net(&t, &fp), 0, "and given back");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settlement_in_another_currency_or_amount_is_escalated_never_applied() {
    let t = start().await;
    let (c, p1) = reservation_started(&t, 903).await;
    assert_eq!(t.sims.payment().settle_with(&p1, true, json!({"currency": "USD"})).await.unwrap(), 200);
    assert_eq!(status(&t, &c).await, "reservation-pending", "a USD settlement does not pay a EUR deposit");
    assert_eq!(escalations(&t, "payment-mismatch", &p1), 1);
    let usd = t.count(&format!("SELECT COUNT(*) FROM ledger WHERE reference = '{p1}' AND currency = 'USD' AND kind = 'charge'"));
    assert_eq!(usd, 1, "the money the gateway took is recorded as reported");
    // Replaying the same event changes nothing more.
    let c2 = register_sale_and_login_customer(&t, 904, None).await;
    let p2 = start_payment(&t, &c2, "reservation").await;
    assert_eq!(t.sims.payment().settle_with(&p2, true, json!({"amount-minor": 1})).await.unwrap(), 200);
    assert_eq!(status(&t, &c2).await, "reservation-pending");
    assert_eq!(escalations(&t, "payment-mismatch", &p2), 1);
    // Staff are told.
    t.tick("retry").await;
    assert!(t.sims.notify().messages().iter().any(|m| m["recipient"] == EMPLOYEE_EMAIL && m["body"].as_str().unwrap_or("").contains(&p2)));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purchase_retried_after_its_payment_was_voided_never_builds_on_the_dead_payment() {
    let (t, token, vin) = TestApp::with_operational_vehicle(905).await;
    // Two concurrent purchases of the same option: both pass the first checks while VSS is slow,
    // both initiate a payment, one is recorded and the other's payment is voided.
    t.sims.faults(System::Vss).slow(400);
    let body = json!({"vin": vin, "option_code": "highway-autopilot"});
    let (a, b) = tokio::join!(
        t.post_json("/api/services", &body, Some(&token), Some("buy-a")),
        t.post_json("/api/services", &body, Some(&token), Some("buy-b"))
    );
    t.sims.faults(System::Vss).reset();
    let (won, lost_key) = match (a.status, b.status) {
        (202, 409) => (a, "buy-b"),
        (409, 202) => (b, "buy-a"),
        other => panic!("expected one 202 and one 409, got {other:?}: {} / {}", a.text, b.text),
    };
    let services = t.sims.payment().payments();
    let service_payments: Vec<_> = services.iter().filter(|p| p["kind"] == "service").collect();
    assert_eq!(service_payments.len(), 2, "{services:?}");
    let won_pid = won.json()["payment_id"].as_str().unwrap().to_string();
    let lost_pid = service_payments.iter().map(|p| p["payment-id"].as_str().unwrap().to_string()).find(|p| *p != won_pid).unwrap();
    t.tick("retry").await;
    assert_eq!(gateway_status(&t, &lost_pid), "voided", "the losing purchase's payment is given back");

    // The customer cancels the first purchase and re-sends the second one as it was.
    let id = won.json()["id"].as_str().unwrap().to_string();
    let r = t.post_json(&format!("/api/services/{id}/cancel"), &json!({}), Some(&token), None).await;
    assert!(r.status < 300, "{}", r.text);
    let r = t.post_json("/api/services", &body, Some(&token), Some(lost_key)).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let pid = r.json()["payment_id"].as_str().unwrap().to_string();
    assert_ne!(pid, lost_pid, "a voided payment is never reused");
    assert_eq!(gateway_status(&t, &pid), "pending", "the purchase rests on a live payment");
    t.stop().await;
}

/// Reliability: 1,000 deliveries of 50 settlement events — each event 20 times, shuffled,
/// 16 in flight at once. Every delivery is answered 2xx; each event has exactly one effect
/// (one reservation, one ledger charge, one factory order per order); the ledger holds.
#[tokio::test(flavor = "multi_thread")]
async fn webhook_replay_storm_has_exactly_one_effect_per_event() {
    use caas_sim::signing::sign;
    use std::sync::Arc;
    let t = start().await;
    const ORDERS: u32 = 50;
    let mut events = Vec::new();
    let mut customers = Vec::new();
    for n in 0..ORDERS {
        let c = register_sale_and_login_customer(&t, 1000 + n, None).await;
        let pid = start_payment(&t, &c, "reservation").await;
        let body = json!({"event-id": format!("pev_storm_{n}"), "payment-id": pid, "reference": c.order_id,
                          "status": "settled", "amount-minor": 150_000, "currency": "EUR"});
        events.push(body.to_string());
        customers.push(c);
    }
    let mut deliveries: Vec<String> = events.iter().flat_map(|e| std::iter::repeat_n(e.clone(), 20)).collect();
    // Deterministic shuffle (xorshift): the order is scrambled, the test repeatable.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..deliveries.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        deliveries.swap(i, (x % (i as u64 + 1)) as usize);
    }
    assert_eq!(deliveries.len(), 1000);
    let gate = Arc::new(tokio::sync::Semaphore::new(16));
    let client = t.client.clone();
    let url = t.url("/webhooks/payment");
    let now = virtual_now_secs(&t);
    let mut set = tokio::task::JoinSet::new();
    for body in deliveries {
        let (gate, client, url) = (gate.clone(), client.clone(), url.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let sig = sign(PAYMENT_SECRET, now, &body);
            let r = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-caas-timestamp", now.to_string())
                .header("x-caas-signature", sig)
                .body(body)
                .send()
                .await
                .expect("delivery");
            r.status().as_u16()
        });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(s) = set.join_next().await {
        *statuses.entry(s.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(statuses.keys().copied().collect::<Vec<u16>>(), [200], "every delivery answered 200: {statuses:?}");
    for c in &customers {
        assert_eq!(status(&t, c).await, "factory-ordered");
        let reserved = t.count(&format!("SELECT COUNT(*) FROM order_events WHERE order_id = '{}' AND kind = 'status:reserved'", c.order_id));
        assert_eq!(reserved, 1, "one state change for {}", c.order_id);
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'"), ORDERS as i64, "one ledger entry per event");
    assert_eq!(t.count("SELECT COUNT(*) FROM webhook_events WHERE source = 'payment'"), ORDERS as i64);
    assert_eq!(t.sims.factory().orders().len(), ORDERS as usize, "one factory order per order");
    t.stop().await;
}

/// A reservation not paid within `reservation_days` (7): the sale is abandoned by the deadline
/// tick, its pending payment at the gateway is voided (never left to settle later), the customer
/// and the staff are told; a settlement arriving afterwards is refunded.
#[tokio::test(flavor = "multi_thread")]
async fn an_unpaid_reservation_expires_the_sale_is_abandoned_and_its_payment_voided() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 906, None).await;
    let c2 = register_sale_and_login_customer(&t, 907, None).await;
    let pid = start_payment(&t, &c, "reservation").await;
    let pid2 = start_payment(&t, &c2, "reservation").await;
    t.advance(std::time::Duration::from_secs(6 * 86_400));
    assert_eq!(t.tick("deadlines").await["abandoned"], 0, "still within the 7 days");
    // The second customer pays on day 6; the first never does.
    assert_eq!(t.sims.payment().settle(&pid2, true).await.unwrap(), 200);
    t.advance(std::time::Duration::from_secs(86_400 + 60));
    let r = t.tick("deadlines").await;
    assert_eq!(r["abandoned"], 1, "{r}");
    assert_eq!(r["abandoned_orders"][0], c.order_id.as_str());
    let c = Customer { token: t.login(&c.email, NEW_PASSWORD).await, ..c };
    assert_eq!(status(&t, &c).await, "abandoned");
    // A second tick changes nothing; paying now is refused.
    assert_eq!(t.tick("deadlines").await["abandoned"], 0);
    let r = t.post_json(&format!("/api/orders/{}/reservation-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    t.tick("retry").await;
    assert_eq!(gateway_status(&t, &pid), "voided", "the pending payment is cancelled at the gateway");
    assert!(t.sims.notify().messages_to(&c.email).iter().any(|m| m["template"] == "sale-abandoned"), "customer told");
    assert!(t.sims.notify().messages_to(EMPLOYEE_EMAIL).iter().any(|m| m["body"].as_str().unwrap_or("").contains(&c.order_id)), "staff told");
    // Settled at the gateway after all: the money goes back and a person is told.
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    t.tick("retry").await;
    assert_eq!(refunded_at_gateway(&t, &pid), 150_000);
    assert_eq!(ledger_net(&t, &pid), 0);
    assert_eq!(status(&t, &c).await, "abandoned");
    t.stop().await;
}
