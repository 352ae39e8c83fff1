//! Issue 8 — the money back office of the administrators: escalations filtered and paged, a
//! refund given up by the retry queue refunded by hand through the gateway (once), the ledger of
//! a customer with its totals, the collections work list with the dunning state, and the role
//! boundaries of every new route (nothing written).

use caas_domain::services::calendar::midnight_ms;
use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const HOUR: i64 = 3_600_000;

fn refunded_at_gateway(t: &TestApp, pid: &str) -> i64 {
    t.sims.payment().refunds().iter().filter(|r| r["payment-id"] == pid).map(|r| r["amount-minor"].as_i64().unwrap()).sum()
}

fn ledger_rows(t: &TestApp, kind: &str, reference: &str) -> i64 {
    t.db().query_row("SELECT COUNT(*) FROM ledger WHERE kind = ?1 AND reference = ?2", [kind, reference], |r| r.get(0)).unwrap()
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().expect("items").clone()
}

/// A settled reservation deposit whose refund (sale cancelled by the dealership) fails at the
/// gateway until the retry queue gives up; once the gateway works, an admin refunds it by hand:
/// the gateway's payment is refunded once, one ledger refund row, the escalation resolved with
/// who/when/note, audited; a second click refunds nothing (409). The ledger of that customer
/// shows the charge and the refund with their totals.
#[tokio::test(flavor = "multi_thread")]
async fn a_refund_the_queue_gave_up_on_is_refunded_by_hand_once() {
    let t = TestApp::start().await;
    let employee = t.employee_token().await;
    let (token, order_id, customer_id) = customer_with_sale(&t, 881).await;
    let c = Customer { email: "lucia.881@example.com".into(), token, order_id: order_id.clone(), customer_id: customer_id.clone() };
    let pid = t.pay_and_settle(&c, "reservation").await;
    // Another customer's money must not show in this customer's ledger.
    let (o_token, o_order, o_customer) = customer_with_sale(&t, 882).await;
    let other = Customer { email: "lucia.882@example.com".into(), token: o_token, order_id: o_order, customer_id: o_customer };
    let other_pid = t.pay_and_settle(&other, "reservation").await;

    // The gateway fails every call; the dealership cancels the sale; the refund job gives up.
    t.sims.faults(System::Payment).fail_next(10_000, 503);
    let r = t.post_json(&format!("/api/staff/orders/{order_id}/cancel"), &json!({"reason": "customer moved abroad"}), Some(&employee), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut escalated = 0;
    for _ in 0..10 {
        escalated += t.tick("retry").await["escalated"].as_u64().unwrap();
        t.advance(Duration::from_secs(6 * 3600));
    }
    assert_eq!(escalated, 1, "the return-payment job is escalated once");
    assert_eq!(refunded_at_gateway(&t, &pid), 0);

    let admin = t.admin_token().await;
    let r = t.get("/api/admin/escalations?kind=return-payment&status=open", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = items(&r.json());
    assert_eq!(list.len(), 1, "{list:?}");
    let esc = list[0].clone();
    assert_eq!((esc["kind"].as_str(), esc["refundable"].as_bool()), (Some("return-payment"), Some(true)));
    let esc_id = esc["id"].as_str().unwrap().to_string();
    let refund = format!("/api/admin/escalations/{esc_id}/refund");
    let note = json!({"note": "refunded by hand after the gateway outage"});

    // Role boundaries and bad input: nothing written.
    let support = t.support_token().await;
    // Sessions ended while the clock ran: everyone signs in again.
    let customer_token = t.login(&c.email, CUSTOMER_NEW_PASSWORD).await;
    let employee = t.employee_token().await;
    let audit_before = t.count("SELECT COUNT(*) FROM audit_log");
    for (who, tok) in [("customer", customer_token.as_str()), ("employee", employee.as_str()), ("support", support.as_str())] {
        let r = t.post_json(&refund, &note, Some(tok), None).await;
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        assert!(r.is_problem());
    }
    assert_eq!(t.post_json(&refund, &note, None, None).await.status, 401);
    let r = t.post_json(&refund, &json!({}), Some(&admin), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("/note"), "{}", r.text);
    let r = t.post_json(&refund, &json!({"note": "x", "amount_minor": -5}), Some(&admin), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(t.get(&refund, Some(&admin)).await.status, 405);
    assert_eq!(t.post_json("/api/admin/escalations/esc_nope/refund", &note, Some(&admin), None).await.status, 404);
    // The gateway still failing: 503, nothing written (the escalation stays open).
    let r = t.post_json(&refund, &note, Some(&admin), None).await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), audit_before);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM escalations WHERE id = '{esc_id}' AND resolution IS NULL")), 1);
    // More than the payment holds: 409, nothing written.
    t.sims.faults(System::Payment).reset();
    let r = t.post_json(&refund, &json!({"note": "too much", "amount_minor": 150_001}), Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem() && r.text.contains("150000"), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), audit_before);

    // The gateway works again: the admin refunds by hand.
    let r = t.post_json(&refund, &note, Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["refund"]["state"], "refunded", "{v}");
    assert_eq!((v["refund"]["payment_id"].as_str(), v["refund"]["amount_minor"].as_i64()), (Some(pid.as_str()), Some(150_000)));
    assert_eq!(v["escalation"]["resolution"], "refunded");
    assert_eq!(v["escalation"]["note"], note["note"]);
    assert!(v["escalation"]["resolved_by"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
    assert!(v["escalation"]["resolved_at"].as_i64().is_some(), "{v}");
    assert_eq!(v["escalation"]["refundable"], false);
    assert_eq!(refunded_at_gateway(&t, &pid), 150_000);
    assert_eq!(t.sims.payment().payment(&pid).unwrap()["refunded-minor"], 150_000);
    assert_eq!(ledger_rows(&t, "refund", &pid), 1);
    assert_eq!(ledger_net(&t, &pid), 0, "deposit charged then refunded");

    // A second click: 409, nothing more refunded; the retry tick moves nothing more either.
    let r = t.post_json(&refund, &note, Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem() && r.text.contains("resolved"), "{}", r.text);
    t.tick("retry").await;
    assert_eq!(refunded_at_gateway(&t, &pid), 150_000);
    assert_eq!(ledger_rows(&t, "refund", &pid), 1);

    // Resolved: the open filter no longer lists it, the resolved one does.
    let r = t.get("/api/admin/escalations?kind=return-payment&status=open", Some(&admin)).await;
    assert!(items(&r.json()).is_empty(), "{}", r.text);
    let r = t.get("/api/admin/escalations?status=resolved", Some(&admin)).await;
    let resolved = items(&r.json());
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!((resolved[0]["id"].as_str(), resolved[0]["resolution"].as_str()), (Some(esc_id.as_str()), Some("refunded")));

    // Audited: who, what, on what, after.
    let r = t.get(&format!("/api/admin/audit?target={esc_id}"), Some(&admin)).await;
    let audit = items(&r.json());
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0]["action"].as_str(), audit[0]["actor_role"].as_str()), (Some("admin.escalation.refunded"), Some("admin")));
    assert_eq!(audit[0]["actor_id"], v["escalation"]["resolved_by"]);
    assert_eq!(audit[0]["after"]["amount_minor"], 150_000);

    // The ledger of this customer (by e-mail and by id): the deposit and its refund, net 0;
    // the other customer's deposit is not there.
    for q in ["lucia.881%40example.com", customer_id.as_str()] {
        let r = t.get(&format!("/api/admin/ledger?customer={q}"), Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let rows = items(&v);
        let kinds: Vec<(&str, i64)> = rows.iter().map(|e| (e["kind"].as_str().unwrap(), e["amount_minor"].as_i64().unwrap())).collect();
        assert_eq!(kinds, vec![("charge", 150_000), ("refund", 150_000)], "{v}");
        assert!(rows.iter().all(|e| e["reference"] == pid.as_str() && e["order_id"] == order_id.as_str()), "{v}");
        assert_eq!(v["totals"], json!([{"currency": "EUR", "charges_minor": 150_000, "refunds_minor": 150_000, "voids_minor": 0, "net_minor": 0, "entries": 2}]));
        assert_eq!(v["customer"]["id"], customer_id.as_str());
    }
    // Paged one by one: the same rows in the same order, the totals of the whole filter on each page.
    let r = t.get(&format!("/api/admin/ledger?customer={customer_id}&limit=1"), Some(&admin)).await;
    let p1 = r.json();
    assert_eq!(items(&p1).len(), 1);
    assert_eq!(p1["totals"][0]["entries"], 2);
    let cursor = p1["next_cursor"].as_str().expect("a next page").to_string();
    let p2 = t.get(&format!("/api/admin/ledger?customer={customer_id}&limit=1&cursor={cursor}"), Some(&admin)).await.json();
    assert_eq!((items(&p1)[0]["kind"].as_str(), items(&p2)[0]["kind"].as_str()), (Some("charge"), Some("refund")));
    assert_eq!(p2["next_cursor"], Value::Null);
    // The other customer's ledger holds only their deposit.
    let v = t.get(&format!("/api/admin/ledger?customer={}", other.customer_id), Some(&admin)).await.json();
    assert_eq!(items(&v).len(), 1, "{v}");
    assert_eq!(items(&v)[0]["reference"], other_pid.as_str());
    assert_eq!(v["totals"][0]["net_minor"], 150_000);
    // Unknown customer: 404. Without filters the ledger answers as before (every row).
    let r = t.get("/api/admin/ledger?customer=nobody%40example.com", Some(&admin)).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(r.is_problem());
    let all = t.get("/api/admin/ledger", Some(&admin)).await.json();
    assert_eq!(items(&all).len(), 3, "{all}");
    // Employees and support do not read the ledger.
    for tok in [&employee, &support] {
        assert_eq!(t.get(&format!("/api/admin/ledger?customer={customer_id}"), Some(tok)).await.status, 403);
    }
    assert_ledger_invariants(&t);
    t.stop().await;
}

