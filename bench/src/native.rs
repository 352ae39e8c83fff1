//! The native baseline: a hyper server doing in native code what the components do for
//! `GET /health`, `GET /api/auth/me` and `GET /api/catalog`, on the same files the runtime
//! writes (its key-value file for the session, its SQLite database for the account and the
//! catalog), with the domain crate's own types. The data routes do the same work as the
//! components: bearer token → SHA-256 → session row → session generation row → (me) the
//! account row, (catalog) every catalog row → the same JSON.
//!
//! It is written the way a careful native service would be: a small pool of rusqlite
//! connections per file, cached prepared statements, queries on tokio's blocking pool (SQLite
//! calls block). It is the yardstick the components are measured against (`vs native`).
use anyhow::Result;
use bytes::Bytes;
use caas_domain::auth::{Role, SessionData};
use caas_domain::services::catalog::{Duration as OptionDuration, Metering, OptionKind};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// A few connections to one SQLite file, reused across requests.
struct Pool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Pool {
    fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    fn with<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> rusqlite::Result<R> {
        let conn = self.idle.lock().unwrap().pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                c.busy_timeout(std::time::Duration::from_secs(5))?;
                c
            }
        };
        let r = f(&conn);
        let mut idle = self.idle.lock().unwrap();
        if idle.len() < 8 {
            idle.push(conn);
        }
        r
    }
}

struct Native {
    kv: Pool,
    db: Pool,
}

/// Starts the baseline on a free loopback port over the runtime's state directory (after the
/// runtime created its files: `kv.db`, `sqlite_db.db`).
pub async fn serve(state_dir: &Path) -> Result<SocketAddr> {
    let native = Arc::new(Native { kv: Pool::new(&state_dir.join("kv.db")), db: Pool::new(&state_dir.join("sqlite_db.db")) });
    listen_on("127.0.0.1:0", move |req| native.clone().handle(req)).await
}

/// The floor: a hyper server answering every request with a fixed body.
pub async fn hello() -> Result<SocketAddr> {
    hello_on("127.0.0.1:0").await
}

/// [`hello`] on a given address (`examples/hello.rs` runs it as its own process).
pub async fn hello_on(addr: &str) -> Result<SocketAddr> {
    listen_on(addr, |_req| async { Response::new(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}"))) }).await
}

/// Serves `handle` on `addr` ("127.0.0.1:0": a free loopback port; HTTP/1.1 keep-alive,
/// TCP_NODELAY), in the background.
async fn listen_on<F, Fut>(addr: &str, handle: F) -> Result<SocketAddr>
where
    F: Fn(Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let l = TcpListener::bind(addr).await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = l.accept().await else { continue };
            let _ = s.set_nodelay(true);
            let handle = handle.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(s), svc).await;
            });
        }
    });
    Ok(addr)
}

fn json_response(status: StatusCode, v: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    r
}

