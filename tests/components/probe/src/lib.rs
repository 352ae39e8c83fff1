//! Test-only Spin HTTP component that exposes the Spin host interfaces over HTTP,
//! so caas-runtime tests can exercise them through a real spin-sdk 7 guest.
//!
//! Routes (path = `spin-path-info` when it starts with `/probe`, else the request URI
//! from its first `/probe`; so mount it at `/probe/...` or at `/<x>/...` and call `/<x>/probe/...`):
//! - `GET /probe/kv/<key>` value or 404; `PUT` stores the body; `DELETE` removes; `GET /probe/kv` JSON key list
//! - `POST /probe/sql` `{"sql","params"}` or `{"batch":[{sql,params}..],"tx":bool}` -> `{columns,rows}` (last statement)
//! - `GET /probe/var/<name>` value or 404 with the error text
//! - `GET /probe/time` `{"unix_ms": ..}` from the WASI wall clock
//! - `POST /probe/fetch` body = URL: outbound GET -> `{status,body}` or 502 `{error}`
//! - `GET /probe/route[/...]` JSON of all `spin-*` request headers (a repeated one as an array)
//! - `GET /probe/loop` spins forever (never answers; for the runtime's request deadline)
//! - `GET /probe/grow/<mib>` allocates and touches `<mib>` MiB, then `{"grown_mib": n}`
//! - `GET /probe/sleep/<ms>` waits `<ms>` ms (async, holding its instance), then `{"slept_ms": n}`
//! - `GET /probe/instance[/<ms>]` (after waiting `<ms>` ms) `{"instance": id, "served": n}`: a random
//!   id drawn by this instance and how many `/probe/instance` requests it has served (instance
//!   reuse is visible from outside)
//! - `GET /probe/after/<ms>/<key>` answers at once, then (after the response) waits `<ms>` ms and
//!   stores KV `<key>` = `done` (work after the response)
use serde::Deserialize;
use serde_json::{Value as Json, json};
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{IntoResponse, Method, Request, Response};
use spin_sdk::http_service;
use spin_sdk::key_value::Store;
use spin_sdk::sqlite::{Connection, Value};

type Reply = Response<String>;

fn reply(status: u16, content_type: &str, body: impl Into<String>) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap()
}

fn json_reply(status: u16, body: Json) -> Reply {
    reply(status, "application/json", body.to_string())
}

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let path = req
        .headers()
        .get("spin-path-info")
        .and_then(|v| v.to_str().ok())
        .filter(|p| p.starts_with("/probe"))
        .map(str::to_string)
        .unwrap_or_else(|| {
            // Mounted elsewhere: dispatch on the URI from its first `/probe` segment.
            let uri = req.uri().path();
            uri.find("/probe").map_or(uri, |i| &uri[i..]).to_string()
        });
    let method = req.method().clone();
    // One value → a string; a repeated header → every value in order (a client-sent `spin-*`
    // header first, the runtime's own after it, as Spin 4.1 passes them).
    let mut route_headers = serde_json::Map::new();
    for name in req.headers().keys().filter(|k| k.as_str().starts_with("spin-")) {
        let values: Vec<Json> = req.headers().get_all(name).iter().map(|v| json!(v.to_str().unwrap_or(""))).collect();
        let v = if values.len() == 1 { values[0].clone() } else { Json::Array(values) };
        route_headers.insert(name.as_str().to_string(), v);
    }
    let body = match req.into_body().bytes().await {
        Ok(b) => b.to_vec(),
        Err(e) => return json_reply(400, json!({"error": format!("body: {e:?}")})),
    };
    let rest = path.strip_prefix("/probe").unwrap_or(&path);
    match (method, rest) {
        (Method::GET, "/kv") => kv_keys().await,
        (m, r) if r.starts_with("/kv/") => kv(m, &r[4..], body).await,
        (Method::POST, "/sql") => sql(&body).await,
        (Method::GET, r) if r.starts_with("/var/") => var(&r[5..]).await,
        (Method::GET, "/time") => {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(-1);
            json_reply(200, json!({"unix_ms": ms}))
        }
        (Method::GET, r) if r == "/instance" || r.starts_with("/instance/") => {
            use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
            if let Some(Ok(ms)) = r.strip_prefix("/instance/").map(str::parse::<u64>) {
                spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            static ID: AtomicU64 = AtomicU64::new(0);
            static SERVED: AtomicU64 = AtomicU64::new(0);
            if ID.load(Relaxed) == 0 {
                ID.store(spin_sdk::wasip3::random::random::get_random_u64() | 1, Relaxed);
            }
            let served = SERVED.fetch_add(1, Relaxed) + 1;
            json_reply(200, json!({"instance": ID.load(Relaxed).to_string(), "served": served}))
        }
        (Method::POST, "/fetch") => fetch(String::from_utf8_lossy(&body).trim()).await,
        (Method::GET, r) if r == "/route" || r.starts_with("/route/") => json_reply(200, Json::Object(route_headers)),
        (Method::GET, "/loop") => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        (Method::GET, r) if r.starts_with("/grow/") => match r[6..].parse::<usize>() {
            Ok(mib) => {
                let mut v: Vec<u8> = Vec::new();
                for i in 0..mib {
                    v.resize((i + 1) << 20, 1);
                }
                json_reply(200, json!({"grown_mib": std::hint::black_box(v).len() >> 20}))
            }
            Err(_) => json_reply(400, json!({"error": "grow/<mib>"})),
        },
        (Method::GET, r) if r.starts_with("/after/") => match r[7..].split_once('/') {
            Some((ms, key)) if ms.parse::<u64>().is_ok() => {
                let (ms, key) = (ms.parse::<u64>().unwrap(), key.to_string());
                spin_sdk::wasip3::spawn(async move {
                    spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
                    if let Ok(store) = Store::open_default().await {
                        _ = store.set(&key, b"done").await;
                    }
                });
                json_reply(200, json!({"later_ms": ms}))
            }
            _ => json_reply(400, json!({"error": "after/<ms>/<key>"})),
        },
        (Method::GET, r) if r.starts_with("/sleep/") => match r[7..].parse::<u64>() {
            Ok(ms) => {
                spin_sdk::time::sleep(std::time::Duration::from_millis(ms)).await;
                json_reply(200, json!({"slept_ms": ms}))
            }
            Err(_) => json_reply(400, json!({"error": "sleep/<ms>"})),
        },
        _ => json_reply(404, json!({"error": "no such probe route", "path": path})),
    }
}

