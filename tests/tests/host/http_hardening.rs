//! HTTP correctness found by driving the app (issue 9): 405 with `Allow` on every documented
//! route (never a 200 for TRACE), prices only in the markets' currency and exactly as the schema
//! spells it, stale factory events change nothing, an order's money movements in the admin
//! ledger, responses that match their documented types, no database text in 503 bodies.


use std::collections::{BTreeMap, BTreeSet};

use caas_tests::*;
use crate::journey::*;
use serde_json::{Value, json};

/// `(path, documented methods)` of docs/openapi.yaml (`  /path:` then `    get:` …).
fn documented_routes(doc: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out: Vec<(String, BTreeSet<String>)> = Vec::new();
    for l in doc.lines() {
        if l.starts_with("  /") && l.trim_end().ends_with(':') {
            out.push((l.trim().trim_end_matches(':').to_string(), BTreeSet::new()));
        } else if l.starts_with("    ") && !l.starts_with("     ") {
            let k = l.trim().trim_end_matches(':');
            if ["get", "post", "put", "patch", "delete"].contains(&k)
                && let Some((_, m)) = out.last_mut()
            {
                m.insert(k.to_uppercase());
            }
        } else if !l.starts_with(' ') && !l.is_empty() && !out.is_empty() && !l.starts_with("paths") {
            break;
        }
    }
    out
}

