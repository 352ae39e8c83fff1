//! Issue 9 — money rules that cannot be gamed, through the real components on the virtual clock:
//! * a withdrawal refund cannot be cycled for free use: the full refund of a delivered service
//!   is granted once per customer, vehicle and feature in 365 days; a repeat is pro-rated;
//! * vehicle prices come from the model's price list; discounts are explicit, bounded, reasoned
//!   and audited;
//! * a non-retryable gateway answer to a subscription charge goes to dunning, a 5xx is retried;
//! * a service whose activation failed for good shows its refund (no invoice) in the expediente.
//! Every test ends with the ledger invariant check (`TestApp::stop`).

use caas_domain::services::calendar::midnight_ms;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Buys `code` for `vin` (202) with idempotency key `key`; returns (service id, payment id).
async fn buy(t: &TestApp, token: &str, vin: &str, code: &str, key: &str) -> (String, Option<String>) {
    let v = t.bought_service(token, vin, code, key).await;
    (v["id"].as_str().unwrap().to_string(), v["payment_id"].as_str().map(str::to_string))
}

// ------------------------------------------------------------------------------- 1. withdrawal

#[tokio::test(flavor = "multi_thread")]
async fn withdrawal_refund_cannot_be_cycled_the_repeat_is_pro_rated() {
    let (t, tok, vin) = TestApp::with_operational_vehicle(901).await;

    // First purchase of Power Boost (1 month, 49.00 EUR), settled and delivered.
    let (first, pid1) = buy(&t, &tok, &vin, "power-boost-1m", "pb-1").await;
    let pid1 = pid1.expect("one-time purchase has a payment");
    assert_eq!(t.sims.payment().settle(&pid1, true).await.unwrap(), 200);
    assert_eq!(t.tick("ota").await["applied"], 1);
    assert_eq!(t.service_state(&first), "active");

    // Two days later: the first withdrawal is refunded in full.
    t.advance(Duration::from_secs(2 * 86_400));
    let tok = t.customer_token(901).await;
    let (st, v) = t.cancel_service(&tok, &first).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["decision"]["rule"], "withdrawal-full-refund", "{v}");
    assert_eq!(v["decision"]["refund"]["amount_minor"], 4900);
    assert!(v["decision"]["explanation"].as_str().unwrap().contains("everything paid"), "{v}");
    t.tick("ota").await; // deactivation applied
    assert_eq!(t.service_state(&first), "withdrawn");
    assert_eq!(ledger_net(&t, &first), 0);

    // Bought again on December 1st, 10:00 (the month Dec 1 → Jan 1 is 31 days).
    t.advance_to(midnight_ms(2026, 12, 1) + 10 * HOUR);
    let tok = t.customer_token(901).await;
    let (second, pid2) = buy(&t, &tok, &vin, "power-boost-1m", "pb-2").await;
    let pid2 = pid2.unwrap();
    assert_eq!(t.sims.payment().settle(&pid2, true).await.unwrap(), 200);
    assert_eq!(t.tick("ota").await["applied"], 1);
    let activated: i64 = t.db().query_row("SELECT activated_at FROM services WHERE id = ?1", [&second], |r| r.get(0)).unwrap();
    assert_eq!(activated, midnight_ms(2026, 12, 1) + 10 * HOUR);

    // Cancelled 3 days and 1 hour later, still inside its own 14-day window: 4 started days of
    // 31 are kept (49.00 × 4 ÷ 31 = 6.32, rounded down), 42.68 is returned.
    t.advance_to(activated + 3 * DAY + HOUR);
    let tok = t.customer_token(901).await;
    let (st, v) = t.cancel_service(&tok, &second).await;
    assert_eq!(st, 200, "{v}");
    let d = &v["decision"];
    assert_eq!(d["rule"], "repeat-withdrawal-pro-rata", "{v}");
    assert_eq!(d["refund"], json!({"amount_minor": 4268, "currency": "EUR"}));
    assert_eq!(d["pro_rata"], json!({"used_days": 4, "term_days": 31, "kept": {"amount_minor": 632, "currency": "EUR"}}));
    let why = d["explanation"].as_str().unwrap();
    assert!(why.contains("already withdrew") && why.contains("4 day(s) used of 31") && why.contains("6.32 EUR") && why.contains("42.68 EUR"), "{why}");
    assert_eq!(v["service"]["state"], "deactivating-withdrawn");

    // The gateway returned exactly that, the books keep the used days, the car is switched off.
    let p = t.sims.payment().payment(&pid2).unwrap();
    assert_eq!(p["refunded-minor"], 4268, "{p}");
    assert_eq!(t.sims.payment().payment(&pid1).unwrap()["refunded-minor"], 4900);
    assert_eq!(ledger_net(&t, &second), 632);
    t.tick("ota").await;
    assert_eq!(t.service_state(&second), "withdrawn");
    assert_eq!(t.sims.iot().feature_state(&vin, "power-boost").as_deref(), Some("inactive"));

    // The customer is told the amount and why.
    t.tick("retry").await;
    let msgs: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "service-cancelled").collect();
    assert!(msgs.iter().any(|m| m["body"].as_str().unwrap_or("").contains("42.68 EUR") && m["body"].as_str().unwrap_or("").contains("already withdrew")), "{msgs:?}");
    t.stop().await;
}

