//! The path to more than one machine: two replicas of the app (two runtimes) over one Redis
//! key-value store (a real `redis-server`) and one SQLite database file, named in a Spin runtime
//! configuration file as SpinKube would give it. A session made on one replica works on the
//! other; every tick fired on both replicas at once, repeatedly, still sends each e-mail once,
//! places each factory order once, sends each OTA command once and bills each subscription once;
//! the ledger invariants and the ledger-vs-gateway reconciliation hold.

use caas_domain::services::calendar::midnight_ms;
use caas_tests::redis_server::RedisServer;
use caas_tests::*;
use serde_json::{Value, json};

struct Replicas {
    t: TestApp,
    b: caas_runtime::App,
    _b_state: tempfile::TempDir,
    _shared: tempfile::TempDir,
    redis: RedisServer,
}

async fn two_replicas() -> Replicas {
    let redis = RedisServer::start().expect("redis-server");
    let shared = tempfile::tempdir().unwrap();
    let config = shared.path().join("runtime-config.toml");
    std::fs::write(
        &config,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n[sqlite_database.default]\ntype = \"spin\"\npath = \"app.db\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let t = TestApp::start_with(Options { runtime_config: Some(config), ..Options::default() }).await.unwrap();
    let b_state = tempfile::tempdir().unwrap();
    let b = t.replica(b_state.path()).await.unwrap();
    Replicas { t, b, _b_state: b_state, _shared: shared, redis }
}

impl Replicas {
    /// Replica `i` (0 = A, 1 = B) URL of `path`.
    fn url(&self, i: usize, path: &str) -> String {
        if i % 2 == 0 { self.t.url(path) } else { format!("{}{path}", self.b.url()) }
    }

    /// Fires tick `name` on both replicas at the same moment, `times` times; every answer 200.
    async fn tick_both(&self, name: &str, times: usize) {
        for _ in 0..times {
            let fire = |i: usize| self.t.client.post(self.url(i, &format!("/internal/ticks/{name}"))).bearer_auth(TICK_SECRET).send();
            let (a, b) = tokio::join!(fire(0), fire(1));
            for r in [a, b] {
                let r = r.unwrap();
                assert_eq!(r.status(), 200, "tick {name}: {}", r.text().await.unwrap_or_default());
            }
        }
    }

    async fn get(&self, i: usize, path: &str, token: &str) -> (u16, Value) {
        let r = self.t.client.get(self.url(i, path)).bearer_auth(token).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, i: usize, path: &str, token: Option<&str>, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut rq = self.t.client.post(self.url(i, path)).json(&body);
        if let Some(tk) = token {
            rq = rq.bearer_auth(tk);
        }
        if let Some(k) = key {
            rq = rq.header("idempotency-key", k);
        }
        let r = rq.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_over_redis_and_one_database_do_everything_once() {
    let r = two_replicas().await;
    let t = &r.t;

    // Sessions live in Redis: signed in on A, known on B; signed out on B, refused on A.
    let (st, login) = r.post(0, "/api/auth/login", None, json!({"email": EMPLOYEE_EMAIL, "password": EMPLOYEE_PASSWORD}), None).await;
    assert_eq!(st, 200, "{login}");
    let staff = login["token"].as_str().unwrap().to_string();
    let (st, me) = r.get(1, "/api/auth/me", &staff).await;
    assert_eq!(st, 200, "a session made on A works on B: {me}");
    assert!(r.redis.dbsize() > 0, "sessions are kept in redis");

    // Sales registered on alternate replicas; the credentials e-mails go out once each although
    // both replicas work the outbox at the same moment, again and again.
    let ns = [8101u32, 8102, 8103, 8104];
    let mut orders = Vec::new();
    for (i, n) in ns.iter().enumerate() {
        let (st, v) = r.post(i, "/api/sales", Some(&staff), sale_body(*n), Some(&format!("rep-sale-{n}"))).await;
        assert_eq!(st, 201, "{v}");
        orders.push(v["order_id"].as_str().unwrap().to_string());
    }
    r.tick_both("retry", 3).await;
    for n in ns {
        let mails: Vec<Value> = t.sims.notify().messages_to(&format!("lucia.{n}@example.com")).into_iter().filter(|m| m["template"] == "credentials").collect();
        assert_eq!(mails.len(), 1, "customer {n}: {mails:?}");
    }

    // Customers sign in on alternate replicas and pay the reservation; the factory order each
    // payment queues is placed once although both replicas work the queue.
    let mut customers = Vec::new();
    for (i, (n, order)) in ns.iter().zip(&orders).enumerate() {
        let email = format!("lucia.{n}@example.com");
        let token = emailed_set_password_token(t, &email);
        let (st, v) = r.post(i, "/api/auth/set-password", None, json!({"token": token, "new_password": CUSTOMER_NEW_PASSWORD}), None).await;
        assert_eq!(st, 200, "{v}");
        let (st, v) = r.post(i + 1, "/api/auth/login", None, json!({"email": email, "password": CUSTOMER_NEW_PASSWORD}), None).await;
        assert_eq!(st, 200, "{v}");
        let c = Customer { email, token: v["token"].as_str().unwrap().to_string(), order_id: order.clone(), customer_id: String::new() };
        let (st, p) = r.post(i, &format!("/api/orders/{order}/reservation-payment"), Some(&c.token), json!({}), None).await;
        assert_eq!(st, 201, "{p}");
        assert_eq!(t.sims.payment().settle(p["payment_id"].as_str().unwrap(), true).await.unwrap(), 200);
        customers.push(c);
    }
    r.tick_both("retry", 3).await;
    let factory_orders = t.sims.factory().orders();
    for o in &orders {
        let placed = factory_orders.iter().filter(|f| serde_json::to_string(f).unwrap().contains(o.as_str())).count();
        assert_eq!(placed, 1, "factory orders for {o}: {factory_orders:?}");
    }

    // A connected car (the whole journey on A), then a subscription bought on B: both replicas
    // work the OTA queue at once; the car gets one command, the customer is charged once.
    let (token, vin) = operational_vehicle(t, 8105).await;
    let before = t.sims.iot().commands_for(&vin).len();
    let (st, svc) = r.post(1, "/api/services", Some(&token), json!({"vin": vin, "option_code": "entertainment-plus"}), Some("rep-buy-1")).await;
    assert_eq!(st, 202, "{svc}");
    let id = svc["id"].as_str().unwrap().to_string();
    r.tick_both("ota", 3).await;
    assert_eq!(t.sims.iot().commands_for(&vin).len() - before, 1, "one OTA command: {:?}", t.sims.iot().commands_for(&vin));
    let (st, s) = r.get(0, &format!("/api/services/{id}"), &token).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["state"], "active", "{s}");

    // Month end: both replicas run the billing tick at once, repeatedly: one charge per period.
    t.advance_to(midnight_ms(2026, 12, 1) + 3_600_000);
    r.tick_both("billing", 3).await;
    r.tick_both("retry", 2).await;
    let charges: i64 = t.db().query_row("SELECT COUNT(*) FROM subscription_charges WHERE subscription_id = ?1", [&id], |x| x.get(0)).unwrap();
    assert_eq!(charges, 1, "one charge row for November");
    let gateway = t.sims.payment().payments().into_iter().filter(|p| p["reference"].as_str().is_some_and(|x| x.starts_with(&format!("{id}/")))).count();
    assert_eq!(gateway, 1, "one gateway charge for November");

    // A mixed read load through both replicas (signed in again: sessions last a day of business
    // time, and the clock moved to December): every answer 200.
    let c = &customers[0];
    let (st, v) = r.post(1, "/api/auth/login", None, json!({"email": c.email, "password": CUSTOMER_NEW_PASSWORD}), None).await;
    assert_eq!(st, 200, "{v}");
    let token = v["token"].as_str().unwrap().to_string();
    for i in 0..40 {
        let (st, v) = r.get(i, &format!("/api/orders/{}", c.order_id), &token).await;
        assert_eq!(st, 200, "{v}");
        let (st, _) = r.get(i + 1, "/api/catalog", &token).await;
        assert_eq!(st, 200);
    }
    assert_ledger_invariants(t);
    drop(r.b);
    r.t.stop().await;
}