/// Escalations of two kinds: the kind filter returns only one kind, the status and age filters
/// narrow further, pages are stable (the same ids in the same order whatever the page size), and
/// the list without parameters answers as before. A non-money escalation cannot be refunded.
#[tokio::test(flavor = "multi_thread")]
async fn escalations_filter_by_kind_status_and_age_with_stable_pages() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    assert_eq!(t.get("/api/admin/escalations", Some(&admin)).await.status, 200);
    let now = t.now_ms();
    let day = 24 * HOUR;
    {
        let db = t.db();
        for i in 0..5i64 {
            let kind = if i % 2 == 0 { "notify" } else { "place-factory-order" };
            db.execute(
                "INSERT INTO escalations(id, job_id, kind, detail, created_at) VALUES (?1, ?2, ?3, 'gave up after 4 attempt(s): 503', ?4)",
                rusqlite::params![format!("esc_f{i}"), format!("job_f{i}"), kind, now - (10 - i) * day - HOUR],
            )
            .unwrap();
        }
        db.execute("UPDATE escalations SET resolution = 'handled', resolved_by = 'emp_x', resolved_at = ?1, note = 'done' WHERE id = 'esc_f0'", [now]).unwrap();
    }
    let ids = |v: &Value| -> Vec<String> { items(v).iter().map(|e| e["id"].as_str().unwrap().to_string()).collect() };

    let all = t.get("/api/admin/escalations", Some(&admin)).await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(ids(&all.json()), ["esc_f0", "esc_f1", "esc_f2", "esc_f3", "esc_f4"]);
    let v = t.get("/api/admin/escalations?kind=notify", Some(&admin)).await.json();
    assert_eq!(ids(&v), ["esc_f0", "esc_f2", "esc_f4"]);
    assert!(items(&v).iter().all(|e| e["kind"] == "notify"));
    let v = t.get("/api/admin/escalations?kind=notify&status=open", Some(&admin)).await.json();
    assert_eq!(ids(&v), ["esc_f2", "esc_f4"]);
    let v = t.get("/api/admin/escalations?status=resolved", Some(&admin)).await.json();
    assert_eq!(ids(&v), ["esc_f0"]);
    // Created 10, 9, 8, 7, 6 days ago: older than 8 days → the first three.
    let v = t.get("/api/admin/escalations?older_than_days=8", Some(&admin)).await.json();
    assert_eq!(ids(&v), ["esc_f0", "esc_f1", "esc_f2"]);
    let v = t.get(&format!("/api/admin/escalations?before={}", now - 9 * day), Some(&admin)).await.json();
    assert_eq!(ids(&v), ["esc_f0", "esc_f1"]);
    let v = t.get("/api/admin/escalations?kind=payment-mismatch", Some(&admin)).await.json();
    assert!(items(&v).is_empty());

    // Stable pages of two: the same ids in the same order as one page.
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let v = t.get(&format!("/api/admin/escalations?status=open&limit=2{q}"), Some(&admin)).await.json();
        paged.extend(ids(&v));
        cursor = v["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(paged, ["esc_f1", "esc_f2", "esc_f3", "esc_f4"]);

    // Bad filters: 400 naming the parameter.
    for (q, field) in [("status=maybe", "/status"), ("older_than_days=-1", "/older_than_days"), ("before=soon", "/before"), ("kind=DROP%20TABLE", "/kind")] {
        let r = t.get(&format!("/api/admin/escalations?{q}"), Some(&admin)).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.is_problem() && r.text.contains(field), "{q}: {}", r.text);
    }
    // Not about money: no refund (409), nothing written.
    let r = t.post_json("/api/admin/escalations/esc_f2/refund", &json!({"note": "try"}), Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("no money") || r.text.contains("moves no money"), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'return-payment'"), 0);
    // Other roles: 403 on the filtered list.
    for tok in [t.employee_token().await, t.support_token().await] {
        assert_eq!(t.get("/api/admin/escalations?kind=notify", Some(&tok)).await.status, 403);
    }
    t.stop().await;
}

