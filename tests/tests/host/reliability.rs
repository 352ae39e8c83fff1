//! Issue 9 "Reliability suite": bounded-time tests of the whole app under faults and load.
//! Real components, simulators, virtual clock. Counts are constants so the suite stays well
//! under a minute per test on a 2-core machine.
//! Harness policy: retry_base_seconds = 30, retry_max_attempts = 4.

use caas_tests::caas_sim::System;
use caas_tests::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// IoT test: purchases made while the IoT API fails this share of calls at random.
const IOT_PURCHASES: usize = 200;
const IOT_FAIL_RATE: f64 = 0.3;
/// The catalog has 8 options; a seeded vehicle has none active, so each takes 8 purchases.
const OPTIONS_PER_VEHICLE: usize = 8;
/// Purchases sent at once (the test is about faults, not load).
const PURCHASE_PARALLELISM: usize = 4;
/// Vehicles that stay offline throughout (every command to them fails): escalations happen in
/// every run, not only when the random failures line up four times in a row (p ≈ 0.8%).
const OFFLINE_VEHICLES: usize = 1;
/// Upper bound on OTA tick rounds before the test gives up (each round moves the clock on).
const MAX_OTA_ROUNDS: usize = 40;

/// Concurrency test: requests of a mixed storm, and how many are in flight at most.
const STORM_REQUESTS: usize = 200;
const STORM_IN_FLIGHT: usize = 32;
const STORM_CUSTOMERS: u32 = 8;


fn codes() -> Vec<String> {
    let cat: Value = serde_json::from_str(caas_domain::services::catalog::SEED_JSON).unwrap();
    cat["options"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap().to_string()).collect()
}

fn pending_jobs(t: &TestApp, kind: &str) -> i64 {
    t.db().query_row("SELECT COUNT(*) FROM jobs WHERE kind = ?1 AND status = 'pending'", [kind], |r| r.get(0)).unwrap()
}

