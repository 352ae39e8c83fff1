//! Issue 4 — customer cancellation, desistimiento and theft, on the virtual clock:
//! long services within 14 days of purchase → full refund + deactivation; later → no refund
//! (one-time runs to its end, subscriptions end at the end of the period, which is billed);
//! short services (≤ 14 days) → refund any time while running; pending activations cancelled,
//! payment voided, never charged; theft: pending cancelled, subscriptions stopped, delivered
//! services not refunded outside the withdrawal window. Ledger invariants after every test.

use caas_domain::services::calendar::midnight_ms;
use caas_tests::*;
use serde_json::json;
use std::time::Duration;


const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

async fn buy(t: &TestApp, token: &str, vin: &str, code: &str) -> String {
    t.bought_service(token, vin, code, &format!("buy-{vin}-{code}")).await["id"].as_str().unwrap().to_string()
}

/// Net kept over a service's references (one-time id and subscription periods).
fn net(t: &TestApp, id: &str) -> i64 {
    t.db()
        .query_row(
            "SELECT COALESCE(SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END), 0) FROM ledger
             WHERE reference = ?1 OR reference LIKE ?1 || '/%'",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

/// Money given back at the gateway: refunds, or the whole amount of a voided payment.
fn gateway_refunded(t: &TestApp, reference_prefix: &str) -> i64 {
    t.sims
        .payment()
        .payments()
        .iter()
        .filter(|p| p["reference"].as_str().unwrap_or("").starts_with(reference_prefix))
        .map(|p| if p["status"] == "voided" { p["amount-minor"].as_i64().unwrap_or(0) } else { p["refunded-minor"].as_i64().unwrap_or(0) })
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn desistimiento_inside_and_outside_14_days_for_long_and_short_services() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(801).await;
    let seats = buy(&t, &tok, &vin, "parking-assist").await; // permanent, 599.00
    let parking = buy(&t, &tok, &vin, "power-boost-1m").await; // temporary 1 month, 49.00
    let snow = buy(&t, &tok, &vin, "snow-mode-14d").await; // short, 15.00
    let ent = buy(&t, &tok, &vin, "entertainment-plus").await; // subscription
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 4, "{r}");

    // Day 2: long one-time service within the window → full refund, deactivated by OTA.
    t.advance(Duration::from_secs(2 * 86_400));
    let tok = t.customer_token(801).await;
    let (st, v) = t.cancel_service(&tok, &seats).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decision"]["rule"], "withdrawal-full-refund");
    assert_eq!(v["decision"]["refund"]["amount_minor"], 59900);
    assert_eq!(v["service"]["state"], "deactivating-withdrawn");
    // Asking again changes nothing and refunds nothing more.
    let (st, v) = t.cancel_service(&tok, &seats).await;
    assert_eq!(st, 409, "{v}");

    // Day 5: subscription within the window (nothing billed yet) → withdrawn, never billed.
    t.advance(Duration::from_secs(3 * 86_400));
    let tok = t.customer_token(801).await;
    let (st, v) = t.cancel_service(&tok, &ent).await;
    assert_eq!((st, v["decision"]["rule"].as_str()), (200, Some("withdrawal-full-refund")), "{v}");
    assert_eq!(v["decision"]["refund"]["amount_minor"], 0);

    // Day 10: short service → refund any time while it runs.
    t.advance(Duration::from_secs(5 * 86_400));
    let tok = t.customer_token(801).await;
    let (st, v) = t.cancel_service(&tok, &snow).await;
    assert_eq!((st, v["decision"]["rule"].as_str()), (200, Some("short-service-full-refund")), "{v}");
    assert_eq!(v["decision"]["refund"]["amount_minor"], 1500);

    // Day 16: long one-time service outside the window → refused, it stays active, no refund.
    t.advance(Duration::from_secs(6 * 86_400));
    let tok = t.customer_token(801).await;
    let (st, v) = t.cancel_service(&tok, &parking).await;
    assert_eq!(st, 409, "{v}");
    assert!(v["type"].as_str().unwrap_or("").contains("no-refund-runs-to-end"), "{v}");
    assert_eq!(t.service_state(&parking), "active");

    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 3, "three deactivations: {r}");
    assert_eq!(t.service_state(&seats), "withdrawn");
    assert_eq!(t.service_state(&snow), "withdrawn");
    assert_eq!(t.service_state(&ent), "withdrawn");
    for f in ["parking-assist", "snow-mode", "entertainment-plus"] {
        assert_eq!(t.sims.iot().feature_state(&vin, f).as_deref(), Some("inactive"), "{f}");
    }
    assert_eq!(t.sims.iot().feature_state(&vin, "power-boost").as_deref(), Some("active"));
    assert_eq!((net(&t, &seats), net(&t, &snow), net(&t, &parking)), (0, 0, 4900));
    assert_eq!(gateway_refunded(&t, &seats), 59900);
    assert_eq!(gateway_refunded(&t, &snow), 1500);

    // The withdrawn subscription is never billed.
    t.advance_to(midnight_ms(2027, 1, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 0, "{r}");
    assert_eq!(net(&t, &ent), 0);

    // Notifications of the cancellations went through the router and the outbox, and are in
    // the customer's history.
    t.tick("retry").await;
    let cancels = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "service-cancelled").count();
    assert_eq!(cancels, 3 * 2, "three cancellations by e-mail + push");
    t.stop_with_admin_ledger_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscription_withdrawn_after_a_charge_is_refunded_and_late_cancellation_bills_the_period() {
    let (t, ta, vin_a) = TestApp::with_operational_vehicle(811).await;
    let (tb, vin_b) = operational_vehicle(&t, 812).await;
    let a = buy(&t, &ta, &vin_a, "entertainment-plus").await;
    let b = buy(&t, &tb, &vin_b, "premium-audio").await;
    t.tick("ota").await;

    // Dec 1: both billed for November (pro rata).
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 2, "{r}");
    let nov_a = net(&t, &a);
    assert!(nov_a > 0);

    // Dec 3 (12 days after purchase): A withdraws → the November charge is refunded in full.
    t.advance_to(midnight_ms(2026, 12, 3));
    let ta = t.customer_token(811).await;
    let (st, v) = t.cancel_service(&ta, &a).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decision"]["rule"], "withdrawal-full-refund");
    assert_eq!(v["decision"]["refund"]["amount_minor"], nov_a);
    assert_eq!(net(&t, &a), 0);
    assert_eq!(gateway_refunded(&t, &format!("{a}/")), nov_a);

    // Dec 10 (19 days): B cancels → ends at the end of December, which is billed in full.
    t.advance_to(midnight_ms(2026, 12, 10));
    let tb = t.customer_token(812).await;
    let (st, v) = t.cancel_service(&tb, &b).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decision"]["rule"], "subscription-end-of-period");
    assert_eq!(v["decision"]["billing_ends_at"], midnight_ms(2027, 1, 1));
    assert_eq!(t.service_state(&b), "cancellation-scheduled");
    let (st, _) = t.cancel_service(&tb, &b).await;
    assert_eq!(st, 409, "already scheduled");
    t.tick("ota").await;
    assert_eq!(t.sims.iot().feature_state(&vin_b, "premium-audio").as_deref(), Some("active"), "runs to the end of the period");

    t.advance_to(midnight_ms(2027, 1, 1) + HOUR);
    let r = t.tick("ota").await;
    assert_eq!(r["endings_queued"], 1, "{r}");
    let r = t.tick("ota").await;
    assert!(r["applied"].as_u64().unwrap() >= 1 || t.service_state(&b) == "cancelled", "{r}");
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 1, "December of B: {r}");
    assert_eq!(t.service_state(&b), "cancelled");
    assert_eq!(t.sims.iot().feature_state(&vin_b, "premium-audio").as_deref(), Some("inactive"));
    let dec_b: i64 = t
        .db()
        .query_row("SELECT amount_minor FROM ledger WHERE reference = ?1", [format!("{b}/2026-12")], |r| r.get(0))
        .unwrap();
    assert_eq!(dec_b, 599);
    t.advance_to(midnight_ms(2027, 3, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 0, "nothing after the cancellation: {r}");
    t.stop_with_admin_ledger_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pending_activation_cancelled_is_voided_and_never_charged() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(821).await;
    let (tok2, _) = operational_vehicle(&t, 822).await;
    let id = buy(&t, &tok, &vin, "parking-assist").await;
    let (st, v) = t.cancel_service(&tok, &id).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decision"]["rule"], "not-activated-yet");
    assert_eq!(t.service_state(&id), "aborted");
    let pid: String = t.db().query_row("SELECT payment_id FROM services WHERE id = ?1", [&id], |r| r.get(0)).unwrap();
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["status"], "voided");
    // The queued activation is dropped: nothing reaches the vehicle.
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 0, "{r}");
    assert!(t.sims.iot().commands_for(&vin).iter().all(|c| !c["command-id"].as_str().unwrap_or("").contains(&id)));
    assert_eq!(net(&t, &id), 0);

    // Someone else's service, unknown ids, bad methods: 404/405, never 5xx.
    let (st, _) = t.cancel_service(&tok2, &id).await;
    assert_eq!(st, 404);
    let (st, _) = t.cancel_service(&tok2, "svc_nope").await;
    assert_eq!(st, 404);
    let r = t.post_json(&format!("/api/services/{id}/cancel"), &json!({}), None, None).await;
    assert_eq!(r.status, 401);
    let r = t.get(&format!("/api/services/{id}/cancel"), Some(&tok)).await;
    assert_eq!(r.status, 405);
    // The ledger admin view is for admins only.
    let r = t.get("/api/admin/ledger", Some(&tok)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Plan comercial services come with the car: not cancelled here.
    let plan: String = t.db().query_row("SELECT id FROM services WHERE vin = ?1 AND source = 'plan' LIMIT 1", [&vin], |r| r.get(0)).unwrap();
    let (st, v) = t.cancel_service(&tok, &plan).await;
    assert_eq!(st, 409, "{v}");
    t.stop_with_admin_ledger_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn theft_cancels_pending_stops_subscriptions_and_keeps_delivered_services() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(831).await;
    let _ = operational_vehicle(&t, 832).await;
    let seats = buy(&t, &tok, &vin, "parking-assist").await;
    let sub = buy(&t, &tok, &vin, "entertainment-plus").await;
    t.tick("ota").await;
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 1, "{r}");
    let nov = net(&t, &sub);

    // Dec 10: a new purchase still pending activation, then the theft report.
    t.advance_to(midnight_ms(2026, 12, 10));
    let tok = t.customer_token(831).await;
    let parking = buy(&t, &tok, &vin, "snow-mode-14d").await;
    let r = t.post_json("/api/theft-reports", &json!({"vin": vin}), Some(&tok), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rep = r.json();
    let rule_of = |id: &str| {
        rep["services"].as_array().unwrap().iter().find(|s| s["service_id"] == id).map(|s| s["rule"].as_str().unwrap().to_string())
    };
    assert_eq!(rule_of(&parking).as_deref(), Some("not-activated-yet"));
    assert_eq!(rule_of(&sub).as_deref(), Some("subscription-stopped-now"));
    assert_eq!(rule_of(&seats).as_deref(), Some("no-refund-runs-to-end"));
    assert_eq!(t.service_state(&parking), "aborted");
    assert_eq!(t.service_state(&sub), "deactivating-cancelled");
    assert_eq!(t.service_state(&seats), "active");

    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 1, "only the subscription's deactivation: {r}");
    assert_eq!(t.service_state(&sub), "cancelled");
    assert!(t.sims.iot().commands_for(&vin).iter().all(|c| !c["command-id"].as_str().unwrap_or("").contains(&parking)));

    // No further charges: December (unfinished when stolen) and later are never billed.
    t.advance_to(midnight_ms(2027, 2, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 0, "{r}");
    assert_eq!((net(&t, &parking), net(&t, &seats), net(&t, &sub)), (0, 59900, nov));

    // Recorded, visible, and the customer is told (e-mail + push, never the stolen car's display).
    let tok = t.customer_token(831).await;
    let tok2 = t.customer_token(832).await;
    let r = t.get("/api/theft-reports", Some(&tok)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["theft_reports"].as_array().unwrap().len(), 1);
    t.tick("retry").await;
    let mut chans: Vec<String> = t
        .sims
        .notify()
        .messages()
        .into_iter()
        .filter(|m| m["template"] == "theft-reported")
        .map(|m| m["channel"].as_str().unwrap().to_string())
        .collect();
    chans.sort();
    assert_eq!(chans, vec!["email", "push"]);
    // The customer's notification history in the expediente shows the service events.
    let r = t.get("/api/expediente/notifications?limit=100", Some(&tok)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let seen: Vec<String> = r.json()["items"].as_array().unwrap().iter().map(|m| m["template"].as_str().unwrap_or("").to_string()).collect();
    for tpl in ["service-activated", "theft-reported"] {
        assert!(seen.iter().any(|s| s == tpl), "{tpl} missing from the history: {seen:?}");
    }

    // Input errors and other people's vehicles: 4xx, nothing written.
    let r = t.post_json("/api/theft-reports", &json!({"vin": vin}), Some(&tok2), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.post_json("/api/theft-reports", &json!({"vin": 42}), Some(&tok2), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json("/api/theft-reports", &json!({"vin": vin}), None, None).await;
    assert_eq!(r.status, 401);
    let n: i64 = t.count("SELECT COUNT(*) FROM theft_reports");
    assert_eq!(n, 1);
    t.stop_with_admin_ledger_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn theft_within_the_window_applies_the_withdrawal_rule() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(841).await;
    let seats = buy(&t, &tok, &vin, "parking-assist").await;
    t.tick("ota").await;
    t.advance(Duration::from_secs(3 * 86_400));
    let tok = t.customer_token(841).await;
    let r = t.post_json("/api/theft-reports", &json!({"vin": vin}), Some(&tok), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["services"].as_array().unwrap().len(), 1, "plan comercial services are left alone");
    assert_eq!(r.json()["services"][0]["rule"], "withdrawal-full-refund");
    assert_eq!(net(&t, &seats), 0);
    let _ = DAY;
    t.stop_with_admin_ledger_check().await;
}

/// The refund of a withdrawal is a durable job: with the payment gateway down the cancellation
/// still stands (the customer is not told to come back), the refund is queued, and the retry tick
/// gives the money back once the gateway answers again — recorded in the ledger only then.
#[tokio::test(flavor = "multi_thread")]
async fn a_withdrawal_refund_survives_a_gateway_outage_and_is_paid_by_the_retry_tick() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(809).await;
    let seats = buy(&t, &tok, &vin, "parking-assist").await; // permanent, 599.00
    assert_eq!(t.tick("ota").await["applied"], 1);
    let pid: String = t.db().query_row("SELECT payment_id FROM services WHERE id = ?1", [&seats], |r| r.get(0)).unwrap();
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    t.advance(Duration::from_secs(2 * 86_400));
    let tok = t.customer_token(809).await;

    t.sims.faults(caas_sim::System::Payment).down(true);
    let (st, v) = t.cancel_service(&tok, &seats).await;
    assert_eq!(st, 200, "the cancellation does not depend on the gateway: {v}");
    assert_eq!(v["decision"]["refund"]["amount_minor"], 59900);
    assert_eq!(t.service_state(&seats), "deactivating-withdrawn");
    assert_eq!(net(&t, &seats), 59900, "nothing is booked as returned before the gateway confirms");
    let queued: i64 = t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'return-payment' AND status = 'pending'");
    assert_eq!(queued, 1);

    t.sims.faults(caas_sim::System::Payment).down(false);
    t.advance(Duration::from_secs(3600));
    t.tick("retry").await;
    assert_eq!(gateway_refunded(&t, &seats), 59900, "the money went back");
    assert_eq!(net(&t, &seats), 0);
    t.stop().await;
}
