//! End-to-end tests of the simulators over real HTTP.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use caas_sim::{SimConfig, SimPorts, Sims, System, signing};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

// ----------------------------------------------------------------------------- tiny client

async fn call(method: &str, url: &str, body: Option<Value>, headers: &[(&str, &str)]) -> anyhow::Result<(u16, Value)> {
    let rest = url.strip_prefix("http://").unwrap();
    let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let stream = tokio::net::TcpStream::connect(auth).await?;
    let (mut tx, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut rb = hyper::Request::builder().method(method).uri(path).header("host", auth);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let body = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    if !body.is_empty() {
        rb = rb.header("content-type", "application/json");
    }
    let resp = tx.send_request(rb.body(Full::new(Bytes::from(body)))?).await?;
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await?.to_bytes();
    let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())) };
    Ok((status, v))
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    call("POST", url, Some(body), &[]).await.unwrap()
}
async fn post_h(url: &str, body: Value, h: &[(&str, &str)]) -> (u16, Value) {
    call("POST", url, Some(body), h).await.unwrap()
}
async fn get(url: &str) -> (u16, Value) {
    call("GET", url, None, &[]).await.unwrap()
}

async fn sims() -> Sims {
    Sims::start(SimConfig::default()).await.unwrap()
}

// ----------------------------------------------------------------------------- fake app (webhook receiver)

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, hyper::HeaderMap, Bytes)>>>);

/// A fake CaaS app: records webhooks, answers `status`.
async fn fake_app(status: u16) -> (String, Received) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let rec = Received::default();
    let r2 = rec.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let r3 = r2.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let r4 = r3.clone();
                    async move {
                        let path = req.uri().path().to_string();
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        r4.0.lock().unwrap().push((path, headers, body));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder().status(status).body(Full::new(Bytes::from_static(b"{}"))).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
            });
        }
    });
    (url, rec)
}

fn check_signed(secret: &str, headers: &hyper::HeaderMap, body: &[u8]) {
    let ts = headers.get("x-caas-timestamp").unwrap().to_str().unwrap();
    let sig = headers.get("x-caas-signature").unwrap().to_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now.abs_diff(ts.parse::<u64>().unwrap()) < 5);
    assert!(signing::verify(secret, ts, body, sig), "bad signature");
    assert_eq!(sig, signing::sign(secret, ts, body));
    assert!(!signing::verify("other-secret", ts, body, sig));
}

// ----------------------------------------------------------------------------- signing

