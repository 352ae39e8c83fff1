//! The local runtime behaves like `spin up` for what the app uses: variables, routes,
//! outbound-host grants, KV + SQLite persistence across a restart, and the virtual clock.

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use caas_tests::*;
use serde_json::json;

fn probe_manifest() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/probe.toml")
}

async fn probe_app(extra: &[(&str, &str)]) -> TestApp {
    let mut variables = BTreeMap::from([("secret_token".to_string(), "s3cr3t".to_string())]);
    for (k, v) in extra {
        variables.insert(k.to_string(), v.to_string());
    }
    TestApp::start_with(Options { manifest: probe_manifest(), variables, ..Options::default() })
        .await
        .expect("probe app starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn variables_resolve_defaults_overrides_and_templates() {
    let t = probe_app(&[]).await;
    let r = t.get("/probe/var/greeting", None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "hello from the manifest"));
    let r = t.get("/probe/var/token", None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "s3cr3t"));
    let r = t.get("/probe/var/composed", None).await;
    assert_eq!(r.text, "prefix-hello from the manifest-suffix");
    // Not granted to the component.
    let r = t.get("/probe/var/allowed_url", None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    t.stop().await;

    let t = probe_app(&[("greeting", "overridden")]).await;
    assert_eq!(t.get("/probe/var/greeting", None).await.text, "overridden");
    assert_eq!(t.get("/probe/var/composed", None).await.text, "prefix-overridden-suffix");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn required_variable_without_value_is_a_clear_startup_error() {
    require_components(&probe_manifest()).unwrap();
    let mut cfg = caas_runtime::Config::new(probe_manifest());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    cfg.state_dir = dir.path().to_path_buf();
    let err = caas_runtime::serve(cfg).await.err().expect("must refuse to start");
    assert!(format!("{err:#}").contains("secret_token"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_manifests_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    require_components(&probe_manifest()).unwrap();
    let probe = &manifest_wasm(&probe_manifest())[0];
    let bad_route = format!(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/cars/.../extra\"\ncomponent = \"c\"\n[component.c]\nsource = \"{}\"\n",
        probe.display()
    );
    let cases = [
        (
            "unknown component",
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"ghost\"\n",
            "ghost",
        ),
        (
            "missing source",
            "spin_manifest_version = 2\n[application]\nname = \"x\"\n[[trigger.http]]\nroute = \"/a\"\ncomponent = \"c\"\n[component.c]\nsource = \"nowhere/c.wasm\"\n",
            "nowhere/c.wasm",
        ),
        ("bad route", bad_route.as_str(), "/cars/.../extra"),
    ];
    for (what, text, needle) in cases {
        let path = dir.path().join("spin.toml");
        std::fs::write(&path, text).unwrap();
        let mut cfg = caas_runtime::Config::new(&path);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.state_dir = dir.path().join("state");
        let err = caas_runtime::serve(cfg).await.err().unwrap_or_else(|| panic!("{what}: must fail"));
        assert!(format!("{err:#}").contains(needle), "{what}: {err:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_follow_spin_semantics() {
    let t = probe_app(&[]).await;
    // Most specific wins: the exact route beats the parameterised one, which beats the wildcard.
    let r = t.get("/probe/route/fixed/exact", None).await.json();
    assert_eq!(r["spin-matched-route"], "/probe/route/fixed/exact", "{r}");
    let r = t.get("/probe/route/other/exact", None).await.json();
    assert_eq!(r["spin-matched-route"], "/probe/route/:kind/exact", "{r}");
    assert_eq!(r["spin-path-match-kind"], "other", "{r}");
    let r = t.get("/probe/route/a/b/c?x=1", None).await.json();
    assert_eq!(r["spin-matched-route"], "/probe/...", "{r}");
    assert_eq!(r["spin-path-info"], "/route/a/b/c", "{r}");
    assert!(r["spin-full-url"].as_str().unwrap().ends_with("/probe/route/a/b/c?x=1"), "{r}");
    // No route.
    assert_eq!(t.get("/nothing-here", None).await.status, 404);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_http_only_to_allowed_hosts() {
    // Allowed: the notify simulator (granted through the templated allowed_outbound_hosts).
    let sims = caas_sim::Sims::start(caas_sim::SimConfig {
        app_url: None,
        factory_webhook_secret: "f".into(),
        payment_webhook_secret: "p".into(),
        ports: None,
        auto_webhooks: false,
        clock: None,
    })
    .await
    .unwrap();
    let vss = sims.vss_url();
    let t = probe_app(&[("allowed_url", &vss)]).await;
    let ok = t
        .send(t.client.post(t.url("/probe/fetch")).body(format!("{vss}/vehicles/VIN123/maintenance")))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    assert_eq!(ok.json()["status"], 200, "{}", ok.text);

    // Denied: another simulator on another port is not in the grant; the call fails, nothing reaches it.
    let before = sims.faults(caas_sim::System::Notify).calls();
    let denied = t
        .send(t.client.post(t.url("/probe/fetch")).body(format!("{}/messages", sims.notify_url())))
        .await;
    assert_eq!(denied.status, 502, "{}", denied.text);
    assert_eq!(sims.faults(caas_sim::System::Notify).calls(), before);
    t.stop().await;
    sims.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_and_sqlite_survive_a_restart_and_transactions_roll_back() {
    let mut t = probe_app(&[]).await;
    let r = t.send(t.client.put(t.url("/probe/kv/colour")).body("blue")).await;
    assert!(r.status < 300, "{}", r.text);
    let sql = |v: serde_json::Value| t.client.post(t.url("/probe/sql")).json(&v);
    let r = t.send(sql(json!({"sql": "CREATE TABLE cars (vin TEXT PRIMARY KEY, km INTEGER)", "params": []}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = t.send(sql(json!({"sql": "INSERT INTO cars VALUES (?, ?)", "params": ["VIN1", 10]}))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A transaction whose second statement fails leaves nothing behind.
    let r = t
        .send(sql(json!({"tx": true, "batch": [
            {"sql": "INSERT INTO cars VALUES (?, ?)", "params": ["VIN2", 20]},
            {"sql": "INSERT INTO cars VALUES (?, ?)", "params": ["VIN1", 30]}
        ]})))
        .await;
    assert!(r.status >= 400, "the duplicate key must fail: {}", r.text);

    t.restart().await.unwrap();
    assert_eq!(t.get("/probe/kv/colour", None).await.text, "blue");
    let r = t
        .send(t.client.post(t.url("/probe/sql")).json(&json!({"sql": "SELECT vin, km FROM cars ORDER BY vin", "params": []})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["rows"], json!([["VIN1", 10]]), "{}", r.text);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn components_see_the_virtual_clock() {
    let t = probe_app(&[]).await;
    let ms = |r: serde_json::Value| r["unix_ms"].as_u64().unwrap();
    let start = start_time().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let t0 = ms(t.get("/probe/time", None).await.json());
    assert!(t0 >= start && t0 < start + 60_000, "{t0} vs {start}");
    t.advance(Duration::from_secs(14 * 24 * 3600));
    let t1 = ms(t.get("/probe/time", None).await.json());
    assert!(t1 - t0 >= 14 * 24 * 3600 * 1000, "{t0} -> {t1}");
    t.stop().await;
}
