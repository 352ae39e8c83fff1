//! Issue 10 — one monthly VAT invoice per customer (mes vencido), on the virtual clock, through
//! the real components: customers in ES, FR and DE (and a second ES one) with two subscriptions
//! and one temporary service in January; the clock moved into February; the invoicing tick
//! waits for the month's billing, then fired on two "replicas" at once and again → each
//! customer has exactly one January invoice at their country's configured VAT rate, its total
//! is what they were charged, numbers are gapless per country series. Another customer's
//! invoice is 404; the document downloads as an attachment in the customer's language; the
//! customer is e-mailed; a refund after issue gives a credit note in its own series
//! referencing the invoice (which never changes); a failed activation is never a line.

use caas_domain::invoicing::split_gross;
use caas_domain::services::calendar::midnight_ms;
use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const HOUR: i64 = 3_600_000;

/// A customer of `country` (language `lang`) with a seeded operational vehicle: (token, VIN, id).
async fn customer_in(t: &TestApp, n: u32, country: &str, lang: &str) -> (String, String, String) {
    let mut body = sale_body(n);
    body["country"] = json!(country);
    body["delivery_address"]["country"] = json!(country);
    body["language"] = json!(lang);
    let (order_id, customer_id) = t.register_sale(&body, &format!("sale-{n}")).await;
    let token = t.sign_in_from_credentials_email(&format!("lucia.{n}@example.com"), CUSTOMER_NEW_PASSWORD).await;
    let vin = test_vin(n);
    let now = t.now_ms();
    let db = t.db();
    db.execute("UPDATE orders SET status = 'operational', vin = ?1, updated_at = ?2 WHERE id = ?3", rusqlite::params![vin, now, order_id]).unwrap();
    db.execute(
        "INSERT INTO vehicles(vin, model, status, order_id, created_at, updated_at) VALUES (?1, 'CAAS-SEDAN-24', 'operational', ?2, ?3, ?3)",
        rusqlite::params![vin, order_id, now],
    )
    .unwrap();
    db.execute("INSERT INTO vehicle_links(vin, customer_id, order_id, linked_at) VALUES (?1, ?2, ?3, ?4)", rusqlite::params![vin, customer_id, order_id, now])
        .unwrap();
    (token, vin, customer_id)
}

async fn buy(t: &TestApp, token: &str, vin: &str, code: &str) -> Value {
    t.bought_service(token, vin, code, &format!("inv-{vin}-{code}")).await
}

/// What the ledger keeps for a customer's services (charges − refunds − voids), all references.
fn kept(t: &TestApp, customer_id: &str) -> i64 {
    t.db()
        .query_row(
            "SELECT COALESCE(SUM(CASE l.kind WHEN 'charge' THEN l.amount_minor ELSE -l.amount_minor END), 0) FROM ledger l
             WHERE EXISTS (SELECT 1 FROM services s WHERE s.customer_id = ?1 AND s.source = 'purchase'
                           AND (l.reference = s.id OR l.reference LIKE s.id || '/%'))",
            [customer_id],
            |r| r.get(0),
        )
        .unwrap()
}