fn concrete(path: &str) -> String {
    path.split('/').map(|s| if s.starts_with('{') { "x1" } else { s }).collect::<Vec<_>>().join("/")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_other_methods_with_405_and_its_allow_header() {
    let t = TestApp::start().await;
    let doc = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    let routes = documented_routes(&doc);
    assert!(routes.len() >= 30, "{routes:?}");
    let mut failures = Vec::new();
    for (path, methods) in &routes {
        assert!(!methods.is_empty(), "{path} documents no method");
        for m in ["TRACE", "PATCH", "DELETE", "BREW"] {
            if methods.contains(m) {
                continue;
            }
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
            let r = t.send(t.client.request(method, t.url(&concrete(path)))).await;
            let allow: BTreeSet<String> = r
                .headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "HEAD")
                .collect();
            if r.status != 405 || !r.is_problem() || &allow != methods {
                failures.push(format!("{m} {path}: {} allow={allow:?} (documented {methods:?}) {}", r.status, r.text));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prices_only_in_the_markets_currency_spelled_as_the_schema_says() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    let list = t.get("/api/catalog/admin/options", Some(&admin)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let code = list.json()["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["status"] == "active")
        .expect("an active option")["code"]
        .as_str()
        .unwrap()
        .to_string();
    let reprice = |c: &str| json!({"amount_minor": 1234, "currency": c});
    let path = format!("/api/catalog/admin/options/{code}/price");
    for bad in ["USD", "GBP", "XXX", "eur"] {
        let r = t.post_json(&path, &reprice(bad), Some(&admin), None).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert_eq!(r.json()["errors"][0]["pointer"], "/price/currency", "{}", r.text);
    }
    let r = t.post_json(&path, &reprice("EUR"), Some(&admin), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["price"], json!({"amount_minor": 1234, "currency": "EUR"}));
    // A new option in another currency is refused the same way.
    let r = t
        .post_json(
            "/api/catalog/admin/options",
            &json!({"code": "usd-extra", "name": "X", "description": "Y", "kind": "permanent", "price": {"amount_minor": 100, "currency": "USD"}}),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // A sale priced in "eur": the schema says `EUR`.
    let staff = t.employee_token().await;
    let mut body = sale_body(91);
    body["prices"]["currency"] = json!("eur");
    let r = t.post_json("/api/sales", &body, Some(&staff), Some("eur-lowercase")).await;
    // Refused (400 by the schema check, or 422 by the price list: either way at /prices/currency).
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    assert!(r.is_problem() && r.text.contains("/prices/currency"), "{}", r.text);
    let orders: i64 = t.count("SELECT COUNT(*) FROM orders");
    assert_eq!(orders, 0, "a refused sale wrote an order");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_factory_event_changes_nothing() {
    let t = start().await;
    let c = reserved(&t, 92).await;
    let f = t.sims.factory();
    assert_eq!(f.send_status(&c.order_id, "shipped", json!({"estimated-date": "2027-02-01"})).await.unwrap(), 200);
    let before = order(&t, &c).await;
    assert_eq!(before["status"], "shipped");
    assert_eq!(before["estimated_date"], "2027-02-01", "{before}");
    // An earlier status, dated in the past: answered stale, nothing about the order changes.
    assert_eq!(f.send_status(&c.order_id, "in-production", json!({"estimated-date": "2026-12-01", "event-id": "fev_stale"})).await.unwrap(), 200);
    let outcome: String = t
        .db()
        .query_row("SELECT outcome FROM webhook_events WHERE event_id = 'fev_stale'", [], |r| r.get(0))
        .expect("the event is recorded");
    assert!(outcome.starts_with("stale"), "{outcome}");
    let after = order(&t, &c).await;
    assert_eq!(after["status"], "shipped");
    assert_eq!(after["estimated_date"], "2027-02-01", "a stale event moved the estimated date: {after}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_sees_an_orders_money_movements_by_its_id() {
    let t = start().await;
    let c = register_sale_and_login_customer(&t, 93, None).await;
    let pid = reserve(&t, &c).await;
    let other = register_sale_and_login_customer(&t, 94, None).await;
    reserve(&t, &other).await;
    let admin = t.admin_token().await;
    let r = t.get(&format!("/api/admin/ledger?reference={}", c.order_id), Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json()["items"].as_array().unwrap().clone();
    assert!(!items.is_empty(), "no movements for order {}: {}", c.order_id, r.text);
    assert!(items.iter().all(|e| e["order_id"] == c.order_id.as_str()), "{items:?}");
    assert!(items.iter().any(|e| e["kind"] == "charge" && e["reference"] == pid.as_str()), "{items:?}");
    // The payment id still works as a reference.
    let r = t.get(&format!("/api/admin/ledger?reference={pid}"), Some(&admin)).await;
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{}", r.text);
    t.stop().await;
}

/// The `type:` of each direct property of a component schema, from the flow-style lines of the
/// OpenAPI document (`name: { type: integer … }`, `name: { type: [integer, "null"] … }`): the
/// schema's own `properties:` and those of inline `allOf` members.
fn documented_types(doc: &str, schema: &str) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut inside = false;
    let mut props_at = 0usize;
    for l in doc.lines() {
        let indent = l.len() - l.trim_start().len();
        if l == format!("    {schema}:") {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        if !l.trim().is_empty() && indent <= 4 {
            break;
        }
        if l.trim() == "properties:" {
            props_at = indent;
            continue;
        }
        if !(props_at == 6 || props_at == 10) || indent != props_at + 2 {
            continue;
        }
        let t = l.trim();
        let Some((name, rest)) = t.split_once(": { type: ") else { continue };
        let ty = if let Some(list) = rest.strip_prefix('[') {
            list.split(']').next().unwrap().split(',').map(|s| s.trim().trim_matches('"').to_string()).collect()
        } else {
            vec![rest.split([',', ' ', '}']).next().unwrap().to_string()]
        };
        out.insert(name.to_string(), ty);
    }
    out
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check(doc: &str, schemas: &[&str], what: &str, v: &Value, problems: &mut Vec<String>) {
    let mut types = BTreeMap::new();
    for s in schemas {
        types.extend(documented_types(doc, s));
    }
    assert!(!types.is_empty(), "no documented properties for {schemas:?}");
    for (name, allowed) in &types {
        let Some(val) = v.get(name) else { continue };
        let actual = json_type(val);
        let ok = allowed.iter().any(|a| a == actual || (a == "number" && actual == "integer"));
        if !ok {
            problems.push(format!("{what}.{name} = {val} ({actual}) but documented {allowed:?}"));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn catalog_and_services_responses_match_their_documented_types() {
    let t = TestApp::start().await;
    let doc = std::fs::read_to_string(repo_root().join("docs/openapi.yaml")).unwrap();
    let (token, vin) = operational_vehicle(&t, 95).await;
    let admin = t.admin_token().await;
    let mut problems = Vec::new();

    let r = t.get("/api/catalog/admin/options", Some(&admin)).await;
    assert_eq!(r.status, 200);
    for o in r.json()["options"].as_array().unwrap() {
        check(&doc, &["NewCatalogOption", "CatalogOption"], "admin option", o, &mut problems);
    }
    for path in ["/api/catalog".to_string(), format!("/api/catalog?vin={vin}")] {
        let r = t.get(&path, Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for o in r.json()["options"].as_array().unwrap() {
            check(&doc, &["NewCatalogOption", "CatalogOption", "CatalogOptionView"], &path, o, &mut problems);
        }
    }
    // A purchase (a temporary option), then the service list and details.
    let r = t.get(&format!("/api/catalog?vin={vin}"), Some(&token)).await;
    let code = r.json()["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["available"] == true && o["kind"] == "temporary")
        .map(|o| o["code"].as_str().unwrap().to_string());
    if let Some(code) = code {
        let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": code}), Some(&token), Some("schema-buy")).await;
        assert!(r.status == 201 || r.status == 202 || r.status == 200, "{}", r.text);
        check(&doc, &["Service"], "purchase", &r.json(), &mut problems);
    }
    let r = t.get(&format!("/api/services?vin={vin}"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    let items = list.get("items").or(list.get("services")).and_then(Value::as_array).cloned().unwrap_or_default();
    assert!(!items.is_empty(), "{list}");
    for s in &items {
        check(&doc, &["Service"], "service", s, &mut problems);
        let r = t.get(&format!("/api/services/{}", s["id"].as_str().unwrap()), Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        check(&doc, &["Service"], "service detail", &r.json(), &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_failure_is_a_503_without_database_text() {
    let t = TestApp::start().await;
    let admin = t.admin_token().await;
    assert_eq!(t.get("/api/admin/escalations", Some(&admin)).await.status, 200);
    // Break the table under the running app (as a damaged or half-migrated database would).
    t.db().execute_batch("ALTER TABLE escalations RENAME TO escalations_away").unwrap();
    let r = t.get("/api/admin/escalations", Some(&admin)).await;
    t.db().execute_batch("ALTER TABLE escalations_away RENAME TO escalations").unwrap();
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.is_problem(), "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    let detail = r.json()["detail"].as_str().unwrap_or("").to_lowercase();
    for leak in ["escalations", "no such table", "sqlite", "database error", "select", "constraint"] {
        assert!(!detail.contains(leak), "503 detail leaks {leak:?}: {detail}");
    }
    t.stop().await;
}