fn virtual_now_secs(t: &TestApp) -> u64 {
    t.clock.now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Bought {
    id: String,
    vin: String,
    customer_id: String,
    payment_id: Option<String>,
    price: i64,
}

#[tokio::test(flavor = "multi_thread")]
async fn iot_failing_30_percent_during_200_purchases_every_purchase_ends_active_or_escalated_uncharged_and_notified() {
    let started = Instant::now();
    let t = TestApp::start().await;
    let codes = codes();
    assert!(codes.len() >= OPTIONS_PER_VEHICLE, "{codes:?}");
    let vehicles = IOT_PURCHASES.div_ceil(OPTIONS_PER_VEHICLE) as u32;
    let mut owners = Vec::new();
    for n in 0..vehicles {
        let (token, vin) = operational_vehicle_seeded(&t, 3000 + n).await;
        let customer_id: String =
            t.db().query_row("SELECT customer_id FROM vehicle_links WHERE vin = ?1", [&vin], |r| r.get(0)).unwrap();
        owners.push((token, vin, customer_id));
    }
    eprintln!("{} vehicles ready after {:?}", owners.len(), started.elapsed());

    // From here on the vehicles' IoT API fails 30% of calls at random.
    t.sims.faults(System::Iot).fail_rate(IOT_FAIL_RATE);
    for (_, vin, _) in owners.iter().rev().take(OFFLINE_VEHICLES) {
        t.sims.iot().set_vehicle_status(vin, json!({"online": false}));
    }
    let calls_before = t.sims.faults(System::Iot).requests().len();
    let mut plan = Vec::new();
    for i in 0..IOT_PURCHASES {
        let (token, vin, customer_id) = owners[i / OPTIONS_PER_VEHICLE].clone();
        plan.push((token, vin, customer_id, codes[i % OPTIONS_PER_VEHICLE].clone(), i));
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(PURCHASE_PARALLELISM));
    let t = Arc::new(t);
    let mut set = tokio::task::JoinSet::new();
    for (token, vin, customer_id, code, i) in plan {
        let (t, gate) = (t.clone(), gate.clone());
        set.spawn(async move {
            let _p = gate.acquire_owned().await.unwrap();
            let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": code}), Some(&token), Some(&format!("rel-buy-{i}"))).await;
            assert_eq!(r.status, 202, "purchase {i} {code} on {vin}: {}", r.text);
            let s = r.json();
            Bought {
                id: s["id"].as_str().unwrap().to_string(),
                vin,
                customer_id,
                payment_id: s["payment_id"].as_str().map(str::to_string),
                price: s["price"]["amount_minor"].as_i64().unwrap_or(0),
            }
        });
    }
    let mut bought = Vec::new();
    while let Some(b) = set.join_next().await {
        bought.push(b.unwrap());
    }
    let t = Arc::into_inner(t).expect("no task holds the app");
    assert_eq!(bought.len(), IOT_PURCHASES);
    eprintln!("{} purchases after {:?}", bought.len(), started.elapsed());

    // Half of the upfront payments settle before the OTA engine runs (an escalation must then
    // refund), the rest after it (an escalation must void them before they settle).
    let upfront: Vec<&Bought> = bought.iter().filter(|b| b.payment_id.is_some()).collect();
    assert!(upfront.len() >= IOT_PURCHASES / 2, "most options are paid up front");
    for b in upfront.iter().step_by(2) {
        let pid = b.payment_id.as_deref().unwrap();
        assert_eq!(t.sims.payment().settle(pid, true).await.unwrap(), 200, "settlement of {pid}");
    }

    // The OTA engine runs until nothing is left to do, the clock moving past each backoff.
    let mut rounds = 0;
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    loop {
        let r = t.tick("ota").await;
        for k in ["applied", "retried", "escalated", "pending_money"] {
            *totals.entry(k).or_default() += r[k].as_u64().unwrap_or(0);
        }
        if pending_jobs(&t, "ota") == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < MAX_OTA_ROUNDS, "OTA jobs still pending after {rounds} rounds: {totals:?}");
        t.advance(Duration::from_secs(301));
    }
    eprintln!("OTA done after {rounds} rounds, {totals:?}, {:?}", started.elapsed());
    let iot_calls = t.sims.faults(System::Iot).requests().len() - calls_before;
    assert!(totals["retried"] > 0, "the faults were felt: {totals:?} ({iot_calls} IoT calls)");

    // Payments still pending at the gateway settle now (a voided one stays voided).
    for b in &upfront {
        let pid = b.payment_id.as_deref().unwrap();
        if t.sims.payment().payment(pid).unwrap()["status"] == "pending" {
            assert_eq!(t.sims.payment().settle(pid, true).await.unwrap(), 200, "late settlement of {pid}");
        }
    }
    // Notifications (and any money jobs) go out through the outbox.
    for _ in 0..MAX_OTA_ROUNDS {
        t.tick("retry").await;
        if t.count("SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND kind <> 'ota'") == 0 {
            break;
        }
        let left: Vec<(String, String)> = {
            let db = t.db();
            let mut st = db.prepare("SELECT kind, dedupe_key FROM jobs WHERE status = 'pending' AND kind <> 'ota' LIMIT 5").unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        eprintln!("outbox not empty yet: {left:?}");
        t.advance(Duration::from_secs(301));
    }

    // Every purchase ended active or escalated.
    let messages = t.sims.notify().messages();
    let tickets: BTreeSet<String> = {
        let db = t.db();
        let mut st = db.prepare("SELECT service_id FROM support_tickets").unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    let (mut active, mut escalated) = (0, 0);
    for b in &bought {
        let (state, payment_status): (String, Option<String>) = t
            .db()
            .query_row("SELECT state, payment_status FROM services WHERE id = ?1", [&b.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        let template = match state.as_str() {
            "active" => {
                active += 1;
                if b.payment_id.is_some() {
                    assert_eq!(ledger_net(&t, &b.id), b.price, "{} active: charged once", b.id);
                }
                "service-activated"
            }
            "failed" => {
                escalated += 1;
                assert!(tickets.contains(&b.id), "{} failed without a support ticket", b.id);
                assert_eq!(ledger_net(&t, &b.id), 0, "{} escalated: no net charge", b.id);
                if let Some(pid) = &b.payment_id {
                    let p = t.sims.payment().payment(pid).unwrap();
                    let given_back = p["status"] == "voided" || (p["status"] == "settled" && p["refunded-minor"].as_i64() == Some(b.price));
                    assert!(given_back, "{} escalated: the gateway still holds the money: {p} ({payment_status:?})", b.id);
                }
                "ota-failure"
            }
            other => panic!("{} ended `{other}` (neither active nor escalated)", b.id),
        };
        let told = messages.iter().any(|m| {
            m["template"] == template
                && m["customer-id"] == b.customer_id.as_str()
                && m["message-id"].as_str().unwrap_or("").contains(&b.id)
        });
        assert!(told, "{} ({state}) on {}: customer not told ({template})", b.id, b.vin);
    }
    eprintln!("{active} active, {escalated} escalated, {iot_calls} IoT calls, {:?}", started.elapsed());
    assert_eq!(active + escalated, IOT_PURCHASES);
    assert!(escalated >= OFFLINE_VEHICLES * OPTIONS_PER_VEHICLE, "the offline vehicles' purchases escalated");
    t.sims.faults(System::Iot).reset();
    t.stop().await;
}

/// One request of the storm: what it was, its status, its body.
struct Outcome {
    kind: &'static str,
    status: u16,
    body: String,
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_parallel_purchases_logins_reads_and_webhooks_never_answer_5xx_or_surface_sqlite_busy() {
    let started = Instant::now();
    let t = TestApp::start().await;
    // Customers with vehicles; each has four options bought (paid up front) before the storm.
    let pre_codes = ["power-boost-1m", "parking-assist", "snow-mode-14d", "off-road-mode-7d"];
    let storm_codes = ["entertainment-plus", "premium-audio", "highway-autopilot", "heated-seats"];
    let mut customers = Vec::new(); // (token, vin, email, order_id)
    let mut pending = Vec::new();
    for n in 0..STORM_CUSTOMERS {
        let (token, vin) = operational_vehicle_seeded(&t, 4000 + n).await;
        let order_id: String = t.db().query_row("SELECT order_id FROM vehicles WHERE vin = ?1", [&vin], |r| r.get(0)).unwrap();
        for code in pre_codes {
            let r = t.post_json("/api/services", &json!({"vin": vin, "option_code": code}), Some(&token), Some(&format!("pre-{n}-{code}"))).await;
            assert_eq!(r.status, 202, "{}", r.text);
            pending.push(r.json()["payment_id"].as_str().expect("paid up front").to_string());
        }
        customers.push((token, vin, format!("lucia.{}@example.com", 4000 + n), order_id));
    }
    // A few settlements before the storm: their deliveries are replayed during it.
    let webhook_slots = (0..STORM_REQUESTS).filter(|i| i % 8 == 5).count();
    let settle_before = pending.len().saturating_sub(webhook_slots).max(4);
    for pid in pending.drain(..settle_before) {
        assert_eq!(t.sims.payment().settle(&pid, true).await.unwrap(), 200);
    }
    let replays: Vec<String> = t.sims.payment().webhooks().iter().map(|w| w["payload"].to_string()).collect();
    assert!(!replays.is_empty());
    eprintln!("setup done after {:?}: {} payments to settle in the storm, {} deliveries to replay", started.elapsed(), pending.len(), replays.len());

    let t = Arc::new(t);
    let gate = Arc::new(tokio::sync::Semaphore::new(STORM_IN_FLIGHT));
    let now = virtual_now_secs(&t);
    let mut set = tokio::task::JoinSet::new();
    let half = STORM_CUSTOMERS as usize / 2;
    for i in 0..STORM_REQUESTS {
        let (t, gate) = (t.clone(), gate.clone());
        // Customers 0..half sign in correctly; wrong passwords go to the other half and to
        // unknown accounts, spread so that one account's throttle does not decide the test.
        let c = customers[i % half].clone();
        let other = customers[half + i % half].clone();
        let pid = pending.get(i / 8).cloned();
        let replay = replays[i % replays.len()].clone();
        let code = storm_codes[(i / 8) % storm_codes.len()];
        let buyer = customers[(i / 8 / storm_codes.len()) % customers.len()].clone();
        set.spawn(async move {
            let _p = gate.acquire_owned().await.unwrap();
            let (kind, r) = match i % 8 {
                0 => {
                    let body = json!({"vin": buyer.1, "option_code": code});
                    ("purchase", t.post_json("/api/services", &body, Some(&buyer.0), Some(&format!("storm-{i}"))).await)
                }
                1 => ("login-ok", t.post_json("/api/auth/login", &json!({"email": c.2, "password": CUSTOMER_NEW_PASSWORD}), None, None).await),
                2 => {
                    let email = if i % 16 == 2 { other.2.clone() } else { format!("nobody.{i}@example.com") };
                    ("login-wrong", t.post_json("/api/auth/login", &json!({"email": email, "password": "wrong-password-123"}), None, None).await)
                }
                3 => ("read-services", t.get("/api/services", Some(&c.0)).await),
                4 => ("read-catalog", t.get(&format!("/api/catalog?vin={}", c.1), Some(&c.0)).await),
                5 => match pid {
                    Some(pid) => {
                        let status = t.sims.payment().settle(&pid, true).await.expect("gateway delivers");
                        return Outcome { kind: "webhook", status, body: String::new() };
                    }
                    None => ("webhook-replay", signed(&t, now, &replay).await),
                },
                6 => ("webhook-replay", signed(&t, now, &replay).await),
                _ => {
                    if i % 16 == 7 {
                        ("read-order", t.get(&format!("/api/orders/{}", c.3), Some(&c.0)).await)
                    } else if i % 32 == 15 {
                        // The scheduler does not wait for quiet moments: ticks write too.
                        let tick = if i % 64 == 15 { "ota" } else { "retry" };
                        let r = t.send(t.client.post(t.url(&format!("/internal/ticks/{tick}"))).bearer_auth(TICK_SECRET)).await;
                        ("tick", r)
                    } else {
                        ("health", t.get("/health", None).await)
                    }
                }
            };
            Outcome { kind, status: r.status, body: r.text }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(o) = set.join_next().await {
        outcomes.push(o.unwrap());
    }
    let storm_time = started.elapsed();
    let mut by_kind: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for o in &outcomes {
        *by_kind.entry((o.kind, o.status)).or_default() += 1;
    }
    eprintln!("storm answered after {storm_time:?}: {by_kind:?}");
    assert_eq!(outcomes.len(), STORM_REQUESTS);
    let bad: Vec<String> = outcomes
        .iter()
        .filter(|o| {
            let b = o.body.to_ascii_lowercase();
            o.status >= 500 || b.contains("sqlite_busy") || b.contains("database is locked") || b.contains("sqlite")
        })
        .map(|o| format!("{} {} {}", o.kind, o.status, o.body))
        .collect();
    assert!(bad.is_empty(), "{} of {STORM_REQUESTS} requests failed on the server side:\n{}", bad.len(), bad.join("\n"));
    // Beyond "no 5xx": every kind did its job.
    for o in &outcomes {
        let ok = match o.kind {
            "purchase" => o.status == 202 || o.status == 409,
            "login-ok" => o.status == 200 || o.status == 429,
            "login-wrong" => o.status == 401 || o.status == 429,
            "webhook" | "webhook-replay" => o.status == 200,
            _ => o.status == 200,
        };
        assert!(ok, "{} answered {}: {}", o.kind, o.status, o.body);
    }
    assert!(by_kind.get(&("login-ok", 200)).copied().unwrap_or(0) > 0, "some correct logins got through: {by_kind:?}");
    assert!(by_kind.get(&("purchase", 202)).copied().unwrap_or(0) > 0, "{by_kind:?}");

    // Afterwards the books are whole: activations go out, every payment settles.
    let t = Arc::into_inner(t).expect("no task holds the app");
    for _ in 0..5 {
        t.tick("ota").await;
        if pending_jobs(&t, "ota") == 0 {
            break;
        }
    }
    for p in t.sims.payment().payments() {
        if p["status"] == "pending" {
            let pid = p["payment-id"].as_str().unwrap();
            assert_eq!(t.sims.payment().settle(pid, true).await.unwrap(), 200, "settlement of {pid}");
        }
    }
    t.tick("retry").await;
    assert_eq!(t.count("SELECT COUNT(*) FROM services WHERE state NOT IN ('active')"), 0, "every bought service active");
    eprintln!("done after {:?}", started.elapsed());
    t.stop().await;
}

/// A payment webhook delivery signed like the gateway does, straight to the app.
async fn signed(t: &TestApp, ts: u64, body: &str) -> Resp {
    let sig = caas_tests::caas_sim::signing::sign(PAYMENT_SECRET, ts, body);
    t.send(
        t.client
            .post(t.url("/webhooks/payment"))
            .header("content-type", "application/json")
            .header("x-caas-timestamp", ts.to_string())
            .header("x-caas-signature", sig)
            .body(body.to_string()),
    )
    .await
}