/// (number, kind, period, gross) of every document of a customer.
fn documents(t: &TestApp, customer_id: &str) -> Vec<(String, String, String, i64)> {
    let db = t.db();
    let mut st = db.prepare("SELECT number, kind, period, gross_minor FROM vat_invoices WHERE customer_id = ?1 ORDER BY number").unwrap();
    st.query_map([customer_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
}

fn report(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"));
    (n("invoices"), n("credit_notes"), n("waiting"), n("unconfigured"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_january_invoice_per_customer_with_vat_gapless_numbers_credit_note_and_no_line_for_a_failed_activation() {
    let t = TestApp::start().await;
    assert!(t.now_ms() < midnight_ms(2027, 1, 1), "the harness clock starts before January 2027");
    let people = [(901u32, "ES", "es", 2100i64, "snow-mode-14d"), (902, "FR", "fr", 2000, "power-boost-1m"), (903, "DE", "de", 1900, "off-road-mode-7d")];
    let mut cust = Vec::new();
    for (n, country, lang, _, _) in people {
        cust.push(customer_in(&t, n, country, lang).await);
    }
    let (_, vin4, c4) = customer_in(&t, 904, "ES", "en").await;

    // Nothing to invoice yet.
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 0, 0), "{r}");

    // January 25: each buys two subscriptions and one temporary service (paid, settled, activated).
    t.advance_to(midnight_ms(2027, 1, 25) + 10 * HOUR);
    let mut services: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut temp_payment = BTreeMap::new();
    for (i, (n, _, _, _, temp)) in people.iter().enumerate() {
        let tok = t.customer_token(*n).await;
        let vin = &cust[i].1;
        for code in ["entertainment-plus", "premium-audio"] {
            services.entry(*n).or_default().push(buy(&t, &tok, vin, code).await["id"].as_str().unwrap().to_string());
        }
        let s = buy(&t, &tok, vin, temp).await;
        services.entry(*n).or_default().push(s["id"].as_str().unwrap().to_string());
        temp_payment.insert(*n, s["payment_id"].as_str().unwrap().to_string());
    }
    let tok4 = t.customer_token(904).await;
    let sub4 = buy(&t, &tok4, &vin4, "entertainment-plus").await["id"].as_str().unwrap().to_string();
    let r = t.tick("ota").await;
    assert_eq!(r["applied"], 10, "{r}");
    for pid in temp_payment.values() {
        assert_eq!(t.sims.payment().settle(pid, true).await.unwrap(), 200);
    }
    // Customer 904's paid option never activates (IoT down for every attempt): voided, no line.
    t.sims.faults(System::Iot).fail_rate(1.0);
    let failed = buy(&t, &tok4, &vin4, "parking-assist").await["id"].as_str().unwrap().to_string();
    for _ in 0..6 {
        t.tick("ota").await;
        t.advance(Duration::from_secs(3600));
    }
    t.sims.faults(System::Iot).reset();
    assert_eq!(t.service_state(&failed), "failed");

    // The month is not over: nothing is invoiced.
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 0, 0), "{r}");

    // February 1: January's subscriptions are not billed yet → the customers wait.
    t.advance_to(midnight_ms(2027, 2, 1) + HOUR);
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 3, 0), "waiting for January's billing: {r}");
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 7, "{r}");
    // Two replicas fire at once, then once more: one invoice per customer.
    let (a, b) = tokio::join!(t.tick("invoicing"), t.tick("invoicing"));
    assert_eq!(report(&a).0 + report(&b).0, 4, "{a} {b}");
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 0, 0), "{r}");

    let mut numbers = Vec::new();
    for (i, (n, country, _, rate, _)) in people.iter().enumerate() {
        let id = &cust[i].2;
        let docs = documents(&t, id);
        assert_eq!(docs.len(), 1, "{n}: {docs:?}");
        let (number, kind, period, gross) = docs[0].clone();
        assert_eq!((kind.as_str(), period.as_str()), ("invoice", "2027-01"));
        assert!(number.starts_with(&format!("{country}-2027-")), "{number}");
        assert_eq!(gross, kept(&t, id), "{n}: the invoice total is what the customer was charged");
        // Lines: the two subscriptions' January and the temporary service, at the country's rate.
        let db = t.db();
        let mut st = db.prepare("SELECT service_id, kind, period, vat_rate_bp, net_minor, vat_minor, gross_minor FROM vat_invoice_lines WHERE number = ?1 ORDER BY position").unwrap();
        let lines: Vec<(String, String, Option<String>, i64, i64, i64, i64)> =
            st.query_map([&number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))).unwrap().map(Result::unwrap).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        let mut ids: Vec<&String> = lines.iter().map(|l| &l.0).collect();
        ids.sort();
        let mut want: Vec<&String> = services[n].iter().collect();
        want.sort();
        assert_eq!(ids, want);
        for (sid, kind, p, r, net, vat, g) in &lines {
            assert_eq!(*r, *rate, "{country} rate");
            let split = split_gross(*g, *r as u32);
            assert_eq!((*net, *vat), (split.net_minor, split.vat_minor), "{sid}");
            assert!(*g > 0 && *vat > 0);
            if kind == "subscription" {
                assert_eq!(p.as_deref(), Some("2027-01"));
            }
        }
        numbers.push(number);
    }
    let docs4 = documents(&t, &c4);
    assert_eq!(docs4.len(), 1, "{docs4:?}");
    numbers.push(docs4[0].0.clone());
    assert_eq!(docs4[0].3, kept(&t, &c4));
    // The failed activation is nowhere.
    let failed_lines: i64 = t.db().query_row("SELECT COUNT(*) FROM vat_invoice_lines WHERE service_id = ?1", [&failed], |r| r.get(0)).unwrap();
    assert_eq!(failed_lines, 0);
    let sub4_lines: i64 = t.db().query_row("SELECT COUNT(*) FROM vat_invoice_lines WHERE service_id = ?1", [&sub4], |r| r.get(0)).unwrap();
    assert_eq!(sub4_lines, 1);
    // Gapless per country series: ES 1 and 2 (two ES customers), FR 1, DE 1.
    let mut es: Vec<&String> = numbers.iter().filter(|n| n.starts_with("ES-")).collect();
    es.sort();
    assert_eq!(es, vec!["ES-2027-000001", "ES-2027-000002"]);
    assert!(numbers.contains(&"FR-2027-000001".to_string()) && numbers.contains(&"DE-2027-000001".to_string()), "{numbers:?}");

    // The customer API: list, one, document; someone else's → 404.
    let tok_es = t.customer_token(901).await;
    let tok_fr = t.customer_token(902).await;
    let es_number = documents(&t, &cust[0].2)[0].0.clone();
    let r = t.get("/api/expediente/invoices", Some(&tok_es)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["number"], es_number.as_str());
    let r = t.get(&format!("/api/expediente/invoices/{es_number}"), Some(&tok_es)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let inv = r.json();
    assert_eq!(inv["lines"].as_array().unwrap().len(), 3);
    assert_eq!(inv["totals_by_rate"][0]["vat_rate_bp"], 2100);
    assert_eq!(inv["gross_minor"].as_i64().unwrap(), inv["net_minor"].as_i64().unwrap() + inv["vat_minor"].as_i64().unwrap());
    assert_eq!(inv["totals_by_rate"][0]["gross_minor"], inv["gross_minor"]);
    let r = t.get(&format!("/api/expediente/invoices/{es_number}/document"), Some(&tok_es)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type.starts_with("text/html"), "{}", r.content_type);
    let cd = r.headers.get("content-disposition").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert_eq!(cd, format!("attachment; filename=\"{es_number}.html\""));
    assert!(r.text.contains(&format!("Factura {es_number}")) && r.text.contains("Base imponible") && r.text.contains("enero de 2027"), "{}", r.text);
    let fr_number = documents(&t, &cust[1].2)[0].0.clone();
    let r = t.get(&format!("/api/expediente/invoices/{fr_number}/document"), Some(&tok_fr)).await;
    assert!(r.text.contains("Facture FR-2027-000001") && r.text.contains("Montant HT"), "{}", r.text);
    for path in [format!("/api/expediente/invoices/{es_number}"), format!("/api/expediente/invoices/{es_number}/document"), "/api/expediente/invoices/ES-2027-999999".into(), "/api/expediente/invoices/..%2Fx".into()] {
        let r = t.get(&path, Some(&tok_fr)).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert!(r.is_problem(), "{}", r.text);
    }
    let r = t.get("/api/expediente/invoices", None).await;
    assert_eq!(r.status, 401);

    // Each customer is e-mailed in their language.
    t.deliver_notifications().await;
    for (n, subject) in [(901, "Su factura"), (902, "Votre facture"), (903, "Ihre Rechnung"), (904, "Your invoice")] {
        let mails: Vec<Value> = t
            .sims
            .notify()
            .messages_to(&format!("lucia.{n}@example.com"))
            .into_iter()
            .filter(|m| m["template"] == "monthly-invoice" && m["channel"] == "email")
            .collect();
        assert_eq!(mails.len(), 1, "{n}: {mails:?}");
        assert!(mails[0]["subject"].as_str().unwrap().starts_with(subject), "{}", mails[0]);
    }

    // February 2: the ES customer cancels the short service → full refund → a credit note in
    // its own series referencing the invoice; the invoice is unchanged (and cannot be changed).
    t.advance_to(midnight_ms(2027, 2, 2) + HOUR);
    let before: (i64, i64, i64) =
        t.db().query_row("SELECT net_minor, vat_minor, gross_minor FROM vat_invoices WHERE number = ?1", [&es_number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    let tok_es = t.customer_token(901).await;
    let snow = &services[&901][2];
    let (st, v) = t.cancel_service(&tok_es, snow).await;
    assert_eq!((st, v["decision"]["refund"]["amount_minor"].as_i64()), (200, Some(1500)), "{v}");
    t.tick("retry").await;
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 1, 0, 0), "{r}");
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 0, 0), "{r}");
    let docs = documents(&t, &cust[0].2);
    assert_eq!(docs.len(), 2, "{docs:?}");
    assert_eq!(docs[0], (es_number.clone(), "invoice".to_string(), "2027-01".to_string(), before.2));
    assert_eq!(docs[1].0, "ES-2027-R-000001");
    assert_eq!((docs[1].1.as_str(), docs[1].3), ("credit-note", -1500));
    let after: (i64, i64, i64) =
        t.db().query_row("SELECT net_minor, vat_minor, gross_minor FROM vat_invoices WHERE number = ?1", [&es_number], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    assert_eq!(before, after);
    assert!(t.db().execute("UPDATE vat_invoices SET gross_minor = 0 WHERE number = ?1", [&es_number]).is_err(), "issued invoices cannot be edited");
    assert!(t.db().execute("DELETE FROM vat_invoice_lines WHERE number = ?1", [&es_number]).is_err());
    let r = t.get("/api/expediente/invoices/ES-2027-R-000001", Some(&tok_es)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cn = r.json();
    assert_eq!((cn["kind"].as_str(), cn["corrects"].as_str()), (Some("credit-note"), Some(es_number.as_str())));
    let line = &cn["lines"][0];
    let split = split_gross(-1500, 2100);
    assert_eq!((line["gross_minor"].as_i64(), line["net_minor"].as_i64(), line["vat_minor"].as_i64()), (Some(-1500), Some(split.net_minor), Some(split.vat_minor)));
    let r = t.get(&format!("/api/expediente/invoices/{es_number}"), Some(&tok_es)).await;
    assert_eq!(r.json()["credited_by"], json!(["ES-2027-R-000001"]));
    t.tick("retry").await;
    let told = t.sims.notify().messages_to("lucia.901@example.com").into_iter().filter(|m| m["template"] == "credit-note" && m["channel"] == "email").count();
    assert_eq!(told, 1);
    t.stop_with_admin_ledger_check().await;
}

/// The web app: the customer finds the monthly invoice in the expediente, with its download.
#[tokio::test(flavor = "multi_thread")]
async fn the_customer_finds_the_monthly_invoice_in_the_web_app() {
    use caas_domain::services::billing::Period;
    use caas_tests::browser::{Browser, DESKTOP};
    let t = TestApp::start().await;
    let (tok, vin, id) = customer_in(&t, 911, "ES", "en").await;
    let s = buy(&t, &tok, &vin, "snow-mode-14d").await;
    t.tick("ota").await;
    assert_eq!(t.sims.payment().settle(s["payment_id"].as_str().unwrap(), true).await.unwrap(), 200);
    t.advance_to(Period::containing(t.now_ms()).end_ms() + HOUR);
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r).0, 1, "{r}");
    let number = documents(&t, &id)[0].0.clone();

    let b = Browser::start("en-GB", DESKTOP).await.expect("browser");
    b.goto(&t.url("/app/login")).await.unwrap();
    b.fill("#email", "lucia.911@example.com").await.unwrap();
    b.fill("#password", CUSTOMER_NEW_PASSWORD).await.unwrap();
    b.click("#login-submit").await.unwrap();
    b.find(".order-card, .mainnav").await.unwrap();
    b.goto(&t.url("/app/expediente")).await.unwrap();
    b.wait_text(&number, 15).await.unwrap();
    let list = b.text("#monthly-invoices").await.unwrap();
    assert!(list.contains("€15.00") && list.contains("Download"), "{list}");
    let violations = b.accessibility_violations().await.unwrap();
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    b.close().await;
    t.stop().await;
}

