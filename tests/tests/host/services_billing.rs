//! Issue 4 — subscriptions billed in arrears by the billing tick, on the virtual clock:
//! three months with one failed-then-recovered charge and one subscription cancelled after the
//! last dunning retry; the tick fired twice, faulted half-way and "killed" between the gateway
//! call and the bookkeeping, then re-run → each subscription billed once per month.
//! The ledger invariants are checked at the end of every test.

use caas_domain::services::billing::{Period, SubscriptionTerms, charges_due};
use caas_domain::services::calendar::midnight_ms;
use caas_domain::wit::Money;
use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};


const HOUR: i64 = 3_600_000;

/// Buys subscription `code` and activates it through the OTA tick; returns the service id.
async fn subscribe(t: &TestApp, token: &str, vin: &str, code: &str) -> String {
    let id = t.bought_service(token, vin, code, &format!("sub-{vin}-{code}")).await["id"].as_str().unwrap().to_string();
    let rep = t.tick("ota").await;
    assert!(rep["applied"].as_u64().unwrap() >= 1, "{rep}");
    id
}

fn activated_at(t: &TestApp, id: &str) -> i64 {
    t.db().query_row("SELECT activated_at FROM services WHERE id = ?1", [id], |r| r.get(0)).unwrap()
}

/// (period, status, amount, failures) of every charge row of a subscription.
fn charge_rows(t: &TestApp, id: &str) -> Vec<(String, String, i64, i64)> {
    let db = t.db();
    let mut st = db
        .prepare("SELECT period, status, amount_minor, failures FROM subscription_charges WHERE subscription_id = ?1 ORDER BY period")
        .unwrap();
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

/// Ledger charges of a subscription: (reference, amount).
fn ledger_charges(t: &TestApp, id: &str) -> Vec<(String, i64)> {
    let db = t.db();
    let mut st = db
        .prepare("SELECT reference, amount_minor FROM ledger WHERE kind = 'charge' AND reference LIKE ?1 || '/%' ORDER BY reference")
        .unwrap();
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
}

/// Gateway charges accepted (not declined) per reference of subscription `id`.
fn gateway_accepted(t: &TestApp, id: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = t
        .sims
        .payment()
        .payments()
        .into_iter()
        .filter(|p| p["reference"].as_str().unwrap_or("").starts_with(&format!("{id}/")) && p["status"] != "declined")
        .map(|p| (p["reference"].as_str().unwrap().to_string(), p["amount-minor"].as_i64().unwrap()))
        .collect();
    out.sort();
    out
}

fn expected_amount(price: i64, activated: i64, period: Period) -> i64 {
    let m = Money { amount_minor: price, currency: "EUR".into() };
    let t = SubscriptionTerms { subscription_id: "x", price: &m, activated_at: activated, billing_ends_at: None, last_billed: None };
    charges_due(&t, period.end_ms()).into_iter().find(|c| c.period == period).unwrap().amount.amount_minor
}

fn report(v: &Value) -> (u64, u64, u64, u64, bool) {
    (
        v["billed"].as_u64().unwrap(),
        v["skipped"].as_u64().unwrap(),
        v["failed"].as_u64().unwrap(),
        v["cancelled"].as_u64().unwrap(),
        v["more"].as_bool().unwrap(),
    )
}

fn p(y: i32, m: u32) -> Period {
    Period::new(y, m).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_months_with_a_recovered_charge_and_a_cancellation_after_retries() {
    let (t, ta, vin_a) = TestApp::with_operational_vehicle(701).await;
    let (tb, vin_b) = operational_vehicle(&t, 702).await;
    let (ca, cb) = (t.customer_of(&vin_a).0, t.customer_of(&vin_b).0);
    let a = subscribe(&t, &ta, &vin_a, "entertainment-plus").await; // 9.99 / month
    let b = subscribe(&t, &tb, &vin_b, "premium-audio").await; // 5.99 / month
    let (act_a, act_b) = (activated_at(&t, &a), activated_at(&t, &b));

    // Nothing is billed during the first month (arrears), whatever the ticks.
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (0, 0, 0, 0, false), "{r}");
    assert!(charge_rows(&t, &a).is_empty());

    // Dec 1: November, pro rata, for both.
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (2, 0, 0, 0, false), "{r}");
    let nov_a = expected_amount(999, act_a, p(2026, 11));
    let nov_b = expected_amount(599, act_b, p(2026, 11));
    assert!(nov_a > 0 && nov_a < 999 && nov_b < 599);
    assert_eq!(ledger_charges(&t, &a), vec![(format!("{a}/2026-11"), nov_a)]);
    // Fired again (and late): nothing new.
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 0, "{r}");
    t.advance(Duration::from_secs(5 * 3600));
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 0, "{r}");

    // Jan 1: A's December charge is declined once, then recovered by the first dunning retry.
    t.sims.payment().decline(&ca, 1);
    t.advance_to(midnight_ms(2027, 1, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 0, 1, 0, false), "{r}");
    assert_eq!(charge_rows(&t, &a)[1], ("2026-12".into(), "failed".into(), 999, 1));
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (0, 0, 0, 0, false), "retry not due yet: {r}");
    t.advance_to(midnight_ms(2027, 1, 2) + 2 * HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 0, 0, 0, false), "{r}");
    assert_eq!(charge_rows(&t, &a)[1], ("2026-12".into(), "charged".into(), 999, 1));

    // Feb 1: B's January charge fails on the original attempt and every retry (+1, +3, +7 days)
    // → cancelled after the last one, feature deactivated by OTA, February never billed.
    t.sims.payment().decline(&cb, 4);
    t.advance_to(midnight_ms(2027, 2, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 0, 1, 0, false), "{r}");
    for (day, last) in [(2, false), (4, false), (8, true)] {
        t.advance_to(midnight_ms(2027, 2, day) + 2 * HOUR);
        let r = t.tick("billing").await;
        assert_eq!(report(&r), (0, 0, 1, last as u64, false), "Feb {day}: {r}");
    }
    assert_eq!(t.service_state(&b), "deactivating-cancelled");
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 1, "{r}");
    assert_eq!(t.service_state(&b), "cancelled");
    assert_eq!(t.sims.iot().feature_state(&vin_b, "premium-audio").as_deref(), Some("inactive"));
    let billing_end: i64 = t.db().query_row("SELECT billing_ends_at FROM services WHERE id = ?1", [&b], |r| r.get(0)).unwrap();
    assert_eq!(billing_end, midnight_ms(2027, 2, 1));
    let col: i64 = t.db().query_row("SELECT COUNT(*) FROM collections WHERE service_id = ?1", [&b], |r| r.get(0)).unwrap();
    assert_eq!(col, 1, "the unpaid January is handed to collections");

    // Mar 1 and later: A keeps being billed monthly, B never again (examined once more, nothing
    // due: skipped, and closed for billing).
    t.advance_to(midnight_ms(2027, 3, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 1, 0, 0, false), "{r}");
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 0);

    assert_eq!(
        ledger_charges(&t, &a),
        vec![
            (format!("{a}/2026-11"), nov_a),
            (format!("{a}/2026-12"), 999),
            (format!("{a}/2027-01"), 999),
            (format!("{a}/2027-02"), 999)
        ]
    );
    assert_eq!(ledger_charges(&t, &b), vec![(format!("{b}/2026-11"), nov_b), (format!("{b}/2026-12"), 599)]);
    assert_eq!(gateway_accepted(&t, &a), ledger_charges(&t, &a), "one accepted gateway charge per period");
    assert_eq!(gateway_accepted(&t, &b), ledger_charges(&t, &b));
    // The customer sees every billed period of the subscription.
    let ta = t.login("lucia.701@example.com", CUSTOMER_NEW_PASSWORD).await;
    let r = t.get(&format!("/api/services/{a}"), Some(&ta)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    let periods: Vec<(&str, &str)> =
        v["charges"].as_array().unwrap().iter().map(|c| (c["period"].as_str().unwrap(), c["status"].as_str().unwrap())).collect();
    assert_eq!(periods, vec![("2026-11", "charged"), ("2026-12", "charged"), ("2027-01", "charged"), ("2027-02", "charged")]);
    assert_eq!(v["ledger"].as_array().unwrap().len(), 4);
    let rows_b = charge_rows(&t, &b);
    assert_eq!(rows_b[2], ("2027-01".into(), "unpaid".into(), 599, 4));
    assert_eq!(rows_b.len(), 3);

    // Customers told through the one router and the outbox: each failure (e-mail, push, SMS),
    // and the cancellation.
    t.tick("retry").await;
    let count = |cust: &str, template: &str| {
        t.sims.notify().messages().iter().filter(|m| m["customer-id"] == cust && m["template"] == template).count()
    };
    assert_eq!(count(&ca, "subscription-payment-failed"), 3);
    assert_eq!(count(&cb, "subscription-payment-failed"), 9);
    assert_eq!(count(&cb, "subscription-cancelled-payment-failed"), 3);
    assert_eq!(count(&ca, "subscription-cancelled-payment-failed"), 0);
    assert_ledger_invariants(&t);
    assert!(assert_ledger_invariants_via_admin(&t).await >= 6);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tick_twice_faulted_half_way_and_killed_mid_charge_bills_each_once() {
    let t = TestApp::start().await;
    let mut subs = Vec::new();
    for n in 711..714 {
        let (tok, vin) = operational_vehicle(&t, n).await;
        subs.push(subscribe(&t, &tok, &vin, "entertainment-plus").await);
    }
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    // The gateway fails the first charge of the batch (a crash half-way as seen by the gateway).
    t.sims.faults(System::Payment).fail_next(1, 503);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (2, 0, 1, 0, false), "{r}");
    // Re-run: the missing one is billed, nothing twice; then fired twice more.
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 0, 0, 0, false), "{r}");
    for _ in 0..2 {
        let r = t.tick("billing").await;
        assert_eq!(report(&r).0, 0, "{r}");
    }
    for s in &subs {
        assert_eq!(ledger_charges(&t, s).len(), 1, "{s}");
        assert_eq!(gateway_accepted(&t, s), ledger_charges(&t, s));
    }

    // Killed between the gateway call and the bookkeeping: the charge is made at the gateway but
    // the app still has the intent pending and no ledger row. The re-run calls again with the same
    // Idempotency-Key: the gateway answers with the same charge, the app records it once.
    let victim = &subs[0];
    let key = format!("bill_{victim}_2026-11");
    let pid_before: String = t.db().query_row("SELECT payment_id FROM subscription_charges WHERE idempotency_key = ?1", [&key], |r| r.get(0)).unwrap();
    t.db().execute("UPDATE subscription_charges SET status = 'pending', payment_id = NULL WHERE idempotency_key = ?1", [&key]).unwrap();
    t.db().execute("DELETE FROM ledger WHERE idempotency_key = ?1", [&key]).unwrap();
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (1, 0, 0, 0, false), "{r}");
    let pid_after: String = t.db().query_row("SELECT payment_id FROM subscription_charges WHERE idempotency_key = ?1", [&key], |r| r.get(0)).unwrap();
    assert_eq!(pid_before, pid_after, "the gateway deduplicated the repeated charge");
    assert_eq!(gateway_accepted(&t, victim).len(), 1);
    assert_eq!(ledger_charges(&t, victim).len(), 1);

    // A late tick two months later catches up both missing months, each once.
    t.advance_to(midnight_ms(2027, 2, 3));
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (6, 0, 0, 0, false), "{r}");
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 0, "{r}");
    for s in &subs {
        let refs: Vec<String> = ledger_charges(&t, s).into_iter().map(|(r, _)| r).collect();
        assert_eq!(refs, vec![format!("{s}/2026-11"), format!("{s}/2026-12"), format!("{s}/2027-01")]);
        assert_eq!(gateway_accepted(&t, s), ledger_charges(&t, s));
    }
    let charges: i64 = t.count("SELECT COUNT(*) FROM subscription_charges");
    assert_eq!(charges, 9);
    t.stop_with_admin_ledger_check().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn charge_settlement_issues_an_invoice_and_a_failed_settlement_goes_to_collections() {
    let (t, ta, vin_a) = TestApp::with_operational_vehicle(721).await;
    let (tb, vin_b) = operational_vehicle(&t, 722).await;
    let a = subscribe(&t, &ta, &vin_a, "entertainment-plus").await;
    let b = subscribe(&t, &tb, &vin_b, "premium-audio").await;
    let billed_at = midnight_ms(2026, 12, 1) + HOUR;
    t.advance_to(billed_at);
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 2, "{r}");
    let pid = |id: &str| -> String {
        t.db().query_row("SELECT payment_id FROM subscription_charges WHERE subscription_id = ?1", [id], |r| r.get(0)).unwrap()
    };
    let (pa, pb) = (pid(&a), pid(&b));
    assert_eq!(t.sims.payment().settle(&pa, true).await.unwrap(), 200);
    assert_eq!(t.sims.payment().settle_with(&pb, false, json!({"failure-reason": "insufficient_funds"})).await.unwrap(), 200);
    // Replays change nothing.
    assert_eq!(t.sims.payment().settle(&pa, true).await.unwrap(), 200);
    t.clock.set(UNIX_EPOCH + Duration::from_millis((billed_at + HOUR) as u64));

    let inv: i64 = t.db().query_row("SELECT COUNT(*) FROM invoices WHERE payment_id = ?1", [&pa], |r| r.get(0)).unwrap();
    assert_eq!(inv, 1);
    assert_eq!(charge_rows(&t, &b)[0].1, "unpaid");
    let col: i64 = t.db().query_row("SELECT COUNT(*) FROM collections WHERE payment_id = ?1", [&pb], |r| r.get(0)).unwrap();
    assert_eq!(col, 1);
    let net_b: i64 = t
        .db()
        .query_row("SELECT SUM(CASE kind WHEN 'charge' THEN amount_minor ELSE -amount_minor END) FROM ledger WHERE reference LIKE ?1 || '/%'", [&b], |r| r.get(0))
        .unwrap();
    assert_eq!(net_b, 0, "the charge that never came in is reversed");
    // No escalation for these payments (they are known to the app).
    let esc: i64 = t.count("SELECT COUNT(*) FROM escalations WHERE kind = 'payment-without-effect'");
    assert_eq!(esc, 0);
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 0, "{r}");
    assert_eq!(t.service_state(&b), "active", "a failed settlement is collected, the service is not silently switched off");
    t.tick("retry").await;
    let told = t.sims.notify().messages().iter().filter(|m| m["template"] == "subscription-payment-failed").count();
    assert_eq!(told, 3);
    t.stop_with_admin_ledger_check().await;
}