#[test]
fn signing_vector() {
    let sig = signing::sign("dev-factory-webhook-secret", 1_700_000_000u64, r#"{"event-id":"fev_1"}"#);
    assert_eq!(sig, "v1=a3257f58a4aa867887dae2778540297d25026819f0cfb34295d163f0c32dc455");
    assert_eq!(signing::sign("dev-factory-webhook-secret", "1700000000", br#"{"event-id":"fev_1"}"#.as_slice()), sig);
    assert!(signing::verify("dev-factory-webhook-secret", 1_700_000_000i64, r#"{"event-id":"fev_1"}"#, &sig));
    assert!(!signing::verify("dev-factory-webhook-secret", 1_700_000_001i64, r#"{"event-id":"fev_1"}"#, &sig));
    assert!(!signing::verify("dev-factory-webhook-secret", 1_700_000_000i64, r#"{"event-id":"fev_2"}"#, &sig));
    assert!(!signing::verify("dev-factory-webhook-secret", 1_700_000_000i64, r#"{"event-id":"fev_1"}"#, "v1=zz"));
    assert!(!signing::verify("dev-factory-webhook-secret", 1_700_000_000i64, r#"{"event-id":"fev_1"}"#, &sig[3..]));
}

// ----------------------------------------------------------------------------- notify

fn msg(id: &str, recipient: &str) -> Value {
    json!({"message-id": id, "channel": "email", "recipient": recipient, "template": "credentials",
           "subject": "Welcome", "body": "Your credentials", "customer-id": "cus_1"})
}

#[tokio::test]
async fn notify_accepts_dedupes_and_validates() {
    let s = sims().await;
    let u = s.notify_url();
    let (st, a) = post(&format!("{u}/messages"), msg("m-1", "ana@example.com")).await;
    assert_eq!(st, 202, "{a}");
    assert_eq!(a["message-id"], "m-1");
    let (st, b) = post(&format!("{u}/messages"), msg("m-1", "ana@example.com")).await;
    assert_eq!(st, 200);
    assert_eq!(b["id"], a["id"]);
    let (st, _) = post(&format!("{u}/messages"), msg("m-2", "bob@example.com")).await;
    assert_eq!(st, 202);
    let mut no_cust = msg("m-3", "+34600000000");
    no_cust["channel"] = json!("sms");
    no_cust.as_object_mut().unwrap().remove("customer-id");
    assert_eq!(post(&format!("{u}/messages"), no_cust).await.0, 202);

    // validation: 400 problem with errors[], nothing recorded
    let mut bad = msg("m-4", "x");
    bad["channel"] = json!("pigeon");
    let (st, p) = post(&format!("{u}/messages"), bad).await;
    assert_eq!(st, 400);
    assert_eq!(p["errors"][0]["field"], "channel");
    let (st, p) = post(&format!("{u}/messages"), json!({"message-id": "m-5"})).await;
    assert_eq!(st, 400);
    assert!(p["errors"].as_array().unwrap().len() >= 4, "{p}");
    assert_eq!(call("POST", &format!("{u}/messages"), None, &[]).await.unwrap().0, 400);

    let n = s.notify();
    assert_eq!(n.messages().len(), 3);
    assert_eq!(n.messages_to("ana@example.com").len(), 1);
    assert_eq!(n.messages_to("ana@example.com")[0]["template"], "credentials");
    let (_, l) = get(&format!("{u}/messages?recipient=ana%40example.com")).await;
    assert_eq!(l["messages"].as_array().unwrap().len(), 1);
    let (_, l) = get(&format!("{u}/_control/messages")).await;
    assert_eq!(l["messages"].as_array().unwrap().len(), 3);
    n.clear();
    assert!(n.messages().is_empty());
    s.shutdown().await;
}

// ----------------------------------------------------------------------------- factory

fn order(r: &str) -> Value {
    json!({"order-ref": r, "model": "urban-ev", "options": ["heat-pump"], "country": "ES"})
}

#[tokio::test]
async fn factory_orders_are_idempotent_and_webhooks_signed() {
    let s = sims().await;
    let (app, rec) = fake_app(204).await;
    s.set_app_url(&app);
    let u = s.factory_url();
    let (st, a) = post_h(&format!("{u}/orders"), order("ord_1"), &[("idempotency-key", "k1")]).await;
    assert_eq!(st, 201, "{a}");
    let id = a["factory-order-id"].as_str().unwrap().to_string();
    assert_eq!(a["estimated-completion"].as_str().unwrap().len(), 10);
    let (st, b) = post_h(&format!("{u}/orders"), order("ord_1"), &[("idempotency-key", "k1")]).await;
    assert_eq!((st, &b), (201, &a));
    // same key, other order: conflict; missing fields: 400
    assert_eq!(post_h(&format!("{u}/orders"), order("ord_2"), &[("idempotency-key", "k1")]).await.0, 409);
    let (st, p) = post_h(&format!("{u}/orders"), json!({"order-ref": "x", "options": [1]}), &[("idempotency-key", "k9")]).await;
    assert_eq!(st, 400, "{p}");
    assert_eq!(s.factory().orders().len(), 1);
    let (st, o) = get(&format!("{u}/orders/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(o["order-ref"], "ord_1");
    assert_eq!(get(&format!("{u}/orders/nope")).await.0, 404);

    // webhooks
    let f = s.factory();
    assert_eq!(f.send_status("ord_1", "confirmed", Value::Null).await.unwrap(), 204);
    let vin = f.order("ord_1").unwrap()["vin"].as_str().unwrap().to_string();
    assert_eq!(vin.len(), 17);
    assert_eq!(f.send_status(&id, "delayed", json!({"reason": "parts"})).await.unwrap(), 204);
    // control endpoint sends one too
    let (st, r) = post(&format!("{u}/_control/webhook"), json!({"order-ref": "ord_1", "status": "in-production"})).await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["app-status"], 204);
    let got = rec.0.lock().unwrap().clone();
    assert_eq!(got.len(), 3);
    for (path, h, body) in &got {
        assert_eq!(path, "/webhooks/factory");
        check_signed(caas_sim::DEV_FACTORY_WEBHOOK_SECRET, h, body);
    }
    let e: Vec<Value> = got.iter().map(|(_, _, b)| serde_json::from_slice(b).unwrap()).collect();
    assert_eq!(e[0]["status"], "confirmed");
    assert_eq!(e[0]["factory-order-id"], id.as_str());
    assert_eq!(e[0]["order-ref"], "ord_1");
    assert_eq!(e[0]["vin"], vin.as_str());
    assert!(e[0]["occurred-at"].as_str().unwrap().ends_with('Z'));
    assert_ne!(e[0]["event-id"], e[1]["event-id"]);
    assert_eq!(e[1]["status"], "delayed");
    assert_eq!(e[1]["reason"], "parts");
    assert!(e[1]["estimated-date"].as_str().unwrap() > e[0]["estimated-date"].as_str().unwrap());
    assert_eq!(e[2]["status"], "in-production");
    assert_eq!(f.webhooks().len(), 3);
    // no app: error
    s.shutdown().await;
    let s = sims().await;
    assert!(s.factory().send_status("x", "confirmed", Value::Null).await.is_err());
}

// ----------------------------------------------------------------------------- payment

fn pay(r: &str, cust: &str) -> Value {
    json!({"amount-minor": 50000, "currency": "EUR", "reference": r, "kind": "reservation", "customer-id": cust, "method": "card"})
}

#[tokio::test]
async fn payment_lifecycle() {
    let s = sims().await;
    let (app, rec) = fake_app(200).await;
    s.set_app_url(&app);
    let u = s.payment_url();
    let (st, a) = post_h(&format!("{u}/payments"), pay("ord_1", "cus_1"), &[("idempotency-key", "p1")]).await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["status"], "pending");
    let pid = a["payment-id"].as_str().unwrap().to_string();
    assert_eq!(post_h(&format!("{u}/payments"), pay("ord_1", "cus_1"), &[("idempotency-key", "p1")]).await, (201, a.clone()));
    assert_eq!(post_h(&format!("{u}/payments"), pay("ord_9", "cus_1"), &[("idempotency-key", "p1")]).await.0, 409);
    let mut bad = pay("ord_1", "cus_1");
    bad["amount-minor"] = json!(-5);
    bad["currency"] = json!("euro");
    let (st, p) = post(&format!("{u}/payments"), bad).await;
    assert_eq!(st, 400);
    assert_eq!(p["errors"].as_array().unwrap().len(), 2);
    assert_eq!(s.payment().payments().len(), 1);

    // refunds: partial, idempotent, over-refund 422
    let r = format!("{u}/payments/{pid}/refunds");
    let (st, rf) = post_h(&r, json!({"amount-minor": 20000}), &[("idempotency-key", "r1")]).await;
    assert_eq!(st, 201, "{rf}");
    assert!(rf["refund-id"].as_str().unwrap().starts_with("re_"));
    assert_eq!(post_h(&r, json!({"amount-minor": 20000}), &[("idempotency-key", "r1")]).await, (201, rf));
    assert_eq!(post_h(&r, json!({"amount-minor": 40000}), &[("idempotency-key", "r2")]).await.0, 422);
    assert_eq!(s.payment().refunds().len(), 1);

    // settlement webhook
    assert_eq!(s.payment().settle(&pid, true).await.unwrap(), 200);
    assert_eq!(s.payment().payment(&pid).unwrap()["status"], "settled");
    assert_eq!(post(&format!("{u}/payments/{pid}/void"), json!({})).await.0, 409);
    let (st, p2) = post_h(&format!("{u}/payments"), pay("ord_2", "cus_2"), &[("idempotency-key", "p2")]).await;
    assert_eq!(st, 201);
    let pid2 = p2["payment-id"].as_str().unwrap();
    assert_eq!(post(&format!("{u}/payments/{pid2}/void"), json!({})).await, (200, json!({"payment-id": pid2, "status": "voided"})));
    let (st, r) = post(&format!("{u}/_control/webhook"), json!({"payment-id": pid, "status": "failed", "failure-reason": "chargeback"})).await;
    assert_eq!(st, 200, "{r}");
    let got = rec.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    for (path, h, body) in &got {
        assert_eq!(path, "/webhooks/payment");
        check_signed(caas_sim::DEV_PAYMENT_WEBHOOK_SECRET, h, body);
    }
    let e0: Value = serde_json::from_slice(&got[0].2).unwrap();
    assert_eq!(e0["payment-id"], pid.as_str());
    assert_eq!(e0["status"], "settled");
    assert_eq!(e0["reference"], "ord_1");
    assert_eq!(e0["amount-minor"], 50000);
    assert_eq!(e0["currency"], "EUR");
    assert!(e0.get("failure-reason").is_none());
    let e1: Value = serde_json::from_slice(&got[1].2).unwrap();
    assert_eq!(e1["status"], "failed");
    assert_eq!(e1["failure-reason"], "chargeback");

    // off-session charges and declines
    let c = format!("{u}/charges");
    let mut sub = pay("sub_1-2026-11", "cus_3");
    sub["kind"] = json!("subscription");
    let (st, d) = post(&format!("{u}/_control/decline"), json!({"customer-id": "cus_3", "times": 1})).await;
    assert_eq!(st, 200, "{d}");
    let (st, p) = post_h(&c, sub.clone(), &[("idempotency-key", "c1")]).await;
    assert_eq!(st, 402, "{p}");
    assert_eq!(p["decline-code"], "card_declined");
    assert_eq!(post_h(&c, sub.clone(), &[("idempotency-key", "c1")]).await.0, 402, "replay keeps the decline");
    let (st, p) = post_h(&c, sub, &[("idempotency-key", "c2")]).await;
    assert_eq!(st, 201, "{p}");
    s.payment().decline("cus_4", 2);
    assert_eq!(post(&c, pay("x", "cus_4")).await.0, 402);
    assert_eq!(post(&c, pay("x", "cus_4")).await.0, 402);
    assert_eq!(post(&c, pay("x", "cus_4")).await.0, 201);
    s.shutdown().await;
}

// ----------------------------------------------------------------------------- iot

#[tokio::test]
async fn iot_commands_are_applied_once() {
    let s = sims().await;
    let u = s.iot_url();
    let vin = "WCA00000000000001";
    let c = format!("{u}/vehicles/{vin}/commands");
    let cmd = json!({"command-id": "cmd-1", "feature": "adaptive-cruise", "action": "activate"});
    let (st, a) = post(&c, cmd.clone()).await;
    assert_eq!(st, 202, "{a}");
    assert_eq!(a["status"], "applied");
    assert_eq!(a["command-id"], "cmd-1");
    let (st, b) = post(&c, cmd).await;
    assert_eq!(st, 200);
    assert_eq!(b["status"], "applied");
    assert_eq!(post(&c, json!({"command-id": "cmd-1", "feature": "adaptive-cruise", "action": "deactivate"})).await.0, 409);
    assert_eq!(post(&c, json!({"command-id": "cmd-2", "feature": "x", "action": "toggle"})).await.0, 400);
    assert_eq!(s.iot().commands().len(), 1);
    let (_, status) = get(&format!("{u}/vehicles/{vin}/status")).await;
    assert_eq!(status["online"], true);
    assert_eq!(status["features"]["adaptive-cruise"], "active");
    assert!(status["firmware"].is_string());

    // offline vehicle: 503, nothing applied; back online works
    s.iot().set_vehicle_status(vin, json!({"online": false}));
    assert_eq!(post(&c, json!({"command-id": "cmd-3", "feature": "heated-seats", "action": "activate"})).await.0, 503);
    assert_eq!(post(&format!("{u}/vehicles/{vin}/display"), json!({"message": "hi"})).await.0, 503);
    let (st, _) = post(&format!("{u}/_control/vehicles/{vin}/status"), json!({"online": true})).await;
    assert_eq!(st, 200);
    assert_eq!(post(&c, json!({"command-id": "cmd-3", "feature": "heated-seats", "action": "activate"})).await.0, 202);
    assert_eq!(post(&c, json!({"command-id": "cmd-4", "feature": "adaptive-cruise", "action": "deactivate"})).await.0, 202);
    assert_eq!(s.iot().feature_state(vin, "adaptive-cruise").as_deref(), Some("inactive"));
    assert_eq!(s.iot().commands_for(vin).len(), 3);
    let (st, d) = post(&format!("{u}/vehicles/{vin}/display"), json!({"message": "Service active"})).await;
    assert_eq!(st, 202, "{d}");
    assert_eq!(s.iot().displays()[0]["message"], "Service active");
    let (_, l) = get(&format!("{u}/_control/commands")).await;
    assert_eq!(l["commands"].as_array().unwrap().len(), 3);
    s.shutdown().await;
}

// ----------------------------------------------------------------------------- vss + registry

#[tokio::test]
async fn vss_maintenance() {
    let s = sims().await;
    let u = s.vss_url();
    let (st, m) = get(&format!("{u}/vehicles/VIN1/maintenance")).await;
    assert_eq!(st, 200);
    assert_eq!(m["status"], "current");
    assert_eq!(m["vin"], "VIN1");
    assert!(m["next-due"].as_str().unwrap() > m["last-service"].as_str().unwrap());
    s.vss().set_maintenance("VIN1", "overdue");
    let (_, m) = get(&format!("{u}/vehicles/VIN1/maintenance")).await;
    assert_eq!(m["status"], "overdue");
    assert_eq!(post(&format!("{u}/_control/maintenance"), json!({"vin": "VIN2", "status": "overdue"})).await.0, 200);
    assert_eq!(get(&format!("{u}/vehicles/VIN2/maintenance")).await.1["status"], "overdue");
    assert_eq!(post(&format!("{u}/_control/maintenance"), json!({"vin": "VIN2", "status": "meh"})).await.0, 400);
    assert_eq!(post(&format!("{u}/_control/reset"), json!({})).await.0, 200);
    assert_eq!(get(&format!("{u}/vehicles/VIN2/maintenance")).await.1["status"], "current");
}

#[tokio::test]
async fn vss_due_dates_and_workshop_history() {
    let s = sims().await;
    let u = s.vss_url();
    // The default record carries its history entry (the last service).
    let (_, m) = get(&format!("{u}/vehicles/VIN3/maintenance")).await;
    assert_eq!(m["history"][0]["date"], m["last-service"]);
    assert!(m["history"][0]["workshop"].as_str().unwrap().len() > 3);
    // A due date without a status: the status follows the clock.
    let r = post(&format!("{u}/_control/maintenance"), json!({"vin": "VIN3", "next-due": "2000-01-01", "next-due-km": 45000})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let (_, m) = get(&format!("{u}/vehicles/VIN3/maintenance")).await;
    assert_eq!((m["status"].as_str(), m["next-due"].as_str(), m["next-due-km"].as_u64()), (Some("overdue"), Some("2000-01-01"), Some(45000)));
    s.vss().set_next_due("VIN3", "2999-01-01");
    assert_eq!(get(&format!("{u}/vehicles/VIN3/maintenance")).await.1["status"], "current");
    // A workshop records a service: history appended, last service and next due move on.
    let r = post(&format!("{u}/_control/maintenance/service"), json!({"vin": "VIN3", "date": "2026-05-04", "workshop": "Taller Norte", "work": "oil and filters", "mileage-km": 15000, "next-due": "2027-05-04"})).await;
    assert_eq!(r.0, 200, "{}", r.1);
    let (_, m) = get(&format!("{u}/vehicles/VIN3/maintenance")).await;
    assert_eq!(m["last-service"], "2026-05-04");
    assert_eq!(m["next-due"], "2027-05-04");
    let h = m["history"].as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[1], json!({"date": "2026-05-04", "workshop": "Taller Norte", "work": "oil and filters", "mileage-km": 15000}));
    s.vss().record_service("VIN3", "2027-05-01", "Taller Sur", "annual service", "2028-05-01");
    assert_eq!(s.vss().maintenance("VIN3")["history"].as_array().unwrap().len(), 3);
    // Bad input changes nothing.
    for bad in [json!({"vin": "VIN3", "next-due": "2027-02-30"}), json!({"vin": "VIN3"}), json!({"vin": "VIN3", "next-due": "2027-01-01", "history": [{"date": "x"}]})] {
        assert_eq!(post(&format!("{u}/_control/maintenance"), bad.clone()).await.0, 400, "{bad}");
    }
    assert_eq!(post(&format!("{u}/_control/maintenance/service"), json!({"vin": "VIN3", "work": "x"})).await.0, 400);
    assert_eq!(s.vss().maintenance("VIN3")["next-due"], "2028-05-01");
}

#[tokio::test]
async fn registry_plates_per_country() {
    let s = sims().await;
    let u = s.registry_url();
    let body = |vin: &str| json!({"vin": vin, "owner-name": "Ana García", "owner-id": "12345678Z", "address": "Calle Mayor 1, Madrid"});
    let (st, es) = post(&format!("{u}/registrations/ES"), body("V1")).await;
    assert_eq!(st, 201, "{es}");
    let p = es["plate"].as_str().unwrap();
    assert!(p.len() == 8 && p[..4].bytes().all(|b| b.is_ascii_digit()) && &p[4..5] == " " && p[5..].bytes().all(|b| b.is_ascii_uppercase()), "{p}");
    let (_, fr) = post(&format!("{u}/registrations/FR"), body("V2")).await;
    let p = fr["plate"].as_str().unwrap();
    let b = p.as_bytes();
    assert!(p.len() == 9 && b[2] == b'-' && b[6] == b'-' && p[3..6].bytes().all(|c| c.is_ascii_digit()), "{p}");
    let (_, de) = post(&format!("{u}/registrations/de"), body("V3")).await;
    let p = de["plate"].as_str().unwrap();
    assert!(p.starts_with("M-") && &p[4..5] == " " && p[5..].bytes().all(|c| c.is_ascii_digit()), "{p}");
    assert_eq!(post(&format!("{u}/registrations/IT"), body("V4")).await.0, 422);
    assert_eq!(post(&format!("{u}/registrations/ES"), json!({"vin": "V5"})).await.0, 400);
    let (st, again) = post(&format!("{u}/registrations/ES"), body("V1")).await;
    assert_eq!((st, again["plate"].clone()), (200, es["plate"].clone()));
    assert_eq!(s.registry().registrations().len(), 3);
}

// ----------------------------------------------------------------------------- faults

#[tokio::test]
async fn fault_injection() {
    let s = sims().await;
    let u = s.vss_url();
    let m = format!("{u}/vehicles/V/maintenance");
    let f = s.faults(System::Vss);

    // fail_next (typed)
    f.fail_next(2, 503);
    let (st, p) = get(&m).await;
    assert_eq!(st, 503);
    assert_eq!(p["status"], 503);
    assert_eq!(get(&m).await.0, 503);
    assert_eq!(get(&m).await.0, 200);
    assert_eq!(f.calls(), 3);

    // fail_next over the control API; control calls are never faulted nor counted
    let (st, _) = post(&format!("{u}/_control/faults"), json!({"fail_next": 1, "status": 500})).await;
    assert_eq!(st, 200);
    assert_eq!(get(&format!("{u}/_control/faults")).await.1["fail_next"], 1);
    assert_eq!(get(&m).await.0, 500);
    assert_eq!(get(&m).await.0, 200);
    let (_, calls) = get(&format!("{u}/_control/calls")).await;
    assert_eq!(calls["count"], 5);
    assert_eq!(calls["calls"][0]["path"], "/vehicles/V/maintenance");
    assert_eq!(calls["calls"][0]["method"], "GET");

    // rate 1.0 / 0.5 / 0.0
    f.fail_rate(1.0);
    for _ in 0..5 {
        assert_eq!(get(&m).await.0, 503);
    }
    post(&format!("{u}/_control/faults"), json!({"fail_rate": 0.5, "status": 502})).await;
    let mut failed = 0;
    for _ in 0..200 {
        if get(&m).await.0 == 502 {
            failed += 1;
        }
    }
    assert!((50..150).contains(&failed), "{failed} of 200 failed at rate 0.5");
    f.fail_rate(0.0);
    assert_eq!(get(&m).await.0, 200);
    assert_eq!(post(&format!("{u}/_control/faults"), json!({"fail_rate": 2.0})).await.0, 400);

    // slow
    f.slow(300);
    let t = Instant::now();
    assert_eq!(get(&m).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    f.reset();
    let t = Instant::now();
    get(&m).await;
    assert!(t.elapsed() < Duration::from_millis(250));

    // down: connection closed without a response, over the control API too
    f.down(true);
    assert!(call("GET", &m, None, &[]).await.is_err());
    post(&format!("{u}/_control/faults"), json!({"down": false})).await;
    assert_eq!(get(&m).await.0, 200);
    post(&format!("{u}/_control/faults"), json!({"down": true})).await;
    assert!(call("GET", &m, None, &[]).await.is_err());
    post(&format!("{u}/_control/faults"), json!({"reset": true})).await;
    assert_eq!(get(&m).await.0, 200);

    // a failed call has no effect (notify records nothing)
    s.faults(System::Notify).fail_next(1, 503);
    assert_eq!(post(&format!("{}/messages", s.notify_url()), msg("m-1", "a")).await.0, 503);
    assert!(s.notify().messages().is_empty());
    assert_eq!(post(&format!("{}/messages", s.notify_url()), msg("m-1", "a")).await.0, 202);

    // per-system isolation + full reset
    s.faults(System::Iot).fail_next(5, 503);
    assert_eq!(get(&m).await.0, 200);
    assert_eq!(post(&format!("{}/_control/reset", s.iot_url()), json!({})).await.0, 200);
    assert_eq!(s.faults(System::Iot).calls(), 0);
    assert_eq!(get(&format!("{}/vehicles/V/status", s.iot_url())).await.0, 200);
    s.shutdown().await;
}

// ----------------------------------------------------------------------------- auto webhooks, fixed ports

/// Six consecutive free loopback ports below the kernel's ephemeral range: a fixed port inside it
/// (this test once used 47311) can be taken at any moment by another test's outgoing connection.
fn free_fixed_base() -> u16 {
    let ephemeral_from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()))
        .unwrap_or(32_768);
    let start = 20_000 + (std::process::id() % 500) as u16 * 16;
    (start..ephemeral_from.saturating_sub(6))
        .step_by(7)
        .chain((10_000..start).step_by(7))
        .find(|&base| (0..6).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok()))
        .expect("six consecutive free loopback ports")
}

#[tokio::test]
async fn auto_webhooks_and_fixed_ports() {
    let (app, rec) = fake_app(200).await;
    let base = free_fixed_base();
    let cfg = SimConfig { app_url: Some(app), ports: Some(SimPorts::from_base(base)), auto_webhooks: true, ..SimConfig::default() };
    let s = Sims::start(cfg.clone()).await.unwrap();
    assert_eq!(s.factory_url(), format!("http://127.0.0.1:{base}"));
    assert_eq!(s.notify_url(), format!("http://127.0.0.1:{}", base + 5));
    s.factory().set_auto(true, 50);
    s.payment().set_auto(true, 50, true);
    assert_eq!(post(&format!("{}/orders", s.factory_url()), order("ord_a")).await.0, 201);
    let (_, p) = post(&format!("{}/payments", s.payment_url()), pay("ord_a", "cus_a")).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while rec.0.lock().unwrap().len() < 7 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = rec.0.lock().unwrap().clone();
    let factory: Vec<Value> =
        got.iter().filter(|(p, _, _)| p == "/webhooks/factory").map(|(_, _, b)| serde_json::from_slice(b).unwrap()).collect();
    let statuses: Vec<&str> = factory.iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["confirmed", "in-production", "quality-control", "ready-to-ship", "shipped", "available-at-dealership"]);
    assert!(factory.iter().all(|e| e["vin"].as_str().is_some_and(|v| v.len() == 17)));
    let pay_events: Vec<_> = got.iter().filter(|(p, _, _)| p == "/webhooks/payment").collect();
    assert_eq!(pay_events.len(), 1);
    let e: Value = serde_json::from_slice(&pay_events[0].2).unwrap();
    assert_eq!((e["payment-id"].clone(), e["status"].clone()), (p["payment-id"].clone(), json!("settled")));
    s.shutdown().await;
    // ports are free again after shutdown
    let s = Sims::start(cfg).await.unwrap();
    s.shutdown().await;
}

#[tokio::test]
async fn down_closes_kept_alive_connections_too() {
    let s = sims().await;
    let addr = s.addr(System::Notify);
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let req = || hyper::Request::builder().uri("/messages").header("host", addr.to_string()).body(Full::new(Bytes::new())).unwrap();
    let r = tx.send_request(req()).await.unwrap();
    assert_eq!(r.status(), 200);
    r.into_body().collect().await.unwrap();
    s.faults(System::Notify).down(true);
    assert!(tx.send_request(req()).await.is_err());
    assert_eq!(s.faults(System::Notify).calls(), 2);
    s.shutdown().await;
}

#[test]
fn handles_are_send_sync() {
    fn ok<T: Send + Sync + 'static>() {}
    ok::<Sims>();
    ok::<caas_sim::FaultHandle>();
    ok::<caas_sim::NotifyHandle>();
    ok::<caas_sim::FactoryHandle>();
    ok::<caas_sim::PaymentHandle>();
    ok::<caas_sim::IotHandle>();
    ok::<caas_sim::VssHandle>();
    ok::<caas_sim::RegistryHandle>();
}

// ----------------------------------------------------------------------------- hosted checkout

/// A browser-like request: (status, location header, content-type, body text).
async fn browser(method: &str, url: &str, form: Option<&str>) -> (u16, String, String, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (auth, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let stream = tokio::net::TcpStream::connect(auth).await.unwrap();
    let (mut tx, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    let mut rb = hyper::Request::builder().method(method).uri(path).header("host", auth);
    if form.is_some() {
        rb = rb.header("content-type", "application/x-www-form-urlencoded");
    }
    let body = Bytes::from(form.unwrap_or("").to_string());
    let resp = tx.send_request(rb.body(Full::new(body)).unwrap()).await.unwrap();
    let h = |k: &str| resp.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (status, loc, ct) = (resp.status().as_u16(), h("location"), h("content-type"));
    let text = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes()).into_owned();
    (status, loc, ct, text)
}

fn card_form(number: &str, save: bool) -> String {
    let mut f = format!("card-number={}&card-expiry=12%2F39&card-cvc=123&card-name=Ana+Test&action=pay", number.replace(' ', "+"));
    if save {
        f.push_str("&save-card=yes");
    }
    f
}

fn hosted(r: &str, cust: &str) -> Value {
    let mut p = pay(r, cust);
    p["method"] = json!("hosted");
    p["return-url"] = json!("http://app.example/app/orders/x/paid?step=1");
    p
}

#[tokio::test]
async fn hosted_checkout_pay_decline_confirm_and_abandon() {
    let s = sims().await;
    let (app, rec) = fake_app(200).await;
    s.set_app_url(&app);
    s.payment().set_auto(true, 20, true); // hosted payments wait for the customer anyway
    let u = s.payment_url();

    // Validation: hosted needs an absolute return-url.
    let mut bad = hosted("ord_h0", "cus_h");
    bad["return-url"] = json!("/relative");
    assert_eq!(post(&format!("{u}/payments"), bad).await.0, 400);

    let (st, a) = post_h(&format!("{u}/payments"), hosted("ord_h1", "cus_h"), &[("idempotency-key", "h1")]).await;
    assert_eq!(st, 201, "{a}");
    let pid = a["payment-id"].as_str().unwrap().to_string();
    let checkout = a["checkout-url"].as_str().unwrap().to_string();
    assert_eq!(checkout, format!("{u}/checkout/{pid}"));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(s.payment().payment(&pid).unwrap()["status"], "pending", "not auto-settled");

    // The page: amount, reference, the stable ids.
    let (st, _, ct, page) = browser("GET", &checkout, None).await;
    assert_eq!(st, 200);
    assert!(ct.starts_with("text/html"));
    assert!(page.contains("500.00 EUR") && page.contains("ord_h1"));
    for id in ["card-number", "card-expiry", "card-cvc", "card-name", "save-card", "id=\"pay\"", "id=\"cancel\""] {
        assert!(page.contains(id), "{id}");
    }

    // Invalid card: the page again with an error, nothing changes.
    let (st, _, _, page) = browser("POST", &format!("{checkout}/pay"), Some(&card_form("4242 4242 4242 4241", false))).await;
    assert_eq!(st, 422);
    assert!(page.contains("role=\"alert\"") && page.contains("card number"));
    assert_eq!(s.payment().payment(&pid).unwrap()["status"], "pending");

    // Cancel: back with result=abandoned, still pending, the page opens again.
    let (st, loc, _, _) = browser("GET", &format!("{checkout}/cancel"), None).await;
    assert_eq!(st, 303);
    assert_eq!(loc, format!("http://app.example/app/orders/x/paid?step=1&payment_id={pid}&result=abandoned"));
    assert_eq!(s.payment().payment(&pid).unwrap()["status"], "pending");
    assert_eq!(browser("GET", &checkout, None).await.0, 200);

    // Pay with the success card, saving it: settled, signed webhook with the method, redirect.
    let (st, loc, _, _) = browser("POST", &format!("{checkout}/pay"), Some(&card_form("4242 4242 4242 4242", true))).await;
    assert_eq!(st, 303);
    assert!(loc.ends_with(&format!("payment_id={pid}&result=succeeded")), "{loc}");
    assert_eq!(s.payment().payment(&pid).unwrap()["status"], "settled");
    let got = rec.0.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "exactly one webhook (no auto-settlement)");
    check_signed(caas_sim::DEV_PAYMENT_WEBHOOK_SECRET, &got[0].1, &got[0].2);
    let ev: Value = serde_json::from_slice(&got[0].2).unwrap();
    assert_eq!((ev["payment-id"].as_str(), ev["status"].as_str()), (Some(pid.as_str()), Some("settled")));
    assert_eq!((ev["payment-method"]["brand"].as_str(), ev["payment-method"]["last4"].as_str()), (Some("visa"), Some("4242")));
    let pm = ev["payment-method"]["id"].as_str().unwrap().to_string();
    assert!(pm.starts_with("pm_"));
    let (_, list) = get(&format!("{u}/payment-methods?customer-id=cus_h")).await;
    assert_eq!(list["payment-methods"].as_array().unwrap().len(), 1);
    assert_eq!(list["payment-methods"][0]["id"], pm.as_str());
    // No longer pending: "already settled" page, POSTs refused.
    let (st, _, _, page) = browser("GET", &checkout, None).await;
    assert_eq!(st, 200);
    assert!(page.contains("already settled") && page.contains("http://app.example/app/orders/x/paid"));
    assert_eq!(browser("POST", &format!("{checkout}/pay"), Some(&card_form("4242424242424242", false))).await.0, 409);

    // Decline card: declined, failed webhook with card_declined, redirect.
    let (_, b) = post(&format!("{u}/payments"), hosted("ord_h2", "cus_h")).await;
    let pid2 = b["payment-id"].as_str().unwrap().to_string();
    let (st, loc, _, _) = browser("POST", &format!("{u}/checkout/{pid2}/pay"), Some(&card_form("4000 0000 0000 0002", true))).await;
    assert_eq!(st, 303);
    assert!(loc.ends_with("&result=declined"), "{loc}");
    assert_eq!(s.payment().payment(&pid2).unwrap()["status"], "declined");
    let ev: Value = serde_json::from_slice(&rec.0.lock().unwrap()[1].2).unwrap();
    assert_eq!((ev["status"].as_str(), ev["failure-reason"].as_str()), (Some("failed"), Some("card_declined")));
    assert!(ev.get("payment-method").is_none());

    // Confirmation card: a second page; Reject declines, Confirm settles.
    for (action, status, result) in [("reject", "declined", "declined"), ("confirm", "settled", "succeeded")] {
        let (_, c) = post(&format!("{u}/payments"), hosted(&format!("ord_{action}"), "cus_h")).await;
        let id = c["payment-id"].as_str().unwrap().to_string();
        let (st, _, _, page) = browser("POST", &format!("{u}/checkout/{id}/pay"), Some(&card_form("4000 0027 6000 3184", false))).await;
        assert_eq!(st, 200);
        assert!(page.contains("Confirm this payment with your bank") && page.contains("id=\"confirm\"") && page.contains("id=\"reject\""));
        assert_eq!(s.payment().payment(&id).unwrap()["status"], "pending");
        let (st, loc, _, _) = browser("POST", &format!("{u}/checkout/{id}/confirm"), Some(&format!("action={action}"))).await;
        assert_eq!(st, 303);
        assert!(loc.ends_with(&format!("result={result}")), "{loc}");
        assert_eq!(s.payment().payment(&id).unwrap()["status"], status);
    }
    assert_eq!(browser("GET", &format!("{u}/checkout/pay_nope"), None).await.0, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn setup_sessions_and_charges_with_saved_methods() {
    let s = sims().await;
    let u = s.payment_url();
    assert_eq!(post(&format!("{u}/setup-sessions"), json!({"customer-id": "cus_s"})).await.0, 400);
    let (st, a) = post(&format!("{u}/setup-sessions"), json!({"customer-id": "cus_s", "return-url": "http://app.example/app/account"})).await;
    assert_eq!(st, 201, "{a}");
    assert_eq!(a["status"], "open");
    let sid = a["setup-id"].as_str().unwrap().to_string();
    assert!(sid.starts_with("seti_"));
    assert_eq!(a["checkout-url"], format!("{u}/checkout/setup/{sid}"));
    let (st, _, _, page) = browser("GET", a["checkout-url"].as_str().unwrap(), None).await;
    assert_eq!(st, 200);
    assert!(page.contains("Save card") && !page.contains("save-card"));
    // Decline card: failed.
    let (_, b) = post(&format!("{u}/setup-sessions"), json!({"customer-id": "cus_s", "return-url": "http://app.example/a"})).await;
    let sid2 = b["setup-id"].as_str().unwrap();
    let (st, loc, _, _) = browser("POST", &format!("{u}/checkout/setup/{sid2}/pay"), Some(&card_form("4000000000000002", false))).await;
    assert_eq!((st, loc), (303, format!("http://app.example/a?setup_id={sid2}&result=declined")));
    assert_eq!(get(&format!("{u}/setup-sessions/{sid2}")).await.1["status"], "failed");
    // Mastercard saved.
    let (st, loc, _, _) = browser("POST", &format!("{u}/checkout/setup/{sid}/pay"), Some(&card_form("5555 5555 5555 4444", false))).await;
    assert_eq!(st, 303);
    assert!(loc.ends_with(&format!("setup_id={sid}&result=succeeded")), "{loc}");
    let (st, v) = get(&format!("{u}/setup-sessions/{sid}")).await;
    assert_eq!(st, 200);
    assert_eq!((v["status"].as_str(), v["customer-id"].as_str()), (Some("succeeded"), Some("cus_s")));
    assert_eq!((v["payment-method"]["brand"].as_str(), v["payment-method"]["last4"].as_str()), (Some("mastercard"), Some("4444")));
    let pm = v["payment-method"]["id"].as_str().unwrap().to_string();
    assert_eq!(get(&format!("{u}/setup-sessions/seti_nope")).await.0, 404);

    // Charges with the token: own → 201 and recorded; another customer's or unknown → 402.
    let mut ch = pay("sub_1-2026-12", "cus_s");
    ch["kind"] = json!("subscription");
    ch["payment-method"] = json!(pm);
    let (st, c) = post(&format!("{u}/charges"), ch.clone()).await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(s.payment().payment(c["payment-id"].as_str().unwrap()).unwrap()["payment-method"], pm.as_str());
    ch["customer-id"] = json!("cus_other");
    let (st, p) = post(&format!("{u}/charges"), ch.clone()).await;
    assert_eq!(st, 402, "{p}");
    assert_eq!(p["decline-code"], "payment_method_invalid");
    ch["customer-id"] = json!("cus_s");
    ch["payment-method"] = json!("pm_unknown");
    assert_eq!(post(&format!("{u}/charges"), ch).await.1["decline-code"], "payment_method_invalid");
    assert_eq!(s.payment().payment_methods().len(), 1);
    s.shutdown().await;
}