/// A January charge declined at the month end and recovered by the dunning retry after January's
/// invoice was issued goes on February's invoice (never a second January invoice, never lost).
#[tokio::test(flavor = "multi_thread")]
async fn a_period_collected_late_goes_on_the_next_months_invoice() {
    let t = TestApp::start().await;
    let (_, vin, id) = customer_in(&t, 921, "DE", "de").await;
    t.advance_to(midnight_ms(2027, 1, 10));
    let tok = t.customer_token(921).await;
    let a = buy(&t, &tok, &vin, "entertainment-plus").await["id"].as_str().unwrap().to_string();
    let b = buy(&t, &tok, &vin, "premium-audio").await["id"].as_str().unwrap().to_string();
    t.tick("ota").await;

    // Feb 1: one of the two January charges is declined (dunning), the other is taken.
    t.sims.payment().decline(&id, 1);
    t.advance_to(midnight_ms(2027, 2, 1) + HOUR);
    let r = t.tick("billing").await;
    assert_eq!((r["billed"].as_u64(), r["failed"].as_u64()), (Some(1), Some(1)), "{r}");
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r).0, 1, "{r}");
    let jan = documents(&t, &id);
    assert_eq!(jan.len(), 1);
    // Feb 2: the retry collects the declined January; January's invoice is not touched and no
    // second January invoice appears.
    t.advance_to(midnight_ms(2027, 2, 2) + 2 * HOUR);
    let r = t.tick("billing").await;
    assert_eq!(r["billed"], 1, "{r}");
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (0, 0, 0, 0), "{r}");
    assert_eq!(documents(&t, &id), jan);
    // Mar 1: February's invoice carries February's two months and the late January one.
    t.advance_to(midnight_ms(2027, 3, 1) + HOUR);
    assert_eq!(t.tick("billing").await["billed"], 2);
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r).0, 1, "{r}");
    let docs = documents(&t, &id);
    assert_eq!(docs.len(), 2, "{docs:?}");
    let (feb, _, period, gross) = docs[1].clone();
    assert_eq!((period.as_str(), docs[0].2.as_str()), ("2027-02", "2027-01"));
    assert_eq!(docs[0].3 + gross, kept(&t, &id), "both invoices together are everything charged");
    let db = t.db();
    let mut st = db.prepare("SELECT service_id, period, vat_rate_bp FROM vat_invoice_lines WHERE number = ?1 ORDER BY position").unwrap();
    let mut lines: Vec<(String, String, i64)> = st.query_map([&feb], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().map(Result::unwrap).collect();
    lines.sort();
    let mut want = vec![(a.clone(), "2027-02".to_string(), 1900), (b.clone(), "2027-02".to_string(), 1900)];
    let late = if lines.iter().filter(|l| l.0 == a).count() == 2 { a.clone() } else { b.clone() };
    want.push((late, "2027-01".to_string(), 1900));
    want.sort();
    assert_eq!(lines, want);
    assert_eq!((jan[0].0.as_str(), feb.as_str()), ("DE-2027-000001", "DE-2027-000002"));
    t.stop_with_admin_ledger_check().await;
}

