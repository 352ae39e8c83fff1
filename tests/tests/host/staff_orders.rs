//! Issue 8, second slice — staff orders and sales (server side): a returning customer's second
//! order on the same account; the sale form's model price list; finding and opening orders;
//! cancelling a sale before the vehicle is paid for. Role boundaries for each route.

use caas_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

fn order_ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().or(o["order_id"].as_str()).unwrap().to_string()).collect()
}

/// A returning customer: a sale for an e-mail that already has an account attaches a new order to
/// it (no 409, no new credentials: a "new order" e-mail instead), also after the first
/// reservation was lost (sale abandoned); a different person behind the same e-mail is a 409
/// naming the mismatch, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn a_returning_customer_gets_a_second_order_on_the_same_account() {
    let t = TestApp::start().await;
    let (_token, first_order, customer_id) = customer_with_sale(&t, 841).await;
    let email = "lucia.841@example.com";

    // The first reservation is never paid: the deadline tick abandons the sale.
    t.advance(Duration::from_secs(8 * 86_400));
    assert_eq!(t.tick("deadlines").await["abandoned"], 1);
    t.tick("retry").await;

    // Same e-mail, another person (national id and name differ): 409 naming both, nothing written.
    let employee = t.employee_token().await;
    let orders_before = t.count("SELECT COUNT(*) FROM orders");
    let mut other = sale_body(841);
    other["customer"]["national_id"] = json!("Y7654321Z");
    other["customer"]["full_name"] = json!("Someone Else");
    let r = t.post_json("/api/sales", &other, Some(&employee), Some("again-841-other")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem());
    assert!(r.text.contains("national_id") && r.text.contains("full_name"), "{}", r.text);
    let mut only_id = sale_body(841);
    only_id["customer"]["national_id"] = json!("Y7654321Z");
    let r = t.post_json("/api/sales", &only_id, Some(&employee), Some("again-841-id")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("national_id") && !r.text.contains("full_name"), "{}", r.text);
    assert_eq!(t.count("SELECT COUNT(*) FROM orders"), orders_before);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers"), 1);

    // The same person (name spelled with other case and spacing): a new order on the same account.
    let mut again = sale_body(841);
    again["customer"]["full_name"] = json!("  lucía  FERNÁNDEZ 841 ");
    again["model"] = json!("CAAS-SUV-24");
    again["prices"] = json!({"deposit_minor": 200_000, "currency": "EUR"});
    let r = t.post_json("/api/sales", &again, Some(&employee), Some("again-841")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sale = r.json();
    assert_eq!(sale["customer_id"], customer_id.as_str());
    assert_eq!(sale["returning_customer"], true);
    assert_eq!(sale["credentials_sent_to"], Value::Null);
    let second_order = sale["order_id"].as_str().unwrap().to_string();
    assert_ne!(second_order, first_order);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers"), 1);

    // No new credentials: the customer is told a new order was registered; the old password works.
    t.tick("retry").await;
    let mails = t.sims.notify().messages_to(email);
    assert_eq!(mails.iter().filter(|m| m["template"] == "credentials").count(), 1, "{mails:?}");
    let notice = mails.iter().find(|m| m["template"] == "order-registered").expect("new-order e-mail");
    assert!(notice["body"].as_str().unwrap().contains(&second_order), "{notice}");
    let token = t.customer_token(841).await;
    let list = t.get("/api/orders", Some(&token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let ids = order_ids(&list.json());
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&first_order) && ids.contains(&second_order), "{ids:?}");
    let o = t.get(&format!("/api/orders/{second_order}"), Some(&token)).await;
    assert_eq!(o.status, 200, "{}", o.text);
    assert_eq!(o.json()["status"], "reservation-pending");
    let o = t.get(&format!("/api/orders/{first_order}"), Some(&token)).await;
    assert_eq!(o.json()["status"], "abandoned");
    // The new order can be paid like any other.
    let r = t.post_json(&format!("/api/orders/{second_order}/reservation-payment"), &json!({}), Some(&token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    t.stop().await;
}

/// The sale form's list: every model with its list prices and the catalog's plan options, for
/// employees and admins only.
#[tokio::test(flavor = "multi_thread")]
async fn the_sale_form_offers_the_model_price_list_and_the_catalog_options() {
    let t = TestApp::start().await;
    let (customer, _, _) = customer_with_sale(&t, 845).await;
    let employee = t.employee_token().await;
    let r = t.get("/api/sales/models", Some(&employee)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    let models = v["models"].as_array().unwrap();
    let sedan = models.iter().find(|m| m["code"] == "CAAS-SEDAN-24").expect("sedan listed");
    assert_eq!(sedan["list_prices"], json!([{"amount_minor": 3_450_000, "currency": "EUR"}]));
    assert!(sedan["name"].as_str().unwrap().contains("Sedan"));
    assert!(models.iter().any(|m| m["code"] == "CAAS-SUV-24"));
    assert_eq!(v["max_discount_percent"], 10);
    let options = v["plan_options"].as_array().unwrap();
    let seats = options.iter().find(|o| o["code"] == "heated-seats").expect("heated seats offered");
    assert_eq!(seats["price"]["currency"], "EUR");

    // A retired option is no longer offered to a plan comercial.
    let admin = t.admin_token().await;
    let r = t.post_json("/api/catalog/admin/options/heated-seats/retire", &json!({}), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = t.get("/api/sales/models", Some(&admin)).await;
    assert_eq!(r.status, 200, "admins read it too: {}", r.text);
    assert!(!r.json()["plan_options"].as_array().unwrap().iter().any(|o| o["code"] == "heated-seats"));

    let support = t.support_token().await;
    for (who, tok) in [("customer", customer.as_str()), ("support", support.as_str())] {
        let r = t.get("/api/sales/models", Some(tok)).await;
        assert_eq!(r.status, 403, "{who}: {}", r.text);
        assert!(r.is_problem());
    }
    assert_eq!(t.get("/api/sales/models", None).await.status, 401);
    let r = t.post_json("/api/sales/models", &json!({}), Some(&employee), None).await;
    assert_eq!(r.status, 405, "{}", r.text);
    t.stop().await;
}

/// A matriculated order of customer `n` (VIN and plate known): (customer, order json).
async fn matriculated(t: &TestApp, n: u32) -> (Customer, Value) {
    let (token, order_id, customer_id) = customer_with_sale(t, n).await;
    let c = Customer { email: format!("lucia.{n}@example.com"), token, order_id, customer_id };
    t.pay_and_settle(&c, "reservation").await;
    t.manufacture(&c.order_id).await;
    t.pay_and_settle(&c, "final").await;
    t.tick("retry").await;
    let o = t.order(&c).await;
    assert_eq!(o["status"], "matriculated", "{o}");
    (c, o)
}

fn row_ids(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect()
}

/// Employees and admins find orders by customer name, e-mail, VIN, plate, order id, status and
/// date, newest first in stable pages, and open one with its timeline, payments, ledger and the
/// messages sent to the customer.
#[tokio::test(flavor = "multi_thread")]
async fn staff_find_orders_and_open_one_with_payments_ledger_and_messages() {
    let t = TestApp::start().await;
    let (c1, _o1, _) = customer_with_sale(&t, 851).await;
    let _ = c1;
    t.advance(Duration::from_secs(60));
    let (_, o2, _) = customer_with_sale(&t, 852).await;
    t.advance(Duration::from_secs(60));
    let (c3, o3) = matriculated(&t, 853).await;
    let (vin, plate) = (o3["vin"].as_str().unwrap().to_string(), o3["plate"].as_str().unwrap().to_string());
    let employee = t.employee_token().await;
    let search = |q: &str| format!("/api/staff/orders?q={}", q.replace(' ', "%20"));

    // Newest first; everything fits one page.
    let r = t.get("/api/staff/orders", Some(&employee)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = row_ids(&r.json());
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], c3.order_id);
    assert_eq!(r.json()["next_cursor"], Value::Null);
    assert_eq!(r.json()["items"][0]["customer_name"], "Lucía Fernández 853");

    // Search: name (any case), e-mail, VIN, plate (spacing ignored), order id.
    for (q, want) in [
        ("FERNÁNDEZ 852", o2.as_str()),
        ("lucia.852@EXAMPLE.com", o2.as_str()),
        (&vin.to_lowercase(), c3.order_id.as_str()),
        (&plate.replace(' ', "").replace('-', ""), c3.order_id.as_str()),
        (&o2.to_uppercase(), o2.as_str()),
    ] {
        let r = t.get(&search(q), Some(&employee)).await;
        assert_eq!(r.status, 200, "{q}: {}", r.text);
        assert_eq!(row_ids(&r.json()), vec![want.to_string()], "q={q}");
    }
    let r = t.get(&search("%25"), Some(&employee)).await;
    assert_eq!(row_ids(&r.json()).len(), 0, "LIKE wildcards are literal");
    let r = t.get("/api/staff/orders?status=matriculated", Some(&employee)).await;
    assert_eq!(row_ids(&r.json()), vec![c3.order_id.clone()]);

    // Dates: a day range, milliseconds.
    let later = t.now_ms() + 1;
    let r = t.get(&format!("/api/staff/orders?from={later}"), Some(&employee)).await;
    assert_eq!(row_ids(&r.json()).len(), 0);
    let r = t.get("/api/staff/orders?from=1970-01-01&to=1970-01-02", Some(&employee)).await;
    assert_eq!(row_ids(&r.json()).len(), 0);
    let r = t.get("/api/staff/orders?from=2000-01-01&to=9999-12-31", Some(&employee)).await;
    assert_eq!(row_ids(&r.json()).len(), 3);

    // Stable pages: a sale registered between two pages does not shift them.
    let r = t.get("/api/staff/orders?limit=2", Some(&employee)).await;
    let first = r.json();
    assert_eq!(row_ids(&first), all[..2].to_vec());
    let cursor = first["next_cursor"].as_str().expect("a second page").to_string();
    let _ = t.register_sale(&sale_body(854), "sale-854").await;
    let r = t.get(&format!("/api/staff/orders?limit=2&cursor={cursor}"), Some(&employee)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(row_ids(&r.json()), all[2..].to_vec());
    assert_eq!(r.json()["next_cursor"], Value::Null);

    // Bad input is a problem, never a 5xx.
    for bad in ["status=nope", "from=2026-13-01", "to=yesterday", "limit=0", "cursor=zz", &format!("q={}", "x".repeat(101))] {
        let r = t.get(&format!("/api/staff/orders?{bad}"), Some(&employee)).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.is_problem());
    }

    // One order in full (the last messages delivered first).
    t.tick("retry").await;
    let admin = t.admin_token().await;
    let r = t.get(&format!("/api/staff/orders/{}", c3.order_id), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = r.json();
    assert_eq!(d["order"]["status"], "matriculated");
    assert_eq!(d["order"]["plate"], plate.as_str());
    assert_eq!(d["customer"]["email"], "lucia.853@example.com");
    assert_eq!(d["pricing"]["list_price_minor"], 3_450_000);
    assert_eq!(d["cancellable"], false);
    let kinds: Vec<&str> = d["timeline"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"staff:sale-registered") && kinds.contains(&"payment-settled"), "{kinds:?}");
    let pays = d["payments"].as_array().unwrap();
    assert_eq!(pays.len(), 2, "{pays:?}");
    assert!(pays.iter().all(|p| p["status"] == "settled"), "{pays:?}");
    let ledger = d["ledger"].as_array().unwrap();
    assert_eq!(ledger.iter().filter(|l| l["kind"] == "charge").map(|l| l["amount_minor"].as_i64().unwrap()).sum::<i64>(), 3_450_000);
    let messages = d["messages"].as_array().unwrap();
    let templates: Vec<&str> = messages.iter().map(|m| m["template"].as_str().unwrap()).collect();
    assert!(templates.contains(&"credentials") && templates.contains(&"reservation-confirmed"), "{templates:?}");
    assert!(messages.iter().all(|m| m["status"] == "done"), "{messages:?}");
    assert!(messages.iter().all(|m| m["recipient"] != EMPLOYEE_EMAIL), "staff e-mails are not the customer's messages");

    // Role boundaries.
    let support = t.support_token().await;
    for path in ["/api/staff/orders".to_string(), format!("/api/staff/orders/{}", c3.order_id)] {
        for (who, tok) in [("customer", c3.token.as_str()), ("support", support.as_str())] {
            let r = t.get(&path, Some(tok)).await;
            assert_eq!(r.status, 403, "{who} {path}: {}", r.text);
        }
        assert_eq!(t.get(&path, None).await.status, 401);
    }
    assert_eq!(t.get("/api/staff/orders/ord_nope", Some(&employee)).await.status, 404);
    assert_eq!(t.post_json("/api/staff/orders", &json!({}), Some(&employee), None).await.status, 405);
    t.stop().await;
}

fn gateway_status(t: &TestApp, pid: &str) -> String {
    t.sims.payment().payment(pid).expect("payment at the gateway")["status"].as_str().unwrap().to_string()
}

fn refunded_at_gateway(t: &TestApp, pid: &str) -> i64 {
    t.sims.payment().refunds().iter().filter(|r| r["payment-id"] == pid).map(|r| r["amount-minor"].as_i64().unwrap()).sum()
}

/// The dealership cancels a sale before the vehicle is paid for: pending payment voided at the
/// gateway, a settled deposit refunded, the vehicle back to stock, reason and employee on the
/// timeline and in the audit log, the customer told in their language. After the vehicle is paid
/// for: 409 naming the state, nothing written. Role boundaries.
#[tokio::test(flavor = "multi_thread")]
async fn the_dealership_cancels_a_sale_before_the_vehicle_is_paid_for() {
    let t = TestApp::start().await;
    let employee = t.employee_token().await;
    // A: reservation pending with a payment started at the gateway (Spanish-speaking customer).
    let mut body = sale_body(861);
    body["language"] = json!("es");
    let (a_order, _) = t.register_sale(&body, "sale-861").await;
    let a_token = t.sign_in_from_credentials_email("lucia.861@example.com", CUSTOMER_NEW_PASSWORD).await;
    let a = Customer { email: "lucia.861@example.com".into(), token: a_token, order_id: a_order.clone(), customer_id: String::new() };
    let a_pid = t.start_payment(&a, "reservation").await;
    // B: deposit paid, vehicle built and at the dealership (vehicle-available).
    let (b_token, b_order, b_customer) = customer_with_sale(&t, 862).await;
    let b = Customer { email: "lucia.862@example.com".into(), token: b_token, order_id: b_order.clone(), customer_id: b_customer };
    let b_pid = t.pay_and_settle(&b, "reservation").await;
    t.manufacture(&b.order_id).await;
    let b_vin = t.order(&b).await["vin"].as_str().expect("vin").to_string();
    assert_eq!(t.order(&b).await["status"], "vehicle-available");
    // C: fully paid (matriculated): too late.
    let (c, _) = matriculated(&t, 863).await;

    let cancel = |id: &str| format!("/api/staff/orders/{id}/cancel");
    let reason = json!({"reason": "customer changed their mind at the dealership"});
    // Role boundaries and bad input: nothing written.
    let audit_before = t.count("SELECT COUNT(*) FROM audit_log");
    let support = t.support_token().await;
    for (who, tok) in [("customer", a.token.as_str()), ("support", support.as_str())] {
        let r = t.post_json(&cancel(&a_order), &reason, Some(tok), None).await;
        assert_eq!(r.status, 403, "{who}: {}", r.text);
    }
    assert_eq!(t.post_json(&cancel(&a_order), &reason, None, None).await.status, 401);
    let r = t.post_json(&cancel(&a_order), &json!({}), Some(&employee), None).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("/reason"), "{}", r.text);
    assert_eq!(t.post_json(&cancel("ord_nope"), &reason, Some(&employee), None).await.status, 404);
    assert_eq!(t.get(&cancel(&a_order), Some(&employee)).await.status, 405);
    // Fully paid: 409 naming the state, nothing written.
    let r = t.post_json(&cancel(&c.order_id), &reason, Some(&employee), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.is_problem() && r.text.contains("matriculated"), "{}", r.text);
    assert_eq!(t.order(&c).await["status"], "matriculated");
    assert_eq!(t.count("SELECT COUNT(*) FROM audit_log"), audit_before);
    assert_eq!(t.order(&a).await["status"], "reservation-pending");

    // A: the pending reservation payment is voided at the gateway; nothing was ever charged.
    let r = t.post_json(&cancel(&a_order), &reason, Some(&employee), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!((v["status"].as_str(), v["previous_status"].as_str()), (Some("cancelled"), Some("reservation-pending")));
    assert_eq!(v["payments_voided"], json!([a_pid]));
    assert_eq!(v["deposit_refund"], Value::Null);
    // Cancelling again: 409 naming the state.
    let r = t.post_json(&cancel(&a_order), &reason, Some(&employee), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("cancelled"), "{}", r.text);

    // B (an admin this time): the settled deposit is refunded, the vehicle goes back to stock.
    let admin = t.admin_token().await;
    let r = t.post_json(&cancel(&b_order), &json!({"reason": "vehicle damaged in transport"}), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["deposit_refund"], json!({"payment_id": b_pid, "amount_minor": 150_000, "currency": "EUR"}));
    assert_eq!(r.json()["vehicles_to_stock"], 1);
    let stock: String = t.db().query_row("SELECT status FROM vehicles WHERE vin = ?1", [&b_vin], |r| r.get(0)).unwrap();
    assert_eq!(stock, "stock");

    // The money moves through the return-payment jobs (retry tick); the customers are told.
    t.tick("retry").await;
    assert_eq!(gateway_status(&t, &a_pid), "voided");
    assert_eq!(refunded_at_gateway(&t, &b_pid), 150_000);
    assert_eq!(ledger_net(&t, &b_pid), 0, "deposit charged then refunded");
    assert_eq!(ledger_net(&t, &a_pid), 0, "never charged");
    let a_mail = t.sims.notify().messages_to("lucia.861@example.com").into_iter().find(|m| m["template"] == "sale-cancelled").expect("customer A told");
    assert!(a_mail["subject"].as_str().unwrap().contains("cancelado"), "in Spanish: {a_mail}");
    let b_mail = t.sims.notify().messages_to("lucia.862@example.com").into_iter().find(|m| m["template"] == "sale-cancelled").expect("customer B told");
    assert!(b_mail["body"].as_str().unwrap().contains("refund"), "{b_mail}");

    // The customer sees the order cancelled (no staff details); the staff see who and why.
    let o = t.order(&b).await;
    assert_eq!(o["status"], "cancelled");
    let d = t.get(&format!("/api/staff/orders/{b_order}"), Some(&employee)).await.json();
    let staff_event = d["timeline"].as_array().unwrap().iter().find(|e| e["kind"] == "staff:sale-cancelled").expect("staff event").clone();
    assert!(staff_event["detail"].as_str().unwrap().contains("vehicle damaged in transport"), "{staff_event}");
    assert!(staff_event["detail"].as_str().unwrap().contains("admin"), "{staff_event}");
    assert!(d["payments"].as_array().unwrap().iter().any(|p| p["payment_id"] == b_pid.as_str()));
    assert!(d["messages"].as_array().unwrap().iter().any(|m| m["template"] == "sale-cancelled"));
    let audit = t.get(&format!("/api/admin/audit?target={a_order}"), Some(&admin)).await.json();
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!((items[0]["action"].as_str(), items[0]["actor_role"].as_str()), (Some("staff.order.cancel"), Some("employee")));
    assert_eq!(items[0]["before"]["status"], "reservation-pending");
    assert_eq!(items[0]["after"]["reason"], "customer changed their mind at the dealership");
    // Paying a cancelled order is refused.
    let r = t.post_json(&format!("/api/orders/{a_order}/reservation-payment"), &json!({}), Some(&a.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    t.stop().await;
}

fn pointers(problem: &Value) -> Vec<String> {
    problem["errors"].as_array().map(|a| a.iter().map(|e| e["pointer"].as_str().unwrap_or_default().to_string()).collect()).unwrap_or_default()
}

/// The plan comercial is checked against the catalog at the sale: an unknown or retired option
/// code is a 422 naming the codes and nothing is written; the documented example (a catalog code
/// in another case and the legacy plan code) stays valid.
#[tokio::test(flavor = "multi_thread")]
async fn plan_options_are_checked_against_the_catalog_at_the_sale() {
    let t = TestApp::start().await;
    let employee = t.employee_token().await;
    let mut body = sale_body(850);
    body["plan_options"] = json!(["heated-seats", "warp-drive", "time-travel"]);
    let r = t.post_json("/api/sales", &body, Some(&employee), Some("plan-850-a")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.is_problem());
    let p = r.json();
    assert!(p["type"].as_str().unwrap().ends_with("unknown-plan-option"), "{p}");
    assert!(p["detail"].as_str().unwrap().contains("warp-drive, time-travel"), "{p}");
    assert_eq!(pointers(&p), ["/plan_options/1", "/plan_options/2"]);

    // A retired option can no longer be sold in a plan comercial.
    let admin = t.admin_token().await;
    let r = t.post_json("/api/catalog/admin/options/premium-audio/retire", &json!({}), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    body["plan_options"] = json!(["HEATED-SEATS", "premium-audio"]);
    let r = t.post_json("/api/sales", &body, Some(&employee), Some("plan-850-b")).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let p = r.json();
    assert!(p["detail"].as_str().unwrap().contains("retired") && p["detail"].as_str().unwrap().contains("premium-audio"), "{p}");
    assert_eq!(pointers(&p), ["/plan_options/1"]);
    assert_eq!(t.count("SELECT COUNT(*) FROM orders"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs"), 0, "no e-mail queued");

    // The documented example and offered options in any case are sold as before.
    let r = t.post_json("/api/sales", &sale_body(850), Some(&employee), Some("plan-850-c")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut other = sale_body(851);
    other["plan_options"] = json!(["Parking-Assist", "entertainment-plus"]);
    let r = t.post_json("/api/sales", &other, Some(&employee), Some("plan-851")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    t.stop().await;
}

/// Financing terms at the sale (issues 8/10): validated against the price after discount and the
/// deposit (bad terms → 422, nothing written); recorded with the order and shown to the customer
/// (order, expediente) and the staff; the final payment the customer is asked for is what is not
/// financed. A sale without financing answers exactly as before.
#[tokio::test(flavor = "multi_thread")]
async fn a_financed_sale_leaves_only_the_unfinanced_part_as_final_payment() {
    let t = TestApp::start().await;
    let employee = t.employee_token().await;
    // Sedan: list 34 500,00 €, discount 1 000,00 € → price 33 500,00 €; deposit 1 500,00 €.
    let mut body = sale_body(852);
    body.as_object_mut().unwrap().remove("prices");
    body["prices"] = json!({"deposit_minor": 150_000, "currency": "EUR"});
    body["discount"] = json!({"amount_minor": 100_000, "reason": "spring campaign"});
    let good = json!({"financed_amount_minor": 2_000_000, "term_months": 48, "monthly_amount_minor": 45_000, "lender_reference": "CaaS Bank L-852"});
    let bad = [
        (json!({"term_months": 5}), "/financing/term_months"),
        (json!({"term_months": 121}), "/financing/term_months"),
        // price after discount − deposit = 3 200 000: more cannot be financed.
        (json!({"financed_amount_minor": 3_200_001, "monthly_amount_minor": 100_000}), "/financing/financed_amount_minor"),
        (json!({"monthly_amount_minor": 41_666}), "/financing/monthly_amount_minor"),
        (json!({"financed_amount_minor": 0}), "/financing/financed_amount_minor"),
        (json!({"lender_reference": ""}), "/financing/lender_reference"),
    ];
    for (i, (change, pointer)) in bad.iter().enumerate() {
        let mut f = good.clone();
        for (k, v) in change.as_object().unwrap() {
            f[k] = v.clone();
        }
        let mut b = body.clone();
        b["financing"] = f;
        let r = t.post_json("/api/sales", &b, Some(&employee), Some(&format!("fin-bad-{i}"))).await;
        assert_eq!(r.status, 422, "{change}: {}", r.text);
        assert!(r.is_problem());
        assert!(pointers(&r.json()).contains(&pointer.to_string()), "{change}: {}", r.text);
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM orders"), 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM customers"), 0);

    body["financing"] = good.clone();
    let r = t.post_json("/api/sales", &body, Some(&employee), Some("fin-852")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["financing"], good);
    let order_id = r.json()["order_id"].as_str().unwrap().to_string();
    let sale = t.get(&format!("/api/sales/{order_id}"), Some(&employee)).await.json();
    assert_eq!(sale["financing"], good);
    assert!(sale["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "financing-agreed"), "{sale}");
    let staff = t.get(&format!("/api/staff/orders/{order_id}"), Some(&employee)).await.json();
    assert_eq!(staff["order"]["financing"], good);
    assert_eq!(staff["order"]["prices"]["final_payment_minor"], 1_200_000);

    let token = t.sign_in_from_credentials_email("lucia.852@example.com", CUSTOMER_NEW_PASSWORD).await;
    let c = Customer { email: "lucia.852@example.com".into(), token, order_id, customer_id: String::new() };
    let o = t.order(&c).await;
    assert_eq!(o["financing"], good);
    assert_eq!(o["prices"], json!({"currency": "EUR", "deposit_minor": 150_000, "final_payment_minor": 1_200_000, "vehicle_price_minor": 3_350_000}));
    let e = t.get("/api/expediente", Some(&c.token)).await.json();
    assert_eq!(e["orders"][0]["financing"], good, "{e}");

    // The final payment charged at the gateway is the unfinanced part.
    t.pay_and_settle(&c, "reservation").await;
    t.manufacture(&c.order_id).await;
    let r = t.post_json(&format!("/api/orders/{}/final-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["amount_minor"], 1_200_000);
    let pid = r.json()["payment_id"].as_str().unwrap().to_string();
    assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    t.tick("retry").await;
    assert_eq!(t.order(&c).await["status"], "matriculated");

    // Fully financed (deposit + financed = price): nothing to pay at the end — the order is fully
    // paid as soon as the car is at the dealership, and no final payment can be started.
    let mut full = sale_body(854);
    full["financing"] = json!({"financed_amount_minor": 3_300_000, "term_months": 120, "monthly_amount_minor": 27_500, "lender_reference": "CaaS Bank L-854"});
    let (order_id, customer_id) = t.register_sale(&full, "fin-854").await;
    let token = t.sign_in_from_credentials_email("lucia.854@example.com", CUSTOMER_NEW_PASSWORD).await;
    let c = Customer { email: "lucia.854@example.com".into(), token, order_id, customer_id };
    assert_eq!(t.order(&c).await["prices"]["final_payment_minor"], 0);
    t.pay_and_settle(&c, "reservation").await;
    t.manufacture(&c.order_id).await;
    assert_eq!(t.order(&c).await["status"], "fully-paid");
    t.tick("retry").await;
    let told = t.sims.notify().messages_to(&c.email);
    assert!(told.iter().any(|m| m["template"] == "vehicle-ready-financed"), "{told:?}");
    assert!(!told.iter().any(|m| m["template"] == "vehicle-ready"), "not asked for a final payment: {told:?}");
    let r = t.post_json(&format!("/api/orders/{}/final-payment", c.order_id), &json!({}), Some(&c.token), None).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(t.order(&c).await["status"], "matriculated");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM payments WHERE order_id = '{}'", c.order_id)), 1, "only the reservation was charged");

    // Without financing: no `financing` key, the final payment is price − deposit as before.
    let (token, order_id, customer_id) = customer_with_sale(&t, 853).await;
    let plain = t.order(&Customer { email: "lucia.853@example.com".into(), token, order_id, customer_id }).await;
    assert!(plain.get("financing").is_none(), "{plain}");
    assert_eq!(plain["prices"]["final_payment_minor"], 3_300_000);
    t.stop().await;
}

/// A sale the dealership cancels while its car is being built (the factory's API has no
/// cancellation): the car is built all the same and, when the factory reports it with its VIN,
/// it becomes dealership stock — not a car tied to a dead order — and another sale can take it.
#[tokio::test(flavor = "multi_thread")]
async fn a_car_built_for_a_cancelled_sale_arrives_as_stock_and_is_sold_again() {
    let t = TestApp::start().await;
    let (token, order_id, customer_id) = customer_with_sale(&t, 871).await;
    let c = Customer { email: "lucia.871@example.com".into(), token, order_id: order_id.clone(), customer_id };
    t.pay_and_settle(&c, "reservation").await;
    t.tick("retry").await;
    assert_eq!(t.order(&c).await["status"], "factory-ordered");
    let employee = t.employee_token().await;
    let r = t.post_json(&format!("/api/staff/orders/{order_id}/cancel"), &json!({"reason": "customer moved abroad"}), Some(&employee), None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // The factory goes on and reports every step (each webhook acknowledged, the order untouched).
    t.manufacture(&order_id).await;
    assert_eq!(t.order(&c).await["status"], "cancelled");
    let fo: String = t.db().query_row("SELECT factory_order_id FROM orders WHERE id = ?1", [&order_id], |r| r.get(0)).unwrap();
    let (vin, status, owner): (String, String, Option<String>) = t
        .db()
        .query_row("SELECT vin, status, order_id FROM vehicles WHERE factory_order_id = ?1", [&fo], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("the built car is known");
    assert_eq!((status.as_str(), owner), ("stock", None), "the car is dealership stock");
    let order_vin: Option<String> = t.db().query_row("SELECT vin FROM orders WHERE id = ?1", [&order_id], |r| r.get(0)).unwrap();
    assert_eq!(order_vin, None, "the cancelled order gets no car");
    let d = t.get(&format!("/api/staff/orders/{order_id}"), Some(&employee)).await.json();
    assert!(d["timeline"].as_array().unwrap().iter().any(|e| e["kind"] == "vehicle-to-stock"), "{d}");

    // Another customer buys that very car from stock.
    let mut body = sale_body(872);
    body["stock_vin"] = json!(vin);
    let r = t.post_json("/api/sales", &body, Some(&employee), Some("resell-872")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let taken: (String, String) = t.db().query_row("SELECT status, order_id FROM vehicles WHERE vin = ?1", [&vin], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    assert_eq!(taken, ("assigned".to_string(), r.json()["order_id"].as_str().unwrap().to_string()));
    t.stop().await;
}
