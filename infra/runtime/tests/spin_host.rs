//! The Spin host interfaces (spin:key-value, spin:sqlite, spin:variables) driven by a real
//! spin-sdk 7 guest: tests/components/probe, served by caas-runtime.
//! Needs `target/wasm32-wasip2/release/probe_component.wasm`
//! (`infra/build-wasm.sh -p probe-component`; `make test` builds it).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use caas_runtime::{App, Config};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn probe_wasm() -> PathBuf {
    let p = workspace().join("target/wasm32-wasip2/release/probe_component.wasm");
    assert!(
        p.exists(),
        "{} is missing: build it with `infra/build-wasm.sh -p probe-component`",
        p.display()
    );
    p
}

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "caas-rt-spin-host-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// An app with the probe twice: `/probe/...` with KV, SQLite and a variable granted,
/// `/bare/...` with nothing granted.
fn write_manifest(dir: &Path) -> PathBuf {
    let wasm = probe_wasm();
    let manifest = format!(
        r#"spin_manifest_version = 2

[application]
name = "spin-host-test"

[variables]
notify_url = {{ default = "http://127.0.0.1:9/notify" }}
payment_url = {{ default = "http://127.0.0.1:9/pay" }}

[[trigger.http]]
route = "/probe/..."
component = "probe"

[component.probe]
source = "{wasm}"
key_value_stores = ["default"]
sqlite_databases = ["default"]
[component.probe.variables]
notify_url = "{{{{ notify_url }}}}"

[[trigger.http]]
route = "/bare/..."
component = "bare"

[component.bare]
source = "{wasm}"
"#,
        wasm = wasm.display()
    );
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).unwrap();
    path
}

async fn start(dir: &Path) -> App {
    let mut cfg = Config::new(write_manifest(dir));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.state_dir = dir.join(".spin");
    cfg.cache_dir = Some(workspace().join("target/caas-runtime-test-cache"));
    cfg.log_requests = false;
    caas_runtime::serve(cfg).await.expect("runtime starts")
}

async fn call(app: &App, method: &str, path: &str, body: impl Into<Bytes>) -> (u16, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(app.local_addr())
        .await
        .unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", app.local_addr().to_string())
        .body(Full::new(body.into()))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body)
}