/// The rates are configuration: with `vat_rates = "ES=21, FR=5.5"` a French customer is invoiced
/// at 5.5 % and a German one (no rate configured) is not invoiced but reported.
#[tokio::test(flavor = "multi_thread")]
async fn the_vat_rate_is_configuration_and_a_country_without_one_is_reported_not_invoiced() {
    use caas_domain::services::billing::Period;
    let mut opts = Options::default();
    opts.variables.insert("vat_rates".into(), "ES=21, FR=5.5".into());
    let t = TestApp::start_with(opts).await.expect("start the app");
    let (tok_fr, vin_fr, fr) = customer_in(&t, 931, "FR", "fr").await;
    let (tok_de, vin_de, de) = customer_in(&t, 932, "DE", "de").await;
    let mut pids = Vec::new();
    for (tok, vin) in [(&tok_fr, &vin_fr), (&tok_de, &vin_de)] {
        pids.push(buy(&t, tok, vin, "power-boost-1m").await["payment_id"].as_str().unwrap().to_string());
    }
    t.tick("ota").await;
    for pid in &pids {
        assert_eq!(t.sims.payment().settle(pid, true).await.unwrap(), 200);
    }
    t.advance_to(Period::containing(t.now_ms()).end_ms() + HOUR);
    let r = t.tick("invoicing").await;
    assert_eq!(report(&r), (1, 0, 0, 1), "{r}");
    assert!(documents(&t, &de).is_empty());
    let docs = documents(&t, &fr);
    assert_eq!(docs.len(), 1);
    let (rate, net, vat, gross): (i64, i64, i64, i64) = t
        .db()
        .query_row("SELECT vat_rate_bp, net_minor, vat_minor, gross_minor FROM vat_invoice_lines WHERE number = ?1", [&docs[0].0], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    // 49.00 at 5.5 %: 4644.55 → 4645 net + 255 VAT.
    assert_eq!((rate, net, vat, gross), (550, 4645, 255, 4900));
    t.stop().await;
}