async fn kv_keys() -> Reply {
    let store = match Store::open_default().await {
        Ok(s) => s,
        Err(e) => return json_reply(500, json!({"error": format!("{e:?}")})),
    };
    match store.get_keys().await.collect().await {
        Ok(mut keys) => {
            keys.sort();
            json_reply(200, json!(keys))
        }
        Err(e) => json_reply(500, json!({"error": format!("{e:?}")})),
    }
}

async fn kv(method: Method, key: &str, body: Vec<u8>) -> Reply {
    let store = match Store::open_default().await {
        Ok(s) => s,
        Err(e) => return json_reply(500, json!({"error": format!("{e:?}")})),
    };
    let res = match method {
        Method::GET => match store.get(key).await {
            Ok(Some(v)) => {
                return Response::builder()
                    .status(200)
                    .header("content-type", "application/octet-stream")
                    .body(String::from_utf8_lossy(&v).into_owned())
                    .unwrap();
            }
            Ok(None) => return json_reply(404, json!({"error": "not found"})),
            Err(e) => Err(e),
        },
        Method::PUT => store.set(key, &body).await,
        Method::DELETE => store.delete(key).await,
        _ => return json_reply(405, json!({"error": "method"})),
    };
    match res {
        Ok(()) => json_reply(
            200,
            json!({"ok": true, "exists": store.exists(key).await.ok()}),
        ),
        Err(e) => json_reply(500, json!({"error": format!("{e:?}")})),
    }
}

#[derive(Deserialize)]
struct Stmt {
    sql: String,
    #[serde(default)]
    params: Vec<Json>,
}

#[derive(Deserialize)]
struct SqlReq {
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    params: Vec<Json>,
    #[serde(default)]
    batch: Vec<Stmt>,
    #[serde(default)]
    tx: bool,
}

fn to_param(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(*b as i64),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => Value::Text(s.clone()),
        // {"blob": [1,2,3]} -> blob
        Json::Object(o) => Value::Blob(
            o.get("blob")
                .and_then(|b| b.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as u8)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        Json::Array(_) => Value::Text(v.to_string()),
    }
}

fn from_value(v: &Value) -> Json {
    match v {
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Text(s) => json!(s),
        Value::Blob(b) => json!({ "blob": b }),
        Value::Null => Json::Null,
    }
}

async fn run(db: &Connection, st: &Stmt) -> Result<Json, String> {
    let params: Vec<Value> = st.params.iter().map(to_param).collect();
    let qr = db
        .execute(&st.sql, params)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let columns = qr.columns().to_vec();
    let rows = qr.collect().await.map_err(|e| format!("{e:?}"))?;
    let rows: Vec<Json> = rows
        .iter()
        .map(|r| Json::Array(r.values.iter().map(from_value).collect()))
        .collect();
    Ok(json!({
        "columns": columns,
        "rows": rows,
        "changes": db.changes().await,
        "last_insert_rowid": db.last_insert_rowid().await,
    }))
}

async fn sql(body: &[u8]) -> Reply {
    let req: SqlReq = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return json_reply(400, json!({"error": e.to_string()})),
    };
    let mut stmts = req.batch;
    if let Some(sql) = req.sql {
        stmts.insert(
            0,
            Stmt {
                sql,
                params: req.params,
            },
        );
    }
    let db = match Connection::open_default().await {
        Ok(c) => c,
        Err(e) => return json_reply(500, json!({"error": format!("{e:?}")})),
    };
    if req.tx {
        if let Err(e) = run(
            &db,
            &Stmt {
                sql: "BEGIN IMMEDIATE".into(),
                params: vec![],
            },
        )
        .await
        {
            return json_reply(500, json!({"error": e}));
        }
    }
    let mut last = json!({"columns": [], "rows": []});
    for (i, st) in stmts.iter().enumerate() {
        match run(&db, st).await {
            Ok(r) => last = r,
            Err(e) => {
                // In tx mode the open transaction is rolled back by dropping the
                // connection (the host must do that), not by an explicit ROLLBACK.
                return json_reply(409, json!({"error": e, "failed_index": i}));
            }
        }
    }
    if req.tx {
        if let Err(e) = run(
            &db,
            &Stmt {
                sql: "COMMIT".into(),
                params: vec![],
            },
        )
        .await
        {
            return json_reply(500, json!({"error": e}));
        }
    }
    json_reply(200, last)
}

async fn var(name: &str) -> Reply {
    match spin_sdk::variables::get(name).await {
        Ok(v) => reply(200, "text/plain", v),
        Err(e) => json_reply(404, json!({"error": format!("{e:?}")})),
    }
}

async fn fetch(url: &str) -> Reply {
    match spin_sdk::http::get(url).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.into_body().bytes().await {
                Ok(b) => json_reply(
                    200,
                    json!({"status": status, "body": String::from_utf8_lossy(&b)}),
                ),
                Err(e) => json_reply(502, json!({"error": format!("{e:?}")})),
            }
        }
        Err(e) => json_reply(502, json!({"error": format!("{e:?}")})),
    }
}