fn unauthorized() -> Response<Full<Bytes>> {
    json_response(StatusCode::UNAUTHORIZED, &json!({"title": "Unauthorized", "status": 401}))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Native {
    async fn handle(self: Arc<Self>, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        if path == "/health" {
            return json_response(StatusCode::OK, &json!({"status": "ok"}));
        }
        let token = req
            .headers()
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .filter(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty())
            .map(|(_, t)| t.trim().to_string());
        let Some(token) = token else { return unauthorized() };
        let me = self.clone();
        let answer = tokio::task::spawn_blocking(move || -> rusqlite::Result<Response<Full<Bytes>>> {
            let Some(session) = me.session(&token)? else { return Ok(unauthorized()) };
            match path.as_str() {
                "/api/auth/me" => me.me(&session),
                "/api/catalog" => me.catalog(),
                _ => Ok(json_response(StatusCode::NOT_FOUND, &json!({"status": 404}))),
            }
        })
        .await;
        match answer {
            Ok(Ok(r)) => r,
            _ => json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({"status": 503})),
        }
    }

    /// The live session of a token (the components' `kv::get_session`).
    fn session(&self, token: &str) -> rusqlite::Result<Option<SessionData>> {
        let key = format!("session:{}", hex::encode(Sha256::digest(token.as_bytes())));
        self.kv.with(|c| {
            let get = |k: &str| -> rusqlite::Result<Option<Vec<u8>>> {
                c.prepare_cached("SELECT value FROM kv_default WHERE key = ?1")?.query_row([k], |r| r.get(0)).optional()
            };
            let Some(bytes) = get(&key)? else { return Ok(None) };
            let Ok(s) = serde_json::from_slice::<SessionData>(&bytes) else { return Ok(None) };
            let generation: u64 = get(&format!("session-generation:{}", s.subject))?
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            Ok((s.is_valid_at(now_ms()) && s.generation >= generation).then_some(s))
        })
    }

    fn me(&self, s: &SessionData) -> rusqlite::Result<Response<Full<Bytes>>> {
        let row = self.db.with(|c| {
            if s.role == Role::Customer {
                c.prepare_cached("SELECT email, full_name, must_change_password FROM customers WHERE id = ?1")?
                    .query_row([&s.subject], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, i64>(2)? != 0)))
                    .optional()
            } else {
                c.prepare_cached("SELECT email FROM employees WHERE id = ?1")?
                    .query_row([&s.subject], |r| Ok((r.get::<_, String>(0)?, None, false)))
                    .optional()
            }
        })?;
        let Some((email, full_name, must_change_password)) = row else { return Ok(unauthorized()) };
        Ok(json_response(
            StatusCode::OK,
            &json!({"email": email, "expires_at": s.expires_at, "full_name": full_name,
                    "must_change_password": must_change_password, "role": s.role, "subject_id": s.subject}),
        ))
    }

    /// Every offered option, as the catalog component answers (`caas_platform::services::option_json`).
    fn catalog(&self) -> rusqlite::Result<Response<Full<Bytes>>> {
        let options = self.db.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT code, feature, name, description, price_minor, currency, kind, requires_maintenance, status, billed_by
                 FROM catalog_options ORDER BY position, code",
            )?;
            let rows = stmt.query_map([], |r| {
                let kind: OptionKind = serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or(OptionKind::Permanent);
                let billed_by = r.get::<_, Option<String>>(9)?.as_deref().and_then(Metering::parse);
                let status: String = r.get(8)?;
                let (days, months) = match kind {
                    OptionKind::Temporary { duration: OptionDuration::Days(d) } => (Some(d), None),
                    OptionKind::Temporary { duration: OptionDuration::Months(m) } => (None, Some(m)),
                    _ => (None, None),
                };
                Ok((status == "active").then(|| {
                    json!({
                        "code": r.get::<_, String>(0).unwrap_or_default(),
                        "feature": r.get::<_, String>(1).unwrap_or_default(),
                        "name": r.get::<_, String>(2).unwrap_or_default(),
                        "description": r.get::<_, String>(3).unwrap_or_default(),
                        "price": {"amount_minor": r.get::<_, i64>(4).unwrap_or_default(), "currency": r.get::<_, String>(5).unwrap_or_default()},
                        "kind": kind.as_str(),
                        "duration_days": days,
                        "duration_months": months,
                        "billing": if kind.is_one_time() { "one-time" } else if billed_by.is_some() { "per-day-used-in-arrears" } else { "monthly-in-arrears" },
                        "billed_by": billed_by.map(|m| m.as_str()),
                        "requires_maintenance": r.get::<_, i64>(7).unwrap_or_default() != 0,
                        "status": status,
                    })
                }))
            })?;
            rows.filter_map(|r| r.transpose()).collect::<rusqlite::Result<Vec<Value>>>()
        })?;
        Ok(json_response(StatusCode::OK, &json!({"options": options})))
    }
}