/// A subscription charge declined by the gateway is in dunning: it appears in collections with
/// its failures and next retry; a charge that failed at settlement opens a collection case,
/// listed after it (open first, oldest first). The case is closed by hand with a note (audited,
/// no money moves), then listed after the open ones; a charge still in dunning cannot be closed.
/// Other roles: 403, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn failed_subscription_charges_show_in_collections_with_their_dunning_state() {
    let (t, token, vin) = TestApp::with_operational_vehicle(741).await;
    let customer = t.customer_of(&vin).0;
    let mut subs = Vec::new();
    for code in ["entertainment-plus", "premium-audio"] {
        subs.push(t.bought_service(&token, &vin, code, &format!("sub-741-{code}")).await["id"].as_str().unwrap().to_string());
        t.tick("ota").await;
    }
    // Dec 1: one charge declined (dunning), the other accepted and then failing at settlement.
    t.sims.payment().decline(&customer, 1);
    t.advance_to(midnight_ms(2026, 12, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["failed"], 1, "{r}");
    let status_of = |id: &str| -> (String, Option<String>) {
        t.db().query_row("SELECT status, payment_id FROM subscription_charges WHERE subscription_id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?))).unwrap()
    };
    let (declined, accepted) = if status_of(&subs[0]).0 == "failed" { (subs[0].clone(), subs[1].clone()) } else { (subs[1].clone(), subs[0].clone()) };
    let pid = status_of(&accepted).1.expect("accepted charge has a payment");
    t.advance(Duration::from_secs(3600));
    assert_eq!(t.sims.payment().settle_with(&pid, false, json!({"failure-reason": "insufficient_funds"})).await.unwrap(), 200);

    let admin = t.admin_token().await;
    let r = t.get("/api/admin/collections", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = items(&r.json());
    assert_eq!(list.len(), 2, "{list:?}");
    let (first, second) = (&list[0], &list[1]);
    assert_eq!((first["source"].as_str(), first["service_id"].as_str()), (Some("charge"), Some(declined.as_str())), "{first}");
    assert_eq!(first["status"], "open");
    assert_eq!(first["customer_email"], "lucia.741@example.com");
    assert!(first["customer_name"].as_str().is_some_and(|n| !n.is_empty()));
    assert_eq!(first["dunning"]["charge_status"], "failed");
    assert_eq!(first["dunning"]["failures"], 1);
    assert!(first["dunning"]["next_attempt_at"].as_i64().unwrap() > midnight_ms(2026, 12, 1) + HOUR, "{first}");
    let name = if declined == subs[0] { "Entertainment Plus" } else { "Premium Audio" };
    assert_eq!(first["option_name"], name, "the name the customer knows: {first}");
    assert_eq!(first["period"], "2026-11");
    assert!(first["amount_minor"].as_i64().unwrap() > 0);
    assert_eq!((second["source"].as_str(), second["payment_id"].as_str()), (Some("collection"), Some(pid.as_str())), "{second}");
    assert_eq!(second["dunning"]["charge_status"], "unpaid");
    assert!(second["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(first["since"].as_i64() <= second["since"].as_i64());
    let case_id = second["id"].as_str().unwrap().to_string();

    // Role boundaries: nothing written.
    let audit_before = t.count("SELECT COUNT(*) FROM audit_log");
    let close = format!("/api/admin/collections/{case_id}/close");
    let note = json!({"note": "paid by bank transfer at the dealership"});
    let employee = t.employee_token().await;
    let support = t.support_token().await;
    let token = t.login("lucia.741@example.com", CUSTOMER_NEW_PASSWORD).await;
    for (who, tok) in [("customer", token.as_str()), ("employee", employee.as_str()), ("support", support.as_str())] {
        assert_eq!(t.get("/api/admin/collections", Some(tok)).await.status, 403, "{who}");
        let r = t.post_json(&close, &note, Some(tok), None).await;
        assert_eq!(r.status, 403, "{who}: {}", r.text);
    }
    assert_eq!(t.get("/api/admin/collections", None).await.status, 401);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), audit_before);
    assert_eq!(t.count("SELECT COUNT(*) FROM collections WHERE status = 'open'"), 1);
    let r = t.post_json(&close, &json!({"note": ""}), Some(&admin), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(t.post_json("/api/admin/collections/col_nope/close", &note, Some(&admin), None).await.status, 404);
    // A charge still in dunning is the billing tick's: 409.
    let r = t.post_json(&format!("/api/admin/collections/{}/close", first["id"].as_str().unwrap()), &note, Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);

    let ledger_before = t.count("SELECT COUNT(*) FROM ledger");
    let r = t.post_json(&close, &note, Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!((v["status"].as_str(), v["note"].as_str()), (Some("closed"), note["note"].as_str()));
    assert!(v["closed_by"].as_str().is_some() && v["closed_at"].as_i64().is_some(), "{v}");
    assert_eq!(t.count("SELECT COUNT(*) FROM ledger"), ledger_before, "no money moves");
    assert_eq!(t.post_json(&close, &note, Some(&admin), None).await.status, 409);
    let audit = items(&t.get(&format!("/api/admin/audit?target={case_id}"), Some(&admin)).await.json());
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "admin.collection.close");

    // Open first: the closed case now comes last; `status=open` leaves it out; pages are stable.
    let v = t.get("/api/admin/collections?status=open", Some(&admin)).await.json();
    assert_eq!(items(&v).len(), 1);
    let p1 = t.get("/api/admin/collections?limit=1", Some(&admin)).await.json();
    assert_eq!(items(&p1)[0]["source"], "charge");
    let cursor = p1["next_cursor"].as_str().expect("next page").to_string();
    let p2 = t.get(&format!("/api/admin/collections?limit=1&cursor={cursor}"), Some(&admin)).await.json();
    assert_eq!(items(&p2)[0]["id"], case_id.as_str());
    assert_eq!(items(&p2)[0]["status"], "closed");
    assert_eq!(p2["next_cursor"], Value::Null);
    assert_eq!(t.get("/api/admin/collections?cursor=bogus", Some(&admin)).await.status, 400);
    assert_eq!(t.get("/api/admin/collections?status=maybe", Some(&admin)).await.status, 400);
    t.stop_with_admin_ledger_check().await;
}

/// Payment mismatches refunded by hand: a settlement reported for less than the payment is
/// refunded up to what the books recorded as taken (never more), once; one reported in another
/// currency than the gateway's record cannot be refunded blindly (409, nothing written).
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_mismatch_is_refunded_by_hand_up_to_what_the_books_hold() {
    let t = TestApp::start().await;
    let (c1, p1) = crate::journey::reservation_started(&t, 891).await;
    assert_eq!(t.sims.payment().settle_with(&p1, true, json!({"amount-minor": 149_000})).await.unwrap(), 200);
    let (c2, p2) = crate::journey::reservation_started(&t, 892).await;
    assert_eq!(t.sims.payment().settle_with(&p2, true, json!({"currency": "USD"})).await.unwrap(), 200);
    let admin = t.admin_token().await;
    let list = items(&t.get("/api/admin/escalations?kind=payment-mismatch", Some(&admin)).await.json());
    assert_eq!(list.len(), 2, "{list:?}");
    let esc = |pid: &str| list.iter().find(|e| e["job_id"] == pid).expect("escalation of the payment")["id"].as_str().unwrap().to_string();
    assert!(list.iter().all(|e| e["refundable"] == true));

    // Another currency in the books than at the gateway: 409, nothing written.
    let audit_before = t.count("SELECT COUNT(*) FROM audit_log");
    let r = t.post_json(&format!("/api/admin/escalations/{}/refund", esc(&p2)), &json!({"note": "refund the USD one"}), Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem() && r.text.contains("EUR"), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), audit_before);
    assert_eq!(refunded_at_gateway(&t, &p2), 0);

    // The books hold 149,000 taken for p1: the refund stops there.
    let r = t.post_json(&format!("/api/admin/escalations/{}/refund", esc(&p1)), &json!({"note": "customer asked for the money back"}), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["refund"]["amount_minor"], 149_000);
    assert_eq!(r.json()["refund"]["state"], "refunded");
    assert_eq!(refunded_at_gateway(&t, &p1), 149_000);
    assert_eq!(ledger_net(&t, &p1), 0);
    assert_eq!(ledger_rows(&t, "refund", &p1), 1);
    let r = t.post_json(&format!("/api/admin/escalations/{}/refund", esc(&p1)), &json!({"note": "again"}), Some(&admin), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(refunded_at_gateway(&t, &p1), 149_000);
    // Neither order was paid by the mismatched money.
    for c in [&c1, &c2] {
        assert_eq!(t.order(c).await["status"], "reservation-pending");
    }
    assert_ledger_invariants(&t);
    t.stop().await;
}