// ------------------------------------------------------------------------------- 2. list price

fn orders_count(t: &TestApp) -> i64 {
    t.db().query_row("SELECT COUNT(*) FROM orders", [], |r| r.get(0)).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn vehicle_price_comes_from_the_list_and_discounts_are_bounded_and_audited() {
    let t = TestApp::start().await;
    let staff = t.employee_token().await;
    let me = t.get("/api/auth/me", Some(&staff)).await.json();
    let employee_id = me["id"].as_str().or(me["subject_id"].as_str()).unwrap_or("").to_string();

    // No price sent: the model's list price applies.
    let mut b = sale_body(920);
    b["prices"].as_object_mut().unwrap().remove("vehicle_price_minor");
    let r = t.post_json("/api/sales", &b, Some(&staff), Some("lp-1")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.json()["order_id"].as_str().unwrap().to_string();
    let s = t.get(&format!("/api/sales/{order}"), Some(&staff)).await.json();
    assert_eq!(s["prices"]["vehicle_price_minor"], 3_450_000, "{s}");
    assert_eq!(s["pricing"], json!({"list_price_minor": 3_450_000, "discount": null, "vehicle_price_minor": 3_450_000, "currency": "EUR"}));

    // The list price sent explicitly (older clients) is accepted.
    let r = t.post_json("/api/sales", &sale_body(921), Some(&staff), Some("lp-2")).await;
    assert_eq!(r.status, 201, "{}", r.text);

    // Any other number without a discount: 422, naming the list price; nothing written.
    let before = orders_count(&t);
    let mut b = sale_body(922);
    b["prices"]["vehicle_price_minor"] = json!(100);
    let r = t.post_json("/api/sales", &b, Some(&staff), Some("lp-3")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.is_problem());
    assert!(r.json()["type"].as_str().unwrap().ends_with("vehicle-price-mismatch"), "{}", r.text);
    assert!(r.text.contains("34500.00 EUR"), "{}", r.text);

    // Unknown model: 422.
    let mut b = sale_body(923);
    b["model"] = json!("CAAS-ROADSTER-99");
    let r = t.post_json("/api/sales", &b, Some(&staff), Some("lp-4")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.json()["type"].as_str().unwrap().ends_with("unknown-model"), "{}", r.text);

    // Over the 10 % maximum, or without a reason: 422.
    for (i, d) in [json!({"percent": 10.5, "reason": "friend of the owner"}), json!({"amount_minor": 50_000})].into_iter().enumerate() {
        let mut b = sale_body(924);
        b["prices"].as_object_mut().unwrap().remove("vehicle_price_minor");
        b["discount"] = d;
        let r = t.post_json("/api/sales", &b, Some(&staff), Some(&format!("lp-5-{i}"))).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert!(r.is_problem());
    }
    assert_eq!(orders_count(&t), before, "rejected sales write nothing");

    // An explicit, reasoned discount within the bound: the order records who, how much and why.
    let mut b = sale_body(925);
    b["prices"].as_object_mut().unwrap().remove("vehicle_price_minor");
    b["discount"] = json!({"amount_minor": 100_000, "reason": "end-of-quarter campaign"});
    let r = t.post_json("/api/sales", &b, Some(&staff), Some("lp-6")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let order = r.json()["order_id"].as_str().unwrap().to_string();
    let s = t.get(&format!("/api/sales/{order}"), Some(&staff)).await.json();
    assert_eq!(s["prices"]["vehicle_price_minor"], 3_350_000, "{s}");
    assert_eq!(s["pricing"]["list_price_minor"], 3_450_000);
    assert_eq!(s["pricing"]["discount"]["amount_minor"], 100_000);
    assert_eq!(s["pricing"]["discount"]["reason"], "end-of-quarter campaign");
    assert_eq!(s["pricing"]["discount"]["by"], s["employee_id"]);
    if !employee_id.is_empty() {
        assert_eq!(s["employee_id"], employee_id.as_str());
    }
    assert!(s["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "vehicle-priced"
        && e["detail"].as_str().unwrap().contains("discount 1000.00 EUR")), "{s}");
    // The customer pays the discounted price: the final payment is price − deposit.
    let (by, reason): (String, String) =
        t.db().query_row("SELECT discount_by, discount_reason FROM orders WHERE id = ?1", [&order], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!((by.as_str(), reason.as_str()), (s["employee_id"].as_str().unwrap(), "end-of-quarter campaign"));
    t.stop().await;
}

// ------------------------------------------------------------------------------- 3. dunning

/// `POST /charges` calls the gateway received so far (faulted ones included).
fn charge_calls(t: &TestApp) -> usize {
    t.sims.faults(caas_tests::caas_sim::System::Payment).requests().iter().filter(|r| r["method"] == "POST" && r["path"] == "/charges").count()
}

fn charge_row(t: &TestApp, id: &str, period: &str) -> (String, i64, Option<i64>, Option<String>) {
    t.db()
        .query_row(
            "SELECT status, failures, next_attempt_at, last_error FROM subscription_charges WHERE subscription_id = ?1 AND period = ?2",
            [id, period],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_subscription_charge_goes_to_dunning_and_a_5xx_is_retried() {
    use caas_tests::caas_sim::System;
    let (t, ta, vin_a) = TestApp::with_operational_vehicle(931).await;
    let (a, _) = buy(&t, &ta, &vin_a, "entertainment-plus", "sub-a").await;
    assert_eq!(t.tick("ota").await["applied"], 1);

    // Dec 1: the gateway answers 422 (invalid mandate) to November's charge → dunning at once:
    // the charge is failed with a retry on the dunning schedule, the customer is told.
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    t.sims.faults(System::Payment).fail_next(1, 422);
    let before = charge_calls(&t);
    let r = t.tick("billing").await;
    assert_eq!((r["billed"].as_u64(), r["failed"].as_u64()), (Some(0), Some(1)), "{r}");
    assert_eq!(charge_calls(&t), before + 1);
    let (status, failures, next, err) = charge_row(&t, &a, "2026-11");
    assert_eq!((status.as_str(), failures), ("failed", 1), "{err:?}");
    assert_eq!(next, Some(midnight_ms(2026, 12, 2) + HOUR), "first dunning retry one day later");
    t.tick("retry").await;
    let told: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "subscription-payment-failed").collect();
    assert!(!told.is_empty(), "customer told about the failed payment");
    // No immediate retry of that charge: later ticks the same day do not call the gateway.
    for _ in 0..3 {
        t.advance(Duration::from_secs(600));
        let r = t.tick("billing").await;
        assert_eq!(r["failed"], 0, "{r}");
    }
    assert_eq!(charge_calls(&t), before + 1, "a refused charge is not retried before its dunning date");
    // The dunning retry (fresh attempt key) goes through the next day.
    t.advance_to(midnight_ms(2026, 12, 2) + 2 * HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 1, "{r}");
    assert_eq!(charge_row(&t, &a, "2026-11").0, "charged");

    // Jan 1: the gateway answers 503 → no dunning, nobody told; the next tick retries and charges.
    t.advance_to(midnight_ms(2027, 1, 1) + HOUR);
    t.sims.faults(System::Payment).fail_next(1, 503);
    let told_before = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "subscription-payment-failed").count();
    let before = charge_calls(&t);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 0, "{r}");
    let (status, failures, next, _) = charge_row(&t, &a, "2026-12");
    assert_eq!((status.as_str(), failures, next), ("pending", 0, None));
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 1, "{r}");
    assert_eq!(charge_calls(&t), before + 2);
    assert_eq!(charge_row(&t, &a, "2026-12").0, "charged");
    t.tick("retry").await;
    let told_after = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "subscription-payment-failed").count();
    assert_eq!(told_after, told_before, "an outage is not the customer's failed payment");
    t.stop().await;
}

// ------------------------------------------------------------------------------- 4. expediente

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_never_activated_shows_its_refund_and_no_invoice_in_the_expediente() {
    use caas_tests::caas_sim::System;
    let (t, tok, vin) = TestApp::with_operational_vehicle(941).await;
    let (id, pid) = buy(&t, &tok, &vin, "parking-assist", "pa-1").await;
    let pid = pid.unwrap();
    // The payment settles (an invoice is issued) while the activation is still on its way…
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    let e = t.get("/api/expediente/payments", Some(&tok)).await.json();
    let item = e["items"].as_array().unwrap().iter().find(|p| p["payment_id"] == pid.as_str()).cloned().unwrap();
    assert_eq!(item["status"], "settled", "{item}");
    assert!(item["invoice"].is_object(), "{item}");

    // …and the vehicle never takes it: the activation gives up for good, the money goes back.
    t.sims.faults(System::Iot).fail_rate(1.0);
    for _ in 0..4 {
        t.tick("ota").await;
        t.advance(Duration::from_secs(3600));
    }
    t.tick("retry").await; // a return queued as a job is worked here
    t.tick("ota").await;
    assert_eq!(t.service_state(&id), "failed");
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["refunded-minor"], 59900);
    assert_eq!(ledger_net(&t, &id), 0);

    // The customer's payments show the refund (status and movement) and no invoice.
    let tok = t.customer_token(941).await;
    let e = t.get("/api/expediente/payments", Some(&tok)).await.json();
    let item = e["items"].as_array().unwrap().iter().find(|p| p["payment_id"] == pid.as_str()).cloned().unwrap();
    assert_eq!(item["status"], "refunded", "{item}");
    assert_eq!(item["settlement_status"], "settled");
    assert_eq!(item["refunded_minor"], 59900);
    let refunds = item["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 1, "{item}");
    assert_eq!((refunds[0]["kind"].as_str(), refunds[0]["amount_minor"].as_i64(), refunds[0]["currency"].as_str()), (Some("refund"), Some(59900), Some("EUR")));
    assert!(item["invoice"].is_null(), "no invoice for a service never delivered: {item}");
    // Nor in the summary's invoices; the vehicle's own invoices are still there.
    let all = t.get("/api/expediente", Some(&tok)).await.json();
    let invoices = all["invoices"].as_array().unwrap();
    assert!(invoices.iter().all(|i| i["payment_id"] != pid.as_str()), "{invoices:?}");
    assert!(invoices.iter().any(|i| i["concept"].as_str().unwrap_or("").contains("vehicle")), "{invoices:?}");
    let summary_item = all["payments"]["items"].as_array().unwrap().iter().find(|p| p["payment_id"] == pid.as_str()).cloned().unwrap();
    assert_eq!(summary_item["status"], "refunded");
    t.stop().await;
}