async fn call_json(app: &App, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, body) = call(app, method, path, body.to_string()).await;
    let v = serde_json::from_slice(&body).unwrap_or_else(|_| {
        panic!(
            "{method} {path}: not JSON ({status}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, v)
}

async fn sql(app: &App, body: Value) -> (u16, Value) {
    call_json(app, "POST", "/probe/sql", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_host_key_value_through_guest_and_persistence() {
    let dir = temp_dir("kv");
    let app = start(&dir).await;
    assert_eq!(call(&app, "GET", "/probe/kv/car-1", "").await.0, 404);
    let (s, _) = call(&app, "PUT", "/probe/kv/car-1", "red").await;
    assert_eq!(s, 200);
    call(&app, "PUT", "/probe/kv/car-2", "blue").await;
    call(&app, "PUT", "/probe/kv/car-1", "green").await;
    let (s, b) = call(&app, "GET", "/probe/kv/car-1", "").await;
    assert_eq!((s, b.as_slice()), (200, &b"green"[..]));
    let (s, keys) = call_json(&app, "GET", "/probe/kv", Value::Null).await;
    assert_eq!((s, keys), (200, json!(["car-1", "car-2"])));
    let (s, _) = call(&app, "DELETE", "/probe/kv/car-2", "").await;
    assert_eq!(s, 200);
    assert_eq!(call(&app, "GET", "/probe/kv/car-2", "").await.0, 404);

    // Not granted: access-denied reaches the guest as an error.
    let (s, v) = call_json(&app, "GET", "/bare/probe/kv/car-1", Value::Null).await;
    assert_eq!(s, 500);
    assert!(v["error"].as_str().unwrap().contains("AccessDenied"), "{v}");
    app.shutdown().await;

    // Restart over the same state dir: data persisted.
    let app = start(&dir).await;
    let (s, b) = call(&app, "GET", "/probe/kv/car-1", "").await;
    assert_eq!((s, b.as_slice()), (200, &b"green"[..]));
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_host_sqlite_through_guest() {
    let dir = temp_dir("sql");
    let app = start(&dir).await;
    let (s, v) = sql(
        &app,
        json!({"sql": "CREATE TABLE cars (id INTEGER PRIMARY KEY, vin TEXT UNIQUE NOT NULL, price REAL, photo BLOB, note TEXT)"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = sql(
        &app,
        json!({"sql": "INSERT INTO cars (vin, price, photo, note) VALUES (?, ?, ?, ?)",
               "params": ["VIN1", 19999.5, {"blob": [0, 1, 254]}, null]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["changes"], 1);
    assert_eq!(v["last_insert_rowid"], 1);
    let (s, v) = sql(&app, json!({"sql": "SELECT id, vin, price, photo, note FROM cars WHERE vin = ?", "params": ["VIN1"]})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["columns"], json!(["id", "vin", "price", "photo", "note"]));
    assert_eq!(
        v["rows"],
        json!([[1, "VIN1", 19999.5, {"blob": [0, 1, 254]}, null]])
    );

    // A statement error comes back as io(<sqlite message>).
    let (s, v) = sql(&app, json!({"sql": "SELEC nonsense"})).await;
    assert_eq!(s, 409);
    assert!(v["error"].as_str().unwrap().contains("syntax error"), "{v}");

    // Transaction across several execute calls, committed.
    let (s, v) = sql(
        &app,
        json!({"tx": true, "batch": [
            {"sql": "INSERT INTO cars (vin) VALUES ('VIN2')"},
            {"sql": "INSERT INTO cars (vin) VALUES ('VIN3')"},
            {"sql": "SELECT COUNT(*) FROM cars"}
        ]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"], json!([[3]]));

    // A failing statement mid-transaction: the guest returns without COMMIT or
    // ROLLBACK; dropping its connection must undo the earlier statements.
    let (s, v) = sql(
        &app,
        json!({"tx": true, "batch": [
            {"sql": "INSERT INTO cars (vin) VALUES ('VIN4')"},
            {"sql": "INSERT INTO cars (vin) VALUES ('VIN1')"}
        ]}),
    )
    .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["failed_index"], 1);
    assert!(v["error"].as_str().unwrap().contains("UNIQUE"), "{v}");
    // The next writer is not blocked and sees no VIN4.
    let (s, v) = sql(
        &app,
        json!({"tx": true, "batch": [{"sql": "SELECT vin FROM cars ORDER BY vin"}]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"], json!([["VIN1"], ["VIN2"], ["VIN3"]]));

    // Not granted.
    let (s, v) = call_json(&app, "POST", "/bare/probe/sql", json!({"sql": "SELECT 1"})).await;
    assert_eq!(s, 500);
    assert!(v["error"].as_str().unwrap().contains("AccessDenied"), "{v}");
    app.shutdown().await;
    assert!(dir.join(".spin/sqlite_db.db").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_host_variables_through_guest() {
    let dir = temp_dir("var");
    let app = start(&dir).await;
    let (s, b) = call(&app, "GET", "/probe/var/notify_url", "").await;
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (200, "http://127.0.0.1:9/notify")
    );
    // An app variable the component did not declare is undefined for it.
    let (s, v) = call_json(&app, "GET", "/probe/var/payment_url", Value::Null).await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("Undefined"), "{v}");
    let (s, v) = call_json(&app, "GET", "/probe/var/Bad-Name", Value::Null).await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("InvalidName"), "{v}");
    let (s, v) = call_json(&app, "GET", "/bare/probe/var/notify_url", Value::Null).await;
    assert_eq!(s, 404);
    assert!(v["error"].as_str().unwrap().contains("Undefined"), "{v}");
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_host_sqlite_concurrent_transactions_serialize() {
    let dir = temp_dir("sqlconc");
    let app = std::sync::Arc::new(start(&dir).await);
    let (s, v) = sql(
        &app,
        json!({"batch": [
            {"sql": "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"},
            {"sql": "INSERT INTO counter VALUES (1, 0)"}
        ]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    // Read-modify-write in one transaction per request, 12 requests at once: the
    // writers queue on the database lock (busy timeout) instead of failing or
    // losing updates, and the executor keeps serving while they wait.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            sql(
                &app,
                json!({"tx": true, "batch": [
                    {"sql": "SELECT n FROM counter WHERE id = 1"},
                    {"sql": "UPDATE counter SET n = (SELECT n FROM counter WHERE id = 1) + 1 WHERE id = 1"}
                ]}),
            )
            .await
        }));
    }
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 200, "{v}");
    }
    let (s, v) = sql(&app, json!({"sql": "SELECT n FROM counter"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["rows"], json!([[12]]));
    std::sync::Arc::try_unwrap(app)
        .ok()
        .unwrap()
        .shutdown()
        .await;
    let _ = std::fs::remove_dir_all(&dir);
}
