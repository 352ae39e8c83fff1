//! Issue 10 — a subscription billed by use: the catalog's "Track Mode" costs 3.00 EUR per day on
//! which the car used it. The car's daily usage telemetry comes from the IoT API (status
//! `usage`); each month is billed in arrears for exactly the days used in it, across a month
//! boundary, only once the month's telemetry is complete (an IoT outage delays the bill, it never
//! guesses it), alongside flat monthly subscriptions.

use caas_domain::services::billing::{Period, day_key};
use caas_domain::services::calendar::MS_PER_DAY;
use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::json;

const HOUR: i64 = 3_600_000;

fn charges(t: &TestApp, id: &str) -> Vec<(String, String, i64)> {
    let db = t.db();
    let mut st = db.prepare("SELECT period, status, amount_minor FROM subscription_charges WHERE subscription_id = ?1 ORDER BY period").unwrap();
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_usage_billed_option_is_billed_for_exactly_the_days_used_across_a_month_boundary() {
    let t = TestApp::start().await;
    let (token, vin) = operational_vehicle(&t, 951).await;
    // The catalog says how it is billed.
    let catalog = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await.json();
    let track = catalog["options"].as_array().unwrap().iter().find(|o| o["code"] == "track-mode").cloned().unwrap();
    assert_eq!((track["billing"].as_str(), track["billed_by"].as_str()), (Some("per-day-used-in-arrears"), Some("day-used")), "{track}");
    // Bought: nothing charged up front (billed in arrears by use), switched on over the air.
    let s = t.bought_service(&token, &vin, "track-mode", "track-1").await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!((s["billed_by"].as_str(), s["price"]["amount_minor"].as_i64(), s["payment_id"].as_str()), (Some("day-used"), Some(300), None), "{s}");
    // A flat monthly subscription beside it.
    let flat = t.bought_service(&token, &vin, "entertainment-plus", "ent-1").await["id"].as_str().unwrap().to_string();
    assert_eq!(t.tick("ota").await["applied"], 2);
    let act: i64 = t.db().query_row("SELECT activated_at FROM services WHERE id = ?1", [&id], |r| r.get(0)).unwrap();

    let a_start = Period::containing(act).end_ms(); // the month after activation ("A")
    let b_start = Period::containing(a_start).end_ms(); // the month after that ("B")
    let c_start = Period::containing(b_start).end_ms();
    let (month0, month_a, month_b) = (Period::containing(act).key(), Period::containing(a_start).key(), Period::containing(b_start).key());
    // The car reports the days it was used: one before it was bought (not billed), the last two
    // days of A and the first three of B.
    let used: Vec<String> = [act - 2 * MS_PER_DAY, b_start - 2 * MS_PER_DAY, b_start - MS_PER_DAY, b_start, b_start + MS_PER_DAY, b_start + 2 * MS_PER_DAY]
        .iter()
        .map(|ms| day_key(*ms))
        .collect();
    t.sims.iot().set_vehicle_status(&vin, json!({"usage": {"track-mode": used}}));

    // The activation month: not used → recorded at zero, nothing charged.
    t.advance_to(a_start + HOUR);
    t.tick("billing").await;
    assert_eq!(charges(&t, &id), vec![(month0.clone(), "zero".to_string(), 0)]);

    // End of A while the IoT API is down: A's telemetry is incomplete, so A is not billed yet.
    t.sims.faults(System::Iot).down(true);
    t.advance_to(b_start + HOUR);
    t.tick("billing").await;
    t.tick("billing").await;
    assert_eq!(charges(&t, &id).len(), 1, "not billed without the month's usage");
    // The flat subscription is billed as usual meanwhile.
    assert_eq!(charges(&t, &flat).iter().filter(|c| c.1 == "charged").count(), 2, "{:?}", charges(&t, &flat));

    // Back: A is billed for exactly its two days; fired again, nothing more.
    t.sims.faults(System::Iot).down(false);
    t.tick("billing").await;
    t.tick("billing").await;
    assert_eq!(charges(&t, &id), vec![(month0.clone(), "zero".to_string(), 0), (month_a.clone(), "charged".to_string(), 600)]);

    // End of B: its three days.
    t.advance_to(c_start + HOUR);
    t.tick("billing").await;
    t.tick("billing").await;
    assert_eq!(
        charges(&t, &id),
        vec![(month0, "zero".to_string(), 0), (month_a.clone(), "charged".to_string(), 600), (month_b.clone(), "charged".to_string(), 900)]
    );
    assert_eq!(ledger_net(&t, &format!("{id}/{month_a}")), 600);
    assert_eq!(ledger_net(&t, &format!("{id}/{month_b}")), 900);
    // The gateway charged the same amounts, once each.
    let at_gateway: Vec<i64> = t
        .sims
        .payment()
        .payments()
        .into_iter()
        .filter(|p| p["reference"].as_str().unwrap_or("").starts_with(&format!("{id}/")))
        .map(|p| p["amount-minor"].as_i64().unwrap())
        .collect();
    assert_eq!(at_gateway, vec![600, 900]);
    // The monthly VAT invoices list the days used beside the flat subscription's months.
    t.tick("invoicing").await;
    t.tick("invoicing").await;
    let lines = |sid: &str| -> Vec<(String, Option<String>, i64)> {
        let db = t.db();
        let mut st = db.prepare("SELECT name, period, gross_minor FROM vat_invoice_lines WHERE service_id = ?1 ORDER BY period").unwrap();
        st.query_map([sid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(
        lines(&id),
        vec![
            ("Track Mode (per day used) (2 × 3.00 EUR)".to_string(), Some(month_a.clone()), 600),
            ("Track Mode (per day used) (3 × 3.00 EUR)".to_string(), Some(month_b.clone()), 900)
        ]
    );
    assert!(lines(&flat).iter().any(|l| l.1.as_deref() == Some(month_a.as_str()) && l.2 == 999), "{:?}", lines(&flat));
    assert_ledger_invariants(&t);
    t.stop().await;
}
