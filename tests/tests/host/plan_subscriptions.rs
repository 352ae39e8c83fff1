//! Issue 10 — a subscription in the plan comercial: included with the car for the months the
//! business defines (`plan_subscription_included_months`, 2 here), shown to the customer, then
//! billed monthly in arrears like any subscription (first month pro rata), and cancellable at any
//! time through the same path (billed to the end of the month, then switched off over the air).
//! The plan's other options stay included and are not cancelled separately.

use caas_domain::services::billing::{Period, SubscriptionTerms, billing_start, charges_due};
use caas_domain::wit::Money;
use caas_tests::*;
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;

fn charges(t: &TestApp, id: &str) -> Vec<(String, String, i64)> {
    let db = t.db();
    let mut st = db.prepare("SELECT period, status, amount_minor FROM subscription_charges WHERE subscription_id = ?1 ORDER BY period").unwrap();
    st.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect()
}

/// The first instant of the month after the one containing `ms`.
fn next_month_start(ms: i64) -> i64 {
    Period::containing(ms).end_ms()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_subscription_is_included_then_billed_monthly_and_can_be_cancelled_anytime() {
    let mut opts = Options::default();
    opts.variables.insert("plan_subscription_included_months".into(), "2".into());
    let t = TestApp::start_with(opts).await.expect("start the app");
    let mut sale = sale_body(941);
    sale["plan_options"] = json!(["HEATED-SEATS", "ENTERTAINMENT-PLUS"]);
    let (token, vin) = operational_vehicle_of(&t, 941, &sale).await;

    let list = t.get("/api/services", Some(&token)).await.json();
    let items = list["services"].as_array().unwrap_or_else(|| panic!("{list}"));
    let find = |code: &str| items.iter().find(|s| s["option_code"] == code).cloned().unwrap_or_else(|| panic!("no {code}: {list}"));
    let (sub, seats) = (find("ENTERTAINMENT-PLUS"), find("HEATED-SEATS"));
    let id = sub["id"].as_str().unwrap().to_string();
    // Shown to the customer: a subscription of the plan, its monthly price, included until when.
    assert_eq!((sub["source"].as_str(), sub["kind"].as_str(), sub["state"].as_str()), (Some("plan"), Some("subscription"), Some("active")), "{sub}");
    assert_eq!(sub["price"], json!({"amount_minor": 999, "currency": "EUR"}), "{sub}");
    assert_eq!(sub["included_months"], 2, "{sub}");
    let activated = sub["activated_at"].as_i64().unwrap();
    let included_until = billing_start(activated, Some(2));
    assert_eq!(sub["included_until"].as_i64(), Some(included_until), "{sub}");
    // The plan's one-time option stays included for good.
    assert_eq!((seats["price"].clone(), seats["included_until"].clone()), (Value::Null, Value::Null), "{seats}");

    // Month ends inside the included months: nothing billed.
    let mut at = next_month_start(activated);
    while at <= included_until {
        t.advance_to(at + HOUR);
        t.tick("billing").await;
        at = next_month_start(at);
    }
    assert_eq!(charges(&t, &id), vec![], "included months are not billed");

    // The first month end after them: that month from the end of the included months, pro rata.
    t.advance_to(at + HOUR);
    t.tick("billing").await;
    t.tick("billing").await;
    let price = Money { amount_minor: 999, currency: "EUR".into() };
    let terms = SubscriptionTerms { subscription_id: &id, price: &price, activated_at: included_until, billing_ends_at: None, last_billed: None };
    let due = charges_due(&terms, at + HOUR);
    assert_eq!(due.len(), 1);
    assert!(due[0].prorated && due[0].amount.amount_minor > 0 && due[0].amount.amount_minor < 999, "{:?}", due[0]);
    let first = Period::containing(included_until).key();
    assert_eq!(charges(&t, &id), vec![(first.clone(), "charged".to_string(), due[0].amount.amount_minor)]);
    assert_eq!(ledger_net(&t, &format!("{id}/{first}")), due[0].amount.amount_minor);
    // That month's VAT invoice names the plan's subscription as the catalog does (a plan service
    // has no purchase snapshot to take its name from), not by its code.
    let r = t.tick("invoicing").await;
    assert_eq!(r["invoices"], 1, "{r}");
    let lines: Vec<(String, Option<String>)> = {
        let db = t.db();
        let mut st = db.prepare("SELECT name, period FROM vat_invoice_lines WHERE service_id = ?1").unwrap();
        st.query_map([&id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
    };
    assert_eq!(lines, vec![("Entertainment Plus".to_string(), Some(first.clone()))]);

    // Cancel anytime: effective at the end of this month (billed in full, mes vencido), then the
    // feature is switched off through the OTA engine; nothing is billed after. (Months later: a
    // new session.)
    let token = t.login("lucia.941@example.com", CUSTOMER_NEW_PASSWORD).await;
    let (status, body) = t.cancel_service(&token, &id).await;
    assert_eq!(status, 200, "{body}");
    let month_end = next_month_start(at + HOUR);
    assert_eq!(body["service"]["billing_ends_at"].as_i64(), Some(month_end), "{body}");
    // The plan's included one-time option is not cancelled separately.
    let (status, body) = t.cancel_service(&token, seats["id"].as_str().unwrap()).await;
    assert_eq!(status, 409, "{body}");

    // The last month's charge is declined once: the customer is told, naming the subscription as
    // the catalog does, and the dunning retry collects it.
    t.sims.payment().decline(&t.customer_of(&vin).0, 1);
    t.advance_to(month_end + HOUR);
    t.tick("billing").await;
    t.tick("ota").await;
    t.tick("retry").await;
    let told: Vec<Value> = t.sims.notify().messages().into_iter().filter(|m| m["template"] == "subscription-payment-failed" && m["channel"] == "email").collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0]["body"].as_str().unwrap().contains("Entertainment Plus"), "{told:?}");
    // Staff see the charge in dunning under that name too.
    let admin = t.admin_token().await;
    let list = t.get("/api/admin/collections", Some(&admin)).await.json();
    let item = list["items"].as_array().unwrap().iter().find(|c| c["service_id"] == id.as_str()).cloned().unwrap_or_else(|| panic!("{list}"));
    assert_eq!((item["source"].as_str(), item["option_name"].as_str()), (Some("charge"), Some("Entertainment Plus")), "{item}");
    t.advance_to(next_month_start(month_end + HOUR) + HOUR);
    t.tick("billing").await;
    t.tick("ota").await;
    let second = Period::containing(at + HOUR).key();
    assert_eq!(charges(&t, &id), vec![(first, "charged".to_string(), due[0].amount.amount_minor), (second, "charged".to_string(), 999)]);
    assert_eq!(t.service_state(&id), "cancelled");
    assert_eq!(t.sims.iot().feature_state(&vin, "entertainment-plus").as_deref(), Some("inactive"));
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_subscription_cancelled_while_included_is_never_billed() {
    let t = TestApp::start().await;
    let mut sale = sale_body(942);
    sale["plan_options"] = json!(["ENTERTAINMENT-PLUS"]);
    let (token, vin) = operational_vehicle_of(&t, 942, &sale).await;
    let list = t.get("/api/services", Some(&token)).await.json();
    let sub = list["services"].as_array().unwrap().iter().find(|s| s["option_code"] == "ENTERTAINMENT-PLUS").cloned().unwrap();
    let id = sub["id"].as_str().unwrap().to_string();
    // spin.toml's default: 3 months included.
    assert_eq!(sub["included_months"], 3, "{sub}");

    let (status, body) = t.cancel_service(&token, &id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["decision"]["refund"]["amount_minor"], 0, "nothing was paid: {body}");
    // A year of month ends later: never billed, switched off.
    let start = t.now_ms();
    for m in 1..=12u32 {
        t.advance_to(caas_domain::services::calendar::add_months(Period::containing(start).start_ms(), m) + HOUR);
        t.tick("billing").await;
        t.tick("ota").await;
    }
    assert_eq!(charges(&t, &id), vec![]);
    assert!(matches!(t.service_state(&id).as_str(), "cancelled" | "withdrawn"), "{}", t.service_state(&id));
    assert_eq!(t.sims.iot().feature_state(&vin, "entertainment-plus").as_deref(), Some("inactive"));
    assert_ledger_invariants(&t);
    t.stop().await;
}
