//! Issue 4 — catalog and purchase: maintenance gating (current / overdue / VSS down), payment
//! initiation (gateway down → nothing activated, nothing charged), duplicate purchases, price
//! snapshots, subscriptions without upfront charge. Real components, simulators, virtual clock.

use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};


fn option<'a>(view: &'a Value, code: &str) -> &'a Value {
    view["options"].as_array().unwrap().iter().find(|o| o["code"] == code).unwrap_or_else(|| panic!("{code} not in {view}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_view_and_purchase_gated_by_maintenance() {
    let (t, token, vin) = TestApp::with_operational_vehicle(401).await;

    // Maintenance current: everything offered is available, except heated seats, already
    // active from the plan comercial (sold as `HEATED-SEATS` with the car, activated at link).
    let r = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let view = r.json();
    assert_eq!(view["maintenance"]["status"], "current");
    assert!(view["options"].as_array().unwrap().len() >= 8);
    assert!(view["options"].as_array().unwrap().iter().filter(|o| o["code"] != "heated-seats").all(|o| o["available"] == true), "{view}");
    assert_eq!(option(&view, "heated-seats")["blocked_reason"], "already-active");
    assert_eq!(option(&view, "highway-autopilot")["maintenance_decision"], "verified-current");
    assert_eq!(option(&view, "parking-assist")["maintenance_decision"], "not-required");
    let r = t.buy_service(&token, &vin, "heated-seats", "buy-plan-seats").await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Overdue: only maintenance-dependent options are blocked, with the reason.
    t.sims.vss().set_maintenance(&vin, "overdue");
    let view = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await.json();
    assert_eq!(view["maintenance"]["status"], "overdue");
    let auto = option(&view, "highway-autopilot");
    assert_eq!(auto["available"], false);
    assert_eq!(auto["blocked_reason"], "maintenance-overdue");
    assert!(auto["blocked_message"].as_str().unwrap().contains("maintenance"));
    assert_eq!(option(&view, "parking-assist")["available"], true);

    let r = t.buy_service(&token, &vin, "highway-autopilot", "buy-auto-1").await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.is_problem());
    assert!(r.json()["type"].as_str().unwrap().ends_with("maintenance-overdue"), "{}", r.text);
    assert!(t.sims.payment().payments().iter().all(|p| p["kind"] != "service"), "nothing initiated for a refused purchase");

    // A non-dependent option is never blocked by maintenance.
    let r = t.buy_service(&token, &vin, "parking-assist", "buy-park-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let s = r.json();
    assert!(s["id"].as_str().unwrap().starts_with("svc_"));
    assert_eq!(s["state"], "pending-activation");
    assert_eq!(s["maintenance_decision"], "not-required");
    assert_eq!(s["price"]["amount_minor"], 59900);
    let pid = s["payment_id"].as_str().unwrap();
    let p = t.sims.payment().payment(pid).expect("payment at the gateway");
    assert_eq!(p["kind"], "service");
    assert_eq!(p["amount-minor"], 59900);
    assert_eq!(p["reference"], s["id"]);
    // One transaction: service + ledger charge + OTA job.
    let id = s["id"].as_str().unwrap();
    assert_eq!(ledger_net(&t, id), 59900);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM jobs WHERE kind = 'ota' AND dedupe_key = 'cmd_{id}_activate_0'")), 1);

    // Maintenance done at the workshop: the dependent option can be bought again.
    t.sims.vss().set_maintenance(&vin, "current");
    let r = t.buy_service(&token, &vin, "highway-autopilot", "buy-auto-2").await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["maintenance_decision"], "verified-current");

    // Somebody else's vehicle / unknown option / bad input.
    let (other, _) = operational_vehicle(&t, 402).await;
    let r = t.buy_service(&other, &vin, "heated-seats", "steal-1").await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.get(&format!("/api/services/{id}"), Some(&other)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.get(&format!("/api/catalog?vin={vin}"), Some(&other)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.buy_service(&token, &vin, "no-such-option", "nope-1").await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = t.post_json("/api/services", &json!({"vin": "short", "option_code": 7}), Some(&token), Some("bad-1")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json()["errors"].as_array().unwrap().len(), 2);
    let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": "heated-seats"}), Some(&token), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": "heated-seats"}), None, Some("k")).await;
    assert_eq!(r.status, 401, "{}", r.text);

    // The customer's list and one service.
    let list = t.get("/api/services", Some(&token)).await.json();
    let services = list["services"].as_array().unwrap();
    assert_eq!(services.iter().filter(|s| s["source"] == "purchase").count(), 2, "{list}");
    assert_eq!(services.iter().filter(|s| s["source"] == "plan" && s["state"] == "active").count(), 2, "{list}");
    let one = t.get(&format!("/api/services/{id}"), Some(&token)).await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json()["ledger"][0]["kind"], "charge");
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn vss_down_allows_the_purchase_and_records_the_decision() {
    let (t, token, vin) = TestApp::with_operational_vehicle(411).await;
    t.sims.faults(System::Vss).down(true);

    let view = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await;
    assert_eq!(view.status, 200, "{}", view.text);
    let view = view.json();
    assert_eq!(view["maintenance"]["status"], "unknown");
    assert_eq!(view["maintenance"]["assumed_current"], true);
    assert_eq!(option(&view, "power-boost-1m")["available"], true);
    assert_eq!(option(&view, "power-boost-1m")["maintenance_decision"], "assumed-current-vss-unavailable");

    let r = t.buy_service(&token, &vin, "power-boost-1m", "boost-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let s = r.json();
    assert_eq!(s["maintenance_decision"], "assumed-current-vss-unavailable");
    let id = s["id"].as_str().unwrap();
    let stored: String = t.db().query_row("SELECT maintenance_decision FROM services WHERE id = ?1", [id], |r| r.get(0)).unwrap();
    assert_eq!(stored, "assumed-current-vss-unavailable");
    let timeline: String = t
        .db()
        .query_row("SELECT detail FROM order_events WHERE kind = 'service-purchased' ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
        .unwrap();
    assert!(timeline.contains("VSS unreachable"), "{timeline}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gateway_down_refuses_with_nothing_activated_or_charged() {
    let (t, token, vin) = TestApp::with_operational_vehicle(421).await;

    t.sims.faults(System::Payment).down(true);
    let r = t.buy_service(&token, &vin, "parking-assist", "park-1").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.is_problem());
    let plan_commands = t.sims.iot().commands_for(&vin).len();
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE source = 'purchase'"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM ledger WHERE reference LIKE 'svc_%'"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'ota' AND status = 'pending'"), 0);
    let report = t.tick("ota").await;
    assert_eq!(report["processed"], 0, "{report}");
    assert_eq!(t.sims.iot().commands_for(&vin).len(), plan_commands);

    // Declined: 402, nothing stored either.
    t.sims.faults(System::Payment).down(false);
    let customer_id: String = t.db().query_row("SELECT customer_id FROM vehicle_links WHERE vin = ?1", [&vin], |r| r.get(0)).unwrap();
    t.sims.payment().decline(&customer_id, 1);
    let r = t.buy_service(&token, &vin, "parking-assist", "park-2").await;
    assert_eq!(r.status, 402, "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE source = 'purchase'"), 0);

    // The gateway is back: the retry with the first key goes through, once.
    let r = t.buy_service(&token, &vin, "parking-assist", "park-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let again = t.buy_service(&token, &vin, "parking-assist", "park-1").await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["id"], r.json()["id"], "idempotent replay");
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE source = 'purchase'"), 1);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn second_purchase_of_a_pending_or_active_option_is_refused() {
    let (t, token, vin) = TestApp::with_operational_vehicle(431).await;

    let r = t.buy_service(&token, &vin, "parking-assist", "seats-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r2 = t.buy_service(&token, &vin, "parking-assist", "seats-2").await;
    assert_eq!(r2.status, 409, "{}", r2.text);
    assert!(r2.json()["type"].as_str().unwrap().ends_with("already-pending"), "{}", r2.text);

    let report = t.tick("ota").await;
    assert_eq!(report["applied"], 1, "{report}");
    let r3 = t.buy_service(&token, &vin, "parking-assist", "seats-3").await;
    assert_eq!(r3.status, 409, "{}", r3.text);
    assert!(r3.json()["type"].as_str().unwrap().ends_with("already-active"), "{}", r3.text);
    // Already active even though maintenance lapsed later: still not switched off.
    t.sims.vss().set_maintenance(&vin, "overdue");
    let view = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await.json();
    assert_eq!(option(&view, "parking-assist")["blocked_reason"], "already-active");
    assert_eq!(t.sims.payment().payments().iter().filter(|p| p["kind"] == "service").count(), 1, "one payment only");
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE state = 'active' AND source = 'purchase'"), 1);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn subscriptions_have_no_upfront_charge_and_prices_are_snapshotted() {
    let (t, token, vin) = TestApp::with_operational_vehicle(441).await;
    let admin = t.admin_token().await;

    // Subscription: billed in arrears, nothing charged now.
    let r = t.buy_service(&token, &vin, "entertainment-plus", "ent-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["payment_id"], Value::Null);
    assert!(t.sims.payment().payments().iter().all(|p| p["kind"] != "service"));
    assert_eq!(ledger_net(&t, r.json()["id"].as_str().unwrap()), 0);

    // Sold at 599.00; repriced afterwards: the sale keeps its price.
    let r = t.buy_service(&token, &vin, "parking-assist", "park-1").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let sold = r.json();
    let rp = t
        .post_json("/api/catalog/admin/options/parking-assist/price", &json!({"amount_minor": 64900, "currency": "EUR"}), Some(&admin), None)
        .await;
    assert_eq!(rp.status, 200, "{}", rp.text);
    assert_eq!(rp.json()["price"]["amount_minor"], 64900);
    let got = t.get(&format!("/api/services/{}", sold["id"].as_str().unwrap()), Some(&token)).await.json();
    assert_eq!(got["price"]["amount_minor"], 59900);
    let view = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await.json();
    assert_eq!(option(&view, "parking-assist")["price"]["amount_minor"], 64900);

    // Admin adds and retires; customers and bad input cannot.
    let new = json!({"code": "track-mode-3d", "name": "Track Mode (3 days)", "description": "Launch control and track telemetry.",
                     "price": {"amount_minor": 2500, "currency": "EUR"}, "kind": "temporary", "duration_days": 3, "requires_maintenance": true});
    let r = t.post_json("/api/catalog/admin/options", &new, Some(&token), None).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = t.post_json("/api/catalog/admin/options", &new, Some(&admin), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = t.post_json("/api/catalog/admin/options", &new, Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = t.post_json("/api/catalog/admin/options", &json!({"code": "X", "kind": "weekly", "price": {"amount_minor": -1}}), Some(&admin), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = t.post_json("/api/catalog/admin/options/snow-mode-14d/retire", &json!({}), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let view = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await.json();
    assert!(view["options"].as_array().unwrap().iter().all(|o| o["code"] != "snow-mode-14d"));
    assert_eq!(option(&view, "track-mode-3d")["available"], true);
    let r = t.buy_service(&token, &vin, "snow-mode-14d", "snow-1").await;
    assert_eq!(r.status, 422, "{}", r.text);
    let all = t.get("/api/catalog/admin/options", Some(&admin)).await.json();
    assert_eq!(option(&all, "snow-mode-14d")["status"], "retired");
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn settlement_issues_invoices_hands_failures_to_collections_or_cancels_activation() {
    let (t, token, vin) = TestApp::with_operational_vehicle(451).await;

    // Delivered, then settled → invoice.
    let a = t.buy_service(&token, &vin, "parking-assist", "a-1").await.json();
    let b = t.buy_service(&token, &vin, "highway-autopilot", "b-1").await.json();
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 2, "{r}");
    let (a_id, a_pid) = (a["id"].as_str().unwrap(), a["payment_id"].as_str().unwrap());
    assert_eq!(t.sims.payment().settle(a_pid, true).await.unwrap(), 200);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM invoices WHERE payment_id = '{a_pid}' AND service_id = '{a_id}'")), 1);
    let got = t.get(&format!("/api/services/{a_id}"), Some(&token)).await.json();
    assert_eq!(got["payment_status"], "settled");

    // Delivered, then the settlement fails → at risk, collections, the service stays on.
    let (b_id, b_pid) = (b["id"].as_str().unwrap(), b["payment_id"].as_str().unwrap());
    assert_eq!(t.sims.payment().settle_with(b_pid, false, json!({"failure-reason": "insufficient_funds"})).await.unwrap(), 200);
    let got = t.get(&format!("/api/services/{b_id}"), Some(&token)).await.json();
    assert_eq!(got["state"], "active");
    assert_eq!(got["payment_status"], "at-risk");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM collections WHERE payment_id = '{b_pid}' AND status = 'open'")), 1);
    assert_eq!(t.sims.iot().feature_state(&vin, "highway-autopilot").as_deref(), Some("active"));

    // Failed before delivery → activation cancelled, nothing charged, no command sent.
    let c = t.buy_service(&token, &vin, "power-boost-1m", "c-1").await.json();
    let (c_id, c_pid) = (c["id"].as_str().unwrap(), c["payment_id"].as_str().unwrap());
    assert_eq!(t.sims.payment().settle(c_pid, false).await.unwrap(), 200);
    let got = t.get(&format!("/api/services/{c_id}"), Some(&token)).await.json();
    assert_eq!(got["state"], "aborted");
    assert_eq!(ledger_net(&t, c_id), 0);
    let r = t.tick("ota").await;
    assert_eq!(r["skipped"], 1, "{r}");
    assert!(t.sims.iot().commands_for(&vin).iter().all(|cmd| !cmd["command-id"].as_str().unwrap().contains(c_id)));
    // Another settlement event for the same payment: no second invoice.
    let _ = t.sims.payment().settle(a_pid, true).await;
    assert_eq!(t.count("SELECT COUNT(*) FROM invoices"), 1);
    assert_ledger_invariants(&t);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_input_is_a_4xx_problem_never_a_5xx_and_writes_nothing() {
    let t = TestApp::start().await;
    let (token, vin) = operational_vehicle_seeded(&t, 461).await;
    let admin = t.admin_token().await;
    let bodies = [
        json!(null),
        json!([]),
        json!("x"),
        json!(12),
        json!({}),
        json!({"vin": vin}),
        json!({"vin": 17, "option_code": ["a"]}),
        json!({"vin": "W".repeat(5000), "option_code": "x".repeat(5000)}),
        json!({"vin": vin, "option_code": "power-boost-1m", "extra": {"deep": [1, 2, {"x": null}]}}),
        json!({"code": "ok-code", "name": "N", "description": "D", "price": {"amount_minor": 9e20, "currency": "EURO"}, "kind": "temporary", "duration_days": -1, "duration_months": 2}),
        json!({"amount_minor": "10", "currency": 3}),
        json!({"price": null}),
    ];
    let paths = [
        ("/api/services", &token),
        ("/api/catalog/admin/options", &admin),
        ("/api/catalog/admin/options/parking-assist/price", &admin),
        ("/api/catalog/admin/options/%00%ff/price", &admin),
        ("/api/catalog/admin/options/parking-assist/retire/x", &admin),
        ("/api/services/svc_x/y", &token),
    ];
    for (i, (path, tok)) in paths.iter().enumerate() {
        for (j, b) in bodies.iter().enumerate() {
            let key = format!("garbage-{i}-{j}");
            let r = t.post_json(path, b, Some(tok), Some(&key)).await;
            assert!((400..500).contains(&r.status) || (r.status == 202 && j == 8), "{path} {b}: {} {}", r.status, r.text);
            assert!(r.is_problem() || r.status == 202, "{path} {b}: {}", r.content_type);
        }
        // Not JSON at all.
        let r = t.send(t.client.post(t.url(path)).bearer_auth(tok.as_str()).header("idempotency-key", "raw").header("content-type", "application/json").body("{not json")).await;
        assert!((400..500).contains(&r.status), "{path}: {} {}", r.status, r.text);
        let r = t.send(t.client.post(t.url(path)).bearer_auth(tok.as_str()).header("content-type", "text/plain").body("hello")).await;
        assert!((400..500).contains(&r.status), "{path}: {} {}", r.status, r.text);
    }
    for q in ["vin=", "vin=%ZZ", "vin=WCA00000000000000", &format!("vin={}", "A".repeat(3000)), "vin=../../etc"] {
        let r = t.get(&format!("/api/catalog?{q}"), Some(&token)).await;
        assert!(r.status == 200 || (400..500).contains(&r.status), "{q}: {} {}", r.status, r.text);
        let r = t.get(&format!("/api/services?{q}"), Some(&token)).await;
        assert!(r.status == 200 || (400..500).contains(&r.status), "{q}: {} {}", r.status, r.text);
    }
    for p in ["/api/services/svc_", "/api/services/ord_123", "/api/services/%2e%2e", "/api/catalog/nope", "/internal/ticks/ota/x"] {
        let r = t.get(p, Some(&token)).await;
        assert!((400..500).contains(&r.status), "{p}: {} {}", r.status, r.text);
    }
    // Only the one valid purchase was written; the catalog is unchanged.
    let n: i64 = t.count("SELECT COUNT(*) FROM services");
    assert_eq!(n, 1);
    let all = t.get("/api/catalog/admin/options", Some(&admin)).await.json();
    assert_eq!(all["options"].as_array().unwrap().len(), 9);
    assert_eq!(option(&all, "parking-assist")["price"]["amount_minor"], 59900);
    t.stop().await;
}