/// Bounded work per run: at most 1000 charges, `more: true`, and the next run continues where
/// the watermarks say — never billing anything twice (batches of 200, keyset pagination).
#[tokio::test(flavor = "multi_thread")]
async fn large_populations_bill_in_bounded_runs() {
    let t = TestApp::start().await;
    let r = t.tick("billing").await; // brings the database to the latest schema
    assert_eq!(report(&r), (0, 0, 0, 0, false), "{r}");
    const N: usize = 1300;
    let activated = t.now_ms();
    {
        let mut db = t.db();
        let tx = db.transaction().unwrap();
        for i in 0..N {
            tx.execute(
                "INSERT INTO services(id, order_id, customer_id, vin, option_code, feature, kind, source, state, created_at, updated_at,
                   price_minor, currency, purchased_at, activated_at, command_generation)
                 VALUES (?1, NULL, ?2, ?3, 'premium-audio', 'premium-audio', 'subscription', 'purchase', 'active', ?4, ?4, 599, 'EUR', ?4, ?4, 0)",
                rusqlite::params![format!("svc_load{i:022}"), format!("cus_load{i:06}"), format!("WCA{:014}", 900_000 + i), activated],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    let r1 = t.tick("billing").await;
    assert_eq!(report(&r1), (1000, 0, 0, 0, true), "{r1}");
    let r2 = t.tick("billing").await;
    assert_eq!(report(&r2), (300, 0, 0, 0, false), "{r2}");
    let r3 = t.tick("billing").await;
    assert_eq!(report(&r3), (0, 0, 0, 0, false), "{r3}");
    let (rows, distinct): (i64, i64) = t
        .db()
        .query_row("SELECT COUNT(*), COUNT(DISTINCT subscription_id) FROM subscription_charges WHERE status = 'charged'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((rows, distinct), (N as i64, N as i64));
    let ledger: i64 = t.count("SELECT COUNT(*) FROM ledger WHERE reference LIKE 'svc_load%'");
    assert_eq!(ledger, N as i64);
    assert_eq!(t.sims.payment().payments().len(), N, "one gateway charge each");
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn billing_tick_requires_the_tick_secret() {
    let t = TestApp::start().await;
    let r = t.send(t.client.post(t.url("/internal/ticks/billing"))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.is_problem());
    let r = t.send(t.client.post(t.url("/internal/ticks/billing")).bearer_auth("wrong")).await;
    assert_eq!(r.status, 401);
    let r = t.send(t.client.get(t.url("/internal/ticks/billing")).bearer_auth(TICK_SECRET)).await;
    assert_eq!(r.status, 405);
    let r = t.tick("billing").await;
    assert_eq!(report(&r), (0, 0, 0, 0, false), "{r}");
    t.stop_with_admin_ledger_check().await;
}

/// The app shows what the billing tick will take: a subscription activated mid-month shows a
/// pro rata first charge due on the 1st, the tick takes exactly that amount then, and from then
/// on the full monthly price shows as the next charge. A one-time option shows none.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_charge_shown_to_the_customer_is_what_the_tick_takes() {
    let (t, token, vin) = TestApp::with_operational_vehicle(711).await;
    let sub = subscribe(&t, &token, &vin, "entertainment-plus").await; // 9.99 / month
    let act = activated_at(&t, &sub);
    let period = Period::containing(t.now_ms());
    let next_of = async |id: &str| -> Value {
        let token = &t.customer_token(711).await; // sessions expire while the clock runs
        let r = t.get("/api/services", Some(token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = r.json();
        let s = list["services"].as_array().unwrap().iter().find(|s| s["id"] == id).cloned().unwrap();
        let one = t.get(&format!("/api/services/{id}"), Some(token)).await.json();
        assert_eq!(one["next_charge"], s["next_charge"], "list and detail agree");
        s["next_charge"].clone()
    };

    let window_open = async |id: &str| t.get(&format!("/api/services/{id}"), Some(&t.customer_token(711).await)).await.json()["within_withdrawal_window"].clone();
    assert_eq!(window_open(&sub).await, json!(true), "just bought");
    let first = next_of(&sub).await;
    let expected = expected_amount(999, act, period);
    assert!(expected > 0 && expected < 999, "activated mid-month: {expected}");
    assert_eq!(
        first,
        json!({"period": period.to_string(), "due_at": period.end_ms(), "amount_minor": expected, "currency": "EUR", "prorated": true}),
    );

    // The 1st: the tick takes what was shown, then the next month shows in full.
    t.advance_to(period.end_ms() + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(report(&r).0, 1, "{r}");
    assert_eq!(ledger_charges(&t, &sub), vec![(format!("{sub}/{period}"), expected)]);
    let next = period.next();
    assert_eq!(
        next_of(&sub).await,
        json!({"period": next.to_string(), "due_at": next.end_ms(), "amount_minor": 999, "currency": "EUR", "prorated": false}),
    );

    // Past the 14 days (business time): no longer a withdrawal; the month's charge unchanged.
    t.advance_to(next.start_ms() + 15 * 24 * HOUR);
    let token = t.customer_token(711).await;
    assert_eq!(window_open(&sub).await, json!(false), "15 days on");
    assert_eq!(next_of(&sub).await["amount_minor"], 999);

    // A one-time purchase has no next charge.
    let once = t.bought_service(&token, &vin, "parking-assist", "next-charge-once").await["id"].as_str().unwrap().to_string();
    assert_eq!(next_of(&once).await, Value::Null);
    t.stop_with_admin_ledger_check().await;
}
